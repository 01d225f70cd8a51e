"""Forest-plot footnotes saying where each study's effect came from.

* time-to-event studies (``hr_source`` in studies.csv): ``HR from: HR + CI (ORATORIO 2017);
  log HR + SE (OLYMPUS 2009)``; approximations from a log-rank p-value are marked;
* multi-arm trials (``multi_arm`` in studies.csv, :mod:`trialmeta.inputs.multi_arm`): what was
  done with the shared control group, per trial.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["source_footnotes"]


def _filled(st: pd.DataFrame, col: str) -> pd.DataFrame:
    if col not in st.columns:
        return st.iloc[0:0]
    text = st[col].fillna("").astype(str).str.strip()
    return st[(text != "") & (text.str.lower() != "nan")]


def source_footnotes(st: pd.DataFrame) -> list[tuple[str, str]]:
    """(gid, text) notes for the plotted studies ``st`` (empty when nothing to say)."""
    notes = []
    hr = _filled(st, "hr_source")
    if len(hr):
        by_source: dict[str, list[str]] = {}
        for src, sid in zip(hr["hr_source"].astype(str), hr["study_id"].astype(str)):
            by_source.setdefault(src, []).append(sid)
        parts = [f"{src} ({', '.join(ids)})" for src, ids in by_source.items()]
        notes.append(("note-hr-source", "Hazard ratios from: " + "; ".join(parts) + "."))
    arms = _filled(st, "multi_arm")
    if len(arms):
        seen = dict.fromkeys(
            f"{sid.split(' (')[0]}: {what}"
            for sid, what in zip(arms["study_id"].astype(str), arms["multi_arm"].astype(str))
        )
        notes.append(("note-multi-arm", "Multi-arm trial " + "; ".join(seen) + "."))
    return notes
