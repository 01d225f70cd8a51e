"""Property-based tests (hypothesis) of the tau2 estimators.

* tau2 >= 0 (and finite, with a status) for every method and every valid input;
* permuting the studies of an analysis changes nothing: to 1e-10 relative to
  max(|tau2|, s), s = var(yi) (the reference README's scale for tau2 near 0; a permutation only
  changes the order of floating-point sums);
* batching/padding: an analysis computed alone, or inside a batch with other analyses of other
  sizes (more padding), gives the same result (1e-13 relative to max(|tau2|, s); in practice
  identical, because padding contributes exact zeros and analyses are solved independently).
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.result import Status
from trialmeta.stats.tau2 import TAU2_METHODS, estimate_tau2

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

effects = st.floats(-5.0, 5.0, allow_nan=False, allow_infinity=False)
log_variances = st.floats(-8.0, 2.0, allow_nan=False, allow_infinity=False)


@st.composite
def analysis(draw, min_k=1, max_k=12):
    k = draw(st.integers(min_k, max_k))
    y = np.array(draw(st.lists(effects, min_size=k, max_size=k)))
    v = 10.0 ** np.array(draw(st.lists(log_variances, min_size=k, max_size=k)))
    return y, v


def _scale(y):
    return float(np.var(y, ddof=1)) if len(y) > 1 else 1.0


def _one(y, v, method):
    return estimate_tau2(StudyBatch.from_arrays(y[None], v[None]), method)


@SETTINGS
@given(st.lists(analysis(), min_size=1, max_size=6), st.sampled_from(TAU2_METHODS))
def test_tau2_nonnegative_with_status(analyses, method):
    est = estimate_tau2(StudyBatch.from_list(analyses), method)
    assert np.all(np.isfinite(est.tau2))
    assert np.all(est.tau2 >= 0)
    assert est.converged.all()
    for (y, _), t, s in zip(analyses, est.tau2, est.status):
        if len(y) == 1:
            assert s == Status.SINGLE_STUDY and t == 0
        else:
            assert s == (Status.TAU2_BOUNDARY if t == 0 else Status.OK)


@SETTINGS
@given(analysis(min_k=2), st.sampled_from(TAU2_METHODS), st.randoms(use_true_random=False))
def test_permuting_studies_changes_nothing(a, method, rnd):
    y, v = a
    perm = np.array(rnd.sample(range(len(y)), len(y)))
    t1 = _one(y, v, method).tau2[0]
    t2 = _one(y[perm], v[perm], method).tau2[0]
    assert abs(t1 - t2) <= 1e-10 * max(abs(t1), _scale(y)), (t1, t2)


@SETTINGS
@given(
    analysis(min_k=2),
    st.lists(analysis(), min_size=1, max_size=5),
    st.integers(0, 5),
    st.sampled_from(TAU2_METHODS),
)
def test_batching_and_padding_change_nothing(a, others, position, method):
    y, v = a
    alone = _one(y, v, method)
    pos = min(position, len(others))
    batch = StudyBatch.from_list(others[:pos] + [a] + others[pos:])
    together = estimate_tau2(batch, method)
    assert abs(together.tau2[pos] - alone.tau2[0]) <= 1e-13 * max(abs(alone.tau2[0]), _scale(y))
    assert together.status[pos] == alone.status[0]
    # extra padding columns (NaN-marked) around the same analysis
    n = len(y)
    yy = np.full((1, n + 7), np.nan)
    vv = np.full((1, n + 7), np.nan)
    yy[0, 3 : 3 + n] = y
    vv[0, 3 : 3 + n] = v
    padded = estimate_tau2(StudyBatch.from_arrays(yy, vv), method)
    assert abs(padded.tau2[0] - alone.tau2[0]) <= 1e-13 * max(abs(alone.tau2[0]), _scale(y))
