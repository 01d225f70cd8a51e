"""The evidence map: one figure for the run, therapy (class) x condition.

Each occupied cell of the grid shows the *primary outcome* of that therapy and condition — the
analysis with the most participants (then the most trials, then the outcome name) — as a small
forest-plot line in the cell: the pooled effect (a dot sized by the participants, coloured by the
GRADE certainty of ``summary_of_findings.csv``) with its 95% CI, the line of no effect at the
cell's centre (ratios on a log scale from 1/30 to 30, differences on a scale fitted to the cell),
the effect in numbers and the outcome's name underneath, and "+n" when the cell has more
outcomes. A diamond in the top-right corner marks a within-trial biomarker (interaction) analysis
of that therapy and condition in ``interactions.csv``, filled when its P < 0.05.

At scale (thousands of analyses) the grid is bounded: at most :data:`MAX_THERAPIES` rows and
:data:`MAX_CONDITIONS` columns (:func:`map_axes`, in :mod:`trialmeta.plots.evidence_map_layout`,
which the report uses without matplotlib): the therapies with the most participants, then among
their analyses the conditions with the most participants (ties: name order), drawn in name order as
always. When anything is left out the figure says so in a line under the legend
(:attr:`MapAxes.note`: "Showing N of M therapies and K of L conditions ..."), and every analysis
stays in ``summary_of_findings.csv``, the SoF page and the Word document. A grid that fits is drawn
exactly as before (same bytes).

Deterministic bytes like every trialmeta figure (:mod:`trialmeta.plots.style`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from trialmeta.plots.evidence_map_layout import (
    MAX_CONDITIONS,
    MAX_THERAPIES,
    MapAxes,
    map_axes,
    map_cells,
    map_content,
)
from trialmeta.plots.labels import format_number, wrap_lines
from trialmeta.plots.lean_axes import new_axes
from trialmeta.plots.style import new_figure

__all__ = [
    "CERTAINTY_COLOURS",
    "MAX_CONDITIONS",
    "MAX_THERAPIES",
    "MapAxes",
    "evidence_map",
    "map_axes",
    "map_cells",
]

#: GRADE certainty colours (dark to light: high to very low; distinguishable in grey scale too)
CERTAINTY_COLOURS = {
    "high": "#1a6e3a",
    "moderate": "#6bb36b",
    "low": "#f0a030",
    "very low": "#c8281e",
}
#: single-arm proportions (trialmeta.stats.single_arm): drawn on 0 to 1 across the cell
PROPORTIONS = ("PLO", "PAS", "PFT", "PR")
RATIO_SPAN = math.log(30.0)  # ratios 1/30 .. 30 fill the cell
CELL_W, CELL_H = 1.55, 0.95  # inches


def _position(values, ratio: bool, scale: float) -> np.ndarray:
    """Effect -> x offset in [-0.42, 0.42] of the cell (0 = no effect), clipped."""
    v = np.asarray(values, dtype=float)
    z = np.log(v) / RATIO_SPAN if ratio else v / scale
    return 0.42 * np.clip(z, -1.0, 1.0)


def _draw_cell(ax, x0: float, y0: float, row, max_n: float) -> None:
    ratio = str(row["relative_measure"]) in ("RR", "OR", "HR")
    est, lo, hi = (
        float(row[c]) for c in ("relative_estimate", "relative_ci_low", "relative_ci_high")
    )
    proportion = str(row["relative_measure"]) in PROPORTIONS  # single-arm: 0 to 1, no null
    scale = 1.1 * max(abs(lo), abs(hi), 1e-12) if not ratio else 1.0
    if proportion:
        xs = x0 + 0.08 + 0.84 * np.clip([est, lo, hi], 0.0, 1.0)
    else:
        xs = x0 + 0.5 + _position([est, lo, hi], ratio, scale)
        ax.plot([x0 + 0.5, x0 + 0.5], [y0 + 0.3, y0 + 0.7], color="#999999", lw=0.6, zorder=1)
    yc = y0 + 0.5
    colour = CERTAINTY_COLOURS.get(str(row["certainty"]), "#888888")
    ax.plot([xs[1], xs[2]], [yc, yc], color="#333333", lw=1.0, zorder=2)
    size = 12 + 160 * math.sqrt(max(float(row["participants"]), 0.0) / max_n)
    ax.scatter([xs[0]], [yc], s=size, color=colour, edgecolor="#222222", lw=0.5, zorder=3)
    label = (
        f"{'proportion' if proportion else row['relative_measure']} {format_number(est)} "
        f"({format_number(lo)}, {format_number(hi)})"
    )
    ax.text(x0 + 0.5, y0 + 0.8, label, ha="center", va="center", fontsize=6.2)
    outcome = wrap_lines(str(row["outcome"]), 27, max_lines=1)[0] if str(row["outcome"]) else ""
    more = f" (+{int(row['n_outcomes']) - 1})" if int(row["n_outcomes"]) > 1 else ""
    ax.text(
        x0 + 0.5, y0 + 0.13, outcome + more, ha="center", va="center", fontsize=5.6, color="#444444"
    )
    if isinstance(row["biomarker"], str):
        filled = row["biomarker"] == "P < 0.05"
        ax.scatter(
            [x0 + 0.92],
            [y0 + 0.12],
            marker="D",
            s=18,
            zorder=4,
            lw=0.8,
            color="#000000" if filled else "white",
            edgecolor="#000000",
        )


def _legend(ax) -> None:
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            markersize=7,
            markerfacecolor=c,
            markeredgecolor="#222222",
            label=f"{w} certainty",
        )
        for w, c in CERTAINTY_COLOURS.items()
    ]
    handles += [
        Line2D(
            [],
            [],
            marker="D",
            ls="",
            markersize=5,
            markerfacecolor="white",
            markeredgecolor="black",
            label="biomarker interaction analysed",
        ),
        Line2D(
            [],
            [],
            marker="D",
            ls="",
            markersize=5,
            markerfacecolor="black",
            markeredgecolor="black",
            label="biomarker interaction P < 0.05",
        ),
    ]
    handles.append(
        Line2D(
            [],
            [],
            ls="",
            label="dot area: participants; | = no effect; ratios on a log scale 1/30 to 30; single-arm proportions 0 to 1",
        )
    )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.0, -0.01),
        ncol=4,
        frameon=False,
        fontsize=7,
    )


def evidence_map(
    sof: pd.DataFrame,
    interactions: pd.DataFrame | None = None,
    max_therapies: int = MAX_THERAPIES,
    max_conditions: int = MAX_CONDITIONS,
):
    """The evidence map Figure of a run's ``summary_of_findings`` table (at most
    ``max_therapies`` x ``max_conditions`` cells, :func:`map_axes`; the figure's note says what
    it leaves out)."""
    axes, cells = map_content(sof, interactions, max_therapies, max_conditions)
    therapies, conditions = axes.therapies, axes.conditions
    nr, nc = max(1, len(therapies)), max(1, len(conditions))
    note_h = 0.35 if axes.note else 0.0  # inches under the legend for the note
    fig = new_figure(2.6 + CELL_W * nc, 1.9 + CELL_H * nr + note_h)
    left, bottom = 2.4 / fig.get_figwidth(), (1.0 + note_h) / fig.get_figheight()
    if axes.note:
        fig.text(
            0.1 / fig.get_figwidth(),
            0.12 / fig.get_figheight(),
            axes.note,
            ha="left",
            va="bottom",
            fontsize=8,
            color="#000000",
        )
    ax = new_axes(fig, [left, bottom, 1 - left - 0.01, 1 - bottom - 0.9 / fig.get_figheight()])
    ax.set_xlim(0, nc)
    ax.set_ylim(nr, 0)
    for i in range(nr + 1):
        ax.axhline(i, color="#dddddd", lw=0.6, zorder=0)
    for j in range(nc + 1):
        ax.axvline(j, color="#dddddd", lw=0.6, zorder=0)
    max_n = float(max(cells["participants"].max(), 1)) if len(cells) else 1.0
    t_index = {t: i for i, t in enumerate(therapies)}
    c_index = {c: j for j, c in enumerate(conditions)}
    for _, row in cells.iterrows():
        _draw_cell(ax, c_index[row["_condition"]], t_index[row["_therapy"]], row, max_n)
    ax.set_yticks([i + 0.5 for i in range(len(therapies))])
    ax.set_yticklabels(["\n".join(wrap_lines(t, 34, 3)) for t in therapies], fontsize=7)
    ax.set_xticks([j + 0.5 for j in range(len(conditions))])
    ax.set_xticklabels(["\n".join(wrap_lines(c, 26, 4)) for c in conditions], fontsize=6.5)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    if not len(cells):
        ax.text(0.5, 0.5, "no pooled analyses", ha="center", va="center")
    _legend(ax)
    return fig
