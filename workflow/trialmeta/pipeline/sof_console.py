"""The Summary of Findings line printed at the end of a successful run (standard library only:
the Snakefile's ``onsuccess`` handler runs it in the Snakemake process)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

__all__ = ["sof_line"]

_ORDER = ("high", "moderate", "low", "very low")


def _rows(path: Path) -> list[dict]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except OSError:
        return []


def sof_line(results) -> str:
    """``trialmeta: summary of findings: N analyses (certainty ...); ...`` from the published
    ``grade_signals.csv``; empty when the run has none."""
    results = Path(results)
    signals = _rows(results / "tables" / "grade_signals.csv")
    if not signals:
        return ""
    counts = Counter(r.get("certainty", "") for r in signals)
    certainty = ", ".join(f"{counts[c]} {c}" for c in _ORDER if counts[c])
    no_rob = sum(r.get("risk_of_bias_signal") == "not assessed" for r in signals)
    judged = sum(
        r.get(f"{d}_reviewer_override") == "True"
        for r in signals
        for d in (
            "risk_of_bias",
            "inconsistency",
            "indirectness",
            "imprecision",
            "publication_bias",
        )
    )
    page = (results / "report" / "summary_of_findings.html").resolve()
    return (
        f"trialmeta: summary of findings: {len(signals)} analyses, certainty {certainty}; "
        f"risk of bias not assessed for {no_rob}; {judged} reviewer judgement(s) applied; {page}"
    )
