"""Write tables as CSV that a spreadsheet cannot turn into code, atomically and deterministically.

Spreadsheet programs (Excel, LibreOffice, Google Sheets) evaluate a cell whose text starts with
``=``, ``+``, ``-`` or ``@`` as a formula, and a leading tab or carriage return can smuggle one in
("CSV injection", OWASP). A study label such as ``=HYPERLINK("http://x", "click")`` copied from an
extraction sheet into ``studies.csv`` would otherwise become a live link or command when a reviewer
opens the table. :func:`write_csv_safely` prefixes such *text* cells with a single quote ``'`` (the
OWASP recommendation); numbers are never touched, so ``-0.25`` stays a number.

Floats are written with ``%.17g`` (enough digits to round-trip every IEEE double exactly, and the
same bytes on every run); missing values are empty cells; line endings are ``\\n``; the file is
written to a temporary file in the target directory and renamed into place, so a reader never sees
a half-written table.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "write_csv_safely",
    "to_safe_csv_text",
    "neutralize_formula",
    "FORMULA_PREFIXES",
    "atomic_write_bytes",
]

#: First characters that make a spreadsheet treat a text cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_NUMBER = re.compile(
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?(inf|nan)$", re.IGNORECASE
)


def neutralize_formula(value):
    """Return ``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula.

    Non-strings (numbers, booleans, missing values) and strings that are plain numbers
    (``"-1.5"``, ``"+2e-3"``) are returned unchanged.
    """
    if not isinstance(value, str) or not value:
        return value
    if value[0] in FORMULA_PREFIXES and not _NUMBER.match(value):
        return "'" + value
    return value


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same directory and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with column names and text cells neutralized (numbers untouched)."""
    out = df.copy()
    out.columns = [neutralize_formula(str(c)) for c in out.columns]
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        out[col] = s.map(neutralize_formula, na_action="ignore").astype(object)
    return out


def _cell(value) -> str:
    """One cell as text: missing -> empty, floats ``%.17g``, bools ``True``/``False``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if x != x:
            return ""
        return f"{x:.17g}"
    return str(value)


def _quote(text: str) -> str:
    # RFC 4180 quoting, also for a bare CR (Python's csv writer quotes only the line terminator's
    # characters, so a lone "\r" inside a cell would otherwise split the row for many readers).
    if any(ch in text for ch in ',"\r\n') or text[:1].isspace() or text[-1:].isspace():
        return '"' + text.replace('"', '""') + '"'
    return text


def to_safe_csv_text(df: pd.DataFrame) -> str:
    """The CSV text :func:`write_csv_safely` writes (header + one line per row, ``\n`` endings)."""
    safe = _safe_frame(df)
    lines = [",".join(_quote(str(c)) for c in safe.columns)]
    cols = [safe[c].to_numpy(dtype=object) for c in safe.columns]
    for i in range(len(safe)):
        # a one-column row with an empty cell would be a blank line, which readers skip
        lines.append(",".join(_quote(_cell(col[i])) for col in cols) or '""')
    return "\n".join(lines) + "\n"


def write_csv_safely(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` (without its index) to ``path`` as formula-safe, deterministic CSV, atomically.

    * text cells starting with ``= + - @ \\t \\r`` get a leading ``'`` (numbers are untouched);
    * floats use ``%.17g`` (round-trips every double); NaN/None/NA are empty cells; booleans are
      ``True``/``False``; integers as integers;
    * ``\\n`` line endings, UTF-8 without BOM, RFC 4180 quoting (fields with a comma, quote, CR, LF
      or leading/trailing whitespace are quoted);
    * temp file + ``os.replace`` in the target directory.
    Returns the path written.
    """
    return atomic_write_bytes(path, to_safe_csv_text(df).encode("utf-8"))
