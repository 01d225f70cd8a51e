"""The effect axis of the forest-style plots (forest, subgroup forest, leave-one-out, cumulative),
RevMan's convention, as a pure function: intervals in, limits / ticks / clipping flags out.

Ratio measures (log axis): the axis is symmetric about 1 and chosen from RevMan's scales
0.5-2, 0.2-5, 0.1-10, 0.05-20, 0.02-50 and 0.01-100: the narrowest that holds every point estimate,
the pooled confidence intervals and the studies' confidence intervals, capped at
:data:`RATIO_CAP` (0.01-100), so one huge interval (0.002-500) does not squeeze the others.

Difference measures (linear axis): symmetric about 0, ``(-v, v)`` with ``v`` a 1-2-2.5-5 nice
number and ticks at ``-v, -v/2, 0, v/2, v``; the studies' intervals may widen the axis to at most
:data:`DIFFERENCE_CAP_FACTOR` times what the point estimates and pooled intervals need.

An interval that reaches beyond the axis is drawn clipped at the edge with an arrow
(:meth:`EffectAxis.clipped`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RATIO_SCALES",
    "RATIO_CAP",
    "DIFFERENCE_CAP_FACTOR",
    "EffectAxis",
    "effect_axis",
    "tick_label",
]

#: RevMan's symmetric ratio scales (upper limit v, axis 1/v to v) and their labelled ticks.
RATIO_SCALES = {
    2.0: (0.5, 0.7, 1, 1.5, 2),
    5.0: (0.2, 0.5, 1, 2, 5),
    10.0: (0.1, 0.2, 0.5, 1, 2, 5, 10),
    20.0: (0.05, 0.2, 1, 5, 20),
    50.0: (0.02, 0.1, 1, 10, 50),
    100.0: (0.01, 0.1, 1, 10, 100),
}
#: Widest ratio axis (0.01-100): intervals beyond it end in an arrow.
RATIO_CAP = 100.0
#: A difference axis is at most this many times wider than the point estimates and pooled CIs need.
DIFFERENCE_CAP_FACTOR = 3.0
_NICE = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class EffectAxis:
    """``limits`` and ``ticks`` in natural units (ratios: > 0), ``labels`` of the ticks."""

    limits: tuple[float, float]
    ticks: tuple[float, ...]
    labels: tuple[str, ...]
    is_ratio: bool

    def clipped(self, lo, hi) -> tuple[np.ndarray, np.ndarray]:
        """``(left, right)`` boolean arrays: the interval reaches beyond the left / right end of
        the axis (drawn clipped, with an arrow)."""
        lo = np.atleast_1d(np.asarray(lo, dtype=float))
        hi = np.atleast_1d(np.asarray(hi, dtype=float))
        a, b = self.limits
        return (lo < a * (1 - 1e-9) if self.is_ratio else lo < a - 1e-12 * abs(a)), (
            hi > b * (1 + 1e-9) if self.is_ratio else hi > b + 1e-12 * abs(b)
        )


def tick_label(t: float) -> str:
    """Plain tick text (``0.01``, ``1``, ``100``, ``\u22120.5``)."""
    if t == 0:
        return "0"
    return f"{t:g}".replace("-", "\u2212")


def _nice_ceil(x: float) -> float:
    if not (x > 0 and math.isfinite(x)):
        return 1.0
    exp = math.floor(math.log10(x))
    for m in _NICE:
        v = m * 10**exp
        if v >= x * (1 - 1e-12):
            return float(f"{v:.12g}")
    return 10.0 ** (exp + 1)


def _finite(values, is_ratio: bool) -> np.ndarray:
    arr = np.asarray([v for v in np.ravel(np.asarray(list(values), dtype=float))], dtype=float)
    arr = arr[np.isfinite(arr)]
    if is_ratio:
        arr = arr[arr > 0]
        return np.abs(np.log(arr))
    return np.abs(arr)


def effect_axis(
    core: Iterable[float], study_intervals: Iterable[float] = (), *, is_ratio: bool
) -> EffectAxis:
    """The axis of a forest-style plot, in natural units.

    ``core``: values the axis should hold (point estimates of studies and pooled results, the
    pooled CIs); ``study_intervals``: the ends of the studies' CIs (and of a prediction interval).
    Both count in full up to the cap (ratios: :data:`RATIO_CAP`; differences:
    :data:`DIFFERENCE_CAP_FACTOR` times the core's need); whatever lies beyond is clipped.
    """
    core_abs = _finite(core, is_ratio)
    all_abs = np.concatenate([core_abs, _finite(study_intervals, is_ratio)])
    need = float(all_abs.max()) if all_abs.size else 0.0
    if is_ratio:
        v = next((s for s in RATIO_SCALES if math.log(s) >= need * (1 - 1e-12)), RATIO_CAP)
        v = min(v, RATIO_CAP)
        ticks = RATIO_SCALES[v]
        return EffectAxis(
            (1 / v, v), tuple(float(t) for t in ticks), tuple(tick_label(t) for t in ticks), True
        )
    core_need = float(core_abs.max()) if core_abs.size else 0.0
    if core_need > 0:
        need = min(need, DIFFERENCE_CAP_FACTOR * core_need)
    v = _nice_ceil(need) if need > 0 else 1.0
    ticks = (-v, -v / 2, 0.0, v / 2, v)
    return EffectAxis((-v, v), ticks, tuple(tick_label(t) for t in ticks), False)
