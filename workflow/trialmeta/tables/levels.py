"""Order of the levels of a subgroup moderator, shared by the subgroup figures and the report."""

from __future__ import annotations

import pandas as pd

from trialmeta.inputs.booleans import parse_bool

__all__ = ["true_false_levels", "ordered_levels"]


def true_false_levels(levels) -> list | None:
    """The levels read as True/False (:func:`trialmeta.inputs.booleans.parse_bool`), or None
    when any level is not a true/false value."""
    flags = [parse_bool(x) for x in levels]
    return flags if all(f is not None for f in flags) else None


def ordered_levels(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of one moderator's subgroups (column ``level``): for a true/false moderator the "true"
    level first (the selected trials), else in table order."""
    flags = true_false_levels(rows["level"])
    if flags is not None:  # a stable sort: "true" rows first, each group in table order
        return rows.iloc[sorted(range(len(flags)), key=lambda i: not flags[i])]
    return rows
