"""The reviewer's GRADE judgements file (config ``grade_judgements``): read and check it.

One judgement per row (CSV) or per list item (YAML), with the keys

* ``analysis_id``: an analysis of the run;
* ``domain``: ``risk_of_bias``, ``inconsistency``, ``indirectness``, ``imprecision`` or
  ``publication_bias``;
* ``judgement``: ``not serious``, ``serious`` or ``very serious`` (0, 1 or 2 levels down);
* ``reason``: the reviewer's reason, in words (required: it is shown in the table).

A judgement replaces the suggested signal of exactly that domain of that analysis; everything
it does not name keeps its suggestion (:mod:`trialmeta.tables.grade`). Problems (unknown
analysis, domain or judgement, missing reason, the same domain twice) are raised together as an
:class:`~trialmeta.inputs.errors.InputError` naming file, row and column; a YAML file's "row" is
the position of the item in its list.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialmeta.inputs.errors import InputError, Problem

__all__ = ["DOMAINS", "JUDGEMENTS", "JUDGEMENT_COLUMNS", "read_grade_judgements"]

#: GRADE domains, in SoF order (Guyatt et al. 2011, GRADE guidelines 3-8).
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
#: judgement -> levels of certainty taken off
JUDGEMENTS = {"not serious": 0, "serious": 1, "very serious": 2}
JUDGEMENT_COLUMNS = ["analysis_id", "domain", "judgement", "reason"]


def _records(path: Path) -> list[tuple[int, dict]]:
    """``(row number, record)`` of every judgement: CSV rows numbered as in a spreadsheet (the
    header is row 1), YAML list items from 1."""
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError(
                [Problem(str(path), None, None, "must be a list of mappings (one per judgement)")]
            )
        return [(i + 1, {str(k): v for k, v in r.items()}) for i, r in enumerate(data)]
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in JUDGEMENT_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            [Problem(str(path), 1, c, "required column missing from the header") for c in missing]
        )
    return [(i + 2, rec) for i, rec in enumerate(df.to_dict("records"))]


def _text(value) -> str:
    return "" if value is None else " ".join(str(value).split())


def _check(file: str, row: int, rec: dict, analysis_ids: set) -> list[Problem]:
    out = []
    aid, domain = _text(rec.get("analysis_id")), _text(rec.get("domain")).lower()
    judgement, reason = _text(rec.get("judgement")).lower(), _text(rec.get("reason"))
    if aid not in analysis_ids:
        out.append(Problem(file, row, "analysis_id", "not an analysis of this run", aid))
    if domain not in DOMAINS:
        out.append(Problem(file, row, "domain", f"must be one of {', '.join(DOMAINS)}", domain))
    if judgement not in JUDGEMENTS:
        out.append(
            Problem(file, row, "judgement", f"must be one of {', '.join(JUDGEMENTS)}", judgement)
        )
    if not reason:
        out.append(Problem(file, row, "reason", "a judgement needs its reason (shown in the SoF)"))
    unknown = sorted(set(rec) - set(JUDGEMENT_COLUMNS))
    out += [Problem(file, row, c, "unknown column (or key)") for c in unknown]
    return out


def read_grade_judgements(path, analysis_ids) -> pd.DataFrame:
    """The judgements of ``path`` (columns :data:`JUDGEMENT_COLUMNS` plus ``source_row``), checked
    against the run's ``analysis_ids``; an empty frame when ``path`` is None."""
    if path is None:
        return pd.DataFrame(columns=[*JUDGEMENT_COLUMNS, "source_row"])
    path = Path(path)
    if not path.is_file():
        raise InputError([Problem(str(path), None, None, "grade_judgements file not found")])
    ids = {str(a) for a in analysis_ids}
    problems, rows, seen = [], [], {}
    for row, rec in _records(path):
        found = _check(str(path), row, rec, ids)
        key = (_text(rec.get("analysis_id")), _text(rec.get("domain")).lower())
        if key in seen:
            found.append(
                Problem(str(path), row, "domain", f"judged twice (also row {seen[key]})", key[1])
            )
        seen.setdefault(key, row)
        problems += found
        rows.append(
            {
                "analysis_id": key[0],
                "domain": key[1],
                "judgement": _text(rec.get("judgement")).lower(),
                "reason": _text(rec.get("reason")),
                "source_row": row,
            }
        )
    if problems:
        raise InputError(problems)
    return pd.DataFrame(rows, columns=[*JUDGEMENT_COLUMNS, "source_row"])
