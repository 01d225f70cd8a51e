"""The report's Summary of Findings page (``summary_of_findings.html``), laid out like a GRADE SoF
table: one table per therapy x condition, outcomes as rows, a footnote for each downgrade (and
each reviewer override or domain not assessed), and the run's evidence map.

:func:`sof_groups` turns ``summary_of_findings`` and ``grade_signals`` into the display rows that
both this page and the Word document (:mod:`trialmeta.report.sof_docx`) show.

At scale the tables are split (:func:`sof_parts`): with more than :data:`SOF_PAGE_ROWS` analyses
the page keeps the evidence map and becomes a contents page (therapy by therapy, a link to each
therapy x condition table), and the tables go on numbered pages of at most that many rows
(``summary_of_findings-1.html`` ...; a table is never split), so no page holds 10,000 tables.
Every analysis stays on a page; a run that fits is one page exactly as before.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from trialmeta.pipeline.safe_csv import atomic_write_bytes
from trialmeta.plots.evidence_map_layout import map_axes
from trialmeta.plots.labels import format_number
from trialmeta.tables.grade import DOMAIN_NAMES, DOMAINS

if TYPE_CHECKING:  # an annotation only: the SoF job (sof_docx) renders no page
    import jinja2

__all__ = [
    "sof_groups",
    "sof_parts",
    "write_sof_page",
    "add_sof_page",
    "SOF_PAGE",
    "SOF_HEADERS",
    "SOF_PAGE_ROWS",
]

SOF_PAGE = "summary_of_findings.html"
SOF_DIR = "sof"  # the evidence map's copies inside the report
#: Most analyses (table rows) on one SoF page: 500 rows are about 0.8 MB of HTML, quick to open;
#: beyond them the tables are split over numbered pages (:func:`sof_parts`)
SOF_PAGE_ROWS = 500
SOF_HEADERS = [
    "Outcome (participants, trials)",
    "Relative effect (95% CI)",
    "Risk with comparator (assumed)",
    "Risk with intervention (95% CI)",
    "Difference (95% CI)",
    "NNT (95% CI)",
    "Certainty of the evidence (GRADE)",
    "What happens",
]


def _f(row, col) -> float:
    try:
        return float(row.get(col))
    except (TypeError, ValueError):
        return math.nan


def _per_1000(x: float) -> str:
    return f"{round(x):,}" if math.isfinite(x) else "\u2013"


def _more_fewer(x: float, unit: str = "") -> str:
    if not math.isfinite(x):
        return "\u2013"
    r = round(x)
    if r == 0:
        return f"0{unit}"
    return f"{abs(r):,}{unit} {'more' if r > 0 else 'fewer'}"


def _higher_lower(x: float) -> str:
    if not math.isfinite(x):
        return "\u2013"
    word = "higher" if x > 0 else "lower"
    return f"{format_number(abs(x))} {word}"


def _absolute_cells(row, sig) -> list[str]:
    """Risk with comparator, risk with intervention, difference (GRADE SoF wording)."""
    acr = _f(row, "assumed_control_risk_per_1000")
    if math.isfinite(acr):
        return [
            f"{_per_1000(acr)} per 1,000",
            f"{_per_1000(_f(row, 'treatment_risk_per_1000'))} per 1,000 "
            f"({_per_1000(_f(row, 'treatment_risk_ci_low'))} to "
            f"{_per_1000(_f(row, 'treatment_risk_ci_high'))})",
            f"{_more_fewer(_f(row, 'risk_difference_per_1000'))} per 1,000 "
            f"({_more_fewer(_f(row, 'rd_ci_low'))} to {_more_fewer(_f(row, 'rd_ci_high'))})",
        ]
    if str(row.get("relative_measure")) == "MD":
        mean = _f(sig, "control_mean") if sig is not None else math.nan
        lo, hi = _f(row, "relative_ci_low"), _f(row, "relative_ci_high")
        return [
            f"mean {format_number(mean)}" if math.isfinite(mean) else "\u2013",
            "\u2013",
            f"MD {_higher_lower(_f(row, 'relative_estimate'))} "
            f"({_higher_lower(lo)} to {_higher_lower(hi)})",
        ]
    return ["\u2013", "\u2013", "\u2013"]


def _footnotes(sig) -> list[str]:
    """One footnote per domain that took a level off, was judged by the reviewer, or is not
    assessed (risk of bias)."""
    notes = []
    if sig is None:
        return notes
    for d in DOMAINS:
        level, signal = int(sig.get(f"{d}_downgrade") or 0), str(sig.get(f"{d}_signal"))
        reviewer = bool(sig.get(f"{d}_reviewer_override"))
        if not (level or reviewer or (d == "risk_of_bias" and signal == "not assessed")):
            continue
        reason = str(sig.get(f"{d}_reason"))
        if reason.startswith(signal):  # "not assessed: ..." says it already
            text = f"{DOMAIN_NAMES[d].capitalize()}: {reason}."
        else:
            head = f"{DOMAIN_NAMES[d].capitalize()}: {signal}"
            head += f", downgraded {level} level{'s' if level > 1 else ''}" if level else ""
            text = f"{head}. {reason[:1].upper()}{reason[1:]}."
        if reviewer:
            text += (
                f" Reviewer's judgement (suggested: {sig.get(f'{d}_suggested')}): "
                f"{sig.get(f'{d}_reviewer_reason')}."
            )
        notes.append(text.replace("..", "."))
    return notes


def _group_key(row) -> tuple[str, str]:
    therapy = next((str(row[c]) for c in ("therapy_class", "therapy") if c in row), "")
    return therapy, str(row["condition"]) if "condition" in row else ""


def _display_row(row, sig, footnote_no: dict) -> dict:
    numbers = []
    for note in _footnotes(sig):
        numbers.append(footnote_no.setdefault(note, len(footnote_no) + 1))
    measure = str(row["relative_measure"])
    measure = "proportion" if measure in ("PLO", "PAS", "PFT", "PR") else measure
    rel = (
        f"{measure} {format_number(_f(row, 'relative_estimate'))} "
        f"({format_number(_f(row, 'relative_ci_low'))} to "
        f"{format_number(_f(row, 'relative_ci_high'))})"
    )
    comparator = f" vs {row['comparator']}" if "comparator" in row else ""
    outcome = f"{row['outcome']} ({int(_f(row, 'participants')):,} participants, {int(_f(row, 'k'))} trials)"
    cells = [outcome, rel, *_absolute_cells(row, sig), str(row.get("nnt") or "\u2013")]
    return {
        "cells": cells,
        "certainty": str(row["certainty"]),
        "plain": str(row["plain_language"]),
        "notes": numbers,
        "comparator": comparator,
        "analysis_id": str(row["analysis_id"]),
    }


def _records(df: pd.DataFrame) -> list[dict]:
    """The rows of ``df`` as dicts, values as ``iterrows`` gives them (object dtype)."""
    return df.astype(object).to_dict("records") if len(df) else []


def _signal_columns(signals: pd.DataFrame) -> list:
    """The columns of ``grade_signals.csv`` a row's display reads (:func:`_display_row`: the
    analysis, the control-group mean and each domain's signal, level, reason and reviewer's
    judgement), in table order; half of the table's columns."""
    used = ("analysis_id", "control_mean")
    domains = tuple(f"{d}_" for d in DOMAINS)
    return [c for c in signals.columns if c in used or str(c).startswith(domains)]


def sof_groups(sof: pd.DataFrame, signals: pd.DataFrame) -> list[dict]:
    """``[{"therapy", "condition", "comparators", "rows", "footnotes"}]``, one per therapy x
    condition, in the table's order; footnotes numbered within each group. Rows are read as
    dicts (``to_dict("records")``: thousands of analyses in well under a second)."""
    sig_by = {str(r["analysis_id"]): r for r in _records(signals[_signal_columns(signals)])}
    groups: dict[tuple, dict] = {}
    for row in _records(sof):
        key = _group_key(row)
        g = groups.setdefault(
            key, {"therapy": key[0], "condition": key[1], "rows": [], "_notes": {}}
        )
        g["rows"].append(_display_row(row, sig_by.get(str(row["analysis_id"])), g["_notes"]))
    out = []
    for g in groups.values():
        g["footnotes"] = list(g.pop("_notes"))
        g["comparators"] = sorted({r["comparator"].removeprefix(" vs ") for r in g["rows"]})
        out.append(g)
    return out


def _part_page(i: int) -> str:
    return f"{Path(SOF_PAGE).stem}-{i}.html"


def sof_parts(groups: list[dict], max_rows: int = SOF_PAGE_ROWS) -> list[list[dict]]:
    """``groups`` in order, packed into pages of at most ``max_rows`` rows (a larger group is a
    page of its own); one part when they all fit."""
    parts: list[list[dict]] = [[]]
    rows = 0
    for g in groups:
        if parts[-1] and rows + len(g["rows"]) > max_rows:
            parts.append([])
            rows = 0
        parts[-1].append(g)
        rows += len(g["rows"])
    return parts


def _contents(parts: list[list[dict]]) -> list[dict]:
    """The contents page's entries, one per therapy (table order): ``{"therapy", "n",
    "links": [{"condition", "href", "n"}]}`` (``href`` into the numbered pages)."""
    by_therapy: dict[str, dict] = {}
    number = 0
    for i, part in enumerate(parts, start=1):
        for g in part:
            number += 1
            entry = by_therapy.setdefault(
                g["therapy"], {"therapy": g["therapy"], "n": 0, "links": []}
            )
            entry["n"] += len(g["rows"])
            href = f"{_part_page(i)}#sof-{number}"
            entry["links"].append({"condition": g["condition"], "href": href, "n": len(g["rows"])})
    return list(by_therapy.values())


def _remove_stale_parts(out_dir: Path, n_parts: int) -> None:
    """Remove numbered pages a previous run into the same folder wrote and this one did not."""
    keep = {_part_page(i) for i in range(1, n_parts + 1)}
    for old in sorted(out_dir.glob(f"{Path(SOF_PAGE).stem}-*.html")):
        if old.name not in keep:
            old.unlink()


def _page_context(common: dict, fields: dict) -> dict:
    """What every SoF page's template gets: one page of tables, no contents, no page links."""
    base = {"headers": SOF_HEADERS, "root": "", "contents": [], "part_nav": None, "sof_offset": 0}
    return {**base, **common, **fields}


def _write_page(env, out_dir: Path, name: str, context: dict) -> None:
    html = env.get_template("sof.html.j2").render(**context)
    atomic_write_bytes(out_dir / name, html.encode("utf-8"))


def _render_parts(env, common: dict, groups: list[dict], fields: dict, out_dir: Path) -> int:
    """The contents page (``SOF_PAGE``) and the numbered pages of the tables; their number."""
    parts = sof_parts(groups, SOF_PAGE_ROWS)
    base = _page_context(common, fields)
    offset = 0
    for i, part in enumerate(parts, start=1):
        nav = {
            "page": i,
            "pages": len(parts),
            "prev": _part_page(i - 1) if i > 1 else None,
            "next": _part_page(i + 1) if i < len(parts) else None,
        }
        page = {"groups": part, "part_nav": nav, "sof_offset": offset}
        _write_page(
            env,
            out_dir,
            _part_page(i),
            {**base, "evidence_map": None, "evidence_map_png": None, **page},
        )
        offset += len(part)
    contents = {"groups": [], "contents": _contents(parts), "sof_pages": len(parts)}
    _write_page(env, out_dir, SOF_PAGE, {**base, **contents, "sof_page_rows": SOF_PAGE_ROWS})
    return len(parts)


def write_sof_page(
    env: jinja2.Environment,
    common: dict,
    sof: pd.DataFrame,
    signals: pd.DataFrame,
    evidence_map: list,
    out_dir,
) -> dict:
    """Write ``out_dir/summary_of_findings.html`` and copy the evidence map (its files
    ``evidence_map``) into ``out_dir/sof/``; return the index page's fields."""
    out_dir = Path(out_dir)
    (out_dir / SOF_DIR).mkdir(parents=True, exist_ok=True)
    names = {}
    for f in map(Path, evidence_map):
        if f.suffix.lower() in (".svg", ".png"):
            shutil.copyfile(f, out_dir / SOF_DIR / f.name)
            names[f.suffix.lower()[1:]] = f"{SOF_DIR}/{f.name}"
    css = Path(__file__).resolve().parent / "static" / "sof.css"
    atomic_write_bytes(out_dir / "static" / "sof.css", css.read_bytes())
    fields = {
        "sof_page": SOF_PAGE,
        "evidence_map": names.get("svg") or names.get("png"),
        "evidence_map_png": names.get("png"),
        "sof_count": int(sof["analysis_id"].nunique()) if len(sof) else 0,
        "evidence_map_note": map_axes(sof).note if names else "",  # what the map leaves out
    }
    groups = sof_groups(sof, signals)
    if sum(len(g["rows"]) for g in groups) > SOF_PAGE_ROWS:
        _remove_stale_parts(out_dir, _render_parts(env, common, groups, fields, out_dir))
        return fields
    _remove_stale_parts(out_dir, 0)
    _write_page(env, out_dir, SOF_PAGE, {**_page_context(common, fields), "groups": groups})
    return fields


def add_sof_page(index, env, common: dict, summary_of_findings: dict | None, out_dir) -> None:
    """:func:`write_sof_page` for ``summary_of_findings`` (``{"sof", "signals",
    "evidence_map"}``, or None: nothing) and its link and evidence map on the report index
    (``index``: the :class:`~trialmeta.report.index_page.IndexPage`). Only the index gets the
    fields, so the cache keys of the analysis pages do not change."""
    if summary_of_findings is None:
        return
    fields = write_sof_page(env, common, **summary_of_findings, out_dir=out_dir)
    index.common = {**index.common, **fields}
