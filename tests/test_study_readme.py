"""results/README.md: verdict rules (flagged estimates never carry one), links that open, labels not names."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from spillover.study.hypotheses import Check, Evidence, _decide, holds
from spillover.study.runner import run_study

ROOT = Path(__file__).resolve().parents[1]


def _check(status: str, label: str = "E", flags: tuple[str, ...] = ()) -> Check:
    ev = None if status == "not estimated" else Evidence(0.4, 0.1, 0.001 if status == "holds" else 0.3)
    return Check(label.lower(), label, ev, flags, "flagged" if flags else status)


@pytest.mark.parametrize(("main", "rob", "verdict"), [
    (_check("holds"), (), "supported"),
    (_check("holds"), (_check("holds"), _check("holds")), "supported"),
    (_check("holds"), (_check("holds"), _check("fails", "B")), "mixed"),
    (_check("fails"), (_check("holds"),), "not supported"),
    (_check("not estimated"), (), "not tested"),
    # a flagged main estimate carries no verdict, whatever its number says
    (_check("holds", flags=("outside the stable region",)), (_check("holds"),), "not tested"),
    # a flagged robustness estimate is listed but not counted: it cannot make a verdict mixed
    (_check("holds"), (_check("holds"), _check("fails", "Dyn", flags=("at a bound",))), "supported"),
])
def test_verdict_rules(main, rob, verdict):
    got, reason = _decide(main, rob)
    assert got == verdict
    if any(c.flags for c in rob):
        assert "not counted: Dyn" in reason


def test_rule_holds_is_a_two_sided_test_at_the_stated_level():
    ev = Evidence(0.2, 0.1, 0.049)
    assert holds("positive at 5%", ev) and not holds("positive at 1%", ev) and not holds("negative at 5%", ev)
    assert not holds("positive at 5%", Evidence(0.2, 0.1, 0.05))  # p below the level, not equal


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    out = tmp_path_factory.mktemp("us")
    run = run_study(ROOT / "models" / "examples" / "us_income", out, figures=False)
    return run, out, (out / "README.md").read_text(encoding="utf-8")


def test_every_readme_link_opens(example):
    _, out, text = example
    targets = re.findall(r"\]\(([^)]+)\)", text)
    assert len(targets) > 20
    missing = [t for t in targets if not (out / t).exists() and not t.startswith("montecarlo/")]
    assert not missing
    assert not re.search(r"\[tables/[^\]]*\](?!\()", text), "a bracketed path that is not a link"


def test_readme_states_question_data_weights_and_rules(example):
    run, _, text = example
    heads = re.findall(r"^## (.+)$", text, flags=re.M)
    assert heads[:5] == ["Question", "Data", "Variables", "Spatial weights", "Hypotheses"]
    assert run.study.study.question in text
    n, t = run.panel["STATE_FIPS"].nunique(), run.panel["year"].nunique()
    assert f"{n} states, {t} periods" in text
    for label in ("Queen contiguity", "kNN, k = 4"):
        assert f"| {label} |" in text
    # the weights table reads the matrices' own numbers
    w = run.weights["queen"]
    assert f"| {sum(w.cardinalities.values()) / w.n:.2f} |" in text


def test_hypothesis_blocks_show_each_checked_number_with_labels_not_names(example):
    run, _, text = example
    for h in run.study.hypothesis:
        block = text.split(f"### {h.name}: ", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        table = [ln for ln in block.splitlines() if ln.startswith("| ") and "Estimate" not in ln]
        assert len(table) == 1 + len(h.robustness)
        for entry, row in zip([h.estimate, *h.robustness], table, strict=True):
            imp = run.impacts[entry].table.loc[h.variable]
            assert f"| {imp[h.quantity]:.3f} | {imp[h.quantity + '_se']:.3f} |" in row
            spec = run.study.estimate_by_name()[entry]
            assert row.startswith(f"| {spec.label} |")
        prose = re.sub(r"\[[^\]]*\]\([^)]*\)", "", block)  # file names may carry entry names; prose may not
        for name in [*run.study.estimate_by_name(), *run.study.weights]:
            assert not re.search(rf"\b{re.escape(name)}\b", prose), (name, h.name)
        assert h.variable not in prose.replace(f"*{run.study.labels['en'][h.variable]}*", "")


def test_flagged_main_estimate_gets_no_verdict(example):
    from spillover.study.hypotheses import verdicts

    run, _, _ = example
    h = run.study.hypothesis[0]
    res = run.estimates[h.estimate]
    flagged = SimpleNamespace(**{k: getattr(res, k) for k in ("params", "pvalues")}, flags=("rho at its bound",))
    fake = SimpleNamespace(study=run.study, estimates={**run.estimates, h.estimate: flagged}, impacts=run.impacts,
                           analyses=run.analyses, weights=run.weights)
    v = verdicts(fake)[0]
    assert v.verdict == "not tested" and "rho at its bound" in v.reason
    assert pd.notna(v.main.evidence.value)  # the number is there; the flag, not its absence, withholds the verdict
