"""Issue 14 through the real workflow: the shipped MS analysis pools hazard ratios (ORATORIO:
reported HR + CI; OLYMPUS: log HR + SE), each study's source is in studies.csv and the forest
plot; the shipped multi-arm trial (RADIATE 8 and 4 mg/kg vs one control) is split by default,
combined with ``multi_arm: combine`` and refused with ``multi_arm: error``, and what was done is
in studies.csv, the forest plot footnote, warnings.csv and on the console."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers.workflow_project import clone, shipped_run, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

MS_OUTCOME = "12-week confirmed disability progression (time to event)"


@pytest.fixture(scope="module")
def project():
    return shipped_run()


def _tables(project):
    t = project / "results" / "tables"
    return pd.read_csv(t / "pooled.csv"), pd.read_csv(t / "studies.csv")


def test_ms_analysis_pools_hazard_ratios(project):
    pooled, studies = _tables(project)
    ms = pooled[pooled["outcome"].astype(str).str.contains("disability progression")]
    assert set(ms["outcome_type"]) == {"time_to_event"} and set(ms["outcome"]) == {MS_OUTCOME}
    prim = ms[ms["primary"].astype(str) == "True"].iloc[0]
    assert prim["measure"] == "HR" and prim["scale"] == "log" and prim["k"] == 2
    st = studies[studies["analysis_id"] == prim["analysis_id"]].set_index("study_id")
    assert st.loc["ORATORIO 2017", "hr_source"] == "HR + CI"
    assert st.loc["OLYMPUS 2009", "hr_source"] == "log HR + SE"
    assert math.isclose(st.loc["ORATORIO 2017", "yi"], math.log(0.76), rel_tol=1e-12)
    assert math.isclose(st.loc["OLYMPUS 2009", "sei"], 0.17898, rel_tol=1e-12)
    # the KM-derived binary rows are no longer pooled anywhere
    assert not (
        (studies["study_id"] == "ORATORIO 2017") & (studies["outcome_type"] == "binary")
    ).any()
    svg = (project / "results" / "figures" / "forest" / f"{prim['analysis_id']}.svg").read_text()
    assert 'id="note-hr-source"' in svg  # text is drawn as paths; its wording: unit tests


def test_multi_arm_trial_split_by_default(project):
    _, studies = _tables(project)
    rad = studies[studies["study_id"].astype(str).str.startswith("RADIATE 2008 (")]
    rad = rad[rad["measure"] == "RR"].set_index("study_id")
    assert sorted(rad.index) == ["RADIATE 2008 (4 mg/kg)", "RADIATE 2008 (8 mg/kg)"]
    assert list(rad["n_ctrl"]) == [79, 79] and list(rad["events_ctrl"]) == [8, 8]
    assert rad["multi_arm"].str.startswith("split: shared control divided evenly").all()
    aid = rad["analysis_id"].iloc[0]
    svg = (project / "results" / "figures" / "forest" / f"{aid}.svg").read_text()
    assert 'id="note-multi-arm"' in svg
    warnings = (project / "results" / "tables" / "warnings.csv").read_text()
    assert "multi-arm trial 'RADIATE 2008' (8 mg/kg, 4 mg/kg; multi_arm: split)" in warnings


def _with_multi_arm(project, mode, name):
    other = clone(project, name)
    cfg = other / "config" / "example.yaml"
    cfg.write_text(cfg.read_text() + f"\nmulti_arm: {mode}\n")
    return other


def test_multi_arm_combine_and_error(project):
    other = _with_multi_arm(project, "combine", "combine")
    proc = snakemake(other, "--cores", "2")
    assert "multi-arm trial 'RADIATE 2008'" in proc.stderr + proc.stdout
    _, studies = _tables(other)
    rad = studies[(studies["study_id"] == "RADIATE 2008") & (studies["measure"] == "RR")]
    rad = rad[rad["outcome"] == "ACR20 response"]
    assert len(rad) == 1
    row = rad.iloc[0]
    assert (row["events_treat"], row["n_treat"]) == (134, 331)
    assert (row["events_ctrl"], row["n_ctrl"]) == (16, 158)
    assert row["multi_arm"].startswith("combined: 2 arms merged")
    other = _with_multi_arm(project, "error", "refuse")
    proc = snakemake(other, "--cores", "2", check=False)
    assert proc.returncode != 0
    text = proc.stderr + proc.stdout
    assert "study_id='RADIATE 2008': multi-arm trial 'RADIATE 2008'" in text
    assert "multi_arm is 'error'" in text
