"""``tables/bayes.csv``: the Bayesian random-effects posterior of every analysis, and the numbers of
the report's "few trials" panel.

One row per analysis, for its primary measure (the measure of its ``primary`` row in
``pooled.csv``), under the priors of the ``bayes`` setting (:mod:`trialmeta.inputs.priors`; a
``tau_prior_by_measure`` entry for that measure wins over ``tau_prior``). The statistics are
:func:`trialmeta.stats.bayes.bayes_random_effects`, one batched call per distinct tau prior.
``prob_benefit`` is P(mu > 0 | y) when the analysis's trial rows say ``higher_is_better = true``
and P(mu < 0 | y) otherwise (false or not given), on the analysis scale (log ratio: null 0).
Single-arm measures (proportions, pre-post change: no comparator) have no ``prob_benefit``
(status ``ok;no_comparison``).

Contract columns (:data:`BAYES_COLUMNS`): the ``group_by`` columns, then ``analysis_id, measure,
tau_prior, mu_prior, k, mu_median, mu_mean, mu_sd, mu_ci_low, mu_ci_high, tau_median, tau_ci_low,
tau_ci_high, pred_low, pred_high, prob_benefit, scale, mu_median_exp, mu_ci_low_exp,
mu_ci_high_exp, pred_low_exp, pred_high_exp, status``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.inputs.booleans import parse_bool
from trialmeta.inputs.priors import bayes_priors
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.bayes import bayes_random_effects
from trialmeta.stats.pooling import join_status, random_effects_given_tau2
from trialmeta.stats.single_arm import CHANGE_MEASURES, PROPORTION_MEASURES

__all__ = [
    "BAYES_COLUMNS",
    "EXP_SOURCES",
    "bayes_table",
    "few_trials_table",
    "primary_studies",
    "direction_of_benefit",
]

_SUMMARIES = (
    "mu_median",
    "mu_mean",
    "mu_sd",
    "mu_ci_low",
    "mu_ci_high",
    "tau_median",
    "tau_ci_low",
    "tau_ci_high",
    "pred_low",
    "pred_high",
    "prob_benefit",
)
#: the columns that get a back-transformed ``<col>_exp`` on log-scale rows
EXP_SOURCES = ("mu_median", "mu_ci_low", "mu_ci_high", "pred_low", "pred_high")
#: bayes.csv columns after the group_by columns (the contract order)
BAYES_COLUMNS = (
    "analysis_id",
    "measure",
    "tau_prior",
    "mu_prior",
    "k",
    *_SUMMARIES,
    "scale",
    *(f"{c}_exp" for c in EXP_SOURCES),
    "status",
)


def primary_studies(pooled: pd.DataFrame, studies: pd.DataFrame, key_cols) -> tuple:
    """(primary rows of pooled.csv: key columns, analysis_id, measure, scale; the study rows of
    those analyses and measures with finite yi and vi)."""
    keys = [c for c in key_cols if c in pooled.columns]
    prim = pooled[pooled["primary"].astype(bool)][[*keys, "analysis_id", "measure", "scale"]]
    prim = prim.drop_duplicates("analysis_id").reset_index(drop=True)
    rows = studies.merge(prim[["analysis_id", "measure"]], on=["analysis_id", "measure"])
    finite = np.isfinite(rows["yi"].to_numpy(float)) & np.isfinite(rows["vi"].to_numpy(float))
    return prim, rows[finite].reset_index(drop=True)


def direction_of_benefit(trials: pd.DataFrame | None, analysis_ids) -> list:
    """``higher_is_better`` of each analysis: True/False when its trial rows agree, else None."""
    if trials is None or "higher_is_better" not in trials or "analysis_id" not in trials:
        return [None] * len(analysis_ids)
    seen: dict = {}
    for aid, value in zip(trials["analysis_id"].astype(str), trials["higher_is_better"]):
        b = parse_bool(value)
        if b is not None:
            seen.setdefault(aid, set()).add(b)
    return [next(iter(seen[a])) if len(seen.get(a, ())) == 1 else None for a in analysis_ids]


def _batch(prim: pd.DataFrame, rows: pd.DataFrame) -> StudyBatch:
    codes = pd.Categorical(rows["analysis_id"], categories=prim["analysis_id"]).codes
    order = np.argsort(codes, kind="stable")
    yi = rows["yi"].to_numpy(float)[order]
    vi = rows["vi"].to_numpy(float)[order]
    codes = codes[order]
    K, n = len(prim), max(int(np.bincount(codes, minlength=len(prim)).max(initial=0)), 1)
    y, v, m = np.zeros((K, n)), np.ones((K, n)), np.zeros((K, n), dtype=bool)
    slot = np.arange(len(codes)) - np.searchsorted(codes, codes)
    y[codes, slot], v[codes, slot], m[codes, slot] = yi, vi, True
    return StudyBatch(y, v, m)


def bayes_table(
    pooled: pd.DataFrame, studies: pd.DataFrame, trials: pd.DataFrame | None, settings
) -> pd.DataFrame:
    """bayes.csv (see the module docstring); an empty table with the contract columns when the
    ``bayes`` setting is off."""
    key_cols = [c for c in settings.group_by if c in pooled.columns]
    priors = bayes_priors(settings.bayes)
    columns = [*key_cols, *BAYES_COLUMNS]
    if priors is None or pooled.empty:
        return pd.DataFrame(columns=columns)
    prim, rows = primary_studies(pooled, studies, key_cols)
    out = prim.copy()
    hib = direction_of_benefit(trials, prim["analysis_id"].astype(str).tolist())
    texts = [priors.for_measure(m)[1] for m in prim["measure"]]
    out["tau_prior"] = texts
    out["mu_prior"] = priors.mu_prior_text
    out["k"] = 0
    for name in _SUMMARIES:
        out[name] = np.nan
    out["status"] = ""
    for text in dict.fromkeys(texts):  # one batched call per distinct prior
        sel = np.flatnonzero(np.array(texts, dtype=object) == text)
        sub = prim.iloc[sel].reset_index(drop=True)
        sub_rows = rows[rows["analysis_id"].isin(sub["analysis_id"])]
        prior = priors.for_measure(sub["measure"].iloc[0])[0]
        res = bayes_random_effects(
            _batch(sub, sub_rows),
            prior,
            priors.mu_prior,
            level=settings.level,
            higher_is_better=[hib[i] for i in sel],
        )
        out.loc[sel, "k"] = res.k
        for name in _SUMMARIES:
            out.loc[sel, name] = getattr(res, name)
        out.loc[sel, "status"] = res.status
    single = out["measure"].isin([*PROPORTION_MEASURES, *CHANGE_MEASURES]).to_numpy()
    out.loc[single, "prob_benefit"] = np.nan
    out["status"] = join_status(
        out["status"].to_numpy(object), np.where(single, "no_comparison", "")
    )
    log = (out["scale"].astype(str) == "log").to_numpy()
    for c in EXP_SOURCES:
        with np.errstate(over="ignore"):
            out[f"{c}_exp"] = np.where(log, np.exp(out[c].to_numpy(float)), np.nan)
    out["k"] = out["k"].astype(int)
    return out[columns].reset_index(drop=True)


def few_trials_table(pooled: pd.DataFrame, studies: pd.DataFrame, settings) -> pd.DataFrame:
    """The comparative analyses (single-arm measures have no treatment effect to weigh) with
    fewer than ``few_trials_k`` studies, one trial included: the modified HKSJ
    interval of the primary measure (Knapp & Hartung 2003, ``hksj_adhoc``) at the primary tau2
    estimate, whether or not ``ci_methods`` lists it (NaN for one trial: no degrees of freedom). Columns: analysis_id, k, adhoc_estimate,
    adhoc_ci_low, adhoc_ci_high, adhoc_df."""
    cols = ["analysis_id", "k", "adhoc_estimate", "adhoc_ci_low", "adhoc_ci_high", "adhoc_df"]
    if pooled.empty:
        return pd.DataFrame(columns=cols)
    key_cols = [c for c in settings.group_by if c in pooled.columns]
    prim, rows = primary_studies(pooled, studies, key_cols)
    batch = _batch(prim, rows)
    k = batch.study_counts()
    comparative = ~prim["measure"].isin([*PROPORTION_MEASURES, *CHANGE_MEASURES]).to_numpy()
    keep = np.flatnonzero((k >= 1) & (k < settings.few_trials_k) & comparative)
    if keep.size == 0:
        return pd.DataFrame(columns=cols)
    prow = pooled[pooled["primary"].astype(bool)].drop_duplicates("analysis_id")
    tau2 = prim[["analysis_id"]].merge(prow[["analysis_id", "tau2"]], how="left")["tau2"]
    tau2 = np.nan_to_num(tau2.to_numpy(float)[keep], nan=0.0)
    sub = StudyBatch(batch.yi[keep], batch.vi[keep], batch.mask[keep])
    res = random_effects_given_tau2(sub, tau2, ci_method="hksj_adhoc", level=settings.level)
    one = k[keep] == 1  # the engine reports a single study as it is; HKSJ needs k - 1 > 0 df
    return pd.DataFrame(
        {
            "analysis_id": prim["analysis_id"].to_numpy()[keep],
            "k": k[keep],
            "adhoc_estimate": res.estimate,
            "adhoc_ci_low": np.where(one, np.nan, res.ci_low),
            "adhoc_ci_high": np.where(one, np.nan, res.ci_high),
            "adhoc_df": np.where(one, np.nan, res.df),
        }
    )
