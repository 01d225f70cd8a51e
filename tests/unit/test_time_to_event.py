"""Hazard ratios from O-E/V, log-rank p-values, reported CIs and log HR/SE; multi-arm split and
combine arithmetic (trialmeta.stats.time_to_event, trialmeta.inputs.multi_arm)."""

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from trialmeta.inputs.multi_arm import (
    combine_binary,
    combine_continuous,
    resolve_multi_arm,
    split_counts,
)
from trialmeta.stats.time_to_event import (
    hr_from_ci,
    hr_from_logrank,
    hr_from_o_minus_e,
    logrank_variance,
    time_to_event_effects,
)


def test_o_minus_e_and_v_by_hand_tierney_bladder_example():
    """Tierney et al. 2007 (Trials 8:16), bladder cancer example as summarised at
    https://www.bohrium.com/paper-details/practical-methods-for-incorporating-summary-time-to-event-data-into-meta-analysis/811988971327324160-7237 :
    "a pooled HR of 0.88 and a variance of 128.81 (95% CI of 0.74 - 1.05)". With V = 128.81 and
    O - E = V ln(0.88) (by hand: 128.81 x -0.127833 = -16.4662), ln HR = (O-E)/V, var = 1/V must give HR 0.88 and a
    95% CI that rounds to 0.74-1.05."""
    v = 128.81
    oe = v * math.log(0.88)
    assert round(oe, 4) == -16.4662
    yi, vi = hr_from_o_minus_e(oe, v)
    assert math.isclose(float(vi), 1 / 128.81, rel_tol=1e-15)
    assert round(math.exp(float(yi)), 2) == 0.88
    half = 1.959963984540054 * math.sqrt(float(vi))
    assert round(math.exp(float(yi) - half), 2) == 0.74
    assert round(math.exp(float(yi) + half), 2) == 1.05


def test_logrank_approximation_tierney_worked_p_value():
    """Tierney et al. 2007: a two-sided log-rank p of 0.075 gives z = 1.78 (quoted in the
    response, Trials 2013 14:391, https://link.springer.com/doi/10.1186/1745-6215-14-391);
    V = D/4 for 1:1 randomisation and O - E = -z sqrt(V) when the treatment is favoured.
    Hand computation for D = 100 events: V = 25, O - E = -1.78046 x 5 = -8.9023,
    ln HR = -0.35610, var = 0.04."""
    z = -special.ndtri(0.075 / 2)
    assert round(z, 2) == 1.78
    yi, vi, oe, v = hr_from_logrank(0.075, True, 100)
    assert float(v) == 25.0 and float(vi) == 0.04
    assert math.isclose(float(oe), -z * 5, rel_tol=1e-15)
    assert round(float(oe), 4) == -8.9023
    assert round(float(yi), 4) == -0.3561
    # favouring control flips the sign; 2:1 randomisation: V = D r/(1+r)^2 = 100 * 2/9
    assert float(hr_from_logrank(0.075, False, 100)[0]) == -float(yi)
    assert math.isclose(float(logrank_variance(100, 2)), 200 / 9, rel_tol=1e-15)


def test_ci_and_first_source_wins():
    yi, vi = hr_from_ci(0.76, 0.59, 0.98)
    assert math.isclose(float(yi), math.log(0.76))
    assert math.isclose(
        float(vi), ((math.log(0.98) - math.log(0.59)) / (2 * 1.959963984540054)) ** 2
    )
    es, src = time_to_event_effects(
        estimate=[0.76, np.nan, np.nan, np.nan],
        ci_low=[0.59, np.nan, np.nan, np.nan],
        ci_high=[0.98, np.nan, np.nan, np.nan],
        o_minus_e=[-1.0, -2.0, np.nan, np.nan],
        v=[10.0, 20.0, np.nan, np.nan],
        log_hr=[np.nan, np.nan, -0.2, np.nan],
        se_log_hr=[np.nan, np.nan, 0.1, np.nan],
    )
    assert list(src) == ["ci", "o_minus_e", "log_hr", ""]
    assert math.isclose(es.yi[0], math.log(0.76)) and math.isclose(es.yi[1], -0.1)
    assert math.isclose(es.vi[2], 0.01) and np.isnan(es.yi[3])
    assert es.measure == "HR" and es.scale == "log"


def test_split_counts_by_hand():
    """Handbook 23.3.4.2: the shared control divided evenly; whole counts, remainder to the
    first arms (RADIATE control: 16 events / 158 -> 8/79 and 8/79; 3 arms of 10 -> 4, 3, 3)."""
    assert split_counts(158, 2) == [79, 79]
    assert split_counts(16, 2) == [8, 8]
    assert split_counts(10, 3) == [4, 3, 3]
    assert split_counts(7, 2) == [4, 3]


def test_combine_continuous_handbook_formula_by_hand():
    """Cochrane Handbook Table 6.5.a. Arms (N, M, SD) = (10, 5, 2) and (20, 8, 3): N = 30,
    M = (50 + 160)/30 = 7, SD^2 = (9*4 + 19*9 + 10*20/30 * (25 + 64 - 80)) / 29 = 267/29."""
    m, s, n = combine_continuous([5, 8], [2, 3], [10, 20])
    assert n == 30 and math.isclose(m, 7.0)
    assert math.isclose(s, math.sqrt(267 / 29), rel_tol=1e-14)
    assert combine_binary([85, 49], [170, 161]) == (134.0, 331.0)


@settings(max_examples=200, deadline=None)
@given(
    e=st.integers(0, 500),
    extra=st.integers(0, 500),
    m=st.floats(-100, 100, allow_nan=False),
    s=st.floats(0.01, 100, allow_nan=False),
)
def test_combining_identical_arms_gives_the_arm_with_doubled_n(e, extra, m, s):
    """Binary: the same risk with events and n doubled. Continuous: the same mean with n doubled;
    the combined SD is the SD of the pooled sample, s sqrt((2n-2)/(2n-1)) (Table 6.5.a with
    M1 = M2), which tends to s."""
    n = e + extra + 2
    assert combine_binary([e, e], [n, n]) == (2 * e, 2 * n)
    cm, cs, cn = combine_continuous([m, m], [s, s], [n, n])
    assert cn == 2 * n and math.isclose(cm, m, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(cs, s * math.sqrt((2 * n - 2) / (2 * n - 1)), rel_tol=1e-12)


def _two_arm_table():
    base = dict(
        comparator="placebo", condition="c", outcome="o", outcome_type="binary",
        events_ctrl=16.0, n_ctrl=158.0, source_file="x.csv",
    )  # fmt: skip
    return pd.DataFrame(
        [
            dict(base, study_id="T", therapy="8 mg", arm="8 mg", events_treat=85.0,
                 n_treat=170.0, source_row=2),
            dict(base, study_id="T", therapy="4 mg", arm="4 mg", events_treat=49.0,
                 n_treat=161.0, source_row=3),
        ]
    )  # fmt: skip


def test_split_and_combine_tables_by_hand():
    gb = ["comparator", "condition", "outcome", "outcome_type"]
    split, notes = resolve_multi_arm(_two_arm_table(), gb, "split")
    assert list(split["study_id"]) == ["T (8 mg)", "T (4 mg)"]
    assert list(split["events_ctrl"]) == [8, 8] and list(split["n_ctrl"]) == [79, 79]
    assert list(split["events_treat"]) == [85, 49]
    assert "split" in split["multi_arm"].iloc[0] and len(notes) == 1
    assert notes[0].file == "x.csv" and notes[0].row == 2 and notes[0].severity == "warning"
    comb, notes = resolve_multi_arm(_two_arm_table(), gb, "combine")
    assert len(comb) == 1 and comb["study_id"].iloc[0] == "T"
    assert (comb["events_treat"].iloc[0], comb["n_treat"].iloc[0]) == (134, 331)
    assert (comb["events_ctrl"].iloc[0], comb["n_ctrl"].iloc[0]) == (16, 158)
    assert comb["arm"].iloc[0] == "8 mg + 4 mg" and "combined" in comb["multi_arm"].iloc[0]


def test_forest_plot_hazard_ratio_label_and_source_notes():
    import matplotlib.text

    from trialmeta.plots.forest import forest_plot

    studies = pd.DataFrame(
        {
            "analysis_id": ["ms", "ms"],
            "study_id": ["ORATORIO 2017", "OLYMPUS 2009"],
            "measure": ["HR", "HR"],
            "scale": ["log", "log"],
            "yi": [math.log(0.76), -0.26136],
            "vi": [0.129449**2, 0.17898**2],
            "sei": [0.129449, 0.17898],
            "ci_low": [math.log(0.59), -0.61215],
            "ci_high": [math.log(0.98), 0.08943],
            "weight_random": [65.7, 34.3],
            "weight_fixed": [65.7, 34.3],
            "hr_source": ["HR + CI", "log HR + SE"],
            "multi_arm": ["", ""],
        }
    )
    pooled = pd.DataFrame(
        {
            "analysis_id": ["ms"], "measure": ["HR"], "scale": ["log"], "model": ["random"],
            "tau2_method": ["REML"], "ci_method": ["wald"], "k": [2], "estimate": [-0.27],
            "se": [0.1], "ci_low": [-0.47], "ci_high": [-0.07], "pval": [0.01], "tau2": [0.0],
            "I2": [0.0], "Q": [0.0], "Q_df": [1], "Q_pval": [0.95], "status": ["ok"],
            "primary": [True],
        }
    )  # fmt: skip
    fig = forest_plot(
        {"analysis_id": "ms"}, studies, pooled, measure="HR", therapy_label="anti-CD20",
        comparator_label="placebo", higher_is_better=False, outcome_type="time_to_event",
    )  # fmt: skip
    assert fig.axes[0].xaxis.get_label().get_text() == "Hazard Ratio (IV, Random, 95% CI)"
    by_gid = {t.get_gid(): t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_gid()}
    assert by_gid["note-hr-source"] == (
        "Hazard ratios from: HR + CI (ORATORIO 2017); log HR + SE (OLYMPUS 2009)."
    )
    studies["multi_arm"] = ["split: shared control divided evenly among 2 arms", ""]
    studies["study_id"] = ["T (8 mg)", "OLYMPUS 2009"]
    fig = forest_plot(
        {"analysis_id": "ms"}, studies, pooled, measure="HR", therapy_label="x",
        comparator_label="placebo", higher_is_better=False, outcome_type="time_to_event",
    )  # fmt: skip
    by_gid = {t.get_gid(): t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_gid()}
    assert by_gid["note-multi-arm"].startswith("Multi-arm trial T: split: shared control")
