"""trialmeta.pipeline.safe_csv: formula neutralization, exact floats, atomic and deterministic writes."""

import csv
import io
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialmeta.pipeline.safe_csv import FORMULA_PREFIXES, neutralize_formula, write_csv_safely


def _read_cells(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://example.invalid","x")',
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
        "=1",
        "+",
        "-",
        "@",
    ],
)
def test_formula_text_is_prefixed(tmp_path, text):
    df = pd.DataFrame({"study_id": [text], "yi": [0.5]})
    out = write_csv_safely(df, tmp_path / "t.csv")
    rows = _read_cells(out)
    assert rows[0] == ["study_id", "yi"]
    assert rows[1][0] == "'" + text
    assert rows[1][1] == "0.5"


@pytest.mark.parametrize(
    "text", ["OPTION 2008", "", "a=b", "x+y", "'quoted", "-1.5", "+2e-3", "-inf", "1e5"]
)
def test_harmless_text_and_numeric_text_unchanged(tmp_path, text):
    df = pd.DataFrame({"s": [text, "pad"]})
    rows = _read_cells(write_csv_safely(df, tmp_path / "t.csv"))
    assert rows[1][0] == text


def test_numbers_untouched_and_exact(tmp_path):
    vals = [-0.25, 0.1, 1 / 3, -1e-300, 2.0**60, math.pi, np.nan, -0.0]
    df = pd.DataFrame({"x": vals, "k": [1, 2, 3, 4, 5, 6, 7, 8], "b": [True, False] * 4})
    path = write_csv_safely(df, tmp_path / "t.csv")
    text = path.read_text(encoding="utf-8")
    assert "'" not in text  # negative numbers are numbers, never prefixed
    assert "\r" not in text and text.endswith("\n")
    back = pd.read_csv(path)
    got = back["x"].to_numpy()
    for a, b in zip(vals, got):
        assert (math.isnan(a) and math.isnan(b)) or a == b  # %.17g round-trips every double
    assert _read_cells(path)[1][0] == "-0.25"
    assert _read_cells(path)[2][0] == "0.10000000000000001"  # %.17g, as documented
    assert list(back["k"]) == list(range(1, 9))


def test_column_names_neutralized(tmp_path):
    df = pd.DataFrame({"=cmd()": [1]})
    rows = _read_cells(write_csv_safely(df, tmp_path / "t.csv"))
    assert rows[0] == ["'=cmd()"]


def test_atomic_and_deterministic(tmp_path):
    df = pd.DataFrame({"a": ["=x", "y", None], "v": [0.1, np.nan, -3.0]})
    p1 = write_csv_safely(df, tmp_path / "sub" / "one.csv")
    p2 = write_csv_safely(df, tmp_path / "sub" / "two.csv")
    assert p1.read_bytes() == p2.read_bytes()
    # overwriting replaces the file; no temp files are left behind
    write_csv_safely(df.iloc[:1], p1)
    assert sorted(x.name for x in (tmp_path / "sub").iterdir()) == ["one.csv", "two.csv"]
    assert p1.read_text().count("\n") == 2


def test_failed_write_leaves_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    write_csv_safely(pd.DataFrame({"a": [1]}), path)
    before = path.read_bytes()
    import trialmeta.pipeline.safe_csv as sc

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(sc.os, "replace", boom)
    with pytest.raises(OSError):
        write_csv_safely(pd.DataFrame({"a": [2]}), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=20), min_size=1, max_size=5))
def test_property_no_cell_starts_a_formula(cells):
    df = pd.DataFrame({"s": cells})
    from trialmeta.pipeline.safe_csv import to_safe_csv_text

    text = to_safe_csv_text(df)
    back = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert len(back) == len(cells)  # no cell content splits a row
    for orig, row in zip(cells, back):
        got = row[0] if row else ""
        if orig and orig[0] in FORMULA_PREFIXES and neutralize_formula(orig) != orig:
            assert got == "'" + orig
        else:
            assert got == orig or (orig == "" and got == "")
        assert neutralize_formula(orig) in (orig, "'" + orig)
