"""Small builders of trial tables (CSV bytes, .xlsx workbooks) for the ingest/validation tests."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

HEADER = [
    "study_id",
    "therapy",
    "comparator",
    "condition",
    "outcome",
    "outcome_type",
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
    "yi",
    "sei",
    "estimate",
    "ci_low",
    "ci_high",
    "measure",
    "higher_is_better",
    "year",
]
KEY = ["therapy", "comparator", "condition", "outcome", "outcome_type"]


def row(study_id="S1", outcome_type="binary", **cells) -> dict:
    """One valid row of the given type; keyword arguments override cells."""
    base = {c: "" for c in HEADER}
    base.update(
        study_id=study_id,
        therapy="drug",
        comparator="placebo",
        condition="RA",
        outcome="ACR20",
        outcome_type=outcome_type,
        year="2010",
        higher_is_better="true",
    )
    kind = outcome_type.strip().lower()
    if kind == "binary":
        base.update(events_treat="12", n_treat="50", events_ctrl="6", n_ctrl="48")
    elif kind == "continuous":
        base.update(
            outcome="HAQ-DI change",
            higher_is_better="false",
            mean_treat="-0.4",
            sd_treat="0.5",
            n_treat="60",
            mean_ctrl="-0.1",
            sd_ctrl="0.55",
            n_ctrl="58",
        )
    elif kind == "generic":
        base.update(
            outcome="death",
            higher_is_better="false",
            estimate="0.80",
            ci_low="0.64",
            ci_high="1.00",
            measure="HR",
        )
    base.update({k: str(v) for k, v in cells.items()})
    return base


def csv_text(rows, header=None, sep=",", eol="\n") -> str:
    header = header or list(rows[0].keys()) if rows else (header or HEADER)
    out = [sep.join(header)]
    for r in rows:
        cells = []
        for c in header:
            v = str(r.get(c, ""))
            if any(ch in v for ch in (sep, '"', "\n", "\r")):
                v = '"' + v.replace('"', '""') + '"'
            cells.append(v)
        out.append(sep.join(cells))
    return eol.join(out) + eol


def write_csv(path: Path, rows, header=None, sep=",", eol="\n", encoding="utf-8") -> Path:
    path.write_bytes(csv_text(rows, header, sep, eol).encode(encoding))
    return path


def write_xlsx(path: Path, sheets: dict, cached: dict | None = None) -> Path:
    """Workbook with one sheet per item (name -> list of row lists; the first row is the header).

    Cells that are strings starting with '=' become formulas. openpyxl stores no cached value for
    them; ``cached`` maps (sheet name, 'B2') -> value to write into the file as the value Excel
    would have saved (so the reader sees a formula *with* a cached value).
    """
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    if cached:
        names = list(sheets)
        with zipfile.ZipFile(path) as z:
            parts = {n: z.read(n) for n in z.namelist()}
        for (sheet, coord), value in cached.items():
            part = f"xl/worksheets/sheet{names.index(sheet) + 1}.xml"
            xml = parts[part].decode("utf-8")
            # openpyxl writes an empty value as <v/> (xml.etree) or <v></v> (when lxml is installed)
            pat = re.compile(rf'(<c r="{coord}"[^>]*>)(<f>.*?</f>)(?:<v\s*/>|<v></v>)')
            xml, n = pat.subn(lambda m: f"{m.group(1)}{m.group(2)}<v>{value}</v>", xml)
            assert n == 1, (coord, xml)
            parts[part] = xml.encode("utf-8")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for n, data in parts.items():
                z.writestr(n, data)
    return path
