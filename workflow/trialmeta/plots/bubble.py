"""Meta-regression bubble plot: one bubble per study (area proportional to its random-effects
weight 1/(v_i + tau2)), the fitted line with its 95% confidence band (numeric moderator), or the
level estimates with 95% CIs (categorical moderator). Effects in natural units (log axis for
ratio measures), as metafor's ``regplot``."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ._axes import log_ticks
from .labels import measure_info
from .style import PALETTE, new_figure

__all__ = ["bubble_plot"]


def bubble_plot(x, yi, vi, *, tau2=0.0, coef=None, vcov=None, measure="", scale=None, moderator="",
                levels=None, level_estimates=None, level_ci=None, title: str = "",
                width: float = 5.5, height: float = 4.0):
    """``x`` numeric moderator values (or level labels when ``levels`` is given); ``coef``/``vcov``
    of ``intrcpt + slope`` for the fitted line; ``level_estimates``/``level_ci`` ((L,), (L, 2))
    for a categorical moderator."""
    name, is_ratio, null = measure_info(measure, scale)
    tr = np.exp if is_ratio else (lambda a: a)
    yi = np.asarray(yi, float)
    w = 1.0 / (np.asarray(vi, float) + (tau2 if np.isfinite(tau2) else 0.0))
    size = 400 * w / w.max()
    fig = new_figure(width, height)
    ax = fig.add_subplot(1, 1, 1)
    ax.spines["left"].set_visible(True)
    if levels is None:
        xv = np.asarray(x, float)
        ax.scatter(xv, tr(yi), s=size, facecolor=PALETTE["study"], alpha=0.55, edgecolor="black",
                   linewidth=0.5, zorder=3)
        if coef is not None:
            g = np.linspace(np.nanmin(xv), np.nanmax(xv), 100)
            G = np.column_stack([np.ones_like(g), g])
            fit = G @ np.asarray(coef, float)
            se = np.sqrt(np.einsum("ij,jk,ik->i", G, np.asarray(vcov, float), G)) if vcov is not None else None
            ax.plot(g, tr(fit), color=PALETTE["pooled"], lw=1.0, zorder=4)
            if se is not None:
                z = stats.norm.isf(0.025)
                ax.fill_between(g, tr(fit - z * se), tr(fit + z * se), color=PALETTE["grid"], zorder=1)
        ax.set_xlabel(moderator)
    else:
        labels = [str(v) for v in x]
        pos = np.array([list(levels).index(lab) for lab in labels], float)
        jitter = (np.arange(pos.size) % 5 - 2) * 0.04
        ax.scatter(pos + jitter, tr(yi), s=size, facecolor=PALETTE["study"], alpha=0.55, edgecolor="black",
                   linewidth=0.5, zorder=3)
        if level_estimates is not None:
            le = np.asarray(level_estimates, float)
            ci = np.asarray(level_ci, float)
            ax.errorbar(np.arange(len(levels)) + 0.3, tr(le), yerr=np.abs(tr(ci.T) - tr(le)), fmt="D",
                        color=PALETTE["pooled"], ms=5, capsize=3, zorder=4)
        ax.set_xticks(np.arange(len(levels)))
        ax.set_xticklabels(list(levels))
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.set_xlabel(moderator)
    ax.axhline(null, color=PALETTE["null"], lw=0.7, ls=":")
    if is_ratio:
        ax.set_yscale("log")
        log_ticks(ax, "y")
    ax.set_ylabel(name)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
