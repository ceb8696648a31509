"""Publication figures: maps, Moran scatterplots, LISA clusters, impacts and trends.

Every function builds a :class:`matplotlib.figure.Figure` attached to an Agg
canvas directly, without :mod:`matplotlib.pyplot`: no display is needed, no
global backend is switched and figures are not kept alive by pyplot's figure
manager. Fonts are DejaVu Sans with a CJK fallback (see
:mod:`spillover.report.fonts`), so Chinese titles and labels render when
``language="zh"`` and Latin text looks the same either way.

:func:`study_figures` is the study runner's figures step; it writes each
figure as ``results/figures/NAME.png`` (200 dpi) and ``NAME.pdf``,
atomically and reproducibly (fixed permutation seeds, no creation date in
the PDF, fixed SVG hash salt).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.collections import PathCollection
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath

from spillover.errors import SpecificationError, format_error
from spillover.report import fonts

__all__ = [
    "DPI",
    "choropleth",
    "impacts_plot",
    "lisa_map",
    "moran_scatter",
    "save_figure",
    "trends_by_region",
]

#: Resolution of the PNG files.
DPI = 200

Box = tuple[float, float, float, float]  # longitude/latitude (west, south, east, north)

#: LISA cluster colours (Anselin's GeoDa convention).
CLUSTER_COLORS = {"HH": "#d7191c", "LL": "#2c7bb6", "LH": "#abd9e9", "HL": "#fdae61", "ns": "#eeeeee"}
_CLUSTER_ORDER = ("HH", "LL", "LH", "HL", "ns")
_QUADRANT_NAMES = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}

#: Colours of the groups in a trend figure, in drawing order (ColorBrewer Dark2).
GROUP_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")

_MISSING_COLOR = "#f4f4f4"
_EDGE_COLOR = "#ffffff"

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "national": "All units",
        "direct": "Direct",
        "indirect": "Indirect (spillover)",
        "total": "Total",
        "HH": "High-High",
        "LL": "Low-Low",
        "LH": "Low-High",
        "HL": "High-Low",
        "ns": "Not significant",
        "missing": "No data",
        "year": "Year",
        "std": "Standardised {v}",
        "lag": "Spatial lag of standardised {v}",
        "moran_title": "Moran scatterplot of {v}, {year}",
        "moran_note": "Moran's I = {i:.3f}\npseudo p = {p:.3f} ({perm} permutations)",
        "moran_note_noperm": "Moran's I = {i:.3f}\nz = {z:.2f}, p = {p:.3f}",
        "lisa_title": "LISA clusters of {v}",
        "lisa_note": "p \u2264 {alpha:g}, {perm} conditional permutations",
        "choropleth_title": "{v}",
        "impacts_title": "Direct, indirect and total effects ({level:.0%} confidence intervals)",
        "impacts_x": "Effect",
        "trends_title": "Mean by region",
        "trends_y": "Mean",
    },
    "zh": {
        "national": "全部单位",
        "direct": "直接效应",
        "indirect": "间接效应（空间溢出）",
        "total": "总效应",
        "HH": "高-高",
        "LL": "低-低",
        "LH": "低-高",
        "HL": "高-低",
        "ns": "不显著",
        "missing": "无数据",
        "year": "年份",
        "std": "{v}（标准化）",
        "lag": "{v}的空间滞后（标准化）",
        "moran_title": "{v}的Moran散点图，{year}年",
        "moran_note": "Moran's I = {i:.3f}\n伪p值 = {p:.3f}（{perm}次置换）",
        "moran_note_noperm": "Moran's I = {i:.3f}\nz = {z:.2f}，p = {p:.3f}",
        "lisa_title": "{v}的LISA集聚图",
        "lisa_note": "p \u2264 {alpha:g}，{perm}次条件置换",
        "choropleth_title": "{v}",
        "impacts_title": "直接效应、间接效应与总效应（{level:.0%}置信区间）",
        "impacts_x": "效应",
        "trends_title": "分区域均值",
        "trends_y": "均值",
    },
}


# ---------------------------------------------------------------- helpers
def _text(key: str, language: str, labels: Mapping[str, str] | None = None, **fmt: Any) -> str:
    """User label, else the built-in label of ``language``, else ``key``; then ``str.format(**fmt)``."""
    if labels and key in labels:
        s = labels[key]
    else:
        s = LABELS.get(language, LABELS["en"]).get(key, LABELS["en"].get(key, key))
    return s.format(**fmt) if fmt else s


def _check_language(language: str) -> str:
    if language not in LABELS:
        raise SpecificationError(format_error("unknown figure language", language=language, hint="use 'en' or 'zh'"))
    return language


@contextmanager
def _style(language: str):
    """rcParams in force while a figure is built: fonts (with CJK fallback) and a clean look.

    Text objects keep the font family list they were created with, so the
    figure renders the same after the context is left.
    """
    if language == "zh":
        fonts.cjk_font_family()  # warns once when Chinese text cannot render
    families = [fonts.LATIN_FAMILY] + ([fonts.cjk_font_family()] if fonts.has_cjk_font() else [])
    rc = {
        "font.family": families,
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.unicode_minus": True,
        "svg.hashsalt": "spillover",
        "image.cmap": "viridis",
    }
    with matplotlib.rc_context(rc):
        yield


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _as_list(value: Any) -> list:
    """A scalar, a comma-separated string or an iterable as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def _require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SpecificationError(format_error(f"{what}: missing columns", columns=missing))


def _years(panel: pd.DataFrame, time: str, years: Any, default: str) -> list[int]:
    available = sorted(pd.unique(panel[time]))
    chosen = _as_list(years)
    if not chosen:
        chosen = [available[0], available[-1]] if default == "ends" else [available[-1]]
        chosen = list(dict.fromkeys(chosen))
    bad = [y for y in chosen if y not in set(available)]
    if bad:
        raise SpecificationError(format_error("figure years not in the data", years=bad,
                                              available=f"{available[0]}..{available[-1]}"))
    return [int(y) if isinstance(y, (int, np.integer)) else y for y in chosen]


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return int(np.ceil(n / cols)), cols


# ---------------------------------------------------------------- maps
def _to_lonlat(geo):
    if geo.crs is None:
        return geo.set_crs(4326)
    return geo if geo.crs.to_epsg() == 4326 else geo.to_crs(4326)


def _box_bounds(box: tuple[float, float, float, float], projection: str) -> np.ndarray:
    import geopandas as gpd
    from shapely.geometry import box as shp_box

    return gpd.GeoSeries([shp_box(*box)], crs=4326).to_crs(projection).total_bounds


def _polygon_path(geom) -> MplPath:
    """A matplotlib Path of a (Multi)Polygon: exteriors counter-clockwise, holes clockwise."""
    from shapely.geometry.polygon import orient

    if geom is None or geom.is_empty:
        return MplPath(np.zeros((0, 2)))
    polys = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
    verts, codes = [], []
    for poly in polys:
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        poly = orient(poly, 1.0)
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords, dtype=float)[:, :2]
            c = np.full(len(xy), MplPath.LINETO, dtype=np.uint8)
            c[0], c[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return MplPath(np.zeros((0, 2)))
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _prepare_map(geo, projection: str | None, extent: Box | None, inset: Box | None):
    """(drawn geometry, polygon paths, main extent, inset extent or None) in the map's coordinates.

    ``projection`` None draws in the geometry's own CRS when it is projected,
    else in longitude/latitude. The main extent is ``extent`` (a lon/lat box)
    or the bounds of the data; the inset, when asked for, shows the lon/lat
    box ``inset``.
    """
    lonlat = _to_lonlat(geo)
    if projection is None and geo.crs is not None and geo.crs.is_projected:
        projection = geo.crs.to_wkt()
    gdf = lonlat if projection is None else lonlat.to_crs(projection)

    def bounds(box: Box) -> np.ndarray:
        return np.array(box, dtype=float) if projection is None else _box_bounds(box, projection)

    if extent is None:
        main = np.asarray(gdf.total_bounds, dtype=float)
    else:
        main = np.asarray((lonlat.clip(extent) if projection is None else lonlat.clip(extent).to_crs(projection))
                          .total_bounds, dtype=float)
    if not np.all(np.isfinite(main)) or main[2] <= main[0] or main[3] <= main[1]:
        from spillover.errors import SpecificationError as _SE

        raise _SE(format_error("the map extent holds no polygon", extent=extent,
                               hint="check the geometry's CRS, or the [geometry] extent box"))
    paths = [_polygon_path(g) for g in gdf.geometry]
    return gdf, paths, main, (bounds(inset) if inset is not None else None)


def _map_axes(ax, paths: list, colors: list, main: np.ndarray, inset: np.ndarray | None,
              missing: np.ndarray) -> None:
    """Draw the polygons ``paths`` coloured by ``colors`` on ``ax`` (and an inset showing ``inset``)."""
    targets = [ax]
    if inset is not None:
        targets.append(ax.inset_axes([0.84, 0.0, 0.16, 0.30]))
    for k, target in enumerate(targets):
        if k == 0:
            coll = PathCollection(paths, facecolors=colors, edgecolors=_EDGE_COLOR, linewidths=0.3)
        else:  # islands are specks: outline them in their own colour so they show
            coll = PathCollection(paths, facecolors=colors, edgecolors=colors, linewidths=0.5)
        target.add_collection(coll, autolim=False)
        if missing.any():
            target.add_collection(PathCollection([p for p, m in zip(paths, missing, strict=True) if m],
                                                 facecolors="none", edgecolors="#9a9a9a", hatch="////",
                                                 linewidths=0.0), autolim=False)
        target.set_xticks([])
        target.set_yticks([])
        target.set_aspect("equal")
    pad_x, pad_y = 0.01 * (main[2] - main[0]), 0.01 * (main[3] - main[1])
    ax.set_xlim(main[0] - pad_x, main[2] + pad_x)
    ax.set_ylim(main[1] - pad_y, main[3] + pad_y)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if len(targets) > 1:
        sub = targets[1]
        sub.set_xlim(inset[0], inset[2])
        sub.set_ylim(inset[1], inset[3])
        for spine in sub.spines.values():
            spine.set_visible(True)
            spine.set_linewidth(0.6)
            spine.set_color("#555555")


def _join(geo, values: pd.Series, id_col: str) -> np.ndarray:
    """Values aligned to the rows of ``geo`` (NaN where a unit has no value)."""
    keys = geo[id_col].astype(str)
    v = values.copy()
    v.index = v.index.astype(str)
    return keys.map(v).to_numpy(dtype=float)


def choropleth(
    geo,
    panel: pd.DataFrame,
    variable: str | Sequence[str],
    years: int | Sequence[int] | None = None,
    *,
    entity: str,
    id_col: str,
    time: str = "year",
    cmap: str = "YlGnBu",
    scheme: str = "quantiles",
    k: int = 5,
    labels: Mapping[str, str] | None = None,
    language: str = "en",
    title: str | None = None,
    projection: str | None = None,
    extent: Box | None = None,
    inset: Box | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Choropleth maps of one or more variables in one or more years.

    One row of maps per variable and one column per year; the maps of a row
    share one colour scale (the range over the years shown), drawn as a
    colour bar, so the years can be compared. Units without a value are
    hatched.

    Parameters
    ----------
    geo : geopandas.GeoDataFrame
        Polygons with the unit code in ``id_col``; a missing CRS is taken as
        EPSG:4326 (longitude/latitude).
    panel : pandas.DataFrame
        Long panel with ``entity``, ``time`` and the variables.
    variable : str or sequence of str
        Variable(s) to map; a comma-separated string is split.
    years : int or sequence of int, optional
        Years (columns); default the first and the last year of the panel.
    entity, time : str
        Unit and period columns of ``panel``.
    id_col : str
        Unit code column of ``geo``, matched to ``panel[entity]`` as strings.
    cmap : str, default "YlGnBu"
        Matplotlib colormap.
    scheme : {"quantiles", "continuous"}, default "quantiles"
        ``"quantiles"``: ``k`` classes bounded by the quantiles of the
        values pooled over the years of the row (skewed indices such as the
        digital economy index stay readable); ``"continuous"``: a linear
        scale from the minimum to the maximum.
    k : int, default 5
        Number of quantile classes.
    labels : mapping, optional
        Overrides of the built-in labels (keys: variable names and label keys
        of :data:`LABELS`).
    language : {"en", "zh"}
        Language of the built-in labels.
    title : str, optional
        Figure title; default none (each row is labelled by its colour bar).
    projection : str or None
        CRS the maps are drawn in (PROJ string, EPSG code); None: the
        geometry's own CRS when projected, else longitude/latitude.
    extent : (west, south, east, north), optional
        Longitude/latitude box of the main map; default the data's bounds.
    inset : (west, south, east, north), optional
        Longitude/latitude box drawn in an inset (e.g. islands that the
        extent leaves out); default none.
    figsize : (float, float), optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(variables) * len(years)`` map axes followed by one colour-bar
        axes per variable.
    """
    language = _check_language(language)
    variables = _as_list(variable)
    if not variables:
        raise SpecificationError("choropleth: no variable given")
    _require_columns(panel, [entity, time, *variables], "choropleth panel")
    _require_columns(geo, [id_col], "choropleth geometry")
    yrs = _years(panel, time, years, "ends")
    gdf, paths, main, box = _prepare_map(geo, projection, extent, inset)
    if scheme not in ("quantiles", "continuous"):
        raise SpecificationError(format_error("choropleth: unknown scheme", scheme=scheme,
                                              hint="use 'quantiles' or 'continuous'"))
    if int(k) < 2:
        raise SpecificationError(format_error("choropleth: need k >= 2 classes", k=k))
    nrow, ncol = len(variables), len(yrs)
    cm = matplotlib.colormaps[cmap]
    with _style(language):
        fig = _new_figure(figsize or (3.3 * ncol + 1.0, 2.9 * nrow + (0.4 if title else 0.0)))
        axes = np.atleast_2d(np.array(fig.subplots(nrow, ncol, squeeze=False)))
        for r, var in enumerate(variables):
            sub = panel[panel[time].isin(yrs)]
            finite = sub[var].to_numpy(dtype=float)
            finite = finite[np.isfinite(finite)]
            vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            if vmin == vmax:
                vmin, vmax = vmin - 0.5, vmax + 0.5
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, k + 1))) if finite.size else np.array([])
            if scheme == "quantiles" and edges.size >= 3:
                norm = BoundaryNorm(edges, cm.N, clip=True)
            else:
                norm, edges = Normalize(vmin, vmax), None
            for c, year in enumerate(yrs):
                ax = axes[r, c]
                values = sub[sub[time] == year].set_index(entity)[var]
                vals = _join(gdf, values, id_col)
                missing = ~np.isfinite(vals)
                colors = [_MISSING_COLOR if m else cm(norm(v)) for v, m in zip(vals, missing, strict=True)]
                _map_axes(ax, paths, colors, main, box, missing)
                sep = ("，", "年") if language == "zh" else (", ", "")
                ax.set_title(f"{year}{sep[1]}" if nrow == 1 else f"{_text(var, language, labels)}{sep[0]}{year}{sep[1]}")
            sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cm)
            cb = fig.colorbar(sm, ax=list(axes[r, :]), shrink=0.8, aspect=18, pad=0.02)
            cb.set_label(_text(var, language, labels))
            if edges is not None:
                cb.set_ticks(edges, labels=[f"{e:.3g}" for e in edges])
            cb.outline.set_linewidth(0.5)
        if title:
            fig.suptitle(title)
    return fig


def lisa_map(
    geo,
    lisa_frame: pd.DataFrame,
    year: int | Sequence[int] | None = None,
    *,
    id_col: str,
    entity_col: str = "entity",
    time: str = "year",
    variable: str | None = None,
    alpha: float | None = 0.05,
    permutations: int | None = None,
    labels: Mapping[str, str] | None = None,
    language: str = "en",
    title: str | None = None,
    projection: str | None = None,
    extent: Box | None = None,
    inset: Box | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Map of LISA clusters (High-High, Low-Low, Low-High, High-Low, not significant).

    Parameters
    ----------
    geo : geopandas.GeoDataFrame
        Polygons with the unit code in ``id_col``.
    lisa_frame : pandas.DataFrame
        Output of :func:`spillover.lisa_by_year` (columns ``entity, year,
        cluster, ...``).
    year : int or sequence of int, optional
        Year(s) to map, one axes each; default the last year of the frame.
    id_col, entity_col, time : str
        Unit code column of ``geo``, unit and year columns of ``lisa_frame``.
    variable : str, optional
        Variable name for the title.
    alpha, permutations : optional
        Shown in a note under the legend when given.
    labels, language, title, projection, extent, inset, figsize
        As in :func:`choropleth`.

    Returns
    -------
    matplotlib.figure.Figure
        One map axes per year and a legend with one entry per cluster class
        (with the number of units in it when one year is shown).
    """
    language = _check_language(language)
    _require_columns(lisa_frame, [entity_col, time, "cluster"], "lisa_map frame")
    _require_columns(geo, [id_col], "lisa_map geometry")
    yrs = _years(lisa_frame, time, year, "last")
    gdf, paths, main, box = _prepare_map(geo, projection, extent, inset)
    nrow, ncol = _grid(len(yrs))
    with _style(language):
        fig = _new_figure(figsize or (4.4 * ncol + (1.3 if len(yrs) == 1 else 0.0), 3.5 * nrow + 0.5))
        axes = np.array(fig.subplots(nrow, ncol, squeeze=False)).ravel()
        counts: dict[str, int] = {}
        for ax, y in zip(axes, yrs, strict=False):
            frame = lisa_frame[lisa_frame[time] == y].set_index(entity_col)["cluster"]
            frame.index = frame.index.astype(str)
            clusters = gdf[id_col].astype(str).map(frame)
            missing = clusters.isna().to_numpy()
            colors = [_MISSING_COLOR if m else CLUSTER_COLORS.get(c, CLUSTER_COLORS["ns"])
                      for c, m in zip(clusters, missing, strict=True)]
            _map_axes(ax, paths, colors, main, box, missing)
            if len(yrs) > 1:
                ax.set_title(str(y))
            counts = clusters.value_counts().to_dict()
        for ax in axes[len(yrs):]:
            ax.set_visible(False)
        handles = []
        for c in _CLUSTER_ORDER:
            name = _text(c, language, labels)
            if len(yrs) == 1:
                name = f"{name} ({counts.get(c, 0)})"
            handles.append(Patch(facecolor=CLUSTER_COLORS[c], edgecolor="#999999", linewidth=0.4, label=name))
        if len(yrs) == 1:
            fig.legend(handles=handles, loc="outside right center", handlelength=1.2)
        else:
            fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), handlelength=1.2)
        note = None
        if permutations is not None and alpha is not None:
            note = _text("lisa_note", language, labels, alpha=alpha, perm=permutations)
        head = title
        if head is None and variable is not None:
            head = _text("lisa_title", language, labels, v=_text(variable, language, labels))
            if len(yrs) == 1:
                head = f"{head}, {yrs[0]}" if language == "en" else f"{head}，{yrs[0]}年"
        if head:
            fig.suptitle(head)
        if note:
            fig.supxlabel(note, fontsize=7, color="#555555")
    return fig


# ---------------------------------------------------------------- Moran
def _standardised(panel: pd.DataFrame, variable: str, w, entity: str, time: str, year) -> tuple[np.ndarray, np.ndarray]:
    """(z, Wz) of ``variable`` in ``year``, units in ``w.id_order``; z uses the population sd."""
    sub = panel[panel[time] == year]
    values = sub.assign(_k=sub[entity].astype(str)).set_index("_k")[variable]
    ids = [str(i) for i in w.id_order]
    missing = [i for i in ids if i not in values.index]
    if missing:
        raise SpecificationError(format_error("moran_scatter: units of W missing from the panel",
                                              year=year, units=missing[:5]))
    y = values.loc[ids].to_numpy(dtype=float)
    if not np.all(np.isfinite(y)):
        raise SpecificationError(format_error("moran_scatter: missing values", variable=variable, year=year))
    sd = y.std()
    if sd == 0:
        raise SpecificationError(format_error("moran_scatter: variable is constant", variable=variable, year=year))
    z = (y - y.mean()) / sd
    return z, np.asarray(w.sparse @ z, dtype=float)


def moran_scatter(
    panel: pd.DataFrame,
    variable: str,
    w,
    year: int | Sequence[int] | None = None,
    *,
    entity: str,
    time: str = "year",
    permutations: int = 999,
    seed: int | None = 0,
    annotate: bool = False,
    name_col: str | None = None,
    stats: pd.DataFrame | None = None,
    labels: Mapping[str, str] | None = None,
    language: str = "en",
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Moran scatterplot: standardised value against its spatial lag.

    Points are coloured by quadrant (HH, LH, LL, HL); the line through the
    origin has slope ``z'Wz / z'z``, which equals Moran's I when W is
    row-standardised. Moran's I and its permutation p-value come from
    :func:`spillover.moran_by_year` with the same ``permutations`` and
    ``seed`` (so they match the study's Moran table).

    Parameters
    ----------
    panel : pandas.DataFrame
        Long panel with ``entity``, ``time`` and ``variable``.
    variable : str
        Variable to plot.
    w : libpysal.weights.W
        Spatial weights, ids equal to the ``entity`` codes.
    year : int or sequence of int, optional
        Year(s), one axes each; default the last year of the panel.
    entity, time : str
        Unit and period columns.
    permutations : int, default 999
        Permutations for the pseudo p-value (0: normal approximation).
    seed : int, default 0
        Seed passed to :func:`spillover.moran_by_year`.
    annotate : bool, default False
        Label the points with unit names (``name_col``; default
        ``province_en`` / ``province_zh`` by language when present, else the
        codes).
    name_col : str, optional
        Column with the point labels.
    stats : DataFrame, optional
        Moran's I already computed (:func:`spillover.moran_by_year`'s columns
        ``year, I, z, p_norm, p_sim``), e.g. the study's Moran table; computed
        here with ``permutations`` and ``seed`` when absent.
    labels, language, title, figsize
        As in :func:`choropleth`.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per year, each with the scatter (one point per unit), the
        slope line and the two axis lines at zero.
    """
    from spillover.diagnostics.moran import moran_by_year

    language = _check_language(language)
    _require_columns(panel, [entity, time, variable], "moran_scatter panel")
    yrs = _years(panel, time, year, "last")
    vlabel = _text(variable, language, labels)
    if stats is None or not set(yrs) <= set(stats["year"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small-N and island notices: the figure reports p_sim
            stats = moran_by_year(panel[panel[time].isin(yrs)], variable, w, entity, time,
                                  permutations=permutations, seed=seed)
    stats = stats.set_index("year")
    names = None
    if annotate:
        col = name_col or ("province_zh" if language == "zh" else "province_en")
        if col in panel.columns:
            names = panel.drop_duplicates(entity).assign(_k=lambda d: d[entity].astype(str)).set_index("_k")[col]
    ids = [str(i) for i in w.id_order]
    nrow, ncol = _grid(len(yrs))
    with _style(language):
        fig = _new_figure(figsize or (4.0 * ncol, 3.8 * nrow))
        axes = np.array(fig.subplots(nrow, ncol, squeeze=False)).ravel()
        for ax, y in zip(axes, yrs, strict=False):
            z, lag = _standardised(panel, variable, w, entity, time, y)
            quad = np.where(z >= 0, np.where(lag >= 0, 1, 4), np.where(lag >= 0, 2, 3))
            colors = [CLUSTER_COLORS[_QUADRANT_NAMES[q]] for q in quad]
            ax.axhline(0, color="#888888", linewidth=0.6, zorder=1)
            ax.axvline(0, color="#888888", linewidth=0.6, zorder=1)
            ax.scatter(z, lag, s=22, c=colors, edgecolors="#333333", linewidths=0.4, zorder=3)
            slope = float(z @ lag / (z @ z))
            lim = float(max(np.abs(z).max(), np.abs(lag).max()) * 1.1)
            xs = np.array([-lim, lim])
            ax.plot(xs, slope * xs, color="#222222", linewidth=1.0, zorder=2, gid="moran_slope")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal", adjustable="box")
            ax.set_xlabel(_text("std", language, labels, v=vlabel))
            ax.set_ylabel(_text("lag", language, labels, v=vlabel))
            row = stats.loc[y]
            if permutations and permutations > 0:
                note = _text("moran_note", language, labels, i=row["I"], p=row["p_sim"], perm=int(permutations))
            else:
                note = _text("moran_note_noperm", language, labels, i=row["I"], z=row["z"], p=row["p_norm"])
            ax.text(0.03, 0.97, note, transform=ax.transAxes, va="top", ha="left", fontsize=7.5,
                    bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#cccccc",
                          "linewidth": 0.5})
            if names is not None:
                for k, (xi, yi) in enumerate(zip(z, lag, strict=True)):
                    ax.annotate(str(names.get(ids[k], ids[k])), (xi, yi), xytext=(2, 2),
                                textcoords="offset points", fontsize=5.5, color="#333333")
            ax.set_title(title if (title and len(yrs) == 1) else
                         _text("moran_title", language, labels, v=vlabel, year=y))
        for ax in axes[len(yrs):]:
            ax.set_visible(False)
        if title and len(yrs) > 1:
            fig.suptitle(title)
    return fig


# ---------------------------------------------------------------- impacts
def _normal_quantile(level: float) -> float:
    from scipy import stats

    if not 0 < level < 1:
        raise SpecificationError(format_error("confidence level must be in (0, 1)", level=level))
    return float(stats.norm.ppf(0.5 + level / 2))


def impacts_plot(
    impacts_table,
    *,
    level: float = 0.95,
    parts: Sequence[str] = ("direct", "indirect", "total"),
    variables: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    language: str = "en",
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Dot-and-whisker plot of direct, indirect and total effects.

    Each panel shows one kind of effect: the point estimate of every
    variable with its ``level`` normal confidence interval (estimate
    +/- z * se, z = 1.96 for 95 %). Filled markers are significant at
    ``1 - level`` (interval excludes zero), open markers are not.

    Parameters
    ----------
    impacts_table : pandas.DataFrame or ImpactsResult
        Indexed by variable with columns ``direct, indirect, total`` and
        ``direct_se, indirect_se, total_se`` (``ImpactsResult.table``); an
        object with a ``table`` attribute is accepted.
    level : float, default 0.95
        Confidence level of the intervals.
    parts : sequence of str
        Effects to show, one panel each.
    variables : sequence of str, optional
        Rows to show, in order; default all rows of the table.
    labels, language, title, figsize
        As in :func:`choropleth`; ``title`` default names the effects and
        the confidence level.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per effect, sharing the variable axis.
    """
    language = _check_language(language)
    table = getattr(impacts_table, "table", impacts_table)
    if not isinstance(table, pd.DataFrame):
        raise SpecificationError("impacts_plot needs a DataFrame or an object with a .table DataFrame")
    parts = list(parts)
    _require_columns(table, [*parts, *[f"{p}_se" for p in parts]], "impacts_plot table")
    if variables is not None:
        table = table.loc[list(variables)]
    table = table[table[parts].notna().any(axis=1)]  # e.g. long-run effects of an unstable dynamic estimate
    if table.empty:
        raise SpecificationError("impacts_plot: the impacts table has no rows with a value")
    zq = _normal_quantile(level)
    names = [_text(str(v), language, labels) for v in table.index]
    ypos = np.arange(len(table))[::-1].astype(float)
    with _style(language):
        fig = _new_figure(figsize or (2.6 * len(parts) + 1.4, 0.42 * len(table) + 1.3))
        axes = np.array(fig.subplots(1, len(parts), sharey=True, squeeze=False)).ravel()
        for k, (ax, part) in enumerate(zip(axes, parts, strict=True)):
            est = table[part].to_numpy(dtype=float)
            se = table[f"{part}_se"].to_numpy(dtype=float)
            half = zq * se
            sig = np.isfinite(half) & (np.abs(est) > half)
            color = ("#1f4e79", "#b2182b", "#333333")[k % 3]
            ax.axvline(0, color="#999999", linewidth=0.7, linestyle="--", zorder=1)
            ax.errorbar(est, ypos, xerr=np.where(np.isfinite(half), half, 0.0), fmt="none", ecolor=color,
                        elinewidth=1.1, capsize=2.5, zorder=2)
            ax.scatter(est, ypos, s=26, zorder=3, edgecolors=color, linewidths=1.1,
                       facecolors=[color if s else "white" for s in sig])
            ax.set_title(_text(part, language, labels))
            ax.set_xlabel(_text("impacts_x", language, labels))
            ax.grid(axis="x", color="#eeeeee", linewidth=0.5)
            ax.set_axisbelow(True)
            if k == 0:
                ax.set_yticks(ypos, names)
            else:
                ax.tick_params(axis="y", left=False)
        axes[0].set_ylim(-0.6, len(table) - 0.4)
        fig.suptitle(title if title is not None else _text("impacts_title", language, labels, level=level))
    return fig


# ---------------------------------------------------------------- trends
def trends_by_region(
    panel: pd.DataFrame,
    variables: str | Sequence[str],
    *,
    region_col: str,
    time: str = "year",
    regions: Sequence[str] | None = None,
    national: bool = True,
    labels: Mapping[str, str] | None = None,
    language: str = "en",
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Mean of each variable by region and year, one panel per variable.

    Parameters
    ----------
    panel : pandas.DataFrame
        Long panel with ``region_col``, ``time`` and the variables.
    variables : str or sequence of str
        Variables, one axes each; a comma-separated string is split.
    region_col, time : str
        Region and year columns.
    regions : sequence of str, optional
        Groups in drawing order; default the order of their first
        appearance in ``panel``.
    national : bool, default True
        Also draw the mean over all units (dashed).
    labels, language, title, figsize
        As in :func:`choropleth`.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per variable with one line per region (plus the national
        mean) and a shared legend.
    """
    language = _check_language(language)
    variables = _as_list(variables)
    if not variables:
        raise SpecificationError("trends_by_region: no variable given")
    _require_columns(panel, [region_col, time, *variables], "trends_by_region panel")
    present = list(pd.unique(panel[region_col].dropna()))
    if regions is None:
        regions = present
    means = panel.groupby([region_col, time])[variables].mean()
    overall = panel.groupby(time)[variables].mean()
    fallback = matplotlib.colormaps["tab10"]
    nrow, ncol = _grid(len(variables), 2)
    with _style(language):
        fig = _new_figure(figsize or (3.6 * ncol + 0.4, 2.8 * nrow + 0.7))
        axes = np.array(fig.subplots(nrow, ncol, squeeze=False, sharex=True)).ravel()
        handles: list = []
        for ax, var in zip(axes, variables, strict=False):
            handles = []
            for k, reg in enumerate(regions):
                if reg not in means.index.get_level_values(0):
                    continue
                s = means.loc[reg, var]
                (line,) = ax.plot(s.index.to_numpy(), s.to_numpy(), marker="o", markersize=2.8, linewidth=1.3,
                                  color=GROUP_COLORS[k] if k < len(GROUP_COLORS) else fallback(k % 10),
                                  label=_text(str(reg), language, labels))
                handles.append(line)
            if national:
                (line,) = ax.plot(overall.index.to_numpy(), overall[var].to_numpy(), color="#222222",
                                  linestyle="--", linewidth=1.1, label=_text("national", language, labels))
                handles.append(line)
            ax.set_title(_text(var, language, labels))
            ax.set_xlabel(_text("year", language, labels))
            ax.set_ylabel(_text("trends_y", language, labels))
            ax.grid(color="#eeeeee", linewidth=0.5)
            ax.set_axisbelow(True)
            years = sorted(pd.unique(panel[time]))
            step = 1 if len(years) <= 6 else 2 if len(years) <= 12 else int(np.ceil(len(years) / 6))
            ax.set_xticks(years[::step])
            ax.tick_params(axis="x", labelbottom=True)
        for ax in axes[len(variables):]:
            ax.set_visible(False)
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), handlelength=1.8)
        fig.suptitle(title if title is not None else _text("trends_title", language, labels))
    return fig


# ---------------------------------------------------------------- output
def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "pdf"), dpi: int = DPI) -> list[Path]:
    """Write ``fig`` as ``stem.png`` / ``stem.pdf`` atomically and reproducibly.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    stem : str or Path
        Output path without suffix; its folder is created.
    formats : sequence of str, default ("png", "pdf")
    dpi : int, default 200
        Resolution of raster formats.

    Returns
    -------
    list of pathlib.Path
        The files written, in ``formats`` order.

    Notes
    -----
    PDF and SVG carry no creation date and SVG ids use a fixed hash salt, so
    the same figure gives the same bytes on every run.
    """
    from spillover.io import atomic_write

    stem = Path(stem)
    written = []
    for fmt in formats:
        path = stem.parent / f"{stem.name}.{fmt}"
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Date": None} if fmt == "svg" else None
        with matplotlib.rc_context({"svg.hashsalt": "spillover", "pdf.fonttype": 3, "pdf.compression": 6}):
            atomic_write(path, lambda p, fmt=fmt, metadata=metadata: fig.savefig(
                p, format=fmt, dpi=dpi, metadata=metadata, facecolor="white"))
        written.append(path)
    return written
