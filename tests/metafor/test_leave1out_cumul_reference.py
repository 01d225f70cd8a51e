"""Leave-one-out and cumulative meta-analysis vs metafor's ``leave1out_REML`` / ``cumul_REML``
(tight block), every field, every dataset and measure; plus the batched timing figure.

Null steps in metafor's ``cumul`` (dat.nielweise2007: REML Fisher scoring did not converge at
OR step 8 and RR steps 8 and 12 even with the tight control; metafor catches the error and reports
NA): trialmeta returns the global maximiser of the restricted likelihood (grid search + safeguarded
Newton, see trialmeta.stats.metaregression), i.e. a real estimate. The test checks that it *is* the
maximum: the REML score is ~0 there and the restricted log-likelihood is not exceeded on a fine
grid of tau2 values (and at tau2 = 0).
"""

import time

import numpy as np
import pytest

from helpers.bias_reference_helpers import TIGHT, cases_with, check, load_case
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.sensitivity import cumulative, leave_one_out

FIELDS = [
    ("estimate", "estimate", "sd"),
    ("se", "se", "sd"),
    ("zval", "stat", "one"),
    ("pval", "pval", "zero"),
    ("ci.lb", "ci_low", "sd"),
    ("ci.ub", "ci_high", "sd"),
    ("Q", "Q", "one"),
    ("Qp", "Q_pval", "zero"),
    ("tau2", "tau2", "var"),
    ("I2", "I2", "one"),
    ("H2", "H2", "one"),
]


def compare(pooled, ref, s, ok=None):
    scales = {"sd": np.sqrt(s), "var": s, "one": 1.0, "zero": 0.0}
    for key, attr, sc in FIELDS:
        got = np.asarray(getattr(pooled, attr), float)
        exp = np.array([np.nan if x is None else x for x in ref[key]], float)
        sel = np.ones(got.size, bool) if ok is None else ok
        check(got[sel], exp[sel], TIGHT, scales[sc], key)


L1O = cases_with("leave1out_REML")
CUM = cases_with("cumul_REML")


@pytest.mark.parametrize("ds,aid,m", L1O, ids=[f"{c[0]}-{c[2]}" for c in L1O])
def test_leave1out_tight(ds, aid, m):
    rows, a, r, y, v, batch, s = load_case(ds, aid, m)
    ref = r["tight"]["leave1out_REML"]
    res = leave_one_out(batch, "REML")
    assert list(np.array(r["escalc"]["study_id"])[res.study]) == ref["omitted"]
    compare(res.pooled, ref, s)


@pytest.mark.parametrize("ds,aid,m", CUM, ids=[f"{c[0]}-{c[2]}" for c in CUM])
def test_cumul_tight(ds, aid, m):
    rows, a, r, y, v, batch, s = load_case(ds, aid, m)
    ref = r["tight"]["cumul_REML"]
    res = cumulative(batch, rows["year"].to_numpy(float)[None], "REML")
    assert list(np.array(r["escalc"]["study_id"])[res.study]) == ref["added"]  # year, ties stable
    assert list(res.step) == list(range(1, y.size + 1))
    failed = np.array([x is None for x in ref["estimate"]])
    compare(res.pooled, ref, s, ok=~failed)
    # step 1: k = 1, tau2 = 0 (metafor: Q = 0, Qp = 1, I2 = 0, H2 = 1)
    assert res.pooled.tau2[0] == 0 and res.pooled.Q[0] == 0 and res.pooled.H2[0] == 1
    # where metafor gave null, trialmeta returns the global REML maximum
    assert np.all(np.isfinite(res.pooled.estimate))
    for step in np.nonzero(failed)[0]:
        assert_global_reml_max(
            y[res.study[: step + 1]], v[res.study[: step + 1]], res.pooled.tau2[step]
        )


def reml_ll(y, v, t):
    w = 1 / (v + t)
    mu = (w * y).sum() / w.sum()
    return -0.5 * (np.log(v + t).sum() + np.log(w.sum()) + (w * (y - mu) ** 2).sum())


def assert_global_reml_max(y, v, tau2):
    grid = np.concatenate([[0.0], np.geomspace(1e-8, 100, 4000)])
    best = max(reml_ll(y, v, t) for t in grid)
    assert reml_ll(y, v, tau2) >= best - 1e-12
    h = 1e-6 * max(tau2, 1e-8)
    score = (reml_ll(y, v, tau2 + h) - reml_ll(y, v, tau2 - h)) / (2 * h)
    assert tau2 == 0 or abs(score) < 1e-5


def test_nielweise_null_steps_are_the_documented_ones():
    for m, steps in (("OR", [8]), ("RR", [8, 12])):
        ref = load_case("dat.nielweise2007", "crbsi", m)[2]["tight"]["cumul_REML"]
        assert [i + 1 for i, x in enumerate(ref["estimate"]) if x is None] == steps


def test_timing_1000_analyses_x_10_studies(record_property):
    """Leave-one-out and cumulative REML of 1,000 synthetic analyses x 10 studies (default_rng(1)):
    10,000 sub-analyses each, one batched call. Asserts < 60 s each (it takes ~1-3 s here)."""
    rng = np.random.default_rng(1)
    K, n = 1000, 10
    v = rng.uniform(0.01, 0.5, (K, n))
    y = rng.normal(0.2, np.sqrt(v + 0.1))
    batch = StudyBatch.from_arrays(y, v)
    year = np.tile(np.arange(2000, 2000 + n), (K, 1))
    t0 = time.perf_counter()
    loo = leave_one_out(batch, "REML")
    t1 = time.perf_counter()
    cum = cumulative(batch, year, "REML")
    t2 = time.perf_counter()
    record_property("leave_one_out_seconds", t1 - t0)
    record_property("cumulative_seconds", t2 - t1)
    print(f"\nleave-one-out 1000x10: {t1 - t0:.2f} s; cumulative 1000x10: {t2 - t1:.2f} s")
    assert loo.pooled.estimate.size == K * n and cum.pooled.estimate.size == K * n
    assert np.isfinite(loo.pooled.estimate).all() and np.isfinite(cum.pooled.estimate).all()
    assert t1 - t0 < 60 and t2 - t1 < 60
