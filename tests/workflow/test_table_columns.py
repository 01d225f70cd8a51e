"""The tables a real run writes to results/tables/, against the README's "Table columns" section:
every table is documented, with exactly the columns written, in order; every table with
ratio-measure estimates has ``scale`` and ``<col>_exp`` (exp on log rows, empty on raw rows); the
overall and re-pooled estimates use the primary CI method."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import special

from helpers.workflow_project import ROOT, shipped_run

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

GROUP_BY_ROW = "*the `group_by` columns*"
PROPORTION_SCALES = ("logit", "arcsine", "pft", "proportion")


def readme_columns(text: str) -> dict:
    """``{table file: [column, ...]}`` of the README's "### Table columns" section: the first cell
    of each row of the table under a ``**`name.csv`**`` heading (several backticked names in one
    cell are several columns; the ``group_by`` row stays a placeholder)."""
    section = text.split("### Table columns", 1)[1].split("\n### ", 1)[0]
    tables, current = {}, None
    for line in section.splitlines():
        head = re.match(r"\*\*`([\w.]+)`\*\*", line)
        if head:
            current = tables.setdefault(head.group(1), [])
            continue
        if current is None or not line.startswith("| ") or line.startswith("| column"):
            continue
        cell = line.split("|")[1].strip()
        current.extend([cell] if cell == GROUP_BY_ROW else re.findall(r"`([^`]+)`", cell))
    return tables


@pytest.fixture(scope="module")
def run():
    project = shipped_run()
    config = json.loads((project / "results" / "provenance.json").read_text())["config"]
    return project / "results" / "tables", config


def _header(path) -> list:
    return pd.read_csv(path, nrows=0).columns.tolist()


def test_readme_lists_exactly_the_columns_written(run):
    tables, config = run
    documented = readme_columns((ROOT / "README.md").read_text(encoding="utf-8"))
    written = sorted(p.name for p in tables.glob("*.csv"))
    assert sorted(documented) == written
    for name in written:
        expected = []
        for col in documented[name]:
            expected += list(config["group_by"]) if col == GROUP_BY_ROW else [col]
        # a contract column that is also a group_by column (summary_of_findings.csv's outcome)
        # is written once, in the group_by key
        expected = list(dict.fromkeys(expected))
        assert _header(tables / name) == expected, name
    for parquet in tables.glob("*.parquet"):  # typed copies: the columns of their CSV
        cols = pd.read_parquet(parquet).columns.tolist()
        assert cols == _header(parquet.with_suffix(".csv")), parquet.name


def _exp_pairs(header):
    return [(c[: -len("_exp")], c) for c in header if c.endswith("_exp")]


def test_ratio_tables_have_scale_and_back_transformed_columns(run):
    tables, _ = run
    for name in (
        "pooled",
        "studies",
        "subgroups",
        "metaregression",
        "leave_one_out",
        "cumulative",
        "small_study",
        "sparse_binary",
    ):
        df = pd.read_csv(tables / f"{name}.csv")
        assert "scale" in df and _exp_pairs(df.columns), name
        # single-arm proportions (issue 17): logit / arcsine / pft / proportion scales
        assert set(df["scale"].dropna()) <= {"log", "raw", *PROPORTION_SCALES}, name
        log = (df["scale"] == "log").to_numpy()
        raw = (df["scale"] == "raw").to_numpy()
        logit = (df["scale"] == "logit").to_numpy()
        for src, dst in _exp_pairs(df.columns):
            assert df.columns.get_loc(dst) > df.columns.get_loc(src), (name, dst)
            value = pd.to_numeric(df[src], errors="coerce").to_numpy(float)
            got = pd.to_numeric(df[dst], errors="coerce").to_numpy(float)
            with np.errstate(over="ignore"):  # a huge log-scale bound: inf in the table too
                want = np.exp(value[log])
            np.testing.assert_allclose(got[log], want, rtol=1e-12, err_msg=dst)
            assert np.isnan(got[raw]).all(), (name, dst)
            back = logit & np.isfinite(got)  # the proportion itself (pooled.csv, studies.csv)
            np.testing.assert_allclose(got[back], special.expit(value[back]), rtol=1e-12)
    studies = pd.read_csv(tables / "studies.csv")
    assert {"log", "raw"} <= set(studies["scale"])  # RR and MD analyses in the shipped data


def test_re_pooled_and_overall_estimates_use_the_primary_ci_method(run):
    tables, config = run
    primary_ci = config["ci_methods"][0]
    for name in ("leave_one_out", "cumulative"):
        df = pd.read_csv(tables / f"{name}.csv")
        assert len(df) and set(df["ci_method"]) == {primary_ci}, name
    pooled = pd.read_csv(tables / "pooled.csv")
    prim = pooled[pooled["primary"].astype(str) == "True"].set_index(["analysis_id", "measure"])
    cum = pd.read_csv(tables / "cumulative.csv")
    last = cum.sort_values("step").groupby(["analysis_id", "measure"]).tail(1)
    both = last.merge(
        prim[["k", "ci_low", "ci_high"]].reset_index(),
        on=["analysis_id", "measure"],
        suffixes=("", "_pooled"),
    )
    # the last cumulative step pools every study: the primary result, CI included
    full = both[both["step"] == both["k"]]
    assert len(full)
    np.testing.assert_allclose(full["ci_low"], full["ci_low_pooled"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(full["ci_high"], full["ci_high_pooled"], rtol=1e-6, atol=1e-9)
    sub = pd.read_csv(tables / "subgroups.csv")
    pooled_levels = sub[sub["k"] > 1]
    assert set(pooled_levels["ci_method"]) <= {primary_ci}
