"""The ``bayes`` config key (trialmeta.inputs.priors): the contract syntax, one clear error per
malformed prior string, the Turner et al. (2015) and Rhodes et al. (2015) look-ups, priors per
measure; and the prior distributions themselves (trialmeta.stats.tau_priors)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from trialmeta.inputs.errors import ConfigError
from trialmeta.inputs.priors import bayes_priors, parse_mu_prior, parse_tau_prior
from trialmeta.inputs.settings import Settings
from trialmeta.stats.tau_priors import TauPrior


def test_contract_syntax_and_off():
    s = Settings.coerce({"bayes": {"tau_prior": "half_normal(0.5)", "mu_prior": "uniform"}})
    p = bayes_priors(s.bayes)
    assert p.tau_prior == TauPrior("half_normal", (0.5,)) and p.mu_prior is None
    assert bayes_priors(Settings.coerce({"bayes": False}).bayes) is None
    assert bayes_priors(Settings.coerce({}).bayes) is None  # absent key: off
    assert Settings.coerce({}).few_trials_k == 5
    assert Settings.coerce({"bayes": "false"}).bayes is False  # snakemake --config bayes=false
    s = Settings.coerce({"bayes": {"tau_prior": "half_cauchy(1)"}})  # mu_prior: schema default
    assert (
        bayes_priors(s.bayes).mu_prior is None and bayes_priors(s.bayes).mu_prior_text == "uniform"
    )


@pytest.mark.parametrize(
    "text, family, params",
    [
        ("half_normal(0.5)", "half_normal", (0.5,)),
        ("half_cauchy( 1 )", "half_cauchy", (1.0,)),
        ("uniform(0, 2.5)", "uniform", (0.0, 2.5)),
        ("lognormal(-2.56, 1.74)", "lognormal", (-2.56, 1.74)),
        ("log_t(-3.44, 2.59, 5)", "log_t", (-3.44, 2.59, 5.0)),
        ("turner2015", "lognormal", (-2.56, 1.74)),
        ("turner2015:all-cause mortality:pharmacological vs placebo", "lognormal", (-3.95, 1.34)),
        ("turner2015:pain:non-pharmacological vs pharmacological", "lognormal", (-0.80, 1.25)),
        ("turner2015:surgical:pharmacological vs placebo / control", "lognormal", (-2.14, 1.74)),
        ("rhodes2015", "log_t", (-3.44, 2.59, 5.0)),
        ("rhodes2015:obstetric:pharmacological vs placebo", "log_t", (-4.13, 2.34, 5.0)),
        ("rhodes2015:mental health outcome:non-pharmacological", "log_t", (-3.85, 1.93, 5.0)),
    ],
)
def test_tau_prior_strings(text, family, params):
    prior = parse_tau_prior(text)
    assert prior.family == family
    np.testing.assert_allclose(prior.params, params)


@pytest.mark.parametrize(
    "bayes, message",
    [
        (True, "config: bayes: write false or"),
        ({"tau_prior": "half_normal(x)"}, "bayes.tau_prior: 'half_normal(x)': expected 1 number"),
        ({"tau_prior": "halfnormal(1)"}, "bayes.tau_prior: unknown prior 'halfnormal(1)'"),
        ({"tau_prior": "half_normal(-1)"}, "bayes.tau_prior: half_normal: the scale must be > 0"),
        ({"tau_prior": "uniform(1, 2)"}, "the lower bound must be 0"),
        ({"tau_prior": "turner2015:pain:foo"}, "unknown comparison type 'foo'"),
        ({"tau_prior": "turner2015:xyz:pharmacological vs placebo"}, "unknown outcome type 'xyz'"),
        ({"tau_prior": "turner2015:s:pharmacological vs placebo"}, "ambiguous outcome type 's'"),
        ({"tau_prior": "half_normal(1)", "mu_prior": "normal(0, 0)"}, "bayes.mu_prior:"),
        ({"tau_prior": "half_normal(1)", "mu_prior": "flat"}, "unknown prior of mu 'flat'"),
        ({"mu_prior": "uniform"}, "config: bayes: 'tau_prior' is a required property"),
        ({"tau_prior": "half_normal(1)", "prior": 1}, "config: bayes.prior: unknown key"),
        (
            {"tau_prior": "half_normal(1)", "tau_prior_by_measure": {"MD": "normal(0, 1)"}},
            "config: bayes.tau_prior_by_measure.MD: unknown prior 'normal(0, 1)'",
        ),
    ],
)
def test_malformed_bayes_settings_name_the_key(bayes, message):
    with pytest.raises(ConfigError) as exc:
        Settings.coerce({"bayes": bayes})
    assert message in str(exc.value)


def test_mu_prior_strings():
    assert parse_mu_prior("uniform") is None
    assert parse_mu_prior("normal(0, 4)") == (0.0, 4.0)


def test_prior_per_measure():
    p = bayes_priors(
        {"tau_prior": "half_normal(0.5)", "tau_prior_by_measure": {"MD": "uniform(0, 3)"}}
    )
    assert p.for_measure("MD") == (TauPrior("uniform", (0, 3)), "uniform(0, 3)")
    assert p.for_measure("RR") == (TauPrior("half_normal", (0.5,)), "half_normal(0.5)")


@pytest.mark.parametrize(
    "prior, ref",
    [
        (TauPrior("half_normal", (0.5,)), stats.halfnorm(scale=0.5)),
        (TauPrior("half_cauchy", (1.0,)), stats.halfcauchy(scale=1.0)),
        (TauPrior("uniform", (0.0, 2.0)), stats.uniform(0, 2)),
        (TauPrior("lognormal", (-2.56, 1.74)), stats.lognorm(s=0.87, scale=np.exp(-1.28))),
    ],
)
def test_prior_distributions_against_scipy(prior, ref):
    u = np.array([1e-9, 0.025, 0.3, 0.5, 0.9, 0.975])
    np.testing.assert_allclose(prior.ppf(u), ref.ppf(u), rtol=1e-9)
    # upper tail: from the complement c = 1 - u (scipy loses digits computing from u itself)
    c = np.array([1e-9, 1e-12])
    np.testing.assert_allclose(prior.ppf(1 - c, c), ref.isf(c), rtol=1e-9)
    t = prior.ppf(u[1:])
    np.testing.assert_allclose(prior.cdf(t), u[1:], rtol=1e-12)
    np.testing.assert_allclose(prior.pdf(t), ref.pdf(t), rtol=1e-10)


def test_log_t_prior_is_a_density_of_tau():
    prior = TauPrior("log_t", (-3.44, 2.59, 5))
    total = integrate.quad(prior.pdf, 0, np.inf, limit=400)[0]
    assert total == pytest.approx(1, abs=1e-7)
    # log(tau^2) = m + s T: the median of tau is exp(m / 2)
    assert prior.ppf(np.array([0.5]))[0] == pytest.approx(np.exp(-3.44 / 2), rel=1e-12)
    assert prior.cdf(prior.ppf(np.array([0.9])))[0] == pytest.approx(0.9, rel=1e-10)


@pytest.mark.parametrize("raw", [{}, {"bayes": False}, {"bayes": {"tau_prior": "half_cauchy(1)"}}])
def test_snakemake_validates_the_completed_config(raw):
    """The Snakefile also runs snakemake.utils.validate (which fills nested defaults with
    setdefault): ``bayes: false`` (the default) must pass it."""
    from snakemake.utils import validate

    from trialmeta.inputs.config import CONFIG_SCHEMA_PATH, load_config

    cfg = load_config(raw, check_files=False)
    validate(cfg, str(CONFIG_SCHEMA_PATH))
