"""Helpers for the tests that run the real Snakemake workflow in a temporary copy of the project.

The workflow always runs through ``.venv/bin/snakemake`` in a subprocess, in a copy of
``workflow/ config/ data/ envs/`` (the trialmeta package is imported from the copy's workflow/).
:func:`shipped_run` runs the shipped data once per test process and caches the finished project;
tests that change files work on a :func:`clone` of it, so the run is shared by the workflow tests
(they are in one xdist group, hence one process).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = ROOT / ".venv" / "bin" / "snakemake"
if not SNAKEMAKE.exists():  # e.g. a venv elsewhere: the snakemake beside this interpreter
    SNAKEMAKE = Path(sys.executable).with_name("snakemake")
PROJECT_PARTS = ("workflow", "config", "data", "envs")
TRIALS = Path("data/trials/immunotherapy_trials.csv")
RUN_TIMEOUT = 1500
_TMP_ROOTS: list[str] = []


def _cleanup():
    for d in _TMP_ROOTS:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def tmp_dir(prefix: str) -> Path:
    d = tempfile.mkdtemp(prefix=f"trialmeta-{prefix}-")
    _TMP_ROOTS.append(d)
    return Path(d)


def make_project(dest: Path | None = None) -> Path:
    """A fresh copy of the project (no results, no .snakemake)."""
    dest = Path(dest) if dest is not None else tmp_dir("project") / "project"
    dest.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        shutil.copytree(
            ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    return dest


def clone(project: Path, name: str = "clone") -> Path:
    """A copy of a project with its results and Snakemake state (modification times kept)."""
    dest = tmp_dir(name) / "project"
    shutil.copytree(project, dest, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    return dest


#: What `make run` adds for the shipped example (its grouping and moderators); the workflow tests
#: run the shipped example this way unless they give a --configfile of their own.
EXAMPLE_CONFIG = ("--configfile", "config/example.yaml")


def snakemake_command(*args) -> list[str]:
    example = () if "--configfile" in args else EXAMPLE_CONFIG
    return [
        str(SNAKEMAKE),
        "--snakefile",
        "workflow/Snakefile",
        "--workflow-profile",
        "workflow/profiles/default",
        *example,
        *args,
    ]


def snakemake(project: Path, *args, check: bool = True, timeout: float = RUN_TIMEOUT, env=None):
    """Run snakemake in ``project``; returns the CompletedProcess (stdout, stderr as text).
    ``env``: environment variables set for this run on top of this process's."""
    proc = subprocess.run(
        snakemake_command(*args),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed with {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-8000:]}"
        )
    return proc


def run_workflow(project: Path, *args, **kw):
    return snakemake(project, "--cores", "2", *args, **kw)


@functools.cache
def shipped_run(name: str = "shipped", *, warm_start: bool = True) -> Path:
    """The project after a complete run from clean on the shipped data (do not modify it).
    ``warm_start=False``: every job in its own process (trialmeta.pipeline.warm_start)."""
    project = make_project(tmp_dir(name) / "project")
    run_workflow(project, env=None if warm_start else {"TRIALMETA_WARM_START": "0"})
    return project


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Rule -> number of jobs, from the 'Job stats' table of ``snakemake -n`` output."""
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal\s+\d+", dry_run_output, flags=re.S)
    if not m:
        return {}
    out = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def tree_digests(
    root: Path, *, include=("tables", "figures", "report", "provenance.json")
) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (relative path -> digest), limited to ``include``."""
    out = {}
    for part in include:
        p = root / part
        files = (
            [p]
            if p.is_file()
            else sorted(x for x in p.rglob("*") if x.is_file())
            if p.is_dir()
            else []
        )
        for f in files:
            out[f.relative_to(root).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def edit_cell(
    project: Path, study_id: str, column: str, new_value: str, table: Path = TRIALS
) -> str:
    """Change one cell of the trial table (the row whose study_id matches); returns the old value."""
    import csv
    import io

    path = project / table
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    col = header.index(column)
    hits = [r for r in rows[1:] if r and r[0] == study_id]
    assert len(hits) == 1, f"{study_id!r}: {len(hits)} rows"
    old, hits[0][col] = hits[0][col], new_value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return old


def analysis_of(project: Path, study_id: str, outcome: str | None = None) -> str:
    """The analysis_id of a trial row of the shipped table (group_by of config/example.yaml)."""
    import csv

    import yaml

    from trialmeta.inputs.analyses import analysis_id

    cfg = yaml.safe_load((project / "config" / "example.yaml").read_text(encoding="utf-8"))
    with open(project / TRIALS, encoding="utf-8", newline="") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["study_id"] == study_id and (outcome is None or r["outcome"] == outcome)
        ]
    assert len(rows) == 1
    return analysis_id([rows[0][c] for c in cfg["group_by"]])
