"""The small posterior figure of the report's "few trials" panel: left, the marginal posterior
density of the pooled effect mu (natural units, log axis for ratio measures) with its 95% credible
interval shaded; right, the posterior density of the heterogeneity tau over its prior density, so a
reader sees at once how far the trials moved the prior.

File: ``<analysis_id>.posterior.<fmt>`` (:func:`trialmeta.plots.names.split_figure_name` kind
``posterior``), drawn by the bayes job (``rules/bayes.smk``) with the shared deterministic style.
"""

from __future__ import annotations

import numpy as np

from trialmeta.plots._axes import log_ticks
from trialmeta.plots.labels import measure_info
from trialmeta.plots.lean_axes import new_axes
from trialmeta.plots.names import posterior_stem
from trialmeta.plots.style import PALETTE, new_figure
from trialmeta.stats.bayes import posterior_densities

__all__ = ["posterior_plot", "posterior_grids", "posterior_stem"]


def posterior_grids(row: dict, tau_prior) -> tuple[np.ndarray, np.ndarray]:
    """Fixed grids (301 points) of mu (analysis scale) and tau from a bayes.csv row: mu over the
    median +- 2.2 times the wider half of its 95% interval; tau from 0 to 1.15 times the larger of
    the prior's and the posterior's 97.5% quantile."""
    med, lo, hi = (float(row[c]) for c in ("mu_median", "mu_ci_low", "mu_ci_high"))
    half = 2.2 * max(med - lo, hi - med)
    mu_x = np.linspace(med - half, med + half, 301)
    top = max(float(tau_prior.ppf(np.array([0.975]))[0]), float(row["tau_ci_high"]))
    tau_x = np.linspace(0.0, 1.15 * top, 301)
    return mu_x, tau_x


def posterior_plot(yi, vi, row: dict, tau_prior, mu_prior, *, width=6.4, height=2.2):
    """The figure of one analysis (``row``: its bayes.csv row, ``yi``/``vi`` its studies)."""
    mu_x, tau_x = posterior_grids(row, tau_prior)
    mu_d, tau_d, prior_d = posterior_densities(yi, vi, tau_prior, mu_prior, mu_x, tau_x)
    name, is_ratio, null = measure_info(row.get("measure"), row.get("scale"))
    fig = new_figure(width, height)
    left = new_axes(fig, [0.06, 0.26, 0.40, 0.62])
    right = new_axes(fig, [0.56, 0.26, 0.40, 0.62])
    x = np.exp(mu_x) if is_ratio else mu_x
    inside = (mu_x >= float(row["mu_ci_low"])) & (mu_x <= float(row["mu_ci_high"]))
    left.fill_between(
        x, 0, np.where(inside, mu_d, np.nan), color=PALETTE["study"], alpha=0.25, lw=0
    )
    left.plot(x, mu_d, color=PALETTE["study"], lw=1.2)
    if x[0] <= null <= x[-1]:
        left.axvline(null, color=PALETTE["null"], lw=0.8, ls="--")
    if is_ratio:
        left.set_xscale("log")
        left.set_xlim(x[0], x[-1])
        log_ticks(left, "x", expand=False)
    else:
        left.set_xlim(x[0], x[-1])
    left.set_xlabel(f"{name} (pooled effect)")
    left.set_title("Posterior of the pooled effect", fontsize=8.5, loc="left")
    right.plot(tau_x, prior_d, color=PALETTE["muted"], lw=1.0, ls="--", label="prior")
    right.plot(tau_x, tau_d, color=PALETTE["prediction"], lw=1.2, label="posterior")
    right.set_xlim(tau_x[0], tau_x[-1])
    right.set_xlabel("tau (between-trial SD" + (", log scale)" if is_ratio else ")"))
    right.set_title("Heterogeneity: posterior vs prior", fontsize=8.5, loc="left")
    right.legend(frameon=False, fontsize=7.5, loc="upper right")
    for ax in (left, right):
        ax.set_yticks([])
        ax.set_ylim(bottom=0)
        ax.spines["bottom"].set_visible(True)
    return fig
