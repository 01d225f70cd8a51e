"""A content-addressed cache of rendered per-analysis outputs (figures, report pages), also
holding the explore job's tables per batch of analyses (:mod:`trialmeta.pipeline.explore_batches`).

A figure job or the report job reruns when any of its analyses changed; without a cache it would
redraw every analysis of the job. Each entry is a directory ``<cache>/<analysis_id>.<key>/`` whose
``key`` is the digest of everything the output depends on (the analysis's rows, the settings, the
code: :func:`trialmeta.pipeline.plan.output_digest`, or a digest of the rendered inputs). An entry
is written to a temporary name and renamed into place, so a killed job never leaves a partial
entry; a reader sees a whole entry or none. Files are hard-linked in and out (copied across file
systems): outputs are never modified in place, so sharing inodes is safe.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["entry_dir", "missing", "restore", "store", "prune"]


def entry_dir(cache_dir, analysis_id: str, key: str) -> Path:
    return Path(cache_dir) / f"{analysis_id}.{key}"


def missing(cache_dir, keys: dict[str, str]) -> int:
    """How many of the entries ``{analysis_id: key}`` the cache does not hold (a directory test
    each; this module imports only the standard library until an entry is read or written)."""
    return sum(not entry_dir(cache_dir, aid, key).is_dir() for aid, key in keys.items())


def restore(cache_dir, analysis_id: str, key: str, out_dir) -> list[Path] | None:
    """Link the files of entry ``(analysis_id, key)`` into ``out_dir``; None when there is none."""
    from trialmeta.pipeline.jobs import replace_with_link

    entry = entry_dir(cache_dir, analysis_id, key)
    if not entry.is_dir():
        return None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(entry.iterdir()):
        replace_with_link(src, out_dir / src.name)
        written.append(out_dir / src.name)
    return written


def store(cache_dir, analysis_id: str, key: str, files) -> None:
    """Keep ``files`` (paths, or ``{name in the entry: path}``) as entry ``(analysis_id, key)``,
    atomically; an existing entry is kept."""
    from trialmeta.pipeline.jobs import link_or_copy

    entry = entry_dir(cache_dir, analysis_id, key)
    if entry.is_dir():
        return
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{analysis_id}.", dir=entry.parent))
    try:
        named = files.items() if isinstance(files, dict) else ((Path(f).name, f) for f in files)
        for name, f in named:
            link_or_copy(Path(f), tmp / name)
        os.rename(tmp, entry)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not entry.is_dir():
            raise


def prune(cache_dir, keep: dict[str, str]) -> int:
    """Remove the entries of the analyses in ``keep`` whose key is not ``keep[analysis_id]``, and
    their leftovers of interrupted writers. Other analyses' entries are left alone (another job
    may be writing them). Returns the number removed."""
    cache_dir = Path(cache_dir)
    if not cache_dir.is_dir():
        return 0
    removed = 0
    for d in cache_dir.iterdir():
        partial = d.name.startswith(".")  # .<analysis_id>.<random>: an interrupted store()
        aid, _, key = d.name.lstrip(".").partition(".")
        if aid in keep and (partial or key != keep[aid]):
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    return removed
