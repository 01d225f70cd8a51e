"""Input problems reported to the user: every problem at once, each naming file, row and column.

Row numbers are spreadsheet rows: the header is row 1, the first data row is row 2 (so a CSV row
number is also its line number when no cell spans lines). For ``.xlsx`` input the row is the
worksheet's own row number.

One problem prints as one line::

    data/trials/x.csv:14: events_treat=52 > n_treat=50
    data/trials/x.csv:9: sd_ctrl=0: must be > 0
    data/trials/x.csv:3: warning: sd_treat=0.4: looks like a standard error, not an SD (...)
    data/trials/x.csv: missing required column 'outcome_type'

i.e. ``file[:row]: [warning: ][column[=value]][ or : ]message``. The value is shown as written in the
table (numbers bare, text quoted with non-printable characters escaped and long text shortened). When
the message starts with a comparison (``>``, ``<``, ``=``, ``!=``) it follows ``column=value``
directly, so that the line reads as the violated inequality.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Problem", "InputError", "ConfigError", "show_value"]

_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_MAX_SHOWN = 60


def show_value(value) -> str:
    """How a cell value is shown in a message: numbers bare, text quoted and escaped, long text cut."""
    text = str(value)
    if _NUMBER.match(text):
        return text
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return repr(text)  # quotes, escapes control/zero-width/bidi characters (not isprintable)


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one cell (or row, or file) of an input table.

    ``severity`` is ``"error"`` (the run stops) or ``"warning"`` (shown in the report).
    ``row`` and ``column`` are None when the problem concerns a whole file or row.
    ``value`` is the cell text as written (None when there is no single cell value to show).
    """

    file: str
    row: int | None
    column: str | None
    message: str
    value: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}:{self.row}"
        prefix = "warning: " if self.severity == "warning" else ""
        column = self.column
        if column is not None and not (column.isprintable() and len(column) <= _MAX_SHOWN):
            column = show_value(column)  # a hostile header cell: escaped and shortened
        if column is None:
            body = self.message
        elif self.value is None:
            body = f"{column}: {self.message}"
        else:
            sep = " " if self.message[:1] in ("<", ">", "=", "!", "\u2264", "\u2265") else ": "
            body = f"{column}={show_value(self.value)}{sep}{self.message}"
        return f"{where}: {prefix}{body}"


class InputError(Exception):
    """Raised with *all* problems found; ``str()`` lists one problem per line.

    Problems are sorted by file, row, column and message, so the output is deterministic.
    """

    def __init__(self, problems):
        self.problems = sorted(
            problems, key=lambda p: (p.file, p.row or 0, p.column or "", p.message)
        )
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(Exception):
    """A configuration problem; ``str()`` is one line per problem, each naming the key.

    ``messages`` holds the individual lines, e.g.
    ``config: trials: 'data/x/*.csv' matches no file``.
    """

    def __init__(self, messages):
        if isinstance(messages, str):
            messages = [messages]
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))
