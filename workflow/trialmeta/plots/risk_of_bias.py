"""Risk-of-bias figures in the style of robvis (McGuinness & Higgins 2021, Res Synth Methods
12:55-61): the traffic-light plot (one row per trial, one coloured circle per RoB 2 domain and
the overall judgement) and the weighted summary bar plot (per domain, the share of the analysis's
weight in the primary random-effects model at low / some concerns / high risk), and the RoB
columns added to the right of a forest plot (as R ``meta``'s ``forest(..., rob = )``).

Colours and symbols are robvis's: low = green ``+``, some concerns = yellow ``-``, high = red
``x``, no information (domain left empty) = blue ``?``. Figures are saved by
:func:`trialmeta.plots.style.save_figure` (byte-deterministic).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from trialmeta.inputs.risk_of_bias import DOMAIN_LABELS, JUDGEMENT_COLUMNS
from trialmeta.plots.labels import clean_text
from trialmeta.plots.lean_axes import new_axes
from trialmeta.plots.style import PALETTE, new_figure, save_figure

__all__ = [
    "ROB_COLOURS",
    "ROB_SYMBOLS",
    "ROB_KINDS",
    "traffic_light_plot",
    "summary_plot",
    "add_rob_columns",
    "weighted_shares",
    "rob_rows",
    "render_rob_figures",
]

#: robvis colours (rob_traffic_light / rob_summary, colour = "cochrane").
ROB_COLOURS = {
    "low": "#02C100",
    "some concerns": "#E2DF07",
    "high": "#BF0000",
    None: "#4EA1F7",
}
ROB_SYMBOLS = {"low": "+", "some concerns": "\u2212", "high": "\u00d7", None: "?"}
ROB_NAMES = {"low": "Low", "some concerns": "Some concerns", "high": "High", None: "No information"}
#: figure kinds of :func:`render_rob_figures`: <analysis_id>.<kind>.<fmt>
ROB_KINDS = ("rob_traffic_light", "rob_summary")
SHORT = ("D1", "D2", "D3", "D4", "D5", "Overall")
_COLUMN_IN = 0.34  # inches per RoB column on the forest plot


def _judgement(value):
    return value if isinstance(value, str) and value in ROB_COLOURS else None


def _symbol(fig_or_ax, x, y, value, transform, size=12.0, gid=None):
    """One robvis circle with its symbol at (x, y) in ``transform``."""
    j = _judgement(value)
    dot = Line2D(
        [x],
        [y],
        marker="o",
        markersize=size,
        markerfacecolor=ROB_COLOURS[j],
        markeredgecolor="#333333",
        markeredgewidth=0.5,
        linestyle="none",
        transform=transform,
        zorder=5,
    )
    if gid:
        dot.set_gid(gid)
    fig_or_ax.add_artist(dot)
    fig_or_ax.text(
        x,
        y,
        ROB_SYMBOLS[j],
        transform=transform,
        ha="center",
        va="center",
        fontsize=size * 0.75,
        fontweight="bold",
        color="black",
        zorder=6,
        parse_math=False,
    )


def _key_lines(domains=True) -> list[str]:
    lines = []
    if domains:
        lines += [f"{s}: {DOMAIN_LABELS[c]}" for s, c in zip(SHORT, JUDGEMENT_COLUMNS)]
    lines.append(
        "Judgement: " + ",  ".join(f"{ROB_SYMBOLS[j]} {ROB_NAMES[j]}" for j in ROB_COLOURS)
    )
    return lines


def traffic_light_plot(rob: pd.DataFrame, title: str = ""):
    """robvis ``rob_traffic_light``: trials as rows, D1-D5 and Overall as columns."""
    k = len(rob)
    row_in, top_in, key_in = 0.34, 0.75, 0.16 * 8
    height = top_in + row_in * max(k, 1) + key_in
    fig = new_figure(7.0, height)
    ax = new_axes(fig, [0.30, key_in / height, 0.66, row_in * max(k, 1) / height])
    ax.set_xlim(-0.5, len(JUDGEMENT_COLUMNS) - 0.5)
    ax.set_ylim(max(k, 1) - 0.5, -0.5)
    ax.axis("off")
    for j, short in enumerate(SHORT):
        ax.text(j, -0.75, short, ha="center", va="bottom", fontweight="bold", fontsize=9)
    for i, (_, row) in enumerate(rob.iterrows()):
        ax.text(-0.7, i, clean_text(row["study_id"], 34), ha="right", va="center", fontsize=9)
        for j, column in enumerate(JUDGEMENT_COLUMNS):
            _symbol(ax, j, i, row[column], ax.transData, size=15, gid=f"rob-{i}-{column}")
    if title:
        fig.text(
            0.02,
            1 - 0.1 / height,
            clean_text(title, 66),
            ha="left",
            va="top",
            fontsize=10,
            fontweight="bold",
        )
    for n, line in enumerate(_key_lines()):
        fig.text(
            0.02,
            (key_in - 0.2 - 0.15 * n) / height,
            line,
            ha="left",
            va="top",
            fontsize=7.5,
            color=PALETTE["muted"],
        )
    return fig


def weighted_shares(rob: pd.DataFrame, column: str) -> dict:
    """{judgement: share of the weight} of one column (None = no information); equal weights
    when no trial has a weight."""
    w = pd.to_numeric(rob["weight_percent"], errors="coerce").to_numpy(float)
    w = np.where(np.isfinite(w), w, 0.0)
    if w.sum() <= 0:
        w = np.ones(len(rob))
    values = [_judgement(v) for v in rob[column]]
    return {j: float(sum(wi for wi, v in zip(w, values) if v == j) / w.sum()) for j in ROB_COLOURS}


def summary_plot(rob: pd.DataFrame, title: str = ""):
    """robvis ``rob_summary(weighted = TRUE)``: per domain, the share of the weight (primary
    random-effects model) at each judgement, as stacked horizontal bars."""
    height = 3.2
    fig = new_figure(8.0, height)
    ax = new_axes(fig, [0.44, 0.30, 0.53, 0.55])
    labels = [DOMAIN_LABELS[c] for c in JUDGEMENT_COLUMNS]
    for i, column in enumerate(JUDGEMENT_COLUMNS):
        left = 0.0
        for j, share in weighted_shares(rob, column).items():
            if share > 0:
                bar = ax.barh(
                    i,
                    share * 100,
                    left=left,
                    height=0.7,
                    color=ROB_COLOURS[j],
                    edgecolor="#333333",
                    linewidth=0.5,
                )
                bar.patches[0].set_gid(f"bar-{column}-{ROB_NAMES[j].replace(' ', '_')}")
                left += share * 100
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xticklabels(["0%", "25%", "50%", "75%", "100%"], fontsize=8)
    ax.spines["left"].set_visible(False)
    if title:
        fig.text(
            0.02, 0.97, clean_text(title, 78), ha="left", va="top", fontsize=10, fontweight="bold"
        )
    fig.text(
        0.44,
        0.88,
        "Share of the judged trials' weight (primary random-effects model)",
        ha="left",
        va="bottom",
        fontsize=8,
        color=PALETTE["muted"],
    )
    handles = [
        Line2D(
            [],
            [],
            marker="s",
            linestyle="none",
            markersize=9,
            markerfacecolor=ROB_COLOURS[j],
            markeredgecolor="#333333",
            label=ROB_NAMES[j],
        )
        for j in ROB_COLOURS
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=4,
        frameon=False,
        fontsize=8,
        bbox_to_anchor=(0.6, 0.0),
    )
    return fig


def rob_rows(rob, analysis_id) -> pd.DataFrame:
    """The judgement rows of one analysis (empty without judgements)."""
    if rob is None or not len(rob):
        return pd.DataFrame(columns=["analysis_id", "study_id"])
    return rob[rob["analysis_id"].astype(str) == str(analysis_id)]


def add_rob_columns(fig, ax, study_ids, study_y, header_y: float, rob: pd.DataFrame) -> None:
    """Widen a drawn forest plot and add D1-D5 and Overall columns on its right (robvis
    symbols), one per study row (``study_y`` in the plot axes' data coordinates)."""
    width, height = fig.get_size_inches()
    extra = _COLUMN_IN * len(JUDGEMENT_COLUMNS) + 0.25
    scale = width / (width + extra)
    fig.set_size_inches(width + extra, height)
    for t in fig.texts:
        x, y = t.get_position()
        t.set_x(x * scale)
    for a in fig.axes:
        p = a.get_position()
        a.set_position([p.x0 * scale, p.y0, p.width * scale, p.height])
    tr = blended_transform_factory(fig.transFigure, ax.transData)
    total = width + extra
    xs = [(width + 0.1 + _COLUMN_IN * (j + 0.5)) / total for j in range(len(JUDGEMENT_COLUMNS))]
    fig.text(
        (xs[0] + xs[-1]) / 2,
        header_y - 1,
        "Risk of bias",
        transform=tr,
        ha="center",
        va="center",
        fontsize=8.5,
        fontweight="bold",
    ).set_gid("rob-header")
    for x, short in zip(xs, SHORT):
        fig.text(
            x,
            header_y,
            short,
            transform=tr,
            ha="center",
            va="center",
            fontsize=8,
            fontweight="bold",
        )
    by_study = {str(s): r for s, r in rob.set_index("study_id").iterrows()}
    for i, (sid, y) in enumerate(zip(study_ids, study_y)):
        row = by_study.get(str(sid))
        if row is None:
            continue
        for x, column in zip(xs, JUDGEMENT_COLUMNS):
            _symbol(fig, x, y, row[column], tr, size=9.5, gid=f"rob-{i}-{column}")
    ax_bottom = ax.get_position().y0
    judgements = [f"{ROB_SYMBOLS[j]} {ROB_NAMES[j]}" for j in ROB_COLOURS]
    key = [", ".join(judgements[:2]) + ",", ", ".join(judgements[2:])] + _short_key()
    for n, line in enumerate(key):
        fig.text(
            xs[0] - 0.1 / total,
            ax_bottom - (0.3 + 0.13 * n) / height,
            line,
            ha="left",
            va="top",
            fontsize=6.5,
            color=PALETTE["muted"],
        )


def _short_key() -> list[str]:
    return [
        "D1 randomisation, D2 deviations,",
        "D3 missing data, D4 measurement,",
        "D5 selection of the reported result",
    ]


def render_rob_figures(rob_table: pd.DataFrame, out_dir, titles: dict, formats=("svg", "png")):
    """Traffic-light and summary plots of every analysis in ``rob_table`` (risk_of_bias.csv)
    into ``out_dir/<analysis_id>.<kind>.<fmt>``; returns the written paths, sorted."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for aid, rows in rob_table.groupby("analysis_id", sort=True):
        rows = rows.sort_values("study_id", kind="stable").reset_index(drop=True)
        title = titles.get(aid, "")
        for kind, draw in zip(ROB_KINDS, (traffic_light_plot, summary_plot)):
            fig = draw(rows, title)
            written += save_figure(fig, out_dir / f"{aid}.{kind}", formats)
    return sorted(written)
