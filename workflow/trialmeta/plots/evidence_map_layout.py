"""The evidence map's grid without drawing it (no matplotlib import: the report job uses
:func:`map_axes` for the note under the map, and :mod:`trialmeta.plots.evidence_map` draws it).

The rows are therapies (classes), the columns conditions; each occupied cell holds the *primary
outcome* of that therapy and condition (:func:`map_cells`). At scale the grid is bounded to
:data:`MAX_THERAPIES` rows and :data:`MAX_CONDITIONS` columns (:func:`map_axes`, whose
:attr:`MapAxes.note` says what the figure leaves out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "MAX_CONDITIONS",
    "MAX_THERAPIES",
    "MapAxes",
    "map_axes",
    "map_cells",
    "map_content",
]

#: Most therapy (class) rows drawn: 40 rows x 0.95 in is a 40 in tall figure, still legible
#: when zoomed (SVG) and a bounded PNG; the figure's note says how many are left out
MAX_THERAPIES = 40
#: Most condition columns drawn: 30 columns x 1.55 in is a 49 in wide figure (PNG 150 dpi:
#: about 7,400 x 6,300 px at the most), where a 1,000-condition grid (1,550 in) cannot be saved
MAX_CONDITIONS = 30


def _axis_column(df: pd.DataFrame, names) -> str | None:
    return next((c for c in names if c in df.columns), None)


def _with_axes(sof: pd.DataFrame) -> pd.DataFrame:
    """One row per analysis with its grid row ``_therapy`` and column ``_condition``."""
    tcol = _axis_column(sof, ("therapy_class", "therapy"))
    ccol = _axis_column(sof, ("condition",))
    df = sof.drop_duplicates("analysis_id").copy()
    df["_therapy"] = df[tcol].astype(str) if tcol else "all"
    df["_condition"] = df[ccol].astype(str) if ccol else "all"
    return df


@dataclass(frozen=True)
class MapAxes:
    """The rows and columns the evidence map draws (name order) and how many there are."""

    therapies: list
    conditions: list
    n_therapies: int
    n_conditions: int
    n_analyses: int

    @property
    def truncated(self) -> bool:
        return (len(self.therapies), len(self.conditions)) != (self.n_therapies, self.n_conditions)

    @property
    def note(self) -> str:
        """What the figure leaves out ("" when it shows everything)."""
        if not self.truncated:
            return ""
        return (
            f"Showing {len(self.therapies)} of {self.n_therapies} therapies and "
            f"{len(self.conditions)} of {self.n_conditions} conditions with the most "
            f"participants; all {self.n_analyses:,} analyses are in summary_of_findings.csv"
        )


def _name_order(name: str) -> tuple[str, str]:
    """Case-insensitive name order, names that differ only in case by code point."""
    return name.lower(), name


def _top(df: pd.DataFrame, column: str, limit: int) -> list:
    """The ``limit`` values of ``column`` with the most participants (ties: name order)."""
    totals = pd.to_numeric(df["participants"], errors="coerce").fillna(0.0)
    totals = totals.groupby(df[column]).sum()
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], *_name_order(kv[0])))
    return [name for name, _ in ranked[: max(1, limit)]]


def map_axes(
    sof: pd.DataFrame, max_therapies: int = MAX_THERAPIES, max_conditions: int = MAX_CONDITIONS
) -> MapAxes:
    """The evidence map's rows and columns: every therapy and condition when the grid fits,
    else the ``max_therapies`` therapies with the most participants and, among their analyses,
    the ``max_conditions`` conditions with the most participants."""
    df = _with_axes(sof)
    therapies = sorted(df["_therapy"].unique(), key=_name_order) if len(df) else []
    conditions = sorted(df["_condition"].unique(), key=_name_order) if len(df) else []
    n_t, n_c = len(therapies), len(conditions)
    if n_t > max_therapies:
        keep = set(_top(df, "_therapy", max_therapies))
        therapies = [t for t in therapies if t in keep]
    shown = df[df["_therapy"].isin(therapies)]
    if shown["_condition"].nunique() > max_conditions or len(shown) < len(df):
        keep = set(_top(shown, "_condition", max_conditions))
        conditions = [c for c in conditions if c in keep]
    return MapAxes(therapies, conditions, n_t, n_c, len(df))


def map_cells(sof: pd.DataFrame, interactions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per therapy x condition: the primary outcome's SoF row, ``n_outcomes`` and
    ``biomarker`` (None, ``"tested"`` or ``"P < 0.05"``)."""
    df = _with_axes(sof)
    df = df.sort_values(
        ["_therapy", "_condition", "participants", "k", "outcome"],
        ascending=[True, True, False, False, True],
        kind="mergesort",
    )
    counts = df.groupby(["_therapy", "_condition"])["analysis_id"].transform("count")
    df["n_outcomes"] = counts
    marks = _biomarker_marks(df, interactions)
    df["biomarker"] = [marks.get((t, c)) for t, c in zip(df["_therapy"], df["_condition"])]
    return df.drop_duplicates(["_therapy", "_condition"]).reset_index(drop=True)


def _biomarker_marks(df: pd.DataFrame, interactions: pd.DataFrame | None) -> dict:
    """(therapy, condition) -> ``"tested"`` or ``"P < 0.05"`` from the within-trial rows of
    ``interactions.csv``: by its own therapy and condition columns when it has them (biomarker
    outcomes need not be pooled outcomes), else by ``analysis_id``."""
    if interactions is None or not len(interactions):
        return {}
    within = interactions
    if "method" in within.columns:
        within = within[within["method"].astype(str) == "within_trial"]
    pvals = pd.to_numeric(within["pval"], errors="coerce") if "pval" in within else None
    hits = [bool(np.isfinite(p) and p < 0.05) for p in pvals] if pvals is not None else []
    tcol = _axis_column(within, ("therapy_class", "therapy"))
    ccol = _axis_column(within, ("condition",))
    if tcol and ccol and tcol in df.columns:
        keys = list(zip(within[tcol].astype(str), within[ccol].astype(str)))
    elif "analysis_id" in within.columns:
        cell_of = dict(zip(df["analysis_id"].astype(str), zip(df["_therapy"], df["_condition"])))
        keys = [cell_of.get(a) for a in within["analysis_id"].astype(str)]
    else:
        return {}
    out = {}
    for key, hit in zip(keys, hits or [False] * len(keys)):
        if key is not None:
            out[key] = "P < 0.05" if (hit or out.get(key) == "P < 0.05") else "tested"
    return out


def map_content(
    sof: pd.DataFrame,
    interactions: pd.DataFrame | None = None,
    max_therapies: int = MAX_THERAPIES,
    max_conditions: int = MAX_CONDITIONS,
) -> tuple[MapAxes, pd.DataFrame]:
    """Everything the evidence map draws: its axes (:func:`map_axes`) and the cells inside them
    (:func:`map_cells`, rows outside a bounded grid left out)."""
    axes = map_axes(sof, max_therapies, max_conditions)
    cells = map_cells(sof, interactions)
    if axes.truncated:
        shown = cells["_therapy"].isin(axes.therapies) & cells["_condition"].isin(axes.conditions)
        cells = cells[shown].reset_index(drop=True)
    return axes, cells
