"""Write a large result table as formula-safe CSV, reusing the lines of the analyses whose rows
did not change since the last run.

Why: a one-row edit changes the rows of one analysis, yet the tables job formatted all of
pooled.csv and studies.csv again (45,000 + 25,000 rows at 1,000 analyses, every float as
``%.17g``: 0.5 CPU-s), and the explore job its seven tables (0.6 CPU-s) (issue 16).

How: the rows are split into :data:`N_GROUPS` groups by analysis (a hash of the analysis id, so
an analysis stays in its group whatever else changes). A group's lines are kept in
``cache_dir/<table>/<key>.json``, where the key is a SHA-256 digest of exactly what the lines are
made of: the column names and dtypes, every value of the group's rows (numbers as their bits,
texts with their lengths and missing cells), and the formatting code (this module and
:mod:`trialmeta.pipeline.safe_csv`). A group whose key is kept is read; any other is formatted by
:func:`~trialmeta.pipeline.safe_csv.row_lines`. The lines are put back in the table's row order,
so the file is byte for byte what :func:`~trialmeta.pipeline.safe_csv.write_csv_safely` writes
(tests/unit/test_csv_reuse.py). Files of groups not used in this run are removed.

A table whose columns are not all numbers, booleans or text (e.g. Python objects), or that has
no analysis column, is written without reuse.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from trialmeta.pipeline.safe_csv import atomic_write_bytes, header_line, row_lines

__all__ = ["N_GROUPS", "write_csv_reusing_lines"]

#: Groups of analyses a table is split into (a one-row edit formats one of them).
N_GROUPS = 32
_CODE_FILES = (Path(__file__), Path(__file__).with_name("safe_csv.py"))
_code_digest: bytes | None = None
_MASKED = (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)


def write_csv_reusing_lines(
    df: pd.DataFrame, path: str | Path, cache_dir: str | Path, by: str = "analysis_id"
) -> tuple[Path, int]:
    """Write ``df`` to ``path`` as :func:`~trialmeta.pipeline.safe_csv.write_csv_safely` does,
    reusing the lines of unchanged groups of analyses (column ``by``) kept in ``cache_dir``.
    Returns the path and the number of groups formatted in this call."""
    path = Path(path)
    keep = Path(cache_dir) / path.stem
    parts = _column_parts(df) if by in df.columns else None
    if parts is None:
        lines, formatted, used = row_lines(df), 1, set()
    else:
        lines, formatted, used = _lines_by_group(df, _groups(df[by]), parts, keep)
    atomic_write_bytes(path, ("\n".join([header_line(df), *lines]) + "\n").encode("utf-8"))
    _remove_unused(keep, used)
    return path, formatted


def _lines_by_group(df, groups, parts, keep: Path):
    """The table's lines in row order; the number of groups formatted; the kept files used."""
    lines = np.empty(len(df), dtype=object)
    header = _header_digest(df)
    formatted, used = 0, set()
    for rows in groups:
        name = _group_key(header, parts, rows) + ".json"
        used.add(name)
        group_lines = _read(keep / name, len(rows))
        if group_lines is None:
            group_lines = row_lines(df.iloc[rows])
            atomic_write_bytes(keep / name, json.dumps(group_lines, ensure_ascii=False).encode())
            formatted += 1
        lines[rows] = group_lines
    return lines.tolist(), formatted, used


def _groups(ids: pd.Series) -> list[np.ndarray]:
    """The row positions of each non-empty group of analyses (a CRC-32 of the id)."""
    codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    group_of = np.array([_group_of(u) for u in uniques] + [0], dtype=np.int64)
    row_groups = group_of[codes]  # code -1 (a missing id): the last entry, group 0
    order = np.argsort(row_groups, kind="stable")
    bounds = np.flatnonzero(np.diff(row_groups[order])) + 1
    return [rows for rows in np.split(order, bounds) if len(rows)]


def _group_of(analysis_id) -> int:
    return zlib.crc32(str(analysis_id).encode("utf-8")) % N_GROUPS


def _column_parts(df: pd.DataFrame) -> list[tuple[np.ndarray, ...]] | None:
    """Per column, whole-column arrays from which any rows' values can be told apart exactly:
    numbers and booleans as their bytes (with the missing mask of nullable columns); texts as
    their missing mask, lengths and the texts themselves. None when a column is anything else."""
    parts = []
    for j in range(df.shape[1]):
        s = df.iloc[:, j]
        part = _column_part(s)
        if part is None:
            return None
        parts.append(part)
    return parts


def _column_part(s: pd.Series) -> tuple[np.ndarray, ...] | None:
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf":
        return (s.to_numpy(),)
    if isinstance(s.array, _MASKED):
        numpy_dtype = s.dtype.numpy_dtype
        filler = {"f": np.nan, "b": False}.get(numpy_dtype.kind, 0)
        return (s.to_numpy(dtype=numpy_dtype, na_value=filler), s.isna().to_numpy())
    if isinstance(s.dtype, pd.StringDtype) or (
        s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")
    ):
        missing = s.isna().to_numpy()
        texts = s.to_numpy(dtype=object, na_value="")
        if isinstance(s.dtype, pd.StringDtype):  # vectorised (PyArrow) for a string column
            lengths = s.str.len().fillna(0).to_numpy(dtype=np.int64)
        else:
            lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        return (missing, lengths, texts)
    return None


def _header_digest(df: pd.DataFrame) -> bytes:
    h = hashlib.sha256(_code())
    for name, dtype in df.dtypes.items():
        h.update(f"{name!r}\x00{dtype!r}\x00".encode())
    return h.digest()


def _group_key(header: bytes, parts, rows: np.ndarray) -> str:
    h = hashlib.sha256(header)
    h.update(rows.size.to_bytes(8, "little"))
    for part in parts:
        for array in part:
            values = array[rows]
            if values.dtype == object:  # texts: lengths (the part before) delimit them
                h.update("".join(values.tolist()).encode("utf-8", "surrogatepass"))
            else:
                h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()[:40]


def _code() -> bytes:
    """A digest of the code that formats the lines (a change of it formats everything again)."""
    global _code_digest
    if _code_digest is None:
        h = hashlib.sha256()
        for file in _CODE_FILES:
            h.update(file.read_bytes())
        _code_digest = h.digest()
    return _code_digest


def _read(file: Path, n_rows: int) -> list[str] | None:
    """The kept lines of a group (a JSON list: a line may hold a quoted line break); None when
    there are none or they are unreadable."""
    try:
        lines = json.loads(file.read_bytes())
    except (OSError, ValueError):
        return None
    return lines if isinstance(lines, list) and len(lines) == n_rows else None


def _remove_unused(keep: Path, used: set[str]) -> None:
    try:
        names = os.listdir(keep)
    except FileNotFoundError:
        return
    for name in names:
        if name not in used:
            (keep / name).unlink(missing_ok=True)
