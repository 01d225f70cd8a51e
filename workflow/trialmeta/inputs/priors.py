"""The ``bayes`` config key: prior strings read into prior objects, with one clear error per problem.

Contract syntax (config/README.md)::

    bayes: {tau_prior: "half_normal(0.5)", mu_prior: "uniform"}
    bayes: false                      # (or no ``bayes`` key): no Bayesian analysis

Prior of tau (the between-study SD, on the analysis scale: log ratio or the outcome's units):
``half_normal(s)``, ``half_cauchy(s)``, ``uniform(0, u)``, ``lognormal(m, s)`` and
``log_t(m, s, df)`` (both on tau^2, as Turner et al. 2015 and Rhodes et al. 2015 publish them),
``turner2015:<outcome type>:<comparison type>`` (Turner et al. 2015, Table IV; log odds ratios),
``rhodes2015:<outcome type>:<comparison type>`` (Rhodes et al. 2015, Table 3, medical area
"other"; standardized mean differences); ``turner2015`` / ``rhodes2015`` alone (or with ``:any``)
is the marginal distribution of the paper. Outcome types may be abbreviated to a unique prefix,
comparison types are written e.g. ``pharmacological vs placebo`` (see
:mod:`trialmeta.stats.tau_priors` for the tables). Prior of mu: ``uniform`` (improper) or
``normal(m, s)``.

``tau_prior_by_measure: {MD: "half_normal(0.25)"}`` (optional) overrides ``tau_prior`` for the
analyses of a measure: the scale of tau is that of the measure (a log ratio or the outcome's units).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trialmeta.stats.tau_priors import (
    RHODES2015,
    RHODES2015_DF,
    RHODES2015_MARGINAL,
    TAU_PRIOR_FAMILIES,
    TURNER2015,
    TURNER2015_MARGINAL,
    TauPrior,
)

__all__ = [
    "DEFAULT_MU_PRIOR",
    "BayesPriors",
    "parse_tau_prior",
    "parse_mu_prior",
    "bayes_priors",
    "bayes_problems",
]

#: the prior of mu when ``bayes`` gives none (documented in the schema's description of ``bayes``;
#: not a schema ``default``: snakemake.utils.validate would call setdefault on ``bayes: false``)
DEFAULT_MU_PRIOR = "uniform"
_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class BayesPriors:
    """The priors of the Bayesian analysis: one tau prior per measure (``default`` for the rest)."""

    tau_prior: TauPrior
    tau_prior_text: str
    mu_prior: tuple | None  # None = uniform, else (mean, sd)
    mu_prior_text: str
    by_measure: tuple  # ((measure, TauPrior, text), ...)

    def for_measure(self, measure: str) -> tuple[TauPrior, str]:
        """(prior, the string as the user wrote it) of the analyses of ``measure``."""
        for name, prior, text in self.by_measure:
            if name == measure:
                return prior, text
        return self.tau_prior, self.tau_prior_text


def _numbers(text: str, args: str, n: int) -> list[float]:
    parts = [a.strip() for a in args.split(",")] if args.strip() else []
    if len(parts) != n or not all(_NUMBER.match(p) for p in parts):
        raise ValueError(f"{text!r}: expected {n} number(s) in the parentheses")
    return [float(p) for p in parts]


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _comparison(text: str, choices) -> str:
    want = _norm(text)
    if not want.endswith("placebo control"):
        want = re.sub(r" (placebo|control)$", " placebo control", want)
    want = re.sub(r"^non pharmacological$", "non pharmacological any", want)
    for c in choices:
        if _norm(c) == want:
            return c
    raise ValueError(
        f"unknown comparison type {text!r} (one of: {'; '.join(choices)}; 'placebo' is enough for "
        "'placebo / control')"
    )


def _outcome(text: str, choices) -> str:
    want = _norm(text)
    exact = [c for c in choices if _norm(c) == want]
    found = exact or [c for c in choices if _norm(c).startswith(want)]
    if len(found) == 1:
        return found[0]
    what = "ambiguous" if found else "unknown"
    raise ValueError(f"{what} outcome type {text!r} (one of: {'; '.join(choices)})")


def _empirical(text: str) -> TauPrior:
    paper, *rest = [p.strip() for p in text.split(":")]
    table = TURNER2015 if paper == "turner2015" else RHODES2015
    if rest in ([], ["any"]):
        m, s = TURNER2015_MARGINAL if paper == "turner2015" else RHODES2015_MARGINAL
    elif len(rest) == 2:
        outcome = _outcome(rest[0], list(dict.fromkeys(o for o, _ in table)))
        comparison = _comparison(rest[1], list(dict.fromkeys(c for _, c in table)))
        m, s = table[(outcome, comparison)]
    else:
        raise ValueError(f"{text!r}: write {paper}:<outcome type>:<comparison type>")
    if paper == "turner2015":
        return TauPrior("lognormal", (m, s), label=text)
    return TauPrior("log_t", (m, s, RHODES2015_DF), label=text)


def parse_tau_prior(text) -> TauPrior:
    """A tau prior from its config string; ValueError with the reason when malformed."""
    if not isinstance(text, str):
        raise ValueError(f"must be a prior string such as 'half_normal(0.5)', got {text!r}")
    if text.split(":")[0].strip() in ("turner2015", "rhodes2015"):
        return _empirical(text.strip())
    m = _CALL.match(text)
    family = m.group(1) if m else None
    if family not in TAU_PRIOR_FAMILIES:
        raise ValueError(
            f"unknown prior {text!r} (one of half_normal(s), half_cauchy(s), uniform(0, u), "
            "lognormal(m, s), log_t(m, s, df), turner2015:<outcome>:<comparison>, "
            "rhodes2015:<outcome>:<comparison>)"
        )
    params = _numbers(text, m.group(2), TAU_PRIOR_FAMILIES[family])
    return TauPrior(family, tuple(params), label=text.strip())


def parse_mu_prior(text) -> tuple | None:
    """None for ``uniform``, ``(mean, sd)`` for ``normal(m, s)``; ValueError when malformed."""
    if isinstance(text, str) and text.strip() == "uniform":
        return None
    m = _CALL.match(text) if isinstance(text, str) else None
    if not m or m.group(1) != "normal":
        raise ValueError(f"unknown prior of mu {text!r} (uniform or normal(m, s))")
    mean, sd = _numbers(text, m.group(2), 2)
    if sd <= 0:
        raise ValueError(f"{text!r}: the SD must be > 0")
    return (mean, sd)


def bayes_priors(bayes) -> BayesPriors | None:
    """The priors of the ``bayes`` setting (None when it is off); ValueError when malformed."""
    if bayes is False or bayes is None:
        return None
    if not hasattr(bayes, "get"):
        raise ValueError("bayes: write false or {tau_prior: ..., mu_prior: ...}")
    tau_text = bayes.get("tau_prior")
    mu_text = bayes.get("mu_prior", DEFAULT_MU_PRIOR)
    by = tuple(
        (measure, parse_tau_prior(text), text)
        for measure, text in sorted((bayes.get("tau_prior_by_measure") or {}).items())
    )
    return BayesPriors(parse_tau_prior(tau_text), tau_text, parse_mu_prior(mu_text), mu_text, by)


def bayes_problems(cfg: dict) -> list[str]:
    """One ``config: bayes...: reason`` line per malformed part of the ``bayes`` key."""
    bayes = cfg.get("bayes", False)
    if bayes is False or bayes is None:
        return []
    if bayes is True or not isinstance(bayes, dict):
        return [f"config: bayes: write false or {{tau_prior: ..., mu_prior: ...}}, got {bayes!r}"]
    out = []
    checks = [("bayes.tau_prior", bayes.get("tau_prior"), parse_tau_prior)]
    if "mu_prior" in bayes:
        checks.append(("bayes.mu_prior", bayes["mu_prior"], parse_mu_prior))
    by = bayes.get("tau_prior_by_measure") or {}
    if isinstance(by, dict):
        checks += [(f"bayes.tau_prior_by_measure.{k}", v, parse_tau_prior) for k, v in by.items()]
    for key, text, parse in checks:
        try:
            parse(text)
        except ValueError as exc:
            out.append(f"config: {key}: {exc}")
    return out
