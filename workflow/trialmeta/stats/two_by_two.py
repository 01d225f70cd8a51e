"""What the 2x2-table pooling methods (Mantel-Haenszel, Peto) share: K analyses' tables as padded
arrays, the p-value of a chi-square test statistic, and the result of a common-effect estimate
with its Wald z test and confidence interval.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from trialmeta.stats import distributions as dist
from trialmeta.stats.result import PooledResult, Status

__all__ = ["Tables", "two_by_two_tables", "chi2_test_pvalue", "common_effect_result"]


class Tables(NamedTuple):
    """K analyses' 2x2 tables as float (K, n) arrays: cells a, b (treatment events, non-events),
    c, d (control), arm sizes n1, n2, N = n1 + n2, event and non-event totals xt, yt, the mask
    and k per analysis. Padding holds a harmless 1/1 vs 1/1 table (masked out of every sum)."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    n1: np.ndarray
    n2: np.ndarray
    N: np.ndarray
    xt: np.ndarray
    yt: np.ndarray
    mask: np.ndarray
    k: np.ndarray


def two_by_two_tables(a, n1, c, n2, mask) -> Tables:
    """:class:`Tables` from events ``a``/``c`` and sizes ``n1``/``n2`` ((K, n) padded arrays)."""
    mask = np.atleast_2d(np.asarray(mask, dtype=bool))
    a, n1, c, n2 = (
        np.where(mask, np.atleast_2d(np.asarray(x, dtype=float)), 1.0) for x in (a, n1, c, n2)
    )
    n1 = np.where(mask, n1, 2.0)
    n2 = np.where(mask, n2, 2.0)
    b = n1 - a
    d = n2 - c
    return Tables(a, b, c, d, n1, n2, n1 + n2, a + c, b + d, mask, mask.sum(axis=1))


def chi2_test_pvalue(stat, df):
    """Upper chi-square tail of a test statistic; NaN where the statistic is not finite (e.g. a
    zero variance) or ``df < 1`` (:func:`trialmeta.stats.distributions.chi2_sf`)."""
    stat = np.asarray(stat, dtype=float)
    return dist.chi2_sf(np.where(np.isfinite(stat), stat, np.nan), df)


def common_effect_result(model, k, est, se, level, q_parts, status, weights, extra) -> PooledResult:
    """A :class:`~trialmeta.stats.result.PooledResult` of a common-effect estimate ``est`` (K,)
    with standard error ``se``: Wald z test and CI at ``level``, the heterogeneity ``q_parts =
    (Q, k_yi, Q_pval, I2, H2)``, status (``single_study`` for k = 1, ``failed:no_studies`` for
    k = 0), weights (percent) and ``extra`` columns (``k_yi`` added)."""
    z = float(-special.ndtri((1.0 - level) / 2.0))  # = scipy.stats.norm.isf
    q, k_yi, q_p, i2, h2 = q_parts
    with np.errstate(invalid="ignore", divide="ignore"):
        zval = est / se
    K = k.shape[0]
    status = np.asarray(status, dtype=object)
    status = np.where(k == 1, Status.SINGLE_STUDY, status).astype(object)
    status = np.where(k == 0, f"{Status.FAILED}:no_studies", status).astype(object)
    q_df = np.where(k_yi >= 1, k_yi - 1.0, np.nan)
    return PooledResult(
        model=model,
        tau2_method="",
        ci_method="",
        k=k.astype(float),
        estimate=est,
        se=se,
        stat=zval,
        df=np.full(K, np.nan),
        pval=2.0 * special.ndtr(-np.abs(zval)),
        ci_low=est - z * se,
        ci_high=est + z * se,
        I2=i2,
        H2=h2,
        Q=q,
        Q_df=q_df,
        Q_pval=q_p,
        status=status,
        weights=weights,
        extra={"k_yi": k_yi.astype(float), **extra},
    )
