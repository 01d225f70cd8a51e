"""trialmeta.pipeline.jobs.read_rows_of: a figure job's rows of a big table, read without making
the whole table a DataFrame, are exactly what filtering the whole DataFrame gives (issue 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialmeta.pipeline.jobs import read_parquet, read_rows_of


def _table(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "analysis_id": [f"a{i // 4:03d}" for i in range(n)],
            "yi": rng.normal(size=n),
            "events": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
            "label": pd.array([f"Étude {i}" for i in range(n)], dtype="string"),
            "flag": [i % 3 == 0 for i in range(n)],
        }
    )


def _plain(path, ids):
    df = read_parquet(path)
    return df[df["analysis_id"].isin(ids)] if "analysis_id" in df.columns else df.iloc[0:0]


@pytest.mark.parametrize(
    "ids", [["a003", "a010"], ["a000"], [f"a{i:03d}" for i in range(0, 15, 2)], [], ["absent"]]
)
@pytest.mark.parametrize("index", ["default", "offset range", "stored column"])
def test_same_rows_dtypes_and_index_as_filtering_the_whole_table(tmp_path, ids, index):
    df = _table()
    if index == "offset range":
        df.index = pd.RangeIndex(100, 100 + 3 * len(df), 3)
    elif index == "stored column":
        df.index = pd.Index([f"r{i}" for i in range(len(df))], name="row")
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    got, want = read_rows_of(path, ids), _plain(path, ids)
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_index_type=True)
    assert type(got.index) is type(want.index)
    assert len(got) == 4 * len([i for i in ids if i != "absent"])


def test_a_table_without_analysis_ids_gives_no_rows(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"x": [1.0, 2.0]}).to_parquet(path)
    got = read_rows_of(path, ["a000"])
    assert got.empty and list(got.columns) == ["x"]
