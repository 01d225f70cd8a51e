"""Heterogeneity statistics of K analyses at once: Cochran's Q, I2, H2 and the Q-profile CI of tau2.

Formulas (intercept-only random-effects model, ``w_i = 1 / v_i``, sums over the studies of one
analysis; everything is computed for a whole :class:`~trialmeta.stats.batch.StudyBatch` with masked
NumPy reductions, no loop per analysis):

* Cochran's Q with fixed-effect weights, ``Q = sum w (y - y_w)^2`` on ``k - 1`` df (Cochran 1954).
  Its p-value is the chi-square upper tail, by the finite series of Abramowitz & Stegun 26.4.4-5
  for integer df (:func:`trialmeta.stats.distributions.chi2_sf`, ``method="series"``).
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
  in tau2) inside a bisection bracket (both bounds of all analyses in one iteration, started at the
  root of the equal-variance approximation; :func:`trialmeta.stats.roots.solve_bracketed` with
  its Newton-in-bracket step rule), to a relative tolerance of about 1e-14, instead of
  metafor's absolute ``uniroot`` tolerance of 1.22e-4 (which leaves e.g. risk-difference CIs
  unconverged).
  The tau, I2 and H2 bounds are the monotone transformations of the tau2 bounds (same ``vt``).

References
----------
Cochran WG (1954). The combination of estimates from different experiments. Biometrics 10:101-129.
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med 21:1539-1558.
Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
Stat Med 26:37-52.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trialmeta.stats import distributions as dist
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.roots import NewtonInBracketStep, shrink_below_quarter, solve_bracketed

__all__ = [
    "CochranQ",
    "QProfileCI",
    "cochran_q",
    "typical_variance",
    "i2_h2",
    "fixed_i2_h2",
    "generalised_q",
    "q_profile_ci",
    "StudyColumns",
    "columns",
    "quantile_by_df",
]


@dataclass(frozen=True)
class CochranQ:
    """Cochran's Q test of homogeneity, (K,) arrays. ``Q``/``pval`` are NaN when ``k < 2``."""

    Q: np.ndarray
    df: np.ndarray
    pval: np.ndarray


class StudyColumns:
    """The batch transposed to (n, K) (studies x analyses), the layout the kernels reduce over.

    Reductions over axis 0 of an (n, K) array add contiguous K-vectors, several times faster than
    row sums over a short axis 1. Padding: ``y = 0`` and ``v = +inf``, so ``1/(v + tau2)`` is 0
    there without any masking.
    """

    __slots__ = ("y", "v", "k", "_q0", "_vt", "__weakref__")

    def __init__(self, batch: StudyBatch):
        mask = np.asarray(batch.mask, dtype=bool)
        if mask.all():
            self.y = np.ascontiguousarray(batch.yi.T, dtype=float)
            self.v = np.ascontiguousarray(batch.vi.T, dtype=float)
        else:
            mT = np.ascontiguousarray(mask.T)
            self.y = np.ascontiguousarray(np.where(mT, batch.yi.T, 0.0))
            self.v = np.ascontiguousarray(np.where(mT, batch.vi.T, np.inf))
        self.k = batch.study_counts()
        self._q0 = self._vt = None

    def weights(self, tau2) -> np.ndarray:
        """Inverse-variance weights ``1 / (v + tau2)`` in (n, K) layout (0 for padding)."""
        w = self.v + np.asarray(tau2, dtype=float)
        np.divide(1.0, w, out=w)  # (np.reciprocal is not vectorised: 2x slower)
        return w

    def take(self, idx):
        sub = StudyColumns.__new__(StudyColumns)
        # np.take keeps the C layout (a[:, idx] would return a Fortran-ordered copy)
        sub.y, sub.v = np.take(self.y, idx, axis=1), np.take(self.v, idx, axis=1)
        sub.k = self.k[idx]
        sub._q0 = sub._vt = None
        return sub

    def _fixed_effect_stats(self):
        """Cochran's Q and the typical variance from one set of fixed-effect weights ``1/v``."""
        w = self.weights(0.0)
        sw = np.add.reduce(w, axis=0)
        sw2 = np.einsum("nk,nk->k", w, w)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = np.einsum("nk,nk->k", w, self.y) / sw
            vt = (self.k - 1) * sw / (sw * sw - sw2)
        r = np.subtract(self.y, mu)
        np.multiply(w, r, out=w)
        self._q0 = np.einsum("nk,nk->k", w, r)
        self._vt = np.where(self.k >= 2, vt, np.nan)

    @property
    def q0(self) -> np.ndarray:
        """Cochran's Q = Q(0) (computed once)."""
        if self._q0 is None:
            self._fixed_effect_stats()
        return self._q0

    @property
    def vt(self) -> np.ndarray:
        """metafor's typical within-study variance (computed once), NaN for k < 2."""
        if self._vt is None:
            self._fixed_effect_stats()
        return self._vt


_COLUMNS_CACHE: dict = {}


def columns(batch: StudyBatch) -> StudyColumns:
    """(n, K) column layout of ``batch`` (cached for the batch object's lifetime).

    The cache is keyed by the batch object: a StudyBatch is treated as immutable (do not modify
    its arrays in place after a statistic has been computed on it).
    """
    key = id(batch)
    hit = _COLUMNS_CACHE.get(key)
    if hit is not None and hit[0]() is batch:
        return hit[1]
    cols = StudyColumns(batch)
    if len(_COLUMNS_CACHE) > 8:
        _COLUMNS_CACHE.clear()
    import weakref

    _COLUMNS_CACHE[key] = (weakref.ref(batch), cols)
    return cols


def _q_and_slope(cols: StudyColumns, tau2, slope: bool = True, buffers=None):
    """Q(tau2) = sum w*(y - mu*)^2 and dQ/dtau2 = -sum (w* (y - mu*))^2, (K,) arrays.

    The derivative has no mu* term because sum w*(y - mu*) = 0. ``buffers`` are two (n, K)
    scratch arrays (reused across iterations: fresh 8 MB temporaries cost more than the maths).
    """
    return _q_and_slope_of(cols.y, cols.v, tau2, slope, buffers)


def _q_and_slope_of(y, v, tau2, slope=True, buffers=None):
    """:func:`_q_and_slope` of (n, K) arrays ``y``, ``v``."""
    if buffers is None:
        buffers = (np.empty_like(v), np.empty_like(v))
    w = np.add(v, tau2, out=buffers[0])
    np.divide(1.0, w, out=w)
    sw = np.add.reduce(w, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.einsum("nk,nk->k", w, y) / sw
    r = np.subtract(y, mu, out=buffers[1])
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


def cochran_q(batch: StudyBatch) -> CochranQ:
    """Cochran's Q with fixed-effect weights ``1/vi``, df = k - 1, upper-tail chi-square p-value."""
    k = batch.study_counts()
    q = columns(batch).q0
    df = (k - 1).astype(float)
    q = np.where(k >= 2, q, np.nan)
    p = np.where(k >= 2, dist.chi2_sf(q, np.maximum(df, 1), method="series"), np.nan)
    return CochranQ(Q=q, df=df, pval=p)


def typical_variance(batch: StudyBatch) -> np.ndarray:
    """metafor's typical within-study variance ``vt = (k-1) sum w / ((sum w)^2 - sum w^2)``.

    Higgins & Thompson (2002), eq. 9. NaN when ``k < 2``.
    """
    return columns(batch).vt.copy()


def _isf(name: str, p: float, df: np.ndarray) -> np.ndarray:
    """``scipy.stats.<name>.isf(p, df)`` for ``name`` ``"t"`` or ``"chi2"``
    (:mod:`trialmeta.stats.distributions`: the same numbers without importing ``scipy.stats``)."""
    if name == "t":
        return dist.t_isf(p, df)
    if name == "chi2":
        return dist.chi2_isf(p, df)
    raise ValueError(f"quantiles of {name!r}: only 't' and 'chi2'")


def quantile_by_df(name, p: float, df) -> np.ndarray:
    """``name.isf(p, df)`` (``"t"`` or ``"chi2"``) evaluated once per distinct df (df is small
    integers; NaN stays NaN)."""
    df = np.asarray(df, dtype=float)
    if df.size and df.ndim == 1:
        lo, hi = df.min(), df.max()
        if lo == hi and lo > 0 and np.isfinite(lo):  # one df for all (e.g. all k equal)
            return np.full(df.shape, float(_isf(name, p, np.array([lo]))[0]))
    out = np.full(df.shape, np.nan)
    fin = np.isfinite(df) & (df > 0)
    if fin.all():
        d = df
    elif fin.any():
        d = df[fin]
    else:
        return out
    top = d.max()
    if top <= 128 and (d == np.floor(d)).all():  # integer df (k - 1): a lookup table
        table = _isf(name, p, np.arange(1.0, top + 1.0))
        vals = table[d.astype(np.intp) - 1]
    else:
        u, inv = np.unique(d, return_inverse=True)
        vals = _isf(name, p, u)[inv]
    if d is df:
        out[...] = vals
    else:
        out[fin] = vals
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
    #: status notes precomputed by :func:`q_profile_ci` (see :meth:`status_notes`)
    notes: np.ndarray | None = field(default=None, repr=False, compare=False)

    def status_notes(self) -> np.ndarray:
        """Per-analysis status notes (``tau2_ci_lb<`` etc., ``;``-joined, ``""`` when none)."""
        if self.notes is not None:
            return self.notes.copy()
        K = self.lb_sign.shape[0]
        out = np.full(K, "", dtype=object)
        flagged = np.flatnonzero((self.lb_sign != "") | (self.ub_sign != "") | ~self.converged)
        if flagged.size == 0:
            return out
        cache: dict = {}
        notes = []
        for key in zip(
            self.lb_sign[flagged].tolist(),
            self.ub_sign[flagged].tolist(),
            self.converged[flagged].tolist(),
        ):  # only the analyses with a note
            note = cache.get(key)
            if note is None:
                lb, ub, conv = key
                parts = [
                    f"tau2_ci_lb{lb}" if lb else "",
                    f"tau2_ci_ub{ub}" if ub else "",
                    "" if conv else "tau2_ci_not_converged",
                ]
                note = cache[key] = ";".join(p for p in parts if p)
            notes.append(note)
        vals = np.empty(flagged.size, dtype=object)
        vals[:] = notes
        out[flagged] = vals
        return out


def _q_profile_equation(cols, t, aux, ws):
    """``f = 1/c - 1/Q(t)`` (positive left of the root of ``Q(t) = c``: Q decreases) and the
    Newton correction ``dt = g Q^2 / Q'`` of ``g = 1/Q(t) - 1/c`` (increasing and close to linear
    in t), for (n, m) ``cols = (y, v)`` and ``aux = (1/c,)``."""
    y, v = cols
    (inv_c,) = aux
    if not ws:
        ws.extend((np.empty_like(v), np.empty_like(v)))
    q, dq = _q_and_slope_of(y, v, t, buffers=ws)
    g = 1.0 / q
    g -= inv_c
    dt = g * (q * q)
    dt /= dq  # -g / g',  g' = -dQ / Q^2
    return -g, dt


def _solve_q(
    cols: StudyColumns,
    idx: np.ndarray,
    target: np.ndarray,
    hi: np.ndarray,
    start: np.ndarray,
    rtol: float,
    max_iter: int,
):
    """Roots of Q_i(t) = target on [0, hi] for the analyses ``idx`` (Q(0) >= target >= Q(hi));
    ``idx`` may repeat an analysis (e.g. once for each bound of its CI): the problems are
    independent columns of one vectorised iteration. ``target``, ``hi``, ``start`` are aligned
    with ``idx``.

    Safeguarded Newton on g(t) = 1/Q(t) - 1/target, started at ``start`` (clipped into the
    bracket), by :func:`trialmeta.stats.roots.solve_bracketed` with the Newton-in-bracket step
    rule (a step that leaves the bracket becomes a bisection; once a step is below ``sqrt(rtol)``
    relative the new iterate is accurate to about ``rtol`` and is accepted). Converged problems
    are dropped from the working set once at most a quarter of it is left. Returns
    ``(root, converged, iterations)`` aligned with ``idx``.
    """
    n = idx.size
    if n == 0:
        return np.full(0, np.nan), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    sub = cols.take(idx)
    up = np.array(hi, dtype=float)
    t = np.minimum(np.fmax(start, 0.0), up)  # NaN start -> 0
    return solve_bracketed(
        _q_profile_equation,
        (sub.y, sub.v),
        (1.0 / target,),
        np.zeros(n),
        up,
        t,
        NewtonInBracketStep(rtol),
        max_iter=max_iter,
        shrink=shrink_below_quarter,
    )


_SIGNS = (("", ""), ("<", "<"), ("", ">"), (">", ">"))
_LB_SIGN = np.array([lb for lb, _ in _SIGNS] * 2, dtype=object)
_UB_SIGN = np.array([ub for _, ub in _SIGNS] * 2, dtype=object)
_QP_NOTES = np.array(
    [
        ";".join(
            p
            for p in (
                f"tau2_ci_lb{lb}" if lb else "",
                f"tau2_ci_ub{ub}" if ub else "",
                "tau2_ci_not_converged" if bad else "",
            )
            if p
        )
        for bad in (False, True)
        for lb, ub in _SIGNS
    ],
    dtype=object,
)


def _search_interval_end(K, tau2, tau2_max) -> np.ndarray:
    """``tau2_max = max(100, 10 tau2)`` (metafor's ``confint.rma.uni``), or the override."""
    if tau2_max is None:
        t_fit = np.zeros(K) if tau2 is None else np.asarray(tau2, dtype=float)
        t_fit = np.where(np.isnan(t_fit), 0.0, t_fit)
        return np.maximum(100.0, 10.0 * t_fit)
    return np.broadcast_to(np.asarray(tau2_max, dtype=float), (K,)).copy()


@dataclass
class _BoundCases:
    """metafor's boundary rules of the Q-profile CI, (K,) arrays: the bounds fixed by them (NaN
    where a root is needed), the cases, and which analyses need a root for each bound."""

    lb: np.ndarray
    ub: np.ndarray
    null_ci: np.ndarray  # Q(0) < chi2_{alpha/2}: both bounds 0, signs "<"
    ub_top: np.ndarray  # Q(tau2_max) > chi2_{alpha/2}: upper bound tau2_max, sign ">"
    lb_top: np.ndarray  # Q(tau2_max) > chi2_{1-alpha/2}: both bounds tau2_max, signs ">"
    need_lb: np.ndarray
    need_ub: np.ndarray


def _bound_cases(ok, q_min, q_max, crit_u, crit_l, tmax) -> _BoundCases:
    K = ok.shape[0]
    lb = np.full(K, np.nan)
    ub = np.full(K, np.nan)
    # upper bound of tau2: Q(t) = crit_l
    null_ci = ok & (q_min < crit_l)
    lb[null_ci] = 0.0
    ub[null_ci] = 0.0
    ub_top = ok & ~null_ci & (q_max > crit_l)
    ub[ub_top] = tmax[ub_top]
    # lower bound of tau2: Q(t) = crit_u
    lb_top = ok & (q_max > crit_u)
    lb[lb_top] = tmax[lb_top]
    ub[lb_top] = tmax[lb_top]
    need_ub = ok & ~null_ci & ~ub_top & ~lb_top
    lb_zero = ok & ~lb_top & (q_min < crit_u)  # the lower bound is 0 (no sign)
    lb[lb_zero] = 0.0
    need_lb = ok & ~lb_top & ~lb_zero
    return _BoundCases(lb, ub, null_ci, ub_top, lb_top, need_lb, need_ub)


def _solve_bounds(cols, cases, crit_u, crit_l, tmax, rtol, max_iter):
    """Fill the bounds that need a root (in ``cases.lb``/``cases.ub``); both bounds of every
    analysis are solved in ONE vectorised iteration, started at the root of the equal-variance
    approximation ``Q(t) ~ Q(0) vt / (vt + t)``. Returns ``(converged, iterations)``, (K,)."""
    K = crit_u.shape[0]
    i_lb = np.flatnonzero(cases.need_lb)
    i_ub = np.flatnonzero(cases.need_ub)
    idx = np.concatenate([i_lb, i_ub])
    target = np.concatenate([crit_u[i_lb], crit_l[i_ub]])
    with np.errstate(invalid="ignore", divide="ignore"):
        start = cols.vt[idx] * (cols.q0[idx] / target - 1.0)
    root, conv, its = _solve_q(cols, idx, target, tmax[idx], start, rtol, max_iter)
    nl = i_lb.size
    cases.lb[i_lb] = root[:nl]
    cases.ub[i_ub] = root[nl:]
    converged = np.ones(K, dtype=bool)
    converged[i_lb] = conv[:nl]
    converged[i_ub] &= conv[nl:]
    iterations = np.zeros(K, dtype=np.int64)
    iterations[i_lb] = its[:nl]
    iterations[i_ub] = np.maximum(iterations[i_ub], its[nl:])
    return converged, iterations


def q_profile_ci(
    batch: StudyBatch,
    level: float = 0.95,
    tau2=None,
    *,
    tau2_max=None,
    rtol: float = 1e-14,
    max_iter: int = 200,
) -> QProfileCI:
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
    k = batch.study_counts()
    ok = k >= 2
    alpha = 1.0 - level
    df = np.maximum(k - 1, 1).astype(float)
    crit_u = quantile_by_df("chi2", alpha / 2, df)  # upper quantile -> lower bound of tau2
    crit_l = quantile_by_df("chi2", 1.0 - alpha / 2, df)  # lower quantile -> upper bound of tau2
    tmax = _search_interval_end(K, tau2, tau2_max)
    cols = columns(batch)
    q_max = _q_and_slope(cols, tmax, slope=False)[0]
    cases = _bound_cases(ok, cols.q0, q_max, crit_u, crit_l, tmax)
    converged, iterations = _solve_bounds(cols, cases, crit_u, crit_l, tmax, rtol, max_iter)
    lb, ub = cases.lb, cases.ub

    # metafor's markers and the status notes, from a small code per analysis:
    # 0 none, 1 null CI ("<", "<"), 2 upper bound above tau2_max ("", ">"), 3 both above (">", ">");
    # + 4 when the root finder did not converge
    code = cases.null_ci.astype(np.int8)
    code[cases.ub_top] = 2
    code[cases.lb_top] = 3
    code[~converged] += 4
    vt = cols.vt
    i2_lo, h2_lo = i2_h2(lb, vt)
    i2_hi, h2_hi = i2_h2(ub, vt)
    return QProfileCI(
        tau2_ci_low=lb,
        tau2_ci_high=ub,
        tau_ci_low=np.sqrt(lb),
        tau_ci_high=np.sqrt(ub),
        I2_ci_low=i2_lo,
        I2_ci_high=i2_hi,
        H2_ci_low=h2_lo,
        H2_ci_high=h2_hi,
        lb_sign=_LB_SIGN[code],
        ub_sign=_UB_SIGN[code],
        tau2_max=tmax,
        converged=converged | ~ok,
        iterations=iterations,
        notes=_QP_NOTES[code],
    )
