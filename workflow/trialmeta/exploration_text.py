"""Plain-language sentences for the report sections of issue 4 (one function per table; each
takes that table's rows of one analysis x measure and returns a str). Effects are shown in
natural units (ratios back-transformed), p-values as in the forest plots."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .plots.labels import format_effect, format_p, measure_info, to_natural

__all__ = ["subgroup_sentence", "metaregression_sentence", "leave_one_out_sentence", "cumulative_sentence",
           "influence_sentence", "small_study_sentence", "sparse_sentence"]


def _eff(measure, scale, e, lo, hi):
    name, is_ratio, _ = measure_info(measure, scale)
    short = str(measure).upper().replace("LOG", "") if is_ratio else str(measure)
    return f"{short} {format_effect(to_natural(e, is_ratio), to_natural(lo, is_ratio), to_natural(hi, is_ratio))}"


def _excludes_null(lo, hi):
    return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))


def subgroup_sentence(rows: pd.DataFrame, measure: str, scale=None) -> str:
    """e.g. "biomarker_selected = true: RR 1.42 [1.10, 1.83]; false: RR 1.05 [0.90, 1.22]; test for
    subgroup differences P = 0.03." """
    if rows.empty:
        return ""
    mod = rows["moderator"].iloc[0]
    parts = []
    for _, r in rows.iterrows():
        txt = _eff(measure, scale, r.estimate, r.ci_low, r.ci_high)
        note = " (1 study, not pooled)" if int(r.k) == 1 else f" (k = {int(r.k)})"
        parts.append(f"{mod} = {r.level}: {txt}{note}")
    qp = rows["Q_between_pval"].iloc[0]
    test = (f"test for subgroup differences {format_p(qp)}" if np.isfinite(qp)
            else "test for subgroup differences not estimable")
    few = " These subgroups rest on few trials; treat the comparison as exploratory." if rows["k"].min() < 3 else ""
    return "; ".join(parts) + f"; {test}.{few}"


def metaregression_sentence(rows: pd.DataFrame, measure: str, scale=None) -> str:
    rows = rows[rows["term"].astype(str) != ""]
    if rows.empty:
        return "Meta-regression not fitted (moderator constant or too few studies)."
    _, is_ratio, _ = measure_info(measure, scale)
    mod = rows["moderator"].iloc[0]
    slopes = rows[rows["term"] != "intrcpt"]
    unit = f"log {str(measure).upper().replace('LOG', '')}" if is_ratio else str(measure)
    parts = []
    for _, r in slopes.iterrows():
        if r.term == mod:
            parts.append(f"each unit of {mod} changes the {unit} by {r.coef:.3g} "
                         f"(95% CI {r.ci_low:.3g} to {r.ci_high:.3g}; {format_p(r.pval)})")
        else:
            parts.append(f"{r.term} vs the reference level: {r.coef:+.3g} {unit} "
                         f"(95% CI {r.ci_low:.3g} to {r.ci_high:.3g}; {format_p(r.pval)})")
    r0 = rows.iloc[0]
    r2 = f", R2 = {r0.R2:.0f}%" if np.isfinite(r0.R2) else ""
    return (f"Meta-regression on {mod} (k = {int(r0.k)}): " + "; ".join(parts) +
            f". Omnibus test {format_p(r0.QM_pval)}; residual tau2 = {r0.tau2:.3g}{r2}.")


def leave_one_out_sentence(rows: pd.DataFrame, measure: str, scale=None, overall_ci=None) -> str:
    if rows.empty:
        return ""
    lo_i, hi_i = rows["estimate"].idxmin(), rows["estimate"].idxmax()
    txt = (f"Leaving out one study at a time, the pooled estimate ranges from "
           f"{_eff(measure, scale, rows.estimate[lo_i], rows.ci_low[lo_i], rows.ci_high[lo_i])} (without "
           f"{rows.omitted_study_id[lo_i]}) to {_eff(measure, scale, rows.estimate[hi_i], rows.ci_low[hi_i], rows.ci_high[hi_i])} "
           f"(without {rows.omitted_study_id[hi_i]}).")
    if overall_ci is not None:
        base = _excludes_null(*overall_ci)
        flips = [s for s, a, b in zip(rows.omitted_study_id, rows.ci_low, rows.ci_high) if _excludes_null(a, b) != base]
        txt += (" Omitting " + ", ".join(map(str, flips)) + " changes whether the CI excludes no effect."
                if flips else " No single study changes whether the CI excludes no effect.")
    return txt


def cumulative_sentence(rows: pd.DataFrame, measure: str, scale=None) -> str:
    if rows.empty:
        return ""
    rows = rows.sort_values("step")
    sig = [(_excludes_null(a, b), s, y) for a, b, s, y in zip(rows.ci_low, rows.ci_high, rows.added_study_id, rows.year)]
    first = next(((s, y) for ok, s, y in sig if ok), None)
    last = rows.iloc[-1]
    end = _eff(measure, scale, last.estimate, last.ci_low, last.ci_high)
    if first is None:
        return f"Adding studies by year, the CI never excluded no effect (final {end})."
    stable = all(ok for ok, *_ in sig[[s for _, s, _ in sig].index(first[0]):])
    yr = f" ({int(first[1])})" if np.isfinite(first[1]) and str(int(first[1])) not in str(first[0]) else ""
    return (f"Adding studies by year, the CI first excluded no effect after {first[0]}{yr}"
            f"{' and stayed so' if stable else ', but not at every later step'} (final {end}).")


def influence_sentence(rows: pd.DataFrame) -> str:
    if rows.empty:
        return ""
    infl = rows[rows["influential"].astype(bool)]
    if infl.empty:
        return "No study is flagged as influential (metafor's criteria: DFFITS, Cook's distance, hat value, DFBETAS)."
    return ("Influential by metafor's criteria: " + ", ".join(
        f"{r.study_id} (studentized residual {r.rstudent:.2f}, Cook's distance {r.cook_d:.2f})"
        for _, r in infl.iterrows()) + ".")


def small_study_sentence(row, measure: str, scale=None) -> str:
    if isinstance(row.reason, str) and row.reason:
        return f"Small-study tests not run: {row.reason}."
    tf = ""
    if np.isfinite(row.trimfill_estimate):
        k0 = int(row.trimfill_k0)
        tf = (f" Trim-and-fill imputes {k0} stud{'y' if k0 == 1 else 'ies'} on the {row.trimfill_side}; adjusted "
              f"{_eff(measure, scale, row.trimfill_estimate, row.trimfill_ci_low, row.trimfill_ci_high)}.")
    return (f"Egger's test (random-effects form) {format_p(row.egger_rma_pval)}, classical Egger "
            f"{format_p(row.egger_lm_pval)}, Begg's rank correlation {format_p(row.begg_pval)}.{tf}")


def sparse_sentence(rows: pd.DataFrame) -> str:
    if rows.empty:
        return ""
    d, s = bool(rows["disagree_direction"].iloc[0]), bool(rows["disagree_significance"].iloc[0])
    if not (d or s):
        return "With zero cells, MH (no correction), Peto, inverse variance (0.5 correction) and the risk difference agree."
    what = " and ".join(x for x, f in (("direction", d), ("statistical significance", s)) if f)
    return f"With zero cells the methods disagree on {what}; see the sparse-data panel before drawing conclusions."
