"""Risk-of-bias (RoB 2) judgement tables: read, check and match to the trials of each analysis.

The config key ``risk_of_bias`` lists the tables (paths or globs, like ``trials``; CSV, TSV or
``.xlsx``, read by :func:`trialmeta.inputs.ingest.read_table`). One row = one trial's judgements:

* ``study_id`` (required): a ``study_id`` of the trial tables;
* optional *scope* columns: ``outcome`` and/or any ``group_by`` column. A non-empty scope cell
  restricts the row to the trial rows with that value (outcome-specific judgements, as RoB 2 asks);
  empty scope cells (or no scope column) make the row apply to every analysis of the trial;
* the five RoB 2 domains :data:`DOMAINS` and ``overall``, each ``low``, ``some concerns`` or
  ``high`` (case and spaces are normalised). A domain cell may be empty (not reported); ``overall``
  may not.

For each trial row of each analysis the matching judgement row with the most non-empty scope
cells is used; two matching rows equally specific are an error (conflicting judgements). Every
problem of every file is reported at once as an :class:`~trialmeta.inputs.errors.InputError`
naming file, row and column: an unknown study (or a study/scope combination no trial row has), an
unknown judgement, a missing or empty ``overall``, a missing column, a duplicate row.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from trialmeta.inputs.errors import ConfigError, InputError, Problem
from trialmeta.inputs.names import close_choice

# pandas and the table reader are imported where used: the workflow imports this module at
# parse time (risk_of_bias_paths, files_digest), which stays cheap.

__all__ = [
    "DOMAINS",
    "JUDGEMENT_COLUMNS",
    "JUDGEMENTS",
    "DOMAIN_LABELS",
    "risk_of_bias_paths",
    "load_risk_of_bias",
    "resolved_columns",
    "files_digest",
]

#: The RoB 2 domain columns (the contract) and their labels in figures.
DOMAINS = (
    "D1_randomisation",
    "D2_deviations",
    "D3_missing_data",
    "D4_measurement",
    "D5_selection",
)
JUDGEMENT_COLUMNS = (*DOMAINS, "overall")
JUDGEMENTS = ("low", "some concerns", "high")
DOMAIN_LABELS = {
    "D1_randomisation": "Bias arising from the randomisation process",
    "D2_deviations": "Bias due to deviations from intended interventions",
    "D3_missing_data": "Bias due to missing outcome data",
    "D4_measurement": "Bias in measurement of the outcome",
    "D5_selection": "Bias in selection of the reported result",
    "overall": "Overall risk of bias",
}
_SPACES = re.compile(r"\s+")


def risk_of_bias_paths(settings, base_dir=None) -> list[str]:
    """Expand ``settings.risk_of_bias`` (paths or globs) to files, in pattern order, each
    pattern's matches sorted, duplicates removed. Raises ConfigError naming every pattern that
    matches no file."""
    base = Path(base_dir) if base_dir is not None else Path(".")
    patterns = getattr(settings, "risk_of_bias", None)
    if patterns is None and isinstance(settings, dict):
        patterns = settings.get("risk_of_bias", [])
    found: list[str] = []
    errors: list[str] = []
    for pat in [patterns] if isinstance(patterns, str) else list(patterns or []):
        pat = str(pat)
        absolute = os.path.isabs(pat)
        if glob.has_magic(pat):
            matches = sorted(glob.glob(pat, root_dir=None if absolute else str(base)))
            matches = [m for m in matches if (Path(m) if absolute else base / m).is_file()]
            if not matches:
                errors.append(f"config: risk_of_bias: {pat!r} matches no file")
            found += matches
        elif (Path(pat) if absolute else base / pat).is_file():
            found.append(pat)
        else:
            errors.append(f"config: risk_of_bias: {pat!r} does not exist or is not a file")
    if errors:
        raise ConfigError(errors)
    return list(dict.fromkeys(found))


def normalise_judgement(text: str) -> str | None:
    """``'Some  Concerns '`` -> ``'some concerns'``; None when it is not a RoB 2 judgement."""
    value = _SPACES.sub(" ", str(text).strip().lower())
    return value if value in JUDGEMENTS else None


def resolved_columns(group_by) -> list[str]:
    """Columns of the resolved table (:func:`load_risk_of_bias`)."""
    keys = [c for c in group_by if c != "analysis_id"]
    return [*keys, "analysis_id", "study_id", *JUDGEMENT_COLUMNS, "rob_file", "rob_row"]


def _check_header(table, scope_all, problems) -> bool:
    header = table.header
    ok = True
    for column in ("study_id", *JUDGEMENT_COLUMNS):
        if column not in header:
            hint = close_choice(column, header)
            more = f" (did you mean {hint!r}?)" if hint else ""
            problems.append(
                Problem(
                    table.file,
                    None,
                    column,
                    f"missing column{more}: a risk-of-bias table "
                    f"needs study_id, {', '.join(JUDGEMENT_COLUMNS)}",
                )
            )
            ok = False
    return ok


def _rows_of(table, scope_all, problems) -> list[dict]:
    """The judgement rows of one file as dicts (judgements normalised); problems appended."""
    index = {c: i for i, c in enumerate(table.header)}
    scope = [c for c in scope_all if c in index]
    out = []
    for cells, row in zip(table.rows, table.row_numbers):
        rec = {"rob_file": table.file, "rob_row": row, "study_id": cells[index["study_id"]]}
        rec["scope"] = {c: cells[index[c]] for c in scope if cells[index[c]] != ""}
        if rec["study_id"] == "":
            problems.append(Problem(table.file, row, "study_id", "must not be empty"))
        bad = False
        for column in JUDGEMENT_COLUMNS:
            text = cells[index[column]]
            if text == "":
                rec[column] = None
                if column == "overall":
                    problems.append(
                        Problem(
                            table.file,
                            row,
                            column,
                            "must not be empty: low, some concerns "
                            "or high (a domain may be left empty, the overall judgement not)",
                        )
                    )
                    bad = True
                continue
            value = normalise_judgement(text)
            if value is None:
                problems.append(
                    Problem(
                        table.file, row, column, "must be one of low, some concerns, high", text
                    )
                )
                bad = True
            rec[column] = value
        if not bad and rec["study_id"] != "":
            out.append(rec)
    return out


def _trial_scopes(trials, scope_all):
    cols = ["study_id", *scope_all, "analysis_id"]
    return trials[cols].astype({c: str for c in cols}).drop_duplicates().reset_index(drop=True)


def _matches(rec, trials):
    hit = trials["study_id"] == rec["study_id"]
    for column, value in rec["scope"].items():
        hit &= trials[column] == value
    return hit


def _unknown(rec, trials, problems) -> None:
    if not (trials["study_id"] == rec["study_id"]).any():
        hint = close_choice(rec["study_id"], sorted(set(trials["study_id"])))
        more = f" (did you mean {hint!r}?)" if hint else ""
        problems.append(
            Problem(
                rec["rob_file"],
                rec["rob_row"],
                "study_id",
                f"unknown study: no trial table row has this study_id{more}",
                rec["study_id"],
            )
        )
        return
    scope = ", ".join(f"{c}={v!r}" for c, v in rec["scope"].items())
    column = next(iter(rec["scope"]))
    problems.append(
        Problem(
            rec["rob_file"],
            rec["rob_row"],
            column,
            f"no trial row of study_id={rec['study_id']!r} has {scope}",
            rec["scope"][column],
        )
    )


def _assign(records, trials, problems) -> dict:
    """{trial scope row index: record} choosing the most specific matching record."""
    chosen: dict[int, dict] = {}
    reported: set = set()
    for rec in records:
        hit = _matches(rec, trials)
        if not hit.any():
            _unknown(rec, trials, problems)
            continue
        for i in hit[hit].index:
            old = chosen.get(i)
            if old is None or len(rec["scope"]) > len(old["scope"]):
                chosen[i] = rec
            elif (
                len(rec["scope"]) == len(old["scope"])
                and (rec["rob_file"], rec["rob_row"]) not in reported
            ):
                reported.add((rec["rob_file"], rec["rob_row"]))
                problems.append(
                    Problem(
                        rec["rob_file"],
                        rec["rob_row"],
                        "study_id",
                        f"a second judgement of the same trial and scope (first at "
                        f"{old['rob_file']}:{old['rob_row']}): keep one row, or give the "
                        "outcome to make each row outcome-specific",
                        rec["study_id"],
                    )
                )
    return chosen


def load_risk_of_bias(paths, trials, group_by):
    """Read and check every judgement table; one row per (analysis, study) that has a judgement.

    ``trials``: the validated trials with ``analysis_id``. Returns the columns of
    :func:`resolved_columns` (sorted by analysis_id, study_id); raises InputError with every
    problem of every file. No path -> an empty table with those columns.
    """
    import pandas as pd

    from trialmeta.inputs.ingest import read_table

    group_by = [c for c in group_by if c != "analysis_id"]
    columns = resolved_columns(group_by)
    scope_all = list(dict.fromkeys(["outcome", *group_by]))
    scope_all = [c for c in scope_all if c in trials.columns]
    problems: list[Problem] = []
    records: list[dict] = []
    for path in dict.fromkeys(map(str, paths)):
        table = read_table(path)
        problems += table.problems
        if table.problems or not _check_header(table, scope_all, problems):
            continue
        records += _rows_of(table, scope_all, problems)
    scopes = _trial_scopes(trials, scope_all)
    chosen = _assign(records, scopes, problems)
    if problems:
        raise InputError(problems)
    keys = trials.drop_duplicates("analysis_id").set_index("analysis_id")[group_by]
    rows = []
    for i, rec in sorted(chosen.items()):
        aid = scopes.at[i, "analysis_id"]
        row = {c: keys.at[aid, c] for c in group_by}
        row.update(analysis_id=aid, study_id=rec["study_id"])
        row.update({c: rec[c] for c in JUDGEMENT_COLUMNS})
        row.update(rob_file=rec["rob_file"], rob_row=rec["rob_row"])
        rows.append(row)
    out = pd.DataFrame(rows, columns=columns)
    out = out.sort_values(["analysis_id", "study_id"], kind="stable").reset_index(drop=True)
    return out.astype({c: object for c in JUDGEMENT_COLUMNS})


def files_digest(base: str, paths) -> str:
    """``base`` (a digest) combined with the SHA-256 of each file's bytes: the figure digests of
    the workflow change when a judgement table is edited (their forest plots carry RoB columns)."""
    import hashlib

    h = hashlib.sha256(str(base).encode())
    for path in paths:
        h.update(f"\0{path}\0".encode())
        h.update(Path(path).read_bytes())
    return h.hexdigest()
