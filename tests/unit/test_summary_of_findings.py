"""Summary of Findings: absolute effects by hand, GRADE signals, the reviewer's judgements file
(overrides what it names and nothing else), "not assessed" without risk-of-bias data, the Word
document read back cell by cell, the evidence map."""

import math

import numpy as np
import pandas as pd
import pytest

from trialmeta.inputs.errors import InputError
from trialmeta.inputs.grade_judgements import read_grade_judgements
from trialmeta.pipeline.safe_csv import write_csv_safely
from trialmeta.plots.evidence_map import evidence_map, map_cells
from trialmeta.plots.style import figure_bytes
from trialmeta.report.sof_docx import APPENDIX_TITLE, write_sof_docx
from trialmeta.tables.summary_of_findings import (
    SOF_COLUMNS,
    plain_language,
    summary_of_findings_tables,
)

GROUP_BY = ["therapy_class", "comparator", "condition", "outcome", "outcome_type"]
CONFIG = {"group_by": GROUP_BY}


def _pooled_row(aid, outcome, otype, measure, scale, est, lo, hi, pi, k, i2=10.0, primary=True):
    ratio = scale == "log"
    row = {
        "therapy_class": "T1",
        "comparator": "placebo",
        "condition": "C1" if aid != "c1" else "C2",
        "outcome": outcome,
        "outcome_type": otype,
        "analysis_id": aid,
        "measure": measure,
        "scale": scale,
        "primary": primary,
        "k": k,
        "I2": i2,
        "I2_ci_low": 0.0,
        "I2_ci_high": 60.0,
    }
    vals = dict(estimate=est, ci_low=lo, ci_high=hi, pi_low=pi[0], pi_high=pi[1])
    for c, v in vals.items():
        row[c] = math.log(v) if ratio else v
        if ratio:
            row[f"{c}_exp"] = v
    return row


@pytest.fixture
def frames():
    pooled = pd.DataFrame(
        [
            _pooled_row("a1", "response", "binary", "RR", "log", 1.5, 1.2, 1.875, (1.1, 2.0), 3),
            _pooled_row("a1", "response", "binary", "OR", "log", 2, 1, 3, (1, 3), 3, primary=False),
            _pooled_row("b1", "pain", "continuous", "MD", "raw", -0.3, -0.5, -0.1, (-0.6, 0.0), 2),
        ]
    )
    studies = pd.DataFrame(
        {
            "analysis_id": ["a1"] * 3 + ["b1"] * 2,
            "measure": ["RR"] * 3 + ["MD"] * 2,
            "study_id": ["s1", "s2", "s3", "s4", "s5"],
            "yi": [0.4, 0.3, 0.5, -0.2, -0.4],
            "n_treat": [100] * 5,
            "n_ctrl": [100] * 5,
            "events_ctrl": [20, 30, 25, np.nan, np.nan],
            "mean_ctrl": [np.nan] * 3 + [1.0, 2.0],
            "sd_ctrl": [np.nan] * 3 + [1.0, 1.0],
        }
    )
    trials = pd.DataFrame({"analysis_id": ["a1", "b1"], "higher_is_better": ["true", "false"]})
    return pooled, studies, trials


def _run(frames, config=CONFIG, **kw):
    pooled, studies, trials = frames
    return summary_of_findings_tables(pooled, studies, trials, config, **kw)


def test_columns_are_the_contract(frames):
    sof, _ = _run(frames)
    # outcome is a group_by column and a contract column: once, in the group_by key
    assert list(sof.columns) == GROUP_BY + [c for c in SOF_COLUMNS if c != "outcome"]
    sof, _ = _run(frames, config={"group_by": ["therapy_class", "condition", "outcome_type"]})
    assert list(sof.columns) == ["therapy_class", "condition", "outcome_type"] + SOF_COLUMNS
    assert list(sof["analysis_id"]) == ["a1", "b1"]  # primary rows only


def test_absolute_effects_by_hand(frames):
    sof, sig = _run(frames)
    a = sof.set_index("analysis_id").loc["a1"]
    # median control risk of 20/100, 30/100, 25/100 = 0.25; RR 1.5 (1.2 to 1.875)
    assert a["assumed_control_risk_per_1000"] == pytest.approx(250)
    assert a["treatment_risk_per_1000"] == pytest.approx(375)
    assert (a["treatment_risk_ci_low"], a["treatment_risk_ci_high"]) == pytest.approx((300, 468.75))
    assert a["risk_difference_per_1000"] == pytest.approx(125)
    assert (a["rd_ci_low"], a["rd_ci_high"]) == pytest.approx((50, 218.75))
    # a good outcome: NNTB 1/0.125 = 8, CI 1/0.21875 = 4.57 -> 5 to 1/0.05 = 20
    assert a["nnt"] == "NNTB 8 (5 to 20)"
    assert (a["k"], a["participants"], a["relative_measure"]) == (3, 600, "RR")
    b = sof.set_index("analysis_id").loc["b1"]
    assert b["relative_measure"] == "MD" and b["relative_estimate"] == pytest.approx(-0.3)
    assert np.isnan(b["treatment_risk_per_1000"]) and b["nnt"] == ""
    assert sig.set_index("analysis_id").loc["b1", "control_mean"] == pytest.approx(1.5)


def test_grade_signals_and_certainty(frames):
    sof, sig = _run(frames)
    s = sig.set_index("analysis_id").loc["a1"]
    # OIS for control risk 0.25, RRR 25%: 2 x 683 = 1366 > 600 participants -> serious
    assert s["optimal_information_size"] == 1366
    assert s["imprecision_signal"] == "serious" and "fewer than" in s["imprecision_reason"]
    assert s["inconsistency_signal"] == "not serious" and "I² = 10%" in s["inconsistency_reason"]
    assert s["publication_bias_signal"] == "not assessable"
    assert s["certainty"] == "moderate"
    a = sof.set_index("analysis_id").loc["a1"]
    assert a["plain_language"] == "T1 probably increases response compared with placebo."
    assert a["downgrades"].startswith("imprecision: serious (-1)")


def test_without_risk_of_bias_data_it_says_not_assessed(frames):
    sof, sig = _run(frames, rob=pd.DataFrame(columns=["analysis_id", "overall"]))
    assert (sig["risk_of_bias_signal"] == "not assessed").all()
    assert (
        not sig.filter(like="risk_of_bias")
        .astype(str)
        .apply(lambda c: c.str.fullmatch("low"))
        .any()
        .any()
    )
    assert sof["downgrades"].str.contains("not assessed: risk of bias").all()


def test_risk_of_bias_weights_and_low_risk_restriction(frames):
    rob = pd.DataFrame(
        {
            "analysis_id": ["a1"] * 3,
            "study_id": ["s1", "s2", "s3"],
            "overall": ["high", "high", "low"],
            "weight_percent": [40.0, 25.0, 35.0],
        }
    )
    sens = pd.DataFrame(
        {
            "analysis_id": ["a1"],
            "restriction": ["low_risk_only"],
            "k": [1],
            "estimate": [math.log(1.1)],
            "ci_low": [math.log(0.8)],
            "ci_high": [math.log(1.5)],
            "estimate_exp": [1.1],
            "ci_low_exp": [0.8],
            "ci_high_exp": [1.5],
            "scale": ["log"],
        }
    )
    _, sig = _run(frames, rob=rob, rob_sensitivity=sens)
    s = sig.set_index("analysis_id").loc["a1"]
    assert s["risk_of_bias_signal"] == "very serious" and s["risk_of_bias_downgrade"] == 2
    assert "65% of the weight from trials at high risk" in s["risk_of_bias_reason"]
    assert "no longer excludes no effect" in s["risk_of_bias_reason"]
    assert sig.set_index("analysis_id").loc["b1", "risk_of_bias_signal"] == "not assessed"


def test_judgements_override_what_they_name_and_nothing_else(frames, tmp_path):
    path = tmp_path / "judgements.yaml"
    path.write_text(
        "- analysis_id: a1\n  domain: indirectness\n  judgement: serious\n"
        "  reason: adults only, the question is about children\n",
        encoding="utf-8",
    )
    judgements = read_grade_judgements(path, ["a1", "b1"])
    before_sof, before = _run(frames)
    after_sof, after = _run(frames, judgements=judgements)
    changed = {"indirectness_signal", "indirectness_downgrade", "indirectness_reviewer_override"}
    changed |= {"indirectness_reviewer_reason", "certainty"}
    b_before, b_after = before.set_index("analysis_id"), after.set_index("analysis_id")
    pd.testing.assert_series_equal(b_before.loc["b1"], b_after.loc["b1"])  # other analysis
    for col in b_before.columns:  # the named analysis: only the named domain and the certainty
        same = str(b_before.loc["a1", col]) == str(b_after.loc["a1", col])
        assert same != (col in changed), col
    a = after.set_index("analysis_id").loc["a1"]
    assert a["indirectness_signal"] == "serious" and a["indirectness_reviewer_override"]
    assert a["indirectness_suggested"] == "not assessed"
    assert a["certainty"] == "low" and a["certainty_suggested"] == "moderate"
    s_before, s_after = before_sof.set_index("analysis_id"), after_sof.set_index("analysis_id")
    assert "indirectness: serious (reviewer) (-1)" in s_after.loc["a1", "downgrades"]
    pd.testing.assert_series_equal(s_before.loc["b1"], s_after.loc["b1"])


def test_judgements_file_errors_name_file_row_and_column(tmp_path):
    path = tmp_path / "j.csv"
    path.write_text(
        "analysis_id,domain,judgement,reason\n"
        "zz,imprecision,serious,why\n"
        "a1,indirectnes,serious,why\n"
        "a1,imprecision,grave,why\n"
        "a1,inconsistency,serious,\n"
        "a1,imprecision,serious,again\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as exc:
        read_grade_judgements(path, ["a1"])
    text = str(exc.value)
    assert f"{path}:2: analysis_id=" in text
    assert f"{path}:3: domain=" in text and f"{path}:4: judgement=" in text
    assert f"{path}:5: reason:" in text
    assert "judged twice (also row 4)" in text
    with pytest.raises(InputError, match="not found"):
        read_grade_judgements(tmp_path / "none.yaml", ["a1"])


def test_assumed_control_risk_from_config(frames):
    config = dict(CONFIG, assumed_control_risk={"response": [0.1, 0.4], "b1": 0.5})
    sof, sig = _run(frames, config=config)
    a = sof[sof["analysis_id"] == "a1"]
    assert list(a["assumed_control_risk_per_1000"]) == pytest.approx([100, 400])
    assert list(a["treatment_risk_per_1000"]) == pytest.approx([150, 600])
    assert sig.set_index("analysis_id").loc["a1", "assumed_control_risk_source"] == "config"
    # an MD analysis has no risks: the configured value is not used for absolute risks
    assert np.isnan(sof.set_index("analysis_id").loc["b1", "assumed_control_risk_per_1000"])


@pytest.mark.parametrize(
    "certainty, est, expected",
    [
        ("high", 0.5, "T reduces death compared with C."),
        ("moderate", 0.5, "T probably reduces death compared with C."),
        ("low", 2.0, "T may increase death compared with C."),
        ("low", 1.1, "T may result in little to no difference in death compared with C."),
        (
            "very low",
            0.5,
            "The evidence is very uncertain about the effect of T on death compared with C.",
        ),
    ],
)
def test_plain_language_santesso(certainty, est, expected):
    labels = {"therapy": "T", "comparator": "C", "outcome": "death"}
    prim = {"estimate": est, "null": 1.0}
    mid = {"low": 0.75, "high": 1.25}
    assert plain_language(labels, certainty, prim, mid) == expected


def test_docx_read_back_cell_by_cell(frames, tmp_path):
    import docx
    from docx.shared import Pt

    sof, sig = _run(frames)
    csv = tmp_path / "summary_of_findings.csv"
    write_csv_safely(sof, csv)
    text = pd.read_csv(csv, dtype=str, keep_default_na=False)
    out = write_sof_docx(sof, sig, text, tmp_path / "sof.docx")
    doc = docx.Document(str(out))
    assert any(p.text == APPENDIX_TITLE for p in doc.paragraphs)
    table = doc.tables[-1]
    cells = [[c.text for c in row.cells] for row in table.rows]
    assert cells[0] == list(text.columns)
    assert cells[1:] == text.values.tolist()
    # the GRADE-style table of therapy T1 x condition C1: outcomes as rows, certainty shown
    sof_table = [[c.text for c in row.cells] for row in doc.tables[0].rows]
    response = next(r for r in sof_table if r[0].startswith("response"))
    assert response[0].startswith("response (600 participants, 3 trials)")
    assert response[6].startswith("MODERATE") and response[5] == "NNTB 8 (5 to 20)"
    # the numbered footnotes under each table in the table's 8 pt, not the body's default size
    notes = [p for p in doc.paragraphs if p.text.startswith("(1) ")]
    assert notes and all(r.font.size == Pt(8) for p in notes for r in p.runs)
    # reproducible bytes
    again = write_sof_docx(sof, sig, text, tmp_path / "sof2.docx")
    assert out.read_bytes() == again.read_bytes()


def test_evidence_map_cells_marks_and_bytes(frames):
    sof, _ = _run(frames)
    inter = pd.DataFrame({"analysis_id": ["a1"], "method": ["within_trial"], "pval": [0.01]})
    cells = map_cells(sof, inter)
    # one cell (T1 x C1): the primary outcome is the analysis with the most participants
    assert len(cells) == 1 and cells.loc[0, "n_outcomes"] == 2
    assert cells.loc[0, "analysis_id"] == "a1" and cells.loc[0, "biomarker"] == "P < 0.05"
    assert not isinstance(map_cells(sof, None).loc[0, "biomarker"], str)
    # interactions.csv's own therapy and condition columns (a biomarker outcome need not be a
    # pooled outcome of the SoF): T1 x C1 marked, a finding elsewhere marks nothing here
    by_key = pd.DataFrame(
        {
            "therapy_class": ["T1", "T9"],
            "condition": ["C1", "C1"],
            "analysis_id": ["x", "y"],
            "method": ["within_trial", "within_trial"],
            "pval": [0.3, 0.01],
        }
    )
    assert map_cells(sof, by_key).loc[0, "biomarker"] == "tested"
    between = by_key.assign(method="between_trial")
    assert not isinstance(map_cells(sof, between).loc[0, "biomarker"], str)
    one = figure_bytes(evidence_map(sof, inter), "svg")
    assert one == figure_bytes(evidence_map(sof, inter), "svg")
    assert one != figure_bytes(evidence_map(sof, None), "svg")


def test_console_line(frames, tmp_path):
    from trialmeta.pipeline.sof_console import sof_line

    assert sof_line(tmp_path) == ""  # no table, no line
    _, sig = _run(frames)
    write_csv_safely(sig, tmp_path / "tables" / "grade_signals.csv")
    line = sof_line(tmp_path)
    assert line.startswith("trialmeta: summary of findings: 2 analyses, certainty 2 moderate;")
    assert "risk of bias not assessed for 2; 0 reviewer judgement(s) applied" in line


def test_sof_page_and_index_fields(frames, tmp_path):
    from types import SimpleNamespace

    from trialmeta.report.build import CSP, _environment
    from trialmeta.report.sof_page import add_sof_page

    sof, sig = _run(frames)
    svg = tmp_path / "evidence_map.svg"
    svg.write_bytes(figure_bytes(evidence_map(sof), "svg"))
    index = SimpleNamespace(common={"csp": CSP})
    out = tmp_path / "report"
    add_sof_page(index, _environment(), {"csp": CSP, "title": "t"}, None, out)
    assert index.common == {"csp": CSP} and not out.exists()  # nothing without a SoF
    add_sof_page(
        index,
        _environment(),
        {"csp": CSP, "title": "t"},
        {"sof": sof, "signals": sig, "evidence_map": [svg]},
        out,
    )
    assert index.common["sof_page"] == "summary_of_findings.html"
    assert index.common["evidence_map"] == "sof/evidence_map.svg"
    assert (out / "sof" / "evidence_map.svg").read_bytes() == svg.read_bytes()
    page = (out / "summary_of_findings.html").read_text(encoding="utf-8")
    assert page.count('<section class="sof"') == 1  # one therapy x condition
    assert "NNTB 8 (5 to 20)" in page and "Imprecision: serious, downgraded 1 level." in page
    assert "Risk of bias: not assessed: no risk-of-bias judgements" in page
