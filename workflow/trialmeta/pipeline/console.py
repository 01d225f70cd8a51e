"""What a run prints at its end (the workflow's ``onsuccess:`` / ``onerror:`` handlers).

Standard library only: the handlers run in the Snakemake process, which never imports pandas.

* :func:`run_summary` - after a successful run: the analyses pooled, the number of warnings and
  the first few verbatim (``tables/warnings.csv``), where the report is.
* :func:`chunks_with_progress` - a long job's work in chunks, with a progress line on the
  console at most every 10 s (and at the end), so a long figure job is never silent.
* :func:`problem_lists` - after a failed run: the problem lists the failed steps wrote
  (:func:`trialmeta.pipeline.jobs.run_step` writes ``<log>.problems`` on a user error), printed
  last, once, after Snakemake's own messages (:func:`print_at_exit`).
"""

from __future__ import annotations

import atexit
import csv
import itertools
import logging
import os
import sys
import time
from pathlib import Path

__all__ = [
    "FIRST_WARNINGS",
    "PROBLEMS_SUFFIX",
    "run_summary",
    "crosscheck_lines",
    "problem_lists",
    "problems_path",
    "print_at_exit",
    "chunks_with_progress",
    "PROGRESS_LOGGER",
]

#: Records of this logger (and its children) go to the console (stderr) as well as to the log
#: file of a step (:func:`trialmeta.pipeline.jobs.run_step`), e.g. the progress of a long job.
PROGRESS_LOGGER = "trialmeta.progress"

#: How many warnings the summary quotes.
FIRST_WARNINGS = 5
#: Suffix of the problem list a step writes beside its log file on a user error.
PROBLEMS_SUFFIX = ".problems"

csv.field_size_limit(1 << 24)


def _rows(path: Path):
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh)
    except OSError:
        return


def _records(lines):
    """The rows of a CSV file's ``lines`` as lists of fields (a blank line: ``[]``), as
    ``csv.reader`` reads them: lines without a quote or CR (trialmeta's tables, unless a name
    holds a comma, quote or line break) are split on commas directly, about twice as fast; from
    the first line with one on (a row starts there), ``csv.reader`` reads the rest."""
    for line in lines:
        if '"' in line or "\r" in line:
            yield from csv.reader(itertools.chain([line], lines))
            return
        yield line.rstrip("\n").split(",") if line != "\n" else []


def _columns(path: Path, names: tuple):
    """Per row of the CSV file at ``path``, the values of the columns ``names`` as
    ``csv.DictReader`` gives them (None for a column the header or a short row lacks; no rows
    when the file cannot be read), without a dict per row (pooled.csv: tens of rows of ~60
    columns per analysis)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = _records(fh)
            where = {name: i for i, name in enumerate(next(rows, []))}  # a repeated name: its last
            index = [where.get(name, -1) for name in names]
            for row in rows:
                if row:  # DictReader skips blank lines
                    yield [row[i] if -1 < i < len(row) else None for i in index]
    except OSError:
        return


#: ``status`` values (trialmeta.stats.result.Status) of a primary row that pooled nothing.
NOT_POOLED = ("single_study", "failed")


def _was_pooled(ci_low, status) -> bool:
    return (ci_low or "") != "" and not any(
        s.startswith(NOT_POOLED) for s in (status or "").split(";")
    )


def _pooled_analyses(pooled_csv: Path) -> tuple[set, set]:
    """(every analysis id, those whose primary row is a pooled estimate)."""
    seen, pooled = set(), set()
    columns = ("analysis_id", "primary", "ci_low", "status")
    for analysis_id, primary, ci_low, status in _columns(pooled_csv, columns):
        seen.add(analysis_id)
        if primary in ("True", "true") and _was_pooled(ci_low, status):
            pooled.add(analysis_id)
    return seen, pooled


def run_summary(results, n_analyses: int | None = None, first: int = FIRST_WARNINGS) -> str:
    """The lines printed at the end of a successful run, from the published ``results``."""
    results = Path(results)
    seen, pooled = _pooled_analyses(results / "tables" / "pooled.csv")
    total = n_analyses if n_analyses is not None else len(seen)
    warnings = [
        r.get("text") or r.get("message") or "" for r in _rows(results / "tables" / "warnings.csv")
    ]
    lines = [
        f"trialmeta: {total} analyses, {len(pooled)} pooled"
        + (
            f" ({total - len(pooled)} not pooled: one trial, too few or failed)"
            if total > len(pooled)
            else ""
        )
    ]
    if warnings:
        shown = min(first, len(warnings))
        lines.append(
            f"trialmeta: {len(warnings)} warning(s) in {results / 'tables' / 'warnings.csv'}"
            + (f"; the first {shown}:" if shown < len(warnings) else ":")
        )
        lines += [f"  {w}" for w in warnings[:shown]]
    else:
        lines.append("trialmeta: no warnings")
    lines.append(f"trialmeta: report: {(results / 'report' / 'index.html').resolve()}")
    return "\n".join(lines)


def crosscheck_lines(summary_path) -> str:
    """The cross-check's closing lines (double programming) from the summary the
    crosscheck job wrote (trialmeta.tables.crosscheck): "independently reproduced: N of M", then a
    warning per disagreement without a known cause and the explained ones, each once."""
    import json

    try:
        with open(summary_path, encoding="utf-8") as fh:
            summary = json.load(fh)
    except (OSError, ValueError):
        return ""
    n, total = summary.get("n_reproduced", 0), summary.get("n_analyses", 0)
    if not total:
        return "trialmeta: cross-check: nothing to check (no random-effects result with k >= 2)"
    unexplained = summary.get("n_unexplained", 0)
    lines = [
        f"trialmeta: independently reproduced (PyMARE, statsmodels): {n} of {total} analyses"
        + (
            f"; {summary['n_explained']} more differ only for a known reason (below)"
            if summary.get("n_explained")
            else ""
        )
    ]
    if unexplained:
        lines.append(
            f"trialmeta: WARNING: {unexplained} cross-check disagreement(s) without a known cause"
        )
    flags = summary.get("flags") or {}
    lines += [f"  {aid}: {text}" for aid, texts in flags.items() for text in texts]
    notes = (summary.get("notes") or [])[1:]  # the first one is the "reproduced" line
    lines += [f"  note: {t}" for t in notes]
    return "\n".join(lines)


def problem_lists(logs_dir, since: float) -> str:
    """The problem lists written by steps that failed on input at or after ``since`` (epoch s)."""
    texts = []
    for path in sorted(Path(logs_dir).glob(f"*{PROBLEMS_SUFFIX}")):
        try:
            if path.stat().st_mtime >= since:
                texts.append(path.read_text(encoding="utf-8").rstrip("\n"))
        except OSError:
            continue
    texts = [t for t in texts if t]
    if not texts:
        return ""
    return "\n".join(
        ["trialmeta: the run stopped on these input problems (fix them, rerun):", *texts]
    )


def print_at_exit(text: str) -> None:
    """Print ``text`` to stderr when the process exits: after Snakemake's closing messages."""

    def _print():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        print(text, file=sys.stderr, flush=True)

    if text:
        atexit.register(_print)


def problems_path(log_path) -> Path:
    """Where :func:`trialmeta.pipeline.jobs.run_step` writes a step's problem list."""
    return Path(os.fspath(log_path) + PROBLEMS_SUFFIX)


def chunks_with_progress(items, name: str, *, chunk: int = 10, every: float = 10.0, what="items"):
    """Yield ``items`` in lists of ``chunk``; after a chunk, log ``done/total <what> done (s)`` to
    the console (:data:`PROGRESS_LOGGER`, logger ``<name>``) when ``every`` seconds passed since
    the last line, and at the end when the whole took a second or more. A first line says how many
    there are (``<total> <what> to do``)."""
    items = list(items)
    progress = logging.getLogger(f"{PROGRESS_LOGGER}.{name}")
    if items:
        progress.info("%d %s to do", len(items), what)
    started = last = time.perf_counter()
    for start in range(0, len(items), chunk):
        yield items[start : start + chunk]
        done, now = min(start + chunk, len(items)), time.perf_counter()
        if now - last >= every or (done == len(items) and now - started >= 1.0):
            progress.info("%d/%d %s done (%.0f s)", done, len(items), what, now - started)
            last = now
