"""Summary of Findings through the real workflow (issue 13, items 3-6).

1. The shipped run: ``summary_of_findings.csv`` has the contract columns, one row per primary
   analysis; analyses without risk-of-bias judgements say "not assessed" (never "low");
   ``summary_of_findings.docx`` read back with python-docx equals the CSV cell by cell; the
   evidence map (SVG, PNG) is published and on the report's index; the SoF page has one table
   per therapy x condition.
2. A clone with a reviewer's judgements file: the judged domain of the judged analysis changes
   (shown with its reason), nothing else does; a broken judgements file stops the run with the
   file, row and column.
"""

import docx
import pandas as pd
import pytest

from helpers.workflow_project import clone, run_workflow, shipped_run

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

CONTRACT = [
    "analysis_id",
    "outcome",
    "k",
    "participants",
    "relative_measure",
    "relative_estimate",
    "relative_ci_low",
    "relative_ci_high",
    "assumed_control_risk_per_1000",
    "treatment_risk_per_1000",
    "treatment_risk_ci_low",
    "treatment_risk_ci_high",
    "risk_difference_per_1000",
    "rd_ci_low",
    "rd_ci_high",
    "nnt",
    "certainty",
    "downgrades",
    "plain_language",
]
GROUP_BY = ["therapy_class", "comparator", "condition", "outcome", "outcome_type"]


def _tables(project):
    t = project / "results" / "tables"
    return (
        pd.read_csv(t / "summary_of_findings.csv", dtype=str, keep_default_na=False),
        pd.read_csv(t / "grade_signals.csv", dtype=str, keep_default_na=False),
    )


def test_shipped_run_tables_docx_map_and_page():
    project = shipped_run()
    results = project / "results"
    sof, signals = _tables(project)
    assert list(sof.columns) == GROUP_BY + [c for c in CONTRACT if c != "outcome"]
    pooled = pd.read_csv(results / "tables" / "pooled.csv")
    primary = set(pooled.loc[pooled["primary"], "analysis_id"])
    assert set(sof["analysis_id"]) == primary and len(signals) == len(primary)
    rob = pd.read_csv(results / "tables" / "risk_of_bias.csv")
    unjudged = signals[~signals["analysis_id"].isin(set(rob["analysis_id"]))]
    assert len(unjudged) and (unjudged["risk_of_bias_signal"] == "not assessed").all()
    assert not signals.filter(like="risk_of_bias_signal").isin(["low"]).any().any()
    # absolute effects by hand: median control risk of the trials, times the RR and its limits
    studies = pd.read_csv(results / "tables" / "studies.csv")
    rr = sof[sof["relative_measure"] == "RR"].astype({c: float for c in CONTRACT[5:15]})
    assert len(rr) >= 10
    for _, row in rr.iterrows():
        s = studies[(studies["analysis_id"] == row["analysis_id"]) & (studies["measure"] == "RR")]
        p_c = (s["events_ctrl"] / s["n_ctrl"]).median()
        assert row["assumed_control_risk_per_1000"] == pytest.approx(1000 * p_c, rel=1e-12)
        for est, risk in [
            ("relative_estimate", "treatment_risk_per_1000"),
            ("relative_ci_low", "treatment_risk_ci_low"),
            ("relative_ci_high", "treatment_risk_ci_high"),
        ]:
            assert row[risk] == pytest.approx(min(1000.0, 1000 * p_c * row[est]), rel=1e-12)
        assert row["risk_difference_per_1000"] == pytest.approx(
            row["treatment_risk_per_1000"] - 1000 * p_c, rel=1e-9, abs=1e-9
        )
    # the Word document: its appendix is the CSV, cell by cell
    document = docx.Document(str(results / "summary_of_findings.docx"))
    cells = [[c.text for c in row.cells] for row in document.tables[-1].rows]
    assert cells[0] == list(sof.columns) and cells[1:] == sof.values.tolist()
    # the evidence map, published and on the index; the SoF page
    assert (results / "figures" / "evidence_map.svg").stat().st_size > 1000  # formats [svg]
    index = (results / "report" / "index.html").read_text(encoding="utf-8")
    assert 'id="evidence-map"' in index and 'src="sof/evidence_map.svg"' in index
    assert (results / "report" / "sof" / "evidence_map.svg").is_file()
    page = (results / "report" / "summary_of_findings.html").read_text(encoding="utf-8")
    cells_of_grid = sof[["therapy_class", "condition"]].drop_duplicates()
    assert page.count('<section class="sof"') == len(cells_of_grid)


def test_judgements_file_overrides_what_it_names_only():
    shipped = shipped_run()
    project = clone(shipped, "sof-judgements")
    base_sof, base = _tables(shipped)
    aid = base.loc[base["outcome"] == "ACR20 response", "analysis_id"].iloc[0]
    path = project / "grade_judgements.yaml"
    path.write_text(
        f"- analysis_id: {aid}\n  domain: indirectness\n  judgement: very serious\n"
        "  reason: trials in a different population\n",
        encoding="utf-8",
    )
    proc = run_workflow(project, "--config", f"grade_judgements={path}")
    # the closing console line says what the SoF holds
    assert "trialmeta: summary of findings:" in proc.stderr
    assert "1 reviewer judgement(s) applied" in proc.stderr
    sof, signals = _tables(project)
    other = signals["analysis_id"] != aid
    pd.testing.assert_frame_equal(signals[other], base[base["analysis_id"] != aid])
    row, before = signals[~other].iloc[0], base[base["analysis_id"] == aid].iloc[0]
    assert row["indirectness_signal"] == "very serious" and row["indirectness_downgrade"] == "2"
    assert row["indirectness_reviewer_reason"] == "trials in a different population"
    changed = {c for c in signals.columns if row[c] != before[c]}
    assert changed == {
        "indirectness_signal",
        "indirectness_downgrade",
        "indirectness_reviewer_override",
        "indirectness_reviewer_reason",
        "certainty",
    } or changed == {  # certainty already at its floor
        "indirectness_signal",
        "indirectness_downgrade",
        "indirectness_reviewer_override",
        "indirectness_reviewer_reason",
    }
    assert (
        "indirectness: very serious (reviewer)"
        in sof.loc[sof["analysis_id"] == aid, "downgrades"].iloc[0]
    )
    page = (project / "results" / "report" / "summary_of_findings.html").read_text(encoding="utf-8")
    assert "trials in a different population" in page
    # a broken file (same path, so only the summary_of_findings job reruns) stops the run
    path.write_text(
        f"- analysis_id: {aid}\n  domain: indirectness\n  judgement: awful\n  reason: x\n",
        encoding="utf-8",
    )
    proc = run_workflow(project, "--config", f"grade_judgements={path}", check=False)
    assert proc.returncode != 0
    assert f"{path}:1: judgement=" in proc.stderr and "must be one of" in proc.stderr
