"""Nothing lost: bad input stops the run with every problem and writes nothing
into results/; a run killed mid-way leaves the previous results and report intact, and the rerun
completes (re-rendering only the edited analysis's figure job)."""

import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from helpers.workflow_project import (
    analysis_of,
    clone,
    edit_cell,
    make_project,
    shipped_run,
    snakemake,
    snakemake_command,
    tree_digests,
)

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

BAD_LINES = [
    "data/trials/immunotherapy_trials.csv:2: events_treat=300 > n_treat=205",
    "data/trials/immunotherapy_trials.csv:3: n_ctrl='many': not a number",
]
WORK = os.path.join(".snakemake", "trialmeta", "results")


def _make_bad(project):
    edit_cell(project, "OPTION 2008", "events_treat", "300")
    edit_cell(project, "LITHE 2011", "n_ctrl", "many")


def test_bad_input_fails_with_every_problem_and_keeps_previous_results():
    project = clone(shipped_run(), "bad")
    before = tree_digests(project / "results")
    _make_bad(project)
    proc = snakemake(project, "--cores", "2", check=False, timeout=900)
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    for expected in BAD_LINES:
        assert expected in lines, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr.split("Error in rule", 1)[0]
    assert tree_digests(project / "results") == before


def test_bad_input_on_a_fresh_project_creates_no_results():
    project = make_project()
    _make_bad(project)
    proc = snakemake(project, "--cores", "2", check=False, timeout=900)
    assert proc.returncode != 0
    for expected in BAD_LINES:
        assert expected in proc.stderr.splitlines()
    assert not (project / "results").exists()


def _wait_for(path, newer_than, proc, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"snakemake ended ({proc.returncode}) before {path} was written")
        try:
            if os.stat(path).st_mtime > newer_than:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {path}")


def test_killed_run_keeps_previous_results_and_rerun_completes():
    project = clone(shipped_run(), "kill")
    results = project / "results"
    before = tree_digests(results)
    forest = results / "figures" / "forest"
    mtimes = {p.name: p.stat().st_mtime_ns for p in forest.iterdir()}
    aid = analysis_of(project, "OPTION 2008")
    edit_cell(project, "OPTION 2008", "events_treat", "119")

    start = time.time()
    proc = subprocess.Popen(
        snakemake_command("--cores", "2"),
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # kill the whole process group (snakemake and its jobs) after the pooled and exploration
        # tables were restaged: the figure jobs' (ancient) inputs are complete, so only the edited
        # analysis's figure job reruns. (A run killed while `pool` or `explore` runs leaves their
        # outputs missing -- Snakemake deletes a job's outputs when it starts -- and the next run
        # then re-renders every figure job: correct, only slower.)
        _wait_for(project / WORK / "stage" / "tables" / "pooled.parquet", start, proc)
        for name in ("subgroups", "metaregression", "leave_one_out", "cumulative", "small_study"):
            _wait_for(project / WORK / "exploration" / f"{name}.parquet", start, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)

    assert tree_digests(results) == before, "a killed run changed results/"
    index = (results / "report" / "index.html").read_text(encoding="utf-8")
    assert f"analyses/{aid}.html" in index

    # SIGKILL leaves Snakemake's lock behind: --unlock (README, Troubleshooting), then rerun
    snakemake(project, "--unlock", timeout=600)
    snakemake(project, "--cores", "2")
    after = tree_digests(results)
    assert after != before
    studies = pd.read_csv(results / "tables" / "studies.csv")
    row = studies[(studies["study_id"] == "OPTION 2008") & (studies["measure"] == "RR")]
    assert row["events_treat"].tolist() == [119]
    changed = {p.name for p in forest.iterdir() if p.stat().st_mtime_ns != mtimes.get(p.name)}
    assert f"{aid}.svg" in changed
    # only the figure job holding the edited analysis re-rendered: most figures are untouched
    assert len(changed) < len(mtimes) / 2, sorted(changed)
    assert "Nothing to be done" in snakemake(project, "-n").stdout
