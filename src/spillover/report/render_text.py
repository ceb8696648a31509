"""Text renderers of :class:`spillover.report.tables.Table`: LaTeX, HTML and Markdown.

All three read the table's rows and groups; none recomputes a number.
"""

from __future__ import annotations

import html as _html
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from spillover.report.layout import Cell, Row
    from spillover.report.tables import Table

__all__ = ["escape_latex", "escape_markdown", "html", "latex", "markdown"]

# ---------------------------------------------------------------- LaTeX
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "×": r"$\times$",
    "²": r"$^{2}$",
    "ρ": r"$\rho$",
    "λ": r"$\lambda$",
    "σ": r"$\sigma$",
    "β": r"$\beta$",
    "†": r"$^{\dagger}$",
}
_LATEX_TABLE = str.maketrans(_LATEX_SPECIAL)


def escape_latex(text: str) -> str:
    r"""Escape LaTeX's special characters (``\ & % $ # _ { } ~ ^ < >``) and map ×, ², ρ, λ, σ, β, † to math.

    Other Unicode text (e.g. Chinese labels) is kept as it is: compile such
    output with XeLaTeX or LuaLaTeX and ``\usepackage{xeCJK}`` (or the
    ``ctex`` classes).
    """
    return str(text).translate(_LATEX_TABLE)


def _latex_cell(cell: Cell, star_style: str) -> str:
    text = escape_latex(cell.text)
    if cell.stars:
        sup = cell.stars.replace("†", r"\dagger")  # the flag mark (tables.FLAG_MARK), in math mode
        text += rf"\sym{{{sup}}}" if star_style == "sym" else f"$^{{{sup}}}$"
    return text


def latex(table: Table, *, star_style: str = "sup", label: str | None = None, float_env: bool = True) -> str:
    r"""Booktabs LaTeX source of ``table``.

    Parameters
    ----------
    table : Table
    star_style : {"sup", "sym"}
        ``"sup"`` writes stars as ``$^{***}$``; ``"sym"`` as ``\sym{***}``
        (define ``\newcommand{\sym}[1]{\ensuremath{^{#1}}}`` in the preamble,
        as for Stata's esttab).
    label : str, optional
        ``\label{...}`` of the float.
    float_env : bool
        Wrap the tabular in a ``table`` float with ``\caption`` (the title);
        ``False`` gives the bare ``tabular`` and notes, to ``\input`` into
        your own float.

    Returns
    -------
    str
        Needs ``\usepackage{booktabs}``; Chinese labels need xeCJK or ctex
        (XeLaTeX/LuaLaTeX).
    """
    if star_style not in ("sup", "sym"):
        raise ValueError(f"star_style={star_style!r}: choose 'sup' or 'sym'")
    k = len(table.columns)
    lines = ["% Requires \\usepackage{booktabs}; Chinese text needs xeCJK or ctex (XeLaTeX/LuaLaTeX)."]
    if star_style == "sym":
        lines.append("% Requires \\newcommand{\\sym}[1]{\\ensuremath{^{#1}}}")
    if float_env:
        lines += ["\\begin{table}[htbp]", "\\centering"]
        if table.title:
            lines.append(f"\\caption{{{escape_latex(table.title)}}}")
        if label:
            lines.append(f"\\label{{{label}}}")
    lines += [f"\\begin{{tabular}}{{l*{{{k}}}{{c}}}}", "\\toprule"]
    lines.append(" & ".join([""] + [escape_latex(c) for c in table.columns]) + " \\\\")
    for row in table.header_rows:
        lines.append(_latex_row(row, star_style))
    for group in table.body_groups():
        lines.append("\\midrule")
        for row in group:
            if row.subhead:
                lines.append(f"\\multicolumn{{{k + 1}}}{{l}}{{\\textit{{{escape_latex(row.label)}}}}} \\\\")
            else:
                lines.append(_latex_row(row, star_style))
    lines += ["\\bottomrule", "\\end{tabular}"]
    if table.notes:
        lines += ["\\par\\smallskip", "\\begin{minipage}{\\linewidth}\\footnotesize"]
        lines.append(" \\\\\n".join(escape_latex(n) for n in table.notes))
        lines.append("\\end{minipage}")
    if float_env:
        lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def _latex_row(row: Row, star_style: str) -> str:
    return " & ".join([escape_latex(row.label)] + [_latex_cell(c, star_style) for c in row.cells]) + " \\\\"


# ---------------------------------------------------------------- HTML
_RULE_HEAVY = "2px solid #000"
_RULE_LIGHT = "1px solid #000"


def _html_cell(cell: Cell) -> str:
    text = _html.escape(cell.text)
    if cell.stars:
        text += f"<sup>{_html.escape(cell.stars)}</sup>"
    return text


def _html_row(row: Row, *, top_rule: bool = False, bottom_rule: bool = False) -> str:
    rule = f";border-top:{_RULE_LIGHT}" if top_rule else f";border-bottom:{_RULE_LIGHT}" if bottom_rule else ""
    if row.subhead:
        return (f'<tr class="subhead"><td colspan="{len(row.cells) + 1}" style="text-align:left{rule}">'
                f"<em>{_html.escape(row.label)}</em></td></tr>")
    cells = [f'<th scope="row" style="text-align:left;font-weight:normal{rule}">{_html.escape(row.label)}</th>']
    cells += [f'<td style="text-align:center{rule}">{_html_cell(c)}</td>' for c in row.cells]
    return f'<tr class="{row.block}">' + "".join(cells) + "</tr>"


def html(table: Table, *, full: bool = False) -> str:
    """HTML of ``table``: a three-line ``<table>`` (caption = title) followed by the notes.

    Parameters
    ----------
    table : Table
    full : bool
        Return a complete document with ``<meta charset="utf-8">`` (what
        :meth:`Table.write` saves) instead of a fragment.

    Returns
    -------
    str
    """
    head_rows = table.header_rows
    names = "".join(f'<th style="text-align:center">{_html.escape(c)}</th>' for c in table.columns)
    rule = f"border-bottom:{_RULE_LIGHT}" if not head_rows else ""
    out = [
        '<div class="spillover-table">',
        f'<table style="border-collapse:collapse;border-top:{_RULE_HEAVY};border-bottom:{_RULE_HEAVY}">',
    ]
    if table.title:
        out.append(f"<caption>{_html.escape(table.title)}</caption>")
    out.append("<thead>")
    out.append(f'<tr><th style="{rule}"></th>{names}</tr>' if rule else f"<tr><th></th>{names}</tr>")
    for i, row in enumerate(head_rows):
        out.append(_html_row(row, bottom_rule=i == len(head_rows) - 1))
    out.append("</thead>")
    for g, group in enumerate(table.body_groups()):
        out.append(f'<tbody class="group{g}">')
        for i, row in enumerate(group):
            out.append(_html_row(row, top_rule=(i == 0 and g > 0)))
        out.append("</tbody>")
    out.append("</table>")
    for note in table.notes:
        out.append(f'<p class="note" style="font-size:smaller;margin:0">{_html.escape(note)}</p>')
    out.append("</div>")
    body = "\n".join(out) + "\n"
    if not full:
        return body
    title = _html.escape(table.title or "Table")
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


# ---------------------------------------------------------------- Markdown
_MD_SPECIAL = {c: "\\" + c for c in "\\*_|`[]<>"}
_MD_TABLE = str.maketrans(_MD_SPECIAL)


def escape_markdown(text: str) -> str:
    r"""Backslash-escape Markdown's inline specials (``\ * _ | ` [ ] < >``), so stars stay stars."""
    return str(text).translate(_MD_TABLE)


def markdown(table: Table) -> str:
    """GitHub-flavoured Markdown pipe table; title in bold above, notes below.

    Stars are escaped (``\\*\\*\\*``) so they are not read as emphasis.
    """
    lines = []
    if table.title:
        lines += [f"**{escape_markdown(table.title)}**", ""]
    lines.append("| " + " | ".join([""] + [escape_markdown(c) for c in table.columns]) + " |")
    lines.append("|:---|" + ":---:|" * len(table.columns))
    rows = table.header_rows + [r for g in table.body_groups() for r in g]
    for row in rows:
        label = f"*{escape_markdown(row.label)}*" if row.subhead else escape_markdown(row.label)
        lines.append("| " + " | ".join([label] + [escape_markdown(c.full) for c in row.cells]) + " |")
    if table.notes:
        lines.append("")
        lines += [escape_markdown(n) + "  " for n in table.notes]
    return "\n".join(lines).rstrip() + "\n"
