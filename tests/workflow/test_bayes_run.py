"""Issue 12 through the real workflow: the shipped example (config/example.yaml turns ``bayes`` on)
writes ``tables/bayes.csv`` with exactly the contract columns, one row per analysis, and every
comparative analysis page with 1 <= k < 5 trials leads with the "few trials" panel (primary result, modified
HKSJ, posterior, prob_benefit in words, the prior-influence sentence, the posterior figure);
pages of other analyses have none. A forced rerun of the bayes job writes a byte-identical
bayes.csv. With ``bayes=false few_trials_k=3`` bayes.csv is gone from the results, the panel says
the Bayesian analysis is off and only k = 2 pages keep it.
"""

import re

import pandas as pd
import pytest

from helpers.workflow_project import clone, run_workflow, shipped_run

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

CONTRACT = [
    "analysis_id",
    "measure",
    "tau_prior",
    "mu_prior",
    "k",
    "mu_median",
    "mu_mean",
    "mu_sd",
    "mu_ci_low",
    "mu_ci_high",
    "tau_median",
    "tau_ci_low",
    "tau_ci_high",
    "pred_low",
    "pred_high",
    "prob_benefit",
    "scale",
    "mu_median_exp",
    "mu_ci_low_exp",
    "mu_ci_high_exp",
    "pred_low_exp",
    "pred_high_exp",
    "status",
]
PANEL = '<section id="few_trials">'
SINGLE_ARM = ("PLO", "PAS", "PFT", "PR", "MC", "SMCR")  # no comparator: no panel


def _tables(project):
    t = project / "results" / "tables"
    return pd.read_csv(t / "bayes.csv"), pd.read_csv(t / "pooled.csv")


def _page(project, aid):
    return (project / "results" / "report" / "analyses" / f"{aid}.html").read_text("utf-8")


def test_bayes_csv_has_the_contract_columns_and_one_row_per_analysis():
    project = shipped_run()
    bayes, pooled = _tables(project)
    group_by = ["therapy_class", "comparator", "condition", "outcome", "outcome_type"]
    assert bayes.columns.tolist() == group_by + CONTRACT
    prim = pooled[pooled["primary"].astype(str) == "True"]
    assert sorted(bayes["analysis_id"]) == sorted(prim["analysis_id"].unique())
    assert bayes["status"].str.startswith("ok").all()
    md = bayes["measure"] == "MD"
    assert set(bayes.loc[md, "tau_prior"]) == {"half_normal(0.25)"}  # tau_prior_by_measure
    assert set(bayes.loc[bayes["scale"] == "log", "tau_prior"]) == {"half_normal(0.5)"}
    assert (bayes["mu_ci_low"] <= bayes["mu_median"]).all()
    assert (bayes["pred_low"] <= bayes["mu_ci_low"]).all()


def test_few_trials_panel_leads_the_pages_with_k_below_5():
    project = shipped_run()
    bayes, _ = _tables(project)
    comparative = ~bayes["measure"].isin(SINGLE_ARM)
    few = bayes[(bayes["k"] < 5) & comparative]
    assert len(few) >= 8  # eight of the shipped analyses have k = 2
    assert (few["k"] == 1).any()  # the single-trial comparisons (Deng 2017) have a panel too
    for row in few.itertuples():
        html = _page(project, row.analysis_id)
        assert PANEL in html, row.analysis_id
        assert html.index(PANEL) < html.index('<table class="facts">'), "panel leads the page"
        panel = html[html.index(PANEL) : html.index("</section>", html.index(PANEL))]
        assert "Modified HKSJ" in panel and "Frequentist (primary)" in panel
        assert ("not defined for one trial" in panel) == (row.k == 1), row.analysis_id
        assert f"figures/{row.analysis_id}.posterior.svg" in panel
        assert re.search(r"The prior drives|The prior still shapes|The data, more than", panel)
        words = f"is {row.prob_benefit:.2f} under a half-normal("
        assert "The probability that" in panel and words in panel, row.analysis_id
        fig = project / "results" / "report" / "figures" / f"{row.analysis_id}.posterior.svg"
        assert fig.stat().st_size > 1000
    for row in bayes[(bayes["k"] >= 5) | ~comparative].itertuples():
        assert PANEL not in _page(project, row.analysis_id), row.analysis_id


def test_forced_rerun_is_byte_identical_and_bayes_false_turns_it_off():
    shipped = shipped_run()
    proj = clone(shipped, "bayes")
    before = (proj / "results" / "tables" / "bayes.csv").read_bytes()
    run_workflow(proj, "--forcerun", "bayes")
    assert (proj / "results" / "tables" / "bayes.csv").read_bytes() == before
    run_workflow(proj, "--config", "bayes=false", "few_trials_k=3")
    assert not (proj / "results" / "tables" / "bayes.csv").exists()
    bayes = pd.read_csv(pd.io.common.BytesIO(before))
    comparative = bayes[~bayes["measure"].isin(SINGLE_ARM)]
    k2 = comparative[comparative["k"] == 2]["analysis_id"].tolist()
    k3 = comparative[comparative["k"] == 3]["analysis_id"].tolist()
    assert k2 and k3
    for aid in k2:
        html = _page(proj, aid)
        assert PANEL in html and "off (config <code>bayes: false</code>)" in html
        assert "The probability that" not in html
    for aid in k3:
        assert PANEL not in _page(proj, aid)
