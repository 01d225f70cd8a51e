"""Result object shared by every pooling model (random, fixed, Mantel-Haenszel, Peto).

Every field is a NumPy array with one entry per analysis in the batch (shape
(K,)), so K analyses pooled in one call give one :class:`PooledResult`. Fields
that do not apply to a model are NaN (e.g. ``tau2`` for Mantel-Haenszel, ``df``
for normal-based inference) and are written as empty cells in the tables.

Field names follow ``results/tables/pooled.csv`` (see issue "Statistical
engine"); :data:`POOLED_FIELDS` is that column order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

__all__ = ["PooledResult", "POOLED_FIELDS", "Status"]

#: Columns of pooled.csv after the analysis key columns, in contract order.
POOLED_FIELDS = (
    "analysis_id", "measure", "scale", "model", "tau2_method", "ci_method", "k",
    "estimate", "se", "stat", "df", "pval", "ci_low", "ci_high", "pi_low", "pi_high",
    "tau2", "tau2_ci_low", "tau2_ci_high", "tau", "I2", "I2_ci_low", "I2_ci_high",
    "H2", "Q", "Q_df", "Q_pval", "status",
)


class Status:
    """Values of the ``status`` column (one per analysis and model).

    ``ok`` is the normal case. Others say why a number is missing or special;
    several may be joined with ``;`` (e.g. ``ok;tau2_boundary``).
    """

    OK = "ok"
    SINGLE_STUDY = "single_study"           # k = 1: the study is reported, nothing is pooled
    TAU2_BOUNDARY = "tau2_boundary"         # tau2 estimate is 0 (truncated / on the boundary)
    NOT_CONVERGED = "not_converged"         # iterative estimator hit its iteration cap
    FAILED = "failed"                       # followed by ':reason'
    NO_EVENTS = "no_events"                 # MH/Peto: no events in any study


@dataclass
class PooledResult:
    """Pooled estimates of K analyses under one model / tau2 method / CI method.

    All arrays have shape (K,); ``weights`` has shape (K, n) in percent
    (padding 0) when the model has per-study weights.
    """

    model: str                      # random | fixed | mh | peto
    tau2_method: str = ""           # DL, REML, ... ("" unless model == random)
    ci_method: str = ""             # wald | hksj ("" for mh/peto)
    k: np.ndarray = None
    estimate: np.ndarray = None
    se: np.ndarray = None
    stat: np.ndarray = None         # z (or t for hksj)
    df: np.ndarray = None           # NaN for normal-based inference
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
    status: np.ndarray = None       # object array of str
    weights: np.ndarray | None = None
    extra: dict = field(default_factory=dict)   # model-specific: iterations, CMH, BD, ...

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
