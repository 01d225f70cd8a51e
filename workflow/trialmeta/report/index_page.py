"""The report index (``index.html``): every analysis, grouped and naturally sorted.

Grouping follows the ``group_by`` columns: the condition column first (when it is one of them),
then the therapy/intervention column (:data:`THERAPY_COLUMNS`, the first one that is in
``group_by``), then the others in ``group_by`` order. The first two of these give the headings
(condition, then therapy class; with only two group_by columns just one heading level) and the
rest are the columns of each group's table, so every analysis is shown by its grouping key, the
values that define it, not by the text of one of its trials.

The page starts with a table of contents that links to every group (``#c-...`` and ``#g-...``
anchors: a slug of the group's values plus a hash of them, so an anchor is stable across runs and
unique). The page holds no script (the report's CSP forbids it): finding an analysis is the table
of contents plus the browser's find (Ctrl-F), which also finds analysis ids (file names).

Everything is sorted with :func:`natural_key` (numbers inside text compared as numbers: ``drug 2``
before ``drug 19`` before ``drug 100``), case-insensitively, ties by the exact text.

Large runs (more than :data:`SPLIT_ABOVE` analyses) get one page per condition
(``conditions/<anchor>.html``) and an index with the table of contents only, so that no page
grows with the number of analyses of the whole run.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata

import jinja2

__all__ = [
    "natural_key",
    "index_columns",
    "group_analyses",
    "group_anchor",
    "key_values",
    "IndexPage",
    "THERAPY_COLUMNS",
    "CONDITION_COLUMNS",
    "SPLIT_ABOVE",
]

#: Columns taken as the condition (first heading level), in order of preference.
CONDITION_COLUMNS = ("condition",)
#: Columns taken as the therapy/intervention (second heading level), in order of preference.
THERAPY_COLUMNS = ("therapy_class", "therapy", "intervention", "treatment", "drug_class", "drug")
#: Above this many analyses the index lists the groups only and each condition gets its own page.
SPLIT_ABOVE = 1000

_DIGITS = re.compile(r"(\d+)")
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def natural_key(text) -> tuple:
    """Sort key comparing the digit runs inside ``text`` as numbers, case-insensitively
    (``"Drug 2" < "drug 19" < "drug 100"``), then the exact text (so equal keys are rare and the
    order is total and deterministic)."""
    s = "" if text is None else str(text)
    parts = _DIGITS.split(s.casefold())
    # re.split with a group alternates text, number, text, ...: same types at same positions
    return (tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), s)


def _value_text(value) -> str:
    """The text of one group_by value (NaN/None empty, 12.0 written 12)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    text = str(value)
    return "" if text in ("nan", "<NA>", "None", "NaT") else text


def key_values(rows, group_by) -> list[list[str]]:
    """``[[column, value], ...]`` of one analysis: its group_by values from the first of its rows
    (``rows``: a DataFrame of the analysis's trial, pooled or study rows)."""
    out = []
    for col in group_by:
        value = rows[col].iloc[0] if rows is not None and col in rows and len(rows) else None
        out.append([str(col), _value_text(value)])
    return out


def index_columns(group_by) -> tuple[list[str], list[str]]:
    """(heading columns, table columns): condition, therapy, then the other group_by columns;
    the first two are headings when there are three or more columns, else only the first."""
    cols = [str(c) for c in group_by]
    first = [c for c in CONDITION_COLUMNS if c in cols][:1]
    first += [c for c in THERAPY_COLUMNS if c in cols][:1]
    ordered = first + [c for c in cols if c not in first]
    n_head = 2 if len(ordered) >= 3 else (1 if len(ordered) == 2 else 0)
    return ordered[:n_head], ordered[n_head:]


def group_anchor(prefix: str, values) -> str:
    """A stable, unique HTML id for a group: ``<prefix>-<slug>-<hash of the exact values>``."""
    texts = [str(v) for v in values]
    slug = unicodedata.normalize("NFKD", " ".join(texts)).encode("ascii", "ignore").decode()
    slug = _NON_SLUG.sub("-", slug.lower()).strip("-")[:40].strip("-")
    digest = hashlib.sha256(json.dumps(texts, ensure_ascii=False).encode()).hexdigest()[:8]
    return f"{prefix}-{slug}-{digest}" if slug else f"{prefix}-{digest}"


def _group(items, col, prefix, parents=()):
    """[(value, anchor, items of that value)] naturally sorted by ``col``'s value."""
    by = {}
    for a in items:
        by.setdefault(dict(a["key"]).get(col, ""), []).append(a)
    return [(v, group_anchor(prefix, [*parents, v]), by[v]) for v in sorted(by, key=natural_key)]


def group_analyses(analyses: list[dict], group_by) -> dict:
    """The index structure: ``heads`` (heading columns), ``columns`` (table columns) and
    ``groups``: ``[{title, anchor, n, subgroups: [{title, anchor, n, analyses}]}]``; a level
    without a heading column has ``title`` None. Each analysis gets ``cells``: its values of the
    table columns."""
    heads, columns = index_columns(group_by)
    for a in analyses:
        key = dict(a["key"])
        a["cells"] = [key.get(c, "") for c in columns]
        a["key_text"] = " \u00b7 ".join(v for _, v in a["key"] if v)
    rows = sorted(
        analyses, key=lambda a: ([natural_key(v) for v in a["cells"]], natural_key(a["id"]))
    )
    top = _group(rows, heads[0], "c") if heads else [(None, "c-all", rows)]
    groups = []
    for value, anchor, items in top:
        subs = _group(items, heads[1], "g", [value]) if len(heads) > 1 else [(None, anchor, items)]
        groups.append(
            {
                "title": value,
                "anchor": anchor,
                "n": len(items),
                "subgroups": [
                    {"title": v, "anchor": an, "n": len(it), "analyses": it} for v, an, it in subs
                ],
            }
        )
    return {"heads": heads, "columns": columns, "groups": groups}


def _ordered(grouped: dict) -> list[dict]:
    """The analyses in page order (group by group)."""
    return [a for g in grouped["groups"] for s in g["subgroups"] for a in s["analyses"]]


class IndexPage:
    """``index.html``: the analyses grouped by their group_by values (:func:`group_analyses`)
    with a table of contents, the warnings that belong to no analysis, and the provenance of the
    run. Above :data:`SPLIT_ABOVE` analyses, one page per condition under ``conditions/``."""

    def __init__(
        self,
        settings,
        common: dict,
        general_warnings: list[str],
        provenance: dict | None,
        provenance_rows=None,
    ):
        self.settings, self.common = settings, common
        self.general_warnings, self.provenance = general_warnings, provenance
        self.provenance_rows = provenance_rows
        self.analyses: list[dict] = []

    def add(self, entry: dict) -> None:
        """Add the index fields of one analysis (``INDEX_FIELDS`` of :mod:`.build`)."""
        self.analyses.append(entry)

    def grouped(self) -> dict:
        return group_analyses(self.analyses, self.settings.group_by)

    def split(self) -> bool:
        return len(self.analyses) > SPLIT_ABOVE and bool(index_columns(self.settings.group_by)[0])

    def _context(self, grouped: dict, root: str) -> dict:
        analyses = _ordered(grouped)
        return {
            "grouped": grouped,
            "analyses": analyses,
            "root": root,
            "group_root": root,
            "subgroup_moderators": [str(m) for m in self.settings.subgroups],
            "n_small_study": sum(a["small_study_ran"] for a in analyses),
            "small_study_min_k": self.settings.small_study_min_k,
            **self.common,
        }

    def render(self, env: jinja2.Environment) -> bytes:
        """The index page (with every group inline, or the table of contents only when split)."""
        grouped = self.grouped()
        context = self._context(grouped, "")
        html = env.get_template("index.html.j2").render(
            **context,
            split=self.split(),
            general_warnings=self.general_warnings,
            provenance=self.provenance_rows(self.provenance) if self.provenance else [],
            n_warnings=sum(len(a["warnings"]) for a in context["analyses"])
            + len(self.general_warnings),
        )
        return html.encode("utf-8")

    def condition_pages(self, env: jinja2.Environment) -> dict[str, bytes]:
        """``{file name: page}`` of the per-condition pages (empty unless :meth:`split`)."""
        if not self.split():
            return {}
        grouped = self.grouped()
        template = env.get_template("condition.html.j2")
        out = {}
        for group in grouped["groups"]:
            one = {**grouped, "groups": [group]}
            out[f"{group['anchor']}.html"] = template.render(
                **self._context(one, "../"), group=group
            ).encode("utf-8")
        return out
