"""The study specification: a folder of TOML files validated by pydantic.

Every file in the folder is read (sorted by name) and merged: ``[study]`` and
``[data]`` may be given once; ``[weights.NAME]`` tables, ``[[moran]]``,
``[[diagnose]]``, ``[[estimate]]``, ``[[mediation]]``, ``[[threshold]]``,
``[[regime]]``, ``[[grid]]``, ``[[table]]`` and ``[[figure]]`` entries are
collected from all files. ``[[estimate]].model`` is a name of
:mod:`spillover.registry`: ``ols``, ``fe``, ``iv`` (formula ``"y ~ x + [d ~ z +
L1.d]"``), ``sar``, ``sem``, ``sdm``, ``sdem``, ``sac``, ``gns``, ``slx``,
``dynamic_sdm``, ``dynamic_sar``, ``gm_sem``, ``gm_sar``, ``gm_sarar``, ``gm_sdem`` (the
same bracket for endogenous regressors; ``durbin`` for an SDM by spatial 2SLS),
or one a study registers from its own ``[study] plugins``. Validation happens before any estimation and every error
names the file, the key and the allowed values.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spillover import registry
from spillover.data.plausibility import Relation, Rule
from spillover.data.text import NumberFormat, utf8_text
from spillover.errors import SpecificationError

FE = Literal["none", "entity", "time", "twoways", "random"]
METHOD = Literal["direct", "lee-yu"]
FORMAT = Literal["tex", "html", "md", "csv", "xlsx", "docx"]
#: EstimateSpec fields that are estimator options (passed when the registry entry lists them).
OPTION_FIELDS = ("estimator", "cov", "correction", "time_lags", "durbin")


def _registered(name: str, **capabilities: bool) -> registry.Estimator:
    """The registry entry of ``name`` (with ``capabilities``), or a ValueError listing the choices."""
    allowed = registry.names(**capabilities)
    if name not in allowed:
        what = " with " + ", ".join(k for k in capabilities) if capabilities else ""
        raise ValueError(f"model {name!r} is not a registered estimator{what}; allowed: {allowed} "
                         "(a study's own estimators: [study] plugins, see spillover.registry)")
    return registry.get(name)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: Names that become file names (tables, figures, estimates, weights): letters, digits, '_', '-', '.'.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def _name(description: str = "") -> Any:
    return Field(pattern=NAME_PATTERN, description=(description + "; " if description else "") +
                 "letters, digits, '_', '-' and '.', not starting with '.' (it becomes a file name)")


class StudySpec(_Strict):
    name: str = "study"
    title: str = ""
    question: str = Field("", description="the research question in a sentence or two; opens results/README.md")
    seed: int = 20261124
    language: Literal["en", "zh"] = "en"
    renderings: list[Literal["en", "zh"]] = Field(default_factory=list, description="further languages every table, "
                                                  "figure and the README are also written in, under results/<language>/"
                                                  " (spec text from [translations.<language>])")
    plugins: list[str] = Field(default_factory=list, description="Python files (relative to the study folder) or "
                               "module names imported before validation; they register their own estimators")


class DataSpec(_Strict):
    """``[data]``: the catalog pipeline (the bundled study) or a user's panel file, plus filters and columns."""

    catalog: str | None = Field(None, description="catalog.toml of the raw tables (the bundled study's pipeline)")
    panel: str | None = Field(None, description="a long panel file: csv, parquet, xlsx or Stata .dta")
    entity: str
    time: str
    years: tuple[int, int] | None = Field(None, description="[first, last] periods kept")
    units: list[str] | None = Field(None, description="units kept (entity values as text)")
    encoding: str | None = Field(None, description="text encoding of a CSV panel (default: detected; UTF-8 with or "
                                 "without BOM, UTF-16 with BOM, GB18030)")
    decimal: Literal[".", ","] = Field(".", description="decimal mark of numbers written as text in the panel file")
    thousands: Literal["", ",", ".", " "] = Field("", description="digit-group separator of those numbers "
                                                  "('' none)")
    check: dict[str, Rule] = Field(default_factory=dict, description="plausibility rules per column: "
                                   "{min, max, jump, strict}; a value out of range stops the run, a jump is "
                                   "reported in data/flags.csv (an error when strict)")
    relations: list[str] = Field(default_factory=list, description="relations between columns that every cell "
                                 "must satisfy, e.g. 'urban_pop <= pop'")
    wide: str | None = Field(None, description="panel file: one row per unit and one column per period; the "
                             "values go into this column")
    derive: dict[str, str] = Field(default_factory=dict, description="new columns: name = formula expression, "
                                   "e.g. 'np.log(gdp)', '{exports / gdp}', 'lag(x, 1)'")
    group: str | None = Field(None, description="column of unit groups (regions) used by [[estimate]] groups, "
                              "[[grid]] samples, [[regime]] and trend figures")
    describe: list[str] = Field(default_factory=list, description="columns of the descriptive-statistics table "
                                "(default: the variables of the [[estimate]] formulas)")
    unit_label: str = Field("units", description="what a unit is, in table titles (e.g. 'provinces')")
    unit_names: dict[Literal["en", "zh"], str] = Field(
        default_factory=dict, description="columns holding the units' display names by language, for tables and "
        "figures that list units (default: the entity values)")

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.catalog is None) == (self.panel is None):
            raise ValueError("give exactly one of catalog = 'catalog.toml' (the raw-table pipeline) or "
                             "panel = 'FILE' (csv, parquet, xlsx, dta)")
        if self.years is not None and self.years[0] > self.years[1]:
            raise ValueError(f"years must be [first, last], got {list(self.years)}")
        if self.decimal == self.thousands:
            raise ValueError("decimal and thousands must differ")
        for text in self.relations:
            Relation.parse(text)
        return self

    @property
    def number_format(self) -> NumberFormat:
        return NumberFormat(self.decimal, self.thousands)


class GeometrySpec(_Strict):
    """``[geometry]``: the units' polygons (or points), for contiguity, distances and maps."""

    file: str = Field(description="any file geopandas reads: gpkg, shp, geojson, ...")
    id: str = Field(description="column holding the entity values of the panel")
    layer: str | None = None
    crs: str | None = Field(None, description="CRS of a file that declares none (e.g. 'EPSG:4326' for "
                            "longitude/latitude); distances need one")
    projection: str | None = Field(None, description="CRS of the maps (default: the file's own if projected, "
                                   "else longitude/latitude)")
    extent: tuple[float, float, float, float] | None = Field(
        None, description="longitude/latitude box [west, south, east, north] of the main map (default: the data's)")
    inset: tuple[float, float, float, float] | None = Field(
        None, description="longitude/latitude box drawn in an inset (e.g. islands outside the extent)")




class WeightsSpec(_Strict):
    kind: Literal["contiguity", "inverse_distance", "distance_band", "exponential", "knn", "economic", "nested",
                  "file"]
    contiguity: Literal["queen", "rook"] = "queen"
    islands: Literal["nearest", "keep", "error"] = Field(
        "nearest", description="contiguity and file kinds, units without a neighbour: 'nearest' links each to "
        "its nearest unit, 'keep' keeps their empty rows, 'error' refuses them; a weights file (kind = 'file') "
        "has no locations, so there 'nearest' refuses them too")
    power: Literal[1, 2] = 1
    cutoff_km: float | None = None
    k: int = Field(4, ge=1)
    variable: str | None = Field(None, description="economic and nested kinds: the panel column whose unit means "
                                 "define economic distance")
    nested: Literal["product", "convex"] = "product"
    phi: float = Field(0.5, ge=0.0, le=1.0)
    path: str | None = Field(None, description="kind = 'file': a GAL, GWT, CSV matrix with ids or CSV edge list")
    bandwidth_km: float | None = Field(None, gt=0, description="kind = 'exponential': w = exp(-d / bandwidth_km)")
    coords: tuple[str, str] | None = Field(None, description="distance kinds and knn: panel columns (lon, lat) "
                                           "locating the units, instead of the geometry's centroids")
    label: str = ""

    @model_validator(mode="after")
    def _kind_needs(self) -> WeightsSpec:
        if self.kind in ("economic", "nested") and not self.variable:
            raise ValueError(f"kind = {self.kind!r} needs variable = 'COLUMN' (unit means define the distance)")
        if self.kind == "file" and not self.path:
            raise ValueError("kind = 'file' needs path = 'FILE' (.gal, .gwt or .csv)")
        if self.kind == "distance_band" and not self.cutoff_km:
            raise ValueError("kind = 'distance_band' needs cutoff_km")
        if self.kind == "exponential" and not self.bandwidth_km:
            raise ValueError("kind = 'exponential' needs bandwidth_km")
        return self

    def default_label(self) -> str:
        """What the W is, in words, for tables ("Queen contiguity", "kNN, k = 6", ...)."""
        if self.label:
            return self.label
        if self.kind == "contiguity":
            return f"{self.contiguity.capitalize()} contiguity"
        if self.kind == "knn":
            return f"kNN, k = {self.k}"
        if self.kind == "inverse_distance":
            return "Inverse distance" + (" squared" if self.power == 2 else "") + \
                (f", cut-off {self.cutoff_km:g} km" if self.cutoff_km else "")
        if self.kind == "distance_band":
            return f"Distance band, {self.cutoff_km:g} km"
        if self.kind == "exponential":
            return f"Exponential distance decay, {self.bandwidth_km:g} km"
        if self.kind == "economic":
            return f"Economic distance ({self.variable})"
        if self.kind == "nested":
            return f"Economic-geographic nested ({self.variable})"
        return f"From file {Path(str(self.path)).name}"


class ImpactsSpec(_Strict):
    draws: int = Field(1000, ge=10)
    seed: int = 20261124
    method: Literal["simulation", "delta"] = "simulation"
    kind: Literal["short", "long", "both"] = Field("both", description="dynamic models: short-run, long-run or both")


class EstimateSpec(_Strict):
    name: str = _name()
    model: str
    formula: str
    weights: str | None = None
    weights_x: str | None = Field(None, description="a [weights.*] name for the W X terms (default: weights)")
    weights_u: str | None = Field(None, description="a [weights.*] name for the spatial error (default: weights)")
    fe: FE = "twoways"
    method: METHOD = "lee-yu"
    impacts: ImpactsSpec | None = None
    lag: list[str] = Field(default_factory=list, description="variables replaced by their one-period lag")
    groups: list[str] = Field(default_factory=list, description="subsample: units whose [data] group is one of these")
    islands: Literal["raise", "drop"] = Field(
        "raise", description="subsamples: what to do with units left without neighbours in the restricted W")
    drop_interpolated: list[str] = Field(
        default_factory=list,
        description="catalog indicators whose interpolated (flagged) cells drop the province-year; the "
                    "resulting unbalanced panel is estimated with per-period W (method = 'direct')")
    estimator: Literal["2sls", "gmm"] = Field("2sls", description="model = 'iv' only")
    cov: str | None = Field(None, description="covariance estimator; the choices are the estimator's (e.g. "
                            "'information', 'hessian', 'numerical' for the spatial ML models; 'homoskedastic', "
                            "'robust', 'cluster' for the gm_* models; 'clustered', 'robust', 'unadjusted' for "
                            "model = 'iv' (default 'clustered'))")
    correction: Literal["bias", "none"] = Field(
        "bias", description="dynamic models only: subtract the Yu-de Jong-Lee (2008) / Lee-Yu (2010) bias, or not")
    time_lags: list[Literal["y", "wy"]] = Field(default_factory=lambda: ["y", "wy"],
                                                description="dynamic models: y(t-1) and/or W y(t-1)")
    durbin: bool | list[str] | None = Field(
        None, description="gm_sar, gm_sarar and gm_sdem: Durbin terms W x (an SDM by spatial 2SLS, an SDM with a "
        "spatial error by GS2SLS, an SDEM by GM; gm_sdem: default true); true for every regressor, endogenous "
        "ones of the [endog ~ instruments] bracket included, or a list of regressors")
    years: tuple[int, int] | None = Field(
        None, description="[first, last] periods of this estimate, within [data] years; applied after lag = [...] "
        "and before the formula's own lag() terms, which then lose their first periods inside it")
    options: dict[str, Any] = Field(default_factory=dict, description="further keyword options of the estimator "
                                    "(the names its registry entry lists, e.g. logdet, cov, wx)")
    label: str = ""

    def _check_durbin(self, est: registry.Estimator) -> None:
        """``durbin`` only for estimators that take it, naming regressors of the formula."""
        if self.durbin is None or self.durbin is False:
            return
        if "durbin" not in est.options:
            takes = [n for n in registry.names() if "durbin" in registry.get(n).options]
            raise ValueError(f"model {self.model!r} has no durbin choice (models with one: {takes}; the ML models "
                             "sdm, sdem, slx and gns have W x terms by definition, chosen with options = { wx = "
                             "[...] })")
        if self.durbin is True:
            return
        if not self.durbin:
            raise ValueError("durbin = [] names no regressor; give durbin = true, a list of regressors, or leave it "
                             "out for no W x terms")
        from spillover.formula import parse, terms

        try:
            parsed = parse(self.formula)
            named = [(terms(v, what="durbin") or (v,))[0] for v in self.durbin]  # spelled as formulaic does
        except SpecificationError:
            return  # the formula check names an unreadable formula; the estimator an unreadable term
        regressors = list(parsed.exog) + list(parsed.endog)
        unknown = [v for v, n in zip(self.durbin, named) if n not in regressors]
        if unknown:
            raise ValueError(f"durbin {unknown}: not regressors of the formula {self.formula!r}; its regressors: "
                             f"{regressors}")

    def estimator_options(self) -> dict[str, Any]:
        """Options handed to the estimator: the option fields its registry entry takes, then ``options``."""
        est = registry.get(self.model)
        fields = {k: getattr(self, k) for k in OPTION_FIELDS if k in est.options and getattr(self, k) is not None}
        return {**fields, **self.options}

    @model_validator(mode="after")
    def _combinations(self) -> EstimateSpec:
        if "~" not in self.formula:
            raise ValueError(f"formula {self.formula!r} needs the form 'y ~ x1 + x2'")
        est = _registered(self.model)
        if est.spatial and not self.weights:
            raise ValueError(f"model {self.model!r} needs 'weights' (a name from [weights.*])")
        if self.model == "iv":
            if "[" not in self.formula:
                raise ValueError(f"model 'iv' needs a formula 'y ~ exog + [endog ~ instruments]', got {self.formula!r}")
        elif "[" in self.formula:
            takes = [n for n in registry.names() if {"endog", "instruments"} <= set(registry.get(n).options)]
            if self.model not in takes:
                raise ValueError(f"the bracket syntax [endog ~ instruments] needs model = 'iv' or one of {takes}, "
                                 f"not {self.model!r}")
            if {"endog", "instruments"} & set(self.options):
                raise ValueError("endogenous regressors given twice: in the formula's [endog ~ instruments] and in "
                                 "options; use one of the two")
        self._check_durbin(est)
        for key, opt in (("weights_x", "w_x"), ("weights_u", "w_u")):
            if getattr(self, key) is not None and opt not in est.options:
                takes = [n for n in registry.names() if opt in registry.get(n).options]
                raise ValueError(f"{key}: model {self.model!r} has no {'W X terms' if opt == 'w_x' else 'spatial error'}"
                                 f" with a W of its own (models with one: {takes})")
        if self.years is not None and self.years[0] > self.years[1]:
            raise ValueError(f"years must be [first, last], got {list(self.years)}")
        if self.lag:
            from spillover.formula import variables

            absent = sorted(set(self.lag) - variables(self.formula))
            if absent:
                raise ValueError(f"lag {absent}: not variables of the formula {self.formula!r} (lag replaces a "
                                 "regressor by its previous-period value)")
        if {"w_x", "w_u"} & set(self.options):
            raise ValueError("options w_x / w_u: give the W by name with weights_x = 'NAME' / weights_u = 'NAME'")
        bad = sorted(set(self.options) & set(OPTION_FIELDS))
        if bad:
            raise ValueError(f"{bad} are keys of [[estimate]] itself, not of options")
        est.check(fe=self.fe, method=self.method, options=self.options)
        if self.cov is not None and "cov" not in est.options:
            raise ValueError(f"model {self.model!r} has no cov choice (models with one: "
                             f"{[n for n in registry.names() if 'cov' in registry.get(n).options]})")
        if est.dynamic and not self.time_lags:
            raise ValueError(f"model {self.model!r} needs time_lags ['y'], ['wy'] or ['y', 'wy']")
        if self.drop_interpolated:
            if est.spatial and not est.unbalanced:
                allowed = [n for n in registry.names() if not registry.get(n).spatial or registry.get(n).unbalanced]
                raise ValueError(f"drop_interpolated gives an unbalanced panel: available for models "
                                 f"{allowed}, not {self.model!r}")
            if est.spatial and self.method != "direct":
                raise ValueError("the unbalanced spatial estimator uses the direct method (per-period W); "
                                 "set method = 'direct'")
            if self.fe == "random":
                raise ValueError("drop_interpolated: fe = 'random' is not available for unbalanced panels")
        if self.impacts is not None and not est.impacts:
            raise ValueError(f"impacts are defined for {registry.names(impacts=True)}, not {self.model!r}")
        return self


class MoranSpec(_Strict):
    name: str = _name()
    variables: list[str]
    weights: list[str]
    permutations: int = Field(999, ge=0)
    seed: int = 20261124


class DiagnoseSpec(_Strict):
    name: str = _name()
    formula: str
    weights: str
    fe: Literal["none", "entity", "time", "twoways"] = "twoways"
    method: METHOD = "lee-yu"


class ModelProbabilitySpec(_Strict):
    """Bayesian comparison of spatial panel models over one or several W (spillover.model_probabilities)."""

    name: str = _name()
    formula: str
    weights: list[str] = Field(min_length=1)
    models: list[Literal["ols", "slx", "sar", "sdm", "sem", "sdem"]] = Field(
        default_factory=lambda: ["ols", "slx", "sar", "sdm", "sem", "sdem"], min_length=2)
    fe: Literal["none", "entity", "time", "twoways"] = "twoways"
    prior: Literal["uniform", "beta"] = "uniform"


class MediationSpec(_Strict):
    name: str = _name()
    formula: str  # outcome ~ treatment + controls
    treatment: str
    mediators: list[str]
    fe: Literal["none", "entity", "time", "twoways"] = "twoways"
    bootstrap: int = Field(500, ge=0)
    seed: int = 20261124
    weights: str | None = None  # set to decompose the mediated effect through SDM impacts
    draws: int = Field(1000, ge=10)


class ThresholdSpec(_Strict):
    name: str = _name()
    formula: str
    threshold_var: str
    regime_vars: list[str] = Field(default_factory=list)
    n_thresholds: Literal[1, 2] = 2
    fe: Literal["entity", "twoways"] = "entity"
    bootstrap: int = Field(300, ge=0)
    seed: int = 20261124


class RegimeSpec(_Strict):
    name: str = _name()
    formula: str
    weights: str
    var: str
    regime_col: str | None = Field(None, description="column of the regimes (default: [data] group)")
    fe: Literal["none", "entity", "time", "twoways"] = "twoways"
    method: METHOD = "lee-yu"
    draws: int = Field(1000, ge=10)
    seed: int = 20261124


class GridSpec(_Strict):
    """A specification grid: every combination of weights x samples x fe x method (spillover.study.grid)."""

    name: str = _name()
    formula: str
    model: str = "sdm"
    variable: str
    weights: list[str] = Field(min_length=1)
    samples: dict[str, list[str]] = Field(
        default_factory=lambda: {"all": []}, description="sample name -> values of [data] group (empty: all units)")
    fe: list[Literal["none", "entity", "time", "twoways"]] = Field(default_factory=lambda: ["twoways"], min_length=1)
    method: list[METHOD] = Field(default_factory=lambda: ["lee-yu"], min_length=1)
    impacts: ImpactsSpec = ImpactsSpec(method="delta")

    @model_validator(mode="after")
    def _variable_in_formula(self) -> GridSpec:
        _registered(self.model, grid=True)
        from spillover.formula import parse

        try:
            exog = parse(self.formula).exog
        except SpecificationError as exc:
            raise ValueError(str(exc)) from None
        if self.variable not in exog:
            raise ValueError(f"variable {self.variable!r} is not a regressor of {self.formula!r}")
        return self


class TableSpec(_Strict):
    name: str = _name()
    title: str = ""
    columns: list[str]
    column_names: list[str] = Field(default_factory=list)
    impacts: bool = False
    stat: Literal["se", "t"] = "se"
    notes: str = ""
    formats: list[FORMAT] = Field(default_factory=lambda: ["tex", "html", "md", "csv", "xlsx", "docx"])


class FigureSpec(_Strict):
    name: str = _name()
    kind: Literal["choropleth", "moran_scatter", "lisa_map", "impacts", "impacts_across_w", "trends"]
    variable: str = ""
    weights: str | None = None
    estimate: str | None = None
    estimates: list[str] = Field(default_factory=list, description="kind = 'impacts_across_w': the estimates "
                                 "(same model under different W) shown, one row each; default: `estimate` (else "
                                 "the first estimate with such twins) and every estimate with impacts that "
                                 "differs from it only by its W")
    years: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _estimates_list(self) -> FigureSpec:
        if self.estimates and self.kind != "impacts_across_w":
            raise ValueError(f"estimates = [...] is for kind = 'impacts_across_w', not {self.kind!r}")
        if self.estimates and len(self.estimates) < 2:
            raise ValueError("kind = 'impacts_across_w' compares two or more estimates: estimates = ['A', 'B', ...]")
        dup = sorted({e for e in self.estimates if self.estimates.count(e) > 1})
        if dup:
            raise ValueError(f"estimates {dup} are listed twice")
        return self


class IndexSpec(_Strict):
    """``[[index]]``: a composite index from any panel columns, added to the panel as column ``name``."""

    name: str = _name()
    method: Literal["entropy", "topsis", "pca"] = "entropy"
    indicators: dict[str, Literal["+", "-"]] = Field(min_length=2, description="column -> direction "
                                                     "('+': more is better, '-': less is better)")
    dimensions: dict[str, str] = Field(default_factory=dict, description="column -> dimension (for obstacle "
                                       "degrees and weights by dimension)")
    pooling: Literal["panel", "year"] = "panel"


def _formats() -> Any:
    return Field(default_factory=lambda: ["tex", "html", "md", "csv", "xlsx", "docx"],
                 description="file formats of the entry's tables")


class GapsSpec(_Strict):
    """``[[gaps]]``: regional gaps of panel columns across the units' groups, period by period.

    Writes ``tables/NAME_dagum`` (Dagum 1997 Gini: total, within, net between,
    transvariation and their contributions), ``NAME_within`` (each group's own
    Gini), ``NAME_between`` (the Gini between each pair of groups),
    ``NAME_theil`` (Theil within/between and the coefficient of variation) and
    ``figures/NAME`` (the Gini components over the periods).
    """

    name: str = _name()
    variables: list[str] = Field(min_length=1, description="non-negative panel columns, e.g. ['dei', 'cpi']")
    group: str | None = Field(None, description="column of the units' groups (default: [data] group)")
    formats: list[FORMAT] = _formats()


class DensitySpec(_Strict):
    """``[[density]]``: Gaussian kernel densities of panel columns, one curve per period (``figures/NAME``).

    ``tables/NAME`` lists each period's bandwidth, mode and peak density.
    """

    name: str = _name()
    variables: list[str] = Field(min_length=1)
    bandwidth: Literal["scott", "silverman"] | float = Field(
        "scott", description="'scott' (n^(-1/5) sd), 'silverman' ((3n/4)^(-1/5) sd) or a fixed factor times sd")
    points: int = Field(256, ge=16, le=4096, description="grid points of each curve")
    formats: list[FORMAT] = _formats()

    @field_validator("bandwidth")
    @classmethod
    def _positive(cls, v):
        if not isinstance(v, str) and not v > 0:
            raise ValueError(f"bandwidth must be 'scott', 'silverman' or a positive factor, got {v!r}")
        return v


class ConvergenceSpec(_Strict):
    """``[[convergence]]``: sigma, absolute and conditional beta, and spatial beta convergence of one column.

    Writes ``tables/NAME`` (one row per test: trend or beta, SE, p, speed,
    half-life) and ``tables/NAME_sigma`` (mean, SD, CV and Gini per period).
    """

    name: str = _name()
    variable: str = Field(description="a positive panel column (beta convergence takes logarithms)")
    controls: list[str] = Field(default_factory=list, description="conditional beta: columns entered at t-1")
    weights: list[str] = Field(default_factory=list, description="[weights.*] names: one spatial beta per W")
    model: Literal["sar", "sem", "sdm"] = Field("sar", description="spatial model of the spatial beta")
    fe: Literal["entity", "time", "twoways"] = "twoways"
    method: METHOD = "lee-yu"
    formats: list[FORMAT] = _formats()


class CouplingSpec(_Strict):
    """``[[coupling]]``: coupling coordination of two index columns in [0, 1] (C, T, D and the ten classes).

    Writes ``tables/NAME`` (mean D per period, overall and by group),
    ``NAME_classes`` (units per class and period), ``NAME_units`` (C, T, D and
    class of every unit and period) and ``figures/NAME``.
    """

    name: str = _name()
    systems: tuple[str, str] = Field(description="the two index columns [U1, U2], each in [0, 1]")
    contributions: tuple[float, float] = Field((0.5, 0.5), description="shares (a, b) of the two systems in "
                                               "T = a U1 + b U2; non-negative, summing to one")
    group: str | None = Field(None, description="column of the units' groups (default: [data] group)")
    formats: list[FORMAT] = _formats()

    @field_validator("contributions")
    @classmethod
    def _shares(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] < 0 or v[1] < 0 or abs(v[0] + v[1] - 1.0) > 1e-9:
            raise ValueError(f"contributions {list(v)} must be non-negative and sum to 1")
        return v

    @field_validator("systems")
    @classmethod
    def _two(cls, v: tuple[str, str]) -> tuple[str, str]:
        if v[0] == v[1]:
            raise ValueError(f"systems names the same column twice: {list(v)}")
        return v


class ObstaclesSpec(_Strict):
    """``[[obstacles]]``: obstacle degrees of a composite index per indicator and per dimension, by period.

    ``index`` is an ``[[index]]`` of the study or an index the data catalog
    builds; writes ``tables/NAME_indicators`` and ``tables/NAME_dimensions``.
    """

    name: str = _name()
    index: str = Field(description="an [[index]] name or a composite index of the data catalog (e.g. 'dei')")
    formats: list[FORMAT] = _formats()


class MarkovSpec(_Strict):
    """``[[markov]]``: discrete Markov chains of panel columns in ``k`` classes (:func:`spillover.analysis.markov`).

    Writes per variable ``tables/NAME_VARIABLE`` (the classic transition
    probabilities with the transitions ``n`` out of each class and the steady
    state) and, with ``weights``, ``tables/NAME_VARIABLE_spatial`` (Rey 2001:
    one matrix per class of the neighbours' average) and one
    ``tables/NAME_tests`` (spatial homogeneity LR and Q, LISA Markov
    chi-squared) of all variables, and ``figures/NAME`` (the classic
    matrices as heatmaps).
    """

    name: str = _name()
    variables: list[str] = Field(min_length=1, description="numeric panel columns, e.g. ['dei', 'cpi']")
    k: int = Field(4, ge=2, le=10, description="number of classes (4: quartiles)")
    classes: Literal["pooled", "period"] | list[float] = Field(
        "pooled", description="'pooled' (quantiles of all periods together, fixed bounds), 'period' (each "
        "period's own quantiles) or k - 1 increasing cut points")
    weights: str | None = Field(None, description="a [weights.*] name: the spatial and LISA Markov chains and "
                                "their tests (none: the classic chain only)")
    formats: list[FORMAT] = _formats()

    @field_validator("classes")
    @classmethod
    def _cuts(cls, v, info):
        k = info.data.get("k")
        if isinstance(v, list) and k is not None:
            if len(v) != k - 1:
                raise ValueError(f"classes holds {len(v)} cut points for k = {k}; give k - 1 = {k - 1} increasing "
                                 "cut points, 'pooled' or 'period'")
            if any(b <= a for a, b in zip(v, v[1:])):
                raise ValueError(f"cut points {v} must increase")
        return v


#: What a [[hypothesis]] with quantity = "trend" can read, by kind of entry: the per-period series of each.
TREND_MEASURES = {"gaps": ("G", "G_w", "G_nb", "G_t", "share_w", "share_nb", "share_t", "T", "theil_within",
                           "theil_between", "cv"),
                  "convergence": ("cv", "gini")}


RULE = r"^(positive|negative|nonzero) at (\d+(?:\.\d+)?)%$"


class HypothesisSpec(_Strict):
    """``[[hypothesis]]``: a claim, the number that tests it and the decision rule, all stated in the spec."""

    name: str
    claim: str
    estimate: str = Field(description="an [[estimate]], [[mediation]], [[regime]] or [[threshold]] name; for "
                          "quantity = 'trend' a [[gaps]] or [[convergence]] name")
    quantity: Literal["coefficient", "direct", "indirect", "total", "mediated", "equal_effects", "threshold",
                      "trend"]
    variable: str | None = Field(None, description="the regressor (coefficient, impacts), the mediator, or the "
                                 "column of a [[gaps]] entry (trend)")
    measure: str | None = Field(None, description="quantity = 'trend': the per-period series whose OLS trend is "
                                "tested; [[gaps]]: " + ", ".join(TREND_MEASURES["gaps"]) + "; [[convergence]]: "
                                + ", ".join(TREND_MEASURES["convergence"]))
    years: tuple[int, int] | None = Field(None, description="quantity = 'trend': [first, last] periods of the "
                                          "trend (default: all)")
    rule: str = Field("positive at 5%", pattern=RULE,
                      description="'positive at 5%', 'negative at 1%' or 'nonzero at 10%' (a two-sided test at "
                                  "that level; for equal_effects and threshold, 'nonzero' = the test rejects)")
    robustness: list[str] = Field(default_factory=list, description="further estimates where the same rule is "
                                  "checked: all hold = supported, some fail = mixed")

    @model_validator(mode="after")
    def _needs_variable(self) -> HypothesisSpec:
        if self.quantity in ("coefficient", "direct", "indirect", "total", "mediated") and not self.variable:
            raise ValueError(f"quantity = {self.quantity!r} needs variable = 'NAME'")
        if self.quantity in ("equal_effects", "threshold") and not self.rule.startswith("nonzero"):
            raise ValueError(f"quantity = {self.quantity!r} is a test: its rule is 'nonzero at X%' (it rejects)")
        if self.quantity == "trend" and not self.measure:
            raise ValueError("quantity = 'trend' needs measure = 'NAME' (the per-period series: "
                             f"{sorted(set(TREND_MEASURES['gaps']) | set(TREND_MEASURES['convergence']))})")
        if self.quantity != "trend" and (self.measure or self.years):
            raise ValueError(f"measure and years are for quantity = 'trend', not {self.quantity!r}")
        if self.years is not None and self.years[0] >= self.years[1]:
            raise ValueError(f"years must be [first, last] with first < last, got {list(self.years)}")
        return self


class Study(_Strict):
    study: StudySpec = StudySpec()
    data: DataSpec
    geometry: GeometrySpec | None = None
    labels: dict[Literal["en", "zh"], dict[str, str]] = Field(
        default_factory=dict, description="[labels.en] / [labels.zh]: display label of each variable")
    translations: dict[Literal["en", "zh"], dict[str, str]] = Field(
        default_factory=dict, description="[translations.zh]: the study's own display text (titles, notes, column "
        "names, estimate and W labels, claims) in another language, keyed by the text as written")
    index: list[IndexSpec] = Field(default_factory=list)
    hypothesis: list[HypothesisSpec] = Field(default_factory=list)
    weights: dict[str, WeightsSpec] = Field(default_factory=dict)
    moran: list[MoranSpec] = Field(default_factory=list)
    diagnose: list[DiagnoseSpec] = Field(default_factory=list)
    model_probabilities: list[ModelProbabilitySpec] = Field(default_factory=list)
    estimate: list[EstimateSpec] = Field(default_factory=list)
    mediation: list[MediationSpec] = Field(default_factory=list)
    threshold: list[ThresholdSpec] = Field(default_factory=list)
    regime: list[RegimeSpec] = Field(default_factory=list)
    grid: list[GridSpec] = Field(default_factory=list)
    gaps: list[GapsSpec] = Field(default_factory=list)
    density: list[DensitySpec] = Field(default_factory=list)
    convergence: list[ConvergenceSpec] = Field(default_factory=list)
    coupling: list[CouplingSpec] = Field(default_factory=list)
    obstacles: list[ObstaclesSpec] = Field(default_factory=list)
    markov: list[MarkovSpec] = Field(default_factory=list)
    table: list[TableSpec] = Field(default_factory=list)
    figure: list[FigureSpec] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict, description="spec file -> sha256")
    origins: dict[str, str] = Field(default_factory=dict, description="entry ('[data]', \"[[estimate]] 'sar'\") "
                                    "-> the spec file that defines it, for messages")

    @field_validator("weights")
    @classmethod
    def _weights_names(cls, v: dict[str, WeightsSpec]) -> dict[str, WeightsSpec]:
        bad = [k for k in v if not re.match(NAME_PATTERN, k)]
        if bad:
            raise ValueError(f"weights names {bad} must be letters, digits, '_', '-' and '.' (they become file names)")
        return v

    def estimate_by_name(self) -> dict[str, EstimateSpec]:
        return {e.name: e for e in self.estimate}


_SINGLE = ("study", "data", "geometry", "labels")
_MERGED = ("translations",)  # entries from every file, each text translated once
_MAPS = ("weights",)
_LISTS = ("index", "moran", "diagnose", "model_probabilities", "estimate", "mediation", "threshold", "regime", "grid",
          "gaps", "density", "convergence", "coupling", "obstacles", "markov", "table", "figure", "hypothesis")


def _fmt_validation(file: str, exc: ValidationError, prefix: str = "") -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        ctx = err.get("ctx") or {}
        if "expected" in ctx:
            msg += f" (allowed: {ctx['expected']})"
        if err["type"] == "extra_forbidden":
            msg = "unknown key; check the spelling against the schema in spillover.study.spec"
        lines.append(f"{file}: {prefix}{loc}: {msg}; got {err.get('input')!r}")
    return "\n".join(lines)


def load_study(folder: str | Path) -> Study:
    """Read and validate every ``*.toml`` file in ``folder``; raise :class:`SpecificationError`."""
    folder = Path(folder)
    if not folder.exists():
        raise SpecificationError(f"{folder}: no such study folder or file (a folder of *.toml study files)")
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else [folder]
    if not files:
        raise SpecificationError(f"{folder}: no *.toml study files found")
    merged: dict = {}
    owner: dict[str, str] = {}
    sources: dict[str, str] = {}
    origins: dict[str, str] = {}
    errors: list[str] = []
    docs: list[tuple[Path, dict]] = []
    for f in files:
        try:
            text = utf8_text(f, what="study file", error=SpecificationError)
        except SpecificationError as exc:
            errors.append(str(exc))
            continue
        sources[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
        try:
            docs.append((f, tomllib.loads(text)))
        except tomllib.TOMLDecodeError as exc:
            errors.append(f"{f}: TOML syntax error: {exc}")
    for f, doc in docs:  # plugins first: they register the estimators the entries below may name
        for plugin in (doc.get("study") or {}).get("plugins", []) if isinstance(doc.get("study"), dict) else []:
            try:
                sources.update(load_plugin(str(plugin), folder if folder.is_dir() else folder.parent))
            except SpecificationError as exc:
                errors.append(f"{f}: study.plugins: {exc}")
    for f, doc in docs:
        for key, value in doc.items():
            if key in _SINGLE:
                if key in merged:
                    errors.append(f"{f}: [{key}] is already defined in {owner[key]}; define it once")
                merged[key], owner[key] = value, f.name
                origins[f"[{key}]"] = f.name
            elif key in _MERGED and isinstance(value, dict):
                for lang, entries in value.items():
                    into = merged.setdefault(key, {}).setdefault(lang, {})
                    for text, tr in (entries.items() if isinstance(entries, dict) else ()):
                        if text in into and into[text] != tr:
                            errors.append(f"{f}: [{key}.{lang}] translates {text!r} differently from "
                                          f"{owner[(key, lang, text)]}; translate it once")
                        into[text], owner[(key, lang, text)] = tr, f.name
                    if not isinstance(entries, dict):
                        into_err = f"{f}: [{key}.{lang}] must be a table of \"English text\" = \"translation\""
                        errors.append(into_err)
                origins[f"[{key}]"] = f.name
            elif key in _MAPS:
                for name, sub in value.items():
                    if name in merged.setdefault(key, {}):
                        errors.append(f"{f}: [{key}.{name}] is already defined in {owner[key + name]}")
                    merged[key][name] = sub
                    owner[key + name] = f.name
                    origins[f"[{key}.{name}]"] = f.name
            elif key in _LISTS:
                for i, item in enumerate(value):
                    try:
                        item_model = Study.model_fields[key].annotation.__args__[0]  # type: ignore[union-attr]
                        item_model.model_validate(item)
                    except ValidationError as exc:
                        errors.append(_fmt_validation(f"{f}", exc, prefix=f"{key}[{i}]."))
                merged.setdefault(key, []).extend(value)
                origins.update({f"[[{key}]] {item['name']!r}": f.name for item in value
                                if isinstance(item, dict) and isinstance(item.get("name"), str)})
            else:
                errors.append(f"{f}: unknown top-level key {key!r}; allowed: {list(_SINGLE + _MERGED + _MAPS + _LISTS)}")
    if errors:
        raise SpecificationError("\n".join(errors))
    try:
        study = Study.model_validate({**merged, "sources": sources, "origins": origins})
    except ValidationError as exc:
        raise SpecificationError(_fmt_validation(str(folder), exc)) from None
    _check_references(study, folder)
    return study


def load_plugin(plugin: str, folder: Path) -> dict[str, str]:
    """Import ``plugin`` (a ``.py`` file relative to ``folder``, or a module name); returns {file: sha256}.

    A plugin registers estimators with :func:`spillover.registry.register`;
    importing the same file twice (a second study load) replaces its entries.
    """
    import importlib
    import importlib.util

    if not plugin.endswith(".py"):
        try:
            importlib.import_module(plugin)
        except ImportError as exc:
            raise SpecificationError(f"module {plugin!r} cannot be imported ({exc}); give a .py file next to the "
                                     "study's TOML files or an installed module name") from None
        return {}
    path = (folder / plugin).resolve()
    if not path.is_file():
        raise SpecificationError(f"plugin file {plugin!r} not found in {folder}")
    raw = path.read_bytes()
    name = "spillover_plugin_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    with registry.replacing():
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except SpecificationError:
            raise
        except Exception as exc:  # noqa: BLE001 -- a user's file: report, do not crash
            raise SpecificationError(f"plugin {plugin!r} failed on import: {type(exc).__name__}: {exc}") from None
    return {plugin: hashlib.sha256(raw).hexdigest()}


def _check_references(study: Study, folder: Path) -> None:
    errors: list[str] = []
    for kind in _LISTS:
        names = [x.name for x in getattr(study, kind)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            errors.append(f"{folder}: duplicate {kind} name(s) {dup}")
    wnames = sorted(study.weights)
    enames = [e.name for e in study.estimate]
    for e in study.estimate:
        for key in ("weights", "weights_x", "weights_u"):
            wn = getattr(e, key)
            if wn and wn not in study.weights:
                errors.append(f"{folder}: estimate {e.name!r}: {key} = {wn!r} is not defined; defined: {wnames}")
        span = study.data.years
        if e.years and span and (e.years[0] < span[0] or e.years[1] > span[1]):
            errors.append(f"{_origin(study, 'estimate', e.name, folder)}: [[estimate]] {e.name!r}: years "
                          f"{list(e.years)} are not within [data] years {list(span)}")
    for m in study.moran:
        for wn in m.weights:
            if wn not in study.weights:
                errors.append(f"{folder}: moran {m.name!r}: weights {wn!r} is not defined; defined: {wnames}")
    for a in list(study.mediation) + list(study.regime):
        if a.weights and a.weights not in study.weights:
            errors.append(f"{folder}: {a.name!r}: weights {a.weights!r} is not defined; defined: {wnames}")
    for g in study.grid:
        for wn in g.weights:
            if wn not in study.weights:
                errors.append(f"{folder}: grid {g.name!r}: weights {wn!r} is not defined; defined: {wnames}")
    for b in study.model_probabilities:
        for wn in b.weights:
            if wn not in study.weights:
                errors.append(f"{folder}: model_probabilities {b.name!r}: weights {wn!r} is not defined; "
                              f"defined: {wnames}")
    for d in study.diagnose:
        if d.weights not in study.weights:
            errors.append(f"{folder}: diagnose {d.name!r}: weights {d.weights!r} is not defined; defined: {wnames}")
    specs = study.estimate_by_name()
    for t in study.table:
        for c in t.columns:
            if c not in enames:
                errors.append(f"{folder}: table {t.name!r}: column {c!r} is not an estimate; defined: {enames}")
        if t.impacts and t.columns and all(c in specs and specs[c].impacts is None for c in t.columns):
            errors.append(f"{folder}: table {t.name!r}: impacts = true but none of its columns {t.columns} has "
                          "impacts = {...} in its [[estimate]]")
        if t.column_names and len(t.column_names) != len(t.columns):
            errors.append(f"{folder}: table {t.name!r}: column_names has {len(t.column_names)} entries for {len(t.columns)} columns")
    for fg in study.figure:
        if fg.weights and fg.weights not in study.weights:
            errors.append(f"{folder}: figure {fg.name!r}: weights {fg.weights!r} is not defined; defined: {wnames}")
        if fg.estimate and fg.estimate not in enames:
            errors.append(f"{folder}: figure {fg.name!r}: estimate {fg.estimate!r} is not defined; defined: {enames}")
        if fg.kind not in ("impacts", "impacts_across_w") and not fg.variable:
            errors.append(f"{folder}: figure {fg.name!r}: kind = {fg.kind!r} needs variable = 'COLUMN'")
        unknown = [e for e in fg.estimates if e not in enames]
        if unknown:
            errors.append(f"{folder}: figure {fg.name!r}: estimates {unknown} are not defined; defined: {enames}")
        no_impacts = [e for e in fg.estimates if e in specs and specs[e].impacts is None]
        if no_impacts:
            errors.append(f"{folder}: figure {fg.name!r}: estimates {no_impacts} have no impacts = {{...}}; "
                          "impacts_across_w shows impacts")
    sources = {"coefficient": enames, "direct": enames, "indirect": enames, "total": enames,
               "mediated": [m.name for m in study.mediation], "equal_effects": [r.name for r in study.regime],
               "threshold": [t.name for t in study.threshold],
               "trend": [g.name for g in study.gaps] + [c.name for c in study.convergence]}
    for h in study.hypothesis:
        allowed = sources[h.quantity]
        for name in [h.estimate, *h.robustness]:
            if name not in allowed:
                errors.append(f"{folder}: hypothesis {h.name!r}: {name!r} is not an entry that gives "
                              f"quantity = {h.quantity!r}; defined: {allowed}")
    errors += _formula_errors(study, folder)
    errors += _hypothesis_errors(study, folder)
    errors += _descriptive_errors(study, folder)
    for fg in study.figure:
        if fg.kind != "impacts":
            continue
        with_impacts = [e.name for e in study.estimate if e.impacts is not None]
        if fg.estimate and fg.estimate in enames and fg.estimate not in with_impacts:
            errors.append(f"{_origin(study, 'figure', fg.name, folder)}: [[figure]] {fg.name!r}: kind = 'impacts' "
                          f"but [[estimate]] {fg.estimate!r} has no impacts = {{...}}; estimates with impacts: "
                          f"{with_impacts}")
        elif not fg.estimate and not with_impacts:
            errors.append(f"{_origin(study, 'figure', fg.name, folder)}: [[figure]] {fg.name!r}: kind = 'impacts' "
                          "but no [[estimate]] has impacts = {...}")
    needs_group = [e.name for e in study.estimate if e.groups] + \
        [a.name for a in [*study.gaps, *study.coupling] if a.group is None] + \
        [g.name for g in study.grid if any(v for v in g.samples.values())] + \
        [r.name for r in study.regime if r.regime_col is None]
    if needs_group and study.data.group is None:
        errors.append(f"{folder}: {needs_group} use unit groups: set [data] group = 'COLUMN'")
    if errors:
        raise SpecificationError("\n".join(errors))


def _origin(study: Study, kind: str, name: str, folder: Path) -> str:
    """The spec file that defines ``[[kind]] name`` (the study folder when unknown)."""
    file = study.origins.get(f"[[{kind}]] {name!r}")
    return str(folder / file) if file and folder.is_dir() else str(folder)


def _formula_errors(study: Study, folder: Path) -> list[str]:
    """A formula whose right-hand side holds its own dependent variable (``y ~ x + y``) is refused."""
    from spillover.formula import DependentAmongRegressors, parse

    errors = []
    for kind in ("estimate", "diagnose", "mediation", "threshold", "regime", "grid"):
        for entry in getattr(study, kind):
            try:
                parse(entry.formula)  # refuses y among its own regressors (spillover.formula)
            except DependentAmongRegressors as exc:
                errors.append(f"{_origin(study, kind, entry.name, folder)}: [[{kind}]] {entry.name!r}.formula: {exc}")
            except SpecificationError:
                continue  # the column check names an unreadable formula
    return errors


def descriptive_outputs(study: Study) -> dict[str, str]:
    """Table stems the descriptive entries write ("gaps_dagum", ...) -> the entry that writes each."""
    stems = {"gaps": ("dagum", "within", "between", "theil"), "density": ("",), "convergence": ("", "sigma"),
             "coupling": ("", "classes", "units"), "obstacles": ("indicators", "dimensions")}
    out: dict[str, str] = {}
    for kind, suffixes in stems.items():
        for entry in getattr(study, kind):
            for suffix in suffixes:
                out.setdefault(f"{entry.name}_{suffix}" if suffix else entry.name, f"[[{kind}]] {entry.name!r}")
    for m in study.markov:
        for stem in markov_stems(m):
            out.setdefault(stem, f"[[markov]] {m.name!r}")
    return out


def markov_stems(m: MarkovSpec) -> list[str]:
    """Table stems a [[markov]] entry writes: per variable the classic (and spatial) matrix, then the tests."""
    stems = []
    for v in m.variables:
        stems += [f"{m.name}_{v}"] + ([f"{m.name}_{v}_spatial"] if m.weights else [])
    return stems + ([f"{m.name}_tests"] if m.weights else [])


def _descriptive_errors(study: Study, folder: Path) -> list[str]:
    """W names of [[convergence]] and [[markov]], table names shared by two entries, and a 'trend' hypothesis' series."""
    errors = []
    wnames = sorted(study.weights)
    for c in study.convergence:
        where = f"{_origin(study, 'convergence', c.name, folder)}: [[convergence]] {c.name!r}"
        for wn in c.weights:
            if wn not in study.weights:
                errors.append(f"{where}: weights {wn!r} is not defined; defined: {wnames}")
        if c.variable in c.controls:
            errors.append(f"{where}: controls {c.controls} hold the variable {c.variable!r} itself")
    for m in study.markov:
        if m.weights and m.weights not in study.weights:
            errors.append(f"{_origin(study, 'markov', m.name, folder)}: [[markov]] {m.name!r}: weights "
                          f"{m.weights!r} is not defined; defined: {wnames}")
    outputs = descriptive_outputs(study)
    for t in study.table:
        if t.name in outputs:
            errors.append(f"{_origin(study, 'table', t.name, folder)}: [[table]] {t.name!r} has the name of a table "
                          f"that {outputs[t.name]} writes; rename one of them")
    gaps = {g.name: g for g in study.gaps}
    conv = {c.name: c for c in study.convergence}
    span = study.data.years
    for h in study.hypothesis:
        if h.quantity != "trend":
            continue
        where = f"{_origin(study, 'hypothesis', h.name, folder)}: [[hypothesis]] {h.name!r}"
        for name in [h.estimate, *h.robustness]:
            kind = "gaps" if name in gaps else "convergence" if name in conv else None
            if kind is None:
                continue  # named above: not an entry that gives the quantity
            if h.measure not in TREND_MEASURES[kind]:
                errors.append(f"{where}: measure = {h.measure!r} is not a series of a [[{kind}]] entry; allowed: "
                              f"{list(TREND_MEASURES[kind])}")
            columns = gaps[name].variables if kind == "gaps" else [conv[name].variable]
            if kind == "gaps" and h.variable is None:
                errors.append(f"{where}: [[gaps]] {name!r} needs variable = one of {columns}")
            elif h.variable is not None and h.variable not in columns:
                errors.append(f"{where}: variable = {h.variable!r} is not a column of [[{kind}]] {name!r}; its "
                              f"columns: {columns}")
        if h.years and span and (h.years[0] < span[0] or h.years[1] > span[1]):
            errors.append(f"{where}: years {list(h.years)} are not within [data] years {list(span)}")
    return errors


#: coefficient names of the spatial models besides the regressors and their W* lags
SPATIAL_PARAMETERS = ("rho", "lambda", "theta", "phi")


def _hypothesis_errors(study: Study, folder: Path) -> list[str]:
    """Each [[hypothesis]] names a number its entries give: a regressor of the formula, impacts that exist, a mediator."""
    from spillover.formula import parse

    errors = []
    estimates = study.estimate_by_name()
    mediations = {m.name: m for m in study.mediation}
    for h in study.hypothesis:
        where = f"{_origin(study, 'hypothesis', h.name, folder)}: [[hypothesis]] {h.name!r}"
        for name in [h.estimate, *h.robustness]:
            if h.quantity in ("coefficient", "direct", "indirect", "total") and name in estimates:
                e = estimates[name]
                if h.quantity != "coefficient" and e.impacts is None:
                    errors.append(f"{where}: quantity = {h.quantity!r} needs the impacts of [[estimate]] {name!r}, "
                                  "which has no impacts = {...}; add them to the estimate or test its coefficient "
                                  "(quantity = 'coefficient')")
                    continue
                try:
                    parsed = parse(e.formula)
                except SpecificationError:
                    continue
                terms = list(parsed.exog) + list(parsed.endog)
                allowed = set(terms)
                if h.quantity == "coefficient":
                    allowed |= {f"W*{t}" for t in terms} | set(SPATIAL_PARAMETERS)
                    allowed |= {f"{parsed.lhs}(t-1)", f"W*{parsed.lhs}(t-1)"}  # dynamic models
                if h.variable not in allowed:
                    errors.append(f"{where}: variable = {h.variable!r} is not a regressor of [[estimate]] {name!r} "
                                  f"(formula {e.formula!r}); its regressors: {terms}")
            elif h.quantity == "mediated" and name in mediations and h.variable not in mediations[name].mediators:
                errors.append(f"{where}: variable = {h.variable!r} is not a mediator of [[mediation]] {name!r}; "
                              f"its mediators: {mediations[name].mediators}")
    return errors
