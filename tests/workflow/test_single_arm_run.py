"""Uncontrolled (single-arm) evidence through the real workflow on the shipped data (issue 17):
MSCs in lupus, randomised (Deng 2017) and single-arm, each labelled; the GLMM rows; overlapping
cohorts warned about and not pooled; the pre-post correlation sensitivity; and the single-arm
pages seen in headless Chromium: the "uncontrolled (single-arm) evidence" label, no "favours"."""

import re

import numpy as np
import pandas as pd
import pytest
from scipy import special

from helpers.cdp_browser import Browser, chromium_path
from helpers.workflow_project import shipped_run
from trialmeta.pipeline.console import run_summary

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

FAVOURS = re.compile(r"\bfavou?rs?\b", re.I)
TEXT = "document.body ? document.body.textContent : ''"


@pytest.fixture(scope="module")
def results():
    return shipped_run() / "results"


@pytest.fixture(scope="module")
def tables(results):
    t = results / "tables"
    return {
        n: pd.read_csv(t / f"{n}.csv")
        for n in ("pooled", "studies", "warnings", "single_arm_sensitivity")
    }


def _msc(df):
    return df[df["therapy_class"].astype(str).str.startswith("mesenchymal")]


def test_msc_evidence_is_there_and_kept_apart(tables):
    pooled = _msc(tables["pooled"])
    types = pooled.groupby("analysis_id")["outcome_type"].nunique()
    assert (types == 1).all()  # never two outcome types in one analysis
    kinds = set(pooled["outcome_type"])
    assert {"binary", "continuous", "single_arm_proportion", "single_arm_change"} <= kinds
    rct = pooled[pooled["outcome_type"] == "binary"]
    assert set(rct["comparator"]) == {"placebo + same standard immunosuppression"}
    single = pooled[pooled["outcome_type"].str.startswith("single_arm")]
    assert set(single["comparator"]) == {"none (single arm)"}
    remission = single[
        (single["outcome"] == "renal remission (complete + partial)")
        & single["primary"].astype(bool)
    ].iloc[0]
    assert remission["k"] == 2 and remission["measure"] == "PLO"
    assert remission["estimate_exp"] == pytest.approx(special.expit(remission["estimate"]))


def test_glmm_rows(tables):
    pooled = _msc(tables["pooled"])
    glmm = pooled[pooled["model"] == "glmm"]
    assert len(glmm) and set(glmm["outcome_type"]) == {"single_arm_proportion"}
    two = glmm[glmm["k"] == 2].iloc[0]
    assert 0 < two["estimate_exp"] < 1 and two["tau2_method"] == "ML"
    assert set(glmm.loc[glmm["k"] == 1, "status"]) == {"single_study"}


def test_overlapping_cohorts_warned_and_listed(tables, results):
    warnings = tables["warnings"]
    overlap = warnings[warnings["message"].str.contains("overlapping population")]
    assert len(overlap) == 3 and set(overlap["column"]) == {"cohort_id"}
    studies = _msc(tables["studies"])
    listed = studies[
        studies["study_id"].eq("Wang 2014") & studies["outcome"].str.startswith("clinical response")
    ]
    assert len(listed) == 1 and np.isnan(listed["weight_random"]).all()
    assert "overlapping population" in run_summary(results, first=100)  # the console summary
    pooled = _msc(tables["pooled"])
    cr = pooled[pooled["outcome"].eq("complete clinical remission (Sun-group criteria)")]
    assert (cr["k"] == 1).all()  # Wang 2013 (n = 83) pooled, Wang 2018 (n = 81) listed


def test_prepost_sensitivity_side_by_side(tables):
    sens = _msc(
        tables["single_arm_sensitivity"].merge(
            tables["pooled"][["analysis_id", "therapy_class", "outcome"]].drop_duplicates(),
            on="analysis_id",
        )
    )
    sledai = sens[sens["outcome"] == "SLEDAI change from baseline"]
    assert sorted(sledai["correlation"]) == [0.3, 0.3, 0.5, 0.5, 0.7, 0.7]
    mc = sledai[sledai["measure"] == "MC"].sort_values("correlation")
    assert (mc["estimate"] == -9.0).all()
    width = (mc["ci_high"] - mc["ci_low"]).to_numpy()
    assert width[0] > width[1] > width[2]


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="chromium not installed")
def test_single_arm_pages_in_chromium(tables, results, tmp_path):
    pooled = _msc(tables["pooled"])
    single = sorted(
        set(pooled.loc[pooled["outcome_type"].str.startswith("single_arm"), "analysis_id"])
    )
    rct = sorted(set(pooled.loc[pooled["outcome_type"] == "binary", "analysis_id"]))
    report = results / "report" / "analyses"
    with Browser(timeout=60) as b:
        for i, aid in enumerate(single):
            rec = b.open(
                report / f"{aid}.html",
                evaluate={"text": TEXT},
                screenshot=tmp_path / "single.png" if i == 0 else None,
            )
            assert rec.loaded and rec.errors == []
            text = rec.values["text"]
            assert "Uncontrolled (single-arm) evidence" in text, aid
            assert not FAVOURS.search(text), (aid, FAVOURS.search(text).group(0))
        remission = [a for a in rct if "renal" in a]
        rec = b.open(report / f"{remission[0]}.html", evaluate={"text": TEXT})
        assert "Which answers the question? This randomised comparison does" in rec.values["text"]
    for aid in single:
        svg = (results / "figures" / "forest" / f"{aid}.svg").read_text(encoding="utf-8")
        assert 'id="uncontrolled-label"' in svg and "favours-" not in svg
