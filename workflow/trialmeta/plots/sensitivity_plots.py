"""Forest-style plots of the leave-one-out and cumulative meta-analyses (metafor's
``forest(leave1out(...))`` / ``forest(cumul(...))``): one row per re-analysis with its pooled
estimate and 95% CI, the full-data estimate as a vertical reference line, the line of no effect,
and tau2 / I2 of each re-analysis as text. Natural units (log axis for ratio measures)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.plots.axis import effect_axis
from trialmeta.plots.forest import apply_axis
from trialmeta.plots.intervals import StudyIntervals, clipped_diamond
from trialmeta.plots.labels import clean_text, format_effect, measure_info
from trialmeta.plots.lean_axes import new_axes
from trialmeta.plots.style import PALETTE, new_figure

__all__ = ["leave_one_out_plot", "cumulative_plot"]


def _overall_triplet(overall):
    """``overall`` as ``(estimate, low, high)`` (a bare estimate: no interval)."""
    if overall is None:
        return None
    if np.ndim(overall) == 0:
        return float(overall), float("nan"), float("nan")
    return tuple(float(v) for v in overall)


def _rows_plot(
    labels,
    est,
    lo,
    hi,
    extra_text,
    *,
    measure,
    scale,
    overall,
    title,
    xlabel_note,
    overall_label="",
    notes=(),
):
    name, is_ratio, null = measure_info(measure, scale)
    tr = np.exp if is_ratio else (lambda a: a)
    ov = _overall_triplet(overall)
    show_total = ov is not None and np.all(np.isfinite(ov))
    n = len(labels) + (2 if show_total else 0)
    height = 1.25 + 0.24 * max(n, 3) + 0.16 * len(notes)
    bottom = 0.75 + 0.16 * len(notes)
    fig = new_figure(7.8, height)
    ax = new_axes(fig, [0.36, bottom / height, 0.30, 1 - (bottom + 0.5) / height])
    ok = np.isfinite(est)
    core = list(est[ok]) + (list(ov) if show_total else [])
    axis = effect_axis(
        tr(np.asarray(core, float)), tr(np.concatenate([lo[ok], hi[ok]])), is_ratio=is_ratio
    )
    yy = np.arange(n)[::-1]
    marks = StudyIntervals(ax, axis.limits)
    for y, e, a, b in zip(yy, est, lo, hi):
        if np.isfinite(e):
            marks.add(y, float(tr(e)), float(tr(a)), float(tr(b)))
    marks.draw()
    rows = list(zip(yy, labels, est, lo, hi, extra_text))
    if show_total:
        e, a, b = (float(tr(v)) for v in ov)
        clipped_diamond(ax, 0, e, a, b, axis.limits, face=PALETTE["pooled"], gid="diamond-overall")
        rows.append((0, overall_label, *ov, ""))
    if ov is not None and np.isfinite(ov[0]):
        ax.vlines(
            tr(ov[0]),
            0.5 if show_total else -0.5,
            n - 0.5,
            color=PALETTE["pooled"],
            lw=0.8,
            ls="--",
        )
    ax.vlines(null, -0.5, n - 0.5, color=PALETTE["null"], lw=0.7)
    apply_axis(ax, axis, f"{name}{xlabel_note}")
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_yticks([])
    _row_texts(ax, rows, tr, show_total)
    _notes(fig, notes, height)
    if title:
        fig.suptitle(title, fontsize=9, x=0.02, ha="left")
    return fig


def _row_texts(ax, rows, tr, show_total: bool) -> None:
    """The label left of the plot and the effect text right of it, per row (the overall row,
    at y = 0, in bold)."""
    for y, lab, e, a, b, t in rows:
        bold = show_total and y == 0
        ax.annotate(
            clean_text(lab, 44),
            (0, y),
            xycoords=("figure fraction", "data"),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            fontweight="bold" if bold else "normal",
        )
        txt = format_effect(tr(e), tr(a), tr(b)) if np.isfinite(e) else "not estimable"
        t_ = ax.annotate(
            f"{txt}   {t}".rstrip(),
            (0.68, y),
            xycoords=("figure fraction", "data"),
            va="center",
            fontsize=8,
            fontweight="bold" if bold else "normal",
        )
        if bold:
            t_.set_gid("overall-effect")


def _notes(fig, notes, height: float) -> None:
    for j, text in enumerate(notes):
        fig.text(
            0.02,
            (0.12 + 0.16 * (len(notes) - 1 - j)) / height,
            text,
            ha="left",
            va="bottom",
            fontsize=7,
            color=PALETTE["muted"],
            parse_math=False,
        )


def leave_one_out_plot(
    rows: pd.DataFrame,
    *,
    measure: str,
    scale=None,
    overall=None,
    title: str = "",
    overall_label: str = "Overall (all trials)",
    notes=(),
):
    """``rows``: the leave_one_out.csv rows of one analysis x measure; ``overall``: the
    full-data result ``(estimate, CI low, CI high)`` on the analysis scale, drawn as the last row
    (a bare estimate: a reference line only); ``notes``: footnote lines."""
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
        overall_label=overall_label,
        notes=notes,
    )


def cumulative_plot(
    rows: pd.DataFrame,
    *,
    measure: str,
    scale=None,
    overall=None,
    title: str = "",
    overall_label: str = "Overall (all trials)",
    notes=(),
):
    """``rows``: the cumulative.csv rows of one analysis x measure (in step order); ``overall``
    and ``notes`` as :func:`leave_one_out_plot`."""
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
        overall_label=overall_label,
        notes=notes,
    )
