"""Context of the exploration sections of an analysis page (subgroups, meta-regression,
leave-one-out, influence, cumulative, small-study, sparse binary data): figure, plain-language
sentences, a compact table of the primary measure, and a "why not" note where a method did not
run.

:func:`exploration_context` is a pure function of one analysis's rows and the config. Each section
is a dict::

    {"entries": [{"title", "figure": {"svg", "png", "alt"} | None, "sentences": [...],
                "flag": bool, "table": {"columns", "rows"} | None}],
     "notes": [...],                   # why a figure or method is not shown
     "all": {"columns", "rows"} | None}  # every row of the table for this analysis (all measures)

A section with no items and no notes is not shown. Sentences come from
:mod:`trialmeta.report.text`; if a table lacks the columns a sentence needs (an older or
partial table) the section falls back to the table alone.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trialmeta.inputs.settings import Settings
from trialmeta.plots.labels import format_effect, format_number, format_p, measure_info, to_natural
from trialmeta.plots.names import exploration_stem
from trialmeta.report import text as tx
from trialmeta.report.text import row_records

__all__ = [
    "exploration_context",
    "estimator_summary",
    "estimator_table",
    "row_records",
    "rows_where",
    "text_equals",
    "SENTENCE_COLUMNS",
    "table_cell",
]

#: Columns each section's sentences need (else the table alone is shown).
SENTENCE_COLUMNS = {
    "subgroups": {"moderator", "level", "k", "estimate", "ci_low", "ci_high", "Q_between_pval"},
    "metaregression": {
        "moderator",
        "term",
        "coef",
        "ci_low",
        "ci_high",
        "pval",
        "QM_pval",
        "tau2",
        "R2",
        "k",
    },
    "leave_one_out": {"omitted_study_id", "estimate", "ci_low", "ci_high"},
    "influence": {"study_id", "influential", "rstudent", "cook_d"},
    "cumulative": {"step", "added_study_id", "year", "estimate", "ci_low", "ci_high"},
    "small_study": {
        "reason",
        "egger_rma_pval",
        "egger_lm_pval",
        "begg_pval",
        "trimfill_k0",
        "trimfill_side",
        "trimfill_estimate",
        "trimfill_ci_low",
        "trimfill_ci_high",
    },
    "sparse_binary": {"disagree_direction", "disagree_significance"},
}
MIN_K_SEQUENCE = 3  # as trialmeta.plots.exploration_figures (not imported: no matplotlib here)


def _blank(v) -> bool:
    return (
        v is None
        or v is pd.NA
        or (isinstance(v, float) and math.isnan(v))
        or str(v).strip() in ("", "nan")
    )


def _num(v) -> float:
    try:
        return float(v) if not _blank(v) else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def table_cell(v, digits: int = 3, whole_below: float = 1e6, text=lambda v: str(v)[:300]) -> str:
    """A number with ``digits`` significant digits (minus sign as U+2212; whole numbers below
    ``whole_below`` without decimals), yes/no for booleans, ``text(v)`` for anything else."""
    if type(v) is float:  # most cells (a 1,000-analysis report has two million)
        return _float_cell(v, digits, whole_below)
    if type(v) is str:  # as below: blank, else text(v)
        return "" if v.strip() in ("", "nan") else text(v)
    if type(v) is int:
        return str(v)
    if _blank(v):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return _float_cell(float(v), digits, whole_below)
    return text(v)


def _float_cell(x: float, digits: int, whole_below: float) -> str:
    """A float cell of :func:`table_cell` (NaN blank, infinities as a dash)."""
    if x.is_integer():  # finite and whole
        if -whole_below < x < whole_below:
            return str(int(x))
    elif x != x:
        return ""
    elif x in _INFINITIES:
        return "\u2013"
    return format(x, _G_FORMATS.get(digits) or f".{digits}g").replace("-", "\u2212")


_INFINITIES = (math.inf, -math.inf)
_G_FORMATS = {d: f".{d}g" for d in range(1, 10)}  # format specs of _float_cell


def _effect(measure, scale, e, lo, hi) -> str:
    _, is_ratio, _ = measure_info(measure, scale)
    return format_effect(
        to_natural(_num(e), is_ratio),
        to_natural(_num(lo), is_ratio),
        to_natural(_num(hi), is_ratio),
    )


def _p(v) -> str:
    return format_p(v).replace("P = ", "").replace("P ", "") if math.isfinite(_num(v)) else ""


def _generic(df: pd.DataFrame) -> dict | None:
    if df is None or not len(df):
        return None
    names = list(df.columns)
    shown = [i for i, c in enumerate(names) if c != "analysis_id"]
    values = df.to_numpy(dtype=object)
    columns = [_column_cells(values[:, i].tolist()) for i in shown]
    return {
        "columns": [str(names[i]) for i in shown],
        "rows": [list(r) for r in zip(*columns)] if shown else [[] for _ in range(len(df))],
    }


def _column_cells(values: list) -> list[str]:
    """:func:`table_cell` (4 digits) of each value of one column (most columns hold floats)."""
    if all(type(v) is float for v in values):
        return [_float_cell(v, 4, 1e6) for v in values]
    if all(type(v) is str for v in values):
        return ["" if v.strip() in ("", "nan") else v[:300] for v in values]
    return [table_cell(v, 4) for v in values]


def _figure(figures: dict, stem: str, alt: str) -> dict | None:
    svg, png = figures.get(f"{stem}.svg"), figures.get(f"{stem}.png")
    if not (svg or png):
        return None
    kind = stem.split(".", 1)[-1].split("-", 1)[0]
    # forest-like figures are wide (8 in), the bubble and funnel plots about 5.5 in
    return {
        "svg": svg or png,
        "png": png,
        "alt": alt,
        "wide": kind in ("subgroups", "leave_one_out", "cumulative"),
    }


def _can_speak(key: str, df: pd.DataFrame) -> bool:
    return SENTENCE_COLUMNS[key] <= set(df.columns)


def rows_where(df: pd.DataFrame, col: str, value: str) -> pd.DataFrame:
    """``df[df[col].astype(str) == value]`` (missing values, kept by ``astype(str)``, equal no
    text) compared in Python: a few rows per analysis, where pandas' comparison costs more."""
    return df.take(np.flatnonzero(text_equals(df[col], value)))


def text_equals(values: pd.Series, value: str) -> np.ndarray:
    """``values.astype(str) == value`` as booleans (missing values equal no text), compared in
    Python: a few rows per analysis, where pandas' conversion and comparison cost more."""
    hits = [
        v == value if isinstance(v, str) else not pd.isna(v) and str(v) == value
        for v in values.to_numpy(dtype=object)
    ]
    return np.array(hits, dtype=bool)


def _measure_rows(df, measure: str) -> pd.DataFrame:
    if df is None or not len(df):
        return pd.DataFrame()
    if "measure" not in df.columns:
        return df
    return rows_where(df, "measure", str(measure))


def _measure_records(df, measure: str) -> list[dict]:
    """:func:`_measure_rows` as dicts (:func:`row_records`), filtered in Python."""
    if df is None or not len(df):
        return []
    records = row_records(df)
    if "measure" not in df.columns:
        return records
    return [r for r in records if _text_key(r["measure"]) == str(measure)]


def _section(items=None, notes=None, all_rows=None) -> dict:
    return {
        "entries": items or [],
        "notes": notes or [],
        "all": all_rows,
        "shown": bool(items or notes),
    }


# --------------------------------------------------------------------------- sections
def _text_key(v):
    """``v`` as ``astype(str)`` shows it, None where missing (as :func:`text_equals`)."""
    return v if type(v) is str else (None if pd.isna(v) else str(v))


def _moderators(df, measure, configured) -> tuple[list[str], list[dict], list]:
    """(the configured moderators then the others of the ``measure`` rows of ``df`` in table
    order, those rows as dicts, each row's moderator as text); no rows without a ``moderator``
    column."""
    mods = [str(m) for m in configured]
    records = _measure_records(df, measure)
    if not (records and "moderator" in df.columns):
        return mods, [], []
    values = [r["moderator"] for r in records]
    if all(type(v) is str for v in values):
        distinct = list(dict.fromkeys(values))  # as drop_duplicates
    else:
        distinct = _measure_rows(df, measure)["moderator"].drop_duplicates().tolist()
    mods += [str(m) for m in distinct if str(m) not in mods]
    return mods, records, [_text_key(v) for v in values]


def _subgroups(aid, measure, scale, df, trials_a, settings, figures):
    items, notes = [], []
    mods, records, keys = _moderators(df, measure, settings.subgroups)
    columns = set(df.columns) if records else set()
    speak = SENTENCE_COLUMNS["subgroups"] <= columns
    for mod in mods:
        pos = [i for i, key in enumerate(keys) if key == mod]
        if not pos:
            why = _no_subgroups_reason(mod, trials_a)
            if why:
                notes.append(why)
            continue
        rows = [records[i] for i in pos]
        if speak:
            rows = tx.ordered_records(rows)
        names = tx.level_names(mod, [r["level"] for r in rows]) if "level" in columns else {}
        tau_model = str(rows[0]["tau2_model"]) if "tau2_model" in columns else ""
        sentences = [tx.subgroup_sentence(rows, measure, scale)] if speak else []
        if tau_model:
            sentences.append(
                "Random effects within each subgroup with "
                + (
                    "one tau\u00b2 shared by all subgroups."
                    if tau_model == "common"
                    else "a separate tau\u00b2 per subgroup."
                )
                + _ci_note(rows, columns)
            )
        items.append(
            {
                "title": f"By {mod}",
                "sentences": sentences,
                "flag": bool(speak and tx.subgroup_caveat(rows)),
                "figure": _figure(
                    figures,
                    exploration_stem(aid, "subgroups", mod),
                    f"Subgroup forest plot by {mod}",
                ),
                "table": _subgroup_table(rows, names, measure, scale, columns)
                if speak
                else _generic(_measure_rows(df, measure).take(pos)),
            }
        )
    return _section(items, notes, _generic(df))


def _subgroup_table(rows: list[dict], names: dict, measure, scale, columns) -> dict:
    """The report table of one moderator (its rows as dicts, the table's ``columns``): a row per
    level, then the test for differences."""
    table = {
        "columns": [
            "Subgroup",
            "Trials",
            f"{measure} [95% CI]",
            "tau\u00b2",
            "I\u00b2",
            "P (effect)",
        ],
        "rows": [
            [
                names.get(str(r["level"]), str(r["level"])),
                table_cell(r.get("k")),
                _effect(measure, scale, r["estimate"], r["ci_low"], r["ci_high"])
                + (" (single trial, not pooled)" if _num(r.get("k")) == 1 else ""),
                table_cell(r.get("tau2")),
                f"{_num(r.get('I2')):.0f}%" if math.isfinite(_num(r.get("I2"))) else "",
                _p(r.get("pval")),
            ]
            for r in rows
        ],
    }
    first = rows[0]
    qb, qdf, qp = (
        _num(first["Q_between"]) if "Q_between" in columns else float("nan"),
        _num(first["Q_between_df"]) if "Q_between_df" in columns else float("nan"),
        _num(first["Q_between_pval"]),
    )
    if math.isfinite(qb):
        table["rows"].append(
            [
                "Test for subgroup differences",
                "",
                f"Q = {format_number(qb, 2)}, df = {qdf:.0f}",
                "",
                "",
                _p(qp),
            ]
        )
    return table


def _ci_note(rows: list[dict], columns) -> str:
    """`` CIs: HKSJ.`` from the pooled levels' ``ci_method`` (subgroups.csv; single-trial levels
    keep their own Wald CI); ``rows``: one moderator's rows as dicts."""
    if "ci_method" not in columns or not rows:
        return ""
    pooled = [r for r in rows if _num(r["k"]) > 1] if "k" in columns else rows
    names = {"hksj": "HKSJ", "hksj_adhoc": "modified HKSJ", "wald": "Wald"}
    methods = dict.fromkeys(r["ci_method"] for r in pooled if not pd.isna(r["ci_method"]))
    used = [names.get(str(c), str(c)) for c in methods]
    return f" CIs: {' / '.join(used)}." if used else ""


def _no_subgroups_reason(mod: str, trials_a) -> str:
    if trials_a is None or mod not in getattr(trials_a, "columns", []):
        return ""
    vals = [v for v in trials_a[mod].tolist() if not _blank(v)]
    n_missing = len(trials_a) - len(vals)
    miss = (
        f" ({n_missing} trial{'s' if n_missing != 1 else ''} without a value)" if n_missing else ""
    )
    if not vals:
        return f"{mod}: not given for any trial of this analysis, so no subgroup analysis."
    levels = sorted({str(v) for v in vals})
    if len(levels) == 1:
        return (
            f"{mod}: every trial with a value has {mod} = {levels[0]}{miss}, so there is nothing to "
            "compare within this analysis."
        )
    return ""


def _term_given(value) -> bool:
    """True where a meta-regression row has a term (as ``astype(str).str.len() > 0``: missing
    values have none)."""
    return value != "" if type(value) is str else not pd.isna(value) and str(value) != ""


def _metaregression(aid, measure, scale, df, trials_a, settings, figures):
    items, notes = [], []
    mods, records, keys = _moderators(df, measure, settings.metaregression)
    columns = set(df.columns) if records else set()
    speak = SENTENCE_COLUMNS["metaregression"] <= columns
    for mod in mods:
        pos = [i for i, key in enumerate(keys) if key == mod]
        if not pos:
            if trials_a is not None and mod in getattr(trials_a, "columns", []):
                notes.append(
                    f"Meta-regression on {mod} not fitted: {mod} is not given for any trial."
                )
            continue
        rows = [records[i] for i in pos]
        fitted = [r for r in rows if _term_given(r["term"])] if "term" in columns else rows
        if speak and not fitted:
            notes.append(tx.metaregression_sentence(rows, measure, scale))
            continue
        items.append(
            {
                "title": f"On {mod}",
                "sentences": _metaregression_sentences(rows, fitted, measure, scale, columns)
                if speak
                else [],
                "flag": False,
                "figure": _figure(
                    figures,
                    exploration_stem(aid, "bubble", mod),
                    f"Bubble plot: effect against {mod}",
                ),
                "table": _metaregression_table(fitted)
                if speak
                else _generic(_measure_rows(df, measure).take(pos)),
            }
        )
    return _section(items, notes, _generic(df))


def _metaregression_table(fitted: list[dict]) -> dict:
    """The fitted terms of one moderator (rows as dicts): coefficient, SE, CI and P."""
    return {
        "columns": ["Term", "Coefficient", "SE", "95% CI", "P"],
        "rows": [
            [
                str(r["term"]),
                table_cell(r["coef"]),
                table_cell(r.get("se")),
                f"{table_cell(r['ci_low'])} to {table_cell(r['ci_high'])}",
                _p(r["pval"]),
            ]
            for r in fitted
        ],
    }


def _metaregression_sentences(rows, fitted, measure, scale, columns) -> list[str]:
    """The sentence of one moderator and the notes on the scale, the test and few trials."""
    _, is_ratio, _ = measure_info(measure, scale)
    sentences = [tx.metaregression_sentence(rows, measure, scale)]
    if is_ratio:
        sentences.append(
            f"Coefficients are on the log {measure} scale; exp(coefficient) is the ratio of "
            f"{measure}s per unit of the moderator (or versus the reference level)."
        )
    if "test" in columns and str(fitted[0]["test"]) == "knha":
        sentences.append("Tests and CIs use the Knapp-Hartung adjustment (t and F distributions).")
    k = _num(fitted[0]["k"])
    if k < 10:
        sentences.append(
            f"With {int(k)} trials a meta-regression has very little "
            "power and can be driven by one trial; read it as exploratory."
        )
    return sentences


def _leave_one_out(aid, measure, scale, df, k, overall_ci, figures):
    rows = _measure_records(df, measure)
    if not rows:
        return _section(all_rows=_generic(df))
    speak = _can_speak("leave_one_out", df)
    notes = []
    fig = _figure(figures, exploration_stem(aid, "leave_one_out"), "Leave-one-out plot")
    if k < MIN_K_SEQUENCE:
        notes.append(
            f"With {k} trials, leaving one out leaves a single trial, whose result is in the forest "
            "plot; no leave-one-out plot is drawn."
        )
    table = None
    if speak:
        table = {
            "columns": ["Omitted trial", f"{measure} [95% CI]", "tau\u00b2", "I\u00b2", "P"],
            "rows": [
                [
                    str(r["omitted_study_id"]),
                    _effect(measure, scale, r["estimate"], r["ci_low"], r["ci_high"]),
                    table_cell(r.get("tau2")),
                    _percent(r.get("I2")),
                    _p(r.get("pval")),
                ]
                for r in rows
            ],
        }
    sentence = tx.leave_one_out_sentence(rows, measure, scale, overall_ci) if speak else ""
    flag = bool(
        speak
        and overall_ci is not None
        and "changes whether" in sentence
        and "No single" not in sentence
    )
    item = {
        "title": None,
        "figure": fig,
        "sentences": [sentence] if sentence else [],
        "flag": flag,
        "table": table if table else _generic(_measure_rows(df, measure)),
    }
    return _section([item], notes, _generic(df))


def _percent(v) -> str:
    """``v`` as a whole percentage (I\u00b2), blank where missing."""
    x = _num(v)
    return f"{x:.0f}%" if math.isfinite(x) else ""


def _influence(df, measure):
    rows = _measure_records(df, measure)
    if not rows:
        return _section(all_rows=_generic(df))
    speak = _can_speak("influence", df)
    table = None
    if speak:
        table = {
            "columns": [
                "Trial",
                "Studentized residual",
                "DFFITS",
                "Cook's distance",
                "Hat",
                "Weight",
                "Influential",
            ],
            "rows": [
                [
                    str(r["study_id"]),
                    table_cell(r["rstudent"]),
                    table_cell(r.get("dffits")),
                    table_cell(r["cook_d"]),
                    table_cell(r.get("hat")),
                    f"{_num(r.get('weight')):.1f}%" if math.isfinite(_num(r.get("weight"))) else "",
                    "yes" if bool(r["influential"]) else "no",
                ]
                for r in rows
            ],
        }
    sentence = tx.influence_sentence(rows) if speak else ""
    notes = []
    if len(rows) < MIN_K_SEQUENCE:
        notes.append(
            f"With {len(rows)} trials each trial is half of the data: the diagnostics cannot tell one "
            "trial's influence from the disagreement between the two and add nothing to the forest plot."
        )
    flag = bool(speak and not notes and any(bool(r["influential"]) for r in rows))
    return _section(
        [
            {
                "title": None,
                "figure": None,
                "sentences": [sentence] if sentence else [],
                "flag": flag,
                "table": table if table else _generic(_measure_rows(df, measure)),
            }
        ],
        notes,
        _generic(df),
    )


def _cumulative(aid, measure, scale, df, k, trials_a, figures):
    rows = _measure_records(df, measure)
    notes = []
    if not rows:
        if k >= 2 and trials_a is not None and "year" in getattr(trials_a, "columns", []):
            notes.append(
                "Not run: not every trial of this analysis has a year, so there is no order to add them in."
            )
        return _section([], notes, _generic(df))
    speak = _can_speak("cumulative", df)
    if k < MIN_K_SEQUENCE:
        notes.append(
            f"With {k} trials the cumulative analysis is the earlier trial alone and then the full "
            "analysis (both in the forest plot); no cumulative plot is drawn."
        )
    table, sentence = None, ""
    if speak:
        rows = _in_step_order(rows, df, measure)
        table = {
            "columns": ["Step", "Trial added", "Year", f"{measure} [95% CI]", "I\u00b2"],
            "rows": [
                [
                    table_cell(r["step"]),
                    str(r["added_study_id"]),
                    table_cell(r["year"]),
                    _effect(measure, scale, r["estimate"], r["ci_low"], r["ci_high"]),
                    _percent(r.get("I2")),
                ]
                for r in rows
            ],
        }
        sentence = tx.cumulative_sentence(rows, measure, scale)
    return _section(
        [
            {
                "title": None,
                "figure": _figure(
                    figures, exploration_stem(aid, "cumulative"), "Cumulative meta-analysis plot"
                ),
                "sentences": [sentence] if sentence else [],
                "flag": False,
                "table": table if table else _generic(_step_sorted(_measure_rows(df, measure))),
            }
        ],
        notes,
        _generic(df),
    )


def _step_sorted(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.sort_values("step", kind="stable") if "step" in rows else rows


def _in_step_order(rows: list[dict], df: pd.DataFrame, measure) -> list[dict]:
    """The cumulative rows (dicts) by ``step`` (stable; pandas' order where steps are not all
    numbers)."""
    if all(type(r["step"]) in (int, float) for r in rows):
        return tx.by_step(rows)
    return row_records(_step_sorted(_measure_rows(df, measure)))


def _has(row, column: str) -> bool:
    """True where a small-study table row has a number in ``column`` (the test gave a result)."""
    return bool(np.isfinite(_num(row.get(column))))


def _small_study_tests(r, measure, scale) -> dict:
    """The small-study section's table: each test's statistic and P, or "not run" where the
    test refused (``reason`` says why)."""
    return {
        "columns": ["Test", "Statistic", "P"],
        "rows": [
            [
                "Egger (random-effects model, regtest)",
                f"z = {table_cell(r.get('egger_rma_z'))}" if _has(r, "egger_rma_z") else "not run",
                _p(r["egger_rma_pval"]),
            ],
            [
                "Egger (classical weighted regression)",
                f"t = {table_cell(r.get('egger_lm_t'))}, df = {table_cell(r.get('egger_lm_df'))}"
                if _has(r, "egger_lm_t")
                else "not run",
                _p(r["egger_lm_pval"]),
            ],
            [
                "Begg & Mazumdar rank correlation",
                f"Kendall's tau = {table_cell(r.get('begg_tau'))}"
                if _has(r, "begg_tau")
                else "not run",
                _p(r["begg_pval"]),
            ],
            [
                "Trim-and-fill (L0)",
                f"{table_cell(r['trimfill_k0'])} imputed on the {r['trimfill_side']}; adjusted "
                + _effect(
                    measure,
                    scale,
                    r["trimfill_estimate"],
                    r["trimfill_ci_low"],
                    r["trimfill_ci_high"],
                )
                if _has(r, "trimfill_estimate")
                else "not run",
                "",
            ],
        ],
    }


class _Row(dict):
    """A table row as a dict whose values are also attributes (``row.reason``), as a row of
    ``DataFrame.iloc`` (a Series) has them."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _small_study(aid, measure, scale, df, figures):
    rows = _measure_records(df, measure)
    if not rows:
        return _section(all_rows=_generic(df))
    r = _Row(rows[0])
    if not _can_speak("small_study", df):
        return _section(
            [
                {
                    "title": None,
                    "figure": None,
                    "sentences": [],
                    "flag": False,
                    "table": _generic(_measure_rows(df, measure)),
                }
            ],
            [],
            _generic(df),
        )
    sentence = tx.small_study_sentence(r, measure, scale)
    if not tx.small_study_ran(r):
        return _section([], [sentence + " No funnel plot is drawn."], _generic(df))
    table = _small_study_tests(r, measure, scale)
    flag = any(_num(r[c]) < 0.10 for c in ("egger_rma_pval", "egger_lm_pval", "begg_pval"))
    sentences = [sentence]
    if flag:
        sentences.append(
            "At least one test suggests funnel-plot asymmetry (P < 0.10). Asymmetry can come from "
            "publication bias but also from true heterogeneity, chance or poor small trials."
        )
    return _section(
        [
            {
                "title": None,
                "sentences": sentences,
                "flag": flag,
                "table": table,
                "figure": _figure(
                    figures,
                    exploration_stem(aid, "funnel"),
                    "Contour-enhanced funnel plot with trim-and-fill",
                ),
            }
        ],
        [],
        _generic(df),
    )


_SPARSE_METHODS = {
    "MH_OR_no_cc": "Mantel-Haenszel OR, no continuity correction",
    "PETO_OR": "Peto OR",
    "IV_OR_cc0.5": "Inverse-variance OR (random effects, REML), 0.5 added to zero cells",
    "MH_RD_no_cc": "Mantel-Haenszel risk difference, no continuity correction",
}


def _sparse(df):
    rows = df if df is not None else pd.DataFrame()
    if not len(rows):
        return _section()
    speak = _can_speak("sparse_binary", rows)
    table = None
    if speak and {"method", "measure", "estimate", "ci_low", "ci_high"} <= set(rows.columns):
        table = {
            "columns": ["Method", "Effect [95% CI]", "P", "Excludes no effect"],
            "rows": [
                [
                    _SPARSE_METHODS.get(str(r["method"]), str(r["method"])),
                    _effect(r["measure"], r.get("scale"), r["estimate"], r["ci_low"], r["ci_high"]),
                    _p(r.get("pval")),
                    "yes" if bool(r.get("significant")) else "no",
                ]
                for r in row_records(rows)
            ],
        }
    sentence = tx.sparse_sentence(rows) if speak else ""
    flag = bool(
        speak
        and (
            rows["disagree_direction"].astype(bool).any()
            or rows["disagree_significance"].astype(bool).any()
        )
    )
    return _section(
        [
            {
                "title": None,
                "figure": None,
                "sentences": [sentence] if sentence else [],
                "flag": flag,
                "table": table if table else _generic(rows),
            }
        ],
        [],
        None,
    )


# --------------------------------------------------------------------------- entry points
def exploration_context(
    aid: str,
    measure: str,
    scale,
    k: int,
    tables: dict,
    figures: dict,
    settings,
    trials_a: pd.DataFrame | None = None,
    overall_ci=None,
) -> dict:
    """Sections of one analysis page (keys as ``trialmeta.report.build.EXPLORATION_SECTIONS``).

    ``tables``: this analysis's rows of each exploration table (any measure); ``figures``: file
    name -> report-relative name of this analysis's figures; ``settings``: a
    :class:`~trialmeta.inputs.settings.Settings` or a config dict; ``overall_ci``: (ci_low,
    ci_high) of the random-effects model with the leave-one-out rows' CI method
    (``sensitivity_ci_method``) on the analysis scale (leave-one-out comparison).
    """
    settings = Settings.coerce(settings)
    t = {
        key: (df if isinstance(df, pd.DataFrame) else pd.DataFrame())
        for key, df in (tables or {}).items()
    }
    get = lambda key: t.get(key, pd.DataFrame())  # noqa: E731
    return {
        "subgroups": _subgroups(aid, measure, scale, get("subgroups"), trials_a, settings, figures)
        if "subgroups" in t
        else _section(),
        "metaregression": _metaregression(
            aid, measure, scale, get("metaregression"), trials_a, settings, figures
        )
        if "metaregression" in t
        else _section(),
        "leave_one_out": _leave_one_out(
            aid, measure, scale, get("leave_one_out"), k, overall_ci, figures
        ),
        "influence": _influence(get("influence"), measure),
        "cumulative": _cumulative(aid, measure, scale, get("cumulative"), k, trials_a, figures)
        if "cumulative" in t
        else _section(),
        "small_study": _small_study(aid, measure, scale, get("small_study"), figures),
        "sparse_binary": _sparse(get("sparse_binary")),
    }


_ESTIMATOR_NEED = {
    "model",
    "tau2_method",
    "ci_method",
    "ci_low",
    "ci_high",
    "measure",
    "analysis_id",
}


def estimator_table(pooled: pd.DataFrame) -> pd.DataFrame:
    """:func:`~trialmeta.stats.sensitivity.estimator_disagreement` of the random-effects rows of
    ``pooled`` (one row per analysis x measure; no rows without the columns it needs)."""
    from trialmeta.stats.sensitivity import estimator_disagreement

    if pooled is None or not len(pooled) or not _ESTIMATOR_NEED <= set(pooled.columns):
        return pd.DataFrame(columns=["analysis_id", "measure"])
    return estimator_disagreement(pooled[pooled["model"].astype(str) == "random"])


def estimator_summary(
    pooled_a: pd.DataFrame, primary_measure: str, disagreement: pd.DataFrame | None = None
) -> list[dict]:
    """One sentence per measure about the tau2 estimator x CI method matrix (random-effects rows of
    pooled.csv): whether the CI excludes no effect under every method, none, or only some (flagged,
    with the methods named). Primary measure first. ``disagreement``: the analysis's rows of
    :func:`estimator_table` (made for all analyses at once), else computed from ``pooled_a``."""
    if pooled_a is None or not len(pooled_a) or not _ESTIMATOR_NEED <= set(pooled_a.columns):
        return []
    if not (pooled_a["model"].astype(str) == "random").any():
        return []
    d = row_records(estimator_table(pooled_a) if disagreement is None else disagreement)
    order = sorted(range(len(d)), key=lambda i: (str(d[i]["measure"]) != str(primary_measure), i))
    out = []
    for i in order:
        r = d[i]
        m, n, ns = str(r["measure"]), int(r["n_methods"]), int(r["n_significant"])
        if n == 0:
            continue
        if r["disagree"]:
            sig = str(r["methods_significant"]).replace(";", ", ")
            nsig = str(r["methods_not_significant"]).replace(";", ", ")
            if ns <= n - ns:
                text = (
                    f"{m}: conclusions depend on the method. The CI excludes no effect only under {sig} "
                    f"({ns} of {n} tau\u00b2 estimator \u00d7 CI combinations); under the other {n - ns} it "
                    "includes no effect."
                )
            else:
                text = (
                    f"{m}: conclusions depend on the method. The CI includes no effect under {nsig} "
                    f"({n - ns} of {n} tau\u00b2 estimator \u00d7 CI combinations); under the other {ns} it "
                    "excludes no effect."
                )
        elif ns == n:
            text = f"{m}: the CI excludes no effect under all {n} tau\u00b2 estimator \u00d7 CI combinations."
        else:
            text = f"{m}: the CI includes no effect under all {n} tau\u00b2 estimator \u00d7 CI combinations."
        out.append(
            {
                "measure": m,
                "text": text,
                "flag": bool(r["disagree"]),
                "primary": m == str(primary_measure),
            }
        )
    return out
