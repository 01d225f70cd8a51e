"""Build the offline HTML report from the result tables.

Security model: every value from the data (study
labels, therapy names, notes, URLs, warnings) reaches the page only through Jinja2 with autoescape
on; user text is wrapped in ``<bdi>`` so right-to-left or bidi-control characters cannot reorder
the surrounding page; only ``http``/``https`` URLs with a host become links (``rel="noopener
noreferrer"``), everything else (``javascript:``, ``data:``, relative paths) is shown as text; the
pages contain no script and a Content-Security-Policy ``default-src 'none'; img-src 'self';
style-src 'self'`` so that even injected markup could not run or load anything; analysis ids that
become file names are checked (no path separators, no ``..``).

Determinism: analyses sorted, no timestamps, floats formatted explicitly; files are written via a
temporary file and renamed, and ``index.html`` is written last, so an interrupted build leaves the
previous index in place.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import markupsafe
import numpy as np
import pandas as pd

from trialmeta.inputs.settings import Settings
from trialmeta.inputs.single_arm import is_single_arm
from trialmeta.pipeline import render_cache
from trialmeta.pipeline.forked import map_shares
from trialmeta.pipeline.garbage import one_analysis_at_a_time
from trialmeta.pipeline.jobs import replace_with_link
from trialmeta.pipeline.safe_csv import atomic_write_bytes
from trialmeta.plots.labels import (
    analysis_labels,
    choose_decimals,
    describe_status,
    favours_therapy_side,
    format_effect,
    format_number,
    format_p,
    level_text,
    measure_info,
    parse_bool,
    to_natural,
)
from trialmeta.plots.names import figure_folder, split_figure_name
from trialmeta.report.changes_page import write_changes_page
from trialmeta.report.exploration_sections import (
    estimator_summary,
    estimator_table,
    exploration_context,
    row_records,
    rows_where,
    table_cell,
    text_equals,
)
from trialmeta.report.few_trials import few_trials_panel
from trialmeta.report.index_page import IndexPage, key_values
from trialmeta.report.interactions_section import (
    interaction_entries,
    interaction_index,
    interaction_overview,
)
from trialmeta.report.risk_of_bias_section import rob_section
from trialmeta.report.single_arm_section import (
    single_arm_methods,
    single_arm_overrides,
    single_arm_sections,
)
from trialmeta.report.sof_page import add_sof_page
from trialmeta.tables.names import EXPLORATION_TITLES

__all__ = ["build_report", "safe_http_url", "CSP", "EXPLORATION_SECTIONS"]

CSP = "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'"

#: Exploration sections, in page order: (key of the exploration dict / table stem, heading).
EXPLORATION_SECTIONS = tuple(EXPLORATION_TITLES.items())

_HERE = Path(__file__).resolve().parent
_MAX_TEXT = 300
_ID_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")

TAU2_NAMES = {
    "DL": "DerSimonian-Laird (DerSimonian & Laird 1986)",
    "REML": "restricted maximum likelihood (REML; Viechtbauer 2005)",
    "ML": "maximum likelihood (ML; Viechtbauer 2005)",
    "PM": "Paule-Mandel (Paule & Mandel 1982)",
    "HE": "Hedges (Hedges & Olkin 1985)",
    "SJ": "Sidik-Jonkman (Sidik & Jonkman 2005)",
    "EB": "empirical Bayes (Morris 1983)",
    "HS": "Hunter-Schmidt (Hunter & Schmidt 2004)",
}
#: Short names of the CI methods (leave-one-out and cumulative sections, methods text).
CI_SHORT_NAMES = {"wald": "Wald", "hksj": "HKSJ", "hksj_adhoc": "modified HKSJ"}
CI_NAMES = {
    "wald": "Wald-type (normal quantile)",
    "hksj": "Hartung-Knapp-Sidik-Jonkman (t with k\u22121 df; Hartung & Knapp 2001, Sidik & Jonkman 2002)",
    "hksj_adhoc": (
        "modified HKSJ (Knapp & Hartung 2003; the HKSJ variance scaling factor truncated below "
        "at 1, never narrower than Wald-type; t with k\u22121 df)"
    ),
}
PI_RULES = {
    "metafor": (
        "mu \u00b1 q \u00b7 \u221a(tau\u00b2 + SE\u00b2) with q the normal quantile for Wald CIs and the "
        "t(k\u22121) quantile for HKSJ CIs (metafor's rule; Riley, Higgins & Deeks 2011)"
    ),
    "higgins": (
        "mu \u00b1 t(k\u22122) \u00b7 \u221a(tau\u00b2 + SE\u00b2) (Higgins, Thompson & Spiegelhalter 2009), "
        "for k \u2265 3"
    ),
    "none": "",
}
CONTINUITY_TO = {
    "only0": "to each cell of a 2\u00d72 table that has a zero cell",
    "all": "to each cell of every 2\u00d72 table",
    "if0all": "to each cell of every 2\u00d72 table of an analysis with any zero cell",
    "none": "to no table (no continuity correction)",
}


# --------------------------------------------------------------------------- small helpers
def safe_http_url(value) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host and no whitespace, quotes, angle
    brackets, backslashes or control characters; else None (shown as text, never as a link)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    url = str(value).strip()
    if (
        not url
        or len(url) > 2048
        or any(ord(ch) < 33 or ord(ch) == 127 or ch in "\"'<>\\`" for ch in url)
    ):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _text(value, limit: int = _MAX_TEXT) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value is pd.NA:
        return ""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _blank(v) -> bool:
    return (
        v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""
    )


def _f(row, key) -> float:
    try:
        v = row.get(key, float("nan"))
        if type(v) is float:  # most values (NaN stays NaN)
            return v
        return float(v) if not _blank(v) else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _s(row, key) -> str:
    v = row.get(key, "") if row is not None else ""
    return "" if _blank(v) else str(v)


def _check_id(aid: str) -> str:
    if not _ID_OK.match(aid) or ".." in aid:
        raise ValueError(
            f"analysis_id {aid!r} is not a safe file name (letters, digits, '.', '_', '-'; "
            "no path separators or '..')"
        )
    return aid


def _fmt_cell(v) -> str:
    """Generic table cell: numbers with 4 significant digits, text as is (length-limited)."""
    return table_cell(v, digits=4, whole_below=1e9, text=_text)


# --------------------------------------------------------------------------- context
def _primary_rows(pa: pd.DataFrame, settings: Settings) -> tuple:
    """(primary row, fixed row of the same measure) of one analysis's pooled rows."""
    prim = None
    if len(pa) and "primary" in pa.columns:
        prim = _first_row(pa, [parse_bool(v) is True for v in pa["primary"]])
    if prim is None and len(pa):
        cand = pa[
            (pa["model"] == "random")
            & (pa["tau2_method"].astype(str) == settings.primary_tau2_method)
            & (pa["ci_method"].astype(str) == settings.primary_ci_method)
        ]
        if not len(cand):
            cand = pa[pa["model"] == "random"] if (pa["model"] == "random").any() else pa
        prim = cand.iloc[0]
    fixed = None
    if prim is not None:
        fixed = _first_row(
            pa, text_equals(pa["model"], "fixed") & text_equals(pa["measure"], str(prim["measure"]))
        )
    return prim, fixed


def _first_row(df: pd.DataFrame, mask):
    """The first row of ``df`` where ``mask`` (booleans, one per row) is true, else None."""
    hits = np.flatnonzero(np.asarray(mask, dtype=bool))
    return df.iloc[hits[0]] if len(hits) else None


def _effect_text(row, is_ratio, decimals, lo="ci_low", hi="ci_high") -> str:
    return format_effect(
        to_natural(_f(row, "estimate"), is_ratio),
        to_natural(_f(row, lo), is_ratio),
        to_natural(_f(row, hi), is_ratio),
        decimals,
    )


def _interval_text(row, is_ratio, decimals, lo, hi) -> str:
    a, b = _f(row, lo), _f(row, hi)
    if not (math.isfinite(a) and math.isfinite(b)):
        return ""
    return f"[{format_number(to_natural(a, is_ratio), decimals)}, {format_number(to_natural(b, is_ratio), decimals)}]"


def _summary_sentence(labels, prim, k, n_total, mname, is_ratio, decimals, lvl="95%") -> str:
    """One plain-language sentence (or two) about the primary result."""
    therapy, comparator = labels["therapy"], labels["comparator"]
    who = f"{k} trial{'s' if k != 1 else ''}" + (f" ({n_total:,} participants)" if n_total else "")
    if prim is None or k == 0:
        return f"No pooled result is available for {therapy} versus {comparator}."
    est = _f(prim, "estimate")
    if k == 1:
        return (
            f"Only one trial compared {therapy} with {comparator}, so nothing was pooled; "
            "its result is shown in the table below."
        )
    if not math.isfinite(est):
        return (
            f"In {who}, the pooled {mname.lower()} of {therapy} versus {comparator} could not be "
            f"estimated ({describe_status(_s(prim, 'status')) or 'see status'})."
        )
    null = 1.0 if is_ratio else 0.0
    e, lo, hi = (to_natural(_f(prim, c), is_ratio) for c in ("estimate", "ci_low", "ci_high"))
    sent = (
        f"In {who}, the pooled {mname.lower()} for {therapy} versus {comparator} was "
        f"{format_number(e, decimals)} ({lvl} CI {format_number(lo, decimals)} to {format_number(hi, decimals)})."
    )
    if math.isfinite(lo) and math.isfinite(hi):
        if lo > null or hi < null:
            above = lo > null
            side = favours_therapy_side(labels.get("higher_is_better"))
            if side is None:
                sent += f" The interval excludes no effect ({null:g}); the outcome was {'more' if above else 'less'} frequent or higher with {therapy}."
            else:
                favours = therapy if (side == "right") == above else comparator
                sent += f" The interval excludes no effect ({null:g}) and favours {favours}."
        else:
            sent += f" The interval includes no effect ({null:g}), so these trials are compatible with no difference."
    i2 = _f(prim, "I2")
    if math.isfinite(i2):
        level = "little" if i2 < 30 else ("moderate" if i2 < 60 else "substantial")
        sent += f" Between-trial heterogeneity was {level} (I\u00b2 = {i2:.0f}%)."
    pl, ph = _f(prim, "pi_low"), _f(prim, "pi_high")
    if math.isfinite(pl) and math.isfinite(ph):
        sent += (
            f" The effect in a new, similar trial is expected between {format_number(to_natural(pl, is_ratio), decimals)}"
            f" and {format_number(to_natural(ph, is_ratio), decimals)} ({lvl} prediction interval)."
        )
    if k < 5:
        sent += f" With only {k} trials the between-trial variance is poorly estimated; read the result with caution."
    return sent


def _study_rows(sa, ta, measure, is_ratio, decimals, kind):
    st = row_records(sa)
    if "measure" in sa.columns:  # the rows of the measure (as rows_where), filtered as dicts
        st = [r for r, hit in zip(st, text_equals(sa["measure"], str(measure))) if hit]
    by_id = {}
    by_src = {}
    if ta is not None:
        sources = "source_file" in ta.columns and "source_row" in ta.columns
        for r in row_records(ta):
            by_id.setdefault(str(r.get("study_id")), r)
            if sources:
                by_src[(str(r.get("source_file")), str(r.get("source_row")))] = r
    rows = []
    sources = "source_file" in sa.columns and "source_row" in sa.columns
    for r in st:
        tr = None
        if sources:
            tr = by_src.get((str(r.get("source_file")), str(r.get("source_row"))))
        if tr is None:
            tr = by_id.get(str(r.get("study_id")))

        def arm(col):
            v = (
                r.get(col)
                if col in r and not _blank(r.get(col))
                else (tr.get(col) if tr is not None else None)
            )
            return _fmt_cell(v)

        if kind == "binary":
            arms = [
                f"{arm('events_treat')}/{arm('n_treat')}",
                f"{arm('events_ctrl')}/{arm('n_ctrl')}",
            ]
        elif kind == "continuous":
            arms = [
                f"{arm('mean_treat')} ({arm('sd_treat')}), n = {arm('n_treat')}",
                f"{arm('mean_ctrl')} ({arm('sd_ctrl')}), n = {arm('n_ctrl')}",
            ]
        else:
            arms = []
        url_raw = None
        if tr is not None:
            for col in ("source_url", "source"):
                if col in tr and not _blank(tr.get(col)):
                    url_raw = tr.get(col)
                    break
        url = safe_http_url(url_raw)
        rows.append(
            {
                "study_id": _text(r.get("study_id")),
                "year": _fmt_cell(tr.get("year")) if tr is not None and "year" in tr else "",
                "arms": arms,
                "effect": format_effect(
                    to_natural(_f(r, "yi"), is_ratio),
                    to_natural(_f(r, "ci_low"), is_ratio),
                    to_natural(_f(r, "ci_high"), is_ratio),
                    decimals,
                ),
                "corrected": parse_bool(r.get("continuity_corrected")) is True,
                "weight_random": f"{_f(r, 'weight_random'):.1f}%"
                if math.isfinite(_f(r, "weight_random"))
                else "",
                "weight_fixed": f"{_f(r, 'weight_fixed'):.1f}%"
                if math.isfinite(_f(r, "weight_fixed"))
                else "",
                "source_url": url,
                "source_host": (urlsplit(url).hostname or url) if url else "",
                "source_text": "" if url else _text(url_raw, 500),
                "notes": _text(tr.get("notes"), 4000) if tr is not None and "notes" in tr else "",
                "where": (
                    f"{_text(tr.get('source_file'), 200)}:{_fmt_cell(tr.get('source_row'))}"
                    if tr is not None and "source_file" in tr
                    else ""
                ),
            }
        )
    return rows


#: The models of pooled.csv in words (sensitivity table).
_MODEL_NAMES = {
    "random": "random effects",
    "fixed": "fixed effect (IV)",
    "mh": "Mantel-Haenszel",
    "peto": "Peto",
}


def _sensitivity_rows(pa: pd.DataFrame, prim) -> list[dict]:
    """A row of the sensitivity table per pooled row of the analysis (``primary``: the primary
    result's row)."""
    rows, info = [], {}  # (measure, scale) -> measure_info, asked once per measure
    for name, r in zip(pa.index, row_records(pa)):
        m, sc = r.get("measure"), r.get("scale")
        key = (type(m), m, type(sc), sc)
        if key not in info:
            info[key] = measure_info(m, sc)
        row = _sensitivity_row(r, info[key][1])
        row["primary"] = prim is not None and name == prim.name
        rows.append(row)
    return rows


def _sensitivity_row(r: dict, is_ratio: bool) -> dict:
    """The sensitivity table's cells of one pooled row (``r``, a dict)."""
    e, lo, hi = (to_natural(_f(r, c), is_ratio) for c in ("estimate", "ci_low", "ci_high"))
    dec = 2 if is_ratio else choose_decimals([e, lo, hi], is_ratio)  # ratios: always 2
    p_df, stat, pval = _f(r, "df"), _f(r, "stat"), _f(r, "pval")
    tau2, i2 = _f(r, "tau2"), _f(r, "I2")
    return {
        "primary": False,
        "measure": _text(r.get("measure")),
        "model": _MODEL_NAMES.get(_s(r, "model"), _text(r.get("model"))),
        "tau2_method": _text(r.get("tau2_method")) if not _blank(r.get("tau2_method")) else "",
        "ci_method": CI_SHORT_NAMES.get(_s(r, "ci_method"), _text(r.get("ci_method"))),
        "k": _fmt_cell(r.get("k")),
        "effect": format_effect(e, lo, hi, dec),
        "pi": _interval_text(r, is_ratio, dec, "pi_low", "pi_high"),
        "tau2": f"{tau2:.4f}" if math.isfinite(tau2) else "",
        "I2": f"{i2:.0f}%" if math.isfinite(i2) else "",
        "test": (
            ("t" if math.isfinite(p_df) else "Z")
            + f" = {format_number(stat, 2)}"
            + (f", df = {p_df:.0f}" if math.isfinite(p_df) else "")
        )
        if math.isfinite(stat)
        else "",
        "p": format_p(pval).replace("P = ", "").replace("P ", "") if math.isfinite(pval) else "",
        "status": describe_status(_s(r, "status")) or "ok",
    }


def _group_by_measure(rows: list[dict]) -> list[dict]:
    """Sensitivity rows grouped by measure, in table order (primary measure first)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(r["measure"], []).append(r)
    return [
        {"measure": m, "name": f"{measure_info(m)[0]} ({m})", "rows": rs}
        for m, rs in groups.items()
    ]


def _sensitivity_ci(pa: pd.DataFrame, prim, settings: Settings):
    """(ci_low, ci_high) of the random-effects row with the primary tau2 estimator and the CI
    method of the leave-one-out rows (``sensitivity_ci_method``); the primary row's CI when there
    is none."""
    if prim is None:
        return None
    if {"model", "tau2_method", "ci_method", "measure"} <= set(pa.columns):
        row = _first_row(
            pa,
            text_equals(pa["model"], "random")
            & text_equals(pa["tau2_method"], settings.primary_tau2_method)
            & text_equals(pa["ci_method"], settings.sensitivity_ci)
            & text_equals(pa["measure"], str(prim["measure"])),
        )
        if row is not None:
            return _f(row, "ci_low"), _f(row, "ci_high")
    return _f(prim, "ci_low"), _f(prim, "ci_high")


def _exploration_rows(exploration: dict) -> dict:
    """Each exploration table split by analysis id: {key: {analysis_id: rows}}."""
    out = {}
    for key, _ in EXPLORATION_SECTIONS:
        df = exploration.get(key)
        if isinstance(df, pd.DataFrame) and "analysis_id" in df.columns:
            out[key] = _split_by_analysis(df)
    return out


def exploration_methods(settings) -> str:
    """Methods text of the exploration analyses (subgroups, meta-regression, sensitivity, bias);
    ``settings``: a :class:`~trialmeta.inputs.settings.Settings` or a config dict."""
    settings = Settings.coerce(settings)
    tau2 = settings.primary_tau2_method
    subs = [str(m) for m in settings.subgroups]
    mods = [str(m) for m in settings.metaregression]
    min_k = settings.small_study_min_k
    parts = []
    sub_ci = CI_SHORT_NAMES["wald" if settings.subgroup_common_tau2 else settings.primary_ci_method]
    if subs:
        parts.append(
            f"Subgroup analyses by {', '.join(subs)}: random-effects pooling within each level "
            + (
                "with one tau\u00b2 shared by all levels"
                if settings.subgroup_common_tau2
                else "with a separate tau\u00b2 per level"
            )
            + f" ({tau2}, {sub_ci}-type CIs) and the test for subgroup differences (Q between subgroups, "
            "chi\u00b2 with levels \u2212 1 df); levels with one trial are shown but not pooled."
        )
    if mods:
        test = (
            "Knapp-Hartung t and F tests"
            if settings.metaregression_test == "knha"
            else "Wald z tests and the chi\u00b2 omnibus test"
        )
        parts.append(
            f"Mixed-effects meta-regression on {', '.join(mods)} (one moderator per model, "
            f"{settings.metaregression_estimator} residual tau\u00b2, {test}; R\u00b2 as the "
            "proportional reduction of tau\u00b2)."
        )
    parts.append(
        "Sensitivity: leave-one-out and cumulative (by publication year) random-effects analyses "
        f"with {CI_SHORT_NAMES[settings.sensitivity_ci]}-type CIs, influence diagnostics as metafor's influence() (Viechtbauer & Cheung "
        "2010), and the conclusion of every tau\u00b2 estimator \u00d7 CI method combination side by side."
    )
    parts.append(
        f"Small-study effects only for analyses with at least {min_k} trials (Cochrane Handbook "
        "13.3.5.4): contour-enhanced funnel plot (Peters et al. 2008), Egger's regression test in its "
        "random-effects and classical forms (Egger et al. 1997), Begg & Mazumdar's rank correlation "
        "(1994) and trim-and-fill with the L0 estimator (Duval & Tweedie 2000). Binary analyses with "
        "zero cells are also pooled with Mantel-Haenszel (no correction), Peto and the risk difference."
    )
    return " ".join(parts)


def _present(pooled: pd.DataFrame, col: str) -> list[str]:
    """The distinct non-blank values of ``col`` in the pooled table, in table order."""
    if not len(pooled) or col not in pooled:
        return []
    values = pooled[col].astype(str).unique().tolist()  # in table order
    return [x for x in values if x and x not in ("nan", "None")]


def _measure_names(measures: list) -> str:
    """ "<first> (primary), with <rest> as sensitivity measures" in words."""
    vals = [str(m) for m in measures]
    if not vals:
        return ""
    first = measure_info(vals[0])[0]
    rest = [measure_info(v)[0] for v in vals[1:]]
    return f"{first} (primary)" + (
        f", with {', '.join(rest)} as sensitivity measures" if rest else ""
    )


def _effect_size_methods(settings: Settings) -> str:
    """Methods paragraph 1: what one analysis is, the effect sizes (metafor's escalc conventions,
    Hedges' g) and the continuity correction."""
    meas = settings.measures.as_dict()
    cont = settings.continuity
    group_by = ", ".join(str(c) for c in settings.group_by)
    p1 = f"Each analysis pools the trials that share the same {group_by}." if group_by else ""
    eff = [
        f"{kind} outcomes as {_measure_names(meas.get(kind, []))}"
        for kind in ("binary", "continuous")
        if meas.get(kind)
    ]
    if eff:
        p1 += (
            " Effect sizes were computed per trial following metafor's escalc conventions: "
            + "; ".join(eff)
            + ". Ratio measures were analysed on the log scale and are reported back-transformed;"
            " the standardized mean difference is Hedges' g with the exact small-sample correction (Hedges 1981)."
            " Generic rows contribute their reported estimate and SE (ratios logged; SE from a 95% CI as"
            " (upper \u2212 lower)/(2 \u00d7 1.959964))."
        )
    add = cont.add
    to = cont.to
    if to != "none":
        p1 += (
            f" Zero cells: {add:g} was added {CONTINUITY_TO.get(to, to)}; double-zero trials were "
            f"{'excluded' if cont.drop00 else 'kept'}."
        )
    else:
        p1 += " No continuity correction was applied."
    return p1.strip()


def _model_methods(settings: Settings, pooled: pd.DataFrame) -> str | None:
    """Methods paragraph 2: the primary random-effects model, the prediction interval, the
    sensitivity models and the heterogeneity statistics (None without a random-effects model)."""
    lvl = level_text(settings)
    models = (
        pooled["model"].astype(str).unique().tolist() if len(pooled) and "model" in pooled else []
    )
    tau2 = [
        m for m in map(str, settings.tau2_methods) if m in _present(pooled, "tau2_method")
    ] or _present(pooled, "tau2_method")
    cis = [
        m for m in map(str, settings.ci_methods) if m in _present(pooled, "ci_method")
    ] or _present(pooled, "ci_method")
    if not (tau2 or "random" in models):
        return None
    t0 = tau2[0] if tau2 else "REML"
    c0 = cis[0] if cis else "wald"
    p2 = (
        f"Primary analysis: random-effects inverse-variance model with the between-trial variance tau\u00b2 "
        f"estimated by {TAU2_NAMES.get(t0, t0)} and a {lvl} CI of {CI_NAMES.get(c0, c0)} type."
    )
    rule = settings.prediction_interval
    if PI_RULES.get(rule):
        p2 += f" The {lvl} prediction interval is {PI_RULES[rule]}."
    sens = []
    other_tau = [TAU2_NAMES.get(m, m) for m in tau2[1:]]
    other_ci = [CI_NAMES.get(m, m) for m in cis[1:]]
    if other_tau:
        sens.append("the other tau\u00b2 estimators (" + "; ".join(other_tau) + ")")
    if other_ci:
        sens.append("the " + " and ".join(other_ci) + " CI")
    if "fixed" in models:
        sens.append("the fixed (common) effect inverse-variance model")
    if "mh" in models:
        sens.append(
            "Mantel-Haenszel pooling of binary outcomes (OR, RR, RD; Mantel & Haenszel 1959, "
            "Greenland & Robins 1985, Robins, Breslow & Greenland 1986)"
        )
    if "peto" in models:
        sens.append("the Peto odds ratio (Yusuf et al. 1985)")
    if sens:
        p2 += " Sensitivity analyses: " + "; ".join(sens) + "."
    p2 += (
        " Heterogeneity: Cochran's Q with its chi\u00b2 test, I\u00b2 and H\u00b2 (Higgins & Thompson 2002),"
        " and the Q-profile confidence interval of tau\u00b2 (Viechtbauer 2007)."
    )
    return p2


def methods_paragraphs(settings, pooled: pd.DataFrame, exploration: bool = False) -> list[str]:
    """Methods text generated from the settings and from what the pooled table actually holds
    (plus the exploration methods when the report has the exploration tables)."""
    settings = Settings.coerce(settings)
    out = [_effect_size_methods(settings)]
    models = _model_methods(settings, pooled)
    if models is not None:
        out.append(models)
    ms = settings.min_studies
    p3 = "Analyses with one trial are reported but not pooled." + (
        f" An analysis needs at least {ms} trial(s) to be included."
        if ms not in (None, "", 1)
        else ""
    )
    p3 += (
        " All numbers were computed by trialmeta, whose results are tested against R's metafor 3.8-1 "
        "(Viechtbauer 2010) at a relative tolerance of 1e-10 (closed form) and 1e-8 (iterative estimators)."
    )
    if exploration:
        out.append(exploration_methods(settings))
    out += single_arm_methods(settings, pooled)  # uncontrolled evidence (issue 17)
    out.append(p3)
    return out


def _provenance_rows(prov, prefix="") -> list[tuple[str, str]]:
    rows = []
    if isinstance(prov, dict):
        for key in sorted(prov, key=str):
            rows += _provenance_rows(prov[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(prov, (list, tuple)):
        if all(not isinstance(x, (dict, list, tuple)) for x in prov):
            rows.append((prefix, " ".join(_text(x, 2000) for x in prov)))
        else:
            for i, x in enumerate(prov):
                rows += _provenance_rows(x, f"{prefix}[{i}]")
    else:
        rows.append((prefix, _text(prov, 2000)))
    return rows


# --------------------------------------------------------------------------- main entry point
def _environment(bytecode_dir=None) -> jinja2.Environment:
    """The report's Jinja2 environment. ``bytecode_dir``: where compiled templates are kept
    between runs (Jinja2's ``FileSystemBytecodeCache``, keyed by each template's source): a
    template is compiled again only when it changed, ~0.15 s of every report job (issue 16)."""
    cache = None
    if bytecode_dir is not None:
        os.makedirs(bytecode_dir, exist_ok=True)
        cache = jinja2.FileSystemBytecodeCache(str(bytecode_dir))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        bytecode_cache=cache,
        autoescape=True,  # every {{ }} is HTML-escaped, in .j2 files too
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.tests["bidi_neutral"] = bidi_neutral
    env.globals["bdi"] = bidi_isolate
    env.globals["cells"] = table_cells
    env.globals["rows_html"] = table_rows
    return env


#: Digits, the number punctuation trialmeta writes and spaces: text that cannot reorder a page.
_BIDI_NEUTRAL = re.compile(r"[0-9.,:;%+\-\u2212\u2013\u00d7\[\]() ]*")


def bidi_neutral(value) -> bool:
    """True for a cell such as ``−0.78 [−4.33, 2.78]`` or ``92%``: no letters, no bidi controls,
    so the report writes it without a ``<bdi>`` (issue 16: 15 kB of every analysis page)."""
    return _BIDI_NEUTRAL.fullmatch(str(value)) is not None


def _isolate(value) -> markupsafe.Markup:
    text = markupsafe.escape(value)
    return text if bidi_neutral(value) else markupsafe.Markup(f"<bdi>{text}</bdi>")


_isolate_text = functools.lru_cache(maxsize=1 << 16)(_isolate)  # cell texts repeat


def bidi_isolate(value) -> markupsafe.Markup:
    """``value`` HTML-escaped (as ``{{ value }}`` with autoescape) and, unless it is
    :func:`bidi_neutral`, isolated in ``<bdi>``: the templates' ``bdi(value)``."""
    return _isolate_text(value) if type(value) is str else _isolate(value)


#: The characters of :data:`_BIDI_NEUTRAL`: a text made of them alone needs neither escaping
#: nor ``<bdi>`` (``text.strip(_NEUTRAL_CHARS)`` is empty).
_NEUTRAL_CHARS = "0123456789.,:;%+-\u2212\u2013\u00d7[]() "


def table_cells(values) -> markupsafe.Markup:
    """``<td>bdi(value)</td>`` for each value of a table row: the templates' ``cells(row)`` (a
    Jinja loop per cell cost a third of the rendering of a 1,000-analysis report). Most cells are
    numbers as text, written as they are (issue 16: two million cells of a 1,000-analysis report)."""
    cells = [
        v if type(v) is str and not v.strip(_NEUTRAL_CHARS) else bidi_isolate(v) for v in values
    ]
    return markupsafe.Markup("<td>" + "</td><td>".join(cells) + "</td>" if cells else "")


def table_rows(rows) -> markupsafe.Markup:
    """``<tr>cells(row)</tr>`` and a line end for each row: the templates' ``rows_html(rows)``
    (a Jinja loop per row cost more than the cells)."""
    return markupsafe.Markup("".join(f"<tr>{table_cells(r)}</tr>\n" for r in rows))


def _outcome_kind(labels: dict, sa: pd.DataFrame) -> str:
    kind = (labels.get("outcome_type") or "").lower()
    if kind in ("binary", "continuous"):
        return kind
    return "generic"


#: The fields of an analysis that the index page shows (what the page cache keeps of an entry).
INDEX_FIELDS = (
    "id",
    "href",
    "key",
    "therapy",
    "comparator",
    "condition",
    "outcome",
    "effect",
    "k",
    "measure_name",
    "model",
    "pi",
    "I2",
    "tau2",
    "status",
    "status_ok",
    "status_short",
    "summary",
    "warnings",
    "estimator_flag",
    "small_study_ran",
)


def _index_fields(entry: dict) -> dict:
    out = {f: entry[f] for f in INDEX_FIELDS}
    out["subgroup_entries"] = [
        {"sentences": list(e["sentences"][:1]), "flag": bool(e["flag"])}
        for e in entry["subgroup_entries"]
    ]
    return out


def _rows_digest(df: pd.DataFrame | None) -> dict[str, str]:
    """analysis_id -> digest of that analysis's rows of ``df`` (values and column names)."""
    if df is None or not len(df) or "analysis_id" not in df.columns:
        return {}
    row_hash = pd.util.hash_pandas_object(df, index=False).to_numpy()
    head = json.dumps([str(c) for c in df.columns]).encode()
    codes, uniques = pd.factorize(df["analysis_id"].astype(str), sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return {
        str(uniques[codes[g[0]]]): hashlib.sha256(head + row_hash[g].tobytes()).hexdigest()
        for g in np.split(order, bounds)
    }


def _package_digest() -> str:
    """Digest of the trialmeta code and templates (a changed template re-renders every page)."""
    from trialmeta.pipeline.plan import code_digest

    return code_digest()


# --------------------------------------------------------------------------- the pages
def _group_positions(ids: pd.Series) -> dict[str, np.ndarray]:
    """value -> the positions of its rows in ``ids`` (in table order); values in order of first
    appearance, missing values left out (as ``groupby(ids, sort=False)``)."""
    codes, uniques = pd.factorize(ids, sort=False)
    order = np.argsort(codes, kind="stable")
    order = order[codes[order] >= 0]
    if not len(order):
        return {}
    # the groups' bounds in ``order``, each a slice of it (a view, as np.split gives)
    starts = [0, *(np.flatnonzero(np.diff(codes[order])) + 1).tolist()]
    ends = [*starts[1:], len(order)]
    names = [str(u) for u in uniques.tolist()]
    firsts = codes[order[starts]].tolist()
    return {names[c]: order[a:b] for c, a, b in zip(firsts, starts, ends)}


def _python_text(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its text columns and column names as Python strings (object dtype: the same
    values and missing values): cutting and reading Arrow-backed columns a few rows at a time
    cost more than the rest of a page (issue 16)."""
    text = [c for c, t in df.dtypes.items() if isinstance(t, pd.StringDtype)]
    if not df.columns.is_unique:
        out = df.astype(dict.fromkeys(text, object))
    else:  # column by column: half the time of astype (a new frame; copy-on-write)
        out = df.copy(deep=False)
        for c in text:
            out[c] = pd.Series(df[c].to_numpy(dtype=object), index=df.index, dtype=object)
    out.columns = pd.Index(list(df.columns), dtype=object)
    return out


#: Analyses whose rows are cut and converted (:func:`_python_text`) one by one; beyond, in
#: batches (a rerun renders a few pages, a clean build all of them).
_ONE_BY_ONE = 20
#: Analyses whose rows are cut and converted together, in the order of their ids (the pages'
#: order): one batch of each table is held at a time, not the whole table converted (issue 16:
#: that and every analysis's rows kept made the report's memory grow by 0.35 MB per analysis).
_BATCH = 64


def _cut_rows(df: pd.DataFrame, positions: dict, ids: list[str]) -> tuple[pd.DataFrame, dict]:
    """(the rows of ``ids`` in ``df`` converted together by :func:`_python_text`, analysis_id ->
    its rows of them, a slice); ``positions``: analysis_id -> row positions in ``df``."""
    pos = [positions[a] for a in ids]
    rows = _python_text(df.take(np.concatenate(pos) if pos else []))
    ends = np.cumsum([len(p) for p in pos]).tolist()
    # a slice of the batch per analysis (copy-on-write: a change to one copies it)
    return rows, {a: rows.iloc[e - len(p) : e] for a, p, e in zip(ids, pos, ends)}


class _RowsByAnalysis(Mapping):
    """analysis_id -> that analysis's rows of ``df`` (in table order, :func:`_python_text`), cut
    on first use, alone for the first :data:`_ONE_BY_ONE` analyses asked for (a rerun that renders
    one page of a 1,000-analysis report cuts one analysis's rows, not all), then with the next
    analyses by id (:data:`_BATCH`); only the last cut is kept."""

    def __init__(self, df: pd.DataFrame):
        has_ids = len(df) and "analysis_id" in df.columns
        self.positions = _group_positions(df["analysis_id"].astype(str)) if has_ids else {}
        self._df, self._cut, self._batch, self._asked = df, {}, df.iloc[0:0], 0
        self._order: list[str] | None = None  # the ids, sorted (the pages' order)
        self._rank: dict[str, int] = {}  # analysis_id -> its place in _order

    def __getitem__(self, aid: str) -> pd.DataFrame:
        if aid not in self._cut:
            self._batch, self._cut = _cut_rows(self._df, self.positions, self._batch_ids(aid))
        return self._cut[aid]

    def _batch_ids(self, aid: str) -> list[str]:
        """``aid`` and the analyses cut with it (KeyError for an analysis without rows)."""
        if aid not in self.positions:
            raise KeyError(aid)
        self._asked += 1
        if self._asked <= _ONE_BY_ONE:
            return [aid]
        if self._order is None:
            self._order = sorted(self.positions)
            self._rank = {a: i for i, a in enumerate(self._order)}
        start = self._rank[aid]
        return self._order[start : start + _BATCH]

    def batch(self, aid: str) -> tuple[list[str], pd.DataFrame]:
        """(``aid`` and the analyses cut with it, their rows in one frame); KeyError without."""
        self[aid]
        return list(self._cut), self._batch

    def __contains__(self, aid) -> bool:
        return aid in self.positions

    def __iter__(self):
        return iter(self.positions)

    def __len__(self) -> int:
        return len(self.positions)


def _split_by_analysis(df: pd.DataFrame) -> _RowsByAnalysis:
    """analysis_id -> that analysis's rows of ``df`` (in table order), cut when asked for."""
    return _RowsByAnalysis(df)


class _TableRow:
    """Row ``i`` of ``df``, read one value at a time (``df.iloc[i]`` would convert every column
    of the row: 0.1 CPU-s over the analyses of a 1,000-analysis report)."""

    def __init__(self, df: pd.DataFrame, i: int):
        self.df, self.i = df, i

    def get(self, column, default=None):
        return self.df[column].iat[self.i] if column in self.df.columns else default


class ReportTables:
    """The result tables of one report, split by analysis.

    ``ids``: every analysis of the pooled or the studies table, sorted, each checked as a safe
    file name. A warning belongs to the analysis whose trial row it names (``file``/``row`` =
    ``source_file``/``source_row``, :meth:`warnings_of`); the others are ``general_warnings``.
    """

    def __init__(self, pooled, studies, trials, exploration: dict | None, warnings):
        self.pooled = (
            pooled
            if pooled is not None
            else pd.DataFrame(columns=["analysis_id", "measure", "model"])
        )
        self.studies = (
            studies
            if studies is not None
            else pd.DataFrame(columns=["analysis_id", "study_id", "measure"])
        )
        self.trials = trials if trials is not None else pd.DataFrame(columns=["analysis_id"])
        self.exploration = exploration or {}
        self.ids = sorted(  # of the distinct values (iterating an Arrow column is slow)
            {str(a) for a in self.pooled.get("analysis_id", pd.Series(dtype=object)).unique()}
            | {str(a) for a in self.studies.get("analysis_id", pd.Series(dtype=object)).unique()}
        )
        for aid in self.ids:
            _check_id(aid)
        self.pooled_by = _split_by_analysis(self.pooled)
        self.studies_by = _split_by_analysis(self.studies)
        self.trials_by = _split_by_analysis(self.trials)
        self.exploration_by = _exploration_rows(self.exploration)
        self._no_rows = pd.DataFrame(columns=["analysis_id"])  # an exploration table without rows
        self._estimators, self._estimator_calls = None, 0  # estimator_table of a batch, split
        self._positions = {}  # exploration table name -> analysis_id -> row positions
        # the interaction tables split by analysis (interactions_section.interaction_index)
        self.interaction_rows = interaction_index(self.exploration)
        self._warnings_by, self.general_warnings = self._assign_warnings(warnings or [])

    def _assign_warnings(self, warnings) -> tuple[dict, list[str]]:
        where, t = {}, self.trials
        if "source_file" in t.columns and "source_row" in t.columns:
            files, rows = t["source_file"].astype(str).tolist(), t["source_row"].tolist()
            for aid, pos in self.trials_by.positions.items():  # analysis by analysis, as before
                for i in pos:
                    r_ = rows[i]
                    where[(files[i], str(int(r_)) if not _blank(r_) else "")] = aid
        by_analysis, general = defaultdict(list), []
        for w in warnings:
            row = getattr(w, "row", None)
            key = (str(getattr(w, "file", "")), str(row) if row is not None else "")
            if key in where:
                by_analysis[where[key]].append(str(w))
            else:
                general.append(str(w))
        return by_analysis, sorted(dict.fromkeys(general))

    def has(self, aid: str) -> bool:
        return aid in self.pooled_by or aid in self.studies_by

    def rows(self, aid: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
        """(pooled rows, studies rows, trial rows or None) of one analysis."""
        return (
            self.pooled_by.get(aid, self.pooled.iloc[0:0]),
            self.studies_by.get(aid, self.studies.iloc[0:0]),
            self.trials_by.get(aid),
        )

    def first_row(self, name: str, aid: str) -> dict | None:
        """The first row of ``aid`` in the exploration table ``name``, as a dict (None when
        absent); the table is split once, not filtered once per page."""
        if name not in self._positions:
            df = self.exploration.get(name)
            ok = isinstance(df, pd.DataFrame)
            self._positions[name] = _split_by_analysis(df).positions if ok else {}
        pos = self._positions[name].get(aid)
        return None if pos is None else self.exploration[name].iloc[pos[0]].to_dict()

    def first_trial(self, aid: str):
        """The analysis's first trial row (``.get(column, default)`` gives its values, as the
        row's Series would), or {} when it has none."""
        pos = self.trials_by.positions.get(aid)
        return _TableRow(self.trials, int(pos[0])) if pos is not None else {}

    def warnings_of(self, aid: str) -> list[str]:
        return sorted(dict.fromkeys(self._warnings_by.get(aid, [])))

    def exploration_of(self, aid: str) -> dict:
        """The analysis's rows of each exploration table (:data:`EXPLORATION_SECTIONS`)."""
        return {
            key: rows[aid] if aid in rows else self._no_rows
            for key, rows in self.exploration_by.items()
        }

    def estimators_of(self, aid: str) -> pd.DataFrame:
        """The analysis's rows of the estimator x CI method disagreement table
        (:func:`~trialmeta.stats.sensitivity.estimator_disagreement`, made for a batch of analyses
        at a time: :meth:`_RowsByAnalysis.batch`)."""
        self._estimator_calls += 1
        if self._estimator_calls <= _ONE_BY_ONE or aid not in self.pooled_by:
            return estimator_table(self.rows(aid)[0])  # a rerun renders a few pages
        if self._estimators is None or aid not in self._estimators:  # many pages: by batch
            ids, rows = self.pooled_by.batch(aid)
            table = estimator_table(rows)
            positions = _group_positions(table["analysis_id"].astype(str))
            empty = table.iloc[0:0]
            self._estimators = {a: empty for a in ids}
            self._estimators.update(_cut_rows(table, positions, list(positions))[1])
        return self._estimators[aid]


class AnalysisPage:
    """The page of one analysis (``analyses/<analysis_id>.html``).

    Holds the analysis's rows, labels and primary result (the pooled row flagged ``primary``, or
    the random-effects row with the first configured tau2 estimator and CI method) and builds the
    context of ``analysis.html.j2`` part by part: labels, the primary result, its status, the
    study and sensitivity tables, the figures and the exploration sections.
    """

    def __init__(
        self, aid: str, tables: ReportTables, settings, figure_names: list[str], urls=None
    ):
        self.aid, self.settings, self.figure_names = aid, settings, figure_names
        self.tables = tables
        # figure name -> its address from the report's root (figure_urls); default figures/<name>
        self.urls = urls or {}
        self.pooled, self.studies, self.trials = tables.rows(aid)
        self.warnings = tables.warnings_of(aid)
        self.exploration_tables = tables.exploration_of(aid)
        self.interactions = interaction_entries(
            aid, tables.exploration, figure_names, index=tables.interaction_rows
        )
        self.rob = rob_section(aid, tables.exploration, figure_names)  # None: no RoB judgements
        # labels from the trial rows; without them, from the key columns of the result rows
        pa, sa = self.pooled, self.studies
        self.labels = analysis_labels(
            self.trials if self.trials is not None else (pa if len(pa) else sa)
        )
        if not self.labels.get("outcome_type") and "outcome_type" in pa.columns and len(pa):
            self.labels["outcome_type"] = str(pa["outcome_type"].iloc[0])
        self.primary, self.fixed = _primary_rows(pa, settings)
        prim = self.primary
        self.measure = (
            str(prim["measure"])
            if prim is not None
            else (str(sa["measure"].iloc[0]) if len(sa) and "measure" in sa else "")
        )
        self.scale = prim.get("scale") if prim is not None else None
        self.measure_name, self.is_ratio, self.null = measure_info(self.measure, self.scale)
        self.shown = rows_where(sa, "measure", self.measure) if "measure" in sa.columns else sa
        self.k = len(self.shown)
        self.single = self.k == 1
        self.decimals = self._decimals()

    def _decimals(self) -> int:
        """Decimals of every effect on the page (from the primary CI and the studies' CI lows)."""
        vals = []
        if self.primary is not None:
            vals = [
                to_natural(_f(self.primary, c), self.is_ratio)
                for c in ("estimate", "ci_low", "ci_high")
            ]
        lows = pd.to_numeric(self.shown.get("ci_low", pd.Series(dtype=float)), errors="coerce")
        return choose_decimals(vals + [to_natural(x, self.is_ratio) for x in lows], self.is_ratio)

    def _participants(self) -> int:
        n_total = 0
        for col in ("n_treat", "n_ctrl"):
            if col in self.shown.columns:
                n_total += int(
                    np.nansum(pd.to_numeric(self.shown[col], errors="coerce").to_numpy(float))
                )
        return n_total

    def _key(self) -> list[list[str]]:
        """The analysis's group_by values (:func:`~trialmeta.report.index_page.key_values`)."""
        group_by = self.settings.group_by
        frames = [f for f in (self.pooled, self.studies, self.trials) if f is not None and len(f)]
        full = [f for f in frames if all(c in f.columns for c in group_by)]
        return key_values((full or frames or [None])[0], group_by)

    def label_fields(self) -> dict:
        lab = self.labels
        return {
            "id": self.aid,
            "href": f"analyses/{self.aid}.html",
            "key": self._key(),
            "therapy": _text(lab["therapy"]),
            "comparator": _text(lab["comparator"]),
            "condition": _text(lab["condition"]),
            "outcome": _text(lab["outcome"]),
            "outcome_type": _text(lab["outcome_type"]),
            "higher_is_better": {True: "yes", False: "no (adverse outcome)", None: "not stated"}[
                lab["higher_is_better"]
            ],
        }

    def _effect(self) -> str:
        if self.single:
            first = self.shown.iloc[0]
            return "single study: " + format_effect(
                *(to_natural(_f(first, c), self.is_ratio) for c in ("yi", "ci_low", "ci_high")),
                self.decimals,
            )
        return (
            _effect_text(self.primary, self.is_ratio, self.decimals)
            if self.primary is not None
            else "not estimable"
        )

    def result_fields(self) -> dict:
        """The primary result: effect and CI, prediction interval, I2, tau2 and the model."""
        prim, none = self.primary, self.single or self.primary is None
        ci = _s(prim, "ci_method")
        return {
            "k": self.k,
            "measure": self.measure,
            "measure_name": self.measure_name,
            "scale_note": "ratio, shown in natural units (log scale for pooling)"
            if self.is_ratio
            else "difference",
            "effect": self._effect(),
            "pi": ""
            if none
            else _interval_text(prim, self.is_ratio, self.decimals, "pi_low", "pi_high"),
            "I2": "" if (none or not math.isfinite(_f(prim, "I2"))) else f"{_f(prim, 'I2'):.0f}%",
            "tau2": ""
            if (none or not math.isfinite(_f(prim, "tau2")))
            else f"{_f(prim, 'tau2'):.4f}",
            "model": ""
            if prim is None
            else " ".join(x for x in (_s(prim, "tau2_method"), CI_SHORT_NAMES.get(ci, ci)) if x),
        }

    def status_fields(self) -> dict:
        """The primary model's status in words (:func:`~trialmeta.plots.labels.describe_status`)."""
        if self.single:
            return {
                "status": "single study, not pooled",
                "status_short": "single study",
                "status_ok": False,
            }
        if self.primary is None:
            return {"status": "no pooled result", "status_short": "no result", "status_ok": False}
        status = _s(self.primary, "status")
        short = describe_status(status, short=True)
        return {
            "status": describe_status(status) or "ok",
            "status_short": short or "ok",
            "status_ok": not short,
        }

    def url(self, name: str | None) -> str | None:
        """Where figure ``name`` is, from the report's root (None stays None)."""
        return None if name is None else self.urls.get(name, f"figures/{name}")

    def figure_fields(self) -> dict:
        """The forest plot (``<id>.svg``/``.png``: their addresses from the report's root, the
        SVG, else the PNG, shown) and the other figures of the analysis."""
        forest = f"{self.aid}.svg" if f"{self.aid}.svg" in self.figure_names else None
        forest_png = f"{self.aid}.png" if f"{self.aid}.png" in self.figure_names else None
        return {
            "forest_svg": self.url(forest or forest_png),
            "forest_png": self.url(forest_png) if forest else None,
            "figures": [n for n in self.figure_names if n not in (forest, forest_png)],
        }

    def exploration_section(self) -> dict:
        return exploration_context(
            self.aid,
            self.measure,
            self.scale,
            self.k,
            self.exploration_tables,
            {n: self.url(n) for n in self.figure_names},
            self.settings,
            self.trials,
            _sensitivity_ci(self.pooled, self.primary, self.settings),
        )

    def context(self) -> dict:
        """The template context ``a`` of the page."""
        kind = _outcome_kind(self.labels, self.studies)
        entry = {
            **self.label_fields(),
            **self.result_fields(),
            **self.status_fields(),
            "warnings": self.warnings,
            "summary": _summary_sentence(
                self.labels,
                self.primary,
                self.k,
                self._participants(),
                self.measure_name,
                self.is_ratio,
                self.decimals,
                level_text(self.settings),
            ),
            "studies": _study_rows(
                self.studies, self.trials, self.measure, self.is_ratio, self.decimals, kind
            ),
            "kind": kind,
            "sensitivity": _group_by_measure(_sensitivity_rows(self.pooled, self.primary)),
            **self.figure_fields(),
            "exploration": self.exploration_section(),
            "interactions": self.interactions,
            "estimators": estimator_summary(
                self.pooled, self.measure, self.tables.estimators_of(self.aid)
            ),
            "rob": self.rob,
            "null": f"{self.null:g}",
        }
        if is_single_arm(self.labels.get("outcome_type")):  # uncontrolled evidence (issue 17)
            page = {**entry, "shown": self.shown, "outcome_type": self.labels["outcome_type"]}
            entry.update(single_arm_overrides(page, self.pooled, self.settings))
        entry["subgroup_entries"] = entry["exploration"]["subgroups"]["entries"]
        entry["estimator_flag"] = any(e["flag"] and e["primary"] for e in entry["estimators"])
        entry["small_study_ran"] = bool(entry["exploration"]["small_study"]["entries"])
        return entry


#: Fields of the shared template context that analysis pages do not show (index only), or
#: show only for their own analysis (crosscheck: checked, flags[analysis_id]).
_NOT_ON_ANALYSIS_PAGES = ("crosscheck", "biomarker_questions", "changes_page")


class _PageCache:
    """Analysis pages from a previous build (:mod:`trialmeta.pipeline.render_cache`), keyed by a
    digest of everything a page shows: its rows of every table, its warnings and figures, the
    settings, the code and the shared methods text. Without ``cache_dir`` nothing is cached."""

    def __init__(self, cache_dir, settings, common: dict, tables: ReportTables, fig_names: dict):
        self.cache_dir, self.keys = cache_dir, {}
        if cache_dir is None:
            return
        # what only the index shows stays out of the key, and the cross-check enters a page only
        # as its own line (checked? flagged how?): a one-row edit elsewhere must not re-render
        # every page (issue 16: 60 s of a 1,000-analysis edit)
        shared = {k: v for k, v in common.items() if k not in _NOT_ON_ANALYSIS_PAGES}
        check = common.get("crosscheck") or {}
        checked, flags = set(check.get("checked") or ()), check.get("flags") or {}
        base = json.dumps(
            [settings.to_config(), shared, _package_digest()], sort_keys=True, default=str
        )
        digests = [
            _rows_digest(df)
            for df in (tables.pooled, tables.studies, tables.trials, *tables.exploration.values())
        ]
        for aid in tables.ids:
            parts = [
                base,
                json.dumps([aid in checked, flags.get(aid)], default=str),
                *(d.get(aid, "") for d in digests),
                *tables.warnings_of(aid),
                *fig_names[aid],
            ]
            self.keys[aid] = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    def restore(self, aid: str, out_dir: Path) -> dict | None:
        """Link the cached page of ``aid`` into ``out_dir``; its index fields, or None on a miss."""
        if aid not in self.keys:
            return None
        hit = render_cache.entry_dir(self.cache_dir, aid, self.keys[aid])
        if not hit.is_dir():
            return None
        replace_with_link(hit / "page.html", out_dir / "analyses" / f"{aid}.html")
        return json.loads((hit / "index.json").read_text(encoding="utf-8"))

    def store(self, aid: str, html: Path, entry: dict, out_dir: Path) -> None:
        if aid not in self.keys:
            return
        index_json = out_dir / f".{aid}.index.json"
        atomic_write_bytes(index_json, json.dumps(entry, sort_keys=True).encode("utf-8"))
        render_cache.store(
            self.cache_dir, aid, self.keys[aid], {"page.html": html, "index.json": index_json}
        )
        index_json.unlink()

    def prune(self) -> None:
        if self.keys:
            render_cache.prune(self.cache_dir, self.keys)


class _PageWriter:
    """Renders analysis pages into ``out_dir/analyses`` (``figures``: figure names per analysis
    and their addresses, :func:`_link_figures`; ``single``: the single-arm sections)."""

    def __init__(self, env, common, tables, settings, figures, single, out_dir: Path):
        self.template = env.get_template("analysis.html.j2")
        self.common, self.tables, self.settings, self.single = common, tables, settings, single
        (self.fig_names, self.fig_urls), self.out_dir = figures, out_dir
        (out_dir / "analyses").mkdir(parents=True, exist_ok=True)

    def page(self, aid: str) -> tuple[bytes, dict]:
        """(the page of ``aid``, its index fields)."""
        names = self.fig_names[aid]
        context = AnalysisPage(aid, self.tables, self.settings, names, self.fig_urls).context()
        context["single_arm_section"] = self.single.get(aid)  # issue 17
        context["few_trials"] = few_trials_panel(self.tables, aid, context, names, self.settings)
        html = self.template.render(a=context, root="../", **self.common).encode("utf-8")
        return html, _index_fields(context)

    def render(self, aids: list[str], cache: _PageCache) -> list[tuple[str, dict]]:
        """Write (and cache) the pages of ``aids``: (analysis_id, its index fields) of each."""
        done = []
        for aid in one_analysis_at_a_time(aids, full_every=None):
            html, entry = self.page(aid)
            path = atomic_write_bytes(self.out_dir / "analyses" / f"{aid}.html", html)
            cache.store(aid, path, entry, self.out_dir)
            done.append((aid, entry))
        return done


def _common_context(settings, tables: ReportTables) -> dict:
    """What every page's template gets (the cross-check, changes and biomarker fields are added
    by :func:`build_report`)."""
    return {
        "csp": CSP,
        "methods": methods_paragraphs(
            settings, tables.pooled, exploration=bool(tables.exploration_by)
        ),
        "sections": EXPLORATION_SECTIONS,
        "title": "trialmeta report",
        "lvl": level_text(settings),
        "sensitivity_ci": CI_SHORT_NAMES[settings.sensitivity_ci],
    }


def _figure_dirs(figures_dir) -> list[Path]:
    if figures_dir is None:
        return []
    if isinstance(figures_dir, (str, os.PathLike)):
        return [Path(figures_dir)]
    return [Path(d) for d in figures_dir]  # several directories (one per figure job)


def _figure_files(figure_dirs: list[Path], tables: ReportTables):
    """(analysis_id, path) of every SVG/PNG figure of a known analysis in ``figure_dirs``."""
    for p in sorted(
        (p for d in figure_dirs if d.is_dir() for p in d.iterdir()), key=lambda p: p.name
    ):
        if p.name.startswith(".") or p.suffix.lower() not in (".svg", ".png") or not p.is_file():
            continue
        aid = split_figure_name(p.name)[0]
        if tables.has(aid):
            yield aid, p


def _link_figures(
    figure_dirs: list[Path], tables: ReportTables, out_dir: Path, published_dirs=()
) -> tuple[dict, dict]:
    """Link every figure of ``figure_dirs`` into ``out_dir/figures``; the figures of
    ``published_dirs`` (the figure jobs' forest and exploration plots, published as
    ``results/figures/forest|exploration/``) are shown from there instead: one copy of each file
    in ``results/`` (issue 16: the report's copies doubled the size of a zipped run).
    Returns analysis_id -> names, and name -> address from the report's root for the latter."""
    fig_names, urls = defaultdict(list), {}
    for aid, p in _figure_files(figure_dirs, tables):
        fig_names[aid].append(p.name)
        replace_with_link(p, out_dir / "figures" / p.name)
    for aid, p in _figure_files(_figure_dirs(published_dirs), tables):
        fig_names[aid].append(p.name)
        urls[p.name] = f"../figures/{figure_folder(p.name)}/{p.name}"
    return fig_names, urls


def _remove_stale(out_dir: Path, analyses: list[dict], fig_names: dict) -> None:
    """Remove pages and figure copies of analyses that no longer exist (a rerun into the same
    folder)."""
    keep = {f"{a['id']}.html" for a in analyses}
    for old in sorted((out_dir / "analyses").glob("*.html")):
        if old.name not in keep:
            old.unlink()
    keep_fig = {n for names in fig_names.values() for n in names}
    if (out_dir / "figures").is_dir():
        for old in sorted((out_dir / "figures").iterdir()):
            if old.is_file() and old.name not in keep_fig:
                old.unlink()


def _write_condition_pages(out_dir: Path, pages: dict[str, bytes]) -> None:
    """Write ``conditions/<anchor>.html`` (split index) and remove the ones no longer made."""
    folder = out_dir / "conditions"
    for name, html in pages.items():
        atomic_write_bytes(folder / name, html)
    if folder.is_dir():
        for old in sorted(folder.glob("*.html")):
            if old.name not in pages:
                old.unlink()


def build_report(
    pooled: pd.DataFrame,
    studies: pd.DataFrame,
    trials: pd.DataFrame,
    config,
    warnings,
    figures_dir,
    out_dir,
    provenance: dict | None = None,
    *,
    exploration: dict | None = None,
    cache_dir=None,
    template_cache_dir=None,
    changes: dict | None = None,
    crosscheck: dict | None = None,
    summary_of_findings: dict | None = None,
    published_figures=None,
    processes: int = 1,
) -> Path:
    """Write the offline report into ``out_dir`` and return the path of ``index.html``
    (``config``: a :class:`~trialmeta.inputs.settings.Settings` or a config dict).

    Files: ``index.html``, ``analyses/<analysis_id>.html`` (:class:`AnalysisPage`),
    ``static/report.css``, ``figures/<analysis_id>[.<kind>].svg|png`` (linked from ``figures_dir``,
    one directory or a list of them; the forest plot is ``<analysis_id>.svg``) and, for runs of
    more than :data:`~trialmeta.report.index_page.SPLIT_ABOVE` analyses, one index page per
    condition, ``conditions/<anchor>.html`` (:mod:`trialmeta.report.index_page`). ``warnings``: list
    of :class:`trialmeta.inputs.errors.Problem` (attached to an analysis by ``file``/``row`` = the
    trial row's ``source_file``/``source_row``; others are listed on the index).
    ``exploration``: optional tables keyed as :data:`EXPLORATION_SECTIONS` (and RoB tables).
    ``cache_dir``: optional page cache (:class:`_PageCache`): an analysis page whose inputs are
    unchanged since a previous build is linked from the cache instead of being rendered again;
    ``template_cache_dir``: optional directory of compiled templates (:func:`_environment`);
    the output is byte-identical either way. ``changes``: optional ``changes.json`` record
    (:mod:`trialmeta.pipeline.compare`): the "What changed" page, linked from the index.
    ``crosscheck``: optional summary of the cross-check (:mod:`trialmeta.tables.crosscheck`):
    "independently reproduced: N of M" on the index, a flag on the pages of disagreeing analyses.
    ``summary_of_findings``: SoF page, evidence map (:func:`trialmeta.report.sof_page.add_sof_page`).
    ``published_figures``: the figure jobs' directories, whose files the publish step puts in
    ``results/figures/forest|exploration/``: the pages show them from there (``../figures/``
    beside the report) instead of a copy in ``figures/``. ``processes``: the pages to render
    are shared with up to ``processes - 1`` forked copies of this process
    (:func:`trialmeta.pipeline.forked.map_shares`); the files are the same for any number.
    """
    settings = Settings.coerce(config)  # the typed settings (a dict is checked and completed)
    out_dir = Path(out_dir)
    tables = ReportTables(pooled, studies, trials, exploration, warnings)
    env = _environment(template_cache_dir)
    fig_names, fig_urls = _link_figures(
        _figure_dirs(figures_dir), tables, out_dir, published_figures or ()
    )
    common = _common_context(settings, tables)
    if changes is not None:
        common["changes_page"] = write_changes_page(env, common, changes, out_dir).name
    common["crosscheck"] = crosscheck  # double programming (part of every page's cache key)
    common["biomarker_questions"] = interaction_overview(env, common, tables, figures_dir, out_dir)
    common["single_arm_digest"], single = single_arm_sections(tables, settings.group_by)
    cache = _PageCache(cache_dir, settings, common, tables, fig_names)
    index = IndexPage(settings, common, tables.general_warnings, provenance, _provenance_rows)
    pages = _PageWriter(env, common, tables, settings, (fig_names, fig_urls), single, out_dir)
    entries = {aid: cache.restore(aid, out_dir) for aid in tables.ids}  # unchanged pages
    missing = [aid for aid, entry in entries.items() if entry is None]
    entries.update(map_shares(lambda aids: pages.render(aids, cache), missing, processes))
    for aid in tables.ids:
        index.add(entries[aid])
    atomic_write_bytes(
        out_dir / "static" / "report.css", (_HERE / "static" / "report.css").read_bytes()
    )
    cache.prune()
    _remove_stale(out_dir, index.analyses, fig_names)
    _write_condition_pages(out_dir, index.condition_pages(env))
    add_sof_page(index, env, common, summary_of_findings, out_dir)
    return atomic_write_bytes(out_dir / "index.html", index.render(env))
