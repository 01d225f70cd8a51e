"""The issue-4 figures of an analysis, rendered by the figure jobs next to its forest plot.

:func:`analysis_exploration_figures` is a pure function of one analysis's rows (pooled, studies,
trials and the exploration tables) and the config: it yields ``(file stem, Figure)`` for

* ``subgroups-<moderator>``: subgroup forest plot, per moderator of ``subgroups.csv`` (the table
  lists a moderator only where it has >= 2 levels in the analysis);
* ``bubble-<moderator>``: bubble plot, per moderator whose meta-regression was fitted;
* ``leave_one_out`` and ``cumulative``: when the analysis has >= :data:`MIN_K_SEQUENCE` studies
  (with two studies, each re-analysis is a single study, already in the forest plot);
* ``funnel``: contour-enhanced funnel plot with the trim-and-fill studies hollow, when the
  small-study analyses ran (k >= ``small_study_min_k``).

Only the primary measure is drawn (the forest plot's). File names: :mod:`trialmeta.plots.names`.
:func:`render_exploration_figures` is the batch entry point (one call per figure job).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from trialmeta.stats import distributions as dist

from trialmeta.stats.batch import StudyBatch
from trialmeta.report.text import ordered_levels
from trialmeta.stats.metaregression import design_matrix, level_label, meta_regression, sort_levels
from trialmeta.stats.sensitivity import fit_random_effects
from trialmeta.stats.small_study import MIN_STUDIES, trim_and_fill
from trialmeta.plots.labels import clean_text
from trialmeta.plots.names import exploration_stem
from trialmeta.plots.style import save_figure

__all__ = ["MIN_K_SEQUENCE", "analysis_exploration_figures", "render_exploration_figures", "primary_measure"]

#: Fewest studies for the leave-one-out and cumulative plots.
MIN_K_SEQUENCE = 3


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or \
        (isinstance(v, str) and v.strip() == "")


def primary_measure(pooled_a: pd.DataFrame, studies_a: pd.DataFrame, config: dict) -> tuple[str, str | None]:
    """``(measure, scale)`` of the analysis's primary pooled row (``primary`` true), else the
    first configured measure present in the studies rows."""
    if len(pooled_a) and "primary" in pooled_a.columns:
        flagged = pooled_a[pooled_a["primary"].map(lambda v: str(v).lower() in ("true", "1")).astype(bool)]
        if len(flagged):
            r = flagged.iloc[0]
            scale = r.get("scale") if "scale" in flagged.columns else None
            return str(r["measure"]), (None if _missing(scale) else str(scale))
    present = list(dict.fromkeys(studies_a.get("measure", pd.Series(dtype=object)).astype(str)))
    for kind in ("binary", "continuous"):
        for m in (config.get("measures") or {}).get(kind, []) or []:
            if str(m) in present:
                return str(m), None
    return (present[0] if present else ""), None


def _with_trial_columns(st: pd.DataFrame, trials_a: pd.DataFrame | None, columns) -> pd.DataFrame:
    """Studies rows with trial columns joined on source_file/source_row (or study_id)."""
    cols = [c for c in columns if trials_a is not None and c in trials_a.columns]
    if not cols:
        return st.assign(**{c: np.nan for c in columns if c not in st.columns})
    st = st.drop(columns=[c for c in cols if c in st.columns])
    keys = ["source_file", "source_row"] if {"source_file", "source_row"} <= set(st.columns) \
        and {"source_file", "source_row"} <= set(trials_a.columns) else ["study_id"]
    right = trials_a[keys + cols].drop_duplicates(keys)
    left = st.copy()
    for k in keys:   # source_row may be int in one table and float in the other
        if k == "source_row":
            left[k] = pd.to_numeric(left[k], errors="coerce")
            right = right.assign(source_row=pd.to_numeric(right[k], errors="coerce"))
        else:
            left[k] = left[k].astype(str)
            right = right.assign(**{k: right[k].astype(str)})
    out = left.merge(right, on=keys, how="left", sort=False)
    for c in columns:
        if c not in out:
            out[c] = np.nan
    return out


def _categorical(values) -> bool:
    vals = [v for v in values if not _missing(v)]
    return not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                   for v in vals)


def _rows(table: pd.DataFrame | None, measure: str) -> pd.DataFrame:
    if table is None or not len(table) or "measure" not in table.columns:
        return pd.DataFrame()
    return table[table["measure"].astype(str) == measure]


def analysis_exploration_figures(analysis_id: str, pooled_a: pd.DataFrame, studies_a: pd.DataFrame,
                                 trials_a: pd.DataFrame | None, tables_a: dict, config: dict):
    """Yield ``(stem, Figure)`` of every exploration figure of one analysis (see module doc).

    ``tables_a``: the analysis's rows of the exploration tables, keyed ``subgroups``,
    ``metaregression``, ``leave_one_out``, ``cumulative``, ``small_study``. The caller saves and
    discards each figure before asking for the next (one figure alive at a time).
    """
    from trialmeta.plots.bubble import bubble_plot
    from trialmeta.plots.funnel import funnel_plot
    from trialmeta.plots.sensitivity_plots import cumulative_plot, leave_one_out_plot
    from trialmeta.plots.subgroup_forest import subgroup_forest_plot

    measure, scale = primary_measure(pooled_a, studies_a, config)
    st = studies_a[studies_a["measure"].astype(str) == measure] if "measure" in studies_a.columns else studies_a
    y_all, v_all = st["yi"].to_numpy(float), st["vi"].to_numpy(float)
    ok = np.isfinite(y_all) & np.isfinite(v_all)
    st = st[ok].reset_index(drop=True)
    k = len(st)
    if k == 0:
        return
    tau2_method = (config.get("tau2_methods") or ["REML"])[0]
    level = float(config.get("level", 0.95))
    yi, vi = st["yi"].to_numpy(float), st["vi"].to_numpy(float)

    def overall(y, v):
        o = fit_random_effects(StudyBatch.from_arrays(y[None], v[None]), tau2_method, "wald", level)
        return float(o.estimate[0]), float(o.ci_low[0]), float(o.ci_high[0])

    # ---- subgroups: one forest plot per moderator listed for this analysis
    sgt = _rows(tables_a.get("subgroups"), measure)
    if len(sgt):
        for mod in sgt["moderator"].drop_duplicates():
            rows = ordered_levels(sgt[sgt["moderator"] == mod])    # a true/false moderator: true first
            gg = _with_trial_columns(st, trials_a, [mod])
            gg = gg.loc[~gg[mod].map(_missing).astype(bool).to_numpy()].reset_index(drop=True)
            if not len(gg):
                continue
            gg = gg.assign(level=[level_label(x) for x in gg[mod]])
            fig = subgroup_forest_plot(gg, rows, measure=measure, scale=scale, moderator=clean_text(mod, 30),
                                       overall=overall(gg["yi"].to_numpy(float), gg["vi"].to_numpy(float)),
                                       title=f"Subgroups by {clean_text(mod, 60)}")
            yield exploration_stem(analysis_id, "subgroups", mod), fig

    # ---- meta-regression: one bubble plot per fitted moderator
    mr = _rows(tables_a.get("metaregression"), measure)
    if len(mr):
        fitted = mr[mr["term"].astype(str).str.len() > 0]
        test = str(config.get("metaregression_test", "z"))
        method = tau2_method if tau2_method in ("REML", "ML", "DL") else "REML"
        for mod in fitted["moderator"].drop_duplicates():
            gg = _with_trial_columns(st, trials_a, [mod])
            gg = gg.loc[~gg[mod].map(_missing).astype(bool).to_numpy()].reset_index(drop=True)
            y, v = gg["yi"].to_numpy(float), gg["vi"].to_numpy(float)
            values = gg[mod].tolist()
            cat = _categorical(trials_a[mod].tolist() if trials_a is not None and mod in trials_a else values)
            X, names = design_matrix(values, categorical=cat, name=str(mod))
            res = meta_regression(y[None], v[None], np.ones((1, y.size), bool), X[None], method=method,
                                  test=test, level=level, term_names=names)
            df = float(np.ravel(res.df)[0]) if res.df is not None else float("nan")
            crit = dist.t_isf((1 - level) / 2, df) if test == "knha" and np.isfinite(df) else \
                dist.norm_isf((1 - level) / 2)
            if cat:
                levels = sort_levels(values)
                C = np.eye(len(levels))
                C[:, 0] = 1.0
                est = C @ res.coef[0]
                se = np.sqrt(np.einsum("ij,jk,ik->i", C, res.vcov[0], C))
                fig = bubble_plot([level_label(x) for x in values], y, v, tau2=res.tau2[0], levels=levels,
                                  level_estimates=est, level_ci=np.column_stack([est - crit * se, est + crit * se]),
                                  measure=measure, scale=scale, moderator=clean_text(mod, 60), crit=crit,
                                  title=f"Meta-regression on {clean_text(mod, 60)}")
            else:
                fig = bubble_plot(np.asarray(values, float), y, v, tau2=res.tau2[0], coef=res.coef[0],
                                  vcov=res.vcov[0], measure=measure, scale=scale, moderator=clean_text(mod, 60), crit=crit,
                                  title=f"Meta-regression on {clean_text(mod, 60)}")
            yield exploration_stem(analysis_id, "bubble", mod), fig

    # ---- leave-one-out and cumulative
    if k >= MIN_K_SEQUENCE:
        est = overall(yi, vi)[0]
        loo = _rows(tables_a.get("leave_one_out"), measure)
        if len(loo):
            yield exploration_stem(analysis_id, "leave_one_out"), leave_one_out_plot(
                loo, measure=measure, scale=scale, overall=est, title="Leave-one-out: pooled estimate without each trial")
        cum = _rows(tables_a.get("cumulative"), measure)
        if len(cum):
            yield exploration_stem(analysis_id, "cumulative"), cumulative_plot(
                cum, measure=measure, scale=scale, overall=est, title="Cumulative meta-analysis by year")

    # ---- funnel plot where the small-study analyses ran
    ss = _rows(tables_a.get("small_study"), measure)
    min_k = int(config.get("small_study_min_k", MIN_STUDIES))
    ran = len(ss) > 0 and ("reason" not in ss.columns or _missing(ss["reason"].iloc[0]))
    if ran and k >= min_k:
        b = StudyBatch.from_arrays(yi[None], vi[None])
        tf = trim_and_fill(b, "REML", level)
        k0 = int(tf.k0[0])
        est = fit_random_effects(b, tau2_method, "wald", level).estimate[0]
        side = str(tf.side[0])
        yield exploration_stem(analysis_id, "funnel"), funnel_plot(
            yi, vi, estimate=est, measure=measure, scale=scale, fill_yi=tf.fill_yi[0, :k0], fill_vi=tf.fill_vi[0, :k0],
            title=f"Funnel plot (trim-and-fill: {k0} imputed on the {side})")


def render_exploration_figures(pooled: pd.DataFrame, studies: pd.DataFrame, trials: pd.DataFrame | None,
                               tables: dict, config: dict, out_dir, analysis_ids,
                               formats=("svg", "png")) -> list[Path]:
    """Render the exploration figures of each analysis into ``out_dir`` (flat, see
    :mod:`trialmeta.plots.names`); return the written paths, sorted."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def by_id(df):
        if df is None or not len(df) or "analysis_id" not in df.columns:
            return {}
        return {str(a): g for a, g in df.groupby(df["analysis_id"].astype(str), sort=False)}

    p_by, s_by, t_by = by_id(pooled), by_id(studies), by_id(trials)
    tab_by = {name: by_id(df) for name, df in (tables or {}).items()}
    empty = pd.DataFrame()
    written: list[Path] = []
    for aid in sorted({str(a) for a in analysis_ids}):
        sa = s_by.get(aid)
        if sa is None:
            continue
        tables_a = {name: d.get(aid, empty) for name, d in tab_by.items()}
        for stem, fig in analysis_exploration_figures(aid, p_by.get(aid, empty), sa, t_by.get(aid), tables_a,
                                                      config):
            written += save_figure(fig, out_dir / stem, formats)
            fig.clf()
    return sorted(written)
