"""Sparse binary data panel: for analyses with a zero cell, several ways of pooling side by side.

Zero cells make the usual inverse-variance log odds ratio depend on the continuity correction
(Sweeting, Sutton & Lambert 2004; Cochrane Handbook 10.4.4.2: "Meta-analysis of rare events").
The panel shows, per binary analysis with at least one zero cell:

* ``MH_OR_no_cc``: Mantel-Haenszel OR from the raw counts, no continuity correction
  (Robins-Breslow-Greenland variance), metafor ``rma.mh``;
* ``PETO_OR``: Peto's one-step OR (no correction needed), metafor ``rma.peto``;
* ``IV_OR_cc0.5``: inverse-variance random effects (REML) on log ORs with 1/2 added to every
  cell of studies with a zero cell (escalc default), i.e. the main analysis' OR;
* ``MH_RD_no_cc``: Mantel-Haenszel risk difference (Sato-Greenland-Robins variance), raw counts.

Flags (repeated on every row of the analysis): ``disagree_direction`` when the point estimates
do not all lie on the same side of the null, ``disagree_significance`` when the 95% CI excludes
the null under at least one method but not under another. Double-zero studies carry no
information for MH/Peto (left out of their Q tests) but stay in the IV analysis (escalc
``drop00 = FALSE``), one more reason the methods can disagree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.stats.batch import StudyBatch, pad_by_group
from trialmeta.stats.sensitivity import fit_random_effects

__all__ = ["sparse_panel", "PANEL_METHODS"]

PANEL_METHODS = ("MH_OR_no_cc", "PETO_OR", "IV_OR_cc0.5", "MH_RD_no_cc")
COLUMNS = [
    "analysis_id",
    "method",
    "measure",
    "scale",
    "k",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "pval",
    "direction",
    "significant",
    "disagree_direction",
    "disagree_significance",
]


def sparse_panel(effects: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """The panel for every binary analysis with a zero cell (one batched call per method)."""
    need = ["events_treat", "n_treat", "events_ctrl", "n_ctrl"]
    if not all(c in effects for c in need) or len(effects) == 0:
        return pd.DataFrame(columns=COLUMNS)
    eff = effects[np.isfinite(effects[need].to_numpy(float)).all(1)].copy()
    if eff.empty:
        return pd.DataFrame(columns=COLUMNS)
    # one row per study: prefer the OR rows (their yi/vi are the corrected log ORs)
    eff["_is_or"] = eff["measure"].astype(str) == "OR"
    eff = eff.sort_values(["analysis_id", "_is_or"], ascending=[True, False], kind="stable")
    has_or = eff.groupby("analysis_id")["_is_or"].transform("any")
    eff = eff[eff["_is_or"] | ~has_or]
    eff = eff.drop_duplicates(["analysis_id", "study_id"], keep="first")
    a, n1, c, n2 = (eff[x].to_numpy(float) for x in need)
    zero = (a == 0) | (c == 0) | (a == n1) | (c == n2)
    sparse_ids = sorted(set(eff.loc[zero, "analysis_id"]))
    if not sparse_ids:
        return pd.DataFrame(columns=COLUMNS)
    eff = eff[eff["analysis_id"].isin(sparse_ids)]
    eff = eff.sort_values("analysis_id", kind="stable")
    codes = np.searchsorted(np.array(sparse_ids, dtype=object), eff["analysis_id"].to_numpy(object))
    mask, pos, A, N1, C, N2 = pad_by_group(codes, *(eff[x].to_numpy(float) for x in need))
    A, N1, C, N2 = (np.where(mask, x, 0.0) for x in (A, N1, C, N2))
    from trialmeta.stats.mantel_haenszel import mantel_haenszel
    from trialmeta.stats.peto import peto

    results = {
        "MH_OR_no_cc": ("OR", "log", mantel_haenszel(A, N1, C, N2, mask, "OR", level=level)),
        "PETO_OR": ("OR", "log", peto(A, N1, C, N2, mask, level=level)),
        "MH_RD_no_cc": ("RD", "raw", mantel_haenszel(A, N1, C, N2, mask, "RD", level=level)),
    }
    if eff["measure"].astype(str).eq("OR").all():
        _, _, y, v = pad_by_group(codes, eff["yi"].to_numpy(float), eff["vi"].to_numpy(float))
        iv = fit_random_effects(
            StudyBatch(np.where(mask, y, 0.0), np.where(mask, v, 1.0), mask), "REML", level=level
        )
        results["IV_OR_cc0.5"] = ("OR", "log", iv)
    frames = []
    for method in PANEL_METHODS:
        if method not in results:
            continue
        measure, scale, r = results[method]
        frames.append(
            pd.DataFrame(
                {
                    "analysis_id": sparse_ids,
                    "method": method,
                    "measure": measure,
                    "scale": scale,
                    "k": mask.sum(1),
                    "estimate": r.estimate,
                    "se": r.se,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                    "pval": r.pval,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    est = df["estimate"].to_numpy(float)
    df["direction"] = np.where(np.isfinite(est), np.sign(est), np.nan)
    df["significant"] = (df["ci_low"] > 0) | (df["ci_high"] < 0)
    grp = df.groupby("analysis_id")
    dmin = grp["direction"].transform("min")
    dmax = grp["direction"].transform("max")
    df["disagree_direction"] = (dmin != dmax) & dmin.notna()
    df["disagree_significance"] = grp["significant"].transform("any") & ~grp[
        "significant"
    ].transform("all")
    order = {m: i for i, m in enumerate(PANEL_METHODS)}
    df["_o"] = df["method"].map(order)
    df = df.sort_values(["analysis_id", "_o"], kind="stable").drop(columns="_o")
    df["direction"] = df["direction"].astype("Int64")
    return df[COLUMNS].reset_index(drop=True)
