"""Result object shared by every pooling model (random, fixed, Mantel-Haenszel, Peto).

Every field is a NumPy array with one entry per analysis in the batch (shape
(K,)), so K analyses pooled in one call give one :class:`PooledResult`. Fields
that do not apply to a model are NaN (e.g. ``tau2`` for Mantel-Haenszel, ``df``
for normal-based inference) and are written as empty cells in the tables.

Field names follow ``results/tables/pooled.csv``; :data:`POOLED_FIELDS` is that column order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

__all__ = [
    "PooledResult",
    "POOLED_FIELDS",
    "NUMBER_FIELDS",
    "INTERVAL_AND_HETEROGENEITY",
    "Status",
    "frame",
]

#: The per-analysis numbers of a :class:`PooledResult` (estimate to the Q test), in column order.
NUMBER_FIELDS = (
    "estimate",
    "se",
    "stat",
    "df",
    "pval",
    "ci_low",
    "ci_high",
    "pi_low",
    "pi_high",
    "tau2",
    "tau2_ci_low",
    "tau2_ci_high",
    "tau",
    "I2",
    "I2_ci_low",
    "I2_ci_high",
    "H2",
    "Q",
    "Q_df",
    "Q_pval",
)
#: The numbers that a single study cannot give: prediction interval and heterogeneity.
INTERVAL_AND_HETEROGENEITY = NUMBER_FIELDS[NUMBER_FIELDS.index("pi_low") :]
#: Columns of pooled.csv after the analysis key columns, in contract order.
POOLED_FIELDS = (
    "analysis_id",
    "measure",
    "scale",
    "model",
    "tau2_method",
    "ci_method",
    "k",
    *NUMBER_FIELDS,
    "status",
)


def frame(columns: dict):
    """A pandas DataFrame of equally long columns: the one table protocol (``to_frame()``) of the
    statistics' result objects. pandas is imported here, on demand, so that the statistics
    themselves stay NumPy-only and cheap to import."""
    import pandas as pd

    return pd.DataFrame(columns)


def per_analysis_frame(result):
    """One row per analysis of a dataclass result of (K,) arrays: its 1-D array fields in field
    order, text fields repeated on every row; per-study (K, n) fields are left out."""
    arrays = {f.name: getattr(result, f.name) for f in fields(result)}
    arrays = {k: v for k, v in arrays.items() if isinstance(v, np.ndarray) and v.ndim == 1}
    K = next(iter(arrays.values())).shape[0] if arrays else 0
    cols = {}
    for f in fields(result):
        v = getattr(result, f.name)
        if isinstance(v, str):
            cols[f.name] = np.full(K, v, dtype=object)
        elif f.name in arrays:
            cols[f.name] = arrays[f.name]
    return frame(cols)


class Status:
    """Values of the ``status`` column (one per analysis and model).

    ``ok`` is the normal case. Others say why a number is missing or special;
    several may be joined with ``;`` (e.g. ``ok;tau2_boundary``).
    """

    OK = "ok"
    SINGLE_STUDY = "single_study"  # k = 1: the study is reported, nothing is pooled
    TAU2_BOUNDARY = "tau2_boundary"  # tau2 estimate is 0 (truncated / on the boundary)
    NOT_CONVERGED = "not_converged"  # iterative estimator hit its iteration cap
    FAILED = "failed"  # followed by ':reason'
    NO_EVENTS = "no_events"  # MH/Peto: no events in any study


@dataclass
class PooledResult:
    """Pooled estimates of K analyses under one model / tau2 method / CI method.

    All arrays have shape (K,); ``weights`` has shape (K, n) in percent
    (padding 0) when the model has per-study weights.
    """

    model: str  # random | fixed | mh | peto
    tau2_method: str = ""  # DL, REML, ... ("" unless model == random)
    ci_method: str = ""  # wald | hksj ("" for mh/peto)
    k: np.ndarray = None
    estimate: np.ndarray = None
    se: np.ndarray = None
    stat: np.ndarray = None  # z (or t for hksj)
    df: np.ndarray = None  # NaN for normal-based inference
    pval: np.ndarray = None
    ci_low: np.ndarray = None
    ci_high: np.ndarray = None
    pi_low: np.ndarray = None
    pi_high: np.ndarray = None
    tau2: np.ndarray = None
    tau2_ci_low: np.ndarray = None
    tau2_ci_high: np.ndarray = None
    tau: np.ndarray = None
    I2: np.ndarray = None
    I2_ci_low: np.ndarray = None
    I2_ci_high: np.ndarray = None
    H2: np.ndarray = None
    Q: np.ndarray = None
    Q_df: np.ndarray = None
    Q_pval: np.ndarray = None
    status: np.ndarray = None  # object array of str
    weights: np.ndarray | None = None
    extra: dict = field(default_factory=dict)  # model-specific: iterations, CMH, BD, ...

    def __post_init__(self):
        # Fill every missing array with NaN of the batch size, so consumers never see None.
        size = None
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray) and f.name not in ("weights",):
                size = v.shape[0]
                break
        if size is None:
            return
        for f in fields(self):
            if f.name in ("model", "tau2_method", "ci_method", "weights", "extra"):
                continue
            if getattr(self, f.name) is None:
                if f.name == "status":
                    setattr(self, f.name, np.full(size, Status.OK, dtype=object))
                else:
                    setattr(self, f.name, np.full(size, np.nan))

    def column(self, name: str) -> np.ndarray:
        """The (K,) array for a pooled.csv column name (or an ``extra`` entry)."""
        if name in self.extra:
            return self.extra[name]
        return getattr(self, name)

    def as_columns(self) -> dict:
        """``model, tau2_method, ci_method``, the pooled.csv fields from ``k`` on and the (K,)
        ``extra`` entries, as a dict of (K,) arrays (one entry per analysis)."""
        K = np.asarray(self.k).shape[0]
        cols = {
            name: np.full(K, getattr(self, name), dtype=object)
            for name in ("model", "tau2_method", "ci_method")
        }
        for name in POOLED_FIELDS[POOLED_FIELDS.index("k") :]:
            cols[name] = np.asarray(getattr(self, name))
        for name, arr in self.extra.items():
            arr = np.asarray(arr)
            if arr.ndim == 1 and arr.shape[0] == K and name not in cols:
                cols[name] = arr
        return cols

    def to_frame(self):
        """One row per analysis (see :meth:`as_columns`) as a pandas DataFrame."""
        return frame(self.as_columns())
