"""Publication figures: maps, Moran scatterplots, LISA clusters, impacts and trends.

Every function builds a :class:`matplotlib.figure.Figure` attached to an Agg
canvas directly, without :mod:`matplotlib.pyplot`: no display is needed, no
global backend is switched and figures are not kept alive by pyplot's figure
manager. Fonts are DejaVu Sans with a CJK fallback (see
:mod:`spillover.report.fonts`), so Chinese titles and labels render when
``language="zh"`` and Latin text looks the same either way.

Figures are drawn at the width they are printed at, one journal column
(:data:`SINGLE_COLUMN`) or the text width (:data:`DOUBLE_COLUMN`), so the
font sizes are printed sizes. Colours are colour-blind safe (Okabe-Ito for
lines and effects, ColorBrewer ramps for maps), groups also differ by
marker shape, and significance by filled versus open dots. Names are shown
through the study's labels with the tables' labeller
(:func:`variable_label`), so a figure names a variable as the tables do.

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
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.collections import PathCollection
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath
from matplotlib.text import Text

from spillover.errors import SpecificationError, format_error
from spillover.report import fonts

__all__ = [
    "DOUBLE_COLUMN",
    "DPI",
    "SINGLE_COLUMN",
    "choropleth",
    "class_ranges",
    "impacts_across_w",
    "impacts_plot",
    "lisa_map",
    "moran_scatter",
    "save_figure",
    "trends_by_region",
    "variable_label",
]

#: Resolution of the PNG files.
DPI = 200

#: Print widths in inches: one column (8.5 cm) and the full text width (17.5 cm) of a two-column
#: journal page. Figures are drawn at the width they are printed at, so the font sizes of
#: :func:`_style` are the printed sizes (7-9 pt; nothing below 6 pt).
SINGLE_COLUMN = 8.5 / 2.54
DOUBLE_COLUMN = 17.5 / 2.54

Box = tuple[float, float, float, float]  # longitude/latitude (west, south, east, north)

#: The Okabe-Ito colours (Okabe, M. & Ito, K. 2008, "Color Universal Design (CUD): how to make
#: figures and presentations that are friendly to colorblind people", https://jfly.uni-koeln.de/color/),
#: chosen to stay distinct under protan, deutan and tritan colour vision: orange, sky blue, bluish
#: green, yellow, blue, vermillion, reddish purple, black.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")

#: Colours of the groups in a trend figure, in drawing order (Okabe-Ito, yellow last: it is faint on
#: white; black is kept for the mean over all units).
GROUP_COLORS = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442")

#: Colours of the direct, indirect and total effects (Okabe-Ito blue, vermillion, black).
IMPACT_COLORS = {"direct": "#0072B2", "indirect": "#D55E00", "total": "#000000"}

#: Sequential colour map of the choropleths: ColorBrewer YlGnBu (Harrower, M. & Brewer, C. A. 2003,
#: "ColorBrewer.org: an online tool for selecting colour schemes for maps", The Cartographic Journal
#: 40(1), 27-37), one hue ramp light to dark that colour-blind readers order correctly.
MAP_CMAP = "YlGnBu"

#: LISA cluster colours: the five classes of ColorBrewer RdYlBu (colour-blind safe in Harrower &
#: Brewer 2003), in GeoDa's convention of red for High-High and blue for Low-Low.
CLUSTER_COLORS = {"HH": "#d7191c", "LL": "#2c7bb6", "LH": "#abd9e9", "HL": "#fdae61", "ns": "#eeeeee"}
_CLUSTER_ORDER = ("HH", "LL", "LH", "HL", "ns")

#: Marker shapes of the groups in a trend figure: each group differs in shape as well as colour.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_QUADRANT_NAMES = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}

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
        "across_w_title": "Effects of {v} under each weights matrix ({level:.0%} confidence intervals)",
        "trends_title": "Mean by region",
        "trends_y": "Mean",
        "curve_title": "Specification curve: {effect} effect of {v} ({n} specifications, {level:.0%} intervals)",
        "curve_y": "{effect} effect",
        "curve_x": "Specifications, sorted by the estimate",
        "curve_weights": "W", "curve_sample": "Sample", "curve_fe": "Effects", "curve_method": "Method",
        "p_below": "p < {alpha:.2f}", "p_above": "p \u2265 {alpha:.2f}",
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
        "across_w_title": "{v}在不同空间权重矩阵下的效应（{level:.0%}置信区间）",
        "trends_title": "分区域均值",
        "trends_y": "均值",
        "curve_title": "设定曲线：{v}的{effect}（{n}个设定，{level:.0%}置信区间）",
        "curve_y": "{effect}",
        "curve_x": "按估计值排序的设定",
        "curve_weights": "空间权重矩阵", "curve_sample": "样本", "curve_fe": "固定效应", "curve_method": "估计方法",
        "p_below": "p < {alpha:.2f}", "p_above": "p \u2265 {alpha:.2f}",
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


def variable_label(name: str, labels: Mapping[str, str] | None = None, language: str = "en") -> str:
    """Display label of a variable, exactly as the tables print it.

    The study's ``labels`` first; ``W*x`` as ``"W × <label of x>"``; a
    qualified row such as ``"dei (short run)"`` as ``"<label of dei>, short
    run"``; else the name itself. The tables' labeller is the one source, so
    a figure and a table never name the same variable differently.

    Parameters
    ----------
    name : str
        Variable (or impacts row) name.
    labels : mapping, optional
        The study's display labels.
    language : {"en", "zh"}
        Qualifiers the labeller adds (", short run") in this language.

    Returns
    -------
    str
    """
    from spillover.report.i18n import Translator
    from spillover.report.layout import _Labeller

    label = _Labeller(labels)(str(name))
    return Translator(language)(label) if language != "en" else label


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
    rc = {
        "font.family": fonts.font_families(),
        "font.size": 8,
        "axes.titlesize": 8.5,
        "axes.labelsize": 8,
        "xtick.labelsize": 7.5,
        "ytick.labelsize": 7.5,
        "legend.fontsize": 7.5,
        "legend.title_fontsize": 8,
        "figure.titlesize": 9,
        "legend.frameon": False,
        "lines.linewidth": 1.0,
        "axes.linewidth": 0.6,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.unicode_minus": True,
        "svg.hashsalt": "spillover",
        "image.cmap": MAP_CMAP,
        "axes.prop_cycle": matplotlib.cycler(color=list(GROUP_COLORS)),
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


def _wrap(text: str, width: int) -> str:
    """``text`` broken at spaces into lines of at most ``width`` characters (CJK text, without spaces, stays whole)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) if " " in text and len(text) > width else text


def _wrap_label(text: str, width: int) -> str:
    """A row label wrapped like :func:`_wrap`, but a qualifier after the last comma ("..., short run") keeps a line."""
    head, sep, tail = text.rpartition(", ")
    if len(text) <= width or not sep or len(tail) > width:
        return _wrap(text, width)
    return f"{_wrap(head + ',', width)}\n{tail}"


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
    cmap: str = MAP_CMAP,
    scheme: str = "quantiles",
    k: int = 5,
    labels: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    language: str = "en",
    title: str | None = None,
    projection: str | None = None,
    extent: Box | None = None,
    inset: Box | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Choropleth maps of one or more variables in one or more years.

    One row of maps per variable and one column per year; the maps of a row
    share one colour scale (the range over the years shown), so the years
    can be compared. Quantile classes are explained by a legend of class
    ranges ("0.026 – 0.048"), a continuous scale by a colour bar; either is
    titled by the variable's label and unit. Units without a value are
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
    cmap : str, default :data:`MAP_CMAP`
        Matplotlib colormap (keep it sequential and colour-blind safe).
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
    units : mapping, optional
        Unit of each variable (e.g. ``{"gov": "share of GDP"}``), shown in the
        legend title; variables without one show their label alone.
    language : {"en", "zh"}
        Language of the built-in labels.
    title : str, optional
        Figure title; default none (each row is labelled by its legend).
    projection : str or None
        CRS the maps are drawn in (PROJ string, EPSG code); None: the
        geometry's own CRS when projected, else longitude/latitude.
    extent : (west, south, east, north), optional
        Longitude/latitude box of the main map; default the data's bounds.
    inset : (west, south, east, north), optional
        Longitude/latitude box drawn in an inset (e.g. islands that the
        extent leaves out); default none.
    figsize : (float, float), optional
        Figure size in inches; default the full text width
        (:data:`DOUBLE_COLUMN`) with a height from the map's aspect.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(variables) * len(years)`` map axes; the last map of each row
        holds the row's legend (quantiles), or a colour-bar axes per
        variable follows the maps (continuous).
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
        fig = _new_figure(figsize or _map_size(main, nrow, ncol, title is not None))
        axes = np.atleast_2d(np.array(fig.subplots(nrow, ncol, squeeze=False)))
        for r, var in enumerate(variables):
            sub = panel[panel[time].isin(yrs)]
            norm, edges = _color_scale(sub[var].to_numpy(dtype=float), scheme, int(k), cm)
            any_missing = False
            for c, year in enumerate(yrs):
                ax = axes[r, c]
                values = sub[sub[time] == year].set_index(entity)[var]
                vals = _join(gdf, values, id_col)
                missing = ~np.isfinite(vals)
                any_missing |= bool(missing.any())
                colors = [_MISSING_COLOR if m else cm(norm(v)) for v, m in zip(vals, missing, strict=True)]
                _map_axes(ax, paths, colors, main, box, missing)
                sep = ("，", "年") if language == "zh" else (", ", "")
                ax.set_title(f"{year}{sep[1]}" if nrow == 1 else
                             f"{variable_label(var, labels)}{sep[0]}{year}{sep[1]}")
            below = ncol == 1
            head = _legend_title(var, labels, units, 44 if below else 22)
            if edges is not None:
                _class_legend(axes[r, -1], edges, norm, cm, head, any_missing, below, language, labels)
            else:
                cb = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cm), ax=list(axes[r, :]),
                                  shrink=0.8, aspect=18 if not below else 30, pad=0.02,
                                  location="bottom" if below else "right")
                cb.set_label(head)
                cb.outline.set_linewidth(0.5)
        if title:
            fig.suptitle(title)
    return fig


def _map_size(main: np.ndarray, nrow: int, ncol: int, titled: bool, below: float = 0.6,
              right: float = 1.5) -> tuple[float, float]:
    """Figure size of ``nrow x ncol`` maps; the height follows the aspect of the extent ``main``.

    One map per row: one column wide (:data:`SINGLE_COLUMN`), with ``below``
    inches for a legend under each row. Several: the text width
    (:data:`DOUBLE_COLUMN`), of which ``right`` inches hold the legends.
    """
    aspect = float((main[3] - main[1]) / (main[2] - main[0]))
    head = 0.3 if titled else 0.0
    if ncol == 1:
        return SINGLE_COLUMN, nrow * (SINGLE_COLUMN * aspect + 0.3 + below) + head
    map_w = (DOUBLE_COLUMN - right) / ncol
    return DOUBLE_COLUMN, nrow * (map_w * aspect + 0.3) + head


def _color_scale(values: np.ndarray, scheme: str, k: int, cm) -> tuple[Any, np.ndarray | None]:
    """(norm, class edges or None) of a row of maps: quantile classes, or a linear scale.

    Quantile edges are the ``k + 1`` quantiles of the finite values pooled
    over the years shown (repeated edges merged); fewer than two classes
    fall back to the linear scale.
    """
    finite = values[np.isfinite(values)]
    if scheme == "quantiles" and finite.size:
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, k + 1)))
        if edges.size >= 3:
            return BoundaryNorm(edges, cm.N, clip=True), edges
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    return Normalize(vmin, vmax), None


def _edge_text(edges: np.ndarray) -> list[str]:
    """The class edges as text with the fewest decimals that keep them distinct.

    At least 2 decimals below 10, 1 below 100, none from 100 on (with
    thousands separators: "12,400"); at most 6. Magnitudes below 0.001 use
    three significant digits.
    """
    scale = float(np.nanmax(np.abs(edges))) if edges.size else 0.0
    if 0 < scale < 1e-3:
        return [f"{e:.3g}" for e in edges]
    text: list[str] = []
    for digits in range(2 if scale < 10 else 1 if scale < 100 else 0, 7):
        text = [f"{e:,.{digits}f}" for e in edges]
        if len(set(text)) == len(text):
            break
    return text


def class_ranges(edges: Sequence[float]) -> list[str]:
    """Legend text of quantile classes: ``"lo – hi"`` for each pair of consecutive edges.

    Parameters
    ----------
    edges : sequence of float
        Increasing class boundaries, ``k + 1`` of them.

    Returns
    -------
    list of str
        ``k`` ranges, lowest class first, e.g. ``["0.026 – 0.048", ...]``.
    """
    text = _edge_text(np.asarray(edges, dtype=float))
    return [f"{lo} \u2013 {hi}" for lo, hi in zip(text[:-1], text[1:], strict=True)]


def _legend_title(var: str, labels: Mapping[str, str] | None, units: Mapping[str, str] | None,
                  width: int = 22) -> str:
    """The variable's label with its unit in parentheses when one is known, wrapped at ``width`` characters."""
    head = variable_label(var, labels)
    unit = (units or {}).get(var)
    if unit:
        head = f"{head} ({unit})"
    return _wrap(head, width)


def _class_legend(ax, edges: np.ndarray, norm, cm, title: str, missing: bool, below: bool, language: str,
                  labels: Mapping[str, str] | None) -> None:
    """A legend of class ranges, lowest class first, plus "No data" when a unit is hatched.

    Right of ``ax`` in one column, or, with ``below``, under it in two
    columns (a single-column figure has no room at the side).
    """
    mids = (edges[:-1] + edges[1:]) / 2
    handles = [Patch(facecolor=cm(norm(m)), edgecolor="#999999", linewidth=0.4, label=text)
               for m, text in zip(mids, class_ranges(edges), strict=True)]
    if missing:
        handles.append(Patch(facecolor=_MISSING_COLOR, edgecolor="#9a9a9a", hatch="////", linewidth=0.4,
                             label=_text("missing", language, labels)))
    where = ({"loc": "upper center", "bbox_to_anchor": (0.5, -0.02), "ncols": 2} if below else
             {"loc": "center left", "bbox_to_anchor": (1.02, 0.5)})
    leg = ax.legend(handles=handles, title=title, handlelength=1.4, handleheight=1.0, borderaxespad=0.0,
                    alignment="left", **where)
    leg.set_gid("class_legend")


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
        Shown as the legend's title when given.
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
        fig = _new_figure(figsize or _lisa_size(main, nrow, ncol, len(yrs)))
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
        note = None
        if permutations is not None and alpha is not None:
            note = _text("lisa_note", language, labels, alpha=alpha, perm=permutations)
        leg = fig.legend(handles=handles, loc="outside lower center", ncols=2 if len(yrs) == 1 else len(handles),
                         handlelength=1.2, title=note, title_fontsize=7)
        if note:
            leg.get_title().set_color("#555555")
        head = title
        if head is None and variable is not None:
            head = _text("lisa_title", language, labels, v=variable_label(variable, labels))
            if len(yrs) == 1:
                head = f"{head}, {yrs[0]}" if language == "en" else f"{head}，{yrs[0]}年"
        if head:
            fig.suptitle(_wrap(head, 44) if len(yrs) == 1 else head)
    return fig


def _lisa_size(main: np.ndarray, nrow: int, ncol: int, n_years: int) -> tuple[float, float]:
    """One map: one column wide; several: the text width. The legend and the note go below the maps."""
    if n_years == 1:
        return _map_size(main, 1, 1, True, below=0.55)
    width = DOUBLE_COLUMN
    aspect = float((main[3] - main[1]) / (main[2] - main[0]))
    return width, nrow * (width / ncol * aspect + 0.25) + 0.9


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
    vlabel = variable_label(variable, labels)
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
        side = SINGLE_COLUMN if ncol == 1 else DOUBLE_COLUMN / ncol
        fig = _new_figure(figsize or (side * ncol, (side + 0.3) * nrow))
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
            ax.set_xlabel(_wrap(_text("std", language, labels, v=vlabel), 44))
            ax.set_ylabel(_wrap(_text("lag", language, labels, v=vlabel), 44))
            row = stats.loc[y]
            if permutations and permutations > 0:
                note = _text("moran_note", language, labels, i=row["I"], p=row["p_sim"], perm=int(permutations))
            else:
                note = _text("moran_note_noperm", language, labels, i=row["I"], z=row["z"], p=row["p_norm"])
            ax.text(0.03, 0.97, note, transform=ax.transAxes, va="top", ha="left", fontsize=7,
                    bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#cccccc",
                          "linewidth": 0.5})
            if names is not None:
                for k, (xi, yi) in enumerate(zip(z, lag, strict=True)):
                    ax.annotate(str(names.get(ids[k], ids[k])), (xi, yi), xytext=(2, 2),
                                textcoords="offset points", fontsize=6, color="#333333")
            ax.set_title(_wrap(title if (title and len(yrs) == 1) else
                               _text("moran_title", language, labels, v=vlabel, year=y), 40))
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
    names = [variable_label(v, labels, language) for v in table.index]
    with _style(language):
        fig = _new_figure(figsize or (DOUBLE_COLUMN, 0.3 * len(table) + 1.25))
        _dot_whisker(fig, table, names, parts, _normal_quantile(level), labels, language)
        fig.suptitle(_wrap(title if title is not None else _text("impacts_title", language, labels, level=level), 90))
    return fig


def _dot_whisker(fig: Figure, table: pd.DataFrame, names: Sequence[str], parts: Sequence[str], zq: float,
                 labels: Mapping[str, str] | None, language: str) -> None:
    """One axes per effect in ``parts``: a dot at each row's estimate and a bar of +/- ``zq`` standard errors.

    Rows run top to bottom in the order of ``table``, named by ``names``.
    The dot is filled when the interval excludes zero and open otherwise, so
    significance does not rest on colour; each effect has its colour of
    :data:`IMPACT_COLORS`.
    """
    ypos = np.arange(len(table))[::-1].astype(float)
    axes = np.array(fig.subplots(1, len(parts), sharey=True, squeeze=False)).ravel()
    for k, (ax, part) in enumerate(zip(axes, parts, strict=True)):
        est = table[part].to_numpy(dtype=float)
        half = zq * table[f"{part}_se"].to_numpy(dtype=float)
        sig = np.isfinite(half) & (np.abs(est) > half)
        color = IMPACT_COLORS.get(part, OKABE_ITO[k % len(OKABE_ITO)])
        ax.axvline(0, color="#999999", linewidth=0.6, linestyle="--", zorder=1)
        ax.errorbar(est, ypos, xerr=np.where(np.isfinite(half), half, 0.0), fmt="none", ecolor=color,
                    elinewidth=1.0, capsize=2.0, zorder=2)
        ax.scatter(est, ypos, s=20, zorder=3, edgecolors=color, linewidths=1.0,
                   facecolors=[color if s_ else "white" for s_ in sig])
        ax.set_title(_text(part, language, labels))
        ax.set_xlabel(_text("impacts_x", language, labels))
        ax.grid(axis="x", color="#eeeeee", linewidth=0.5)
        ax.set_axisbelow(True)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        if k == 0:
            ax.set_yticks(ypos, [_wrap_label(n, 30) for n in names])
        else:
            ax.tick_params(axis="y", left=False)
    axes[0].set_ylim(-0.6, len(table) - 0.4)


def impacts_across_w(
    frame: pd.DataFrame,
    *,
    variable: str,
    level: float = 0.95,
    parts: Sequence[str] = ("direct", "indirect", "total"),
    labels: Mapping[str, str] | None = None,
    language: str = "en",
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Direct, indirect and total effects of one variable under each weights matrix.

    The same dot-and-whisker panels as :func:`impacts_plot`, with one row
    per estimate that differs from the others only by its W, so a reader
    sees at once whether the spillover survives the choice of W.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per W, indexed by the label to print (the W's label, as the
        tables print it), with columns ``direct, indirect, total`` and
        ``direct_se, indirect_se, total_se`` (rows of the estimates'
        ``ImpactsResult.table`` for ``variable``).
    variable : str
        The variable whose effects are shown (named in the title through
        ``labels``).
    level : float, default 0.95
        Confidence level of the intervals.
    parts : sequence of str
        Effects to show, one panel each.
    labels, language, title, figsize
        As in :func:`choropleth`; ``title`` default names the variable and the
        confidence level.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per effect, sharing the W axis; the first lists the W labels.
    """
    language = _check_language(language)
    parts = list(parts)
    _require_columns(frame, [*parts, *[f"{p}_se" for p in parts]], "impacts_across_w frame")
    if len(frame) < 1 or frame[parts].isna().all(axis=None):
        raise SpecificationError("impacts_across_w: the frame has no rows with a value")
    head = title if title is not None else _text("across_w_title", language, labels,
                                                 v=variable_label(variable, labels), level=level)
    with _style(language):
        fig = _new_figure(figsize or (DOUBLE_COLUMN, 0.3 * len(frame) + 1.35))
        _dot_whisker(fig, frame, [str(i) for i in frame.index], parts, _normal_quantile(level), labels, language)
        fig.suptitle(_wrap(head, 90))
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
    units: Mapping[str, str] | None = None,
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
    labels, units, language, title, figsize
        As in :func:`choropleth`; a variable's unit goes on its y axis.

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
    nrow, ncol = _grid(len(variables), 2)
    with _style(language):
        fig = _new_figure(figsize or (DOUBLE_COLUMN if ncol > 1 else SINGLE_COLUMN, 2.4 * nrow + 0.8))
        axes = np.array(fig.subplots(nrow, ncol, squeeze=False, sharex=True)).ravel()
        handles: list = []
        for ax, var in zip(axes, variables, strict=False):
            handles = []
            for k, reg in enumerate(regions):
                if reg not in means.index.get_level_values(0):
                    continue
                s = means.loc[reg, var]
                (line,) = ax.plot(s.index.to_numpy(), s.to_numpy(), marker=_MARKERS[k % len(_MARKERS)],
                                  markersize=3.0, linewidth=1.1, color=GROUP_COLORS[k % len(GROUP_COLORS)],
                                  linestyle="-" if k < len(GROUP_COLORS) else ":",
                                  label=variable_label(reg, labels))
                handles.append(line)
            if national:
                (line,) = ax.plot(overall.index.to_numpy(), overall[var].to_numpy(), color="#000000",
                                  linestyle="--", linewidth=1.1, label=_text("national", language, labels))
                handles.append(line)
            ax.set_title(_wrap(variable_label(var, labels), 40))
            ax.set_xlabel(_text("year", language, labels))
            unit = (units or {}).get(var)
            ax.set_ylabel(_text("trends_y", language, labels) + (f" ({unit})" if unit else ""))
            ax.grid(color="#eeeeee", linewidth=0.5)
            ax.set_axisbelow(True)
            years = sorted(pd.unique(panel[time]))
            step = 1 if len(years) <= 6 else 2 if len(years) <= 12 else int(np.ceil(len(years) / 6))
            ax.set_xticks(years[::step])
            ax.tick_params(axis="x", labelbottom=True)
        for ax in axes[len(variables):]:
            ax.set_visible(False)
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5 if ncol > 1 else 3),
                   handlelength=2.2)
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
    the same figure gives the same bytes on every run. The layout (constrained
    layout, when the figure has it) is computed once, by the first format, and
    kept by the others; the figure's layout engine is restored afterwards.
    Every PDF is vector (maps included) and embeds its fonts; see
    :func:`_pdf_fonttype` for which kind.
    """
    from spillover.io import atomic_write

    stem = Path(stem)
    written = []
    engine = fig.get_layout_engine()
    try:
        for fmt in formats:
            path = stem.parent / f"{stem.name}.{fmt}"
            metadata = {"CreationDate": None} if fmt == "pdf" else {"Date": None} if fmt == "svg" else None
            fonttype = _pdf_fonttype(fig)
            with matplotlib.rc_context({"svg.hashsalt": "spillover", "pdf.fonttype": fonttype,
                                        "ps.fonttype": fonttype, "pdf.compression": 6}):
                atomic_write(path, lambda p, fmt=fmt, metadata=metadata: fig.savefig(
                    p, format=fmt, dpi=dpi, metadata=metadata, facecolor="white"))
            written.append(path)
            fig.set_layout_engine("none")  # laid out by the first save: the other formats keep its positions
    finally:
        fig.set_layout_engine(engine)  # the caller's figure as it was
    return written


def _pdf_fonttype(fig: Figure) -> int:
    """How the PDF embeds fonts: 42 (TrueType subsets) unless that would embed CFF outlines; then 3.

    Type 42 keeps text as text (searchable, editable) and is what journals'
    PDF checks ask for; Type 3 fonts (glyphs as drawing procedures) are often
    refused. Matplotlib embeds a Type 42 font as TrueType (``FontFile2``),
    which is only valid for TrueType outlines: a CJK font with CFF outlines
    (Noto Sans CJK, :mod:`spillover.report.fonts`' first choice) would give a
    PDF that some readers cannot display. A figure whose text needs such a
    font is therefore written with Type 3 fonts, still embedded and vector.
    """
    if not fonts.has_cjk_font():
        return 42
    texts = [t.get_text() for t in fig.findobj(Text)]
    if not any(ord(ch) >= 0x2E80 for text in texts for ch in text):  # CJK blocks and full-width forms
        return 42
    path = font_manager.findfont(font_manager.FontProperties(family=fonts.cjk_font_family()))
    return 3 if _has_cff_outlines(path) else 42


def _has_cff_outlines(path: str | Path) -> bool:
    """True when the font file (or the first font of a collection) is OpenType with CFF outlines (tag ``OTTO``)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
        if head[:4] == b"ttcf":
            fh.seek(int.from_bytes(head[12:16], "big"))
            head = fh.read(4)
    return head[:4] == b"OTTO"
