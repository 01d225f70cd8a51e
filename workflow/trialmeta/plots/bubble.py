"""Meta-regression bubble plot: one bubble per study (area proportional to its random-effects
weight 1/(v_i + tau2)), the fitted line with its 95% confidence band (numeric moderator), or the
level estimates with 95% CIs (categorical moderator). Effects in natural units (log axis for
ratio measures), as metafor's ``regplot``."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from trialmeta.plots._axes import log_ticks
from trialmeta.plots.labels import clean_text, measure_info
from trialmeta.plots.lean_axes import new_axes
from trialmeta.plots.style import PALETTE, new_figure
from trialmeta.stats import distributions as dist

__all__ = ["bubble_plot"]


def bubble_plot(
    x,
    yi,
    vi,
    *,
    tau2=0.0,
    coef=None,
    vcov=None,
    measure="",
    scale=None,
    moderator="",
    levels=None,
    level_estimates=None,
    level_ci=None,
    title: str = "",
    crit=None,
    width: float = 5.5,
    height: float = 3.8,
):
    """``x`` numeric moderator values (or level labels when ``levels`` is given); ``coef``/``vcov``
    of ``intrcpt + slope`` for the fitted line; ``level_estimates``/``level_ci`` ((L,), (L, 2))
    for a categorical moderator. ``crit``: critical value of the confidence band (default the
    normal 97.5% quantile; a t quantile for Knapp-Hartung)."""
    name, is_ratio, null = measure_info(measure, scale)
    tr = np.exp if is_ratio else (lambda a: a)
    yi = np.asarray(yi, float)
    w = 1.0 / (np.asarray(vi, float) + (tau2 if np.isfinite(tau2) else 0.0))
    size = 400 * w / w.max()
    fig = new_figure(width, height)
    # fixed margins instead of tight_layout (which draws the figure once more)
    ax = new_axes(
        fig,
        [
            0.8 / width,
            0.55 / height,
            1 - 1.0 / width,
            1 - (0.55 + (0.35 if title else 0.15)) / height,
        ],
    )
    ax.spines["left"].set_visible(True)
    if levels is None:
        xv = np.asarray(x, float)
        _bubbles(ax, xv, tr(yi), size)
        if coef is not None:
            _fitted_line(ax, xv, coef, vcov, crit, tr)
        if np.all(np.isfinite(xv)) and np.all(xv == np.round(xv)):
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        ax.set_xlabel(moderator)
    else:
        labels = [str(v) for v in x]
        pos = np.array([list(levels).index(lab) for lab in labels], float)
        jitter = (np.arange(pos.size) % 5 - 2) * 0.04
        _bubbles(ax, pos + jitter, tr(yi), size)
        if level_estimates is not None:
            le = np.asarray(level_estimates, float)
            ci = np.asarray(level_ci, float)
            ax.errorbar(
                np.arange(len(levels)) + 0.3,
                tr(le),
                yerr=np.abs(tr(ci.T) - tr(le)),
                fmt="D",
                color=PALETTE["pooled"],
                ms=5,
                capsize=3,
                zorder=4,
            )
        _level_axis(ax, levels, moderator)
    ax.axhline(null, color=PALETTE["null"], lw=0.7, ls=":")
    if is_ratio:
        ax.set_yscale("log")
        log_ticks(ax, "y")
    ax.set_ylabel(name)
    if title:
        fig.text(0.02, 1 - 0.08 / height, title, ha="left", va="top", fontsize=9)
    return fig


def _bubbles(ax, x, y, size) -> None:
    ax.scatter(
        x,
        y,
        s=size,
        facecolor=PALETTE["study"],
        alpha=0.55,
        edgecolor="black",
        linewidth=0.5,
        zorder=3,
    )


def _fitted_line(ax, xv, coef, vcov, crit, tr) -> None:
    """The meta-regression line with its confidence band (``crit``: its critical value)."""
    g = np.linspace(np.nanmin(xv), np.nanmax(xv), 100)
    G = np.column_stack([np.ones_like(g), g])
    fit = G @ np.asarray(coef, float)
    ax.plot(g, tr(fit), color=PALETTE["pooled"], lw=1.0, zorder=4)
    if vcov is not None:
        se = np.sqrt(np.einsum("ij,jk,ik->i", G, np.asarray(vcov, float), G))
        z = dist.norm_isf(0.025) if crit is None else float(crit)
        ax.fill_between(g, tr(fit - z * se), tr(fit + z * se), color=PALETTE["grid"], zorder=1)


def _level_axis(ax, levels, moderator) -> None:
    """Level names as x ticks of a categorical moderator (slanted when they would crowd)."""
    names = [clean_text(lev, 24) for lev in levels]
    crowded = sum(len(n) for n in names) > 60
    ax.set_xticks(np.arange(len(levels)))
    ax.set_xticklabels(names, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    ax.set_xlim(-0.6, len(levels) - 0.4)
    ax.set_xlabel(moderator)
