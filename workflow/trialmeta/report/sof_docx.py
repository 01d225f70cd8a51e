"""``summary_of_findings.docx``: the Summary of Findings tables as a Word document (python-docx),
because reviewers paste SoF tables into manuscripts.

Landscape pages; one GRADE-style table per therapy x condition with its numbered footnotes (the
same display rows as the report page, :func:`trialmeta.report.sof_page.sof_groups`), then an
appendix table holding ``summary_of_findings.csv`` cell for cell (the CSV's text, so a test can
read the document back and compare).

The bytes are reproducible: the document's created/modified dates are fixed and the ZIP entries
are rewritten with a fixed timestamp in a fixed order.

At scale (thousands of analyses) the repeated blocks (each table, row, heading and footnote) are
deep copies of a prototype python-docx builds once, with their texts set (:class:`_Blocks`): the
same XML as building every block through python-docx, whose calls cost milliseconds each (style
look-ups, ordered inserts) and whose body inserts are linear in the body's length.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import zipfile
from pathlib import Path

import pandas as pd

from trialmeta.pipeline.safe_csv import atomic_write_bytes
from trialmeta.report.sof_page import SOF_HEADERS, sof_groups

__all__ = ["write_sof_docx", "APPENDIX_TITLE"]

APPENDIX_TITLE = "Appendix: summary_of_findings.csv"
#: Points of the Summary of Findings tables' text and of their footnotes.
TABLE_PT = 8.0
_FIXED_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_W_T = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}t"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


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


class _Blocks:
    """Appends blocks to the document's body as deep copies of prototypes that python-docx
    built once through its own calls (so the XML is the same), texts set run by run."""

    def __init__(self, doc):
        self.doc = doc
        self.body = doc.element.body
        self.end = self.body.xpath("./w:sectPr")[-1]  # the body's last child
        self.protos: dict = {}

    def detach_last(self):
        """Remove and return the block python-docx just added (the one before ``w:sectPr``)."""
        block = self.end.getprevious()
        self.body.remove(block)
        return block

    def add(self, proto, texts=()):
        """A copy of ``proto`` with ``texts`` in its placeholder texts (document order) added at
        the end of the body."""
        block = _copy(proto, texts)
        self.end.addprevious(block)
        return block


def _copy(proto, texts):
    """A deep copy of ``proto`` whose ``w:t`` elements get ``texts`` (a prototype's
    placeholder runs hold one ``w:t`` each): the XML ``run.text = text`` writes, without
    python-docx's character-by-character loop and element factory."""
    block = copy.deepcopy(proto)
    for t, text in zip(list(block.iter(_W_T)), texts):
        if any(c in text for c in "\t\r\n"):
            t.getparent().text = text  # tabs and line breaks: python-docx's own setter
        elif text:
            t.text = text
            if len(text.strip()) < len(text):
                t.set(_XML_SPACE, "preserve")
        else:
            t.getparent().remove(t)
    return block


def _table_protos(blocks: _Blocks, key: str, headers, size: float, appendix: bool):
    """(header-only table, empty body row) prototypes of a table with ``headers``, built as
    python-docx builds them (``add_table`` + ``add_row`` for SoF tables, all rows at once for
    the appendix), each cell through :func:`_small`."""
    if key not in blocks.protos:
        table = blocks.doc.add_table(rows=2 if appendix else 1, cols=len(headers))
        table.style = "Table Grid"
        for cell, head in zip(table.rows[0].cells, headers):
            _small(cell, str(head), bold=True, size=size)
        row = table.rows[1] if appendix else table.add_row()
        for cell in row.cells:
            _small(cell, "x", size=size)  # placeholder text
        tbl = blocks.detach_last()
        tr = tbl.xpath("./w:tr")[-1]
        tbl.remove(tr)
        blocks.protos[key] = (tbl, tr)
    return blocks.protos[key]


def _paragraph_proto(blocks: _Blocks, key: str, level: int | None):
    """A heading (``level``) or footnote (``None``) paragraph prototype, as python-docx
    writes it (a footnote in :data:`TABLE_PT`, the size of the table's text)."""
    if key not in blocks.protos:
        if level is None:
            from docx.shared import Pt

            p = blocks.doc.add_paragraph("x")
            p.runs[0].font.size = Pt(TABLE_PT)
        else:
            blocks.doc.add_heading("x", level=level)
        blocks.protos[key] = blocks.detach_last()  # placeholder text "x"
    return blocks.protos[key]


def _group_table(blocks: _Blocks, group: dict) -> None:
    tbl_proto, tr_proto = _table_protos(blocks, "sof", SOF_HEADERS, TABLE_PT, appendix=False)
    tbl = blocks.add(tbl_proto)
    for r in group["rows"]:
        marks = "".join(f" ({n})" for n in r["notes"])
        texts = [*r["cells"], r["certainty"].upper() + marks, r["plain"]]
        texts[0] += r["comparator"] if len(group["comparators"]) > 1 else ""
        tbl.append(_copy(tr_proto, texts))
    note = _paragraph_proto(blocks, "footnote", None)
    for i, text in enumerate(group["footnotes"], start=1):
        blocks.add(note, [f"({i}) {text}"])


def _appendix(blocks: _Blocks, csv_text: pd.DataFrame) -> None:
    blocks.doc.add_page_break()
    blocks.doc.add_heading(APPENDIX_TITLE, level=1)
    tbl_proto, tr_proto = _table_protos(blocks, "csv", csv_text.columns, 5.5, appendix=True)
    tbl = blocks.add(tbl_proto)
    columns = [csv_text.iloc[:, j].tolist() for j in range(csv_text.shape[1])]
    for values in zip(*columns):  # the rows, from whole columns (not a tuple per row)
        tbl.append(_copy(tr_proto, [str(v) for v in values]))


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
    blocks = _Blocks(doc)
    for group in sof_groups(sof, signals):
        comparators = " or ".join(group["comparators"])
        heading = f"{group['therapy']} compared with {comparators} for {group['condition']}"
        blocks.add(_paragraph_proto(blocks, "heading2", 2), [heading])
        _group_table(blocks, group)
    _appendix(blocks, csv_text)
    buf = io.BytesIO()
    doc.save(buf)
    return atomic_write_bytes(Path(path), _reproducible(buf.getvalue()))
