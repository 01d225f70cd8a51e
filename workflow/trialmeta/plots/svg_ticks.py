"""An axis drawn with its existing tick objects (issue 16), for :mod:`trialmeta.plots.svg_backend`.

matplotlib's ``Axis.draw`` asks ``Axis._update_ticks`` for the ticks to draw, and that makes one
``Tick`` object per tick location (three lines and two texts each, about 0.5 ms), then does it
all again to place the axis label. Every tick made that way is a copy of the axis's first tick
(``Axis.get_major_ticks`` copies its properties), so drawing two of them at two locations writes
exactly what drawing one of them twice, moved in between, writes. :func:`draw_axis` does that:
the ticks the axis already has draw their own locations, and one spare copy of the first tick
draws every location beyond them. The plan of what to draw is made once per axis and used for
the label's position too. The order of operations, and so the output, is ``Axis.draw``'s.
The spare ticks are kept for the next file and reused when a new one would be the same
(:func:`_spare_tick`: made ~0.43 ms, reused ~0.11 ms; about ten per analysis).
"""

from __future__ import annotations

import copy

import matplotlib as mpl
from matplotlib import transforms as mtransforms
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

__all__ = [
    "draw_axis",
    "return_spares",
    "spine_extent",
    "tick_label_bboxes_of_siblings",
]

#: ``renderer.open_group`` name used by ``Axis.draw`` (its module's ``__name__``).
AXIS_GROUP = "matplotlib.axis"
#: ``plans[axis, DRAWING]``: the tick label boxes of the axis being drawn, measured once by
#: :func:`draw_axis` and used again when its label is placed (nothing moves in between; the
#: boxes of the other aligned axes are measured when asked for, as ``Axis.draw`` does).
DRAWING = "drawing"
#: ``plans[SPARES]``: the spare ticks taken for the file being written (see :func:`_spare_tick`).
SPARES = "spares"
#: Spare ticks not in use: (axis class, major, tick parameters, rc parameters, tick); see
#: :func:`_spare_tick`. At most ``MAX_FREE_SPARES`` are kept (a figure job uses 2 to 4).
_FREE_SPARES: list[tuple] = []
MAX_FREE_SPARES = 16


def _group_plan(axis, major: bool, spares: list) -> list[tuple]:
    """(tick, location, label, major) of one tick group, as ``Axis._update_ticks`` pairs them;
    a spare tick it takes is added to ``spares``."""
    if major:
        kw, locator, formatter = axis._major_tick_kw, axis.get_major_locator(), axis.major.formatter
    else:
        kw, locator, formatter = axis._minor_tick_kw, axis.get_minor_locator(), axis.minor.formatter
    if not axis._tick_group_visible(kw) or isinstance(locator, NullLocator):
        return []
    locs = axis.get_majorticklocs() if major else axis.get_minorticklocs()
    labels = formatter.format_ticks(locs)
    existing = axis.majorTicks if major else axis.minorTicks
    spare, plan = None, []
    for i, (loc, label) in enumerate(zip(locs, labels)):
        if i < len(existing):
            plan.append((existing[i], loc, label, major))
            continue
        if spare is None:  # what Axis.get_major_ticks makes for every tick beyond the existing
            spare = _spare_tick(axis, major, spares)
            axis._copy_tick_props(existing[0], spare)
        plan.append((spare, loc, label, major))
    return plan


def _spare_tick(axis, major: bool, spares: list):
    """``axis._get_tick(major)``, or a spare tick made by that call for an earlier file and
    pointed at this axis's figure and axes.

    A ``Tick`` holds what ``Tick.__init__`` made of the tick parameters and rc parameters, what
    ``Axis._copy_tick_props`` copies (done again by the caller), its figure and axes, and what
    placing and drawing it left (positions, text, cached paths and renderer: each set again
    before it is read). So a spare made with equal tick and rc parameters by the same tick
    class, pointed at this figure and axes, draws what a new one would; one is reused only
    then, by an axis of the same class, and by one axis per file (``spares``). A new spare
    costs a copy of the rc parameters (~0.3 ms, as much as the tick), a reused one ~0.1 ms.
    """
    tick_kw = axis._major_tick_kw if major else axis._minor_tick_kw
    for i, (cls, was_major, kw, rc, tick) in enumerate(_FREE_SPARES):
        if cls is type(axis) and was_major is major and _equal(kw, tick_kw):
            if _equal(rc, mpl.rcParams):
                del _FREE_SPARES[i]
                _point_at(tick, axis.axes)
                break
    else:
        kw, rc = copy.deepcopy(tick_kw), copy.deepcopy(dict(dict.items(mpl.rcParams)))
        tick = axis._get_tick(major=major)
    spares.append((type(axis), major, kw, rc, tick))
    return tick


def _equal(a: dict, b: dict) -> bool:
    """``a == b`` for dicts; False when some value cannot say (arrays)."""
    try:
        return bool(dict.__eq__(a, b))
    except (TypeError, ValueError):
        return False


def _point_at(tick, axes) -> None:
    """Give a spare tick the figure and axes ``Tick.__init__`` gives a new one (``_get_tick``),
    and its lines' data to be converted again with this axes's units, as a new tick's are."""
    figure = axes.get_figure(root=False)
    tick._axes = axes
    for artist in (tick, *tick.get_children()):
        artist._parent_figure = figure
    for line in (tick.tick1line, tick.tick2line, tick.gridline):
        line._invalidx = line._invalidy = True


def return_spares(plans: dict) -> None:
    """Make the spare ticks taken for a file free for the next one, holding no figure."""
    for entry in plans.pop(SPARES, ()):
        tick = entry[-1]
        tick._axes = None
        for artist in (tick, *tick.get_children()):
            artist._parent_figure = None
        tick.label1._renderer = tick.label2._renderer = None
        _FREE_SPARES.append(entry)
    del _FREE_SPARES[:-MAX_FREE_SPARES]


def tick_plan(axis, plans: dict) -> list[tuple]:
    """The (tick, location, label, major) of the ticks ``Axis._update_ticks`` would return:
    major then minor, those within the view interval. Spare ticks taken are kept in
    ``plans[SPARES]`` until :func:`return_spares`."""
    spares = plans.setdefault(SPARES, [])
    plan = _group_plan(axis, True, spares) + _group_plan(axis, False, spares)
    if not plan:
        return []
    view_low, view_high = axis.get_view_interval()
    if view_low > view_high:
        view_low, view_high = view_high, view_low
    interval_t = axis.get_transform().transform([view_low, view_high])
    shown = []
    for entry in plan:
        try:
            loc_t = axis.get_transform().transform(entry[1])
        except AssertionError:  # masked values of some scales, as in Axis._update_ticks
            continue
        if mtransforms._interval_contains_close(interval_t, loc_t):
            shown.append(entry)
    return shown


def _place(tick, loc, label) -> None:
    tick.update_position(loc)
    tick.label1.set_text(label)
    tick.label2.set_text(label)


def _label_bboxes(plan, renderer) -> tuple[list, list]:
    """``Axis._get_ticklabel_bboxes`` for the planned ticks."""
    bboxes1, bboxes2 = [], []
    for tick, loc, label, _ in plan:
        _place(tick, loc, label)
        if tick.label1.get_visible() and tick.label1.get_in_layout():
            bboxes1.append(tick.label1.get_window_extent(renderer))
        if tick.label2.get_visible() and tick.label2.get_in_layout():
            bboxes2.append(tick.label2.get_window_extent(renderer))
    return bboxes1, bboxes2


def tick_label_bboxes_of_siblings(axis, renderer, plans: dict) -> tuple[list, list]:
    """``Axis._get_tick_boxes_siblings``: the tick label boxes of this axis and of those aligned
    with it (``Figure.align_xlabels``), from each axis's plan (made once, kept in ``plans``)."""
    name = axis._get_axis_name()
    figure = axis.get_figure(root=False)
    if name not in figure._align_label_groups:
        return [], []
    bboxes1, bboxes2 = [], []
    for ax in figure._align_label_groups[name].get_siblings(axis.axes):
        sibling = ax._axis_map[name]
        if sibling not in plans:
            plans[sibling] = tick_plan(sibling, plans)
        b1, b2 = plans.get((sibling, DRAWING)) or _label_bboxes(plans[sibling], renderer)
        bboxes1.extend(b1)
        bboxes2.extend(b2)
    return bboxes1, bboxes2


def draw_axis(axis, renderer, plans: dict) -> None:
    """``Axis.draw`` with the planned ticks (see the module docstring)."""
    if not axis.get_visible():
        return
    renderer.open_group(AXIS_GROUP, gid=axis.get_gid())
    plan = plans[axis] = tick_plan(axis, plans)
    tlb1, tlb2 = plans[axis, DRAWING] = _label_bboxes(plan, renderer)
    for tick, loc, label, _ in plan:
        _place(tick, loc, label)
        tick.draw(renderer)
    axis._update_label_position(renderer)  # calls tick_label_bboxes_of_siblings
    del plans[axis, DRAWING]
    axis.label.draw(renderer)
    axis._update_offset_text_position(tlb1, tlb2)
    axis.offsetText.set_text(axis.major.formatter.get_offset())
    axis.offsetText.draw(renderer)
    renderer.close_group(AXIS_GROUP)
    axis.stale = False


def spine_extent(spine, renderer, plan) -> mtransforms.Bbox:
    """``Spine.get_window_extent`` (the spine and the ticks on it, not their labels) with the
    first planned major and minor tick standing for all: matplotlib takes any drawn tick of each
    group, and they are copies of one another."""
    spine._adjust_location()
    bb = Patch.get_window_extent(spine, renderer=renderer)
    if spine.axis is None or not spine.axis.get_visible():
        return bb
    bboxes = [bb]
    for major in (True, False):
        tick = next((entry[0] for entry in plan if entry[3] is major), None)
        if tick is not None:
            bboxes.append(_padded_for_tick(spine, bb.frozen(), tick))
    return mtransforms.Bbox.union(bboxes)


def _padded_for_tick(spine, bb0, tick):
    """The spine's box grown by the length of its ticks, as ``Spine.get_window_extent`` does."""
    tickl, tickdir = tick._size, tick._tickdir
    padout, padin = (1, 0) if tickdir == "out" else (0, 1) if tickdir == "in" else (0.5, 0.5)
    dpi = spine.get_figure(root=True).dpi
    padout = padout * tickl / 72 * dpi
    padin = padin * tickl / 72 * dpi
    if tick.tick1line.get_visible():
        if spine.spine_type == "left":
            bb0.x0 = bb0.x0 - padout
            bb0.x1 = bb0.x1 + padin
        elif spine.spine_type == "bottom":
            bb0.y0 = bb0.y0 - padout
            bb0.y1 = bb0.y1 + padin
    if tick.tick2line.get_visible():
        if spine.spine_type == "right":
            bb0.x1 = bb0.x1 + padout
            bb0.x0 = bb0.x0 - padin
        elif spine.spine_type == "top":
            bb0.y1 = bb0.y1 + padout
            bb0.y0 = bb0.y0 - padout  # sic: matplotlib 3.11 pads the top spine outwards twice
    return bb0
