"""Property tests (hypothesis) for per-study effect sizes and the Mantel-Haenszel / Peto pooling."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trialmeta.stats.effect_sizes import binary_effects, continuous_effects
from trialmeta.stats.mantel_haenszel import mantel_haenszel
from trialmeta.stats.peto import peto


@st.composite
def tables(draw, min_k=1, max_k=8, max_n=200):
    """(a, n1, c, n2) arrays of k valid 2x2 tables (zero cells and double zeros included)."""
    k = draw(st.integers(min_k, max_k))
    n1 = np.array(draw(st.lists(st.integers(1, max_n), min_size=k, max_size=k)), float)
    n2 = np.array(draw(st.lists(st.integers(1, max_n), min_size=k, max_size=k)), float)
    fa = np.array(
        draw(st.lists(st.sampled_from([0.0, 1.0, None]) | st.floats(0, 1), min_size=k, max_size=k)),
        dtype=object,
    )
    fc = np.array(
        draw(st.lists(st.sampled_from([0.0, 1.0, None]) | st.floats(0, 1), min_size=k, max_size=k)),
        dtype=object,
    )
    fa = np.array([0.3 if f is None else f for f in fa], float)
    fc = np.array([0.1 if f is None else f for f in fc], float)
    return np.floor(fa * n1), n1, np.floor(fc * n2), n2


@st.composite
def continuous(draw, max_k=8):
    k = draw(st.integers(1, max_k))
    fl = st.floats(-50, 50, allow_nan=False)
    sd = st.floats(0.05, 30)
    n = st.integers(2, 300)
    cols = [
        np.array(draw(st.lists(s, min_size=k, max_size=k)), float) for s in (fl, sd, n, fl, sd, n)
    ]
    n1, n2 = cols[2], cols[5]
    n1[(n1 + n2) <= 3] = 3  # SMD needs n1 + n2 - 2 > 1
    return cols


@settings(max_examples=80, deadline=None)
@given(tables(), st.sampled_from(["OR", "RR", "RD"]))
def test_swapping_arms_negates_binary_yi(t, measure):
    a, n1, c, n2 = t
    fwd = binary_effects(a, n1, c, n2, measure)
    rev = binary_effects(c, n2, a, n1, measure)
    np.testing.assert_allclose(rev.yi, -fwd.yi, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(rev.vi, fwd.vi, rtol=1e-13)
    assert np.array_equal(rev.corrected, fwd.corrected)


@settings(max_examples=80, deadline=None)
@given(continuous(), st.sampled_from(["MD", "SMD"]))
def test_swapping_arms_negates_continuous_yi(cols, measure):
    m1, s1, n1, m2, s2, n2 = cols
    fwd = continuous_effects(m1, s1, n1, m2, s2, n2, measure)
    rev = continuous_effects(m2, s2, n2, m1, s1, n1, measure)
    np.testing.assert_allclose(rev.yi, -fwd.yi, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(rev.vi, fwd.vi, rtol=1e-13)


@settings(max_examples=80, deadline=None)
@given(continuous(), st.floats(1e-3, 1e3))
def test_scaling_outcome_scales_md_leaves_smd(cols, factor):
    m1, s1, n1, m2, s2, n2 = cols
    md = continuous_effects(m1, s1, n1, m2, s2, n2, "MD")
    md_c = continuous_effects(factor * m1, factor * s1, n1, factor * m2, factor * s2, n2, "MD")
    np.testing.assert_allclose(md_c.yi, factor * md.yi, rtol=1e-12, atol=1e-12 * factor * 50)
    np.testing.assert_allclose(md_c.vi, factor**2 * md.vi, rtol=1e-12)
    smd = continuous_effects(m1, s1, n1, m2, s2, n2, "SMD")
    smd_c = continuous_effects(factor * m1, factor * s1, n1, factor * m2, factor * s2, n2, "SMD")
    np.testing.assert_allclose(smd_c.yi, smd.yi, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(smd_c.vi, smd.vi, rtol=1e-12)


@settings(max_examples=80, deadline=None)
@given(tables(), continuous())
def test_variances_positive(t, cols):
    for m in ("OR", "RR", "RD"):
        es = binary_effects(*t, m)
        assert (es.vi > 0).all() and np.isfinite(es.yi).all()
    for m in ("MD", "SMD"):
        es = continuous_effects(*cols, m)
        assert (es.vi > 0).all() and np.isfinite(es.yi).all()


@settings(max_examples=80, deadline=None)
@given(tables(), st.sampled_from(["OR", "RR", "RD"]))
def test_continuity_flags_exactly_zero_cell_studies(t, measure):
    a, n1, c, n2 = t
    zero = (a == 0) | (c == 0) | (a == n1) | (c == n2)
    es = binary_effects(a, n1, c, n2, measure, add=0.5, to="only0")
    assert np.array_equal(es.corrected, zero)
    assert not es.dropped.any()
    # drop00: exactly the double-zero (or double-full) tables are dropped, and never corrected
    d00 = ((a == 0) & (c == 0)) | ((a == n1) & (c == n2))
    es = binary_effects(a, n1, c, n2, measure, drop00=True)
    assert np.array_equal(es.dropped, d00)
    assert np.array_equal(es.corrected, zero & ~d00)
    assert np.isnan(es.yi[d00]).all() and np.isfinite(es.yi[~d00]).all()
    # to="all" corrects every study, "none" none, "if0all" all iff any study has a zero cell
    assert binary_effects(a, n1, c, n2, measure, to="all").corrected.all()
    none = binary_effects(a, n1, c, n2, measure, to="none", check=False)
    assert not none.corrected.any()
    assert binary_effects(a, n1, c, n2, measure, to="if0all").corrected.all() == zero.any()


@settings(max_examples=40, deadline=None)
@given(tables(min_k=2), tables(min_k=2))
def test_if0all_applies_per_analysis(t1, t2):
    a, n1, c, n2 = (np.concatenate([x, y]) for x, y in zip(t1, t2))
    group = np.repeat(["first", "second"], [t1[0].size, t2[0].size])
    es = binary_effects(a, n1, c, n2, "OR", to="if0all", group=group)
    for g, t in (("first", t1), ("second", t2)):
        sep = binary_effects(*t, "OR", to="if0all")
        assert np.array_equal(es.corrected[group == g], sep.corrected)
        np.testing.assert_array_equal(es.yi[group == g], sep.yi)


def _pad(tabs):
    n = max(t[0].size for t in tabs)
    out = []
    for j in range(4):
        arr = np.zeros((len(tabs), n))
        for i, t in enumerate(tabs):
            arr[i, : t[j].size] = t[j]
        out.append(arr)
    mask = np.zeros((len(tabs), n), bool)
    for i, t in enumerate(tabs):
        mask[i, : t[0].size] = True
    return (*out, mask)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(tables(min_k=2), min_size=1, max_size=4),
    st.sampled_from(["OR", "RR", "RD"]),
    st.randoms(),
)
def test_mh_peto_swap_negates_and_batching_and_order_do_not_matter(tabs, measure, rnd):
    a, n1, c, n2, mask = _pad(tabs)
    fwd = mantel_haenszel(a, n1, c, n2, mask, measure)
    rev = mantel_haenszel(c, n2, a, n1, mask, measure)
    np.testing.assert_allclose(rev.estimate, -fwd.estimate, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(rev.se, fwd.se, rtol=1e-10)
    np.testing.assert_allclose(rev.Q, fwd.Q, rtol=1e-9, atol=1e-11)
    for i, t in enumerate(
        tabs
    ):  # one analysis alone == its row in the batch; study order irrelevant
        perm = list(range(t[0].size))
        rnd.shuffle(perm)
        one = mantel_haenszel(
            *(x[perm][None, :] for x in t), np.ones((1, t[0].size), bool), measure
        )
        for f in ("estimate", "se", "Q", "I2"):
            np.testing.assert_allclose(
                getattr(one, f)[0], getattr(fwd, f)[i], rtol=1e-10, atol=1e-12
            )
        for key in ("BD", "TA", "CMH"):
            np.testing.assert_allclose(one.extra[key][0], fwd.extra[key][i], rtol=1e-8, atol=1e-10)
    pf = peto(a, n1, c, n2, mask)
    pr = peto(c, n2, a, n1, mask)
    # Peto's O - E = a - (a + c) n1 / N (as metafor): an estimate that is 0 in exact arithmetic
    # keeps the round-off of the expected counts (e.g. +-5.7e-14 for 47/47 vs 0/1, 0/1 vs 47/47)
    np.testing.assert_allclose(pr.estimate, -pf.estimate, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(pr.Q, pf.Q, rtol=1e-9, atol=1e-11)
