"""The workflow's plan: which analyses exist and what each one depends on, known at parse time.

The Snakefile treats the trial tables like a sample sheet: :func:`make_plan` reads them once,
lists the analyses (``analysis_id``, exactly as the validate job will assign them) and gives each
analysis a *digest*, the SHA-256 of

* the text of that analysis's rows (every cell as written, in file order; ``source_row`` is left
  out so inserting a trial above does not change the other analyses),
* the settings that change a result (the config without ``trials``/``results``/``report``),
* the code (:func:`code_digest`: every file of the ``trialmeta`` package and of
  ``workflow/scripts``, whose path the Snakefile passes in).

Each figure job writes a directory whose name carries the digest of its analyses
(:attr:`FigureBatch.digest`, from :func:`output_digest`) and takes the tables as ``ancient()``
input, so Snakemake reruns exactly the figure jobs holding an analysis whose rows, settings or code
changed (their new directory is missing), and nothing else. Analyses are split into figure *batches* by the hash part of their id
(:func:`figure_batches`): a batch's membership does not depend on the other analyses, so adding an
analysis leaves the other batches alone (unless the number of batches doubles).

Parse time matters (every cluster job parses the Snakefile again), so the plan is cached in a JSON
file keyed by the SHA-256 of the table files, ``group_by``, ``min_studies`` and the code: only the
first parse after a change imports pandas and reads the tables. After an edit that leaves every
row's file and ``group_by`` cells as they were (a number corrected), the rows keep the analyses
of the previous plan and the tables are not validated at parse time (the validate job does it);
see :func:`make_plan`. This module itself imports only the standard library (and, when called,
trialmeta.inputs.settings for the typed settings).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

__all__ = [
    "PLAN_VERSION",
    "code_digest",
    "sha256_file",
    "settings_digest",
    "make_plan",
    "figure_batches",
    "batch_index",
    "FigureBatch",
    "output_digest",
    "n_figure_batches",
    "ids_digest",
]

PLAN_VERSION = 2  # 2: basis, layout and row_analysis kept for the next build
#: The ``trialmeta`` package (this module is ``trialmeta/pipeline/plan.py``).
PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: Config keys that do not change any table, figure or page of an analysis.
_NOT_SETTINGS = ("trials", "results", "report", "compare_to", "changes_move_fraction")
#: Analyses per figure job aimed at: one Python start-up and table read (~1.9 CPU-s with the
#: bytecode that `make setup` compiles) per job against ~0.24 CPU-s of figures per analysis
#: (issue 16), so ~50 s jobs, 4% start-up (8 jobs of 125 analyses: 3.5% more CPU for 1,000
#: analyses and a 2-core run 3-5 s longer); a one-row edit redraws one analysis whatever the
#: batch size (render cache).
FIGURES_PER_JOB = 200
#: At least this many figure jobs when there are that many analyses (uses the cores of a laptop).
MIN_FIGURE_JOBS = 4


def sha256_file(path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _json(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def code_digest(scripts_dir=None) -> str:
    """SHA-256 over the source of the ``trialmeta`` package and of the rule scripts.

    ``scripts_dir`` is the workflow's ``scripts/`` directory (passed in by the Snakefile; the
    package does not look outside itself); None digests the package alone.

    Files are taken in sorted relative-path order (``__pycache__``, ``*.egg-info`` and compiled
    files skipped), each contributing its path and bytes, so any edit of the code, templates or
    static files changes the digest and reruns what depends on it.
    """
    h = hashlib.sha256()
    for base in (PACKAGE_DIR, None if scripts_dir is None else Path(scripts_dir)):
        if base is None or not base.is_dir():
            continue
        files = []
        for root, dirs, names in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info"))
            for name in names:
                if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                    continue
                files.append(Path(root) / name)
        for f in sorted(files, key=lambda p: p.relative_to(base).as_posix()):
            h.update(f"{base.name}/{f.relative_to(base).as_posix()}\0".encode())
            h.update(f.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def settings_digest(settings) -> str:
    """SHA-256 of the config keys that change results (all but trials, results, report).

    ``settings``: a :class:`~trialmeta.inputs.settings.Settings` or a config dict; the digest is
    taken over ``Settings.to_config()``, so the same settings give the same digest however they
    were written (defaults spelled out or not).
    """
    config = _settings(settings).to_config()
    chosen = {k: v for k, v in config.items() if k not in _NOT_SETTINGS}
    return hashlib.sha256(_json(chosen).encode()).hexdigest()


def _settings(config):
    from trialmeta.inputs.settings import Settings

    return Settings.coerce(config)


def ids_digest(analysis_ids) -> str:
    """SHA-256 of the sorted list of analysis ids (the validate job checks it against the plan)."""
    return hashlib.sha256(_json(sorted(analysis_ids)).encode()).hexdigest()


def _basis(settings, code: str) -> dict:
    """What decides the analyses besides the tables: the grouping, the validation settings and
    the code."""
    return {
        "plan_version": PLAN_VERSION,
        "group_by": list(settings.group_by),
        "min_studies": settings.min_studies,
        "duplicates": settings.duplicates,
        "code": code,
    }


def _cache_key(files, basis: dict) -> str:
    parts = {**basis, "files": [[str(f), sha256_file(f)] for f in files]}
    return hashlib.sha256(_json(parts).encode()).hexdigest()


def _layout(raw, group_by) -> str:
    """SHA-256 of what decides each row's analysis: the columns of the tables and, row by row,
    its file and its ``group_by`` cells (an analysis id is a function of those cells alone)."""
    columns = sorted(c for c in raw.columns if c != "source_row")
    cells = [raw[c].tolist() for c in ("source_file", *group_by) if c in raw]
    return hashlib.sha256(_json([columns, cells]).encode()).hexdigest()


def _analysis_digests(raw, ids) -> dict:
    """Each analysis's digest: the SHA-256 of its rows' cells (``source_row`` left out)."""
    columns = sorted(c for c in raw.columns if c != "source_row")
    cells = [raw[c].tolist() for c in columns]
    rows: dict[str, list[str]] = {}
    for i, aid in enumerate(ids):
        row = {c: str(cells[j][i]) for j, c in enumerate(columns)}
        rows.setdefault(aid, []).append(hashlib.sha256(_json(row).encode()).hexdigest())
    return {
        aid: hashlib.sha256("\n".join(digests).encode()).hexdigest()
        for aid, digests in sorted(rows.items())
    }


def _row_ids(raw, settings, basis: dict, layout: str, previous) -> list[str]:
    """Each row's analysis id: from the previous plan when its basis and layout are those of
    these tables (an edit of a number or a label outside ``group_by``: the rows keep their
    analyses), else by reading and validating the tables as the validate job does.

    Validation problems raise InputError/ConfigError; taking the ids from the previous plan
    skips the validation, which the validate job does anyway (and fails the run on).
    """
    from trialmeta.inputs.analyses import assign_analysis_ids
    from trialmeta.inputs.config import check_config_columns
    from trialmeta.inputs.validate import validate_trials

    group_by = list(settings.group_by)
    if _reusable(previous, basis, layout):
        analyses = sorted(previous["analyses"])
        return [analyses[i] for i in previous["row_analysis"]]
    check_config_columns(settings, raw)
    typed, _ = validate_trials(
        raw, group_by, min_studies=settings.min_studies, duplicates=settings.duplicates
    )
    return assign_analysis_ids(typed, group_by)["analysis_id"].tolist()


def _reusable(previous, basis: dict, layout: str) -> bool:
    return (
        isinstance(previous, dict)
        and previous.get("ok") is True
        and previous.get("basis") == basis
        and previous.get("layout") == layout
        and isinstance(previous.get("row_analysis"), list)
    )


def _build(files, settings, basis: dict, previous=None) -> dict:
    """Read the tables (imports pandas); the analyses, their row digests and each row's
    analysis (``row_analysis``: index into the sorted analysis ids, for the next build)."""
    from trialmeta.inputs.errors import ConfigError, InputError
    from trialmeta.inputs.ingest import load_trials

    try:
        raw = load_trials(list(files))
        layout = _layout(raw, list(settings.group_by))
        ids = _row_ids(raw, settings, basis, layout, previous)
    except ConfigError as exc:
        # e.g. a group_by column missing from the tables: the workflow stops at parse time
        return {"ok": False, "error": str(exc), "config_error": True, "analyses": {}}
    except InputError as exc:
        # Not cached: the validate job reports the same problems (and fails the run).
        return {"ok": False, "error": str(exc), "config_error": False, "analyses": {}}
    analyses = _analysis_digests(raw, ids)
    index = {aid: i for i, aid in enumerate(analyses)}
    return {
        "ok": True,
        "error": "",
        "config_error": False,
        "analyses": analyses,
        "basis": basis,
        "layout": layout,
        "row_analysis": [index[aid] for aid in ids],
    }


def _read_plan(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def make_plan(files, config, cache_dir, *, scripts_dir=None) -> dict:
    """The analyses of the trial tables, from the cache in ``cache_dir`` when it is current.

    Returns ``{"ok", "error", "config_error", "analyses": {analysis_id: row digest}, "code",
    "settings", "key"}``. When the tables cannot be read or validated, ``ok`` is False and
    ``analyses`` empty: the workflow then runs only up to the validate job, which reports every
    problem; ``config_error`` is True when the problem is in the config (a group_by, subgroups or
    metaregression column missing from the tables), which the Snakefile reports at once.

    When the tables changed but every row kept its file and ``group_by`` cells (a one-row edit
    of a number), the rows' analyses come from the previous plan and only the digests are
    recomputed (:func:`_row_ids`): the same plan as from scratch, without validating the
    tables a second time before the validate job does (~0.4 s per 10,000 rows, issue 16).
    """
    settings = _settings(config)
    code = code_digest(scripts_dir)
    basis = _basis(settings, code)
    key = _cache_key(files, basis)
    cache_dir = Path(cache_dir)
    cache = cache_dir / f"plan-{key[:24]}.json"
    plan = _read_plan(cache) if cache.is_file() else None
    if plan is None or plan.get("key") != key:
        previous = [_read_plan(p) for p in sorted(cache_dir.glob("plan-*.json"))]
        plan = _build(files, settings, basis, previous[0] if len(previous) == 1 else None)
        plan["key"] = key
        if plan["ok"]:
            _write_plan(plan, cache, cache_dir)
    plan["code"] = code
    plan["settings"] = settings_digest(settings)
    return plan


def _write_plan(plan: dict, cache: Path, cache_dir: Path) -> None:
    """The plan as the only file of ``cache_dir`` (written atomically)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    for old in cache_dir.glob("plan-*.json"):
        old.unlink(missing_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(plan, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, cache)


def output_digest(plan: dict, analysis_id: str, length: int = 12) -> str:
    """The digest of one analysis's figures: its rows, the settings and the code.

    Encoded in the output name of its figure job, this is what makes one edited row rerun one
    figure job: Snakemake reruns a job whose output is missing, while the tables are ``ancient()``
    inputs. (A digest in ``params`` is not enough: Snakemake 9 does not look at the params of a job
    downstream of a job that reruns when all the files connecting them are ancient.)
    """
    payload = [plan.get("code"), plan.get("settings"), plan["analyses"][analysis_id]]
    return hashlib.sha256(_json(payload).encode()).hexdigest()[:length]


class FigureBatch:
    """One figure job (rule ``figures_<name>``): a fixed set of analyses and each one's digest."""

    def __init__(self, index: int, n_batches: int, digests: dict[str, str]):
        self.index = index
        self.n_batches = n_batches
        self.digests = digests

    @property
    def analysis_ids(self) -> list[str]:
        return list(self.digests)

    @property
    def name(self) -> str:
        return f"b{self.index:03d}"

    @property
    def digest(self) -> str:
        """Digest of the batch: changes when any of its analyses changes (12 hex digits)."""
        return hashlib.sha256(_json(sorted(self.digests.items())).encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"FigureBatch({self.name}, {len(self.digests)} analyses)"


def n_figure_batches(
    n_analyses: int, per_job: int = FIGURES_PER_JOB, min_jobs: int = MIN_FIGURE_JOBS
) -> int:
    """A power of two: about ``n / per_job`` batches, at least ``min_jobs`` (never more than n).

    Powers of two keep batch membership stable while analyses are added (it changes only when
    the count doubles).
    """
    if n_analyses <= 0:
        return 0
    want = max(1, n_analyses // per_job)
    n = 1 << int(math.floor(math.log2(want)))
    n = max(n, min_jobs)
    while n > 1 and n // 2 >= n_analyses:
        n //= 2
    return n


def figure_batches(
    plan: dict, per_job: int = FIGURES_PER_JOB, min_jobs: int = MIN_FIGURE_JOBS
) -> list[FigureBatch]:
    """Split the plan's analyses into figure jobs by the hash suffix of their id."""
    analyses = plan.get("analyses", {})
    n = n_figure_batches(len(analyses), per_job, min_jobs)
    members: dict[int, dict[str, str]] = {}
    for aid in sorted(analyses):
        members.setdefault(batch_index(aid, n), {})[aid] = output_digest(plan, aid)
    return [FigureBatch(b, n, members[b]) for b in sorted(members)]


def batch_index(analysis_id: str, n_batches: int) -> int:
    """The batch (0 .. n_batches - 1) of an analysis: the hexadecimal suffix of its id (after
    the last ``-``) modulo ``n_batches``, else a hash of the id (:func:`figure_batches`; also
    the explore job's batches, trialmeta.pipeline.explore_batches)."""
    suffix = analysis_id.rsplit("-", 1)[-1]
    try:
        return int(suffix, 16) % n_batches
    except ValueError:
        return int(hashlib.sha256(analysis_id.encode()).hexdigest()[:12], 16) % n_batches
