"""Property-based fuzzing of ingest + validation with malformed trial tables.

Each example starts from a valid random table (binary, continuous and generic rows), applies one or
more corruptions and runs ``load_trials`` + ``validate_trials``. The outcome must be one of

* ``InputError`` whose every line starts with the file name and names a row (``file:row:``) or,
  for whole-file problems, says what is wrong with the file / which column is missing -- and, for
  the corruptions that must fail, contains the expected line;
* success (possibly with warnings) whose typed table equals the one from the clean table, for the
  corruptions that must be accepted (UTF-8 BOM, Latin-1 bytes, CRLF, several xlsx sheets, a README
  sheet before the data sheet, xlsx formulas with saved values, a possible duplicate trial under
  ``duplicates: warn`` -- with its warning).

Any other exception fails the test. The number of cases tried per corruption kind is reported at
the end of the module (terminal line ``ingest fuzz: ...``) and stored in the pytest cache under
``trialmeta/ingest_fuzz_counts``.
"""

from __future__ import annotations

import collections
import math
import os
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.trial_tables import HEADER, KEY, csv_text, write_xlsx
from trialmeta.inputs.errors import InputError, show_value
from trialmeta.inputs.ingest import load_trials
from trialmeta.inputs.validate import NUMERIC_COLUMNS, REQUIRED_COLUMNS, validate_trials

COUNTS: collections.Counter = collections.Counter()
OUTCOMES: collections.Counter = collections.Counter()

MUST_FAIL = [
    "missing_column",
    "unknown_outcome_type",
    "text_in_numeric",
    "negative_count",
    "noninteger_count",
    "events_gt_n",
    "n_lt_1",
    "sd_nonpositive",
    "nonfinite",
    "empty_file",
    "header_only",
    "stray_quote",
    "unterminated_quote",
    "duplicate_study_id",
    "mixed_outcome_type",
    "mixed_comparator",
    "ci_low_gt_high",
    "xlsx_formula_without_value",
    "wrong_cell_count",
    "possible_duplicate_error",
    "xlsx_no_trial_sheet",
    "xlsx_two_trial_sheets",
]
MUST_PASS = [
    "utf8_bom",
    "latin1",
    "crlf",
    "xlsx_several_sheets",
    "xlsx_formula_with_value",
    "xlsx_readme_first",
    "possible_duplicate_warn",
]
ANYTHING = ["random_cell", "random_bytes"]


# ------------------------------------------------------------------------------ valid tables
def _row(draw, i, kind=None):
    kind = kind or draw(st.sampled_from(["binary", "continuous", "generic"]))
    r = {c: "" for c in HEADER}
    r.update(
        study_id=f"Trial {i} ({draw(st.integers(1990, 2024))})",
        therapy="drug X",
        comparator="placebo",
        condition="RA",
        outcome=f"outcome-{kind}",
        outcome_type=kind,
        higher_is_better={"binary": "true", "continuous": "false", "generic": "false"}[kind],
        year=str(draw(st.integers(1960, 2025))),
    )
    if kind == "binary":
        n1, n2 = draw(st.integers(1, 5000)), draw(st.integers(1, 5000))
        r.update(
            events_treat=str(draw(st.integers(0, n1))),
            n_treat=str(n1),
            events_ctrl=str(draw(st.integers(0, n2))),
            n_ctrl=str(n2),
        )
    elif kind == "continuous":
        num = st.floats(-100, 100, allow_nan=False).map(lambda x: f"{x:.3f}")
        sd = st.floats(0.01, 50).map(lambda x: f"{x:.3f}")
        r.update(
            mean_treat=draw(num),
            sd_treat=draw(sd),
            n_treat=str(draw(st.integers(2, 3000))),
            mean_ctrl=draw(num),
            sd_ctrl=draw(sd),
            n_ctrl=str(draw(st.integers(2, 3000))),
        )
    else:
        mu, se = draw(st.floats(-2, 2)), draw(st.floats(0.05, 1))
        r.update(
            measure="HR",
            estimate=f"{math.exp(mu):.4f}",
            ci_low=f"{math.exp(mu - 1.96 * se):.4f}",
            ci_high=f"{math.exp(mu + 1.96 * se):.4f}",
        )
    return r


@st.composite
def valid_rows(draw):
    n = draw(st.integers(min_value=1, max_value=8))
    return [_row(draw, i) for i in range(n)]


def rows_of(rows, kind):
    return [i for i, r in enumerate(rows) if r["outcome_type"] == kind]


# ------------------------------------------------------------------------------ corruptions
@st.composite
def corrupted(draw, kind=None):
    rows = draw(valid_rows())
    kind = kind or draw(st.sampled_from(MUST_FAIL + MUST_PASS + ANYTHING))
    header = list(HEADER)
    expect = None  # a line (with {f} for the file name) the error must contain
    fmt, eol, encoding, prefix = "csv", "\n", "utf-8", b""
    raw = None
    sheets = None
    group_by = list(KEY)
    duplicates = "warn"
    target = draw(st.integers(0, len(rows) - 1))
    r = rows[target]
    line = target + 2

    def pick_row(k):
        """Index of the target row, made a valid row of outcome type k first if it is not one."""
        if rows[target]["outcome_type"] != k:
            rows[target] = _row(draw, target, k)
        return target

    if kind == "missing_column":
        col = draw(st.sampled_from(REQUIRED_COLUMNS))
        header.remove(col)
        expect = f"{{f}}: missing column {col!r} (required)"
    elif kind == "unknown_outcome_type":
        bad = draw(
            st.text(min_size=1, max_size=12).filter(
                lambda s: (
                    s.strip()
                    and s.strip().casefold() not in ("binary", "continuous", "generic")
                    and "\x00" not in s
                )
            )
        )
        r["outcome_type"] = bad
        expect = f"{{f}}:{line}: outcome_type="
    elif kind in (
        "text_in_numeric",
        "negative_count",
        "noninteger_count",
        "events_gt_n",
        "n_lt_1",
        "nonfinite",
    ):
        i = pick_row("binary")
        r, line = rows[i], i + 2
        if kind == "text_in_numeric":
            col = draw(st.sampled_from(["events_treat", "n_treat", "events_ctrl", "n_ctrl"]))
            bad = draw(
                st.sampled_from(
                    [
                        "NA",
                        "n/a",
                        "12a",
                        "1,5",
                        "five",
                        "50%",
                        "-",
                        "?",
                        "1 2",
                        "0x10",
                        "1_000",
                        "١٢",
                    ]
                )
            )
            r[col] = bad
            expect = f"{{f}}:{line}: {col}="
        elif kind == "negative_count":
            col = draw(st.sampled_from(["events_treat", "events_ctrl"]))
            r[col] = str(-draw(st.integers(1, 100)))
            expect = f"{{f}}:{line}: {col}={r[col]}: must be >= 0"
        elif kind == "noninteger_count":
            col = draw(st.sampled_from(["events_treat", "n_treat", "events_ctrl", "n_ctrl"]))
            r[col] = f"{draw(st.integers(1, 50))}.{draw(st.integers(1, 9))}"
            expect = (
                f"{{f}}:{line}: {col}={r[col]}: must be a whole number (a count of participants)"
            )
        elif kind == "events_gt_n":
            e, n = draw(st.sampled_from([("events_treat", "n_treat"), ("events_ctrl", "n_ctrl")]))
            r[e] = str(int(r[n]) + draw(st.integers(1, 100)))
            expect = f"{{f}}:{line}: {e}={r[e]} > {n}={r[n]}"
        elif kind == "n_lt_1":
            col = draw(st.sampled_from(["n_treat", "n_ctrl"]))
            r[col] = str(draw(st.integers(-5, 0)))
            expect = f"{{f}}:{line}: {col}={r[col]}: must be >= 1"
        else:
            col = draw(st.sampled_from(["events_treat", "n_treat", "events_ctrl", "n_ctrl"]))
            r[col] = draw(st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity", "1e999"]))
            expect = f"{{f}}:{line}: {col}="
    elif kind == "sd_nonpositive":
        i = pick_row("continuous")
        r, line = rows[i], i + 2
        col = draw(st.sampled_from(["sd_treat", "sd_ctrl"]))
        r[col] = draw(st.sampled_from(["0", "-1", "-0.5", "0.0"]))
        expect = f"{{f}}:{line}: {col}={r[col]}: must be > 0"
    elif kind == "ci_low_gt_high":
        i = pick_row("generic")
        r, line = rows[i], i + 2
        r["ci_low"], r["ci_high"] = r["ci_high"], r["ci_low"]
        expect = f"{{f}}:{line}: ci_low={r['ci_low']} > ci_high={r['ci_high']}"
    elif kind == "empty_file":
        raw = draw(st.sampled_from([b"", b"\n", b"\r\n\r\n", b"   \n", b",,,\n", b"\xef\xbb\xbf"]))
        expect = "{f}: file is empty: expected a header row and at least one data row"
    elif kind == "header_only":
        raw = (
            ",".join(header) + draw(st.sampled_from(["", "\n", "\r\n", "\n\n", "\n,,,\n"]))
        ).encode()
        expect = "{f}: has a header row (row 1) but no data rows"
    elif kind == "stray_quote":
        col = draw(st.sampled_from(["therapy", "condition", "study_id", "n_treat", "notes_col"]))
        col = "study_id" if col == "notes_col" else col
        pos = draw(st.integers(0, len(r[col])))
        r[col] = r[col][:pos] + '"' + r[col][pos:]
        raw = "stray"  # written unquoted below
        # a quote inside a cell is a stray quote; one at the start of a cell opens a quoted cell
        # that never closes (or closes on a later stray quote)
        expect = f"{{f}}:{line}: " + ("unbalanced quote" if pos == 0 else "stray quote on line")
    elif kind == "unterminated_quote":
        r["therapy"] = '"' + r["therapy"]
        raw = "stray"
        expect = (
            f"{{f}}:{line}: unbalanced quote: a quoted cell starting on line {line} is never closed"
        )
    elif kind == "wrong_cell_count":
        raw = "extra"
        expect = f"{{f}}:{line}: row has {len(header) + 1} cells but the header has {len(header)} columns"
    elif kind == "duplicate_study_id":
        dup = dict(r)
        rows.append(dup)
        expect = f"{{f}}:{len(rows) + 1}: study_id={dup['study_id']!r}: duplicate within one analysis (also at {{f}}:{line}, with the same arm data)"
    elif kind in ("possible_duplicate_error", "possible_duplicate_warn"):
        # the same trial again under a label that differs only in case, spaces and punctuation
        dup = dict(r)
        dup["study_id"] = draw(
            st.sampled_from(
                [
                    r["study_id"].upper(),
                    r["study_id"].replace(" ", ""),
                    r["study_id"].replace("(", "").replace(")", ""),
                ]
            )
        )
        rows.append(dup)
        duplicates = "error" if kind == "possible_duplicate_error" else "warn"
        expect = (
            f"{{f}}:{len(rows) + 1}: study_id={show_value(dup['study_id'])}: possible duplicate of "
        )
    elif kind in ("mixed_outcome_type", "mixed_comparator"):
        col = "outcome_type" if kind == "mixed_outcome_type" else "comparator"
        group_by = (
            [c for c in KEY if c != col]
            if col == "comparator"
            else ["therapy", "comparator", "condition"]
        )
        for x in rows:
            x["outcome"] = "same outcome"
            x["higher_is_better"] = "true"
        other = dict(r)
        other["study_id"] = "another trial"
        if col == "comparator":
            other["comparator"] = draw(
                st.sampled_from(["usual care", "Placebo + MTX", "no treatment"])
            )
            rows.append(other)
            first = next(
                i for i, x in enumerate(rows) if x["outcome_type"] == other["outcome_type"]
            )
            expect = f"{{f}}:{len(rows) + 1}: comparator={other['comparator']!r}: differs from 'placebo' at {{f}}:{first + 2} within one analysis"
        else:
            if len({x["outcome_type"] for x in rows}) == 1:
                other_kind = draw(
                    st.sampled_from(
                        [
                            k
                            for k in ("binary", "continuous", "generic")
                            if k != rows[0]["outcome_type"]
                        ]
                    )
                )
                base = _row(draw, len(rows), other_kind)
                base.update(
                    study_id="another trial", outcome="same outcome", higher_is_better="true"
                )
                rows.append(base)
            expect = "{f}:"  # some row names the differing outcome_type (checked in the test)
    elif kind == "utf8_bom":
        prefix = b"\xef\xbb\xbf"
    elif kind == "latin1":
        r["study_id"] = r["study_id"] + " Müller-Søndergård"
        r["therapy"] = "drug é"
        encoding = "latin-1"
    elif kind == "crlf":
        eol = "\r\n"
    elif kind in ("xlsx_several_sheets", "xlsx_formula_with_value", "xlsx_formula_without_value"):
        fmt = "xlsx"
        if kind != "xlsx_several_sheets":
            pick_row("binary")
        extra = {"notes": [["free text"], ["more"]]} if kind == "xlsx_several_sheets" else {}
        sheets = {"extraction": None, **extra}
    elif kind in ("xlsx_readme_first", "xlsx_no_trial_sheet", "xlsx_two_trial_sheets"):
        fmt = "xlsx"
        readme = [["Extraction form v2", "reviewer JS"], ["read me first"]]
        if kind == "xlsx_readme_first":
            sheets = {"README": readme, "extraction": None}
        elif kind == "xlsx_no_trial_sheet":
            sheets = {"README": readme, "notes": [["free text"], ["more"]]}
            expect = "{f}: workbook with sheets 'README', 'notes': no sheet is named 'trials'"
        else:
            sheets = {"extraction": None, "copy": None}
            expect = "{f}: workbook with sheets 'extraction', 'copy': 2 sheets"
    elif kind == "random_cell":
        col = draw(st.sampled_from(HEADER))
        r[col] = draw(st.text(max_size=20))
    elif kind == "random_bytes":
        raw = draw(st.binary(max_size=300))
    return dict(
        kind=kind,
        rows=rows,
        header=header,
        expect=expect,
        fmt=fmt,
        eol=eol,
        encoding=encoding,
        prefix=prefix,
        raw=raw,
        sheets=sheets,
        group_by=group_by,
        target=target,
        duplicates=duplicates,
    )


def write_case(case, directory: Path) -> Path:
    rows, header = case["rows"], case["header"]
    if case["fmt"] == "xlsx":
        path = directory / "trials.xlsx"
        table = [header] + [[_xlsx_value(r[c]) for c in header] for r in rows]
        cached = None
        if case["kind"].startswith("xlsx_formula"):
            # put the first numeric count/size of the first binary/continuous row in as a formula
            for ri, r in enumerate(rows):
                col = "n_treat" if r["n_treat"] else None
                if col:
                    ci = header.index(col)
                    table[ri + 1][ci] = f"={r[col]}+0"
                    if case["kind"] == "xlsx_formula_with_value":
                        cached = {("extraction", f"{_col_letter(ci)}{ri + 2}"): r[col]}
                    else:
                        case["expect"] = (
                            f"{{f}}:{ri + 2}: cell extraction!{_col_letter(ci)}{ri + 2} has a formula"
                        )
                    break
            else:
                case["kind_effective"] = "xlsx_no_formula"
        sheets = {k: (table if v is None else v) for k, v in case["sheets"].items()}
        return write_xlsx(path, sheets, cached)
    path = directory / "trials.csv"
    raw = case["raw"]
    if isinstance(raw, bytes):
        path.write_bytes(raw)
        return path
    if raw in ("stray", "extra"):
        lines = [",".join(header)]
        for i, r in enumerate(rows):
            cells = [r[c] if c in r else "" for c in header]
            if raw == "extra" and i == case["target"]:
                cells.append("surplus")
            if raw == "stray" and i == case["target"]:
                lines.append(",".join(cells))  # the bad row is written without quoting
            else:
                lines.append(
                    csv_text([dict(zip(header, cells))], header=header).splitlines()[1]
                    if raw == "stray"
                    else ",".join(_q(c) for c in cells)
                )
        path.write_bytes(("\n".join(lines) + "\n").encode(case["encoding"]))
        return path
    text = csv_text(
        [{c: r.get(c, "") for c in header} for r in rows], header=header, eol=case["eol"]
    )
    path.write_bytes(case["prefix"] + text.encode(case["encoding"]))
    return path


def _q(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(ch in cell for ch in ',"\n\r') else cell


def _col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        s = chr(65 + rem) + s
    return s


def _xlsx_value(text: str):
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


LINE = re.compile(r"^(?P<file>.+?)(?::(?P<row>\d+))?: (?P<rest>.+)$")


def check_error_lines(exc: InputError, path: Path):
    text = str(exc)
    assert text, "InputError without a message"
    for line in text.splitlines():
        assert line.startswith(f"{path}:"), line
        m = LINE.match(line)
        assert m, line
        if m.group("row") is None:  # file-level: must say what is wrong with the file / column
            assert re.search(
                r"missing column '|file is empty|has a header row|not valid|unsupported|cannot be read|not found|NUL|UTF-16|workbook with sheets",
                line,
            ), line
    assert all(p.file == str(path) for p in exc.problems)


def typed_without_source(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["source_file"]).reset_index(drop=True)


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    yield
    total = sum(COUNTS.values())
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        cache.set(
            "trialmeta/ingest_fuzz_counts",
            {"total": total, "by_kind": dict(COUNTS), "outcomes": dict(OUTCOMES)},
        )
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    msg = f"ingest fuzz: {total} malformed-input cases tried; by kind {dict(sorted(COUNTS.items()))}; outcomes {dict(sorted(OUTCOMES.items()))}"
    if tr is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            tr.write_line("")
            tr.write_line(msg)
    else:  # pragma: no cover
        print(msg)


# TRIALMETA_FUZZ_EXAMPLES=5000 for a longer run (the closing note quotes the count of such a run)
EXAMPLES = int(os.environ.get("TRIALMETA_FUZZ_EXAMPLES", "300"))
SETTINGS = dict(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(corrupted())
def test_malformed_tables_fail_cleanly_or_pass_correctly(case):
    check_case(case)


@pytest.mark.parametrize("kind", MUST_FAIL + MUST_PASS + ANYTHING)
@settings(max_examples=max(5, EXAMPLES // 30), **SETTINGS)
@given(data=st.data())
def test_every_corruption_kind(kind, data):
    """Every kind is tried in every run (the random mix above may miss rare ones)."""
    check_case(data.draw(corrupted(kind)))


def check_case(case):
    kind = case["kind"]
    with tempfile.TemporaryDirectory() as d:
        path = write_case(case, Path(d))
        kind = case.get("kind_effective", kind)
        COUNTS[kind] += 1
        try:
            df = load_trials([str(path)])
            typed, warnings = validate_trials(df, case["group_by"], duplicates=case["duplicates"])
        except InputError as exc:
            OUTCOMES[f"{kind}:InputError"] += 1
            assert kind not in MUST_PASS, str(exc)
            check_error_lines(exc, path)
            if case["expect"]:
                want = case["expect"].format(f=path)
                assert any(line.startswith(want) for line in str(exc).splitlines()), (
                    want,
                    str(exc),
                )
            if kind == "mixed_outcome_type":
                assert "outcome_type=" in str(exc) and "within one analysis" in str(exc)
            return
        OUTCOMES[f"{kind}:ok"] += 1
        assert kind not in MUST_FAIL, f"{kind} was accepted:\n{path.read_bytes()[:500]!r}"
        for w in warnings:
            assert w.severity == "warning" and str(w).startswith(f"{path}")
        if kind in MUST_PASS or kind == "xlsx_no_formula":
            clean = dict(
                case, prefix=b"", encoding="utf-8", eol="\n", fmt="csv", kind="clean", raw=None
            )
            with tempfile.TemporaryDirectory() as d2:
                cpath = write_case(clean, Path(d2))
                ctyped, _ = validate_trials(load_trials([str(cpath)]), case["group_by"])
            pd.testing.assert_frame_equal(typed_without_source(typed), typed_without_source(ctyped))
            if kind == "latin1":
                assert any("read as Latin-1" in str(w) for w in warnings)
                assert typed["study_id"].iloc[case["target"]].endswith("Müller-Søndergård")
            if kind in ("xlsx_several_sheets", "xlsx_readme_first"):
                # the other sheet has none of the required columns: passed over without a word
                assert not any("sheet" in str(w) for w in warnings)
            if kind == "possible_duplicate_warn":
                want = case["expect"].format(f=path).replace(": study_id=", ": warning: study_id=")
                assert any(str(w).startswith(want) for w in warnings), (want, warnings)


@settings(
    max_examples=max(20, EXAMPLES // 4), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    valid_rows(),
    st.lists(
        st.sampled_from(["events_gt_n", "sd0", "text", "dup", "ci"]),
        min_size=2,
        max_size=5,
        unique=True,
    ),
)
def test_several_problems_are_all_reported(rows, kinds):
    """Several corruptions in one table: one InputError lists every one of them."""
    expected = []
    rows = [dict(r) for r in rows]
    for k in kinds:
        r = dict(rows[0])
        r["study_id"] = f"bad {k}"
        r.update(
            outcome_type="binary",
            outcome="outcome-binary",
            higher_is_better="true",
            events_treat="1",
            n_treat="10",
            events_ctrl="1",
            n_ctrl="10",
            mean_treat="",
            sd_treat="",
            mean_ctrl="",
            sd_ctrl="",
            estimate="",
            ci_low="",
            ci_high="",
            measure="",
        )
        if k == "events_gt_n":
            r["events_treat"] = "11"
        elif k == "sd0":
            r.update(
                outcome_type="continuous",
                outcome="outcome-continuous",
                higher_is_better="false",
                events_treat="",
                events_ctrl="",
                mean_treat="1",
                sd_treat="0",
                mean_ctrl="1",
                sd_ctrl="1",
            )
        elif k == "text":
            r["n_ctrl"] = "ten"
        elif k == "dup":
            r["study_id"] = "bad dup"
            rows.append(dict(r))
        elif k == "ci":
            r.update(
                outcome_type="generic",
                outcome="outcome-generic",
                higher_is_better="false",
                events_treat="",
                n_treat="",
                events_ctrl="",
                n_ctrl="",
                measure="HR",
                estimate="1.0",
                ci_low="1.5",
                ci_high="0.5",
            )
        rows.append(r)
        expected.append((k, len(rows) + 1))
    COUNTS["several_at_once"] += 1
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.csv"
        path.write_text(csv_text(rows, header=HEADER))
        with pytest.raises(InputError) as exc:
            validate_trials(load_trials([str(path)]), KEY)
        text = str(exc.value)
        check_error_lines(exc.value, path)
        needle = {
            "events_gt_n": "events_treat=11 > n_treat=10",
            "sd0": "sd_treat=0: must be > 0",
            "text": "n_ctrl='ten': not a number",
            "dup": "study_id='bad dup': duplicate",
            "ci": "ci_low=1.5 > ci_high=0.5",
        }
        for k, line in expected:
            assert f"{path}:{line}: {needle[k]}" in text, (k, text)
        OUTCOMES["several_at_once:InputError"] += 1


def test_fuzz_kinds_cover_every_named_case():
    """The corruption kinds include every kind of malformed input listed below."""
    wanted = {
        "missing_column",
        "unknown_outcome_type",
        "text_in_numeric",
        "negative_count",
        "noninteger_count",
        "events_gt_n",
        "n_lt_1",
        "sd_nonpositive",
        "nonfinite",
        "empty_file",
        "header_only",
        "utf8_bom",
        "latin1",
        "crlf",
        "stray_quote",
        "duplicate_study_id",
        "mixed_outcome_type",
        "mixed_comparator",
        "ci_low_gt_high",
        "xlsx_formula_without_value",
        "xlsx_formula_with_value",
        "xlsx_several_sheets",
        "xlsx_readme_first",
        "xlsx_no_trial_sheet",
        "xlsx_two_trial_sheets",
        "possible_duplicate_error",
        "possible_duplicate_warn",
    }
    assert wanted <= set(MUST_FAIL + MUST_PASS)
    assert set(NUMERIC_COLUMNS) >= {"events_treat", "n_treat", "sd_treat", "ci_low"}
