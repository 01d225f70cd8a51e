"""Mixed-effects meta-regression, batched over analyses that share a design width.

Model (Raudenbush 2009; Viechtbauer 2005): ``y_i = x_i' beta + u_i + e_i`` with
``u_i ~ N(0, tau2)`` and ``e_i ~ N(0, v_i)`` (v_i known). For a given tau2 the
coefficients are the weighted least-squares estimates with ``W = diag(1/(v_i + tau2))``:
``beta = (X'WX)^-1 X'W y``, ``Var(beta) = (X'WX)^-1``.

tau2 estimators
---------------
* ``REML`` / ``ML``: the **global** maximiser of the restricted / full log-likelihood
  (Viechtbauer 2005, eqs. 5-8; metafor's ``rma.uni``). metafor runs Fisher scoring from the
  Hedges (HE) start with an absolute stopping rule; here the (profile) log-likelihood is
  evaluated on a log-spaced grid of tau2 values (plus tau2 = 0), the best grid point is
  refined by safeguarded Newton iterations on the score to a relative tolerance of ~1e-14,
  and the result is compared with tau2 = 0 (metafor's ``ll0check``). This reproduces metafor
  run with a tight ``threshold`` (the reference's ``tight`` block) and also converges where
  metafor's 100 Fisher-scoring steps do not (dat.lau1992 OR ``~ year``).
* ``DL``: method of moments, ``max(0, (QE - (k - p)) / (sum w - tr((X'WX)^-1 X'W^2 X)))``
  with ``w = 1/v`` (DerSimonian & Laird 1986, generalised by Raudenbush 2009).
* ``FE``: tau2 = 0.

Inference: ``test="z"`` Wald z-tests and normal CIs; ``test="knha"`` Knapp & Hartung (2003):
``Var(beta)`` multiplied by ``s2 = sum w_i (y_i - x_i'beta)^2 / (k - p)`` (no truncation, as
metafor 3.8), t distribution with ``k - p`` df, omnibus ``QM / m ~ F(m, k - p)``.
``QM`` is the Wald statistic ``b' V^-1 b`` of the non-intercept coefficients.
Residual heterogeneity ``QE = y'P y`` with FE weights ``P = W - W X (X'WX)^-1 X'W``;
``I2 = 100 tau2 / (tau2 + vt)``, ``H2 = (tau2 + vt) / vt`` with ``vt = (k - p) / tr(P)``
(metafor's definition for models with moderators). ``R2 = max(0, 100 (tau2_RE - tau2) / tau2_RE)``
against the same estimator without moderators (0 when tau2_RE = 0).

Arrays: ``yi, vi, mask`` are (K, n) padded as in :mod:`trialmeta.stats.batch`; ``X`` is (K, n, p)
(padding rows are ignored). No Python loop per analysis or per study.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trialmeta.stats import distributions as dist
from trialmeta.stats.result import Status

__all__ = [
    "MetaRegressionResult",
    "Tau2Fit",
    "estimate_tau2_mixed",
    "meta_regression",
    "design_matrix",
    "design_from_formula",
    "fit_given_tau2",
    "sort_levels",
    "level_label",
]

LOG2PI = np.log(2 * np.pi)


# ----------------------------------------------------------------------------------------
# linear-algebra pieces for a stack of tau2 values: tau2 has shape (K, G)
# ----------------------------------------------------------------------------------------
def _wls_pieces(y, v, mask, X, tau2, need=("ll",)):
    """Quantities of the WLS fit at each tau2 (K, G); returns dict of (K, G[, p...]) arrays."""
    t = tau2[..., None]  # K,G,1
    m = mask[:, None, :]
    vt = v[:, None, :] + t  # K,G,n: the total variances (computed once)
    w = np.where(m, 1.0 / vt, 0.0)  # K,G,n
    A = np.einsum("kgn,knp,knq->kgpq", w, X, X)
    Ainv = np.linalg.inv(A)
    Xwy = np.einsum("kgn,knp,kn->kgp", w, X, y)
    b = np.einsum("kgpq,kgq->kgp", Ainv, Xwy)
    r = np.where(m, y[:, None, :] - np.einsum("knp,kgp->kgn", X, b), 0.0)
    Py = w * r
    out = {"w": w, "A": A, "Ainv": Ainv, "beta": b, "resid": r, "RSS": (Py * r).sum(-1)}
    if "ll" in need:
        sign, logdet = np.linalg.slogdet(A)
        out["logdetA"] = logdet
        out["sumlog"] = np.where(m, np.log(vt), 0.0).sum(-1)
    if "score" in need:
        B2 = np.einsum("kgn,knp,knq->kgpq", w * w, X, X)
        AB2 = Ainv @ B2
        trP = w.sum(-1) - np.trace(AB2, axis1=-2, axis2=-1)
        B3 = np.einsum("kgn,knp,knq->kgpq", w**3, X, X)
        trPP = (
            (w * w).sum(-1)
            - 2 * np.trace(Ainv @ B3, axis1=-2, axis2=-1)
            + np.einsum("kgpq,kgqp->kg", AB2, AB2)
        )
        yPPy = (Py * Py).sum(-1)
        # P (Py): P u = W u - W X A^-1 X' W u
        u = Py
        XWu = np.einsum("kgn,knp,kgn->kgp", w, X, u)
        Pu = w * u - w * np.einsum("knp,kgp->kgn", X, np.einsum("kgpq,kgq->kgp", Ainv, XWu))
        yPPPy = (u * Pu).sum(-1)
        out.update(
            trP=trP, trPP=trPP, yPPy=yPPy, yPPPy=yPPPy, sumw=w.sum(-1), sumw2=(w * w).sum(-1)
        )
    return out


def _loglik(pieces, k, p, method):
    if method == "REML":
        return -0.5 * (
            (k - p)[:, None] * LOG2PI + pieces["sumlog"] + pieces["logdetA"] + pieces["RSS"]
        )
    return -0.5 * (k[:, None] * LOG2PI + pieces["sumlog"] + pieces["RSS"])


def _score_hess(pieces, method):
    """First and second derivative of the (restricted) log-likelihood in tau2."""
    if method == "REML":
        score = 0.5 * (pieces["yPPy"] - pieces["trP"])
        hess = -pieces["yPPPy"] + 0.5 * pieces["trPP"]
        info = 0.5 * pieces["trPP"]
    else:
        score = 0.5 * (pieces["yPPy"] - pieces["sumw"])
        hess = -pieces["yPPPy"] + 0.5 * pieces["sumw2"]
        info = 0.5 * pieces["sumw2"]
    return score, hess, info


def _sanitize(yi, vi, mask, X):
    """Replace analyses whose design is rank deficient (or k < p) by a harmless full-rank dummy
    so the batch stays computable; returns (yi, vi, mask, X, bad); callers NaN the bad rows."""
    K, n, p = X.shape
    k = mask.sum(1)
    rank = np.linalg.matrix_rank(X) if K and n else np.zeros(K, int)
    bad = (rank < p) | (k < p) | (k == 0)
    if bad.any():
        X, yi, vi, mask = X.copy(), yi.copy(), vi.copy(), mask.copy()
        safe = np.zeros((n, p))
        safe[np.arange(min(n, p)), np.arange(min(n, p))] = 1.0
        X[bad] = safe
        mask[bad] = False
        mask[bad, : min(n, p)] = True
        yi[bad] = 0.0
        vi[bad] = 1.0
    return yi, vi, mask, X, bad


@dataclass
class Tau2Fit:
    """tau2 estimate of K (mixed-effects) models."""

    method: str
    tau2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    status: np.ndarray
    loglik: np.ndarray = None


def _masked_var(y, mask):
    k = mask.sum(1)
    mean = np.where(mask, y, 0).sum(1) / np.maximum(k, 1)
    return np.where(mask, (y - mean[:, None]) ** 2, 0).sum(1) / np.maximum(k - 1, 1)


def estimate_tau2_mixed(
    yi, vi, mask, X, method="REML", *, grid_points=100, rtol=1e-14, max_iter=200
) -> Tau2Fit:
    """Residual tau2 of the mixed-effects model (see module docstring for the algorithm).

    Rank-deficient designs and k <= p give NaN with status ``failed:...``.
    """
    yi = np.asarray(yi, float)
    vi = np.asarray(vi, float)
    mask = np.asarray(mask, bool)
    X = np.where(mask[..., None], np.asarray(X, float), 0.0)
    K, n, p = X.shape
    k = mask.sum(1)
    status = np.full(K, Status.OK, dtype=object)
    yi, vi, mask, X, bad = _sanitize(yi, vi, mask, X)
    status[bad & (k < p)] = Status.FAILED + ":fewer studies than coefficients"
    status[bad & ~(k < p)] = Status.FAILED + ":design matrix not of full rank"
    kk = mask.sum(1)
    tau2 = np.zeros(K)
    converged = np.ones(K, bool)
    iters = np.zeros(K, int)
    if method in ("FE", "EE", "CE"):
        tau2[bad] = np.nan
        return Tau2Fit(method, tau2, converged & ~bad, iters, status)
    if method == "DL":
        return _tau2_dl_mixed(yi, vi, mask, X, bad, status)
    if method not in ("REML", "ML"):
        raise ValueError(f"meta-regression tau2 method must be REML, ML, DL or FE, not {method!r}")
    lo, hi, x, j = _likelihood_grid_bracket(yi, vi, mask, X, kk, method, grid_points)
    # tau2 = 0 is a boundary maximum when it is the best grid point and the score there is <= 0
    pc0 = _wls_pieces(yi, vi, mask, X, np.zeros((K, 1)), need=("score", "ll"))
    s0 = _score_hess(pc0, method)[0][:, 0]
    at_zero = (j == 0) & (s0 <= 0)
    x = np.where(j == 0, 0.5 * hi, x)
    active = ~at_zero & (kk > p)
    scale = np.maximum(_masked_var(yi, mask), np.where(mask, vi, 0).sum(1) / np.maximum(kk, 1))
    _newton_on_score((yi, vi, mask, X), method, x, (lo, hi), active, iters, scale, rtol, max_iter)
    converged = ~active
    x = np.where(at_zero, 0.0, x)
    x = np.where(kk <= p, 0.0, x)
    # final comparison with tau2 = 0 (ll0check) and with the best grid value
    ll_x = _loglik(_wls_pieces(yi, vi, mask, X, x[:, None]), kk, p, method)[:, 0]
    ll_0 = _loglik(pc0, kk, p, method)[:, 0]
    # boundary: tau2 = 0 is the maximum when the likelihood does not increase away from 0
    # (score at 0 <= 0) and nothing found is better than it beyond rounding
    near = ll_0 >= ll_x - 1e-13 * np.maximum(1.0, np.abs(ll_x))
    x = np.where((ll_0 > ll_x) | ((s0 <= 0) & near), 0.0, x)
    ll = np.maximum(ll_x, ll_0)
    st = status.copy()
    st[~converged & ~bad] = Status.NOT_CONVERGED
    st[(x == 0) & ~bad & converged] = Status.OK + ";" + Status.TAU2_BOUNDARY
    x = np.where(bad, np.nan, x)
    ll = np.where(bad, np.nan, ll)
    return Tau2Fit(method, x, converged & ~bad, iters, st, ll)


def _tau2_dl_mixed(yi, vi, mask, X, bad, status) -> Tau2Fit:
    """DerSimonian-Laird tau2 of the mixed-effects model (Raudenbush 2009):
    ``max(0, (QE - (k - p)) / tr(P))`` with ``P`` at tau2 = 0; 0 when k <= p."""
    K, _, p = X.shape
    kk = mask.sum(1)
    pc = _wls_pieces(yi, vi, mask, X, np.zeros((K, 1)), need=("score",))
    QE = pc["RSS"][:, 0]
    denom = pc["trP"][:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = np.maximum(0.0, (QE - (kk - p)) / denom)
    tau2[kk <= p] = 0.0
    tau2[bad] = np.nan
    st = status.copy()
    st[(tau2 == 0) & ~bad] = Status.OK + ";" + Status.TAU2_BOUNDARY
    return Tau2Fit("DL", tau2, ~bad, np.zeros(K, int), st)


#: Analyses per block of the likelihood grid: a block's (analyses x grid x studies) arrays stay
#: in the CPU cache (the same numbers as one pass over all analyses; each analysis is
#: computed on its own either way).
GRID_BLOCK = 32


def _grid_loglik(yi, vi, mask, X, grid, kk, method) -> np.ndarray:
    """The (restricted) log-likelihood at every grid value (K, G), in blocks of analyses."""
    p = X.shape[2]
    blocks = [
        _loglik(_wls_pieces(yi[b], vi[b], mask[b], X[b], grid[b]), kk[b], p, method)
        for b in (slice(i, i + GRID_BLOCK) for i in range(0, len(grid), GRID_BLOCK))
    ]
    return np.concatenate(blocks) if blocks else np.zeros(grid.shape)


def _likelihood_grid_bracket(yi, vi, mask, X, kk, method, grid_points):
    """Grid search for the global maximum of the (restricted) log-likelihood: 0 and
    ``grid_points - 1`` log-spaced points up to a bound where the score is negative. Returns the
    bracket ``(lo, hi)`` around the best grid point, that point ``x`` and its index ``j``."""
    K, _, p = X.shape
    # scale of tau2: residual variance of an OLS fit (plus the typical v) bounds the optimum
    ols = _wls_pieces(yi, np.ones_like(vi), mask, X, np.zeros((K, 1)), need=())
    rss_ols = ols["RSS"][:, 0]
    vmax = np.where(mask, vi, 0).max(1)
    upper = 10.0 * (rss_ols + vmax) + 1e-300
    for _ in range(8):  # make sure the score is negative at the top of the grid
        pcu = _wls_pieces(yi, vi, mask, X, upper[:, None], need=("score",))
        s_up = _score_hess(pcu, method)[0][:, 0]
        grow = s_up > 0
        if not grow.any():
            break
        upper = np.where(grow, upper * 100.0, upper)
    expo = np.linspace(-14.0, 0.0, grid_points - 1)
    grid = np.concatenate([np.zeros((K, 1)), upper[:, None] * 10.0 ** expo[None, :]], axis=1)
    ll_grid = _grid_loglik(yi, vi, mask, X, grid, kk, method)
    ll_grid = np.where(np.isfinite(ll_grid), ll_grid, -np.inf)
    j = np.argmax(ll_grid, axis=1)
    rows = np.arange(K)
    lo = grid[rows, np.maximum(j - 1, 0)]
    hi = grid[rows, np.minimum(j + 1, grid_points - 1)]
    x = grid[rows, j]
    return lo, hi, x, j


def _newton_on_score(data, method, x, bracket, active, iters, scale, rtol, max_iter):
    """Safeguarded Newton on the (restricted) score inside ``bracket = (lo, hi)``: the Newton
    step where the Hessian is negative, a Fisher-scoring step otherwise, bisection when the
    step leaves the bracket; stops at a step below ``rtol * max(t, 1e-6 scale)`` or a bracket
    below ``rtol * hi``. Updates ``x``, the bracket, ``active`` and ``iters`` in place."""
    yi, vi, mask, X = data
    lo, hi = bracket
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.nonzero(active)[0]
        pc = _wls_pieces(yi[idx], vi[idx], mask[idx], X[idx], x[idx, None], need=("score",))
        s, h, info = (a[:, 0] for a in _score_hess(pc, method))
        # shrink the bracket with the sign of the score
        lo[idx] = np.where(s > 0, x[idx], lo[idx])
        hi[idx] = np.where(s <= 0, x[idx], hi[idx])
        step = np.where(h < 0, -s / np.where(h < 0, h, -1.0), s / info)
        new = x[idx] + step
        outside = ~((new > lo[idx]) & (new < hi[idx]))
        new = np.where(outside, 0.5 * (lo[idx] + hi[idx]), new)
        delta = np.abs(new - x[idx])
        x[idx] = new
        iters[idx] += 1
        done = (delta <= rtol * np.maximum(new, 1e-6 * scale[idx])) | (
            hi[idx] - lo[idx] <= rtol * hi[idx]
        )
        active[idx[done]] = False


# ----------------------------------------------------------------------------------------
@dataclass
class MetaRegressionResult:
    """K fitted mixed-effects meta-regressions (all (K,) or (K, p) arrays)."""

    method: str
    test: str
    term_names: list
    k: np.ndarray
    p: int
    coef: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    vcov: np.ndarray
    df: np.ndarray
    tau2: np.ndarray
    QM: np.ndarray
    QM_df: np.ndarray
    QM_df2: np.ndarray
    QM_pval: np.ndarray
    QE: np.ndarray
    QE_df: np.ndarray
    QE_pval: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    vt: np.ndarray
    R2: np.ndarray
    status: np.ndarray
    se_tau2: np.ndarray = None
    tau2_fit: Tau2Fit = None
    extra: dict = field(default_factory=dict)

    def to_frame(self, term_names=None):
        """One row per analysis x coefficient: ``analysis, term``, the coefficient's ``coef, se,
        stat, pval, ci_low, ci_high``, then the model's ``QM, QM_df, QM_pval, tau2, R2, k, I2,
        QE, QE_pval, status`` (repeated on each of its rows). ``term_names``: one list for all
        analyses or one list per analysis (default :attr:`term_names`)."""
        from trialmeta.stats.result import frame

        K, p = np.asarray(self.coef).shape
        names = self.term_names if term_names is None else list(term_names)
        per_analysis = len(names) == K and all(isinstance(n, (list, tuple)) for n in names)
        ai = np.repeat(np.arange(K), p)
        cols = {
            "analysis": ai,
            "term": np.array(
                [
                    names[i][j] if per_analysis else names[j]
                    for i, j in zip(ai, np.tile(np.arange(p), K))
                ],
                dtype=object,
            ),
        }
        for name in ("coef", "se", "stat", "pval", "ci_low", "ci_high"):
            cols[name] = np.asarray(getattr(self, name)).reshape(K * p)
        for name in ("QM", "QM_df", "QM_pval", "tau2", "R2", "k", "I2", "QE", "QE_pval", "status"):
            cols[name] = np.asarray(getattr(self, name))[ai]
        return frame(cols)


def fit_given_tau2(yi, vi, mask, X, tau2, *, test="z", level=0.95, intercept=True, btt=None):
    """Coefficients, tests and heterogeneity of K models at given tau2 (K,)."""
    yi = np.asarray(yi, float)
    vi = np.asarray(vi, float)
    mask = np.asarray(mask, bool)
    X = np.where(mask[..., None], np.asarray(X, float), 0.0)
    K, n, p = X.shape
    k = mask.sum(1)
    tau2 = np.asarray(tau2, float)
    yi, vi, mask, X, bad = _sanitize(yi, vi, mask, X)
    tau2 = np.where(bad, np.nan, tau2)
    t = np.where(np.isfinite(tau2), tau2, 0.0)
    pc = _wls_pieces(yi, vi, mask, X, t[:, None], need=())
    beta = pc["beta"][:, 0]
    vb = pc["Ainv"][:, 0]
    df = np.full(K, np.nan)
    if test == "knha":
        rss = pc["RSS"][:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - p))
        vb = vb * s2w[:, None, None]
        df = (k - p).astype(float)
    se = np.sqrt(np.maximum(np.diagonal(vb, axis1=1, axis2=2), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = beta / se
    alpha = 1 - level
    if test == "knha":
        dfp = np.where(df > 0, df, np.nan)[:, None]
        pval = 2 * dist.t_sf(np.abs(stat), dfp)
        crit = dist.t_isf(alpha / 2, dfp)
    else:
        pval = 2 * dist.norm_sf(np.abs(stat))
        crit = dist.norm_isf(alpha / 2)
    ci_low = beta - crit * se
    ci_high = beta + crit * se
    if btt is None:
        btt = list(range(1, p)) if (intercept and p > 1) else list(range(p))
    m = len(btt)
    QM, QM_df2, QM_pval = _omnibus_test(beta, vb, btt, k, p, test)
    QE, QE_df, QE_pval, I2, H2, vt = _residual_heterogeneity(yi, vi, mask, X, t, k)
    nanrow = ~np.isfinite(tau2)
    out = dict(coef=beta, se=se, stat=stat, pval=pval, ci_low=ci_low, ci_high=ci_high)
    for key in out:
        out[key] = np.where(nanrow[:, None], np.nan, out[key])
    vb = np.where(nanrow[:, None, None], np.nan, vb)
    sc = dict(QM=QM, QM_pval=QM_pval, QE=QE, QE_pval=QE_pval, I2=I2, H2=H2, vt=vt)
    for key in sc:
        sc[key] = np.where(nanrow, np.nan, sc[key])
    return dict(out, vcov=vb, df=df, QM_df=np.full(K, float(m)), QM_df2=QM_df2, QE_df=QE_df, **sc)


def _omnibus_test(beta, vb, btt, k, p, test):
    """Omnibus test of the coefficients ``btt``: ``QM = b' V^-1 b`` on ``m = len(btt)`` df,
    chi-square (``test="z"``) or ``QM / m`` on F(m, k - p) (``"knha"``, Knapp & Hartung 2003).
    Returns ``(QM, QM_df2, QM_pval)``."""
    K = beta.shape[0]
    m = len(btt)
    QM = np.full(K, np.nan)
    if m:
        bb = beta[:, btt]
        vbb = vb[:, btt][:, :, btt]
        with np.errstate(invalid="ignore", divide="ignore"):
            try:
                QM = np.einsum("kp,kp->k", bb, np.linalg.solve(vbb, bb[..., None])[..., 0])
            except np.linalg.LinAlgError:
                QM = np.array([_safe_qm(bb[i], vbb[i]) for i in range(K)])
    QM_df2 = np.full(K, np.nan)
    if test == "knha":
        QM = QM / max(m, 1)
        QM_df2 = (k - p).astype(float)
        QM_pval = dist.f_sf(QM, m, np.where(QM_df2 > 0, QM_df2, np.nan))
    else:
        QM_pval = dist.chi2_sf(QM, m) if m else np.full(K, np.nan)
    return QM, QM_df2, QM_pval


def _residual_heterogeneity(yi, vi, mask, X, t, k):
    """Residual heterogeneity with fixed-effect weights: ``QE`` on ``k - p`` df and its
    chi-square p-value, and ``I2``, ``H2`` at tau2 ``t`` with the typical variance
    ``vt = (k - p) / tr(P)``; ``k <= p``: QE = 0, p = 1, I2 = 0, H2 = 1, vt = 0.
    ``k``: the studies of each model. Returns ``(QE, QE_df, QE_pval, I2, H2, vt)``.

    QR of ``W^1/2 X``, not the P-matrix form ``y'Py / tr(P)``, which loses digits when a numeric
    moderator is far from 0 (cond(X'WX) ~ 1e13 for calendar years).
    """
    p = X.shape[2]
    sw = np.sqrt(np.where(mask, 1.0 / vi, 0.0))
    Qm, _ = np.linalg.qr(sw[..., None] * X)
    z = sw * yi
    resid = z - np.einsum("knp,kp->kn", Qm, np.einsum("knp,kn->kp", Qm, z))
    QE = np.maximum(0.0, (resid * resid).sum(1))
    trP = (sw * sw).sum(1) - (sw * sw * (Qm * Qm).sum(-1)).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        vt = (k - p) / trP
        I2 = 100 * t / (vt + t)
        H2 = t / vt + 1
    QE_df = (k - p).astype(float)
    QE_pval = dist.chi2_sf(QE, np.where(QE_df > 0, QE_df, np.nan))
    none_left = k <= p
    QE = np.where(none_left, 0.0, QE)
    QE_pval = np.where(none_left, 1.0, QE_pval)
    I2 = np.where(none_left, 0.0, I2)
    H2 = np.where(none_left, 1.0, H2)
    vt = np.where(none_left, 0.0, vt)
    return QE, QE_df, QE_pval, I2, H2, vt


def _safe_qm(b, V):
    try:
        return float(b @ np.linalg.solve(V, b))
    except np.linalg.LinAlgError:
        return np.nan


def meta_regression(
    yi,
    vi,
    mask,
    X,
    *,
    method="REML",
    test="z",
    level=0.95,
    term_names=None,
    intercept=True,
    r2=True,
    tau2_intercept_only=None,
    **tau2_kw,
) -> MetaRegressionResult:
    """Fit K mixed-effects meta-regressions with the same number of columns p.

    ``X`` (K, n, p) includes the intercept column when ``intercept`` is True (first column).
    ``R2`` compares with the intercept-only model fitted by the same estimator (NaN if p == 1);
    ``tau2_intercept_only`` (K,): that model's tau2 when already fitted on the same studies
    (:func:`estimate_tau2_mixed` with ``X`` all ones), else it is fitted here.
    """
    yi = np.asarray(yi, float)
    vi = np.asarray(vi, float)
    mask = np.asarray(mask, bool)
    X = np.asarray(X, float)
    K, n, p = X.shape
    fit = estimate_tau2_mixed(yi, vi, mask, X, method, **tau2_kw)
    res = fit_given_tau2(yi, vi, mask, X, fit.tau2, test=test, level=level, intercept=intercept)
    k = mask.sum(1)
    if method in ("FE", "EE", "CE"):
        with np.errstate(invalid="ignore", divide="ignore"):
            res["I2"] = np.where(k > p, np.maximum(0, 100 * (res["QE"] - (k - p)) / res["QE"]), 0.0)
            res["H2"] = np.where(k > p, res["QE"] / (k - p), 1.0)
    R2 = np.full(K, np.nan)
    if r2 and intercept and p > 1 and method not in ("FE", "EE", "CE"):
        tau2_0 = tau2_intercept_only
        if tau2_0 is None:
            tau2_0 = estimate_tau2_mixed(yi, vi, mask, np.ones((K, n, 1)), method, **tau2_kw).tau2
        with np.errstate(invalid="ignore", divide="ignore"):
            R2 = np.where(tau2_0 == 0, 0.0, np.maximum(0.0, 100 * (tau2_0 - fit.tau2) / tau2_0))
        R2 = np.where(np.isfinite(fit.tau2), R2, np.nan)
    ys, vs, ms, Xs, _ = _sanitize(yi, vi, mask, np.where(mask[..., None], X, 0.0))
    se_tau2 = _se_tau2(ys, vs, ms, Xs, fit.tau2, method)
    names = list(term_names) if term_names is not None else [f"x{j}" for j in range(p)]
    return MetaRegressionResult(
        method=method,
        test=test,
        term_names=names,
        k=k,
        p=p,
        tau2=fit.tau2,
        R2=R2,
        status=fit.status,
        se_tau2=se_tau2,
        tau2_fit=fit,
        **res,
    )


def _p_matrix(vi, mask, X, tau2):
    """The (K, n, n) matrices ``P = W - W X (X'WX)^-1 X'W`` at tau2 (K,), as metafor forms P
    explicitly, but from a QR of ``W^1/2 X``: ``P = W^1/2 (I - QQ') W^1/2``. Expanding tr(PP)
    in terms of ``(X'WX)^-1`` instead loses up to a third of its value when a moderator is far
    from 0 (calendar years) and the variances are tiny; forming ``(X'WX)^-1`` loses ~1e-6."""
    sw = np.sqrt(np.where(mask, 1.0 / (vi + tau2[:, None]), 0.0))
    Qm, _ = np.linalg.qr(sw[..., None] * X)
    eye = np.where(mask[:, :, None], np.eye(vi.shape[1])[None], 0.0)
    return sw[:, :, None] * (eye - Qm @ np.swapaxes(Qm, 1, 2)) * sw[:, None, :]


def _se_tau2(yi, vi, mask, X, tau2, method):
    """metafor's se.tau2: REML sqrt(2 / tr(PP)), ML sqrt(2 / sum w^2) (inverse Fisher information
    at the estimate); DL sqrt((2(k-p) + 4 tau2 tr(P) + 2 tau2^2 tr(PP)) / tr(P)^2) with FE P.
    tr(P) and tr(PP) come from the explicit P (:func:`_p_matrix`)."""
    K, n, p = X.shape
    k = mask.sum(1)
    t = np.where(np.isfinite(tau2), tau2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "REML":
            out = np.sqrt(2 / (_p_matrix(vi, mask, X, t) ** 2).sum((1, 2)))
        elif method == "ML":
            out = np.sqrt(2 / np.where(mask, 1.0 / (vi + t[:, None]) ** 2, 0.0).sum(1))
        elif method == "DL":
            P = _p_matrix(vi, mask, X, np.zeros(K))
            trP, trPP = np.trace(P, axis1=1, axis2=2), (P**2).sum((1, 2))
            out = np.sqrt((2 * (k - p) + 4 * t * trP + 2 * t * t * trPP) / trP**2)
        else:
            out = np.full(K, np.nan)
    return np.where(np.isfinite(tau2), out, np.nan)


# ----------------------------------------------------------------------------------------
def design_matrix(values, *, categorical=None, name="x"):
    """One analysis' moderator column -> (X (n, p), term names), R's treatment contrasts.

    Numeric moderator: columns ``intrcpt, <name>``. Categorical (strings, bools, or
    ``categorical=True``): reference level = first level in sort order, dummy columns named
    ``factor(<name>)<level>`` as metafor/R print them. Levels are sorted as strings
    (R sorts character factors in the locale's collation; for plain ASCII labels the two agree
    except for case, which we sort case-insensitively like the C.UTF-8/en_US collation).
    """
    vals = np.asarray(values, dtype=object)
    if categorical is None:
        categorical = not all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            for v in vals
        )
    n = len(vals)
    if not categorical:
        x = np.asarray(vals, float)
        return np.column_stack([np.ones(n), x]), ["intrcpt", name]
    labels = [level_label(v) for v in vals]
    levels = sort_levels(vals)
    cols = [np.ones(n)]
    names = ["intrcpt"]
    for lev in levels[1:]:
        cols.append(np.array([1.0 if lab == lev else 0.0 for lab in labels]))
        names.append(f"factor({name}){lev}")
    return np.column_stack(cols), names


def sort_levels(values):
    """Level labels in R's factor order: numeric values sorted numerically, text sorted
    case-insensitively (the collation of R in an English/C.UTF-8 locale for ASCII labels)."""
    vals = [v for v in values]
    uniq = {level_label(v): v for v in vals}
    if all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        for v in uniq.values()
    ):
        return sorted(uniq, key=lambda lab: float(uniq[lab]))
    return sorted(uniq, key=lambda s: (s.lower(), s))


def level_label(v):
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def design_from_formula(data, formula: str):
    """Design matrix of a simple R model formula on a DataFrame: ``~ a``, ``~ factor(b)``,
    ``~ a + factor(b) + c`` (main effects only; intercept first; R's treatment contrasts and
    coefficient names, e.g. ``intrcpt, a, factor(b)level2``). Returns ``(X (n, p), names)``."""
    import re

    rhs = formula.split("~", 1)[-1]
    terms = [t.strip() for t in rhs.split("+") if t.strip()]
    cols = [np.ones(len(data))]
    names = ["intrcpt"]
    for term in terms:
        m = re.fullmatch(r"factor\((\w+)\)", term)
        if m:
            X, nm = design_matrix(data[m.group(1)].tolist(), categorical=True, name=m.group(1))
        elif re.fullmatch(r"\w+", term):
            X, nm = design_matrix(data[term].tolist(), categorical=False, name=term)
        else:
            raise ValueError(
                f"unsupported term {term!r} in formula {formula!r} (use x or factor(x) joined by +)"
            )
        cols.extend(X[:, 1:].T)
        names.extend(nm[1:])
    return np.column_stack(cols), names
