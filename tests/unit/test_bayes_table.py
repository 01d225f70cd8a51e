"""tables/bayes.csv and the few-trials table (trialmeta.tables.bayes), and the posterior figure
(trialmeta.plots.posterior), without the workflow: the contract columns in order, a prior per
measure, the direction of prob_benefit from the trial rows, no prob_benefit for single-arm
measures, the modified HKSJ interval of the few-trials analyses, byte-identical output."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from trialmeta.inputs.settings import Settings
from trialmeta.plots.posterior import posterior_plot
from trialmeta.plots.style import figure_bytes
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.pooling import random_effects_given_tau2
from trialmeta.stats.tau_priors import TauPrior
from trialmeta.tables.bayes import BAYES_COLUMNS, bayes_table, few_trials_table

CONTRACT = (
    "analysis_id, measure, tau_prior, mu_prior, k, mu_median, mu_mean, mu_sd, mu_ci_low, "
    "mu_ci_high, tau_median, tau_ci_low, tau_ci_high, pred_low, pred_high, prob_benefit, scale, "
    "mu_median_exp, mu_ci_low_exp, mu_ci_high_exp, pred_low_exp, pred_high_exp, status"
).split(", ")

STUDIES = {  # analysis: (measure, scale, yi, vi, higher_is_better)
    "a": ("RR", "log", [0.2, 0.5, 0.1], [0.04, 0.09, 0.05], "true"),
    "b": ("MD", "raw", [-1.0, -2.0], [0.5, 0.8], "false"),
    "c": ("RR", "log", [0.3, -0.1, 0.2, 0.4, 0.0, 0.1], [0.1] * 6, ""),
    "d": ("PLO", "logit", [0.5, 1.0], [0.2, 0.3], "true"),
}


def _tables():
    pooled, studies, trials = [], [], []
    for aid, (measure, scale, y, v, hib) in STUDIES.items():
        pooled.append(
            {
                "outcome": f"o-{aid}",
                "analysis_id": aid,
                "measure": measure,
                "scale": scale,
                "tau2": 0.01,
                "primary": True,
            }
        )
        for i, (yi, vi) in enumerate(zip(y, v)):
            studies.append(
                {
                    "analysis_id": aid,
                    "study_id": f"{aid}{i}",
                    "measure": measure,
                    "yi": yi,
                    "vi": vi,
                }
            )
            trials.append({"analysis_id": aid, "higher_is_better": hib})
    return pd.DataFrame(pooled), pd.DataFrame(studies), pd.DataFrame(trials)


SETTINGS = Settings.coerce(
    {
        "group_by": ["outcome"],
        "bayes": {
            "tau_prior": "half_normal(0.5)",
            "tau_prior_by_measure": {"MD": "half_normal(2)"},
        },
    }
)


def test_contract_columns_priors_and_directions():
    assert list(BAYES_COLUMNS) == CONTRACT
    pooled, studies, trials = _tables()
    table = bayes_table(pooled, studies, trials, SETTINGS)
    assert table.columns.tolist() == ["outcome", *CONTRACT]
    out = table.set_index("analysis_id")
    assert out.loc["b", "tau_prior"] == "half_normal(2)" and out.loc["a", "tau_prior"] == (
        "half_normal(0.5)"
    )
    assert out["k"].tolist() == [3, 2, 6, 2] and (out["mu_prior"] == "uniform").all()
    # a: higher is better, effect > 0 -> prob_benefit = P(mu > 0) is high; b: lower is better
    assert out.loc["a", "prob_benefit"] > 0.8 and out.loc["b", "prob_benefit"] > 0.8
    assert np.isnan(out.loc["d", "prob_benefit"]) and out.loc["d", "status"] == "ok;no_comparison"
    assert out.loc["a", "mu_median_exp"] == pytest.approx(np.exp(out.loc["a", "mu_median"]))
    assert np.isnan(out.loc[["b", "d"], "mu_median_exp"]).all()
    again = bayes_table(pooled, studies, trials, SETTINGS)
    assert again.to_csv(index=False) == table.to_csv(index=False)


def test_off_gives_the_empty_contract_table():
    pooled, studies, trials = _tables()
    out = bayes_table(pooled, studies, trials, Settings.coerce({"group_by": ["outcome"]}))
    assert out.empty and out.columns.tolist() == ["outcome", *CONTRACT]


def test_few_trials_table_is_the_modified_hksj_of_comparative_small_analyses():
    pooled, studies, _ = _tables()
    few = few_trials_table(pooled, studies, SETTINGS)
    assert few["analysis_id"].tolist() == ["a", "b"]  # c: k = 6; d: single-arm
    y, v = np.array(STUDIES["a"][2]), np.array(STUDIES["a"][3])
    ref = random_effects_given_tau2(
        StudyBatch.from_arrays(y[None], v[None]), 0.01, ci_method="hksj_adhoc"
    )
    assert few["adhoc_ci_low"].iloc[0] == pytest.approx(ref.ci_low[0], rel=1e-12)
    assert few["adhoc_df"].iloc[0] == 2


def test_a_single_trial_gets_a_panel_row_without_a_modified_hksj_interval():
    pooled, studies, _ = _tables()
    one = studies[studies["study_id"] != "b1"]  # analysis b keeps one trial
    few = few_trials_table(pooled, one, SETTINGS).set_index("analysis_id")
    assert few.loc["b", "k"] == 1
    assert np.isnan(few.loc["b", ["adhoc_ci_low", "adhoc_ci_high"]].astype(float)).all()
    assert "d" not in few.index  # single-arm: no treatment effect, no panel


def test_posterior_figure_is_byte_identical():
    y, v = np.array([0.2, 0.5, 0.1]), np.array([0.04, 0.09, 0.05])
    row = {"mu_median": 0.25, "mu_ci_low": -0.1, "mu_ci_high": 0.6, "tau_ci_high": 0.8}
    row.update(measure="RR", scale="log")
    prior = TauPrior("half_normal", (0.5,))
    digests = {
        hashlib.sha256(figure_bytes(posterior_plot(y, v, row, prior, None), fmt)).hexdigest()
        for fmt in ("svg",)
        for _ in range(2)
    }
    assert len(digests) == 1
