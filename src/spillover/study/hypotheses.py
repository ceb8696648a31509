"""Verdicts on a study's ``[[hypothesis]]`` entries: claim, number, rule and verdict, all from the spec.

Each entry names the number that tests it (a coefficient, an impact, a
mediated effect, a test of equal regional effects or of a threshold, the
OLS trend of a per-period gap or dispersion series) in one of the study's
estimates or analyses, and a rule such as "positive at 5%"
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

from pathlib import Path

import re
from dataclasses import dataclass

from spillover.study.spec import RULE

QUANTITY_TEXT = {"coefficient": "coefficient", "direct": "direct effect", "indirect": "indirect (spillover) effect",
                 "total": "total effect", "mediated": "mediated effect a*b (Sobel test)",
                 "equal_effects": "Wald test of equal effects across regimes",
                 "threshold": "bootstrap test of a first threshold (Hansen 1999)", "trend": "OLS trend per period"}

#: What a [[mediation]], [[regime]] or [[threshold]] entry is, for readers (they have no label of their own).
ANALYSIS_TEXT = {"mediated": "Mediation analysis", "equal_effects": "Regime model", "threshold": "Threshold model",
                 "gaps": "Regional-gap analysis", "convergence": "Convergence analysis"}

#: The per-period series a ``quantity = "trend"`` hypothesis reads (spillover.study.spec.TREND_MEASURES), in words.
MEASURE_TEXT = {"G": "Dagum Gini", "G_w": "within-group part of the Dagum Gini",
                "G_nb": "net between-group part of the Dagum Gini", "G_t": "transvariation part of the Dagum Gini",
                "share_w": "within-group share of the Dagum Gini",
                "share_nb": "net between-group share of the Dagum Gini",
                "share_t": "transvariation share of the Dagum Gini", "T": "Theil index",
                "theil_within": "within-group part of the Theil index",
                "theil_between": "between-group part of the Theil index", "cv": "coefficient of variation",
                "gini": "Gini coefficient"}

#: The verdict words, defined for readers of the README.
VERDICT_TEXT = {
    "supported": "the rule holds in the main estimate and in every robustness estimate that counts",
    "mixed": "the rule holds in the main estimate but fails in at least one robustness estimate",
    "not supported": "the rule fails in the main estimate",
    "not tested": "the main number is missing, or its estimate is flagged (at a bound, not converged or outside "
                  "the stable region): a flagged estimate carries no verdict",
}

#: Everything above and the rule and reason templates, by language (``"en"`` is the source).
TEXT: dict[str, dict] = {
    "en": {"quantity": QUANTITY_TEXT, "analysis": ANALYSIS_TEXT, "verdict_text": VERDICT_TEXT, "measure": MEASURE_TEXT,
           "rule_trend": "the {what} of the {measure} of *{var}* in {where}, {years}, is {rule} (two-sided t-test)",
           "years": "{0}-{1}", "all_years": "all periods",
           "verdict": {v: v for v in VERDICT_TEXT},
           "status": {"holds": "holds", "fails": "fails", "not estimated": "not estimated", "flagged": "flagged"},
           "estimate": "estimate \u201c{0}\u201d", "analysis_ref": "the {0}",
           "rule_test": "the {what} in {where} rejects at {level}%",
           "rule_of": "the {what} of *{var}* in {where} is {rule} (two-sided test)",
           "rule_through": "the {what} through *{var}* in {where} is {rule} (two-sided test)",
           "rule": {"positive": "positive at {0}%", "negative": "negative at {0}%", "nonzero": "nonzero at {0}%"},
           "why_flagged": "the main estimate is flagged ({0})",
           "why_missing": "the run has no such number in the main estimate",
           "why_fails": "the rule fails in the main estimate",
           "why_mixed": "the rule holds in the main estimate and in {held} of {n} robustness estimates; it fails in "
                        "{failed}{tail}",
           "why_all": "the rule holds in the main estimate and in all {n} robustness estimates{tail}",
           "why_one": "the rule holds in the main estimate and in the robustness estimate{tail}",
           "why_none": "the rule holds in the main estimate (no robustness estimate{tail})",
           "why_tail": "; not counted: {0} (flagged or not estimated)", "sep": ", ",
           "grid": "{n} fits ({se} standard errors of the impacts): the direct effect of {var} is positive and "
                   "significant at 5% in {pos}, negative and significant in {neg}; positive and significant by "
                   "sample: {by}.", "grid_se": {"delta": "delta-method", "simulation": "simulated"}},
    "zh": {"quantity": {"coefficient": "系数", "direct": "直接效应", "indirect": "间接（溢出）效应", "total": "总效应",
                        "mediated": "中介效应a*b（Sobel检验）", "equal_effects": "各区制效应相等的Wald检验",
                        "threshold": "首个门槛的自助法检验（Hansen 1999）", "trend": "逐期OLS趋势"},
           "analysis": {"mediated": "中介效应分析", "equal_effects": "区制模型", "threshold": "门槛模型",
                        "gaps": "区域差异分析", "convergence": "收敛性分析"},
           "measure": {"G": "Dagum基尼系数", "G_w": "Dagum基尼系数的组内差异", "G_nb": "Dagum基尼系数的组间净差异",
                       "G_t": "Dagum基尼系数的超变密度", "share_w": "组内差异占Dagum基尼系数的比重",
                       "share_nb": "组间净差异占Dagum基尼系数的比重", "share_t": "超变密度占Dagum基尼系数的比重",
                       "T": "泰尔指数", "theil_within": "泰尔指数的组内差异", "theil_between": "泰尔指数的组间差异",
                       "cv": "变异系数", "gini": "基尼系数"},
           "rule_trend": "{where}中*{var}*的{measure}在{years}的{what}{rule}（双侧t检验）",
           "years": "{0}-{1}年", "all_years": "全部时期",
           "verdict_text": {
               "supported": "规则在主估计及所有计入的稳健性估计中均成立",
               "mixed": "规则在主估计中成立，但在至少一个稳健性估计中不成立",
               "not supported": "规则在主估计中不成立",
               "not tested": "主估计缺少该数值，或主估计被标记（参数处于边界、未收敛或位于平稳域之外）：被标记的估计不作结论"},
           "verdict": {"supported": "支持", "mixed": "部分支持", "not supported": "不支持", "not tested": "未检验"},
           "status": {"holds": "成立", "fails": "不成立", "not estimated": "未估计", "flagged": "被标记"},
           "estimate": "估计\u201c{0}\u201d", "analysis_ref": "{0}",
           "rule_test": "{where}中的{what}在{level}%水平上拒绝原假设",
           "rule_of": "{where}中*{var}*的{what}{rule}（双侧检验）",
           "rule_through": "{where}中经由*{var}*的{what}{rule}（双侧检验）",
           "rule": {"positive": "在{0}%水平上显著为正", "negative": "在{0}%水平上显著为负",
                    "nonzero": "在{0}%水平上显著不为零"},
           "why_flagged": "主估计被标记（{0}）", "why_missing": "本次运行的主估计中没有该数值",
           "why_fails": "规则在主估计中不成立",
           "why_mixed": "规则在主估计中成立，在{n}个稳健性估计中的{held}个中成立；在{failed}中不成立{tail}",
           "why_all": "规则在主估计及全部{n}个稳健性估计中成立{tail}",
           "why_one": "规则在主估计及该稳健性估计中成立{tail}",
           "why_none": "规则在主估计中成立（无稳健性估计{tail}）",
           "why_tail": "；未计入：{0}（被标记或未估计）", "sep": "、",
           "grid": "共{n}个设定（效应标准误：{se}）：{var}的直接效应在{pos}个设定中在5%水平上显著为正，在{neg}个设定中显著为负；"
                   "各样本中显著为正的设定数：{by}。", "grid_se": {"delta": "delta方法", "simulation": "模拟"}},
}


def _text(run) -> dict:
    return TEXT.get(getattr(run, "lang", "en") if run is not None else "en", TEXT["en"])


def _tr(run):
    from spillover.study.runner import spec_text

    return spec_text(run)


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


def trend_evidence(run, source: str, variable: str | None, measure: str, years=None) -> Evidence | None:
    """The OLS trend (:func:`spillover.analysis.trend`) of a [[gaps]] or [[convergence]] entry's series ``measure``."""
    from spillover.analysis import trend

    time = run.study.data.time
    gaps, conv = run.analyses.get(f"gaps:{source}"), run.analyses.get(f"convergence:{source}")
    if gaps is not None and variable in gaps.dagum:
        series = gaps.series(variable, measure, time)
        where = f"tables/{source}_{'theil' if measure in ('T', 'theil_within', 'theil_between', 'cv') else 'dagum'}.md"
    elif conv is not None and f"sigma_{measure}" in conv:
        series, where = conv[f"sigma_{measure}"].table, f"tables/{source}_sigma.md"
    else:
        return None
    fit = trend(series, measure, time, years)
    return Evidence(fit.slope, fit.se, fit.p, (where,), f"trend per period, {fit.first}-{fit.last}")


def evidence(run, source: str, quantity: str, variable: str | None, measure: str | None = None,
             years=None) -> Evidence | None:
    """The number ``quantity`` of ``variable`` in the run's entry ``source``, or None when it is absent."""
    if quantity == "trend":
        return trend_evidence(run, source, variable, measure, years)
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
        return _tr(run)(e.label or e.model.upper())
    if quantity == "trend":
        quantity = "gaps" if name in {g.name for g in run.study.gaps} else "convergence"
    return _text(run)["analysis"].get(quantity, "the analysis")


def _labels(run) -> dict[str, str]:
    from spillover.study.runner import variable_labels

    return variable_labels(run)


def rule_text(h, run=None) -> str:
    """The decision rule of hypothesis ``h`` in words, with the study's labels when ``run`` is given."""
    t = _text(run)
    what = t["quantity"][h.quantity]
    kind, level = re.match(RULE, h.rule).groups()
    where = entry_label(run, h.estimate, h.quantity) if run is not None else h.estimate
    if run is not None and h.estimate in run.study.estimate_by_name():
        where = t["estimate"].format(where)
    elif run is not None:
        where = t["analysis_ref"].format(where[0].lower() + where[1:] if t is TEXT["en"] else where)
    if h.quantity in ("equal_effects", "threshold"):
        return t["rule_test"].format(what=what, where=where, level=level)
    var = _labels(run).get(h.variable, h.variable) if run is not None else h.variable
    if h.quantity == "trend":
        for c in (getattr(run.study, "convergence", []) if run is not None else []):
            if c.name == h.estimate and not h.variable:
                var = _labels(run).get(c.variable, c.variable)
        years = t["years"].format(*h.years) if h.years else t["all_years"]
        return t["rule_trend"].format(what=what, measure=t["measure"].get(h.measure, h.measure), var=var,
                                      where=where, years=years, rule=t["rule"][kind].format(level))
    key = "rule_through" if h.quantity == "mediated" else "rule_of"
    return t[key].format(what=what, var=var, where=where, rule=t["rule"][kind].format(level))


def check(run, h, entry: str) -> Check:
    """Apply the rule of ``h`` to ``entry``: a flagged estimate is not judged."""
    flags = tuple(getattr(run.estimates.get(entry), "flags", ()) or ())
    ev = evidence(run, entry, h.quantity, h.variable, getattr(h, "measure", None), getattr(h, "years", None))
    status = "flagged" if flags else "not estimated" if ev is None else "holds" if holds(h.rule, ev) else "fails"
    return Check(entry, entry_label(run, entry, h.quantity), ev, flags, status)


def _decide(main: Check, rob: tuple[Check, ...], t: dict | None = None, tr=None) -> tuple[str, str]:
    """(verdict, reason in words) from the main check and the robustness checks (see the module docstring)."""
    t, tr = t or TEXT["en"], tr or (lambda text: text)
    if main.status == "flagged":
        return "not tested", t["why_flagged"].format("; ".join(tr(f) for f in main.flags))
    if main.status == "not estimated":
        return "not tested", t["why_missing"]
    if main.status == "fails":
        return "not supported", t["why_fails"]
    counted = [c for c in rob if c.status in ("holds", "fails")]
    failed = [c.label for c in counted if c.status == "fails"]
    skipped = [c.label for c in rob if c.status not in ("holds", "fails")]
    tail = t["why_tail"].format(t["sep"].join(skipped)) if skipped else ""
    if failed:
        return "mixed", t["why_mixed"].format(held=len(counted) - len(failed), n=len(counted),
                                              failed=t["sep"].join(failed), tail=tail)
    if counted:
        return "supported", t["why_one" if len(counted) == 1 else "why_all"].format(n=len(counted), tail=tail)
    return "supported", t["why_none"].format(tail=tail)


def verdicts(run) -> list[Verdict]:
    """The :class:`Verdict` of each ``[[hypothesis]]`` of the study, in spec order."""
    out = []
    for h in run.study.hypothesis:
        main = check(run, h, h.estimate)
        rob = tuple(check(run, h, r) for r in h.robustness)
        verdict, reason = _decide(main, rob, _text(run), _tr(run))
        out.append(Verdict(h.name, h.claim, rule_text(h, run), verdict, reason, main, rob))
    return out


def grid_summaries(run) -> list[tuple[str, tuple[str, ...]]]:
    """Per specification grid: a sentence on how often its variable's direct effect is significant, and the
    files (relative to the results folder) that show it."""
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
        t = _text(run)
        var = labels.get(g.variable, g.variable)
        out.append((t["grid"].format(n=int(ok.sum()), se=t["grid_se"][g.impacts.method], var=var,
                                     pos=int(pos.sum()), neg=int(neg.sum()), by=by_sample),
                    (f"tables/{g.name}.md",
                     *[f for f in (f"figures/{g.name}_direct.png",)
                       if (Path(run.out) / getattr(run, "render_dir", "") / f).exists()])))  # this rendering's
    return out
