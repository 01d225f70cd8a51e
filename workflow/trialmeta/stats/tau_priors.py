"""Prior distributions of the between-study standard deviation tau (Bayesian random effects).

A :class:`TauPrior` is one of

* ``half_normal(s)``: half-normal with scale ``s`` (Friede et al. 2017; Röver et al. 2021);
* ``half_cauchy(s)``: half-Cauchy with scale ``s`` (Gelman 2006);
* ``uniform(0, u)``: uniform on ``[0, u]``;
* ``lognormal(m, s)``: ``log(tau^2) ~ N(m, s^2)`` (parameters on the *squared* scale, as
  published by Turner et al. 2015), i.e. ``log(tau) ~ N(m/2, (s/2)^2)``;
* ``log_t(m, s, df)``: ``log(tau^2) = m + s T`` with ``T ~ t(df)`` (Rhodes et al. 2015, df = 5),
  i.e. ``log(tau) = m/2 + (s/2) T``.

Each prior gives its quantile function of ``u`` in (0, 1) (evaluated from ``u`` or from its
complement ``c = 1 - u`` for precision in the upper tail), its density and its distribution function
(all with ``scipy.special`` only).

Empirical priors (:data:`TURNER2015`, :data:`RHODES2015`): the predictive distributions of
Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015). Predictive distributions for
between-study heterogeneity and simple methods for their application in Bayesian meta-analysis.
Stat Med 34(6):984-998, Table IV (log odds ratio; log-normal on tau^2, mean and SD of log tau^2
by outcome type x comparison type), and of Rhodes KM, Turner RM, Higgins JPT (2015). Predictive
distributions were developed for the extent of heterogeneity in meta-analyses of continuous
outcome data. J Clin Epidemiol 68(1):52-60, Table 3 (standardized mean difference; log-t with 5
df on tau^2, location and scale by outcome type x comparison type, medical area "other"). The
numbers were transcribed from the tables of both papers as tabulated in R bayesmeta 3.4
(``TurnerEtAlParameters``, ``RhodesEtAlParameters``; Röver 2020, J Stat Softw 93(6)); the
marginal ("any") rows are Turner et al. p. 993 (``lognormal(-2.56, 1.74)``) and Rhodes et al.
section 3.3 (``log_t(-3.44, 2.59, 5)``). Rhodes et al.'s respiratory and cancer tables (A.3.1,
A.3.2) are not included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "TauPrior",
    "TAU_PRIOR_FAMILIES",
    "TURNER2015",
    "TURNER2015_MARGINAL",
    "RHODES2015",
    "RHODES2015_MARGINAL",
]

#: family -> number of parameters
TAU_PRIOR_FAMILIES = {
    "half_normal": 1,
    "half_cauchy": 1,
    "uniform": 2,
    "lognormal": 2,
    "log_t": 3,
}


@dataclass(frozen=True)
class TauPrior:
    """A proper prior of tau: ``family`` (see :data:`TAU_PRIOR_FAMILIES`) and its parameters."""

    family: str
    params: tuple
    label: str = ""

    def __post_init__(self):
        n = TAU_PRIOR_FAMILIES.get(self.family)
        if n is None:
            raise ValueError(f"unknown tau prior family {self.family!r}")
        if len(self.params) != n:
            raise ValueError(f"{self.family} takes {n} parameter(s), got {len(self.params)}")
        p = [float(x) for x in self.params]
        if not all(np.isfinite(p)):
            raise ValueError(f"{self.family}: parameters must be finite numbers")
        if self.family in ("half_normal", "half_cauchy") and p[0] <= 0:
            raise ValueError(f"{self.family}: the scale must be > 0")
        if self.family == "uniform" and not (p[0] == 0 and p[1] > 0):
            raise ValueError("uniform(0, u): the lower bound must be 0 and u > 0")
        if self.family in ("lognormal", "log_t") and p[1] <= 0:
            raise ValueError(f"{self.family}: the scale parameter must be > 0")
        if self.family == "log_t" and p[2] <= 0:
            raise ValueError("log_t: the degrees of freedom must be > 0")
        object.__setattr__(self, "params", tuple(p))
        if not self.label:
            object.__setattr__(self, "label", f"{self.family}({', '.join(f'{x:g}' for x in p)})")

    # ------------------------------------------------------------------ quantiles
    def ppf(self, u, c=None) -> np.ndarray:
        """tau at probability ``u`` (``c = 1 - u`` given exactly for precision near 1)."""
        from scipy import special  # only here: checking a config parses priors, evaluates none

        u = np.asarray(u, dtype=float)
        c = 1.0 - u if c is None else np.asarray(c, dtype=float)
        upper = u > 0.5
        f, p = self.family, self.params
        if f == "half_normal":
            return p[0] * np.where(upper, -special.ndtri(c / 2), special.ndtri(0.5 + u / 2))
        if f == "half_cauchy":
            with np.errstate(divide="ignore"):
                return p[0] * np.where(upper, 1 / np.tan(np.pi * c / 2), np.tan(np.pi * u / 2))
        if f == "uniform":
            return p[1] * np.where(upper, 1 - c, u)
        if f == "lognormal":
            z = np.where(upper, -special.ndtri(c), special.ndtri(u))
        else:
            z = np.where(upper, -special.stdtrit(p[2], c), special.stdtrit(p[2], u))
        with np.errstate(over="ignore"):
            return np.exp((p[0] + p[1] * z) / 2)

    def cdf(self, tau) -> np.ndarray:
        """P(tau' <= tau) under the prior."""
        from scipy import special  # only here: checking a config parses priors, evaluates none

        t = np.maximum(np.asarray(tau, dtype=float), 0.0)
        f, p = self.family, self.params
        if f == "half_normal":
            return special.erf(t / (p[0] * np.sqrt(2)))
        if f == "half_cauchy":
            return 2 / np.pi * np.arctan(t / p[0])
        if f == "uniform":
            return np.clip(t / p[1], 0.0, 1.0)
        with np.errstate(divide="ignore"):
            z = (2 * np.log(t) - p[0]) / p[1]
        if f == "lognormal":
            return special.ndtr(z)
        return special.stdtr(p[2], z)

    def pdf(self, tau) -> np.ndarray:
        """Prior density of tau (0 outside the support)."""
        from scipy import special  # only here: checking a config parses priors, evaluates none

        t = np.asarray(tau, dtype=float)
        f, p = self.family, self.params
        with np.errstate(divide="ignore", invalid="ignore"):
            if f == "half_normal":
                d = np.sqrt(2 / np.pi) / p[0] * np.exp(-0.5 * (t / p[0]) ** 2)
            elif f == "half_cauchy":
                d = 2 / (np.pi * p[0] * (1 + (t / p[0]) ** 2))
            elif f == "uniform":
                d = np.where(t <= p[1], 1 / p[1], 0.0)
            else:
                half = p[1] / 2
                z = (np.log(t) - p[0] / 2) / half
                if f == "lognormal":
                    dz = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
                else:
                    df = p[2]
                    dz = np.exp(
                        special.gammaln((df + 1) / 2)
                        - special.gammaln(df / 2)
                        - 0.5 * np.log(df * np.pi)
                        - (df + 1) / 2 * np.log1p(z**2 / df)
                    )
                d = dz / (t * half)
            return np.where(t > 0, d, 0.0 if f in ("lognormal", "log_t") else d)

    def tail_exponent(self) -> float:
        """``a`` with ``p(tau) ~ tau^-a`` for large tau (inf: lighter than any power; the log-t
        density decays like ``1 / (tau log(tau)^(df+1))``, reported as 1)."""
        return {"half_cauchy": 2.0, "log_t": 1.0}.get(self.family, np.inf)


# --------------------------------------------------------------------------- Turner et al. 2015
#: comparison types of Turner et al. (2015), Table IV (columns)
TURNER2015_COMPARISONS = (
    "pharmacological vs placebo / control",
    "pharmacological vs pharmacological",
    "non-pharmacological vs placebo / control",
    "non-pharmacological vs pharmacological",
    "non-pharmacological vs non-pharmacological",
)
_TURNER_OUTCOMES = (
    "all-cause mortality",
    "obstetric outcomes",
    "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
    "resource use / hospital stay / process",
    "surgical / device related success / failure",
    "withdrawals / drop-outs",
    "internal / structure-related outcomes",
    "general physical health indicators",
    "adverse events",
    "infection / onset of new disease",
    "signs / symptoms reflecting continuation / end of condition",
    "pain",
    "quality of life / functioning (dichotomized)",
    "mental health indicators",
    "biological markers (dichotomized)",
    "subjective outcomes (various)",
)
# Table IV: mean of log(tau^2), one row per outcome type, one column per comparison type
_TURNER_MEAN = (
    (-3.95, -4.18, -4.17, -2.92, -3.50),
    (-3.52, -3.75, -3.74, -2.49, -3.08),
    (-3.71, -3.95, -3.93, -2.68, -3.27),
    (-2.34, -2.58, -2.56, -1.31, -1.90),
    (-2.14, -2.37, -2.36, -1.11, -1.69),
    (-2.99, -3.23, -3.21, -1.96, -2.55),
    (-2.71, -2.94, -2.93, -1.67, -2.26),
    (-2.29, -2.53, -2.51, -1.26, -1.85),
    (-1.87, -2.10, -2.10, -0.84, -1.43),
    (-2.49, -2.73, -2.71, -1.46, -2.05),
    (-2.06, -2.29, -2.28, -1.03, -1.61),
    (-1.83, -2.06, -2.05, -0.80, -1.38),
    (-2.54, -2.78, -2.77, -1.51, -2.10),
    (-2.12, -2.35, -2.34, -1.09, -1.67),
    (-1.77, -2.00, -1.99, -0.74, -1.33),
    (-2.70, -2.93, -2.92, -1.67, -2.26),
)
# Table IV: SD of log(tau^2)
_TURNER_SD = (
    (1.34, 1.41, 1.55, 1.02, 1.26),
    (1.74, 1.79, 1.91, 1.50, 1.68),
    (1.74, 1.79, 1.91, 1.51, 1.68),
    (1.74, 1.79, 1.91, 1.50, 1.68),
    (1.74, 1.79, 1.91, 1.50, 1.68),
    (1.74, 1.79, 1.91, 1.51, 1.68),
    (1.74, 1.79, 1.92, 1.51, 1.68),
    (1.53, 1.58, 1.72, 1.25, 1.46),
    (1.52, 1.58, 1.71, 1.24, 1.45),
    (1.52, 1.58, 1.71, 1.24, 1.45),
    (1.51, 1.58, 1.71, 1.24, 1.45),
    (1.52, 1.58, 1.71, 1.25, 1.45),
    (1.54, 1.60, 1.73, 1.27, 1.47),
    (1.53, 1.60, 1.72, 1.27, 1.47),
    (1.52, 1.58, 1.71, 1.24, 1.45),
    (1.52, 1.58, 1.71, 1.25, 1.45),
)
#: (outcome type, comparison type) -> (mean, sd) of log(tau^2) (Turner et al. 2015, Table IV)
TURNER2015 = {
    (outcome, comparison): (_TURNER_MEAN[i][j], _TURNER_SD[i][j])
    for i, outcome in enumerate(_TURNER_OUTCOMES)
    for j, comparison in enumerate(TURNER2015_COMPARISONS)
}
#: the marginal predictive distribution (any outcome, any comparison; Turner et al. 2015 p. 993)
TURNER2015_MARGINAL = (-2.56, 1.74)

# --------------------------------------------------------------------------- Rhodes et al. 2015
RHODES2015_COMPARISONS = (
    "pharmacological vs placebo / control",
    "pharmacological vs pharmacological",
    "non-pharmacological (any)",
)
_RHODES_OUTCOMES = (
    "obstetric outcome",
    "resource use and hospital stay / process",
    "internal and external structure-related outcome",
    "general physical health and adverse event and pain and quality of life / functioning",
    "signs / symptoms reflecting continuation / end of condition and infection / onset of new "
    "acute / chronic disease",
    "mental health outcome",
    "biological marker",
    "various subjectively measured outcomes",
)
# Table 3 (medical area "other"): location and scale of log(tau^2) (t distribution, 5 df)
_RHODES_LOCATION = (
    (-4.13, -4.40, -3.99),
    (-2.55, -2.83, -2.41),
    (-2.43, -2.70, -2.29),
    (-3.16, -3.44, -3.02),
    (-3.00, -3.27, -2.86),
    (-2.99, -3.27, -3.85),
    (-3.41, -3.68, -3.27),
    (-2.76, -3.03, -2.62),
)
_RHODES_SCALE = (
    (2.34, 2.31, 2.11),
    (2.73, 2.70, 2.57),
    (2.50, 2.46, 2.32),
    (2.50, 2.44, 2.27),
    (2.50, 2.47, 2.33),
    (2.16, 2.14, 1.93),
    (2.83, 2.78, 2.66),
    (2.58, 2.59, 2.41),
)
#: (outcome type, comparison type) -> (location, scale) of log(tau^2), t with 5 df
#: (Rhodes et al. 2015, Table 3, medical area "other")
RHODES2015 = {
    (outcome, comparison): (_RHODES_LOCATION[i][j], _RHODES_SCALE[i][j])
    for i, outcome in enumerate(_RHODES_OUTCOMES)
    for j, comparison in enumerate(RHODES2015_COMPARISONS)
}
#: the general (marginal) setting (Rhodes et al. 2015, section 3.3): log-t(-3.44, 2.59, 5)
RHODES2015_MARGINAL = (-3.44, 2.59)
RHODES2015_DF = 5.0
