"""One root-finding driver for many independent one-dimensional equations at once.

:func:`solve_bracketed` finds, for each of ``m`` problems (columns), the root of a function
``f(t)`` that is positive left of the root and negative right of it, inside a bracket
``[lo, hi]``, by safeguarded Newton iteration: each iteration evaluates every unfinished problem
in one vectorised call, shrinks its bracket with the sign of ``f``, and asks a *step rule* for the
next iterate (the Newton point when it is trustworthy, a bisection point otherwise) and whether the
problem has converged. Finished problems are dropped from the working arrays (an active set), so
late iterations only touch slow problems. A problem that reaches ``max_iter`` keeps its last
iterate and is reported as not converged.

Two step rules (both Newton with a bisection safeguard; they differ in their stopping tests):

* :class:`RtsafeStep` (Press et al. 2007, ``rtsafe``): the Newton step is taken when it stays inside
  the bracket and at least halves the previous step, else a bisection step (geometric when the
  bracket spans more than a factor 4, and one probe of ``t = 0`` when the bracket reaches down to
  0); tolerance ``rtol * (t + scale)``, and quadratic convergence is used to stop one step early.
  Used by the tau2 estimators (ML / REML score, Paule-Mandel / empirical Bayes Q equation).
* :class:`NewtonInBracketStep`: the Newton step is taken when it lands strictly inside the
  bracket, else the bracket midpoint; converged when the step is below ``sqrt(rtol)`` relative
  (Newton then gives about ``rtol``), or the bracket is below ``rtol`` relative. Used by the
  Q-profile confidence interval of tau2 (Viechtbauer 2007).

References
----------
Press WH, Teukolsky SA, Vetterling WT, Flannery BP (2007). Numerical Recipes, 3rd ed., section 9.4
(Newton-Raphson using derivative, with bisection safeguard: ``rtsafe``). Cambridge University
Press.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "solve_bracketed",
    "RtsafeStep",
    "NewtonInBracketStep",
    "shrink_below_fraction",
    "shrink_below_quarter",
]


def shrink_below_fraction(fraction: float = 0.8):
    """Compact the working set when fewer than ``fraction`` of its problems are unfinished."""
    return lambda n_live, n_active: n_live < fraction * n_active


def shrink_below_quarter(n_live: int, n_active: int) -> bool:
    """Compact the working set when at most a quarter of its problems are unfinished."""
    return n_live <= n_active // 4


class RtsafeStep:
    """Newton step when inside the bracket and at least halving the previous step, else bisection.

    ``evaluate`` returns ``(f, df)``, ``f`` and its derivative (negative: ``f`` is decreasing).
    Stops when the step or the bracket is at most ``rtol * (t + tol_scale)``, or when two
    successive Newton steps predict the next one (``|dx|^3 / |dx_prev|^2``) to be 10 times below
    that. ``f < 0`` at ``t = 0`` (with ``lo = 0``) is the boundary solution 0.
    """

    def __init__(self, rtol: float, tol_scale):
        self.rtol = rtol
        self.tol_scale = tol_scale

    def initial_state(self, m: int) -> dict:
        return {
            "rtol_scale": self.rtol * np.asarray(self.tol_scale, dtype=float),
            "half_old": np.full(m, np.inf),  # half the last step taken (inf before the first)
            "pred": np.zeros(m),  # 0.1 x (last Newton step)^2 (0 if not Newton)
            "probed": np.zeros(m, bool),  # t = 0 has been evaluated by a boundary probe
        }

    def __call__(self, t, f, df, lo, hi, state):
        dx = f / df  # the Newton step is -dx
        newton = t - dx
        neg = f < 0
        # f = 0: exact root; f < 0 at t = 0 (then lo = 0): the boundary solution 0
        exact = f == 0
        exact |= neg & (t == 0.0)
        tn = np.minimum(np.maximum(newton, lo), hi)
        adx = np.abs(dx)
        tol = self.rtol * t
        tol += state["rtol_scale"]  # rtol * (t + tol_scale)
        dneg = df < 0
        ok = tn == newton  # inside the bracket (and not NaN)
        ok &= dneg
        ok &= adx < state["half_old"]  # at least halves the previous step
        # a Newton step below the tolerance ends the iteration (clipped into the bracket);
        # quadratic convergence: the next step is about |dx|^3 / prev^2, and when even 10x
        # that is below the tolerance the Newton point is accepted as converged
        a2 = adx * adx
        small = adx <= tol
        small &= dneg
        small |= ok & (a2 * adx <= tol * state["pred"])
        bis = ~(ok | small)
        if bis.any():
            j = np.flatnonzero(bis)
            tn[j] = self._bisection(j, t, lo, hi, neg, state["probed"])
        if exact.any():
            tn = np.where(exact, t, tn)
        step = np.abs(tn - t)
        small |= step <= tol
        small |= exact
        collapsed = (hi - lo) <= tol
        c = collapsed & ~small
        if c.any():
            tn = np.where(c, 0.5 * (lo + hi), tn)
        state["half_old"] = np.where(step > 0, 0.5 * step, state["half_old"])
        state["pred"] = np.where(ok, 0.1 * a2, 0.0)
        return tn, small | collapsed

    @staticmethod
    def _bisection(j, t, lo, hi, neg, probed):
        """Bisection points of problems ``j``: geometric when the bracket spans more than a
        factor 4; when ``f < 0`` and the bracket reaches down to 0, whose sign has not been seen,
        t = 0 itself (once), so that a boundary solution is found in one step instead of ~40
        halvings to the tolerance."""
        lj, hj = lo[j], hi[j]
        mid = np.where((lj > 0) & (hj > 4.0 * lj), np.sqrt(lj * hj), 0.5 * (lj + hj))
        probe = (lj == 0.0) & neg[j] & (t[j] > 0.0) & ~probed[j]
        if probe.any():
            mid[probe] = 0.0
            probed[j[probe]] = True
        return mid


class NewtonInBracketStep:
    """Newton step when strictly inside the bracket, else the bracket midpoint.

    ``evaluate`` returns ``(f, dt)``, ``f`` and the Newton correction ``dt`` (next Newton iterate
    ``t + dt``). Converged when ``|dt| <= sqrt(rtol) max(|t + dt|, t)`` (Newton converges
    quadratically: the new iterate is then accurate to about ``rtol``), when the bracket is at
    most ``rtol hi``, or when ``f = 0``.
    """

    def __init__(self, rtol: float):
        self.rtol = rtol
        self.step_tol = np.sqrt(rtol)

    def initial_state(self, m: int) -> dict:
        return {}

    def __call__(self, t, f, dt, lo, hi, state):
        t_new = t + dt
        zero = f == 0
        small = np.abs(dt) <= self.step_tol * np.maximum(np.abs(t_new), t)
        tn = np.minimum(np.maximum(t_new, lo), hi)
        bad = ~((t_new > lo) & (t_new < hi))  # also catches NaN
        bad &= ~small
        if bad.any():
            tn = np.where(bad, 0.5 * (lo + hi), tn)
        if zero.any():
            tn = np.where(zero, t, tn)
        return tn, (hi - lo <= self.rtol * hi) | small | zero


_SHRINK_BELOW_80_PERCENT = shrink_below_fraction(0.8)


def solve_bracketed(
    evaluate, columns, aux, lo, hi, start, step, *, max_iter: int, shrink=_SHRINK_BELOW_80_PERCENT
):
    """Roots of ``m`` decreasing functions in their brackets, by safeguarded Newton.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(columns, t, aux, ws) -> (f, d)`` for the unfinished problems: ``f`` (m,) is
        positive left of the root and negative right of it, ``d`` the derivative information
        ``step`` uses. ``ws`` is a list of scratch arrays that ``evaluate`` may fill on its
        first call and reuse (emptied when the working set shrinks).
    columns : tuple of (n, m) arrays
        Per-problem data, one column per problem (compacted with ``np.take(.., axis=1)``, which
        keeps the C layout).
    aux : tuple of (m,) arrays
        Per-problem scalars.
    lo, hi, start : (m,) arrays
        The brackets and the first iterates (inside the brackets).
    step : RtsafeStep or NewtonInBracketStep
        The step rule (see the module docstring).
    max_iter : int
    shrink : callable
        ``shrink(n_unfinished, n_in_working_set) -> bool``: when to compact the working arrays
        (default: below 80% unfinished). The columns' reductions may round differently in
        arrays of different widths, so a solver keeps its compaction rule to keep its bits.

    Returns
    -------
    (root, converged, iterations) : (m,) arrays
        Unconverged problems keep their last iterate, with ``iterations = max_iter``.
    """
    t = np.array(start, dtype=float)
    m = t.shape[0]
    root = t.copy()
    converged = np.zeros(m, bool)
    iterations = np.zeros(m, np.int64)
    if m == 0:
        return root, converged, iterations
    pos = np.arange(m)
    lo = np.array(lo, dtype=float)
    hi = np.array(hi, dtype=float)
    state = step.initial_state(m)
    live = np.ones(m, bool)
    n_live = m
    ws = []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for it in range(1, max_iter + 1):
            if shrink(n_live, live.size):  # compact the working set
                keep = np.flatnonzero(live)
                columns = tuple(np.take(c, keep, axis=1) for c in columns)
                aux = tuple(a[keep] for a in aux)
                pos, t, lo, hi = (x[keep] for x in (pos, t, lo, hi))
                state = {name: x[keep] for name, x in state.items()}
                live = np.ones(keep.size, bool)
                ws = []
            f, d = evaluate(columns, t, aux, ws)
            lo = np.where(f > 0, t, lo)
            hi = np.where(f < 0, t, hi)
            t, done = step(t, f, d, lo, hi, state)
            done &= live
            if done.any():
                j = pos[done]
                root[j] = t[done]
                converged[j] = True
                iterations[j] = it
                live &= ~done
                n_live = int(np.count_nonzero(live))
                if n_live == 0:
                    break
    if n_live:
        root[pos[live]] = t[live]
        iterations[pos[live]] = max_iter
    return root, converged, iterations
