"""Risk-of-bias judgement tables (trialmeta.inputs.risk_of_bias): read like the trial tables,
checked with every problem at once (file, row, column), judgements normalised, outcome-specific
judgements matched to their analyses; the config key's patterns must match files."""

import pandas as pd
import pytest

from helpers.report_tables import GROUP_BY, load_shipped_trials
from trialmeta.inputs.errors import ConfigError, InputError
from trialmeta.inputs.risk_of_bias import (
    JUDGEMENT_COLUMNS,
    load_risk_of_bias,
    normalise_judgement,
    resolved_columns,
    risk_of_bias_paths,
)

HEADER = "study_id,outcome,D1_randomisation,D2_deviations,D3_missing_data,D4_measurement,D5_selection,overall"


def _aid(study_id, outcome_start):
    t = load_shipped_trials()[0]
    hit = t[(t["study_id"] == study_id) & t["outcome"].str.startswith(outcome_start)]
    assert hit["analysis_id"].nunique() == 1
    return hit["analysis_id"].iloc[0]


ACR20 = _aid("TOWARD 2008", "ACR20")  # tocilizumab ACR20 (4 trials)
SAE = _aid("TOWARD 2008", "patients with")  # tocilizumab serious adverse events
GCSF = _aid("RESPONSE 2019", "")  # G-CSF live birth (no judgements)


@pytest.fixture(scope="module")
def trials():
    return load_shipped_trials()[0]


def _write(tmp_path, lines, name="rob.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return str(path)


def _problems(exc) -> list[str]:
    return [str(p) for p in exc.value.problems]


def test_judgements_are_normalised_and_matched_to_every_analysis_of_the_trial(tmp_path, trials):
    path = _write(
        tmp_path,
        [
            "TOWARD 2008,, Low ,LOW,Some  Concerns,low,HIGH,High",
            "LITHE 2011,,low,low,low,low,low,low",
        ],
    )
    out = load_risk_of_bias([path], trials, GROUP_BY)
    assert list(out.columns) == resolved_columns(GROUP_BY)
    toward = out[out["study_id"] == "TOWARD 2008"].set_index("analysis_id")
    assert set(toward.index) == {ACR20, SAE}  # no outcome: every analysis of the trial
    assert toward.loc[ACR20, "D3_missing_data"] == "some concerns"
    assert toward.loc[ACR20, "overall"] == "high" and toward.loc[ACR20, "D1_randomisation"] == "low"
    assert toward.loc[ACR20, "rob_file"] == path and toward.loc[ACR20, "rob_row"] == 2
    assert toward.loc[ACR20, "therapy_class"].startswith("IL-6")


def test_an_outcome_specific_row_wins_over_the_trial_wide_row(tmp_path, trials):
    path = _write(
        tmp_path,
        [
            "TOWARD 2008,,low,low,low,low,low,low",
            "TOWARD 2008,ACR20 response,low,low,high,low,low,high",
        ],
    )
    out = load_risk_of_bias([path], trials, GROUP_BY).set_index("analysis_id")
    assert out.loc[ACR20, "overall"] == "high" and out.loc[SAE, "overall"] == "low"


def test_empty_domains_are_no_information_but_overall_is_required(tmp_path, trials):
    path = _write(tmp_path, ["ORATORIO 2017,,,,high,,,high"])
    row = load_risk_of_bias([path], trials, GROUP_BY).iloc[0]
    assert row["D1_randomisation"] is None and row["overall"] == "high"


def test_every_problem_is_reported_at_once_naming_file_row_and_column(tmp_path, trials):
    path = _write(
        tmp_path,
        [
            "NOPE 2000,,low,low,low,low,low,low",  # unknown study
            "OPTION 2008,,low,low,probably low,low,low,low",  # unknown judgement
            "LITHE 2011,,low,low,low,low,low,",  # empty overall
            "RADIATE 2008,DAS28,low,low,low,low,low,low",  # no such outcome for the trial
            "TOWARD 2008,,low,low,low,low,low,low",
            "TOWARD 2008,,low,low,low,low,low,high",  # second judgement, same scope
            ",,low,low,low,low,low,low",  # empty study_id
        ],
    )
    with pytest.raises(InputError) as exc:
        load_risk_of_bias([path], trials, GROUP_BY)
    got = _problems(exc)
    assert len(got) == 6, got
    assert got[0] == (
        f"{path}:2: study_id='NOPE 2000': unknown study: no trial table row has this study_id"
    )
    assert (
        got[1]
        == f"{path}:3: D3_missing_data='probably low': must be one of low, some concerns, high"
    )
    assert got[2].startswith(f"{path}:4: overall: must not be empty")
    assert (
        got[3]
        == f"{path}:5: outcome='DAS28': no trial row of study_id='RADIATE 2008' has outcome='DAS28'"
    )
    assert got[4].startswith(
        f"{path}:7: study_id='TOWARD 2008': a second judgement of the same trial"
    )
    assert got[5] == f"{path}:8: study_id: must not be empty"


def test_a_missing_overall_column_is_named_with_every_file(tmp_path, trials):
    bad = tmp_path / "a.csv"
    bad.write_text(
        "study_id,D1_randomisation,D2_deviations,D3_missing_data,D4_measurement,"
        "D5_selection,Overall_risk\nLITHE 2011,low,low,low,low,low,low\n"
    )
    also = _write(tmp_path, ["LITHE 2011,,low,low,low,low,low,maybe"], name="b.csv")
    with pytest.raises(InputError) as exc:
        load_risk_of_bias([str(bad), also], trials, GROUP_BY)
    got = _problems(exc)
    assert got[0].startswith(f"{bad}: overall: missing column (did you mean 'Overall_risk'?)")
    assert got[1] == f"{also}:2: overall='maybe': must be one of low, some concerns, high"


def test_unknown_study_suggests_the_closest_id(tmp_path, trials):
    path = _write(tmp_path, ["LITHE 2012,,low,low,low,low,low,low"])
    with pytest.raises(InputError, match=r"did you mean 'LITHE 2011'\?"):
        load_risk_of_bias([path], trials, GROUP_BY)


def test_an_excel_workbook_is_read(tmp_path, trials):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    ws.append(["LITHE 2011", None, "low", "low", "low", "low", "low", "Some concerns"])
    path = tmp_path / "rob.xlsx"
    wb.save(path)
    out = load_risk_of_bias([str(path)], trials, GROUP_BY)
    assert out["overall"].tolist() == ["some concerns"]


def test_no_table_gives_an_empty_table_with_the_columns(trials):
    out = load_risk_of_bias([], trials, GROUP_BY)
    assert out.empty and list(out.columns) == resolved_columns(GROUP_BY)


def test_normalise_judgement():
    assert normalise_judgement("  SOME\tconcerns ") == "some concerns"
    assert normalise_judgement("unclear") is None
    assert JUDGEMENT_COLUMNS[-1] == "overall"


def test_config_patterns_must_match_files(tmp_path):
    (tmp_path / "rob.csv").write_text(HEADER + "\n")
    assert risk_of_bias_paths({"risk_of_bias": ["*.csv"]}, tmp_path) == ["rob.csv"]
    assert risk_of_bias_paths({"risk_of_bias": []}, tmp_path) == []
    with pytest.raises(ConfigError) as exc:
        risk_of_bias_paths({"risk_of_bias": ["x/*.csv", "missing.csv"]}, tmp_path)
    assert exc.value.messages == [
        "config: risk_of_bias: 'x/*.csv' matches no file",
        "config: risk_of_bias: 'missing.csv' does not exist or is not a file",
    ]


def test_the_shipped_judgements_are_valid_and_cited(project_root, trials):
    path = project_root / "data" / "risk_of_bias.csv"
    out = load_risk_of_bias([str(path)], trials, GROUP_BY)
    assert len(out) >= 1
    raw = pd.read_csv(path, dtype=str)
    assert raw["source_url"].str.startswith("http").all() and raw["note"].str.len().gt(40).all()
