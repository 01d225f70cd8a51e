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
from stat import S_ISREG

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
    parts = rel.split("/")
    if rel and not any(part in ("", ".", "..") for part in parts):
        return rel  # already what PurePosixPath(rel).as_posix() gives (no path object per file)
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"not a path inside the results directory: {rel!r}")
    return p.as_posix()


def _stat(path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _makedirs_once(folder: str, made: set[str]) -> None:
    """``os.makedirs(folder, exist_ok=True)``, once per folder of a publish (thousands of files
    share a few folders)."""
    if folder not in made:
        os.makedirs(folder, exist_ok=True)
        made.add(folder)


def _link_files(mapping: dict, staged: dict, results: Path) -> None:
    """Each staged file ``mapping[dest]`` becomes ``results/dest``
    (:func:`~trialmeta.pipeline.jobs.replace_with_link`); a destination that already is that file
    (``staged[dest]``: its stat) is left as it is, without a path object or a stat of the staged
    file per file (a one-row edit republishes 7,000 files, most of them unchanged links)."""
    made: set[str] = set()
    for dest in sorted(mapping):
        dst = os.path.join(results, dest)
        _makedirs_once(os.path.dirname(dst), made)
        have, src = _stat(dst), staged[dest]
        if have is not None and (have.st_ino, have.st_dev) == (src.st_ino, src.st_dev):
            continue  # already the same file
        replace_with_link(mapping[dest], dst)


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
    staged = {dest: _stat(src) for dest, src in mapping.items()}
    missing = [str(mapping[d]) for d, st in staged.items() if st is None or not S_ISREG(st.st_mode)]
    if missing:
        raise FileNotFoundError(f"staged files missing: {missing[:3]}")
    results.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(results)

    _link_files(mapping, staged, results)
    log.info("published %d files into %s", len(mapping), results)

    report_files: list[str] = []
    if report_dir is not None:
        report_dir = Path(report_dir)
        for leftover in results.glob(".report-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        new = results / f".report-new-{os.getpid()}"
        report_files = _files_under(report_dir)
        made: set[str] = set()
        for rel in report_files:
            dst = os.path.join(new, rel)
            _makedirs_once(os.path.dirname(dst), made)
            link_or_copy(os.path.join(report_dir, rel), dst)
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
