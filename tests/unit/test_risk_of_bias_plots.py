"""Risk-of-bias figures: RoB columns on the forest plot only where judgements exist (the forest
plot is byte-identical otherwise), robvis-style traffic-light and weighted summary plots with
robvis colours, deterministic bytes; risk_of_bias.csv carries the primary random-effects weights."""

import pytest

from helpers.report_tables import CONFIG, GROUP_BY, engine_tables, load_shipped_trials
from trialmeta.inputs.risk_of_bias import JUDGEMENT_COLUMNS, load_risk_of_bias
from trialmeta.plots.forest import render_forest_plots
from trialmeta.plots.risk_of_bias import (
    ROB_COLOURS,
    render_rob_figures,
    summary_plot,
    traffic_light_plot,
    weighted_shares,
)
from trialmeta.plots.style import figure_bytes
from trialmeta.tables.risk_of_bias import ROB_COLUMNS, risk_of_bias_table

HEADER = (
    "study_id,D1_randomisation,D2_deviations,D3_missing_data,D4_measurement,D5_selection,overall"
)


def _aid(study_id, outcome_start):
    t = load_shipped_trials()[0]
    hit = t[(t["study_id"] == study_id) & t["outcome"].str.startswith(outcome_start)]
    assert hit["analysis_id"].nunique() == 1
    return hit["analysis_id"].iloc[0]


ACR20 = _aid("TOWARD 2008", "ACR20")  # tocilizumab ACR20 (4 trials)
SAE = _aid("TOWARD 2008", "patients with")  # tocilizumab serious adverse events
GCSF = _aid("RESPONSE 2019", "")  # G-CSF live birth (no judgements)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    trials = load_shipped_trials()[0]
    pooled, studies, _ = engine_tables(trials)
    path = tmp_path_factory.mktemp("rob") / "rob.csv"
    path.write_text(
        "\n".join(
            [
                HEADER,
                "OPTION 2008,low,low,low,low,some concerns,some concerns",
                "LITHE 2011,low,low,low,low,low,low",
                "TOWARD 2008,low,low,high,low,low,high",
            ]
        )
        + "\n"
    )
    judgements = load_risk_of_bias([str(path)], trials, GROUP_BY)
    rob = risk_of_bias_table(judgements, studies, pooled, GROUP_BY)
    return trials, pooled, studies, judgements, rob


def test_risk_of_bias_table_has_the_contract_columns_and_primary_weights(data):
    _, pooled, studies, _, rob = data
    assert list(rob.columns) == [*GROUP_BY, *ROB_COLUMNS]
    acr = rob[rob["analysis_id"] == ACR20].set_index("study_id")
    st = studies[(studies["analysis_id"] == ACR20) & (studies["measure"] == "RR")]
    w = st.set_index("study_id")["weight_random"]
    assert acr.loc["LITHE 2011", "weight_percent"] == pytest.approx(w["LITHE 2011"], rel=1e-12)
    assert (
        set(rob["analysis_id"]) == {ACR20, ACR20.replace("acr20-0a6dfb66a8fa", "")}
        or len(set(rob["analysis_id"])) == 2
    )  # TOWARD is also in the safety analysis


def test_forest_unchanged_without_judgements_and_with_rob_columns_when_given(data, tmp_path):
    trials, pooled, studies, judgements, _ = data
    plain = render_forest_plots(pooled, studies, trials, CONFIG, tmp_path / "a", [ACR20, GCSF])
    with_rob = render_forest_plots(
        pooled, studies, trials, CONFIG, tmp_path / "b", [ACR20, GCSF], rob=judgements
    )
    empty = render_forest_plots(
        pooled, studies, trials, CONFIG, tmp_path / "c", [GCSF], rob=judgements.iloc[0:0]
    )
    by_name = {p.name: p.read_bytes() for p in with_rob}
    for p in plain:
        if p.name.startswith(GCSF):  # no judgements for this analysis: byte for byte the same
            assert by_name[p.name] == p.read_bytes()
            assert (tmp_path / "c" / p.name).read_bytes() == p.read_bytes()
        else:
            assert by_name[p.name] != p.read_bytes()
    svg = by_name[f"{ACR20}.svg"].decode()
    assert 'id="rob-header"' in svg
    for i in range(3):  # OPTION, LITHE, TOWARD: rows 0-2; RADIATE (no judgement) has none
        for c in JUDGEMENT_COLUMNS:
            assert f'id="rob-{i}-{c}"' in svg
    assert 'id="rob-3-overall"' not in svg
    assert ROB_COLOURS["high"].lower() in svg.lower()  # TOWARD's overall judgement
    assert len(empty) == 2


def test_traffic_light_and_summary_plots(data, tmp_path):
    *_, rob = data
    rows = rob[rob["analysis_id"] == ACR20].sort_values("study_id").reset_index(drop=True)
    svg = figure_bytes(traffic_light_plot(rows, "t"), "svg").decode()
    assert svg.count('id="rob-') == 3 * len(JUDGEMENT_COLUMNS)
    for j in ("low", "some concerns", "high"):
        assert ROB_COLOURS[j].lower() in svg.lower()
    summary = figure_bytes(summary_plot(rows, "t"), "svg").decode()
    assert 'id="bar-overall-High"' in summary and 'id="bar-overall-Some_concerns"' in summary
    first = render_rob_figures(rob, tmp_path / "a", {})
    second = render_rob_figures(rob, tmp_path / "b", {})
    assert [p.name for p in first] == [p.name for p in second]
    assert f"{ACR20}.rob_traffic_light.svg" in {p.name for p in first}
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second))


def test_weighted_summary_shares(data):
    *_, rob = data
    rows = rob[rob["analysis_id"] == ACR20]
    w = rows.set_index("study_id")["weight_percent"]
    shares = weighted_shares(rows, "overall")
    assert shares["high"] == pytest.approx(w["TOWARD 2008"] / w.sum())
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares[None] == 0.0
    unweighted = weighted_shares(rows.assign(weight_percent=float("nan")), "overall")
    assert unweighted["low"] == pytest.approx(1 / 3)


def test_report_page_has_the_section_only_where_judgements_exist(data, tmp_path):
    from trialmeta.inputs.settings import Settings
    from trialmeta.report.build import build_report
    from trialmeta.tables.effects import compute_effect_sizes
    from trialmeta.tables.risk_of_bias import rob_sensitivity_table

    trials, pooled, studies, judgements, rob = data
    settings = Settings.coerce({**CONFIG, "group_by": GROUP_BY})
    effects = compute_effect_sizes(
        trials, measures=CONFIG["measures"], continuity=CONFIG["continuity"]
    )
    sens = rob_sensitivity_table(effects, judgements, pooled, settings)
    figures = tmp_path / "rob_figures"
    render_rob_figures(rob, figures, {})
    out = tmp_path / "report"
    build_report(
        pooled,
        studies,
        trials,
        settings,
        [],
        [figures],
        out,
        exploration={"risk_of_bias": rob, "rob_sensitivity": sens},
    )
    page = (out / "analyses" / f"{ACR20}.html").read_text(encoding="utf-8")
    assert 'id="risk_of_bias"' in page and f"{ACR20}.rob_traffic_light.svg" in page
    assert "Trials at low overall risk of bias only" in page and "LITHE 2011" in page
    assert (out / "figures" / f"{ACR20}.rob_summary.svg").is_file()
    other = (out / "analyses" / f"{GCSF}.html").read_text(encoding="utf-8")
    assert 'id="risk_of_bias"' not in other
