"""Mantel-Haenszel pooling of K analyses of 2x2 tables at once (metafor's ``rma.mh`` defaults).

Inputs are (K, n) padded arrays (``mask`` True for a real table; see :mod:`trialmeta.stats.batch`):
``a``/``c`` events and ``n1``/``n2`` sizes of the treatment/control arms, ``b = n1 - a``,
``d = n2 - c``, ``N = n1 + n2``. Sums run over the tables of one analysis. The pooled estimate
uses the raw counts (no continuity correction; metafor ``add=c(1/2, 0), to=c("only0", "none")``):

* ``OR`` (Mantel & Haenszel 1959): ``psi = R/S``, ``R = sum a d / N``, ``S = sum b c / N``; the
  variance of ``log psi`` is Robins, Breslow & Greenland (1986):
  ``v = 1/2 [sum P R_i / R^2 + sum (P S_i + Q R_i) / (R S) + sum Q S_i / S^2]`` with
  ``P = (a + d)/N``, ``Q = (b + c)/N``. Undefined (NaN) when R = 0 or S = 0.
* ``RR``: ``R = sum a n2 / N``, ``S = sum c n1 / N``; Greenland & Robins (1985):
  ``v = sum (n1 n2 (a + c) / N^2 - a c / N) / (R S)``. Undefined when sum a = 0 or sum c = 0.
* ``RD``: ``rd = sum (a n2 - c n1)/N / sum n1 n2 / N``; Sato, Greenland & Robins (1989):
  ``v = (rd sum (c n1^2 - a n2^2 + n1 n2 (n2 - n1)/2)/N^2 + sum (a (n2 - c) + c (n1 - a))/(2N))
  / (sum n1 n2 / N)^2``.

Heterogeneity (as ``rma.mh``): Cochran's Q about the MH estimate,
``Q = sum w_i (y_i - theta_MH)^2`` with ``y_i, v_i = 1/w_i`` the study effect sizes of
:func:`trialmeta.stats.effect_sizes.binary_effects` with ``add=1/2, to="only0", drop00=True`` (tables
without events, or without non-events, in both arms do not count), on ``k_yi - 1`` df;
``I2 = max(0, 100 (Q - df)/Q)``, ``H2 = Q/df``; with ``k_yi <= 1``: Q = 0, p = 1, I2 = 0, H2 = 1.

For ``OR`` also (``extra``):

* the Cochran-Mantel-Haenszel test with continuity correction (Mantel & Haenszel 1959),
  ``CMH = (|sum (a - n1 m1/N)| - 1/2)^2 / sum n1 n2 m1 m0 / (N^2 (N - 1))`` (``m1 = a + c``
  events, ``m0 = b + d`` non-events), chi-square on 1 df; ``CO`` is Cochran's (1954) version with
  ``N`` instead of ``N - 1`` in the variance;
* the Breslow-Day test of homogeneity of the odds ratios (Breslow & Day 1980) with Tarone's (1985)
  correction: the expected cell ``E`` of each table under the common odds ratio ``psi`` solves
  ``E (m0 - n1 + E) = psi (n1 - E)(m1 - E)`` (the root in ``[0, min(n1, m1)]``), written here in
  the cancellation-free form ``E = 2 psi n1 m1 / (A + sqrt(A^2 - 4 psi (psi - 1) n1 m1))``,
  ``A = psi (n1 + m1) + n2 - m1`` (algebraically identical to metafor's ``(A - B)/(2(psi - 1))``,
  and equal to ``n1 m1 / N`` at ``psi = 1``); with ``V = 1/(1/E + 1/(n1-E) + 1/(m1-E) +
  1/(E - n1 - m1 + N))``, ``BD = sum (a - E)^2 / V``, ``TA = BD - (sum (a - E))^2 / sum V``,
  over the ``k_pos`` tables with ``E > 0``, ``m1 > 0``, ``m0 > 0``, chi-square on ``k_pos - 1``
  df (NaN when ``k_pos <= 1``).

Weights (percent) are the Mantel-Haenszel weights ``b c / N`` (OR), ``c n1 / N`` (RR),
``n1 n2 / N`` (RD), as metafor's ``weights.rma.mh``.

References
----------
Mantel N, Haenszel W (1959). Statistical aspects of the analysis of data from retrospective
studies of disease. J Natl Cancer Inst 22:719-748.
Cochran WG (1954). Some methods for strengthening the common chi-square tests. Biometrics
10:417-451.
Greenland S, Robins JM (1985). Estimation of a common effect parameter from sparse follow-up data.
Biometrics 41:55-68.
Robins J, Breslow N, Greenland S (1986). Estimators of the Mantel-Haenszel variance consistent in
both sparse data and large-strata limiting models. Biometrics 42:311-323.
Sato T, Greenland S, Robins JM (1989). On the variance estimator for the Mantel-Haenszel risk
difference. Biometrics 45:1323-1324.
Breslow NE, Day NE (1980). Statistical Methods in Cancer Research, Vol. I. IARC, Lyon.
Tarone RE (1985). On heterogeneity tests based on efficient scores. Biometrika 72:91-95.
"""

from __future__ import annotations

import numpy as np

from trialmeta.stats.effect_sizes import binary_effects
from trialmeta.stats.result import PooledResult, Status
from trialmeta.stats.two_by_two import chi2_test_pvalue, common_effect_result, two_by_two_tables

__all__ = ["mantel_haenszel", "MH_MEASURES", "binary_q"]

MH_MEASURES = ("OR", "RR", "RD")
_OR_EXTRA = ("k_pos", "CMH", "CMH_pval", "CO", "CO_pval", "BD", "BD_pval", "TA", "TA_pval")


def _sum(x, mask):
    return np.where(mask, x, 0.0).sum(axis=1)


def binary_q(a, n1, c, n2, mask, measure, estimate):
    """Cochran's Q about ``estimate`` from escalc'd yi/vi (add 1/2, only0, drop00=TRUE).

    Returns ``(Q, k_yi, Q_pval, I2, H2)`` as (K,) arrays, with metafor's ``k_yi <= 1`` rule
    (Q = 0, p = 1, I2 = 0, H2 = 1) and NaN where the estimate is NaN.
    """
    es = binary_effects(a, n1, c, n2, measure, add=0.5, to="only0", drop00=True, check=False)
    use = mask & ~es.dropped
    k_yi = use.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        resid = np.where(use, es.yi - estimate[:, None], 0.0)
        q = np.maximum(0.0, np.where(use, resid**2 / np.where(use, es.vi, 1.0), 0.0).sum(axis=1))
        q = np.where(np.isfinite(estimate), q, np.nan)
        df = k_yi - 1.0
        pval = chi2_test_pvalue(q, df)
        i2 = np.maximum(0.0, 100.0 * (q - df) / q)
        h2 = q / df
    single = k_yi <= 1
    q = np.where(single & np.isfinite(estimate), 0.0, q)
    pval = np.where(single & np.isfinite(estimate), 1.0, pval)
    i2 = np.where(single & np.isfinite(estimate), 0.0, i2)
    h2 = np.where(single & np.isfinite(estimate), 1.0, h2)
    return q, k_yi, pval, i2, h2


def _odds_ratio(t):
    """MH odds ratio (log scale) and the Robins-Breslow-Greenland variance; returns
    ``(log psi, se, weights b c / N, undefined, psi)``."""
    a, b, c, d, N, mask = t.a, t.b, t.c, t.d, t.N, t.mask
    P = a / N + d / N
    Q = b / N + c / N
    Ri = (a / N) * d
    Si = (b / N) * c
    R = _sum(Ri, mask)
    S = _sum(Si, mask)
    undefined = (R == 0) | (S == 0)
    psi = np.where(undefined, np.nan, R / np.where(undefined, 1.0, S))
    se = np.sqrt(
        0.5
        * (
            _sum(P * Ri, mask) / R**2
            + _sum(P * Si + Q * Ri, mask) / (R * S)
            + _sum(Q * Si, mask) / S**2
        )
    )
    se = np.where(undefined, np.nan, se)
    return np.log(psi), se, Si, undefined, psi


def _cmh_tests(t, no_events, correct):
    """Cochran-Mantel-Haenszel (``N - 1``) and Cochran (``N``) tests of a common OR of 1,
    continuity corrected by 1/2 when ``correct``; returns ``(CMH, CO)``."""
    a, n1, n2, N, xt, yt, mask = t.a, t.n1, t.n2, t.N, t.xt, t.yt, t.mask
    num = (np.abs(_sum(a - (n1 / N) * xt, mask)) - (0.5 if correct else 0.0)) ** 2
    cmh = num / _sum((n1 / N) * (n2 / N) * (xt * (yt / (N - 1))), mask)
    co = num / _sum((n1 / N) * (n2 / N) * (xt * (yt / N)), mask)
    return np.where(no_events, np.nan, cmh), np.where(no_events, np.nan, co)


def _breslow_day(t, psi, undefined):
    """Breslow-Day test with Tarone's correction at the common OR ``psi`` (expected cell from
    the quadratic, in the stable form of the module docstring); returns ``(k_pos, BD, TA)``."""
    a, n1, n2, N, xt, yt, mask = t.a, t.n1, t.n2, t.N, t.xt, t.yt, t.mask
    ps = psi[:, None]
    A = ps * (n1 + xt) + (n2 - xt)
    disc = np.maximum(A**2 - 4.0 * n1 * xt * ps * (ps - 1.0), 0.0)
    den = A + np.sqrt(disc)
    E = np.where(den != 0, 2.0 * ps * n1 * xt / np.where(den != 0, den, 1.0), 0.0)
    pos = mask & (E > 0) & (xt > 0) & (yt > 0) & ~undefined[:, None]
    Es = np.where(pos, E, 1.0)
    V = 1.0 / (1.0 / Es + 1.0 / (n1 - Es) + 1.0 / (xt - Es) + 1.0 / (Es - n1 - xt + N))
    dev = np.where(pos, a - Es, 0.0)
    Vp = np.where(pos, V, 0.0)
    k_pos = pos.sum(axis=1).astype(float)
    bd = np.maximum(0.0, np.where(pos, dev**2 / np.where(pos, V, 1.0), 0.0).sum(axis=1))
    ta = np.maximum(0.0, bd - dev.sum(axis=1) ** 2 / Vp.sum(axis=1))
    bd = np.where(undefined, np.nan, bd)
    ta = np.where(undefined, np.nan, ta)
    return np.where(undefined, 0.0, k_pos), bd, ta


def _odds_ratio_tests(t, psi, undefined, no_events, correct) -> dict:
    """The OR's ``extra`` columns: CMH and CO tests (1 df), Breslow-Day and Tarone tests
    (``k_pos - 1`` df)."""
    cmh, co = _cmh_tests(t, no_events, correct)
    k_pos, bd, ta = _breslow_day(t, psi, undefined)
    bd_df = np.where(k_pos > 1, k_pos - 1.0, np.nan)
    return dict(
        CMH=cmh,
        CMH_pval=chi2_test_pvalue(cmh, 1.0),
        CO=co,
        CO_pval=chi2_test_pvalue(co, 1.0),
        k_pos=k_pos,
        BD=bd,
        BD_pval=chi2_test_pvalue(bd, bd_df),
        TA=ta,
        TA_pval=chi2_test_pvalue(ta, bd_df),
    )


def _risk_ratio(t):
    """MH risk ratio (log scale) and the Greenland-Robins variance; returns
    ``(log RR, se, weights c n1 / N, undefined)``.

    Each table's term ``n1 n2 (a + c) / N^2 - a c / N`` (metafor's form) equals
    ``(a n1 d + c n2 b) / N^2 >= 0``; it is exactly 0 when ``a d = 0`` and ``b c = 0`` (no events
    in either arm, or every patient in both arms had the event), and is set to 0 there: the
    difference of the two products leaves round-off (e.g. -1.1e-16 for 1/1 vs 19/19), which
    gave a NaN SE (the square root of a negative sum; metafor's ``rma.mh`` gives NaN with a
    warning) or a spurious SE of ~1e-8, and 0 with the arms swapped.
    """
    a, b, c, d, n1, n2, N, mask = t.a, t.b, t.c, t.d, t.n1, t.n2, t.N, t.mask
    R = _sum(a * (n2 / N), mask)
    S = _sum(c * (n1 / N), mask)
    undefined = (_sum(a, mask) == 0) | (_sum(c, mask) == 0)
    est = np.where(undefined, np.nan, np.log(R / S))
    term = (n1 / N) * (n2 / N) * (a + c) - (a / N) * c
    term = np.where((a * d == 0) & (b * c == 0), 0.0, term)
    se = np.where(undefined, np.nan, np.sqrt(_sum(term, mask) / (R * S)))
    return est, se, (c / N) * n1, undefined


def _risk_difference(t):
    """MH risk difference and the Sato-Greenland-Robins variance; returns
    ``(RD, se, weights n1 n2 / N, undefined)`` (undefined where the variance is not > 0).

    The variance's numerator ``RD x sum(...) + sum(...)/2`` is a difference that is exactly 0
    e.g. when every arm had all or none of the events and the tables agree (3/3 vs 0/49 and
    1/1 vs 0/1: RD = 1); a result within round-off of 0 (64 eps of its two parts) counts as 0,
    so the SE is 0 whichever arm is called treatment (not NaN one way and 1e-8 the other).
    """
    a, c, n1, n2, N, mask = t.a, t.c, t.n1, t.n2, t.N, t.mask
    W = _sum(n1 * (n2 / N), mask)
    est = _sum(a * (n2 / N) - c * (n1 / N), mask) / W
    spread = _sum(c * (n1 / N) ** 2 - a * (n2 / N) ** 2 + (n1 / N) * (n2 / N) * (n2 - n1) / 2, mask)
    first = est * spread
    second = _sum(a * (n2 - c) / N + c * (n1 - a) / N, mask) / 2
    num = first + second
    num = np.where(
        np.abs(num) <= 64.0 * np.finfo(float).eps * (np.abs(first) + np.abs(second)), 0.0, num
    )
    se = np.sqrt(num / W**2)
    return est, se, (n1 / N) * n2, ~(se > 0)


def mantel_haenszel(a, n1, c, n2, mask, measure, level=0.95, *, correct=True) -> PooledResult:
    """Mantel-Haenszel pooled OR / RR / RD of K analyses of 2x2 tables (``rma.mh`` defaults).

    Parameters
    ----------
    a, n1, c, n2 : (K, n) arrays
        Events and sizes of the treatment (``a``, ``n1``) and control (``c``, ``n2``) arms.
    mask : (K, n) bool
        True for a real table, False for padding.
    measure : ``"OR"``, ``"RR"`` or ``"RD"``
    level : float
        Confidence level of the Wald CI.
    correct : bool
        Continuity correction (1/2) of the Cochran-Mantel-Haenszel statistics (metafor's default).

    Returns
    -------
    PooledResult
        ``model="mh"``; estimate (log scale for OR/RR), se, z, p, CI; Q, Q_df (= k_yi - 1),
        Q_pval, I2, H2 (see module docstring); ``extra``: ``k_yi, k_pos, CMH, CMH_pval, CO,
        CO_pval, BD, BD_pval, TA, TA_pval`` (NaN except k_yi for RR/RD). Status ``no_events``
        where the estimate is undefined because no table has events (or non-events),
        ``failed:mh_estimate_undefined`` where it is undefined otherwise (e.g. every table has
        a zero in a or d for OR), ``single_study`` for k = 1 (metafor's numbers are kept).
    """
    if measure not in MH_MEASURES:
        raise ValueError(f"Mantel-Haenszel measure must be one of {MH_MEASURES}, not {measure!r}")
    t = two_by_two_tables(a, n1, c, n2, mask)
    mask, k = t.mask, t.k
    K = t.a.shape[0]
    no_events = (_sum(t.xt, mask) == 0) | (_sum(t.yt, mask) == 0)
    nan = np.full(K, np.nan)
    extra = {name: nan.copy() for name in _OR_EXTRA}
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if measure == "OR":
            est, se, w, undefined, psi = _odds_ratio(t)
            extra.update(_odds_ratio_tests(t, psi, undefined, no_events, correct))
        elif measure == "RR":
            est, se, w, undefined = _risk_ratio(t)
        else:
            est, se, w, undefined = _risk_difference(t)
        est = np.where(k == 0, np.nan, est)
        se = np.where(k == 0, np.nan, se)
        wsum = _sum(w, mask)
        weights = np.where(mask, w * (100.0 / wsum)[:, None], 0.0)
    status = np.full(K, Status.OK, dtype=object)
    status = np.where(undefined & ~no_events, f"{Status.FAILED}:mh_estimate_undefined", status)
    status = np.where(no_events, Status.NO_EVENTS, status)
    q_parts = binary_q(t.a, t.n1, t.c, t.n2, mask, measure, est)
    return common_effect_result("mh", k, est, se, level, q_parts, status, weights, extra)
