"""tau2 estimators (trialmeta.stats.tau2) against the metafor reference set (tests/reference).

Input: the ``escalc`` block of every reference analysis/measure (``yi``, ``vi``), i.e. exactly
what metafor passed to ``rma()``, so these tests do not depend on trialmeta's effect sizes.

Tolerances (tests/reference/README.md, "Default vs tight"):

* closed-form estimators (DL, HE, HS, SJ) are compared with the top-level metafor values at
  1e-10 relative;
* iterative estimators (REML, ML, PM, EB) are compared with the ``tight`` block (metafor rerun
  with ``threshold = tol = 1e-12 var(yi)``, cross-checked by an independent global root finder to
  ~1e-11) at 1e-8 *relative to max(|tight|, s)* with ``s = var(yi)``. The README states its own
  default-vs-tight differences on exactly this scale, and it is needed: several converged tau2
  are 0 up to rounding (dat.lau1992 RD REML: tight tau2 = 8e-16, i.e. 0), where a pure relative
  comparison of two zeros is meaningless; ``s`` is the natural unit of tau2 for that analysis.
  metafor's top-level iterative values are not used: they stop at absolute tolerances (1e-5,
  1.22e-4) and are not converged for risk differences.
"""

from functools import cache

import numpy as np
import pytest

from helpers.reference_data import CLOSED_FORM_RTOL, TIGHT_RTOL, as_float, case, reference_cases
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.result import Status
from trialmeta.stats.tau2 import TAU2_METHODS, Tau2Estimate, estimate_tau2

CLOSED = ("DL", "HE", "HS", "SJ")
ITERATIVE = ("REML", "ML", "PM", "EB")
CASES = reference_cases()


@cache
def _escalc(ds, aid, measure):
    _, _, res = case(ds, aid, measure)
    return as_float(res["escalc"]["yi"]), as_float(res["escalc"]["vi"]), res


def _single(y, v, method, **kw) -> Tau2Estimate:
    return estimate_tau2(StudyBatch.from_arrays(y[None, :], v[None, :]), method, **kw)


def test_reference_set_is_complete():
    assert len(CASES) > 0
    assert set(TAU2_METHODS) == set(CLOSED + ITERATIVE)


@pytest.mark.parametrize("method", CLOSED)
@pytest.mark.parametrize("ds,aid,measure", CASES)
def test_closed_form_matches_metafor(ds, aid, measure, method):
    y, v, res = _escalc(ds, aid, measure)
    est = _single(y, v, method)
    ref = res[method]["tau2"]
    got = est.tau2[0]
    assert abs(got - ref) <= CLOSED_FORM_RTOL * abs(ref), (
        f"{ds}/{aid}/{measure} {method}: {got!r} vs metafor {ref!r}"
    )
    assert est.converged[0] and est.iterations[0] == 0
    assert est.status[0] == (Status.TAU2_BOUNDARY if ref == 0 else Status.OK)


@pytest.mark.parametrize("method", ITERATIVE)
@pytest.mark.parametrize("ds,aid,measure", CASES)
def test_iterative_matches_metafor_tight(ds, aid, measure, method):
    y, v, res = _escalc(ds, aid, measure)
    tight = res["tight"][method]
    assert "error" not in tight
    ref = tight["tau2"]
    s = float(np.var(y, ddof=1))
    est = _single(y, v, method)
    got = est.tau2[0]
    assert abs(got - ref) <= TIGHT_RTOL * max(abs(ref), s), (
        f"{ds}/{aid}/{measure} {method}: {got!r} vs metafor tight {ref!r} (s = {s:.3g})"
    )
    assert est.converged[0]
    assert 1 <= est.iterations[0] <= 60 or got == 0.0
    assert est.status[0] in (Status.OK, Status.TAU2_BOUNDARY)
    assert (est.status[0] == Status.TAU2_BOUNDARY) == (got == 0.0)


@pytest.mark.parametrize(
    "ds,aid,measure", [c for c in CASES if c[0] == "dat.lau1992" and c[2] == "RD"]
)
def test_lau1992_rd_reml_is_zero(ds, aid, measure):
    """README: metafor's default REML for dat.lau1992 RD stops at a point worse than tau2 = 0
    (ll0check); the converged (tight) answer is 8e-16, i.e. 0 on the data's scale."""
    y, v, res = _escalc(ds, aid, measure)
    got = _single(y, v, "REML").tau2[0]
    assert got <= 1e-8 * float(np.var(y, ddof=1))


@pytest.mark.parametrize("method,measure,expected", [("ML", "OR", 0.268), ("REML", "RR", 0.213)])
def test_pagliaro_global_peak(method, measure, expected):
    """README: two-peak likelihoods; the global maximum is the interior one, not tau2 = 0."""
    y, v, res = _escalc("dat.pagliaro1992", "betablockers_vs_control", measure)
    got = _single(y, v, method).tau2[0]
    assert abs(got - expected) < 1e-3
    assert abs(got - res["tight"][method]["tau2"]) <= TIGHT_RTOL * got


def _all_reference_analyses():
    ys, vs, labels = [], [], []
    for ds, aid, m in CASES:
        y, v, _ = _escalc(ds, aid, m)
        ys.append(y)
        vs.append(v)
        labels.append(f"{ds}/{aid}/{m}")
    return ys, vs, labels


@pytest.mark.parametrize("method", TAU2_METHODS)
def test_one_batched_call_equals_per_analysis_calls(method):
    """All reference analyses (different k, padded to the widest) in ONE StudyBatch give the same
    tau2, convergence, iterations and status as one call per analysis. Analyses are computed
    independently and padding contributes exact zeros, so the agreement is exact in practice;
    1e-13 relative is asserted."""
    ys, vs, labels = _all_reference_analyses()
    batch = StudyBatch.from_list(list(zip(ys, vs)))
    assert batch.n_analyses == len(ys) and batch.yi.shape[1] == max(map(len, ys))
    big = estimate_tau2(batch, method)
    for i, (y, v, lab) in enumerate(zip(ys, vs, labels)):
        one = _single(y, v, method)
        s = float(np.var(y, ddof=1))
        assert abs(big.tau2[i] - one.tau2[0]) <= 1e-13 * max(abs(one.tau2[0]), s), lab
        assert big.status[i] == one.status[0], lab
        assert big.converged[i] == one.converged[0], lab
        assert big.iterations[i] == one.iterations[0], lab


@pytest.mark.parametrize("method", ITERATIVE)
def test_batched_reference_matches_tight(method):
    """The batched call also reproduces every `tight` value (same criterion as above)."""
    ys, vs, labels = _all_reference_analyses()
    est = estimate_tau2(StudyBatch.from_list(list(zip(ys, vs))), method)
    for i, (ds, aid, m) in enumerate(CASES):
        ref = case(ds, aid, m)[2]["tight"][method]["tau2"]
        s = float(np.var(ys[i], ddof=1))
        assert abs(est.tau2[i] - ref) <= TIGHT_RTOL * max(abs(ref), s), labels[i]


def test_result_object_shapes_and_types():
    ys, vs, _ = _all_reference_analyses()
    batch = StudyBatch.from_list(list(zip(ys[:5], vs[:5])))
    for method in TAU2_METHODS:
        est = estimate_tau2(batch, method)
        assert est.method == method
        for field in (est.tau2, est.converged, est.iterations, est.status):
            assert field.shape == (5,)
        assert est.converged.dtype == bool and est.iterations.dtype.kind == "i"
        assert est.status.dtype == object
    assert estimate_tau2(batch, "reml").method == "REML"  # case-insensitive
    with pytest.raises(ValueError, match="unknown tau2 method"):
        estimate_tau2(batch, "GENQ")
