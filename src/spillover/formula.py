"""The one formula grammar: formulaic (Wilkinson-Rogers) plus ``[endog ~ instruments]``.

Every estimator, test and analysis parses formulas here, so ``I(a + b)``,
``np.log(x)`` or ``a:b`` mean the same everywhere and a typo gets the same
message: the unknown variable and the data's columns, or the syntax error.
The bracket part ``y ~ x + [d ~ z1 + z2]`` (linearmodels' and Stata
``ivregress``'s syntax) names endogenous regressors and their instruments.

``lag(x, k)`` (``k`` = 1 when omitted) is ``x`` of the same unit ``k``
observed periods earlier (:class:`PanelLag`); it is NaN in a unit's first
``k`` periods, which the panel estimators then drop. Inside the IV bracket
``L{k}.v`` (Stata's spelling) means ``lag(v, k)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spillover.errors import SpecificationError, format_error


@dataclass(frozen=True)
class Parsed:
    """A formula split into its dependent variable, exogenous terms and (IV) endogenous terms and instruments."""

    lhs: str
    exog: tuple[str, ...]
    endog: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()


def _bracket(formula: str) -> tuple[str, str | None]:
    """``formula`` without its ``[...]`` part, and that part (None when absent); unbalanced brackets raise."""
    start = formula.find("[")
    if start < 0:
        if "]" in formula:
            raise SpecificationError(format_error(f"formula {formula!r} has ']' without '['", option="formula"))
        return formula, None
    end = formula.find("]", start)
    if end < 0 or "[" in formula[start + 1:end] or "[" in formula[end:]:
        raise SpecificationError(format_error(f"formula {formula!r}: one [endog ~ instruments] part, closed by ']'",
                                              option="formula"))
    left, right = formula[:start].rstrip(), formula[end + 1:].strip()
    if left.endswith("+"):
        left = left[:-1].rstrip()
    elif right.startswith("+"):
        right = right[1:].lstrip()
    joiner = " + " if right and not left.endswith("~") else " "
    return (left + joiner + right).rstrip(), formula[start + 1:end]


def terms(rhs: str, *, what: str = "formula") -> tuple[str, ...]:
    """Formulaic's terms of a right-hand side, intercept excluded (``"a + I(a + b)"`` -> ``("a", "I(a + b)")``)."""
    import formulaic

    try:
        parsed = formulaic.Formula(f"_y ~ {rhs}")
    except Exception as exc:  # noqa: BLE001 -- formulaic's syntax errors carry no common base class
        raise SpecificationError(format_error(f"cannot parse {what} {rhs!r}: {str(exc).splitlines()[0]}",
                                              option="formula", hint="write 'y ~ x1 + x2' (formulaic syntax)")) from None
    return tuple(str(t) for t in parsed.rhs if str(t) not in ("1", "0"))


def parse(formula: str) -> Parsed:
    """Split ``"y ~ x1 + x2"`` or ``"y ~ x1 + [d ~ z1 + z2]"``; SpecificationError naming what is wrong."""
    if not isinstance(formula, str) or "~" not in formula:
        raise SpecificationError(format_error(f"formula {formula!r} needs the form 'y ~ x1 + x2'", option="formula"))
    base, iv = _bracket(formula)
    lhs, _, rhs = base.partition("~")
    if not lhs.strip():
        raise SpecificationError(format_error(f"formula {formula!r} has no dependent variable", option="formula"))
    exog = terms(rhs, what="right-hand side") if rhs.strip() else ()
    if iv is None:
        _check_y_not_regressor(formula, lhs.strip(), exog)
        return Parsed(lhs.strip(), exog)
    endog, _, inst = iv.partition("~")
    if not _ or not endog.strip() or not inst.strip():
        raise SpecificationError(format_error(f"formula {formula!r}: the bracket needs [endog ~ instruments]",
                                              option="formula"))
    _check_y_not_regressor(formula, lhs.strip(), exog + _plain_terms(endog))
    return Parsed(lhs.strip(), exog, _plain_terms(endog), _plain_terms(inst))


class DependentAmongRegressors(SpecificationError):
    """The dependent variable is also a right-hand term (a spec reports it with its file and entry)."""


def _check_y_not_regressor(formula: str, lhs: str, rhs_terms: tuple[str, ...]) -> None:
    """SpecificationError when a right-hand term holds the dependent variable (other than as its ``lag``).

    ``y ~ x + y`` fits y perfectly (zero residual variance); its past value,
    ``lag(y)``, is what a dynamic model takes.
    """
    ys = variables(f"{lhs} ~ 1")
    for term in rhs_terms:
        if "lag(" in term or re.match(r"L\d+\.", term):
            continue
        found = ys & variables(f"_y ~ {term}")
        if found:
            raise DependentAmongRegressors(format_error(
                f"formula {formula!r}: the dependent variable {sorted(found)[0]!r} is also a regressor "
                f"(term {term!r})", option="formula", column=sorted(found)[0],
                hint="remove it from the right-hand side; a dynamic model takes its past value, lag(y)"))


def _plain_terms(text: str) -> tuple[str, ...]:
    """Terms of the bracket, where ``L1.x`` (a lag) is kept as written."""
    return tuple(t.strip() for t in text.split("+") if t.strip() and t.strip() not in ("1", "0"))


_LAG_START = re.compile(r"(?<![\w.])lag\(")


def lag_calls(formula: str) -> list[tuple[str, str | None]]:
    """Each ``lag(...)`` call of ``formula`` as (its text, its second argument or None), nested calls included."""
    calls = []
    for m in _LAG_START.finditer(formula):
        depth, args, start = 0, [], m.end()
        for pos in range(m.end() - 1, len(formula)):
            ch = formula[pos]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth == 0:
                    args.append(formula[start:pos])
                    calls.append((formula[m.start():pos + 1], args[1].strip() if len(args) > 1 else None))
                    break
            elif ch == "," and depth == 1:
                args.append(formula[start:pos])
                start = pos + 1
    return calls


def max_lag(formula: str) -> int:
    """The largest ``k`` of the ``lag(x, k)`` terms of ``formula`` (0 when it has none).

    ``k`` must be a whole number >= 1 written in the formula (``lag(x)``,
    ``lag(x, 2)`` or ``lag(x, k=2)``); anything else is refused here, before
    any column is computed: a lead ``lag(x, -1)`` is not a lag, and
    ``lag(x, 0)`` is ``x`` itself.
    """
    out = 0
    for call, arg in lag_calls(formula):
        text = "1" if arg is None else re.sub(r"^k\s*=\s*", "", arg)
        if not re.fullmatch(r"[+-]?\d+", text):
            raise SpecificationError(format_error(f"{call}: the lag k must be a whole number >= 1", option="formula",
                                                  hint="write lag(x) or lag(x, 2)"))
        k = int(text)
        if k < 1:
            hint = ("a lead (a future value) is not a lag: spatial panel estimators take predetermined "
                    "regressors; if you need x of a later period, make the column yourself, e.g. "
                    "df.groupby(entity)['x'].shift(-1)") if k < 0 else "lag(x, 0) is x itself: write x"
            raise SpecificationError(format_error(f"{call}: the lag k = {k} must be >= 1 (periods back)",
                                                  option="formula", hint=hint))
        out = max(out, k)
    return out


@dataclass(frozen=True)
class PanelLag:
    """``lag(values, k)``: each row's value ``k`` observed periods earlier for the same unit (NaN before).

    ``unit`` and ``period`` are integer codes per row (period codes in time
    order, as :func:`pandas.factorize` with ``sort=True`` gives them); the
    lag is exact on a panel with gaps, since it looks the value up by
    (unit, period - k) rather than shifting rows.
    """

    unit: np.ndarray
    period: np.ndarray

    @classmethod
    def of(cls, data: pd.DataFrame, entity: str, time: str) -> PanelLag:
        from spillover.frame import period_codes

        unit = pd.factorize(data[entity])[0]
        period = period_codes(data[time], time)[0]
        return cls(unit.astype(np.int64), period.astype(np.int64))

    def __call__(self, values, k: int = 1) -> pd.Series:
        k = int(k)
        if k < 1:
            raise SpecificationError(format_error(f"lag(x, {k}): the lag must be a positive integer", option="formula"))
        v = np.asarray(values, dtype=float)
        grid = np.full((self.unit.max() + 1, self.period.max() + 1 + k), -1, dtype=np.int64)
        grid[self.unit, self.period + k] = np.arange(len(v))
        src = grid[self.unit, self.period]
        out = np.where(src >= 0, v[np.maximum(src, 0)], np.nan)
        return pd.Series(out, index=getattr(values, "index", None))


def model_arrays(formula: str, data: pd.DataFrame, *, lag: PanelLag | None = None
                 ) -> tuple[np.ndarray, pd.DataFrame, str]:
    """``(y, X, y_name)`` of ``formula`` on ``data`` (rows kept, NaN where a value is missing).

    ``X`` has formulaic's column names (``Intercept`` included unless the
    formula removes it; ``lag(x, 1)`` as written). Unknown variables and
    syntax errors raise :class:`SpecificationError` naming the variable and
    the data's columns. ``lag`` (a :class:`PanelLag` on ``data``'s rows)
    makes ``lag(x, k)`` available.
    """
    from formulaic import model_matrix

    p = parse(formula)
    if p.endog:
        raise SpecificationError(format_error("the bracket syntax [endog ~ instruments] is for IV estimators",
                                              option="formula", hint="use spillover.panel.fit_iv_formula"))
    if max_lag(formula) and lag is None:  # max_lag checks every k; without a panel formulaic's lag shifts rows
        raise SpecificationError(format_error(f"formula {formula!r}: lag() needs a panel (entity and time)",
                                              option="formula"))
    _check_numeric(formula, data)
    try:
        mm = model_matrix(formula, data, na_action="ignore", context={"lag": lag} if lag is not None else {})
    except Exception as exc:  # noqa: BLE001 -- formulaic's evaluation errors: name the missing variable
        missing = sorted(variables(formula) - set(map(str, data.columns)) - {"lag"})
        what = f"variable(s) {missing} not in the data" if missing else str(exc).splitlines()[0]
        raise SpecificationError(format_error(f"formula {formula!r}: {what}", option="formula",
                                              hint=f"columns: {sorted(map(str, data.columns))[:40]}")) from None
    lhs = np.asarray(mm.lhs, dtype=float)
    if lhs.ndim == 2 and lhs.shape[1] != 1:
        raise SpecificationError(format_error("the formula must have one dependent variable", option="formula"))
    rhs = pd.DataFrame(np.asarray(mm.rhs, dtype=float), columns=list(mm.rhs.columns))
    return lhs.ravel(), rhs, str(mm.lhs.columns[0])


def _check_numeric(formula: str, data: pd.DataFrame) -> None:
    """A text column in a formula is an error (formulaic would silently expand it into dummies), unless C(x)."""
    for var in sorted(variables(formula)):
        if var not in data.columns or re.search(rf"\bC\(\s*{re.escape(var)}\s*[,)]", formula):
            continue
        col = data[var]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            continue
        bad = col[pd.to_numeric(col, errors="coerce").isna() & col.notna()]
        example = f"; first non-number {bad.iloc[0]!r} in row {bad.index[0]}" if len(bad) else ""
        raise SpecificationError(format_error(f"formula {formula!r}: column {var!r} is not numeric "
                                              f"({col.dtype}){example}", column=var,
                                              hint="fix the values (a decimal comma? a unit in the cell?), or "
                                                   f"write C({var}) for a categorical variable"))


def variables(formula: str) -> set[str]:
    """The data columns ``formula`` reads (``np.log(x) ~ I(a + b) + [d ~ L1.z]`` -> ``{"x", "a", "b", "d", "z"}``).

    Empty when the formula does not parse.
    """
    import formulaic

    text = re.sub(r"\bL(\d+)\.([A-Za-z_]\w*)", r"lag(\2, \1)", formula)
    try:
        base, iv = _bracket(text)
        found: set[str] = set()
        for part in [base] + ([iv.replace("~", "+")] if iv else []):
            f = part if "~" in part else f"_y ~ {part}"
            found |= {str(v) for v in formulaic.Formula(f).required_variables}
    except Exception:  # noqa: BLE001
        return set()
    found.discard("_y")
    return found - {"lag"} if "lag(" in text else found