"""Interaction forest plot (issue 11), one per analysis x subgroup variable x level pair:

* top, **within trials**: each trial's interaction (ratio of risk ratios / odds ratios, or
  difference of mean differences, ``level_a`` vs ``level_b``) with its 95% CI, and the pooled
  within-trial diamonds (random effects filled, fixed effect hollow);
* bottom, **between trials**: each level pooled across all trials reporting it (random effects),
  and the difference of the two pooled estimates with the test for subgroup differences.

RevMan-like layout in natural units on the shared symmetric axis of the forest plots
(:func:`trialmeta.plots.axis.effect_axis`, :func:`trialmeta.plots.forest.apply_axis`);
byte-deterministic files (:func:`trialmeta.plots.style.save_figure`).
File name: :func:`trialmeta.plots.names.interaction_stem` ``.<format>``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trialmeta.pipeline.jobs import empty_dir
from trialmeta.plots.axis import effect_axis
from trialmeta.plots.forest import apply_axis
from trialmeta.plots.intervals import draw_interval
from trialmeta.plots.labels import clean_text, format_effect, format_p, measure_info
from trialmeta.plots.lean_axes import new_axes
from trialmeta.plots.names import INTERACTION_KEY, interaction_stem
from trialmeta.plots.style import PALETTE, new_figure, save_figure

__all__ = ["interaction_forest_plot", "draw_interaction_figures"]

ROW_IN, WIDTH_IN = 0.26, 10.5


def _nat(values, is_ratio):
    values = np.asarray(values, dtype=float)
    return np.exp(values) if is_ratio else values


def _lines(studies, levels, inter, z):
    """[(kind, label, est, lo, hi, right-hand text)] on the analysis scale, top to bottom."""
    rows = [("header", "Within trials: interaction per trial", *[math.nan] * 3, "")]
    for r in studies.itertuples(index=False):
        se = math.sqrt(r.vd)
        rows.append(("study", str(r.study_id), r.d, r.d - z * se, r.d + z * se, ""))
    for model, face in (("random", "filled"), ("fixed", "hollow")):
        w = inter[(inter["method"] == "within_trial") & (inter["model"] == model)]
        if len(w) and int(w["k"].iloc[0]) >= 2:
            r = w.iloc[0]
            label = (
                f"Pooled within-trial ({'random effects' if model == 'random' else 'fixed effect'})"
            )
            rows.append((face, label, r.estimate, r.ci_low, r.ci_high, format_p(r.pval)))
    rows.append(
        (
            "header",
            "Between trials: each level pooled across trials (random effects)",
            *[math.nan] * 3,
            "",
        )
    )
    for r in levels[levels["model"] == "random"].itertuples(index=False):
        rows.append(("level", f"{r.level} (k={int(r.k)})", r.estimate, r.ci_low, r.ci_high, ""))
    b = inter[(inter["method"] == "between_trial") & (inter["model"] == "random")]
    if len(b):
        r = b.iloc[0]
        rows.append(
            (
                "hollow",
                "Difference of the pooled levels",
                r.estimate,
                r.ci_low,
                r.ci_high,
                f"subgroup differences {format_p(r.Q_pval)}",
            )
        )
    return rows


def interaction_forest_plot(
    studies, levels, inter, title: str, is_ratio: bool, level=0.95, axis_label: str = ""
):
    """The Figure of one unit (see the module docstring)."""
    from scipy import special

    z = float(-special.ndtri((1 - level) / 2))
    rows = _lines(studies, levels, inter, z)
    est = [r[2] for r in rows if r[0] != "header"]
    ends = [v for r in rows if r[0] != "header" for v in (r[3], r[4])]
    axis = effect_axis(_nat(est, is_ratio), _nat(ends, is_ratio), is_ratio=is_ratio)
    height = 1.3 + ROW_IN * (len(rows) + 1)
    fig = new_figure(WIDTH_IN, height)
    ax = new_axes(fig, (0.38, 0.9 / height, 0.30, (height - 1.3) / height))
    ax.set_ylim(len(rows), -0.5)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    null = 1.0 if is_ratio else 0.0
    ax.axvline(null, color=PALETTE.get("null", "black"), lw=0.8, zorder=1)
    xlim = axis.limits
    for y, (kind, label, e, lo, hi, note) in enumerate(rows):
        bold = kind in ("header",) or kind in ("filled", "hollow")
        fig.text(
            0.02,
            y,
            clean_text(label),
            transform=_row(ax, fig, y),
            fontsize=8,
            fontweight="bold" if bold else "normal",
            va="center",
        )
        if kind == "header":
            continue
        n_e, n_lo, n_hi = _nat([e, lo, hi], is_ratio)
        diamond = {"filled": PALETTE.get("random", "black"), "hollow": "white"}.get(kind)
        draw_interval(ax, y, n_e, n_lo, n_hi, xlim, marker_size=5.0, diamond=diamond)
        text = format_effect(n_e, n_lo, n_hi) + (f"  {note}" if note else "")
        fig.text(0.70, y, text, transform=_row(ax, fig, y), fontsize=8, va="center")
    apply_axis(ax, axis, axis_label)
    fig.suptitle(clean_text(title), fontsize=9, x=0.02, ha="left", y=1 - 0.15 / height)
    return fig


def _row(ax, fig, y):
    from matplotlib.transforms import blended_transform_factory

    return blended_transform_factory(fig.transFigure, ax.transData) if y is not None else None


def _axis_label(u) -> str:
    name = measure_info(u.get("measure", ""), u.get("scale"))[0]
    how = "ratio" if u.get("scale") == "log" else "difference"
    return f"{name} (levels); {how} of {name}s {u['level_a']} vs {u['level_b']} (interactions)"


def _title(row) -> str:
    return (
        f"{row['therapy_class'] if 'therapy_class' in row else ''} | {row.get('outcome', '')}: "
        f"{row['subgroup_variable']} {row['level_a']} vs {row['level_b']}"
    )


def draw_interaction_figures(tables: dict, settings, out_dir) -> int:
    """Every unit's figure into ``out_dir`` (emptied first); returns the number drawn."""
    out = empty_dir(out_dir)
    inter = tables["interactions"]
    if not len(inter):
        return 0
    studies, levels = tables["interaction_studies"], tables["interaction_levels"]
    units = levels.drop_duplicates(INTERACTION_KEY)[
        INTERACTION_KEY
        + [c for c in levels.columns if c in settings.group_by]
        + ["scale", "measure"]
    ]
    for u in units.to_dict("records"):

        def pick(df):
            return df[np.logical_and.reduce([df[c] == u[c] for c in INTERACTION_KEY])]

        fig = interaction_forest_plot(
            pick(studies),
            pick(levels),
            pick(inter),
            _title(pd.Series(u)),
            u["scale"] == "log",
            settings.level,
            _axis_label(u),
        )
        stem = interaction_stem(*(u[c] for c in INTERACTION_KEY))
        save_figure(fig, out / stem, settings.figures.formats)
    return len(units)
