"""Input rules of the single-arm outcome types (uncontrolled evidence).

* ``single_arm_proportion``: ``events_treat`` of ``n_treat`` (events <= n); ``single_arm_change``:
  ``n`` with ``mean_baseline, sd_baseline, mean_followup, sd_followup`` or ``mean_change,
  sd_change`` (SDs > 0 are schema rules).
* A blank ``comparator`` of a single-arm row reads :data:`NO_COMPARATOR`, so an analysis key never
  has an empty cell and the analysis id is stable. A single-arm row is never in the same analysis
  as a randomised row: ``outcome_type`` is part of the key (``group_by``), and without it
  :mod:`trialmeta.inputs.validate` refuses two outcome types in one analysis.
* ``cohort_id`` (optional): rows of one analysis with the same cohort_id describe overlapping
  populations; :func:`overlapping_cohorts` keeps the row with the largest n (ties: the most
  recent year, then the first row) and lists the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.inputs.errors import Problem

__all__ = [
    "SINGLE_ARM_TYPES",
    "NO_COMPARATOR",
    "UNCONTROLLED_LABEL",
    "is_single_arm",
    "fill_blank_comparator",
    "change_columns_needed",
    "single_arm_row_rules",
    "overlapping_cohorts",
    "single_arm_warnings",
    "PFT_WARNING",
]

SINGLE_ARM_TYPES = ("single_arm_proportion", "single_arm_change")
NO_COMPARATOR = "none (single arm)"
UNCONTROLLED_LABEL = "uncontrolled (single-arm) evidence"
CHANGE_FROM_ARMS = ("mean_baseline", "sd_baseline", "mean_followup", "sd_followup")
CHANGE_DIRECT = ("mean_change", "sd_change")


def is_single_arm(outcome_type) -> bool:
    return str(outcome_type or "").strip().casefold() in SINGLE_ARM_TYPES


def fill_blank_comparator(checker) -> None:
    """Blank comparator cells of single-arm rows -> :data:`NO_COMPARATOR` (``checker`` is the
    validation checker, after its outcome types were parsed)."""
    if "comparator" not in checker.df:
        return
    for i, t in enumerate(checker.types):
        if t in SINGLE_ARM_TYPES and checker.text["comparator"][i] == "":
            checker.text["comparator"][i] = NO_COMPARATOR
            checker.df.at[i, "comparator"] = NO_COMPARATOR


def change_columns_needed(header) -> list:
    """Columns a file with single_arm_change rows must have: ``n`` and one of the two sets."""
    if set(CHANGE_DIRECT) <= set(header) and not set(CHANGE_FROM_ARMS) <= set(header):
        return ["n", *CHANGE_DIRECT]
    return ["n", *CHANGE_FROM_ARMS]


def single_arm_row_rules(checker, i, t) -> None:
    """Cross-cell rules of one single-arm row (``checker``: the validation checker)."""
    v = checker.val
    if t == "single_arm_proportion":
        x, n = v(i, "events_treat"), v(i, "n_treat")
        if x is not None and n is not None and x > n and x >= 0 and n >= 1:
            checker.err(
                i,
                "events_treat",
                f"> n_treat={checker.cell(i, 'n_treat')}",
                checker.cell(i, "events_treat"),
            )
        elif x is not None and n is not None and (x == 0 or x == n):
            checker.warn(
                i,
                "events_treat",
                "0 or all participants with the event: PLO and PR use the continuity correction "
                "(metafor's escalc rule); the GLMM needs none",
                checker.cell(i, "events_treat"),
            )
    elif t == "single_arm_change":
        n = v(i, "n")
        if n is not None and n < 2:
            checker.err(i, "n", "must be >= 2 for a mean and SD", checker.cell(i, "n"))


def _row_n(df: pd.DataFrame) -> np.ndarray:
    n = pd.to_numeric(df.get("n_treat"), errors="coerce") if "n_treat" in df else None
    m = pd.to_numeric(df.get("n"), errors="coerce") if "n" in df else None
    out = np.full(len(df), np.nan)
    if n is not None:
        out = np.where(np.isfinite(n.to_numpy(float)), n.to_numpy(float), out)
    if m is not None:
        out = np.where(np.isfinite(out), out, m.to_numpy(float))
    return out


def overlapping_cohorts(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per trial row that is NOT pooled because another row of its analysis has the same
    ``cohort_id`` and more participants: ``analysis_id, study_id, cohort_id, n, kept_study_id,
    kept_n, source_file, source_row``. Rule: the largest n is pooled (ties: the latest year, then
    the first row). Empty when there is no ``cohort_id`` column."""
    cols = [
        "analysis_id",
        "study_id",
        "cohort_id",
        "n",
        "kept_study_id",
        "kept_n",
        "source_file",
        "source_row",
    ]
    if "cohort_id" not in trials or not len(trials):
        return pd.DataFrame(columns=cols)
    df = trials.reset_index(drop=True)
    cid = df["cohort_id"].astype(str).str.strip()
    cid = cid.where(~df["cohort_id"].isna() & ~cid.isin(["", "nan", "None"]), "")
    year = (
        pd.to_numeric(df["year"], errors="coerce")
        if "year" in df
        else pd.Series(np.nan, index=df.index)
    )
    work = pd.DataFrame(
        {
            "aid": df["analysis_id"].astype(str),
            "cid": cid,
            "n": _row_n(df),
            "year": year.fillna(-np.inf),
            "row": np.arange(len(df)),
        }
    )
    work = work[work["cid"] != ""].sort_values(
        ["aid", "cid", "n", "year", "row"], ascending=[True, True, False, False, True]
    )
    rows = []
    for _, g in work.groupby(["aid", "cid"], sort=True):
        keep = int(g["row"].iloc[0])
        for r in g["row"].iloc[1:]:
            r = int(r)
            rows.append(
                [
                    df.at[r, "analysis_id"],
                    df.at[r, "study_id"],
                    work.at[r, "cid"] if r in work.index else "",
                    work.at[r, "n"],
                    df.at[keep, "study_id"],
                    work.at[keep, "n"],
                    df.at[r, "source_file"] if "source_file" in df else "",
                    df.at[r, "source_row"] if "source_row" in df else np.nan,
                ]
            )
    return pd.DataFrame(rows, columns=cols)


PFT_WARNING = (
    "PFT (Freeman-Tukey double arcsine): the pooled proportion is back-transformed with the "
    "harmonic mean of the sample sizes (metafor transf.ipft.hm), which can give seriously "
    "misleading results (Schwarzer et al. 2019, Res Synth Methods 10:476); prefer PLO or the "
    "GLMM"
)


def _where(trials, i):
    f = str(trials["source_file"].iloc[i]) if "source_file" in trials else "trials table"
    r = trials["source_row"].iloc[i] if "source_row" in trials else i + 2
    return f, (int(r) if pd.notna(r) else None)


def single_arm_warnings(trials: pd.DataFrame, measures) -> list:
    """Warnings (:class:`Problem`, attached to a trial row so they reach the analysis's report
    page and the console summary): every row left out as an overlapping population
    (``cohort_id``), and the Freeman-Tukey back-transformation when ``PFT`` is computed
    (``measures``: the single-arm proportion measures), once per proportion analysis."""
    out = []
    df = trials.reset_index(drop=True)
    listing = overlapping_cohorts(df)
    for _, r in listing.iterrows():
        i = int(
            np.flatnonzero(
                (df["analysis_id"].astype(str) == str(r["analysis_id"]))
                & (df["study_id"].astype(str) == str(r["study_id"]))
            )[0]
        )
        out.append(
            Problem(
                *_where(df, i),
                "cohort_id",
                f"overlapping population: cohort_id {r['cohort_id']!r} is shared with "
                f"{r['kept_study_id']!r} (n={r['kept_n']:g}) in this analysis; only the row with the "
                f"largest n is pooled, {r['study_id']!r} (n={r['n']:g}) is listed but not pooled",
                str(r["cohort_id"]),
                "warning",
            )
        )
    if "PFT" in tuple(measures or ()) and "outcome_type" in df:
        prop = df[df["outcome_type"].astype(str) == "single_arm_proportion"]
        for aid in prop["analysis_id"].astype(str).unique():
            i = int(np.flatnonzero(df["analysis_id"].astype(str) == aid)[0])
            out.append(Problem(*_where(df, i), None, PFT_WARNING, None, "warning"))
    return out
