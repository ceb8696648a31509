"""Figures of the descriptive analyses: Gini components, kernel density ridges, coupling and Markov heatmaps.

Like :mod:`spillover.report.figures` (whose style, fonts, widths and colours
these share), every function takes computed frames and returns a
:class:`matplotlib.figure.Figure`; nothing is estimated here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from spillover.report.figures import (
    DOUBLE_COLUMN,
    GROUP_COLORS,
    MAP_CMAP,
    _check_language,
    _new_figure,
    _style,
    _wrap,
    variable_label,
)

__all__ = ["coupling_heatmap", "density_ridges", "gini_components", "transition_heatmap"]

TEXT: dict[str, dict[str, str]] = {
    "en": {"G": "Gini G", "G_w": "Within G_w", "G_nb": "Net between G_nb", "G_t": "Transvariation G_t",
           "gini_title": "Dagum Gini decomposition by {g}", "gini_y": "Gini", "contribution_y": "Share of G (%)",
           "year": "Year", "ridge_title": "Kernel densities by year",
           "heat_title": "Coupling coordination degree D of {a} and {b}",
           "heat_lines": "Mean D by group", "all": "All units",
           "markov_title": "Markov transition probabilities", "from": "Class in period t",
           "to": "Class in period t+1"},
    "zh": {"G": "总体基尼系数G", "G_w": "组内差异", "G_nb": "组间净差异", "G_t": "超变密度",
           "gini_title": "按{g}分组的Dagum基尼系数分解", "gini_y": "基尼系数", "contribution_y": "占总体基尼系数的比重（%）",
           "year": "年份", "ridge_title": "逐年核密度估计",
           "heat_title": "{a}与{b}的耦合协调度D", "heat_lines": "分组平均D", "all": "全部单位",
           "markov_title": "马尔可夫转移概率矩阵", "from": "t期类型", "to": "t+1期类型"},
}

#: Line styles of the Gini components: colour, marker and dash, so they differ without colour too.
_COMPONENT_STYLE = {"G": ("#000000", "o", "-"), "G_w": ("#0072B2", "s", "--"), "G_nb": ("#D55E00", "^", "-."),
                    "G_t": ("#009E73", "D", ":")}


def _t(language: str, key: str, **fmt: Any) -> str:
    text = TEXT.get(language, TEXT["en"])[key]
    return text.format(**fmt) if fmt else text


def _year_ticks(ax, years: Sequence) -> None:
    step = 1 if len(years) <= 6 else 2 if len(years) <= 12 else int(np.ceil(len(years) / 6))
    ax.set_xticks(list(years)[::step])


def gini_components(summaries: Mapping[str, pd.DataFrame], *, time: str, labels: Mapping[str, str] | None = None,
                    language: str = "en", group_label: str = "group") -> Figure:
    """The Dagum Gini ``G`` and its components over the periods, one column of axes per variable.

    Parameters
    ----------
    summaries : mapping of str to DataFrame
        ``DagumResult.summary`` of each variable (columns ``time``, ``G``,
        ``G_w``, ``G_nb``, ``G_t``, ``share_w``, ``share_nb``, ``share_t``).
    time : str
    labels, language
        Display labels of the variables; ``"en"`` or ``"zh"``.
    group_label : str
        What the groups are, for the title.

    Returns
    -------
    matplotlib.figure.Figure
        Top row: the levels; bottom row: each component's share of ``G`` in percent.
    """
    language = _check_language(language)
    n = len(summaries)
    with _style(language):
        fig = _new_figure((DOUBLE_COLUMN if n > 1 else DOUBLE_COLUMN * 0.6, 4.6))
        axes = np.array(fig.subplots(2, n, squeeze=False, sharex=True))
        handles = []
        for j, (var, s) in enumerate(summaries.items()):
            years = s[time].to_numpy()
            top, bottom = axes[0, j], axes[1, j]
            handles = []
            for key, (color, marker, dash) in _COMPONENT_STYLE.items():
                (line,) = top.plot(years, s[key].to_numpy(), color=color, marker=marker, markersize=3,
                                   linestyle=dash, linewidth=1.1, label=_t(language, key))
                handles.append(line)
                if key != "G":
                    share = {"G_w": "share_w", "G_nb": "share_nb", "G_t": "share_t"}[key]
                    bottom.plot(years, 100 * s[share].to_numpy(), color=color, marker=marker, markersize=3,
                                linestyle=dash, linewidth=1.1)
            top.set_title(_wrap(variable_label(var, labels), 40))
            top.set_ylabel(_t(language, "gini_y"))
            bottom.set_ylabel(_t(language, "contribution_y"))
            bottom.set_ylim(bottom=0)
            bottom.set_xlabel(_t(language, "year"))
            for ax in (top, bottom):
                ax.grid(color="#eeeeee", linewidth=0.5)
                ax.set_axisbelow(True)
                _year_ticks(ax, years)
            top.set_ylim(bottom=0)
        fig.legend(handles=handles, loc="outside lower center", ncols=4, handlelength=2.4)
        fig.suptitle(_t(language, "gini_title", g=group_label))
    return fig


def density_ridges(densities: Mapping[str, pd.DataFrame], *, time: str, labels: Mapping[str, str] | None = None,
                   language: str = "en", note: str = "") -> Figure:
    """Kernel densities stacked by period (a ridge plot), one axes per variable.

    Parameters
    ----------
    densities : mapping of str to DataFrame
        :func:`spillover.analysis.kernel_density` output of each variable
        (columns ``time``, ``x``, ``density``).
    time : str
    labels, language
        Display labels; ``"en"`` or ``"zh"``.
    note : str
        Printed under the axes (the bandwidth rule).

    Returns
    -------
    matplotlib.figure.Figure
        Each period's curve is scaled by the largest density of its axes and
        drawn one step above the previous period; later periods darker.
    """
    import matplotlib

    language = _check_language(language)
    n = len(densities)
    cmap = matplotlib.colormaps[MAP_CMAP]
    with _style(language):
        fig = _new_figure((DOUBLE_COLUMN if n > 1 else DOUBLE_COLUMN * 0.6, 4.4))
        axes = np.array(fig.subplots(1, n, squeeze=False)).ravel()
        for ax, (var, frame) in zip(axes, densities.items()):
            periods = list(pd.unique(frame[time]))
            peak = float(frame["density"].max())
            step = 0.55
            for k, period in enumerate(periods):
                part = frame[frame[time] == period]
                x, y = part["x"].to_numpy(), part["density"].to_numpy() / peak
                base = k * step
                color = cmap(0.3 + 0.65 * k / max(len(periods) - 1, 1))
                z = len(periods) - k
                ax.fill_between(x, base, base + y, color=color, alpha=0.85, linewidth=0, zorder=z)
                ax.plot(x, base + y, color="#333333", linewidth=0.5, zorder=z)
            ax.set_yticks([k * step for k in range(len(periods))])
            ax.set_yticklabels([str(p) for p in periods])
            ax.set_xlabel(_wrap(variable_label(var, labels), 40))
            lo = frame.loc[frame["density"] > 1e-3 * peak, "x"]
            ax.set_xlim(float(lo.min()), float(lo.max()))
            ax.set_ylim(-0.05, (len(periods) - 1) * step + 1.05)
            ax.spines["left"].set_visible(False)
            ax.tick_params(axis="y", length=0)
            ax.grid(axis="x", color="#eeeeee", linewidth=0.5)
            ax.set_axisbelow(True)
        axes[0].set_ylabel(_t(language, "year"))
        fig.suptitle(_t(language, "ridge_title"))
        if note:
            fig.text(0.01, 0.0, _wrap(note, 150), ha="left", va="bottom", fontsize=6.5, color="#444444")
            fig.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))
    return fig


def coupling_heatmap(frame: pd.DataFrame, *, entity: str, time: str, group: str, groups: Sequence[str],
                     names: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
                     language: str = "en", systems: Sequence[str] = ("U1", "U2"),
                     classes: Sequence[str] = ()) -> Figure:
    """Coordination degree D of every unit and period (heatmap) and its group means over the periods (lines).

    Parameters
    ----------
    frame : pandas.DataFrame
        :func:`spillover.analysis.coupling` output with the ``group`` column added.
    entity, time, group : str
    groups : sequence of str
        Group order (rows of the heatmap, lines of the right panel).
    names : mapping, optional
        Display name of each unit (default the unit itself).
    labels, language
        Display labels of the systems and groups; ``"en"`` or ``"zh"``.
    systems : (str, str)
        The two index columns, for the title.
    classes : sequence of str, optional
        The ten class names, lowest first, written beside the bands of the
        right panel (default: none).

    Returns
    -------
    matplotlib.figure.Figure
        Units sorted by group, then by their mean D (highest first); a thin
        line separates the groups, named on the right of the heatmap. Dotted
        lines on the right panel mark the class boundaries (steps of 0.1).
    """
    from matplotlib.colors import BoundaryNorm

    language = _check_language(language)
    names = names or {}
    frame = frame.assign(_unit=frame[entity].astype(str), _group=frame[group].astype(str))
    wide = frame.pivot(index="_unit", columns=time, values="D")
    unit_group = frame.drop_duplicates("_unit").set_index("_unit")["_group"]
    mean = wide.mean(axis=1)
    order = sorted(wide.index, key=lambda u: (list(groups).index(unit_group[u]), -mean[u]))
    wide = wide.loc[order]
    years = list(wide.columns)
    lo, hi = np.floor(np.nanmin(wide.to_numpy()) * 10) / 10, np.ceil(np.nanmax(wide.to_numpy()) * 10) / 10
    bounds = np.round(np.arange(lo, hi + 0.05, 0.1), 1)
    import matplotlib

    cmap = matplotlib.colormaps[MAP_CMAP].resampled(max(len(bounds) - 1, 2))
    norm = BoundaryNorm(bounds, cmap.N)
    with _style(language):
        fig = _new_figure((DOUBLE_COLUMN, 0.12 * len(order) + 1.6))
        left, right = fig.subplots(1, 2, width_ratios=[1.25, 1])
        im = left.imshow(wide.to_numpy(), aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
        left.set_yticks(range(len(order)))
        left.set_yticklabels([names.get(u, u) for u in order], fontsize=5.5)
        left.set_xticks(range(len(years)))
        left.set_xticklabels([str(y) for y in years], rotation=90)
        sizes = [sum(unit_group[u] == g for u in order) for g in groups]
        ends = np.cumsum(sizes)
        for c in ends[:-1]:
            left.axhline(c - 0.5, color="#ffffff", linewidth=1.2)
        for spine in left.spines.values():
            spine.set_visible(False)
        side = left.secondary_yaxis("right")
        side.set_yticks(ends - np.asarray(sizes) / 2 - 0.5)
        side.set_yticklabels([variable_label(g, labels) for g in groups], rotation=270, va="center")
        side.tick_params(length=0)
        side.spines["right"].set_visible(False)
        bar = fig.colorbar(im, ax=left, location="top", fraction=0.03, pad=0.01, ticks=bounds)
        bar.ax.tick_params(labelsize=6.5)
        means = frame.pivot_table(index=time, columns="_group", values="D", aggfunc="mean")
        for k, g in enumerate(groups):
            right.plot(means.index, means[g], color=GROUP_COLORS[k % len(GROUP_COLORS)], marker="os^Dv"[k % 5],
                       markersize=3, linewidth=1.1, label=variable_label(g, labels))
        right.plot(means.index, frame.groupby(time)["D"].mean(), color="#000000", linestyle="--", linewidth=1.1,
                   label=(labels or {}).get("national", _t(language, "all")))
        for b in np.arange(0.1, 1.0, 0.1):
            right.axhline(b, color="#bbbbbb", linewidth=0.5, linestyle=":")
        right.set_ylim(lo, hi)
        if classes:
            mids = [k / 10 + 0.05 for k in range(10) if lo <= k / 10 and (k + 1) / 10 <= hi + 1e-9]
            band = right.secondary_yaxis("right")
            band.set_yticks(mids)
            band.set_yticklabels([classes[int(round((m - 0.05) * 10))] for m in mids], fontsize=6.5,
                                 color="#555555")
            band.tick_params(length=0)
            band.spines["right"].set_visible(False)
        right.set_title(_t(language, "heat_lines"))
        right.set_xlabel(_t(language, "year"))
        right.set_ylabel("D")
        _year_ticks(right, years)
        right.legend(loc="lower right", fontsize=6.5)
        a, b = (variable_label(s, labels) for s in systems)
        fig.suptitle(_t(language, "heat_title", a=a, b=b))
    return fig


def transition_heatmap(matrices: Mapping[str, pd.DataFrame], *, classes: Sequence[str],
                       labels: Mapping[str, str] | None = None, language: str = "en") -> Figure:
    """Transition probabilities of one Markov chain per variable as heatmaps, each cell printed.

    Parameters
    ----------
    matrices : mapping of str to DataFrame
        Variable -> ``TransitionMatrix.probabilities`` of
        :func:`spillover.analysis.markov` (rows: class at t, columns: class at
        t + 1, in class order; NaN in a row without transitions).
    classes : sequence of str
        Class names, lowest first (as shown, in the language drawn).
    labels, language
        Display labels of the variables; ``"en"`` or ``"zh"``.

    Returns
    -------
    matplotlib.figure.Figure
        One square panel per variable on one colour scale from 0 to 1; an
        empty row is left blank.
    """
    language = _check_language(language)
    n = len(matrices)
    with _style(language):
        fig = _new_figure((DOUBLE_COLUMN if n > 1 else DOUBLE_COLUMN * 0.55, 3.2))
        axes = np.array(fig.subplots(1, n, squeeze=False))[0]
        im = None
        for ax, (var, P) in zip(axes, matrices.items()):
            values = P.to_numpy(dtype=float)
            im = ax.imshow(values, cmap=MAP_CMAP, vmin=0.0, vmax=1.0, interpolation="nearest")
            for (i, j), v in np.ndenumerate(values):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5,
                            color="#ffffff" if v > 0.6 else "#000000")
            ticks = range(len(classes))
            ax.set_xticks(ticks, list(classes), rotation=30, ha="right")
            ax.set_yticks(ticks, list(classes))
            ax.set_xlabel(_t(language, "to"))
            ax.set_ylabel(_t(language, "from"))
            ax.set_title(_wrap(variable_label(var, labels), 40))
            for spine in ax.spines.values():
                spine.set_visible(False)
        fig.colorbar(im, ax=list(axes), fraction=0.03, pad=0.02)
        fig.suptitle(_t(language, "markov_title"))
    return fig
