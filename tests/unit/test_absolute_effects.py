"""trialmeta.stats.absolute_effects against hand computation and R meta::nnt's formulas.

R ``meta`` (Schwarzer), ``R/nnt.R`` (github.com/guido-s/meta), with ``small.values = "good"``
(smaller effects = benefit, i.e. the event is harmful)::

    logRR2nnt <- function(x, p.c) 1 / (p.c - exp(x) * p.c)
    logOR2nnt <- function(x, p.c) 1 / (p.c - exp(x) * p.c / (1 - p.c + exp(x) * p.c))
    RD: NNT <- -1 / x
    small.values = "bad": NNT <- -NNT, lower <- -upper, upper <- -lower

meta is not installed here (R has metafor only), so the formulas are transcribed below and
compared over a grid; the Cochrane Handbook 6.3 examples (section 15.4.4; the examples of
``meta::nnt``'s help page) are checked by hand.
"""

import math

import numpy as np
import pytest

from trialmeta.stats import absolute_effects as ae
from trialmeta.tables.summary_of_findings import nnt_text


def meta_nnt(x, p_c, sm, small_values="good"):
    """R meta::nnt.default(x, p.c, sm, small.values) for natural-scale x (transcribed)."""
    if sm == "RD":
        nnt = -1 / x
    elif sm == "RR":
        nnt = 1 / (p_c - math.exp(math.log(x)) * p_c)
    else:
        e = math.exp(math.log(x))
        nnt = 1 / (p_c - e * p_c / (1 - p_c + e * p_c))
    return -nnt if small_values == "bad" else nnt


@pytest.mark.parametrize("sm", ["RR", "OR", "RD"])
@pytest.mark.parametrize("small_values", ["good", "bad"])
def test_signed_nnt_is_meta_nnt(sm, small_values):
    p_c = np.array([0.05, 0.2, 0.3, 0.5, 0.8])
    effects = {"RR": [0.5, 0.92, 1.3], "OR": [0.4, 0.73, 1.6], "RD": [-0.12, -0.03, 0.05]}[sm]
    for x in effects:
        for p in p_c:
            raw = {"RR": p * x, "OR": p * x / (1 - p + p * x), "RD": p + x}[sm]
            if not 0 <= raw <= 1:
                continue  # we cap the treatment risk at 0 and 1,000 per 1,000; meta does not
            rd = ae.risk_difference(p, x, sm)
            ours = ae.signed_nnt(rd, higher_is_better=(small_values == "bad"))
            assert float(ours) == pytest.approx(meta_nnt(x, p, sm, small_values), rel=1e-12)


def test_cochrane_handbook_examples_by_hand():
    # 15.4.4.1: RD -0.12 and -0.22 -> NNT 8.33 and 4.55 (rounded up: 9 and 5)
    assert float(ae.signed_nnt(-0.12, False)) == pytest.approx(1 / 0.12)
    assert math.ceil(float(ae.signed_nnt(-0.22, False))) == 5
    # 15.4.4.2: RR 0.92, control risk 0.3: p_t = 0.276, NNT = 1 / 0.024 = 41.67 (42)
    assert float(ae.treatment_risk(0.3, 0.92, "RR")) == pytest.approx(0.276)
    assert float(ae.signed_nnt(ae.risk_difference(0.3, 0.92, "RR"), False)) == pytest.approx(
        1 / 0.024
    )
    # 15.4.4.3: OR 0.73, control risk 0.3: p_t = 0.219 / 0.919, NNT = 16.2 (17)
    pt = 0.3 * 0.73 / (1 - 0.3 + 0.3 * 0.73)
    assert float(ae.treatment_risk(0.3, 0.73, "OR")) == pytest.approx(pt, rel=1e-14)
    nnt = float(ae.signed_nnt(ae.risk_difference(0.3, 0.73, "OR"), False))
    assert nnt == pytest.approx(1 / (0.3 - pt)) and math.ceil(nnt) == 17


def test_treatment_risk_ci_per_1000_and_clipping():
    p_c = 0.2
    rr = np.array([1.5, 1.1, 2.0])  # estimate, CI limits
    pt = ae.treatment_risk(p_c, rr, "RR")
    np.testing.assert_allclose(1000 * pt, [300, 220, 400])
    np.testing.assert_allclose(1000 * ae.risk_difference(p_c, rr, "RR"), [100, 20, 200])
    assert float(ae.treatment_risk(0.6, 2.5, "RR")) == 1.0  # capped at 1,000 per 1,000
    assert float(ae.treatment_risk(0.1, -0.3, "RD")) == 0.0
    np.testing.assert_allclose(ae.treatment_risk(0.25, 0.05, "RD"), 0.30)
    with pytest.raises(ValueError):
        ae.treatment_risk(0.2, 1.5, "MD")


def test_altman_interval_through_infinity():
    # a good outcome (response): RD CI -0.02 to 0.08 -> NNTB 12.5 to infinity to NNTH 50
    first, second, crosses = ae.nnt_interval(-0.02, 0.08, True)
    assert bool(crosses) and float(first) == pytest.approx(12.5) and float(second) == 50
    # a harmful event: the same RD CI is NNTB 50 to infinity to NNTH 12.5
    first, second, crosses = ae.nnt_interval(-0.02, 0.08, False)
    assert bool(crosses) and float(first) == pytest.approx(50) and float(second) == 12.5
    # CI on one side: ordinary interval (1/upper, 1/lower)
    first, second, crosses = ae.nnt_interval(0.05, 0.20, True)
    assert not bool(crosses) and (float(first), float(second)) == pytest.approx((5.0, 20.0))
    assert nnt_text(8.0, 5.0, 20.0, False) == "NNTB 8 (5 to 20)"
    assert nnt_text(-12.2, 12.5, 50.0, True) == "NNTH 13 (NNTB 13 to ∞ to NNTH 50)"
    assert nnt_text(float("inf"), 12.5, 50.0, True) == "NNT ∞ (NNTB 13 to ∞ to NNTH 50)"


def test_optimal_information_size_by_hand():
    z = 1.959963984540054 + 0.8416212335729143  # z_0.975 + z_0.80
    # control risk 0.2, RRR 25%: p_t 0.15; n/group = z^2 (0.16 + 0.1275) / 0.05^2 = 902.6 -> 903
    n = z**2 * (0.2 * 0.8 + 0.15 * 0.85) / 0.05**2
    assert float(ae.ois_binary(0.2)) == 2 * math.ceil(n) == 1806
    # continuous, 0.2 SD: n/group = 2 z^2 / 0.04 = 392.4 -> 393
    assert float(ae.ois_continuous(1.0, 0.2)) == 2 * math.ceil(2 * z**2 / 0.04) == 786
    assert np.isnan(ae.ois_binary(0.0)) and np.isnan(ae.ois_continuous(1.0, 0.0))
