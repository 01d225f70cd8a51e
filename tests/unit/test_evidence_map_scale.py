"""The summary-of-findings stage at scale (issue 16): the evidence map stays bounded and says
what it leaves out, small grids are drawn as before, and the Word document and SoF page keep
every analysis. All tables here are SYNTHETIC (made-up labels and numbers)."""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest

from trialmeta.plots.evidence_map import (
    CELL_H,
    CELL_W,
    MAX_CONDITIONS,
    MAX_THERAPIES,
    evidence_map,
    map_axes,
    map_cells,
)
from trialmeta.plots.style import figure_bytes


def synthetic_sof(n_therapies: int, n_conditions: int, every: int = 1) -> pd.DataFrame:
    """A SYNTHETIC summary_of_findings table: therapy t x condition c (when (t + c) % every
    == 0) with participants 100 + 10 t + c, so the largest therapies and conditions are the
    last ones."""
    rows = []
    for t in range(n_therapies):
        for c in range(n_conditions):
            if (t + c) % every:
                continue
            rows.append(
                {
                    "therapy_class": f"SYNTHETIC therapy {t:03d}",
                    "comparator": "SYNTHETIC placebo",
                    "condition": f"SYNTHETIC condition {c:04d}",
                    "outcome": "SYNTHETIC response",
                    "analysis_id": f"syn-{t}-{c}",
                    "k": 2,
                    "participants": 100 + 10 * t + c,
                    "relative_measure": "RR",
                    "relative_estimate": 1.2,
                    "relative_ci_low": 0.9,
                    "relative_ci_high": 1.6,
                    "certainty": ("high", "moderate", "low", "very low")[(t + c) % 4],
                }
            )
    return pd.DataFrame(rows)


def _grid(fig) -> tuple[int, int]:
    ax = fig.axes[0]
    return len(ax.get_yticks()), len(ax.get_xticks())


def test_small_grid_is_drawn_as_before():
    sof = synthetic_sof(3, 4)
    axes = map_axes(sof)
    assert not axes.truncated and axes.note == ""
    assert axes.therapies == sorted(sof["therapy_class"].unique())
    fig = evidence_map(sof)
    # the size and grid of the unbounded map, and no note
    assert tuple(fig.get_size_inches()) == pytest.approx((2.6 + CELL_W * 4, 1.9 + CELL_H * 3))
    assert _grid(fig) == (3, 4) and not fig.texts
    # limits that the grid just fits change nothing, byte for byte
    svg = figure_bytes(fig, "svg")
    assert figure_bytes(evidence_map(sof, max_therapies=3, max_conditions=4), "svg") == svg


def test_large_grid_is_bounded_fast_and_says_what_it_leaves_out():
    sof = synthetic_sof(50, 300, every=3)  # 5,000 SYNTHETIC analyses
    started = time.perf_counter()
    fig = evidence_map(sof)
    svg = figure_bytes(fig, "svg")
    seconds = time.perf_counter() - started
    assert seconds < 60 and svg.startswith(b"<?xml")
    width, height = fig.get_size_inches()
    assert width <= 2.6 + CELL_W * MAX_CONDITIONS + 1e-9
    assert height <= 1.9 + CELL_H * MAX_THERAPIES + 0.5
    assert _grid(fig) == (MAX_THERAPIES, MAX_CONDITIONS)
    note = (
        f"Showing {MAX_THERAPIES} of 50 therapies and {MAX_CONDITIONS} of 300 conditions with "
        f"the most participants; all {len(sof):,} analyses are in summary_of_findings.csv"
    )
    assert [t.get_text() for t in fig.texts] == [note]
    assert map_axes(sof).note == note


def test_bounded_grid_keeps_the_most_participants():
    sof = synthetic_sof(12, 20)
    axes = map_axes(sof, max_therapies=5, max_conditions=6)
    # participants grow with the index: the last therapies and conditions are kept, name order
    assert axes.therapies == [f"SYNTHETIC therapy {t:03d}" for t in range(7, 12)]
    assert axes.conditions == [f"SYNTHETIC condition {c:04d}" for c in range(14, 20)]
    assert (axes.n_therapies, axes.n_conditions, axes.n_analyses) == (12, 20, 240)
    fig = evidence_map(sof, max_therapies=5, max_conditions=6)
    assert _grid(fig) == (5, 6)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == axes.therapies
    # ties: name order
    tied = sof.assign(participants=100)
    assert map_axes(tied, 2, 3).therapies == ["SYNTHETIC therapy 000", "SYNTHETIC therapy 001"]
    assert map_axes(tied, 2, 3).conditions == [f"SYNTHETIC condition {c:04d}" for c in range(3)]


def test_conditions_are_chosen_among_the_shown_therapies():
    # condition 0000 is large only under a therapy that is left out: it makes no empty column
    sof = synthetic_sof(3, 3)
    sof.loc[sof["analysis_id"] == "syn-0-0", "participants"] = 10
    sof.loc[sof["analysis_id"] == "syn-2-0", "participants"] = 1
    sof = pd.concat(
        [sof, sof.iloc[[0]].assign(therapy_class="SYNTHETIC small", analysis_id="x", k=1)]
    )
    sof.loc[sof["analysis_id"] == "x", ["participants", "condition"]] = [5, "SYNTHETIC rare"]
    axes = map_axes(sof, max_therapies=3, max_conditions=10)
    assert "SYNTHETIC small" not in axes.therapies and "SYNTHETIC rare" not in axes.conditions
    assert axes.truncated and "Showing 3 of 4 therapies and 3 of 4 conditions" in axes.note
    cells = map_cells(sof)
    assert len(cells) == 10  # map_cells itself still covers every cell


def synthetic_tables(n: int, n_therapies: int = 7):
    """SYNTHETIC summary_of_findings and grade_signals tables of ``n`` analyses, through the
    real table code (trialmeta.tables.summary_of_findings)."""
    from trialmeta.tables.summary_of_findings import summary_of_findings_tables

    pooled, studies, trials = [], [], []
    for i in range(n):
        aid, binary = f"syn{i:05d}", i % 2 == 0
        est = 1.1 + (i % 5) / 10 if binary else -0.2 + (i % 3) / 10
        lo, hi = (est / 1.4, est * 1.4) if binary else (est - 0.3, est + 0.3)
        row = {
            "therapy_class": f"SYNTHETIC therapy {(i // 3) % n_therapies}",
            "comparator": "SYNTHETIC placebo",
            "condition": f"SYNTHETIC condition {i // 3:04d}",
            "outcome": f"SYNTHETIC {'response' if binary else 'score'} {i % 3}",
            "outcome_type": "binary" if binary else "continuous",
            "analysis_id": aid,
            "measure": "RR" if binary else "MD",
            "scale": "log" if binary else "raw",
            "primary": True,
            "k": 2,
            "I2": 10.0,
            "I2_ci_low": 0.0,
            "I2_ci_high": 60.0,
        }
        vals = dict(estimate=est, ci_low=lo, ci_high=hi, pi_low=lo * 0.9, pi_high=hi * 1.1)
        for c, v in vals.items():
            row[c] = math.log(v) if binary else v
            if binary:
                row[f"{c}_exp"] = v
        pooled.append(row)
        for s in range(2):
            studies.append(
                {
                    "analysis_id": aid,
                    "measure": row["measure"],
                    "study_id": f"{aid}-{s}",
                    "yi": row["estimate"],
                    "n_treat": 60 + i % 50,
                    "n_ctrl": 60,
                    "events_ctrl": 15.0 if binary else math.nan,
                    "mean_ctrl": math.nan if binary else 1.0,
                    "sd_ctrl": math.nan if binary else 1.0,
                }
            )
        trials.append({"analysis_id": aid, "higher_is_better": "true"})
    config = {"group_by": ["therapy_class", "comparator", "condition", "outcome", "outcome_type"]}
    return summary_of_findings_tables(
        pd.DataFrame(pooled), pd.DataFrame(studies), pd.DataFrame(trials), config
    )


def _write_page(tmp_path, sof, sig, evidence_map=()):
    from trialmeta.report.build import CSP, _environment
    from trialmeta.report.sof_page import write_sof_page

    out = tmp_path / "report"
    common = {"csp": CSP, "title": "SYNTHETIC"}
    return out, write_sof_page(_environment(), common, sof, sig, list(evidence_map), out)


def test_sof_page_splits_into_pages_and_keeps_every_analysis(tmp_path, monkeypatch):
    import re

    from trialmeta.report import sof_page

    sof, sig = synthetic_tables(90)
    out, _ = _write_page(tmp_path, sof, sig)  # fits: one page, no contents, no numbered pages
    page = (out / "summary_of_findings.html").read_text(encoding="utf-8")
    assert page.count('<section class="sof"') == 30 and 'id="contents"' not in page
    assert not list(out.glob("summary_of_findings-*.html"))
    monkeypatch.setattr(sof_page, "SOF_PAGE_ROWS", 20)
    out, _ = _write_page(tmp_path / "split", sof, sig)
    contents = (out / "summary_of_findings.html").read_text(encoding="utf-8")
    assert '<section class="sof"' not in contents and "90 analyses: too many" in contents
    parts = sorted(out.glob("summary_of_findings-*.html"), key=lambda p: int(p.stem.split("-")[1]))
    assert len(parts) == 5  # 30 tables of 3 rows, at most 20 rows (6 tables) a page
    ids, links = {}, []
    for p in parts:
        html = p.read_text(encoding="utf-8")
        assert html.count("<tr>") <= 20 + 2 * html.count('<section class="sof"')
        assert f"page {parts.index(p) + 1} of 5" in html
        for sid in re.findall(r'<section class="sof" id="(sof-\d+)">', html):
            ids[sid] = p.name
        links += re.findall(r'href="analyses/(syn\d+)\.html"', html)
    # every analysis once, every contents link lands on its table
    assert sorted(links) == sorted(sof["analysis_id"]) and len(ids) == 30
    for page_name, sid in re.findall(
        r'<a href="(summary_of_findings-\d+\.html)#(sof-\d+)">', contents
    ):
        assert ids[sid] == page_name
    assert len(re.findall(r"#sof-\d+", contents)) == 30
    # a rerun into the same folder that fits on one page leaves no numbered page behind
    monkeypatch.setattr(sof_page, "SOF_PAGE_ROWS", 500)
    _write_page(tmp_path / "split", sof, sig)
    assert not list(out.glob("summary_of_findings-*.html"))


def test_evidence_map_note_on_the_sof_page(tmp_path):
    sof = synthetic_sof(50, 40)
    svg = tmp_path / "evidence_map.svg"
    svg.write_bytes(b"<svg/>")
    sig = pd.DataFrame({"analysis_id": sof["analysis_id"]})
    sof = sof.assign(plain_language="SYNTHETIC", nnt="")
    out, fields = _write_page(tmp_path, sof, sig, [svg])
    assert fields["evidence_map_note"].startswith("Showing 40 of 50 therapies and 30 of 40")
    page = (out / "summary_of_findings.html").read_text(encoding="utf-8")
    assert fields["evidence_map_note"] in page


def test_word_document_at_scale_reads_back(tmp_path):
    import docx

    from trialmeta.pipeline.safe_csv import write_csv_safely
    from trialmeta.report.sof_docx import write_sof_docx
    from trialmeta.report.sof_page import sof_groups

    sof, sig = synthetic_tables(300)
    # texts python-docx writes specially: a tab, a line break, a leading space
    sof.loc[0, "outcome"] = "SYNTHETIC\ttab"
    sof.loc[1, "plain_language"] = "SYNTHETIC line\nbreak"
    sof.loc[2, "outcome"] = " SYNTHETIC leading space"
    csv = tmp_path / "summary_of_findings.csv"
    write_csv_safely(sof, csv)
    text = pd.read_csv(csv, dtype=str, keep_default_na=False)
    started = time.perf_counter()
    out = write_sof_docx(sof, sig, text, tmp_path / "sof.docx")
    assert time.perf_counter() - started < 60
    doc = docx.Document(str(out))
    groups = sof_groups(sof, sig)
    assert len(doc.tables) == len(groups) + 1
    appendix = [[c.text for c in row.cells] for row in doc.tables[-1].rows]
    assert appendix[0] == list(text.columns) and appendix[1:] == text.values.tolist()
    for table, group in zip(doc.tables, groups):
        rows = [[c.text for c in row.cells] for row in table.rows]
        assert [r[0] for r in rows[1:]] == [g["cells"][0] for g in group["rows"]]
        assert [r[7] for r in rows[1:]] == [g["plain"] for g in group["rows"]]
    xml = doc.element.xml
    assert '<w:t xml:space="preserve"> SYNTHETIC leading space' in xml
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 2"]
    assert len(headings) == len(groups) and headings[0].startswith(groups[0]["therapy"])


def test_names_that_differ_only_in_case_keep_their_order():
    # the grid's rows were sorted case-insensitively, code point order within a tie
    sof = synthetic_sof(1, 2)
    sof = pd.concat([sof.assign(therapy_class="abc"), sof.assign(therapy_class="ABC")])
    sof["analysis_id"] = [f"a{i}" for i in range(len(sof))]
    assert map_axes(sof).therapies == ["ABC", "abc"]
    labels = [t.get_text() for t in evidence_map(sof).axes[0].get_yticklabels()]
    assert labels == ["ABC", "abc"]
