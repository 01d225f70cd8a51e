"""Input warnings through a real run: a trial entered twice under two labels and a comparator
spelt in two cases reach ``tables/warnings.csv`` naming both rows; ``duplicates: error`` stops the
run with the problem line; a workbook whose first sheet is a README tab is read from its data
sheet; forgiving method names in ``--config`` reach provenance in their canonical spelling."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from helpers.trial_tables import HEADER, row, write_csv, write_xlsx
from helpers.workflow_project import make_project, run_workflow, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

TABLE = "my_review/trials.csv"


def _binary(study_id, et, nt, ec, nc, **kw):
    cells = dict(therapy="dexamethasone", condition="pneumonia", outcome="mortality", **kw)
    return row(
        study_id,
        events_treat=et,
        n_treat=nt,
        events_ctrl=ec,
        n_ctrl=nc,
        higher_is_better="false",
        **cells,
    )


ROWS = [
    _binary("Meijvis et al. 2011", "7", "151", "9", "153"),  # row 2
    _binary("Torres 2015", "13", "61", "11", "59"),  # row 3
    _binary("Meijvis et al 2011", "7", "151", "9", "153"),  # row 4: the same trial again
    _binary("Blum 2015", "16", "392", "13", "393"),  # row 5
    _binary("Snijders 2010", "6", "104", "6", "109", comparator="Placebo"),  # row 6
]


@pytest.fixture(scope="module")
def project():
    project = make_project()
    (project / TABLE).parent.mkdir()
    write_csv(project / TABLE, ROWS, header=HEADER)
    (project / "my.yaml").write_text(f"trials: [{TABLE}]\nresults: my_results\n")
    return project


def test_duplicate_and_case_warnings_reach_warnings_csv(project):
    proc = run_workflow(project, "--configfile", "my.yaml", "--config", "tau2_methods=[reml,dl]")
    warnings = pd.read_csv(project / "my_results" / "tables" / "warnings.csv", dtype=str)
    by_row = {(r.file, r.row): r for r in warnings.itertuples()}

    dup = by_row[(TABLE, "4")]
    assert dup.severity == "warning" and dup.column == "study_id"
    assert dup.value == "Meijvis et al 2011"
    assert dup.message.startswith(f"possible duplicate of 'Meijvis et al. 2011' at {TABLE}:2 (")
    assert "keep one row (pooling both counts it twice)" in dup.message
    assert "give them each their own label" not in dup.message

    case = by_row[(TABLE, "6")]
    assert case.column == "comparator" and case.value == "Placebo"
    assert case.message.startswith(
        f"differs only in case or spaces from 'placebo' ({TABLE}:2, {TABLE}:3, {TABLE}:4, "
        f"{TABLE}:5): the rows with 'Placebo' ({TABLE}:6) are kept as a separate analysis"
    )
    # kept apart (documented): the 'Placebo' row is an analysis of its own
    pooled = pd.read_csv(project / "my_results" / "tables" / "pooled.csv")
    assert pooled["analysis_id"].nunique() == 2
    # the method names given in lower case are recorded in their canonical spelling
    provenance = json.loads((project / "my_results" / "provenance.json").read_text())
    assert _find(provenance, "tau2_methods") == ["REML", "DL"], proc.stderr[-2000:]


def _find(node, key):
    """The first value of ``key`` anywhere in a JSON document."""
    if isinstance(node, dict):
        if key in node:
            return node[key]
        node = list(node.values())
    if isinstance(node, list):
        for x in node:
            found = _find(x, key)
            if found is not None:
                return found
    return None


def test_duplicates_error_stops_the_run_with_the_problem_line(project):
    proc = snakemake(
        project,
        "--cores",
        "1",
        "--configfile",
        "my.yaml",
        "--config",
        "duplicates=error",
        "results=dup_error_results",
        check=False,
        timeout=600,
    )
    assert proc.returncode != 0
    line = (
        f"{TABLE}:4: study_id='Meijvis et al 2011': possible duplicate of 'Meijvis et al. 2011' "
        f"at {TABLE}:2"
    )
    assert line in proc.stderr + proc.stdout, proc.stderr[-3000:]
    assert not (project / "dup_error_results").exists()


def test_workbook_with_a_readme_tab_first(project):
    sheet = [HEADER] + [[r[c] for c in HEADER] for r in ROWS[:2] + ROWS[3:5]]
    write_xlsx(
        project / "my_review" / "review.xlsx",
        {"README": [["Extraction form v2", "reviewer JS"], ["how to fill in"]], "data": sheet},
    )
    (project / "xlsx.yaml").write_text(
        "trials: [my_review/review.xlsx]\nresults: xlsx_results\ngroup_by: [comparator, outcome]\n"
        "subgroups: [arm_colour]\n"
    )
    proc = snakemake(project, "--cores", "1", "--configfile", "xlsx.yaml", check=False, timeout=600)
    assert proc.returncode != 0
    # the data sheet was read: the missing moderator is named with the file and the sheet
    expected = (
        "config: subgroups[0]: column 'arm_colour' is not in the trial tables read from "
        "my_review/review.xlsx, sheet 'data'"
    )
    assert any(line.startswith(expected) for line in proc.stderr.splitlines()), proc.stderr[-3000:]
    assert "Extraction form v2" not in proc.stderr
    rows = list(csv.reader((project / TABLE).open(encoding="utf-8")))
    assert len(rows) == 6  # the CSV of the other tests is untouched
