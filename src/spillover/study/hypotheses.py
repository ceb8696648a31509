"""Verdicts on a study's ``[[hypothesis]]`` entries: claim, number, rule and verdict, all from the spec.

Each entry names the number that tests it (a coefficient, an impact, a
mediated effect, a test of equal regional effects or of a threshold) in one
of the study's estimates or analyses, and a rule such as "positive at 5%"
(the estimate has that sign and its two-sided p-value is below the level;
"nonzero" asks only for the p-value; for a test, that it rejects). The
verdict reads the run's numbers, never expectations, and never a point
comparison: every check is a test at the stated level.

* ``supported``: the rule holds in the named estimate and in every
  robustness estimate that counts;
* ``mixed``: it holds in the named estimate but fails in some robustness one;
* ``not supported``: it fails in the named estimate;
* ``not tested``: the number is not in the run, or the named estimate is
  flagged (a bound, a non-converged optimiser, a dynamic estimate outside its
  stable region): a flagged estimate never carries a verdict, and flagged
  robustness estimates are listed but not counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spillover.study.spec import RULE

QUANTITY_TEXT = {"coefficient": "coefficient", "direct": "direct effect", "indirect": "indirect (spillover) effect",
                 "total": "total effect", "mediated": "mediated effect a*b (Sobel test)",
                 "equal_effects": "Wald test of equal effects across regimes",
                 "threshold": "bootstrap test of a first threshold (Hansen 1999)"}

#: What a [[mediation]], [[regime]] or [[threshold]] entry is, for readers (they have no label of their own).
ANALYSIS_TEXT = {"mediated": "Mediation analysis", "equal_effects": "Regime model", "threshold": "Threshold model"}

#: The verdict words, defined for readers of the README.
VERDICT_TEXT = {
    "supported": "the rule holds in the main estimate and in every robustness estimate that counts",
    "mixed": "the rule holds in the main estimate but fails in at least one robustness estimate",
    "not supported": "the rule fails in the main estimate",
    "not tested": "the main number is missing, or its estimate is flagged (at a bound, not converged or outside "
                  "the stable region): a flagged estimate carries no verdict",
}


@dataclass(frozen=True)
class Evidence:
    """One number behind a verdict: value, standard error and p-value, and the tables that show it."""

    value: float
    se: float | None
    p: float
    where: tuple[str, ...] | str = ()
    note: str = ""  # what the value is when not the estimate itself ("short run", "Wald statistic, df 3")

    def text(self) -> str:
        se = f"SE {self.se:.3f}, " if self.se is not None else ""
        return f"{self.value:.3f} ({se}p = {self.p:.3g})"


@dataclass(frozen=True)
class Check:
    """The rule applied to one estimate: its label, the number, any flags and the outcome."""

    entry: str
    label: str
    evidence: Evidence | None
    flags: tuple[str, ...]
    status: str  # "holds", "fails", "not estimated", "flagged"


@dataclass(frozen=True)
class Verdict:
    """A hypothesis, its rule in words, the checks it rests on and the verdict with its reason."""

    name: str
    claim: str
    test: str
    verdict: str
    reason: str
    main: Check
    robustness: tuple[Check, ...]


def tables_of(run, name: str, impacts: bool = False) -> tuple[str, ...]:
    """``tables/NAME.md`` of every table showing entry ``name`` (impact tables first when ``impacts``)."""
    shown = [t for t in run.study.table if name in t.columns]
    if impacts:
        shown = [t for t in shown if t.impacts] or shown
    return tuple(f"tables/{t.name}.md" for t in shown)


def _impact_row(run, name: str, variable: str):
    """(row, note) of ``variable`` in the impacts of ``name``: the static row, else the short-run one."""
    imp = run.impacts.get(name)
    if imp is None:
        return None, ""
    for key, note in ((variable, ""), (f"{variable} (short run)", "short run")):
        if key in imp.table.index:
            return imp.table.loc[key], note
    return None, ""


def evidence(run, source: str, quantity: str, variable: str | None) -> Evidence | None:
    """The number ``quantity`` of ``variable`` in the run's entry ``source``, or None when it is absent."""
    if quantity in ("direct", "indirect", "total"):
        row, note = _impact_row(run, source, variable)
        if row is None:
            return None
        return Evidence(float(row[quantity]), float(row[f"{quantity}_se"]), float(row[f"{quantity}_p"]),
                        tables_of(run, source, impacts=True), note)
    if quantity == "coefficient":
        res = run.estimates.get(source)
        params = getattr(res, "params", None)
        if params is None or variable not in params.index:
            return None
        se = getattr(res, "bse", None)
        se = getattr(res, "std_errors", None) if se is None else se
        return Evidence(float(params[variable]), float(se[variable]), float(res.pvalues[variable]),
                        tables_of(run, source))
    if quantity == "mediated":
        r = run.analyses.get(f"{source}:{variable}")
        if r is None:
            return None
        return Evidence(float(r.indirect), float(r.sobel_se), float(r.sobel_p), (f"tables/{source}_{variable}.md",))
    if quantity == "equal_effects":
        r = run.analyses.get(source)
        if r is None:
            return None
        wb = r.wald_tests.loc["beta"]
        return Evidence(float(wb["stat"]), None, float(wb["p"]), (f"tables/{source}_wald.md",),
                        f"Wald statistic, df {int(wb['df'])}")
    r = run.analyses.get(source)  # threshold
    if r is None or r.pvalues.get("F1") is None:
        return None
    return Evidence(float(r.F["F1"]), None, float(r.pvalues["F1"]), (f"tables/{source}.md",),
                    "F statistic, bootstrap p")


def holds(rule: str, ev: Evidence) -> bool:
    """Whether ``ev`` satisfies ``rule`` ("positive at 5%", "negative at 1%", "nonzero at 10%")."""
    kind, level = re.match(RULE, rule).groups()
    sig = ev.p < float(level) / 100
    return sig and (kind == "nonzero" or (ev.value > 0 if kind == "positive" else ev.value < 0))


def entry_label(run, name: str, quantity: str) -> str:
    """What a reader calls entry ``name``: the estimate's label, or what kind of analysis it is."""
    e = run.study.estimate_by_name().get(name)
    if e is not None:
        return e.label or e.model.upper()
    return ANALYSIS_TEXT.get(quantity, "the analysis")


def _labels(run) -> dict[str, str]:
    labels = dict(run.study.labels.get("en", {}))
    labels.update(run.study.labels.get(run.study.study.language, {}))
    return labels


def rule_text(h, run=None) -> str:
    """The decision rule of hypothesis ``h`` in words, with the study's labels when ``run`` is given."""
    what = QUANTITY_TEXT[h.quantity]
    level = re.match(RULE, h.rule).group(2)
    where = entry_label(run, h.estimate, h.quantity) if run is not None else h.estimate
    if run is not None and h.estimate in run.study.estimate_by_name():
        where = f"estimate \u201c{where}\u201d"
    elif run is not None:
        where = f"the {where[0].lower()}{where[1:]}"
    if h.quantity in ("equal_effects", "threshold"):
        return f"the {what} in {where} rejects at {level}%"
    var = _labels(run).get(h.variable, h.variable) if run is not None else h.variable
    of = f" of *{var}*" if h.quantity != "mediated" else f" through *{var}*"
    return f"the {what}{of} in {where} is {h.rule} (two-sided test)"


def check(run, h, entry: str) -> Check:
    """Apply the rule of ``h`` to ``entry``: a flagged estimate is not judged."""
    flags = tuple(getattr(run.estimates.get(entry), "flags", ()) or ())
    ev = evidence(run, entry, h.quantity, h.variable)
    status = "flagged" if flags else "not estimated" if ev is None else "holds" if holds(h.rule, ev) else "fails"
    return Check(entry, entry_label(run, entry, h.quantity), ev, flags, status)


def _decide(main: Check, rob: tuple[Check, ...]) -> tuple[str, str]:
    if main.status == "flagged":
        return "not tested", f"the main estimate is flagged ({'; '.join(main.flags)})"
    if main.status == "not estimated":
        return "not tested", "the run has no such number in the main estimate"
    if main.status == "fails":
        return "not supported", "the rule fails in the main estimate"
    counted = [c for c in rob if c.status in ("holds", "fails")]
    failed = [c.label for c in counted if c.status == "fails"]
    skipped = [c.label for c in rob if c.status not in ("holds", "fails")]
    tail = f"; not counted: {', '.join(skipped)} (flagged or not estimated)" if skipped else ""
    if failed:
        return "mixed", (f"the rule holds in the main estimate and in {len(counted) - len(failed)} of {len(counted)} "
                         f"robustness estimates; it fails in {', '.join(failed)}{tail}")
    if counted:
        every = "the robustness estimate" if len(counted) == 1 else f"all {len(counted)} robustness estimates"
        return "supported", f"the rule holds in the main estimate and in {every}{tail}"
    return "supported", f"the rule holds in the main estimate (no robustness estimate{tail})"


def verdicts(run) -> list[Verdict]:
    """The :class:`Verdict` of each ``[[hypothesis]]`` of the study, in spec order."""
    out = []
    for h in run.study.hypothesis:
        main = check(run, h, h.estimate)
        rob = tuple(check(run, h, r) for r in h.robustness)
        verdict, reason = _decide(main, rob)
        out.append(Verdict(h.name, h.claim, rule_text(h, run), verdict, reason, main, rob))
    return out


def grid_summaries(run) -> list[str]:
    """One sentence per specification grid: how often its variable's direct effect is significant."""
    labels = _labels(run)
    out = []
    for g in run.study.grid:
        table = getattr(run, "grids", {}).get(g.name)
        if table is None:
            continue
        ok = table["direct"].notna()
        pos = (table["direct"] > 0) & (table["direct_p"] < 0.05)
        neg = (table["direct"] < 0) & (table["direct_p"] < 0.05)
        by_sample = ", ".join(f"{labels.get(s_, s_)} {int(pos[table['sample'] == s_].sum())}/"
                              f"{int(ok[table['sample'] == s_].sum())}" for s_ in dict.fromkeys(table["sample"]))
        se = {"delta": "delta-method", "simulation": "simulated"}[g.impacts.method]
        var = labels.get(g.variable, g.variable)
        out.append(f"{int(ok.sum())} fits ({se} standard errors of the impacts): the direct effect of {var} is "
                   f"positive and significant at 5% in {int(pos.sum())}, negative and significant in {int(neg.sum())}; "
                   f"positive and significant by sample: {by_sample}. "
                   f"[tables/{g.name}.md](tables/{g.name}.md), [figures/{g.name}_direct.png](figures/{g.name}_direct.png)")
    return out
