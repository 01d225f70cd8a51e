"""Input problems reported to the user: every problem at once, each naming file, row and column.

Row numbers are spreadsheet rows: the header is row 1, the first data row is row 2 (so a CSV row
number is also its line number when no cell spans lines).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Problem", "InputError"]


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one cell (or row, or file) of an input table.

    ``severity`` is ``"error"`` (the run stops) or ``"warning"`` (shown in the report).
    ``row`` and ``column`` are None when the problem concerns a whole file or row.
    """

    file: str
    row: int | None
    column: str | None
    message: str
    value: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}:{self.row}"
        what = ""
        if self.column is not None:
            what = f"{self.column}={self.value!s}: " if self.value is not None else f"{self.column}: "
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{what}{self.message}"


class InputError(Exception):
    """Raised with *all* problems found; ``str()`` lists one problem per line."""

    def __init__(self, problems):
        self.problems = sorted(problems, key=lambda p: (p.file, p.row or 0, p.column or "", p.message))
        super().__init__("\n".join(str(p) for p in self.problems))
