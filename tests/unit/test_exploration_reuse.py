"""Fits shared between exploration tables give the same numbers as fitting again (issue 16):
trim-and-fill's side from the Egger (rma) slopes, and R2's intercept-only tau2 shared by the
moderators of metaregression.csv."""

import numpy as np
import pandas as pd

import trialmeta.tables.exploration as ex
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.metaregression import estimate_tau2_mixed, meta_regression
from trialmeta.stats.small_study import egger_test, trim_and_fill


def _batch():
    """k = 1, k = 2, equal SEs and three ordinary analyses (k = 4, 11, 12), padded."""
    rng = np.random.default_rng(16)
    analyses = [([0.3], [0.2]), ([0.1, 0.5], [0.2, 0.4]), ([0.1, 0.4, -0.2, 0.3], [0.2] * 4)]
    for k in (4, 11, 12):
        analyses.append((rng.normal(0.2, 0.3, k), rng.uniform(0.1, 0.5, k)))
    n = max(len(y) for y, _ in analyses)
    yi, vi = np.full((len(analyses), n), np.nan), np.full((len(analyses), n), np.nan)
    for i, (y, s) in enumerate(analyses):
        yi[i, : len(y)] = y
        vi[i, : len(y)] = np.asarray(s, float) ** 2
    return StudyBatch.from_arrays(yi, vi)


def test_trim_and_fill_side_from_the_egger_slopes_is_the_same():
    b = _batch()
    slope = egger_test(b, "rma", "REML").slope
    partial = np.where(np.arange(slope.size) % 2 == 0, slope, np.nan)  # the rest fitted again
    fresh = trim_and_fill(b, "REML").to_frame()
    for given in (slope, partial):
        shared = trim_and_fill(b, "REML", sei_slope=given).to_frame()
        pd.testing.assert_frame_equal(shared, fresh, check_exact=True)


def test_meta_regression_with_a_given_intercept_only_tau2_is_the_same():
    b = _batch()
    K, n = b.yi.shape
    X = np.stack([np.ones((K, n)), np.sqrt(np.where(b.mask, b.vi, 1.0))], axis=-1)
    tau2_0 = estimate_tau2_mixed(b.yi, b.vi, b.mask, np.ones((K, n, 1))).tau2
    given = meta_regression(b.yi, b.vi, b.mask, X, tau2_intercept_only=tau2_0)
    fresh = meta_regression(b.yi, b.vi, b.mask, X)
    np.testing.assert_array_equal(given.R2, fresh.R2)
    pd.testing.assert_frame_equal(given.to_frame(), fresh.to_frame(), check_exact=True)


def test_moderators_with_the_same_studies_share_one_intercept_only_fit(monkeypatch):
    eff = pd.DataFrame(
        {
            "analysis_id": ["a"] * 5 + ["b"] * 4,
            "study_id": [f"s{i}" for i in range(9)],
            "measure": "MD",
            "scale": "raw",
            "yi": [0.1, 0.4, -0.2, 0.3, 0.5, 0.2, 0.0, 0.6, 0.3],
            "vi": [0.04, 0.09, 0.05, 0.02, 0.1, 0.03, 0.06, 0.08, 0.05],
            "source_file": "f",
            "source_row": range(2, 11),
        }
    )
    trials = pd.DataFrame(
        {
            "source_file": "f",
            "source_row": range(2, 11),
            "year": [2001, 2003, 2002, 2008, 2010, 1999, 2004, 2006, 2001],
            "dose": [1.0, 2.0, 2.5, 4.0, 3.0, 1.0, np.nan, 2.0, 3.0],  # b: a study less
        }
    )
    separate = pd.concat(
        [ex.metaregression_table(eff, trials, [m]) for m in ("year", "dose")], ignore_index=True
    )
    calls = []
    original = ex.estimate_tau2_mixed
    monkeypatch.setattr(
        ex, "estimate_tau2_mixed", lambda *a, **k: calls.append(len(a[0])) or original(*a, **k)
    )
    both = ex.metaregression_table(eff, trials, ["year", "dose"])
    assert calls == [2, 1]  # dose: only b (one study less) is fitted again
    order = ["analysis_id", "moderator", "term"]
    separate = separate.sort_values(order).reset_index(drop=True)
    both = both.sort_values(order).reset_index(drop=True)
    pd.testing.assert_frame_equal(both, separate, check_exact=True)
