"""The report section "Does the biomarker change the effect?" and the index overview (issue 11):
a page with a main analysis gets the section, an analysis with subgroup rows only gets a page of
its own, the index lists every biomarker question, and nothing loads from the network."""

import numpy as np
import pandas as pd
import pytest

from helpers.report_html import all_pages, check_offline
from helpers.report_tables import CONFIG, engine_tables
from trialmeta.inputs.analyses import assign_analysis_ids
from trialmeta.inputs.settings import Settings
from trialmeta.inputs.subgroup_rows import validate_with_subgroups
from trialmeta.plots.interaction_forest import draw_interaction_figures
from trialmeta.report import build_report
from trialmeta.tables.iceman import credibility_table
from trialmeta.tables.interactions import interaction_tables

GROUP_BY = CONFIG["group_by"]


def _row(study, outcome, et, nt, ec, nc, var="", level=""):
    return {
        "study_id": study,
        "therapy": "drug",
        "therapy_class": "class",
        "comparator": "placebo",
        "condition": "SLE",
        "outcome": outcome,
        "outcome_type": "binary",
        "events_treat": str(et),
        "n_treat": str(nt),
        "events_ctrl": str(ec),
        "n_ctrl": str(nc),
        "higher_is_better": "true",
        "subgroup_variable": var,
        "subgroup_level": level,
    }


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    rows = [
        _row("T1", "response", 30, 200, 20, 200),
        _row("T2", "response", 35, 210, 25, 190),
        _row("T1", "response", 20, 100, 10, 100, "marker", "pos"),
        _row("T1", "response", 10, 100, 10, 100, "marker", "neg"),
        _row("T2", "response", 24, 110, 12, 95, "marker", "pos"),
        _row("T2", "response", 11, 100, 13, 95, "marker", "neg"),
        _row("T1", "remission", 9, 100, 4, 100, "marker", "pos"),  # no main rows
        _row("T1", "remission", 5, 100, 5, 100, "marker", "neg"),
    ]
    df = pd.DataFrame(rows)
    df["source_file"], df["source_row"] = "t.csv", np.arange(len(df)) + 2
    trials, warnings, sub = validate_with_subgroups(df, GROUP_BY)
    trials = assign_analysis_ids(trials, GROUP_BY)
    pooled, studies, _ = engine_tables(trials)
    settings = Settings.coerce({**CONFIG, "subgroup_levels": {"marker": ["pos", "neg"]}})
    tables = interaction_tables(sub, settings)
    tables["subgroup_rows"] = sub
    tables["interaction_credibility"] = credibility_table(tables, settings, {})
    tmp = tmp_path_factory.mktemp("interactions_report")
    draw_interaction_figures(tables, settings, tmp / "figs")
    out = tmp / "report"
    exploration = {k: v for k, v in tables.items() if k != "subgroup_rows"}
    aid = trials["analysis_id"].iloc[0]
    exploration["subgroups"] = pd.DataFrame(  # a biomarker_selected between-trial contrast
        {
            "analysis_id": [aid, aid],
            "measure": "RR",
            "scale": "log",
            "moderator": "biomarker_selected",
            "level": ["false", "true"],
            "k": [1, 1],
            "estimate": [0.1, 0.5],
            "ci_low": [-0.2, 0.1],
            "ci_high": [0.4, 0.9],
            "Q_between_pval": [0.12, 0.12],
        }
    )
    build_report(
        pooled, studies, trials, settings, warnings, [tmp / "figs"], out, exploration=exploration
    )
    return {"out": out, "trials": trials, "sub": sub}


def test_section_on_the_analysis_page(report):
    aid = report["trials"]["analysis_id"].iloc[0]
    html = (report["out"] / "analyses" / f"{aid}.html").read_text(encoding="utf-8")
    assert "Does the biomarker change the effect?" in html
    assert "within-trial comparison is the stronger evidence" in html
    assert "ICEMAN" in html and "reviewer judgement needed" in html
    assert "Is the analysis of effect modification based on comparison within rather than" in html
    assert "open: the reviewer&#39;s call" in html or "open: the reviewer's call" in html
    assert 'src="../figures/' in html and ".interaction-" in html
    assert "Between trials by enrolment: biomarker-selected vs unselected trials" in html


def test_subgroup_only_analysis_gets_its_own_page_and_index_lists_all(report):
    out = report["out"]
    remission = sorted(set(report["sub"]["analysis_id"]) - set(report["trials"]["analysis_id"]))
    assert len(remission) == 1
    page = out / "interactions" / f"{remission[0]}.html"
    html = page.read_text(encoding="utf-8")
    assert "Does the biomarker change the effect?" in html and "Main analysis" in html
    src = html.split('<img src="', 1)[1].split('"', 1)[0]
    assert (page.parent / src).is_file()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "Every biomarker question in this run" in index
    assert f"interactions/{remission[0]}.html" in index
    assert index.count('href="analyses/') >= 1
    assert "biomarker_selected (between trials only)" in index


def test_offline_and_no_script(report):
    for path in all_pages(report["out"]):
        text = path.read_text(encoding="utf-8")
        assert "<script" not in text.lower()
    check_offline(report["out"], set())
    for page in (report["out"] / "interactions").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text.lower()
        assert 'src="http' not in text and 'href="http' not in text  # nothing loads or links out
