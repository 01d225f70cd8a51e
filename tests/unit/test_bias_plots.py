"""Funnel, bubble, leave-one-out and cumulative plots: render, byte-deterministic output, and the
funnel plot draws trim-and-fill studies hollow."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

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


def _cumulative_rows():
    """Cumulative RR steps whose CIs reach 4.42 (the shipped IL-6 receptor analysis)."""
    return pd.DataFrame(
        {
            "step": [1, 2, 3, 4],
            "added_study_id": ["OPTION 2008", "TOWARD 2008", "RADIATE 2008", "LITHE 2011"],
            "year": [2008, 2008, 2008, 2011],
            "estimate": np.log([2.21, 2.37, 2.85, 2.58]),
            "ci_low": np.log([1.71, 2.05, 1.84, 1.89]),
            "ci_high": np.log([2.86, 2.74, 4.42, 3.51]),
            "I2": [0.0, 0.0, 87.0, 85.0],
        }
    )


def test_cumulative_and_leave_one_out_ticks_cover_every_ci():
    """RevMan's symmetric axis: ticks on both sides of the null and beyond every CI (not only
    1 and 2 while a CI reaches 4.42); the overall row (estimate and CI) is drawn last."""
    rows = _cumulative_rows()
    overall = tuple(np.log([2.58, 1.46, 4.53]))
    fig = cumulative_plot(rows, measure="RR", scale="log", overall=overall, notes=["a note"])
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["0.2", "0.5", "1", "2", "5"]
    lo, hi = ax.get_xlim()
    assert lo == pytest.approx(0.2) and hi == pytest.approx(5.0) and hi >= 4.53
    texts = {t.get_gid(): t.get_text() for t in fig.findobj(Text) if t.get_gid()}
    assert texts["overall-effect"] == "2.58 [1.46, 4.53]"
    assert ax.xaxis.get_label().get_text().startswith("Risk Ratio")
    loo = rows.rename(columns={"added_study_id": "omitted_study_id"}).assign(tau2=0.1, I2=50.0)
    fig = leave_one_out_plot(loo, measure="MD", scale="raw", overall=(0.9, 0.2, 1.6))
    ax = fig.axes[0]
    assert ax.get_xlim() == (-2.0, 2.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["\u22122", "\u22121", "0", "1", "2"]


def _shipped_figures(aid_part: str, moderators=("biomarker_selected",)):
    """(forest figure, {stem: exploration figure}) of a shipped analysis, drawn from the real
    engine's tables (primary CI: HKSJ)."""
    from helpers.report_tables import CONFIG, engine_tables, load_shipped_trials
    from trialmeta.plots.exploration_figures import analysis_exploration_figures
    from trialmeta.tables import exploration as ex
    from trialmeta.tables.effects import compute_effect_sizes

    trials, _ = load_shipped_trials()
    pooled, studies, _ = engine_tables(trials)
    aid = next(a for a in sorted(pooled["analysis_id"].unique()) if aid_part in a)
    eff = compute_effect_sizes(
        trials[trials.analysis_id == aid],
        measures=CONFIG["measures"],
        continuity=CONFIG["continuity"],
    )
    tables = {
        "subgroups": ex.subgroups_table(eff, trials, list(moderators)),
        "leave_one_out": ex.leave_one_out_table(eff),
        "cumulative": ex.cumulative_table(eff, trials),
    }
    pa, sa = pooled[pooled.analysis_id == aid], studies[studies.analysis_id == aid]
    ta = trials[trials.analysis_id == aid]
    figs = dict(analysis_exploration_figures(aid, pa, sa, ta, tables, CONFIG))
    return aid, pa, sa, ta, figs


def _forest_pooled_text(aid, pa, sa, ta):
    from helpers.report_tables import CONFIG
    from trialmeta.plots.forest import forest_plot, select_rows
    from trialmeta.plots.labels import analysis_labels

    lab = analysis_labels(ta)
    measure = select_rows(pa, aid, None, CONFIG)["measure"]
    fig = forest_plot(
        {"analysis_id": aid},
        sa,
        pa,
        measure=measure,
        therapy_label=lab["therapy"],
        comparator_label=lab["comparator"],
        higher_is_better=lab["higher_is_better"],
        outcome_type=lab["outcome_type"],
        config=CONFIG,
    )
    return {t.get_gid(): t.get_text() for t in fig.findobj(Text) if t.get_gid()}


def test_subgroup_forest_events_weights_favours_and_forest_overall():
    """The subgroup forest plot of the shipped intralipid analysis: events/totals per arm and
    weights for every study and the total, favours labels, and a total equal to the forest
    plot's primary result (HKSJ 1.59 [0.01, 192.50], not the Wald 0.76-3.32)."""
    aid, pa, sa, ta, figs = _shipped_figures("intralipid-lipid")
    stem = next(s for s in figs if ".subgroups-biomarker_selected" in s)
    fig = figs[stem]
    texts = {t.get_gid(): t.get_text() for t in fig.findobj(Text) if t.get_gid()}
    forest = _forest_pooled_text(aid, pa, sa, ta)
    assert texts["overall-effect"] == forest["pooled-effect"] == "1.59 [0.01, 192.50]"
    assert texts["header-t"] == texts["header-c"] == "Events/Total"
    assert texts["header-weight"] == "Weight"
    cells = [t.get_text() for t in fig.findobj(Text)]
    st = sa[sa.measure == "RR"]
    for _, row in st.iterrows():
        assert f"{row.events_treat:.0f}/{row.n_treat:.0f}" in cells
        assert f"{row.events_ctrl:.0f}/{row.n_ctrl:.0f}" in cells
        assert f"{row.weight_random:.1f}%" in cells
    assert f"{st.events_treat.sum():.0f}/{st.n_treat.sum():.0f}" in cells and "100.0%" in cells
    assert texts["favours-left"].startswith("Favours") and texts["favours-right"]
    assert "Hartung-Knapp-Sidik-Jonkman" in " ".join(cells)
    svg = figure_bytes(fig, "svg")
    for gid in ("overall-effect", "header-weight", "favours-left", "favours-right", "axis-title"):
        assert f'id="{gid}"'.encode() in svg
    assert svg == figure_bytes(_shipped_figures("intralipid-lipid")[4][stem], "svg")


def test_sequence_plots_overall_is_the_forest_primary_result():
    aid, pa, sa, ta, figs = _shipped_figures(
        "il-6-receptor-placebo-csdmard-rheumatoid-arthritis-acr20"
    )
    forest = _forest_pooled_text(aid, pa, sa, ta)
    for kind in ("leave_one_out", "cumulative"):
        fig = figs[f"{aid}.{kind}"]
        texts = {t.get_gid(): t.get_text() for t in fig.findobj(Text) if t.get_gid()}
        assert texts["overall-effect"] == forest["pooled-effect"]
