"""Tick helpers shared by the bias / sensitivity plots (plain-text labels: the style turns
mathtext off, so matplotlib's default log formatter would print raw TeX)."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

NICE = np.array(
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
)
#: At most this many labelled ticks on a log axis (more overlap at the plots' widths).
MAX_TICKS = 7


def _fmt(v, _pos=None):
    if v >= 1:
        return f"{v:g}"
    return f"{v:.3f}".rstrip("0").rstrip(".")


def log_ticks(ax, axis: str = "x", max_ticks: int = MAX_TICKS, expand: bool = True):
    """Nice ratio ticks (0.1, 0.2, 0.5, 1, 2, 5, ...) with plain labels on a log axis; on a wide
    axis only the powers of ten (and the null, 1), so labels never overlap. ``expand``: widen the
    limits to the nice values just outside them, so a labelled tick brackets the data on each
    side (a CI reaching 4.42 gets a tick at 5)."""
    get, set_ = (ax.get_xlim, ax.set_xlim) if axis == "x" else (ax.get_ylim, ax.set_ylim)
    lo, hi = get()
    flipped = lo > hi
    lo, hi = min(lo, hi), max(lo, hi)
    if expand and lo > 0:
        below, above = NICE[NICE <= lo * 1.001], NICE[NICE >= hi * 0.999]
        lo = float(below[-1]) if below.size else lo
        hi = float(above[0]) if above.size else hi
        set_((hi, lo) if flipped else (lo, hi))
    ticks = NICE[(NICE >= lo * 0.999) & (NICE <= hi * 1.001)]
    if ticks.size > max_ticks:
        decades = ticks[np.isclose(np.log10(ticks), np.round(np.log10(ticks)))]
        ticks = decades if decades.size >= 2 else ticks[:: int(np.ceil(ticks.size / max_ticks))]
        while ticks.size > max_ticks:
            ticks = ticks[::2]
    if ticks.size < 2:  # a narrow axis: its ends (2 significant digits) and the nice tick inside
        ends = [float(f"{lo * 1.02:.2g}"), float(f"{hi * 0.98:.2g}")]
        ticks = np.unique(np.concatenate([[e for e in ends if lo <= e <= hi], ticks]))
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(FixedLocator(ticks))
    a.set_major_formatter(FuncFormatter(_fmt))
    a.set_minor_locator(NullLocator())
    a.set_minor_formatter(NullFormatter())
