"""One comparison engine for two results directories: "what changed" and the CI gate.

* :func:`changes_rows` - a living review's change log (``results/tables/changes.csv`` and
  ``results/changes.json``, written by the workflow's ``changes`` rule): trials added, removed or
  edited (one row per changed column, old -> new), analyses added or removed, the primary result
  of every analysis and measure (k, estimate, CI, PI, tau², I²) old -> new, conclusion flags, and
  the settings, code, package and git changes, so a change of method is not read as new evidence.
* :func:`check_dirs` / :func:`check_main` (``trialmeta-check NEW REF``, ``make check``) - exit 0
  when every number of NEW agrees with REF within tolerances and every other file is
  byte-identical (provenance's volatile fields ignored), 1 otherwise, naming the first
  differences by table, analysis and column.

Trials are identified by ``analysis_id`` + ``study_id`` (never by row number: inserting a row
above another does not make it "edited"); their content is the trial columns of ``studies.csv``
(:data:`TRIAL_DATA_COLUMNS` and the grouping columns; the effect sizes derived from them, and
``source_row``, are left out of the comparison).

The standard library only at import time: :func:`changes_line` runs in the Snakemake process.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import math
import os
import re
import sys
from pathlib import Path

__all__ = [
    "CHANGES_COLUMNS",
    "CLOSED_FORM",
    "ITERATIVE",
    "ITERATIVE_COLUMNS",
    "RESULT_COLUMNS",
    "Tolerances",
    "changes_rows",
    "changes_record",
    "changes_line",
    "changes_key",
    "baseline_key",
    "check_dirs",
    "check_main",
    "complete_results",
    "write_changes",
]

#: Columns of changes.csv (documented in the README's table list).
CHANGES_COLUMNS = [
    "kind",
    "analysis_id",
    "measure",
    "study_id",
    "source",
    "column",
    "old",
    "new",
    "flag",
    "note",
]
#: The primary result columns compared per analysis and measure.
RESULT_COLUMNS = ["k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "I2"]
#: studies.csv columns that hold a trial row's data (with the grouping columns, those before
#: ``analysis_id``, they are its content; effect sizes and CIs are derived from them). Rows with
#: none of them (generic rows: their own yi, sei) are compared on yi and sei.
TRIAL_DATA_COLUMNS = (
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
)
#: Provenance fields compared as "settings or code" changes (kind: what they are).
PROVENANCE_FIELDS = {
    "config_settings_sha256": "settings",
    "trialmeta_code_sha256": "code",
}
#: Config keys that never change a result (not listed as setting changes).
NOT_SETTINGS = ("trials", "results", "report", "compare_to", "changes_move_fraction")

#: tau² estimators and their kind: closed form (one formula) or iterative (a solver; its result
#: agrees only to the solver's tolerance). The CI gate's relative tolerance follows this table.
CLOSED_FORM = ("DL", "HE", "HS", "SJ")
ITERATIVE = ("REML", "ML", "PM", "EB", "PL", "GENQ")
#: Columns found by root finding whatever the estimator (Q-profile / profile-likelihood limits).
ITERATIVE_COLUMNS = (
    "tau2_ci_low",
    "tau2_ci_high",
    "tau_ci_low",
    "tau_ci_high",
    "I2_ci_low",
    "I2_ci_high",
    "H2_ci_low",
    "H2_ci_high",
)
#: Tables whose every number comes from an iterative fit (meta-regression: REML by default;
#: trim-and-fill: an iterative fill).
ITERATIVE_TABLES = ("metaregression", "small_study")
#: Files of a results directory that depend on the baseline, not the run (never byte-compared).
BASELINE_FILES = ("tables/changes.csv", "changes.json", "report/changes.html")


# ----------------------------------------------------------------------- results directories
def complete_results(results) -> bool:
    """True when ``results`` holds every file its manifest (``.trialmeta-manifest.json``) lists."""
    results = Path(results)
    try:
        files = json.loads((results / ".trialmeta-manifest.json").read_text("utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    root = str(results)  # os.path, not pathlib: a results directory lists thousands of files
    return all(os.path.isfile(os.path.join(root, f)) for f in files)


def baseline_key(results) -> str:
    """A cheap signature of a complete results directory ("none" otherwise): what makes the
    ``changes`` rule rerun when the directory it compares against is replaced."""
    results = Path(results)
    if not complete_results(results):
        return "none"
    h = hashlib.sha256()
    for rel in (".trialmeta-manifest.json", "provenance.json", "tables/pooled.csv"):
        st = (results / rel).stat()
        h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


def changes_key(baseline, results, published) -> str:
    """The ``changes`` rule's parameter that reruns it when its baseline directory is replaced:
    :func:`baseline_key` of ``baseline``, except after this workflow's own publish into it
    (``published``: the publish job's record, holding the key it compared with and the key of the
    results as it published them), where the key the last comparison was made with is kept."""
    key = baseline_key(baseline)
    if os.path.normpath(baseline) != os.path.normpath(results):
        return key
    try:
        with open(published, encoding="utf-8") as fh:
            record = json.load(fh)["changes_baseline"]
    except (OSError, ValueError, KeyError, TypeError):
        return key
    return record["compared"] if record.get("published") == key else key


def _read_csv(path, usecols=None):
    """A table as text (empty cells ``""``); ``usecols``: the columns to read (a predicate on
    the name), all by default. Python strings (``object``): the comparison reads them one by one,
    and Arrow-backed ``str`` columns would cost a conversion each way."""
    import pandas as pd

    return pd.read_csv(path, dtype=object, keep_default_na=False, usecols=usecols)


def _read_pooled(path):
    """The columns of pooled.csv the comparison reads (of 50+: parsing the rest is most of the
    job's time at scale)."""
    wanted = {"analysis_id", "measure", "primary", *RESULT_COLUMNS}
    return _read_csv(path, usecols=lambda c: c in wanted)


def _read_studies(path):
    """The columns of studies.csv :func:`_trial_rows` reads: the grouping columns (those before
    ``analysis_id``), the ids, the trial data, ``yi``/``sei`` and the source."""
    import pandas as pd

    header = list(pd.read_csv(path, dtype=str, nrows=0).columns)
    groups = header[: header.index("analysis_id")] if "analysis_id" in header else []
    wanted = {*groups, "analysis_id", "study_id", *TRIAL_DATA_COLUMNS, "yi", "sei"}
    wanted |= {"source_file", "source_row"}
    return _read_csv(path, usecols=lambda c: c in wanted)


def _records(df) -> list[dict]:
    """``df.to_dict("records")``, built from whole columns (``Series.tolist``): the same dicts,
    several times faster for the string columns of a table read as text."""
    cols = list(df.columns)
    return [dict(zip(cols, values)) for values in zip(*(df[c].tolist() for c in cols))]


def _provenance(results) -> dict:
    try:
        return json.loads((Path(results) / "provenance.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def _num(text):
    try:
        x = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _row(kind, **kw) -> dict:
    out = dict.fromkeys(CHANGES_COLUMNS, "")
    out["kind"] = kind
    out.update({k: "" if v is None else str(v) for k, v in kw.items()})
    return out


# ----------------------------------------------------------------------- trials
def _trial_rows(studies) -> dict:
    """(analysis_id, study_id) -> the trial's row of studies.csv (a dict of its text cells; the
    first row of a trial that has several)."""
    rows = _records(studies.drop_duplicates(["analysis_id", "study_id"]))
    return {(rec["analysis_id"], rec["study_id"]): rec for rec in rows}


def _trial_content(rec: dict, columns: list) -> dict:
    """A trial's content: the grouping columns (those before ``analysis_id``) and its data
    (``yi``/``sei`` for a row with no trial data)."""
    groups = columns[: columns.index("analysis_id")] if "analysis_id" in columns else []
    data = [c for c in TRIAL_DATA_COLUMNS if c in columns]
    content = groups + (data if any(rec[c] for c in data) else ["yi", "sei"])
    return {c: rec.get(c) for c in content}


def _trial_source(rec: dict) -> str:
    return f"{rec.get('source_file', '')}:{rec.get('source_row', '')}".strip(":")


def _trial_edits(aid, sid, before: dict, after: dict, source: str) -> list[dict]:
    """One ``trial_edited`` row per column whose content differs."""
    return [
        _row(
            "trial_edited",
            analysis_id=aid,
            study_id=sid,
            source=source,
            column=col,
            old=before.get(col),
            new=after.get(col),
        )
        for col in sorted(set(before) | set(after))
        if before.get(col) != after.get(col)
    ]


def trial_changes(old_studies, new_studies) -> list[dict]:
    """Trials added, removed or edited (one row per changed column), per analysis. Trials whose
    rows are the same text in both tables (of the same columns) are not compared further."""
    old, new = _trial_rows(old_studies), _trial_rows(new_studies)
    old_cols, new_cols = list(old_studies.columns), list(new_studies.columns)
    same_columns = old_cols == new_cols
    rows = []
    for key in sorted(set(old) | set(new)):
        aid, sid = key
        if key not in old:
            rows.append(
                _row("trial_added", analysis_id=aid, study_id=sid, source=_trial_source(new[key]))
            )
        elif key not in new:
            rows.append(
                _row("trial_removed", analysis_id=aid, study_id=sid, source=_trial_source(old[key]))
            )
        elif not (same_columns and old[key] == new[key]):
            before, after = _trial_content(old[key], old_cols), _trial_content(new[key], new_cols)
            rows += _trial_edits(aid, sid, before, after, _trial_source(new[key]))
    return rows


# ----------------------------------------------------------------------- analyses
def _primary(pooled) -> dict:
    rows = pooled[pooled["primary"].isin(["True", "true"])]
    return {(r["analysis_id"], r["measure"]): r for r in _records(rows)}


def _differs(a, b) -> bool:
    x, y = _num(a), _num(b)
    if x is None or y is None:
        return (a or "") != (b or "")
    return abs(x - y) > 1e-12 * max(abs(x), abs(y), 1e-300) and abs(x - y) > 1e-15


def _excludes_null(r) -> bool | None:
    lo, hi = _num(r.get("ci_low")), _num(r.get("ci_high"))
    if lo is None or hi is None:
        return None
    return lo > 0 or hi < 0


def conclusion_flags(old: dict, new: dict, move_fraction: float) -> list[tuple[str, str]]:
    """(flag, note) pairs: CI across no effect, direction, a move beyond ``move_fraction`` of the
    old CI width. Estimates are on the analysis scale (log for ratios), so no effect is 0."""
    flags = []
    before, after = _excludes_null(old), _excludes_null(new)
    if before is not None and after is not None and before != after:
        flags.append(
            ("ci_now_excludes_no_effect", "the CI no longer contains no effect")
            if after
            else ("ci_no_longer_excludes_no_effect", "the CI now contains no effect")
        )
    e0, e1 = _num(old.get("estimate")), _num(new.get("estimate"))
    if e0 is not None and e1 is not None:
        if e0 * e1 < 0:
            flags.append(("direction_changed", "the estimate changed sign"))
        lo, hi = _num(old.get("ci_low")), _num(old.get("ci_high"))
        width = (hi - lo) if lo is not None and hi is not None else None
        if width and abs(e1 - e0) > move_fraction * width:
            flags.append(
                (
                    "estimate_moved",
                    f"moved by {abs(e1 - e0) / width:.2f} of the old CI width "
                    f"(threshold {move_fraction:g})",
                )
            )
    return flags


def analysis_changes(old_pooled, new_pooled, move_fraction: float) -> list[dict]:
    """Analyses added or removed; per analysis and measure the primary result old -> new."""
    old, new = _primary(old_pooled), _primary(new_pooled)
    rows = []
    old_ids, new_ids = {k[0] for k in old}, {k[0] for k in new}
    rows += [_row("analysis_added", analysis_id=a) for a in sorted(new_ids - old_ids)]
    rows += [_row("analysis_removed", analysis_id=a) for a in sorted(old_ids - new_ids)]
    for key in sorted(set(old) & set(new)):
        aid, measure = key
        o, n = old[key], new[key]
        for col in RESULT_COLUMNS:
            if col in o and col in n and _differs(o[col], n[col]):
                rows.append(
                    _row(
                        "result",
                        analysis_id=aid,
                        measure=measure,
                        column=col,
                        old=o[col],
                        new=n[col],
                    )
                )
        for flag, note in conclusion_flags(o, n, move_fraction):
            rows.append(
                _row(
                    "conclusion",
                    analysis_id=aid,
                    measure=measure,
                    column="estimate [ci_low, ci_high]",
                    old=f"{o['estimate']} [{o['ci_low']}, {o['ci_high']}]",
                    new=f"{n['estimate']} [{n['ci_low']}, {n['ci_high']}]",
                    flag=flag,
                    note=note,
                )
            )
    return rows


# ----------------------------------------------------------------------- settings and code
def setting_changes(old: dict, new: dict) -> list[dict]:
    """Settings (config keys that change results), code, package versions and git commit."""
    rows = []
    oc, nc = old.get("config") or {}, new.get("config") or {}
    for key in sorted((set(oc) | set(nc)) - set(NOT_SETTINGS)):
        if oc.get(key) != nc.get(key):
            rows.append(
                _row(
                    "setting",
                    column=key,
                    old=json.dumps(oc.get(key)),
                    new=json.dumps(nc.get(key)),
                    note="a change of method, not new evidence",
                )
            )
    for field, kind in PROVENANCE_FIELDS.items():
        if old.get(field) != new.get(field) and (kind != "settings" or not rows):
            rows.append(_row(kind, column=field, old=old.get(field), new=new.get(field)))
    op, np_ = old.get("packages") or {}, new.get("packages") or {}
    for name in sorted(set(op) | set(np_)):
        if op.get(name) != np_.get(name):
            rows.append(_row("package", column=name, old=op.get(name), new=np_.get(name)))
    og, ng = (old.get("git") or {}).get("commit"), (new.get("git") or {}).get("commit")
    if og != ng:
        rows.append(_row("git", column="commit", old=og, new=ng))
    return rows


def changes_rows(baseline, new_tables, new_provenance: dict, move_fraction: float) -> list[dict]:
    """Every change from the complete results directory ``baseline`` to this run (its staged
    ``new_tables`` directory holding pooled.csv and studies.csv, and its provenance record)."""
    baseline, new_tables = Path(baseline), Path(new_tables)
    rows = setting_changes(_provenance(baseline), new_provenance)
    rows += trial_changes(
        _read_studies(baseline / "tables" / "studies.csv"),
        _read_studies(new_tables / "studies.csv"),
    )
    rows += analysis_changes(
        _read_pooled(baseline / "tables" / "pooled.csv"),
        _read_pooled(new_tables / "pooled.csv"),
        move_fraction,
    )
    return rows


def _count(rows, kind) -> int:
    return sum(r["kind"] == kind for r in rows)


def changes_record(rows: list[dict], baseline: str | None, previous: dict | None) -> dict:
    """The content of changes.json: this run's entry first, then the baseline's history (newest
    first, at most 20 entries)."""
    summary = {
        "trials_added": _count(rows, "trial_added"),
        "trials_removed": _count(rows, "trial_removed"),
        "trials_edited": len(
            {(r["analysis_id"], r["study_id"]) for r in rows if r["kind"] == "trial_edited"}
        ),
        "analyses_added": _count(rows, "analysis_added"),
        "analyses_removed": _count(rows, "analysis_removed"),
        "results_changed": len({r["analysis_id"] for r in rows if r["kind"] == "result"}),
        "conclusions_flagged": _count(rows, "conclusion"),
        "method_changes": sum(r["kind"] in ("setting", "code", "package", "git") for r in rows),
    }
    entry = {"baseline": baseline, "summary": summary, "changes": rows}
    history = list((previous or {}).get("history") or [])
    return {**entry, "history": [entry_without_history(entry), *history][:20]}


#: Rows of one run kept in the history of changes.json (the run's own changes.csv has them all).
HISTORY_ROWS = 1000


def entry_without_history(entry: dict) -> dict:
    """One run of the history: its baseline, summary and first :data:`HISTORY_ROWS` rows."""
    rows = entry["changes"]
    out = {
        "baseline": entry["baseline"],
        "summary": entry["summary"],
        "changes": rows[:HISTORY_ROWS],
    }
    if len(rows) > HISTORY_ROWS:
        out["rows_not_kept"] = len(rows) - HISTORY_ROWS
    return out


def summary_text(record: dict) -> str:
    """One line: what changed since the baseline."""
    if not record.get("baseline"):
        return "no earlier complete results to compare with"
    s = record.get("summary") or {}
    parts = [
        f"{s.get('trials_added', 0)} trial(s) added",
        f"{s.get('trials_removed', 0)} removed",
        f"{s.get('trials_edited', 0)} edited",
        f"{s.get('results_changed', 0)} analyses with changed results",
        f"{s.get('conclusions_flagged', 0)} conclusion flag(s)",
    ]
    if s.get("analyses_added") or s.get("analyses_removed"):
        parts.append(f"analyses +{s.get('analyses_added', 0)}/-{s.get('analyses_removed', 0)}")
    if s.get("method_changes"):
        parts.append(f"{s['method_changes']} settings/code change(s)")
    return ", ".join(parts)


def changes_line(results) -> str:
    """The console line at the end of a run (from the published ``changes.json``)."""
    path = Path(results) / "changes.json"
    try:
        record = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return ""
    if not record.get("baseline"):
        return f"trialmeta: changes: {summary_text(record)}"
    where = Path(results) / "tables" / "changes.csv"
    return f"trialmeta: changes since {record['baseline']}: {summary_text(record)} ({where})"


# ----------------------------------------------------------------------- the CI gate
class Tolerances:
    """Relative tolerances of the CI gate: ``closed`` for closed-form results (DL, HE, HS, SJ and
    every non-tau² statistic), ``iterative`` for results of a solver (:data:`ITERATIVE`,
    :data:`ITERATIVE_COLUMNS`, :data:`ITERATIVE_TABLES`); ``atol`` for values that are 0 in one
    run; ``columns`` overrides per column name; ``ignore`` globs of files not compared."""

    def __init__(self, closed=1e-10, iterative=1e-8, atol=1e-13, columns=None, ignore=()):
        self.closed, self.iterative, self.atol = float(closed), float(iterative), float(atol)
        self.columns = {k: float(v) for k, v in (columns or {}).items()}
        self.ignore = tuple(ignore)

    @classmethod
    def from_file(cls, path, **override):
        """From a YAML/JSON file with keys closed, iterative, atol, columns, ignore."""
        import yaml

        data = yaml.safe_load(Path(path).read_text("utf-8")) or {}
        data.update({k: v for k, v in override.items() if v is not None})
        return cls(**data)

    def rtol(self, table: str, column: str, row: dict) -> float:
        if column in self.columns:
            return self.columns[column]
        iterative = (
            table in ITERATIVE_TABLES
            or column in ITERATIVE_COLUMNS
            or str(row.get("tau2_method", "")) in ITERATIVE
            or str(row.get("ci_method", "")).upper() == "PL"
        )
        return self.iterative if iterative else self.closed


#: provenance.json fields that differ between two runs of the same inputs (never compared).
VOLATILE_PROVENANCE = (
    "command",
    "git",
    "platform",
    "python",
    "packages",
    "config_files",
    "trialmeta_code_sha256",
)
VOLATILE_CONFIG = ("results", "compare_to")


def _files(results: Path) -> set[str]:
    manifest = results / ".trialmeta-manifest.json"
    try:
        return set(json.loads(manifest.read_text("utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return {p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file()}


def _where(table: str, row: dict, i: int) -> str:
    keys = [f"{k}={row[k]}" for k in ("analysis_id", "study_id", "measure", "model") if row.get(k)]
    keys += [f"{k}={row[k]}" for k in ("tau2_method", "ci_method") if row.get(k)]
    return f"{table}: row {i + 1}" + (f" ({', '.join(keys)})" if keys else "")


def _close(a: str, b: str, rtol: float, atol: float) -> bool:
    if a == b:
        return True
    x, y = _num(a), _num(b)
    if x is None or y is None:
        return a.lower() in ("", "nan") and b.lower() in ("", "nan")
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= rtol * max(abs(x), abs(y)) + atol


def compare_table(name: str, new, ref, tol: Tolerances) -> list[str]:
    """Differences between two tables (DataFrames of str), row by row and column by column."""
    table = Path(name).stem
    if list(new.columns) != list(ref.columns):
        return [f"{name}: columns differ: {list(new.columns)} != {list(ref.columns)}"]
    if len(new) != len(ref):
        return [f"{name}: {len(new)} rows != {len(ref)} rows in the reference"]
    out = []
    for i, (a, b) in enumerate(zip(new.to_dict("records"), ref.to_dict("records"), strict=True)):
        for col in new.columns:
            if not _close(a[col], b[col], tol.rtol(table, col, b), tol.atol):
                out.append(
                    f"{_where(name, b, i)}: column {col}: {a[col]} != {b[col]} (reference)"
                    f" [rtol {tol.rtol(table, col, b):g}]"
                )
    return out


def _as_str_table(path: Path):
    import pandas as pd

    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
        return (
            df.astype(object)
            .where(df.notna(), "")
            .map(lambda v: repr(float(v)) if isinstance(v, float) else str(v))
        )
    return _read_csv(path)


def _compare_provenance(new: Path, ref: Path) -> list[str]:
    a, b = (json.loads(p.read_text("utf-8")) for p in (new, ref))
    for d in (a, b):
        for k in VOLATILE_PROVENANCE:
            d.pop(k, None)
        for k in VOLATILE_CONFIG:
            (d.get("config") or {}).pop(k, None)
    a.update({f"config.{k}": v for k, v in (a.pop("config", None) or {}).items()})
    b.update({f"config.{k}": v for k, v in (b.pop("config", None) or {}).items()})
    return [
        f"provenance.json: {k}: {json.dumps(a.get(k))[:200]} != {json.dumps(b.get(k))[:200]}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


#: The report's provenance table rows of the volatile fields (masked before the byte comparison).
_VOLATILE_ROW = re.compile(
    rb"(<tr><td><bdi>(?:"
    + b"|".join(
        re.escape(k.encode()) + rb"(?:[.\[][^<]*)?"
        for k in (*VOLATILE_PROVENANCE, *(f"config.{c}" for c in VOLATILE_CONFIG))
    )
    + rb")</bdi></td>).*?</tr>"
)


def _report_bytes(path: Path) -> bytes:
    return _VOLATILE_ROW.sub(rb"\1(volatile)</tr>", path.read_bytes())


def compare_file(rel: str, new: Path, ref: Path, tol: Tolerances) -> list[str]:
    """Differences of one file present in both directories."""
    if rel == "provenance.json":
        return _compare_provenance(new, ref)
    if rel.startswith("tables/") and rel.endswith((".csv", ".parquet")):
        return compare_table(rel, _as_str_table(new), _as_str_table(ref), tol)
    if rel.endswith(".html"):
        if _report_bytes(new) != _report_bytes(ref):
            return [f"{rel}: the pages differ (provenance's volatile rows masked)"]
        return []
    if new.read_bytes() != ref.read_bytes():
        return [f"{rel}: the files differ (byte comparison)"]
    return []


def _file_order(rel: str) -> tuple:
    """Tables first (pooled, studies, then the others), provenance, then figures and report."""
    first = ("tables/pooled.csv", "tables/studies.csv")
    rank = first.index(rel) if rel in first else 2 if rel.startswith("tables/") else 3
    return (rank, rel != "provenance.json", rel)


def check_dirs(new, ref, tol: Tolerances | None = None) -> list[str]:
    """Every difference between the results directories ``new`` and ``ref``."""
    tol = tol or Tolerances()
    new, ref = Path(new), Path(ref)
    skip = (*BASELINE_FILES, *tol.ignore)
    a, b = _files(new), _files(ref)
    out = []
    for rel in sorted(a | b, key=_file_order):
        if any(fnmatch.fnmatch(rel, pat) for pat in skip):
            continue
        if rel not in b:
            out.append(f"{rel}: only in {new}")
        elif rel not in a:
            out.append(f"{rel}: only in {ref} (the reference)")
        else:
            out.extend(compare_file(rel, new / rel, ref / rel, tol))
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="trialmeta-check",
        description="Exit 0 when results directory NEW agrees with REF: numbers within "
        "tolerances, every other file byte-identical (provenance's volatile fields ignored).",
    )
    p.add_argument("new", help="the results directory to check")
    p.add_argument("ref", help="the reference results directory")
    p.add_argument("--tolerances", help="YAML/JSON file: closed, iterative, atol, columns, ignore")
    p.add_argument("--closed", type=float, help="relative tolerance, closed forms (1e-10)")
    p.add_argument("--iterative", type=float, help="relative tolerance, iterative (1e-8)")
    p.add_argument("--atol", type=float, help="absolute tolerance near 0 (1e-13)")
    p.add_argument("--ignore", action="append", default=None, help="glob of files to skip")
    p.add_argument("--max", type=int, default=20, help="differences printed (20)")
    return p


def check_main(argv=None) -> int:
    """``trialmeta-check NEW REF``: 0 when they agree, 1 otherwise (2 on a usage error)."""
    args = _parser().parse_args(argv)
    override = {"closed": args.closed, "iterative": args.iterative, "atol": args.atol}
    if args.ignore:
        override["ignore"] = args.ignore
    if args.tolerances:
        tol = Tolerances.from_file(args.tolerances, **override)
    else:
        tol = Tolerances(**{k: v for k, v in override.items() if v is not None})
    for d in (args.new, args.ref):
        if not Path(d).is_dir():
            print(f"trialmeta-check: not a directory: {d}", file=sys.stderr)
            return 2
    diffs = check_dirs(args.new, args.ref, tol)
    if not diffs:
        print(f"trialmeta-check: {args.new} agrees with {args.ref}")
        return 0
    print(f"trialmeta-check: {len(diffs)} difference(s); the first {min(args.max, len(diffs))}:")
    for line in diffs[: args.max]:
        print(f"  {line}")
    files = dict.fromkeys(line.split(":", 1)[0] for line in diffs)
    print(f"trialmeta-check: files that differ: {', '.join(files)}")
    return 1


if __name__ == "__main__":
    sys.exit(check_main())


def write_changes(baseline, new_tables, provenance, move_fraction, csv_path, json_path) -> dict:
    """Write changes.csv and changes.json of this run against ``baseline`` (a results directory;
    nothing is compared when it is not complete). Returns the changes.json record."""
    import pandas as pd

    from trialmeta.pipeline.jobs import write_json
    from trialmeta.pipeline.safe_csv import write_csv_safely

    if complete_results(baseline):
        rows = changes_rows(baseline, new_tables, provenance, float(move_fraction))
        try:
            previous = json.loads((Path(baseline) / "changes.json").read_text("utf-8"))
        except (OSError, ValueError):
            previous = None
        record = changes_record(rows, str(baseline), previous)
    else:
        rows, record = [], changes_record([], None, None)
    write_csv_safely(pd.DataFrame(rows, columns=CHANGES_COLUMNS), csv_path)
    write_json(record, json_path)
    return record
