"""The study rows of forest-style plots drawn as two artists (trialmeta.plots.intervals)."""

import numpy as np
from matplotlib.collections import LineCollection, PathCollection

from trialmeta.plots.intervals import StudyIntervals, draw_interval
from trialmeta.plots.style import PALETTE, figure_bytes, new_figure


def _axes(xlim=(0.5, 2.0)):
    fig = new_figure(4, 2)
    ax = fig.add_axes([0.1, 0.2, 0.8, 0.7])
    ax.set_xlim(*xlim)
    ax.set_ylim(3.5, -0.5)
    return fig, ax


def test_rows_become_one_line_collection_and_one_scatter():
    fig, ax = _axes()
    marks = StudyIntervals(ax, (0.5, 2.0))
    marks.add(0, 1.0, 0.8, 1.3, 6.0)
    marks.add(1, 1.5, 0.2, 1.9, 9.0)  # CI cut at the left end: arrow, line from 0.5
    marks.add(2, 3.0, 2.5, 4.0, 5.0)  # wholly right of the axis: arrow only, no square
    marks.add(3, float("nan"), float("nan"), float("nan"), 5.0)  # not estimable: nothing
    marks.draw()
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segs = [np.asarray(s) for s in lines.get_segments()]
    assert [s[:, 0].tolist() for s in segs] == [[0.8, 1.3], [0.5, 1.9]]
    assert [s[0, 1] for s in segs] == [0, 1]
    (squares,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert squares.get_offsets().tolist() == [[1.0, 0.0], [1.5, 1.0]]
    assert squares.get_sizes().tolist() == [36.0, 81.0]  # side in points, squared
    assert lines.get_zorder() < squares.get_zorder()
    assert {ln.get_gid() for ln in ax.get_lines()} == {"arrow-left", "arrow-right"}
    assert np.allclose(squares.get_facecolor()[0][:3], lines.get_color()[0][:3])
    assert b"<svg" in figure_bytes(fig, "svg")


def test_nothing_added_draws_nothing_and_diamond_is_a_patch():
    fig, ax = _axes()
    StudyIntervals(ax, (0.5, 2.0)).draw()
    assert not ax.collections and not ax.get_lines()
    draw_interval(ax, 0, 1.1, 0.9, 1.4, (0.5, 2.0), diamond=PALETTE["pooled"], gid="d")
    assert [p.get_gid() for p in ax.patches] == ["d"]
    draw_interval(ax, 1, 1.1, 0.9, 1.4, (0.5, 2.0), marker_size=5.0)
    assert len(ax.collections) == 2  # one study: its line and its square
