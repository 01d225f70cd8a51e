"""Double programming through the real workflow: the shipped run writes
tables/crosscheck.csv with every pooled analysis reproduced by PyMARE and statsmodels, the
report index says "Independently reproduced: N of N", every checked analysis page says so, and
the run's closing lines say so too."""

import pandas as pd
import pytest

from helpers.workflow_project import clone, run_workflow, shipped_run
from trialmeta.tables.crosscheck import COLUMNS, ENGINE_METHODS

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]


@pytest.fixture(scope="module")
def results():
    return shipped_run() / "results"


def _checked(results):
    pooled = pd.read_csv(results / "tables" / "pooled.csv")
    prim = pooled[pooled["primary"] & (pooled["k"] >= 2)]
    return prim, pooled


def test_every_shipped_analysis_is_reproduced(results):
    table = pd.read_csv(results / "tables" / "crosscheck.csv")
    assert tuple(table.columns) == COLUMNS
    prim, pooled = _checked(results)
    assert len(prim) > 0
    assert set(table["analysis_id"]) == set(prim["analysis_id"])
    # the primary measure of each analysis
    assert dict(zip(table["analysis_id"], table["measure"])) == dict(
        zip(prim["analysis_id"], prim["measure"])
    )
    methods = pooled["tau2_method"].dropna().unique().tolist()
    expected = {(m, e) for e, ms in ENGINE_METHODS.items() for m in ms if m in methods}
    assert expected and set(zip(table["tau2_method"], table["engine"])) == expected
    assert (table.groupby("analysis_id").size() == len(expected)).all()
    assert table["agree"].all(), table[~table["agree"]].to_string()
    # trialmeta's side is its published Wald row
    wald = pooled[(pooled["model"] == "random") & (pooled["ci_method"] == "wald")]
    merged = table.merge(wald, on=["analysis_id", "measure", "tau2_method"], suffixes=("", "_p"))
    assert len(merged) == len(table)
    assert (merged["trialmeta_estimate"] == merged["estimate_p"]).all()
    assert (merged["trialmeta_tau2"] == merged["tau2_p"]).all()


def test_report_says_independently_reproduced(results):
    prim, _ = _checked(results)
    n = len(prim)
    index = (results / "report" / "index.html").read_text(encoding="utf-8")
    assert f"Independently reproduced: {n} of {n} pooled analyses" in index
    for aid in prim["analysis_id"]:
        page = (results / "report" / "analyses" / f"{aid}.html").read_text(encoding="utf-8")
        assert "reproduced by PyMARE and statsmodels" in page, aid


def test_run_ends_with_the_crosscheck_line(results):
    prim, _ = _checked(results)
    n = len(prim)
    project = clone(shipped_run(), "crosscheck")
    # a clone of a finished run has nothing to do (and Snakemake then skips onsuccess): republish
    proc = run_workflow(project, "--forcerun", "publish")
    lines = proc.stderr.splitlines()
    assert f"trialmeta: independently reproduced (PyMARE, statsmodels): {n} of {n} analyses" in (
        lines
    ), proc.stderr[-3000:]
    assert not [line for line in lines if "cross-check disagreement" in line]
