"""Sensitivity analyses: leave-one-out, cumulative meta-analysis, influence diagnostics,
and the estimator-matrix disagreement flag.

Leave-one-out and cumulative analyses are new batches: an analysis with k studies gives k
sub-analyses (one per omitted / added study), all sub-analyses of all K analyses are stacked
into one :class:`~trialmeta.stats.batch.StudyBatch` and pooled by a single batched call (no Python
loop per analysis or per study). Definitions follow metafor 3.8 ``leave1out.rma.uni``,
``cumul.rma.uni`` and ``influence.rma.uni`` (Viechtbauer & Cheung 2010, "Outlier and influence
diagnostics for meta-analysis", Res Synth Methods 1:112-125).

tau2 in the sub-analyses: :func:`trialmeta.stats.tau2.estimate_tau2` (the same estimator as the main
analysis in pooled.csv; REML/ML are global maximisers there); pooling given tau2 is
:func:`trialmeta.stats.pooling.random_effects_given_tau2`. A sub-analysis with one study reports the
study itself with tau2 = 0, Q = 0, Q_pval = 1, I2 = 0, H2 = 1 (as metafor's ``cumul`` step 1).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from trialmeta.stats import distributions as dist
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.result import NUMBER_FIELDS, PooledResult, frame
from trialmeta.stats.tau2 import estimate_tau2

__all__ = [
    "fit_random_effects",
    "leave_one_out",
    "cumulative",
    "influence",
    "SubAnalyses",
    "InfluenceResult",
    "estimator_disagreement",
]


def fit_random_effects(
    batch: StudyBatch, tau2_method: str = "REML", ci_method: str = "wald", level: float = 0.95
) -> PooledResult:
    """Random-effects pooling of K analyses (k = 1 rows: tau2 = 0, Q = 0, I2 = 0, H2 = 1)."""
    from trialmeta.stats.pooling import fixed_effect, random_effects_given_tau2

    K, n = batch.yi.shape
    if tau2_method in ("FE", "fixed"):
        res = fixed_effect(batch, level=level)
        tau2 = np.zeros(K)
        res.tau2 = tau2
        status = res.status
    else:
        fit = estimate_tau2(batch, tau2_method)
        tau2 = np.where(batch.k >= 1, fit.tau2, np.nan)
        tau2 = np.where(batch.k == 1, 0.0, tau2)
        status = np.asarray(fit.status, dtype=object)
        res = random_effects_given_tau2(
            batch, tau2, ci_method, "metafor", level, tau2_method=tau2_method, status=status
        )
    one = batch.k == 1
    if one.any():
        for name, val in (
            ("tau2", 0.0),
            ("tau", 0.0),
            ("Q", 0.0),
            ("Q_pval", 1.0),
            ("I2", 0.0),
            ("H2", 1.0),
            ("Q_df", 0.0),
        ):
            setattr(res, name, np.where(one, val, getattr(res, name)))
    return res


@dataclass
class SubAnalyses:
    """Leave-one-out or cumulative results: one row per (analysis, omitted/added study).

    ``analysis`` (R,) index of the parent analysis, ``study`` (R,) column index of the omitted /
    added study in the parent batch, ``step`` (R,) 1-based position; ``pooled`` the PooledResult of
    the R sub-analyses.
    """

    analysis: np.ndarray
    study: np.ndarray
    step: np.ndarray
    pooled: PooledResult

    def to_frame(self):
        """One row per sub-analysis: ``analysis, study, step`` then the pooled columns
        (:meth:`PooledResult.as_columns`)."""
        return frame(
            {
                "analysis": self.analysis,
                "study": self.study,
                "step": self.step,
                **self.pooled.as_columns(),
            }
        )


def leave_one_out(
    batch: StudyBatch, tau2_method: str = "REML", ci_method: str = "wald", level: float = 0.95
) -> SubAnalyses:
    """Each analysis re-pooled without each of its studies (metafor ``leave1out``)."""
    K, n = batch.yi.shape
    ai, sj = np.nonzero(batch.mask)  # one sub-analysis per real study
    keep = batch.mask[ai].copy()
    keep[np.arange(ai.size), sj] = False
    sub = StudyBatch(np.where(keep, batch.yi[ai], 0.0), np.where(keep, batch.vi[ai], 1.0), keep)
    pooled = fit_random_effects(sub, tau2_method, ci_method, level)
    pos = np.cumsum(batch.mask, axis=1)[ai, sj]
    return SubAnalyses(ai, sj, pos, pooled)


def cumulative(
    batch: StudyBatch,
    order_key: np.ndarray,
    tau2_method: str = "REML",
    ci_method: str = "wald",
    level: float = 0.95,
) -> SubAnalyses:
    """Cumulative meta-analysis: studies added in ascending ``order_key`` (K, n), ties in column
    order (a stable sort, as R's ``order()``); step s pools the first s studies."""
    K, n = batch.yi.shape
    key = np.where(batch.mask, np.asarray(order_key, float), np.inf)
    order = np.argsort(key, axis=1, kind="stable")  # (K, n)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n)[None, :].repeat(K, 0), axis=1)
    ai, sj = np.nonzero(batch.mask)
    step = rank[ai, sj]  # 0-based position of the added study
    keep = batch.mask[ai] & (rank[ai] <= step[:, None])
    sub = StudyBatch(np.where(keep, batch.yi[ai], 0.0), np.where(keep, batch.vi[ai], 1.0), keep)
    pooled = fit_random_effects(sub, tau2_method, ci_method, level)
    srt = np.lexsort((step, ai))
    return SubAnalyses(ai[srt], sj[srt], step[srt] + 1, _take(pooled, srt))


def _take(res: PooledResult, idx: np.ndarray) -> PooledResult:
    kw = {}
    for name in ("k", *NUMBER_FIELDS, "status"):
        kw[name] = getattr(res, name)[idx]
    w = res.weights[idx] if res.weights is not None else None
    return PooledResult(
        model=res.model,
        tau2_method=res.tau2_method,
        ci_method=res.ci_method,
        weights=w,
        extra={
            key: (v[idx] if isinstance(v, np.ndarray) and v.shape[:1] == res.k.shape else v)
            for key, v in res.extra.items()
        },
        **kw,
    )


@dataclass
class InfluenceResult:
    """metafor ``influence.rma.uni`` for intercept-only random-effects models, (K, n) arrays
    (NaN for padding). ``influential`` is metafor's ``inf`` flag."""

    rstudent: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    QE_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbetas: np.ndarray
    influential: np.ndarray

    def to_frame(self, mask=None):
        """One row per study: ``analysis, study`` (row and column of the (K, n) arrays), then the
        diagnostics; ``mask`` (K, n) selects the real studies (default: where ``weight`` is
        finite)."""
        mask = np.isfinite(self.weight) if mask is None else np.asarray(mask, bool)
        ai, sj = np.nonzero(mask)
        cols = {"analysis": ai, "study": sj}
        for f in fields(self):
            cols[f.name] = getattr(self, f.name)[ai, sj]
        cols["influential"] = cols["influential"].astype(bool)
        return frame(cols)


def influence(batch: StudyBatch, tau2_method: str = "REML") -> InfluenceResult:
    """Case-deletion diagnostics of the random-effects model (z-test), as metafor 3.8.

    With ``w_i = 1/(v_i + tau2)``, ``mu`` the full-data estimate, ``mu_(i), se_(i), tau2_(i),
    QE_(i)`` the leave-one-out fit (p = 1):
    ``hat_i = w_i / sum w``, ``weight_i = 100 hat_i``;
    ``rstudent_i = (y_i - mu_(i)) / sqrt(v_i + tau2_(i) + se_(i)^2)``;
    ``dffits_i = (mu - mu_(i)) / sqrt(hat_i (tau2_(i) + v_i))``;
    ``cook_i = (mu - mu_(i))^2 / se^2``; ``cov_r_i = se_(i)^2 / se^2``;
    ``dfbetas_i = (mu - mu_(i)) / sqrt(1 / sum_j 1/(v_j + tau2_(i)))`` (all j);
    influential if ``|dffits| > 3 sqrt(p/(k-p))`` or ``pchisq(cook, 1) > 0.5`` or
    ``hat > 3 p / k`` or ``|dfbetas| > 1``.
    """
    K, n = batch.yi.shape
    full = fit_random_effects(batch, tau2_method)
    loo = leave_one_out(batch, tau2_method)
    ai, sj = loo.analysis, loo.study
    k = batch.k
    t = np.where(np.isfinite(full.tau2), full.tau2, 0.0)
    w = np.where(batch.mask, 1.0 / (batch.vi + t[:, None]), 0.0)
    hat = np.where(batch.mask, w / w.sum(1, keepdims=True), np.nan)

    def grid(vals):
        out = np.full((K, n), np.nan)
        out[ai, sj] = vals
        return out

    mu_del = grid(loo.pooled.estimate)
    se_del = grid(loo.pooled.se)
    tau2_del = grid(loo.pooled.tau2)
    QE_del = grid(loo.pooled.Q)
    mu = full.estimate[:, None]
    se2 = (full.se**2)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        resid = batch.yi - mu_del
        resid = np.where(np.abs(resid) < 100 * np.finfo(float).eps, 0.0, resid)
        rstudent = resid / np.sqrt(batch.vi + se_del**2 + tau2_del)
        dffits = (mu - mu_del) / np.sqrt(hat * (tau2_del + batch.vi))
        cook = (mu - mu_del) ** 2 / se2
        cov_r = se_del**2 / se2
        # vb.del = 1 / sum_j 1/(v_j + tau2_(i)) over all k studies
        sw_del = np.where(
            batch.mask[:, None, :], 1.0 / (batch.vi[:, None, :] + tau2_del[:, :, None]), 0.0
        ).sum(-1)
        dfbetas = (mu - mu_del) / np.sqrt(1.0 / sw_del)
        p = 1
        infl = (
            (np.abs(dffits) > 3 * np.sqrt(p / (k - p))[:, None])
            | (dist.chi2_cdf(cook, 1) > 0.5)
            | (hat > (3 * p / k)[:, None])
            | (np.abs(dfbetas) > 1)
        )
    m = batch.mask
    nan = lambda a: np.where(m, a, np.nan)  # noqa: E731
    return InfluenceResult(
        nan(rstudent),
        nan(dffits),
        nan(cook),
        nan(cov_r),
        nan(tau2_del),
        nan(QE_del),
        hat,
        nan(100 * hat),
        nan(dfbetas),
        infl & m & np.isfinite(dffits),
    )


def estimator_disagreement(pooled, *, null_value=None, key_cols=("analysis_id", "measure")):
    """Flag analyses whose conclusion depends on the tau2 x CI method.

    ``pooled`` is the pooled.csv table (rows of model ``random``, one per tau2 method x CI method).
    The null is 0 on the analysis scale (log scale for ratios; raw for differences) unless given.
    Returns one row per analysis x measure: ``n_methods, n_significant, n_not_significant,
    disagree`` (True when the CI excludes the null under at least one method and includes it
    under another) and ``methods_significant`` / ``methods_not_significant`` (``REML/hksj;...``).
    """
    import pandas as pd

    df = pooled[pooled["model"] == "random"].copy() if "model" in pooled else pooled.copy()
    nv = 0.0 if null_value is None else float(null_value)
    df = df[np.isfinite(df["ci_low"].astype(float)) & np.isfinite(df["ci_high"].astype(float))]
    df["significant"] = (df["ci_low"].astype(float) > nv) | (df["ci_high"].astype(float) < nv)
    df["method"] = df["tau2_method"].astype(str) + "/" + df["ci_method"].astype(str)
    rows = []
    for key, g in df.groupby(list(key_cols), sort=True):
        sig = sorted(g.loc[g["significant"], "method"])
        nsig = sorted(g.loc[~g["significant"], "method"])
        rows.append(
            dict(
                zip(key_cols, key if isinstance(key, tuple) else (key,)),
                n_methods=len(g),
                n_significant=len(sig),
                n_not_significant=len(nsig),
                disagree=bool(sig and nsig),
                methods_significant=";".join(sig),
                methods_not_significant=";".join(nsig),
            )
        )
    cols = list(key_cols) + [
        "n_methods",
        "n_significant",
        "n_not_significant",
        "disagree",
        "methods_significant",
        "methods_not_significant",
    ]
    return pd.DataFrame(rows, columns=cols)
