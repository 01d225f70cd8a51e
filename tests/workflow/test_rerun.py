"""Reruns do only what is needed: nothing after a finished run; one edited trial row reruns the
whole-table steps and exactly one figure job (the batch holding that analysis), shown with
`snakemake -n`; the explore job recomputes one batch of analyses; and what the edited run writes
is what a run from clean on the edited tables writes."""

import re
import shutil

import pytest

from helpers.workflow_project import (
    analysis_of,
    clone,
    edit_cell,
    planned_jobs,
    shipped_run,
    snakemake,
    tree_digests,
)
from trialmeta.pipeline.compare import BASELINE_FILES

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

STAGE_FIGURES = ".snakemake/trialmeta/results/stage/figures"
WHOLE_TABLE_STEPS = {
    "validate",
    "effect_sizes",
    "pool",
    "crosscheck",
    "tables",
    "explore",
    "single_arm",
    "bayes",
    "interactions",
    "risk_of_bias",
    "summary_of_findings",
    "provenance",
    "changes",
    "report",
    "publish",
    "all",
}


def test_noop_rerun_does_nothing():
    project = clone(shipped_run(), "noop")
    out = snakemake(project, "-n").stdout
    assert "Nothing to be done" in out, out[-3000:]
    assert planned_jobs(out) == {}


def test_one_row_edit_reruns_one_figure_job():
    project = clone(shipped_run(), "edit")
    figure_rules = set(
        re.findall(r"^(figures_b\d+)$", snakemake(project, "--list-rules").stdout, flags=re.M)
    )
    assert len(figure_rules) >= 2, "the shipped data should be split into several figure jobs"

    aid = analysis_of(project, "OPTION 2008")
    assert edit_cell(project, "OPTION 2008", "events_treat", "121") == "120"
    out = snakemake(project, "-n").stdout
    jobs = planned_jobs(out)
    figure_jobs = {r for r in jobs if r.startswith("figures_")}
    assert len(figure_jobs) == 1, jobs
    assert set(jobs) - figure_jobs == WHOLE_TABLE_STEPS, jobs
    assert all(n == 1 for n in jobs.values()), jobs
    (rule,) = figure_jobs
    # the figure job that rendered this analysis's plot in the finished run (figures_<batch>.<digest>)
    (batch_dir,) = [d for d in (project / STAGE_FIGURES).iterdir() if (d / f"{aid}.svg").is_file()]
    assert rule == batch_dir.name.split(".")[0], (rule, batch_dir.name)

    # run it: the figure job draws only the edited analysis; the rest of its batch comes from the
    # render cache (trialmeta.pipeline.render_cache), and the published figure is the new one
    before = (project / "results" / "figures" / "forest" / f"{aid}.svg").read_bytes()
    snakemake(project, "--cores", "2")
    log = (project / ".snakemake/trialmeta/results/logs" / f"{rule}.log").read_text()
    cached = int(re.search(r"; (\d+) analyses from the cache\)", log).group(1))
    total = int(re.search(r"(\d+) analyses -> \d+ files", log).group(1))
    assert total >= 2 and cached == total - 1, log
    assert (project / "results" / "figures" / "forest" / f"{aid}.svg").read_bytes() != before
    # the explore job computed the batch of the edited analysis and read the others back
    log = (project / ".snakemake/trialmeta/results/logs/explore.log").read_text()
    computed, batches = map(
        int, re.search(r"(\d+) of (\d+) batches of analyses computed", log).groups()
    )
    assert (computed, batches) == (1, len(figure_rules)), log

    # the same files as a run from clean on the edited tables (caches and all)
    clean = clone(project, "edit-clean")
    for state in (".snakemake", "results"):
        shutil.rmtree(clean / state)
    snakemake(clean, "--cores", "2")
    edited, fresh = (tree_digests(p / "results") for p in (project, clean))
    for name in BASELINE_FILES:  # the comparison with the previous run: none in a clean run
        edited.pop(name, None), fresh.pop(name, None)
    assert len(edited) > 50 and edited.keys() == fresh.keys()
    assert sorted(k for k in edited if edited[k] != fresh[k]) == []
