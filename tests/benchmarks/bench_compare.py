"""The SDM comparison table of report.py: ours through the formula API against spreg, panelbox and R splm.

Not collected by pytest. One data set per N (bench_sdm.simulate: kNN W,
k = 6, T = 10, unit effects), every peer on it in the same run; ratios are
peer seconds / our seconds, slopes are least-squares log-log slopes of
seconds against N over the sizes at which a program ran.
"""

from __future__ import annotations

import numpy as np

import bench_peers as bp
import bench_sdm
import targets

PEERS = {  # column -> label in the table
    "spreg": "spreg ML_LagFE slx_lags=1",
    "panelbox": "panelbox SpatialDurbin fixed",
    "panelbox_sym": "panelbox, symmetrised W",
    "splm": "R splm spml within lag",
}


def loglog_slope(ns: list[int], secs: list[float]) -> float:
    """Slope of log(seconds) on log(N); nan with fewer than two points."""
    if len(ns) < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns), np.log(secs), 1)[0])


def warm_up(draws: int) -> None:
    """One small fit so that our first-call imports (formulaic, ...) are outside the timings."""
    y, x, W = bench_sdm.simulate(200, 10)
    bp.run_ours(bp.long_frame(y, x, 200, 10), W, draws)


def run_size(n: int, t: int, draws: int, limits: dict[str, int], timeout: float) -> dict:
    """Ours and every peer whose size limit admits ``n``, on one simulated data set."""
    y, x, W = bench_sdm.simulate(n, t)
    df = bp.long_frame(y, x, n, t)
    out = {"ours": bp.run_ours(df, W, draws)}
    runners = {"spreg": lambda: bp.run_spreg(y, x, W), "panelbox": lambda: bp.run_panelbox(df, W, False, timeout),
               "panelbox_sym": lambda: bp.run_panelbox(df, W, True, timeout),
               "splm": lambda: bp.run_splm(df, W, timeout)}
    for name, run in runners.items():
        out[name] = run() if n <= limits[name] else {"skip": f"not run above N = {limits[name]:,}"}
    return out


def _cell(peer: dict, ours_s: float) -> str:
    if "s" not in peer:
        return "-"
    return f"{peer['s']:.2f} ({peer['s'] / ours_s:.0f}x)"


def _diff(r: dict) -> str:
    """Largest absolute difference of the five estimates from spreg's and splm's (same model, same W)."""
    diffs = [float(np.max(np.abs(r["ours"]["params"].to_numpy() - r[p]["params"].to_numpy())))
             for p in ("spreg", "splm") if "s" in r[p]]
    return f"{max(diffs):.1e}" if diffs else "-"


def table(results: dict[int, dict], rss: dict[int, float]) -> list[str]:
    """Markdown rows: seconds (ratio to ours) per program, then one row of log-log slopes."""
    head = ["N", "ours (s)", *PEERS.values(), "max abs diff vs spreg/splm", "ours peak RSS (GB)", "log-det"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * (len(head) - 1) + ":--|"]
    for n, r in results.items():
        o = r["ours"]["s"]
        cells = [f"{n:,}", f"{o:.3f}", *(_cell(r[p], o) for p in PEERS), _diff(r), f"{rss.get(n, float('nan')):.2f}",
                 r["ours"]["logdet"]]
        lines.append("| " + " | ".join(cells) + " |")
    common = [n for n, r in results.items() if all("s" in r[p] for p in ("spreg", "splm"))]
    lines.append(_slope_row(results, list(results), "log-log slope, all sizes"))
    if common and common != list(results):
        lines.append(_slope_row(results, common, f"log-log slope, N = {common[0]:,}-{common[-1]:,} (shared)"))
    return lines


def _slope_row(results: dict[int, dict], sizes: list[int], label: str) -> str:
    """One table row: each program's log-log slope over ``sizes`` (where it ran)."""
    cells = []
    for p in ("ours", *PEERS):
        pts = [(n, results[n][p]["s"]) for n in sizes if "s" in results[n][p]]
        cells.append(f"{loglog_slope([a for a, _ in pts], [b for _, b in pts]):.2f}")
    return f"| {label} | " + " | ".join(cells) + " | | | |"


def notes(results: dict[int, dict]) -> list[str]:
    """What did not run, and why (timeouts, refusals), one line per program and N."""
    out = []
    for n, r in results.items():
        for p, label in PEERS.items():
            if "skip" in r[p] and not r[p]["skip"].startswith("not run above"):
                out.append(f"- N = {n:,}, {label}: {r[p]['skip']}")
    return out


def section(sizes: list[int], t: int, draws: int, limits: dict[str, int], timeout: float) -> list[str]:
    """The whole comparison: table, slopes, notes; prints progress as each N finishes."""
    warm_up(draws)
    results, rss = {}, {}
    for n in sizes:
        results[n] = run_size(n, t, draws, limits, timeout)
        rss[n] = bench_sdm.run_formula_child(n, t, draws=draws).get("peak_rss_gb", float("nan"))
        print(f"  (N = {n:,} done)", flush=True)
        if n == 2000:
            for peer in ("splm", "spreg"):
                if "s" in results[n][peer]:
                    targets.record(f"sdm2000_{peer}", results[n][peer]["s"] / results[n]["ours"]["s"])
    extra = notes(results)
    return [*table(results, rss), "", *(["Not run or failed:", *extra] if extra else [])]


def big_section(runs: list[tuple[int, str, str]], t: int, draws: int, timeout: float) -> list[str]:
    """Ours alone at large N, each in a fresh process: seconds, peak RSS, data-only RSS."""
    lines = ["| N | fe | method | seconds | peak RSS (GB) | RSS before the fit (GB) | log-det | rho |",
             "|---:|:--|:--|---:|---:|---:|:--|---:|"]
    print("\n".join(lines), flush=True)
    for n, fe, method in runs:
        r = bench_sdm.run_formula_child(n, t, fe, method, draws, timeout)
        if "error" in r:
            lines.append(f"| {n:,} | {fe} | {method} | failed: {r['error']} | | | | |")
        else:
            lines.append(f"| {n:,} | {fe} | {method} | {r['ours_s']:.2f} | {r['peak_rss_gb']:.2f} | "
                         f"{r['rss_before_fit_gb']:.2f} | {r['logdet']} | {r['rho']:.4f} |")
            if f"big{n}_{fe}_{method}_s" in targets.GOALS:
                targets.record(f"big{n}_{fe}_{method}_s", r["ours_s"])
                targets.record(f"big{n}_{fe}_{method}_GB", r["peak_rss_gb"])
        print(lines[-1], flush=True)
    return lines
