"""RevMan-style forest plots (Cochrane Review Manager layout) from the result tables.

One figure per analysis and measure, drawn from the rows of ``pooled.csv`` and ``studies.csv``
(the engine's result-table contract):

* a table on the left: study label, per-arm events/total (binary), mean/SD/n (continuous) or
  estimate/SE (generic), weight (% of the primary random-effects model), effect and 95% CI as text
  in natural units;
* the plot on the right: one square per study (area proportional to its weight) with its 95% CI,
  the line of no effect, the primary pooled estimate as a filled diamond (random effects with the
  configured tau2 estimator and CI method), the fixed (common) effect inverse-variance estimate as
  a hollow diamond, and the prediction interval as a bar (Higgins, Thompson & Spiegelhalter 2009,
  with the rule recorded in pooled.csv);
* under it: heterogeneity (tau2 with its estimator, Q = Cochran's chi2, df, p, I2; Higgins &
  Thompson 2002), the test for the overall effect (Z, or t with df for Hartung-Knapp-Sidik-Jonkman),
  the axis title (``Risk Ratio (IV, Random, 95% CI)``), "Favours <therapy>" / "Favours
  <comparator>" on the correct sides (see :func:`trialmeta.plots.labels.favours_therapy_side`),
  wrapped onto as many lines as they need;
* the axis (:func:`trialmeta.plots.axis.effect_axis`): ratio measures (OR, RR, HR) on a log axis
  symmetric about 1 chosen from RevMan's scales (0.5-2 ... 0.01-100, capped at 0.01-100),
  differences symmetric about 0 with nice ticks; CIs and diamonds beyond the axis are cut at its
  end with an arrow.
* k = 1: the study is shown and nothing is pooled (no diamond), with a note.

Text artists that tests and readers may look for carry a ``gid`` (``favours-left``,
``favours-right``, ``heterogeneity``, ``overall-effect``, ``note-single-study``): the ``<g>``
around their ``<text>`` in the SVG has that id.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator
from matplotlib.transforms import blended_transform_factory

from trialmeta.inputs.settings import Settings
from trialmeta.inputs.single_arm import is_single_arm
from trialmeta.pipeline.garbage import one_analysis_at_a_time
from trialmeta.plots.axis import EffectAxis, effect_axis
from trialmeta.plots.cell_text import CellTexts
from trialmeta.plots.intervals import StudyIntervals, ci_segment, clipped_diamond
from trialmeta.plots.labels import (
    analysis_labels,
    choose_decimals,
    clean_text,
    describe_status,
    favours_lines,
    format_effect,
    format_number,
    format_p,
    level_text,
    measure_info,
    parse_bool,
    to_natural,
)
from trialmeta.plots.lean_axes import new_axes
from trialmeta.plots.risk_of_bias import add_rob_columns, rob_rows
from trialmeta.plots.single_arm_forest import single_arm_forest
from trialmeta.plots.source_notes import source_footnotes
from trialmeta.plots.style import PALETTE, new_figure, save_figure

__all__ = [
    "ForestLayout",
    "forest_layout",
    "forest_plot",
    "save_figure",
    "render_forest_plots",
    "select_rows",
    "axis_ticks",
    "axis_title",
    "draw_favours",
    "apply_axis",
    "level_text",
]

ROW_H = 0.26  # inches per table row
TOP_IN = 0.62  # title
LINE_IN = 0.17  # one line of text under the plot
FAVOURS_TOP_PT = 29.0  # points from the axis line to the favours labels (tick labels, axis title)
FAVOURS_LINE_PT = 9.0  # points per line of a favours label
FAVOURS_WIDTH = 24  # characters per line of a favours label (half the plot's width)
WIDTH_IN = 11.0
PLOT_X0, PLOT_X1 = 0.70, 0.975
EFFECT_X = 0.625
WEIGHT_X = 0.548

_LAYOUTS = {
    # outcome kind -> list of (column key, header, x (right edge, figure fraction), arm)
    "binary": [
        ("events_treat", "Events", 0.300, "t"),
        ("n_treat", "Total", 0.355, "t"),
        ("events_ctrl", "Events", 0.425, "c"),
        ("n_ctrl", "Total", 0.480, "c"),
    ],
    "continuous": [
        ("mean_treat", "Mean", 0.235, "t"),
        ("sd_treat", "SD", 0.282, "t"),
        ("n_treat", "Total", 0.323, "t"),
        ("mean_ctrl", "Mean", 0.375, "c"),
        ("sd_ctrl", "SD", 0.422, "c"),
        ("n_ctrl", "Total", 0.463, "c"),
    ],
    "generic": [("yi", "Estimate", 0.380, ""), ("sei", "SE", 0.460, "")],
}
_LABEL_CHARS = {"binary": 36, "continuous": 28, "generic": 44}


# --------------------------------------------------------------------------- row selection
def _truthy(series: pd.Series) -> pd.Series:
    return series.map(lambda v: parse_bool(v) is True).astype(bool)


def _blank(v) -> bool:
    return (
        v is None
        or (isinstance(v, float) and math.isnan(v))
        or str(v).strip() in ("", "nan", "None")
    )


def _kept(mask) -> np.ndarray:
    """A row mask as a numpy bool array (missing counts as not kept, as in ``frame[mask]``)."""
    return mask.to_numpy(dtype=bool, na_value=False)


def rows_where(frame: pd.DataFrame, mask) -> pd.DataFrame:
    """``frame[mask]``: the frame itself when every row is kept, a slice when the kept rows are
    one run (the rows of one analysis and measure usually are), else a copy of those rows."""
    keep = _kept(mask)
    hits = np.flatnonzero(keep)
    if hits.size == keep.size:
        return frame
    if hits.size and hits[-1] - hits[0] + 1 == hits.size:
        return frame.iloc[hits[0] : hits[-1] + 1]
    return frame[keep]


def _first_row(frame: pd.DataFrame, mask) -> pd.Series | None:
    """The first row of ``frame`` where ``mask`` holds, or None."""
    hits = np.flatnonzero(_kept(mask))
    return frame.iloc[hits[0]] if hits.size else None


def rows_by_analysis(table: pd.DataFrame | None, analysis_ids) -> dict[str, pd.DataFrame]:
    """The rows of each of ``analysis_ids`` in ``table``, keyed by the id as text (rows and
    index in table order; ids without rows left out). One take for all the ids, then a slice
    per id, instead of grouping or filtering the whole table once per analysis."""
    if table is None or not len(table) or "analysis_id" not in table.columns:
        return {}
    wanted = {str(a) for a in analysis_ids}
    positions: dict[str, list[int]] = {}
    for i, key in enumerate(table["analysis_id"].astype(str).tolist()):
        if key in wanted:
            positions.setdefault(key, []).append(i)
    taken = table.take([i for rows in positions.values() for i in rows])
    out, start = {}, 0
    for key, rows in positions.items():
        out[key] = taken.iloc[start : start + len(rows)]
        start += len(rows)
    return out


def select_rows(
    pooled: pd.DataFrame,
    analysis_id: str,
    measure: str | None = None,
    config: Settings | dict | None = None,
) -> dict:
    """The pooled rows one forest plot needs: ``primary`` (Series or None), ``fixed`` (Series or
    None), ``measure``, ``rows`` (all rows of the analysis and measure).

    The primary row is the one with ``primary`` true; without that column it is the random-effects
    row with the first configured tau2 method and CI method (``config``: a
    :class:`~trialmeta.inputs.settings.Settings` or a config dict).
    """
    settings = Settings.coerce(config)
    sub = rows_where(pooled, pooled["analysis_id"].astype(str) == str(analysis_id))
    prim = None
    if "primary" in sub.columns:
        flagged = _truthy(sub["primary"])
        if measure is not None:
            flagged &= sub["measure"].astype(str) == str(measure)
        prim = _first_row(sub, flagged)
    if measure is None:
        measure = (
            str(prim["measure"])
            if prim is not None
            else (str(sub["measure"].iloc[0]) if len(sub) else None)
        )
    rows = (
        rows_where(sub, sub["measure"].astype(str) == str(measure)) if measure is not None else sub
    )
    if "model" not in rows.columns:  # a table without the model columns: only the flag counts
        return {"primary": prim, "fixed": None, "measure": measure, "rows": rows}
    random = rows["model"] == "random"
    if prim is None and len(rows):
        prim = _first_row(
            rows,
            random
            & (rows["tau2_method"].astype(str) == settings.primary_tau2_method)
            & (rows["ci_method"].astype(str) == settings.primary_ci_method),
        )
        if prim is None:
            prim = _first_row(rows, random)
    return {
        "primary": prim,
        "fixed": _first_row(rows, rows["model"] == "fixed"),
        "measure": measure,
        "rows": rows,
    }


# --------------------------------------------------------------------------- axis
def axis_ticks(
    values_natural: Iterable[float], is_ratio: bool
) -> tuple[tuple[float, float], list[float]]:
    """Symmetric axis limits about the null and tick positions, in natural units, of a set of
    values that all count in full (:func:`trialmeta.plots.axis.effect_axis`, with its cap)."""
    axis = effect_axis(values_natural, is_ratio=is_ratio)
    return axis.limits, list(axis.ticks)


def _f(row, key):
    if row is None:
        return float("nan")
    try:
        return float(row.get(key, float("nan")) if hasattr(row, "get") else row[key])
    except (TypeError, ValueError):
        return float("nan")


def _s(row, key) -> str:
    if row is None:
        return ""
    v = row.get(key, "") if hasattr(row, "get") else row[key]
    return "" if _blank(v) else str(v)


def _models_note(prim, with_fixed: bool, lvl: str = "95%") -> str:
    tau = _s(prim, "tau2_method")
    ci = _s(prim, "ci_method").lower()
    ci_text = {
        "hksj": "Hartung-Knapp-Sidik-Jonkman (t, k\u22121 df)",
        "hksj_adhoc": "modified HKSJ (Knapp & Hartung 2003; t, k\u22121 df)",
        "wald": "Wald (normal)",
    }.get(ci, ci)
    text = f"Random effects: {tau} tau\u00b2, {ci_text} {lvl} CI"
    if math.isfinite(_f(prim, "pi_low")):
        text += f"; bar = {lvl} prediction interval"
    if with_fixed:
        text += "; hollow diamond = fixed (common) effect, inverse variance"
    return text + "."


def _arm_value(row, key, outcome_kind) -> str:
    v = row.get(key, float("nan"))
    try:
        x = float(v)
    except (TypeError, ValueError):
        return clean_text(v, 10)
    if not math.isfinite(x):
        return ""
    if key.startswith(("events", "n_")):
        return f"{x:.0f}" if x == round(x) else f"{x:g}"
    if key in ("mean_treat", "mean_ctrl", "sd_treat", "sd_ctrl"):
        return format_number(x, 3 if abs(x) < 1 else 2)
    return format_number(x, 3)


def _outcome_kind(studies: pd.DataFrame, outcome_type: str) -> str:
    kind = (outcome_type or "").strip().lower()
    if kind in ("time_to_event", "rate"):  # shown as log[ratio] and SE (RevMan's generic IV)
        return "generic"
    if kind in _LAYOUTS:
        if kind == "binary" and "events_treat" not in studies.columns:
            return "generic"
        if kind == "continuous" and "mean_treat" not in studies.columns:
            return "generic"
        return kind
    if "events_treat" in studies.columns and studies["events_treat"].notna().any():
        return "binary"
    if "mean_treat" in studies.columns and studies["mean_treat"].notna().any():
        return "continuous"
    return "generic"


# --------------------------------------------------------------------------- layout
def _plotted_studies(studies: pd.DataFrame, measure: str, analysis_id: str) -> pd.DataFrame:
    """The studies.csv rows of this analysis and measure, in table order."""
    st = studies
    if "measure" in st.columns:
        st = rows_where(st, st["measure"].astype(str) == str(measure))
    if "analysis_id" in st.columns and analysis_id:
        st = rows_where(st, st["analysis_id"].astype(str) == analysis_id)
    return st.reset_index(drop=True)


def _table_columns(kind: str, is_ratio: bool, measure: str) -> list[tuple[str, str, float, str]]:
    """The per-arm columns of the table; generic ratios as RevMan's generic inverse variance
    shows them (log[ratio] and its SE)."""
    if kind == "generic" and is_ratio:
        code = str(measure or "").upper()
        code = code[3:] if code.startswith("LOG") else code
        return [("yi", f"log[{code or 'ratio'}]", 0.380, ""), ("sei", "SE", 0.460, "")]
    return _LAYOUTS[kind]


def _row_positions(k: int, kind: str, prim, fixed, pooled_ok: bool) -> tuple[list[int], dict, int]:
    """(row of each study, row of each pooled line by name, number of rows); y grows downwards,
    rows 0-1 are the column headers, a blank row separates the studies from the pooled lines."""
    y = 2
    study_y = list(range(y, y + k))
    y += k + (1 if k else 0)
    if k == 0:
        y += 1
    after = []
    if pooled_ok:
        after.append("random")
        if fixed is not None and math.isfinite(_f(fixed, "estimate")):
            after.append("fixed")
        if math.isfinite(_f(prim, "pi_low")) and math.isfinite(_f(prim, "pi_high")):
            after.append("pi")
    elif prim is not None and k > 1:
        after.append("not_estimable")
    if kind == "binary" and k > 1:
        after.append("events")
    return study_y, {name: y + i for i, name in enumerate(after)}, y + len(after)


def _footnotes(
    st: pd.DataFrame, prim, fixed, pooled_ok: bool, settings: Settings, lvl: str
) -> list[tuple[str, str]]:
    """(gid, line) of the notes across the bottom: models, CI level, k = 1, continuity correction,
    the primary model's status; each note wrapped at 150 characters, at most 3 lines."""
    single = len(st) == 1
    foot = []
    if single:
        foot.append(
            ("note-single-study", "Single study (k = 1): shown as reported, nothing pooled.")
        )
    if "continuity_corrected" in st.columns and _truthy(st["continuity_corrected"]).any():
        add = settings.continuity.add
        foot.append(
            (
                "note-continuity",
                f"\u2020 zero cell: {add:g} added to each cell of that study "
                "(continuity correction).",
            )
        )
    foot += source_footnotes(st)  # HR sources, multi-arm trials (plots/source_notes.py)
    if pooled_ok:
        foot.insert(0, ("note-models", _models_note(prim, fixed is not None, lvl)))
        if lvl != "95%":
            foot.insert(1, ("note-level", "Study CIs are 95% Wald intervals."))
    # the plot does not show the tau2 CI, so its notes are left to the report
    status_plot = ";".join(
        p for p in _s(prim, "status").split(";") if not p.startswith(("tau2_ci_lb", "tau2_ci_ub"))
    )
    status_text = describe_status(status_plot) if prim is not None and not single else ""
    if status_text:
        foot.append(("note-status", f"Primary model: {status_text}."))
    return [
        (gid, line)
        for gid, text in foot
        for line in textwrap.wrap(text, 150, break_long_words=True)[:3]
    ]


def _natural_values(st: pd.DataFrame, prim, fixed, pooled_ok: bool, is_ratio: bool):
    """((study estimates, CI lows, CI highs), pooled estimates, CIs and PI), in natural units."""
    k = len(st)
    yi, lo, hi = (
        st[c].astype(float).to_numpy() if k else np.array([]) for c in ("yi", "ci_low", "ci_high")
    )
    effects = tuple(np.atleast_1d(to_natural(a, is_ratio)) for a in (yi, lo, hi))
    pooled_vals = []
    if pooled_ok:
        for r in (prim, fixed):
            if r is not None:
                pooled_vals += [_f(r, "estimate"), _f(r, "ci_low"), _f(r, "ci_high")]
        pooled_vals += [_f(prim, "pi_low"), _f(prim, "pi_high")]
    pooled_nat = list(np.atleast_1d(to_natural(pooled_vals, is_ratio))) if pooled_vals else []
    return effects, pooled_nat


@dataclass
class ForestLayout:
    """What one forest plot shows and where, computed before anything is drawn.

    * ``studies``: the plotted studies.csv rows; ``primary`` / ``fixed``: the pooled rows drawn as
      the filled and the hollow diamond (:func:`select_rows`); ``pooled_ok``: a primary estimate
      exists and k > 1;
    * ``columns``: the table's per-arm columns ``(key, header, x of the right edge, arm)``;
    * rows (y grows downwards): 0-1 headers, ``study_y`` one per study, ``row_y`` the pooled lines
      by name (``random``, ``fixed``, ``pi``, ``not_estimable``, ``events``), ``n_rows`` in all;
    * ``effects``: study estimates, CI lows and highs in natural units; ``xlim`` and ``ticks``
      of the axis (:func:`axis_ticks`); ``decimals`` of every effect text;
    * ``footnotes``: ``(gid, line)`` under the favours labels; the sizes in inches follow.
    """

    studies: pd.DataFrame
    primary: pd.Series | None
    fixed: pd.Series | None
    measure_name: str
    is_ratio: bool
    null: float
    kind: str
    columns: list
    level: str
    pooled_ok: bool
    study_y: list
    row_y: dict
    n_rows: int
    footnotes: list
    effects: tuple
    axis: EffectAxis
    decimals: int
    favours: tuple = ((), ())

    @property
    def xlim(self) -> tuple:
        return self.axis.limits

    @property
    def ticks(self) -> list:
        return list(self.axis.ticks)

    @property
    def favours_in(self) -> float:
        """Inches from the axis line to the bottom of the favours labels."""
        lines = max([len(f) for f in self.favours] + [3])
        return (FAVOURS_TOP_PT + FAVOURS_LINE_PT * lines + 4) / 72

    @property
    def k(self) -> int:
        return len(self.studies)

    @property
    def single(self) -> bool:
        return self.k == 1

    @property
    def foot_top(self) -> float:
        """Inches from the axes' bottom to the footnotes: two result lines at the left, the
        axis title and the favours labels under the plot (:attr:`favours_in`)."""
        return max(2 * LINE_IN, self.favours_in) + 0.12

    @property
    def bottom_in(self) -> float:
        return self.foot_top + LINE_IN * len(self.footnotes) + 0.15

    @property
    def height(self) -> float:
        return TOP_IN + ROW_H * self.n_rows + self.bottom_in


def forest_layout(
    analysis,
    studies: pd.DataFrame,
    pooled: pd.DataFrame,
    *,
    measure: str,
    outcome_type: str | None = None,
    config: Settings | dict | None = None,
) -> ForestLayout:
    """The :class:`ForestLayout` of one analysis (arguments as :func:`forest_plot`)."""
    settings = Settings.coerce(config)
    analysis = dict(analysis) if not isinstance(analysis, dict) else analysis
    aid = str(analysis.get("analysis_id", ""))
    prim = fixed = None
    if len(pooled):
        sel = select_rows(pooled, aid, measure, settings)
        prim, fixed = sel["primary"], sel["fixed"]
    st = _plotted_studies(studies, measure, aid)
    scale = _s(prim, "scale") or None
    if scale is None and "scale" in st.columns and len(st):
        scale = str(st["scale"].iloc[0])
    mname, is_ratio, null = measure_info(measure, scale)
    kind = _outcome_kind(st, outcome_type or analysis.get("outcome_type", ""))
    k = len(st)
    pooled_ok = prim is not None and k != 1 and math.isfinite(_f(prim, "estimate"))
    study_y, row_y, n_rows = _row_positions(k, kind, prim, fixed, pooled_ok)
    lvl = level_text(settings)
    (yn, lon, hin), pooled_nat = _natural_values(st, prim, fixed, pooled_ok, is_ratio)
    axis = effect_axis(list(yn) + pooled_nat, list(lon) + list(hin), is_ratio=is_ratio)
    return ForestLayout(
        studies=st,
        primary=prim,
        fixed=fixed,
        measure_name=mname,
        is_ratio=is_ratio,
        null=null,
        kind=kind,
        columns=_table_columns(kind, is_ratio, measure),
        level=lvl,
        pooled_ok=pooled_ok,
        study_y=study_y,
        row_y=row_y,
        n_rows=n_rows,
        footnotes=_footnotes(st, prim, fixed, pooled_ok, settings, lvl),
        effects=(yn, lon, hin),
        axis=axis,
        decimals=choose_decimals(list(yn) + list(lon) + list(hin) + pooled_nat, is_ratio),
    )


# --------------------------------------------------------------------------- drawing
class _ForestCanvas:
    """The figure of one forest plot: the plot axes on the right; table text placed at a figure
    fraction (x) and a row (y) through a blended transform."""

    def __init__(self, layout: ForestLayout):
        self.layout = layout
        height = layout.height
        self.fig = new_figure(WIDTH_IN, height)
        self.cells = CellTexts(self.fig)
        self.ax_bottom = layout.bottom_in / height
        ax_height = ROW_H * layout.n_rows / height
        self.ax = new_axes(self.fig, [PLOT_X0, self.ax_bottom, PLOT_X1 - PLOT_X0, ax_height])
        self.ax.set_ylim(layout.n_rows - 0.5, -0.5)
        self.ax.set_yticks([])
        self.ax.patch.set_alpha(0.0)
        self.tr = blended_transform_factory(self.fig.transFigure, self.ax.transData)

    def cell(self, x, y, text, ha="right", weight="normal", gid=None, color=None, size=None):
        """One table cell at figure fraction ``x`` (its right edge unless ``ha``) and row ``y``."""
        # full property names: Text takes these when it is made instead of setting a default
        # first (a third less time for the thousands of cells of a figure job)
        t = self.cells.text(
            x,
            y,
            text,
            transform=self.tr,
            horizontalalignment=ha,
            verticalalignment="center",
            color=color or PALETTE["text"],
            parse_math=False,
            fontweight=weight,
            fontsize=size or 8.5,
        )
        if gid:
            t.set_gid(gid)
        return t

    def column_x(self, key: str) -> float:
        return next(x for (c, _, x, _) in self.layout.columns if c == key)


def _draw_x_axis(canvas: _ForestCanvas) -> None:
    """Symmetric axis about the null (log for ratios) with plain tick labels."""
    apply_axis(canvas.ax, canvas.layout.axis, axis_title(canvas.layout))


def apply_axis(ax, axis: EffectAxis, title: str) -> None:
    """Put an :class:`~trialmeta.plots.axis.EffectAxis` on ``ax`` (log scale for ratios, fixed
    ticks and labels, the axis line over the limits) with ``title`` under it."""
    if axis.is_ratio:
        ax.set_xscale("log")
    ax.set_xlim(*axis.limits)
    ax.xaxis.set_major_locator(FixedLocator(list(axis.ticks)))
    ax.xaxis.set_major_formatter(FixedFormatter(list(axis.labels)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(title, fontsize=8, labelpad=2).set_gid("axis-title")
    ax.spines["bottom"].set_bounds(*axis.limits)


def _method_short(lay: ForestLayout) -> str:
    random = lay.primary is not None and _s(lay.primary, "model") == "random"
    return "IV, Random" if random else "IV, Fixed"


def axis_title(lay: ForestLayout) -> str:
    """The x-axis title, e.g. ``Risk Ratio (IV, Random, 95% CI)``."""
    return f"{lay.measure_name} ({_method_short(lay)}, {lay.level} CI)"


def _draw_title(canvas: _ForestCanvas, title: str, subtitle: str | None) -> None:
    fig, height = canvas.fig, canvas.layout.height
    fig.text(
        0.015,
        1 - 0.12 / height,
        clean_text(title, 130),
        ha="left",
        va="top",
        fontsize=10,
        fontweight="bold",
        parse_math=False,
    ).set_gid("title")
    if subtitle:
        fig.text(
            0.015,
            1 - 0.34 / height,
            clean_text(subtitle, 150),
            ha="left",
            va="top",
            fontsize=8.5,
            color=PALETTE["muted"],
            parse_math=False,
        ).set_gid("subtitle")


def _draw_headers(canvas: _ForestCanvas) -> None:
    """Rows 0-1: arm names over their columns, column headers, effect measure and method."""
    lay, cell = canvas.layout, canvas.cell
    lvl, method_short = lay.level, _method_short(lay)
    cell(0.015, 1, "Study", ha="left", weight="bold")
    for arm, name in (("t", "Therapy"), ("c", "Comparator")):
        xs = [x for (_, _, x, a) in lay.columns if a == arm]
        if xs:
            cell((min(xs) + max(xs)) / 2 - 0.02, 0, name, ha="center", weight="bold")
    for _, header, x, _ in lay.columns:
        cell(x, 1, header, weight="bold")
    cell(WEIGHT_X, 1, "Weight", weight="bold")
    for x in (EFFECT_X, (PLOT_X0 + PLOT_X1) / 2):
        cell(x, 0, lay.measure_name, ha="center", weight="bold")
        cell(x, 1, f"{method_short}, {lvl} CI", ha="center", size=7.5)


def _study_weights(lay: ForestLayout) -> np.ndarray:
    """Percent weights in the primary (random-effects) model; 100% for a single study."""
    st, k = lay.studies, lay.k
    wcol = next((c for c in ("weight_random", "weight_fixed") if c in st.columns), None)
    if lay.single:
        return np.array([100.0])
    return st[wcol].astype(float).to_numpy() if (wcol and k) else np.full(k, np.nan)


def _study_values(lay: ForestLayout) -> dict[str, list]:
    """The table's study columns (label, continuity flag, arm values) as plain lists, one value
    per plotted study, read once instead of a pandas row per study."""
    wanted = ["study_id", "continuity_corrected", *(key for key, _, _, _ in lay.columns)]
    return {c: lay.studies[c].tolist() for c in dict.fromkeys(wanted) if c in lay.studies.columns}


def _draw_study_rows(canvas: _ForestCanvas) -> None:
    """One row per study: label (dagger if continuity-corrected), arm values, weight, effect
    text; on the plot its CI and a square of area proportional to its weight."""
    lay, cell = canvas.layout, canvas.cell
    yn, lon, hin = lay.effects
    marks = StudyIntervals(canvas.ax, lay.xlim)
    weights = _study_weights(lay)
    wmax = np.nanmax(weights) if lay.k and np.isfinite(weights).any() else 100.0
    values = _study_values(lay)
    for i in range(lay.k):
        row, yy, w = {c: v[i] for c, v in values.items()}, lay.study_y[i], weights[i]
        label = clean_text(row.get("study_id", ""), _LABEL_CHARS[lay.kind])
        if parse_bool(row.get("continuity_corrected")) is True:
            label += " \u2020"
        cell(0.015, yy, label, ha="left", gid=f"study-{i}")
        for key, _, x, _ in lay.columns:
            cell(x, yy, _arm_value(row, key, lay.kind) if key in row else "")
        cell(WEIGHT_X, yy, f"{w:.1f}%" if math.isfinite(w) else "", gid=f"weight-{i}")
        cell(EFFECT_X, yy, format_effect(yn[i], lon[i], hin[i], lay.decimals), ha="center")
        side = 3.0 + 9.0 * math.sqrt(max(w, 0.0) / wmax) if math.isfinite(w) else None
        marks.add(yy, yn[i], lon[i], hin[i], side)
    marks.draw()
    if lay.k == 0:
        cell(0.015, 2, "No studies in this analysis.", ha="left")


def _natural_ci(row, is_ratio: bool) -> tuple[float, float, float]:
    """(estimate, CI low, CI high) of a pooled row in natural units."""
    return tuple(to_natural(_f(row, c), is_ratio) for c in ("estimate", "ci_low", "ci_high"))


def _draw_pooled_diamonds(canvas: _ForestCanvas) -> None:
    """The primary random-effects total (filled diamond, arm totals, 100% weight) and the fixed
    (common) effect (hollow diamond), each with its effect text."""
    lay, cell, ax = canvas.layout, canvas.cell, canvas.ax
    if "random" in lay.row_y:
        yy = lay.row_y["random"]
        cell(
            0.015,
            yy,
            f"Total ({lay.level} CI), random effects",
            ha="left",
            weight="bold",
            gid="pooled-label",
        )
        if lay.kind in ("binary", "continuous"):
            for key in ("n_treat", "n_ctrl"):
                if key in lay.studies.columns:
                    total = lay.studies[key].astype(float).sum()
                    cell(canvas.column_x(key), yy, f"{total:.0f}", weight="bold")
        cell(WEIGHT_X, yy, "100.0%", weight="bold")
        est, plo, phi = _natural_ci(lay.primary, lay.is_ratio)
        cell(
            EFFECT_X,
            yy,
            format_effect(est, plo, phi, lay.decimals),
            ha="center",
            weight="bold",
            gid="pooled-effect",
        )
        clipped_diamond(
            ax, yy, est, plo, phi, lay.xlim, face=PALETTE["pooled"], gid="diamond-primary"
        )
    if "fixed" in lay.row_y:
        yy = lay.row_y["fixed"]
        cell(0.015, yy, f"Total ({lay.level} CI), fixed effect", ha="left", gid="fixed-label")
        est, plo, phi = _natural_ci(lay.fixed, lay.is_ratio)
        cell(EFFECT_X, yy, format_effect(est, plo, phi, lay.decimals), ha="center")
        clipped_diamond(ax, yy, est, plo, phi, lay.xlim, face=PALETTE["fixed"], gid="diamond-fixed")


def _draw_interval_and_totals(canvas: _ForestCanvas) -> None:
    """The prediction interval bar, the "not estimable" total and the total events (binary)."""
    lay, cell = canvas.layout, canvas.cell
    if "pi" in lay.row_y:
        yy = lay.row_y["pi"]
        cell(0.015, yy, "Prediction interval", ha="left", gid="pi-label")
        a, b = (to_natural(_f(lay.primary, c), lay.is_ratio) for c in ("pi_low", "pi_high"))
        interval = f"[{format_number(a, lay.decimals)}, {format_number(b, lay.decimals)}]"
        cell(EFFECT_X, yy, interval, ha="center")
        ci_segment(canvas.ax, yy, a, b, lay.xlim, PALETTE["prediction"], lw=3.0)
    if "not_estimable" in lay.row_y:
        yy = lay.row_y["not_estimable"]
        cell(0.015, yy, f"Total ({lay.level} CI), random effects", ha="left", weight="bold")
        cell(EFFECT_X, yy, "not estimable", ha="center")
    if "events" in lay.row_y:
        yy = lay.row_y["events"]
        cell(0.015, yy, "Total events", ha="left")
        for key in ("events_treat", "events_ctrl"):
            if key in lay.studies.columns:
                cell(canvas.column_x(key), yy, f"{lay.studies[key].astype(float).sum():.0f}")


def _draw_null_line(canvas: _ForestCanvas) -> None:
    """The line of no effect over the study and pooled rows (not the headers)."""
    lay = canvas.layout
    canvas.ax.vlines(
        lay.null, 1.5, lay.n_rows - 0.5, colors=PALETTE["null"], linewidth=0.8, zorder=1
    )
    canvas.ax.spines["bottom"].set_bounds(*lay.xlim)


def draw_favours(ax, favours, top_pt: float = FAVOURS_TOP_PT) -> None:
    """ "Favours ..." under each half of the axis of ``ax``, ``favours`` the wrapped lines
    (:func:`trialmeta.plots.labels.favours_lines`), ``top_pt`` points under the axis line."""
    for gid, lines, xfrac in (
        ("favours-left", favours[0], 0.25),
        ("favours-right", favours[1], 0.75),
    ):
        t = ax.annotate(
            "\n".join(lines),
            xy=(xfrac, 0),
            xycoords="axes fraction",
            xytext=(0, -top_pt),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=7.5,
            annotation_clip=False,
        )
        t.set_parse_math(False)
        t.set_gid(gid)


def _result_lines(lay: ForestLayout) -> list[tuple[str, str]]:
    """(gid, text) of the heterogeneity line (tau2 with its estimator, Cochran's Q as RevMan's
    Chi2 with df and p, I2; Higgins & Thompson 2002) and the test for the overall effect (Z, or t
    with df for Hartung-Knapp-Sidik-Jonkman)."""
    prim = lay.primary
    if not lay.pooled_ok:
        why = "not applicable (k = 1)" if lay.single else "not estimable"
        return [
            ("heterogeneity", f"Heterogeneity: {why}"),
            ("overall-effect", f"Test for overall effect: {why}"),
        ]
    tau2, tau_m = _f(prim, "tau2"), _s(prim, "tau2_method")
    q, qdf, qp, i2 = _f(prim, "Q"), _f(prim, "Q_df"), _f(prim, "Q_pval"), _f(prim, "I2")
    tau2_txt = f"{tau2:.4f}" if math.isfinite(tau2) and tau2 < 100 else format_number(tau2, 2)
    het = f"Heterogeneity: Tau\u00b2 = {tau2_txt} ({tau_m}); Chi\u00b2 = {format_number(q, 2)}"
    if math.isfinite(qdf) and math.isfinite(i2):
        het += f", df = {qdf:.0f} ({format_p(qp)}); I\u00b2 = {i2:.0f}%"
    stat, df, p = _f(prim, "stat"), _f(prim, "df"), _f(prim, "pval")
    if math.isfinite(df):
        test = f"t = {format_number(abs(stat), 2)}, df = {df:.0f} ({format_p(p)})"
    else:
        test = f"Z = {format_number(abs(stat), 2)} ({format_p(p)})"
    return [("heterogeneity", het), ("overall-effect", f"Test for overall effect: {test}")]


def _draw_text_under_plot(canvas: _ForestCanvas) -> None:
    """The result lines at the left under the table, then the footnotes across the full width."""
    fig, lay, height = canvas.fig, canvas.layout, canvas.layout.height
    y0 = canvas.ax_bottom - 0.12 / height
    for j, (gid, text) in enumerate(_result_lines(lay)):
        fig.text(
            0.015,
            y0 - j * LINE_IN / height,
            text,
            ha="left",
            va="top",
            fontsize=8,
            parse_math=False,
            color=PALETTE["text"],
        ).set_gid(gid)
    y1 = canvas.ax_bottom - lay.foot_top / height
    for j, (gid, text) in enumerate(lay.footnotes):
        fig.text(
            0.015,
            y1 - j * LINE_IN / height,
            text,
            ha="left",
            va="top",
            fontsize=7.5,
            parse_math=False,
            color=PALETTE["muted"],
        ).set_gid(gid)


def forest_plot(
    analysis,
    studies: pd.DataFrame,
    pooled: pd.DataFrame,
    *,
    measure: str,
    therapy_label: str,
    comparator_label: str,
    higher_is_better,
    outcome_type: str | None = None,
    title: str | None = None,
    subtitle: str | None = None,
    config: Settings | dict | None = None,
    rob: pd.DataFrame | None = None,
):
    """Draw one RevMan-style forest plot and return the matplotlib Figure.

    ``rob``: risk-of-bias judgements (``analysis_id, study_id``, D1-D5, ``overall``); when this
    analysis has some, D1-D5 and Overall columns are added on the right
    (:func:`trialmeta.plots.risk_of_bias.add_rob_columns`); otherwise the figure is unchanged.

    ``analysis``: Series/dict with at least ``analysis_id`` (optionally ``outcome_type``,
    ``condition``, ``outcome``). ``studies``: the studies.csv rows of this analysis (any measure;
    filtered to ``measure``), with ``study_id, yi, vi, sei, ci_low, ci_high, weight_random,
    weight_fixed`` and the arm columns. ``pooled``: pooled.csv rows of this analysis.
    The layout is computed first (:func:`forest_layout`), then each part is drawn.
    """
    layout = forest_layout(
        analysis, studies, pooled, measure=measure, outcome_type=outcome_type, config=config
    )
    layout.favours = favours_lines(therapy_label, comparator_label, higher_is_better, FAVOURS_WIDTH)
    canvas = _ForestCanvas(layout)
    _draw_x_axis(canvas)
    _draw_title(canvas, title or f"{therapy_label} vs {comparator_label}", subtitle)
    _draw_headers(canvas)
    _draw_study_rows(canvas)
    _draw_pooled_diamonds(canvas)
    _draw_interval_and_totals(canvas)
    _draw_null_line(canvas)
    draw_favours(canvas.ax, layout.favours)
    _draw_text_under_plot(canvas)
    rob = rob_rows(rob, analysis.get("analysis_id"))
    if len(rob):
        study_ids = list(layout.studies.get("study_id", pd.Series(dtype=object)))
        add_rob_columns(canvas.fig, canvas.ax, study_ids, layout.study_y, 1, rob)
    return canvas.fig


# --------------------------------------------------------------------------- batch entry point
def _primary_measure(
    pooled_a: pd.DataFrame, studies_a: pd.DataFrame, settings: Settings, outcome_type: str
):
    if len(pooled_a) and "primary" in pooled_a.columns:
        flagged = _first_row(pooled_a, _truthy(pooled_a["primary"]))
        if flagged is not None:
            return str(flagged["measure"])
    present = list(
        dict.fromkeys(
            list(pooled_a.get("measure", pd.Series(dtype=object)).astype(str))
            + list(studies_a.get("measure", pd.Series(dtype=object)).astype(str))
        )
    )
    for m in settings.measures.for_outcome(outcome_type):
        if str(m) in present:
            return str(m)
    return present[0] if present else ""


def render_forest_plots(
    pooled: pd.DataFrame,
    studies: pd.DataFrame,
    trials: pd.DataFrame,
    settings,
    out_dir,
    analysis_ids,
    formats=("svg", "png"),
    rob: pd.DataFrame | None = None,
) -> list[Path]:
    """Render the forest plot of each analysis id into ``out_dir/<analysis_id>.<fmt>``.

    One process renders the whole group (Snakemake ``script:`` job per batch). The plotted measure
    is the primary one (pooled row with ``primary`` true; else the first configured measure for the
    outcome type that is present). Labels and ``higher_is_better`` come from the trial rows of the
    analysis. Returns the written paths, sorted. Existing files for other ids are left alone.
    ``settings``: a :class:`~trialmeta.inputs.settings.Settings` or a config dict.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings.coerce(settings)
    pooled = (
        pooled if pooled is not None else pd.DataFrame(columns=["analysis_id", "measure", "model"])
    )
    studies = (
        studies
        if studies is not None
        else pd.DataFrame(columns=["analysis_id", "study_id", "measure"])
    )
    p_by, s_by, t_by = (rows_by_analysis(t, analysis_ids) for t in (pooled, studies, trials))
    written: list[Path] = []
    for aid in one_analysis_at_a_time(sorted({str(a) for a in analysis_ids})):
        _check_id(aid)
        pa = p_by.get(aid, pooled.iloc[0:0])
        sa = s_by.get(aid, studies.iloc[0:0])
        ta = t_by.get(aid)
        # labels from the trial rows; without them, from the key columns of the result rows
        labels = analysis_labels(ta if ta is not None else (pa if len(pa) else sa))
        if not labels.get("outcome_type"):
            for frame in (pa, sa):
                if "outcome_type" in frame.columns and len(frame):
                    labels["outcome_type"] = str(frame["outcome_type"].iloc[0])
                    break
        measure = _primary_measure(pa, sa, settings, labels["outcome_type"])
        sub = " \u2014 ".join(x for x in (labels["condition"], labels["outcome"]) if x)
        if is_single_arm(labels["outcome_type"]):  # uncontrolled evidence (issue 17)
            fig = single_arm_forest(aid, sa, pa, measure, labels, settings, subtitle=sub)
            written += save_figure(fig, out_dir / aid, formats)
            continue
        fig = forest_plot(
            {"analysis_id": aid, "outcome_type": labels["outcome_type"]},
            sa,
            pa,
            measure=measure,
            therapy_label=labels["therapy"],
            comparator_label=labels["comparator"],
            higher_is_better=labels["higher_is_better"],
            outcome_type=labels["outcome_type"],
            subtitle=sub,
            config=settings,
            rob=rob,  # risk-of-bias judgements, any analyses: RoB columns where they exist
        )
        written += save_figure(fig, out_dir / aid, formats)
    return sorted(written)


def _check_id(aid: str) -> None:
    """analysis ids become file names: refuse anything that could leave ``out_dir``."""
    if (
        not aid
        or aid in (".", "..")
        or "/" in aid
        or "\\" in aid
        or "\x00" in aid
        or aid.startswith(".")
        or len(aid) > 200
    ):
        raise ValueError(f"analysis_id {aid!r} is not a safe file name")
