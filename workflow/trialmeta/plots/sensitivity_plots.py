"""Forest-style plots of the leave-one-out and cumulative meta-analyses (metafor's
``forest(leave1out(...))`` / ``forest(cumul(...))``): one row per re-analysis with its pooled
estimate and 95% CI, the full-data estimate as a vertical reference line, the line of no effect,
and tau2 / I2 of each re-analysis as text. Natural units (log axis for ratio measures)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.plots._axes import log_ticks
from trialmeta.plots.labels import clean_text, format_effect, measure_info
from trialmeta.plots.style import PALETTE, new_figure

__all__ = ["leave_one_out_plot", "cumulative_plot"]


def _rows_plot(labels, est, lo, hi, extra_text, *, measure, scale, overall, title, xlabel_note):
    name, is_ratio, null = measure_info(measure, scale)
    tr = np.exp if is_ratio else (lambda a: a)
    n = len(labels)
    fig = new_figure(7.5, 0.9 + 0.24 * max(n, 3))
    ax = fig.add_axes(
        [0.34, 0.55 / (0.9 + 0.24 * max(n, 3)) + 0.04, 0.34, 0.82 - 0.55 / (0.9 + 0.24 * max(n, 3))]
    )
    yy = np.arange(n)[::-1]
    ok = np.isfinite(est)
    ax.hlines(yy[ok], tr(lo[ok]), tr(hi[ok]), color=PALETTE["study"], lw=1.0)
    ax.plot(tr(est[ok]), yy[ok], "s", color=PALETTE["study"], ms=4)
    if overall is not None and np.isfinite(overall):
        ax.axvline(tr(overall), color=PALETTE["pooled"], lw=0.8, ls="--")
    ax.axvline(null, color=PALETTE["null"], lw=0.7)
    if is_ratio:
        ax.set_xscale("log")
        vals = np.concatenate([lo[ok], hi[ok], [0.0]])
        ax.set_xlim(np.exp(vals.min()) / 1.1, np.exp(vals.max()) * 1.1)
        log_ticks(ax, "x")
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_yticks([])
    ax.set_xlabel(f"{name}{xlabel_note}")
    for y, lab, e, a, b, t in zip(yy, labels, est, lo, hi, extra_text):
        ax.annotate(
            clean_text(lab, 42),
            (0, y),
            xycoords=("figure fraction", "data"),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
        txt = format_effect(tr(e), tr(a), tr(b)) if np.isfinite(e) else "not estimable"
        ax.annotate(
            f"{txt}   {t}", (0.70, y), xycoords=("figure fraction", "data"), va="center", fontsize=8
        )
    if title:
        fig.suptitle(title, fontsize=9, x=0.02, ha="left")
    return fig


def leave_one_out_plot(
    rows: pd.DataFrame, *, measure: str, scale=None, overall=None, title: str = ""
):
    """``rows``: the leave_one_out.csv rows of one analysis x measure."""
    r = rows.reset_index(drop=True)
    extra = [f"tau2 {t:.3g}, I2 {i:.0f}%" if np.isfinite(t) else "" for t, i in zip(r.tau2, r.I2)]
    return _rows_plot(
        [f"Omitting {s}" for s in r.omitted_study_id],
        r.estimate.to_numpy(float),
        r.ci_low.to_numpy(float),
        r.ci_high.to_numpy(float),
        extra,
        measure=measure,
        scale=scale,
        overall=overall,
        title=title,
        xlabel_note=" (leave-one-out, 95% CI)",
    )


def cumulative_plot(rows: pd.DataFrame, *, measure: str, scale=None, overall=None, title: str = ""):
    """``rows``: the cumulative.csv rows of one analysis x measure (in step order)."""
    r = rows.sort_values("step", kind="stable").reset_index(drop=True)
    extra = [
        f"k = {s}, I2 {i:.0f}%" if np.isfinite(i) else f"k = {s}" for s, i in zip(r.step, r.I2)
    ]
    labels = [
        f"+ {s}" + (f" ({int(y)})" if np.isfinite(y) and str(int(y)) not in str(s) else "")
        for s, y in zip(r.added_study_id, r.year.astype(float))
    ]
    return _rows_plot(
        labels,
        r.estimate.to_numpy(float),
        r.ci_low.to_numpy(float),
        r.ci_high.to_numpy(float),
        extra,
        measure=measure,
        scale=scale,
        overall=overall,
        title=title,
        xlabel_note=" (cumulative by year, 95% CI)",
    )
