"""The risk-of-bias section of an analysis page: the traffic-light and weighted summary plots
(:mod:`trialmeta.plots.risk_of_bias`), the judgements with each trial's weight
(``risk_of_bias.csv``) and the restricted re-analyses (``rob_sensitivity.csv``) next to the
primary result. Analyses without judgements get no section (``None``)."""

from __future__ import annotations

import math

import pandas as pd

from trialmeta.inputs.risk_of_bias import JUDGEMENT_COLUMNS
from trialmeta.plots.labels import format_number

__all__ = ["RESTRICTION_LABELS", "rob_section"]

RESTRICTION_LABELS = {
    "all": "All trials (primary result)",
    "low_risk_only": "Trials at low overall risk of bias only",
    "excluding_high_risk": "Excluding trials at high overall risk of bias",
}


def _effect(row) -> str:
    ratio = str(row.get("scale", "")) == "log"
    cols = (
        ("estimate_exp", "ci_low_exp", "ci_high_exp")
        if ratio
        else ("estimate", "ci_low", "ci_high")
    )
    est, lo, hi = (pd.to_numeric(pd.Series([row.get(c)]), errors="coerce").iloc[0] for c in cols)
    if not math.isfinite(est):
        return ""
    return f"{format_number(est)} [{format_number(lo)}, {format_number(hi)}]"


def _section(aid: str, rob: pd.DataFrame, sens: pd.DataFrame, fig_names: list[str]) -> dict:
    trials = []
    for _, r in rob.sort_values("study_id", kind="stable").iterrows():
        w = pd.to_numeric(pd.Series([r.get("weight_percent")]), errors="coerce").iloc[0]
        trials.append(
            {
                "study_id": str(r["study_id"]),
                "cells": [
                    (c, r[c] if isinstance(r[c], str) else "no information")
                    for c in JUDGEMENT_COLUMNS
                ],
                "weight": f"{w:.1f}%" if math.isfinite(w) else "",
            }
        )
    rows = [
        {
            "restriction": RESTRICTION_LABELS.get(str(r["restriction"]), str(r["restriction"])),
            "primary": str(r["restriction"]) == "all",
            "k": "" if pd.isna(r["k"]) else int(r["k"]),
            "effect": _effect(r),
            "status": str(r.get("status", "") or ""),
        }
        for _, r in sens.iterrows()
    ]
    figures = {
        kind: next((n for n in fig_names if n == f"{aid}.{kind}.svg"), None)
        for kind in ("rob_traffic_light", "rob_summary")
    }
    return {"trials": trials, "sensitivity": rows, **figures}


def rob_section(aid: str, tables: dict, fig_names) -> dict | None:
    """The section context of one analysis, from ``tables["risk_of_bias"]`` and
    ``tables["rob_sensitivity"]`` (the report's exploration tables); None without judgements.
    The page cache key covers these tables (each analysis's rows)."""
    rob = tables.get("risk_of_bias")
    if not isinstance(rob, pd.DataFrame) or not len(rob):
        return None
    rows = rob[rob["analysis_id"].astype(str) == aid]
    if not len(rows):
        return None
    sens = tables.get("rob_sensitivity")
    sens = (
        sens[sens["analysis_id"].astype(str) == aid]
        if isinstance(sens, pd.DataFrame) and len(sens)
        else pd.DataFrame(columns=["restriction", "k"])
    )
    return _section(aid, rows, sens, list(fig_names))
