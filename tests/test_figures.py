"""Tests of spillover.report.figures on the real provincial panel."""

from __future__ import annotations

import copy
import io
import re
import types
import warnings
import zlib

import matplotlib
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text

import spillover as sp
from spillover.errors import SpecificationError
from spillover.report import figures as F
from spillover.study import figures as SF
from spillover.report import fonts
from spillover.study.spec import EstimateSpec, FigureSpec


#: The bundled study's labels and map settings (models/00_study.toml), as a study passes them.
LAB = {"dei": "Digital economy index", "cpi": "Common prosperity index", "urban": "Urbanisation",
       "gov": "Government expenditure / GDP", "east": "East", "central": "Central", "west": "West",
       "northeast": "Northeast", "national": "All provinces"}
LAB_ZH = {"dei": "数字经济指数", "cpi": "共同富裕指数"}
CHINA = {"projection": "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +datum=WGS84 +units=m +no_defs",
         "extent": (70.0, 17.0, 140.0, 56.0), "inset": (106.0, 2.5, 124.0, 24.5)}


@pytest.fixture(scope="module")
def panel():
    from spillover.data import default_panel

    return default_panel()


@pytest.fixture(scope="module")
def geo():
    from spillover.data import default_geometry

    return default_geometry()


@pytest.fixture(scope="module")
def w(geo):
    from spillover.weights import contiguity

    return contiguity(geo, id_col="adcode")


@pytest.fixture(scope="module")
def impacts():
    return pd.DataFrame(
        {
            "direct": [0.30, -0.10, 0.05],
            "indirect": [0.50, 0.02, -0.20],
            "total": [0.80, -0.08, -0.15],
            "direct_se": [0.05, 0.08, 0.02],
            "indirect_se": [0.20, 0.10, 0.05],
            "total_se": [0.22, 0.12, 0.06],
        },
        index=pd.Index(["dei", "urban", "gov"], name="variable"),
    )


def _run(panel, w, impacts, tmp_path, figure=(), language="en", geo=None):
    from spillover.data import default_geometry

    study = types.SimpleNamespace(
        figure=list(figure),
        data=types.SimpleNamespace(entity="province", time="year", group="region"),
        study=types.SimpleNamespace(language=language, seed=20261124),
        moran=[types.SimpleNamespace(variables=["dei", "cpi"], weights=["adjacency"], permutations=99, seed=7)],
        labels={"en": LAB, "zh": LAB_ZH}, geometry=types.SimpleNamespace(id="adcode", **CHINA),
        estimate=[], estimate_by_name=dict,
    )
    return types.SimpleNamespace(
        panel=panel, weights={"adjacency": w}, estimates={}, impacts={"sar": types.SimpleNamespace(table=impacts)},
        study=study, out=tmp_path, files=[], geometry=default_geometry() if geo is None else geo, figure_inputs={},
    )


def _map_collections(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


# ---------------------------------------------------------------- standalone functions
def _range_numbers(text: str) -> tuple[tuple[float, float], int]:
    """("0.03 – 0.05") -> ((0.03, 0.05), decimals shown)."""
    lo, hi = (t.replace(",", "") for t in text.split(" \u2013 "))
    return (float(lo), float(hi)), len(lo.partition(".")[2])


def test_choropleth_grid_and_class_legends(panel, geo):
    fig = F.choropleth(geo, panel, ["dei", "cpi"], [2013, 2022], entity="province", id_col="adcode", labels=LAB,
                       units={"cpi": "index, 0-1"}, **CHINA)
    assert isinstance(fig, Figure) and isinstance(fig.canvas, FigureCanvasAgg)
    assert len(fig.axes) == 4  # 2x2 maps; the legends sit on the last map of each row
    assert fig.get_figwidth() == pytest.approx(F.DOUBLE_COLUMN)
    maps = fig.axes
    assert [ax.get_title() for ax in maps] == [
        "Digital economy index, 2013", "Digital economy index, 2022",
        "Common prosperity index, 2013", "Common prosperity index, 2022",
    ]
    for ax in maps:
        (coll,) = _map_collections(ax)
        assert len(coll.get_paths()) == 31
        assert len(ax.child_axes) == 1  # South China Sea inset
    assert maps[0].get_legend() is None and maps[2].get_legend() is None
    pooled = panel[panel["year"].isin([2013, 2022])]
    for ax, var, head in ((maps[1], "dei", "Digital economy index"),
                          (maps[3], "cpi", "Common prosperity index (index, 0-1)")):
        leg = ax.get_legend()
        assert leg.get_title().get_text().replace("\n", " ") == head
        # 5 quantile classes whose printed ranges are the quantiles of the pooled values, rounded as shown
        edges = np.quantile(pooled[var].to_numpy(dtype=float), np.linspace(0, 1, 6))
        texts = [t.get_text() for t in leg.get_texts()]
        assert len(texts) == 5
        for k, text in enumerate(texts):
            (lo, hi), digits = _range_numbers(text)
            assert lo == pytest.approx(edges[k], abs=0.5 * 10.0 ** -digits + 1e-12)
            assert hi == pytest.approx(edges[k + 1], abs=0.5 * 10.0 ** -digits + 1e-12)
        assert len(set(texts)) == 5
    # each province is filled with the legend colour of its class (classes from numpy, not the figure)
    edges = np.quantile(pooled["dei"].to_numpy(dtype=float), np.linspace(0, 1, 6))
    swatches = [patch.get_facecolor() for patch in maps[1].get_legend().get_patches()]
    y2022 = panel[panel["year"] == 2022].set_index("province")["dei"]
    values = geo["adcode"].astype(str).map(y2022).to_numpy(dtype=float)
    classes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, 4)
    (coll,) = _map_collections(maps[1])
    np.testing.assert_allclose(coll.get_facecolors(), [swatches[c] for c in classes])
    # light to dark: the classes are ordered by lightness, as a sequential scale must be
    lightness = [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b, _ in swatches]
    assert lightness == sorted(lightness, reverse=True)


def test_class_ranges_text():
    assert F.class_ranges([0.0261, 0.0483, 0.1]) == ["0.03 \u2013 0.05", "0.05 \u2013 0.10"]
    assert F.class_ranges([0.101, 0.104, 0.2]) == ["0.101 \u2013 0.104", "0.104 \u2013 0.200"]  # kept distinct
    assert F.class_ranges([12000.4, 35000, 150000]) == ["12,000 \u2013 35,000", "35,000 \u2013 150,000"]


def test_choropleth_continuous_missing_and_errors(panel, geo):
    sub = panel[panel["province"] != "540000"]  # Tibet missing: hatched
    fig = F.choropleth(geo, sub, "cpi", 2022, entity="province", id_col="adcode", scheme="continuous")
    assert len(fig.axes) == 2  # the map and its colour bar
    assert fig.get_figwidth() == pytest.approx(F.SINGLE_COLUMN)
    colls = _map_collections(fig.axes[0])
    assert len(colls) == 2 and len(colls[1].get_paths()) == 1 and colls[1].get_hatch() == "////"
    assert fig.axes[0].child_axes == []
    quant = F.choropleth(geo, sub, "cpi", 2022, entity="province", id_col="adcode", labels=LAB)
    texts = [t.get_text() for t in quant.axes[0].get_legend().get_texts()]
    assert len(texts) == 6 and texts[-1] == "No data"  # five classes and the hatched unit
    with pytest.raises(SpecificationError, match="not in the data"):
        F.choropleth(geo, panel, "cpi", 1999, entity="province", id_col="adcode")
    with pytest.raises(SpecificationError, match="missing columns"):
        F.choropleth(geo, panel, "nope", entity="province", id_col="adcode")


def test_moran_scatter(panel, w):
    fig = F.moran_scatter(panel, "cpi", w, 2022, entity="province", permutations=99, seed=3)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    (pts,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    z, lag = pts.get_offsets().T
    assert len(z) == 31
    assert z.mean() == pytest.approx(0, abs=1e-12) and z.std() == pytest.approx(1)
    # the line's slope is Moran's I (row-standardised W), as in moran_by_year
    stats = sp.moran_by_year(panel[panel["year"] == 2022], "cpi", w, "province", "year", permutations=99, seed=3)
    (line,) = [ln for ln in ax.lines if ln.get_gid() == "moran_slope"]
    x, y = line.get_data()
    assert (y[1] - y[0]) / (x[1] - x[0]) == pytest.approx(stats["I"].iloc[0])
    assert f"{stats['I'].iloc[0]:.3f}" in ax.texts[0].get_text()
    assert f"{stats['p_sim'].iloc[0]:.3f}" in ax.texts[0].get_text()
    # a computed Moran table is used as given (figures take computed frames), not recomputed
    given = stats.assign(p_sim=0.4321)
    fig3 = F.moran_scatter(panel, "cpi", w, 2022, entity="province", permutations=99, seed=3, stats=given)
    assert "0.432" in fig3.axes[0].texts[0].get_text()
    fig2 = F.moran_scatter(panel, "cpi", w, [2013, 2022], entity="province", permutations=0, annotate=True)
    assert len([a for a in fig2.axes if a.get_visible()]) == 2
    assert "Beijing" in [t.get_text() for t in fig2.axes[0].texts]


def test_lisa_map(panel, geo, w):
    lisa = sp.lisa_by_year(panel, "cpi", w, "province", "year", permutations=99, seed=0)
    fig = F.lisa_map(geo, lisa, 2022, id_col="adcode", variable="cpi", permutations=99)
    assert len(fig.axes) == 1
    (coll,) = _map_collections(fig.axes[0])
    assert len(coll.get_paths()) == 31
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(texts) == 5 and texts[0].startswith("High-High")
    counts = [int(t.rsplit("(", 1)[1].rstrip(")")) for t in texts]
    assert sum(counts) == 31
    expected = lisa[lisa["year"] == 2022]["cluster"].value_counts()
    assert counts[0] == expected.get("HH", 0) and counts[-1] == expected.get("ns", 0)
    fig3 = F.lisa_map(geo, lisa, [2013, 2018, 2022], id_col="adcode")
    assert len(fig3.axes) == 3


def test_impacts_plot(impacts):
    fig = F.impacts_plot(types.SimpleNamespace(table=impacts), labels=LAB)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["Direct", "Indirect (spillover)", "Total"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        "Digital economy index", "Urbanisation", "Government expenditure / GDP"]
    for ax, part in zip(fig.axes, ("direct", "indirect", "total"), strict=True):
        (bars,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        half = [abs(seg[1][0] - seg[0][0]) / 2 for seg in bars.get_segments()]
        np.testing.assert_allclose(half, 1.959963984540054 * impacts[f"{part}_se"].to_numpy())
    # filled = interval excludes zero; open = not significant
    (dots,) = [c for c in fig.axes[1].collections if isinstance(c, PathCollection)]
    filled = [tuple(fc) != (1.0, 1.0, 1.0, 1.0) for fc in dots.get_facecolors()]
    assert filled == [True, False, True]
    with pytest.raises(SpecificationError, match="missing columns"):
        F.impacts_plot(impacts.drop(columns="total_se"))


def test_trends_by_region(panel):
    fig = F.trends_by_region(panel, ["dei", "cpi"], region_col="region", labels=LAB)
    assert len(fig.axes) == 2
    for ax, var in zip(fig.axes, ("dei", "cpi"), strict=True):
        assert len(ax.lines) == 5  # four regions and the national mean
        east = ax.lines[0]
        expect = panel[panel["region"] == "east"].groupby("year")[var].mean()
        np.testing.assert_allclose(east.get_ydata(), expect.to_numpy())
        np.testing.assert_allclose(ax.lines[-1].get_ydata(), panel.groupby("year")[var].mean().to_numpy())
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "East", "Central", "West", "Northeast", "All provinces"]


# ---------------------------------------------------------------- fonts
def _glyph_warnings(fig) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png", dpi=50)
        fig.savefig(io.BytesIO(), format="pdf")
    return [str(c.message) for c in caught if "missing from" in str(c.message).lower()]


@pytest.mark.skipif(not fonts.has_cjk_font(), reason="no CJK font installed (pip install mplfonts)")
def test_chinese_labels_render_without_missing_glyphs(panel, impacts):
    fig = F.trends_by_region(panel, ["dei", "cpi"], region_col="region", language="zh", labels=LAB_ZH,
                             title="数字经济与共同富裕：分区域均值")
    assert fig.axes[0].get_title() == "数字经济指数"
    assert _glyph_warnings(fig) == []
    fig2 = F.impacts_plot(impacts, language="zh", labels=LAB_ZH)
    assert fig2.axes[0].get_yticklabels()[0].get_text() == "数字经济指数"
    assert _glyph_warnings(fig2) == []
    assert fonts.cjk_font_family() in matplotlib.font_manager.FontProperties(
        family=fig2.axes[0].title.get_fontfamily()).get_family()


def test_missing_cjk_font_warns_and_still_draws(monkeypatch, impacts):
    monkeypatch.setattr(fonts, "_discover", lambda: None)
    monkeypatch.setattr(fonts, "_warned", False)
    with pytest.warns(fonts.CJKFontWarning, match="mplfonts"):
        fig = F.impacts_plot(impacts, language="zh")
    assert len(fig.axes) == 3
    assert fonts.font_families() == [fonts.LATIN_CUT_FAMILY, fonts.LATIN_FAMILY]


def _text_figure(families: list[str], text: str) -> Figure:
    fig = Figure(figsize=(4, 1))
    FigureCanvasAgg(fig)
    fig.text(0.02, 0.4, text, family=families, size=11)
    return fig


CUT_TEXT = "Direct effect ρ = −0.12 (p < 0.05); Wx, “Zürich”, 2013–2022 ± 1.96×SE ≤ ∞ fi AV To"


def test_latin_cut_draws_what_the_whole_font_draws():
    """The cut is a faster source of the same glyphs: pixels identical, with and without characters outside it."""
    assert fonts.latin_cut_family() == fonts.LATIN_CUT_FAMILY
    assert fonts.font_families()[:2] == [fonts.LATIN_CUT_FAMILY, fonts.LATIN_FAMILY]
    for text in (CUT_TEXT, CUT_TEXT + " Жж ǅ ⅓"):  # Cyrillic, Latin Extended-B, number forms: outside the cut
        pixels = []
        for families in ([fonts.LATIN_CUT_FAMILY, fonts.LATIN_FAMILY], [fonts.LATIN_FAMILY]):
            fig = _text_figure(families, text)
            fig.canvas.draw()
            pixels.append(np.asarray(fig.canvas.buffer_rgba()).copy())
        assert pixels[0].shape == pixels[1].shape and np.array_equal(pixels[0], pixels[1]), text
        assert pixels[0].min() < 128  # something was drawn


def test_latin_cut_is_smaller_and_keeps_the_postscript_name():
    from fontTools.ttLib import TTFont

    cut = matplotlib.font_manager.findfont(matplotlib.font_manager.FontProperties(family=fonts.LATIN_CUT_FAMILY),
                                           fallback_to_default=False)
    whole = matplotlib.font_manager.findfont(matplotlib.font_manager.FontProperties(family=fonts.LATIN_FAMILY))
    a, b = TTFont(cut), TTFont(whole)
    assert a["name"].getDebugName(6) == b["name"].getDebugName(6) == "DejaVuSans"  # what PDFs name
    assert a["name"].getDebugName(1) == fonts.LATIN_CUT_FAMILY
    assert len(a.getGlyphOrder()) < len(b.getGlyphOrder()) / 4
    cmap_a, cmap_b = a.getBestCmap(), b.getBestCmap()
    for ch in "AZaz09ρΩ−–“€→≤":
        name = cmap_a[ord(ch)]
        assert name == cmap_b[ord(ch)] and a["hmtx"][name] == b["hmtx"][name], ch
    assert ord("Ж") not in cmap_a


def test_latin_cut_falls_back_to_the_whole_font_when_it_cannot_be_stored(monkeypatch, tmp_path, impacts):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setattr(matplotlib, "get_cachedir", lambda: str(blocked))
    monkeypatch.setattr(fonts, "LATIN_CUT_BLOCKS", ((0x20, 0x7E),))  # a new cut: not made before
    fonts.latin_cut_family.cache_clear()
    try:
        assert fonts.latin_cut_family() is None
        assert fonts.font_families()[0] == fonts.LATIN_FAMILY
        F.save_figure(F.impacts_plot(impacts), tmp_path / "whole", formats=("png",))
    finally:
        fonts.latin_cut_family.cache_clear()
    assert (tmp_path / "whole.png").stat().st_size > 0


# ---------------------------------------------------------------- study step
DEFAULT_NAMES = ["choropleth_dei_cpi", "moran_scatter_cpi_2022", "lisa_cpi_2022", "impacts_sar", "trends_dei_cpi"]


def test_study_figures_default_set(panel, w, impacts, tmp_path):
    run = _run(panel, w, impacts, tmp_path)
    written = SF.study_figures(run)
    expected = [tmp_path / "figures" / f"{n}.{ext}" for n in DEFAULT_NAMES for ext in ("png", "pdf")]
    assert written == expected and run.files == expected
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(p.name for p in expected)
    for path in expected[::2]:
        img = mpimg.imread(path)
        assert img.ndim == 3 and img.shape[2] in (3, 4) and min(img.shape[:2]) > 400
    for path in expected[1::2]:
        head = path.read_bytes()[:5]
        assert head == b"%PDF-"
        assert b"CreationDate" not in path.read_bytes()
    # 200 dpi: pixel width = figure width in inches * 200 (the full text width)
    assert mpimg.imread(tmp_path / "figures" / "impacts_sar.png").shape[1] == pytest.approx(F.DOUBLE_COLUMN * F.DPI,
                                                                                              abs=1)


def test_study_figures_rerun_is_byte_identical(panel, w, impacts, tmp_path):
    specs = [
        FigureSpec(name="moran", kind="moran_scatter", variable="cpi", years=[2013]),
        FigureSpec(name="lisa", kind="lisa_map", variable="dei", weights="adjacency", years=[2015, 2022]),
        FigureSpec(name="imp", kind="impacts", estimate="sar"),
        FigureSpec(name="trend", kind="trends", variable="cpi"),
    ]
    first = SF.study_figures(_run(panel, w, impacts, tmp_path / "a", specs))
    second = SF.study_figures(_run(panel, w, impacts, tmp_path / "b", specs))
    assert [p.name for p in first] == ["moran.png", "moran.pdf", "lisa.png", "lisa.pdf", "imp.png", "imp.pdf",
                                       "trend.png", "trend.pdf"]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_study_figures_spec_errors(panel, w, impacts, tmp_path):
    bad_w = [FigureSpec(name="m", kind="moran_scatter", variable="cpi", weights="nope")]
    with pytest.raises(SpecificationError, match="unknown weights"):
        SF.study_figures(_run(panel, w, impacts, tmp_path, bad_w))
    bad_est = [FigureSpec(name="i", kind="impacts", estimate="sdm")]
    with pytest.raises(SpecificationError, match="has no impacts"):
        SF.study_figures(_run(panel, w, impacts, tmp_path, bad_est))
    dup = [FigureSpec(name="t", kind="trends", variable="cpi"), FigureSpec(name="t", kind="trends", variable="dei")]
    with pytest.raises(SpecificationError, match="unique"):
        SF.study_figures(_run(panel, w, impacts, tmp_path, dup))
    assert not (tmp_path / "figures").exists() or not any((tmp_path / "figures").glob("*.tmp"))


def test_maps_on_any_geometry_take_their_extent_from_the_data(tmp_path):
    """A projected grid of squares far from China (EPSG:3857) and the same grid in lon/lat: every polygon
    drawn, the axis limits the data's bounds, no inset unless asked."""
    import geopandas as gpd
    from shapely.geometry import box

    cells = [box(-9.0e6 + 1e5 * i, 4.0e6 + 1e5 * j, -9.0e6 + 1e5 * (i + 1), 4.0e6 + 1e5 * (j + 1))
             for i in range(4) for j in range(3)]
    geo = gpd.GeoDataFrame({"fips": [f"u{k}" for k in range(12)]}, geometry=cells, crs=3857)
    panel = pd.DataFrame({"unit": np.tile(geo["fips"], 2), "t": np.repeat([1, 2], 12),
                          "y": np.arange(24, dtype=float)})
    for g in (geo, geo.to_crs(4326)):
        fig = F.choropleth(g, panel, "y", [1, 2], entity="unit", id_col="fips", time="t")
        ax = fig.axes[0]
        (coll,) = _map_collections(ax)
        assert len(coll.get_paths()) == 12 and ax.child_axes == []
        x0, y0, x1, y1 = g.total_bounds
        lo, hi = ax.get_xlim()
        assert lo < x0 < x1 < hi and (hi - lo) < 1.1 * (x1 - x0)
        lisa = pd.DataFrame({"entity": geo["fips"], "year": 2, "cluster": "ns"})
        fig2 = F.lisa_map(g, lisa, 2, id_col="fips")
        assert len(_map_collections(fig2.axes[0])[0].get_paths()) == 12
    with pytest.raises(SpecificationError, match="extent holds no polygon"):
        F.choropleth(geo, panel, "y", 1, entity="unit", id_col="fips", time="t", extent=(70.0, 17.0, 140.0, 56.0))


# ---------------------------------------------------------------- journal checks on a study's figures
#: Internal names of the study below: none may reach a reader.
W_LABELS = {"w_queen": "Queen contiguity", "w_invd2": "Inverse distance squared", "w_econ": "Economic distance"}
ESTIMATES = {"sdm_queen": ("w_queen", "twoways", "SDM"), "sdm_invd2": ("w_invd2", "twoways", "SDM, inverse distance"),
             "sdm_econ": ("w_econ", "twoways", "SDM, economic distance"),
             "sdm_queen_unit": ("w_queen", "entity", "SDM, unit effects")}
GROUP_CODES = ["east", "central", "west", "northeast"]
SAMPLES = {"all": [], "east": ["east"], "central_west": ["central", "west"]}
INTERNAL = [*W_LABELS, *ESTIMATES, *GROUP_CODES, "central_west", "dei", "cpi", "urban", "gov", "twoways",
            "entity", "lee-yu"]


def _study_run(panel, w, impacts, tmp_path, language="en"):
    """A run with three SDMs that differ only by W (plus one with other fixed effects), each with its own impacts."""
    run = _run(panel, w, impacts, tmp_path, language=language)
    run.weights = {}
    for name, label in W_LABELS.items():
        wk = copy.deepcopy(w)
        wk.spillover_meta = {"label": label}
        run.weights[name] = wk
    entries = [EstimateSpec(name=n, model="sdm", formula="cpi ~ dei + urban + gov", weights=wn, fe=fe, label=lab,
                            impacts={"draws": 100}) for n, (wn, fe, lab) in ESTIMATES.items()]
    run.study.estimate = entries
    run.study.estimate_by_name = lambda: {e.name: e for e in entries}
    run.study.moran[0].weights = ["w_queen"]
    run.impacts = {n: types.SimpleNamespace(table=impacts * (1.0 + 0.5 * k) + 0.01 * k)
                   for k, n in enumerate(ESTIMATES)}
    return run


@pytest.fixture(scope="module")
def study_run(panel, w, impacts, tmp_path_factory):
    return _study_run(panel, w, impacts, tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def study_figs(study_run):
    """Every default figure of :func:`_study_run`, by name."""
    return {spec.name: SF._make_figure(study_run, spec) for spec in SF.default_figure_specs(study_run)}


def _grid_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"weights": wn, "sample": sk, "fe": fe, "method": m}
            for wn in ("w_queen", "w_invd2") for sk in SAMPLES for fe in ("twoways", "entity")
            for m in ("lee-yu", "direct")]
    t = pd.DataFrame(rows)
    for part in ("direct", "indirect"):
        t[part] = rng.normal(0.3, 0.3, len(t))
        t[f"{part}_se"] = rng.uniform(0.05, 0.2, len(t))
        t[f"{part}_p"] = rng.uniform(0, 0.2, len(t))
    return t


@pytest.fixture()
def grid_fig(study_run, monkeypatch, tmp_path):
    """The specification curve of a grid over the internal names above, as the runner labels it."""
    from spillover.study.grid import specification_curve

    drawn = []
    monkeypatch.setattr(F, "save_figure", lambda fig, stem: drawn.append(fig) or [])
    grid = types.SimpleNamespace(weights=["w_queen", "w_invd2"], samples=SAMPLES)
    specification_curve(_grid_table(), "dei", tmp_path / "curve", labels=SF.grid_labels(study_run, grid),
                        variable_label=F.variable_label("dei", LAB))
    return drawn[0]


@pytest.mark.skipif(not fonts.has_cjk_font(), reason="no CJK font installed (pip install mplfonts)")
def test_specification_curve_in_chinese(study_run, monkeypatch, tmp_path):
    """The Chinese curve writes every axis, legend, marker row and the title in Chinese, with every glyph."""
    from spillover.study.grid import specification_curve

    drawn = []
    monkeypatch.setattr(F, "save_figure", lambda fig, stem: drawn.append(fig) or [])
    monkeypatch.setattr(study_run, "lang", "zh", raising=False)
    grid = types.SimpleNamespace(weights=["w_queen", "w_invd2"], samples=SAMPLES)
    labels = SF.grid_labels(study_run, grid)
    specification_curve(_grid_table(), "dei", tmp_path / "curve", effect="indirect", labels=labels,
                        variable_label="数字经济指数", language="zh")
    fig = drawn[0]
    text = _all_text(fig)
    assert fig.get_suptitle() == "设定曲线：数字经济指数的间接效应（24个设定，95%置信区间）"
    assert "间接效应" in text and "按估计值排序的设定" in text
    rows = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert rows[0].startswith("空间权重矩阵：") and any(r.startswith("样本：") for r in rows)
    assert labels["sample"]["central_west"] == "Central\u548cWest"  # joined the Chinese way ("和")
    assert _glyph_warnings(fig) == []


def _all_text(fig) -> list[str]:
    fig.canvas.draw()  # tick labels exist once drawn
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def test_default_figures_include_impacts_across_w(study_run, study_figs):
    assert SF.same_model_across_w(study_run) == ["sdm_queen", "sdm_invd2", "sdm_econ"]  # not the unit-effects SDM
    assert SF.same_model_across_w(study_run, "sdm_queen_unit") == ["sdm_queen_unit"]
    assert list(study_figs) == ["choropleth_dei_cpi", "moran_scatter_cpi_2022", "lisa_cpi_2022", "impacts_sdm_queen",
                                "impacts_sdm_invd2", "impacts_sdm_econ", "impacts_sdm_queen_unit", "impacts_across_w",
                                "trends_dei_cpi"]


def test_impacts_across_w_draws_each_estimates_impacts(study_run, study_figs):
    fig = study_figs["impacts_across_w"]
    names = ["sdm_queen", "sdm_invd2", "sdm_econ"]
    assert fig.get_suptitle() == "Effects of Digital economy index under each weights matrix (95% confidence intervals)"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [W_LABELS[ESTIMATES[n][0]] for n in names]
    for ax, part in zip(fig.axes, ("direct", "indirect", "total"), strict=True):
        want = np.array([study_run.impacts[n].table.loc["dei", part] for n in names])
        se = np.array([study_run.impacts[n].table.loc["dei", f"{part}_se"] for n in names])
        (dots,) = [c for c in ax.collections if isinstance(c, PathCollection)]
        x, y = dots.get_offsets().T
        assert len(x) == 3
        np.testing.assert_allclose(x[np.argsort(-y)], want)  # one row per estimate, the first on top
        (bars,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        segs = sorted(bars.get_segments(), key=lambda seg: -seg[0][1])
        np.testing.assert_allclose([(seg[0][0] + seg[1][0]) / 2 for seg in segs], want)
        np.testing.assert_allclose([abs(seg[1][0] - seg[0][0]) / 2 for seg in segs], 1.959963984540054 * se)
    # an explicit list and variable; rows named by the estimates' labels when two share a W
    spec = FigureSpec(name="x", kind="impacts_across_w", variable="urban", estimates=["sdm_queen", "sdm_queen_unit"])
    fig2 = SF._make_figure(study_run, spec)
    assert [t.get_text() for t in fig2.axes[0].get_yticklabels()] == ["SDM", "SDM, unit effects"]
    (dots,) = [c for c in fig2.axes[0].collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(sorted(dots.get_offsets()[:, 0]), sorted(
        study_run.impacts[n].table.loc["urban", "direct"] for n in ("sdm_queen", "sdm_queen_unit")))
    with pytest.raises(SpecificationError, match="variable not in the estimate's impacts"):
        SF._make_figure(study_run, FigureSpec(name="x", kind="impacts_across_w", variable="nope",
                                              estimates=["sdm_queen", "sdm_econ"]))
    with pytest.raises(SpecificationError, match="two or more estimates"):
        SF._make_figure(study_run, FigureSpec(name="x", kind="impacts_across_w", estimate="sdm_queen_unit"))


def test_palettes_are_okabe_ito(study_figs):
    # Okabe & Ito (2008), Color Universal Design, https://jfly.uni-koeln.de/color/
    assert F.OKABE_ITO == ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
    okabe = {matplotlib.colors.to_hex(c) for c in F.OKABE_ITO}
    assert {matplotlib.colors.to_hex(c) for c in F.GROUP_COLORS} <= okabe
    assert {matplotlib.colors.to_hex(c) for c in F.IMPACT_COLORS.values()} <= okabe
    for ax in study_figs["trends_dei_cpi"].axes:
        assert {matplotlib.colors.to_hex(line.get_color()) for line in ax.lines} <= okabe
        assert len({line.get_marker() for line in ax.lines[:-1]}) == 4  # groups differ by shape, not colour alone
    for ax in study_figs["impacts_across_w"].axes:
        (dots,) = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert {matplotlib.colors.to_hex(c) for c in dots.get_edgecolors()} <= okabe


def test_no_internal_name_reaches_a_reader(study_figs, grid_fig):
    figs = {**study_figs, "grid": grid_fig}
    for name, fig in figs.items():
        text = "\n".join(_all_text(fig))
        for internal in INTERNAL:
            assert not re.search(rf"(?<![A-Za-z_]){re.escape(internal)}(?![A-Za-z_])", text), (name, internal)
    # the labels the tables print are the ones shown
    assert "Government expenditure / GDP" in _all_text(study_figs["impacts_sdm_queen"])
    assert "SDM, inverse distance: Direct, indirect and total effects (95% confidence intervals)" in \
        _all_text(study_figs["impacts_sdm_invd2"])
    grid_text = _all_text(grid_fig)
    for shown in ("W: Queen contiguity", "W: Inverse distance squared", "Sample: All provinces", "Sample: East",
                  "Sample: Central and West", "Effects: Two-way fixed effects", "Method: Lee-Yu transformation"):
        assert shown in grid_text
    assert "East" in _all_text(study_figs["trends_dei_cpi"])


def test_figures_are_printed_at_column_width(study_figs, grid_fig):
    widths = {name: fig.get_figwidth() for name, fig in {**study_figs, "grid": grid_fig}.items()}
    single = {"moran_scatter_cpi_2022", "lisa_cpi_2022"}
    for name, width in widths.items():
        assert width == pytest.approx(F.SINGLE_COLUMN if name in single else F.DOUBLE_COLUMN), name
    assert F.SINGLE_COLUMN * 2.54 == pytest.approx(8.5) and F.DOUBLE_COLUMN * 2.54 == pytest.approx(17.5)
    for fig in study_figs.values():  # printed sizes: nothing below 6 pt
        assert min(t.get_fontsize() for t in fig.findobj(Text) if t.get_text()) >= 6


def _pdf_fonts(data: bytes) -> dict[str, list]:
    """Font facts of a PDF written by matplotlib: Type 3 fonts, and the first bytes of each embedded font program."""
    programs = []
    for m in re.finditer(rb"<<([^>]*?/Length1[^>]*?)>>\s*stream\r?\n", data, re.S):
        head = m.group(1)
        n = int(re.search(rb"/Length (\d+)", head).group(1))
        raw = data[m.end():m.end() + n]
        programs.append((zlib.decompress(raw) if b"FlateDecode" in head else raw)[:4])
    return {"type3": re.findall(rb"/Subtype /Type3", data), "programs": programs}


def test_pdfs_are_vector_and_embed_their_fonts(study_figs, tmp_path):
    for name, fig in study_figs.items():
        (pdf,) = F.save_figure(fig, tmp_path / name, formats=("pdf",))
        data = pdf.read_bytes()
        assert b"/Subtype /Image" not in data, name  # maps included: no raster inside
        facts = _pdf_fonts(data)
        assert facts["type3"] == [] and facts["programs"], name  # TrueType (Type 42) subsets, embedded
        assert all(p in (b"\x00\x01\x00\x00", b"true") for p in facts["programs"]), name


@pytest.mark.skipif(not fonts.has_cjk_font(), reason="no CJK font installed (pip install mplfonts)")
def test_chinese_study_figures(panel, w, impacts, tmp_path):
    run = _study_run(panel, w, impacts, tmp_path, language="zh")
    fig = SF._make_figure(run, FigureSpec(name="x", kind="impacts_across_w", variable="dei"))
    assert fig.get_suptitle() == "数字经济指数在不同空间权重矩阵下的效应（95%置信区间）"
    assert _glyph_warnings(fig) == []
    (pdf,) = F.save_figure(fig, tmp_path / "across_zh", formats=("pdf",))
    facts = _pdf_fonts(pdf.read_bytes())
    # a CJK font with CFF outlines cannot be a TrueType (Type 42) program: then Type 3, never a mislabelled font
    assert b"OTTO" not in facts["programs"]
    cjk = matplotlib.font_manager.findfont(matplotlib.font_manager.FontProperties(family=fonts.cjk_font_family()))
    assert bool(facts["type3"]) == F._has_cff_outlines(cjk)
    maps = SF._make_figure(run, FigureSpec(name="m", kind="choropleth", variable="cpi", years=[2022]))
    assert maps.axes[0].get_legend().get_title().get_text() == "共同富裕指数"
    assert _glyph_warnings(maps) == []


# ---------------------------------------------------------------- descriptive figures
def test_descriptive_figures_in_both_languages(panel):
    """Gini components, kernel density ridges and the coupling heatmap draw from computed frames, with the
    labels (and class names, bandwidth note) given, in English and Chinese."""
    from spillover.analysis import COORDINATION_CLASSES, coupling, dagum, kernel_density
    from spillover.report import descriptive_figures as DF

    p = panel.assign(region=panel["region"].astype(str))
    summaries = {v: dagum(p, v, "region", "year").summary for v in ("dei", "cpi")}
    dens = {v: kernel_density(p, v, "year", grid=64) for v in ("dei", "cpi")}
    cp = coupling(p, "dei", "cpi", "province", "year").assign(region=p["region"].to_numpy())
    groups = ["east", "central", "west", "northeast"]
    for lang, labels in (("en", LAB), ("zh", {**LAB, **LAB_ZH})):
        figs = [DF.gini_components(summaries, time="year", labels=labels, language=lang, group_label="region"),
                DF.density_ridges(dens, time="year", labels=labels, language=lang, note="bandwidth note"),
                DF.coupling_heatmap(cp, entity="province", time="year", group="region", groups=groups, labels=labels,
                                    language=lang, systems=("dei", "cpi"), classes=list(COORDINATION_CLASSES))]
        for fig in figs:
            fig.canvas.draw()
            texts = " ".join(t.get_text() for t in fig.findobj(Text))
            assert labels["dei"] in texts
        assert "bandwidth note" in " ".join(t.get_text() for t in figs[1].findobj(Text))
        heat = " ".join(t.get_text() for t in figs[2].findobj(Text))
        assert "mild disorder" in heat and labels["east"] in heat
        lines = figs[0].axes[0].get_lines()
        assert np.allclose(lines[0].get_ydata(), summaries["dei"]["G"])


def test_markov_heatmap_prints_each_probability_in_both_languages(panel):
    """The transition heatmap shows the classic matrix of each variable cell by cell (counted here), with the
    class names and axis texts of the language."""
    from spillover.analysis import markov
    from spillover.report import descriptive_figures as DF

    names = {"en": ["low", "lower-middle", "upper-middle", "high"], "zh": ["低水平", "中低水平", "中高水平", "高水平"]}
    res = {v: markov(panel, v, "year", k=4, entity="province") for v in ("dei", "cpi")}
    wide = panel.pivot(index="province", columns="year", values="cpi").to_numpy()
    states = np.searchsorted(np.quantile(wide.ravel(), [0.25, 0.5, 0.75]), wide, side="left")
    T = np.zeros((4, 4))
    for row in states:
        for a, b in zip(row[:-1], row[1:]):
            T[a, b] += 1
    for lang, labels in (("en", LAB), ("zh", {**LAB, **LAB_ZH})):
        fig = DF.transition_heatmap({v: r.classic.probabilities for v, r in res.items()}, classes=names[lang],
                                    labels=labels, language=lang)
        fig.canvas.draw()
        texts = " ".join(t.get_text() for t in fig.findobj(Text))
        assert labels["dei"] in texts and labels["cpi"] in texts and names[lang][1] in texts
        assert ("t+1期类型" if lang == "zh" else "Class in period t+1") in texts
        cells = [t.get_text() for t in fig.axes[1].texts]
        assert cells == [f"{p:.2f}" for p in (T / T.sum(axis=1, keepdims=True)).ravel()]
        assert np.allclose(fig.axes[1].images[0].get_array(), T / T.sum(axis=1, keepdims=True))
        assert _glyph_warnings(fig) == []


def test_save_figure_lays_out_once_and_leaves_the_figure_as_it_was(tmp_path):
    """The PDF takes the PNG's layout (one constrained-layout pass); the caller's figure keeps its layout engine,
    so a second save of the same figure writes the same bytes."""
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    from spillover.report.figures import save_figure

    fig = Figure(figsize=(4, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.set_title("a title")
    first = [p.read_bytes() for p in save_figure(fig, tmp_path / "a")]
    assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    assert [p.read_bytes() for p in save_figure(fig, tmp_path / "b")] == first
