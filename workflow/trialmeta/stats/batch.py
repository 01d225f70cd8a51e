"""Padded batches of analyses: the data layout every batched statistic works on.

A *batch* holds K analyses (meta-analyses) at once. Analysis ``i`` has ``k[i]``
studies; all analyses are padded to ``n = max(k)`` columns so that every
statistic is a handful of NumPy reductions over axis 1, with no Python loop
per analysis or per study.

Padding convention (relied on by every estimator):

* ``mask[i, j]`` is True for a real study, False for padding;
* padded ``yi`` are 0 and padded ``vi`` are 1 (harmless finite dummies);
  weights must always be multiplied by ``mask`` (see :func:`masked_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["StudyBatch", "masked_weights", "pad_by_group"]


def pad_by_group(group_codes: np.ndarray, *columns: np.ndarray, fill=0.0):
    """Scatter long-format rows into (K, n) padded arrays.

    ``group_codes`` are integers 0..K-1 (one per row); rows keep their
    relative order inside each group (a stable sort), so the j-th study of an
    analysis is its j-th row in the input.

    Returns ``(mask, position, padded_columns...)`` where ``position[i, j]`` is
    the input row index of study j of analysis i (-1 for padding).
    """
    codes = np.asarray(group_codes, dtype=np.int64)
    if codes.ndim != 1:
        raise ValueError("group_codes must be one-dimensional")
    n_rows = codes.size
    n_groups = int(codes.max()) + 1 if n_rows else 0
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    counts = np.bincount(codes, minlength=n_groups)
    width = int(counts.max()) if n_groups else 0
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    slot = np.arange(n_rows) - starts[sorted_codes]
    position = np.full((n_groups, width), -1, dtype=np.int64)
    position[sorted_codes, slot] = order
    mask = position >= 0
    padded = []
    for col in columns:
        col = np.asarray(col)
        out = np.full((n_groups, width), fill, dtype=np.result_type(col.dtype, type(fill)))
        out[sorted_codes, slot] = col[order]
        padded.append(out)
    return (mask, position, *padded)


@dataclass(frozen=True)
class StudyBatch:
    """Effect sizes of K analyses, padded to a common width.

    Attributes
    ----------
    yi : (K, n) float
        Effect sizes on the analysis scale (log for OR/RR/HR), 0 for padding.
    vi : (K, n) float
        Sampling variances, 1 for padding.
    mask : (K, n) bool
        True where a real study sits.
    """

    yi: np.ndarray
    vi: np.ndarray
    mask: np.ndarray

    def __post_init__(self):
        if not (self.yi.shape == self.vi.shape == self.mask.shape) or self.yi.ndim != 2:
            raise ValueError("yi, vi and mask must be (K, n) arrays of the same shape")

    @property
    def k(self) -> np.ndarray:
        """Number of studies per analysis, shape (K,) (a fresh array)."""
        return self.study_counts().copy()

    def study_counts(self) -> np.ndarray:
        """Number of studies per analysis, shape (K,), computed once and cached (read-only: the
        batch is treated as immutable)."""
        k = self.__dict__.get("_k")
        if k is None:
            k = self.mask.sum(axis=1)
            k.flags.writeable = False
            object.__setattr__(self, "_k", k)
        return k

    @property
    def n_analyses(self) -> int:
        return self.yi.shape[0]

    @classmethod
    def from_arrays(cls, yi, vi, mask=None) -> StudyBatch:
        """Build from (K, n) arrays (NaN in ``yi`` marks padding when ``mask`` is None).

        A 1-D input is treated as a single analysis.
        """
        yi = np.atleast_2d(np.asarray(yi, dtype=float))
        vi = np.atleast_2d(np.asarray(vi, dtype=float))
        if mask is None:
            mask = np.isfinite(yi) & np.isfinite(vi)
        mask = np.atleast_2d(np.asarray(mask, dtype=bool))
        return cls(np.where(mask, yi, 0.0), np.where(mask, vi, 1.0), mask)

    @classmethod
    def from_long(cls, group_codes, yi, vi):
        """Build from long format; returns ``(batch, position)`` (see :func:`pad_by_group`)."""
        mask, position, y, v = pad_by_group(
            group_codes, np.asarray(yi, float), np.asarray(vi, float)
        )
        return cls(np.where(mask, y, 0.0), np.where(mask, v, 1.0), mask), position

    @classmethod
    def from_list(cls, analyses) -> StudyBatch:
        """Build from a list of ``(yi, vi)`` pairs of 1-D arrays (convenient in tests)."""
        codes = np.concatenate([np.full(len(y), i) for i, (y, _) in enumerate(analyses)])
        yi = np.concatenate([np.asarray(y, float) for y, _ in analyses])
        vi = np.concatenate([np.asarray(v, float) for _, v in analyses])
        return cls.from_long(codes, yi, vi)[0]


def masked_weights(batch: StudyBatch, tau2=0.0) -> np.ndarray:
    """Inverse-variance weights ``1 / (vi + tau2)`` with padding set to 0.

    ``tau2`` is a scalar or a (K,) array (one value per analysis).
    """
    t = np.asarray(tau2, dtype=float)
    if t.ndim == 1:
        t = t[:, None]
    return np.where(batch.mask, 1.0 / (batch.vi + t), 0.0)
