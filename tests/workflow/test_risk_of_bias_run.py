"""Risk of bias through the real workflow (issue 13, items 1-2), on the shipped example
(config/example.yaml: risk_of_bias: [data/risk_of_bias.csv]):

1. the shipped run writes risk_of_bias.csv and rob_sensitivity.csv with the contract columns, the
   traffic-light and summary plots, RoB columns on the forest plot of the judged analysis only, and
   a risk-of-bias section on its report page;
2. a judgement table with errors stops the run with every problem (file, row, column) and
   publishes nothing new;
3. without the config key both tables are written with their header only and no forest plot has
   RoB columns; an edited judgement table reruns the forest plot of its analysis.
"""

import pandas as pd
import pytest

from helpers.workflow_project import analysis_of, clone, run_workflow, shipped_run, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

GROUP_BY = ["therapy_class", "comparator", "condition", "outcome", "outcome_type"]
ROB_COLUMNS = [
    *GROUP_BY,
    "analysis_id",
    "study_id",
    "D1_randomisation",
    "D2_deviations",
    "D3_missing_data",
    "D4_measurement",
    "D5_selection",
    "overall",
    "weight_percent",
]
SENS_COLUMNS = [
    *GROUP_BY,
    "analysis_id",
    "restriction",
    "k",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "estimate_exp",
    "ci_low_exp",
    "ci_high_exp",
    "scale",
    "status",
]
HEADER = (
    "study_id,D1_randomisation,D2_deviations,D3_missing_data,D4_measurement,D5_selection,overall"
)


def test_shipped_run_writes_the_tables_plots_forest_columns_and_report_section():
    results = shipped_run() / "results"
    MS = analysis_of(shipped_run(), "ORATORIO 2017")
    rob = pd.read_csv(results / "tables" / "risk_of_bias.csv")
    sens = pd.read_csv(results / "tables" / "rob_sensitivity.csv")
    assert list(rob.columns) == ROB_COLUMNS and list(sens.columns) == SENS_COLUMNS
    assert set(rob["analysis_id"]) == {MS}
    oratorio = rob.set_index("study_id").loc["ORATORIO 2017"]
    assert oratorio["overall"] == "high" and oratorio["D3_missing_data"] == "high"
    primary = pd.read_csv(results / "tables" / "pooled.csv").query("primary")
    measure = primary.set_index("analysis_id").loc[MS, "measure"]
    studies = pd.read_csv(results / "tables" / "studies.csv")
    w = studies[(studies["analysis_id"] == MS) & (studies["measure"] == measure)]
    assert oratorio["weight_percent"] == pytest.approx(
        w.set_index("study_id").loc["ORATORIO 2017", "weight_random"], rel=1e-12
    )
    s = sens.set_index("restriction")
    assert list(s.index) == ["all", "low_risk_only", "excluding_high_risk"]
    assert s.loc["all", "k"] == 2 and s.loc["low_risk_only", "k"] == 0
    assert s.loc["low_risk_only", "status"].startswith("not estimable: no trial at low overall")
    assert s.loc["all", "estimate"] == pytest.approx(
        primary.set_index("analysis_id").loc[MS, "estimate"], rel=1e-12
    )
    for kind in ("rob_traffic_light", "rob_summary"):
        assert (results / "figures" / "risk_of_bias" / f"{MS}.{kind}.svg").is_file()
    forests = sorted((results / "figures" / "forest").glob("*.svg"))
    with_rob = [p.stem for p in forests if 'id="rob-header"' in p.read_text()]
    assert with_rob == [MS]
    page = (results / "report" / "analyses" / f"{MS}.html").read_text(encoding="utf-8")
    assert 'id="risk_of_bias"' in page and f"{MS}.rob_traffic_light.svg" in page
    assert "Trials at low overall risk of bias only" in page
    other = next(p for p in (results / "report" / "analyses").glob("*.html") if MS not in p.name)
    assert 'id="risk_of_bias"' not in other.read_text(encoding="utf-8")


def test_bad_judgements_stop_the_run_naming_every_problem():
    proj = clone(shipped_run(), "rob-bad")
    (proj / "data" / "risk_of_bias.csv").write_text(
        HEADER + "\nNOPE 1999,low,low,low,low,low,low\nOLYMPUS 2009,low,low,meh,low,low,\n"
    )
    before = (proj / "results" / "tables" / "risk_of_bias.csv").read_bytes()
    proc = snakemake(proj, "--cores", "1", check=False)
    assert proc.returncode != 0
    err = proc.stderr
    assert "data/risk_of_bias.csv:2: study_id='NOPE 1999': unknown study" in err
    assert (
        "data/risk_of_bias.csv:3: D3_missing_data='meh': must be one of low, some concerns, high"
        in err
    )
    assert "data/risk_of_bias.csv:3: overall: must not be empty" in err
    assert (proj / "results" / "tables" / "risk_of_bias.csv").read_bytes() == before


def test_without_the_key_empty_tables_and_edits_rerun_the_forest_plot():
    proj = clone(shipped_run(), "rob-none")
    cfg = proj / "config" / "example.yaml"
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("risk_of_bias: [data/risk_of_bias.csv]", ""), encoding="utf-8")
    run_workflow(proj)
    results = proj / "results"
    assert (results / "tables" / "risk_of_bias.csv").read_text().splitlines() == [
        ",".join(ROB_COLUMNS)
    ]
    assert (results / "tables" / "rob_sensitivity.csv").read_text().splitlines() == [
        ",".join(SENS_COLUMNS)
    ]
    assert not any(
        'id="rob-header"' in p.read_text() for p in (results / "figures" / "forest").glob("*.svg")
    )
    cfg.write_text(text, encoding="utf-8")  # back on, with OLYMPUS judged too
    with open(proj / "data" / "risk_of_bias.csv", "a", encoding="utf-8") as fh:
        fh.write("OLYMPUS 2009,,,,,,,low,https://example.invalid,test only\n")
    run_workflow(proj)
    svg = (results / "figures" / "forest" / f"{analysis_of(proj, 'OLYMPUS 2009')}.svg").read_text()
    assert 'id="rob-1-overall"' in svg
    sens = pd.read_csv(results / "tables" / "rob_sensitivity.csv").set_index("restriction")
    assert sens.loc["low_risk_only", "k"] == 1
