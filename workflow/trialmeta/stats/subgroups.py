"""Subgroup analysis by a categorical moderator, batched over analyses.

Default (``common_tau2=False``, the Cochrane/RevMan convention and metafor's recipe in the
reference set, ``subgroups_REML``): a separate random-effects model within each level (its own
tau2, primary estimator, REML by default), then the test for subgroup differences is the
fixed-effect meta-regression of the level estimates on the level factor with their standard
errors, ``rma(yi = est, sei = se, mods = ~ factor(level), method = "FE")``. Its QM equals
Cochran's Q of the level estimates, ``Q_between = sum_l (est_l - est_bar)^2 / se_l^2`` with
``est_bar`` their inverse-variance mean, on ``L - 1`` df (Borenstein et al. 2009, ch. 19;
Cochrane Handbook 10.11.3.1). This identity is what is computed.

Option ``common_tau2=True``: one mixed-effects model with the factor (one tau2 shared by all
levels, Borenstein et al. 2009 ch. 19 "pooled tau2"; metafor ``rma(yi, vi, mods = ~ factor(g))``):
level estimates are the cell means ``b0 + b_l`` with their model-based SEs, and
``Q_between`` is the Wald QM of the level dummies (L - 1 df). Level ``tau2`` is the common
residual tau2; ``Q``/``I2`` per level are still the within-level values.

A level with one study is shown (its own estimate and Wald CI, tau2 = 0, Q = 0, I2 = 0,
status ``single_study``) but not pooled; as in metafor, it still enters the test for subgroup
differences with its own estimate and SE. Studies with a missing moderator value are left out.

``ci_method`` (``wald``, the default and metafor's; or ``hksj``) is the CI, SE and p-value of the
pooled levels of the separate-tau2 model (the workflow passes the primary CI method). The test for
subgroup differences always uses the model-based (Wald) SEs of the levels, as metafor's recipe;
single-study levels and the common-tau2 model (z tests) keep Wald CIs; ``ci_method`` per row says
which CI a row carries.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from trialmeta.stats import distributions as dist
from trialmeta.stats.batch import StudyBatch, pad_by_group
from trialmeta.stats.metaregression import estimate_tau2_mixed, fit_given_tau2
from trialmeta.stats.pooling import random_effects_given_tau2
from trialmeta.stats.result import Status, frame
from trialmeta.stats.sensitivity import fit_random_effects

__all__ = ["SubgroupResult", "subgroup_analysis"]


@dataclass
class SubgroupResult:
    """One row per (analysis, level) present: ``analysis`` (R,), ``level`` (R,) codes, and the
    per-level fields; per analysis (K,): ``Q_between, Q_between_df, Q_between_pval``."""

    analysis: np.ndarray
    level: np.ndarray
    k: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    tau2: np.ndarray
    I2: np.ndarray
    Q: np.ndarray
    Q_pval: np.ndarray
    status: np.ndarray
    ci_method: np.ndarray
    Q_between: np.ndarray
    Q_between_df: np.ndarray
    Q_between_pval: np.ndarray

    def to_frame(self):
        """One row per (analysis, level): ``analysis, level`` (codes), the per-level fields, then
        the analysis' test for subgroup differences (``Q_between, Q_between_df, Q_between_pval``)."""
        cols = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("Q_between", "Q_between_df", "Q_between_pval"):
            cols[name] = cols[name][self.analysis]
        return frame(cols)


def subgroup_analysis(
    batch: StudyBatch,
    level_codes,
    tau2_method: str = "REML",
    *,
    common_tau2: bool = False,
    level: float = 0.95,
    ci_method: str = "wald",
) -> SubgroupResult:
    """``level_codes`` (K, n) int: level index of each study (in the moderator's sorted level
    order), -1 for a missing value (study left out) or padding. ``ci_method``: CI of the pooled
    levels (separate tau2), see the module docstring."""
    codes = np.where(batch.mask, np.asarray(level_codes, int), -1)
    K, n = codes.shape
    L = int(codes.max()) + 1 if codes.size and codes.max() >= 0 else 0
    ai, sj = np.nonzero(codes >= 0)
    lv = codes[ai, sj]
    group = ai * max(L, 1) + lv  # (analysis, level) group id
    uniq, gcode = np.unique(group, return_inverse=True)
    g_an, g_lv = uniq // max(L, 1), uniq % max(L, 1)
    mask, pos, y, v = pad_by_group(gcode, batch.yi[ai, sj], batch.vi[ai, sj])
    sub = StudyBatch(np.where(mask, y, 0.0), np.where(mask, v, 1.0), mask)
    res = fit_random_effects(sub, tau2_method, "wald", level)
    est, se, tau2 = res.estimate.copy(), res.se.copy(), res.tau2.copy()
    status = np.where(sub.k == 1, Status.SINGLE_STUDY, res.status).astype(object)
    # ---- between-level test: Q of level estimates (FE meta-regression on the factor) ------
    if not common_tau2:
        m2, _, e2, s2 = pad_by_group(g_an, est, se)
        w = np.where(m2, 1.0 / np.where(m2, s2, 1.0) ** 2, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = (w * np.where(m2, e2, 0)).sum(1) / w.sum(1)
            qb = (w * (np.where(m2, e2, 0) - mu[:, None]) ** 2).sum(1)
        dfb = m2.sum(1) - 1.0
        present = np.unique(g_an)
        Q_between = np.full(K, np.nan)
        Q_df = np.full(K, np.nan)
        Q_between[present] = np.where(dfb >= 1, qb, np.nan)
        Q_df[present] = np.where(dfb >= 1, dfb, np.nan)
    else:
        est, se, tau2, Q_between, Q_df, st_common = _common_tau2(
            batch, codes, g_an, g_lv, L, tau2_method, level
        )
        status = np.where(sub.k == 1, Status.SINGLE_STUDY, st_common[g_an]).astype(object)
    z = dist.norm_isf((1 - level) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = est / se
    Q_pval = dist.chi2_sf(Q_between, np.where(Q_df >= 1, Q_df, np.nan))
    interval = [se, stat, 2 * dist.norm_sf(np.abs(stat)), est - z * se, est + z * se]
    used = np.full(sub.k.shape, "wald", dtype=object)
    if ci_method != "wald" and not common_tau2:
        adj = random_effects_given_tau2(sub, tau2, ci_method, "none", level, status=res.status)
        interval = [adj.se, adj.stat, adj.pval, adj.ci_low, adj.ci_high]
        used = np.where(sub.k == 1, "wald", ci_method).astype(object)
    return SubgroupResult(
        g_an,
        g_lv,
        sub.k,
        est,
        interval[0],
        interval[1],
        interval[2],
        interval[3],
        interval[4],
        tau2,
        res.I2,
        res.Q,
        res.Q_pval,
        status,
        used,
        Q_between,
        Q_df,
        Q_pval,
    )


def _common_tau2(batch, codes, g_an, g_lv, L, tau2_method, level):
    """Mixed-effects model with the level factor (intercept = first level present)."""
    K, n = codes.shape
    mask = codes >= 0
    present = np.zeros((K, max(L, 1)), bool)
    present[g_an, g_lv] = True
    nlev = present.sum(1)
    # reference = first present level; dummies for the other present levels (compacted)
    rank_of = np.cumsum(present, axis=1) - 1  # compact index of each level
    compact = np.where(mask, np.take_along_axis(rank_of, np.maximum(codes, 0), 1), -1)
    est = np.full(g_an.size, np.nan)
    se = np.full(g_an.size, np.nan)
    tau2_rows = np.full(g_an.size, np.nan)
    Q_between = np.full(K, np.nan)
    Q_df = np.full(K, np.nan)
    status = np.full(K, Status.OK, dtype=object)
    for p in np.unique(nlev):  # loop over design widths only
        idx = np.nonzero(nlev == p)[0]
        X = np.zeros((idx.size, n, p))
        X[..., 0] = 1.0
        c = compact[idx]
        for j in range(1, p):
            X[..., j] = c == j
        m = mask[idx]
        fit = estimate_tau2_mixed(
            batch.yi[idx],
            batch.vi[idx],
            m,
            X,
            "REML" if tau2_method not in ("ML", "DL") else tau2_method,
        )
        out = fit_given_tau2(batch.yi[idx], batch.vi[idx], m, X, fit.tau2, level=level)
        V = out["vcov"]
        b = out["coef"]
        # cell means: b0 + b_j
        C = np.zeros((p, p))
        C[:, 0] = 1.0
        C[np.arange(1, p), np.arange(1, p)] = 1.0
        means = b @ C.T
        var = np.einsum("lp,kpq,lq->kl", C, V, C)
        sel = np.isin(g_an, idx)
        rr = np.searchsorted(idx, g_an[sel])
        cc = rank_of[g_an[sel], g_lv[sel]]
        est[sel] = means[rr, cc]
        se[sel] = np.sqrt(var[rr, cc])
        tau2_rows[sel] = fit.tau2[rr]
        if p > 1:
            Q_between[idx] = out["QM"]
            Q_df[idx] = p - 1
        status[idx] = fit.status
    return est, se, tau2_rows, Q_between, Q_df, status
