"""The "few trials" panel that leads the page of every analysis with fewer than ``few_trials_k``
trials (one included): the frequentist primary result, the modified HKSJ interval (Knapp &
Hartung 2003; Röver, Knapp & Friede 2015 recommend it when trials are few), and, when the
``bayes`` setting is on, the Bayesian posterior (tables/bayes.csv): the pooled effect with its
credible and predictive intervals, ``prob_benefit`` in words, the posterior figure
(:mod:`trialmeta.plots.posterior`) and one plain sentence on how much the prior on tau drives the
answer: the width of the posterior 95% interval of tau as a share of the prior's.

:func:`few_trials_panel` makes the template context ``a.few_trials`` of one page
(``templates/_few_trials.html.j2``) from the bayes job's ``few_trials`` and ``bayes``
tables, which the report job passes with the exploration tables (so their rows are part of each
page's cache key).
"""

from __future__ import annotations

import math

import numpy as np

from trialmeta.plots.labels import choose_decimals, format_effect, measure_info
from trialmeta.plots.names import posterior_stem

__all__ = ["few_trials_panel", "prior_influence", "prior_text"]

_FAMILY_WORDS = {
    "half_normal": "half-normal",
    "half_cauchy": "half-Cauchy",
    "uniform": "uniform",
    "lognormal": "log-normal",
    "log_t": "log-t",
}


def prior_text(text: str) -> str:
    """A prior string in words: ``half_normal(0.5)`` -> ``half-normal(0.5)``."""
    for family, words in _FAMILY_WORDS.items():
        if text.startswith(family + "("):
            return words + text[len(family) :]
    if text.startswith(("turner2015", "rhodes2015")):
        paper = "Turner et al. (2015)" if text.startswith("turner") else "Rhodes et al. (2015)"
        rest = text.split(":", 1)[1] if ":" in text else "any outcome"
        return f"{paper} empirical ({rest})"
    return text


def prior_influence(bayes_row: dict, prior_interval) -> tuple[float, str]:
    """(ratio of the posterior to the prior 95% width of tau, a plain sentence)."""
    post = float(bayes_row["tau_ci_high"]) - float(bayes_row["tau_ci_low"])
    ratio = post / (prior_interval[1] - prior_interval[0])
    share = f"{ratio:.0%}"
    if ratio >= 0.8:
        words = (
            f"The prior drives the answer: the trials barely narrow the prior on the between-trial "
            f"SD (tau; its posterior 95% interval is {share} as wide as the prior's), so how much "
            "the trials may differ, and with it the width of the credible interval, comes from the "
            "prior rather than from the data."
        )
    elif ratio >= 0.5:
        words = (
            f"The prior still shapes the answer: the trials narrow the prior on the between-trial "
            f"SD (tau) only partly (posterior 95% interval {share} of the prior's width)."
        )
    else:
        words = (
            f"The data, more than the prior, set the heterogeneity: the posterior 95% interval of "
            f"tau is {share} of the prior's width."
        )
    return ratio, words


def _benefit_sentence(page: dict, b: dict, tau_prior_words: str) -> str:
    p = float(b["prob_benefit"])
    therapy, outcome = page.get("therapy", "the therapy"), page.get("outcome", "the outcome")
    hib = page.get("higher_is_better", "")
    if hib == "yes":
        verb = "improves"
    elif hib.startswith("no"):
        verb = "reduces (the outcome is adverse)"
    else:
        verb = "lowers (direction of benefit not stated in the trial rows; effect below no effect)"
    return (
        f"The probability that {therapy} {verb} {outcome} is {p:.2f} under a "
        f"{tau_prior_words} prior on tau."
    )


def _bayes_fields(page: dict, b: dict, prior, fig_names, is_ratio, decimals) -> dict:
    def nat(col):
        v = float(b[col])
        return math.exp(v) if is_ratio else v

    effect = format_effect(nat("mu_median"), nat("mu_ci_low"), nat("mu_ci_high"), decimals)
    pred = format_effect(nat("mu_median"), nat("pred_low"), nat("pred_high"), decimals)
    pred = pred.split(" ", 1)[1] if " " in pred else pred
    tau = format_effect(*(float(b[c]) for c in ("tau_median", "tau_ci_low", "tau_ci_high")), 2)
    words = prior_text(str(b["tau_prior"]))
    mu_words = "uniform (improper)" if b["mu_prior"] == "uniform" else str(b["mu_prior"])
    svg = f"{posterior_stem(page['id'])}.svg"
    ok = str(b["status"]).startswith("ok") and math.isfinite(float(b["mu_median"]))
    fields = {
        "status": str(b["status"]),
        "ok": ok,
        "tau_prior": words,
        "mu_prior": mu_words,
        "effect": effect,
        "pred": pred,
        "tau": tau,
        "figure": svg if svg in fig_names else None,
        "benefit": None,
        "influence": None,
    }
    if ok and math.isfinite(float(b["prob_benefit"])):
        fields["benefit"] = _benefit_sentence(page, b, words)
    if ok and prior is not None:
        fields["influence"] = prior_influence(b, prior)[1]
    return fields


def _row(tables, name: str, aid: str) -> dict | None:
    """The row of ``aid`` in the report's table ``name`` (None when absent)."""
    return tables.first_row(name, aid)


def few_trials_panel(tables, aid: str, page: dict, fig_names, settings) -> dict | None:
    """The template context of one page's panel (None when the analysis has none). ``tables``:
    the report's tables (:class:`trialmeta.report.build.ReportTables`), whose exploration tables
    hold ``few_trials`` and ``bayes`` (their rows are part of the page's cache key)."""
    adhoc, b = _row(tables, "few_trials", aid), _row(tables, "bayes", aid)
    if adhoc is None:
        return None
    from trialmeta.inputs.priors import bayes_priors  # SciPy: only for pages with the panel

    priors = bayes_priors(settings.bayes)
    prior = None
    if b is not None and priors is not None:
        tau_prior = priors.for_measure(str(b["measure"]))[0]
        prior = tuple(float(x) for x in tau_prior.ppf(np.array([0.025, 0.975])))
    measure = b["measure"] if b is not None else page.get("measure")
    _, is_ratio, _ = measure_info(measure, b["scale"] if b is not None else None)
    tr = math.exp if is_ratio else float
    vals = [tr(float(adhoc[c])) for c in ("adhoc_estimate", "adhoc_ci_low", "adhoc_ci_high")]
    one_trial = int(adhoc["k"]) == 1  # no modified HKSJ: t with 0 df
    decimals = choose_decimals(vals[:1] if one_trial else vals, is_ratio)
    panel = {
        "k": int(adhoc["k"]),
        "few_k": settings.few_trials_k,
        "primary": page.get("effect", ""),
        "primary_model": page.get("model", ""),
        "adhoc": None if one_trial else format_effect(*vals, decimals),
        "adhoc_df": f"{float(adhoc['adhoc_df']):g}",
        "bayes_on": priors is not None,
        "bayes": None,
    }
    if b is not None and priors is not None:
        panel["bayes"] = _bayes_fields(page, b, prior, fig_names, is_ratio, decimals)
    return panel
