"""Report pages of single-arm (uncontrolled) analyses, and the link between uncontrolled and
randomised evidence on the same therapy and condition.

* :func:`single_arm_overrides`: what an analysis page of a single-arm analysis says instead of
  the comparative wording: the label "uncontrolled (single-arm) evidence", a summary without any
  "favours", the pooled proportion (back-transformed) or mean change, the studies with their exact
  (Clopper-Pearson) intervals or baseline -> follow-up means;
* :func:`single_arm_sections`: per analysis, the section ``_single_arm.html.j2`` shows:
  the randomised analyses of the same therapy x condition side by side (and, on their pages, the
  uncontrolled ones) with which of them answers the comparative question, the GLMM, the
  pre-post correlation sensitivity, the overlapping cohorts left out and the Freeman-Tukey warning.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd

from trialmeta.inputs.single_arm import (
    PFT_WARNING,
    UNCONTROLLED_LABEL,
    is_single_arm,
    overlapping_cohorts,
)
from trialmeta.plots.labels import format_effect, format_number

__all__ = ["single_arm_overrides", "single_arm_sections", "single_arm_digest", "QUESTION_TEXT"]

QUESTION_TEXT = (
    "Uncontrolled (single-arm) evidence: every participant received the therapy and there is no "
    "comparison group. These numbers describe what happened after treatment; they cannot show "
    "that the therapy caused it (co-treatment, the natural course of the disease, regression to "
    "the mean and patient selection can produce the same numbers). They are not an effect of the "
    "therapy versus any comparator."
)
MEASURE_WORDS = {
    "PLO": "Proportion, % (pooled on the logit scale)",
    "PAS": "Proportion, % (pooled on the arcsine scale)",
    "PFT": "Proportion, % (Freeman-Tukey, harmonic-mean back-transformation)",
    "PR": "Proportion, % (pooled as a raw proportion)",
    "MC": "Mean change (follow-up minus baseline)",
    "SMCR": "Standardised mean change (baseline SD)",
}


def _f(row, key) -> float:
    try:
        v = float(row.get(key))
    except (TypeError, ValueError):
        return math.nan
    return v


def _pct(row, suffix="_exp") -> str:
    vals = [_f(row, c + suffix) * 100 for c in ("estimate", "ci_low", "ci_high")]
    return format_effect(*vals, 1) + " %" if math.isfinite(vals[0]) else "not estimable"


def _primary(pa):
    if len(pa) and "primary" in pa:
        flagged = pa[pa["primary"].fillna(False).astype(bool)]
        if len(flagged):
            return flagged.iloc[0]
    return None


def _effect(row, proportion) -> str:
    if row is None:
        return "not estimable"
    if proportion:
        return _pct(row)
    return format_effect(*(_f(row, c) for c in ("estimate", "ci_low", "ci_high")), 2)


def _study_rows(page, proportion, level):
    rows = []
    for s in page["studies"]:
        rows.append(dict(s))
    st = page["shown"]
    for r, (_, s) in zip(rows, st.iterrows()):
        if proportion:
            from trialmeta.stats.single_arm import clopper_pearson  # SciPy, for these pages only

            x, n = _f(s, "events_treat"), _f(s, "n_treat")
            lo, hi = clopper_pearson(x, n, level)
            r["arms"] = [f"{x:.0f}/{n:.0f}" if math.isfinite(x) else ""]
            r["effect"] = format_effect(x / n * 100, float(lo) * 100, float(hi) * 100, 1) + " %"
        else:
            r["arms"] = [f"n = {_f(s, 'n_treat'):.0f}" if math.isfinite(_f(s, "n_treat")) else ""]
        if not math.isfinite(_f(s, "yi")):
            r["effect"] += " (overlapping cohort: not pooled)"
    return rows


def single_arm_overrides(page: dict, pooled: pd.DataFrame, settings) -> dict:
    """Fields of an analysis page context replaced for a single-arm analysis. ``page``: the
    context built so far plus ``shown`` (the studies rows of the primary measure)."""
    proportion = page["outcome_type"] == "single_arm_proportion"
    prim = _primary(pooled)
    k = int(np.isfinite(pd.to_numeric(page["shown"].get("yi"), errors="coerce")).sum())
    effect = _effect(prim, proportion)
    what = "proportion" if proportion else "mean change (follow-up minus baseline)"
    lead = (
        "Uncontrolled (single-arm) evidence, no comparison group: this describes outcomes after "
        "treatment, not an effect versus any comparator."
    )
    if k <= 1:
        summary = f"{lead} One study: nothing was pooled; its result is in the table below."
        effect = "single study: " + (page["studies"][0]["effect"] if page["studies"] else "")
    else:
        summary = (
            f"{lead} Across {k} studies the pooled {what} was {effect} "
            f"(random effects, {page['model']}); between-study heterogeneity I\u00b2 = "
            f"{page['I2'] or 'n/a'}."
        )
    out = {
        "single_arm": True,
        "uncontrolled": UNCONTROLLED_LABEL,
        "summary": summary,
        "effect": effect,
        "measure_name": MEASURE_WORDS.get(page["measure"], page["measure"]),
        "scale_note": "single-arm: no comparator",
        "kind": page["outcome_type"],
        "null": "",
        "estimators": [],  # "CI excludes no effect" has no meaning without a comparator
        "estimator_flag": False,
    }
    if proportion and prim is not None and k > 1:
        lo, hi = _f(prim, "pi_low_exp") * 100, _f(prim, "pi_high_exp") * 100
        out["pi"] = (
            f"[{format_number(lo, 1)}, {format_number(hi, 1)}] %"
            if math.isfinite(lo) and math.isfinite(hi)
            else ""
        )
    out["studies"] = _study_rows(page, proportion, float(settings.level))
    if proportion and out["studies"]:
        out["studies"] = [dict(s, effect=s["effect"]) for s in out["studies"]]
    return out


def _topic_columns(group_by) -> list:
    """The group_by columns that name the therapy and the condition (not comparator, outcome or
    outcome type): analyses that agree on them are 'the same therapy x condition'."""
    return [c for c in group_by if c not in ("comparator", "outcome", "outcome_type")]


def _analysis_rows(pooled, trials, group_by) -> pd.DataFrame:
    """One row per analysis: topic key, outcome, outcome_type, the primary pooled row."""
    cols = _topic_columns(group_by)
    first = trials.drop_duplicates("analysis_id").set_index("analysis_id")
    prim = pooled[pooled["primary"].fillna(False).astype(bool)] if "primary" in pooled else pooled
    prim = prim.drop_duplicates("analysis_id").set_index("analysis_id")
    out = pd.DataFrame(index=first.index)
    out["topic"] = [
        json.dumps([str(first.at[a, c]) for c in cols if c in first]) for a in out.index
    ]
    for c in ("outcome", "outcome_type", "comparator"):
        out[c] = first[c].astype(str) if c in first else ""
    out["k"] = first.index.map(trials["analysis_id"].value_counts())
    out["prim"] = [prim.loc[a] if a in prim.index else None for a in out.index]
    return out


def _comparative_text(row) -> str:
    p = row["prim"]
    if p is None:
        return "not estimable"
    if str(p.get("scale")) == "log":
        vals = [_f(p, c + "_exp") for c in ("estimate", "ci_low", "ci_high")]
    else:
        vals = [_f(p, c) for c in ("estimate", "ci_low", "ci_high")]
    single = " (single trial)" if int(row["k"]) == 1 else ""
    return f"{p.get('measure')} {format_effect(*vals, 2)}{single}"


def _related(aid, info) -> list:
    """The analyses of the same therapy x condition on the other side of the randomised /
    uncontrolled divide, the same outcome first."""
    me = info.loc[aid]
    mine = is_single_arm(me["outcome_type"])
    other = info[(info["topic"] == me["topic"]) & (info["outcome_type"].map(is_single_arm) != mine)]
    rows = []
    for a, r in other.iterrows():
        rows.append(
            {
                "href": f"{a}.html",
                "outcome": r["outcome"],
                "comparator": r["comparator"],
                "k": int(r["k"]),
                "same_outcome": r["outcome"] == me["outcome"],
                "effect": _effect(r["prim"], r["outcome_type"] == "single_arm_proportion")
                if is_single_arm(r["outcome_type"])
                else _comparative_text(r),
            }
        )
    return sorted(rows, key=lambda d: (not d["same_outcome"], d["outcome"]))


def _answer(mine_single: bool, related: list) -> str:
    if not related:
        return ""
    if mine_single:
        return (
            "Which answers the question? Only the randomised comparison listed here can show "
            "whether the therapy does better than its comparator; the uncontrolled proportions "
            "or changes on this page describe outcomes after treatment and cannot."
        )
    return (
        "Which answers the question? This randomised comparison does; the uncontrolled "
        "(single-arm) evidence listed here for the same therapy and condition describes "
        "outcomes after treatment only and cannot show an effect versus a comparator."
    )


def _glmm_text(pa) -> str:
    g = pa[pa["model"].astype(str) == "glmm"] if "model" in pa else pa.iloc[0:0]
    if not len(g) or not math.isfinite(_f(g.iloc[0], "estimate")):
        return ""
    r = g.iloc[0]
    return (
        f"Binomial-normal GLMM (random-intercept logistic model, maximum likelihood, 7-point "
        f"adaptive Gauss-Hermite quadrature, as metafor rma.glmm): pooled proportion "
        f"{_pct(r)}, tau\u00b2 = {format_number(_f(r, 'tau2'), 3)} (logit scale)."
    )


def _sensitivity(aid, sensitivity) -> list:
    if sensitivity is None or not len(sensitivity):
        return []
    rows = sensitivity[sensitivity["analysis_id"].astype(str) == aid]
    return [
        {
            "measure": r["measure"],
            "r": f"{float(r['correlation']):g}",
            "configured": bool(r["configured"]),
            "effect": format_effect(r["estimate"], r["ci_low"], r["ci_high"], 2),
            "tau2": format_number(r["tau2"], 3),
        }
        for _, r in rows.iterrows()
    ]


def single_arm_sections(tables, group_by) -> tuple[str, dict]:
    """``(digest, {analysis_id: section})`` for every single-arm analysis and every randomised
    analysis that shares its therapy x condition with one (see the module docstring); ``tables``:
    the report's tables (``pooled``, ``trials``, ``exploration["single_arm_sensitivity"]``). The
    digest is part of every page's cache key."""
    sensitivity = tables.exploration.get("single_arm_sensitivity")
    sections = _sections(tables.pooled, tables.trials, group_by, sensitivity)
    return single_arm_digest(sections), sections


def _sections(pooled, trials, group_by, sensitivity) -> dict:
    if trials is None or not len(trials) or "outcome_type" not in trials:
        return {}
    if not trials["outcome_type"].map(is_single_arm).any():
        return {}
    info = _analysis_rows(pooled, trials, group_by)
    out = {}
    for aid in info.index:
        single = is_single_arm(info.at[aid, "outcome_type"])
        related = _related(aid, info)
        if not single and not related:
            continue
        pa = pooled[pooled["analysis_id"].astype(str) == aid]
        ta = trials[trials["analysis_id"].astype(str) == aid]
        overlap = overlapping_cohorts(ta)
        out[aid] = {
            "single": single,
            "label": UNCONTROLLED_LABEL,
            "question": QUESTION_TEXT if single else "",
            "related": related,
            "answer": _answer(single, related),
            "glmm": _glmm_text(pa) if single else "",
            "sensitivity": _sensitivity(aid, sensitivity),
            "overlap": [
                {
                    "study_id": r["study_id"],
                    "cohort_id": r["cohort_id"],
                    "n": format_number(r["n"], 0),
                    "kept": r["kept_study_id"],
                    "kept_n": format_number(r["kept_n"], 0),
                }
                for _, r in overlap.iterrows()
            ],
            "pft_warning": PFT_WARNING
            if single and (pa.get("measure", pd.Series(dtype=str)).astype(str) == "PFT").any()
            else "",
        }
    return out


def single_arm_digest(sections: dict) -> str:
    """Digest of the sections (part of every page's cache key)."""
    return hashlib.sha256(json.dumps(sections, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def single_arm_methods(settings, pooled: pd.DataFrame) -> list:
    """The methods paragraph of the single-arm analyses (none when the run has none)."""
    # of the distinct values (iterating every row of an Arrow column is slow)
    scales = set(pooled.get("scale", pd.Series(dtype=str)).astype(str).unique())
    change = {"MC", "SMCR"} & set(pooled.get("measure", pd.Series(dtype=str)).astype(str).unique())
    if not (scales & {"logit", "arcsine", "pft", "proportion"}) and not change:
        return []
    text = (
        "Uncontrolled (single-arm) evidence was analysed separately from the randomised "
        "comparisons: proportions as metafor escalc measures (PLO logit, PAS arcsine, PFT "
        "Freeman-Tukey double arcsine, PR raw; 0.5 added to events and non-events of a study with "
        "0 or all events for PLO and PR), pooled with the same tau\u00b2 estimators and CI "
        "methods and back-transformed to proportions (PFT with the harmonic mean of the sample "
        "sizes, which can mislead: Schwarzer et al. 2019, Res Synth Methods 10:476); per-study "
        "intervals are exact (Clopper-Pearson). "
    )
    if "glmm" in settings.models:
        text += (
            "The binomial-normal model (random-intercept logistic regression, maximum likelihood "
            "with 7-point adaptive Gauss-Hermite quadrature, as metafor rma.glmm with lme4) is "
            "reported beside it. "
        )
    return [
        text + "Pre-post changes are the follow-up minus baseline mean (MC) and the change "
        "standardised by the baseline SD (SMCR, Becker 1988), with an assumed pre-post "
        f"correlation of {settings.prepost_correlation:g} (sensitivity at 0.3 and 0.7). Rows of "
        "overlapping cohorts (same cohort_id) are listed but only the largest is pooled."
    ]
