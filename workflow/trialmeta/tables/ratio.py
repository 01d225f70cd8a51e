"""The ``scale`` and back-transformed ``<col>_exp`` columns of the tables that hold estimates.

Convention of every table of ``results/tables/`` (``pooled.csv`` first, :data:`EXP_COLUMNS
<trialmeta.tables.pooled.EXP_COLUMNS>`): ``scale`` (``log`` for ratio measures such as OR, RR,
HR, whose estimates are on the log scale; ``raw`` for differences such as RD, MD, SMD) right after
``measure``, and for every estimate / CI / PI column ``<col>`` a column ``<col>_exp`` = exp(value)
on ``log`` rows (the ratio itself), empty on ``raw`` rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.stats.effect_sizes import measure_scale

__all__ = ["exp_columns", "scale_of_measures", "with_scale", "with_exp"]


def exp_columns(columns) -> list:
    """``[c + "_exp" for c in columns]``: the names of the back-transformed columns."""
    return [f"{c}_exp" for c in columns]


def scale_of_measures(effects: pd.DataFrame) -> dict:
    """``{measure: scale}`` of the effects table (its ``scale`` column; without one, the scale of
    the measure code, :func:`trialmeta.stats.effect_sizes.measure_scale`)."""
    if effects is None or "measure" not in effects:
        return {}
    measures = effects["measure"].astype(str)
    if "scale" in effects:
        pairs = pd.DataFrame({"m": measures, "s": effects["scale"].astype(str)})
        return dict(pairs.drop_duplicates("m").itertuples(index=False, name=None))
    return {m: measure_scale(m) for m in measures.unique()}


def with_scale(df: pd.DataFrame, scales: dict) -> pd.DataFrame:
    """``df`` with ``scale`` (of the row's measure) right after ``measure``; a ``scale`` column
    already there keeps its values and only its empty cells are filled."""
    out = df.copy()
    scale = out["measure"].astype(str).map(lambda m: scales.get(m) or measure_scale(m))
    if "scale" in out:
        have = out["scale"]
        filled = have.notna() & (have.astype(str) != "") & (have.astype(str) != "nan")
        out["scale"] = have.where(filled, scale).to_numpy(dtype=object)
        return out
    out.insert(int(out.columns.get_loc("measure")) + 1, "scale", scale.to_numpy(dtype=object))
    return out


def with_exp(df: pd.DataFrame, columns) -> pd.DataFrame:
    """``df`` with ``<col>_exp`` for each of ``columns`` (exp on ``scale == "log"`` rows, NaN
    elsewhere), inserted as one block right after the last of ``columns`` (replacing any
    ``<col>_exp`` already there)."""
    out = df.drop(columns=exp_columns(columns), errors="ignore")
    log = (out["scale"].astype(str) == "log").to_numpy()
    at = max(int(out.columns.get_loc(c)) for c in columns) + 1
    for i, c in enumerate(columns):
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.exp(pd.to_numeric(out[c], errors="coerce").to_numpy(float))
        out.insert(at + i, f"{c}_exp", np.where(log, values, np.nan))
    return out
