"""Mantel-Haenszel and Peto pooling: explicit regression cases and the shared chi-square tail."""

import numpy as np
import pytest

from trialmeta.stats import distributions as dist
from trialmeta.stats.mantel_haenszel import mantel_haenszel
from trialmeta.stats.peto import peto


def _pooled(rows, measure):
    a, n1, c, n2 = (np.array([[float(r[j]) for r in rows]]) for j in range(4))
    mask = np.ones_like(a, dtype=bool)
    return (
        mantel_haenszel(a, n1, c, n2, mask, measure),
        mantel_haenszel(c, n2, a, n1, mask, measure),
    )


@pytest.mark.parametrize(
    "rows",
    [
        [(1, 1, 19, 19), (0, 1, 0, 1)],  # found by the swap property test: SE NaN vs 0
        [(0, 1, 0, 1), (1, 1, 1, 1), (1, 1, 185, 185)],  # SE 7e-9 vs 0
        [(1, 1, 19, 19)],
    ],
)
def test_mh_risk_ratio_of_all_event_tables_has_se_zero_both_ways(rows):
    """Tables in which every patient had the event (or none did) add exactly 0 to the
    Greenland-Robins variance; the round-off of metafor's form (-1.1e-16 for 1/1 vs 19/19) made
    the SE NaN (square root of a negative sum) one way round and 0 the other."""
    fwd, rev = _pooled(rows, "RR")
    assert fwd.se[0] == 0.0 and rev.se[0] == 0.0
    np.testing.assert_allclose(rev.estimate, -fwd.estimate, atol=1e-13)


@pytest.mark.parametrize(
    "rows",
    [
        [(3, 3, 0, 49), (1, 1, 0, 1)],  # RD = 1 in both tables: variance exactly 0
        [(0, 3, 49, 49), (0, 1, 1, 1)],
    ],
)
def test_mh_risk_difference_with_zero_variance_has_se_zero_both_ways(rows):
    """The Sato-Greenland-Robins numerator is a difference that is exactly 0 here; its round-off
    gave SE NaN one way round and ~1e-8 the other (found by the swap property test)."""
    fwd, rev = _pooled(rows, "RD")
    assert fwd.se[0] == 0.0 and rev.se[0] == 0.0
    assert fwd.status[0] == rev.status[0] == "failed:mh_estimate_undefined"


def test_mh_risk_ratio_variance_is_metafors_form_elsewhere():
    """Tables with a non-zero term keep metafor's expression bit for bit."""
    rows = [(3, 10, 5, 12), (7, 20, 2, 18), (1, 1, 19, 19)]
    a, n1, c, n2 = (np.array([float(r[j]) for r in rows]) for j in range(4))
    N = n1 + n2
    terms = (n1 / N) * (n2 / N) * (a + c) - (a / N) * c
    terms[2] = 0.0
    R, S = np.sum(a * (n2 / N)), np.sum(c * (n1 / N))
    fwd, _ = _pooled(rows, "RR")
    assert fwd.se[0] == np.sqrt(terms.sum() / (R * S))


def test_peto_and_mh_tests_use_the_shared_chi_square_tail():
    rows = [(3, 10, 5, 12), (7, 20, 2, 18), (4, 15, 9, 15)]
    a, n1, c, n2 = (np.array([[float(r[j]) for r in rows]]) for j in range(4))
    mask = np.ones_like(a, dtype=bool)
    mh = mantel_haenszel(a, n1, c, n2, mask, "OR")
    assert mh.extra["CMH_pval"][0] == dist.chi2_sf(mh.extra["CMH"], 1.0)[0]
    assert mh.Q_pval[0] == dist.chi2_sf(mh.Q, 2.0)[0]
    pt = peto(a, n1, c, n2, mask)
    assert pt.Q_pval[0] == dist.chi2_sf(pt.Q, 2.0)[0]


def test_chi_square_tail_methods_agree_and_share_the_no_test_rules():
    rng = np.random.default_rng(7)
    df = rng.integers(1, 70, 2000).astype(float)
    x = rng.exponential(df)
    cephes = dist.chi2_sf(x, df)
    series = dist.chi2_sf(x, df, method="series")
    np.testing.assert_allclose(series, cephes, rtol=1e-12, atol=1e-300)
    for method in ("cephes", "series"):
        out = dist.chi2_sf(
            [3.0, np.nan, 3.0, 3.0, np.inf], [0.0, 2.0, np.nan, 2.5, 3.0], method=method
        )
        assert np.isnan(out[:3]).all() and np.isfinite(out[3]) and out[4] == 0.0
    with pytest.raises(ValueError):
        dist.chi2_sf(1.0, 1.0, method="exact")
