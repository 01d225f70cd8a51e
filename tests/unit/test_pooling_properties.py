"""Property tests (hypothesis) for pooling and heterogeneity.

* permuting the studies of an analysis changes nothing (estimate, CIs, PI, Q, I2, tau2 CI);
* I2 (and its Q-profile CI bounds) lie in [0, 100], H2 >= 1, tau2 CI low <= high;
* the HKSJ and Wald CIs are centred on the same estimate;
* the per-study weights sum to 100 %.
"""

import importlib.util

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.heterogeneity import q_profile_ci
from trialmeta.stats.pooling import fixed_effect, random_effects, random_effects_given_tau2

HAVE_TAU2 = importlib.util.find_spec("trialmeta.stats.tau2") is not None
FIELDS = (
    "estimate",
    "se",
    "stat",
    "pval",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
    "tau2",
    "tau2_ci_low",
    "tau2_ci_high",
    "I2",
    "I2_ci_low",
    "I2_ci_high",
    "H2",
    "Q",
    "Q_pval",
)


@st.composite
def analyses(draw, min_k=2, max_k=12):
    k = draw(st.integers(min_k, max_k))
    y = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k))
    v = draw(st.lists(st.floats(1e-3, 2.0, allow_nan=False), min_size=k, max_size=k))
    return np.array(y), np.array(v)


def _fits(batch, tau2=None):
    """Wald and HKSJ fits with a Q-profile CI; tau2 from trialmeta.stats.tau2 (REML) when available."""
    if HAVE_TAU2 and tau2 is None:
        return (
            random_effects(batch, "REML", "wald", "metafor"),
            random_effects(batch, "REML", "hksj", "metafor"),
        )
    qp = q_profile_ci(batch, tau2=tau2)
    return (
        random_effects_given_tau2(batch, tau2, "wald", "metafor", qp_ci=qp),
        random_effects_given_tau2(batch, tau2, "hksj", "metafor", qp_ci=qp),
    )


def _close(a, b, rtol=1e-9, atol=1e-12):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True), (a, b)


@settings(max_examples=60, deadline=None)
@given(analyses(), st.floats(0, 2), st.randoms(use_true_random=False))
def test_permuting_studies_changes_nothing(data, tau2, rnd):
    y, v = data
    perm = list(range(len(y)))
    rnd.shuffle(perm)
    # two analyses in one batch: original and permuted
    batch = StudyBatch.from_list([(y, v), (y[perm], v[perm])])
    for res in _fits(batch, np.array([tau2, tau2])) + (fixed_effect(batch),):
        for f in FIELDS:
            col = res.column(f)
            _close(col[0], col[1])
        assert res.status[0] == res.status[1]
        _close(res.weights[1][: len(y)], res.weights[0][: len(y)][perm])
    if HAVE_TAU2:
        for res in _fits(batch):
            for f in FIELDS:
                _close(res.column(f)[0], res.column(f)[1], rtol=1e-7, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(analyses(), st.floats(0, 5))
def test_i2_bounds_and_ci_order(data, tau2):
    batch = StudyBatch.from_list([data])
    for res in _fits(batch, np.array([tau2])) + (fixed_effect(batch),):
        for f in ("I2", "I2_ci_low", "I2_ci_high"):
            x = res.column(f)[0]
            assert np.isnan(x) and res.model == "fixed" and f != "I2" or 0.0 <= x <= 100.0
        assert res.H2[0] >= 1.0 - 1e-12 or res.model == "fixed"
    wald = _fits(batch, np.array([tau2]))[0]
    assert 0.0 <= wald.tau2_ci_low[0] <= wald.tau2_ci_high[0]
    assert wald.I2_ci_low[0] <= wald.I2_ci_high[0]
    assert (
        wald.pi_low[0] <= wald.ci_low[0] <= wald.estimate[0] <= wald.ci_high[0] <= wald.pi_high[0]
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(analyses(min_k=1), min_size=1, max_size=5), st.floats(0, 2))
def test_hksj_and_wald_share_the_estimate_and_weights_sum_to_100(data, tau2):
    batch = StudyBatch.from_list(data)
    t = np.full(batch.n_analyses, tau2)
    for wald, hk in [_fits(batch, t)] + ([_fits(batch)] if HAVE_TAU2 else []):
        _close(wald.estimate, hk.estimate, rtol=0, atol=0)
        _close((wald.ci_low + wald.ci_high) / 2, wald.estimate, rtol=1e-12, atol=1e-12)
        _close((hk.ci_low + hk.ci_high) / 2, hk.estimate, rtol=1e-12, atol=1e-12)
        for res in (wald, hk, fixed_effect(batch)):
            _close(res.weights.sum(axis=1), 100.0, rtol=1e-12)
            assert np.all(res.weights[~batch.mask] == 0)
            single = batch.k == 1
            assert np.all(res.status[single] == "single_study")
            assert not np.isnan(res.estimate).any()


@settings(max_examples=40, deadline=None)
@given(analyses(min_k=2, max_k=8), st.floats(0, 2), st.sampled_from(["wald", "hksj"]))
def test_higgins_prediction_interval(data, tau2, ci_method):
    """Higgins, Thompson & Spiegelhalter (2009): mu +- t_{k-2} sqrt(se^2 + tau2); undefined for k = 2."""
    from scipy import stats

    batch = StudyBatch.from_list([data])
    res = random_effects_given_tau2(batch, tau2, ci_method, "higgins")
    k = len(data[0])
    if k == 2:
        assert np.isnan(res.pi_low[0]) and "no_prediction_interval" in res.status[0]
    else:
        half = stats.t.ppf(0.975, k - 2) * np.sqrt(res.se[0] ** 2 + tau2)
        _close(
            [res.pi_low[0], res.pi_high[0]],
            [res.estimate[0] - half, res.estimate[0] + half],
            rtol=1e-12,
        )
    none = random_effects_given_tau2(batch, tau2, ci_method, "none")
    assert np.isnan(none.pi_low[0]) and np.isnan(none.pi_high[0])
    _close(none.ci_low, res.ci_low, rtol=0, atol=0)
