"""Batch entry point for the issue-4 figures of many analyses (one call per figure job):
funnel plots (k >= 10, with trim-and-fill studies hollow), leave-one-out and cumulative plots,
and one bubble plot per meta-regression moderator. File names (without extension)::

    <outdir>/<analysis_id>/funnel_<measure>
    <outdir>/<analysis_id>/leave_one_out_<measure>
    <outdir>/<analysis_id>/cumulative_<measure>
    <outdir>/<analysis_id>/bubble_<measure>_<moderator>
    <outdir>/<analysis_id>/subgroups_<measure>_<moderator>

Only the primary measure of each analysis is drawn when the effects table has a
``primary_measure`` column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..batch import StudyBatch
from ..exploration import _join_trials, _moderator_kind, _is_missing
from ..metaregression import design_matrix, meta_regression, sort_levels
from ..small_study import MIN_STUDIES, trim_and_fill
from ..sensitivity import fit_random_effects
from .bubble import bubble_plot
from .funnel import funnel_plot
from .sensitivity_plots import cumulative_plot, leave_one_out_plot
from .subgroup_forest import subgroup_forest_plot
from .style import save_figure

__all__ = ["render_exploration_figures"]


def _safe(text) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(text))


def render_exploration_figures(effects: pd.DataFrame, trials: pd.DataFrame, tables: dict, config: dict,
                               outdir, *, formats=("svg", "png"), min_k: int = MIN_STUDIES) -> list[Path]:
    """Draw every figure and return the written paths (sorted, deterministic)."""
    out = Path(outdir)
    eff = effects[np.isfinite(effects["yi"].astype(float)) & np.isfinite(effects["vi"].astype(float))]
    if "primary_measure" in eff:
        eff = eff[eff["primary_measure"].astype(bool)]
    written: list[Path] = []
    tau2_method = (config.get("tau2_methods") or ["REML"])[0]
    ci_method = (config.get("ci_methods") or ["wald"])[0]
    loo = tables.get("leave_one_out", pd.DataFrame())
    cum = tables.get("cumulative", pd.DataFrame())
    mr = tables.get("metaregression", pd.DataFrame())
    sgt = tables.get("subgroups", pd.DataFrame())
    groups = sorted(eff.groupby(["analysis_id", "measure"], sort=True), key=lambda kv: kv[0])
    # funnel plots: one batched trim-and-fill for all analyses with k >= min_k
    big = [(key, g) for key, g in groups if len(g) >= min_k]
    if big:
        b = StudyBatch.from_list([(g["yi"].to_numpy(float), g["vi"].to_numpy(float)) for _, g in big])
        tf = trim_and_fill(b)
        re = fit_random_effects(b, tau2_method)
        for i, ((aid, m), g) in enumerate(big):
            k0 = int(tf.k0[i])
            fig = funnel_plot(g["yi"], g["vi"], estimate=re.estimate[i], measure=m,
                              scale=g["scale"].iloc[0] if "scale" in g else None,
                              fill_yi=tf.fill_yi[i, :k0], fill_vi=tf.fill_vi[i, :k0],
                              title=f"{aid} ({m}): trim-and-fill {tf.side[i]}, k0 = {k0}")
            written += save_figure(fig, out / _safe(aid) / f"funnel_{_safe(m)}", formats)
    for (aid, m), g in groups:
        scale = g["scale"].iloc[0] if "scale" in g else None
        b = StudyBatch.from_arrays(g["yi"].to_numpy(float)[None], g["vi"].to_numpy(float)[None])
        o = fit_random_effects(b, tau2_method, ci_method)
        overall = o.estimate[0]
        if len(loo):
            rows = loo[(loo.analysis_id == aid) & (loo.measure == m)]
            if len(rows):
                written += save_figure(leave_one_out_plot(rows, measure=m, scale=scale, overall=overall,
                                                          title=f"{aid}: leave-one-out"),
                                       out / _safe(aid) / f"leave_one_out_{_safe(m)}", formats)
        if len(cum):
            rows = cum[(cum.analysis_id == aid) & (cum.measure == m)]
            if len(rows):
                written += save_figure(cumulative_plot(rows, measure=m, scale=scale, overall=overall,
                                                       title=f"{aid}: cumulative by year"),
                                       out / _safe(aid) / f"cumulative_{_safe(m)}", formats)
        if len(sgt):
            for mod in sgt[(sgt.analysis_id == aid) & (sgt.measure == m)].moderator.drop_duplicates():
                rows = sgt[(sgt.analysis_id == aid) & (sgt.measure == m) & (sgt.moderator == mod)]
                gg = _join_trials(g, trials, [mod])
                gg = gg.loc[~gg[mod].map(_is_missing).astype(bool).to_numpy()]
                from ..metaregression import level_label as _lab
                st = gg.assign(level=[_lab(x) for x in gg[mod]])
                fig = subgroup_forest_plot(st, rows, measure=m, scale=scale, moderator=mod,
                                           overall=(o.estimate[0], o.ci_low[0], o.ci_high[0]),
                                           title=f"{aid}: subgroups by {mod}")
                written += save_figure(fig, out / _safe(aid) / f"subgroups_{_safe(m)}_{_safe(mod)}", formats)
        if len(mr):
            fitted = mr[(mr.analysis_id == aid) & (mr.measure == m) & (mr.term.astype(str) != "")]
            for mod in fitted.moderator.drop_duplicates():
                gg = _join_trials(g, trials, [mod])
                gg = gg.loc[~gg[mod].map(_is_missing).astype(bool).to_numpy()]
                y, v = gg["yi"].to_numpy(float), gg["vi"].to_numpy(float)
                cat = _moderator_kind(trials, mod, g)
                X, names = design_matrix(gg[mod].tolist(), categorical=cat, name=mod)
                res = meta_regression(y[None], v[None], np.ones((1, y.size), bool), X[None], term_names=names)
                if cat:
                    levels = sort_levels(gg[mod].tolist())
                    from ..metaregression import level_label
                    C = np.eye(len(levels))
                    C[:, 0] = 1.0
                    est = C @ res.coef[0]
                    se = np.sqrt(np.einsum("ij,jk,ik->i", C, res.vcov[0], C))
                    fig = bubble_plot([level_label(x) for x in gg[mod]], y, v, tau2=res.tau2[0], levels=levels,
                                      level_estimates=est, level_ci=np.column_stack([est - 1.96 * se, est + 1.96 * se]),
                                      measure=m, scale=scale, moderator=mod, title=f"{aid}: ~ factor({mod})")
                else:
                    fig = bubble_plot(gg[mod].astype(float), y, v, tau2=res.tau2[0], coef=res.coef[0],
                                      vcov=res.vcov[0], measure=m, scale=scale, moderator=mod, title=f"{aid}: ~ {mod}")
                written += save_figure(fig, out / _safe(aid) / f"bubble_{_safe(m)}_{_safe(mod)}", formats)
    return sorted(written)
