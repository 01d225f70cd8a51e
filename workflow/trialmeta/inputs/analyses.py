"""Analyses = unique combinations of the ``group_by`` values; each gets a stable ``analysis_id``.

The id is used as a file and directory name under ``results/`` and in URLs of the report, so it
must be safe whatever the trial table contains (``..``, ``/``, Unicode, right-to-left or
zero-width characters, very long labels). It is built as::

    <readable part>-<hash>

* readable part: each group_by value is Unicode-normalised (NFKD), reduced to ASCII (accents
  dropped, other characters removed), lower-cased, every run of characters outside ``[a-z0-9]``
  becomes one ``-``, and it is cut to :data:`MAX_PER_VALUE` characters; the values are joined
  with ``-`` and the result cut to :data:`MAX_READABLE` characters (cuts at a ``-`` when
  possible). Empty -> ``analysis``.
* hash: the first :data:`HASH_CHARS` hex digits of SHA-256 of the exact key (the group_by values
  as JSON, in group_by order, unnormalised). Two different keys therefore get different ids even
  when their readable parts agree (``Placebo`` / ``placebo``), and the id of an analysis never
  depends on the other analyses in the table, so it is stable when trials are added.

The id matches ``^[a-z0-9]+(-[a-z0-9]+)*$`` and is at most ``MAX_READABLE + 1 + HASH_CHARS`` = 73
characters: it cannot contain ``/``, ``.``, or anything a shell or a browser would interpret.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata

import pandas as pd

__all__ = [
    "assign_analysis_ids",
    "analysis_keys",
    "analysis_id",
    "ANALYSIS_ID_PATTERN",
    "MAX_READABLE",
    "HASH_CHARS",
]

MAX_READABLE = 60
MAX_PER_VALUE = 20
HASH_CHARS = 12
ANALYSIS_ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def _key_text(value) -> str:
    """The exact text of one key value (floats written without a trailing .0; NaN/None empty)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("-", ascii_text.lower()).strip("-")


def _cut(slug: str, limit: int) -> str:
    """Shorten a slug to ``limit`` characters, at a ``-`` when one is in the second half."""
    if len(slug) <= limit:
        return slug
    cut = slug[:limit]
    if "-" in cut[limit // 2 :]:
        cut = cut[: cut.rindex("-")]
    return cut.strip("-")


def analysis_id(values) -> str:
    """The id of one analysis from its group_by values (in group_by order)."""
    texts = [_key_text(v) for v in values]
    digest = hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode("utf-8")).hexdigest()[
        :HASH_CHARS
    ]
    readable = _cut(
        "-".join(p for p in (_cut(_slug(t), MAX_PER_VALUE) for t in texts) if p), MAX_READABLE
    )
    return f"{readable or 'analysis'}-{digest}"


def assign_analysis_ids(df: pd.DataFrame, group_by) -> pd.DataFrame:
    """Return a copy of ``df`` with an ``analysis_id`` column (see the module docstring).

    Raises ``ValueError`` on the (astronomically unlikely, 48-bit) event that two different keys
    share an id, rather than merging two analyses.
    """
    group_by = list(group_by)
    out = df.copy()
    keys = list(zip(*[out[c].tolist() for c in group_by])) if group_by else [()] * len(out)
    key_texts = [tuple(_key_text(v) for v in k) for k in keys]
    ids: dict[tuple, str] = {}
    by_id: dict[str, tuple] = {}
    for kt in key_texts:
        if kt not in ids:
            aid = analysis_id(kt)
            if aid in by_id and by_id[aid] != kt:
                raise ValueError(f"analysis_id collision between {by_id[aid]!r} and {kt!r}")
            ids[kt] = aid
            by_id[aid] = kt
    out["analysis_id"] = pd.Series([ids[kt] for kt in key_texts], index=out.index, dtype=object)
    return out


def analysis_keys(df: pd.DataFrame, group_by) -> pd.DataFrame:
    """One row per analysis: the group_by columns, ``analysis_id`` and ``k`` (number of rows).

    Order: sorted by the group_by values as text, case-insensitively first, then by code point
    (ties), which does not depend on the row order of the input files. ``df`` may or may not already carry
    ``analysis_id``.
    """
    group_by = list(group_by)
    if "analysis_id" not in df:
        df = assign_analysis_ids(df, group_by)
    rows: dict[tuple, list] = {}
    for k, aid in zip(
        zip(*[df[c].tolist() for c in group_by]) if group_by else [()] * len(df), df["analysis_id"]
    ):
        kt = tuple(_key_text(v) for v in k)
        if kt in rows:
            rows[kt][1] += 1
        else:
            rows[kt] = [aid, 1]
    ordered = sorted(rows.items(), key=lambda item: (tuple(t.casefold() for t in item[0]), item[0]))
    out = pd.DataFrame(
        {c: pd.Series([kt[j] for kt, _ in ordered], dtype=object) for j, c in enumerate(group_by)}
    )
    out["analysis_id"] = pd.Series([v[0] for _, v in ordered], dtype=object)
    out["k"] = pd.Series([v[1] for _, v in ordered], dtype="int64")
    return out
