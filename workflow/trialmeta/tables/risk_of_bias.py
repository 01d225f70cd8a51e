"""Risk-of-bias tables: ``risk_of_bias.csv`` (the judgements with each trial's weight) and
``rob_sensitivity.csv`` (the primary analysis re-pooled on the trials at low overall risk, and on
the trials not at high risk).

Both are read by later steps (GRADE signals, Summary of Findings), so their columns are fixed:
:data:`ROB_COLUMNS` and :data:`SENSITIVITY_COLUMNS` after the ``group_by`` columns.

The restricted analyses use exactly the primary model of ``pooled.csv`` (primary measure, first
tau² estimator, first CI method, random effects, the run's prediction interval and level) through
:func:`trialmeta.tables.pooled.pool_analyses`, so they equal metafor ``rma(yi, vi, subset = ...,
method = <tau2>, test = <ci>)`` on the chosen trials. Only trials with a judgement enter a
restricted analysis; the ``all`` row is the primary result as in ``pooled.csv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.inputs.risk_of_bias import JUDGEMENT_COLUMNS
from trialmeta.tables.pooled import pool_analyses

__all__ = [
    "ROB_COLUMNS",
    "SENSITIVITY_COLUMNS",
    "RESTRICTIONS",
    "risk_of_bias_table",
    "rob_sensitivity_table",
]

ROB_COLUMNS = ("analysis_id", "study_id", *JUDGEMENT_COLUMNS, "weight_percent")
SENSITIVITY_COLUMNS = (
    "analysis_id",
    "restriction",
    "k",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "estimate_exp",
    "ci_low_exp",
    "ci_high_exp",
    "scale",
    "status",
)
#: restriction -> (overall judgements kept, what an empty subset is called)
RESTRICTIONS = {
    "all": (None, ""),
    "low_risk_only": (("low",), "no trial at low overall risk of bias"),
    "excluding_high_risk": (
        ("low", "some concerns"),
        "no judged trial at low risk or some concerns",
    ),
}
_ESTIMATES = ("estimate", "se", "ci_low", "ci_high", "estimate_exp", "ci_low_exp", "ci_high_exp")


def _keys(group_by) -> list[str]:
    return [c for c in group_by if c != "analysis_id"]


def _primary(pooled: pd.DataFrame) -> pd.DataFrame:
    return pooled[pooled["primary"].astype(bool)].set_index("analysis_id")


def risk_of_bias_table(resolved: pd.DataFrame, studies: pd.DataFrame, pooled, group_by):
    """risk_of_bias.csv: one row per judged trial of each analysis, with its percentage weight in
    the primary random-effects model (empty when the trial was not pooled)."""
    keys = _keys(group_by)
    columns = [*keys, *ROB_COLUMNS]
    if resolved.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    measure = _primary(pooled)["measure"]
    st = studies[["analysis_id", "study_id", "measure", "weight_random"]]
    st = st[st["measure"].to_numpy(object) == measure.reindex(st["analysis_id"]).to_numpy(object)]
    out = resolved.merge(
        st.drop(columns="measure"), on=["analysis_id", "study_id"], how="left", sort=False
    )
    out["weight_percent"] = pd.to_numeric(out["weight_random"], errors="coerce")
    return out[columns].reset_index(drop=True)


def _restricted_effects(effects, resolved, kept) -> pd.DataFrame:
    prim = effects[effects["primary_measure"].astype(bool)]
    judged = resolved[resolved["overall"].isin(kept)][["analysis_id", "study_id"]]
    return prim.merge(judged, on=["analysis_id", "study_id"], how="inner", sort=False)


def _pooled_rows(subset, keys, settings) -> pd.DataFrame:
    if subset.empty:
        return pd.DataFrame(columns=["analysis_id", "k", *_ESTIMATES, "scale", "status"])
    pooled, _ = pool_analyses(
        subset,
        keys,
        tau2_methods=[settings.primary_tau2_method],
        ci_methods=[settings.primary_ci_method],
        prediction_interval=settings.prediction_interval,
        level=settings.level,
        models=["random"],
    )
    return pooled[pooled["primary"].astype(bool)]


def _status(restriction, k_sub, n_unjudged, empty_reason, pooled_status) -> str:
    if restriction == "all":
        return str(pooled_status)
    if k_sub == 0:
        unjudged = f" ({n_unjudged} trial(s) without a judgement)" if n_unjudged else ""
        return f"not estimable: {empty_reason}{unjudged}"
    notes = [str(pooled_status)]
    if n_unjudged:
        notes.append(f"{n_unjudged} trial(s) without a judgement left out")
    return "; ".join(notes)


def rob_sensitivity_table(effects, resolved, pooled, settings) -> pd.DataFrame:
    """rob_sensitivity.csv: for each analysis with at least one judged trial, the primary result
    (``all``) and the same model on the trials at low overall risk (``low_risk_only``) and on
    those not at high risk (``excluding_high_risk``); ``status`` says why a row is empty."""
    keys = _keys(settings.group_by)
    columns = [*keys, *SENSITIVITY_COLUMNS]
    aids = sorted(set(resolved["analysis_id"]) & set(pooled["analysis_id"]))
    if not aids:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    primary = _primary(pooled)
    k_all = primary["k"]
    n_judged = resolved.groupby("analysis_id")["study_id"].nunique()
    rows = []
    for restriction, (kept, empty_reason) in RESTRICTIONS.items():
        fits = (
            primary
            if kept is None
            else _pooled_rows(
                _restricted_effects(effects, resolved, kept), keys, settings
            ).set_index("analysis_id")
        )
        for aid in aids:
            row = {c: primary.at[aid, c] for c in keys}
            row.update(analysis_id=aid, restriction=restriction, scale=primary.at[aid, "scale"])
            have = aid in fits.index
            row["k"] = int(fits.at[aid, "k"]) if have else 0
            row.update({c: fits.at[aid, c] if have else np.nan for c in _ESTIMATES})
            row["status"] = _status(
                restriction,
                row["k"],
                int(k_all[aid]) - int(n_judged.get(aid, 0)),
                empty_reason,
                fits.at[aid, "status"] if have else "",
            )
            rows.append(row)
    out = pd.DataFrame(rows, columns=columns)
    order = {r: i for i, r in enumerate(RESTRICTIONS)}
    out["_o"] = out["restriction"].map(order)
    out = out.sort_values(["analysis_id", "_o"], kind="stable").drop(columns="_o")
    out["k"] = out["k"].astype("Int64")
    return out.reset_index(drop=True)
