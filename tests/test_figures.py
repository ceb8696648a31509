"""Tests of spillover.report.figures on the real provincial panel."""

from __future__ import annotations

import io
import types
import warnings

import matplotlib
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure

import spillover as sp
from spillover.errors import SpecificationError
from spillover.report import figures as F
from spillover.study import figures as SF
from spillover.report import fonts
from spillover.study.spec import FigureSpec


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
        study=study, out=tmp_path, files=[], geometry=default_geometry() if geo is None else geo,
    )


def _map_collections(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


# ---------------------------------------------------------------- standalone functions
def test_choropleth_grid_and_colorbars(panel, geo):
    fig = F.choropleth(geo, panel, ["dei", "cpi"], [2013, 2022], entity="province", id_col="adcode", labels=LAB,
                       **CHINA)
    assert isinstance(fig, Figure) and isinstance(fig.canvas, FigureCanvasAgg)
    assert len(fig.axes) == 4 + 2  # 2x2 maps and one colour bar per variable
    maps = fig.axes[:4]
    assert [ax.get_title() for ax in maps] == [
        "Digital economy index, 2013", "Digital economy index, 2022",
        "Common prosperity index, 2013", "Common prosperity index, 2022",
    ]
    for ax in maps:
        (coll,) = _map_collections(ax)
        assert len(coll.get_paths()) == 31
        assert len(ax.child_axes) == 1  # South China Sea inset
    # 5 quantile classes: 6 boundaries on the colour bar, spanning the pooled range
    cbar = fig.axes[4]
    ticks = cbar.get_yticks()
    assert len(ticks) == 6
    vals = panel.loc[panel["year"].isin([2013, 2022]), "dei"]
    assert ticks[0] == pytest.approx(vals.min()) and ticks[-1] == pytest.approx(vals.max())


def test_choropleth_continuous_missing_and_errors(panel, geo):
    sub = panel[panel["province"] != "540000"]  # Tibet missing: hatched
    fig = F.choropleth(geo, sub, "cpi", 2022, entity="province", id_col="adcode", scheme="continuous")
    assert len(fig.axes) == 2
    colls = _map_collections(fig.axes[0])
    assert len(colls) == 2 and len(colls[1].get_paths()) == 1 and colls[1].get_hatch() == "////"
    assert fig.axes[0].child_axes == []
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
    assert fonts.font_families() == [fonts.LATIN_FAMILY]


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
    # 200 dpi: pixel width = figure width in inches * 200
    assert mpimg.imread(tmp_path / "figures" / "impacts_sar.png").shape[1] == round(
        F.impacts_plot(impacts).get_figwidth() * F.DPI)


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
