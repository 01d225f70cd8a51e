"""Small-study tests vs metafor: ``regtest_REML`` (tight block, 1e-8), ``regtest_lm`` and
``ranktest`` (closed form, 1e-10), ``trimfill_REML`` (tight block, 1e-8), every field, every
dataset and measure. The engine functions run whatever k is (the k >= 10 rule is applied by the
table builder), so all reference analyses are compared.

Ties in ranktest (dat.axfors2021 OR/RR/RD, dat.pignon2000): R's cor.test cannot use the exact
Kendall distribution and uses the normal approximation with the tie-corrected variance; so does
trialmeta (status notes ``ties_normal_approximation``).
"""

import numpy as np
import pytest
from scipy import stats

from helpers.bias_reference_helpers import CLOSED, TIGHT, check, load_case
from helpers.reference_data import reference_cases
from trialmeta.stats.small_study import (
    egger_test,
    kendall_exact_cdf,
    rank_test,
    small_study_reason,
    trim_and_fill,
)

ALL = reference_cases()
IDS = [f"{c[0]}-{c[1]}-{c[2]}" for c in ALL]


@pytest.mark.parametrize("ds,aid,m", ALL, ids=IDS)
def test_regtest_rma_tight(ds, aid, m):
    rows, a, r, y, v, batch, s = load_case(ds, aid, m)
    ref = r["tight"]["regtest_REML"]
    res = egger_test(batch, "rma")
    sd = np.sqrt(s)
    for key, got, sc in (
        ("zval", res.stat, 1.0),
        ("pval", res.pval, 0.0),
        ("limit_estimate", res.limit_estimate, sd),
        ("limit_ci.lb", res.limit_ci_low, sd),
        ("limit_ci.ub", res.limit_ci_high, sd),
        ("intercept", res.intercept, sd),
        ("intercept_se", res.intercept_se, sd),
        ("slope", res.slope, sd),
        ("slope_se", res.slope_se, sd),
        ("tau2", res.tau2, s),
    ):
        check(got, ref[key], TIGHT, sc, key)
    assert ref["model"] == "rma" and ref["predictor"] == "sei"


@pytest.mark.parametrize("ds,aid,m", ALL, ids=IDS)
def test_regtest_lm(ds, aid, m):
    rows, a, r, y, v, batch, s = load_case(ds, aid, m)
    ref = r["regtest_lm"]
    res = egger_test(batch, "lm")
    for key, got in (
        ("tval", res.stat),
        ("df", res.df),
        ("pval", res.pval),
        ("limit_estimate", res.limit_estimate),
        ("limit_ci.lb", res.limit_ci_low),
        ("limit_ci.ub", res.limit_ci_high),
        ("intercept", res.intercept),
        ("intercept_se", res.intercept_se),
        ("slope", res.slope),
        ("slope_se", res.slope_se),
    ):
        check(got, ref[key], CLOSED, 0.0, key)


@pytest.mark.parametrize("ds,aid,m", ALL, ids=IDS)
def test_ranktest(ds, aid, m):
    rows, a, r, y, v, batch, s = load_case(ds, aid, m)
    ref = r["ranktest"]
    res = rank_test(batch)
    check(res.tau, ref["tau"], CLOSED, 1e-15, "tau")
    check(res.pval, ref["pval"], CLOSED, 0.0, "pval")
    tie_warning = any("ties" in w for w in ref.get("warnings", []))
    assert res.exact[0] == (not tie_warning)


@pytest.mark.parametrize("ds,aid,m", ALL, ids=IDS)
def test_trimfill_tight(ds, aid, m):
    rows, a, r, y, v, batch, s = load_case(ds, aid, m)
    ref = r["tight"]["trimfill_REML"]
    res = trim_and_fill(batch, "REML")
    sd = np.sqrt(s)
    assert (
        res.side[0] == ref["side"]
        and res.k0[0] == ref["k0"]
        and res.k_total[0] == ref["k_filled_total"]
    )
    assert ref["estimator"] == "L0" and ref["p.k0"] is None
    for key, got, sc in (
        ("se.k0", res.se_k0, 0.0),
        ("estimate", res.estimate, sd),
        ("se", res.se, sd),
        ("zval", res.stat, 1.0),
        ("pval", res.pval, 0.0),
        ("ci.lb", res.ci_low, sd),
        ("ci.ub", res.ci_high, sd),
        ("tau2", res.tau2, s),
        ("I2", res.I2, 1.0),
        ("H2", res.H2, 1.0),
        ("QE", res.Q, 1.0),
        ("QEp", res.Q_pval, 0.0),
    ):
        check(got, ref[key], TIGHT, sc, key)
    k0 = int(ref["k0"])
    check(res.fill_yi[0, :k0], np.array(ref["fill_yi"], float), TIGHT, sd, "fill_yi")
    check(res.fill_vi[0, :k0], np.array(ref["fill_vi"], float), TIGHT, 0.0, "fill_vi")


def test_some_trimfill_fills_studies_on_each_side():
    """The reference set exercises both sides and k0 > 0 (guards against a vacuous test)."""
    sides, filled = set(), 0
    for ds, aid, m in ALL:
        ref = load_case(ds, aid, m)[2]["tight"]["trimfill_REML"]
        sides.add(ref["side"])
        filled += ref["k0"] > 0
    assert sides == {"left", "right"} and filled >= 5


def test_kendall_exact_distribution_matches_scipy():
    """P(T <= q) from the Mahonian numbers vs scipy's exact Kendall test (no ties)."""
    rng = np.random.default_rng(3)
    for n in (4, 7, 12, 25):
        x, y = rng.normal(size=n), rng.normal(size=n)
        tau, p_scipy = stats.kendalltau(x, y, method="exact")
        q = round((tau + 1) * n * (n - 1) / 4)
        p = 1 - kendall_exact_cdf(q - 1, n) if q > n * (n - 1) / 4 else kendall_exact_cdf(q, n)
        assert abs(min(2 * p, 1) - p_scipy) < 1e-12


def test_reason_below_ten_studies():
    r = small_study_reason(np.array([9, 10, 33]))
    assert r[0].startswith("k = 9 < 10") and r[1] == "" and r[2] == ""
