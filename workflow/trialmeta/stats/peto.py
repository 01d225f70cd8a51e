"""Peto's one-step odds ratio of K analyses of 2x2 tables at once (metafor's ``rma.peto``).

Yusuf, Peto, Lewis, Collins & Sleight (1985). For each table (``a``/``c`` events, ``n1``/``n2``
sizes of the treatment/control arms, ``m1 = a + c`` events, ``m0 = N - m1`` non-events,
``N = n1 + n2``), raw counts, no continuity correction:

* observed minus expected ``O - E = a - m1 n1 / N``;
* hypergeometric variance ``V = m1 m0 n1 n2 / (N^2 (N - 1))``;
* ``log OR = sum (O - E) / sum V``, ``se = 1 / sqrt(sum V)``, Wald z test and CI;
* heterogeneity ``Q = sum_{V > 0} (O - E)^2 / V - (sum (O - E))^2 / sum V`` (truncated at 0) on
  ``k_yi - 1`` df, ``k_yi`` = tables with an escalc'd Peto effect (``drop00=TRUE``: tables without
  events, or without non-events, in both arms do not count); ``I2 = max(0, 100 (Q - df)/Q)``,
  ``H2 = Q/df``; when at most one table has ``V > 0``: p = 1, I2 = 0, H2 = 1 (as ``rma.peto``).

An analysis in which no table has both outcomes (``sum V = 0``; metafor stops with an error) has
NaN results and status ``no_events``. Weights (percent) are ``V / sum V``.

References
----------
Yusuf S, Peto R, Lewis J, Collins R, Sleight P (1985). Beta blockade during and after myocardial
infarction: an overview of the randomized trials. Prog Cardiovasc Dis 27:335-371.
"""

from __future__ import annotations

import numpy as np

from trialmeta.stats.result import Status
from trialmeta.stats.two_by_two import chi2_test_pvalue, common_effect_result, two_by_two_tables

__all__ = ["peto"]


def peto(a, n1, c, n2, mask, level=0.95):
    """Peto odds ratio (log scale) of K analyses; (K, n) padded arrays, see module docstring.

    Returns a :class:`~trialmeta.stats.result.PooledResult` with ``model="peto"``; ``extra`` holds
    ``k_yi`` and ``k_pos`` (tables with V > 0).
    """
    a, b, c, d, n1, n2, N, xt, yt, mask, k = two_by_two_tables(a, n1, c, n2, mask)
    E = xt * n1 / N
    V = np.where(mask, xt * yt * (n1 / N) * (n2 / N) / (N - 1), 0.0)
    sum_v = V.sum(axis=1)
    oe = np.where(mask, a - E, 0.0)
    sum_oe = oe.sum(axis=1)
    none = ~(sum_v > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(none, np.nan, sum_oe / sum_v)
        se = np.where(none, np.nan, np.sqrt(1.0 / sum_v))
        pos = V > 0
        k_pos = pos.sum(axis=1)
        q = np.where(pos, oe**2 / np.where(pos, V, 1.0), 0.0).sum(axis=1) - sum_oe**2 / sum_v
        q = np.where(none, np.nan, np.maximum(0.0, q))
        # k_yi: tables kept by escalc(measure="PETO", drop00=TRUE)
        dropped = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        k_yi = (mask & ~dropped).sum(axis=1)
        df = k_yi - 1.0
        many = k_pos > 1
        q_p = np.where(many, chi2_test_pvalue(q, df), 1.0)
        i2 = np.where(many, np.maximum(0.0, 100.0 * (q - df) / q), 0.0)
        h2 = np.where(many, q / df, 1.0)
        q_p, i2, h2 = (np.where(none, np.nan, x) for x in (q_p, i2, h2))
        weights = np.where(mask, V * (100.0 / sum_v)[:, None], 0.0)
    status = np.where(none, Status.NO_EVENTS, Status.OK).astype(object)
    return common_effect_result(
        "peto",
        k,
        est,
        se,
        level,
        (q, k_yi, q_p, i2, h2),
        status,
        weights,
        {"k_pos": k_pos.astype(float)},
    )
