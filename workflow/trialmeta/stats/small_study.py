"""Small-study effects: Egger's regression test (two forms), Begg & Mazumdar's rank
correlation test, and Duval & Tweedie's trim-and-fill (estimator L0), batched over analyses.

Run only where k >= 10 (Cochrane Handbook, section 13.3.5.4: with fewer studies the tests
have too little power to distinguish chance from real asymmetry); :func:`small_study_reason`
gives the reason string otherwise. All definitions follow metafor 3.8:

* ``regtest`` (default, Egger et al. 1997 as a mixed-effects model; Sterne & Egger 2005):
  REML meta-regression ``y_i = b0 + b1 sqrt(v_i)``, Wald z-test of ``b1``; ``b0`` is the
  "limit estimate" (effect as se -> 0) with its Wald CI.
* ``regtest(model="lm")`` (classical Egger): weighted least squares ``lm(y ~ sei, weights = 1/v)``
  with the residual variance estimated, t-test with k - 2 df; limit CI with t(k - 2).
* ``ranktest`` (Begg & Mazumdar 1994): Kendall's tau-b between
  ``(y_i - theta_FE) / sqrt(v_i - 1/sum w)`` and ``v_i``; p-value as R's
  ``cor.test(method="kendall", exact=TRUE)``: exact null distribution of Kendall's statistic
  when there are no ties (any n), otherwise the normal approximation with the tie-corrected
  variance (Kendall 1970) and no continuity correction.
* ``trimfill`` (Duval & Tweedie 2000a,b): side from the sign of the slope of the REML
  regression on sei (slope < 0: missing studies on the right, else left); iterate
  "trim the k0 most extreme studies, re-estimate with REML, recompute
  ``L0 = (4 S_r - k(k+1)) / (2k - 1)``, ``k0 = max(0, round(L0))``" until k0 repeats; fill the
  k0 mirror images ``2 theta - y_i`` (same v_i) and refit REML on the k + k0 studies.

Refusals (NaN numbers, status ``failed:<why>``) where metafor stops: k = 1; all standard errors
equal (``[1, sei]`` not of full rank by R's QR tolerance 1e-7: no slope, and no side for
trim-and-fill); k = 2 for the ``rma`` form and for trim-and-fill's side (two coefficients and
tau2 from two studies; k = 2 is allowed with tau2 fixed at 0, ``method="FE"``). The ``lm`` form
at k = 2 fits exactly: its coefficients are kept, SE, t, p and CI are NaN (no residual df), as
R's ``summary.lm``. Trim-and-fill with a given ``side`` runs at k = 2 and with equal SEs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from trialmeta.stats import distributions as dist
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.metaregression import fit_given_tau2, meta_regression
from trialmeta.stats.result import Status, per_analysis_frame
from trialmeta.stats.sensitivity import fit_random_effects

__all__ = [
    "EggerResult",
    "egger_test",
    "RankTestResult",
    "rank_test",
    "TrimFillResult",
    "trim_and_fill",
    "small_study_reason",
    "kendall_exact_cdf",
    "MIN_STUDIES",
]

#: Cochrane Handbook (version 6.4, 13.3.5.4): tests for funnel plot asymmetry only with >= 10 studies.
MIN_STUDIES = 10


def small_study_reason(k, min_k: int = MIN_STUDIES) -> np.ndarray:
    """'' where the tests are run, else why not (per analysis)."""
    k = np.asarray(k)
    return np.where(
        k >= min_k,
        "",
        np.char.add(
            np.char.add("k = ", k.astype(str)),
            f" < {min_k}: too few studies for small-study tests (Cochrane Handbook 13.3.5.4)",
        ),
    )


def _sei_design(batch: StudyBatch) -> np.ndarray:
    return np.stack([np.ones_like(batch.vi), np.sqrt(batch.vi)], axis=-1)


#: R's ``lm`` rank tolerance (``lm.fit(tol = 1e-7)``), which metafor's ``regtest`` and ``rma.uni``
#: use to decide that the standard errors add no column to the intercept.
SEI_RANK_TOL = 1e-7


def _equal_se(batch: StudyBatch) -> np.ndarray:
    """True where all standard errors are equal, as R's QR (tolerance :data:`SEI_RANK_TOL`) sees
    it: ``||sei - mean(sei)|| < tol * ||sei||``; there the design ``[1, sei]`` is not of full rank
    and metafor's ``regtest`` stops ("Model matrix no longer of full rank")."""
    m = batch.mask
    sei = np.where(m, np.sqrt(np.where(m, batch.vi, 1.0)), 0.0)
    k = np.maximum(m.sum(1), 1)
    mean = sei.sum(1) / k
    spread = np.sqrt(np.where(m, (sei - mean[:, None]) ** 2, 0.0).sum(1))
    return spread < SEI_RANK_TOL * np.sqrt((sei * sei).sum(1))


def _refusals(batch: StudyBatch, model: str, method: str) -> np.ndarray:
    """Egger's test: '' where it can be run, else the ``failed:<reason>`` status (metafor's
    ``regtest`` stops there). Both forms need k >= 2 and unequal standard errors; the ``rma``
    form estimates the two coefficients and tau2, so it needs k >= 3 (``rma.uni``: "Number of
    parameters to be estimated is larger than the number of observations"; k >= 2 for FE);
    the ``lm`` form at k = 2 fits exactly and has no residual df (no SE, t or p)."""
    k = batch.k
    fixed = method in ("FE", "EE", "CE")
    need = 2 if (model == "rma" and fixed) else 3
    out = np.full(k.shape, "", dtype=object)
    short = k < need
    if model == "lm":
        why = np.char.add(np.char.add("k = ", k.astype(str)), ", no residual df")
    else:
        why = np.char.add(
            np.char.add("k = ", k.astype(str)),
            f", too many parameters for the data (needs k >= {need})",
        )
    out[short] = np.char.add(Status.FAILED + ":", why)[short]
    out[k <= 1] = np.char.add(Status.FAILED + ":k = ", k.astype(str))[k <= 1]
    out[(k >= 2) & _equal_se(batch)] = Status.FAILED + ":all standard errors equal"
    return out


@dataclass
class EggerResult:
    """Egger's test, one entry per analysis. ``stat`` is z (model='rma') or t (model='lm')."""

    model: str
    stat: np.ndarray
    df: np.ndarray
    pval: np.ndarray
    limit_estimate: np.ndarray
    limit_ci_low: np.ndarray
    limit_ci_high: np.ndarray
    intercept: np.ndarray
    intercept_se: np.ndarray
    slope: np.ndarray
    slope_se: np.ndarray
    tau2: np.ndarray
    status: np.ndarray

    def to_frame(self):
        """One row per analysis (:func:`~trialmeta.stats.result.per_analysis_frame`)."""
        return per_analysis_frame(self)


def egger_test(
    batch: StudyBatch, model: str = "rma", method: str = "REML", level: float = 0.95
) -> EggerResult:
    """Egger's regression test in metafor's ``regtest`` forms (``model="rma"`` or ``"lm"``).
    Refused analyses (module docstring) are not fitted: NaN numbers, ``failed:<why>`` status."""
    if model not in ("rma", "lm"):
        raise ValueError("model must be 'rma' or 'lm'")
    K = batch.n_analyses
    refused = _refusals(batch, model, method)
    run = np.nonzero((refused == "") | _exact_fit(refused))[0]
    fit = {
        key: np.full((K, 2) if key in _COEF_FIELDS else K, np.nan)
        for key in (*_COEF_FIELDS, "df", "tau2")
    }
    status = np.full(K, Status.OK, dtype=object)
    if run.size:
        sub = StudyBatch(batch.yi[run], batch.vi[run], batch.mask[run])
        fitted, status[run] = _egger_fit(sub, model, method, level)
        for key, value in fitted.items():
            fit[key][run] = value
    fit, status = _apply_refusals(fit, status, refused)
    tau2 = np.where(refused != "", np.nan, fit["tau2"])
    return EggerResult(
        model,
        fit["stat"][:, 1],
        fit["df"],
        fit["pval"][:, 1],
        fit["coef"][:, 0],
        fit["ci_low"][:, 0],
        fit["ci_high"][:, 0],
        fit["coef"][:, 0],
        fit["se"][:, 0],
        fit["coef"][:, 1],
        fit["se"][:, 1],
        tau2,
        status,
    )


_COEF_FIELDS = ("coef", "se", "stat", "pval", "ci_low", "ci_high")


def _exact_fit(refused: np.ndarray) -> np.ndarray:
    """The ``lm`` form's k = 2 refusals, whose exact-fit coefficients are still reported."""
    return np.array([str(r).endswith("no residual df") for r in refused], dtype=bool)


def _egger_fit(batch: StudyBatch, model: str, method: str, level: float):
    """The regression of y on [1, sei] of Egger's test: (dict of the ``_COEF_FIELDS`` (K, 2),
    ``df`` and ``tau2`` (K,), status (K,))."""
    X = _sei_design(batch)
    K = batch.n_analyses
    if model == "rma":
        res = meta_regression(
            batch.yi,
            batch.vi,
            batch.mask,
            X,
            method=method,
            test="z",
            level=level,
            term_names=["intrcpt", "sei"],
            r2=False,
        )
        fit = {key: getattr(res, key) for key in (*_COEF_FIELDS, "df", "tau2")}
        return fit, res.status
    # weighted lm with estimated residual variance == WLS at tau2 = 0 scaled by RSS/(k-2),
    # i.e. exactly the Knapp-Hartung computation with tau2 = 0
    fit = fit_given_tau2(batch.yi, batch.vi, batch.mask, X, np.zeros(K), test="knha", level=level)
    fit = {key: fit[key] for key in (*_COEF_FIELDS, "df")}
    fit["tau2"] = np.full(K, np.nan)
    return fit, np.full(K, Status.OK, dtype=object)


def _apply_refusals(fit: dict, status: np.ndarray, refused: np.ndarray):
    """NaN the refused analyses' numbers and give them the refusal status. The ``lm`` form at
    k = 2 keeps its exact-fit coefficients and df = 0, as R's ``summary.lm`` (NaN SE, t, p, CI)."""
    fit = dict(fit)
    bad = refused != ""
    exact_fit = _exact_fit(refused)
    for key in _COEF_FIELDS:
        keep = exact_fit[:, None] if key == "coef" else np.zeros_like(bad)[:, None]
        fit[key] = np.where(bad[:, None] & ~keep, np.nan, fit[key])
    fit["df"] = np.where(bad & ~exact_fit, np.nan, fit["df"])
    status = np.where(bad, refused, status).astype(object)
    return fit, status


# ----------------------------------------------------------------------------------------
@cache
def _kendall_pmf(n: int) -> np.ndarray:
    """Null distribution of the number of inversions of a random permutation of n (Mahonian)."""
    dist = np.ones(1)
    for i in range(2, n + 1):
        if n <= 150:  # direct convolution: exact tails (O(n^4) but small)
            dist = np.convolve(dist, np.ones(i)) / i
        else:  # moving sum via cumulative sums: O(n^3), tails less precise
            c = np.concatenate([[0.0], np.cumsum(dist)])
            j = np.arange(dist.size + i - 1)
            dist = (c[np.minimum(j, dist.size - 1) + 1] - c[np.maximum(j - i + 1, 0)]) / i
    return dist


def _kendall_cdf(q, n: int) -> np.ndarray:
    """Vectorised :func:`kendall_exact_cdf` over an array of q."""
    cdf = np.cumsum(_kendall_pmf(n))
    q = np.asarray(q, float)
    out = cdf[np.clip(q, 0, cdf.size - 1).astype(int)]
    return np.where(q < 0, 0.0, np.where(q >= cdf.size - 1, 1.0, out))


def kendall_exact_cdf(q, n: int) -> float:
    """P(T <= q) for Kendall's statistic T (number of concordant pairs) under independence,
    as R's ``pkendall`` (C_pKendall)."""
    if q < 0:
        return 0.0
    pmf = _kendall_pmf(n)
    if q >= pmf.size - 1:
        return 1.0
    return float(pmf[: int(q) + 1].sum())


@dataclass
class RankTestResult:
    tau: np.ndarray
    pval: np.ndarray
    exact: np.ndarray  # True where the exact distribution was used (no ties)
    status: np.ndarray

    def to_frame(self):
        """One row per analysis (:func:`~trialmeta.stats.result.per_analysis_frame`)."""
        return per_analysis_frame(self)


def rank_test(batch: StudyBatch) -> RankTestResult:
    """Begg & Mazumdar's rank correlation test (metafor ``ranktest``), batched."""
    m = batch.mask
    w = np.where(m, 1.0 / batch.vi, 0.0)
    sw = w.sum(1)
    theta = (w * batch.yi).sum(1) / sw
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(m, (batch.yi - theta[:, None]) / np.sqrt(batch.vi - 1.0 / sw[:, None]), 0.0)
    y = batch.vi
    pair = m[:, :, None] & m[:, None, :]
    upper = np.triu(np.ones(pair.shape[1:], bool), 1)[None]
    pu = pair & upper
    dx = np.sign(x[:, :, None] - x[:, None, :])
    dy = np.sign(y[:, :, None] - y[:, None, :])
    S = np.where(pu, dx * dy, 0).sum((1, 2))
    n = m.sum(1).astype(float)
    T0 = n * (n - 1) / 2
    eqx = pair & (x[:, :, None] == x[:, None, :])
    eqy = pair & (y[:, :, None] == y[:, None, :])
    cx = eqx.sum(2).astype(float)  # size of the tie group of each element (1 = untied)
    cy = eqy.sum(2).astype(float)
    T1 = np.where(m, cx - 1, 0).sum(1) / 2
    T2 = np.where(m, cy - 1, 0).sum(1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = S / np.sqrt((T0 - T1) * (T0 - T2))
    ties = (T1 > 0) | (T2 > 0)
    # normal approximation with ties (R cor.test, continuity = FALSE)
    v0 = n * (n - 1) * (2 * n + 5)
    vt = np.where(m, (cx - 1) * (2 * cx + 5), 0).sum(1)
    vu = np.where(m, (cy - 1) * (2 * cy + 5), 0).sum(1)
    v1 = np.where(m, cx - 1, 0).sum(1) * np.where(m, cy - 1, 0).sum(1)
    v2 = np.where(m, (cx - 1) * (cx - 2), 0).sum(1) * np.where(m, (cy - 1) * (cy - 2), 0).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_S = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1)) + v2 / (9 * n * (n - 1) * (n - 2))
        Sstat = tau * np.sqrt((T0 - T1) * (T0 - T2))
        z = Sstat / np.sqrt(var_S)
    p_norm = 2 * np.minimum(dist.norm_cdf(z), dist.norm_sf(z))
    pval = p_norm.copy()
    status = np.full(n.size, Status.OK, dtype=object)
    exact = np.nonzero(~ties & (n >= 2) & np.isfinite(tau))[0]
    for nn in np.unique(n[exact]).astype(int):  # loop over distinct k, not over analyses
        sel = exact[n[exact] == nn]
        q = np.round((tau[sel] + 1) * nn * (nn - 1) / 4)
        p = np.where(q > nn * (nn - 1) / 4, 1 - _kendall_cdf(q - 1, nn), _kendall_cdf(q, nn))
        pval[sel] = np.minimum(2 * p, 1.0)
    status[ties] = Status.OK + ";ties_normal_approximation"
    bad = ~np.isfinite(tau)
    pval[bad] = np.nan
    status[bad] = Status.FAILED + ":tau undefined"
    return RankTestResult(tau, pval, ~ties & ~bad, status)


# ----------------------------------------------------------------------------------------
@dataclass
class TrimFillResult:
    """Trim-and-fill (L0), one entry per analysis; ``fill_yi``/``fill_vi`` (K, n) NaN-padded
    (the first ``k0`` entries are the filled studies, in metafor's order)."""

    side: np.ndarray
    k0: np.ndarray
    se_k0: np.ndarray
    k_total: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    Q: np.ndarray
    Q_pval: np.ndarray
    fill_yi: np.ndarray
    fill_vi: np.ndarray
    iterations: np.ndarray
    status: np.ndarray

    def to_frame(self):
        """One row per analysis (:func:`~trialmeta.stats.result.per_analysis_frame`)."""
        return per_analysis_frame(self)


def _l0_estimate(Sr: np.ndarray, kk: np.ndarray):
    """Duval & Tweedie's L0 estimator of the number of missing studies and its SE, from the
    Wilcoxon rank sum ``Sr`` of the positive centred effects among ``kk`` studies."""
    L0 = (4 * Sr - kk * (kk + 1)) / (2 * kk - 1)
    varSr = (
        kk * (kk + 1) * (2 * kk + 1)
        + 10 * L0**3
        + 27 * L0**2
        + 17 * L0
        - 18 * kk * L0**2
        - 18 * kk * L0
        + 6 * kk**2 * L0
    ) / 24
    with np.errstate(invalid="ignore"):
        se = 4 * np.sqrt(varSr) / (2 * kk - 1)
    return L0, se


def _positive_rank_sum(yc: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Sum of the ranks of |yc| (ties.method = "first") of the real studies with yc > 0."""
    n = yc.shape[1]
    a = np.where(real, np.abs(yc), np.inf)
    ordr = np.argsort(a, axis=1, kind="stable")
    rnk = np.empty_like(ordr)
    np.put_along_axis(rnk, ordr, np.arange(1, n + 1)[None, :].repeat(yc.shape[0], 0), axis=1)
    return np.where(real & (yc > 0), rnk, 0).sum(1).astype(float)


def _trim_iterations(ys, vs, ms, k, method, level, max_iter):
    """Iterate trim (drop the k0 largest) -> pool -> L0 until k0 is stable, per analysis.

    ``ys, vs, ms`` are the effects flipped to the side being trimmed and sorted ascending.
    Returns k0, its SE, the last trimmed estimate, iteration counts and statuses.
    """
    K, n = ys.shape
    col = np.arange(n)[None, :]
    k0, k0_prev = np.zeros(K, int), np.full(K, -1)
    se_k0, beta = np.full(K, np.nan), np.zeros(K)
    iters = np.zeros(K, int)
    active = k > 1
    status = np.full(K, Status.OK, dtype=object)
    for it in range(max_iter + 1):
        active &= k0 != k0_prev
        if not active.any():
            break
        if it == max_iter:
            status[active] = Status.NOT_CONVERGED
            break
        idx = np.nonzero(active)[0]
        k0_prev[idx] = k0[idx]
        iters[idx] += 1
        keep = ms[idx] & (col < (k[idx] - k0[idx])[:, None])
        sub = StudyBatch(np.where(keep, ys[idx], 0.0), np.where(keep, vs[idx], 1.0), keep)
        b = fit_random_effects(sub, method, level=level).estimate
        beta[idx] = b
        yc = np.where(ms[idx], ys[idx] - b[:, None], 0.0)
        L0, se = _l0_estimate(_positive_rank_sum(yc, ms[idx]), k[idx].astype(float))
        k0[idx] = np.maximum(0, np.round(L0)).astype(int)
        se_k0[idx] = np.maximum(0, se)
    return k0, se_k0, beta, iters, status


def _filled_studies(ys, vs, k, k0, beta, sgn):
    """The k0 largest studies (in the flipped space) mirrored about beta, back on the
    original side: (yi, vi, valid), each (K, max k0)."""
    n = ys.shape[1]
    width = max(int(k0.max()) if k0.size else 0, 1)
    j = np.arange(width)[None, :]
    src = (k - k0)[:, None] + j  # positions k-k0 .. k-1 in sorted order
    valid = j < k0[:, None]
    srcc = np.clip(src, 0, n - 1)
    fill_y = np.where(
        valid, sgn[:, None] * (2 * beta[:, None] - np.take_along_axis(ys, srcc, 1)), np.nan
    )
    fill_v = np.where(valid, np.take_along_axis(vs, srcc, 1), np.nan)
    return fill_y, fill_v, valid


def trim_and_fill(
    batch: StudyBatch,
    method: str = "REML",
    level: float = 0.95,
    max_iter: int = 100,
    side=None,
    sei_slope=None,
) -> TrimFillResult:
    """Duval & Tweedie trim-and-fill with the L0 estimator, as metafor's ``trimfill.rma.uni``.

    The side is estimated from the sign of Egger's slope (metafor's ``estimator = "L0"``,
    ``side`` from the regression test on the SEs) unless given; the final model is refitted on
    the original plus the filled studies. Refused with a ``failed:...`` status and NaN numbers
    (as metafor stops) at k = 1, and, when the side is to be estimated, at k = 2 (k < 3 unless
    ``method`` is FE) or when all standard errors are equal (:func:`_estimated_side`).
    ``sei_slope`` (K,): slopes of that regression already fitted with the same ``method``
    (``egger_test(batch, "rma", method).slope``), NaN where not fitted; only those are fitted here.
    """
    K = batch.yi.shape[0]
    m = batch.mask
    k = m.sum(1)
    refused = np.where(k <= 1, Status.FAILED + ":k = 1", "").astype(object)
    if side is None:
        side, refused = _estimated_side(batch, method, refused, sei_slope)
    else:
        side = np.broadcast_to(np.asarray(side, dtype=object), (K,)).copy()
    sgn = np.where(side == "right", -1.0, 1.0)
    yf = sgn[:, None] * batch.yi
    order = np.argsort(np.where(m, yf, np.inf), axis=1, kind="stable")
    ys, vs, ms = (np.take_along_axis(x, order, 1) for x in (yf, batch.vi, m))  # real first
    k0, se_k0, beta, iters, status = _trim_iterations(ys, vs, ms, k, method, level, max_iter)
    fill_y, fill_v, valid = _filled_studies(ys, vs, k, k0, beta, sgn)
    Y = np.concatenate([batch.yi, np.where(valid, fill_y, 0.0)], axis=1)
    V = np.concatenate([batch.vi, np.where(valid, fill_v, 1.0)], axis=1)
    final = fit_random_effects(
        StudyBatch(Y, V, np.concatenate([m, valid], axis=1)), method, level=level
    )
    bad = refused != ""
    status = np.where(status == Status.OK, np.asarray(final.status, dtype=object), status)
    status = np.where(bad, refused, status)
    return _trimfill_result(
        side, k, k0, se_k0, final, fill_y, fill_v, iters, status.astype(object), bad
    )


def _estimated_side(batch: StudyBatch, method: str, refused: np.ndarray, sei_slope=None):
    """metafor's side: ``right`` where the slope of the regression on the SEs (``rma.uni(yi, vi,
    mods = sqrt(vi))``, the tau2 ``method``) is negative, else ``left``. Refused (side '', status
    ``failed:...``; metafor stops there too) where that model cannot be fitted: k = 2 with tau2
    estimated (two coefficients and tau2 from two studies), or all standard errors equal (the
    slope does not exist). Give ``side`` to run trim-and-fill there. Returns (side, refused)."""
    k = batch.k
    need = 2 if method in ("FE", "EE", "CE") else 3
    refused = refused.copy()
    few = (refused == "") & (k < need)
    refused[few] = [
        f"{Status.FAILED}:k = {kk}, too few studies to estimate the side (needs k >= {need})"
        for kk in k[few]
    ]
    equal = (refused == "") & _equal_se(batch)
    refused[equal] = Status.FAILED + ":all standard errors equal, side undetermined"
    side = np.full(k.shape, "", dtype=object)
    run = np.nonzero(refused == "")[0]
    if run.size:
        side[run] = np.where(_sei_slopes(batch, run, method, sei_slope) < 0, "right", "left")
    side[refused != ""] = ""
    return side, refused


def _sei_slopes(batch: StudyBatch, rows: np.ndarray, method: str, known=None) -> np.ndarray:
    """Slope of ``rma.uni(yi, vi, mods = sqrt(vi))`` (tau2 ``method``) of the analyses ``rows``:
    ``known[rows]`` where given (not NaN), else fitted (each analysis is fitted on its own, so a
    slope fitted in another batch is the same number)."""
    slope = np.full(rows.size, np.nan) if known is None else np.asarray(known, float)[rows]
    todo = rows[np.isnan(slope)]
    if todo.size:
        sub = StudyBatch(batch.yi[todo], batch.vi[todo], batch.mask[todo])
        reg = meta_regression(sub.yi, sub.vi, sub.mask, _sei_design(sub), method=method, r2=False)
        slope[np.isnan(slope)] = reg.coef[:, 1]
    return slope


def _trimfill_result(side, k, k0, se_k0, final, fill_y, fill_v, iters, status, bad):
    def nanbad(a):
        return np.where(bad, np.nan, a)

    fits = (final.estimate, final.se, final.stat, final.pval, final.ci_low, final.ci_high)
    heterogeneity = (final.tau2, final.I2, final.H2, final.Q, final.Q_pval)
    return TrimFillResult(
        side,
        np.where(bad, 0, k0),
        nanbad(se_k0),
        k + np.where(bad, 0, k0),
        *(nanbad(x) for x in fits + heterogeneity),
        np.where(bad[:, None], np.nan, fill_y),
        np.where(bad[:, None], np.nan, fill_v),
        iters,
        status,
    )
