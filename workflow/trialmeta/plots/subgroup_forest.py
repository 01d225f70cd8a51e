"""Subgroup forest plot (RevMan layout): for each level of a categorical moderator a header row,
the level's studies (events/totals per arm for binary outcomes, N per arm otherwise, weight,
effect and 95% CI, a square sized by its weight), the subtotal diamond with its totals, weight and
heterogeneity; the overall result at the bottom (the forest plot's primary result: same model,
same CI method) and the test for subgroup differences. Levels with one study are shown without a
diamond ("not pooled"). Natural units on RevMan's symmetric axis
(:func:`trialmeta.plots.axis.effect_axis`), favours labels under it, as the main forest plot."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.transforms import blended_transform_factory

from trialmeta.plots.axis import effect_axis
from trialmeta.plots.cell_text import cells_of
from trialmeta.plots.forest import (
    FAVOURS_LINE_PT,
    FAVOURS_TOP_PT,
    apply_axis,
    draw_favours,
)
from trialmeta.plots.intervals import StudyIntervals, clipped_diamond
from trialmeta.plots.labels import clean_text, format_effect, format_p, measure_info
from trialmeta.plots.lean_axes import new_axes
from trialmeta.plots.style import PALETTE, new_figure

__all__ = ["subgroup_forest_plot", "SubgroupLine"]

WIDTH_IN = 10.5
ROW_IN = 0.24
PLOT_X0, PLOT_X1 = 0.70, 0.975
ARM_X = {"t": 0.385, "c": 0.465}
WEIGHT_X, EFFECT_X = 0.535, 0.618


@dataclass
class SubgroupLine:
    """One row of the plot: ``kind`` header / study / diamond / note / overall; effects on the
    analysis scale; ``arms`` the therapy and comparator cell texts; ``weight`` in percent."""

    kind: str
    label: str
    est: float = float("nan")
    lo: float = float("nan")
    hi: float = float("nan")
    weight: float = float("nan")
    arms: tuple = ("", "")
    text: str = ""
    gid: str = ""
    extra: dict = field(default_factory=dict)


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _floats(studies: pd.DataFrame, column: str) -> list[float]:
    """``column`` as floats, one per study (NaN where missing, not a number, or no column)."""
    if column not in studies.columns:
        return [float("nan")] * len(studies)
    return [_as_float(v) for v in studies[column].tolist()]


class _ArmCounts:
    """The per-arm totals and events of the plotted studies as float arrays (NaN where missing
    or not a number), read once; a column the table lacks is None."""

    def __init__(self, studies: pd.DataFrame):
        self.columns = {
            c: pd.to_numeric(studies[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if c in studies.columns
            else None
            for c in ("n_treat", "n_ctrl", "events_treat", "events_ctrl")
        }

    def _values(self, column: str, rows) -> np.ndarray:
        values = self.columns[column]
        return np.empty(0) if values is None else values[rows]

    def texts(self, rows, binary: bool) -> tuple[str, str]:
        """``events/total`` (binary) or ``N`` per arm, summed over the studies at positions
        ``rows``; blank when a total is missing (an events column the table lacks sums to 0)."""
        out = []
        for arm in ("treat", "ctrl"):
            n = self._values(f"n_{arm}", rows)
            if not n.size or np.isnan(n).any():
                out.append("")
                continue
            if binary:
                e = self._values(f"events_{arm}", rows)
                out.append("" if np.isnan(e).any() else f"{e.sum():.0f}/{n.sum():.0f}")
            else:
                out.append(f"{n.sum():.0f}")
        return tuple(out)


class _PlottedStudies:
    """The studies of the plot as plain values, read once: level (text), label, estimate, 95% CI
    (Wald from ``vi`` where the table has none), weight (% of the overall model), arm counts."""

    def __init__(self, studies: pd.DataFrame):
        self.levels = studies["level"].astype(str)
        self.ids = studies["study_id"].tolist()
        self.yi = studies["yi"].tolist()
        lo, hi, vi = (_floats(studies, c) for c in ("ci_low", "ci_high", "vi"))
        self.ci = [_study_ci(*v) for v in zip(self.yi, lo, hi, vi)]
        weight = studies.get("weight_random", pd.Series(np.nan, index=studies.index))
        self.weight = pd.to_numeric(weight, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        self.arms = _ArmCounts(studies)

    def of_level(self, level) -> np.ndarray:
        """Positions of the studies of ``level`` (compared as text)."""
        return np.flatnonzero((self.levels == str(level)).to_numpy(dtype=bool, na_value=False))


def _study_ci(yi, lo: float, hi: float, vi: float) -> tuple[float, float]:
    if math.isfinite(lo) and math.isfinite(hi):
        return lo, hi
    se = math.sqrt(vi)
    return yi - 1.96 * se, yi + 1.96 * se


def _level_lines(
    studies: _PlottedStudies, r: dict, moderator: str, binary: bool, i: int = 0
) -> list[SubgroupLine]:
    """The header, study rows and subtotal of the ``i``-th level (one subgroups.csv row ``r``;
    ids carry the position, never data text)."""
    rows = studies.of_level(r["level"])
    n = len(rows)
    head = f"{clean_text(moderator, 30)} = {clean_text(r['level'], 30)} ({n} trial{'' if n == 1 else 's'})"
    lines = [SubgroupLine("header", head)]
    w = studies.weight[rows]
    for j, wi in zip(rows, w.tolist()):
        lo, hi = studies.ci[j]
        label = f"  {clean_text(studies.ids[j], 40)}"
        arms = studies.arms.texts([j], binary)
        lines.append(SubgroupLine("study", label, studies.yi[j], lo, hi, wi, arms))
    wsum = float(w.sum()) if len(w) and not np.isnan(w).any() else float("nan")
    if int(r["k"]) > 1:
        het = f"Heterogeneity: tau\u00b2 = {r['tau2']:.3g}; I\u00b2 = {r['I2']:.0f}%"
        lines.append(
            SubgroupLine(
                "diamond",
                f"  Subtotal (k = {int(r['k'])})",
                r["estimate"],
                r["ci_low"],
                r["ci_high"],
                wsum,
                studies.arms.texts(rows, binary),
                het,
                gid=f"subtotal-{i}",
            )
        )
    else:
        lines.append(SubgroupLine("note", "  Subtotal: single study, not pooled", weight=wsum))
    return lines


def _test_line(sg: pd.DataFrame) -> str:
    qb = sg["Q_between"].iloc[0] if len(sg) else np.nan
    if not np.isfinite(qb):
        return "Test for subgroup differences: not estimable"
    return (
        f"Test for subgroup differences: Chi\u00b2 = {qb:.2f}, "
        f"df = {int(sg['Q_between_df'].iloc[0])} ({format_p(sg['Q_between_pval'].iloc[0])})"
    )


def _level_rows(subgroups: pd.DataFrame) -> list[dict]:
    """The subgroups.csv values a level's lines show, one dict per level (row), in table order."""
    columns = ("level", "k", "tau2", "I2", "estimate", "ci_low", "ci_high")
    values = {c: subgroups[c].tolist() for c in columns if c in subgroups.columns}
    return [{c: v[i] for c, v in values.items()} for i in range(len(subgroups))]


def subgroup_lines(studies, subgroups, *, moderator, overall, overall_k, binary):
    """All rows of the plot, in order (:class:`SubgroupLine`)."""
    lines, plotted = [], _PlottedStudies(studies)
    for i, r in enumerate(_level_rows(subgroups)):
        lines += _level_lines(plotted, r, moderator, binary, i)
    if overall is not None:
        lines.append(
            SubgroupLine(
                "overall",
                f"Total ({overall_k} trials), random effects",
                *overall,
                weight=100.0 if "weight_random" in studies.columns else float("nan"),
                arms=(
                    plotted.arms.texts(slice(None), binary)
                    if len(studies) == overall_k
                    else ("", "")
                ),
                gid="overall-effect",
            )
        )
    return lines


def _cell(fig, tr, x, y, text, *, ha="right", bold=False, gid=None, size=8):
    t = cells_of(fig).text(  # full property names, as in forest._ForestCanvas.cell
        x,
        y,
        text,
        transform=tr,
        horizontalalignment=ha,
        verticalalignment="center",
        parse_math=False,
        fontsize=size,
        fontweight="bold" if bold else "normal",
    )
    if gid:
        t.set_gid(gid)
    return t


def _draw_headers(fig, tr, name, binary, level_text, method):
    arm_head = "Events/Total" if binary else "N"
    _cell(fig, tr, 0.01, 1, "Study or subgroup", ha="left", bold=True)
    for arm, word in (("t", "Therapy"), ("c", "Comparator")):
        _cell(fig, tr, ARM_X[arm], 0, word, bold=True)
        _cell(fig, tr, ARM_X[arm], 1, arm_head, bold=True, gid=f"header-{arm}")
    _cell(fig, tr, WEIGHT_X, 1, "Weight", bold=True, gid="header-weight")
    for x in (EFFECT_X, (PLOT_X0 + PLOT_X1) / 2):
        _cell(fig, tr, x, 0, name, ha="center", bold=True)
        _cell(fig, tr, x, 1, f"{method}, {level_text} CI", ha="center", size=7.5)


def _draw_line(fig, tr, marks: StudyIntervals, y, ln: SubgroupLine, wmax, is_ratio, decimals=2):
    to_nat = np.exp if is_ratio else (lambda a: a)
    bold = ln.kind in ("header", "overall", "diamond")
    _cell(fig, tr, 0.01, y, ln.label, ha="left", bold=ln.kind in ("header", "overall"))
    for arm, text in zip(("t", "c"), ln.arms):
        _cell(fig, tr, ARM_X[arm], y, text, bold=bold and ln.kind != "header", gid=f"arm-{arm}-{y}")
    if math.isfinite(ln.weight):
        _cell(
            fig, tr, WEIGHT_X, y, f"{ln.weight:.1f}%", bold=ln.kind == "overall", gid=f"weight-{y}"
        )
    if not math.isfinite(ln.est):
        return
    est, lo, hi = (float(to_nat(v)) for v in (ln.est, ln.lo, ln.hi))
    _cell(
        fig,
        tr,
        EFFECT_X,
        y,
        format_effect(est, lo, hi, decimals),
        ha="center",
        bold=ln.kind == "overall",
        gid=ln.gid or None,
    )
    if ln.text:
        _cell(fig, tr, 0.01, y + 0.85, f"    {ln.text}", ha="left", size=7)
    if ln.kind == "study":
        side = 3.0 + 7.0 * math.sqrt(ln.weight / wmax) if math.isfinite(ln.weight) else 4.0
        marks.add(y, est, lo, hi, side)
    else:
        face = PALETTE["pooled"] if ln.kind == "overall" else "#888888"
        clipped_diamond(marks.ax, y, est, lo, hi, marks.xlim, face=face, gid=None)


def subgroup_forest_plot(
    studies: pd.DataFrame,
    subgroups: pd.DataFrame,
    *,
    measure: str,
    scale=None,
    overall=None,
    overall_k=None,
    moderator: str = "",
    title: str = "",
    favours=None,
    outcome_kind: str = "generic",
    method: str = "IV, Random",
    level_text: str = "95%",
    notes=(),
):
    """``studies``: ``study_id, yi, vi, level`` (levels as in ``subgroups``) and, when known,
    ``ci_low, ci_high, weight_random`` (percent of the overall random-effects model) and the arm
    columns; ``subgroups``: the subgroups.csv rows of one analysis x measure x moderator;
    ``overall``: ``(estimate, ci_low, ci_high)`` on the analysis scale (the forest plot's
    primary result) of ``overall_k`` trials; ``favours``: the wrapped favours labels
    (:func:`trialmeta.plots.labels.favours_lines`); ``notes``: footnote lines."""
    name, is_ratio, null = measure_info(measure, scale)
    binary = outcome_kind == "binary"
    overall_k = len(studies) if overall_k is None else overall_k
    lines = subgroup_lines(
        studies, subgroups, moderator=moderator, overall=overall, overall_k=overall_k, binary=binary
    )
    tail = [_test_line(subgroups), *notes]
    favours = favours or ((), ())
    n = len(lines) + 2 + sum(1 for ln in lines if ln.text)
    fav_in = (FAVOURS_TOP_PT + FAVOURS_LINE_PT * max([len(f) for f in favours] + [2]) + 6) / 72
    bottom = fav_in + 0.18 * len(tail) + 0.15
    height = 0.45 + ROW_IN * n + bottom
    fig = new_figure(WIDTH_IN, height)
    ax = new_axes(fig, [PLOT_X0, bottom / height, PLOT_X1 - PLOT_X0, ROW_IN * n / height])
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_yticks([])
    ax.patch.set_alpha(0.0)
    tr = blended_transform_factory(fig.transFigure, ax.transData)
    core, spread = [], []
    for ln in lines:
        if math.isfinite(ln.est):
            (core if ln.kind != "study" else spread).extend([ln.lo, ln.hi])
            core.append(ln.est)
    to_nat = np.exp if is_ratio else (lambda a: a)
    axis = effect_axis(
        to_nat(np.asarray(core, float)), to_nat(np.asarray(spread, float)), is_ratio=is_ratio
    )
    apply_axis(ax, axis, f"{name} ({method}, {level_text} CI)")
    _draw_headers(fig, tr, name, binary, level_text, method)
    w = [ln.weight for ln in lines if ln.kind == "study" and math.isfinite(ln.weight)]
    wmax = max(w) if w else 100.0
    y, marks = 2, StudyIntervals(ax, axis.limits)
    for ln in lines:
        _draw_line(fig, tr, marks, y, ln, wmax, is_ratio)
        y += 2 if ln.text else 1
    marks.draw()
    ax.vlines(null, 1.5, n - 0.5, colors=PALETTE["null"], linewidth=0.8, zorder=1)
    draw_favours(ax, favours)
    _draw_tail(fig, tail, (bottom - fav_in - 0.05) / height, height)
    if title:
        fig.text(
            0.01,
            1 - 0.1 / height,
            clean_text(title, 120),
            ha="left",
            va="top",
            fontsize=9.5,
            fontweight="bold",
            parse_math=False,
        )
    return fig


def _draw_tail(fig, tail, top: float, height: float) -> None:
    """The test for subgroup differences and the footnotes, from ``top`` (figure fraction)."""
    for j, text in enumerate(tail):
        fig.text(
            0.01,
            top - 0.18 * j / height,
            text,
            ha="left",
            va="top",
            fontsize=8 if j == 0 else 7,
            color=PALETTE["text"] if j == 0 else PALETTE["muted"],
            parse_math=False,
        ).set_gid("subgroup-test" if j == 0 else f"note-{j}")
