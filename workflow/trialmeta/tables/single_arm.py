"""Single-arm (uncontrolled) evidence in the result tables.

* :func:`effects_with_single_arm`: the effects table of a trials table that may hold
  ``single_arm_proportion`` / ``single_arm_change`` rows (the other rows go through
  :func:`trialmeta.tables.effects.compute_effect_sizes`), rows in input order;
* :func:`single_arm_pooled`: the proportion back-transformations in the ``*_exp`` columns of
  ``pooled.csv`` / ``studies.csv`` (PFT: harmonic mean of the analysis's n for a pooled value, the
  study's own n for a study) and the binomial-normal GLMM rows (``model = glmm``, measure PLO);
* :func:`prepost_sensitivity`: the pooled change at the configured ``prepost_correlation`` and at
  0.3 and 0.7 (``single_arm_sensitivity.csv``);
* overlapping cohorts (``cohort_id``): :func:`mark_overlapping` empties the effect of the rows
  that are not pooled (:func:`trialmeta.inputs.single_arm.overlapping_cohorts`); they stay in
  ``studies.csv`` (no effect, no weight) and the pooled status says ``overlapping_cohort:N``
  instead of ``studies_without_effect:N`` for them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from trialmeta.inputs.errors import InputError, Problem
from trialmeta.inputs.single_arm import SINGLE_ARM_TYPES, overlapping_cohorts
from trialmeta.stats.batch import pad_by_group
from trialmeta.stats.glmm import binomial_normal_glmm
from trialmeta.stats.single_arm import (
    CHANGE_MEASURES,
    PROPORTION_SCALES,
    back_transform,
    change_effects,
    proportion_effects,
)
from trialmeta.tables.effects import ARM_DATA_COLUMNS, EFFECT_COLUMNS, compute_effect_sizes

__all__ = [
    "effects_with_single_arm",
    "single_arm_pooled",
    "prepost_sensitivity",
    "mark_overlapping",
    "overlapping_note",
    "SENSITIVITY_CORRELATIONS",
    "SENSITIVITY_COLUMNS",
]

SENSITIVITY_CORRELATIONS = (0.3, 0.7)
SENSITIVITY_COLUMNS = (
    "analysis_id",
    "measure",
    "correlation",
    "configured",
    "k",
    "estimate",
    "ci_low",
    "ci_high",
    "tau2",
    "I2",
)
DEFAULT_SINGLE_ARM_MEASURES = {
    "single_arm_proportion": ["PLO"],
    "single_arm_change": ["MC", "SMCR"],
}
_SCALE_MEASURE = {v: k for k, v in PROPORTION_SCALES.items()}


def _num(df, col):
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(float)


def _single_arm_parts(df, measures, continuity, ri):
    """(row index, measure, EffectSizes, rank) of every single-arm row x measure."""
    ot = df["outcome_type"].astype(str).to_numpy()
    aid = df["analysis_id"].astype(str).to_numpy()
    parts = []
    idx = np.flatnonzero(ot == "single_arm_proportion")
    for r, m in enumerate(measures.get("single_arm_proportion") or ["PLO"]):
        if idx.size:
            es = proportion_effects(
                _num(df, "events_treat")[idx],
                _num(df, "n_treat")[idx],
                m,
                add=continuity.get("add", 0.5),
                to=continuity.get("to", "only0"),
                group=aid[idx],
            )
            parts.append((idx, m, es, r))
    idx = np.flatnonzero(ot == "single_arm_change")
    for r, m in enumerate(measures.get("single_arm_change") or ["MC", "SMCR"]):
        if idx.size:
            cols = {
                c: _num(df, c)[idx]
                for c in (
                    "mean_baseline",
                    "sd_baseline",
                    "mean_followup",
                    "sd_followup",
                    "mean_change",
                    "sd_change",
                )
            }
            parts.append((idx, m, change_effects(_num(df, "n")[idx], m, ri=ri, **cols), r))
    return parts


def _problems(df, parts):
    problems = []
    for idx, m, es, _ in parts:
        for j in np.flatnonzero(es.invalid()):
            i = int(idx[j])
            f = str(df["source_file"].iloc[i]) if "source_file" in df else "trials table"
            row = df["source_row"].iloc[i] if "source_row" in df else i + 2
            col = "n" if m in CHANGE_MEASURES else "events_treat"
            why = (
                "SMCR needs n >= 3 and the baseline SD (sd_baseline)"
                if m == "SMCR"
                else "effect size or variance not finite or vi <= 0 (0 or n events and "
                "continuity to: none?)"
            )
            problems.append(
                Problem(
                    f,
                    int(row) if pd.notna(row) else None,
                    col,
                    f"{m}: {why} (study {df['study_id'].iloc[i]!s})",
                )
            )
    return problems


def _single_arm_frame(df, parts, level):
    z = float(-special.ndtri((1.0 - level) / 2.0))
    keep = [c for c in df.columns if c not in set(EFFECT_COLUMNS)]
    frames = []
    for idx, m, es, r in parts:
        out = df.iloc[idx][keep].reset_index(drop=True)
        sub = df.iloc[idx].reset_index(drop=True)
        cols = {
            "analysis_id": sub["analysis_id"].astype(str),
            "study_id": sub["study_id"].astype(str),
            "measure": m,
            "scale": es.scale,
            "yi": es.yi,
            "vi": es.vi,
            "sei": es.sei,
            "ci_low": es.yi - z * es.sei,
            "ci_high": es.yi + z * es.sei,
            "continuity_corrected": es.corrected,
            "dropped": es.dropped,
        }
        for c in ARM_DATA_COLUMNS:
            cols[c] = _num(sub, c) if c in ("events_treat", "n_treat") else np.nan
        if m in CHANGE_MEASURES:
            cols["n_treat"] = _num(sub, "n")
            cols["events_treat"] = np.nan
        cols["primary_measure"] = r == 0
        cols["source_file"] = sub["source_file"] if "source_file" in sub else np.nan
        cols["source_row"] = sub["source_row"] if "source_row" in sub else np.nan
        part = pd.concat([out, pd.DataFrame(cols)], axis=1)
        part["_row"], part["_rank"] = idx, r
        frames.append(part)
    return frames


def effects_with_single_arm(
    trials_df, *, measures=None, continuity=None, level=0.95, prepost_correlation=0.5
) -> pd.DataFrame:
    """The effects table of every row: randomised rows by :func:`compute_effect_sizes`, single-arm
    rows by :mod:`trialmeta.stats.single_arm` (``measures`` keys ``single_arm_proportion`` /
    ``single_arm_change``; the continuity rule of the binary rows; ``ri = prepost_correlation``)."""
    measures = dict(measures or {})
    df = trials_df.reset_index(drop=True)
    single = df["outcome_type"].astype(str).isin(SINGLE_ARM_TYPES).to_numpy() if len(df) else []
    if not np.any(single):
        return compute_effect_sizes(
            df, measures=_randomised(measures), continuity=continuity, level=level
        )
    parts = _single_arm_parts(df, measures, dict(continuity or {}), prepost_correlation)
    problems = _problems(df, parts)
    if problems:
        raise InputError(problems)
    frames = _single_arm_frame(df, parts, level)
    rest = np.flatnonzero(~single)
    if rest.size:
        other = compute_effect_sizes(
            df.iloc[rest], measures=_randomised(measures), continuity=continuity, level=level
        )
        other = other.assign(_row=_rows_of(other, df.iloc[rest], rest))
        other["_rank"] = other.groupby("_row", sort=False).cumcount()
        frames.insert(0, other)
    out = pd.concat(frames, ignore_index=True, sort=False)
    out = out.sort_values(["_row", "_rank"], kind="stable").drop(columns=["_row", "_rank"])
    cols = [c for c in out.columns if c not in EFFECT_COLUMNS] + list(EFFECT_COLUMNS)
    return mark_overlapping(out[cols].reset_index(drop=True))


def mark_overlapping(effects: pd.DataFrame) -> pd.DataFrame:
    """Rows of an overlapping population that is not pooled (``cohort_id``; the largest n of the
    cohort is pooled, :func:`trialmeta.inputs.single_arm.overlapping_cohorts`): yi, vi, sei and
    the CI emptied and ``dropped`` set, like a dropped double-zero study, so no step pools them."""
    if "cohort_id" not in effects or not len(effects):
        return effects
    listing = overlapping_cohorts(effects.drop_duplicates(["analysis_id", "study_id"]))
    if not len(listing):
        return effects
    out = set(zip(listing["analysis_id"].astype(str), listing["study_id"].astype(str)))
    mask = np.array(
        [
            (a, s) in out
            for a, s in zip(effects["analysis_id"].astype(str), effects["study_id"].astype(str))
        ],
        bool,
    )
    effects = effects.copy()
    for c in ("yi", "vi", "sei", "ci_low", "ci_high"):
        effects.loc[mask, c] = np.nan
    effects.loc[mask, "dropped"] = True
    return effects


def _rows_of(other, sub, rest):
    """Input row of each effects row of the randomised part (by source file and row)."""
    if "source_row" in other and "source_file" in other and "source_row" in sub:
        key = dict(zip(zip(sub["source_file"].astype(str), sub["source_row"].astype(str)), rest))
        rows = [
            key.get((f, r))
            for f, r in zip(other["source_file"].astype(str), other["source_row"].astype(str))
        ]
        if all(r is not None for r in rows):
            return np.asarray(rows, dtype=float)
    return np.arange(len(other), dtype=float) - 0.5  # before the single-arm rows


def _randomised(measures: dict) -> dict:
    return {k: v for k, v in measures.items() if k not in SINGLE_ARM_TYPES}


# ------------------------------------------------------------------------ pooled and studies
def _harmonic_n(effects: pd.DataFrame) -> pd.Series:
    """Harmonic mean of n_treat per analysis (pooled PFT back-transformation)."""
    sub = effects[effects["measure"].astype(str) == "PFT"]
    n = pd.to_numeric(sub["n_treat"], errors="coerce")
    ok = np.isfinite(pd.to_numeric(sub["yi"], errors="coerce"))
    return (1.0 / n[ok]).groupby(sub["analysis_id"][ok].astype(str)).mean().rdiv(1.0)


def _fill_pooled_exp(pooled: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    out = pooled.copy()
    hm = _harmonic_n(effects)
    for scale, measure in _SCALE_MEASURE.items():
        rows = (out["scale"].astype(str) == scale).to_numpy()
        if not rows.any():
            continue
        n = out.loc[rows, "analysis_id"].astype(str).map(hm).to_numpy(float)
        for src in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            vals = pd.to_numeric(out.loc[rows, src], errors="coerce").to_numpy(float)
            out.loc[rows, f"{src}_exp"] = back_transform(vals, measure, n)
    return out


def _fill_studies_exp(studies: pd.DataFrame) -> pd.DataFrame:
    out = studies.copy()
    for scale, measure in _SCALE_MEASURE.items():
        rows = (out["scale"].astype(str) == scale).to_numpy()
        if not rows.any():
            continue
        n = pd.to_numeric(out.loc[rows, "n_treat"], errors="coerce").to_numpy(float)
        for src in ("yi", "ci_low", "ci_high"):
            vals = pd.to_numeric(out.loc[rows, src], errors="coerce").to_numpy(float)
            out.loc[rows, f"{src}_exp"] = back_transform(vals, measure, n)
    return out


def _glmm_rows(effects: pd.DataFrame, pooled: pd.DataFrame, level: float) -> pd.DataFrame:
    """``model = glmm`` rows (measure PLO, scale logit) of the single-arm proportion analyses."""
    plo = effects[
        (effects["measure"].astype(str) == "PLO")
        & effects["outcome_type"].astype(str).eq("single_arm_proportion")
        & np.isfinite(_num(effects, "yi"))
    ]  # not the overlapping cohorts
    if not len(plo):
        return pooled.iloc[0:0]
    codes, aids = pd.factorize(plo["analysis_id"].astype(str), sort=True)
    mask, _, x, n = pad_by_group(codes, _num(plo, "events_treat"), _num(plo, "n_treat"))
    res = binomial_normal_glmm(x, n, mask, level=level)
    k = mask.sum(1)
    single = k < 2
    status = np.where(
        single,
        "single_study",
        np.where(
            res.converged, np.where(res.tau2 < 1e-10, "ok;tau2_boundary", "ok"), "not_converged"
        ),
    )
    template = pooled.drop_duplicates("analysis_id")
    template = template.set_index(template["analysis_id"].astype(str)).reindex(list(aids))
    keys = list(pooled.columns[: list(pooled.columns).index("analysis_id") + 1])
    rows = pd.DataFrame(
        {c: template[c].to_numpy() if c in keys else np.nan for c in pooled.columns}
    )
    numbers = {
        "estimate": res.beta,
        "se": res.se,
        "stat": res.zval,
        "pval": res.pval,
        "ci_low": res.ci_low,
        "ci_high": res.ci_high,
        "tau2": res.tau2,
        "tau": np.sqrt(res.tau2),
        "iterations": res.iterations,
    }
    for c, v in numbers.items():
        if c in rows:
            rows[c] = np.where(single, np.nan, v)
    rows["measure"], rows["scale"], rows["model"] = "PLO", "logit", "glmm"
    rows["tau2_method"], rows["ci_method"] = "ML", "wald"
    rows["k"], rows["status"], rows["primary"] = k, status, False
    return rows[list(pooled.columns)]


def overlapping_note(pooled: pd.DataFrame, effects: pd.DataFrame) -> pd.Series:
    """``status`` of ``pooled`` with ``studies_without_effect:N`` of the single-arm analyses read
    ``overlapping_cohort:N`` (their only rows without an effect are the overlapping cohorts)."""
    single = set(
        effects.loc[
            effects["outcome_type"].astype(str).isin(SINGLE_ARM_TYPES), "analysis_id"
        ].astype(str)
    )
    status = pooled["status"].astype(str)
    rows = pooled["analysis_id"].astype(str).isin(single)
    fixed = status[rows].str.replace("studies_without_effect:", "overlapping_cohort:", regex=False)
    return status.where(~rows, fixed)


def single_arm_pooled(pooled, studies, effects, *, models=(), level=0.95):
    """``pooled``/``studies`` with the proportions back-transformed into the ``*_exp`` columns and,
    when ``models`` lists ``glmm``, the GLMM row after the PLO rows of each proportion analysis."""
    if "outcome_type" not in effects or not effects["outcome_type"].isin(SINGLE_ARM_TYPES).any():
        return pooled, studies
    pooled = _fill_pooled_exp(pooled, effects)
    studies = _fill_studies_exp(studies)
    pooled["status"] = overlapping_note(pooled, effects)
    if "glmm" in models:
        glmm = _glmm_rows(effects, pooled, level)
        if len(glmm):
            pooled = pooled.assign(_pos=np.arange(len(pooled), dtype=float))
            last = (
                pooled[pooled["measure"].astype(str) == "PLO"]
                .groupby(pooled["analysis_id"].astype(str))["_pos"]
                .max()
            )
            glmm = glmm.assign(_pos=glmm["analysis_id"].astype(str).map(last).to_numpy() + 0.5)
            pooled = pd.concat([pooled, glmm], ignore_index=True).sort_values("_pos", kind="stable")
            pooled = pooled.drop(columns="_pos").reset_index(drop=True)
            pooled = _fill_pooled_exp(pooled, effects)
    return pooled, studies


# ------------------------------------------------------------------------ correlation sensitivity
def prepost_sensitivity(trials, key_cols, settings, pool) -> pd.DataFrame:
    """Pooled MC / SMCR of every ``single_arm_change`` analysis at ``prepost_correlation`` and at
    :data:`SENSITIVITY_CORRELATIONS` (random effects, primary tau2 and CI methods; overlapping
    cohort rows left out as in the main analysis). ``pool`` is
    :func:`trialmeta.tables.pooled.pool_analyses`."""
    change = trials[trials["outcome_type"].astype(str) == "single_arm_change"]
    if not len(change):
        return pd.DataFrame(columns=list(SENSITIVITY_COLUMNS))
    configured = float(settings.prepost_correlation)
    frames = []
    for r in sorted({configured, *SENSITIVITY_CORRELATIONS}):
        eff = effects_with_single_arm(
            change,
            measures=settings.measures.as_dict(),
            continuity=settings.continuity.as_dict(),
            level=settings.level,
            prepost_correlation=r,
        )
        pooled, _ = pool(
            eff,
            key_cols,
            tau2_methods=[settings.primary_tau2_method],
            ci_methods=[settings.primary_ci_method],
            prediction_interval=settings.prediction_interval,
            level=settings.level,
            models=["random"],
        )
        pooled = pooled.assign(correlation=r, configured=(r == configured))
        frames.append(pooled)
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["analysis_id", "measure", "correlation"], kind="stable")
    return out[list(SENSITIVITY_COLUMNS)].reset_index(drop=True)
