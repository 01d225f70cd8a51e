"""Living review and CI gate through the real workflow.

A small review is run; then one trial row is edited (so that the CI of its analysis crosses no
effect), one trial is added (inserted above every other row, which moves their row numbers) and
one removed, and the workflow is rerun: ``tables/changes.csv`` lists exactly those trials and the
affected analyses, with the old and new values, and flags the conclusion change. A settings-only
rerun is reported as a setting change. ``make check`` / ``trialmeta-check`` passes on two runs
of the same inputs and fails, naming the analysis and column, when one count changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pandas as pd
import pytest

from helpers.trial_tables import HEADER, row, write_csv
from helpers.workflow_project import ROOT, clone, make_project, run_workflow

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

TABLE = "my_review/trials.csv"
CONFIG = (
    f"trials: [{TABLE}]\nresults: my_results\nfigures: {{formats: [svg]}}\n"
    "tau2_methods: [REML, DL]\nmodels: [random, fixed]\nsubgroups: []\nmetaregression: []\n"
)


def _binary(study_id, therapy, condition, et, nt, ec, nc):
    return row(
        study_id,
        therapy=therapy,
        condition=condition,
        outcome="mortality",
        events_treat=str(et),
        n_treat=str(nt),
        events_ctrl=str(ec),
        n_ctrl=str(nc),
        higher_is_better="false",
    )


A = ("dexamethasone", "pneumonia")
B = ("hydrocortisone", "sepsis")
ROWS = [
    _binary("Alpha 2001", *A, 10, 100, 20, 100),
    _binary("Beta 2002", *A, 12, 110, 22, 105),
    _binary("Gamma 2003", *A, 8, 90, 15, 95),
    _binary("Delta 2004", *A, 30, 200, 40, 200),
    _binary("Eta 2010", *B, 20, 150, 25, 150),
    _binary("Theta 2011", *B, 18, 120, 20, 118),
    _binary("Iota 2012", *B, 30, 210, 33, 205),
]
# the second version of the review: Delta edited (its analysis now crosses no effect),
# Theta removed, Kappa added above every row
EDITED = [
    _binary("Kappa 2015", *B, 14, 100, 19, 100),
    *ROWS[:3],
    _binary("Delta 2004", *A, 90, 200, 40, 200),
    ROWS[4],
    ROWS[6],
]


def _run(project, *args):
    return run_workflow(project, "--configfile", "my.yaml", *args)


def _changes(project) -> pd.DataFrame:
    return pd.read_csv(
        project / "my_results" / "tables" / "changes.csv", dtype=str, keep_default_na=False
    )


def _analysis(project, therapy) -> str:
    studies = pd.read_csv(project / "my_results" / "tables" / "studies.csv", dtype=str)
    return studies.loc[studies["therapy"] == therapy, "analysis_id"].iloc[0]


@pytest.fixture(scope="module")
def first():
    """The review run once; its results are also kept as the reference of the CI gate."""
    project = make_project()
    (project / TABLE).parent.mkdir()
    write_csv(project / TABLE, ROWS, header=HEADER)
    (project / "my.yaml").write_text(CONFIG)
    proc = _run(project)
    assert "trialmeta: changes: no earlier complete results" in proc.stderr
    return project


@pytest.fixture(scope="module")
def second(first):
    project = clone(first, "changes")
    shutil.copytree(project / "my_results", project / "run1_results")
    write_csv(project / TABLE, EDITED, header=HEADER)
    proc = _run(project)
    return project, proc


def test_changes_list_exactly_the_edited_added_and_removed_trials(second):
    project, proc = second
    changes = _changes(project)
    a, b = _analysis(project, "dexamethasone"), _analysis(project, "hydrocortisone")
    trials = changes[changes["kind"].str.startswith("trial_")]
    got = sorted(zip(trials["kind"], trials["analysis_id"], trials["study_id"], trials["column"]))
    assert got == [
        ("trial_added", b, "Kappa 2015", ""),
        ("trial_edited", a, "Delta 2004", "events_treat"),
        ("trial_removed", b, "Theta 2011", ""),
    ]
    edit = trials[trials["kind"] == "trial_edited"].iloc[0]
    assert (edit["old"], edit["new"]) == ("30", "90")
    assert edit["source"] == f"{TABLE}:6"  # its new row (one row was inserted above)
    added = trials[trials["kind"] == "trial_added"].iloc[0]
    assert added["source"] == f"{TABLE}:2"
    # the affected analyses: k and the estimates, old -> new, per measure
    results = changes[changes["kind"] == "result"]
    assert set(results["analysis_id"]) == {a, b}
    assert not results["column"].eq("k").any()  # one trial in, one out: k stays 3 and 4
    pooled_old = pd.read_csv(project / "run1_results" / "tables" / "pooled.csv", dtype=str)
    pooled_new = pd.read_csv(project / "my_results" / "tables" / "pooled.csv", dtype=str)
    est = results[(results["analysis_id"] == a) & (results["column"] == "estimate")]
    for r in est.itertuples():
        old = pooled_old[(pooled_old.analysis_id == a) & (pooled_old.measure == r.measure)]
        new = pooled_new[(pooled_new.analysis_id == a) & (pooled_new.measure == r.measure)]
        assert r.old == old[old.primary == "True"].estimate.iloc[0]
        assert r.new == new[new.primary == "True"].estimate.iloc[0]
    # no method change between the two runs
    assert not changes["kind"].isin(["setting", "code", "package", "git"]).any()
    assert "trialmeta: changes since my_results: 1 trial(s) added, 1 removed, 1 edited" in (
        proc.stderr
    )


def test_a_ci_crossing_no_effect_is_flagged_and_shown(second):
    project, _ = second
    changes = _changes(project)
    a = _analysis(project, "dexamethasone")
    flags = changes[(changes["kind"] == "conclusion") & (changes["analysis_id"] == a)]
    assert "ci_no_longer_excludes_no_effect" in set(flags["flag"]), flags.to_string()
    record = json.loads((project / "my_results" / "changes.json").read_text())
    assert record["summary"]["trials_edited"] == 1 and len(record["history"]) == 2
    page = (project / "my_results" / "report" / "changes.html").read_text()
    assert "ci_no_longer_excludes_no_effect" in page and "This run" in page
    index = (project / "my_results" / "report" / "index.html").read_text()
    assert 'href="changes.html"' in index


def test_a_settings_only_change_is_reported_as_such(second):
    project = clone(second[0], "settings")
    proc = _run(project, "--config", "level=0.9")
    changes = _changes(project)
    setting = changes[changes["kind"] == "setting"]
    assert list(zip(setting["column"], setting["old"], setting["new"])) == [
        ("level", "0.95", "0.9")
    ]
    assert not changes["kind"].str.startswith("trial_").any()
    assert "1 settings/code change(s)" in proc.stderr


def test_nothing_reruns_after_the_publish(second):
    """The comparison is against what was published before the run: a no-op rerun keeps it."""
    project, _ = second
    before = (project / "my_results" / "tables" / "changes.csv").read_bytes()
    proc = _run(project, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert (project / "my_results" / "tables" / "changes.csv").read_bytes() == before


def _check(*args):
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "trialmeta-check"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_passes_on_two_runs_of_the_same_inputs(first):
    project = clone(first, "same")
    shutil.rmtree(project / ".snakemake")
    (project / "my.yaml").write_text(CONFIG.replace("my_results", "again_results"))
    _run(project)
    proc = _check(project / "again_results", first / "my_results")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    make = subprocess.run(
        # -o setup: the test runs in the environment it checks (no reinstall)
        ["make", "-s", "-o", "setup", "-C", str(ROOT), "check"]
        + [f"RESULTS={project / 'again_results'}"]
        + [f"REF={first / 'my_results'}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert make.returncode == 0, make.stdout + make.stderr


def test_check_fails_naming_the_analysis_and_column_on_one_count_changed(first):
    project = clone(first, "count")
    counts = [dict(r) for r in ROWS]
    counts[5]["events_treat"] = "19"  # Theta 2011: 18 -> 19
    write_csv(project / TABLE, counts, header=HEADER)
    _run(project)
    proc = _check(project / "my_results", first / "my_results")
    assert proc.returncode == 1, proc.stdout
    b = _analysis(project, "hydrocortisone")
    first_line = proc.stdout.splitlines()[1]
    assert first_line.startswith("  tables/pooled.csv: row ") and f"analysis_id={b}" in first_line
    assert "column estimate:" in proc.stdout
    assert (
        "column events_treat: 19 != 18"
        in _check(project / "my_results", first / "my_results", "--max", "1000").stdout
    )


def test_compare_to_names_any_earlier_results(second):
    """``compare_to``: the comparison is with that directory (not a change of method itself)."""
    project = clone(second[0], "compare_to")
    proc = _run(project, "--config", "compare_to=run1_results")
    changes = _changes(project)
    assert json.loads((project / "my_results" / "changes.json").read_text())["baseline"] == (
        "run1_results"
    )
    kinds = changes.groupby("kind").size().to_dict()
    assert kinds["trial_added"] == kinds["trial_removed"] == kinds["trial_edited"] == 1, kinds
    assert not changes["kind"].isin(["setting", "settings"]).any()
    assert "trialmeta: changes since run1_results:" in proc.stderr
