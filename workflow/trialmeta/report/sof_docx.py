"""``summary_of_findings.docx``: the Summary of Findings tables as a Word document (python-docx),
because reviewers paste SoF tables into manuscripts.

Landscape pages; one GRADE-style table per therapy x condition with its numbered footnotes (the
same display rows as the report page, :func:`trialmeta.report.sof_page.sof_groups`), then an
appendix table holding ``summary_of_findings.csv`` cell for cell (the CSV's text, so a test can
read the document back and compare).

The bytes are reproducible: the document's created/modified dates are fixed and the ZIP entries
are rewritten with a fixed timestamp in a fixed order.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pandas as pd

from trialmeta.pipeline.safe_csv import atomic_write_bytes
from trialmeta.report.sof_page import SOF_HEADERS, sof_groups

__all__ = ["write_sof_docx", "APPENDIX_TITLE"]

APPENDIX_TITLE = "Appendix: summary_of_findings.csv"
_FIXED_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _landscape(doc) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm

    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.5))


def _small(cell, text: str, bold: bool = False, size: float = 8.0) -> None:
    from docx.shared import Pt

    cell.text = ""
    run = cell.paragraphs[0].add_run(text)
    run.font.size = Pt(size)
    run.bold = bold


def _group_table(doc, group: dict) -> None:
    table = doc.add_table(rows=1, cols=len(SOF_HEADERS))
    table.style = "Table Grid"
    for cell, head in zip(table.rows[0].cells, SOF_HEADERS):
        _small(cell, head, bold=True)
    for r in group["rows"]:
        cells = table.add_row().cells
        marks = "".join(f" ({n})" for n in r["notes"])
        texts = [*r["cells"], r["certainty"].upper() + marks, r["plain"]]
        texts[0] += r["comparator"] if len(group["comparators"]) > 1 else ""
        for cell, text in zip(cells, texts):
            _small(cell, text)
    for i, note in enumerate(group["footnotes"], start=1):
        p = doc.add_paragraph(f"({i}) {note}")
        p.runs[0].font.size = table.rows[0].cells[0].paragraphs[0].runs[0].font.size


def _appendix(doc, csv_text: pd.DataFrame) -> None:
    doc.add_page_break()
    doc.add_heading(APPENDIX_TITLE, level=1)
    table = doc.add_table(rows=1 + len(csv_text), cols=len(csv_text.columns))
    table.style = "Table Grid"
    for cell, head in zip(table.rows[0].cells, csv_text.columns):
        _small(cell, str(head), bold=True, size=5.5)
    for row, values in zip(table.rows[1:], csv_text.itertuples(index=False)):
        for cell, value in zip(row.cells, values):
            _small(cell, str(value), size=5.5)


def _reproducible(data: bytes) -> bytes:
    """The DOCX (a ZIP) with every entry's time fixed, entries in name order."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        names = src.namelist()
        ordered = [n for n in names if n == "[Content_Types].xml"] + sorted(
            n for n in names if n != "[Content_Types].xml"
        )
        for name in ordered:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, src.read(name))
    return out.getvalue()


def write_sof_docx(sof: pd.DataFrame, signals: pd.DataFrame, csv_text: pd.DataFrame, path) -> Path:
    """Write the Word document to ``path``. ``csv_text``: ``summary_of_findings.csv`` read back
    as text (``dtype=str``, empty cells as ``""``), the appendix's cells."""
    import docx

    doc = docx.Document()
    doc.core_properties.created = _FIXED_TIME
    doc.core_properties.modified = _FIXED_TIME
    doc.core_properties.last_modified_by = "trialmeta"
    doc.core_properties.author = "trialmeta"
    doc.core_properties.revision = 1
    _landscape(doc)
    doc.add_heading("Summary of findings", level=0)
    doc.add_paragraph(
        "Absolute effects per 1,000 patients for the assumed control-group risk, with the 95% CI "
        "of the relative effect carried over. Certainty: GRADE (suggested by trialmeta's signals, "
        "the reviewer's judgements applied); footnotes give the reasons."
    )
    for group in sof_groups(sof, signals):
        comparators = " or ".join(group["comparators"])
        doc.add_heading(
            f"{group['therapy']} compared with {comparators} for {group['condition']}", level=2
        )
        _group_table(doc, group)
    _appendix(doc, csv_text)
    buf = io.BytesIO()
    doc.save(buf)
    return atomic_write_bytes(Path(path), _reproducible(buf.getvalue()))
