"""Heterogeneity statistics of K analyses at once: Cochran's Q, I2, H2 and the Q-profile CI of tau2.

Formulas (intercept-only random-effects model, ``w_i = 1 / v_i``, sums over the studies of one
analysis; everything is computed for a whole :class:`~trialmeta.batch.StudyBatch` with masked
NumPy reductions, no loop per analysis):

* Cochran's Q with fixed-effect weights, ``Q = sum w (y - y_w)^2`` on ``k - 1`` df (Cochran 1954).
* metafor's "typical" within-study variance ``vt = (k - 1) sum w / ((sum w)^2 - sum w^2)``
  (Higgins & Thompson 2002, eq. 9), and ``I2 = 100 tau2 / (tau2 + vt)``, ``H2 = (tau2 + vt) / vt``
  (Higgins & Thompson 2002). For the fixed-effect model metafor uses
  ``I2 = max(0, 100 (Q - df) / Q)`` and ``H2 = Q / df``, which is what :func:`fixed_i2_h2` returns.
* The generalised Q-statistic ``Q(tau2) = sum w* (y - mu*)^2`` with ``w* = 1 / (v + tau2)`` about
  its own weighted mean ``mu*``; it is strictly decreasing in ``tau2`` with derivative
  ``-sum w*^2 (y - mu*)^2``.
* The Q-profile confidence interval for tau2 (Viechtbauer 2007): the lower bound solves
  ``Q(tau2) = chi2_{1 - alpha/2}(k - 1)``, the upper bound ``Q(tau2) = chi2_{alpha/2}(k - 1)``,
  with metafor's (3.8, ``confint.rma.uni``) boundary rules on the search interval
  ``[0, tau2_max]``, ``tau2_max = max(100, 10 tau2)``:

  - ``Q(0) < chi2_{alpha/2}``: both bounds are 0, both signs ``"<"`` (the CI is the null set);
  - else ``Q(0) < chi2_{1 - alpha/2}``: the lower bound is 0 (no sign);
  - ``Q(tau2_max) > chi2_{alpha/2}``: the upper bound is ``tau2_max``, sign ``">"``;
  - ``Q(tau2_max) > chi2_{1 - alpha/2}``: both bounds are ``tau2_max``, both signs ``">"``.

  The roots are found by a vectorised safeguarded Newton iteration on ``1/Q(tau2)`` (nearly linear
  in tau2) inside a bisection bracket, to a relative tolerance of about 1e-14, instead of metafor's
  absolute ``uniroot`` tolerance of 1.22e-4 (which leaves e.g. risk-difference CIs unconverged).
  The tau, I2 and H2 bounds are the monotone transformations of the tau2 bounds (same ``vt``).

References
----------
Cochran WG (1954). The combination of estimates from different experiments. Biometrics 10:101-129.
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med 21:1539-1558.
Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
Stat Med 26:37-52.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .batch import StudyBatch

__all__ = [
    "CochranQ",
    "QProfileCI",
    "cochran_q",
    "typical_variance",
    "i2_h2",
    "fixed_i2_h2",
    "generalised_q",
    "q_profile_ci",
]


@dataclass(frozen=True)
class CochranQ:
    """Cochran's Q test of homogeneity, (K,) arrays. ``Q``/``pval`` are NaN when ``k < 2``."""

    Q: np.ndarray
    df: np.ndarray
    pval: np.ndarray


class _Columns:
    """The batch transposed to (n, K) (studies x analyses), the layout the kernels reduce over.

    Reductions over axis 0 of an (n, K) array add contiguous K-vectors, several times faster than
    row sums over a short axis 1. Padding: ``y = 0`` and ``v = +inf``, so ``1/(v + tau2)`` is 0
    there without any masking.
    """

    __slots__ = ("y", "v", "k", "_q0", "_vt", "__weakref__")

    def __init__(self, batch: StudyBatch):
        self.y = np.ascontiguousarray(np.where(batch.mask, batch.yi, 0.0).T)
        self.v = np.ascontiguousarray(np.where(batch.mask, batch.vi, np.inf).T)
        self.k = batch.k
        self._q0 = self._vt = None

    def take(self, idx):
        sub = _Columns.__new__(_Columns)
        sub.y, sub.v, sub.k = self.y[:, idx], self.v[:, idx], self.k[idx]
        sub._q0 = sub._vt = None
        return sub

    @property
    def q0(self) -> np.ndarray:
        """Cochran's Q = Q(0) (computed once)."""
        if self._q0 is None:
            self._q0 = _q_and_slope(self, 0.0, slope=False)[0]
        return self._q0

    @property
    def vt(self) -> np.ndarray:
        """metafor's typical within-study variance (computed once), NaN for k < 2."""
        if self._vt is None:
            w = _weights(self, 0.0)
            sw = w.sum(axis=0)
            sw2 = np.einsum("nk,nk->k", w, w)
            with np.errstate(invalid="ignore", divide="ignore"):
                vt = (self.k - 1) * sw / (sw * sw - sw2)
            self._vt = np.where(self.k >= 2, vt, np.nan)
        return self._vt


_COLUMNS_CACHE: dict = {}


def columns(batch: StudyBatch) -> _Columns:
    """(n, K) column layout of ``batch`` (cached for the batch object's lifetime).

    The cache is keyed by the batch object: a StudyBatch is treated as immutable (do not modify
    its arrays in place after a statistic has been computed on it).
    """
    key = id(batch)
    hit = _COLUMNS_CACHE.get(key)
    if hit is not None and hit[0]() is batch:
        return hit[1]
    cols = _Columns(batch)
    if len(_COLUMNS_CACHE) > 8:
        _COLUMNS_CACHE.clear()
    import weakref
    _COLUMNS_CACHE[key] = (weakref.ref(batch), cols)
    return cols


def _weights(cols: _Columns, tau2) -> np.ndarray:
    """``1 / (v + tau2)`` in (n, K) layout (0 for padding)."""
    w = cols.v + np.asarray(tau2, dtype=float)
    np.reciprocal(w, out=w)
    return w


def _q_and_slope(cols: _Columns, tau2, slope: bool = True, buffers=None):
    """Q(tau2) = sum w*(y - mu*)^2 and dQ/dtau2 = -sum (w* (y - mu*))^2, (K,) arrays.

    The derivative has no mu* term because sum w*(y - mu*) = 0. ``buffers`` are two (n, K)
    scratch arrays (reused across iterations: fresh 8 MB temporaries cost more than the maths).
    """
    if buffers is None:
        buffers = (np.empty_like(cols.v), np.empty_like(cols.v))
    w = np.add(cols.v, tau2, out=buffers[0])
    np.reciprocal(w, out=w)
    sw = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.einsum("nk,nk->k", w, cols.y) / sw
    r = np.subtract(cols.y, mu, out=buffers[1])
    wr = np.multiply(w, r, out=w)
    q = np.einsum("nk,nk->k", wr, r)
    if not slope:
        return q, None
    return q, -np.einsum("nk,nk->k", wr, wr)


def generalised_q(batch: StudyBatch, tau2) -> np.ndarray:
    """Generalised Q-statistic ``sum w* (y - mu*)^2``, ``w* = 1/(v + tau2)``, shape (K,).

    ``tau2`` is a scalar or a (K,) array. With ``tau2 = 0`` this is Cochran's Q.
    """
    return _q_and_slope(columns(batch), tau2, slope=False)[0]


def _chi2_sf(q, df):
    from scipy.special import chdtrc
    with np.errstate(invalid="ignore"):
        return chdtrc(df, q)


def cochran_q(batch: StudyBatch) -> CochranQ:
    """Cochran's Q with fixed-effect weights ``1/vi``, df = k - 1, upper-tail chi-square p-value."""
    k = batch.k
    q = columns(batch).q0
    df = (k - 1).astype(float)
    q = np.where(k >= 2, q, np.nan)
    p = np.where(k >= 2, _chi2_sf(q, np.maximum(df, 1)), np.nan)
    return CochranQ(Q=q, df=df, pval=p)


def typical_variance(batch: StudyBatch) -> np.ndarray:
    """metafor's typical within-study variance ``vt = (k-1) sum w / ((sum w)^2 - sum w^2)``.

    Higgins & Thompson (2002), eq. 9. NaN when ``k < 2``.
    """
    return columns(batch).vt.copy()


def quantile_by_df(dist, p: float, df) -> np.ndarray:
    """``dist.isf(p, df)`` evaluated once per distinct df (df is small integers; NaN stays NaN)."""
    df = np.asarray(df, dtype=float)
    out = np.full(df.shape, np.nan)
    fin = np.isfinite(df) & (df > 0)
    if fin.any():
        vals, inv = np.unique(df[fin], return_inverse=True)
        out[fin] = dist.isf(p, vals)[inv]
    return out


def i2_h2(tau2, vt):
    """``I2 = 100 tau2/(tau2 + vt)`` (percent) and ``H2 = (tau2 + vt)/vt`` (Higgins & Thompson 2002)."""
    tau2 = np.asarray(tau2, dtype=float)
    vt = np.asarray(vt, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * tau2 / (tau2 + vt), (tau2 + vt) / vt


def fixed_i2_h2(q, df):
    """Fixed-effect I2 = max(0, 100 (Q - df)/Q) and H2 = Q/df, as metafor reports for method="FE"."""
    q = np.asarray(q, dtype=float)
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        i2 = np.where(q > 0, np.maximum(0.0, 100.0 * (q - df) / q), 0.0)
        h2 = q / df
    i2 = np.where(np.isnan(q), np.nan, i2)
    return i2, h2


@dataclass(frozen=True)
class QProfileCI:
    """Q-profile CI for tau2 and the derived tau / I2 / H2 CIs, (K,) arrays.

    ``lb_sign`` / ``ub_sign`` are metafor's markers (object arrays of ``""``, ``"<"``, ``">"``):
    ``"<"`` means the bound lies below the search interval (the CI is empty at 0), ``">"`` that it
    lies above ``tau2_max``. ``converged`` is False where the root finder hit its iteration cap.
    All fields are NaN for analyses with ``k < 2``.
    """

    tau2_ci_low: np.ndarray
    tau2_ci_high: np.ndarray
    tau_ci_low: np.ndarray
    tau_ci_high: np.ndarray
    I2_ci_low: np.ndarray
    I2_ci_high: np.ndarray
    H2_ci_low: np.ndarray
    H2_ci_high: np.ndarray
    lb_sign: np.ndarray
    ub_sign: np.ndarray
    tau2_max: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray

    def status_notes(self) -> np.ndarray:
        """Per-analysis status notes (``tau2_ci_lb<`` etc., ``;``-joined, ``""`` when none)."""
        K = self.lb_sign.shape[0]
        out = np.full(K, "", dtype=object)
        flagged = np.flatnonzero((self.lb_sign != "") | (self.ub_sign != "") | ~self.converged)
        for i in flagged:  # only the few analyses with a note
            parts = [f"tau2_ci_lb{self.lb_sign[i]}" if self.lb_sign[i] else "",
                     f"tau2_ci_ub{self.ub_sign[i]}" if self.ub_sign[i] else "",
                     "" if self.converged[i] else "tau2_ci_not_converged"]
            out[i] = ";".join(p for p in parts if p)
        return out


def _solve_q(cols: _Columns, target: np.ndarray, hi: np.ndarray, active: np.ndarray,
             rtol: float, max_iter: int, start=None):
    """Root of Q(t) = target on [0, hi] for the analyses in ``active`` (Q(0) >= target >= Q(hi)).

    Safeguarded Newton on g(t) = 1/Q(t) - 1/target (increasing and close to linear in t), started
    at t = 0, with the bracket [lo, up] updated from the sign of g; a step that leaves the bracket
    becomes a bisection. Newton converges quadratically, so once a step is below
    ``sqrt(rtol)`` (relative) the new iterate is accurate to about ``rtol`` and is accepted.
    ``start`` (K,) is the first iterate (default 0). Converged analyses are dropped from the
    working set once at most a quarter of it is left.
    """
    K = target.shape[0]
    root = np.full(K, np.nan)
    iters = np.zeros(K, dtype=np.int64)
    conv = np.zeros(K, dtype=bool)
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return root, conv, iters
    sub = cols.take(idx) if idx.size < K else cols
    c = target[idx]
    lo = np.zeros(idx.size)
    up = hi[idx].astype(float)
    t = np.zeros(idx.size) if start is None else np.clip(np.nan_to_num(start[idx]), 0.0, up)
    step_tol = np.sqrt(rtol)
    live = np.ones(idx.size, dtype=bool)
    bufs = (np.empty_like(sub.v), np.empty_like(sub.v))
    for it in range(1, max_iter + 1):
        q, dq = _q_and_slope(sub, t, buffers=bufs)
        with np.errstate(invalid="ignore", divide="ignore"):
            g = 1.0 / q - 1.0 / c
            t_new = t + g / (dq / (q * q))      # t - g / g',  g' = -dQ / Q^2
        lo = np.where(g < 0, t, lo)
        up = np.where(g > 0, t, up)
        small = np.abs(t_new - t) <= step_tol * np.maximum(np.abs(t_new), np.abs(t))
        bad = ~(t_new > lo) | ~(t_new < up)     # also catches NaN
        done = live & ((g == 0) | small | (up - lo <= rtol * up))
        t = np.where(g == 0, t, np.where(small, np.clip(t_new, lo, up),
                                         np.where(bad, 0.5 * (lo + up), t_new)))
        iters[idx[live]] = it
        if done.any():
            root[idx[done]] = t[done]
            conv[idx[done]] = True
            live &= ~done
            n_live = int(live.sum())
            if n_live == 0:
                break
            if n_live <= live.size // 4:   # shrink the working set
                keep = np.flatnonzero(live)
                idx, sub = idx[keep], sub.take(keep)
                c, lo, up, t = c[keep], lo[keep], up[keep], t[keep]
                live = np.ones(keep.size, dtype=bool)
                bufs = (np.empty_like(sub.v), np.empty_like(sub.v))
    if live.any():
        root[idx[live]] = t[live]  # best value so far; flagged as not converged
    return root, conv, iters


def q_profile_ci(batch: StudyBatch, level: float = 0.95, tau2=None, *, tau2_max=None,
                 rtol: float = 1e-14, max_iter: int = 200) -> QProfileCI:
    """Q-profile confidence interval for tau2 (Viechtbauer 2007), vectorised over analyses.

    Parameters
    ----------
    batch : StudyBatch
    level : float
        Confidence level (0.95).
    tau2 : (K,) array, optional
        The fitted tau2 (metafor: of the REML fit); only used for the upper end of the search
        interval, ``tau2_max = max(100, 10 tau2)`` (metafor 3.8 ``confint.rma.uni`` default).
    tau2_max : scalar or (K,) array, optional
        Override the upper end of the search interval.

    Returns
    -------
    QProfileCI
    """
    K = batch.n_analyses
    k = batch.k
    ok = k >= 2
    alpha = 1.0 - level
    df = np.maximum(k - 1, 1).astype(float)
    crit_u = quantile_by_df(stats.chi2, alpha / 2, df)        # upper quantile -> lower bound of tau2
    crit_l = quantile_by_df(stats.chi2, 1.0 - alpha / 2, df)  # lower quantile -> upper bound of tau2
    if tau2_max is None:
        t_fit = np.zeros(K) if tau2 is None else np.nan_to_num(np.asarray(tau2, dtype=float), nan=0.0)
        tmax = np.maximum(100.0, 10.0 * t_fit)
    else:
        tmax = np.broadcast_to(np.asarray(tau2_max, dtype=float), (K,)).copy()
    cols = columns(batch)
    q_min = cols.q0
    q_max = _q_and_slope(cols, tmax, slope=False)[0]

    lb = np.full(K, np.nan)
    ub = np.full(K, np.nan)
    lb_sign = np.full(K, "", dtype=object)
    ub_sign = np.full(K, "", dtype=object)

    # upper bound of tau2: Q(t) = crit_l
    null_ci = ok & (q_min < crit_l)
    lb[null_ci] = 0.0
    ub[null_ci] = 0.0
    lb_sign[null_ci] = "<"
    ub_sign[null_ci] = "<"
    ub_top = ok & ~null_ci & (q_max > crit_l)
    ub[ub_top] = tmax[ub_top]
    ub_sign[ub_top] = ">"
    need_ub = ok & ~null_ci & ~ub_top
    # lower bound of tau2: Q(t) = crit_u
    lb_top = ok & (q_max > crit_u)
    lb[lb_top] = tmax[lb_top]
    ub[lb_top] = tmax[lb_top]
    lb_sign[lb_top] = ">"
    ub_sign[lb_top] = ">"
    need_ub &= ~lb_top
    lb_zero = ok & ~lb_top & (q_min < crit_u)
    lb[lb_zero] = 0.0
    need_lb = ok & ~lb_top & ~lb_zero

    # first iterate: the root of the equal-variance approximation Q(t) ~ Q(0) vt / (vt + t)
    vt = cols.vt
    with np.errstate(invalid="ignore", divide="ignore"):
        r_lb, c_lb, i_lb = _solve_q(cols, crit_u, tmax, need_lb, rtol, max_iter,
                                    start=vt * (q_min / crit_u - 1.0))
        r_ub, c_ub, i_ub = _solve_q(cols, crit_l, tmax, need_ub, rtol, max_iter,
                                    start=vt * (q_min / crit_l - 1.0))
    ub = np.where(need_ub, r_ub, ub)
    lb = np.where(need_lb, r_lb, lb)
    converged = np.where(need_ub, c_ub, True) & np.where(need_lb, c_lb, True)
    iterations = np.maximum(i_ub, i_lb)

    i2_lo, h2_lo = i2_h2(lb, vt)
    i2_hi, h2_hi = i2_h2(ub, vt)
    return QProfileCI(
        tau2_ci_low=lb, tau2_ci_high=ub,
        tau_ci_low=np.sqrt(lb), tau_ci_high=np.sqrt(ub),
        I2_ci_low=i2_lo, I2_ci_high=i2_hi, H2_ci_low=h2_lo, H2_ci_high=h2_hi,
        lb_sign=lb_sign, ub_sign=ub_sign, tau2_max=tmax,
        converged=converged | ~ok, iterations=iterations,
    )
