"""What a run prints at its end and while it runs (trialmeta.pipeline.console): the summary, the
problem list of a step that failed on input (and run_step writing it), progress lines."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trialmeta.pipeline.console import (
    PROGRESS_LOGGER,
    chunks_with_progress,
    problem_lists,
    problems_path,
    run_summary,
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_summary_counts_pooled_analyses_and_quotes_the_first_warnings(tmp_path):
    _write(
        tmp_path / "tables" / "pooled.csv",
        "analysis_id,primary,ci_low,status\n"
        "a,True,0.1,ok\na,False,0.2,ok\nb,True,0.3,ok;tau2_boundary\n"
        "c,True,0.4,single_study\nd,True,,failed:singular\n",
    )
    texts = [f"t.csv:{i}: warning number {i}" for i in range(2, 9)]
    _write(
        tmp_path / "tables" / "warnings.csv",
        "file,row,message,text\n" + "".join(f't.csv,{i},m,"{x}"\n' for i, x in enumerate(texts)),
    )
    lines = run_summary(tmp_path, 5).splitlines()
    assert (
        lines[0] == "trialmeta: 5 analyses, 2 pooled (3 not pooled: one trial, too few or failed)"
    )
    assert (
        lines[1]
        == f"trialmeta: 7 warning(s) in {tmp_path / 'tables' / 'warnings.csv'}; the first 5:"
    )
    assert lines[2:7] == [f"  {t}" for t in texts[:5]]
    assert lines[7] == f"trialmeta: report: {(tmp_path / 'report' / 'index.html').resolve()}"


def test_summary_without_warnings(tmp_path):
    _write(tmp_path / "tables" / "pooled.csv", "analysis_id,primary,ci_low,status\na,True,1,ok\n")
    _write(tmp_path / "tables" / "warnings.csv", "file,row,message,text\n")
    assert run_summary(tmp_path).splitlines()[:2] == [
        "trialmeta: 1 analyses, 1 pooled",
        "trialmeta: no warnings",
    ]


def test_summary_reads_quoted_fields_blank_lines_and_short_rows(tmp_path):
    # plain lines are split directly, from the first quote on csv.reader reads: same counts
    _write(
        tmp_path / "tables" / "pooled.csv",
        "therapy,analysis_id,primary,ci_low,status\n"
        "x,a,True,1,ok\n\n"
        'x,b,False,1,ok\n"drug, 10 mg\nsecond line",b,True,0.5,ok\n'
        '"say ""hi""",c,True,,failed\n'
        "x,d,True\n",
    )
    _write(tmp_path / "tables" / "warnings.csv", "file,row,message,text\n")
    assert run_summary(tmp_path).splitlines()[0] == (
        "trialmeta: 4 analyses, 2 pooled (2 not pooled: one trial, too few or failed)"
    )


def test_problem_lists_only_those_of_this_run(tmp_path):
    old = _write(problems_path(tmp_path / "explore.log"), "old.csv:2: stale\n")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    _write(problems_path(tmp_path / "validate.log"), "t.csv:3: events_treat=9 > n_treat=5\n")
    assert problem_lists(tmp_path, time.time() - 60).splitlines() == [
        "trialmeta: the run stopped on these input problems (fix them, rerun):",
        "t.csv:3: events_treat=9 > n_treat=5",
    ]
    assert problem_lists(tmp_path, time.time() + 60) == ""


def test_chunks_with_progress_logs_each_chunk_when_due(caplog):
    caplog.set_level(logging.INFO, logger=PROGRESS_LOGGER)
    chunks = list(chunks_with_progress(range(25), "figures_b000", chunk=10, every=0.0, what="x"))
    assert chunks == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "25 x to do"
    assert [m.split(" (")[0] for m in messages[1:]] == [
        "10/25 x done",
        "20/25 x done",
        "25/25 x done",
    ]
    caplog.clear()
    list(chunks_with_progress(range(25), "figures_b000", chunk=10, every=3600.0, what="x"))
    assert [r.getMessage() for r in caplog.records] == ["25 x to do"]  # fast: no progress lines


STEP = """
import sys, types
from trialmeta.inputs.errors import InputError, Problem
from trialmeta.pipeline.jobs import run_step
import logging

def main(snakemake, log):
    logging.getLogger("trialmeta.progress.step").info("3 analyses to do")
    raise InputError([Problem("t.csv", 3, "n_ctrl", "not a number", "ten")])

run_step(types.SimpleNamespace(log=[sys.argv[1]], rule="step"), main)
"""


@pytest.mark.parametrize("at_end", [False, True])
def test_run_step_writes_the_problem_list_and_prints_it_unless_the_workflow_does(tmp_path, at_end):
    log = tmp_path / "logs" / "step.log"
    env = {**os.environ, "TRIALMETA_PROBLEMS_AT_END": "1" if at_end else "0"}
    proc = subprocess.run(
        [sys.executable, "-c", STEP, str(log)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 1
    problem = "t.csv:3: n_ctrl='ten': not a number"
    assert problems_path(log).read_text(encoding="utf-8").strip() == problem
    assert "[step] 3 analyses to do" in proc.stderr.splitlines()  # progress on the console
    assert "3 analyses to do" in log.read_text(encoding="utf-8")  # and in the log
    printed = problem in proc.stderr.splitlines()
    assert printed is not at_end, proc.stderr
    assert (problem in log.read_text(encoding="utf-8")) is not at_end


DONE_STEP = """
import sys, types
from pathlib import Path
from trialmeta.pipeline.jobs import run_step

def main(snakemake, log):
    print("written to stdout, not flushed by a newline", end="")
    sys.stderr.write("written to stderr")
    log.info("main done")
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        fh.write("the output")

run_step(types.SimpleNamespace(log=[sys.argv[1]], rule="step"), main)
Path(sys.argv[3]).write_text("after run_step")  # never reached: the job has ended
"""


def test_a_finished_step_ends_at_once_with_its_log_console_and_outputs_complete(tmp_path):
    """Issue 16: a job skips Python's teardown (os._exit) once main has succeeded; nothing it
    wrote may be lost."""
    log, out, after = tmp_path / "step.log", tmp_path / "out.txt", tmp_path / "after.txt"
    proc = subprocess.run(
        [sys.executable, "-c", DONE_STEP, str(log), str(out), str(after)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "written to stdout, not flushed by a newline"
    assert "written to stderr" in proc.stderr
    text = log.read_text(encoding="utf-8")
    assert "main done" in text and "step seconds:" in text
    assert out.read_text(encoding="utf-8") == "the output"
    assert not after.exists()
