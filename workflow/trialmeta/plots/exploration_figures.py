"""The exploration figures of an analysis (subgroups, meta-regression, sensitivity, small-study
effects), rendered by the figure jobs next to its forest plot.

:func:`analysis_exploration_figures` is a pure function of one analysis's rows (pooled, studies,
trials and the exploration tables) and the settings: it yields ``(file stem, Figure)`` for

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
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.garbage import one_analysis_at_a_time
from trialmeta.plots.forest import FAVOURS_WIDTH, rows_by_analysis, rows_where, select_rows
from trialmeta.plots.labels import (
    analysis_labels,
    ci_method_text,
    clean_text,
    favours_lines,
    level_text,
)
from trialmeta.plots.names import exploration_stem
from trialmeta.plots.style import save_figure
from trialmeta.stats import distributions as dist
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.metaregression import design_matrix, level_label, meta_regression, sort_levels
from trialmeta.stats.sensitivity import fit_random_effects
from trialmeta.stats.small_study import trim_and_fill
from trialmeta.tables.levels import ordered_levels

__all__ = [
    "MIN_K_SEQUENCE",
    "analysis_exploration_figures",
    "render_exploration_figures",
    "primary_measure",
]

#: Fewest studies for the leave-one-out and cumulative plots.
MIN_K_SEQUENCE = 3

#: The exploration tables the figures read (the others are not split by analysis).
FIGURE_TABLES = ("subgroups", "metaregression", "leave_one_out", "cumulative", "small_study")


def _missing(v) -> bool:
    return (
        v is None
        or v is pd.NA
        or (isinstance(v, float) and math.isnan(v))
        or (isinstance(v, str) and v.strip() == "")
    )


def primary_measure(
    pooled_a: pd.DataFrame, studies_a: pd.DataFrame, settings
) -> tuple[str, str | None]:
    """``(measure, scale)`` of the analysis's primary pooled row (``primary`` true), else the
    first configured measure present in the studies rows (``settings``: Settings or config dict)."""
    if len(pooled_a) and "primary" in pooled_a.columns:
        flagged = np.flatnonzero(
            pooled_a["primary"].map(lambda v: str(v).lower() in ("true", "1")).astype(bool)
        )
        if flagged.size:
            r = pooled_a.iloc[flagged[0]]
            scale = r.get("scale") if "scale" in pooled_a.columns else None
            return str(r["measure"]), (None if _missing(scale) else str(scale))
    present = list(dict.fromkeys(studies_a.get("measure", pd.Series(dtype=object)).astype(str)))
    for kind in ("binary", "continuous"):
        for m in Settings.coerce(settings).measures.for_outcome(kind):
            if str(m) in present:
                return str(m), None
    return (present[0] if present else ""), None


def _with_trial_columns(st: pd.DataFrame, trials_a: pd.DataFrame | None, columns) -> pd.DataFrame:
    """Studies rows with trial columns joined on source_file/source_row (or study_id)."""
    cols = [c for c in columns if trials_a is not None and c in trials_a.columns]
    if not cols:
        return st.assign(**{c: np.nan for c in columns if c not in st.columns})
    st = st.drop(columns=[c for c in cols if c in st.columns])
    keys = (
        ["source_file", "source_row"]
        if {"source_file", "source_row"} <= set(st.columns)
        and {"source_file", "source_row"} <= set(trials_a.columns)
        else ["study_id"]
    )
    right = trials_a[keys + cols].drop_duplicates(keys)
    left = st.copy()
    for k in keys:  # source_row may be int in one table and float in the other
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
    return not all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        for v in vals
    )


def _rows(table: pd.DataFrame | None, measure: str) -> pd.DataFrame:
    if table is None or not len(table) or "measure" not in table.columns:
        return pd.DataFrame()
    return rows_where(table, table["measure"].astype(str) == measure)


@dataclass
class _AnalysisFigureData:
    """One analysis as its exploration figures see it: the primary measure's studies with a
    finite estimate and variance, the trial rows, the exploration tables and the settings."""

    analysis_id: str
    measure: str
    scale: str | None
    studies: pd.DataFrame
    trials: pd.DataFrame | None
    tables: dict
    settings: Settings
    primary: pd.Series | None = None
    labels: dict = field(default_factory=dict)
    _tables_of_measure: dict = field(default_factory=dict, init=False, repr=False)
    _by_moderator: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def yi(self) -> np.ndarray:
        return self.studies["yi"].to_numpy(float)

    @property
    def vi(self) -> np.ndarray:
        return self.studies["vi"].to_numpy(float)

    def table(self, name: str) -> pd.DataFrame:
        """The analysis's rows of one exploration table for the primary measure (selected once
        per analysis)."""
        cache = self._tables_of_measure
        if name not in cache:
            cache[name] = _rows(self.tables.get(name), self.measure)
        return cache[name]

    def overall(self, y, v) -> tuple[float, float, float]:
        """(estimate, CI low, CI high) of the random-effects model (primary tau2 estimator,
        Wald CI)."""
        o = fit_random_effects(
            StudyBatch.from_arrays(y[None], v[None]),
            self.settings.primary_tau2_method,
            "wald",
            self.settings.level,
        )
        return float(o.estimate[0]), float(o.ci_low[0]), float(o.ci_high[0])

    def primary_overall(self) -> tuple[tuple[float, float, float], str]:
        """``((estimate, CI low, CI high), description)`` of the forest plot's primary pooled
        result (pooled.csv's ``primary`` row: same model and CI method); without one, the
        random-effects model with a Wald CI, described as such."""
        p = self.primary
        vals = (
            tuple(
                float(pd.to_numeric(p.get(c), errors="coerce"))
                for c in ("estimate", "ci_low", "ci_high")
            )
            if p is not None
            else (float("nan"),) * 3
        )
        if all(np.isfinite(vals)):
            tau2, ci = clean_text(p.get("tau2_method", "")), ci_method_text(p.get("ci_method", ""))
            return vals, f"random effects, {tau2} tau\u00b2, {ci} CI, as in the forest plot"
        tau2 = self.settings.primary_tau2_method
        return self.overall(self.yi, self.vi), f"random effects, {tau2} tau\u00b2, Wald CI"

    def favours(self):
        """The wrapped favours labels of the forest plot."""
        lab = self.labels
        return favours_lines(
            lab.get("therapy", "therapy"),
            lab.get("comparator", "comparator"),
            lab.get("higher_is_better"),
            FAVOURS_WIDTH,
        )

    @cached_property
    def _with_moderators(self) -> pd.DataFrame:
        """The studies with every moderator of the subgroup and meta-regression tables joined
        (one join per analysis, not one per figure)."""
        mods = [
            m
            for name in ("subgroups", "metaregression")
            if "moderator" in self.table(name).columns
            for m in self.table(name)["moderator"].drop_duplicates()
        ]
        return _with_trial_columns(self.studies, self.trials, list(dict.fromkeys(mods)))

    def with_moderator(self, mod: str) -> pd.DataFrame:
        """The studies with the trial column ``mod`` joined, rows without a value dropped (one
        frame per moderator, shared by its subgroup and bubble plots; they do not modify it)."""
        if mod not in self._by_moderator:
            gg = self._with_moderators
            if mod not in gg.columns:
                gg = _with_trial_columns(self.studies, self.trials, [mod])
            has_value = ~gg[mod].map(_missing).astype(bool)
            self._by_moderator[mod] = rows_where(gg, has_value).reset_index(drop=True)
        return self._by_moderator[mod]


def _subgroup_figures(a: _AnalysisFigureData):
    """One subgroup forest plot per moderator listed for this analysis in subgroups.csv."""
    from trialmeta.plots.subgroup_forest import subgroup_forest_plot

    sgt = a.table("subgroups")
    if not len(sgt):
        return
    for mod in sgt["moderator"].drop_duplicates():
        rows = ordered_levels(sgt[sgt["moderator"] == mod])  # a true/false moderator: true first
        gg = a.with_moderator(mod)
        if not len(gg):
            continue
        gg = gg.assign(level=[level_label(x) for x in gg[mod]])
        overall, how = a.primary_overall()
        fig = subgroup_forest_plot(
            gg,
            rows,
            measure=a.measure,
            scale=a.scale,
            moderator=clean_text(mod, 30),
            overall=overall,
            overall_k=len(a.studies),
            title=f"Subgroups by {clean_text(mod, 60)}",
            favours=a.favours(),
            outcome_kind=str(a.labels.get("outcome_type", "")).lower(),
            level_text=level_text(a.settings),
            notes=_subgroup_notes(rows, how, len(a.studies) - len(gg), mod),
        )
        yield exploration_stem(a.analysis_id, "subgroups", mod), fig


def _subgroup_notes(rows: pd.DataFrame, overall_how: str, missing: int, mod) -> list[str]:
    """Footnotes of a subgroup forest plot: the CI of the subtotals, the overall model, trials
    without a value of the moderator."""
    pooled = rows[pd.to_numeric(rows["k"], errors="coerce") > 1] if "k" in rows.columns else rows
    methods = (
        sorted({ci_method_text(m) for m in pooled["ci_method"].dropna().astype(str)})
        if "ci_method" in pooled.columns
        else ["Wald (normal)"]
    )
    subtotals = (
        f"Subtotals: random effects within each subgroup, {' / '.join(methods)} CI. "
        if len(pooled)
        else ""
    )
    notes = [f"{subtotals}Weights: % of the overall random-effects model. Total: {overall_how}."]
    if missing > 0:
        notes.append(
            f"{missing} trial{'s' if missing != 1 else ''} without a value of "
            f"{clean_text(mod, 40)}: in the total only."
        )
    return notes


def _bubble_figure(a: _AnalysisFigureData, mod: str):
    """Bubble plot of the meta-regression on ``mod`` (refitted here: the plot needs the
    coefficients' covariance): the fitted line with its CI band for a numeric moderator, the
    level estimates with their CIs for a categorical one."""
    from trialmeta.plots.bubble import bubble_plot

    settings, level = a.settings, a.settings.level
    test = settings.metaregression_test
    gg = a.with_moderator(mod)
    y, v = gg["yi"].to_numpy(float), gg["vi"].to_numpy(float)
    values = gg[mod].tolist()
    in_trials = a.trials is not None and mod in a.trials
    cat = _categorical(a.trials[mod].tolist() if in_trials else values)
    X, names = design_matrix(values, categorical=cat, name=str(mod))
    res = meta_regression(
        y[None],
        v[None],
        np.ones((1, y.size), bool),
        X[None],
        method=settings.metaregression_estimator,
        test=test,
        level=level,
        term_names=names,
    )
    df = float(np.ravel(res.df)[0]) if res.df is not None else float("nan")
    crit = (
        dist.t_isf((1 - level) / 2, df)
        if test == "knha" and np.isfinite(df)
        else dist.norm_isf((1 - level) / 2)
    )
    common = dict(
        measure=a.measure,
        scale=a.scale,
        moderator=clean_text(mod, 60),
        crit=crit,
        title=f"Meta-regression on {clean_text(mod, 60)}",
    )
    if not cat:
        return bubble_plot(
            np.asarray(values, float),
            y,
            v,
            tau2=res.tau2[0],
            coef=res.coef[0],
            vcov=res.vcov[0],
            **common,
        )
    levels = sort_levels(values)
    C = np.eye(len(levels))  # level means: intercept + each level's contrast
    C[:, 0] = 1.0
    est = C @ res.coef[0]
    se = np.sqrt(np.einsum("ij,jk,ik->i", C, res.vcov[0], C))
    return bubble_plot(
        [level_label(x) for x in values],
        y,
        v,
        tau2=res.tau2[0],
        levels=levels,
        level_estimates=est,
        level_ci=np.column_stack([est - crit * se, est + crit * se]),
        **common,
    )


def _bubble_figures(a: _AnalysisFigureData):
    """One bubble plot per moderator whose meta-regression was fitted."""
    mr = a.table("metaregression")
    if not len(mr):
        return
    fitted = mr[mr["term"].astype(str).str.len() > 0]
    for mod in fitted["moderator"].drop_duplicates():
        yield exploration_stem(a.analysis_id, "bubble", mod), _bubble_figure(a, mod)


def _sequence_notes(rows: pd.DataFrame, overall_how: str) -> list[str]:
    """Footnotes of the leave-one-out / cumulative plots: the CI of the re-analyses (the table's
    ``ci_method``) and of the overall row (the forest plot's primary result)."""
    methods = (
        sorted({ci_method_text(m) for m in rows["ci_method"].dropna().astype(str)})
        if "ci_method" in rows.columns
        else ["Wald (normal)"]
    )
    return [
        f"Rows: random-effects re-analyses, {' / '.join(methods)} CI.",
        f"Overall: {overall_how}; dashed line at its estimate.",
    ]


def _sequence_figures(a: _AnalysisFigureData):
    """Leave-one-out and cumulative plots (k >= :data:`MIN_K_SEQUENCE`)."""
    from trialmeta.plots.sensitivity_plots import cumulative_plot, leave_one_out_plot

    if len(a.studies) < MIN_K_SEQUENCE:
        return
    overall, how = a.primary_overall()
    label = f"Overall (all {len(a.studies)} trials)"
    for kind, plot, title in (
        ("leave_one_out", leave_one_out_plot, "Leave-one-out: pooled estimate without each trial"),
        ("cumulative", cumulative_plot, "Cumulative meta-analysis by year"),
    ):
        rows = a.table(kind)
        if len(rows):
            figure = plot(
                rows,
                measure=a.measure,
                scale=a.scale,
                overall=overall,
                title=title,
                overall_label=label,
                notes=_sequence_notes(rows, how),
            )
            yield exploration_stem(a.analysis_id, kind), figure


def _funnel_figures(a: _AnalysisFigureData):
    """The contour-enhanced funnel plot with the trim-and-fill studies (Duval & Tweedie 2000),
    where the small-study analyses ran (k >= ``small_study_min_k``)."""
    from trialmeta.plots.funnel import funnel_plot

    settings, level = a.settings, a.settings.level
    ss = a.table("small_study")
    ran = len(ss) > 0 and (
        "reason" not in ss.columns
        or _missing(ss["reason"].iloc[0])
        or any(  # some tests ran, the reason says why others refused
            not _missing(ss[c].iloc[0])
            for c in ("egger_rma_pval", "egger_lm_pval", "begg_pval", "trimfill_estimate")
            if c in ss
        )
    )
    if not (ran and len(a.studies) >= settings.small_study_min_k):
        return
    yi, vi = a.yi, a.vi
    b = StudyBatch.from_arrays(yi[None], vi[None])
    tf = trim_and_fill(b, settings.trimfill_tau2_method, level)
    k0 = int(tf.k0[0])
    est = fit_random_effects(b, settings.primary_tau2_method, "wald", level).estimate[0]
    side = str(tf.side[0])
    yield (
        exploration_stem(a.analysis_id, "funnel"),
        funnel_plot(
            yi,
            vi,
            estimate=est,
            measure=a.measure,
            scale=a.scale,
            fill_yi=tf.fill_yi[0, :k0],
            fill_vi=tf.fill_vi[0, :k0],
            title=f"Funnel plot (trim-and-fill: {k0} imputed on the {side})"
            if side
            else "Funnel plot (trim-and-fill not run: side undetermined)",
        ),
    )


def analysis_exploration_figures(
    analysis_id: str,
    pooled_a: pd.DataFrame,
    studies_a: pd.DataFrame,
    trials_a: pd.DataFrame | None,
    tables_a: dict,
    settings,
):
    """Yield ``(stem, Figure)`` of every exploration figure of one analysis (see module doc).

    ``tables_a``: the analysis's rows of the exploration tables, keyed ``subgroups``,
    ``metaregression``, ``leave_one_out``, ``cumulative``, ``small_study``. The caller saves and
    discards each figure before asking for the next (one figure alive at a time).
    """
    settings = Settings.coerce(settings)
    measure, scale = primary_measure(pooled_a, studies_a, settings)
    st = (
        rows_where(studies_a, studies_a["measure"].astype(str) == measure)
        if "measure" in studies_a.columns
        else studies_a
    )
    y_all, v_all = st["yi"].to_numpy(float), st["vi"].to_numpy(float)
    finite = pd.Series(np.isfinite(y_all) & np.isfinite(v_all), index=st.index)
    st = rows_where(st, finite).reset_index(drop=True)
    if not len(st):
        return
    primary = (
        select_rows(pooled_a, analysis_id, measure, settings)["primary"] if len(pooled_a) else None
    )
    labels = analysis_labels(trials_a if trials_a is not None and len(trials_a) else st)
    a = _AnalysisFigureData(
        analysis_id, measure, scale, st, trials_a, tables_a, settings, primary, labels
    )
    yield from _subgroup_figures(a)
    yield from _bubble_figures(a)
    yield from _sequence_figures(a)
    yield from _funnel_figures(a)


def render_exploration_figures(
    pooled: pd.DataFrame,
    studies: pd.DataFrame,
    trials: pd.DataFrame | None,
    tables: dict,
    settings,
    out_dir,
    analysis_ids,
    formats=("svg", "png"),
) -> list[Path]:
    """Render the exploration figures of each analysis into ``out_dir`` (flat, see
    :mod:`trialmeta.plots.names`); return the written paths, sorted. ``settings``: a
    :class:`~trialmeta.inputs.settings.Settings` or a config dict."""
    settings = Settings.coerce(settings)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    ids = sorted({str(a) for a in analysis_ids})
    p_by, s_by, t_by = (rows_by_analysis(t, ids) for t in (pooled, studies, trials))
    tab_by = {
        name: rows_by_analysis(df, ids)
        for name, df in (tables or {}).items()
        if name in FIGURE_TABLES
    }
    empty = pd.DataFrame()
    written: list[Path] = []
    for aid in one_analysis_at_a_time(ids):
        sa = s_by.get(aid)
        if sa is None:
            continue
        tables_a = {name: d.get(aid, empty) for name, d in tab_by.items()}
        for stem, fig in analysis_exploration_figures(
            aid, p_by.get(aid, empty), sa, t_by.get(aid), tables_a, settings
        ):
            written += save_figure(fig, out_dir / stem, formats)
    return sorted(written)
