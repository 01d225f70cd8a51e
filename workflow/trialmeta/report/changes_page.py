"""The report's "What changed" page (``changes.html``) from ``changes.json``
(:mod:`trialmeta.pipeline.compare`): every run of the history, newest first."""

from __future__ import annotations

from pathlib import Path

import jinja2

from trialmeta.pipeline.compare import CHANGES_COLUMNS, summary_text
from trialmeta.pipeline.safe_csv import atomic_write_bytes

__all__ = ["write_changes_page", "ROWS_SHOWN"]

#: Rows of one run shown on the page (the CSV has them all).
ROWS_SHOWN = 200


def _entry(entry: dict) -> dict:
    rows = list(entry.get("changes") or [])
    return {
        "baseline": entry.get("baseline"),
        "summary_text": summary_text(entry),
        "flags": [r for r in rows if r.get("kind") == "conclusion"],
        "rows": rows[:ROWS_SHOWN],
        "more": max(0, len(rows) - ROWS_SHOWN) + int(entry.get("rows_not_kept") or 0),
    }


def write_changes_page(env: jinja2.Environment, common: dict, changes: dict, out_dir) -> Path:
    """Write ``out_dir/changes.html`` and return its path."""
    entries = [_entry(e) for e in (changes.get("history") or [changes])]
    html = env.get_template("changes.html.j2").render(
        entries=entries, columns=CHANGES_COLUMNS, root="", **common
    )
    return atomic_write_bytes(Path(out_dir) / "changes.html", html.encode("utf-8"))
