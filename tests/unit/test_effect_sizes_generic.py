"""Generic effect sizes (yi/sei, or estimate + CI) and the input-error paths of the effect sizes."""

import math

import numpy as np
import pandas as pd
import pytest

from trialmeta.inputs.errors import InputError
from trialmeta.stats.effect_sizes import (
    InvalidStudyData,
    binary_effects,
    continuous_effects,
    generic_effects,
)
from trialmeta.tables.effects import compute_effect_sizes

Z975 = 1.959963984540054


def test_ratio_estimate_and_ci_are_logged():
    es = generic_effects("HR", estimate=[0.8, 1.25], ci_low=[0.6, 0.9], ci_high=[1.0, 1.7])
    assert es.measure == "logHR" and es.scale == "log"
    np.testing.assert_allclose(es.yi, np.log([0.8, 1.25]), rtol=1e-15)
    np.testing.assert_allclose(
        es.sei, (np.log([1.0, 1.7]) - np.log([0.6, 0.9])) / (2 * Z975), rtol=1e-14
    )
    np.testing.assert_allclose(es.vi, es.sei**2, rtol=1e-15)
    # 1.959964 as in the README and the methods text: identical to 6 significant digits
    assert abs(es.sei[0] - (math.log(1.0) - math.log(0.6)) / (2 * 1.959964)) < 1e-7 * es.sei[0]


def test_raw_estimate_and_ci_and_level():
    es = generic_effects("MD", estimate=[-2.0], ci_low=[-3.5], ci_high=[-0.5])
    assert es.measure == "MD" and es.scale == "raw"
    assert es.yi[0] == -2.0 and es.sei[0] == pytest.approx(3.0 / (2 * Z975), rel=1e-15)
    es90 = generic_effects("RD", estimate=[0.1], ci_low=[0.0], ci_high=[0.2], level=0.90)
    assert es90.sei[0] == pytest.approx(0.2 / (2 * 1.6448536269514722), rel=1e-14)


def test_yi_sei_on_the_analysis_scale_and_mixed_measures():
    es = generic_effects(
        np.array(["logHR", "HR", "logOR", "OR", "SMD"], dtype=object),
        yi=[-0.2, np.nan, 0.3, np.nan, 0.4],
        sei=[0.1, np.nan, 0.2, np.nan, 0.15],
        estimate=[np.nan, 0.5, np.nan, 2.0, np.nan],
        ci_low=[np.nan, 0.25, np.nan, 1.0, np.nan],
        ci_high=[np.nan, 1.0, np.nan, 4.0, np.nan],
    )
    assert list(es.measure) == ["logHR", "logHR", "logOR", "logOR", "SMD"]
    assert list(es.scale) == ["log", "log", "log", "log", "raw"]
    np.testing.assert_allclose(es.yi, [-0.2, math.log(0.5), 0.3, math.log(2.0), 0.4], rtol=1e-15)
    np.testing.assert_allclose(
        es.sei, [0.1, math.log(4) / (2 * Z975), 0.2, math.log(4) / (2 * Z975), 0.15], rtol=1e-14
    )
    with pytest.raises(ValueError, match="analysis scale"):
        generic_effects("HR", yi=[0.5], sei=[0.1])
    with pytest.raises(ValueError, match="unknown generic measure"):
        generic_effects("XYZ", yi=[0.5], sei=[0.1])


def _generic_table():
    return pd.DataFrame(
        {
            "study_id": ["A", "B", "C"],
            "therapy": "t",
            "comparator": "c",
            "condition": "x",
            "outcome": "os",
            "outcome_type": "generic",
            "analysis_id": "os_hr",
            "measure": ["HR", "logHR", "HR"],
            "yi": [np.nan, -0.1, np.nan],
            "sei": [np.nan, 0.05, np.nan],
            "estimate": [0.7, np.nan, 0.9],
            "ci_low": [0.5, np.nan, 0.8],
            "ci_high": [0.98, np.nan, 1.0125],
            "source_file": "data/trials/os.csv",
            "source_row": [2, 3, 4],
        }
    )


def test_effects_table_generic_rows():
    eff = compute_effect_sizes(_generic_table())
    assert list(eff["measure"]) == ["logHR"] * 3 and (eff["scale"] == "log").all()
    np.testing.assert_allclose(eff["yi"], [math.log(0.7), -0.1, math.log(0.9)], rtol=1e-15)
    np.testing.assert_allclose(
        eff["sei"],
        [math.log(0.98 / 0.5) / (2 * Z975), 0.05, math.log(1.0125 / 0.8) / (2 * Z975)],
        rtol=1e-14,
    )
    np.testing.assert_allclose(eff["ci_low"], eff["yi"] - Z975 * eff["sei"], rtol=1e-14)
    # the reported numbers are kept under their own names; ci_low/ci_high are the analysis-scale CI
    assert list(eff["estimate_reported"].iloc[[0, 2]]) == [0.7, 0.9]
    assert list(eff["measure_reported"]) == ["HR", "logHR", "HR"]
    assert eff["primary_measure"].all() and not eff["continuity_corrected"].any()
    assert eff[["events_treat", "n_treat", "events_ctrl", "n_ctrl"]].isna().all().all()


def test_zero_width_ci_or_zero_sei_is_an_input_error_naming_the_row():
    t = _generic_table()
    t.loc[1, "sei"] = 0.0
    t.loc[2, "ci_low"] = 0.9
    t.loc[2, "ci_high"] = 0.9
    with pytest.raises(InputError) as err:
        compute_effect_sizes(t)
    probs = err.value.problems
    assert [(p.file, p.row, p.column) for p in probs] == [
        ("data/trials/os.csv", 3, "sei"),
        ("data/trials/os.csv", 4, "ci_low"),
    ]
    assert "'B'" in probs[0].message and "'C'" in probs[1].message
    assert str(err.value).splitlines()[0].startswith("data/trials/os.csv:3: sei=0")


def _binary_table():
    return pd.DataFrame(
        {
            "study_id": ["S1", "S2", "S3"],
            "outcome_type": "binary",
            "analysis_id": "a1",
            "events_treat": [3, 0, 5],
            "n_treat": [30, 25, 40],
            "events_ctrl": [6, 4, 40],
            "n_ctrl": [30, 25, 40],
            "source_file": "data/trials/x.csv",
            "source_row": [7, 8, 9],
        }
    )


def test_zero_cell_without_correction_is_an_input_error_naming_file_row_study():
    t = _binary_table()
    with pytest.raises(InputError) as err:
        compute_effect_sizes(t, measures={"binary": ["OR"]}, continuity={"to": "none"})
    probs = err.value.problems
    # every problem at once: S2 (events_treat = 0) and S3 (events_ctrl = n_ctrl)
    assert [(p.file, p.row, p.column) for p in probs] == [
        ("data/trials/x.csv", 8, "events_treat"),
        ("data/trials/x.csv", 9, "events_ctrl"),
    ]
    assert "S2" in probs[0].message and "to='none'" in probs[0].message
    assert str(probs[0]).startswith("data/trials/x.csv:8: events_treat=0: zero event cell")
    assert "OR: yi=" in probs[0].message
    # the same table is fine with the default correction, which flags S2 and S3
    eff = compute_effect_sizes(t, measures={"binary": ["OR"]})
    assert list(eff["continuity_corrected"]) == [False, True, True]
    # RD with to="none": S3 has p2 = 1 and a finite yi, but S2 alone keeps vi > 0; a table with both
    # proportions 0 or 1 has vi = 0 -> error
    t2 = _binary_table()
    t2.loc[1, ["events_treat", "events_ctrl"]] = [0, 0]
    with pytest.raises(InputError) as err:
        compute_effect_sizes(t2, measures={"binary": ["RD"]}, continuity={"to": "none"})
    assert [p.row for p in err.value.problems] == [8]


def test_low_level_functions_check_variances():
    with pytest.raises(InvalidStudyData, match="position 1"):
        binary_effects([3, 0], [30, 25], [6, 4], [30, 25], "OR", to="none")
    es = binary_effects([3, 0], [30, 25], [6, 4], [30, 25], "OR", to="none", check=False)
    assert np.isinf(es.vi[1]) and es.invalid().tolist() == [False, True]
    with pytest.raises(InvalidStudyData, match="study S2"):
        continuous_effects(
            [1, 1], [1, 1], [10, 1], [0, 0], [1, 1], [10, 1], "SMD", labels=["S1", "S2"]
        )


def test_without_source_columns_rows_are_spreadsheet_rows():
    t = _binary_table().drop(columns=["source_file", "source_row"])
    with pytest.raises(InputError) as err:
        compute_effect_sizes(t, measures={"binary": ["RR"]}, continuity={"to": "none"})
    assert [(p.file, p.row) for p in err.value.problems][0] == ("trials table", 3)


def test_bad_configuration():
    t = _binary_table()
    with pytest.raises(ValueError):
        compute_effect_sizes(t, measures={"binary": ["HR"]})
    with pytest.raises(ValueError):
        compute_effect_sizes(t, continuity={"to": "sometimes"})
