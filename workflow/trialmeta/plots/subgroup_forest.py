"""Subgroup forest plot (RevMan layout): for each level of a categorical moderator a header row,
the level's studies (squares sized by their weight within the subgroup, 95% CI lines), the
subgroup diamond with its estimate and heterogeneity; the overall diamond at the bottom and the
test for subgroup differences as the last line. Levels with one study are shown without a
diamond ("not pooled"). Natural units, log axis for ratio measures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.plots._axes import log_ticks
from trialmeta.plots.labels import clean_text, format_effect, format_p, measure_info
from trialmeta.plots.style import PALETTE, new_figure

__all__ = ["subgroup_forest_plot"]


def subgroup_forest_plot(
    studies: pd.DataFrame,
    subgroups: pd.DataFrame,
    *,
    measure: str,
    scale=None,
    overall=None,
    moderator: str = "",
    title: str = "",
):
    """``studies``: columns ``study_id, yi, vi, level`` (level labels as in ``subgroups``);
    ``subgroups``: the subgroups.csv rows of one analysis x measure x moderator;
    ``overall``: ``(estimate, ci_low, ci_high)`` of the overall random-effects model or None."""
    name, is_ratio, null = measure_info(measure, scale)
    short = str(measure).upper().replace("LOG", "") if is_ratio else str(measure)
    tr = np.exp if is_ratio else (lambda a: a)
    sg = subgroups.reset_index(drop=True)
    lines = []  # (kind, label, est, lo, hi, weight, text)
    for _, r in sg.iterrows():
        st = studies[studies["level"].astype(str) == str(r.level)]
        lines.append(
            (
                "header",
                f"{clean_text(moderator, 30)} = {clean_text(r.level, 30)} "
                f"({len(st)} trial{'' if len(st) == 1 else 's'})",
                np.nan,
                np.nan,
                np.nan,
                np.nan,
                "",
            )
        )
        w = 1.0 / (st["vi"].to_numpy(float) + (r.tau2 if np.isfinite(r.tau2) else 0.0))
        w = w / w.sum() if w.size else w
        for (_, s), wi in zip(st.iterrows(), w):
            se = np.sqrt(s.vi)
            lines.append(
                (
                    "study",
                    f"  {clean_text(s.study_id, 40)}",
                    s.yi,
                    s.yi - 1.96 * se,
                    s.yi + 1.96 * se,
                    wi,
                    "",
                )
            )
        if int(r.k) > 1:
            het = f"tau\u00b2 {r.tau2:.3g}, I\u00b2 {r.I2:.0f}%"
            lines.append(
                (
                    "diamond",
                    f"  Subtotal (k = {int(r.k)})",
                    r.estimate,
                    r.ci_low,
                    r.ci_high,
                    np.nan,
                    het,
                )
            )
        else:
            lines.append(
                ("note", "  Subtotal: single study, not pooled", np.nan, np.nan, np.nan, np.nan, "")
            )
    if overall is not None:
        lines.append(
            ("overall", f"Overall (random effects, k = {len(studies)})", *overall, np.nan, "")
        )
    qb = sg["Q_between"].iloc[0] if len(sg) else np.nan
    test = (
        (
            f"Test for subgroup differences: Q = {qb:.2f}, df = {int(sg['Q_between_df'].iloc[0])}, "
            f"{format_p(sg['Q_between_pval'].iloc[0])}"
        )
        if np.isfinite(qb)
        else "Test for subgroup differences: not estimable"
    )
    n = len(lines) + 2  # + a header row on top and the test line at the bottom
    height = 1.35 + 0.22 * n
    fig = new_figure(8.0, height)
    ax = fig.add_axes([0.36, 0.75 / height, 0.30, 1 - 1.15 / height])
    ys = np.arange(n)[::-1][1:-1]
    vals = []
    for y, (kind, label, e, lo, hi, wt, txt) in zip(ys, lines):
        ax.annotate(
            label,
            (0.01, y),
            xycoords=("figure fraction", "data"),
            va="center",
            fontsize=8,
            fontweight="bold" if kind in ("header", "overall") else "normal",
        )
        if kind == "study":
            ax.hlines(y, tr(lo), tr(hi), color=PALETTE["study"], lw=0.9)
            ax.plot(tr(e), y, "s", color=PALETTE["study"], ms=3 + 7 * np.sqrt(wt))
            vals += [lo, hi]
        elif kind in ("diamond", "overall"):
            xs = tr(np.array([lo, e, hi, e]))
            ax.fill(
                xs,
                [y, y + 0.3, y, y - 0.3],
                facecolor=PALETTE["pooled"] if kind == "overall" else "#666666",
                edgecolor="black",
                lw=0.6,
            )
            vals += [lo, hi]
        if np.isfinite(e):
            ax.annotate(
                format_effect(tr(e), tr(lo), tr(hi)) + (f"   {txt}" if txt else ""),
                (0.68, y),
                xycoords=("figure fraction", "data"),
                va="center",
                fontsize=8,
            )
    ax.annotate(test, (0.01, 0), xycoords=("figure fraction", "data"), va="center", fontsize=8)
    ax.annotate(
        f"{short} [95% CI]",
        (0.68, n - 1),
        xycoords=("figure fraction", "data"),
        va="center",
        fontsize=8,
        fontweight="bold",
        annotation_clip=False,
    )
    ax.annotate(
        "Subgroup diamonds and the overall diamond: random effects with Wald-type 95% CIs.",
        (0.01, 0.12 / height),
        xycoords="figure fraction",
        va="bottom",
        fontsize=7,
        color=PALETTE["muted"],
    )
    ax.vlines(null, 0.5, n - 1.5, color=PALETTE["null"], lw=0.7)  # study and diamond rows only
    ax.set_ylim(-0.8, n - 0.4)
    ax.set_yticks([])
    if vals:
        v = np.array(vals + [0.0], float)
        v = v[np.isfinite(v)]
        pad = 0.05 * (v.max() - v.min() if v.max() > v.min() else 1.0)
        ax.set_xlim(tr(v.min() - pad), tr(v.max() + pad))
    if is_ratio:
        ax.set_xscale("log")
        log_ticks(ax, "x")
    ax.set_xlabel(name)
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    return fig
