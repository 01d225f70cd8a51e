"""trialmeta.pipeline.csv_reuse: a table written reusing kept lines is byte for byte what
write_csv_safely writes for it, whatever changed since the lines were kept; only the groups of
analyses whose rows changed are formatted again."""

import json

import numpy as np
import pandas as pd
import pytest

from trialmeta.pipeline import csv_reuse
from trialmeta.pipeline.csv_reuse import N_GROUPS, write_csv_reusing_lines
from trialmeta.pipeline.safe_csv import to_safe_csv_text

N_ANALYSES = 200


def table(n_analyses: int = N_ANALYSES, rows_per: int = 3) -> pd.DataFrame:
    """A table with every kind of column a result table has, and the awkward cells."""
    rng = np.random.default_rng(7)
    n = n_analyses * rows_per
    ids = np.repeat([f"ra-mtx-{i:04x}" for i in range(n_analyses)], rows_per)
    estimate = rng.normal(size=n)
    estimate[::17] = np.nan
    estimate[5] = -0.0
    estimate[6] = np.inf
    estimate[7] = 1e308
    k = pd.array(rng.integers(1, 9, size=n), dtype="Int64")
    k[::11] = pd.NA
    flag = pd.array(rng.integers(0, 2, size=n).astype(bool), dtype="boolean")
    flag[::13] = pd.NA
    labels = np.array(["plain", '=HYPERLINK("x")', "a, b", 'say "hi"', "two\nlines", "-0.5", "ü €"])
    label = pd.array(labels[rng.integers(0, len(labels), size=n)], dtype="str")
    label[::19] = None
    return pd.DataFrame(
        {
            "analysis_id": pd.array(ids, dtype="str"),
            "estimate": estimate,
            "k": k,
            "significant": rng.integers(0, 2, size=n).astype(bool),
            "flag": flag,
            "n_total": rng.integers(10, 500, size=n),
            "label": label,
            "note": np.array(labels[rng.integers(0, len(labels), size=n)], dtype=object),
        }
    )


def write(df, tmp_path, cache="cache"):
    """The written bytes and the number of groups formatted."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    path, formatted = write_csv_reusing_lines(df, out / "pooled.csv", tmp_path / cache)
    return path.read_bytes(), formatted


def expected(df) -> bytes:
    return to_safe_csv_text(df).encode("utf-8")


def test_first_write_and_rewrite_are_the_safe_csv_bytes(tmp_path):
    df = table()
    first, formatted = write(df, tmp_path)
    assert first == expected(df) and formatted == N_GROUPS
    again, formatted = write(df, tmp_path)
    assert again == first and formatted == 0


def test_an_edited_analysis_formats_one_group(tmp_path):
    df = table()
    write(df, tmp_path)
    edited = df.copy()
    rows = edited["analysis_id"] == "ra-mtx-002a"
    edited.loc[rows, "estimate"] += 1e-12  # a last-bits change
    data, formatted = write(edited, tmp_path)
    assert data == expected(edited) != expected(df)
    assert formatted == 1


@pytest.mark.parametrize(
    "change",
    [
        "negative_zero",
        "text_boundary",
        "missing_text",
        "missing_integer",
        "dtype",
        "column_name",
        "row_order",
        "added_analysis",
        "removed_rows",
    ],
)
def test_whatever_changed_the_bytes_are_those_of_the_edited_table(tmp_path, change):
    """Changes that keep many of the same bytes (0 vs -0, texts split differently, an empty text
    vs a missing cell, another dtype with the same numbers) are never mistaken for kept lines."""
    df = table()
    write(df, tmp_path)
    edited = df.copy()
    first = edited["analysis_id"] == "ra-mtx-0001"
    if change == "negative_zero":
        edited.loc[5, "estimate"] = 0.0  # was -0.0
    elif change == "text_boundary":  # the analysis's three labels, split differently
        before = df.copy()
        before.loc[first, "label"] = ["ab", "c", "x"]
        write(before, tmp_path)
        edited.loc[first, "label"] = ["a", "bc", "x"]
    elif change == "missing_text":
        edited.loc[first, "label"] = ""
        df2 = df.copy()
        df2.loc[first, "label"] = None
        write(df2, tmp_path)
    elif change == "missing_integer":
        edited.loc[first, "k"] = pd.NA
    elif change == "dtype":
        edited["significant"] = edited["significant"].astype("uint8")  # same bytes, "1" not "True"
    elif change == "column_name":
        edited = edited.rename(columns={"estimate": "yi"})
    elif change == "row_order":
        edited = edited.iloc[::-1].reset_index(drop=True)
    elif change == "added_analysis":
        extra = edited[first].assign(analysis_id="ra-mtx-ffff")
        edited = pd.concat([edited, extra], ignore_index=True)
    elif change == "removed_rows":
        edited = edited[~first].reset_index(drop=True)
    data, _ = write(edited, tmp_path)
    assert data == expected(edited)


def test_lines_of_groups_no_longer_used_are_removed_and_bad_files_ignored(tmp_path):
    df = table()
    write(df, tmp_path)
    kept = tmp_path / "cache" / "pooled"
    files = sorted(kept.iterdir())
    assert len(files) == N_GROUPS
    files[0].write_text(json.dumps(["not", "the", "lines"]))  # wrong row count
    files[1].write_bytes(b"\x00garbage")
    data, formatted = write(df, tmp_path)
    assert data == expected(df) and formatted == 2
    edited = df[df["analysis_id"] < "ra-mtx-0010"].reset_index(drop=True)
    data, _ = write(edited, tmp_path)
    assert data == expected(edited)
    groups = {csv_reuse._group_of(a) for a in edited["analysis_id"].unique()}
    assert len(list(kept.iterdir())) == len(groups) < N_GROUPS


@pytest.mark.parametrize("kind", ["no_analysis_column", "python_objects", "empty", "one_column"])
def test_tables_it_cannot_split_are_written_whole(tmp_path, kind):
    df = table(20)
    if kind == "no_analysis_column":
        df = df.drop(columns="analysis_id")
    elif kind == "python_objects":
        df["mixed"] = pd.Series([1.0, "1.0", None, True] * (len(df) // 4), dtype=object)
    elif kind == "empty":
        df = df.iloc[:0]
    elif kind == "one_column":
        df = df[["analysis_id"]].assign(
            analysis_id=lambda d: d["analysis_id"].where(d.index % 2 == 0, "")
        )
    for _ in range(2):
        data, _ = write(df, tmp_path)
        assert data == expected(df)
