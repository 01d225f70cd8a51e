"""Funnel, bubble, leave-one-out and cumulative plots: render, byte-deterministic output, and the
funnel plot draws trim-and-fill studies hollow."""

import numpy as np
import pandas as pd

from helpers.bias_reference_helpers import load_case
from trialmeta.plots.bubble import bubble_plot
from trialmeta.plots.funnel import funnel_plot
from trialmeta.plots.sensitivity_plots import cumulative_plot, leave_one_out_plot
from trialmeta.plots.style import figure_bytes
from trialmeta.stats.metaregression import design_matrix, meta_regression
from trialmeta.stats.sensitivity import fit_random_effects
from trialmeta.stats.small_study import trim_and_fill


def _funnel():
    rows, a, r, y, v, b, s = load_case("dat.egger2001", "magnesium_mortality", "OR")
    tf = trim_and_fill(b)
    k0 = int(tf.k0[0])
    fig = funnel_plot(
        y,
        v,
        estimate=fit_random_effects(b).estimate[0],
        measure="OR",
        scale="log",
        fill_yi=tf.fill_yi[0, :k0],
        fill_vi=tf.fill_vi[0, :k0],
        title="egger2001",
    )
    return fig, k0


def test_funnel_hollow_filled_studies_and_deterministic():
    fig, k0 = _funnel()
    assert k0 > 0
    ax = fig.axes[0]
    scat = [c for c in ax.collections if c.get_label() in ("studies", "imputed (trim-and-fill)")]
    filled = [c for c in scat if c.get_label() == "imputed (trim-and-fill)"][0]
    assert len(filled.get_offsets()) == k0
    assert np.allclose(filled.get_facecolor()[0][:3], 1.0)  # hollow (white face)
    assert figure_bytes(fig, "svg") == figure_bytes(_funnel()[0], "svg")
    assert figure_bytes(fig, "png") == figure_bytes(_funnel()[0], "png")


def test_bubble_and_sensitivity_plots_render():
    rows, a, r, y, v, b, s = load_case("dat.bcg", "bcg_tb", "RR")
    X, names = design_matrix(rows["ablat"].tolist(), categorical=False, name="ablat")
    res = meta_regression(y[None], v[None], np.ones((1, y.size), bool), X[None])
    fig = bubble_plot(
        rows["ablat"],
        y,
        v,
        tau2=res.tau2[0],
        coef=res.coef[0],
        vcov=res.vcov[0],
        measure="RR",
        scale="log",
        moderator="ablat",
    )
    assert figure_bytes(fig, "svg").startswith(b"<?xml")
    levels = ["alternate", "random", "systematic"]
    fig = bubble_plot(
        rows["alloc"],
        y,
        v,
        levels=levels,
        level_estimates=[-0.5, -0.9, -0.4],
        level_ci=[[-1, 0], [-1.4, -0.4], [-1, 0.2]],
        measure="RR",
        scale="log",
        moderator="alloc",
    )
    assert len(fig.axes[0].get_xticklabels()) == 3
    loo = pd.DataFrame(
        {
            "omitted_study_id": ["a", "b", "c"],
            "estimate": [0.1, 0.2, np.nan],
            "ci_low": [-0.1, 0.0, np.nan],
            "ci_high": [0.3, 0.4, np.nan],
            "tau2": [0.01, 0.0, np.nan],
            "I2": [10.0, 0.0, np.nan],
        }
    )
    assert figure_bytes(leave_one_out_plot(loo, measure="MD", scale="raw", overall=0.15), "png")
    cu = pd.DataFrame(
        {
            "step": [1, 2],
            "added_study_id": ["a 1999", "b"],
            "year": [1999, 2001],
            "estimate": [0.1, 0.2],
            "ci_low": [-0.5, -0.1],
            "ci_high": [0.7, 0.5],
            "I2": [0.0, 20.0],
        }
    )
    fig = cumulative_plot(cu, measure="OR", scale="log")
    assert figure_bytes(fig, "svg") == figure_bytes(
        cumulative_plot(cu, measure="OR", scale="log"), "svg"
    )


def test_render_exploration_figures(tmp_path):
    """The batch entry point of the figure jobs: flat <analysis_id>.<kind>.<fmt> files, the primary
    measure only, byte-identical on a second run, and one figure alive at a time."""
    from helpers.reference_data import load_reference
    from trialmeta.plots.exploration_figures import render_exploration_figures
    from trialmeta.tables import exploration as ex

    t, ref = load_reference("dat.bcg")
    t = t.assign(source_file="bcg.csv", source_row=np.arange(len(t)) + 2, analysis_id="bcg_tb")
    e = ref["analyses"]["bcg_tb"]["results"]["RR"]["escalc"]
    eff = pd.DataFrame(
        {
            "analysis_id": "bcg_tb",
            "measure": "RR",
            "scale": "log",
            "study_id": e["study_id"],
            "yi": e["yi"],
            "vi": e["vi"],
            "source_file": "bcg.csv",
            "source_row": t["source_row"],
        }
    )
    other = eff.assign(measure="OR")  # not the primary measure: not drawn
    studies = pd.concat([eff, other], ignore_index=True)
    pooled = pd.DataFrame(
        {
            "analysis_id": ["bcg_tb", "bcg_tb"],
            "measure": ["RR", "OR"],
            "scale": ["log", "log"],
            "primary": [True, False],
        }
    )
    cfg = {
        "subgroups": ["alloc"],
        "metaregression": ["ablat", "alloc"],
        "measures": {"binary": ["OR", "RR"]},
    }
    tables = {
        "leave_one_out": ex.leave_one_out_table(studies),
        "cumulative": ex.cumulative_table(studies, t),
        "metaregression": ex.metaregression_table(studies, t, cfg["metaregression"]),
        "subgroups": ex.subgroups_table(studies, t, cfg["subgroups"]),
        "small_study": ex.small_study_table(studies),
    }
    paths = render_exploration_figures(
        pooled, studies, t, tables, cfg, tmp_path / "a", ["bcg_tb"], formats=("svg",)
    )
    names = sorted(p.name for p in paths)
    assert names == [
        "bcg_tb.bubble-ablat.svg",
        "bcg_tb.bubble-alloc.svg",
        "bcg_tb.cumulative.svg",
        "bcg_tb.funnel.svg",
        "bcg_tb.leave_one_out.svg",
        "bcg_tb.subgroups-alloc.svg",
    ]
    again = render_exploration_figures(
        pooled, studies, t, tables, cfg, tmp_path / "b", ["bcg_tb"], formats=("svg",)
    )
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    # an analysis without study rows, or not in the batch, gets nothing
    assert (
        render_exploration_figures(pooled, studies, t, tables, cfg, tmp_path / "c", ["other"]) == []
    )
