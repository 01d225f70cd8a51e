"""Subgroup analysis vs metafor's ``subgroups_REML`` (tight block): every level field and the test
for subgroup differences, for every factor moderator, dataset and measure.

Levels with one study (dat.hart1999 ``secondary`` / ``control``): metafor fits rma() to the single
study (estimate = yi, se = sqrt(vi), tau2 = 0, QE = 0, QEp = 1, I2 = 0) and uses it in the
between-level test; trialmeta reports the same numbers with status ``single_study`` (shown, not
pooled) and includes the level in Q_between exactly as metafor does.
"""

import numpy as np
import pytest

from helpers.bias_reference_helpers import TIGHT, cases_with, check, load_case
from trialmeta.stats.metaregression import level_label, sort_levels
from trialmeta.stats.subgroups import subgroup_analysis

CASES = [
    (ds, aid, m, g)
    for ds, aid, m in cases_with("subgroups_REML")
    for g in load_case(ds, aid, m)[2]["tight"]["subgroups_REML"]
]


def codes_for(rows, g):
    vals = rows[g].tolist()
    levels = sort_levels(vals)
    return levels, np.array([levels.index(level_label(x)) for x in vals])[None]


@pytest.mark.parametrize("ds,aid,m,g", CASES, ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in CASES])
def test_subgroups_tight(ds, aid, m, g):
    rows, a, r, y, v, batch, s = load_case(ds, aid, m)
    rec = r["tight"]["subgroups_REML"][g]
    levels, codes = codes_for(rows, g)
    # same levels; the order is R's sort() of the labels as character strings in the reference
    # (numeric levels 1..9 and the labels here sort the same way in both)
    assert sorted(levels) == sorted(rec["levels"])
    res = subgroup_analysis(batch, codes, "REML")
    sd = np.sqrt(s)
    assert list(res.level) == list(range(len(levels)))
    for i, lev in enumerate(levels):
        ref = rec["levels"][lev]
        assert res.k[i] == ref["k"]
        assert list(np.array(r["escalc"]["study_id"])[codes[0] == i]) == ref["study_ids"]
        for key, got, sc in (
            ("estimate", res.estimate, sd),
            ("se", res.se, sd),
            ("ci.lb", res.ci_low, sd),
            ("ci.ub", res.ci_high, sd),
            ("zval", res.stat, 1.0),
            ("pval", res.pval, 0.0),
            ("tau2", res.tau2, s),
            ("I2", res.I2, 1.0),
            ("QE", res.Q, 1.0),
            ("QEp", res.Q_pval, 0.0),
        ):
            check(got[i], ref[key], TIGHT, sc, f"{lev}.{key}")
        assert (res.status[i] == "single_study") == (ref["k"] == 1)
    t = rec["test_subgroup_differences"]
    check(res.Q_between, t["Q"], TIGHT, 1.0, "Q_between")
    check(res.Q_between_df, t["df"], 0.0, 0.0, "df")
    check(res.Q_between_pval, t["pval"], TIGHT, 0.0, "pval")


def test_common_tau2_equals_mixed_effects_model():
    """common_tau2=True: level estimates and Q_between are the mixed-effects model's (metafor
    rma(yi, vi, mods = ~ factor(alloc)), tight): cell means and its QM."""
    rows, a, r, y, v, batch, s = load_case("dat.bcg", "bcg_tb", "OR")
    levels, codes = codes_for(rows, "alloc")
    res = subgroup_analysis(batch, codes, "REML", common_tau2=True)
    ref = r["tight"]["metareg_REML"]["~ factor(alloc)"]
    b = ref["coefficients"]
    check(res.estimate[0], b["intrcpt"], TIGHT, 0.0, "ref level")
    check(res.estimate[1], b["intrcpt"] + b["factor(alloc)random"], TIGHT, 0.0, "random")
    check(res.tau2, np.full(3, ref["tau2"]), TIGHT, s, "tau2")
    check(res.Q_between, ref["QM"], TIGHT, 1.0, "QM")
    check(res.se[0], ref["se"]["intrcpt"], TIGHT, 0.0, "se ref level")


def test_batched_several_analyses():
    """Two analyses with different level sets in one call = one at a time."""
    rows1, _, _, y1, v1, b1, _ = load_case("dat.bcg", "bcg_tb", "RR")
    rows2, _, _, y2, v2, b2, _ = load_case("dat.hart1999", "warfarin_stroke", "RR")
    from trialmeta.stats.batch import StudyBatch

    _, c1 = codes_for(rows1, "alloc")
    _, c2 = codes_for(rows2, "prevtype")
    both = StudyBatch.from_list([(y1, v1), (y2, v2)])
    codes = np.full(both.yi.shape, -1)
    codes[0, : y1.size] = c1[0]
    codes[1, : y2.size] = c2[0]
    res = subgroup_analysis(both, codes)
    one = subgroup_analysis(b2, c2)
    np.testing.assert_allclose(res.estimate[res.analysis == 1], one.estimate, rtol=1e-12)
    np.testing.assert_allclose(res.Q_between[1], one.Q_between[0], rtol=1e-12)
