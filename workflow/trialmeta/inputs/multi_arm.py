"""Multi-arm trials: several treatment arms against one shared control group.

Rows of one analysis that share ``study_id`` and each carry an ``arm`` label (the treatment arm)
with identical control data form one multi-arm trial. Pooling them as they are would count the
control group twice, so ``multi_arm`` (config) decides (Cochrane Handbook, section 23.3.4):

* ``split`` (default): the shared control group's n (and events) are divided evenly among the
  comparisons (Handbook 23.3.4.2). Counts stay whole numbers: each part gets ``floor(x / k)``
  and the remainder goes, one each, to the first arms in file order, so the parts add up to the
  control group (RevMan takes whole counts only; metafor leaves the choice to the user). Means
  and SDs of a continuous control arm are unchanged. Each comparison becomes its own study,
  labelled ``<study_id> (<arm>)``;
* ``combine``: the active arms are merged into one (binary: events and n summed; continuous:
  Handbook Table 6.5.a, two groups at a time:
  ``N = N1 + N2``, ``M = (N1 M1 + N2 M2) / N``,
  ``SD = sqrt(((N1-1) SD1^2 + (N2-1) SD2^2 + N1 N2 / N (M1^2 + M2^2 - 2 M1 M2)) / (N - 1))``);
  the trial keeps its ``study_id``, ``arm`` lists the arms joined by `` + ``;
* ``error``: an input error naming the rows.

:func:`check_trials` is called by :mod:`trialmeta.inputs.validate` for each analysis (arm labels
present and distinct, identical control data, binary or continuous rows; with ``error`` every
multi-arm trial is an error); :func:`resolve_multi_arm` then rewrites the typed table and says
what it did per trial (column ``multi_arm``; one note per trial for the console and report).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trialmeta.inputs.errors import InputError, Problem

__all__ = [
    "MULTI_ARM_MODES",
    "CONTROL_COLUMNS",
    "TREATMENT_COLUMNS",
    "check_trials",
    "resolve_multi_arm",
    "split_counts",
    "combine_binary",
    "combine_continuous",
]

MULTI_ARM_MODES = ("split", "combine", "error")
#: the control data that must be identical across the arms of one trial, per outcome type
CONTROL_COLUMNS = {
    "binary": ("events_ctrl", "n_ctrl"),
    "continuous": ("mean_ctrl", "sd_ctrl", "n_ctrl"),
}
TREATMENT_COLUMNS = {
    "binary": ("events_treat", "n_treat"),
    "continuous": ("mean_treat", "sd_treat", "n_treat"),
}


# ------------------------------------------------------------------------------ arithmetic
def split_counts(total: int, k: int) -> list[int]:
    """``total`` divided into ``k`` whole parts: ``floor(total / k)`` each, the remainder one
    each to the first parts (the parts add up to ``total``)."""
    base, rest = divmod(int(total), int(k))
    return [base + (1 if j < rest else 0) for j in range(int(k))]


def combine_binary(events, n) -> tuple[float, float]:
    """Events and n of merged arms: the sums."""
    return float(np.sum(events)), float(np.sum(n))


def combine_continuous(means, sds, ns) -> tuple[float, float, float]:
    """(mean, SD, n) of merged arms, Cochrane Handbook Table 6.5.a applied two arms at a time."""
    m, s, n = float(means[0]), float(sds[0]), float(ns[0])
    for m2, s2, n2 in zip(means[1:], sds[1:], ns[1:]):
        m2, s2, n2 = float(m2), float(s2), float(n2)
        tot = n + n2
        var = ((n - 1) * s**2 + (n2 - 1) * s2**2 + n * n2 / tot * (m**2 + m2**2 - 2 * m * m2)) / (
            tot - 1
        )
        m, s, n = (n * m + n2 * m2) / tot, math.sqrt(var), tot
    return m, s, n


# ------------------------------------------------------------------------------ validation
def _rows(checker, rows) -> str:
    return ", ".join(checker.loc(i) for i in rows)


def _multi_groups(checker, idx):
    """{study_id: rows} of the study labels that occur more than once in ``idx`` with at least
    one ``arm`` label."""
    if "arm" not in checker.text:
        return {}
    by_id: dict[str, list[int]] = {}
    for i in idx:
        sid = checker.cell(i, "study_id")
        if sid != "":
            by_id.setdefault(sid, []).append(i)
    return {
        sid: rows
        for sid, rows in by_id.items()
        if len(rows) > 1 and any(checker.cell(i, "arm") != "" for i in rows)
    }


def _check_group(checker, sid, rows, mode) -> None:
    first = rows[0]
    kinds = {checker.types[i] for i in rows}
    if not kinds <= set(CONTROL_COLUMNS) or len(kinds) > 1:
        for i in rows[1:]:
            checker.err(
                i,
                "study_id",
                f"multi-arm trial {sid!r} (also at {checker.loc(first)}): splitting or combining "
                "arms needs binary or continuous rows of one outcome type; give one row per "
                "analysis",
                sid,
            )
        return
    labels: dict[str, int] = {}
    for i in rows:
        arm = checker.cell(i, "arm")
        if arm == "":
            checker.err(
                i,
                "arm",
                f"empty: rows of the multi-arm trial {sid!r} ({_rows(checker, rows)}) each "
                "need an arm label (the treatment arm of the row)",
            )
        elif arm in labels:
            checker.err(
                i, "arm", f"the same arm label as {checker.loc(labels[arm])} in trial {sid!r}", arm
            )
        else:
            labels[arm] = i
    for col in CONTROL_COLUMNS[checker.types[first]]:
        ref = checker.val(first, col)
        for i in rows[1:]:
            if checker.val(i, col) != ref:
                checker.err(
                    i,
                    col,
                    f"differs from {col}={checker.cell(first, col)} at {checker.loc(first)}: the "
                    f"rows of the multi-arm trial {sid!r} must share the control group (same "
                    "control data); different control data under one study_id are not one trial",
                    checker.cell(i, col),
                )
    if mode == "error":
        checker.err(
            rows[1],
            "study_id",
            f"multi-arm trial {sid!r}: arms {', '.join(repr(checker.cell(i, 'arm')) for i in rows)}"
            f" at {_rows(checker, rows)} share one control group and multi_arm is 'error': "
            "set multi_arm to split or combine, or keep one row",
            sid,
        )


def check_trials(checker, idx, mode: str = "split") -> list:
    """Check the multi-arm trials among the rows ``idx`` of one analysis (errors through
    ``checker.err``) and return ``idx`` without their second and later rows (so the duplicate
    check sees each multi-arm trial once)."""
    groups = _multi_groups(checker, idx)
    later = set()
    for sid, rows in groups.items():
        _check_group(checker, sid, rows, mode)
        later.update(rows[1:])
    return [i for i in idx if i not in later]


# ------------------------------------------------------------------------------ rewriting
def _fmt(x) -> str:
    return f"{x:g}"


def _split(rows: pd.DataFrame, kind: str) -> tuple[pd.DataFrame, str]:
    k = len(rows)
    out = rows.copy()
    n_parts = split_counts(rows["n_ctrl"].iloc[0], k)
    out["n_ctrl"] = np.array(n_parts, float)
    text = f"n_ctrl {_fmt(rows['n_ctrl'].iloc[0])} -> {'/'.join(map(str, n_parts))}"
    if kind == "binary":
        e_parts = split_counts(rows["events_ctrl"].iloc[0], k)
        out["events_ctrl"] = np.array(e_parts, float)
        text = (
            f"events_ctrl {_fmt(rows['events_ctrl'].iloc[0])} -> {'/'.join(map(str, e_parts))}, "
            + text
        )
    sid = str(rows["study_id"].iloc[0])
    out["study_id"] = [f"{sid} ({a})" for a in rows["arm"].astype(str)]
    note = f"split: shared control divided evenly among {k} arms ({text})"
    return out, note


def _combine(rows: pd.DataFrame, kind: str) -> tuple[pd.DataFrame, str]:
    out = rows.iloc[[0]].copy()
    if kind == "binary":
        e, n = combine_binary(rows["events_treat"], rows["n_treat"])
        out["events_treat"], out["n_treat"] = e, n
        what = f"events_treat {_fmt(e)}, n_treat {_fmt(n)}"
    else:
        m, s, n = combine_continuous(rows["mean_treat"], rows["sd_treat"], rows["n_treat"])
        out["mean_treat"], out["sd_treat"], out["n_treat"] = m, s, n
        what = f"mean_treat {m:.4g}, sd_treat {s:.4g}, n_treat {_fmt(n)}"
    arms = " + ".join(rows["arm"].astype(str))
    out["arm"] = arms
    if "therapy" in out:
        out["therapy"] = " + ".join(dict.fromkeys(rows["therapy"].astype(str)))
    note = f"combined: {len(rows)} arms merged ({what})"
    return out, note


def _where(row) -> tuple:
    r = row.get("source_row")
    return str(row.get("source_file", "trials table")), (
        int(r) if r == r and r is not None else None
    )


def _refusal(rows: pd.DataFrame) -> Problem:
    """The input error of one multi-arm trial under ``multi_arm: error``, naming its rows."""
    where = [_where(r) for _, r in rows.iterrows()]
    names = ", ".join(f"{f}:{r}" for f, r in where)
    arms = ", ".join(repr(a) for a in rows["arm"].astype(str))
    sid = rows["study_id"].iloc[0]
    return Problem(
        where[1][0],
        where[1][1],
        "study_id",
        f"multi-arm trial {sid!r}: arms {arms} at {names} share one control group and "
        "multi_arm is 'error': set multi_arm to split or combine, or keep one row",
        str(sid),
    )


def resolve_multi_arm(trials: pd.DataFrame, group_by, mode: str = "split"):
    """The validated trials table with every multi-arm trial split or combined (``mode``), and
    the notes (:class:`~trialmeta.inputs.errors.Problem` with severity ``warning``, one per
    trial, naming its first row) saying what was done. Tables without multi-arm trials are
    returned unchanged (no ``multi_arm`` column). With ``mode="error"`` a table with multi-arm
    trials raises :class:`~trialmeta.inputs.errors.InputError` naming their rows."""
    if mode not in MULTI_ARM_MODES:
        raise ValueError(f"multi_arm must be one of {MULTI_ARM_MODES}, not {mode!r}")
    if "arm" not in trials:
        return trials, []
    df = trials.reset_index(drop=True)
    keys = [c for c in group_by if c in df] + ["study_id"]
    has_arm = df["arm"].fillna("").astype(str).str.strip() != ""
    groups = [g.index for _, g in df[has_arm].groupby(keys, sort=False, dropna=False) if len(g) > 1]
    if mode == "error" and groups:
        raise InputError([_refusal(df.loc[list(index)]) for index in groups])
    parts, done, notes = [], {}, []
    for index in groups:
        rows = df.loc[list(index)]
        kind = str(rows["outcome_type"].iloc[0])
        new, note = (_split if mode == "split" else _combine)(rows, kind)
        new["multi_arm"] = note
        done[int(index[0])] = new
        done.update({int(j): None for j in index[1:]})
        notes.append(
            Problem(
                *_where(rows.iloc[0]),
                "arm",
                f"multi-arm trial {rows['study_id'].iloc[0]!r} "
                f"({', '.join(rows['arm'].astype(str))}; multi_arm: {mode}): {note}",
                None,
                "warning",
            )
        )
    if not done:
        return trials, []
    out = df.copy()
    out["multi_arm"] = ""
    for i in range(len(df)):
        if i not in done:
            parts.append(out.iloc[[i]])
        elif done[i] is not None:
            parts.append(done[i])
    return pd.concat(parts, ignore_index=True), notes
