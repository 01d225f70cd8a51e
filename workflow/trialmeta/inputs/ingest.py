"""Read extracted trial tables (CSV, TSV, Excel ``.xlsx``) into one all-text DataFrame.

Reading and checking are separate steps: :func:`load_trials` only turns files into cells (every cell
a ``str``, an empty cell is ``""``; no type guessing, no ``NA`` strings turned into missing values),
:func:`trialmeta.inputs.validate.validate_trials` then checks and converts them.

Rules (documented for users in ``data/README.md``):

* File type from the extension: ``.csv`` (comma), ``.tsv``/``.tab`` (tab), ``.txt`` (tab if the
  header line has a tab, else comma), ``.xlsx``/``.xlsm`` (Excel; ``.xls`` is refused with a hint
  to save as ``.xlsx``). The same file listed twice is read once.
* Text encoding: UTF-8 with or without a byte-order mark; a file that is not valid UTF-8 is read
  as Latin-1 (every byte is a valid Latin-1 character) with a **warning**, because accented names
  from old Excel exports are Latin-1 / Windows-1252. Windows (CRLF) and old Mac (CR) line endings
  are accepted.
* CSV syntax is RFC 4180: a cell containing the delimiter, a quote or a line break is quoted with
  ``"`` and quotes inside it are doubled. A quote anywhere else (``ab"c``, ``"ab"c``, a quoted cell
  never closed) is a parse error naming the line, never silently repaired.
* The first non-empty row is the header. Column names are stripped of surrounding white space;
  duplicate or empty column names (with data under them) are errors. Rows whose cells are all
  empty are skipped (their row numbers still count). A row with more cells than the header is an
  error unless the extra cells are empty; a shorter CSV/TSV row is an error too (a lost delimiter
  usually shifts values into the wrong column). Short Excel rows are padded with empty cells.
* Every cell is stripped of surrounding white space.
* Excel: the sheet named ``trials`` (any case) if there is one; otherwise the only sheet; otherwise
  the only sheet whose first non-empty row has every required column (so a README or notes tab
  is passed over). When several sheets or none qualify it is an error naming the file, every
  sheet and why it does not qualify; a **warning** names a passed-over sheet that has some of the
  required columns (it looks like trial data but is not read). Formula cells contribute their cached value (what Excel last displayed); a formula without
  a cached value (a file written by a program that does not compute formulas) is an error naming
  the cell (``Sheet1!C7``) -- open and save it in Excel/LibreOffice, or paste values. Numbers are
  written back as the shortest text that round-trips, booleans as ``true``/``false``, dates ISO.
* ``source_file`` (the path as given) and ``source_row`` (spreadsheet row number: header row 1,
  first data row 2; for Excel the worksheet row) are added to every row.
* An empty file, or a header with no data rows, is an error.

All files are read before anything is raised, so one :class:`~trialmeta.inputs.errors.InputError` lists
the problems of every file. Warnings are returned in ``df.attrs["warnings"]`` (a list of
:class:`~trialmeta.inputs.errors.Problem`) and ``df.attrs["columns_by_file"]`` records each file's header
so that required columns can be checked per file.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trialmeta.inputs.errors import InputError, Problem
from trialmeta.inputs.validate import REQUIRED_COLUMNS

__all__ = ["load_trials", "read_table", "TableText", "SOURCE_COLUMNS"]

SOURCE_COLUMNS = ("source_file", "source_row")
_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
_EXCEL = {".xlsx", ".xlsm"}
_MAX_CELL = 10 * 1024 * 1024  # csv's default limit (128 KiB) is too small for long notes
csv.field_size_limit(max(csv.field_size_limit(), _MAX_CELL))


@dataclass
class TableText:
    """One file read as text: header, data rows (lists of str) and their spreadsheet row numbers."""

    file: str
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    header_failed: bool = False
    sheet: str | None = None  # the worksheet read from a workbook


# --------------------------------------------------------------------------------------- text files
def _decode(data: bytes, table: TableText) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            table.problems.append(
                Problem(
                    table.file,
                    None,
                    None,
                    "file starts with a UTF-16 byte-order mark but is not valid UTF-16; save it as UTF-8 CSV",
                )
            )
            return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        table.warnings.append(
            Problem(
                table.file,
                None,
                None,
                f"not valid UTF-8 (first bad byte 0x{data[exc.start]:02x} on line {line}); read as Latin-1 "
                "-- check accented characters, and save the file as UTF-8 to silence this warning",
                severity="warning",
            )
        )
        return data.decode("latin-1")


def _record_pattern(delim: str) -> re.Pattern:
    d = re.escape(delim)
    cell = rf'(?:"(?:[^"]|"")*"|[^"{d}\r\n]*)'
    return re.compile(rf"{cell}(?:{d}{cell})*\Z", re.S)


def _has_nul(text: str, table: TableText) -> bool:
    """A NUL byte means a binary file: a problem on its line, and no header."""
    if "\x00" not in text:
        return False
    line = text[: text.index("\x00")].count("\n") + 1
    table.problems.append(
        Problem(
            table.file,
            line,
            None,
            "contains a NUL byte: this is not a text table (is it a binary or .xls file?)",
        )
    )
    table.header_failed = True
    return True


def _no_header_yet(records) -> bool:
    return not any(any(c.strip() for c in r[2]) for r in records)


def _csv_error(msg: str, start: int, bad: int, records, table: TableText) -> bool:
    """Record a csv parse error of the record starting on line ``start`` (failing on line
    ``bad``); True when reading must stop (an unclosed quote swallows the rest of the file)."""
    if _no_header_yet(records):
        table.header_failed = True
    if "unexpected end of data" in msg or "newline inside string" in msg:
        table.problems.append(
            Problem(
                table.file,
                start,
                None,
                f'unbalanced quote: a quoted cell starting on line {start} is never closed (a stray " character?)',
            )
        )
        return True
    if "expected after" in msg:
        text_msg = f'stray quote on line {bad}: {msg} (quote a cell containing " and double the inner quotes: "5"" tablet")'
    else:
        text_msg = f"cannot parse line {bad}: {msg}"
    table.problems.append(Problem(table.file, bad, None, text_msg))
    return False


def _read_delimited(
    text: str, delim: str | None, table: TableText
) -> list[tuple[int, int, list[str]]]:
    """Return (record number, first line, cells) for every record; parse errors go to table.problems."""
    if _has_nul(text, table):
        return []
    lines = list(io.StringIO(text, newline=""))  # splits on \n, \r\n and \r only
    if delim is None:  # .txt: tab if the header has a tab, else comma
        first = next((ln for ln in lines if ln.strip()), "")
        delim = "\t" if "\t" in first else ","
    consumed: list[str] = []
    source = iter(lines)

    def feed():
        for ln in source:
            consumed.append(ln)
            yield ln

    def new_reader():
        return csv.reader(feed(), delimiter=delim, quotechar='"', doublequote=True, strict=True)

    reader = new_reader()
    pattern = _record_pattern(delim)
    records = []
    line_no = 0  # last line consumed
    record_no = 0
    while True:
        start = line_no + 1
        consumed.clear()
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad = line_no + len(consumed)
            if _csv_error(str(exc), start, bad, records, table):
                return records
            # skip the rest of the bad line and go on with a fresh reader, to report later problems too
            line_no = bad
            record_no += 1
            reader = new_reader()
            continue
        line_no += len(consumed)
        record_no += 1
        raw = "".join(consumed)
        if '"' in raw and not pattern.match(raw.rstrip("\r\n")):
            if _no_header_yet(records):
                table.header_failed = True
            table.problems.append(
                Problem(
                    table.file,
                    start,
                    None,
                    f'stray quote on line {start}: a " inside a cell that is not quoted (quote the cell and double the inner quote: "5"" tablet")',
                )
            )
            continue
        records.append((record_no, start, cells))
    return records


# --------------------------------------------------------------------------------------------- xlsx
def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    return str(value)


def _sheet_header(ws) -> list[str]:
    """The names in the first non-empty row of a worksheet ([] for an empty sheet)."""
    for row in ws.iter_rows(values_only=True):
        cells = [_cell_text(v).strip() for v in row]
        if any(cells):
            return [c for c in cells if c]
    return []


def _why_not(header: list[str]) -> str:
    """Why a sheet with this header row is not a trial table."""
    if not header:
        return "empty"
    missing = ", ".join(c for c in REQUIRED_COLUMNS if c not in header)
    shown = ", ".join(repr(c) for c in header[:6]) + (", ..." if len(header) > 6 else "")
    return f"first row lacks {missing} (it has {shown})"


def _choose_sheet(wb, table: TableText) -> str | None:
    """The sheet to read: the one named ``trials`` (any case), else the only sheet, else the only
    sheet whose first row has the required columns; None (and a problem) otherwise."""
    names = [ws.title for ws in wb.worksheets]  # chart sheets have no cells
    if not names:
        table.problems.append(Problem(table.file, None, None, "workbook has no worksheet"))
        return None
    named = [n for n in names if n.strip().casefold() == "trials"]
    if named or len(names) == 1:
        return (named or names)[0]
    headers = {n: _sheet_header(wb[n]) for n in names}
    fits = [n for n in names if all(c in headers[n] for c in REQUIRED_COLUMNS)]
    listed = ", ".join(repr(n) for n in names)
    if len(fits) == 1:
        partial = [n for n in names if n != fits[0] and set(headers[n]) & set(REQUIRED_COLUMNS)]
        if partial:  # another sheet looks like trial data: say that it was not read
            skipped = "; ".join(f"sheet {n!r}: {_why_not(headers[n])}" for n in partial)
            table.warnings.append(
                Problem(
                    table.file,
                    None,
                    None,
                    f"workbook has {len(names)} sheets ({listed}); read {fits[0]!r}, the only one "
                    f"with the required columns; not read: {skipped} (name the sheet to read "
                    "'trials'; to read several tables, save each as its own file)",
                    severity="warning",
                )
            )
        return fits[0]
    if fits:
        why = (
            f"{len(fits)} sheets ({', '.join(repr(n) for n in fits)}) have the required columns "
            "and none is named 'trials': name the sheet to read 'trials' (one table per workbook)"
        )
    else:
        why = (
            f"no sheet is named 'trials' and none has the required columns "
            f"({', '.join(REQUIRED_COLUMNS)}) in its first row: "
            + "; ".join(f"sheet {n!r}: {_why_not(headers[n])}" for n in names)
        )
    table.problems.append(Problem(table.file, None, None, f"workbook with sheets {listed}: {why}"))
    return None


def _read_xlsx(path: Path, table: TableText) -> list[tuple[int, int, list[str]]]:
    import warnings as _w

    import openpyxl

    try:
        with _w.catch_warnings():
            _w.simplefilter(
                "ignore"
            )  # openpyxl warns about unsupported extensions (data validation, ...)
            wb_values = openpyxl.load_workbook(path, data_only=True, read_only=True)
            wb_formulas = openpyxl.load_workbook(path, data_only=False, read_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        table.problems.append(
            Problem(
                table.file,
                None,
                None,
                f"cannot be read as an Excel .xlsx workbook ({type(exc).__name__}: {exc})",
            )
        )
        return []
    try:
        chosen = _choose_sheet(wb_values, table)
        if chosen is None:
            return []
        table.sheet = chosen
        ws_v = wb_values[chosen]
        ws_f = wb_formulas[chosen]
        records = []
        for values, formulas in zip(ws_v.iter_rows(), ws_f.iter_rows()):
            cells = []
            rownum = None
            for cv, cf in zip(values, formulas):
                if getattr(cv, "row", None) is not None:
                    rownum = cv.row
                fval = getattr(cf, "value", None)
                vval = getattr(cv, "value", None)
                is_formula = getattr(cf, "data_type", None) == "f" or (
                    isinstance(fval, str) and fval.startswith("=")
                )
                if is_formula and vval is None:
                    coord = getattr(cf, "coordinate", "?")
                    table.problems.append(
                        Problem(
                            table.file,
                            rownum,
                            None,
                            f"cell {chosen}!{coord} has a formula ({str(fval)[:40]}) but no saved value; "
                            "open and save the workbook in Excel/LibreOffice, or paste values",
                        )
                    )
                    vval = ""
                cells.append(_cell_text(vval))
            if rownum is None:
                continue  # an empty row in read-only mode
            records.append((rownum, rownum, cells))
        return records
    except Exception as exc:  # noqa: BLE001 - a damaged workbook must give a message, not a traceback
        table.problems.append(
            Problem(
                table.file,
                None,
                None,
                f"cannot be read as an Excel .xlsx workbook ({type(exc).__name__}: {exc})",
            )
        )
        return []
    finally:
        wb_values.close()
        wb_formulas.close()


# --------------------------------------------------------------------------------------- one table
def read_table(path) -> TableText:
    """Read one file into text cells (see the module docstring for the rules)."""
    name = str(path)
    table = TableText(file=name)
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.is_file():
        table.problems.append(
            Problem(name, None, None, "file not found" if not p.exists() else "not a file")
        )
        return table
    if suffix == ".xls":
        table.problems.append(
            Problem(
                name,
                None,
                None,
                "old Excel .xls files are not read: save it as .xlsx or CSV (UTF-8)",
            )
        )
        return table
    if suffix in _EXCEL:
        records = _read_xlsx(p, table)
    elif suffix in _DELIMITERS:
        try:
            data = p.read_bytes()
        except OSError as exc:
            table.problems.append(
                Problem(
                    name,
                    None,
                    None,
                    f"cannot be read ({type(exc).__name__}: {exc.strerror or exc})",
                )
            )
            return table
        text = _decode(data, table)
        if text is None:
            return table
        records = _read_delimited(text, _DELIMITERS[suffix], table)
    else:
        table.problems.append(
            Problem(
                name,
                None,
                None,
                f"unsupported file type {suffix or '(none)'!r}: use .csv, .tsv or .xlsx",
            )
        )
        return table
    if not table.header_failed:
        _split_header(
            records, table
        )  # also after parse errors: reports wrong cell counts elsewhere
    return table


def _split_header(records, table: TableText) -> None:
    records = [(n, start, [c.strip() for c in cells]) for n, start, cells in records]
    nonempty = [(n, start, cells) for n, start, cells in records if any(cells)]
    if not nonempty:
        if table.problems:
            return
        table.problems.append(
            Problem(
                table.file,
                None,
                None,
                "file is empty: expected a header row and at least one data row",
            )
        )
        return
    header_no, _, header = nonempty[0]
    excel = str(table.file).lower().endswith(tuple(_EXCEL))
    header = list(header)
    body = nonempty[1:]
    # trailing empty header cells with no data under them (Excel's used range) are dropped
    width = len(header)
    while (
        width
        and header[width - 1] == ""
        and all(len(c) < width or c[width - 1] == "" for _, _, c in body)
    ):
        width -= 1
    header = header[:width]
    _check_header_names(header, header_no, table)
    if not body:
        if not table.problems:  # after a parse error the data rows were not readable: said already
            table.problems.append(
                Problem(
                    table.file, None, None, f"has a header row (row {header_no}) but no data rows"
                )
            )
        return
    _body_rows(body, width, excel, table)
    table.header = header


def _check_header_names(header: list[str], header_no: int, table: TableText) -> None:
    """Empty, duplicate and reserved column names are problems of the header row."""
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name == "":
            table.problems.append(
                Problem(
                    table.file,
                    header_no,
                    None,
                    f"column {i + 1} has no name in the header row but holds data",
                )
            )
        elif name in seen:
            table.problems.append(
                Problem(
                    table.file,
                    header_no,
                    name,
                    f"duplicate column name (columns {seen[name] + 1} and {i + 1})",
                )
            )
        else:
            seen[name] = i
        if name in SOURCE_COLUMNS or name == "analysis_id":
            table.problems.append(
                Problem(
                    table.file,
                    header_no,
                    name,
                    "column name is reserved (added by trialmeta); rename it",
                )
            )


def _body_rows(body, width: int, excel: bool, table: TableText) -> None:
    """The data rows with as many cells as the header (short Excel rows padded) into ``table``;
    a row with more non-empty cells, or a short CSV row, is a problem."""
    for n, _start, cells in body:
        if len(cells) > width:
            extra = [c for c in cells[width:] if c != ""]
            if extra:
                table.problems.append(
                    Problem(
                        table.file,
                        n,
                        None,
                        f"row has {len(cells)} cells but the header has {width} columns (unquoted delimiter in a cell?)",
                    )
                )
                continue
            cells = cells[:width]
        elif len(cells) < width and excel:
            cells = cells + [""] * (width - len(cells))
        elif len(cells) < width:
            table.problems.append(
                Problem(
                    table.file,
                    n,
                    None,
                    f"row has {len(cells)} cells but the header has {width} columns (a missing delimiter shifts values)",
                )
            )
            continue
        table.rows.append(cells)
        table.row_numbers.append(n)


# ------------------------------------------------------------------------------------------ public
def load_trials(paths) -> pd.DataFrame:
    """Read every trial table in ``paths`` (in the order given) into one DataFrame of text cells.

    Parameters
    ----------
    paths : str | Path | iterable of str/Path
        Files to read (no globbing here; see :func:`trialmeta.inputs.config.trial_paths`).

    Returns
    -------
    DataFrame
        Columns: the union of all headers (in order of first appearance), then ``source_file`` and
        ``source_row``. Every cell is a ``str`` (``""`` when empty or when the file lacks the
        column). ``attrs["warnings"]``: list of warning :class:`Problem`;
        ``attrs["columns_by_file"]``: ``{file: [header columns]}``; ``attrs["sheets"]``:
        ``{file: sheet read}`` for the workbooks.

    Raises
    ------
    InputError
        With every unreadable-file problem of every file (parse errors name the line).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise InputError([Problem("config", None, "trials", "no trial table given")])
    seen: set = set()
    unique = []
    for path in paths:
        real = Path(path).resolve()
        if real not in seen:
            seen.add(real)
            unique.append(path)
    paths = unique
    problems: list[Problem] = []
    warnings: list[Problem] = []
    tables: list[TableText] = []
    for path in paths:
        t = read_table(path)
        problems += t.problems
        warnings += t.warnings
        tables.append(t)
    if problems:
        raise InputError(problems)

    columns: list[str] = []
    for t in tables:
        for c in t.header:
            if c not in columns:
                columns.append(c)
    data: dict[str, list[str]] = {c: [] for c in columns}
    source_file: list[str] = []
    source_row: list[int] = []
    for t in tables:
        index = {c: i for i, c in enumerate(t.header)}
        nrows = len(t.rows)
        for c in columns:
            i = index.get(c)
            data[c].extend([r[i] for r in t.rows] if i is not None else [""] * nrows)
        source_file.extend([t.file] * nrows)
        source_row.extend(t.row_numbers)
    df = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in data.items()})
    df["source_file"] = pd.Series(source_file, dtype=object)
    df["source_row"] = pd.Series(source_row, dtype="int64")
    df.attrs["warnings"] = warnings
    df.attrs["columns_by_file"] = {t.file: list(t.header) for t in tables}
    df.attrs["sheets"] = {t.file: t.sheet for t in tables if t.sheet is not None}
    return df
