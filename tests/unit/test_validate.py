"""Validation of trial tables: exact error lines, every problem at once, warnings, typed output."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.trial_tables import HEADER, KEY, row, write_csv
from trialmeta.inputs.errors import InputError
from trialmeta.inputs.ingest import load_trials
from trialmeta.inputs.validate import OUTCOME_TYPES, validate_trials

SHIPPED_GROUP_BY = ["therapy_class", "comparator", "condition", "outcome", "outcome_type"]


def run(path: Path, rows, group_by=KEY, header=None, **kw):
    write_csv(path, rows, header=header)
    return validate_trials(load_trials([path]), group_by, **kw)


def error_lines(path, rows, group_by=KEY, header=None) -> list[str]:
    with pytest.raises(InputError) as exc:
        run(path, rows, group_by, header)
    text = str(exc.value)
    assert all(line.startswith(f"{path}") for line in text.splitlines())
    return text.replace(f"{path}", "x.csv").splitlines()


def warning_lines(path, rows, group_by=KEY, **kw) -> list[str]:
    _, warnings = run(path, rows, group_by, **kw)
    return [str(w).replace(f"{path}", "x.csv") for w in warnings]


# ------------------------------------------------------------------------------- good tables
def test_shipped_data_validates_and_is_typed(project_root, monkeypatch):
    monkeypatch.chdir(project_root)
    df, warnings = validate_trials(
        load_trials(["data/trials/immunotherapy_trials.csv"]), SHIPPED_GROUP_BY
    )
    assert warnings == []
    assert len(df) == 41
    for col in (
        "events_treat",
        "n_treat",
        "events_ctrl",
        "n_ctrl",
        "mean_treat",
        "sd_treat",
        "mean_ctrl",
        "sd_ctrl",
        "year",
        "timepoint_weeks",
    ):
        assert df[col].dtype == np.float64, col
    assert str(df["higher_is_better"].dtype) == "boolean"
    assert (
        df["biomarker_selected"].dtype == object
    )  # true/false/blank moderator stays categorical text
    assert df.loc[0, "events_treat"] == 120.0 and math.isnan(df.loc[0, "mean_treat"])
    # ORATORIO and OLYMPUS are hazard ratios (issue 14; data/README.md)
    assert set(df["outcome_type"]) == {"binary", "continuous", "time_to_event"}
    assert df["source_row"].tolist() == list(range(2, 43))


def test_reference_tables_validate(project_root):
    """Every metafor reference table (incl. generic yi/sei rows) is valid input."""
    paths = sorted((project_root / "tests" / "reference").glob("dat.*/trials.csv"))
    assert len(paths) >= 20
    for p in paths:
        df, _ = validate_trials(load_trials([p]), KEY)
        assert len(df) > 0


def test_case_and_boolean_spellings_are_normalised(tmp_path):
    rows = [
        row("A", outcome_type="Binary", higher_is_better="TRUE"),
        row("B", outcome_type=" BINARY ", higher_is_better="yes"),
        row("C", higher_is_better="1"),
        row("D", higher_is_better=""),
    ]
    df, _ = run(tmp_path / "x.csv", rows)
    assert df["outcome_type"].tolist() == ["binary"] * 4
    assert df["higher_is_better"].tolist()[:3] == [True, True, True]
    assert df["higher_is_better"].isna().tolist() == [False, False, False, True]


def test_numeric_moderators_become_float(tmp_path):
    rows = [
        row("A", dose="10", region="EU"),
        row("B", dose="", region="US"),
        row("C", dose="2.5e1", region=""),
    ]
    df, _ = run(tmp_path / "x.csv", rows)
    assert df["dose"].dtype == np.float64 and df["dose"].isna().tolist() == [False, True, False]
    assert df["region"].tolist() == ["EU", "US", ""]


def test_generic_rows(tmp_path):
    rows = [
        row("A", outcome_type="generic"),
        row(
            "B",
            outcome_type="generic",
            estimate="",
            ci_low="",
            ci_high="",
            yi="-0.2",
            sei="0.1",
            measure="logHR",
        ),
    ]
    df, warnings = run(tmp_path / "x.csv", rows)
    assert warnings == []
    assert df["yi"].tolist()[1] == -0.2 and df["measure"].tolist() == ["HR", "logHR"]


# ------------------------------------------------------------------------------- exact errors
def test_events_exceed_n_exact_line(tmp_path):
    rows = [row(f"S{i}") for i in range(12)] + [row("S12", events_treat="52", n_treat="50")]
    assert error_lines(tmp_path / "x.csv", rows) == ["x.csv:14: events_treat=52 > n_treat=50"]


def test_all_problems_reported_at_once(tmp_path):
    rows = [
        row("A"),  # 2 ok
        row("B", events_treat="abc", events_ctrl="-3", n_ctrl="0"),  # 3
        row("C", outcome_type="bin"),  # 4
        row("D", events_treat="5.5", n_ctrl="inf", higher_is_better="maybe", year="2001.5"),  # 5
        row("A"),  # 6 duplicate
        row("E", outcome_type="continuous", sd_treat="0", sd_ctrl="-1", n_ctrl="1"),  # 7
        row("F", outcome_type="generic", ci_low="1.5", ci_high="0.9"),  # 8
        row("G", outcome_type="generic", estimate="1.2", ci_low="0.5", ci_high="0.9"),  # 9
        row("H", outcome_type="generic", measure="HX"),  # 10
        row("I", outcome_type="generic", estimate="", ci_low="", ci_high=""),  # 11
        row(
            "J",
            outcome_type="generic",
            estimate="",
            ci_low="",
            ci_high="",
            yi="0.1",
            sei="0",
            measure="HR",
        ),  # 12
        row("K", outcome_type="continuous", mean_treat="", sd_ctrl="1,5"),  # 13
        row("", n_treat="12a", outcome=""),  # 14
        row("L", outcome_type="generic", estimate="-1", ci_low="-2", ci_high="0.5"),  # 15
        row("M", events_treat="NA"),  # 16
    ]
    assert error_lines(tmp_path / "x.csv", rows) == [
        "x.csv:3: events_ctrl=-3: must be >= 0",
        "x.csv:3: events_treat='abc': not a number",
        "x.csv:3: n_ctrl=0: must be >= 1",
        "x.csv:4: outcome_type='bin': must be one of " + ", ".join(OUTCOME_TYPES),
        "x.csv:5: events_treat=5.5: must be a whole number (a count of participants)",
        "x.csv:5: higher_is_better='maybe': must be true or false (also accepted: 1/0, yes/no)",
        "x.csv:5: n_ctrl='inf': not a finite number",
        "x.csv:5: year=2001.5: must be a whole number (a year)",
        "x.csv:6: study_id='A': duplicate within one analysis (also at x.csv:2, with the same arm data): the same trial entered twice? keep one of the two rows (pooling both counts the trial twice)",
        "x.csv:7: n_ctrl=1: must be >= 2 for an arm with a mean and SD",
        "x.csv:7: sd_ctrl=-1: must be > 0",
        "x.csv:7: sd_treat=0: must be > 0",
        "x.csv:8: ci_low=1.5 > ci_high=0.9",
        "x.csv:9: estimate=1.2: outside its CI [0.5, 0.9]",
        "x.csv:10: measure='HX': unknown generic measure (one of logHR, logOR, logRR, logIRR, HR, OR, RR, IRR, RD, MD, SMD)",
        "x.csv:11: generic row needs yi and sei, or estimate, ci_low and ci_high (cells empty)",
        "x.csv:12: measure='HR': yi/sei must be on the analysis scale: use logHR (or give estimate, ci_low, ci_high in HR)",
        "x.csv:12: sei=0: must be > 0",
        "x.csv:13: mean_treat: empty: required for continuous rows",
        "x.csv:13: sd_ctrl='1,5': not a number (decimal comma? write a point: 1.5)",
        "x.csv:14: n_treat='12a': not a number",
        "x.csv:14: outcome: empty: a value is required",
        "x.csv:14: study_id: empty: a value is required",
        "x.csv:15: ci_low=-2: must be > 0 for a ratio measure (HR)",
        "x.csv:15: estimate=-1: must be > 0 for a ratio measure (HR)",
        "x.csv:16: events_treat='NA': not a number (leave the cell empty for a missing value)",
    ]


def test_missing_columns_are_file_level_and_not_repeated_per_row(tmp_path):
    header = [c for c in HEADER if c not in ("outcome_type", "n_ctrl")]
    rows = [row("A"), row("B")]
    lines = error_lines(tmp_path / "x.csv", rows, header=header)
    assert lines == ["x.csv: missing column 'outcome_type' (required)"]
    header = [c for c in HEADER if c not in ("n_ctrl", "sd_treat")]
    rows = [row("A"), row("B", outcome_type="generic")]
    with pytest.raises(InputError) as exc:
        run(tmp_path / "y.csv", rows, header=header)
    # sd_treat is not needed: the file has no continuous rows
    assert (
        str(exc.value)
        == f"{tmp_path / 'y.csv'}: missing column 'n_ctrl' (needed by the file's binary rows)"
    )


def test_missing_group_by_column_and_case_hint(tmp_path):
    header = [("Outcome_Type" if c == "outcome_type" else c) for c in HEADER]
    rows = [{("Outcome_Type" if k == "outcome_type" else k): v for k, v in row("A").items()}]
    lines = error_lines(
        tmp_path / "x.csv", rows, group_by=["therapy_class", "outcome_type"], header=header
    )
    assert lines == [
        "x.csv: missing column 'outcome_type' (required) (found 'Outcome_Type': column names are case-sensitive, use 'outcome_type')",
        "x.csv: missing column 'therapy_class' (a group_by column)",
    ]


def test_missing_columns_checked_per_file(tmp_path):
    a = write_csv(tmp_path / "a.csv", [row("A", therapy_class="x")])
    b = write_csv(tmp_path / "b.csv", [row("B")])  # lacks therapy_class
    with pytest.raises(InputError) as exc:
        validate_trials(
            load_trials([a, b]),
            ["therapy_class", "comparator", "condition", "outcome", "outcome_type"],
        )
    assert str(exc.value) == f"{b}: missing column 'therapy_class' (a group_by column)"


def test_empty_group_by_cell(tmp_path):
    rows = [row("A", therapy_class="x"), row("B", therapy_class="")]
    assert error_lines(tmp_path / "x.csv", rows, group_by=["therapy_class", "outcome_type"]) == [
        "x.csv:3: therapy_class: empty: a value is required in a group_by column"
    ]


def test_mixing_inside_one_analysis_only_when_group_by_allows_it(tmp_path):
    rows = [
        row("A"),
        row("B", comparator="usual care"),
        row("C", outcome_type="continuous", outcome="ACR20", higher_is_better="true"),
        row("D", higher_is_better="false"),
    ]
    # with the full key, different comparators/outcome types are different analyses: no error
    df, _ = run(tmp_path / "ok.csv", rows[:3])
    assert len(df) == 3
    gb = ["therapy", "condition", "outcome"]
    assert error_lines(tmp_path / "x.csv", rows, group_by=gb) == [
        "x.csv:3: comparator='usual care': differs from 'placebo' at x.csv:2 within one analysis: group_by [therapy, condition, outcome] does not separate them (add 'comparator' to group_by or fix the value)",
        "x.csv:4: outcome_type='continuous': differs from 'binary' at x.csv:2 within one analysis: group_by [therapy, condition, outcome] does not separate them (add 'outcome_type' to group_by or fix the value)",
        "x.csv:5: higher_is_better='false': differs from 'true' at x.csv:2 within one analysis (one direction per outcome)",
    ]


def test_duplicates_across_files(tmp_path):
    a = write_csv(tmp_path / "a.csv", [row("A"), row("B")])
    b = write_csv(tmp_path / "b.csv", [row("B")])
    with pytest.raises(InputError) as exc:
        validate_trials(load_trials([a, b]), KEY)
    assert (
        str(exc.value)
        == f"{b}:2: study_id='B': duplicate within one analysis (also at {a}:3, with the same arm data): the same trial entered twice? keep one of the two rows (pooling both counts the trial twice)"
    )


def test_generic_measures_must_share_a_scale(tmp_path):
    rows = [
        row("A", outcome_type="generic"),
        row(
            "B",
            outcome_type="generic",
            estimate="",
            ci_low="",
            ci_high="",
            yi="-0.1",
            sei="0.2",
            measure="logHR",
        ),
        row("C", outcome_type="generic", measure="OR"),
    ]
    assert error_lines(tmp_path / "x.csv", rows) == [
        "x.csv:4: measure='OR': differs from 'HR' at x.csv:2 within one analysis: generic rows of one analysis need one measure"
    ]


def test_hostile_values_are_escaped_in_messages(tmp_path):
    rows = [
        row("A", n_treat="\u202eevil\u200b", events_treat="<script>alert(1)</script>" + "x" * 100)
    ]
    lines = error_lines(tmp_path / "x.csv", rows)
    assert lines[1] == "x.csv:2: n_treat='\\u202eevil\\u200b': not a number"
    assert (
        lines[0].startswith("x.csv:2: events_treat='<script>alert(1)</script>xxx")
        and "...': not a number" in lines[0]
    )
    assert all(ch.isprintable() for line in lines for ch in line)


def test_bad_input_never_raises_anything_but_input_error(tmp_path):
    df = pd.DataFrame(
        {"study_id": ["A", None], "outcome_type": [1.5, "binary"], "events_treat": [np.inf, 3]}
    )
    with pytest.raises(InputError):
        validate_trials(df, KEY)


# ---------------------------------------------------------------------------------- warnings
def test_warning_sd_looks_like_se_within_trial(tmp_path):
    rows = [row("A", outcome_type="continuous", sd_treat="0.06", n_treat="60", sd_ctrl="0.5")]
    assert warning_lines(tmp_path / "x.csv", rows) == [
        "x.csv:2: warning: sd_treat=0.06: looks like a standard error, not an SD: sd_ctrl=0.5 and sd_treat x sqrt(n_treat) = 0.465 (check the source; SD = SE x sqrt(n))"
    ]


def test_warning_sd_looks_like_se_across_trials(tmp_path):
    rows = [
        row("A", outcome_type="continuous"),
        row("B", outcome_type="continuous", sd_treat="0.52", sd_ctrl="0.48"),
        row(
            "C",
            outcome_type="continuous",
            sd_treat="0.065",
            sd_ctrl="0.07",
            n_treat="60",
            n_ctrl="58",
        ),
    ]
    lines = warning_lines(tmp_path / "x.csv", rows)
    assert lines == [
        "x.csv:4: warning: sd_ctrl=0.07: looks like a standard error, not an SD: the other trials of this analysis have median SD 0.51 and sd_ctrl x sqrt(n_ctrl) = 0.533 (check the source; SD = SE x sqrt(n))",
        "x.csv:4: warning: sd_treat=0.065: looks like a standard error, not an SD: the other trials of this analysis have median SD 0.51 and sd_treat x sqrt(n_treat) = 0.503 (check the source; SD = SE x sqrt(n))",
    ]


def test_no_se_warning_for_ordinary_sd_differences(tmp_path):
    rows = [
        row("A", outcome_type="continuous", sd_treat="0.3", sd_ctrl="0.6"),  # factor 2: plausible
        row("B", outcome_type="continuous", sd_treat="0.01", sd_ctrl="0.6", n_treat="10"),
    ]  # tiny but sqrt(n) does not explain it
    assert warning_lines(tmp_path / "x.csv", rows) == []


def test_warning_ci_not_symmetric_on_log_scale(tmp_path):
    rows = [
        row(
            "A", outcome_type="generic", estimate="0.50", ci_low="0.31", ci_high="0.81"
        ),  # rounded, symmetric: fine
        row(
            "B", outcome_type="generic", estimate="0.8", ci_low="0.6", ci_high="1.0"
        ),  # symmetric on the raw scale, 1 decimal
        row("C", outcome_type="generic", estimate="0.80", ci_low="0.40", ci_high="1.20"),
    ]  # raw-symmetric, 2 decimals
    assert warning_lines(tmp_path / "x.csv", rows) == [
        "x.csv:4: warning: estimate=0.80: CI [0.40, 1.20] is not symmetric around it on the log scale (more than 10% beyond rounding): check the numbers and the measure; the SE is taken from the CI width"
    ]


def test_warning_double_zero_and_ignored_cells_and_min_studies(tmp_path):
    rows = [row("A", events_treat="0", events_ctrl="0", mean_treat="3")]
    assert warning_lines(tmp_path / "x.csv", rows, min_studies=2) == [
        "x.csv:2: warning: analysis has k=1 trial, fewer than min_studies=2",
        "x.csv:2: warning: no events in either arm: no information on OR/RR (kept with a continuity correction unless continuity.drop00 is true; left out by Mantel-Haenszel/Peto)",
        "x.csv:2: warning: mean_treat=3: ignored: not used by a binary row",
    ]


def test_warning_keys_differing_in_case(tmp_path):
    rows = [row("A"), row("B", comparator="Placebo ")]
    df, warnings = run(tmp_path / "x.csv", rows)
    assert [str(w).replace(str(tmp_path / "x.csv"), "x.csv") for w in warnings] == [
        "x.csv:3: warning: comparator='Placebo': differs only in case or spaces from 'placebo' (x.csv:2): the rows with 'Placebo' (x.csv:3) are kept as a separate analysis; if both mean the same, write them the same way"
    ]
    # white space around cells is stripped, so 'Placebo ' became 'Placebo'
    assert df["comparator"].tolist() == ["placebo", "Placebo"]


def test_ingest_warnings_are_passed_through(tmp_path):
    p = write_csv(tmp_path / "l.csv", [row("Müller")], encoding="latin-1")
    _, warnings = validate_trials(load_trials([p]), KEY)
    assert len(warnings) == 1 and "read as Latin-1" in str(warnings[0])


def test_only_ascii_decimal_numbers_are_numbers(tmp_path):
    """Python's float() accepts '١٢', '1_000', ' 12\\n'; a trial table must not."""
    rows = [
        row("A", n_treat="١٢"),
        row("B", n_treat="1_000"),
        row("C", n_treat="１２"),
        row("D", n_treat="0x1A"),
    ]
    assert error_lines(tmp_path / "x.csv", rows) == [
        "x.csv:2: n_treat='١٢': not a number",
        "x.csv:3: n_treat='1_000': not a number",
        "x.csv:4: n_treat='１２': not a number",
        "x.csv:5: n_treat='0x1A': not a number",
    ]


# ------------------------------------------------------------------------------- duplicates
def _binary(study_id, et, nt, ec, nc, **kw):
    return row(study_id, events_treat=et, n_treat=nt, events_ctrl=ec, n_ctrl=nc, **kw)


def test_possible_duplicate_same_trial_under_a_second_label(tmp_path):
    """The issue's case: 'Meijvis et al. 2011' twice, once without the dot, identical 7/151 vs 9/153."""
    rows = [
        _binary("Meijvis et al. 2011", "7", "151", "9", "153"),
        _binary("Other 2012", "3", "40", "5", "41"),
        _binary("Meijvis et al 2011", "7", "151", "9", "153"),
    ]
    assert warning_lines(tmp_path / "x.csv", rows) == [
        "x.csv:4: warning: study_id='Meijvis et al 2011': possible duplicate of 'Meijvis et al. 2011' at x.csv:2 (the same arm data (events_treat=7, n_treat=151, events_ctrl=9, n_ctrl=153) and labels that differ only in case, spaces or punctuation): if these are the same trial, keep one row (pooling both counts it twice); if they are different trials, give them clearly different labels"
    ]


def test_possible_duplicate_by_data_or_by_label_alone(tmp_path):
    rows = [
        _binary("Smith 2001", "7", "151", "9", "153"),
        _binary("Jones 2003", "7", "151", "9", "153.0"),  # the same numbers as written differently
        _binary("SMITH-2001", "1", "20", "2", "20"),
        row("C1", outcome_type="continuous"),
        row("C2", outcome_type="continuous"),
        row("G1", outcome_type="generic"),
        row("G2", outcome_type="generic", estimate="0.8", ci_low="0.64", ci_high="1"),
    ]
    lines = warning_lines(tmp_path / "x.csv", rows, group_by=["therapy", "outcome_type"])
    assert lines == [
        "x.csv:3: warning: study_id='Jones 2003': possible duplicate of 'Smith 2001' at x.csv:2 (the same arm data (events_treat=7, n_treat=151, events_ctrl=9, n_ctrl=153.0)): if these are the same trial, keep one row (pooling both counts it twice); if they are different trials, check that the numbers were not copied from the other row",
        "x.csv:4: warning: study_id='SMITH-2001': possible duplicate of 'Smith 2001' at x.csv:2 (labels that differ only in case, spaces or punctuation): if these are the same trial, keep one row (pooling both counts it twice); if they are different trials, give them clearly different labels",
        "x.csv:6: warning: study_id='C2': possible duplicate of 'C1' at x.csv:5 (the same arm data (mean_treat=-0.4, sd_treat=0.5, n_treat=60, mean_ctrl=-0.1, sd_ctrl=0.55, n_ctrl=58)): if these are the same trial, keep one row (pooling both counts it twice); if they are different trials, check that the numbers were not copied from the other row",
        "x.csv:8: warning: study_id='G2': possible duplicate of 'G1' at x.csv:7 (the same arm data (measure=HR, estimate=0.8, ci_low=0.64, ci_high=1)): if these are the same trial, keep one row (pooling both counts it twice); if they are different trials, check that the numbers were not copied from the other row",
    ]


def test_no_duplicate_warning_across_analyses_or_for_different_data(tmp_path):
    rows = [
        _binary("A 2001", "7", "151", "9", "153"),
        _binary("A 2001", "7", "151", "9", "153", outcome="mortality"),  # another analysis
        _binary("B 2002", "7", "151", "9", "152"),
    ]
    assert warning_lines(tmp_path / "x.csv", rows) == []


def test_duplicates_error_setting_makes_them_input_errors(tmp_path):
    rows = [
        _binary("Meijvis et al. 2011", "7", "151", "9", "153"),
        _binary("Meijvis et al 2011", "7", "151", "9", "153"),
    ]
    path = write_csv(tmp_path / "x.csv", rows)
    with pytest.raises(InputError) as exc:
        validate_trials(load_trials([path]), KEY, duplicates="error")
    (line,) = str(exc.value).replace(str(path), "x.csv").splitlines()
    assert line.startswith(
        "x.csv:3: study_id='Meijvis et al 2011': possible duplicate of 'Meijvis et al. 2011' at x.csv:2"
    )
    assert line.endswith("(an error: duplicates is set to error)")
    assert exc.value.problems[0].severity == "error"
    with pytest.raises(ValueError, match="duplicates"):
        validate_trials(load_trials([path]), KEY, duplicates="ignore")


def test_same_label_with_different_data_advice_does_not_double_count(tmp_path):
    rows = [_binary("A", "7", "151", "9", "153"), _binary("A", "3", "60", "9", "153")]
    assert error_lines(tmp_path / "x.csv", rows) == [
        "x.csv:3: study_id='A': duplicate within one analysis (also at x.csv:2): if both rows are the same trial (e.g. two doses or time points), keep one row per analysis (combine the arms, or give the other row its own outcome); if they are different trials, give them distinguishable labels"
    ]


def test_case_variants_name_every_row_and_are_kept_apart(tmp_path):
    rows = [row(f"P{i}", events_treat=str(i + 1)) for i in range(7)]
    rows += [row("Q1", comparator="Placebo"), row("Q2", comparator="Placebo", events_treat="9")]
    rows += [row("R1", comparator="PLACEBO", events_treat="20")]
    df, warnings = run(tmp_path / "x.csv", rows)
    lines = [str(w).replace(str(tmp_path / "x.csv"), "x.csv") for w in warnings]
    assert lines == [
        "x.csv:9: warning: comparator='Placebo': differs only in case or spaces from 'placebo' (x.csv:2, x.csv:3, x.csv:4, x.csv:5, x.csv:6 and 2 more rows): the rows with 'Placebo' (x.csv:9, x.csv:10) are kept as a separate analysis; if both mean the same, write them the same way",
        "x.csv:11: warning: comparator='PLACEBO': differs only in case or spaces from 'placebo' (x.csv:2, x.csv:3, x.csv:4, x.csv:5, x.csv:6 and 2 more rows): the rows with 'PLACEBO' (x.csv:11) are kept as a separate analysis; if both mean the same, write them the same way",
    ]
    assert df["comparator"].tolist() == ["placebo"] * 7 + ["Placebo"] * 2 + ["PLACEBO"]


def test_outcome_type_case_is_one_analysis(tmp_path):
    """outcome_type is case-insensitive: 'Binary' and 'binary' rows are one analysis (no case
    warning), so a trial entered under both is found."""
    rows = [row("A"), row("A", outcome_type="Binary")]
    assert error_lines(tmp_path / "x.csv", rows)[0].startswith(
        "x.csv:3: study_id='A': duplicate within one analysis (also at x.csv:2"
    )
    rows = [row("A"), row("B", outcome_type="Binary", events_treat="3")]
    assert warning_lines(tmp_path / "x.csv", rows) == []


# ------------------------------------------------------------------------------- near-miss columns
def test_near_miss_column_names_get_a_suggestion(tmp_path):
    renamed = {"events_treat": "Events (treatment)", "n_ctrl": "N control", "study_id": "Study"}
    header = [renamed.get(c, c) for c in HEADER]
    rows = [{renamed.get(k, k): v for k, v in row("A").items()}]
    assert error_lines(tmp_path / "x.csv", rows, header=header) == [
        "x.csv: missing column 'events_treat' (needed by the file's binary rows) (did you mean 'Events (treatment)'? rename that column to 'events_treat': names are not guessed)",
        "x.csv: missing column 'n_ctrl' (needed by the file's binary rows) (did you mean 'N control'? rename that column to 'n_ctrl': names are not guessed)",
        "x.csv: missing column 'study_id' (required) (did you mean 'Study'? rename that column to 'study_id': names are not guessed)",
    ]


def test_a_known_column_is_never_offered_for_another(tmp_path):
    header = [c for c in HEADER if c != "events_treat"]
    rows = [row("A")]
    assert error_lines(tmp_path / "x.csv", rows, header=header) == [
        "x.csv: missing column 'events_treat' (needed by the file's binary rows)"
    ]


def test_labels_of_punctuation_only_are_not_the_same_label(tmp_path):
    rows = [_binary("-", "7", "151", "9", "153"), _binary("?", "3", "60", "4", "61")]
    assert warning_lines(tmp_path / "x.csv", rows) == []
