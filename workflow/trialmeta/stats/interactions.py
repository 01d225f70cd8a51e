"""Treatment-by-biomarker interactions: within-trial and between-trial, batched over units.

A *unit* is one analysis x subgroup variable x level pair (``level_a``, ``level_b``). Two ways
to ask whether the biomarker changes the treatment effect (Fisher et al. 2017, BMJ 356:j573):

* **within trial** (the "deft" approach): each trial reporting both levels contributes the
  difference of its two effects on the analysis scale, ``d = y_a - y_b`` with
  ``vd = v_a + v_b`` (the two levels are disjoint groups of patients, so their estimates are
  independent): a log ratio of risk ratios / odds ratios, a difference of mean differences.
  The ``d`` are pooled by fixed effect and by random effects (the configured tau2 estimator
  and CI method) with Cochran's Q, I2 and tau2 (:mod:`trialmeta.stats.pooling`), as metafor
  ``rma(d, vd, method = "FE")`` / ``rma(d, vd, method = "REML", test = "knha")``;
* **between trials**: every trial's level rows pooled per level across trials (separately, as
  the subgroup analysis of :mod:`trialmeta.stats.subgroups`), the difference of the two pooled
  level estimates ``est_a - est_b`` with ``se = sqrt(se_a^2 + se_b^2)`` (normal CI), and the
  test for subgroup differences (``Q_between`` on ``L - 1 = 1`` df; for two levels with Wald
  SEs it equals ``(est_a - est_b)^2 / (se_a^2 + se_b^2)``). Trials contributing one level only
  enter here, not in the within-trial analysis. This comparison mixes within- and between-trial
  information and is confounded by whatever else differs between trials.

Everything is NumPy, one call per model over all units (no loop per unit or per trial).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialmeta.stats import distributions as dist
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.pooling import fixed_effect, random_effects
from trialmeta.stats.result import PooledResult, Status
from trialmeta.stats.subgroups import subgroup_analysis

__all__ = [
    "trial_differences",
    "within_trial",
    "between_trial",
    "BetweenTrial",
]


def trial_differences(yi_a, vi_a, yi_b, vi_b) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial interaction ``d = y_a - y_b`` and its variance ``vd = v_a + v_b``."""
    yi_a, vi_a, yi_b, vi_b = (np.asarray(x, dtype=float) for x in (yi_a, vi_a, yi_b, vi_b))
    return yi_a - yi_b, vi_a + vi_b


def _batch(units, y, v, n_units: int) -> StudyBatch:
    """(n_units, n) padded batch of long rows; units without rows get an all-padding row."""
    units = np.asarray(units, dtype=np.int64)
    if units.size == 0:
        empty = np.zeros((n_units, 1))
        return StudyBatch(empty, empty + 1.0, np.zeros((n_units, 1), dtype=bool))
    codes = np.concatenate([units, np.arange(n_units)])
    yy = np.concatenate([np.asarray(y, float), np.zeros(n_units)])
    vv = np.concatenate([np.asarray(v, float), np.ones(n_units)])
    batch, position = StudyBatch.from_long(codes, yy, vv)
    real = np.where(position >= 0, position < units.size, False)
    return StudyBatch(np.where(real, batch.yi, 0.0), np.where(real, batch.vi, 1.0), real)


def within_trial(
    units,
    d,
    vd,
    n_units: int,
    tau2_method: str = "REML",
    ci_method: str = "wald",
    level: float = 0.95,
) -> tuple[PooledResult, PooledResult]:
    """Fixed-effect and random-effects pooling of the per-trial interactions ``d`` (long format,
    ``units`` in 0..n_units-1). Returns ``(fixed, random)``, each of (n_units,) arrays; a unit
    with one trial is that trial's interaction (status ``single_study``), a unit without trials
    is empty (``failed:no_studies``)."""
    batch = _batch(units, d, vd, n_units)
    fixed = fixed_effect(batch, level)
    random = random_effects(batch, tau2_method, ci_method, "none", level, q_profile=False)
    return fixed, random


@dataclass
class BetweenTrial:
    """Between-trial comparison of the units (every array (n_units,)): the two levels pooled
    separately (``*_a``, ``*_b``), their difference and the test for subgroup differences."""

    k_a: np.ndarray
    est_a: np.ndarray
    se_a: np.ndarray
    k_b: np.ndarray
    est_b: np.ndarray
    se_b: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    Q_between: np.ndarray
    Q_between_pval: np.ndarray
    tau2_a: np.ndarray
    tau2_b: np.ndarray
    status: np.ndarray


def between_trial(
    units,
    is_b,
    yi,
    vi,
    n_units: int,
    tau2_method: str = "REML",
    level: float = 0.95,
) -> BetweenTrial:
    """Level a (``is_b`` False) and level b rows of every trial (long format) pooled per level
    within each unit: ``tau2_method="FE"`` for the fixed-effect model, else random effects with
    that estimator (:func:`trialmeta.stats.subgroups.subgroup_analysis`). Level CIs, the
    difference and its test use the model-based (Wald) SEs, as the test for subgroup
    differences does."""
    batch = _batch(units, yi, vi, n_units)
    codes = _batch(units, np.asarray(is_b, float), np.ones(len(is_b)), n_units).yi.astype(int)
    fit = subgroup_analysis(
        batch,
        np.where(batch.mask, codes, -1),
        tau2_method,
        level=level,
        ci_method="wald",
    )
    cols = {}
    for name in ("k", "estimate", "se", "tau2"):
        for lv, suffix in ((0, "a"), (1, "b")):
            out = np.full(n_units, np.nan)
            pick = fit.level == lv
            out[fit.analysis[pick]] = getattr(fit, name)[pick]
            cols[f"{name}_{suffix}"] = out
    k_a, k_b = np.nan_to_num(cols["k_a"]), np.nan_to_num(cols["k_b"])
    est = cols["estimate_a"] - cols["estimate_b"]
    se = np.sqrt(cols["se_a"] ** 2 + cols["se_b"] ** 2)
    z = dist.norm_isf((1 - level) / 2)
    both = (k_a > 0) & (k_b > 0)
    status = np.where(both, Status.OK, f"{Status.FAILED}:one_level_only").astype(object)
    return BetweenTrial(
        k_a,
        cols["estimate_a"],
        cols["se_a"],
        k_b,
        cols["estimate_b"],
        cols["se_b"],
        est,
        se,
        est - z * se,
        est + z * se,
        np.where(both, fit.Q_between[:n_units], np.nan),
        np.where(both, fit.Q_between_pval[:n_units], np.nan),
        cols["tau2_a"],
        cols["tau2_b"],
        status,
    )
