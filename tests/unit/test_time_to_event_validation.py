"""Input errors of time_to_event, rate and multi-arm rows: each names file, row and column.

The named cases (HR <= 0, a CI that does not contain the HR, V <= 0, person-time <= 0,
inconsistent multi-arm control data, arms without labels, multi_arm: error) are checked one by
one and form the corpus of a hypothesis fuzz test that plants one of them in a random valid
table of time_to_event, rate and multi-arm rows (the pattern of test_ingest_fuzz.py): the run
must fail with a line ``<file>:<row>: <column>=...`` for the planted problem, and the clean
table must pass.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialmeta.inputs.analyses import assign_analysis_ids
from trialmeta.inputs.errors import InputError
from trialmeta.inputs.ingest import load_trials
from trialmeta.inputs.multi_arm import resolve_multi_arm
from trialmeta.inputs.validate import validate_trials
from trialmeta.tables.effects import compute_effect_sizes

HEADER = [
    "study_id", "therapy", "comparator", "condition", "outcome", "outcome_type", "arm",
    "events_treat", "n_treat", "events_ctrl", "n_ctrl", "estimate", "ci_low", "ci_high",
    "o_minus_e", "v", "log_hr", "se_log_hr", "logrank_p", "logrank_favours", "events_total",
    "allocation_ratio", "person_time_treat", "person_time_ctrl",
]  # fmt: skip
KEY = ["therapy", "comparator", "condition", "outcome", "outcome_type"]


def _row(study_id, outcome_type, outcome, **cells):
    r = {c: "" for c in HEADER}
    r.update(study_id=study_id, therapy="drug", comparator="placebo", condition="MS",
             outcome=outcome, outcome_type=outcome_type)  # fmt: skip
    r.update({k: str(v) for k, v in cells.items()})
    return r


def _write(rows, folder) -> Path:
    path = Path(folder) / "x.csv"
    pd.DataFrame(rows, columns=HEADER).to_csv(path, index=False)
    return path


def _errors(rows, multi_arm="split") -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(rows, tmp)
        with pytest.raises(InputError) as exc:
            raw = load_trials([str(path)])
            typed, _ = validate_trials(raw, KEY, multi_arm=multi_arm)
            resolve_multi_arm(typed, KEY, multi_arm)
        return str(exc.value).replace(str(path), "x.csv")


def _tte(i, **cells):
    cells = cells or dict(estimate="0.76", ci_low="0.59", ci_high="0.98")
    return _row(f"T{i}", "time_to_event", "CDP", **cells)


def _arms(sid="M", e1="85", e2="49", ctrl2=("16", "158"), arm2="4 mg"):
    return [
        _row(sid, "binary", "ACR20", arm="8 mg", events_treat=e1, n_treat="170",
             events_ctrl="16", n_ctrl="158"),
        _row(sid, "binary", "ACR20", arm=arm2, events_treat=e2, n_treat="161",
             events_ctrl=ctrl2[0], n_ctrl=ctrl2[1]),
    ]  # fmt: skip


#: name -> (rows, multi_arm, the line the error must contain)
CASES = {
    "hr_nonpositive": ([_tte(1, estimate="0", ci_low="0.5", ci_high="1.2")], "split",
                       "x.csv:2: estimate=0: must be > 0"),
    "ci_without_hr": ([_tte(1, estimate="1.4", ci_low="0.59", ci_high="0.98")], "split",
                      "x.csv:2: estimate=1.4: hazard ratio outside its CI [0.59, 0.98]"),
    "v_nonpositive": ([_tte(1, o_minus_e="-3", v="0")], "split", "x.csv:2: v=0: must be > 0"),
    "person_time_nonpositive": (
        [_row("R1", "rate", "flares", events_treat="5", person_time_treat="-2",
              events_ctrl="9", person_time_ctrl="100")],
        "split", "x.csv:2: person_time_treat=-2: must be > 0"),
    "multi_arm_control_differs": (_arms(ctrl2=("17", "158")), "split",
                                  "x.csv:3: events_ctrl=17: differs from events_ctrl=16"),
    "multi_arm_missing_label": (_arms(arm2=""), "split",
                                "x.csv:3: arm: empty: rows of the multi-arm trial 'M'"),
    "multi_arm_error_mode": (_arms(), "error", "x.csv:3: study_id='M': multi-arm trial 'M'"),
    "logrank_favours_unknown": (
        [_tte(1, logrank_p="0.03", logrank_favours="drug", events_total="120")], "split",
        "x.csv:2: logrank_favours='drug': must be treat or ctrl"),
    "tte_no_source": ([_tte(1, o_minus_e="-3")], "split",
                      "x.csv:2: time_to_event row needs estimate, ci_low, ci_high; or o_minus_e, v"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_problem_names_file_row_and_column(name):
    rows, mode, line = CASES[name]
    text = _errors(rows, mode)
    assert line in text, text


def test_valid_rows_of_every_source_pass_and_are_recorded():
    rows = [
        _tte(1),
        _tte(2, o_minus_e="-5.2", v="20.1"),
        _tte(3, log_hr="-0.2", se_log_hr="0.1"),
        _tte(4, logrank_p="0.075", logrank_favours="Treat", events_total="100",
             allocation_ratio="2"),
        _row("R1", "rate", "flares", events_treat="5", person_time_treat="120",
             events_ctrl="9", person_time_ctrl="100"),
        _row("R2", "rate", "flares", estimate="0.8", ci_low="0.6", ci_high="1.1"),
        *_arms(),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        raw = load_trials([str(_write(rows, tmp))])
        typed, warnings = validate_trials(raw, KEY)
    assert any("approximate" in w.message and w.row == 5 for w in warnings)
    typed, notes = resolve_multi_arm(typed, KEY, "split")
    eff = compute_effect_sizes(assign_analysis_ids(typed, KEY))
    hr = eff[eff["measure"] == "HR"].set_index("study_id")
    assert list(hr["hr_source"]) == ["HR + CI", "O-E and V", "log HR + SE",
                                     "log-rank p (approximate)"]  # fmt: skip
    assert math.isclose(hr.loc["T2", "yi"], -5.2 / 20.1) and hr["scale"].eq("log").all()
    assert set(eff.loc[eff["outcome_type"] == "rate", "measure"]) == {"IRR"}
    assert {"M (8 mg)", "M (4 mg)"} <= set(eff["study_id"])


# ------------------------------------------------------------------------------ fuzz
@st.composite
def _valid_table(draw):
    rows = []
    for i in range(draw(st.integers(1, 4))):
        mu, se = draw(st.floats(-1.5, 1.5)), draw(st.floats(0.05, 0.8))
        src = draw(st.sampled_from(["ci", "oe", "log"]))
        if src == "ci":
            rows.append(_tte(i, estimate=f"{math.exp(mu):.4f}",
                             ci_low=f"{math.exp(mu - 1.96 * se):.4f}",
                             ci_high=f"{math.exp(mu + 1.96 * se):.4f}"))  # fmt: skip
        elif src == "oe":
            v = 1 / se**2
            rows.append(_tte(i, o_minus_e=f"{mu * v:.4f}", v=f"{v:.4f}"))
        else:
            rows.append(_tte(i, log_hr=f"{mu:.4f}", se_log_hr=f"{se:.4f}"))
    for i in range(draw(st.integers(0, 3))):
        rows.append(_row(f"R{i}", "rate", "flares",
                         events_treat=draw(st.integers(0, 50)),
                         person_time_treat=f"{draw(st.floats(1, 1000)):.2f}",
                         events_ctrl=draw(st.integers(0, 50)),
                         person_time_ctrl=f"{draw(st.floats(1, 1000)):.2f}"))  # fmt: skip
    if draw(st.booleans()):
        rows += _arms("MA")
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=_valid_table(), name=st.sampled_from(sorted(CASES)), at=st.integers(0, 30))
def test_fuzz_planted_problem_is_reported_with_file_row_column(table, name, at):
    with tempfile.TemporaryDirectory() as tmp:  # the clean table passes
        typed, _ = validate_trials(load_trials([str(_write(table, tmp))]), KEY)
        resolve_multi_arm(typed, KEY, "split")
    bad, mode, line = CASES[name]
    pos = at % (len(table) + 1)
    rows = table[:pos] + bad + table[pos:]
    text = _errors(rows, mode)
    # the planted rows moved down by pos lines
    file_row, rest = line.split(": ", 1)
    shifted = f"x.csv:{int(file_row.split(':')[1]) + pos}: {rest}"
    assert shifted.split(" differs from")[0].split(" multi-arm trial")[0] in text, (shifted, text)
