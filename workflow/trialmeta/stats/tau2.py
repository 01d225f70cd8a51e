"""Between-study variance (tau2) estimators of the random-effects model, for K analyses at once.

Every estimator metafor's ``rma()`` offers for the intercept-only model (metafor 3.8-1):
``DL, REML, ML, PM, HE, SJ, EB, HS``. Each takes a :class:`~trialmeta.stats.batch.StudyBatch`
(K analyses padded to a common width) and returns a :class:`Tau2Estimate` of (K,) arrays. There is
no Python loop per analysis or per study; the iterative estimators loop over *iterations* of a
vectorized solver only, and only over the analyses that have not converged yet.

Notation (analysis ``i``, real studies only): ``y_j``, ``v_j`` effect sizes and sampling variances,
``k`` studies, ``w_j(t) = 1/(v_j + t)``, ``mu(t) = sum w y / sum w``, the generalised Q-statistic
``Q(t) = sum w_j(t) (y_j - mu(t))^2`` (Cochran's ``Q = Q(0)``), ``ybar`` the unweighted mean and
``RSS = sum (y_j - ybar)^2``.

Closed form (exactly metafor's formulas; truncated at 0 where metafor truncates):

* DL  ``max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w))``, ``w = 1/v`` (DerSimonian & Laird 1986);
* HE  ``max(0, (RSS - (1 - 1/k) sum v) / (k-1))`` (Hedges 1983; Hedges & Olkin 1985);
* HS  ``max(0, (Q - k) / sum w)`` (Hunter & Schmidt 2004);
* SJ  ``t0 Q(t0) / (k-1)`` with ``t0 = RSS/k`` (Sidik & Jonkman 2005): one step, not iterated.

Iterative, solved to a *relative* tolerance (not metafor's absolute stopping rules, which leave
risk-difference analyses, whose tau2 is of order 1e-7, unconverged):

* ML / REML: the global maximiser on ``[0, inf)`` of the (restricted) profile log-likelihood
  (Viechtbauer 2005)::

      ll_ML(t)   = -1/2 [ sum log(v_j + t) + Q(t) ]
      ll_REML(t) = ll_ML(t) - 1/2 log(sum w_j(t))

  A rigorous upper bound ``T`` on the location of every stationary point is computed per analysis
  (see :func:`_likelihood_search_bound`), the likelihood is scanned on a grid of ``[0, T]``
  (0 and ``_GRID_POINTS`` geometric points, in single precision: the scan only locates the peak),
  and the best grid cell is refined in double precision by safeguarded Newton on the score divided
  by ``(sum w)^2`` (same sign and root; exactly linear in ``t`` when all ``v`` are equal, so Newton
  needs few steps), started at the vertex of the parabola through the three grid values in
  ``log(t + v_min)``. Where the grid shows a second local maximum, that one is refined too (in the
  same vectorised solver call) and the higher likelihood wins;
  a refined point stuck on the edge of its cell (peak misplaced by the scan) is searched again on
  all of ``[0, T]``. tau2 = 0 when the best point is the boundary with a non-positive score there.
  (metafor instead starts Fisher scoring at the HE estimate and compares with tau2 = 0 afterwards,
  "ll0check".) A grid scan cannot *prove* there is no narrow peak between grid points; every
  reference dataset (including the two-peak dat.pagliaro1992 analyses) and the cross-checks against
  a 20,000-point scan in the tests agree.
* PM: the root of ``Q(t) = k - 1`` (Paule & Mandel 1982), 0 when ``Q(0) <= k - 1``; ``Q(t)`` is
  decreasing, the root is unique and lies in ``[0, RSS/(k-1)]``.
* EB: the empirical Bayes estimator (Morris 1983; Berkey et al. 1995). metafor iterates
  ``t <- t + sum w (k/(k-1) r^2 - v - t) / sum w``; its fixed point satisfies ``Q(t) = k - 1``, the
  PM equation, so the converged EB estimate is the PM estimate (as the reference ``tight`` block
  shows) and is computed by the same root finder.

Convergence: an iteration stops when the Newton step or the bracket is at most
``rtol * (tau2 + v_min)`` (``v_min`` the smallest sampling variance of the analysis: the scale
below which tau2 is numerically indistinguishable from 0 in double precision), or when two
successive Newton steps predict the next one to be 10 times below that. An analysis that
reaches ``max_iter`` keeps its last iterate, ``converged = False`` and status ``not_converged``.

Status per analysis (values of :class:`trialmeta.stats.result.Status`): ``ok``; ``tau2_boundary``
(tau2 is exactly 0); ``not_converged``; ``single_study`` (k = 1, tau2 = 0, nothing to estimate);
``failed:no_studies`` (k = 0, an empty padding row; tau2 is NaN and said so).

Input: non-finite ``yi``/``vi`` or ``vi <= 0`` in a real study is refused with :class:`ValueError`
listing every offending (analysis, study column); the ingest layer reports file/row to users.

References
----------
Berkey CS, Hoaglin DC, Mosteller F, Colditz GA (1995). A random-effects regression model for
meta-analysis. Stat Med 14:395-411.
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials 7:177-188.
Hedges LV (1983). A random effects model for effect sizes. Psychol Bull 93:388-395.
Hunter JE, Schmidt FL (2004). Methods of Meta-Analysis, 2nd ed. Sage.
Morris CN (1983). Parametric empirical Bayes inference. J Am Stat Assoc 78:47-55.
Paule RC, Mandel J (1982). Consensus values and weighting factors. J Res Natl Bur Stand 87:377-385.
Sidik K, Jonkman JN (2005). Simple heterogeneity variance estimation for meta-analysis.
J R Stat Soc C 54:367-384.
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
random-effects model. J Educ Behav Stat 30:261-293.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.result import Status
from trialmeta.stats.roots import RtsafeStep, solve_bracketed

__all__ = [
    "TAU2_METHODS",
    "Tau2Estimate",
    "estimate_tau2",
    "tau2_dl",
    "tau2_he",
    "tau2_hs",
    "tau2_sj",
    "tau2_ml",
    "tau2_reml",
    "tau2_pm",
    "tau2_eb",
]

TAU2_METHODS = ("DL", "REML", "ML", "PM", "HE", "SJ", "EB", "HS")

#: Geometric grid points of the global likelihood scan (plus tau2 = 0).
_GRID_POINTS = 12
#: Analyses per block of the likelihood scan (keeps the (n, block) arrays in cache).
_BLOCK = 8192


@dataclass(frozen=True)
class Tau2Estimate:
    """tau2 of K analyses by one estimator.

    Attributes
    ----------
    method : str
        One of :data:`TAU2_METHODS`.
    tau2 : (K,) float
        The estimate (>= 0; NaN only for an empty analysis, status ``failed:no_studies``).
    converged : (K,) bool
        True for closed-form estimators and for iterative ones that met the tolerance.
    iterations : (K,) int
        Solver iterations (0 for closed-form estimators and boundary solutions found directly).
    status : (K,) object
        ``ok``, ``tau2_boundary``, ``not_converged``, ``single_study`` or ``failed:<reason>``.
    """

    method: str
    tau2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    status: np.ndarray


# --------------------------------------------------------------------------------------------
# data preparation (per block of analyses)


@dataclass
class _Prepared:
    """Transposed (n, m) working arrays of one block of analyses (C-contiguous: every reduction
    over the studies adds contiguous m-vectors; columns are gathered with ``np.take(.., axis=1)``,
    which keeps that layout, never ``a[:, idx]``, which returns a Fortran-ordered copy).

    ``y`` is centred at the unweighted mean of each analysis (no estimator depends on the
    location) and padding has ``y = 0``, ``v = inf``, so ``w = 1/(v + t) = 0`` there and padding
    adds exact zeros to every sum (results do not depend on the padding width or the block).
    """

    y: np.ndarray  # (n, m)
    v: np.ndarray  # (n, m), inf for padding
    k: np.ndarray  # (m,) int
    rss: np.ndarray  # (m,) sum (y - ybar)^2
    sum_v: np.ndarray  # (m,)
    v_min: np.ndarray  # (m,)
    v_max: np.ndarray  # (m,)


def _validate(batch: StudyBatch) -> None:
    yi, vi = batch.yi, batch.vi
    # fast path: every cell (padding included: 0 and 1 by construction) is valid
    if yi.size == 0 or (np.isfinite(yi).all() and vi.min() > 0 and vi.max() < np.inf):
        return
    m = np.asarray(batch.mask, dtype=bool)
    with np.errstate(invalid="ignore"):
        bad_y = m & ~np.isfinite(yi)
        bad_v = m & ~(np.isfinite(vi) & (vi > 0))
    if bad_y.any() or bad_v.any():
        parts = []
        for label, bad in (
            ("yi is not finite", bad_y),
            ("vi is not a finite positive number", bad_v),
        ):
            idx = np.argwhere(bad)
            if idx.size:
                shown = ", ".join(f"(analysis {i}, study {j})" for i, j in idx[:20])
                more = f" and {len(idx) - 20} more" if len(idx) > 20 else ""
                parts.append(f"{label} at {shown}{more}")
        raise ValueError("cannot estimate tau2: " + "; ".join(parts))


def _prepare(yi, vi, mask) -> _Prepared:
    """Working arrays of one block ((m, n) inputs, already validated)."""
    if not mask.all():
        keep = mask.any(axis=0)  # drop all-padding columns of this block
        if not keep.all():
            yi, vi, mask = yi[:, keep], vi[:, keep], mask[:, keep]
    full = mask.all()
    # (n, m) C-contiguous working layout: reductions over axis 0 add contiguous m-vectors
    yT = yi.T.copy()  # always a fresh array (centred in place)
    vT = np.ascontiguousarray(vi.T)  # read only
    if full:
        n = yT.shape[0]
        k = np.full(yT.shape[1], n, dtype=np.int64)
        y = yT
        y -= np.add.reduce(y, axis=0) / max(n, 1)
        v = vT
        sum_v = np.add.reduce(v, axis=0)
        v_min = np.minimum.reduce(v, axis=0) if n else np.ones(yT.shape[1])
        v_max = np.maximum.reduce(v, axis=0) if n else np.zeros(yT.shape[1])
    else:
        mT = np.ascontiguousarray(mask.T)
        k = np.add.reduce(mT, axis=0, dtype=np.int64)
        yT = np.where(mT, yT, 0.0)
        ybar = np.add.reduce(yT, axis=0) / np.maximum(k, 1)
        y = np.where(mT, yT - ybar, 0.0)
        v0 = np.where(mT, vT, 0.0)
        v = np.where(mT, vT, np.inf)
        sum_v = np.add.reduce(v0, axis=0)
        v_min = np.where(k > 0, np.minimum.reduce(v, axis=0), 1.0)
        v_max = np.maximum.reduce(v0, axis=0)
    rss = np.einsum("ij,ij->j", y, y)
    return _Prepared(y=y, v=v, k=k, rss=rss, sum_v=sum_v, v_min=v_min, v_max=v_max)


def _run(method, batch: StudyBatch, kernel, **kw) -> Tau2Estimate:
    """Validate, run ``kernel(prep, **kw) -> (tau2, converged, iterations)`` block by block of
    ``_BLOCK`` analyses (bounded memory, cache-sized arrays; analyses are independent, so the
    blocking does not change any result) and attach statuses."""
    _validate(batch)
    K = batch.n_analyses
    mask = np.asarray(batch.mask, dtype=bool)
    tau2 = np.zeros(K)
    conv = np.ones(K, bool)
    iters = np.zeros(K, np.int64)
    for b0 in range(0, K, _BLOCK):
        sl = slice(b0, min(b0 + _BLOCK, K))
        prep = _prepare(batch.yi[sl], batch.vi[sl], mask[sl])
        if prep.y.shape[0] == 0:
            continue
        tau2[sl], conv[sl], iters[sl] = kernel(prep, **kw)
    return _finish(method, batch.study_counts(), tau2, conv, iters)


_STATUS = np.array(
    [
        Status.OK,
        Status.TAU2_BOUNDARY,
        Status.NOT_CONVERGED,
        Status.SINGLE_STUDY,
        Status.FAILED + ":no_studies",
    ],
    dtype=object,
)


def _finish(method, k, tau2, converged, iterations) -> Tau2Estimate:
    single = k == 1
    empty = k == 0
    code = (tau2 == 0.0).astype(np.int8)  # 0 ok, 1 boundary
    if single.any() or empty.any():
        se = single | empty
        tau2[se] = 0.0
        converged[se] = True
        iterations[se] = 0
        tau2[empty] = np.nan
        code[single] = 3
        code[empty] = 4
    if not converged.all():
        code[~converged] = 2
    return Tau2Estimate(method, tau2, converged, iterations, _STATUS[code])


def _fe_moments(prep: _Prepared, t=0.0):
    """sum w, Q(t) and sum w^2 with w = 1/(v + t) (t scalar or (m,))."""
    w = 1.0 / (prep.v + t)
    sw = np.add.reduce(w, axis=0)
    safe = np.where(sw > 0, sw, 1.0)
    mu = np.add.reduce(w * prep.y, axis=0) / safe
    r = prep.y - mu
    q = np.add.reduce(w * r * r, axis=0)
    sw2 = np.add.reduce(w * w, axis=0)
    return sw, q, sw2


def _closed(t, prep):
    m = prep.k.shape[0]
    return np.where(prep.k >= 2, t, 0.0), np.ones(m, bool), np.zeros(m, np.int64)


# --------------------------------------------------------------------------------------------
# closed-form estimators


def _dl_denominator(prep, sw):
    """``sum w - sum w^2 / sum w`` with ``w = 1/v``, written as ``sum_i w_i (sum_{j != i} w_j) /
    sum w`` with the leave-one-out sums from exclusive prefix and suffix sums: no cancellation
    when one study's weight dominates (the direct form loses ~log10(w_max/c) digits)."""
    w = 1.0 / prep.v
    before = np.zeros_like(w)  # exclusive prefix sums: sum_{j < i} w_j
    np.cumsum(w[:-1], axis=0, out=before[1:])
    after = np.zeros_like(w)  # exclusive suffix sums: sum_{j > i} w_j
    np.cumsum(w[:0:-1], axis=0, out=after[-2::-1])
    return np.add.reduce(w * (before + after), axis=0) / np.where(sw > 0, sw, 1.0)


def _dl_kernel(prep):
    sw, q, _ = _fe_moments(prep)
    k = prep.k
    c = _dl_denominator(prep, sw)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.maximum(0.0, (q - (k - 1)) / np.where(k >= 2, c, 1.0))
    return _closed(t, prep)


def _he_kernel(prep):
    k = prep.k
    t = np.maximum(
        0.0, (prep.rss - prep.sum_v * (1.0 - 1.0 / np.maximum(k, 1))) / np.maximum(k - 1, 1)
    )
    return _closed(t, prep)


def _hs_kernel(prep):
    sw, q, _ = _fe_moments(prep)
    t = np.maximum(0.0, (q - prep.k) / np.where(sw > 0, sw, 1.0))
    return _closed(t, prep)


def _sj_kernel(prep):
    k = prep.k
    t0 = prep.rss / np.maximum(k, 1)
    _, q0, _ = _fe_moments(prep, t0)
    return _closed(t0 * q0 / np.maximum(k - 1, 1), prep)


def tau2_dl(batch: StudyBatch) -> Tau2Estimate:
    """DerSimonian-Laird method-of-moments estimator (DerSimonian & Laird 1986).

    ``tau2 = max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w))`` with fixed-effect weights
    ``w = 1/v`` and Cochran's ``Q``. Closed form (metafor ``method="DL"``).
    """
    return _run("DL", batch, _dl_kernel)


def tau2_he(batch: StudyBatch) -> Tau2Estimate:
    """Hedges' unweighted method-of-moments ("variance component") estimator (Hedges 1983).

    ``tau2 = max(0, (sum (y - ybar)^2 - (1 - 1/k) sum v) / (k - 1))`` with the unweighted mean
    ``ybar``. Closed form (metafor ``method="HE"``).
    """
    return _run("HE", batch, _he_kernel)


def tau2_hs(batch: StudyBatch) -> Tau2Estimate:
    """Hunter-Schmidt estimator (Hunter & Schmidt 2004), as metafor defines it.

    ``tau2 = max(0, (Q - k) / sum w)`` with ``w = 1/v``. Closed form (metafor ``method="HS"``).
    """
    return _run("HS", batch, _hs_kernel)


def tau2_sj(batch: StudyBatch) -> Tau2Estimate:
    """Sidik-Jonkman estimator (Sidik & Jonkman 2005), metafor's default (non-iterated) form.

    Start value ``t0 = sum (y - ybar)^2 / k``; then ``tau2 = t0 Q(t0) / (k - 1)`` where
    ``Q(t0) = sum w (y - mu_w)^2`` with ``w = 1/(v + t0)``. Always >= 0. Closed form
    (metafor ``method="SJ"``, one step).
    """
    return _run("SJ", batch, _sj_kernel)


# --------------------------------------------------------------------------------------------
# iterative estimators: shared solver


def _newton_root(func, cols, aux, lo, hi, start, tol_scale, rtol, max_iter):
    """Roots in ``[lo, hi]`` of ``func`` (positive left of the root; ``func(cols, t, aux, ws) ->
    (f, df)``) by the shared safeguarded Newton / bisection driver with the ``rtsafe`` step rule,
    to ``rtol * (t + tol_scale)`` (:func:`trialmeta.stats.roots.solve_bracketed`). Returns
    ``(t, converged, iterations)``."""
    return solve_bracketed(
        func, cols, aux, lo, hi, start, RtsafeStep(rtol, tol_scale), max_iter=max_iter
    )


# --------------------------------------------------------------------------------------------
# PM / EB


def _q_function(cols, t, aux, ws):
    """``f(t) = 1 - (k-1)/Q(t)`` (positive left of the PM root) and ``df/dt = (k-1) dQ/dt / Q^2``,
    with ``dQ/dt = -sum w^2 r^2`` ((n, m) arrays, (m,) t)."""
    y, v = cols
    (kk,) = aux
    if not ws:
        ws.extend(np.empty_like(v) for _ in range(2))
    w, a = ws
    np.add(v, t, out=w)
    np.divide(1.0, w, out=w)
    sw = np.add.reduce(w, axis=0)
    np.subtract(y, np.einsum("ij,ij->j", w, y) / sw, out=a)  # r
    np.multiply(w, a, out=w)  # w r
    q = np.einsum("ij,ij->j", w, a)
    dq = np.einsum("ij,ij->j", w, w)
    dq = -dq
    return 1.0 - kk / q, kk * dq / (q * q)


def _q_equation_kernel(prep, rtol, max_iter):
    """Root of Q(t) = k - 1 on [0, RSS/(k-1)] (0 when Q(0) <= k - 1): PM and converged EB.

    Newton is applied to ``h(t) = (k-1)/Q(t) - 1``, which is exactly linear in ``t`` when all
    ``v`` are equal, with a bisection safeguard on the bracket; the start is the DL estimate.
    """
    m = prep.k.shape[0]
    k = prep.k
    tau2 = np.zeros(m)
    conv = np.ones(m, bool)
    iters = np.zeros(m, np.int64)
    sw, q0, sw2 = _fe_moments(prep)
    idx = np.flatnonzero((k >= 2) & (q0 > k - 1))
    if idx.size == 0:
        return tau2, conv, iters
    kk = (k[idx] - 1).astype(float)
    hi = prep.rss[idx] / kk  # Q(hi) <= RSS/(v_min + hi) < k - 1, so the root is below hi
    lo = np.zeros(idx.size)
    with np.errstate(divide="ignore", invalid="ignore"):  # DL start; c > 0 whenever k >= 2
        t0 = np.clip((q0[idx] - kk) / _dl_denominator(prep, sw)[idx], 0.0, hi)
    cols = (np.take(prep.y, idx, axis=1), np.take(prep.v, idx, axis=1))
    t, c, it = _newton_root(_q_function, cols, (kk,), lo, hi, t0, prep.v_min[idx], rtol, max_iter)
    tau2[idx] = np.maximum(t, 0.0)
    conv[idx] = c
    iters[idx] = it
    return tau2, conv, iters


def tau2_pm(batch: StudyBatch, *, rtol: float = 1e-12, max_iter: int = 200) -> Tau2Estimate:
    """Paule-Mandel estimator (Paule & Mandel 1982): the root of ``Q(t) = k - 1``.

    ``Q(t) = sum w (y - mu_w)^2`` with ``w = 1/(v + t)`` is decreasing in ``t``, so the root is
    unique; it lies in ``[0, RSS/(k-1)]``. tau2 = 0 when ``Q(0) <= k - 1`` (metafor's
    truncation). Solved by safeguarded Newton on ``(k-1)/Q(t) - 1`` to relative tolerance
    ``rtol`` (metafor uses ``uniroot`` with an absolute tolerance of 1.22e-4).
    """
    return _run("PM", batch, _q_equation_kernel, rtol=rtol, max_iter=max_iter)


def tau2_eb(batch: StudyBatch, *, rtol: float = 1e-12, max_iter: int = 200) -> Tau2Estimate:
    """Empirical Bayes estimator (Morris 1983; Berkey et al. 1995), converged.

    metafor iterates ``t <- t + sum w (k/(k-1) (y - mu_w)^2 - v - t) / sum w``; at its fixed
    point ``sum w (y - mu_w)^2 = k - 1``, i.e. ``Q(t) = k - 1``, the Paule-Mandel equation, and
    tau2 = 0 when ``Q(0) <= k - 1``. The converged EB estimate is therefore computed by the PM root
    finder (metafor's printed EB differs from PM only through its stopping rule).
    """
    return _run("EB", batch, _q_equation_kernel, rtol=rtol, max_iter=max_iter)


# --------------------------------------------------------------------------------------------
# ML / REML


def _likelihood_search_bound(prep: _Prepared, reml: bool):
    """Upper bound T on every stationary point of ll_ML / ll_REML (score < 0 for all t > T).

    With ``u = v_min + t``, ``d = v_max - v_min``: ``sum w^2 r^2 <= w_max Q(t) <= RSS / u^2``
    (``mu_w`` minimises the weighted sum of squares, so ``Q(t) <= RSS / u``),
    ``sum w >= k / (u + d)`` and ``sum w^2 / sum w <= 1/u``. So the ML score
    ``sum w^2 r^2 - sum w`` is negative when ``k u^2 - RSS u - RSS d > 0`` and the REML score
    (which adds ``sum w^2 / sum w``) when ``(k-1) u^2 - (RSS + d) u - RSS d > 0``.
    """
    k = prep.k.astype(float)
    rss = prep.rss
    d = prep.v_max - prep.v_min
    if reml:
        a, b = np.maximum(k - 1.0, 1.0), rss + d
    else:
        a, b = np.maximum(k, 1.0), rss
    u = (b + np.sqrt(b * b + 4.0 * a * rss * d)) / (2.0 * a)
    return np.maximum(u - prep.v_min, 0.0) * (1.0 + 1e-9)


def _loglik(y, v, t, reml):
    """Profile (restricted) log-likelihood up to a constant, (n, m) arrays, (m,) t."""
    a = v + t
    w = 1.0 / a
    sw = np.add.reduce(w, axis=0)
    r = y - np.add.reduce(w * y, axis=0) / sw
    ll = -0.5 * (
        np.add.reduce(np.log(np.where(np.isfinite(a), a, 1.0)), axis=0)
        + np.add.reduce(w * r * r, axis=0)
    )
    if reml:
        ll -= 0.5 * np.log(sw)
    return ll


def _score_parts(y, v, t, ws):
    """Weighted sums shared by the ML and REML scores at ``t`` ((n, m) arrays, (m,) t):
    ``sum w``, ``sum w^2 r^2``, ``sum w^3 r^2``, ``sum w^2 r`` and ``ww = w^2`` (a scratch array)
    with ``w = 1/(v + t)``, ``r = y - mu_w`` (so ``P y = w r``)."""
    if not ws:
        ws.extend(np.empty_like(v) for _ in range(3))
    w, a, b = ws
    np.add(v, t, out=w)
    np.divide(1.0, w, out=w)
    sw = np.add.reduce(w, axis=0)
    np.subtract(y, np.einsum("ij,ij->j", w, y) / sw, out=a)  # r
    np.multiply(a, w, out=a)  # w r
    np.multiply(a, w, out=b)  # w^2 r
    s_w2r = np.add.reduce(b, axis=0)
    s_w3r2 = np.einsum("ij,ij->j", b, a)
    s_w2r2 = np.einsum("ij,ij->j", a, a)
    np.multiply(w, w, out=a)  # w^2
    return w, a, sw, s_w2r2, s_w3r2, s_w2r


def _score_ml(cols, t, aux, ws):
    """ML score ``S = sum w^2 r^2 - sum w`` (2 x dll/dt) divided by ``(sum w)^2``, and its
    derivative ((n, m) arrays, (m,) t).

    ``dS/dt = -2 (sum w^3 r^2 - (sum w^2 r)^2 / sum w) + sum w^2`` (with ``P y = w r``). Newton
    runs on ``F = S / (sum w)^2`` (same sign and root as ``S``), which is exactly linear in ``t``
    when all ``v`` are equal (``S = RSS/(v+t)^2 - k/(v+t)``, ``sum w = k/(v+t)``) and close to
    linear otherwise, so fewer iterations are needed; ``dF/dt = (dS/dt + 2 S sum w^2 / sum w)
    / (sum w)^2``.
    """
    y, v = cols
    w, ww, sw, s_w2r2, s_w3r2, s_w2r = _score_parts(y, v, t, ws)
    sw2 = np.add.reduce(ww, axis=0)
    S = s_w2r2 - sw
    dS = sw2 - 2.0 * (s_w3r2 - s_w2r * s_w2r / sw)
    g = 1.0 / (sw * sw)
    return S * g, (dS + 2.0 * S * (sw2 / sw)) * g


def _score_reml(cols, t, aux, ws):
    """REML score ``S = sum w^2 r^2 - sum w + sum w^2 / sum w`` (= y'PPy - tr P, 2 x dll/dt)
    divided by ``(sum w)^2`` (as for ML: exactly linear in ``t`` for equal ``v``), and its
    derivative; ``dS/dt = -2 y'PPPy + tr(PP)``, with ``y'PPPy = sum w^3 r^2 - (sum w^2 r)^2 / sum
    w`` and ``tr(PP) = sum w^2 - 2 sum w^3 / sum w + (sum w^2 / sum w)^2``."""
    y, v = cols
    w, ww, sw, s_w2r2, s_w3r2, s_w2r = _score_parts(y, v, t, ws)
    sw2 = np.add.reduce(ww, axis=0)
    sw3 = np.einsum("ij,ij->j", ww, w)
    ratio = sw2 / sw
    S = s_w2r2 - sw + ratio
    dS = sw2 - 2.0 * sw3 / sw + ratio * ratio - 2.0 * (s_w3r2 - s_w2r * s_w2r / sw)
    g = 1.0 / (sw * sw)
    return S * g, (dS + 2.0 * S * ratio) * g


_F32_SAFE = 1e37  # magnitudes the single-precision scan handles without overflow/underflow


def _scan(y, v, grid, reml, v_min, v_max):
    """Log-likelihood (up to a constant) at each row of the (G, m) grid of tau2 values.

    Uses ``w = u / (1 + t u)`` with ``u = 1/v`` (0 for padding),
    ``sum log(v + t) = sum log v + log prod (1 + t u)`` (the first term is constant in ``t``; the
    product is replaced by a sum of logs where it overflows) and
    ``Q(t) = sum w y^2 - (sum w y)^2 / sum w`` with ``y`` centred at the fixed-effect mean (three
    weighted sums in one pass). The scan only *locates* the peak (the refinement is in double
    precision and checked), so it runs in single precision (half the memory traffic), except for
    analyses (columns) whose variances, grid or squared residuals are beyond single precision's
    range, which are scanned in double precision.
    """
    u = np.divide(1.0, v)
    yc = y - np.einsum("ij,ij->j", u, y) / np.add.reduce(u, axis=0)
    G, m = grid.shape
    out = np.empty((G, m))
    with np.errstate(over="ignore", invalid="ignore"):
        yu32 = np.multiply(yc, u, out=np.empty(u.shape, np.float32), casting="same_kind")
        y2u32 = np.multiply(yu32, yc, out=np.empty(u.shape, np.float32), casting="same_kind")
    bad = ~(
        (np.maximum.reduce(y2u32, axis=0) < _F32_SAFE)
        & (v_min > 1.0 / _F32_SAFE)
        & (v_max < _F32_SAFE)
        & (grid[-1] < _F32_SAFE * v_min)
    )  # t u < 1e37
    u32 = u.astype(np.float32)
    g32 = grid.astype(np.float32)
    if not bad.any():
        _scan_cols(u32, yu32, y2u32, g32, reml, out)
    else:  # double precision for the columns out of single precision's range
        good = np.flatnonzero(~bad)
        badc = np.flatnonzero(bad)
        if good.size:
            o = np.empty((G, good.size))
            _scan_cols(*(np.take(a, good, axis=1) for a in (u32, yu32, y2u32, g32)), reml, o)
            out[:, good] = o
        ub, ycb = np.take(u, badc, axis=1), np.take(yc, badc, axis=1)
        yub = ycb * ub
        o = np.empty((G, badc.size))
        _scan_cols(ub, yub, yub * ycb, np.take(grid, badc, axis=1), reml, o)
        out[:, badc] = o
    out *= -0.5
    return out


def _scan_cols(u, yu, y2u, grid, reml, out):
    """-2 x log-likelihood (up to a constant) on the (G, m) ``grid`` into ``out`` (float64), in the
    precision of the inputs. One pass over the (n, m) arrays per grid point (they stay in cache);
    the four sums per point go to a (4, G, m) array and the rest is done once on (G, m) arrays."""
    G, m = grid.shape
    den = np.empty_like(u)
    inv = np.empty_like(u)
    S = np.empty((4, G, m), u.dtype)
    with np.errstate(over="ignore"):
        for g in range(G):
            np.multiply(u, grid[g], out=den)
            den += 1.0  # 1 + t u
            np.divide(1.0, den, out=inv)
            np.einsum("ij,ij->j", inv, u, out=S[0, g])  # sum w
            np.einsum("ij,ij->j", inv, yu, out=S[1, g])  # sum w y
            np.einsum("ij,ij->j", inv, y2u, out=S[2, g])  # sum w y^2
            np.multiply.reduce(den, axis=0, out=S[3, g])  # prod (1 + t u)
    S = S.astype(np.float64)
    sw, swy, ll, logdet = S
    with np.errstate(divide="ignore"):
        np.log(logdet, out=logdet)
    bad = ~np.isfinite(logdet)
    if bad.any():  # the product overflowed: sum of logs instead
        for g in np.flatnonzero(bad.any(axis=1)):
            c = np.flatnonzero(bad[g])
            d = np.multiply(u[:, c].astype(np.float64), grid[g, c].astype(np.float64))
            d += 1.0
            logdet[g, c] = np.add.reduce(np.log(d), axis=0)
    ll -= swy * swy / sw
    ll += logdet
    if reml:
        ll += np.log(sw)
    out[...] = ll


def _first_argmax(a, gidx):
    """``np.argmax(a, axis=0)`` (first index of the maximum) of a (G, m) array without NaN,
    via contiguous row reductions (argmax along axis 0 is several times slower)."""
    mx = np.maximum.reduce(a, axis=0)
    first = np.where(a == mx, gidx, a.shape[0])
    out = np.minimum.reduce(first, axis=0)
    if out.size and out.max() >= a.shape[0]:  # NaN somewhere: the plain argmax
        return np.argmax(a, axis=0)
    return out


def _likelihood_grid(v_min, T):
    """(G, m) scan grid: 0 and ``_GRID_POINTS`` geometric points from
    ``max(1e-3 v_min, 1e-9 T)`` (at most ``1e-2 T``) to the search bound ``T``."""
    low = np.minimum(np.maximum(1e-3 * v_min, 1e-9 * T), 1e-2 * T)
    G = _GRID_POINTS + 1
    ratio = np.exp(np.log(T / low) / (_GRID_POINTS - 1))
    grid = np.empty((G, T.shape[0]))
    grid[0] = 0.0
    grid[1] = low
    for g in range(2, G - 1):  # low * ratio^(g-1): a loop over grid points
        np.multiply(grid[g - 1], ratio, out=grid[g])
    grid[-1] = T
    return grid


def _grid_peaks(ll):
    """Best grid point of each column of the (G, m) log-likelihoods, and the columns ``sec`` that
    have a second discrete local maximum not adjacent to the best one (a possible second peak),
    with that maximum's grid index ``second``."""
    gidx = np.arange(ll.shape[0])[:, None]
    best = _first_argmax(ll, gidx)
    is_max = np.empty(ll.shape, bool)
    np.greater_equal(ll[1:-1], ll[:-2], out=is_max[1:-1])
    is_max[1:-1] &= ll[1:-1] > ll[2:]
    np.greater(ll[0], ll[1], out=is_max[0])
    np.greater_equal(ll[-1], ll[-2], out=is_max[-1])
    is_max &= np.abs(gidx - best) > 1  # not the best point or its neighbours
    sec = np.flatnonzero(is_max.any(axis=0))
    second = None
    if sec.size:
        second = _first_argmax(
            np.where(np.take(is_max, sec, axis=1), np.take(ll, sec, axis=1), -np.inf), gidx
        )
    return best, sec, second


def _cell_bracket_and_start(grid, ll, cell, sub, T, v_min):
    """Newton bracket and start in grid cell ``cell`` of columns ``sub`` of the (G, mi) grid.

    Grid values are read through flat indices (row * mi + column). Where the likelihood is flat to
    the scan's (single) precision between neighbouring grid points the cell is not resolved and
    the bracket is widened to the end of the flat stretch. The start is the vertex of the parabola
    through the three grid values in ``x = log(t + v_min)`` (the likelihood is much closer to a
    parabola in x than in log t: the start is ~5x closer to the root), kept inside the cell; the
    grid point itself at the ends of the grid. Returns ``(lo, hi, start)``.
    """
    G, mi = grid.shape
    cm, cp = np.maximum(cell - 1, 0), np.minimum(cell + 1, G - 1)
    f_cell, f_m, f_p = cell * mi + sub, cm * mi + sub, cp * mi + sub
    tj, lo_cell, hi_cell = np.take(grid, f_cell), np.take(grid, f_m), np.take(grid, f_p)
    fm, f0, fp = np.take(ll, f_m), np.take(ll, f_cell), np.take(ll, f_p)
    noise = 1e-5 * (1.0 + np.abs(f0))
    lo = np.where(f0 - fm < noise, 0.0, lo_cell)
    hi = np.where(f0 - fp < noise, T, hi_cell)
    x0 = np.log(lo_cell + v_min)
    x1 = np.log(tj + v_min)
    x2 = np.log(hi_cell + v_min)
    with np.errstate(divide="ignore", invalid="ignore"):
        d10, d21 = x1 - x0, x2 - x1
        s10, s21 = (f0 - fm) / d10, (fp - f0) / d21
        curv = (s21 - s10) / (d21 + d10)  # p(x) = f0 + b (x - x1) + curv (x - x1)^2
        b = s10 + curv * d10
        xs = np.minimum(np.maximum(x1 - 0.5 * b / curv, x1 - 0.9 * d10), x1 + 0.9 * d21)
        start = np.maximum(np.exp(xs) - v_min, 0.0)
    usable = (cell >= 1) & (cell <= G - 2) & (curv < 0) & np.isfinite(start)
    start = np.where(usable, start, tj)
    start[cell == 0] = 0.0
    return lo, hi, start


def _search_again_from_cell_edges(
    score, cols, fit, bracket, on_top_cell, T, v_min, reml, rtol, max_iter
):
    """Safety net: a result on the edge of its cell (other than tau2 = 0) means the scan put the
    peak in the wrong cell (e.g. a rounding tie); search those again on all of ``[0, T]`` and keep
    the higher likelihood. Updates ``fit = (t, converged, iterations)`` in place."""
    (ys, vs), (t, cv, it), (lo, hi) = cols, fit, bracket
    edge_tol = 1e-9 * (t + v_min)
    edge = ((np.abs(t - lo) <= edge_tol) & (lo > 0)) | ((np.abs(t - hi) <= edge_tol) & ~on_top_cell)
    e = np.flatnonzero(edge)
    if e.size == 0:
        return
    ye, ve = np.take(ys, e, axis=1), np.take(vs, e, axis=1)
    t2, cv2, it2 = _newton_root(
        score, (ye, ve), (), np.zeros(e.size), T[e], t[e], v_min[e], rtol, max_iter
    )
    better = _loglik(ye, ve, t2, reml) >= _loglik(ye, ve, t[e], reml)
    t[e] = np.where(better, t2, t[e])
    cv[e] = np.where(better, cv2, cv[e])
    it[e] += it2


def _likelihood_kernel(prep, reml, rtol, max_iter):
    """ML / REML tau2 of one block: global scan of ``[0, T]``, then Newton on the score in the
    best grid cell (and in the cell of a second peak, where the scan shows one); see the module
    docstring."""
    m = prep.k.shape[0]
    tau2 = np.zeros(m)
    conv = np.ones(m, bool)
    iters = np.zeros(m, np.int64)
    T = _likelihood_search_bound(prep, reml)
    sel = (prep.k >= 2) & (T > 0) & (prep.rss > 0)
    if sel.all():
        idx = None
        y, v, v_min, v_max, Ti = prep.y, prep.v, prep.v_min, prep.v_max, T
    else:
        idx = np.flatnonzero(sel)
        if idx.size == 0:
            return tau2, conv, iters
        y, v = np.take(prep.y, idx, axis=1), np.take(prep.v, idx, axis=1)
        v_min, v_max, Ti = prep.v_min[idx], prep.v_max[idx], T[idx]
    mi = Ti.shape[0]
    grid = _likelihood_grid(v_min, Ti)
    ll = _scan(y, v, grid, reml, v_min, v_max)
    best, sec, second = _grid_peaks(ll)
    score = _score_reml if reml else _score_ml
    # Refine the best cell of every analysis and the second-best peak of those that have one in
    # ONE solver call (columns [0, mi) and [mi, mi + len(sec))).
    if sec.size:
        sub = np.concatenate([np.arange(mi), sec])
        cell = np.concatenate([best, second])
        ys, vs = np.take(y, sub, axis=1), np.take(v, sub, axis=1)
        Ts, vms = Ti[sub], v_min[sub]
    else:
        sub, cell = np.arange(mi), best
        ys, vs, Ts, vms = y, v, Ti, v_min
    lo, hi, start = _cell_bracket_and_start(grid, ll, cell, sub, Ts, vms)
    t, cv, it = _newton_root(score, (ys, vs), (), lo, hi, start, vms, rtol, max_iter)
    _search_again_from_cell_edges(
        score,
        (ys, vs),
        (t, cv, it),
        (lo, hi),
        cell >= grid.shape[0] - 1,
        Ts,
        vms,
        reml,
        rtol,
        max_iter,
    )
    t1, c1, i1 = t[:mi], cv[:mi], it[:mi]
    if sec.size:  # the higher of the two peaks
        t2, c2, i2 = t[mi:], cv[mi:], it[mi:]
        ys2, vs2 = ys[:, mi:], vs[:, mi:]
        better = _loglik(ys2, vs2, t2, reml) > _loglik(ys2, vs2, t1[sec], reml)
        t1[sec] = np.where(better, t2, t1[sec])
        c1[sec] = np.where(better, c2, c1[sec])
        i1[sec] += i2
    if idx is None:
        return np.maximum(t1, 0.0), c1, i1
    tau2[idx] = np.maximum(t1, 0.0)
    conv[idx] = c1
    iters[idx] = i1
    return tau2, conv, iters


def tau2_ml(batch: StudyBatch, *, rtol: float = 1e-12, max_iter: int = 200) -> Tau2Estimate:
    """Maximum-likelihood estimator (Viechtbauer 2005): the global maximiser on ``[0, inf)`` of

    ``ll(t) = -1/2 [sum log(v + t) + sum w (y - mu_w)^2]``, ``w = 1/(v + t)``.

    Converges to the root of the score ``sum w^2 (y - mu_w)^2 - sum w = 0`` with the highest
    likelihood, or to 0 when the likelihood is highest on the boundary (global grid scan, then
    safeguarded Newton to relative tolerance ``rtol``; see the module docstring). metafor uses
    Fisher scoring from the HE estimate with an absolute threshold of 1e-5 and an ll0check.
    """
    return _run("ML", batch, _likelihood_kernel, reml=False, rtol=rtol, max_iter=max_iter)


def tau2_reml(batch: StudyBatch, *, rtol: float = 1e-12, max_iter: int = 200) -> Tau2Estimate:
    """Restricted maximum-likelihood estimator (Viechtbauer 2005): the global maximiser on
    ``[0, inf)`` of ``ll_R(t) = -1/2 [sum log(v + t) + log sum w + sum w (y - mu_w)^2]``.

    Converges to the root of the restricted score
    ``sum w^2 (y - mu_w)^2 - sum w + sum w^2 / sum w = 0`` with the highest restricted
    likelihood, or to 0 on the boundary (global grid scan, then safeguarded Newton to relative
    tolerance ``rtol``). metafor uses Fisher scoring from the HE estimate (absolute threshold 1e-5)
    and an ll0check.
    """
    return _run("REML", batch, _likelihood_kernel, reml=True, rtol=rtol, max_iter=max_iter)


_DISPATCH = {
    "DL": tau2_dl,
    "HE": tau2_he,
    "HS": tau2_hs,
    "SJ": tau2_sj,
    "ML": tau2_ml,
    "REML": tau2_reml,
    "PM": tau2_pm,
    "EB": tau2_eb,
}
_ITERATIVE = ("ML", "REML", "PM", "EB")


def estimate_tau2(
    batch: StudyBatch, method: str, *, rtol: float = 1e-12, max_iter: int = 200
) -> Tau2Estimate:
    """tau2 of every analysis in ``batch`` by ``method`` (one of :data:`TAU2_METHODS`).

    ``rtol`` and ``max_iter`` apply to the iterative estimators (ML, REML, PM, EB); see the module
    docstring for formulas, convergence rule, statuses and references.
    """
    key = str(method).upper()
    if key not in _DISPATCH:
        raise ValueError(
            f"unknown tau2 method {method!r}; expected one of {', '.join(TAU2_METHODS)}"
        )
    if not (rtol > 0):
        raise ValueError("rtol must be positive")
    if int(max_iter) < 1:
        raise ValueError("max_iter must be at least 1")
    if key in _ITERATIVE:
        return _DISPATCH[key](batch, rtol=rtol, max_iter=int(max_iter))
    return _DISPATCH[key](batch)
