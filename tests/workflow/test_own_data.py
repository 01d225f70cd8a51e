"""A reviewer's own table runs first time with the README's own-data command, no file edited
`make run TRIALS=... RESULTS=...` on a table that has only the
data dictionary's columns (none of the shipped example's extra ones) pools it with the generic
config/config.yaml; the run ends with a summary (analyses pooled, warnings, the report); a bad
table ends the run with its problem list, printed last and once; figure jobs print progress;
provenance records paths relative to the project."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.workflow_project import ROOT, SNAKEMAKE, TRIALS, make_project, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

#: Data dictionary columns (data/README.md) kept from the shipped rows; therapy_class,
#: timepoint_weeks, biomarker_selected, year, nct_id, source_url and notes are left out.
COLUMNS = [
    "study_id",
    "therapy",
    "comparator",
    "condition",
    "outcome",
    "outcome_type",
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
    "higher_is_better",
]
GENERIC_GROUP_BY = ["therapy", "comparator", "condition", "outcome", "outcome_type"]


def readme_command() -> tuple[str, str]:
    """(TRIALS, RESULTS) of the README's own-data command `make run TRIALS='...' RESULTS=...`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Your own trials", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"^\s*make run TRIALS='([^']+)' RESULTS=(\S+)\s*$", section, flags=re.M)
    assert m, "the README's 'Your own trials' section gives no `make run TRIALS=... RESULTS=...`"
    return m.group(1), m.group(2)


def readme_snakemake_config() -> list[str]:
    """The --config arguments of the README's equivalent snakemake line."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Your own trials", 1)[1]
    m = re.search(r"\.venv/bin/snakemake (.*?)\n\s*```", section, flags=re.S)
    words = shlex.split(m.group(1).replace("\\\n", " "))
    return words[words.index("--config") + 1 :]


def write_own_table(project: Path, pattern: str, *, bad: bool = False) -> Path:
    """A few shipped rows (binary and continuous) with the data dictionary's columns only, at a
    path matching the README's TRIALS pattern. ``bad``: events_treat > n_treat in row 3."""
    with open(ROOT / TRIALS, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    chosen = rows[:8] + [r for r in rows if r["outcome_type"] == "continuous"][:2]
    chosen = [{c: r[c] for c in COLUMNS} for r in chosen]
    chosen[0]["mean_treat"] = "1.5"  # a cell of another outcome type: ignored, with a warning
    if bad:
        chosen[1]["events_treat"] = str(int(chosen[1]["n_treat"]) + 5)
    path = project / pattern.replace("*", "review")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(chosen)
    return path


def make_env() -> dict:
    """The environment for a `make` of our own: without the variables of an enclosing `make test`
    (MAKELEVEL makes make print "make[1]: Entering directory" and "make[1]: ***" lines)."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}


def make_run(project: Path, *variables: str) -> subprocess.CompletedProcess:
    """`make run VAR=...` in the project copy with the repository's Makefile; the set-up step
    is not remade (-o setup) and the repository's snakemake is used."""
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        if not (project / name).exists():
            shutil.copy2(ROOT / name, project / name)
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            "setup",
            "run",
            f"SNAKEMAKE={SNAKEMAKE}",
            *variables,
        ],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1500,
        env=make_env(),
    )


@pytest.fixture(scope="module")
def own_run():
    trials, results = readme_command()
    project = make_project()
    table = write_own_table(project, trials)
    proc = make_run(project, f"TRIALS={trials}", f"RESULTS={results}")
    assert proc.returncode == 0, proc.stdout[-6000:]
    return project, project / results, table, proc.stdout


def test_readme_command_pools_a_table_with_only_data_dictionary_columns(own_run):
    project, results, table, _ = own_run
    with open(table, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert not {"therapy_class", "biomarker_selected", "timepoint_weeks", "year"} & set(header)
    with open(results / "tables" / "pooled.csv", encoding="utf-8", newline="") as fh:
        pooled = list(csv.DictReader(fh))
    assert list(pooled[0])[: len(GENERIC_GROUP_BY)] == GENERIC_GROUP_BY
    assert {r["outcome_type"] for r in pooled} == {"binary", "continuous"}
    assert (results / "report" / "index.html").is_file()
    # no moderators named: no subgroup or meta-regression figures
    names = [p.name for p in (results / "figures" / "exploration").iterdir()]
    assert not [n for n in names if ".subgroups-" in n or ".bubble-" in n], names


def test_readme_snakemake_line_is_the_make_command():
    """The README's snakemake line passes what `make run TRIALS=... RESULTS=...` passes."""
    trials, results = readme_command()
    dry = subprocess.run(
        ["make", "-n", "-o", "setup", "run", f"TRIALS={trials}", f"RESULTS={results}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=make_env(),
    ).stdout
    words = shlex.split(dry.replace("\\\n", " "))
    assert "--configfile" not in words
    made = words[words.index("--config") + 1 :]
    assert made == [f'trials=["{trials}"]', f"results={results}"]
    assert readme_snakemake_config() == made
    plain = subprocess.run(
        ["make", "-n", "-o", "setup", "run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=make_env(),
    ).stdout
    assert "--configfile config/example.yaml" in plain  # plain `make run`: the shipped example


def test_run_ends_with_a_summary(own_run):
    _, results, _, output = own_run
    with open(results / "tables" / "warnings.csv", encoding="utf-8", newline="") as fh:
        warnings = [r["text"] for r in csv.DictReader(fh)]
    with open(results / "tables" / "pooled.csv", encoding="utf-8", newline="") as fh:
        primary = [r for r in csv.DictReader(fh) if r["primary"] == "True"]
    n, pooled = len(primary), sum(1 for r in primary if "single_study" not in r["status"])
    assert warnings and 0 < pooled < n  # the ignored cell; single-trial analyses
    lines = output.splitlines()
    not_pooled = f"({n - pooled} not pooled: one trial, too few or failed)"
    start = lines.index(f"trialmeta: {n} analyses, {pooled} pooled {not_pooled}")
    summary = lines[start : start + 3 + min(len(warnings), 5)]
    assert summary[1].startswith(f"trialmeta: {len(warnings)} warning(s) in ")
    assert summary[2 : 2 + min(len(warnings), 5)] == [f"  {w}" for w in warnings[:5]]
    report = (results / "report" / "index.html").resolve()
    assert summary[-1] == f"trialmeta: report: {report}"


def test_figure_jobs_report_progress_on_the_console(own_run):
    output = own_run[3]
    assert re.search(r"^\[figures_b\d+\] \d+ analyses \(figures\) to do$", output, flags=re.M)


def test_provenance_paths_are_relative_to_the_project(own_run):
    project, results, table, _ = own_run
    prov = json.loads((results / "provenance.json").read_text(encoding="utf-8"))
    assert [i["path"] for i in prov["inputs"]] == [table.relative_to(project).as_posix()]
    assert [c["path"] for c in prov["config_files"]] == ["config/config.yaml"]
    assert prov["config"]["group_by"] == GENERIC_GROUP_BY


def test_bad_table_ends_with_its_problem_list_once():
    trials, results = readme_command()
    project = make_project()
    table = write_own_table(project, trials, bad=True)
    proc = make_run(project, f"TRIALS={trials}", f"RESULTS={results}")
    assert proc.returncode != 0
    with open(table, encoding="utf-8", newline="") as fh:
        row = list(csv.DictReader(fh))[1]
    rel = table.relative_to(project).as_posix()
    problem = f"{rel}:3: events_treat={row['events_treat']} > n_treat={row['n_treat']}"
    lines = [
        line for line in proc.stdout.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\*", line)
    ]
    assert lines[-2:] == [
        "trialmeta: the run stopped on these input problems (fix them, rerun):",
        problem,
    ], proc.stdout[-3000:]
    assert proc.stdout.count(problem) == 1, proc.stdout[-6000:]
    assert "Traceback" not in proc.stdout
    assert not (project / results).exists()


def test_a_missing_column_named_explicitly_is_a_clear_error():
    """The generic config names no moderators; one the user names that the table lacks stops the
    run before anything runs, naming the key and the column."""
    trials, results = readme_command()
    project = make_project()
    write_own_table(project, trials)
    proc = snakemake(
        project,
        "-n",
        "--configfile",  # the generic config only (the helper adds the example's otherwise)
        "config/config.yaml",
        "--config",
        f'trials=["{trials}"]',
        f"results={results}",
        'subgroups=["biomarker_selected"]',
        check=False,
        timeout=600,
    )
    assert proc.returncode != 0
    expected = "config: subgroups[0]: column 'biomarker_selected' is not in the trial tables"
    assert any(line.startswith(expected) for line in proc.stderr.splitlines()), proc.stderr
    assert "group_by" not in proc.stderr and "metaregression" not in proc.stderr  # only that one
