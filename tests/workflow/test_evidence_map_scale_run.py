"""The evidence map at scale through the real workflow (issue 16): a run with more therapies than
the map draws (MAX_THERAPIES) finishes, the console says what the map leaves out, and so does the
report's Summary of Findings page; every analysis stays in ``summary_of_findings.csv``.
The trials are SYNTHETIC (made-up names and counts)."""

import pandas as pd
import pytest

from helpers.trial_tables import row, write_csv
from helpers.workflow_project import make_project, run_workflow, tmp_dir
from trialmeta.plots.evidence_map import MAX_THERAPIES

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]


def test_more_therapies_than_the_map_draws():
    project = make_project(tmp_dir("emscale") / "project")
    for old in (project / "data" / "trials").glob("*.csv"):
        old.unlink()
    n = MAX_THERAPIES + 1
    rows = [
        row(
            f"SYN-{t:02d}-{s}",
            therapy=f"SYNTHETIC drug {t:02d}",
            comparator="SYNTHETIC placebo",
            condition="SYNTHETIC condition",
            outcome="SYNTHETIC response",
            events_treat=10 + s,
            n_treat=40 + t,  # participants grow with t: drug 00 is the one left out
            events_ctrl=6,
            n_ctrl=40 + t,
        )
        for t in range(n)
        for s in range(2)
    ]
    write_csv(project / "data" / "trials" / "synthetic.csv", rows)
    proc = run_workflow(project, "--configfile", "config/config.yaml")
    note = (
        f"Showing {MAX_THERAPIES} of {n} therapies and 1 of 1 conditions with the most "
        f"participants; all {n} analyses are in summary_of_findings.csv"
    )
    assert f"evidence map: {note}" in proc.stderr
    results = project / "results"
    sof = pd.read_csv(results / "tables" / "summary_of_findings.csv")
    assert len(sof) == n and "SYNTHETIC drug 00" in set(sof["therapy"])
    assert (results / "figures" / "evidence_map.svg").stat().st_size > 0
    page = (results / "report" / "summary_of_findings.html").read_text(encoding="utf-8")
    assert f"<strong>{note}.</strong>" in page
