"""Forest plot of a single-arm (uncontrolled) analysis.

No comparison group, so no line of "no effect" and no "favours" labels: the plot carries the
label :data:`~trialmeta.inputs.single_arm.UNCONTROLLED_LABEL` (gid ``uncontrolled-label``).

* proportions: each study's proportion with its exact (Clopper-Pearson) interval, in percent;
  the pooled proportion of the primary measure (random effects, back-transformed; the
  ``estimate_exp`` columns of pooled.csv) and, when present, the GLMM;
* pre-post change: each study's change (follow-up minus baseline) with its Wald interval at the
  configured ``prepost_correlation`` and the pooled change; a dotted line marks "no change".

Studies left out as overlapping cohorts (``cohort_id``) are drawn in grey, marked "not pooled".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trialmeta.inputs.single_arm import UNCONTROLLED_LABEL
from trialmeta.plots.lean_axes import new_axes
from trialmeta.plots.style import PALETTE, new_figure
from trialmeta.stats.single_arm import clopper_pearson

__all__ = ["single_arm_forest"]

ROW_IN = 0.28
MEASURE_NAMES = {
    "PLO": "proportion (pooled on the logit scale)",
    "PAS": "proportion (pooled on the arcsine scale)",
    "PFT": "proportion (Freeman-Tukey; harmonic-mean back-transformation)",
    "PR": "proportion (pooled as a raw proportion)",
    "MC": "mean change, follow-up minus baseline",
    "SMCR": "standardised mean change (baseline SD)",
}


def _num(df, col):
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(float)


def _primary(pa):
    if len(pa) and "primary" in pa:
        flagged = pa[pa["primary"].fillna(False).astype(bool)]
        if len(flagged):
            return flagged.iloc[0]
    return pa.iloc[0] if len(pa) else None


def _study_rows(sa, measure, proportion, level):
    st = sa[sa["measure"].astype(str) == measure] if "measure" in sa else sa
    if proportion:
        x, n = _num(st, "events_treat"), _num(st, "n_treat")
        with np.errstate(invalid="ignore", divide="ignore"):
            est = x / n
        lo, hi = clopper_pearson(x, n, level)
        text = [
            f"{int(a)}/{int(b)}" if np.isfinite(a) and np.isfinite(b) else "" for a, b in zip(x, n)
        ]
        return st, est * 100, lo * 100, hi * 100, text
    n = _num(st, "n_treat")
    text = [f"n = {int(v)}" if np.isfinite(v) else "" for v in n]
    return st, _num(st, "yi"), _num(st, "ci_low"), _num(st, "ci_high"), text


def _pooled_rows(pa, measure, proportion):
    """(label, estimate, low, high) of the random-effects primary row and the GLMM."""
    out = []
    prim = _primary(pa[pa["measure"].astype(str) == measure]) if len(pa) else None
    suffix = "_exp" if proportion else ""
    scale = 100.0 if proportion else 1.0
    if prim is not None and int(prim.get("k") or 0) > 1:
        vals = [
            float(prim.get(c + suffix, np.nan)) * scale for c in ("estimate", "ci_low", "ci_high")
        ]
        label = f"Random effects ({prim.get('tau2_method', '')}, {prim.get('ci_method', '')})"
        out.append((label, *vals))
    if proportion and "model" in pa:
        g = pa[pa["model"].astype(str) == "glmm"]
        if len(g) and int(g.iloc[0].get("k") or 0) > 1:
            vals = [
                float(g.iloc[0].get(c + "_exp", np.nan)) * 100
                for c in ("estimate", "ci_low", "ci_high")
            ]
            out.append(("GLMM (binomial-normal, ML)", *vals))
    return out


def _row_text(ax, text, y, anchor, dx, ha, **kw):
    """Text of a plot row at height ``y``: left of the axes (``anchor`` 0) or right of it (1),
    ``dx`` points away, 8 pt, vertically centred."""
    ax.annotate(
        text,
        (anchor, y),
        xycoords=("axes fraction", "data"),
        xytext=(dx, 0),
        textcoords="offset points",
        va="center",
        ha=ha,
        fontsize=8,
        **kw,
    )


def _draw_rows(ax, st, est, lo, hi, text, n_rows):
    weights = _num(st, "weight_random")
    pooled = np.isfinite(_num(st, "yi"))
    for j in range(len(st)):
        y = n_rows - j
        color = PALETTE["study"] if pooled[j] else "#999999"
        if np.isfinite(lo[j]) and np.isfinite(hi[j]):
            ax.plot([lo[j], hi[j]], [y, y], color=color, lw=1.0)
        w = weights[j] if np.isfinite(weights[j]) else 2.0
        ax.plot([est[j]], [y], marker="s", color=color, ms=3 + 6 * math.sqrt(w / 100))
        label = str(st["study_id"].iloc[j])[:34]
        _row_text(ax, label, y, 0, -200, "left")
        _row_text(ax, text[j], y, 0, -30, "right")
        note = "" if pooled[j] else "  overlap: not pooled"
        _row_text(ax, f"{est[j]:.1f} [{lo[j]:.1f}, {hi[j]:.1f}]{note}", y, 1, 8, "left")


def _draw_pooled(ax, rows, top):
    for i, (label, e, lo, hi) in enumerate(rows):
        y = top - i
        if not all(np.isfinite([e, lo, hi])):
            continue
        ax.fill(
            [lo, e, hi, e],
            [y, y + 0.3, y, y - 0.3],
            color=PALETTE["pooled"] if i == 0 else "#777777",
            gid="overall-effect" if i == 0 else "glmm-effect",
        )
        _row_text(ax, label, y, 0, -200, "left", weight="bold")
        _row_text(ax, f"{e:.1f} [{lo:.1f}, {hi:.1f}]", y, 1, 8, "left")


def single_arm_forest(aid, sa, pa, measure, labels, settings, subtitle=""):
    """The figure of one single-arm analysis (see the module docstring)."""
    proportion = str(labels.get("outcome_type")) == "single_arm_proportion"
    level = float(getattr(settings, "level", 0.95))
    st, est, lo, hi, text = _study_rows(sa, measure, proportion, level)
    pooled = _pooled_rows(pa, measure, proportion)
    n_rows = len(st)
    rows_in = ROW_IN * (n_rows + len(pooled) + 1)
    top_in, bottom_in = 1.05, 0.75
    height = top_in + rows_in + bottom_in
    fig = new_figure(10.0, height)
    ax = new_axes(fig, [0.3, bottom_in / height, 0.42, rows_in / height])
    _draw_rows(ax, st, est, lo, hi, text, n_rows)
    _draw_pooled(ax, pooled, 0)
    ax.set_ylim(-len(pooled) + 0.4, n_rows + 0.6)
    ax.set_yticks([])
    if proportion:
        ax.set_xlim(0, 100)
        ax.set_xlabel(
            f"{MEASURE_NAMES.get(measure, measure)}, % ({int(level * 100)}% CI: exact "
            "Clopper-Pearson for studies)"
        )
    else:
        ax.axvline(0, color=PALETTE["null"], lw=0.8, ls=":")
        ax.set_xlabel(
            f"{MEASURE_NAMES.get(measure, measure)} (0 = no change; r = "
            f"{getattr(settings, 'prepost_correlation', 0.5):g})"
        )
    fig.text(
        0.02,
        1 - 0.25 / height,
        f"{labels.get('therapy', '')}: {labels.get('outcome', '')}",
        fontsize=10,
        weight="bold",
        va="top",
    )
    fig.text(0.02, 1 - 0.5 / height, subtitle, fontsize=8, va="top", color=PALETTE["muted"])
    fig.text(
        0.02,
        1 - 0.75 / height,
        UNCONTROLLED_LABEL.upper() + ": no comparison group, not an effect versus any comparator",
        fontsize=9,
        weight="bold",
        color="#b00000",
        va="top",
        gid="uncontrolled-label",
    )
    return fig
