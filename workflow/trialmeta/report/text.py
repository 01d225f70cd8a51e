"""Plain-language sentences for the exploration sections of the report (one function per table;
each takes that table's rows of one analysis x measure, a DataFrame or its :func:`row_records`,
and returns a str). Effects are shown in natural units (ratios back-transformed), p-values as in
the forest plots."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from trialmeta.inputs.booleans import parse_bool
from trialmeta.plots.labels import format_effect, format_p, measure_info, to_natural
from trialmeta.tables.levels import true_false_levels


def row_records(df: pd.DataFrame) -> list[dict]:
    """The rows of ``df`` as dicts, values as ``iterrows`` gives them (object dtype), without a
    Series per row (issue 16: a 1,000-analysis report iterates some 100,000 rows)."""
    cols = list(df.columns)
    return [dict(zip(cols, row)) for row in df.to_numpy(dtype=object).tolist()]


def _records(rows) -> list[dict]:
    """``rows``, a DataFrame or its :func:`row_records` already, as a list of dicts (the report
    passes records: a DataFrame per moderator cost more than the sentences)."""
    return rows if isinstance(rows, list) else row_records(rows)


def ordered_records(records: list[dict]) -> list[dict]:
    """:func:`~trialmeta.tables.levels.ordered_levels` of rows as dicts: for a true/false
    moderator the "true" level first, each group in table order; else as given."""
    flags = true_false_levels([r["level"] for r in records])
    if flags is not None:
        return [records[i] for i in sorted(range(len(flags)), key=lambda i: not flags[i])]
    return records


def _rows(df: pd.DataFrame) -> list[SimpleNamespace]:
    """:func:`row_records` with the values as attributes (``r.k``)."""
    return [SimpleNamespace(**{str(c): v for c, v in r.items()}) for r in row_records(df)]


__all__ = [
    "subgroup_sentence",
    "subgroup_caveat",
    "level_names",
    "metaregression_sentence",
    "leave_one_out_sentence",
    "cumulative_sentence",
    "influence_sentence",
    "small_study_sentence",
    "sparse_sentence",
    "ordered_records",
    "by_step",
    "row_records",
]


def _eff(measure, scale, e, lo, hi):
    name, is_ratio, _ = measure_info(measure, scale)
    short = str(measure).upper().replace("LOG", "") if is_ratio else str(measure)
    return f"{short} {format_effect(to_natural(e, is_ratio), to_natural(lo, is_ratio), to_natural(hi, is_ratio))}"


def _excludes_null(lo, hi):
    return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))


def level_names(moderator, levels) -> dict:
    """Reader-facing name of each level of a moderator: for a true/false moderator
    ``biomarker_selected``, "biomarker-selected trials" / "not biomarker-selected"; otherwise
    "<moderator> = <level>"."""
    levels = [str(x) for x in levels]
    flags = [parse_bool(x) for x in levels]
    if levels and all(f is not None for f in flags) and len(set(flags)) == len(flags):
        human = str(moderator).replace("_", "-")
        return {lev: (f"{human} trials" if f else f"not {human}") for lev, f in zip(levels, flags)}
    return {lev: f"{moderator} = {lev}" for lev in levels}


def subgroup_caveat(rows) -> str:
    """The few-trials caveat (data/README.md: "a demonstration contrast, not a powered subgroup
    analysis") when a level has fewer than 3 trials, with the level sizes; else "". ``rows``: a
    DataFrame or its :func:`row_records`."""
    records = _records(rows)
    ks = [r["k"] for r in records if not pd.isna(r["k"])]  # as Series.min: missing k skipped
    if not records or int(min(ks, default=float("nan"))) >= 3:
        return ""
    records = ordered_records(records)
    mod = records[0]["moderator"]
    human = str(mod).replace("_", "-")
    boolean = all(parse_bool(r["level"]) is not None for r in records)
    parts = []
    for i, r in enumerate(records):
        n, level = int(r["k"]), r["level"]
        trials = f"trial{'' if n == 1 else 's'}"
        if boolean:
            parts.append(
                f"{n} {human} {trials}" if parse_bool(level) else f"{n} {trials} not {human}"
            )
        else:
            parts.append(f"{n} {trials if i == 0 else ''} with {mod} = {level}".replace("  ", " "))
    sizes = " vs ".join(parts)
    return (
        f"This comparison rests on few trials ({sizes}): a demonstration contrast, not a powered "
        "subgroup analysis."
    )


def subgroup_sentence(rows, measure: str, scale=None) -> str:
    """e.g. "Biomarker-selected trials: RR 1.42 [1.10, 1.83] (k = 4); not biomarker-selected: RR 1.05
    [0.90, 1.22] (k = 5); test for subgroup differences P = 0.03." plus :func:`subgroup_caveat`.
    ``rows``: one moderator's rows, a DataFrame or its :func:`row_records`."""
    records = _records(rows)
    if not records:
        return ""
    mod = records[0]["moderator"]
    records = ordered_records(records)
    names = level_names(mod, [r["level"] for r in records])
    parts = []
    for r in records:
        txt = _eff(measure, scale, r["estimate"], r["ci_low"], r["ci_high"])
        k = int(r["k"])
        note = " (1 trial, not pooled)" if k == 1 else f" (k = {k})"
        parts.append(f"{names[str(r['level'])]}: {txt}{note}")
    qp = records[0]["Q_between_pval"]
    test = (
        f"test for subgroup differences {format_p(qp)}"
        if np.isfinite(qp)
        else "test for subgroup differences not estimable"
    )
    text = "; ".join(parts) + f"; {test}."
    few = subgroup_caveat(records)
    if all(parse_bool(r["level"]) is not None for r in records):
        text = text[0].upper() + text[1:]  # "Biomarker-selected trials: ..."
    return text + (f" {few}" if few else "")


def _not_fitted(records: list[dict]) -> str:
    """The meta-regression sentence of a moderator without fitted terms (``status`` says why)."""
    why = ""
    if records and "status" in records[0]:
        status = str(records[0]["status"])
        why = status.split(":", 1)[-1] if ":" in status else ""
    mod = f" on {records[0]['moderator']}" if records and "moderator" in records[0] else ""
    return (
        f"Meta-regression{mod} not fitted: {why}."
        if why
        else f"Meta-regression{mod} not fitted (moderator constant or too few studies)."
    )


def metaregression_sentence(rows, measure: str, scale=None) -> str:
    """The fitted slopes of one moderator, the omnibus test and the residual tau2; ``rows``: the
    moderator's rows, a DataFrame or its :func:`row_records` (a term "" is not fitted)."""
    records = _records(rows)
    fitted = [r for r in records if str(r["term"]) != ""]
    if not fitted:
        return _not_fitted(records)
    _, is_ratio, _ = measure_info(measure, scale)
    mod = fitted[0]["moderator"]
    unit = f"log {str(measure).upper().replace('LOG', '')}" if is_ratio else str(measure)
    parts = []
    for r in fitted:
        term = r["term"]
        if isinstance(term, str) and term == "intrcpt":
            continue
        coef, lo, hi, p = r["coef"], r["ci_low"], r["ci_high"], format_p(r["pval"])
        if term == mod:
            parts.append(
                f"each unit of {mod} changes the {unit} by {coef:.3g} "
                f"(95% CI {lo:.3g} to {hi:.3g}; {p})"
            )
        else:
            parts.append(
                f"{term} vs the reference level: {coef:+.3g} {unit} "
                f"(95% CI {lo:.3g} to {hi:.3g}; {p})"
            )
    r0 = fitted[0]
    r2 = f", R2 = {r0['R2']:.0f}%" if np.isfinite(r0["R2"]) else ""
    return (
        f"Meta-regression on {mod} (k = {int(r0['k'])}): "
        + "; ".join(parts)
        + f". Omnibus test {format_p(r0['QM_pval'])}; residual tau2 = {r0['tau2']:.3g}{r2}."
    )


def _first_extreme(values: list, lowest: bool) -> int:
    """Position of the first smallest (``lowest``) or largest value, missing values skipped (as
    ``Series.idxmin``/``idxmax`` of a RangeIndex); ValueError when every value is missing."""
    best = None
    for i, v in enumerate(values):
        if v == v and (best is None or (v < values[best] if lowest else v > values[best])):
            best = i
    if best is None:
        raise ValueError("Encountered all NA values")
    return best


def leave_one_out_sentence(rows, measure: str, scale=None, overall_ci=None) -> str:
    """The range of the leave-one-out estimates and the trials whose omission changes whether
    the CI excludes no effect; ``rows``: a DataFrame or its :func:`row_records`."""
    records = _records(rows)
    if not records:
        return ""
    estimates = [r["estimate"] for r in records]
    lo, hi = (records[_first_extreme(estimates, lowest)] for lowest in (True, False))
    txt = (
        f"Leaving out one study at a time, the pooled estimate ranges from "
        f"{_eff(measure, scale, lo['estimate'], lo['ci_low'], lo['ci_high'])} (without "
        f"{lo['omitted_study_id']}) to {_eff(measure, scale, hi['estimate'], hi['ci_low'], hi['ci_high'])} "
        f"(without {hi['omitted_study_id']})."
    )
    if overall_ci is not None:
        base = _excludes_null(*overall_ci)
        flips = [
            r["omitted_study_id"]
            for r in records
            if _excludes_null(r["ci_low"], r["ci_high"]) != base
        ]
        txt += (
            " Omitting "
            + ", ".join(map(str, flips))
            + " changes whether the CI excludes no effect."
            if flips
            else " No single study changes whether the CI excludes no effect."
        )
    return txt


def by_step(records: list[dict]) -> list[dict]:
    """Cumulative rows (dicts) in the order of ``step`` (stable, missing steps last, as
    ``sort_values("step")`` of distinct steps)."""
    return sorted(records, key=lambda r: (r["step"] != r["step"], r["step"]))


def cumulative_sentence(rows, measure: str, scale=None) -> str:
    """When the CI first excluded no effect as trials were added by year, and whether it stayed
    so; ``rows``: a DataFrame or its :func:`row_records`."""
    records = by_step(_records(rows))
    if not records:
        return ""
    sig = [
        (_excludes_null(r["ci_low"], r["ci_high"]), r["added_study_id"], r["year"]) for r in records
    ]
    first = next(((s, y) for ok, s, y in sig if ok), None)
    last = records[-1]
    end = _eff(measure, scale, last["estimate"], last["ci_low"], last["ci_high"])
    if first is None:
        return f"Adding studies by year, the CI never excluded no effect (final {end})."
    stable = all(ok for ok, *_ in sig[[s for _, s, _ in sig].index(first[0]) :])
    yr = (
        f" ({int(first[1])})"
        if np.isfinite(first[1]) and str(int(first[1])) not in str(first[0])
        else ""
    )
    return (
        f"Adding studies by year, the CI first excluded no effect after {first[0]}{yr}"
        f"{' and stayed so' if stable else ', but not at every later step'} (final {end})."
    )


def influence_sentence(rows) -> str:
    """The trials flagged as influential (metafor's criteria), or that none is; ``rows``: a
    DataFrame or its :func:`row_records`."""
    records = _records(rows)
    if not records:
        return ""
    infl = [r for r in records if bool(r["influential"])]
    if not infl:
        return "No study is flagged as influential (metafor's criteria: DFFITS, Cook's distance, hat value, DFBETAS)."
    return (
        "Influential by metafor's criteria: "
        + ", ".join(
            f"{r['study_id']} (studentized residual {r['rstudent']:.2f}, Cook's distance {r['cook_d']:.2f})"
            for r in infl
        )
        + "."
    )


#: small_study.csv columns of which at least one is a number where any small-study test ran
SMALL_STUDY_RESULTS = ("egger_rma_pval", "egger_lm_pval", "begg_pval", "trimfill_estimate")


def small_study_ran(row) -> bool:
    """True where at least one small-study test gave a result (k >= small_study_min_k and not
    every test refused); ``reason`` then says why the others gave none."""
    values = [pd.to_numeric(getattr(row, c, np.nan), errors="coerce") for c in SMALL_STUDY_RESULTS]
    return any(np.isfinite(float(v)) for v in values)


def small_study_sentence(row, measure: str, scale=None) -> str:
    reason = row.reason if isinstance(row.reason, str) else ""
    if reason and not small_study_ran(row):
        return f"Small-study tests not run: {reason}."
    tf = ""
    if np.isfinite(row.trimfill_estimate):
        k0 = int(row.trimfill_k0)
        tf = (
            f" Trim-and-fill imputes {k0} stud{'y' if k0 == 1 else 'ies'} on the {row.trimfill_side}; adjusted "
            f"{_eff(measure, scale, row.trimfill_estimate, row.trimfill_ci_low, row.trimfill_ci_high)}."
        )
    elif reason:
        tf = " Trim-and-fill not run."
    why = f" No result from some tests: {reason}." if reason else ""
    return (
        f"Egger's test (random-effects form) {format_p(row.egger_rma_pval)}, classical Egger "
        f"{format_p(row.egger_lm_pval)}, Begg's rank correlation {format_p(row.begg_pval)}.{tf}{why}"
    )


def sparse_sentence(rows: pd.DataFrame) -> str:
    if rows.empty:
        return ""
    d, s = bool(rows["disagree_direction"].iloc[0]), bool(rows["disagree_significance"].iloc[0])
    if not (d or s):
        return "With zero cells, MH (no correction), Peto, inverse variance (0.5 correction) and the risk difference agree."
    what = " and ".join(x for x, f in (("direction", d), ("statistical significance", s)) if f)
    return f"With zero cells the methods disagree on {what}; see the sparse-data panel before drawing conclusions."
