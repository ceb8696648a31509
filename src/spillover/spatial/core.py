"""The one optimiser of the spatial likelihoods: bounded search, polish on the score, flags.

Every maximum-likelihood fit of :mod:`spillover.spatial` (static, random
effects, dynamic, unbalanced) maximises a concentrated log-likelihood in one
or two spatial parameters over a box. :func:`maximize` owns the search, the
convergence rule and the flags, so that all models share them.

Why a polish on the score
-------------------------
A search on function values alone stops where the concentrated
log-likelihood is flat to rounding: ``l(p* + d) - l(p*) ~ l'' d^2 / 2`` falls
below ``eps |l|`` once ``|d| ~ sqrt(eps |l| / l'')``, about 1e-8 relative.
Inside that flat band the last digits of the answer follow the last bits of
the function values, which change with the BLAS kernel or the order of the
units. When the problem supplies its score (the analytic derivative of the
concentrated log-likelihood, exact to rounding), Newton steps on the score
(with a secant derivative) move the estimate to the root of the score, which
is determined to rounding (Dennis & Schnabel 1996, sec. 2.2 and 8.1). The
steps are accepted only while they stay near the search's answer (1e-4
relative: a two-parameter Nelder-Mead search can stop 2e-6 away along a flat
direction, e.g. the random-effects variance ratio) and inside the box, and
only when the likelihood there is not below the search's (within 1e-10
relative, the rounding of a likelihood summed over NT terms); otherwise the
search's answer stands.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from spillover.errors import ConvergenceWarning

#: Distance (in the parameter) from the edge of its interval below which an estimate is flagged.
BOUND_TOL = 1e-5
#: Margin kept from the open interval's ends by the search.
EDGE = 1e-7
#: Largest move of the score polish, relative to max(1, |p|).
POLISH_BAND = 1e-4

Box = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Optimum:
    """Result of :func:`maximize`: the argmax, minus the maximum, whether it converged, whether polished."""

    x: np.ndarray
    fun: float
    converged: bool
    polished: bool


def _inside(x: np.ndarray, box: Box) -> bool:
    return all(lo < v < hi for v, (lo, hi) in zip(x, box))


def _polish(score: Callable[[np.ndarray], np.ndarray], x: np.ndarray, box: Box, steps: int = 4) -> np.ndarray | None:
    """Newton steps on ``score`` from ``x`` with a forward-difference Jacobian; None if they leave the band."""
    x0 = np.asarray(x, dtype=float)
    band = POLISH_BAND * np.maximum(1.0, np.abs(x0))
    cur = x0.copy()
    for _ in range(steps):
        s = np.atleast_1d(np.asarray(score(cur), dtype=float))
        if not np.all(np.isfinite(s)):
            return None
        h = 1e-7 * np.maximum(1.0, np.abs(cur))
        jac = np.empty((len(cur), len(cur)))
        for j in range(len(cur)):
            e = np.zeros(len(cur))
            e[j] = h[j]
            jac[:, j] = (np.atleast_1d(score(cur + e)) - s) / h[j]
        try:
            step = np.linalg.solve(jac, s)
        except np.linalg.LinAlgError:
            return None
        nxt = cur - step
        if not (np.all(np.abs(nxt - x0) <= band) and _inside(nxt, box)):
            return None
        done = np.all(np.abs(nxt - cur) <= 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(cur)))
        cur = nxt
        if done:
            break
    return cur


def _projected_gradient(neg, x: np.ndarray, fun: float, inner: Box, h: float = 1e-6) -> np.ndarray:
    """Gradient of ``neg`` at ``x`` (central differences, one-sided at a box end), zero where a bound binds.

    At a box end the Karush-Kuhn-Tucker condition asks only that the gradient
    point out of the box, so those components do not count against convergence.
    """
    g = np.empty(len(x))
    for j, (lo, hi) in enumerate(inner):
        e = np.zeros(len(x))
        e[j] = h
        if x[j] + h > hi:
            g[j] = (fun - neg(x - e)) / h
            g[j] = max(g[j], 0.0)  # a negative slope pushes against the upper end: KKT holds
        elif x[j] - h < lo:
            g[j] = (neg(x + e) - fun) / h
            g[j] = min(g[j], 0.0)  # a positive slope pushes against the lower end: KKT holds
        else:
            g[j] = (neg(x + e) - neg(x - e)) / (2 * h)
    return g


def maximize(
    neg: Callable[[np.ndarray], float],
    box: Box,
    *,
    starts: Sequence[Sequence[float]] | None = None,
    score: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Optimum:
    """Minimise ``neg`` (minus a concentrated log-likelihood) over ``box``, then polish on ``score``.

    Parameters
    ----------
    neg : callable
        ``neg(x) -> float`` for ``x`` a 1-d array of the spatial parameters.
    box : sequence of (lo, hi)
        Open interval of each parameter; the search keeps :data:`EDGE` from the ends.
    starts : sequence of starting points, optional
        Two or more parameters: L-BFGS-B from each start, the best polished by
        Nelder-Mead. One parameter: bounded Brent search (``starts`` unused).
    score : callable, optional
        ``score(x)``: gradient of the log-likelihood (of ``-neg``), analytic;
        used for the polish described in the module docstring.

    Returns
    -------
    Optimum
        ``converged`` is the optimiser's own report for one parameter and a
        gradient check (central differences of ``neg``) for two or more.
    """
    inner = [(lo + EDGE, hi - EDGE) for lo, hi in box]
    if len(box) == 1:
        r = optimize.minimize_scalar(lambda p: neg(np.array([p])), bounds=inner[0], method="bounded",
                                     options={"xatol": 1e-12, "maxiter": 1000})
        x, fun, converged = np.array([float(r.x)]), float(r.fun), bool(r.success)
    else:
        best = None
        for start in starts or [tuple(0.0 for _ in box)]:
            r = optimize.minimize(neg, np.array(start, dtype=float), method="L-BFGS-B", bounds=inner,
                                  options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000})
            if best is None or r.fun < best.fun:
                best = r
        nm = optimize.minimize(neg, best.x, method="Nelder-Mead",
                               options={"xatol": 1e-11, "fatol": 1e-13, "maxiter": 4000})
        if nm.fun <= best.fun and _inside(nm.x, box):
            best = nm
        x, fun = np.asarray(best.x, dtype=float), float(best.fun)
        converged = bool(np.max(np.abs(_projected_gradient(neg, x, fun, inner))) <= 1e-5 * max(1.0, abs(fun)))
    polished = False
    if score is not None:
        p = _polish(score, x, box)
        if p is not None:
            f = float(neg(p))
            if f <= fun + 1e-10 * max(1.0, abs(fun)):  # equal within the rounding of the likelihood
                x, fun, polished = p, f, True
    return Optimum(x=x, fun=fun, converged=converged, polished=polished)


@dataclass(frozen=True)
class MLProblem:
    """A concentrated likelihood to maximise: what every spatial ML fit hands to :func:`fit_ml`.

    ``names`` and ``box`` list the searched parameters in order; the first
    ``checked`` of them (default: all) are spatial parameters whose interval
    ends are flagged; the others (e.g. a log variance ratio) are nuisance.
    ``neg`` is minus the concentrated log-likelihood, ``score`` its analytic
    gradient (of the log-likelihood), when the problem has one.
    """

    model: str
    names: tuple[str, ...]
    box: Box
    neg: Callable[[np.ndarray], float]
    score: Callable[[np.ndarray], np.ndarray] | None = None
    starts: Sequence[Sequence[float]] | None = None
    checked: int | None = None


@dataclass(frozen=True)
class Fit:
    """Result of :func:`fit_ml`: the argmax, minus the maximum, and the flags found so far."""

    x: np.ndarray
    fun: float
    flags: tuple[str, ...]
    polished: bool

    def value(self, name: str, problem: MLProblem) -> float:
        return float(self.x[problem.names.index(name)])


def fit_ml(problem: MLProblem) -> Fit:
    """Maximise ``problem`` with :func:`maximize`; flags for interval ends and non-convergence.

    The flags are returned, not yet warned about: a model adds its own (a
    variance at zero, an unstable bias correction) and then calls
    :func:`warn_flags` once.
    """
    opt = maximize(problem.neg, problem.box, starts=problem.starts, score=problem.score)
    k = len(problem.names) if problem.checked is None else problem.checked
    flags = bound_flags(dict(zip(problem.names[:k], opt.x[:k])), problem.box[:k])
    if not opt.converged:
        flags.append("the optimiser did not report convergence")
    return Fit(x=opt.x, fun=opt.fun, flags=tuple(flags), polished=opt.polished)


def bound_flags(values: dict[str, float], box: Box) -> list[str]:
    """One message for each parameter within :data:`BOUND_TOL` of an end of its interval."""
    out = []
    for (name, val), (lo, hi) in zip(values.items(), box):
        if val - lo < BOUND_TOL or hi - val < BOUND_TOL:
            out.append(f"{name} = {val:.6f} is at the bound of its admissible interval ({lo:.4f}, {hi:.4f})")
    return out


def warn_flags(model: str, flags: Sequence[str]) -> None:
    """A :class:`ConvergenceWarning` for each flag, raised where the fit happens."""
    for msg in flags:
        warnings.warn(f"{model}: {msg}; the result is flagged (res.converged = False)", ConvergenceWarning,
                      stacklevel=3)
