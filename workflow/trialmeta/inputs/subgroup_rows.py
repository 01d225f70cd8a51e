"""Within-trial subgroup rows: a trial's result in one level of a biomarker (issue 11).

A trial row that fills ``subgroup_variable`` (e.g. ``anti-dsDNA``) and ``subgroup_level`` (e.g.
``high``) is a *subgroup row*; the trial's overall row leaves both blank. Optional columns:
``prespecified`` (true/false: was the subgroup variable pre-specified?) and
``hypothesised_direction`` (the level expected to benefit more).

Rules (data/README.md, "Within-trial subgroup rows"):

* subgroup rows never enter the main analysis: :func:`main_rows` removes them (and columns that
  only subgroup-only files have) before the main table is validated, so ``pooled.csv`` is what it
  is without them;
* a trial with subgroup rows but no overall row in its analysis stays out of the main analysis
  (nothing is combined from its levels); it still enters the within-trial interaction analysis,
  and a warning says so, once per trial and analysis;
* subgroup rows are checked like every trial row (types, arms, required cells) with the analysis
  key extended by variable and level (one row per trial and level);
* ``subgroup_variable`` and ``subgroup_level`` are both filled or both blank; ``prespecified`` is
  true/false; ``hypothesised_direction`` names a level of its variable;
* levels of one variable must not overlap: where the trial's overall row gives arm sizes, the
  levels' ``n_treat`` (``n_ctrl``) must not sum to more than the overall row's (an error naming
  the file, row and column of the level row that exceeds it).
"""

from __future__ import annotations

import pandas as pd

from trialmeta.inputs.booleans import parse_bool
from trialmeta.inputs.errors import InputError, Problem, show_value

__all__ = [
    "SUBGROUP_COLUMNS",
    "VARIABLE",
    "LEVEL",
    "is_subgroup_row",
    "main_rows",
    "subgroup_text_rows",
    "check_subgroup_rows",
    "validate_with_subgroups",
]

VARIABLE = "subgroup_variable"
LEVEL = "subgroup_level"
#: the columns of subgroup rows (the contract of issue 11)
SUBGROUP_COLUMNS = (VARIABLE, LEVEL, "prespecified", "hypothesised_direction")


def _filled(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df:
        return pd.Series(False, index=df.index)
    return df[col].map(lambda x: bool(str(x).strip()) if x is not None and x == x else False)


def is_subgroup_row(df: pd.DataFrame) -> pd.Series:
    """True where a row fills ``subgroup_variable`` or ``subgroup_level``."""
    return _filled(df, VARIABLE) | _filled(df, LEVEL)


def main_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The table without its subgroup rows, and without the columns that only files holding
    nothing but subgroup rows have (the main table is then what it is without those files).
    ``attrs`` (ingest warnings, columns per file) are kept."""
    attrs = dict(df.attrs)
    sub = is_subgroup_row(df)
    if not sub.any():
        return df
    out = df.loc[~sub].reset_index(drop=True)
    by_file = dict(attrs.get("columns_by_file") or {})
    if by_file and "source_file" in out:
        main_files = set(out["source_file"].astype(str))
        kept = {c for f, cols in by_file.items() if f in main_files for c in cols}
        drop = [
            c
            for c in out.columns
            if c not in kept and c not in ("source_file", "source_row") and c in _all(by_file)
        ]
        drop += [c for c in SUBGROUP_COLUMNS if c in out.columns and c not in drop]
        out = out.drop(columns=drop)
    else:
        out = out.drop(columns=[c for c in SUBGROUP_COLUMNS if c in out.columns])
    out.attrs = attrs
    return out


def _all(by_file: dict) -> set:
    return {c for cols in by_file.values() for c in cols}


def subgroup_text_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The subgroup rows of the all-text table (``attrs`` dropped: their warnings belong to the
    main validation)."""
    out = df.loc[is_subgroup_row(df)].reset_index(drop=True)
    out.attrs = {}
    return out


def _problem(row, column, message, value=None, severity="error") -> Problem:
    return Problem(
        str(row["source_file"]), int(row["source_row"]), column, message, value, severity
    )


def _cell(row, col) -> str:
    v = row.get(col, "")
    return "" if v is None or v != v else str(v).strip()


def _row_problems(sub: pd.DataFrame) -> list[Problem]:
    """Both of variable/level filled; prespecified true/false; direction names a level."""
    problems = []
    levels: dict[tuple, set] = {}
    for _, row in sub.iterrows():
        levels.setdefault(_cell(row, VARIABLE), set()).add(_cell(row, LEVEL))
    for _, row in sub.iterrows():
        for col, other in ((VARIABLE, LEVEL), (LEVEL, VARIABLE)):
            if not _cell(row, col):
                problems.append(
                    _problem(
                        row,
                        col,
                        f"empty: a subgroup row needs both {VARIABLE} and {LEVEL} "
                        f"({other} is {show_value(_cell(row, other))})",
                    )
                )
        pre = _cell(row, "prespecified")
        try:
            parse_bool(pre, strict=True)
        except ValueError:
            problems.append(_problem(row, "prespecified", "must be true or false", pre))
        direction = _cell(row, "hypothesised_direction")
        known = levels.get(_cell(row, VARIABLE), set())
        if direction and direction not in known:
            problems.append(
                _problem(
                    row,
                    "hypothesised_direction",
                    f"is not a level of {_cell(row, VARIABLE)!r} (levels: "
                    + ", ".join(sorted(known))
                    + ")",
                    direction,
                )
            )
    return problems


def _overlap_problems(sub: pd.DataFrame, main: pd.DataFrame, group_by) -> list[Problem]:
    """Level arm sizes summing to more than the trial's overall arm (one error per arm)."""
    problems = []
    if not len(main):
        return problems
    key = ["analysis_id", "study_id"]
    overall = main.drop_duplicates(key).set_index(key)
    for (aid, sid, var), g in sub.groupby(["analysis_id", "study_id", VARIABLE], sort=True):
        if (aid, sid) not in overall.index:
            continue
        ref = overall.loc[(aid, sid)]
        for col in ("n_treat", "n_ctrl"):
            if col not in g or col not in overall.columns:
                continue
            total, limit = pd.to_numeric(g[col], errors="coerce"), ref[col]
            if limit != limit or total.isna().any() or total.sum() <= limit:
                continue
            last = g.iloc[-1]
            problems.append(
                _problem(
                    last,
                    col,
                    f"levels of {var!r} overlap: their {col} sum to {total.sum():g}, more than "
                    f"the trial's overall {col} {limit:g} at {ref['source_file']}:"
                    f"{int(ref['source_row'])} (each participant belongs to one level)",
                    _number(last[col]),
                )
            )
    return problems


def _number(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _no_overall_notes(sub: pd.DataFrame, main: pd.DataFrame) -> list[Problem]:
    """A warning per trial and analysis with subgroup rows but no overall row."""
    have = set(zip(main.get("analysis_id", []), main.get("study_id", [])))
    notes = []
    for (aid, sid), g in sub.groupby(["analysis_id", "study_id"], sort=True):
        if (aid, sid) in have:
            continue
        notes.append(
            _problem(
                g.iloc[0],
                None,
                f"trial {sid!r} has subgroup rows but no overall row in its analysis: it stays "
                "out of the main analysis (pooled.csv) and enters only the within-trial "
                "interaction analysis (interactions.csv)",
                severity="warning",
            )
        )
    return notes


def check_subgroup_rows(sub: pd.DataFrame, main: pd.DataFrame, group_by) -> list[Problem]:
    """The overlap rule on the typed subgroup rows (``analysis_id`` assigned) against the
    typed main table: raises :class:`InputError` with every problem; returns the warnings."""
    problems = _overlap_problems(sub, main, group_by)
    if problems:
        raise InputError(problems)
    return _no_overall_notes(sub, main)


def validate_with_subgroups(
    raw: pd.DataFrame, group_by, *, min_studies: int = 1, duplicates="warn"
):
    """Validate the main rows and the subgroup rows of the text table from ``load_trials`` and
    report every problem of both at once.

    Returns ``(trials, warnings, subgroups)``: the typed main table (as
    :func:`~trialmeta.inputs.validate.validate_trials` returns it: no subgroup rows), the
    warnings of both, sorted, and the typed subgroup rows with their ``analysis_id`` (empty
    without subgroup rows).
    """
    from trialmeta.inputs.analyses import assign_analysis_ids
    from trialmeta.inputs.validate import validate_trials

    group_by = list(group_by)
    problems: list[Problem] = []
    trials = warnings = None
    try:
        trials, warnings = validate_trials(
            raw, group_by, min_studies=min_studies, duplicates=duplicates
        )
    except InputError as exc:
        problems += exc.problems
    text = subgroup_text_rows(raw)
    sub, sub_warnings = pd.DataFrame(columns=["analysis_id", *SUBGROUP_COLUMNS]), []
    if len(text):
        problems += _row_problems(text)
        try:
            sub, sub_warnings = validate_trials(
                text,
                group_by + [VARIABLE, LEVEL],
                min_studies=1,
                duplicates=duplicates,
                keep_subgroup_rows=True,
            )
        except InputError as exc:  # an empty variable or level: _row_problems says it
            problems += [p for p in exc.problems if p.column not in (VARIABLE, LEVEL)]
    if problems:  # a file-level problem (a missing column) is found by both passes: once
        raise InputError(list(dict.fromkeys(problems)))
    if len(text):
        sub = assign_analysis_ids(sub, group_by)
        sub_warnings += check_subgroup_rows(sub, assign_analysis_ids(trials, group_by), group_by)
    merged = sorted(
        set(warnings) | set(sub_warnings),
        key=lambda p: (p.file, p.row or 0, p.column or "", p.message),
    )
    return trials, merged, sub
