"""Hazard ratios from what trials report, incidence rate ratios/differences and ratios of means.

Time-to-event (``measure = "HR"``, analysis scale: log HR), one source per study:

* ``ci``: a reported hazard ratio with its confidence interval: ``yi = log(HR)``,
  ``sei = (log(upper) - log(lower)) / (2 z)`` (metafor's ``conv.wald``);
* ``o_minus_e``: the log-rank observed minus expected events of the treatment arm and its
  variance ``V`` (Peto/Yusuf one-step estimate): ``yi = (O - E) / V``, ``vi = 1 / V``
  (Yusuf et al. 1985; Tierney et al. 2007, equations 4-5);
* ``log_hr``: ``log HR`` and its standard error given directly;
* ``logrank``: a two-sided log-rank p-value, its direction and the total number of events ``D``
  with the randomisation ratio ``r`` (treatment : control, default 1): ``V ~= D r / (1 + r)^2``
  (Tierney et al. 2007, equation 13 for r = 1 and its generalisation), ``|O - E| = z sqrt(V)``
  with ``z = Phi^-1(1 - p / 2)``, negative when the treatment is favoured (fewer events than
  expected on treatment, HR < 1). This is an approximation (it assumes few events relative to
  the numbers at risk and a p-value from the log-rank test); such rows are flagged.

Rates (events ``x`` over person-time ``t`` per arm), as metafor's ``escalc``:

* ``IRR``: ``yi = log(x1/t1) - log(x2/t2)``, ``vi = 1/x1 + 1/x2``;
* ``IRD``: ``yi = x1/t1 - x2/t2``, ``vi = x1/t1^2 + x2/t2^2``;
  continuity correction as escalc: ``to="only0"`` adds ``add`` to both event counts of a study
  with a zero count, ``"all"`` to every study, ``"if0all"`` to every study of an analysis
  (``group``) with a zero count; ``drop00`` drops studies with no events in both arms.

Ratio of means (``ROM``): ``yi = log(m1/m2)``, ``vi = sd1^2/(n1 m1^2) + sd2^2/(n2 m2^2)``
(metafor ``vtype="LS"``; both means must be > 0).

All functions are vectorised over studies and return
:class:`~trialmeta.stats.effect_sizes.EffectSizes` (NaN for studies without usable data; the
table layer reports those as input problems).

References
----------
Tierney JF, Stewart LA, Ghersi D, Burdett S, Sydes MR (2007). Practical methods for incorporating
summary time-to-event data into meta-analysis. Trials 8:16.
Yusuf S, Peto R, Lewis J, Collins R, Sleight P (1985). Beta blockade during and after myocardial
infarction: an overview of the randomized trials. Prog Cardiovasc Dis 27:335-371.
Hedges LV, Gurevitch J, Curtis PS (1999). The meta-analysis of response ratios in experimental
ecology. Ecology 80:1150-1156.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from trialmeta.stats.effect_sizes import EffectSizes, continuity_flags

__all__ = [
    "HR_SOURCES",
    "RATE_MEASURES",
    "hr_from_ci",
    "hr_from_o_minus_e",
    "hr_from_log_hr",
    "logrank_variance",
    "hr_from_logrank",
    "time_to_event_effects",
    "rate_effects",
    "ratio_of_means",
]

#: the sources of a hazard ratio, in the order of preference when a row gives several
HR_SOURCES = ("ci", "o_minus_e", "log_hr", "logrank")
RATE_MEASURES = ("IRR", "IRD")


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _z(level: float) -> float:
    return float(-special.ndtri((1.0 - level) / 2.0))


def hr_from_ci(estimate, ci_low, ci_high, level: float = 0.95):
    """``(yi, vi)``: log HR and its variance from a reported HR and its ``level`` CI."""
    est, lo, hi = np.broadcast_arrays(_f(estimate), _f(ci_low), _f(ci_high))
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(est)
        sei = (np.log(hi) - np.log(lo)) / (2.0 * _z(level))
    return yi, sei**2


def hr_from_o_minus_e(o_minus_e, v):
    """``(yi, vi)`` = ``((O - E) / V, 1 / V)`` (Peto one-step log HR)."""
    oe, v = np.broadcast_arrays(_f(o_minus_e), _f(v))
    with np.errstate(divide="ignore", invalid="ignore"):
        return oe / v, 1.0 / v


def hr_from_log_hr(log_hr, se_log_hr):
    """``(yi, vi)`` = ``(log HR, SE^2)``."""
    y, s = np.broadcast_arrays(_f(log_hr), _f(se_log_hr))
    return y.copy(), s**2


def logrank_variance(events_total, allocation_ratio=1.0):
    """``V ~= D r / (1 + r)^2``: the log-rank variance from the total events ``D`` and the
    randomisation ratio ``r`` (treatment : control); ``D / 4`` for 1:1 (Tierney et al. 2007)."""
    d, r = np.broadcast_arrays(_f(events_total), _f(allocation_ratio))
    return d * r / (1.0 + r) ** 2


def hr_from_logrank(logrank_p, favours_treatment, events_total, allocation_ratio=1.0):
    """``(yi, vi, o_minus_e, v)`` from a two-sided log-rank p-value, its direction
    (``favours_treatment`` True: HR < 1) and the total events with the randomisation ratio."""
    p, fav, d, r = np.broadcast_arrays(
        _f(logrank_p), np.asarray(favours_treatment, bool), _f(events_total), _f(allocation_ratio)
    )
    v = logrank_variance(d, r)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = -special.ndtri(p / 2.0)
        oe = np.where(fav, -1.0, 1.0) * z * np.sqrt(v)
        yi, vi = hr_from_o_minus_e(oe, v)
    return yi, vi, oe, v


def _nan(shape):
    return np.full(shape, np.nan)


def time_to_event_effects(
    *,
    estimate=None,
    ci_low=None,
    ci_high=None,
    o_minus_e=None,
    v=None,
    log_hr=None,
    se_log_hr=None,
    logrank_p=None,
    favours_treatment=None,
    events_total=None,
    allocation_ratio=None,
    level: float = 0.95,
):
    """Log hazard ratios from whichever source each study gives (first of :data:`HR_SOURCES`
    whose inputs are all finite). Returns ``(EffectSizes, source)``, ``source`` an object array
    of the source names (``""`` where a study has none; its yi/vi are NaN)."""
    given = [
        x
        for x in (
            estimate,
            ci_low,
            ci_high,
            o_minus_e,
            v,
            log_hr,
            se_log_hr,
            logrank_p,
            events_total,
        )
        if x is not None
    ]
    shape = np.broadcast_shapes(*[np.shape(x) for x in given]) if given else (0,)

    def arr(x, fill=np.nan):
        return np.full(shape, fill, float) if x is None else np.broadcast_to(_f(x), shape)

    est, lo, hi = arr(estimate), arr(ci_low), arr(ci_high)
    oe, var = arr(o_minus_e), arr(v)
    lh, se = arr(log_hr), arr(se_log_hr)
    p, d = arr(logrank_p), arr(events_total)
    r = np.where(np.isfinite(arr(allocation_ratio)), arr(allocation_ratio), 1.0)
    fav = (
        np.zeros(shape, bool)
        if favours_treatment is None
        else np.broadcast_to(np.asarray(favours_treatment, bool), shape)
    )
    has = {
        "ci": np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi),
        "o_minus_e": np.isfinite(oe) & np.isfinite(var),
        "log_hr": np.isfinite(lh) & np.isfinite(se),
        "logrank": np.isfinite(p) & np.isfinite(d) & (favours_treatment is not None),
    }
    parts = {
        "ci": hr_from_ci(est, lo, hi, level),
        "o_minus_e": hr_from_o_minus_e(oe, var),
        "log_hr": hr_from_log_hr(lh, se),
        "logrank": hr_from_logrank(p, fav, d, r)[:2],
    }
    yi, vi = _nan(shape), _nan(shape)
    source = np.full(shape, "", dtype=object)
    for name in reversed(HR_SOURCES):  # the first source wins
        sel = has[name]
        yi = np.where(sel, parts[name][0], yi)
        vi = np.where(sel, parts[name][1], vi)
        source = np.where(sel, name, source)
    with np.errstate(invalid="ignore"):
        sei = np.sqrt(vi)
    none = np.zeros(shape, bool)
    return EffectSizes(yi, vi, sei, none, none.copy(), "log", "HR"), source


def _rate_continuity(x1, x2, add, to, drop00, group):
    dropped = ((x1 == 0) & (x2 == 0)) if drop00 else np.zeros(x1.shape, bool)
    zero = ((x1 == 0) | (x2 == 0)) & ~dropped
    corr = continuity_flags(zero, dropped, add, to, group)
    inc = np.where(corr, float(add), 0.0)
    return x1 + inc, x2 + inc, corr, dropped


def rate_effects(
    x1, t1, x2, t2, measure="IRR", *, add=0.5, to="only0", drop00=False, group=None
) -> EffectSizes:
    """Log incidence rate ratio (``IRR``) or incidence rate difference (``IRD``) per study, as
    metafor's ``escalc(measure=, x1i, t1i, x2i, t2i, add=, to=, drop00=)``."""
    if measure not in RATE_MEASURES:
        raise ValueError(f"rate measure must be one of {RATE_MEASURES}, not {measure!r}")
    x1, t1, x2, t2 = np.broadcast_arrays(_f(x1), _f(t1), _f(x2), _f(t2))
    x1c, x2c, corr, dropped = _rate_continuity(x1, x2, add, to, drop00, group)
    with np.errstate(divide="ignore", invalid="ignore"):
        ir1, ir2 = x1c / t1, x2c / t2
        if measure == "IRR":
            yi = np.log(ir1) - np.log(ir2)
            vi = 1.0 / x1c + 1.0 / x2c
        else:
            yi = ir1 - ir2
            vi = ir1 / t1 + ir2 / t2
        sei = np.sqrt(vi)
    yi, vi, sei = (np.where(dropped, np.nan, a) for a in (yi, vi, sei))
    return EffectSizes(yi, vi, sei, corr, dropped, "log" if measure == "IRR" else "raw", measure)


def ratio_of_means(m1, sd1, n1, m2, sd2, n2) -> EffectSizes:
    """Log ratio of means (``ROM``), metafor ``escalc(measure="ROM")`` (large-sample variance)."""
    m1, sd1, n1, m2, sd2, n2 = np.broadcast_arrays(*map(_f, (m1, sd1, n1, m2, sd2, n2)))
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(m1 / m2)
        vi = sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)
        sei = np.sqrt(vi)
    none = np.zeros(yi.shape, bool)
    return EffectSizes(yi, vi, sei, none, none.copy(), "log", "ROM")
