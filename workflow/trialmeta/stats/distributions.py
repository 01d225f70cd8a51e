"""Tail probabilities and quantiles of the normal, t, chi-square and F distributions.

Each function is the SciPy special function that ``scipy.stats.<dist>.<method>`` itself evaluates
(``norm.sf(x) = ndtr(-x)``, ``t.sf(x, df) = stdtr(df, -x)``, ``t.isf(p, df) = -stdtrit(df, p)``,
``chi2.sf(x, df) = chdtrc(df, x)``, ``f.sf(x, d1, d2) = fdtrc(d1, d2, x)``, ...), so the numbers
are identical, without importing ``scipy.stats``: that import costs over a second, paid again by
every workflow job (Python start-up per job is the workflow's main fixed cost).
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = [
    "norm_cdf",
    "norm_sf",
    "norm_isf",
    "t_sf",
    "t_isf",
    "chi2_cdf",
    "chi2_sf",
    "chi2_isf",
    "f_sf",
]


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


def chi2_sf(x, df, *, method: str = "cephes"):
    """Upper-tail chi-square probability ``P(X > x)``, ``X ~ chi2(df)``: the p-value of every
    chi-square test in the package (Cochran's Q, the Q tests of subgroups and meta-regression, the
    Mantel-Haenszel, Breslow-Day and Peto tests).

    NaN where ``df < 1`` or ``x`` or ``df`` is NaN (no test). Two evaluations of the same
    probability, which agree to about 1e-14 (relative):

    * ``method="cephes"`` (default): ``scipy.special.chdtrc(df, x)``, what
      ``scipy.stats.chi2.sf`` returns;
    * ``method="series"``: for integer ``df <= 64`` and ``x < 1400`` the finite series of
      Abramowitz & Stegun 26.4.4 (even df) and 26.4.5 (odd df), a sum of positive terms (no
      cancellation, relative error about df x 1e-16),
      ``exp(-x/2) sum_{j<df/2} (x/2)^j / j!`` for even df and
      ``erfc(sqrt(x/2)) + exp(-x/2) sum_{j<(df-1)/2} (x/2)^(j+1/2) / Gamma(j+3/2)`` for odd df;
      ``chdtrc`` elsewhere. Cochran's Q test of the pooled analyses uses this one.

    Abramowitz M, Stegun IA (1964). Handbook of Mathematical Functions, 26.4.4-26.4.5.
    """
    x, df = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(df, dtype=float))
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        ok = df >= 1
        if method == "cephes":
            return np.where(ok, special.chdtrc(np.where(ok, df, 1.0), x), np.nan)
        if method != "series":
            raise ValueError(f"chi2_sf method must be 'cephes' or 'series', not {method!r}")
        out = np.where(ok, special.chdtrc(np.where(ok, df, 1.0), x), np.nan)
        series = ok & (df <= 64) & (df == np.floor(df)) & (x >= 0) & (x < 1400)
        if series.all():
            return _chi2_sf_series(x, df)
        if series.any():
            out[series] = _chi2_sf_series(x[series], df[series])
        return out


def _chi2_sf_series(x, df):
    """The finite series of :func:`chi2_sf` (integer ``1 <= df <= 64``)."""
    lo, hi = df.min(initial=np.inf), df.max(initial=0.0)
    h = 0.5 * x
    e = np.exp(-h)
    if lo == hi:  # one df for all: scalar bookkeeping
        odd = lo % 2.0 == 1.0
        if odd:
            sh = np.sqrt(h)
            out = special.erfc(sh)
            term = e * sh
            term *= 2.0 / np.sqrt(np.pi)
        else:
            out = np.zeros_like(h)
            term = e
        base = 1.5 if odd else 1.0
        for j in range(int(lo // 2)):
            out += term
            term = term * h
            term /= j + base
        return out
    odd = np.mod(df, 2.0) == 1.0
    nterms = np.floor(0.5 * df)
    term = np.where(odd, e * np.sqrt(h) * (2.0 / np.sqrt(np.pi)), e)
    base = 0.5 + 0.5 * odd  # j + 1 + a with a = 1/2 for odd df, 0 for even
    out = np.where(odd, special.erfc(np.sqrt(h)), 0.0)
    for j in range(int(nterms.max(initial=0))):
        out += np.where(j < nterms, term, 0.0)
        term = term * h / (j + base + 0.5)
    return out


def chi2_isf(p, df):
    return special.chdtri(df, p)


def f_sf(x, dfn, dfd):
    return special.fdtrc(dfn, dfd, x)
