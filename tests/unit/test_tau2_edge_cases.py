"""Numerical edge cases of the tau2 estimators.

Where a value is compared, the reference is an independent scalar computation in this file
(:func:`reference_tau2`): closed forms written out with plain numpy for one analysis, and for
ML/REML a dense 20,000-point log-likelihood scan on [0, bound] followed by ``scipy.optimize.brentq``
on the score with ``rtol = 4 eps``; for PM/EB ``brentq`` on ``Q(t) - (k-1)``. Tolerance: 1e-9
relative to max(|ref|, s), with ``s`` a scale of tau2 stated per test (var(yi) as in the reference
README, or the smallest sampling variance where var(yi) is dominated by one extreme study).
"""

import math

import numpy as np
import pytest
from scipy import optimize

from helpers.reference_data import as_float, case
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.result import Status
from trialmeta.stats.tau2 import TAU2_METHODS, estimate_tau2

ITERATIVE = ("REML", "ML", "PM", "EB")


# ----------------------------------------------------------------------------------------------
# independent scalar reference


def _q(y, v, t):
    w = 1.0 / (v + t)
    mu = np.sum(w * y) / np.sum(w)
    return float(np.sum(w * (y - mu) ** 2))


def _score(y, v, t, method):
    w = 1.0 / (v + t)
    mu = np.sum(w * y) / np.sum(w)
    s = np.sum(w * w * (y - mu) ** 2) - np.sum(w)
    if method == "REML":
        s += np.sum(w * w) / np.sum(w)
    return float(s)


def _loglik(y, v, t, method):
    w = 1.0 / (v + t)
    mu = np.sum(w * y) / np.sum(w)
    ll = -0.5 * (np.sum(np.log(v + t)) + np.sum(w * (y - mu) ** 2))
    if method == "REML":
        ll -= 0.5 * math.log(np.sum(w))
    return float(ll)


def reference_tau2(y, v, method):
    y = np.asarray(y, float)
    v = np.asarray(v, float)
    k = len(y)
    if k == 1:
        return 0.0
    w = 1 / v
    mu = np.sum(w * y) / w.sum()
    Q = np.sum(w * (y - mu) ** 2)
    rss = np.sum((y - y.mean()) ** 2)
    if method == "DL":
        return max(0.0, (Q - (k - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    if method == "HE":
        return max(0.0, (rss - v.sum() * (1 - 1 / k)) / (k - 1))
    if method == "HS":
        return max(0.0, (Q - k) / w.sum())
    if method == "SJ":
        t0 = rss / k
        return t0 * _q(y, v, t0) / (k - 1)
    if method in ("PM", "EB"):
        if Q <= k - 1:
            return 0.0
        hi = rss / (k - 1)
        return optimize.brentq(
            lambda t: _q(y, v, t) - (k - 1),
            0.0,
            hi,
            xtol=1e-300,
            rtol=4 * np.finfo(float).eps,
            maxiter=1000,
        )
    # ML / REML: dense scan for the global maximum, then brentq on the score
    hi = max(rss, v.max()) * 10 + v.max()
    grid = np.concatenate([[0.0], np.geomspace(1e-12 * hi, hi, 20000)])
    ll = np.array([_loglik(y, v, t, method) for t in grid])
    i = int(np.argmax(ll))
    if i == 0 and _score(y, v, 0.0, method) <= 0:
        return 0.0
    lo, up = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    if _score(y, v, lo, method) <= 0:
        return float(lo)
    return optimize.brentq(
        lambda t: _score(y, v, t, method),
        lo,
        up,
        xtol=1e-300,
        rtol=4 * np.finfo(float).eps,
        maxiter=1000,
    )


def one(y, v, method, **kw):
    return estimate_tau2(StudyBatch.from_arrays(np.atleast_2d(y), np.atleast_2d(v)), method, **kw)


def assert_close(got, ref, scale, rtol=1e-9, label=""):
    assert abs(got - ref) <= rtol * max(abs(ref), scale), f"{label}: {got!r} vs {ref!r}"


# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_single_study(method):
    est = one([0.4], [0.1], method)
    assert est.tau2[0] == 0.0
    assert est.status[0] == Status.SINGLE_STUDY
    assert est.converged[0] and est.iterations[0] == 0


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_single_study_inside_a_batch(method):
    batch = StudyBatch.from_list([([0.4], [0.1]), ([0.1, 0.9, -0.5], [0.01, 0.02, 0.03])])
    est = estimate_tau2(batch, method)
    assert est.status[0] == Status.SINGLE_STUDY and est.tau2[0] == 0.0
    assert est.status[1] == Status.OK and est.tau2[1] > 0


@pytest.mark.parametrize("method", TAU2_METHODS)
@pytest.mark.parametrize(
    "y,v",
    [
        ([0.0, 1.0], [0.1, 0.2]),  # heterogeneous: tau2 > 0 for every method
        ([0.0, 0.1], [0.1, 0.2]),  # homogeneous: Q < k - 1
        ([-2.0, 3.0], [1e-4, 5.0]),  # very unequal weights
    ],
)
def test_two_studies(method, y, v):
    est = one(y, v, method)
    ref = reference_tau2(y, v, method)
    assert_close(est.tau2[0], ref, np.var(y, ddof=1), label=method)
    assert est.converged[0]
    assert est.status[0] == (Status.TAU2_BOUNDARY if est.tau2[0] == 0 else Status.OK)


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_identical_studies_give_boundary(method):
    est = one([0.3] * 6, [0.05, 0.1, 0.2, 0.05, 0.3, 0.01], method)
    assert est.tau2[0] == 0.0
    assert est.status[0] == Status.TAU2_BOUNDARY
    assert est.converged[0]


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_identical_effects_and_variances(method):
    est = one([1.5] * 4, [0.2] * 4, method)
    assert est.tau2[0] == 0.0 and est.status[0] == Status.TAU2_BOUNDARY


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_one_study_with_huge_weight(method):
    y = np.array([0.05, 0.8, -0.4, 0.6, 0.1, 1.2])
    v = np.array([1e-9, 0.05, 0.08, 0.1, 0.04, 0.2])
    est = one(y, v, method)
    ref = reference_tau2(y, v, method)
    assert_close(est.tau2[0], ref, np.var(y, ddof=1), label=method)
    assert est.converged[0]


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_boundary_when_q_below_df(method):
    """Very homogeneous studies: Q < k - 1, so DL/PM/EB/HS are truncated at 0 (tau2_boundary)."""
    y = np.array([0.10, 0.12, 0.09, 0.11, 0.10])
    v = np.array([0.04, 0.05, 0.03, 0.06, 0.05])
    w = 1 / v
    q = np.sum(w * (y - np.sum(w * y) / w.sum()) ** 2)
    assert q < len(y) - 1
    est = one(y, v, method)
    ref = reference_tau2(y, v, method)
    assert_close(est.tau2[0], ref, np.var(y, ddof=1), label=method)
    if method in ("DL", "PM", "EB", "HS", "REML", "ML", "HE"):
        assert est.tau2[0] == 0.0 and est.status[0] == Status.TAU2_BOUNDARY


@pytest.mark.parametrize("method,measure", [("ML", "OR"), ("REML", "RR")])
def test_two_peak_likelihood_pagliaro(method, measure):
    """dat.pagliaro1992 beta-blockers: the likelihood decreases at tau2 = 0 (a local maximum
    there) but has a higher interior peak. We must return the interior one, and it must beat 0."""
    res = case("dat.pagliaro1992", "betablockers_vs_control", measure)[2]
    y, v = as_float(res["escalc"]["yi"]), as_float(res["escalc"]["vi"])
    assert _score(y, v, 0.0, method) < 0  # a naive "score at 0 < 0 => 0" rule fails here
    est = one(y, v, method)
    t = est.tau2[0]
    assert t > 0.1
    assert _loglik(y, v, t, method) > _loglik(y, v, 0.0, method)
    assert_close(t, reference_tau2(y, v, method), np.var(y, ddof=1), label=method)


@pytest.mark.parametrize("method", ITERATIVE)
def test_iteration_cap_reported_not_silent(method):
    """With max_iter = 1 an interior solution cannot be reached: every such analysis says so."""
    rng = np.random.default_rng(3)
    v = rng.uniform(0.01, 0.2, (50, 8))
    y = rng.normal(0.0, np.sqrt(v + 0.3))
    batch = StudyBatch.from_arrays(y, v)
    capped = estimate_tau2(batch, method, max_iter=1)
    full = estimate_tau2(batch, method)
    assert full.converged.all()
    interior = full.tau2 > 0
    assert interior.sum() >= 40
    bad = ~capped.converged
    assert bad.any()
    assert (capped.status[bad] == Status.NOT_CONVERGED).all()
    assert (capped.status[~bad] != Status.NOT_CONVERGED).all()
    assert np.isfinite(capped.tau2).all() and (capped.tau2 >= 0).all()  # the last iterate
    assert (capped.iterations[bad] == 1).all()
    # where the capped run claims convergence it agrees with the full run
    s = np.var(y, axis=1, ddof=1)
    ok = capped.converged
    diff = np.abs(capped.tau2[ok] - full.tau2[ok])
    assert np.all(diff <= 1e-8 * np.maximum(full.tau2[ok], s[ok]))


def test_iteration_cap_moderate():
    """A cap of 2 leaves some analyses unconverged (reported); 200 iterations converge all."""
    rng = np.random.default_rng(5)
    v = rng.uniform(0.01, 0.2, (200, 10))
    y = rng.normal(0.0, np.sqrt(v + 0.05))
    batch = StudyBatch.from_arrays(y, v)
    capped = estimate_tau2(batch, "REML", max_iter=2)
    assert (~capped.converged).sum() > 0
    assert estimate_tau2(batch, "REML", max_iter=200).converged.all()


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_extreme_variances_in_one_analysis(method):
    """vi spanning 1e-14 .. 1e6 in one analysis."""
    y = np.array([0.0, 0.3, -0.2, 1.5, 40.0, -25.0])
    v = np.array([1e-14, 1e-12, 1e-3, 0.5, 1e6, 2e5])
    est = one(y, v, method)
    ref = reference_tau2(y, v, method)
    assert np.isfinite(est.tau2[0]) and est.tau2[0] >= 0
    assert est.converged[0]
    # var(yi) is dominated by the 1e6-variance studies; use the tau2 itself or v_min as scale
    assert_close(est.tau2[0], ref, 1e-14, rtol=1e-8, label=method)


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_tiny_variances_large_trials(method):
    """Risk differences of trials with n ~ 1e7 per arm: vi ~ 1e-8, tau2 ~ 1e-9 (far below
    metafor's absolute tolerances); relative convergence must still hold."""
    rng = np.random.default_rng(11)
    n = rng.integers(5_000_000, 20_000_000, 12).astype(float)
    p1 = rng.uniform(0.01, 0.03, 12)
    p2 = p1 + rng.normal(-0.002, 0.0005, 12)
    y = p1 - p2
    v = p1 * (1 - p1) / n + p2 * (1 - p2) / n
    est = one(y, v, method)
    ref = reference_tau2(y, v, method)
    assert ref > 0 or method in ("HS", "DL", "HE")
    assert_close(est.tau2[0], ref, np.var(y, ddof=1), rtol=1e-9, label=method)
    assert est.converged[0]


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_huge_location_offset(method):
    """Effects far from 0 (e.g. raw means ~1e6) with a small spread: centring keeps precision."""
    rng = np.random.default_rng(2)
    v = rng.uniform(0.5, 2.0, 9)
    y0 = rng.normal(0, np.sqrt(v + 1.0))
    a = one(y0, v, method).tau2[0]
    b = one(y0 + 1e6, v, method).tau2[0]
    assert_close(b, a, np.var(y0, ddof=1), rtol=1e-6, label=method)


@pytest.mark.parametrize("bad_v", [0.0, -0.1, np.nan, np.inf])
def test_invalid_variance_is_refused(bad_v):
    batch = StudyBatch(
        np.array([[0.1, 0.2, 0.3]]), np.array([[0.1, bad_v, 0.2]]), np.array([[True, True, True]])
    )
    with pytest.raises(ValueError, match=r"vi .*analysis 0, study 1"):
        estimate_tau2(batch, "REML")


def test_invalid_effect_is_refused_and_all_problems_listed():
    batch = StudyBatch(
        np.array([[0.1, np.inf], [np.nan, 0.3]]),
        np.array([[0.1, 0.1], [0.1, -1.0]]),
        np.array([[True, True], [True, True]]),
    )
    with pytest.raises(ValueError) as err:
        estimate_tau2(batch, "DL")
    msg = str(err.value)
    assert "(analysis 0, study 1)" in msg and "(analysis 1, study 0)" in msg
    assert "(analysis 1, study 1)" in msg


def test_padding_values_are_ignored():
    """Padding may hold anything (it is masked); it must not be validated or used."""
    y = np.array([[0.1, 0.5, np.nan], [0.2, 0.7, -0.3]])
    v = np.array([[0.1, 0.2, -5.0], [0.1, 0.2, 0.3]])
    m = np.array([[True, True, False], [True, True, True]])
    est = estimate_tau2(StudyBatch(y, v, m), "REML")
    ref = one([0.1, 0.5], [0.1, 0.2], "REML").tau2[0]
    assert est.tau2[0] == ref


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_empty_analysis_row_fails_loudly(method):
    batch = StudyBatch(np.zeros((2, 2)), np.ones((2, 2)), np.array([[True, True], [False, False]]))
    est = estimate_tau2(batch, method)
    assert est.status[1].startswith(Status.FAILED) and "no_studies" in est.status[1]
    assert np.isnan(est.tau2[1])
    assert est.status[0] in (Status.OK, Status.TAU2_BOUNDARY)


def test_rtol_and_max_iter_are_validated():
    batch = StudyBatch.from_arrays([[0.1, 0.2]], [[0.1, 0.1]])
    with pytest.raises(ValueError):
        estimate_tau2(batch, "REML", rtol=0)
    with pytest.raises(ValueError):
        estimate_tau2(batch, "REML", max_iter=0)


def test_benchmark_two_peak_analyses():
    """Two analyses of the benchmark data (default_rng(1), vi ~ U(0.01, 0.2),
    yi ~ N(0.3, sqrt(vi + 0.05)), 100,000 x 10) whose REML likelihood has a boundary peak at 0 and
    a higher interior one (PyMARE's REML returns 0 for both). We return the interior peak."""
    rng = np.random.default_rng(1)
    vi = rng.uniform(0.01, 0.2, (100_000, 10))
    yi = rng.normal(0.3, np.sqrt(vi + 0.05))
    rows = [87728, 28223]
    est = estimate_tau2(StudyBatch.from_arrays(yi[rows], vi[rows]), "REML")
    for j, i in enumerate(rows):
        y, v = yi[i], vi[i]
        assert _score(y, v, 0.0, "REML") < 0
        assert est.tau2[j] > 0.01
        assert _loglik(y, v, est.tau2[j], "REML") > _loglik(y, v, 0.0, "REML")
        assert_close(est.tau2[j], reference_tau2(y, v, "REML"), np.var(y, ddof=1), label=str(i))
