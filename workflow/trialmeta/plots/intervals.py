"""The marks of forest-style plots: a study's CI line and square, a pooled diamond, the arrow
heads where an interval is cut at the axis end.

The study rows of one axes are drawn as two artists (:class:`StudyIntervals`): every CI line in
one :class:`~matplotlib.collections.LineCollection` and every square in one scatter. Drawn one
``Line2D`` per line and per square, a 10-trial forest plot spent a fifth of its drawing time
creating and rendering those 20 artists (issue 16); the figure looks the same (same positions,
sizes, colours and stacking: lines under squares under nothing else).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon

from trialmeta.plots.style import PALETTE

__all__ = ["StudyIntervals", "draw_interval", "ci_segment", "clipped_diamond"]

#: Side of a study square (points) when no weight sizes it.
DEFAULT_SQUARE = 4.0


def _diamond(ax, y, est, lo, hi, *, face, edge="black", half_h=0.32, gid=None):
    poly = Polygon(
        [(lo, y), (est, y - half_h), (hi, y), (est, y + half_h)],
        closed=True,
        facecolor=face,
        edgecolor=edge,
        linewidth=0.9,
        zorder=4,
    )
    if gid:
        poly.set_gid(gid)
    ax.add_patch(poly)


def _cut(lo, hi, xlim) -> tuple[float, float] | None:
    """The part of [lo, hi] inside the axis, or None when nothing of it is."""
    a, b = max(lo, xlim[0]), min(hi, xlim[1])
    return (a, b) if a < b else None


def edge_arrows(ax, y, left: bool, right: bool, xlim, color, zorder=3):
    """Arrow heads at the axis ends where an interval is cut (gid ``arrow-left`` / ``-right``)."""
    for cut, x, marker, gid in (
        (left, xlim[0], "<", "arrow-left"),
        (right, xlim[1], ">", "arrow-right"),
    ):
        if cut:
            (line,) = ax.plot(
                [x], [y], marker=marker, markersize=4, color=color, zorder=zorder, clip_on=False
            )
            line.set_gid(gid)


def ci_segment(ax, y, lo, hi, xlim, color, lw=1.0, zorder=3):
    """One horizontal interval (e.g. the prediction interval bar) clipped to the axis, with arrow
    heads where it is cut."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return
    seg = _cut(lo, hi, xlim)
    if seg:
        ax.plot(list(seg), [y, y], color=color, linewidth=lw, solid_capstyle="butt", zorder=zorder)
    edge_arrows(ax, y, lo < xlim[0], hi > xlim[1], xlim, color, zorder)


def clipped_diamond(ax, y, est, lo, hi, xlim, *, face, gid):
    """A pooled diamond cut at the axis ends, with an arrow where it is cut."""
    a, b = max(lo, xlim[0]), min(hi, xlim[1])
    _diamond(ax, y, min(max(est, a), b), a, b, face=face, gid=gid)
    edge_arrows(ax, y, lo < xlim[0], hi > xlim[1], xlim, "black", zorder=5)


class StudyIntervals:
    """The study rows of one forest-style axes, collected by :meth:`add` and drawn by
    :meth:`draw` as one line collection (CIs, 1 pt, butt caps, under) and one scatter of squares
    (side in points, no edge, over); arrow heads where a CI is cut are drawn at once."""

    def __init__(self, ax, xlim, color=PALETTE["study"]):
        self.ax, self.xlim, self.color = ax, xlim, color
        self.segments: list[list[tuple[float, float]]] = []
        self.squares: list[tuple[float, float, float]] = []  # (x, y, side in points)

    def add(self, y, est, lo, hi, marker_size=None) -> None:
        """One study: its CI [lo, hi] at row ``y`` and a square at ``est`` of side
        ``marker_size`` points (drawn only where the estimate is on the axis)."""
        xlim = self.xlim
        if math.isfinite(lo) and math.isfinite(hi):
            seg = _cut(lo, hi, xlim)
            if seg:
                self.segments.append([(seg[0], y), (seg[1], y)])
            edge_arrows(self.ax, y, lo < xlim[0], hi > xlim[1], xlim, self.color)
        if math.isfinite(est) and xlim[0] <= est <= xlim[1]:
            self.squares.append((est, y, marker_size or DEFAULT_SQUARE))

    def draw(self) -> None:
        """Add the collected CIs and squares to the axes (nothing when none was added)."""
        if self.segments:
            lines = LineCollection(
                self.segments, colors=self.color, linewidths=1.0, capstyle="butt", zorder=3
            )
            self.ax.add_collection(lines, autolim=False)
        if self.squares:
            x, y, side = np.asarray(self.squares, float).T
            self.ax.scatter(
                x,
                y,
                s=side**2,
                marker="s",
                c=self.color,
                linewidths=0,
                zorder=4,
                plotnonfinite=False,
            )


def draw_interval(ax, y, est, lo, hi, xlim, *, marker_size=None, diamond=None, gid=None):
    """One row of a forest-style plot in natural units: a CI line with a square of
    ``marker_size`` points (study), or a diamond of face colour ``diamond`` (pooled); cut at the
    axis ends with an arrow. For many study rows use :class:`StudyIntervals` (two artists)."""
    if diamond is not None:
        clipped_diamond(ax, y, est, lo, hi, xlim, face=diamond, gid=gid)
        return
    rows = StudyIntervals(ax, xlim)
    rows.add(y, est, lo, hi, marker_size)
    rows.draw()
