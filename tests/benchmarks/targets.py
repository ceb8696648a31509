"""The speed and memory goals of the benchmark report, and how this run measured against them.

Not collected by pytest: these are measurements, never timed assertions.
Sections call :func:`record` with what they measured; :func:`table` prints
every goal with its verdict (met, or the measured gap), and "not measured"
for a goal whose section was not run or failed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Goal:
    text: str
    limit: float
    unit: str  # "s", "GB", "x" (a ratio, peer / ours) or "ours/peer"
    at_least: bool = False  # True: the measured value must reach the limit (ratios); False: stay under it


GOALS: dict[str, Goal] = {
    "sdm2000_splm": Goal("N = 2,000 SDM, fit + SEs + impacts: R splm seconds / ours", 100, "x", at_least=True),
    "sdm2000_spreg": Goal("N = 2,000 SDM, fit + SEs + impacts: spreg seconds / ours", 50, "x", at_least=True),
    **{f"big{n}_{fe}_{m}_{q}": Goal(f"N = {n:,}, {fe} {m}: {'seconds' if q == 's' else 'peak RSS'}", lim, q)
       for n, ls, lg in ((100_000, 10, 2), (1_000_000, 90, 10))
       for fe, m in (("entity", "direct"), ("twoways", "lee-yu"))
       for q, lim in (("s", ls), ("GB", lg))},
    "impacts3085_lu": Goal("N = 3,085 county W: 1,000 impact draws, logdet='lu'", 1, "s"),
    "impacts3085_eigen": Goal("N = 3,085 county W: 1,000 impact draws, logdet='eigen'", 1, "s"),
    "eigen2000_ratio": Goal("N = 2,000 kNN W (not symmetric): fit + impacts, eigen seconds / lu seconds", 20, "x"),
    "queen3085": Goal("queen contiguity of the 3,085 NCOVR counties: ours / libpysal Queen", 1, "ours/peer"),
    **{f"{case}1000000": Goal(f"{case} weights at N = 1,000,000 (output='sparse')", 60, "s")
       for case in ("knn", "band", "inverse")},
    "replicate": Goal("`spillover replicate` of the bundled study (fresh process)", 30, "s"),
}

_measured: dict[str, float] = {}


def record(key: str, value: float) -> None:
    """What this run measured for goal ``key`` (seconds, GB or a ratio, in the goal's unit)."""
    if key not in GOALS:
        raise KeyError(f"no goal named {key!r}; goals: {sorted(GOALS)}")
    _measured[key] = float(value)


def _fmt(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.1f}x"
    if unit == "ours/peer":
        return f"{value:.2f}"
    return f"{value:.2f} {unit}"


def verdict(key: str) -> str:
    """"met", "gap: ..." or "not measured" for goal ``key``."""
    goal, value = GOALS[key], _measured.get(key)
    if value is None:
        return "not measured"
    ok = value >= goal.limit if goal.at_least else value <= goal.limit
    if ok:
        return "met"
    factor = goal.limit / value if goal.at_least else value / goal.limit
    return f"gap: {factor:.2f} times {'short of' if goal.at_least else 'over'} the goal"


def table() -> list[str]:
    """Markdown rows: goal, limit, measured, verdict; every goal, measured or not."""
    lines = ["| goal | limit | measured | verdict |", "|:--|---:|---:|:--|"]
    for key, goal in GOALS.items():
        limit = ("at least " if goal.at_least else "at most ") + _fmt(goal.limit, goal.unit)
        value = _measured.get(key)
        lines.append(f"| {goal.text} | {limit} | {'-' if value is None else _fmt(value, goal.unit)} | "
                     f"{verdict(key)} |")
    return lines
