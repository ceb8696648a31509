"""Verdicts on a study's ``[[hypothesis]]`` entries: claim, number, rule and verdict, all from the spec.

Each entry names the number that tests it (a coefficient, an impact, a
mediated effect, a test of equal regional effects or of a threshold) in one
of the study's estimates or analyses, and a rule such as "positive at 5%"
(the estimate has that sign and its two-sided p-value is below the level;
"nonzero" asks only for the p-value; for a test, that it rejects). The
verdict reads the run's numbers, never expectations:

* ``supported``: the rule holds in the named estimate and in every
  ``robustness`` estimate;
* ``mixed``: it holds in the named estimate but fails in some robustness one;
* ``not supported``: it fails in the named estimate;
* ``not tested``: the number is not in the run (e.g. no impacts).

The results README states each hypothesis, its rule in words, the numbers
and the verdict, with links to the tables they come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from spillover.study.spec import RULE

QUANTITY_TEXT = {"coefficient": "coefficient", "direct": "direct effect", "indirect": "indirect (spillover) effect",
                 "total": "total effect", "mediated": "mediated effect a*b (Sobel test)",
                 "equal_effects": "Wald test of equal effects across regimes",
                 "threshold": "bootstrap test of a first threshold (Hansen 1999)"}


@dataclass(frozen=True)
class Evidence:
    """One number behind a verdict: value, standard error and p-value, where it is shown."""

    value: float
    se: float | None
    p: float
    where: str

    def text(self) -> str:
        se = f"SE {self.se:.3f}, " if self.se is not None else ""
        return f"{self.value:.3f} ({se}p = {self.p:.3g}) [{self.where}]"


def _tables_of(run, name: str) -> str:
    shown = [f"tables/{t.name}.md" for t in run.study.table if name in t.columns]
    return ", ".join(shown) or "not tabulated"


def _impact_row(run, name: str, variable: str):
    imp = run.impacts.get(name)
    if imp is None:
        return None
    for key in (variable, f"{variable} (short run)"):
        if key in imp.table.index:
            return imp.table.loc[key]
    return None


def evidence(run, source: str, quantity: str, variable: str | None) -> Evidence | None:
    """The number ``quantity`` of ``variable`` in the run's entry ``source``, or None when it is absent."""
    if quantity in ("direct", "indirect", "total"):
        row = _impact_row(run, source, variable)
        if row is None:
            return None
        return Evidence(float(row[quantity]), float(row[f"{quantity}_se"]), float(row[f"{quantity}_p"]),
                        _tables_of(run, source))
    if quantity == "coefficient":
        res = run.estimates.get(source)
        params = getattr(res, "params", None)
        if params is None or variable not in params.index:
            return None
        se = getattr(res, "bse", None)
        se = getattr(res, "std_errors", None) if se is None else se
        return Evidence(float(params[variable]), float(se[variable]), float(res.pvalues[variable]),
                        _tables_of(run, source))
    if quantity == "mediated":
        r = run.analyses.get(f"{source}:{variable}")
        if r is None:
            return None
        return Evidence(float(r.indirect), float(r.sobel_se), float(r.sobel_p), f"tables/{source}_{variable}.md")
    if quantity == "equal_effects":
        r = run.analyses.get(source)
        if r is None:
            return None
        wb = r.wald_tests.loc["beta"]
        return Evidence(float(wb["stat"]), None, float(wb["p"]), f"tables/{source}_wald.md")
    r = run.analyses.get(source)  # threshold
    if r is None or r.pvalues.get("F1") is None:
        return None
    return Evidence(float(r.F["F1"]), None, float(r.pvalues["F1"]), f"tables/{source}.md")


def holds(rule: str, ev: Evidence) -> bool:
    """Whether ``ev`` satisfies ``rule`` ("positive at 5%", "negative at 1%", "nonzero at 10%")."""
    kind, level = re.match(RULE, rule).groups()
    sig = ev.p < float(level) / 100
    return sig and (kind == "nonzero" or (ev.value > 0 if kind == "positive" else ev.value < 0))


def _label(run, name: str) -> str:
    e = run.study.estimate_by_name().get(name)
    return (e.label or name) if e is not None else name


def rule_text(h) -> str:
    """The decision rule of hypothesis ``h`` in words."""
    what = QUANTITY_TEXT[h.quantity]
    if h.quantity in ("equal_effects", "threshold"):
        level = re.match(RULE, h.rule).group(2)
        return f"the {what} in {h.estimate!r} rejects at {level}%"
    of = f" of {h.variable}" if h.quantity != "mediated" else f" of {h.variable} as mediator"
    return f"the {what}{of} in {h.estimate!r} is {h.rule} (two-sided)"


def verdicts(run) -> list[tuple[str, str, str]]:
    """(hypothesis, verdict, explanation) for each ``[[hypothesis]]`` of the study, in spec order."""
    out = []
    for h in run.study.hypothesis:
        main = evidence(run, h.estimate, h.quantity, h.variable)
        head = f"{h.claim}. Rule: {rule_text(h)}."
        if main is None:
            out.append((h.name, "not tested", f"{head} The run has no {QUANTITY_TEXT[h.quantity]} for it."))
            continue
        ok = holds(h.rule, main)
        text = f"{head} Found in {_label(run, h.estimate)}: {main.text()}."
        checks = []
        for r in h.robustness:
            ev = evidence(run, r, h.quantity, h.variable)
            checks.append((r, ev, ev is not None and holds(h.rule, ev)))
        if checks:
            text += " Robustness: " + "; ".join(
                f"{_label(run, r)} {'holds' if good else 'fails'}" + (f", {ev.text()}" if ev else ", not estimated")
                for r, ev, good in checks) + "."
        verdict = "not supported" if not ok else ("mixed" if not all(good for _, _, good in checks) else "supported")
        out.append((h.name, verdict, text))
    return out


def _study_folder(run) -> str:
    """The study folder as a user types it: relative to the repository (or the current folder) when inside it."""
    import os

    folder = Path(run.paths.folder)
    for base in (*[p for p in folder.parents if (p / ".git").exists()][:1], Path.cwd()):
        try:
            return folder.relative_to(base).as_posix() + "/"
        except ValueError:
            continue
    return os.path.relpath(folder).replace(os.sep, "/") + "/"


def write_readme(run) -> Path:
    """Write ``results/README.md``: the verdicts first, then an index of every output."""
    lines = [f"# Results: {run.study.study.title or run.study.study.name}", ""]
    folder = _study_folder(run)
    lines.append(f"Generated by `spillover replicate {folder}` (see manifest.json for inputs, versions, seeds and "
                 f"timings); `spillover verify {folder}` reruns the study and compares every number in numbers.csv.")
    found = verdicts(run)
    if found:
        lines += ["", "## Hypotheses", "", "Each hypothesis, its decision rule and the numbers it reads are stated "
                  "in the study's [[hypothesis]] entries; the rule is applied to this run's estimates."]
        lines += [""] + [f"- **{h}: {verdict}.** {why}" for h, verdict, why in found]
    grids = grid_summaries(run)
    if grids:
        lines += ["", "## Specification grids", ""] + [f"- {g}" for g in grids]
    for name, s in run.diagnostics.items():
        lines += ["", f"Specification tests ({name}): the Elhorst sequence points to **{s.chosen}**. {s.reason} "
                  f"[tables/{name}.md]"]
    lines += _flagged_section(run)
    lines += ["", "## Outputs", ""]
    rels = sorted({p.relative_to(run.out).as_posix() for p in run.files if p.exists()} - {"README.md"})
    for rel in rels:
        lines.append(f"- [{rel}]({rel})")
    designs = sorted((Path(run.paths.folder) / "montecarlo").glob("*.toml"))
    if designs:
        lines += ["", "Monte Carlo designs of this study (simulated data; written by `spillover montecarlo "
                  "DESIGN.toml --out results/montecarlo`, not by `replicate`, and not compared by `verify`):", ""]
        lines += [f"- {d.stem}: " + ", ".join(f"[montecarlo/{d.stem}.{ext}](montecarlo/{d.stem}.{ext})"
                                              for ext in ("csv", "md", "png")) for d in designs]
    lines.append("")
    path = run.write_text("README.md", "\n".join(lines))
    return path


def _flagged_section(run) -> list[str]:
    """Estimates whose optimum is not clean (``res.flags``), as marked with † in every table they feed."""
    from spillover.report.tables import FLAG_MARK

    specs = run.study.estimate_by_name()
    flagged = [(n, tuple(getattr(r, "flags", ()) or ())) for n, r in run.estimates.items()]
    flagged = [(n, f) for n, f in flagged if f]
    if not flagged:
        return ["", "Every estimate converged to an interior optimum (no table cell is marked "
                f"{FLAG_MARK})."]
    out = ["", f"## Flagged estimates ({FLAG_MARK} in the tables)", ""]
    tables = {n: [t.name for t in run.study.table if n in t.columns] for n, _ in flagged}
    for n, f in flagged:
        where = ", ".join(f"tables/{t}" for t in tables[n]) or "no table"
        out.append(f"- {specs[n].label or n}: {'; '.join(f)} [{where}]")
    return out


def grid_summaries(run) -> list[str]:
    """One sentence per specification grid: how often its variable's direct effect is significant."""
    out = []
    for g in run.study.grid:
        table = getattr(run, "grids", {}).get(g.name)
        if table is None:
            continue
        ok = table["direct"].notna()
        pos = (table["direct"] > 0) & (table["direct_p"] < 0.05)
        neg = (table["direct"] < 0) & (table["direct_p"] < 0.05)
        by_sample = ", ".join(f"{s_} {int(pos[table['sample'] == s_].sum())}/{int(ok[table['sample'] == s_].sum())}"
                              for s_ in dict.fromkeys(table["sample"]))
        out.append(f"{g.name} ({int(ok.sum())} fits, {g.impacts.method} standard errors): the direct effect of "
                   f"{g.variable} is positive and significant at 5% in {int(pos.sum())}, negative and significant "
                   f"in {int(neg.sum())}; positive and significant by sample: {by_sample} "
                   f"[tables/{g.name}.md, figures/{g.name}_direct.png].")
    return out
