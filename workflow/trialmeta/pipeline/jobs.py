"""Input/output helpers for the workflow scripts (``workflow/scripts/*.py``).

* Every file is written atomically: to a temporary file in the destination directory, then
  ``os.replace``-d over the destination, so a killed job never leaves a half-written file.
* :func:`run_step` wraps a script's body: it logs to the rule's ``log:`` file, and turns a user
  error (:class:`~trialmeta.inputs.errors.InputError`, :class:`~trialmeta.inputs.errors.ConfigError`) into its
  message in the log and in ``<log>.problems`` (the workflow prints it last, once: its
  ``onerror:`` handler; outside the workflow it goes to stderr), exit status 1, no traceback.
  Anything else is a bug: the traceback goes to the log and to stderr. Records of the
  :data:`PROGRESS_LOGGER` logger also go to the console (progress of long jobs).
* Intermediate tables between jobs are Parquet (exact floats, types kept); the user-facing tables
  are written by :func:`trialmeta.pipeline.safe_csv.write_csv_safely` and Parquet.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from trialmeta.inputs.errors import ConfigError, InputError, Problem
from trialmeta.pipeline.console import PROGRESS_LOGGER, problems_path
from trialmeta.pipeline.garbage import freeze_job_start

__all__ = [
    "atomic_path",
    "link_or_copy",
    "replace_with_link",
    "write_json",
    "write_text",
    "write_parquet",
    "read_parquet",
    "problems_to_records",
    "problems_from_records",
    "run_step",
    "PROGRESS_LOGGER",
    "PROBLEMS_AT_END_ENV",
]

#: Set (to "1") by the workflow, whose ``onerror:`` handler prints the problem list of a step that
#: failed on input at the very end of the run; the step then does not print it itself.
PROBLEMS_AT_END_ENV = "TRIALMETA_PROBLEMS_AT_END"

PROBLEM_FIELDS = ("file", "row", "column", "value", "severity", "message")


def link_or_copy(src, dst) -> None:
    """Create ``dst`` as a hard link to ``src``; a copy where links are impossible (another file
    system). Outputs are never modified in place, so sharing an inode is safe."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def empty_dir(path) -> Path:
    """``path`` as an existing, empty directory (files a previous run left there removed)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    return out


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        # rename(2) does nothing when both names are hard links to one file: drop the temporary
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def replace_with_link(src, dst) -> None:
    """``dst`` becomes ``src`` (:func:`link_or_copy`), atomically: a reader sees the old file or
    the new one, never part of a copy. A new ``dst`` is linked in place (a link is atomic);
    otherwise the link or copy goes to a temporary name beside ``dst`` and replaces it."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() and os.path.samefile(src, dst):
        return  # already the same file (a restored or re-linked figure)
    if not dst.exists():
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    with atomic_path(dst) as tmp:
        os.unlink(tmp)
        link_or_copy(src, tmp)


def write_text(text: str, path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return Path(path)


def write_json(obj, path) -> Path:
    """Deterministic JSON: sorted keys, 2-space indent, UTF-8, trailing newline."""
    return write_text(
        json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n", path
    )


def write_parquet(df, path) -> Path:
    """Write a DataFrame to Parquet (no index, no pandas attrs, fixed writer settings)."""
    df = df.copy()
    df.attrs = {}
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
    return Path(path)


def read_parquet(path):
    import pandas as pd

    df = pd.read_parquet(path, engine="pyarrow")
    _release_arrow_memory()
    return df


def _release_arrow_memory() -> None:
    """Give the memory Arrow used while reading back to the system (its allocator keeps it
    otherwise: ~25 MB of a 1,000-analysis report job's peak; issue 16)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def read_rows_of(path, analysis_ids):
    """The rows of ``analysis_ids`` in a parquet table, as ``df[df["analysis_id"].isin(ids)]``
    of the whole table gives them (same rows, order, dtypes and index), without making the whole
    table a DataFrame: only the chosen rows leave Arrow's compact columns, so a job that needs
    its batch of a 10,000-analysis table holds ~1/64 of it in pandas (issue 16). A table without
    an ``analysis_id`` column gives no rows."""
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "analysis_id" not in table.column_names:
        return table.slice(0, 0).to_pandas()
    labels = _range_index(table)
    if labels is None:  # an index stored as columns: the whole table, then its rows
        df = table.to_pandas()
        df = df[df["analysis_id"].isin(list(analysis_ids))]
    else:
        ids = table.column("analysis_id").to_pandas()
        rows = np.flatnonzero(ids.isin(list(analysis_ids)).to_numpy())
        df = table.take(rows).to_pandas()
        df.index = labels[rows]
    del table
    _release_arrow_memory()
    return df


def _range_index(table):
    """The table's pandas index when it is a range (as pandas writes a default index), else
    None."""
    import pandas as pd

    meta = table.schema.pandas_metadata or {}
    index = meta.get("index_columns", [])
    if not index:
        return pd.RangeIndex(table.num_rows)
    if len(index) == 1 and isinstance(index[0], dict) and index[0].get("kind") == "range":
        return pd.RangeIndex(index[0]["start"], index[0]["stop"], index[0]["step"])
    return None


def problems_to_records(problems) -> list[dict]:
    """Problems as plain dicts (``text`` = the one-line message), sorted as InputError sorts."""
    out = []
    for p in sorted(problems, key=lambda p: (p.file, p.row or 0, p.column or "", p.message)):
        out.append(
            {
                "file": p.file,
                "row": p.row,
                "column": p.column,
                "value": p.value,
                "severity": p.severity,
                "message": p.message,
                "text": str(p),
            }
        )
    return out


def problems_from_records(records) -> list[Problem]:
    return [
        Problem(r["file"], r["row"], r["column"], r["message"], r["value"], r["severity"])
        for r in records
    ]


def _process_seconds() -> float:
    """Wall seconds since this process started (Python start-up and imports included)."""
    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except Exception:  # noqa: BLE001 - only used for a log line
        return float("nan")


def _cpu_seconds_and_peak_rss_mb() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of the processes it waited for (the
    report's forked workers, :mod:`trialmeta.pipeline.forked`) and the peak resident memory (MB)
    of this process so far; read by tests/benchmarks/bench_workflow.py for its per-stage table."""
    import resource

    use, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    cpu = use.ru_utime + use.ru_stime + children.ru_utime + children.ru_stime
    return cpu, use.ru_maxrss / 1024  # ru_maxrss: kB on Linux


def _user_error(exc) -> bool:
    return isinstance(exc, (InputError, ConfigError))


def _progress_to_console(rule: str) -> None:
    """Records of :data:`PROGRESS_LOGGER` also go to stderr (the console of a local run)."""
    progress = logging.getLogger(PROGRESS_LOGGER)
    for handler in list(progress.handlers):
        progress.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"[{rule}] %(message)s"))
    progress.addHandler(handler)


def _report_user_error(text: str, log_path, log) -> None:
    """The problem list of a user error: in ``<log>.problems``; in the workflow (which prints it
    at the end of the run, once) the log and stderr only point to it, else both get the list."""
    if log_path is not None:
        write_text(text + "\n", problems_path(log_path))
    if os.environ.get(PROBLEMS_AT_END_ENV) == "1" and log_path is not None:
        pointer = f"input problems: listed at the end of the run and in {problems_path(log_path)}"
        log.error("%s", pointer)
        print(f"trialmeta: {pointer}", file=sys.stderr, flush=True)
    else:
        log.error(text)
        print(text, file=sys.stderr, flush=True)


def run_step(snakemake, main) -> None:
    """Run ``main(snakemake, log)`` with the rule's log file; exit 1 with the message on user errors.

    A job script's last statement. When ``main`` has succeeded, the log is closed, the console
    flushed and the process ends at once (``os._exit(0)``) instead of tearing
    down what it built: every output is closed by then (written with ``with`` blocks or atomic
    writes), and freeing a job's tables, figures and modules one object at a time cost 0.3-0.5
    CPU-s per job, 16 times in a one-row edit (issue 16)."""
    log_path = Path(snakemake.log[0]) if len(snakemake.log) else None
    handlers: list[logging.Handler] = []
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
        problems_path(log_path).unlink(missing_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=handlers or None, force=True
    )
    _progress_to_console(snakemake.rule)
    logging.captureWarnings(True)
    log = logging.getLogger(f"trialmeta.{snakemake.rule}")
    started = time.perf_counter()
    freeze_job_start()  # the job's modules and settings: out of its garbage collections
    try:
        main(snakemake, log)
    except Exception as exc:  # noqa: BLE001 - user errors end the run with their message only
        if _user_error(exc):
            _report_user_error(str(exc), log_path, log)
            logging.shutdown()
            sys.exit(1)
        log.error("".join(traceback.format_exception(exc)))
        logging.shutdown()
        raise
    log.info(
        "step seconds: %.3f (process seconds: %.3f, cpu seconds: %.3f, peak rss MB: %.1f)",
        time.perf_counter() - started,
        _process_seconds(),
        *_cpu_seconds_and_peak_rss_mb(),
    )
    logging.shutdown()
    _exit_now()


def _exit_now() -> None:
    """End the process with status 0 without Python's teardown (:func:`run_step`)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken console: nothing left to flush
            pass
    os._exit(0)
