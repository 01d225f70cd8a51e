"""Reading trial tables: encodings, line endings, quoting, empty files, several files, .xlsx."""

from __future__ import annotations

import pytest

from helpers.trial_tables import HEADER, row, write_csv, write_xlsx
from trialmeta.inputs.errors import InputError
from trialmeta.inputs.ingest import load_trials

SHIPPED = "data/trials/immunotherapy_trials.csv"


def lines(exc: pytest.ExceptionInfo) -> list[str]:
    return str(exc.value).splitlines()


def test_shipped_table_reads_as_text(project_root, monkeypatch):
    monkeypatch.chdir(project_root)
    df = load_trials([SHIPPED])
    assert len(df) == 41
    assert df["source_file"].unique().tolist() == [SHIPPED]
    assert df["source_row"].tolist() == list(range(2, 43))
    data_cols = [c for c in df.columns if c not in ("source_file", "source_row")]
    assert all(isinstance(v, str) for c in data_cols for v in df[c])
    assert df.loc[0, "events_treat"] == "120" and df.loc[0, "mean_treat"] == ""
    assert df.attrs["warnings"] == []


def test_bom_crlf_and_lf_read_identically(tmp_path):
    rows = [row("A"), row("B", events_treat="3")]
    plain = load_trials([write_csv(tmp_path / "plain.csv", rows)])
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "plain.csv").read_bytes().replace(b"\n", b"\r\n"))
    other = load_trials([bom])
    cols = [c for c in plain.columns if c != "source_file"]
    assert list(other.columns) == list(plain.columns)  # BOM not glued to 'study_id'
    assert other[cols].equals(plain[cols])
    assert other.attrs["warnings"] == []


def test_old_mac_line_endings(tmp_path):
    p = write_csv(tmp_path / "cr.csv", [row("A"), row("B")], eol="\r")
    df = load_trials([p])
    assert df["study_id"].tolist() == ["A", "B"]


def test_latin1_fallback_warns_and_decodes(tmp_path):
    p = write_csv(
        tmp_path / "latin.csv", [row("Müller 2001"), row("Søren 2003")], encoding="latin-1"
    )
    df = load_trials([p])
    assert df["study_id"].tolist() == ["Müller 2001", "Søren 2003"]
    (w,) = df.attrs["warnings"]
    assert w.severity == "warning" and w.file == str(p)
    assert str(w).startswith(
        f"{p}: warning: not valid UTF-8 (first bad byte 0xfc on line 2); read as Latin-1"
    )


def test_tsv_and_several_files_union_of_columns(tmp_path):
    a = write_csv(tmp_path / "a.csv", [row("A", dose="10")])
    b = write_csv(tmp_path / "b.tsv", [row("B"), row("C")], sep="\t")
    df = load_trials([str(a), str(b)])
    assert df["study_id"].tolist() == ["A", "B", "C"]
    assert df["source_file"].tolist() == [str(a), str(b), str(b)]
    assert df["source_row"].tolist() == [2, 2, 3]
    assert df["dose"].tolist() == ["10", "", ""]
    assert df.attrs["columns_by_file"][str(b)] == list(row("B").keys())


def test_cells_stay_text_and_are_stripped(tmp_path):
    p = write_csv(
        tmp_path / "t.csv", [row("  A  ", n_treat=" 0050 ", events_treat="NA", sd_treat="1e3")]
    )
    df = load_trials([p])
    assert df.loc[0, "study_id"] == "A"
    assert df.loc[0, "n_treat"] == "0050"  # no number guessing
    assert df.loc[0, "events_treat"] == "NA"  # keep_default_na=False semantics
    assert df.loc[0, "sd_treat"] == "1e3"


def test_blank_lines_skipped_but_counted_and_multiline_cells(tmp_path):
    header = ",".join(HEADER[:10])
    text = (
        header
        + '\nA,t,p,c,o,binary,1,10,2,10\n\n,,,,,,,,,\n"B\nsecond line",t,p,c,o,binary,1,10,2,10\nC,t,p,c,o,binary,1,10,2,10\n'
    )
    p = tmp_path / "blank.csv"
    p.write_text(text)
    df = load_trials([p])
    assert df["study_id"].tolist() == ["A", "B\nsecond line", "C"]
    assert df["source_row"].tolist() == [2, 5, 6]  # spreadsheet rows (records), not lines


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", ["{p}: file is empty: expected a header row and at least one data row"]),
        (b"\n \r\n", ["{p}: file is empty: expected a header row and at least one data row"]),
        (b"study_id,therapy\r\n", ["{p}: has a header row (row 1) but no data rows"]),
        (b"study_id,therapy\n,\n", ["{p}: has a header row (row 1) but no data rows"]),
    ],
)
def test_empty_and_header_only(tmp_path, content, expected):
    p = tmp_path / "x.csv"
    p.write_bytes(content)
    with pytest.raises(InputError) as exc:
        load_trials([p])
    assert lines(exc) == [e.format(p=p) for e in expected]


def test_stray_quotes_name_the_line_and_all_are_reported(tmp_path):
    header = ",".join(HEADER[:10])
    p = tmp_path / "q.csv"
    p.write_text(
        header + "\n"
        'A,t,p,c,5" tablet,binary,1,10,2,10\n'
        'B,"t"x,p,c,o,binary,1,10,2,10\n'
        "C,t,p,c,o,binary,1,10,2,10\n"
        "D,t,p,c,o,binary,1,10,2,10,99\n"
        "E,t,p,c,o,binary,1,10,2\n"
    )
    with pytest.raises(InputError) as exc:
        load_trials([p])
    assert lines(exc) == [
        f'{p}:2: stray quote on line 2: a " inside a cell that is not quoted (quote the cell and double the inner quote: "5"" tablet")',
        f'{p}:3: stray quote on line 3: \',\' expected after \'"\' (quote a cell containing " and double the inner quotes: "5"" tablet")',
        f"{p}:5: row has 11 cells but the header has 10 columns (unquoted delimiter in a cell?)",
        f"{p}:6: row has 9 cells but the header has 10 columns (a missing delimiter shifts values)",
    ]


def test_unterminated_quote(tmp_path):
    p = tmp_path / "u.csv"
    p.write_text(
        ",".join(HEADER[:10])
        + '\nA,t,p,c,o,binary,1,10,2,10\nB,"t,p,c,o,binary,1,10,2,10\nC,t,p,c,o,binary,1,10,2,10\n'
    )
    with pytest.raises(InputError) as exc:
        load_trials([p])
    assert lines(exc) == [
        f'{p}:3: unbalanced quote: a quoted cell starting on line 3 is never closed (a stray " character?)'
    ]


def test_header_problems(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("study_id,therapy,therapy,,source_row\nA,t,u,x,3\n")
    with pytest.raises(InputError) as exc:
        load_trials([p])
    assert lines(exc) == [
        f"{p}:1: column 4 has no name in the header row but holds data",
        f"{p}:1: source_row: column name is reserved (added by trialmeta); rename it",
        f"{p}:1: therapy: duplicate column name (columns 2 and 3)",
    ]


def test_trailing_empty_columns_are_dropped(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("study_id,therapy,,\nA,t,,\nB,u,\n")
    df = load_trials([p])
    assert [c for c in df.columns if not c.startswith("source_")] == ["study_id", "therapy"]


def test_file_type_problems_reported_together(tmp_path):
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0")
    json = tmp_path / "t.json"
    json.write_text("{}")
    missing = tmp_path / "missing.csv"
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"study_id\x00,x\n")
    with pytest.raises(InputError) as exc:
        load_trials([xls, json, missing, binary])
    assert sorted(lines(exc)) == sorted(
        [
            f"{xls}: old Excel .xls files are not read: save it as .xlsx or CSV (UTF-8)",
            f"{json}: unsupported file type '.json': use .csv, .tsv or .xlsx",
            f"{missing}: file not found",
            f"{binary}:1: contains a NUL byte: this is not a text table (is it a binary or .xls file?)",
        ]
    )


def test_not_really_xlsx(tmp_path):
    p = tmp_path / "fake.xlsx"
    p.write_text("study_id\nA\n")
    with pytest.raises(InputError) as exc:
        load_trials([p])
    assert lines(exc)[0].startswith(f"{p}: cannot be read as an Excel .xlsx workbook (")


# --------------------------------------------------------------------------------------------- xlsx
def test_xlsx_values_formulas_and_types(tmp_path):
    header = HEADER[:10] + ["higher_is_better", "dose"]
    p = write_xlsx(
        tmp_path / "t.xlsx",
        {"Sheet1": [header, ["A", "t", "p", "c", "o", "binary", "=5+7", 50.0, 3, 40, True, 0.1]]},
        cached={("Sheet1", "G2"): 12},
    )
    df = load_trials([p])
    r = df.iloc[0]
    assert (
        r["events_treat"],
        r["n_treat"],
        r["events_ctrl"],
        r["higher_is_better"],
        r["dose"],
    ) == ("12", "50", "3", "true", "0.1")
    assert r["source_row"] == 2
    assert df.attrs["warnings"] == []


def test_xlsx_formula_without_cached_value_is_an_error_naming_the_cell(tmp_path):
    p = write_xlsx(
        tmp_path / "f.xlsx",
        {
            "Data": [
                HEADER[:10],
                ["A", "t", "p", "c", "o", "binary", "=5+7", 50, 3, 40],
                ["B", "t", "p", "c", "o", "binary", 1, 50, "=A1", 40],
            ]
        },
    )
    with pytest.raises(InputError) as exc:
        load_trials([p])
    assert lines(exc) == [
        f"{p}:2: cell Data!G2 has a formula (=5+7) but no saved value; open and save the workbook in Excel/LibreOffice, or paste values",
        f"{p}:3: cell Data!I3 has a formula (=A1) but no saved value; open and save the workbook in Excel/LibreOffice, or paste values",
    ]


def test_xlsx_sheet_named_trials_wins_without_warning(tmp_path):
    p = write_xlsx(
        tmp_path / "s.xlsx",
        {"README": [["this is not data"]], "Trials": [["study_id", "therapy"], ["A", "t"]]},
    )
    df = load_trials([p])
    assert df["study_id"].tolist() == ["A"] and df.attrs["warnings"] == []


def _data_sheet(*study_ids):
    return [HEADER] + [[row(s)[c] for c in HEADER] for s in study_ids]


def test_xlsx_readme_tab_first_reads_the_sheet_with_the_required_columns(tmp_path):
    """The issue's case: a README tab first used to be read and fail with a config error."""
    p = write_xlsx(
        tmp_path / "s.xlsx",
        {
            "README": [["Extraction form v2", "reviewer JS"], ["read me first", None]],
            "extraction": _data_sheet("A", "B"),
            "notes": [["free text"]],
        },
    )
    df = load_trials([p])
    assert df["study_id"].tolist() == ["A", "B"]
    assert df.attrs["warnings"] == []  # the other sheets do not look like trial data
    assert df.attrs["sheets"] == {str(p): "extraction"}


def test_xlsx_sheet_like_trial_data_that_is_not_read_gets_a_warning(tmp_path):
    p = write_xlsx(
        tmp_path / "s.xlsx",
        {
            "binary": _data_sheet("A"),
            "continuous": [["study_id", "therapy", "Comparator"], ["B", "t", "p"]],
        },
    )
    df = load_trials([p])
    assert df["study_id"].tolist() == ["A"]
    assert [str(w) for w in df.attrs["warnings"]] == [
        f"{p}: warning: workbook has 2 sheets ('binary', 'continuous'); read 'binary', the only one with the required columns; not read: sheet 'continuous': first row lacks comparator, condition, outcome, outcome_type (it has 'study_id', 'therapy', 'Comparator') (name the sheet to read 'trials'; to read several tables, save each as its own file)"
    ]


def test_xlsx_no_sheet_qualifies_names_file_and_sheets(tmp_path):
    p = write_xlsx(
        tmp_path / "s.xlsx",
        {
            "README": [["Extraction form v2", "reviewer JS"]],
            "extraction": [["study_id", "therapy"], ["A", "t"]],
            "empty": [],
        },
    )
    with pytest.raises(InputError) as exc:
        load_trials([p])
    assert lines(exc) == [
        f"{p}: workbook with sheets 'README', 'extraction', 'empty': no sheet is named 'trials' and none has the required columns (study_id, therapy, comparator, condition, outcome, outcome_type) in its first row: sheet 'README': first row lacks study_id, therapy, comparator, condition, outcome, outcome_type (it has 'Extraction form v2', 'reviewer JS'); sheet 'extraction': first row lacks comparator, condition, outcome, outcome_type (it has 'study_id', 'therapy'); sheet 'empty': empty"
    ]


def test_xlsx_several_sheets_qualify_is_an_error(tmp_path):
    p = write_xlsx(
        tmp_path / "s.xlsx",
        {"2023": _data_sheet("A"), "2024": _data_sheet("B"), "notes": [["x"]]},
    )
    with pytest.raises(InputError) as exc:
        load_trials([p])
    assert lines(exc) == [
        f"{p}: workbook with sheets '2023', '2024', 'notes': 2 sheets ('2023', '2024') have the required columns and none is named 'trials': name the sheet to read 'trials' (one table per workbook)"
    ]


def test_xlsx_single_sheet_is_read_whatever_its_columns(tmp_path):
    """One sheet: read it; the validation then names the missing columns."""
    p = write_xlsx(tmp_path / "s.xlsx", {"Sheet1": [["study_id", "therapy"], ["A", "t"]]})
    df = load_trials([p])
    assert df["study_id"].tolist() == ["A"] and df.attrs["sheets"] == {str(p): "Sheet1"}


def test_xlsx_header_only(tmp_path):
    p = write_xlsx(tmp_path / "h.xlsx", {"trials": [["study_id", "therapy"]]})
    with pytest.raises(InputError) as exc:
        load_trials([p])
    assert lines(exc) == [f"{p}: has a header row (row 1) but no data rows"]


def test_same_file_twice_is_read_once_and_long_cells_are_fine(tmp_path):
    long_note = "x" * 300_000
    p = write_csv(tmp_path / "a.csv", [row("A", notes=long_note)])
    df = load_trials([p, str(p), tmp_path / "." / "a.csv"])
    assert len(df) == 1 and df.loc[0, "notes"] == long_note


def test_txt_sniffs_tab_or_comma(tmp_path):
    t = write_csv(tmp_path / "t.txt", [row("A")], sep="\t")
    c = write_csv(tmp_path / "c.txt", [row("B")])
    df = load_trials([t, c])
    assert df["study_id"].tolist() == ["A", "B"] and df["events_treat"].tolist() == ["12", "12"]


def test_hostile_header_names_are_escaped(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text('study_id,"evil\u202e\nname","evil\u202e\nname"\nA,1,2\n')
    with pytest.raises(InputError) as exc:
        load_trials([p])
    assert lines(exc) == [f"{p}:1: 'evil\\u202e\\nname': duplicate column name (columns 2 and 3)"]
