"""Single-arm (uncontrolled) evidence: measures, GLMM edge cases, validation, overlapping cohorts,
the correlation sensitivity and the page / figure labels (issue 17)."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialmeta.inputs.analyses import assign_analysis_ids
from trialmeta.inputs.config import load_config
from trialmeta.inputs.errors import ConfigError, InputError
from trialmeta.inputs.ingest import load_trials
from trialmeta.inputs.settings import Settings
from trialmeta.inputs.single_arm import NO_COMPARATOR, overlapping_cohorts, single_arm_warnings
from trialmeta.inputs.validate import validate_trials
from trialmeta.stats.batch import pad_by_group
from trialmeta.stats.glmm import binomial_normal_glmm
from trialmeta.stats.single_arm import (
    back_transform,
    change_effects,
    clopper_pearson,
    proportion_effects,
)
from trialmeta.tables.pooled import pool_analyses
from trialmeta.tables.single_arm import (
    effects_with_single_arm,
    prepost_sensitivity,
    single_arm_pooled,
)

GROUP_BY = ["therapy_class", "comparator", "condition", "outcome", "outcome_type"]
COLS = [
    "study_id",
    "therapy",
    "therapy_class",
    "comparator",
    "condition",
    "outcome",
    "outcome_type",
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_baseline",
    "sd_baseline",
    "mean_followup",
    "sd_followup",
    "n",
    "cohort_id",
    "year",
]


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, COLS)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in COLS})
    return path


def _prop(sid, x, n, outcome="remission", **kw):
    return dict(
        study_id=sid,
        therapy="MSC",
        therapy_class="MSC",
        condition="SLE",
        outcome=outcome,
        outcome_type="single_arm_proportion",
        events_treat=x,
        n_treat=n,
        **kw,
    )


def _change(sid, m0, s0, m1, s1, n, **kw):
    return dict(
        study_id=sid,
        therapy="MSC",
        therapy_class="MSC",
        condition="SLE",
        outcome="SLEDAI",
        outcome_type="single_arm_change",
        mean_baseline=m0,
        sd_baseline=s0,
        mean_followup=m1,
        sd_followup=s1,
        n=n,
        **kw,
    )


def _validated(tmp_path, rows, group_by=GROUP_BY):
    df, warnings = validate_trials(load_trials([_write(tmp_path / "t.csv", rows)]), group_by)
    return assign_analysis_ids(df, group_by), warnings


# ------------------------------------------------------------------------------ properties
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_plo_of_x_is_minus_plo_of_n_minus_x(xn):
    x, n = xn
    a = proportion_effects([x], [n], "PLO")
    b = proportion_effects([n - x], [n], "PLO")
    assert a.yi[0] == pytest.approx(-b.yi[0], abs=1e-12)
    assert a.vi[0] == pytest.approx(b.vi[0], rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-50, 50),
    st.floats(0.1, 20),
    st.floats(-50, 50),
    st.floats(0.1, 20),
    st.integers(3, 300),
    st.floats(-0.95, 0.95),
)
def test_swapping_baseline_and_followup_negates_mc(m0, s0, m1, s1, n, r):
    a = change_effects(
        [n], "MC", ri=r, mean_baseline=m0, sd_baseline=s0, mean_followup=m1, sd_followup=s1
    )
    b = change_effects(
        [n], "MC", ri=r, mean_baseline=m1, sd_baseline=s1, mean_followup=m0, sd_followup=s0
    )
    assert a.yi[0] == pytest.approx(-b.yi[0], abs=1e-12)
    assert a.vi[0] == pytest.approx(b.vi[0], rel=1e-12)


def test_change_given_directly_needs_no_correlation():
    es = change_effects([20], "MC", ri=0.9, mean_change=[-4.0], sd_change=[2.0])
    assert es.yi[0] == -4.0 and es.vi[0] == pytest.approx(4.0 / 20)


# ------------------------------------------------------------------------------ edge cases
def test_zero_and_all_events_use_metafors_continuity_rule():
    plo = proportion_effects([0, 5, 5], [5, 5, 10], "PLO")
    assert plo.corrected.tolist() == [True, True, False]
    assert plo.yi[0] == pytest.approx(np.log(0.5 / 5.5))
    assert plo.vi[0] == pytest.approx(1 / 0.5 + 1 / 5.5)
    pft = proportion_effects([0, 5], [5, 5], "PFT")  # escalc: add = 0 for PAS / PFT
    assert not pft.corrected.any() and np.isfinite(pft.yi).all()
    none = proportion_effects([0], [5], "PLO", to="none")
    assert none.invalid()[0]


def test_n_equal_one():
    for m in ("PLO", "PAS", "PFT", "PR"):
        es = proportion_effects([0, 1], [1, 1], m)
        assert np.isfinite(es.yi).all() and (es.vi > 0).all(), m


def test_clopper_pearson_matches_the_published_interval():
    lo, hi = clopper_pearson([5], [6])  # Kamen 2022: 83.3% (95% CI 35.9% to 99.6%)
    assert round(lo[0] * 100, 1) == 35.9 and round(hi[0] * 100, 1) == 99.6
    lo, hi = clopper_pearson([0, 7], [7, 7])
    assert lo[0] == 0.0 and hi[1] == 1.0


def test_back_transforms():
    assert back_transform([0.0], "PLO")[0] == 0.5
    assert back_transform([-0.1, np.pi], "PAS").tolist() == [0.0, 1.0]
    pft = proportion_effects([3], [10], "PFT")
    assert back_transform(pft.yi, "PFT", [10])[0] == pytest.approx(0.3, abs=0.01)


def test_glmm_needs_no_correction_and_handles_edges():
    codes = np.array([0, 0, 0, 1, 1, 2])
    x = np.array([0, 10, 3, 5, 5, 4], float)
    n = np.array([10, 10, 12, 5, 5, 9], float)
    mask, _, xs, ns = pad_by_group(codes, x, n)
    res = binomial_normal_glmm(xs, ns, mask)
    assert np.isfinite(res.beta[0]) and np.isfinite(res.se[0]) and res.tau2[0] > 0
    assert res.k.tolist() == [3, 2, 1]
    assert res.beta[1] > 3  # all events: the logit runs off towards +inf, finite with a big SE


# ------------------------------------------------------------------------------ validation
def test_blank_comparator_reads_none_and_keys_are_complete(tmp_path):
    df, _ = _validated(tmp_path, [_prop("A", 3, 10), _prop("B", 4, 12)])
    assert set(df["comparator"]) == {NO_COMPARATOR}
    assert df["analysis_id"].nunique() == 1


def test_validation_errors(tmp_path):
    rows = [
        _prop("A", 11, 10),
        _change("B", 10, 0, 5, 2, 10),
        _change("C", 10, 2, 5, 2, 1),
        dict(_change("D", 10, 2, 5, 2, 8), mean_followup=""),
    ]
    with pytest.raises(InputError) as exc:
        _validated(tmp_path, rows)
    text = str(exc.value)
    assert "t.csv:2: events_treat=11 > n_treat=10" in text
    assert "t.csv:3: sd_baseline=0: must be > 0" in text
    assert "t.csv:4: n=1: must be >= 2" in text
    assert "t.csv:5: single_arm_change row needs mean_baseline" in text


def test_single_arm_and_randomised_rows_never_share_an_analysis(tmp_path):
    rct = dict(
        study_id="R",
        therapy="MSC",
        therapy_class="MSC",
        comparator="placebo",
        condition="SLE",
        outcome="remission",
        outcome_type="binary",
        events_treat=9,
        n_treat=12,
        events_ctrl=5,
        n_ctrl=6,
    )
    df, _ = _validated(tmp_path, [_prop("A", 3, 10), rct])
    assert df["analysis_id"].nunique() == 2  # outcome_type (and comparator) in the key
    rct2 = dict(rct, comparator="")
    with pytest.raises(InputError, match="outcome_type"):
        _validated(
            tmp_path,
            [_prop("A", 3, 10), dict(rct2, comparator=NO_COMPARATOR)],
            ["therapy_class", "condition", "outcome"],
        )


@pytest.mark.parametrize("r", [-1, 1, 1.5])
def test_correlation_outside_minus_one_one_is_a_config_error(r):
    with pytest.raises(ConfigError, match="prepost_correlation"):
        load_config({"prepost_correlation": r}, check_files=False)


# ------------------------------------------------------------------------------ cohorts
def test_overlapping_cohorts_pool_the_largest(tmp_path):
    rows = [
        _prop("A", 3, 10, cohort_id="nj", year=2010),
        _prop("B", 30, 90, cohort_id="nj"),
        _prop("C", 10, 90, cohort_id="nj", year=2020),
        _prop("D", 5, 20),
    ]
    df, _ = _validated(tmp_path, rows)
    listing = overlapping_cohorts(df)
    assert sorted(listing["study_id"]) == ["A", "B"]  # C: n = 90 tie, the latest year
    assert set(listing["kept_study_id"]) == {"C"}
    warnings = [str(w) for w in single_arm_warnings(df, ["PLO", "PFT"])]
    assert sum("overlapping population" in w for w in warnings) == 2
    assert sum("Schwarzer et al. 2019" in w for w in warnings) == 1
    s = Settings.coerce({})
    eff = effects_with_single_arm(df, measures=s.measures.as_dict())
    pooled, studies = pool_analyses(eff, GROUP_BY, models=["random", "fixed"])
    pooled, studies = single_arm_pooled(pooled, studies, eff, models=("glmm",))
    prim = pooled[pooled["primary"]].iloc[0]
    assert prim["k"] == 2 and "overlapping_cohort:2" in prim["status"]
    glmm = pooled[pooled["model"] == "glmm"].iloc[0]
    assert glmm["k"] == 2 and 0 < glmm["estimate_exp"] < 1
    assert studies["weight_random"].isna().sum() == 2  # listed, not pooled


def test_k1_proportion_analysis(tmp_path):
    df, _ = _validated(tmp_path, [_prop("A", 0, 7)])
    s = Settings.coerce({})
    eff = effects_with_single_arm(df, measures=s.measures.as_dict())
    pooled, studies = pool_analyses(eff, GROUP_BY, models=["random"])
    pooled, studies = single_arm_pooled(pooled, studies, eff, models=("glmm",))
    assert (pooled["status"] == "single_study").all()
    assert studies["yi_exp"].iloc[0] == pytest.approx(0.5 / 8)


def test_prepost_sensitivity_side_by_side(tmp_path):
    df, _ = _validated(tmp_path, [_change("A", 12, 3, 3, 3, 12)])  # k = 1: the study's own CI
    s = Settings.coerce({})
    table = prepost_sensitivity(df, GROUP_BY, s, pool_analyses)
    mc = table[table["measure"] == "MC"]
    assert mc["correlation"].tolist() == [0.3, 0.5, 0.7]
    assert mc["configured"].tolist() == [False, True, False]
    se = (mc["ci_high"] - mc["ci_low"]).to_numpy()
    assert se[0] > se[1] > se[2]  # a higher correlation, a smaller variance of the change


def test_effects_keep_input_order_with_randomised_rows(tmp_path):
    rct = dict(
        study_id="R",
        therapy="MSC",
        therapy_class="MSC",
        comparator="placebo",
        condition="SLE",
        outcome="remission",
        outcome_type="binary",
        events_treat=9,
        n_treat=12,
        events_ctrl=5,
        n_ctrl=6,
    )
    df, _ = _validated(tmp_path, [_prop("A", 3, 10), rct, _prop("B", 4, 9)])
    s = Settings.coerce({})
    eff = effects_with_single_arm(df, measures=s.measures.as_dict())
    assert eff["study_id"].tolist() == ["A", "R", "R", "R", "B"]
    assert isinstance(eff, pd.DataFrame) and eff.loc[0, "scale"] == "logit"


# ------------------------------------------------------------------------------ report pages
def test_report_pages_label_uncontrolled_evidence(tmp_path):
    """Pages built from a mixed table: the single-arm pages carry the label, no "favours", the
    GLMM, the overlapping cohort, the PFT warning and the randomised comparison side by side."""
    import re

    from trialmeta.plots.forest import render_forest_plots
    from trialmeta.report import build_report

    rct = dict(
        study_id="R",
        therapy="MSC",
        therapy_class="MSC",
        comparator="placebo",
        condition="SLE",
        outcome="remission",
        outcome_type="binary",
        events_treat=9,
        n_treat=12,
        events_ctrl=5,
        n_ctrl=6,
    )
    rows = [
        _prop("A", 24, 40, cohort_id="nj"),
        _prop("B", 49, 81, cohort_id="nj"),
        _prop("C", 7, 9),
        _prop("D", 3, 3),
        rct,
    ]
    df, warnings = _validated(tmp_path, rows)
    s = Settings.coerce(
        {"group_by": GROUP_BY, "measures": {"single_arm_proportion": ["PLO", "PFT"]}}
    )
    eff = effects_with_single_arm(df, measures=s.measures.as_dict())
    pooled, studies = pool_analyses(eff, GROUP_BY, models=["random", "fixed"])
    pooled, studies = single_arm_pooled(pooled, studies, eff, models=("glmm",))
    ids = sorted(set(pooled["analysis_id"]))
    render_forest_plots(pooled, studies, df, s, tmp_path / "fig", ids, formats=("svg",))
    out = tmp_path / "report"
    build_report(
        pooled, studies, df, s, warnings + single_arm_warnings(df, ["PFT"]), tmp_path / "fig", out
    )
    single = [a for a in ids if "single-arm" in a][0]
    randomised = [a for a in ids if "single-arm" not in a][0]
    page = (out / "analyses" / f"{single}.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "Uncontrolled (single-arm) evidence" in text
    assert not re.search(r"\bfavou?rs?\b", text, re.I)
    assert "Schwarzer et al. 2019" in text and "Binomial-normal GLMM" in text
    assert "Overlapping cohorts (not pooled)" in text and "overlaps B (n = 81, pooled)" in text
    assert "Only the randomised comparison listed here" in text and "(same outcome)" in text
    assert "Uncontrolled (single-arm) evidence was analysed separately" in text  # methods
    other = re.sub(r"<[^>]+>", " ", (out / "analyses" / f"{randomised}.html").read_text())
    assert "Which answers the question? This randomised comparison does" in other
    svg = (tmp_path / "fig" / f"{single}.svg").read_text(encoding="utf-8")
    assert 'id="uncontrolled-label"' in svg and "favours-" not in svg
