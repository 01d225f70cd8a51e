"""The effects table: the validated trials table in, one row per study x measure out.

:func:`compute_effect_sizes` makes one vectorized call of :mod:`trialmeta.stats.effect_sizes` per
outcome type and measure; a study whose effect size or variance is not finite, or whose variance
is <= 0, is an input problem naming file, row and column (:class:`~trialmeta.inputs.errors.InputError`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from trialmeta.inputs.errors import InputError, Problem
from trialmeta.stats.effect_sizes import (
    BINARY_MEASURES,
    CONTINUITY_TO,
    CONTINUOUS_MEASURES,
    GENERIC_MEASURES,
    binary_effects,
    continuous_effects,
    generic_effects,
)
from trialmeta.tables.time_to_event_effects import (
    RATE_MEASURES,
    hr_source_labels,
    rate_parts,
    time_to_event_parts,
)

__all__ = [
    "compute_effect_sizes",
    "ARM_DATA_COLUMNS",
    "EFFECT_COLUMNS",
    "DEFAULT_MEASURES",
    "DEFAULT_CONTINUITY",
]

DEFAULT_MEASURES = {"binary": ["OR", "RR", "RD"], "continuous": ["MD", "SMD"], "rate": ["IRR"]}
DEFAULT_CONTINUITY = {"add": 0.5, "to": "only0", "drop00": False}
#: the arm-level numbers a study row carries (counts, or means and SDs)
ARM_DATA_COLUMNS = (
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
)
#: columns the effects table adds (after the passed-through trial columns)
EFFECT_COLUMNS = (
    "analysis_id",
    "study_id",
    "measure",
    "scale",
    "yi",
    "vi",
    "sei",
    "ci_low",
    "ci_high",
    "continuity_corrected",
    "dropped",
    *ARM_DATA_COLUMNS,
    "primary_measure",
    "source_file",
    "source_row",
)
#: outcome types in the order of their codes
KINDS = ("binary", "continuous", "generic", "time_to_event", "rate")
COUNT_COLUMNS = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
MEAN_COLUMNS = ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")
#: input columns of generic rows renamed in the effects table (their names are output columns)
REPORTED_COLUMNS = {
    "estimate": "estimate_reported",
    "ci_low": "ci_low_reported",
    "ci_high": "ci_high_reported",
    "yi": "yi_reported",
    "sei": "sei_reported",
    "measure": "measure_reported",
}


# ----------------------------------------------------------------------------- the effects table
def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)


class _Locations:
    """file and spreadsheet row of input row i (``source_file``/``source_row`` when present)."""

    def __init__(self, df: pd.DataFrame):
        self.files = df["source_file"] if "source_file" in df else None
        self.rows = pd.to_numeric(df["source_row"], errors="coerce") if "source_row" in df else None

    def __call__(self, i):
        file = str(self.files.iloc[i]) if self.files is not None else "trials table"
        if self.rows is None:  # spreadsheet row of a single table with a header row
            return file, int(i) + 2
        r = self.rows.iloc[i]
        return file, (int(r) if np.isfinite(r) else None)


def _cell(df, col, i):
    v = df[col].iloc[i] if col in df else None
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _diagnose(df, i, kind, measure, to):
    """(column, value, message) explaining why study i has no usable effect size."""
    one = df.iloc[[i]]
    if kind == "binary":
        vals = {col: _numeric(one, col)[0] for col in COUNT_COLUMNS}
        missing = [col for col, v in vals.items() if not np.isfinite(v)]
        if missing:
            return missing[0], None, "missing: no effect size"
        for col, arm in (("events_treat", "n_treat"), ("events_ctrl", "n_ctrl")):
            if vals[col] == 0 or vals[col] == vals[arm]:
                cell = "zero event cell" if vals[col] == 0 else f"= {arm}: zero non-event cell"
                msg = (
                    f"{cell} and no continuity correction (continuity to={to!r}): infinite or zero "
                    "variance; use continuity to: only0"
                )
                return col, _cell(df, col, i), msg
        return None, None, "effect size or variance not finite or vi <= 0"
    if kind == "continuous":
        for col in MEAN_COLUMNS:
            if not np.isfinite(_numeric(one, col)[0]):
                return col, None, "missing: no effect size"
        if measure == "SMD" and _numeric(one, "n_treat")[0] + _numeric(one, "n_ctrl")[0] <= 3:
            return "n_treat", _cell(df, "n_treat", i), "SMD needs n_treat + n_ctrl > 3"
        return None, None, "sampling variance must be finite and > 0"
    for col in ("sei", "ci_low", "ci_high"):
        if col in df and _cell(df, col, i) is not None:
            return col, _cell(df, col, i), "gives a sampling variance that is not finite and > 0"
    return None, None, "generic row needs yi and sei, or estimate, ci_low and ci_high"


class _EffectParts:
    """The effect sizes computed so far, one part per (outcome type, measure), and the problems
    found: invalid effects are collected per (row, column, value, message), one problem per row
    and cause listing every measure it affects."""

    def __init__(self, df, to):
        self.df, self.to = df, to
        self.parts = []  # (row indices, measure name(s), EffectSizes, rank, primary)
        self.bad_effects = {}  # (row, column, value, message) -> ["measure: yi=..., vi=..."]
        self.problems = []

    def note_invalid(self, idx, kind, measures, es, keep=None):
        bad = es.invalid() if keep is None else es.invalid() & keep
        for j in np.flatnonzero(bad):
            m = measures if isinstance(measures, str) else str(measures[j])
            key = (int(idx[j]), *_diagnose(self.df, idx[j], kind, m, self.to))
            self.bad_effects.setdefault(key, []).append(
                f"{m}: yi={float(es.yi[j])!r}, vi={float(es.vi[j])!r}"
            )

    def add(self, idx, kind, measure, es, rank, primary):
        self.note_invalid(idx, kind, measure, es)
        self.parts.append((idx, measure, es, rank, primary))

    def raise_problems(self, where):
        for (i, col, val, msg), found in self.bad_effects.items():
            study = _cell(self.df, "study_id", i)
            self.problems.append(
                Problem(*where(i), col, f"{msg} (study {study!r}; {'; '.join(found)})", value=val)
            )
        if self.problems:
            raise InputError(self.problems)


def _checked_options(measures, continuity):
    measures = DEFAULT_MEASURES if measures is None else measures
    cont = dict(DEFAULT_CONTINUITY)
    cont.update(continuity or {})
    if cont["to"] not in CONTINUITY_TO:
        raise ValueError(f"continuity 'to' must be one of {CONTINUITY_TO}, not {cont['to']!r}")
    for kind, allowed in (
        ("binary", BINARY_MEASURES),
        ("continuous", CONTINUOUS_MEASURES),
        ("rate", RATE_MEASURES),
    ):
        bad = [m for m in measures.get(kind, []) if m not in allowed]
        if bad:
            raise ValueError(f"unknown {kind} measure(s) {bad}; choose from {allowed}")
    return measures, cont


def _outcome_kinds(df, where, problems) -> np.ndarray:
    """0 binary, 1 continuous, 2 generic, 3 time_to_event, 4 rate, -1 (a problem) per row."""
    for col in ("analysis_id", "study_id", "outcome_type"):
        if col not in df:
            raise InputError([Problem("trials table", None, col, "missing required column")])
    ot = df["outcome_type"].astype(str)
    kind_code = np.full(len(df), -1)
    for code, kind in enumerate(KINDS):
        kind_code[(ot == kind).to_numpy(dtype=bool)] = code
    for i in np.flatnonzero(kind_code < 0):
        problems.append(
            Problem(
                *where(i),
                "outcome_type",
                "must be one of " + ", ".join(KINDS),
                value=str(df["outcome_type"].iloc[i]),
            )
        )
    return kind_code


def _binary_parts(out: _EffectParts, idx, measures, cont, groups):
    """OR / RR / RD ... of the binary rows ``idx`` (escalc's continuity correction; ``if0all``
    per analysis ``groups``)."""
    a, n1, c, n2 = (_numeric(out.df, col)[idx] for col in COUNT_COLUMNS)
    for r, m in enumerate(measures):
        es = binary_effects(
            a,
            n1,
            c,
            n2,
            m,
            add=cont["add"],
            to=cont["to"],
            drop00=bool(cont["drop00"]),
            group=groups,
            check=False,
        )
        out.add(idx, "binary", m, es, r, r == 0)


def _continuous_parts(out: _EffectParts, idx, measures):
    cols = [_numeric(out.df, col)[idx] for col in MEAN_COLUMNS]
    for r, m in enumerate(measures):
        out.add(idx, "continuous", m, continuous_effects(*cols, m, check=False), r, r == 0)


def _generic_parts(out: _EffectParts, idx, where, level):
    """Generic rows: their own measure, ``yi, sei`` on the analysis scale or ``estimate, ci_low,
    ci_high`` in natural units (always the primary measure of the row)."""
    df = out.df
    meas = df["measure"].astype(str).to_numpy()[idx] if "measure" in df else np.full(idx.size, "")
    unknown = ~np.isin(meas, list(GENERIC_MEASURES))
    for j in np.flatnonzero(unknown):
        out.problems.append(
            Problem(
                *where(idx[j]),
                "measure",
                "unknown generic measure (one of " + ", ".join(GENERIC_MEASURES) + ")",
                value=meas[j],
            )
        )
    ok = idx[~unknown]
    if not ok.size:
        return
    m_ok = meas[~unknown]
    y, s = _numeric(df, "yi")[ok], _numeric(df, "sei")[ok]
    logged = np.array([GENERIC_MEASURES[m][2] for m in m_ok])
    wrong = np.isfinite(y) & np.isfinite(s) & logged
    for j in np.flatnonzero(wrong):
        out.problems.append(
            Problem(
                *where(ok[j]),
                "measure",
                f"yi/sei must be on the analysis scale: use {GENERIC_MEASURES[m_ok[j]][0]} "
                f"(or give estimate, ci_low, ci_high in {m_ok[j]})",
                value=m_ok[j],
            )
        )
    y = np.where(wrong, np.nan, y)
    s = np.where(wrong, np.nan, s)
    es = generic_effects(
        m_ok,
        yi=y,
        sei=s,
        estimate=_numeric(df, "estimate")[ok],
        ci_low=_numeric(df, "ci_low")[ok],
        ci_high=_numeric(df, "ci_high")[ok],
        level=level,
        check=False,
    )
    out.note_invalid(ok, "generic", es.measure, es, keep=~wrong)
    out.parts.append((ok, es.measure, es, 0, True))


def _part_labels(parts, order, get) -> pd.Series:
    """One text label per stacked row (``measure`` or ``scale``) as a categorical: one name per
    part (binary/continuous) or per study (generic)."""
    cats, codes = [], []
    for p in parts:
        u, inv = np.unique(
            np.broadcast_to(np.asarray(get(p), dtype=str), p[0].shape), return_inverse=True
        )
        for x in u:
            if x not in cats:
                cats.append(x)
        look = np.array([cats.index(x) for x in u], dtype=int)
        codes.append(look[inv] if look.size else inv)
    return pd.Series(pd.Categorical.from_codes(np.concatenate(codes)[order], cats)).astype(str)


def _arm_columns(df, src, kind) -> dict:
    """The arm columns of each stacked row, empty where they do not belong to its outcome type."""
    out = {}
    for col in COUNT_COLUMNS + ("mean_treat", "sd_treat", "mean_ctrl", "sd_ctrl"):
        v = _numeric(df, col)[src]
        if col in ("events_treat", "events_ctrl"):
            v = np.where((kind == "binary") | (kind == "rate"), v, np.nan)
        elif col in ("n_treat", "n_ctrl"):
            v = np.where(np.isin(kind, ("binary", "continuous")), v, np.nan)
        else:
            v = np.where(kind == "continuous", v, np.nan)
        out[col] = v
    return out


def _assemble(df, parts, kind_code, z) -> pd.DataFrame:
    """The effects table: rows in input order, measures in configuration order within a row."""
    passthrough = df.rename(columns={k: v for k, v in REPORTED_COLUMNS.items() if k in df})
    keep_cols = [c for c in passthrough.columns if c not in set(EFFECT_COLUMNS)]
    if not parts:
        return pd.DataFrame(columns=keep_cols + list(EFFECT_COLUMNS))
    idx_all = np.concatenate([p[0] for p in parts])
    order = np.lexsort((np.concatenate([np.full(p[0].size, p[3]) for p in parts]), idx_all))
    src = idx_all[order]

    def stacked(get):
        return np.concatenate([np.broadcast_to(get(p), p[0].shape) for p in parts])[order]

    def text(col):
        return df[col].astype(str).take(src).reset_index(drop=True)

    yi = stacked(lambda p: p[2].yi)
    sei = stacked(lambda p: p[2].sei)
    kind = np.array(KINDS)[kind_code[src]]
    out = {
        "analysis_id": text("analysis_id"),
        "study_id": text("study_id"),
        "measure": _part_labels(parts, order, lambda p: p[1]),
        "scale": _part_labels(parts, order, lambda p: p[2].scale),
        "yi": yi,
        "vi": stacked(lambda p: p[2].vi),
        "sei": sei,
        "ci_low": yi - z * sei,
        "ci_high": yi + z * sei,
        "continuity_corrected": stacked(lambda p: p[2].corrected),
        "dropped": stacked(lambda p: p[2].dropped),
        **_arm_columns(df, src, kind),
    }
    out["primary_measure"] = stacked(lambda p: np.asarray(bool(p[4])))
    out["source_file"] = text("source_file") if "source_file" in df else np.full(src.size, np.nan)
    out["source_row"] = (
        df["source_row"].to_numpy()[src] if "source_row" in df else np.full(src.size, np.nan)
    )
    base = passthrough[keep_cols].take(src).reset_index(drop=True)
    return pd.concat([base, pd.DataFrame(out)], axis=1)


def compute_effect_sizes(
    trials_df: pd.DataFrame, *, measures=None, continuity=None, level: float = 0.95
) -> pd.DataFrame:
    """The effects table: one row per study x measure, from the validated trials table.

    Parameters
    ----------
    trials_df : DataFrame
        Validated trials (see ``docs``/interfaces): ``study_id, outcome_type, analysis_id`` and the
        arm columns of each outcome type (binary: ``events_treat, n_treat, events_ctrl, n_ctrl``;
        continuous: ``mean_treat, sd_treat, n_treat, mean_ctrl, sd_ctrl, n_ctrl``; generic:
        ``measure`` with ``yi, sei`` or ``estimate, ci_low, ci_high``). ``source_file`` and
        ``source_row`` locate rows in error messages.
    measures : dict
        ``{"binary": [...], "continuous": [...]}``; the first measure of each list is the primary
        one (``primary_measure``). Generic rows carry their own measure (always primary).
    continuity : dict
        ``{"add": 0.5, "to": "only0", "drop00": False}`` (metafor's escalc defaults; ``to`` in
        ``only0, all, if0all, none``; ``if0all`` applies per analysis).
    level : float
        Level of the per-study Wald CI ``yi +- z sei`` (on the analysis scale).

    Returns
    -------
    DataFrame
        The trial columns passed through (group_by keys, moderators, ...; the generic input
        columns ``yi, sei, measure, estimate, ci_low, ci_high`` renamed ``*_reported``), then
        :data:`EFFECT_COLUMNS`. Rows in input order, measures in configuration order within a row.
        Dropped double-zero studies (``drop00``) keep a row with NaN yi/vi and ``dropped=True``.

    Raises
    ------
    InputError
        Every study whose effect size or variance is not finite or whose variance is <= 0 (e.g.
        a zero cell with ``to="none"``), each naming file, row, column and study.
    """
    measures, cont = _checked_options(measures, continuity)
    df = trials_df.reset_index(drop=True)
    where = _Locations(df)
    out = _EffectParts(df, cont["to"])
    kind_code = _outcome_kinds(df, where, out.problems)
    z = float(-special.ndtri((1.0 - level) / 2.0))  # = scipy.stats.norm.isf
    aid = pd.factorize(df["analysis_id"].astype(str))[0]  # analysis codes (``if0all`` groups)
    idx = np.flatnonzero(kind_code == 0)
    if idx.size:
        _binary_parts(out, idx, measures.get("binary", []), cont, aid[idx])
    idx = np.flatnonzero(kind_code == 1)
    if idx.size:
        _continuous_parts(out, idx, measures.get("continuous", []))
    idx = np.flatnonzero(kind_code == 2)
    if idx.size:
        _generic_parts(out, idx, where, level)
    sources = []  # time_to_event and rate rows: trialmeta.tables.time_to_event_effects
    idx = np.flatnonzero(kind_code == 3)
    if idx.size:
        sources.append((idx, time_to_event_parts(out, idx, level)))
    idx = np.flatnonzero(kind_code == 4)
    if idx.size:
        rate_parts(out, idx, measures.get("rate", ["IRR"]), cont, aid[idx])
    out.raise_problems(where)
    if sources:
        df = df.assign(hr_source=hr_source_labels(len(df), sources))
    return _assemble(df, out.parts, kind_code, z)
