"""Within-trial biomarker interactions (issue 11) through the real workflow.

1. A small project whose one table mixes overall rows and subgroup rows (and a trial with
   subgroup rows only): interactions.csv and interaction_studies.csv with the contract's
   columns, the hand-checkable ratio of risk ratios, the warning for the trial without an overall
   row on the console, the report section and the index overview; and ``pooled.csv`` is the same
   when the subgroup rows are deleted from the table.
2. Overlapping levels stop the run with the file, row and column.
3. The shipped example: the BLISS-52 + BLISS-76 anti-dsDNA LLDAS within-trial meta-analysis and
   the single-trial interactions, published tables and figures, report pages.
"""

import math

import pandas as pd
import pytest

from helpers.workflow_project import clone, make_project, run_workflow, shipped_run, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

HEADER = (
    "study_id,therapy,comparator,condition,outcome,outcome_type,events_treat,n_treat,"
    "events_ctrl,n_ctrl,higher_is_better,subgroup_variable,subgroup_level,prespecified"
)
OVERALL = [
    "T1,drug,placebo,SLE,response,binary,30,200,20,200,true,,,",
    "T2,drug,placebo,SLE,response,binary,35,210,25,190,true,,,",
    "T3,drug,placebo,SLE,response,binary,18,90,12,95,true,,,",
]
SUBGROUP = [
    "T1,drug,placebo,SLE,response,binary,20,100,10,100,true,marker,pos,true",
    "T1,drug,placebo,SLE,response,binary,10,100,10,100,true,marker,neg,true",
    "T2,drug,placebo,SLE,response,binary,20,100,10,100,true,marker,pos,true",
    "T2,drug,placebo,SLE,response,binary,15,110,15,90,true,marker,neg,true",
    "T4,drug,placebo,SLE,response,binary,9,60,5,60,true,marker,pos,true",
    "T4,drug,placebo,SLE,response,binary,6,60,6,60,true,marker,neg,true",
]
LEVELS = "subgroup_levels={marker: [pos, neg]}"


def _write(project, lines):
    trials = project / "data" / "trials"
    for old in trials.glob("*.csv"):
        old.unlink()
    (trials / "mixed.csv").write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def mixed():
    project = make_project()
    _write(project, OVERALL + SUBGROUP)
    (project / "cred.yaml").write_text("marker:\n  overall: low\n", encoding="utf-8")
    proc = run_workflow(
        project, "--configfile", "config/config.yaml", "--config", LEVELS, "credibility=cred.yaml"
    )
    return project, proc


def test_mixed_table_tables_and_console(mixed):
    project, proc = mixed
    tables = project / "results" / "tables"
    inter = pd.read_csv(tables / "interactions.csv")
    assert list(inter.columns) == [
        "therapy", "comparator", "condition", "outcome", "outcome_type", "analysis_id",
        "subgroup_variable", "level_a", "level_b", "method", "model", "tau2_method",
        "ci_method", "k", "estimate", "se", "ci_low", "ci_high", "pval", "tau2", "I2", "Q",
        "Q_pval", "scale", "estimate_exp", "ci_low_exp", "ci_high_exp", "status",
    ]  # fmt: skip
    assert set(zip(inter["method"], inter["model"])) == {
        ("within_trial", "fixed"), ("within_trial", "random"),
        ("between_trial", "fixed"), ("between_trial", "random"),
    }  # fmt: skip
    within = inter[(inter["method"] == "within_trial") & (inter["model"] == "random")].iloc[0]
    assert within["k"] == 3 and within["tau2_method"] == "REML" and within["ci_method"] == "hksj"
    studies = pd.read_csv(tables / "interaction_studies.csv")
    assert list(studies.columns)[-9:] == [
        "study_id", "level_a", "level_b", "yi_a", "vi_a", "yi_b", "vi_b", "d", "vd",
    ]  # fmt: skip
    t1 = studies[studies["study_id"] == "T1"].iloc[0]
    assert (t1["level_a"], t1["level_b"]) == ("pos", "neg")
    assert t1["d"] == pytest.approx(math.log(2.0), rel=1e-12)  # RR 2 in pos, 1 in neg
    assert t1["vd"] == pytest.approx(0.31, rel=1e-12)
    assert "'T4' has subgroup rows but no overall row" in proc.stderr
    warnings = pd.read_csv(tables / "warnings.csv")
    assert warnings["message"].str.contains("'T4' has subgroup rows but no overall row").any()


def test_mixed_table_report(mixed):
    project, _ = mixed
    report = project / "results" / "report"
    pages = [p for p in (report / "analyses").glob("*.html")]
    assert len(pages) == 1
    html = pages[0].read_text(encoding="utf-8")
    assert "Does the biomarker change the effect?" in html and "ICEMAN" in html
    assert "Is the analysis of effect modification based on comparison within" in html
    index = (report / "index.html").read_text(encoding="utf-8")
    assert "Every biomarker question in this run" in index
    figs = list((project / "results" / "figures" / "interactions").glob("*.svg"))
    assert len(figs) == 1
    # the reviewer's overall credibility (config credibility), recorded in provenance.json
    assert (
        "<td>overall</td><td>Overall credibility of the effect modification</td><td><bdi>low"
        in html
    )
    provenance = (project / "results" / "provenance.json").read_text(encoding="utf-8")
    assert '"cred.yaml"' in provenance


def test_subgroup_rows_never_change_pooled(mixed):
    project, _ = mixed
    without = clone(project, "no-subgroups")
    _write(without, OVERALL)
    run_workflow(
        without, "--configfile", "config/config.yaml", "--config", LEVELS, "credibility=cred.yaml"
    )
    read = lambda p: pd.read_csv(p / "results" / "tables" / "pooled.csv")  # noqa: E731
    pd.testing.assert_frame_equal(read(project), read(without))
    read = lambda p: pd.read_csv(p / "results" / "tables" / "studies.csv")  # noqa: E731
    pd.testing.assert_frame_equal(read(project), read(without))


def test_overlapping_levels_stop_the_run(mixed):
    project, _ = mixed
    bad = clone(project, "overlap")
    rows = list(SUBGROUP)
    rows[1] = "T1,drug,placebo,SLE,response,binary,10,120,10,100,true,marker,neg,true"
    _write(bad, OVERALL + rows)
    proc = snakemake(bad, "--cores", "1", "--configfile", "config/config.yaml", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "data/trials/mixed.csv:6: n_treat=120: levels of 'marker' overlap" in out


def test_shipped_bliss_within_trial_meta_analysis():
    project = shipped_run()
    results = project / "results"
    inter = pd.read_csv(results / "tables" / "interactions.csv")
    bliss = inter[
        (inter["outcome"] == "LLDAS attainment")
        & (inter["subgroup_variable"] == "anti-dsDNA")
        & (inter["method"] == "within_trial")
    ]
    assert set(bliss["model"]) == {"fixed", "random"} and (bliss["k"] == 2).all()
    assert (bliss["level_a"] == "high").all() and (bliss["level_b"] == "normal").all()
    single = inter[(inter["method"] == "within_trial") & (inter["k"] == 1)]
    assert {"IFNGS", "RF/ACPA serostatus", "T1 Gd+ lesions", "C3/C4"} <= set(
        single["subgroup_variable"]
    )
    studies = pd.read_csv(results / "tables" / "interaction_studies.csv")
    assert {"BLISS-52 2011", "BLISS-76 2011"} <= set(studies["study_id"])
    aid = bliss["analysis_id"].iloc[0]
    page = results / "report" / "interactions" / f"{aid}.html"
    assert "Does the biomarker change the effect?" in page.read_text(encoding="utf-8")
    assert list((results / "figures" / "interactions").glob(f"{aid}.interaction-*.svg"))
