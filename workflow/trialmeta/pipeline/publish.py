"""Publish a finished run from the staging area into the results directory, safely.

The workflow builds everything under a staging directory; :func:`publish_results` is the only code
that writes into ``results/``, and it runs last. Guarantees:

* every file is replaced atomically (:func:`trialmeta.pipeline.jobs.replace_with_link`: a hard link,
  or a copy when the directories are on different file systems, made under a temporary name in
  the destination directory and ``os.replace``-d over the old file), so a reader never sees a
  half-written file;
* the ``report/`` directory is swapped as a whole: the new report is assembled in
  ``results/.report-new-<pid>``, then ``report`` is renamed away and the new one renamed into its
  place, so the report's index and pages always belong to the same run;
* ``.trialmeta-manifest.json`` (written last) lists every file of the run; files listed by the
  previous manifest and absent from the new run are deleted (e.g. an analysis removed from the
  data), files the workflow never wrote are never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path, PurePosixPath

from trialmeta.pipeline.jobs import link_or_copy, replace_with_link

__all__ = ["publish_results", "read_manifest", "MANIFEST_NAME", "REPORT_DIR"]

MANIFEST_NAME = ".trialmeta-manifest.json"
REPORT_DIR = "report"


def _files_under(root: Path) -> list[str]:
    out = []
    for base, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            if name.startswith("."):
                continue  # temporary files of an interrupted writer
            out.append((Path(base) / name).relative_to(root).as_posix())
    return out


def _safe_relative(rel: str) -> str:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"not a path inside the results directory: {rel!r}")
    return p.as_posix()


def read_manifest(results) -> list[str]:
    """The files (relative paths) of the last published run, [] when there is none."""
    try:
        with open(Path(results) / MANIFEST_NAME, encoding="utf-8") as fh:
            return [str(f) for f in json.load(fh)["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def publish_results(files: dict, report_dir, results, *, log: logging.Logger | None = None) -> dict:
    """Publish a run into ``results``; returns the manifest ``{"files": [...]}``.

    ``files`` maps a path inside ``results`` (POSIX, relative) to the staged file to publish there;
    ``report_dir`` (or None) is the staged report directory, published as ``results/report``.
    """
    log = log or logging.getLogger(__name__)
    results = Path(results)
    mapping = {_safe_relative(dest): Path(src) for dest, src in files.items()}
    if any(dest == REPORT_DIR or dest.startswith(REPORT_DIR + "/") for dest in mapping):
        raise ValueError("report files are published through report_dir")
    missing = [str(src) for src in mapping.values() if not src.is_file()]
    if missing:
        raise FileNotFoundError(f"staged files missing: {missing[:3]}")
    results.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(results)

    for dest in sorted(mapping):
        replace_with_link(mapping[dest], results / dest)
    log.info("published %d files into %s", len(mapping), results)

    report_files: list[str] = []
    if report_dir is not None:
        report_dir = Path(report_dir)
        for leftover in results.glob(".report-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        new = results / f".report-new-{os.getpid()}"
        report_files = _files_under(report_dir)
        for rel in report_files:
            dst = new / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(report_dir / rel, dst)
        new.mkdir(exist_ok=True)
        target = results / REPORT_DIR
        old = results / f".report-old-{os.getpid()}"
        if target.exists():
            os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old, ignore_errors=True)
        log.info("report swapped in: %d files", len(report_files))

    published = sorted(list(mapping) + [f"{REPORT_DIR}/{rel}" for rel in report_files])
    keep = set(published)
    stale = []
    for rel in previous:
        if rel in keep or rel.startswith(REPORT_DIR + "/"):
            continue
        try:
            rel = _safe_relative(rel)
        except ValueError:
            continue
        stale.append(rel)
        with contextlib.suppress(FileNotFoundError):
            (results / rel).unlink()
    if stale:
        log.info("removed %d files of a previous run that this run does not produce", len(stale))

    manifest = {"files": published}
    tmp = results / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, results / MANIFEST_NAME)
    return manifest
