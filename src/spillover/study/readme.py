"""``results/README.md``: what a reader needs to judge the study without opening the code.

In order: the question; the data (units, periods, sources, corrections,
composite indices and their weights); the variables with their labels; the
spatial weights; each hypothesis with its test, rule, the numbers it rests on
and the verdict (:mod:`spillover.study.hypotheses`); the specification tests
and grids; flagged estimates; an index of every output. Every path is a
Markdown link that opens from the README's folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from spillover.study.hypotheses import VERDICT_TEXT, Verdict, grid_summaries, verdicts


def link(rel: str) -> str:
    """``rel`` (relative to the results folder) as a Markdown link."""
    return f"[{rel}]({rel})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    cells = [[str(c).replace("|", "\\|") for c in r] for r in rows]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in cells]


def _labels(run) -> dict[str, str]:
    labels = dict(run.study.labels.get("en", {}))
    labels.update(run.study.labels.get(run.study.study.language, {}))
    return labels


def study_folder(run) -> str:
    """The study folder as a user types it: relative to the repository (or the current folder) when inside it."""
    folder = Path(run.paths.folder)
    for base in (*[p for p in folder.parents if (p / ".git").exists()][:1], Path.cwd()):
        try:
            return folder.relative_to(base).as_posix() + "/"
        except ValueError:
            continue
    return os.path.relpath(folder).replace(os.sep, "/") + "/"


def question_section(run) -> list[str]:
    s = run.study.study
    return ["## Question", "", s.question or s.title or s.name]


def _indicator_names(built) -> dict[str, str]:
    """Readable name of each catalog series and derived column (for index weight tables)."""
    names = {}
    if built is None:
        return names
    for ind in built.catalog.indicator:
        names[ind.id] = ind.name_en
    for _, row in built.derived.iterrows():
        desc = str(row.get("description") or "")
        cut = min([i for i in (desc.find(" ("), desc.find(": "), desc.find(". ")) if i > 0] or [len(desc)])
        names.setdefault(row["name"], desc[:cut].rstrip(".") or row["name"])
    return names


def _index_section(title: str, weights: pd.DataFrame, names: dict[str, str], method: str) -> list[str]:
    rows = []
    for _, r in weights.iterrows():
        rows.append([names.get(r["indicator"], r["indicator"]), str(r.get("dimension", "") or ""),
                     str(r.get("direction", "") or ""), f"{r['weight']:.4f}"])
    return ["", f"{title} ({method}; weights sum to one):", ""] + _table(
        ["Indicator", "Dimension", "Direction", "Weight"], rows)


INDEX_METHOD_TEXT = {"entropy": "entropy weights", "topsis": "entropy-weighted TOPSIS", "pca": "principal components"}


def data_section(run) -> list[str]:
    """Units, periods, sources, corrections and the composite indices with their weights."""
    d, panel, labels = run.study.data, run.panel, _labels(run)
    n, years = panel[d.entity].nunique(), sorted(panel[d.time].unique())
    out = ["## Data", "", f"{n} {d.unit_label}, {len(years)} periods ({years[0]}-{years[-1]}), {len(panel)} "
           f"observations; the panel as estimated: {link('data/panel.csv')}."]
    built = run.built
    if d.panel:
        out += ["", f"Source file: `{d.panel}`" + (f"; derived columns: " + ", ".join(
            f"`{k} = {v}`" for k, v in d.derive.items()) if d.derive else "") + "."]
    if built is not None:
        used = [i for i in built.catalog.indicator if i.status == "used"]
        pubs = pd.Series([i.publisher for i in used]).value_counts()
        out += ["", f"Raw tables ({built.catalog.title or 'catalog'}): {len(used)} series from "
                f"{len(pubs)} publishers; every series' unit, vintage and citation is in the catalog:", ""]
        out += [f"- {p} ({k} series)" for p, k in pubs.items()]
        cor = built.corrections_frame()
        if len(cor):
            counts = "; ".join(f"{w}: {k}" for w, k in cor["what"].value_counts().sort_index().items())
            out += ["", f"Corrections and flags applied to the raw cells ({len(cor)}, each with its reason in "
                    f"{link('data/corrections.csv')}): {counts}."]
        out += ["", f"Derived variables (formula, unit, definition): {link('data/derived_variables.csv')}."]
        names = _indicator_names(built)
        for name, res in built.indices.items():
            out += _index_section(f"{labels.get(name, name)}", res.weights, names,
                                  INDEX_METHOD_TEXT.get(res.method, res.method))
    for ix in run.study.index:
        res = run.analyses.get(f"index:{ix.name}")
        if res is not None:
            out += _index_section(labels.get(ix.name, ix.name), res.weights, labels,
                                  INDEX_METHOD_TEXT.get(ix.method, ix.method))
    return out


def variables_section(run) -> list[str]:
    """The variables of the tables: label and panel column."""
    labels = _labels(run)
    cols = [c for c in dict.fromkeys([*run.study.data.describe, *labels]) if c in run.panel.columns]
    if not cols:
        return []
    return ["", "## Variables", "", "Labels used in every table, figure and this file, and the panel column "
            "(data/panel.csv) each reads:", ""] + _table(["Label", "Column"], [[labels.get(c, c), f"`{c}`"]
                                                                               for c in cols])


TRANSFORM_TEXT = {"R": "row-standardised", "B": "binary", "D": "doubly standardised", "V": "variance-stabilising",
                  "O": "as built"}

KIND_TEXT = {"contiguity": "contiguity", "inverse_distance": "inverse distance", "distance_band": "distance band",
             "exponential": "exponential distance decay", "knn": "k nearest neighbours",
             "economic": "economic distance", "nested": "economic-geographic nested", "file": "read from a file"}


def weights_section(run) -> list[str]:
    """One row per W: label, kind, links, mean neighbours, islands, transformation; link to the matrix."""
    summary = getattr(run, "weights_summary", None)
    if summary is None or not len(summary):
        return []
    rows = [[r["label"], KIND_TEXT.get(r["kind"], r["kind"]), f"{r['mean_neighbours']:.2f}", str(r["islands"]),
             TRANSFORM_TEXT.get(str(r["transform"]), str(r["transform"])), link(f"weights/{r['weights']}.csv")] for _, r in summary.iterrows()]
    return ["", "## Spatial weights", ""] + _table(
        ["W", "Kind", "Mean neighbours", "Islands", "Transformation", "Matrix"], rows)


def _check_row(run, c, role: str) -> list[str]:
    ev = c.evidence
    spec = run.study.estimate_by_name().get(c.entry)
    w = run.weights[spec.weights].spillover_meta["label"] if spec is not None and spec.weights in run.weights else ""
    what = f"{c.label} ({ev.note})" if ev is not None and ev.note else c.label
    where = ", ".join(link(x) for x in (ev.where if ev else ())) or "not tabulated"
    status = f"flagged: {'; '.join(c.flags)}" if c.status == "flagged" else c.status
    if ev is None:
        return [what, role, w, "", "", "", status, where]
    se = f"{ev.se:.3f}" if ev.se is not None else ""
    return [what, role, w, f"{ev.value:.3f}", se, f"{ev.p:.3g}", status, where]


def hypothesis_block(run, v: Verdict) -> list[str]:
    """One hypothesis: claim, test and rule, the checks as a table, the verdict and why."""
    rows = [_check_row(run, v.main, "main")] + [_check_row(run, c, "robustness") for c in v.robustness]
    return ["", f"### {v.name}: {v.verdict}", "", f"Claim: {v.claim}.", "", f"Test and rule: {v.test}.", ""] + \
        _table(["Estimate", "Role", "W", "Value", "SE", "p", "Rule", "Shown in"], rows) + \
        ["", f"Verdict: **{v.verdict}**: {v.reason}."]


def hypotheses_section(run) -> list[str]:
    found = verdicts(run)
    if not found:
        return []
    out = ["", "## Hypotheses", "", "Each hypothesis is stated in the study's files with the number that tests it "
           "and a decision rule (a two-sided test at the stated level); the rule is applied to this run's numbers. "
           "Verdicts:", ""]
    out += [f"- **{w}**: {t}." for w, t in VERDICT_TEXT.items()]
    for v in found:
        out += hypothesis_block(run, v)
    return out


def _flagged_section(run) -> list[str]:
    """Estimates whose optimum is not clean (``res.flags``), as marked in every table they feed."""
    from spillover.report.tables import FLAG_MARK

    specs = run.study.estimate_by_name()
    flagged = [(n, tuple(getattr(r, "flags", ()) or ())) for n, r in run.estimates.items()]
    flagged = [(n, f) for n, f in flagged if f]
    if not flagged:
        return ["", f"Every estimate converged to an interior optimum (no table cell is marked {FLAG_MARK})."]
    out = ["", f"## Flagged estimates ({FLAG_MARK} in the tables)", "", "A flagged estimate is shown for "
           "completeness and carries no verdict.", ""]
    for n, f in flagged:
        where = ", ".join(link(f"tables/{t.name}.md") for t in run.study.table if n in t.columns) or "no table"
        label = specs[n].label or specs[n].model.upper() if n in specs else n
        out.append(f"- {label}: {'; '.join(f)} ({where})")
    return out


def _outputs_section(run) -> list[str]:
    out = ["", "## Outputs", ""]
    rels = sorted({p.relative_to(run.out).as_posix() for p in run.files if p.exists()} - {"README.md"})
    out += [f"- {link(rel)}" for rel in rels]
    designs = sorted((Path(run.paths.folder) / "montecarlo").glob("*.toml"))
    if designs:
        out += ["", "Monte Carlo designs of this study (simulated data; written by `spillover montecarlo "
                "DESIGN.toml --out results/montecarlo`, not by `replicate`, and not compared by `verify`):", ""]
        out += [f"- {d.stem}: " + ", ".join(link(f"montecarlo/{d.stem}.{ext}") for ext in ("csv", "md", "png"))
                for d in designs]
    return out


def write_readme(run) -> Path:
    """Write ``README.md`` of the run's output folder."""
    folder = study_folder(run)
    lines = [f"# Results: {run.study.study.title or run.study.study.name}", "",
             f"Generated by `spillover replicate {folder}` (inputs, versions, seeds and timings: "
             f"{link('manifest.json')}); `spillover verify {folder}` reruns the study and compares every number "
             f"in {link('numbers.csv')}.", ""]
    lines += question_section(run) + [""] + data_section(run) + variables_section(run) + weights_section(run)
    lines += hypotheses_section(run)
    extra = [f"- Specification tests: the Elhorst (2010) sequence points to **{s.chosen}**. {s.reason} "
             f"({link(f'tables/{name}.md')})" for name, s in run.diagnostics.items()]
    extra += [f"- Specification grid: {g}" for g in grid_summaries(run)]
    if extra:
        lines += ["", "## Specification tests and grids", ""] + extra
    lines += _flagged_section(run) + _outputs_section(run) + [""]
    return run.write_text("README.md", "\n".join(lines))
