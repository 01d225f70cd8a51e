"""Effects-table parts of ``time_to_event`` and ``rate`` rows (called by
:func:`trialmeta.tables.effects.compute_effect_sizes`).

* time_to_event rows: measure ``HR`` (log scale) from the source each row gives
  (:func:`trialmeta.stats.time_to_event.time_to_event_effects`); the source is the row's
  ``hr_source`` (studies.csv, forest plot footnote);
* rate rows: the configured ``measures.rate`` (``IRR``, ``IRD``) from events and person-time
  (:func:`trialmeta.stats.time_to_event.rate_effects`, escalc's continuity correction), or
  ``IRR`` from a reported rate ratio with its CI (such rows have no ``IRD``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.inputs.time_to_event import SOURCE_NAMES, favours_treatment
from trialmeta.stats.effect_sizes import EffectSizes
from trialmeta.stats.time_to_event import (
    HR_SOURCES,
    RATE_MEASURES,
    hr_from_ci,
    rate_effects,
    time_to_event_effects,
)

__all__ = ["time_to_event_parts", "rate_parts", "hr_source_labels", "RATE_MEASURES"]

_SOURCE_LABEL = dict(zip(HR_SOURCES, SOURCE_NAMES))


def _num(df: pd.DataFrame, col: str, idx) -> np.ndarray:
    if col not in df:
        return np.full(len(idx), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)[idx]


def time_to_event_parts(out, idx, level: float) -> np.ndarray:
    """Add the HR part of the time_to_event rows ``idx`` to ``out`` (the effects table's parts)
    and return each row's source name (:data:`trialmeta.inputs.time_to_event.SOURCE_NAMES`)."""
    df = out.df
    fav_text = df["logrank_favours"].to_numpy(dtype=object)[idx] if "logrank_favours" in df else []
    fav = [favours_treatment(x) for x in fav_text] if len(fav_text) else [None] * len(idx)
    known = np.array([f is not None for f in fav], bool)
    p = np.where(known, _num(df, "logrank_p", idx), np.nan)
    es, source = time_to_event_effects(
        estimate=_num(df, "estimate", idx),
        ci_low=_num(df, "ci_low", idx),
        ci_high=_num(df, "ci_high", idx),
        o_minus_e=_num(df, "o_minus_e", idx),
        v=_num(df, "v", idx),
        log_hr=_num(df, "log_hr", idx),
        se_log_hr=_num(df, "se_log_hr", idx),
        logrank_p=p,
        favours_treatment=np.array([bool(f) for f in fav], bool),
        events_total=_num(df, "events_total", idx),
        allocation_ratio=_num(df, "allocation_ratio", idx),
        level=level,
    )
    out.add(idx, "time_to_event", "HR", es, 0, True)
    return np.array([_SOURCE_LABEL.get(s, "") for s in source], dtype=object)


def rate_parts(out, idx, measures, cont, groups) -> None:
    """Add the rate measures of the rate rows ``idx``: counts where given, else the reported
    rate ratio (IRR only)."""
    df = out.df
    x1, t1, x2, t2 = (
        _num(df, c, idx)
        for c in ("events_treat", "person_time_treat", "events_ctrl", "person_time_ctrl")
    )
    counts = np.isfinite(x1) & np.isfinite(t1) & np.isfinite(x2) & np.isfinite(t2)
    for r, m in enumerate(measures):
        es = rate_effects(
            x1,
            t1,
            x2,
            t2,
            m,
            add=cont["add"],
            to=cont["to"],
            drop00=bool(cont["drop00"]),
            group=groups,
        )
        if m == "IRR":
            yi, vi = hr_from_ci(
                _num(df, "estimate", idx), _num(df, "ci_low", idx), _num(df, "ci_high", idx)
            )
            es = EffectSizes(
                np.where(counts, es.yi, yi),
                np.where(counts, es.vi, vi),
                np.where(counts, es.sei, np.sqrt(vi)),
                es.corrected & counts,
                es.dropped & counts,
                es.scale,
                m,
            )
            out.add(idx, "rate", m, es, r, r == 0)
        elif counts.any():
            keep = idx[counts]
            sub = EffectSizes(
                es.yi[counts], es.vi[counts], es.sei[counts], es.corrected[counts],
                es.dropped[counts], es.scale, m,
            )  # fmt: skip
            out.add(keep, "rate", m, sub, r, r == 0)


def hr_source_labels(n_rows: int, parts) -> np.ndarray:
    """One ``hr_source`` per input row (empty for rows that are not time_to_event)."""
    labels = np.full(n_rows, "", dtype=object)
    for idx, names in parts:
        labels[idx] = names
    return labels
