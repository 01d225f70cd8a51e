"""Tail probabilities and quantiles of the normal, t, chi-square and F distributions.

Each function is the SciPy special function that ``scipy.stats.<dist>.<method>`` itself evaluates
(``norm.sf(x) = ndtr(-x)``, ``t.sf(x, df) = stdtr(df, -x)``, ``t.isf(p, df) = -stdtrit(df, p)``,
``chi2.sf(x, df) = chdtrc(df, x)``, ``f.sf(x, d1, d2) = fdtrc(d1, d2, x)``, ...), so the numbers
are identical, without importing ``scipy.stats``: that import costs over a second, paid again by
every workflow job (Python start-up per job is the workflow's main fixed cost).
"""

from __future__ import annotations

from scipy import special

__all__ = ["norm_cdf", "norm_sf", "norm_isf", "t_sf", "t_isf", "chi2_cdf", "chi2_sf", "f_sf"]


def norm_cdf(x):
    return special.ndtr(x)


def norm_sf(x):
    return special.ndtr(-x)


def norm_isf(p):
    return -special.ndtri(p)


def t_sf(x, df):
    return special.stdtr(df, -x)


def t_isf(p, df):
    return -special.stdtrit(df, p)


def chi2_cdf(x, df):
    return special.chdtr(df, x)


def chi2_sf(x, df):
    return special.chdtrc(df, x)


def f_sf(x, dfn, dfd):
    return special.fdtrc(dfn, dfd, x)
