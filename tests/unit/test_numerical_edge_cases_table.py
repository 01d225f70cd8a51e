"""Numerical edge cases through the whole engine (ingest -> validate -> effect sizes -> pooled
table). Edge cases of the estimators alone are in test_tau2_edge_cases.py; here the documented
outcome of each case is checked in the table a user gets: every row has a status that says what
happened, numbers are finite wherever they are defined, and NumPy raises no warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from helpers.report_tables import CONFIG, engine_tables
from trialmeta.inputs.analyses import assign_analysis_ids
from trialmeta.inputs.ingest import load_trials
from trialmeta.inputs.validate import validate_trials

GROUP_BY = ["therapy", "comparator", "condition", "outcome", "outcome_type"]
HEAD = (
    "study_id,therapy,comparator,condition,outcome,outcome_type,events_treat,n_treat,events_ctrl,"
    "n_ctrl,mean_treat,sd_treat,mean_ctrl,sd_ctrl\n"
)


def pooled_table(tmp_path, rows):
    path = tmp_path / "edge.csv"
    path.write_text(HEAD + "".join(r + "\n" for r in rows), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy RuntimeWarning fails the test
        trials, problems = validate_trials(load_trials([str(path)]), GROUP_BY)
        trials = assign_analysis_ids(trials, GROUP_BY)
        pooled, studies, _ = engine_tables(trials, dict(CONFIG, group_by=GROUP_BY))
    assert (pooled["status"].astype(str).str.len() > 0).all()
    return pooled, studies, problems


def test_no_events_in_any_study(tmp_path):
    rows = [f"S{i},x,placebo,c,o,binary,0,{50 + i},0,{50 + 2 * i},,,," for i in range(4)]
    pooled, studies, problems = pooled_table(tmp_path, rows)
    # a warning per row, naming file and row
    assert len(problems) == 4 and all("no events in either arm" in str(p) for p in problems)
    assert sorted(p.row for p in problems) == [2, 3, 4, 5]
    # inverse variance with the 0.5 correction (metafor's default): finite, every study corrected
    iv = pooled[pooled.model.isin(["random", "fixed"])]
    assert np.isfinite(iv[["estimate", "se", "ci_low", "ci_high"]].to_numpy(float)).all()
    assert studies["continuity_corrected"].astype(bool).all()
    # Mantel-Haenszel and Peto OR/RR: no information, said so, no number
    ratio = pooled[pooled.model.isin(["mh", "peto"]) & pooled.measure.isin(["OR", "RR"])]
    assert len(ratio) == 3
    assert (ratio.status == "no_events").all() and ratio.estimate.isna().all()
    # MH risk difference is defined (0) even without events, and flagged
    rd = pooled[(pooled.model == "mh") & (pooled.measure == "RD")].iloc[0]
    assert rd.estimate == 0.0 and "no_events" in rd.status


def test_huge_trials_and_tiny_sds(tmp_path):
    rows = [
        f"S{i},x,placebo,c,o,continuous,,10000000,,10000000,{1.0 + 0.01 * i},1e-12,1.0,1e-12"
        for i in range(3)
    ]
    pooled, studies, _ = pooled_table(tmp_path, rows)
    assert np.isfinite(studies[["yi", "vi"]].to_numpy(float)).all() and (studies.vi > 0).all()
    md = pooled[(pooled.measure == "MD") & (pooled.model == "random")]
    # the three MDs are 0, 0.01, 0.02 with variance ~2e-31: all between-study variance
    np.testing.assert_allclose(md.estimate, 0.01, rtol=1e-9)
    reml = md[md.tau2_method == "REML"].iloc[0]
    np.testing.assert_allclose(reml.tau2, 1e-4, rtol=1e-9)  # sample variance of 0, .01, .02
    assert reml.I2 == pytest.approx(100.0)
    fixed = pooled[(pooled.measure == "MD") & (pooled.model == "fixed")].iloc[0]
    assert 0 < fixed.se < 1e-12
    smd = pooled[(pooled.measure == "SMD") & (pooled.model == "random")]
    assert np.isfinite(smd[["estimate", "se", "tau2"]].to_numpy(float)).all()


def test_identical_studies(tmp_path):
    rows = [f"S{i},x,placebo,c,o,binary,20,100,10,100,,,," for i in range(5)]
    pooled, _, _ = pooled_table(tmp_path, rows)
    random = pooled[pooled.model == "random"]
    assert (random.tau2 == 0).all() and random.status.str.contains("tau2_boundary").all()
    assert (random.I2 == 0).all() and np.allclose(random.Q, 0, atol=1e-20)
    # with tau2 = 0 the random-effects estimate is the fixed-effect one
    for m, g in random.groupby("measure"):
        fixed = pooled[(pooled.model == "fixed") & (pooled.measure == m)].estimate.iloc[0]
        np.testing.assert_allclose(g.estimate, fixed, rtol=1e-12)
