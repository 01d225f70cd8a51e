"""Absolute effects of a pooled relative effect, for Summary of Findings tables (pure NumPy).

Everything is vectorised over analyses (one array element per analysis and assumed control risk).

Treatment-group risk for an assumed control-group risk ``p_c`` (Cochrane Handbook 6.3, sections
15.4.4.2-15.4.4.3; Schünemann et al. 2011, GRADE guidelines 12):

* risk ratio ``RR``:   ``p_t = p_c * RR``
* odds ratio ``OR``:   ``p_t = p_c * OR / (1 - p_c + p_c * OR)``
* risk difference ``RD``: ``p_t = p_c + RD``

each clipped to ``[0, 1]``. The CI of ``p_t`` is the same transformation of the CI limits of the
relative effect (the assumed control risk is taken as known), and the risk difference and its CI
are ``p_t - p_c`` at the estimate and at the two limits (the transformations are monotone).

Number needed to treat (Laupacis et al. 1988; Cook & Sackett 1995): ``NNT = 1 / |p_t - p_c|``,
signed here so that a positive value is an NNT for one additional *beneficial* outcome (NNTB) and
a negative value one for an additional *harmful* outcome (NNTH)::

    nnt = 1 / (direction * (p_t - p_c)),  direction = +1 when a higher event rate is better
                                                      -1 when it is worse

These are the formulas of R ``meta::nnt`` (Schwarzer; ``logRR2nnt(x, p.c) = 1 / (p.c - exp(x) *
p.c)``, ``logOR2nnt(x, p.c) = 1 / (p.c - exp(x) * p.c / (1 - p.c + exp(x) * p.c))``,
``NNT = -1 / RD``, all with ``small.values = "good"``; ``small.values = "bad"`` flips the sign),
which in this notation is ``1 / (p_c - p_t)`` with ``direction = -1``.

Confidence interval of the NNT (Altman 1998, BMJ 317:1309-1312): the reciprocals of the limits of
the risk difference. When the CI of the risk difference excludes 0 the NNT's CI is ``[1 / |upper|,
1 / |lower|]`` on the same side; when it includes 0 the CI is in two parts through infinity,
"NNTB ``b`` to ∞ to NNTH ``h``", where ``b`` and ``h`` are the reciprocals of the limits on the
benefit and on the harm side.

Optimal information size (Guyatt et al. 2011, GRADE guidelines 6, J Clin Epidemiol 64:1283-1293):
the total sample size of a single adequately powered trial, two-sided ``alpha`` and ``power``:

* binary: ``n per group = (z_{1-alpha/2} + z_{power})^2 (p_c (1 - p_c) + p_t (1 - p_t)) /
  (p_c - p_t)^2`` with ``p_t = p_c (1 - RRR)`` (GRADE 6 uses RRR = 25%);
* continuous: ``n per group = 2 (z_{1-alpha/2} + z_{power})^2 sd^2 / delta^2``.

The OIS is twice the ``n per group``.
"""

from __future__ import annotations

import numpy as np

from trialmeta.stats.distributions import norm_isf

__all__ = [
    "treatment_risk",
    "risk_difference",
    "signed_nnt",
    "nnt_interval",
    "ois_binary",
    "ois_continuous",
    "RATIO_MEASURES",
    "RISK_MEASURES",
]

RATIO_MEASURES = ("RR", "OR")
RISK_MEASURES = ("RR", "OR", "RD")


def treatment_risk(control_risk, effect, measure: str) -> np.ndarray:
    """Treatment-group risk for ``control_risk`` under ``effect`` (natural scale: RR or OR > 0,
    RD in [-1, 1]), clipped to [0, 1]; NaN where either input is NaN."""
    p = np.asarray(control_risk, dtype=float)
    x = np.asarray(effect, dtype=float)
    if measure == "RR":
        out = p * x
    elif measure == "OR":
        with np.errstate(invalid="ignore", divide="ignore"):
            out = p * x / (1.0 - p + p * x)
        out = np.where(np.isinf(x), 1.0, out)
    elif measure == "RD":
        out = p + x
    else:
        raise ValueError(f"absolute effects need RR, OR or RD, not {measure!r}")
    return np.clip(out, 0.0, 1.0)


def risk_difference(control_risk, effect, measure: str) -> np.ndarray:
    """``treatment_risk - control_risk`` (after clipping the treatment risk to [0, 1])."""
    return treatment_risk(control_risk, effect, measure) - np.asarray(control_risk, dtype=float)


def signed_nnt(rd, higher_is_better) -> np.ndarray:
    """NNT signed: positive = NNTB, negative = NNTH; ``inf`` when ``rd`` is 0 (no difference).

    ``higher_is_better``: True where a higher event rate is the better outcome (e.g. response),
    False where the event is harmful (e.g. death, relapse)."""
    rd = np.asarray(rd, dtype=float)
    direction = np.where(np.asarray(higher_is_better, dtype=bool), 1.0, -1.0)
    with np.errstate(divide="ignore"):
        return 1.0 / (direction * rd)


def nnt_interval(rd_low, rd_high, higher_is_better):
    """Altman's (1998) CI of the NNT from the CI of the risk difference.

    Returns ``(benefit_end, harm_end, crosses)``: ``crosses`` is True where the CI of the risk
    difference includes 0; then the CI is "NNTB ``benefit_end`` to ∞ to NNTH ``harm_end``".
    Otherwise both ends lie on one side and are returned as (smaller, larger) NNT in
    ``benefit_end, harm_end`` order of magnitude, i.e. ``(1/|far limit|, 1/|near limit|)``.
    All values are positive magnitudes (NaN where undefined)."""
    lo = np.asarray(rd_low, dtype=float)
    hi = np.asarray(rd_high, dtype=float)
    direction = np.where(np.asarray(higher_is_better, dtype=bool), 1.0, -1.0)
    # oriented so that positive = benefit
    a, b = direction * lo, direction * hi
    ben, harm = np.maximum(a, b), np.minimum(a, b)  # most beneficial and most harmful limits
    crosses = (ben >= 0) & (harm <= 0)
    with np.errstate(divide="ignore"):
        inv_ben, inv_harm = 1.0 / np.abs(ben), 1.0 / np.abs(harm)
    first = np.where(crosses, inv_ben, np.minimum(inv_ben, inv_harm))
    second = np.where(crosses, inv_harm, np.maximum(inv_ben, inv_harm))
    return first, second, crosses


def _z_sum(alpha: float, power: float) -> float:
    return float(norm_isf(alpha / 2.0) + norm_isf(1.0 - power))


def ois_binary(control_risk, rrr=0.25, alpha: float = 0.05, power: float = 0.8) -> np.ndarray:
    """Optimal information size (total participants) for a relative risk reduction ``rrr`` from
    ``control_risk`` (GRADE 6); NaN where the control risk is 0, 1 or missing."""
    p_c = np.asarray(control_risk, dtype=float)
    p_t = p_c * (1.0 - np.asarray(rrr, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        n = _z_sum(alpha, power) ** 2 * (p_c * (1 - p_c) + p_t * (1 - p_t)) / (p_c - p_t) ** 2
    n = np.where((p_c > 0) & (p_c < 1), n, np.nan)
    return 2.0 * np.ceil(n)


def ois_continuous(sd, delta, alpha: float = 0.05, power: float = 0.8) -> np.ndarray:
    """Optimal information size (total participants) to detect a mean difference ``delta`` with
    outcome standard deviation ``sd`` (GRADE 6); NaN where ``delta`` is 0 or missing."""
    sd = np.asarray(sd, dtype=float)
    delta = np.abs(np.asarray(delta, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        n = 2.0 * _z_sum(alpha, power) ** 2 * sd**2 / delta**2
    n = np.where(delta > 0, n, np.nan)
    return 2.0 * np.ceil(n)
