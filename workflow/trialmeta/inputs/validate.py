"""Check the trial tables once, up front, and convert the checked cells to numbers and booleans.

:func:`validate_trials` takes the all-text table from :func:`trialmeta.inputs.ingest.load_trials` and
either returns the typed table plus a list of warnings, or raises
:class:`~trialmeta.inputs.errors.InputError` listing **every** problem of every file at once, one line
each, naming file, row, column, the value as written and the rule, e.g.::

    data/trials/x.csv:14: events_treat=52 > n_treat=50

Per-row rules that a JSON schema expresses well (required cells per ``outcome_type``, whole-number
counts, n >= 1, SD > 0, sei > 0, the outcome types and generic measures) come from
``trialmeta/inputs/schemas/trials.schema.yaml`` (package data) and are checked with ``jsonschema``; the messages are ours.
The rest is checked here:

* text in a numeric cell, non-finite numbers (``inf``, ``nan``, overflow), decimal commas;
* ``events <= n`` per arm; continuous arms need ``n >= 2`` (an SD needs two observations);
* generic rows: ``ci_low <= estimate <= ci_high``, a CI of zero width, ratio measures given as
  ``estimate``/CI (``HR``, ``OR``, ``RR``, ``IRR``) must be > 0, ``yi``/``sei`` must be on the analysis
  scale (``logHR``, not ``HR``);
* ``higher_is_better`` one of true/false/1/0/yes/no (any case), ``year`` a whole number;
* within one analysis (rows sharing the ``group_by`` values): unique ``study_id`` (the message
  says whether the two rows also have the same arm data, i.e. the same trial entered twice); a single
  ``comparator`` and a single ``outcome_type`` (only possible to violate when ``group_by`` leaves
  the column out, since otherwise different values are different analyses); a single
  ``higher_is_better``; generic rows on a single scale (``HR`` and ``logHR`` are the same scale).

Warnings (severity ``"warning"``; the run continues, the report shows them):

* **SD that looks like an SE.** In a randomised trial the two arms' SDs are normally within a
  factor of 2-3 of each other, and of the other trials in the same analysis. An SE reported in the
  SD column is smaller than the SD by a factor sqrt(n). An arm is flagged when its SD is less than
  1/3 of a reference SD *and* ``sd * sqrt(n)`` is within a factor of 2 of that reference (i.e.
  multiplying by sqrt(n) restores the expected size). The reference is the other arm's SD, and
  separately the median SD of the other trials in the analysis (both arms), when there are >= 2
  such trials. (Cochrane Handbook 6.5.2.3 on SD vs SE confusion; the thresholds are ours.)
* **CI not symmetric on the analysis scale** for generic rows given as estimate + CI: on the log
  scale for ratio measures (HR, OR, RR), on the raw scale otherwise. With
  ``d_lo = est - lo`` and ``d_hi = hi - est`` (logs for ratios) the row is flagged when
  ``|d_hi - d_lo| / (d_hi + d_lo) > 0.10`` even after allowing each reported number to be off by
  half a unit in its last reported decimal (so CIs rounded to 2 decimals are not flagged).
* **Both arms with zero events** (or all events): the study carries no information on OR/RR,
  metafor keeps it with a continuity correction unless ``continuity.drop00`` is set.
* Cells of another outcome type's columns that are filled but ignored (e.g. ``mean_treat`` on a
  binary row); ``yi``/``sei`` and estimate/CI both given (``yi``/``sei`` are used).
* Analyses with fewer than ``min_studies`` trials.
* **Possible duplicates** within one analysis (errors with ``duplicates="error"``): a row with the
  same arm data as an earlier row (the numbers the effect is computed from: events/n,
  mean/SD/n, or measure with yi/sei or estimate/CI), or whose study label equals an earlier one
  after dropping case, spaces and punctuation (``Meijvis et al. 2011`` / ``Meijvis et al 2011``).
  The warning names both rows and advises keeping one row if they are the same trial.
* Values of a ``group_by`` column that differ only in case or white space (``Placebo`` /
  ``placebo``): they are **not merged** (they make separate analyses, as written); the warning
  names the column, both spellings and their rows.

After validation: numeric columns are ``float64`` (NaN for empty), ``year`` float, ``outcome_type``
lower case, ``higher_is_better`` pandas ``boolean`` (nullable), moderator columns whose non-empty
cells are all finite numbers are ``float64``; everything else stays text. Row order is unchanged.
"""

from __future__ import annotations

import math
import re
import statistics
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from trialmeta.inputs.booleans import parse_bool
from trialmeta.inputs.errors import InputError, Problem, show_value
from trialmeta.inputs.multi_arm import check_trials as check_multi_arm_trials
from trialmeta.inputs.names import suggest_column
from trialmeta.inputs.single_arm import (
    change_columns_needed,
    fill_blank_comparator,
    single_arm_row_rules,
)
from trialmeta.inputs.subgroup_rows import main_rows
from trialmeta.inputs.time_to_event import (
    ALTERNATIVE_KINDS,
    alternatives_message,
    needed_columns,
)
from trialmeta.inputs.time_to_event import (
    check_row as check_alternative_row,
)

__all__ = [
    "validate_trials",
    "trials_schema",
    "NUMERIC_COLUMNS",
    "COUNT_COLUMNS",
    "TEXT_COLUMNS",
    "REQUIRED_COLUMNS",
    "TYPE_COLUMNS",
    "GENERIC_MEASURES",
    "RATIO_MEASURES",
    "parse_bool",
]

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "trials.schema.yaml"
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_NONFINITE = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"}
_MISSING_WORDS = {
    "na",
    "n/a",
    "nan",
    "null",
    "none",
    "-",
    "--",
    ".",
    "nr",
    "not reported",
    "missing",
}
#: measures given in natural units whose analysis scale is the log
RATIO_MEASURES = {"HR": "logHR", "OR": "logOR", "RR": "logRR", "IRR": "logIRR"}
#: text columns never turned into numbers (identifiers, citations)
TEXT_COLUMNS = (
    "study_id",
    "therapy",
    "comparator",
    "condition",
    "outcome",
    "outcome_type",
    "measure",
    "source",
    "source_url",
    "notes",
    "nct_id",
    "source_file",
)
SYMMETRY_TOLERANCE = 0.10
SE_FACTOR_SMALL = 3.0  # SD smaller than reference / 3 ...
SE_FACTOR_MATCH = 2.0  # ... and sd*sqrt(n) within a factor 2 of the reference


@lru_cache(maxsize=1)
def trials_schema() -> dict:
    """The published input-table schema (``trialmeta/inputs/schemas/trials.schema.yaml`` (package data)) as a dict."""
    import yaml

    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _schema_tables():
    s = trials_schema()
    props = s["properties"]
    numeric = tuple(
        c for c, p in props.items() if p.get("type") in ("number", "integer") and c != "year"
    )
    counts = tuple(c for c, p in props.items() if p.get("type") == "integer" and c != "year")
    types: dict[str, tuple] = {}
    generic_measures: tuple = ()
    for branch in s["allOf"]:
        kind = branch["if"]["properties"]["outcome_type"]["const"]
        then = branch["then"]
        cols = list(then.get("required", []))
        for alt in then.get("anyOf", []):
            cols += [c for c in alt["required"] if c not in cols]
        cols += [c for c in then.get("properties", {}) if c not in cols]
        types[kind] = tuple(cols)
        if "properties" in then and "measure" in then["properties"]:
            generic_measures = tuple(then["properties"]["measure"]["enum"])
    return (
        tuple(s["required"]),
        numeric,
        counts,
        types,
        generic_measures,
        tuple(props["outcome_type"]["enum"]),
    )


REQUIRED_COLUMNS, NUMERIC_COLUMNS, COUNT_COLUMNS, TYPE_COLUMNS, GENERIC_MEASURES, OUTCOME_TYPES = (
    _schema_tables()
)


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(trials_schema())


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, (float, np.floating)) and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def _decimals(text: str) -> int:
    m = re.match(r"^[+-]?\d*\.?(\d*)", text.split("e")[0].split("E")[0])
    return len(m.group(1)) if m and "." in text else 0


# ------------------------------------------------------------------------------------------ checks
class _Checker:
    def __init__(self, df: pd.DataFrame, group_by, min_studies: int, duplicates: str = "warn"):
        self.df = df
        self.group_by = list(group_by)
        self.min_studies = int(min_studies)
        self.duplicates = duplicates
        self.multi_arm = "split"  # config multi_arm (trialmeta.inputs.multi_arm)
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = list(df.attrs.get("warnings", []) or [])
        self.columns_by_file = dict(df.attrs.get("columns_by_file") or {})
        df.attrs = {}  # pandas deep-copies attrs on every column access
        self.files = df["source_file"].tolist()
        self.rows = df["source_row"].tolist()
        self.n = len(df)
        self.missing_cols: set[tuple[str, str]] = set()  # (file, column) missing from a file
        self.values: dict[str, list] = {}  # typed values per column (None = empty/bad)
        self.bad: set[tuple[int, str]] = set()  # (row index, column) that failed to parse
        self.types: list[str | None] = [None] * self.n
        self.se_flagged: set[tuple[int, str]] = set()  # (row index, sd column) warned as SE-like
        self.text = {
            c: df[c].tolist() for c in df.columns if c not in ("source_file", "source_row")
        }

    # -- helpers
    def err(self, i, column, message, value=None):
        self.problems.append(Problem(self.files[i], int(self.rows[i]), column, message, value))

    def warn(self, i, column, message, value=None):
        self.warnings.append(
            Problem(self.files[i], int(self.rows[i]), column, message, value, "warning")
        )

    def loc(self, i) -> str:
        return f"{self.files[i]}:{self.rows[i]}"

    def cell(self, i, col) -> str:
        t = self.text.get(col)
        return "" if t is None else t[i]

    def val(self, i, col):
        v = self.values.get(col)
        return None if v is None else v[i]

    # -- 1. columns present per file
    def check_columns(self):
        by_file = self.columns_by_file
        files = list(dict.fromkeys(self.files))
        types = (
            self.df["outcome_type"].map(lambda s: s.strip().casefold())
            if "outcome_type" in self.df
            else None
        )
        for f in files:
            header = by_file.get(
                f, [c for c in self.df.columns if c not in ("source_file", "source_row")]
            )
            lower = {c.casefold().replace(" ", "_"): c for c in header}
            needed = list(REQUIRED_COLUMNS) + [
                c for c in self.group_by if c not in REQUIRED_COLUMNS
            ]
            idx = [i for i, x in enumerate(self.files) if x == f]
            present_types: set = set()
            if types is not None:
                present_types = set(types.iloc[idx])
                for kind in OUTCOME_TYPES:
                    if kind in present_types:
                        cols = TYPE_COLUMNS[kind]
                        if kind == "single_arm_change":
                            cols = change_columns_needed(header)
                        if kind == "generic":
                            has_yi = {"yi", "sei"} <= set(header)
                            has_ci = {"estimate", "ci_low", "ci_high"} <= set(header)
                            cols = ["measure"] + ([] if (has_yi or has_ci) else ["yi", "sei"])
                        elif kind in ALTERNATIVE_KINDS:  # trialmeta.inputs.time_to_event
                            cols = needed_columns(kind, header)
                        needed += [c for c in cols if c not in needed]
            for c in needed:
                if c in header:
                    continue
                self.missing_cols.add((f, c))
                why = (
                    "required"
                    if c in REQUIRED_COLUMNS
                    else (
                        "a group_by column"
                        if c in self.group_by
                        else "needed by the file's "
                        + "/".join(
                            k for k in OUTCOME_TYPES if k in present_types and c in TYPE_COLUMNS[k]
                        )
                        + " rows"
                    )
                )
                self.problems.append(
                    Problem(f, None, None, f"missing column {c!r} ({why}){_hint(c, header, lower)}")
                )

    # -- 2. parse cells
    def parse(self):
        df = self.df
        if "outcome_type" in df:
            for i, raw in enumerate(df["outcome_type"]):
                t = raw.strip().casefold()
                self.types[i] = t if t in OUTCOME_TYPES else None
        for col in NUMERIC_COLUMNS + ("year",):
            if col not in df:
                continue
            out: list = [None] * self.n
            for i, raw in enumerate(df[col]):
                if raw == "":
                    continue
                low = raw.casefold()
                if _NUMBER.match(raw):
                    x = float(raw)
                    if not math.isfinite(x):
                        self.bad.add((i, col))
                        self.err(i, col, "number too large (not finite)", raw)
                        continue
                    out[i] = x
                elif low in _NONFINITE:
                    self.bad.add((i, col))
                    self.err(i, col, "not a finite number", raw)
                else:
                    self.bad.add((i, col))
                    hint = ""
                    if re.match(r"^[+-]?\d+,\d+$", raw):
                        hint = " (decimal comma? write a point: 1.5)"
                    elif raw.endswith("%"):
                        hint = " (a percentage? give the count / value itself)"
                    elif low in _MISSING_WORDS:
                        hint = " (leave the cell empty for a missing value)"
                    self.err(i, col, f"not a number{hint}", raw)
            self.values[col] = out
        if "year" in self.values:
            for i, x in enumerate(self.values["year"]):
                if x is not None and not float(x).is_integer():
                    self.bad.add((i, "year"))
                    self.err(i, "year", "must be a whole number (a year)", df["year"].iat[i])
                    self.values["year"][i] = None
        if "higher_is_better" in df:
            out = [None] * self.n
            for i, raw in enumerate(df["higher_is_better"]):
                try:
                    out[i] = parse_bool(raw, strict=True)
                except ValueError:
                    self.bad.add((i, "higher_is_better"))
                    self.err(
                        i,
                        "higher_is_better",
                        "must be true or false (also accepted: 1/0, yes/no)",
                        raw,
                    )
            self.values["higher_is_better"] = out

    # -- 3. JSON schema, row by row
    def schema_rows(self):
        """Validate every row against the schema.

        jsonschema costs ~1 ms a row, so rows are validated once per *signature*: the text values
        of outcome_type/measure, which other cells are filled, and for each number whether it is
        whole and where it lies relative to every bound in the schema (minimum, exclusiveMinimum,
        ...). Two rows with the same signature get exactly the same schema errors.
        """
        validator = _validator()
        df = self.df
        text_cols = [
            c for c in df.columns if c not in self.values and c not in ("source_file", "source_row")
        ]
        bad_by_row: dict[int, set] = {}
        for j, c in self.bad:
            bad_by_row.setdefault(j, set()).add(c)
        bounds = _schema_bounds()
        enum_cols = ("outcome_type", "measure")
        cache: dict[tuple, list] = {}
        for i in range(self.n):
            rec = {}
            sig = []
            for c in text_cols:
                v = self.text[c][i]
                if v != "":
                    if c == "outcome_type":
                        v = v.casefold()
                    rec[c] = v
                    sig.append((c, v) if c in enum_cols else (c,))
            for c, vals in self.values.items():
                v = vals[i]
                if v is not None:
                    rec[c] = v
                    sig.append((c, float(v).is_integer()) + tuple((v < b, v == b) for b in bounds))
            bad_here = bad_by_row.get(i, set())
            for c in self.group_by:
                if (
                    c not in REQUIRED_COLUMNS
                    and c in self.text
                    and rec.get(c, "") == ""
                    and (self.files[i], c) not in self.missing_cols
                ):
                    self.err(i, c, "empty: a value is required in a group_by column")
            key = tuple(sig)
            errs = cache.get(key)
            if errs is None:
                # jsonschema reports 'required' once per missing property, with the same data
                errs = list(
                    dict.fromkeys(
                        (
                            e.validator,
                            _hashable(e.validator_value),
                            e.path[0] if e.path else None,
                            e.schema.get("title") if len(e.schema_path) > 1 else None,
                            tuple(c for c in e.validator_value if c not in e.instance)
                            if e.validator == "required"
                            else None,
                        )
                        for e in validator.iter_errors(rec)
                    )
                )
                cache[key] = errs
            for err in errs:
                self._schema_problem(i, err, bad_here)

    def _schema_problem(self, i, e, bad_here):
        f = self.files[i]
        kind, limit, col, title, missing = e
        if kind == "required":
            for c in missing:
                if (f, c) in self.missing_cols or c in bad_here:
                    continue
                self.err(
                    i, c, f"empty: required for {title}" if title else "empty: a value is required"
                )
            return
        if kind == "anyOf" and self.types[i] in ALTERNATIVE_KINDS:
            if not any((f, c) in self.missing_cols for c in TYPE_COLUMNS[self.types[i]]):
                self.err(i, None, alternatives_message(self.types[i]))
            return
        if kind == "anyOf" and self.types[i] == "single_arm_change":
            self.err(
                i,
                None,
                "single_arm_change row needs mean_baseline, sd_baseline, mean_followup and "
                "sd_followup, or mean_change and sd_change (cells empty)",
            )
            return
        if kind == "anyOf" and self.types[i] == "generic":
            if (f, "yi") in self.missing_cols:
                return
            self.err(
                i,
                None,
                "generic row needs yi and sei, or estimate, ci_low and ci_high (cells empty)",
            )
            return
        if col in bad_here:
            return
        raw = self.cell(i, col) if col is not None else None
        if kind == "enum" and col == "outcome_type":
            self.err(i, col, "must be one of " + ", ".join(OUTCOME_TYPES), raw)
        elif kind == "enum" and col == "measure":
            self.err(
                i, col, "unknown generic measure (one of " + ", ".join(GENERIC_MEASURES) + ")", raw
            )
        elif kind == "type" and limit == "integer":
            self.err(i, col, "must be a whole number (a count of participants)", raw)
        elif kind == "minimum":
            self.err(i, col, f"must be >= {limit:g}", raw)
        elif kind == "exclusiveMinimum":
            self.err(i, col, f"must be > {limit:g}", raw)
        elif kind == "maximum":
            self.err(i, col, f"must be <= {limit:g}", raw)
        elif kind == "exclusiveMaximum":
            self.err(i, col, f"must be < {limit:g}", raw)
        else:  # pragma: no cover - the schema uses only the validators above
            self.err(i, col, f"violates the schema rule {kind}={limit!r}", raw)

    # -- 4. rules across the cells of one row
    def row_rules(self):
        v = self.val
        for i in range(self.n):
            t = self.types[i]
            if t == "binary":
                for e, n in (("events_treat", "n_treat"), ("events_ctrl", "n_ctrl")):
                    a, m = v(i, e), v(i, n)
                    if a is not None and m is not None and a > m and a >= 0 and m >= 1:
                        self.err(i, e, f"> {n}={self.cell(i, n)}", self.cell(i, e))
                a, n1, c, n2 = (
                    v(i, "events_treat"),
                    v(i, "n_treat"),
                    v(i, "events_ctrl"),
                    v(i, "n_ctrl"),
                )
                if None not in (a, n1, c, n2) and 0 <= a <= n1 and 0 <= c <= n2:
                    if a == 0 and c == 0:
                        self.warn(
                            i,
                            None,
                            "no events in either arm: no information on OR/RR (kept with a continuity correction unless continuity.drop00 is true; left out by Mantel-Haenszel/Peto)",
                        )
                    elif a == n1 and c == n2:
                        self.warn(
                            i,
                            None,
                            "all participants had the event in both arms: no information on OR/RR",
                        )
            elif t == "continuous":
                for n in ("n_treat", "n_ctrl"):
                    m = v(i, n)
                    if m is not None and m == 1:
                        self.err(
                            i, n, "must be >= 2 for an arm with a mean and SD", self.cell(i, n)
                        )
                for sd, n, other_sd in (
                    ("sd_treat", "n_treat", "sd_ctrl"),
                    ("sd_ctrl", "n_ctrl", "sd_treat"),
                ):
                    s, m, ref = v(i, sd), v(i, n), v(i, other_sd)
                    if (
                        None not in (s, m, ref)
                        and s > 0
                        and ref > 0
                        and m >= 2
                        and _looks_like_se(s, m, ref)
                    ):
                        self.se_flagged.add((i, sd))
                        self.warn(
                            i,
                            sd,
                            f"looks like a standard error, not an SD: {other_sd}={self.cell(i, other_sd)} and {sd} x sqrt({n}) = {s * math.sqrt(m):.3g} (check the source; SD = SE x sqrt(n))",
                            self.cell(i, sd),
                        )
            elif t in ("single_arm_proportion", "single_arm_change"):
                single_arm_row_rules(self, i, t)
            elif t == "generic":
                self._generic_row(i)
            elif t in ALTERNATIVE_KINDS:
                check_alternative_row(self, i, t)
            if t is not None:
                self._ignored_cells(i, t)

    def _ignored_cells(self, i, t):
        used = set(TYPE_COLUMNS[t])
        for col in NUMERIC_COLUMNS:
            raw = self.cell(i, col)
            if col in used or raw == "" or (i, col) in self.bad:
                continue
            self.warn(i, col, f"ignored: not used by a {t} row", raw)

    def _generic_row(self, i):
        v, cell = self.val, self.cell
        measure = cell(i, "measure") if "measure" in self.df else ""
        if measure not in GENERIC_MEASURES:
            return
        yi, sei = v(i, "yi"), v(i, "sei")
        est, lo, hi = v(i, "estimate"), v(i, "ci_low"), v(i, "ci_high")
        if yi is not None and sei is not None:
            if measure in RATIO_MEASURES:
                self.err(
                    i,
                    "measure",
                    f"yi/sei must be on the analysis scale: use {RATIO_MEASURES[measure]} (or give estimate, ci_low, ci_high in {measure})",
                    measure,
                )
            if any(c in self.df and cell(i, c) != "" for c in ("estimate", "ci_low", "ci_high")):
                self.warn(
                    i,
                    None,
                    "both yi/sei and estimate/CI given: yi/sei are used, estimate/CI ignored",
                )
            return
        if None in (est, lo, hi):
            return
        ok = True
        if measure in RATIO_MEASURES:
            for c, x in (("estimate", est), ("ci_low", lo), ("ci_high", hi)):
                if x <= 0:
                    self.err(i, c, f"must be > 0 for a ratio measure ({measure})", cell(i, c))
                    ok = False
        if lo > hi:
            self.err(i, "ci_low", f"> ci_high={cell(i, 'ci_high')}", cell(i, "ci_low"))
            return
        if not (lo <= est <= hi):
            self.err(
                i,
                "estimate",
                f"outside its CI [{cell(i, 'ci_low')}, {cell(i, 'ci_high')}]",
                cell(i, "estimate"),
            )
            return
        if lo == hi:
            self.err(
                i,
                "ci_low",
                f"= ci_high={cell(i, 'ci_high')}: a zero-width CI gives no standard error",
                cell(i, "ci_low"),
            )
            return
        if ok and _asymmetric(measure, cell(i, "estimate"), cell(i, "ci_low"), cell(i, "ci_high")):
            scale = "log" if measure in RATIO_MEASURES else "raw"
            self.warn(
                i,
                "estimate",
                f"CI [{cell(i, 'ci_low')}, {cell(i, 'ci_high')}] is not symmetric around it on the {scale} scale (more than {SYMMETRY_TOLERANCE:.0%} beyond rounding): check the numbers and the measure; the SE is taken from the CI width",
                cell(i, "estimate"),
            )

    # -- 5. rules across rows of one analysis
    def analysis_rules(self):
        if any(c not in self.df for c in self.group_by):
            return
        # the analysis key as the typed table has it (outcome_type in lower case)
        columns = [
            [t or "" for t in self.types] if c == "outcome_type" else self.df[c].tolist()
            for c in self.group_by
        ]
        keys = list(zip(*columns)) if self.group_by else [()] * self.n
        groups: dict[tuple, list[int]] = {}
        for i, k in enumerate(keys):
            groups.setdefault(k, []).append(i)
        gb = "[" + ", ".join(self.group_by) + "]"
        for c, values in zip(self.group_by, columns):
            self._case_variants(c, values)
        for k, idx in groups.items():
            if self.group_by and any(str(x) == "" for x in k):
                continue  # empty key cells are reported as 'empty: required' / below
            if "study_id" in self.df:
                self._duplicates(idx)
            for col in ("comparator", "outcome_type"):
                if col in self.group_by or col not in self.df:
                    continue
                if col == "outcome_type":
                    vals = [self.types[i] for i in idx]
                else:
                    vals = [self.cell(i, col) for i in idx]
                first = next((i for i, x in zip(idx, vals) if x), None)
                if first is None:
                    continue
                ref = vals[idx.index(first)]
                for i, x in zip(idx, vals):
                    if x and x != ref:
                        self.err(
                            i,
                            col,
                            f"differs from {show_value(ref)} at {self.loc(first)} within one analysis: group_by {gb} does not separate them (add {col!r} to group_by or fix the value)",
                            self.cell(i, col),
                        )
            hib = self.values.get("higher_is_better")
            if hib is not None:
                given = [(i, hib[i]) for i in idx if hib[i] is not None]
                if given:
                    i0, ref = given[0]
                    for i, x in given[1:]:
                        if x != ref:
                            self.err(
                                i,
                                "higher_is_better",
                                f"differs from {show_value(self.cell(i0, 'higher_is_better'))} at {self.loc(i0)} within one analysis (one direction per outcome)",
                                self.cell(i, "higher_is_better"),
                            )
            if "measure" in self.df:
                gen = [
                    i
                    for i in idx
                    if self.types[i] == "generic" and self.cell(i, "measure") in GENERIC_MEASURES
                ]
                if gen:

                    def scale(i):
                        return RATIO_MEASURES.get(self.cell(i, "measure"), self.cell(i, "measure"))

                    ref = scale(gen[0])
                    for i in gen[1:]:
                        if scale(i) != ref:
                            self.err(
                                i,
                                "measure",
                                f"differs from {show_value(self.cell(gen[0], 'measure'))} at {self.loc(gen[0])} within one analysis: generic rows of one analysis need one measure",
                                self.cell(i, "measure"),
                            )
            if len(idx) < self.min_studies:
                self.warn(
                    idx[0],
                    None,
                    f"analysis has k={len(idx)} trial{'s' if len(idx) != 1 else ''}, fewer than min_studies={self.min_studies}",
                )
            self._se_across_studies(idx)

    def _case_variants(self, column, values):
        """Values of one group_by column that differ only in case or white space (``Placebo`` /
        ``placebo``) make separate analyses: they are kept apart, with a warning at the first row
        of each less common spelling naming the rows of both spellings."""
        spellings: dict[str, dict[str, list[int]]] = {}
        for i, x in enumerate(values):
            if x != "":
                spellings.setdefault(" ".join(x.split()).casefold(), {}).setdefault(x, []).append(i)
        for variants in spellings.values():
            if len(variants) < 2:
                continue
            ordered = sorted(variants.items(), key=lambda kv: (-len(kv[1]), kv[1][0]))
            ref, ref_rows = ordered[0]
            for value, rows in ordered[1:]:
                self.warn(
                    rows[0],
                    column,
                    f"differs only in case or spaces from {show_value(ref)} "
                    f"({self._rows_text(ref_rows)}): the rows with {show_value(value)} "
                    f"({self._rows_text(rows)}) are kept as a separate analysis; if both mean the "
                    "same, write them the same way",
                    value,
                )

    def _rows_text(self, rows, limit: int = 5) -> str:
        """``x.csv:2, x.csv:5 and 3 more rows``."""
        shown = ", ".join(self.loc(i) for i in rows[:limit])
        more = len(rows) - limit
        return shown + (f" and {more} more row{'s' if more != 1 else ''}" if more > 0 else "")

    def _arm_data(self, i):
        """The numbers of row i that the effect is computed from, as ((column, text), ...), or
        None when the row has none or has a cell that did not parse."""
        t = self.types[i]
        if t is None:
            return None
        cols = [c for c in TYPE_COLUMNS[t] if c in NUMERIC_COLUMNS]
        if any((i, c) in self.bad for c in cols) or all(self.val(i, c) is None for c in cols):
            return None
        measure = (("measure", self.cell(i, "measure")),) if t == "generic" else ()
        return (("outcome_type", t),) + measure + tuple((c, self.val(i, c)) for c in cols)

    def _duplicates(self, idx):
        """The same study label twice in one analysis is an error; a possible duplicate (the same
        arm data, or labels equal after dropping case, spaces and punctuation) is a warning, or
        an error with ``duplicates: error``. Each row is compared with the earlier rows."""
        seen: dict[str, int] = {}
        earlier: list[tuple[int, str, object]] = []
        idx = check_multi_arm_trials(self, idx, self.multi_arm)  # trialmeta.inputs.multi_arm
        for i in idx:
            sid = self.cell(i, "study_id")
            if sid == "":
                continue
            data = self._arm_data(i)
            if sid in seen:
                self.err(i, "study_id", self._same_label(i, seen[sid], data), sid)
                continue
            seen[sid] = i
            label = _label_key(sid)
            for j, label_j, data_j in earlier:
                same_label = label != "" and label == label_j  # '-' and '?' are no label
                same_data = data is not None and data == data_j
                if same_label or same_data:
                    self._possible_duplicate(i, j, same_label, same_data)
                    break
            earlier.append((i, label, data))

    def _same_label(self, i, j, data) -> str:
        if data is not None and data == self._arm_data(j):
            return (
                f"duplicate within one analysis (also at {self.loc(j)}, with the same arm data): "
                "the same trial entered twice? keep one of the two rows (pooling both counts "
                "the trial twice)"
            )
        return (
            f"duplicate within one analysis (also at {self.loc(j)}): if both rows are the same "
            "trial (e.g. two doses or time points), keep one row per analysis (combine the arms, "
            "or give the other row its own outcome); if they are different trials, give them "
            "distinguishable labels"
        )

    def _possible_duplicate(self, i, j, same_label: bool, same_data: bool):
        why = []
        if same_data:
            cells = [(c, self.cell(i, c)) for c, _ in self._arm_data(i)[1:]]
            data = ", ".join(f"{c}={x}" for c, x in cells if x != "")
            why.append(f"the same arm data ({data})")
        if same_label:
            why.append("labels that differ only in case, spaces or punctuation")
        advice = (
            "give them clearly different labels"
            if same_label
            else "check that the numbers were not copied from the other row"
        )
        message = (
            f"possible duplicate of {show_value(self.cell(j, 'study_id'))} at {self.loc(j)} "
            f"({' and '.join(why)}): if these are the same trial, keep one row (pooling both "
            f"counts it twice); if they are different trials, {advice}"
        )
        if self.duplicates == "error":
            self.err(
                i,
                "study_id",
                message + " (an error: duplicates is set to error)",
                self.cell(i, "study_id"),
            )
        else:
            self.warn(i, "study_id", message, self.cell(i, "study_id"))

    def _se_across_studies(self, idx):
        cont = [i for i in idx if self.types[i] == "continuous"]
        if len(cont) < 3:
            return
        sds = {}
        for i in cont:
            for sd, n in (("sd_treat", "n_treat"), ("sd_ctrl", "n_ctrl")):
                s, m = self.val(i, sd), self.val(i, n)
                if s is not None and m is not None and s > 0 and m >= 2:
                    sds[(i, sd)] = (s, m, n)
        trials = {j for (j, _) in sds}
        if len(trials) < 3:
            return
        for (i, sd), (s, m, n) in sds.items():
            if (i, sd) in self.se_flagged:
                continue
            others = [x[0] for (j, _), x in sds.items() if j != i]
            ref = statistics.median(others)
            if _looks_like_se(s, m, ref):
                self.se_flagged.add((i, sd))
                self.warn(
                    i,
                    sd,
                    f"looks like a standard error, not an SD: the other trials of this analysis have median SD {ref:.3g} and {sd} x sqrt({n}) = {s * math.sqrt(m):.3g} (check the source; SD = SE x sqrt(n))",
                    self.cell(i, sd),
                )

    # -- 6. typed output
    def typed(self) -> pd.DataFrame:
        df = self.df.copy()
        for col in NUMERIC_COLUMNS + ("year",):
            if col in self.values:
                df[col] = np.array(
                    [np.nan if x is None else x for x in self.values[col]], dtype="float64"
                )
        if "outcome_type" in df:
            df["outcome_type"] = pd.Series(
                [t if t is not None else "" for t in self.types], index=df.index, dtype=object
            )
        if "higher_is_better" in self.values:
            df["higher_is_better"] = pd.array(self.values["higher_is_better"], dtype="boolean")
        known = (
            set(trials_schema()["properties"])
            | set(TEXT_COLUMNS)
            | {"source_row"}
            | set(self.group_by)
        )
        for col in df.columns:
            if col in known:
                continue
            s = df[col]
            filled = [x for x in s if x != ""]
            if filled and all(_NUMBER.match(x) and math.isfinite(float(x)) for x in filled):
                df[col] = np.array([np.nan if x == "" else float(x) for x in s], dtype="float64")
        df.attrs = {}
        return df


def _hint(column: str, header: list, lower: dict) -> str:
    """A suggestion for a missing column: a header that differs only in case, or a near miss
    (``Events (treatment)`` for ``events_treat``); headers that are known columns are not offered."""
    alt = lower.get(column)
    if alt is not None and alt != column:
        return f" (found {alt!r}: column names are case-sensitive, use {column!r})"
    known = set(trials_schema()["properties"])
    alt = suggest_column(column, [h for h in header if h not in known])
    if alt is None:
        return ""
    return f" (did you mean {alt!r}? rename that column to {column!r}: names are not guessed)"


def _hashable(x):
    if isinstance(x, list):
        return tuple(_hashable(v) for v in x)
    if isinstance(x, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in x.items()))
    return x


@lru_cache(maxsize=1)
def _schema_bounds() -> tuple:
    """Every numeric bound used in the schema (minimum, exclusiveMinimum, maximum, ...)."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in (
                    "minimum",
                    "exclusiveMinimum",
                    "maximum",
                    "exclusiveMaximum",
                ) and isinstance(v, (int, float)):
                    found.add(float(v))
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(trials_schema())
    return tuple(sorted(found))


def _label_key(label: str) -> str:
    """A study label without case, spaces and punctuation (``Meijvis et al. 2011`` and
    ``meijvis et al 2011`` give the same key)."""
    return re.sub(r"[\W_]+", "", label.casefold())


def _looks_like_se(sd: float, n: float, ref_sd: float) -> bool:
    """SD < ref/3 and sd*sqrt(n) within a factor 2 of ref (see the module docstring)."""
    if sd >= ref_sd / SE_FACTOR_SMALL:
        return False
    restored = sd * math.sqrt(n)
    return ref_sd / SE_FACTOR_MATCH <= restored <= ref_sd * SE_FACTOR_MATCH


def _asymmetric(measure: str, est_s: str, lo_s: str, hi_s: str) -> bool:
    """Asymmetry beyond rounding (see the module docstring); inputs are the cells as written."""
    est, lo, hi = float(est_s), float(lo_s), float(hi_s)
    u = {k: 0.5 * 10.0 ** (-_decimals(s)) for k, s in (("e", est_s), ("l", lo_s), ("h", hi_s))}
    ratio = measure in RATIO_MEASURES
    f = math.log if ratio else (lambda x: x)

    def dist(
        a_lo, a_hi, b_lo, b_hi
    ):  # range of f(b) - f(a) with a in [a_lo,a_hi], b in [b_lo,b_hi]
        if ratio and (a_lo <= 0 or b_lo <= 0):
            return None
        return f(b_lo) - f(a_hi), f(b_hi) - f(a_lo)

    dlo = dist(lo - u["l"], lo + u["l"], est - u["e"], est + u["e"])
    dhi = dist(est - u["e"], est + u["e"], hi - u["h"], hi + u["h"])
    if dlo is None or dhi is None:
        return False
    # smallest possible |d_hi - d_lo| / (d_hi + d_lo) over the rounding box (check the box corners)
    best = math.inf
    for a in dlo:
        for b in dhi:
            if a + b <= 0:
                return False
            best = min(best, abs(b - a) / (a + b))
    if (dlo[0] <= dhi[1]) and (dhi[0] <= dlo[1]):  # intervals overlap: equality reachable
        best = 0.0
    return best > SYMMETRY_TOLERANCE


def validate_trials(
    df: pd.DataFrame,
    group_by,
    *,
    min_studies: int = 1,
    duplicates: str = "warn",
    keep_subgroup_rows: bool = False,
    multi_arm: str = "split",
):
    """Validate the text table from :func:`~trialmeta.inputs.ingest.load_trials` and type it.

    Parameters
    ----------
    df : DataFrame
        All-text cells plus ``source_file``/``source_row`` (added when absent: ``"<table>"`` and
        ``index + 2``). ``df.attrs["warnings"]`` (ingest warnings) are passed through.
    group_by : list of str
        Columns that define one analysis.
    min_studies : int
        Analyses with fewer rows get a warning (they are not removed).
    duplicates : {"warn", "error"}
        Possible duplicate trials within one analysis (the same arm data, or study labels equal
        after dropping case, spaces and punctuation) are warnings or errors.
    keep_subgroup_rows : bool
        Within-trial subgroup rows (``subgroup_variable``/``subgroup_level`` filled) are left out
        (the default: they never enter the main analysis) or checked like the others
        (:mod:`trialmeta.inputs.subgroup_rows` does, with the key extended by variable and level).
    multi_arm : {"split", "combine", "error"}
        Rows of one analysis sharing ``study_id`` with ``arm`` labels (a multi-arm trial) are
        checked by :mod:`trialmeta.inputs.multi_arm`; with ``"error"`` each is an input error.

    Returns
    -------
    (DataFrame, list[Problem])
        The typed table (same rows and order) and the warnings, sorted.

    Raises
    ------
    InputError
        With every error found (see the module docstring for the rules).
    """
    df = df.copy()
    attrs = dict(df.attrs)
    if "source_file" not in df:
        df["source_file"] = "<table>"
    if "source_row" not in df:
        df["source_row"] = np.arange(len(df)) + 2
    df = df.reset_index(drop=True)
    for col in df.columns:
        if col not in ("source_row",):
            df[col] = pd.Series([_as_text(x) for x in df[col]], dtype=object)
    df["source_file"] = df["source_file"].astype(object)
    df.attrs = attrs
    if not keep_subgroup_rows:
        df = main_rows(df)  # trialmeta.inputs.subgroup_rows
    if duplicates not in ("warn", "error"):
        raise ValueError(f"duplicates must be 'warn' or 'error', not {duplicates!r}")
    checker = _Checker(df, group_by, min_studies, duplicates)
    checker.multi_arm = multi_arm
    if len(df) == 0:
        raise InputError([Problem("<input>", None, None, "no data rows in any trial table")])
    checker.check_columns()
    checker.parse()
    fill_blank_comparator(checker)  # single-arm rows: 'none (single arm)'
    checker.schema_rows()
    checker.row_rules()
    checker.analysis_rules()
    if checker.problems:
        raise InputError(checker.problems)
    warnings = sorted(
        set(checker.warnings), key=lambda p: (p.file, p.row or 0, p.column or "", p.message)
    )
    return checker.typed(), warnings
