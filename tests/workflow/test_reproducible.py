"""Two runs from clean (jobs forked from the warm process, and jobs in their own processes) give
byte-identical tables, figures, report and provenance; the pooled numbers equal the committed
expected table (tests/data/expected_pooled.csv) at 1e-10.

The expected table was written by this workflow on the shipped data after the pooling engine
passed its metafor reference tests (tests/metafor/test_pooling_reference.py); regenerate it only when a
deliberate change of the numbers has been checked against metafor again:

    cp <project>/results/tables/pooled.csv tests/data/expected_pooled.csv
"""

import difflib

import numpy as np
import pandas as pd
import pytest

from helpers.workflow_project import ROOT, shipped_run, tree_digests

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

EXPECTED = ROOT / "tests" / "data" / "expected_pooled.csv"
RTOL = 1e-10
ATOL = 1e-13  # for values that are exactly 0 in one table (e.g. tau2 on the boundary)
KEY = ["analysis_id", "measure", "model", "tau2_method", "ci_method"]


def _diff(a, b, limit=30):
    try:
        lines = difflib.unified_diff(
            a.read_text(encoding="utf-8").splitlines(),
            b.read_text(encoding="utf-8").splitlines(),
            lineterm="",
            n=0,
        )
        return "\n".join(list(lines)[:limit])
    except UnicodeDecodeError:
        return "(binary)"


def test_two_clean_runs_are_byte_identical():
    """The second run starts every job in its own process (no warm start): the warm start
    (trialmeta.pipeline.warm_start) changes nothing in what the jobs write."""
    one = shipped_run() / "results"
    two = shipped_run("second", warm_start=False) / "results"
    first, second = tree_digests(one), tree_digests(two)
    assert len(first) > 50
    assert first.keys() == second.keys()
    differ = sorted(k for k in first if first[k] != second[k])
    assert not differ, "files differ between two clean runs:\n" + "\n".join(
        f"{k}:\n{_diff(one / k, two / k)}" for k in differ[:5]
    )


def test_pooled_numbers_equal_the_expected_table():
    got = pd.read_csv(shipped_run() / "results" / "tables" / "pooled.csv", keep_default_na=False)
    want = pd.read_csv(EXPECTED, keep_default_na=False)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    got = got.sort_values(KEY, kind="stable").reset_index(drop=True)
    want = want.sort_values(KEY, kind="stable").reset_index(drop=True)
    for col in want.columns:
        if col == "iterations":
            # solver bookkeeping, not a statistic: it changes when the solver gets faster
            it = pd.to_numeric(got[col], errors="coerce")
            assert (it.isna() == pd.to_numeric(want[col], errors="coerce").isna()).all(), col
            it = it.dropna()
            assert ((it >= 0) & (it == it.round())).all(), col
            continue
        g = pd.to_numeric(got[col], errors="coerce")
        w = pd.to_numeric(want[col], errors="coerce")
        numeric = w.notna() | (want[col] == "")
        if numeric.all() and w.notna().any():
            gv, wv = g.to_numpy(float), w.to_numpy(float)
            both_nan = np.isnan(gv) & np.isnan(wv)
            close = np.isclose(gv, wv, rtol=RTOL, atol=ATOL) | both_nan
            bad = np.flatnonzero(~close)
            assert bad.size == 0, (
                f"{col}: rows {bad[:5].tolist()} got {gv[bad[:5]]} want {wv[bad[:5]]}"
            )
        else:
            assert got[col].astype(str).tolist() == want[col].astype(str).tolist(), col
