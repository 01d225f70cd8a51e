"""Contour-enhanced funnel plot (Peters et al. 2008, J Clin Epidemiol 61:991-996; metafor
``funnel(..., level = c(90, 95, 99), shade = ..., refline = 0)``).

Effect on the x axis (natural units; log axis for ratio measures), standard error on the y axis
(0 at the top). Shaded contours are the regions where a study's own two-sided Wald test is
significant at p < 0.10, 0.05, 0.01 (centred on the null, not on the pooled estimate), so that
missing studies in the *non-significant* region point to publication bias rather than other small-
study effects. The pooled estimate is a vertical line with its pseudo 95% confidence limits
``estimate +- 1.96 se``. Studies imputed by trim-and-fill are drawn hollow.
"""

from __future__ import annotations

import numpy as np

from trialmeta.plots._axes import log_ticks
from trialmeta.plots.labels import measure_info
from trialmeta.plots.lean_axes import new_axes
from trialmeta.plots.style import PALETTE, new_figure
from trialmeta.stats import distributions as dist

__all__ = ["funnel_plot", "CONTOUR_LEVELS", "CONTOUR_SHADES"]

CONTOUR_LEVELS = (0.90, 0.95, 0.99)
#: region colours: p > 0.10 (white), 0.05-0.10, 0.01-0.05, < 0.01
CONTOUR_SHADES = ("#ffffff", "#e8e8e8", "#cfcfcf", "#a8a8a8")


def funnel_plot(
    yi,
    vi,
    *,
    estimate=None,
    measure="",
    scale=None,
    fill_yi=None,
    fill_vi=None,
    title: str = "",
    width: float = 5.5,
    height: float = 4.2,
):
    """Return a Figure. ``yi``/``vi`` on the analysis scale (log for ratios)."""
    _, is_ratio, null = measure_info(measure, scale)
    name = measure_info(measure, scale)[0]
    yi = np.asarray(yi, float)
    se = np.sqrt(np.asarray(vi, float))
    fy = np.asarray([] if fill_yi is None else fill_yi, float)
    fse = np.sqrt(np.asarray([] if fill_vi is None else fill_vi, float))
    fig = new_figure(width, height)
    # fixed margins instead of tight_layout (which draws the figure once more)
    ax = new_axes(
        fig,
        [
            0.75 / width,
            0.55 / height,
            1 - 0.95 / width,
            1 - (0.55 + (0.35 if title else 0.15)) / height,
        ],
    )
    se_all = np.concatenate([se, fse]) if fse.size else se
    se_max = float(np.nanmax(se_all)) * 1.08 if se_all.size else 1.0
    # straight lines on the plotted axis (ratios: exp of a line, on a log axis): two points draw
    # them exactly (200 points made the funnel plot the largest figure of an analysis)
    grid = np.array([0.0, se_max])
    tr = np.exp if is_ratio else (lambda x: x)
    _contours(ax, grid, tr, estimate)
    ax.axvline(null, color=PALETTE["null"], lw=0.7, ls=":", zorder=2)
    ax.scatter(
        tr(yi),
        se,
        s=22,
        color=PALETTE["study"],
        edgecolor="black",
        linewidth=0.5,
        zorder=3,
        label="studies",
    )
    if fy.size:
        ax.scatter(
            tr(fy),
            fse,
            s=22,
            facecolor="white",
            edgecolor="black",
            linewidth=0.8,
            zorder=3,
            label="imputed (trim-and-fill)",
        )
    ax.set_ylim(se_max, 0)
    if is_ratio:
        ax.set_xscale("log")
    xs = np.concatenate([yi, fy, [-dist.norm_isf(0.005) * se_max, dist.norm_isf(0.005) * se_max]])
    lo, hi = np.nanmin(xs), np.nanmax(xs)
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    ax.set_xlim(tr(lo - pad), tr(hi + pad))
    if is_ratio:
        log_ticks(ax, "x")
    ax.set_xlabel(f"{name} ({'log scale' if is_ratio else 'raw scale'})")
    ax.set_ylabel("Standard error")
    ax.spines["left"].set_visible(True)
    _legend(ax)
    if title:
        fig.text(0.02, 1 - 0.08 / height, title, ha="left", va="top", fontsize=9)
    return fig


def _contours(ax, grid, tr, estimate) -> None:
    """The significance contours around the null and the pooled estimate with its pseudo 95%
    confidence limits."""
    ax.set_facecolor(CONTOUR_SHADES[3])
    for lev, shade in zip(
        reversed(CONTOUR_LEVELS), (CONTOUR_SHADES[2], CONTOUR_SHADES[1], CONTOUR_SHADES[0])
    ):
        z = dist.norm_isf((1 - lev) / 2)
        ax.fill_betweenx(grid, tr(-z * grid), tr(z * grid), color=shade, linewidth=0, zorder=0)
    if estimate is not None and np.isfinite(estimate):
        ax.axvline(tr(estimate), color=PALETTE["pooled"], lw=0.9, zorder=2)
        for sign in (-1, 1):
            ax.plot(
                tr(estimate + sign * 1.96 * grid),
                grid,
                color=PALETTE["pooled"],
                lw=0.7,
                ls="--",
                zorder=2,
            )


def _legend(ax) -> None:
    """Studies, imputed studies and the contour shades."""
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=CONTOUR_SHADES[1], label="0.05 < p < 0.10"),
        Patch(facecolor=CONTOUR_SHADES[2], label="0.01 < p < 0.05"),
        Patch(facecolor=CONTOUR_SHADES[3], label="p < 0.01"),
    ]
    h, lab = ax.get_legend_handles_labels()
    ax.legend(handles=h + handles, fontsize=7, loc="lower right", frameon=True)
