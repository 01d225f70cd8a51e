"""Per-study effect sizes, following metafor's ``escalc`` conventions exactly (metafor 3.8-1).

All functions are vectorized over studies (NumPy arrays, any shape);
:func:`trialmeta.tables.effects.compute_effect_sizes` turns the validated trials table into the
long *effects table* (one row per study x measure) with one vectorized call per outcome type and
measure.

Binary outcomes (2x2 table: ``a`` events / ``b = n1 - a`` non-events in the treatment arm, ``c`` /
``d = n2 - c`` in the control arm), with ``p1 = a/n1`` and ``p2 = c/n2`` after the continuity
correction:

* ``OR``: ``yi = log(p1/(1-p1)) - log(p2/(1-p2)) = log(a d / (b c))``,
  ``vi = 1/a + 1/b + 1/c + 1/d`` (Woolf 1955);
* ``RR``: ``yi = log(p1) - log(p2)``, ``vi = 1/a - 1/n1 + 1/c - 1/n2``;
* ``RD``: ``yi = p1 - p2``, ``vi = p1(1-p1)/n1 + p2(1-p2)/n2`` (large-sample variance, divisor n).

Continuity correction (metafor ``add``/``to``/``drop00``): ``to="only0"`` adds ``add`` to all four
cells of a table with a zero cell (this is done for RD too, unlike RevMan), ``"all"`` to every
table, ``"if0all"`` to every table of an analysis (``group``) that has a table with a zero cell,
``"none"`` never. ``drop00=True`` drops tables with no events in both arms (or only events in both
arms: ``a = c = 0`` or ``b = d = 0``, as metafor does); their yi/vi are NaN and ``dropped`` is
True. Double-zero tables that are kept get ``yi = 0``.

Continuous outcomes (mean ``m``, SD ``sd``, size ``n`` per arm):

* ``MD``: ``yi = m1 - m2``, ``vi = sd1^2/n1 + sd2^2/n2``;
* ``SMD``: Hedges' g (Hedges 1981) ``yi = J (m1 - m2) / s_p`` with the pooled SD
  ``s_p = sqrt(((n1-1) sd1^2 + (n2-1) sd2^2) / m)``, ``m = n1 + n2 - 2``, the exact bias
  correction ``J = exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))`` (= Gamma(m/2) /
  (sqrt(m/2) Gamma((m-1)/2)); undefined for m <= 1), and the large-sample variance
  ``vi = 1/n1 + 1/n2 + yi^2 / (2 (n1 + n2))`` (metafor's ``vtype="LS"``).

Generic outcomes: ``yi`` and ``sei`` given on the analysis scale (``vi = sei^2``), or a reported
estimate with its confidence interval (``estimate, ci_low, ci_high``): ratio measures (HR, OR, RR,
IRR) are logged, and ``sei = (upper - lower) / (2 z_{1-alpha/2})`` on the analysis scale
(z = 1.959964 for 95 %; metafor's ``conv.wald``). Natural-scale ratio names are normalised to the
analysis-scale name (``HR`` -> ``logHR``), so rows given either way pool together.

A study whose effect size or variance is not finite, or whose variance is <= 0, is an input
error (:class:`InvalidStudyData` here; in the effects table an input problem naming file, row
and study), never a silent NaN.

References
----------
Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related
estimators. J Educ Stat 6:107-128.
Woolf B (1955). On estimating the relation between blood group and disease. Ann Hum Genet
19:251-253.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "EffectSizes",
    "BINARY_MEASURES",
    "CONTINUOUS_MEASURES",
    "GENERIC_MEASURES",
    "CONTINUITY_TO",
    "binary_effects",
    "continuous_effects",
    "generic_effects",
    "InvalidStudyData",
    "measure_scale",
]

BINARY_MEASURES = ("OR", "RR", "RD")
CONTINUOUS_MEASURES = ("MD", "SMD", "ROM")
CONTINUITY_TO = ("only0", "all", "if0all", "none")
#: generic measure name -> (analysis-scale name, scale, whether a given estimate/CI is logged)
GENERIC_MEASURES = {
    "logHR": ("logHR", "log", False),
    "HR": ("logHR", "log", True),
    "logOR": ("logOR", "log", False),
    "OR": ("logOR", "log", True),
    "logRR": ("logRR", "log", False),
    "RR": ("logRR", "log", True),
    "logIRR": ("logIRR", "log", False),
    "IRR": ("logIRR", "log", True),
    "MD": ("MD", "raw", False),
    "SMD": ("SMD", "raw", False),
    "RD": ("RD", "raw", False),
}


def measure_scale(measure: str) -> str:
    """``"log"`` for ratio measures (OR, RR, logHR, ...), ``"raw"`` for differences (RD, MD, SMD)."""
    if measure in ("OR", "RR", "ROM", "HR", "IRR"):
        return "log"
    if measure in GENERIC_MEASURES:
        return GENERIC_MEASURES[measure][1]
    return "raw"


@dataclass(frozen=True)
class EffectSizes:
    """Per-study effect sizes on the analysis scale.

    Attributes
    ----------
    yi, vi, sei : float arrays
        Effect size, sampling variance and its square root (NaN for dropped studies).
    corrected : bool array
        The continuity correction was added to this study's 2x2 table.
    dropped : bool array
        Double-zero study dropped (``drop00=True``): yi/vi are NaN and it is not pooled.
    scale : str or array of str
        ``"log"`` or ``"raw"`` (an array when a generic call mixes measures per study).
    measure : str or array of str
        Measure name on the analysis scale (``OR``, ``RR``, ``RD``, ``MD``, ``SMD``, ``logHR``...).
    """

    yi: np.ndarray
    vi: np.ndarray
    sei: np.ndarray
    corrected: np.ndarray
    dropped: np.ndarray
    scale: object
    measure: object = ""

    def invalid(self) -> np.ndarray:
        """Studies that are kept but have a non-finite yi/vi or vi <= 0 (input errors)."""
        with np.errstate(invalid="ignore"):
            return ~self.dropped & ~(np.isfinite(self.yi) & np.isfinite(self.vi) & (self.vi > 0))


class InvalidStudyData(ValueError):
    """Studies whose effect size or variance is not finite, or whose variance is <= 0.

    ``messages`` holds one line per study; ``str()`` joins them. The table layer
    (:func:`trialmeta.tables.effects.compute_effect_sizes`) reports the same studies as input
    problems naming file, row and column instead.
    """

    def __init__(self, messages):
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _raise_invalid(es: EffectSizes, labels=None) -> None:
    bad = es.invalid()
    if not bad.any():
        return
    messages = []
    for i in np.flatnonzero(bad.ravel()):
        where = f"study at position {i}" if labels is None else f"study {labels[i]!s}"
        messages.append(
            f"{where}: {es.measure} yi={es.yi.ravel()[i]!r}, vi={es.vi.ravel()[i]!r}: "
            "effect size and variance must be finite with vi > 0"
        )
    raise InvalidStudyData(messages)


def continuity_flags(zero, dropped, add, to, group=None):
    """Which studies get the continuity correction, as metafor's escalc ``to``/``add`` rules:
    ``zero`` marks studies with a zero cell, ``dropped`` those left out (drop00); ``group`` (one
    label per study) makes ``if0all`` act per analysis. Shared by 2x2 tables and rates."""
    if to not in CONTINUITY_TO:
        raise ValueError(f"continuity 'to' must be one of {CONTINUITY_TO}, not {to!r}")
    if add == 0 or to == "none":
        return np.zeros(zero.shape, bool)
    if to == "only0":
        return zero
    if to == "all":
        return ~dropped
    if group is None:  # if0all over the whole batch
        return np.full(zero.shape, bool(zero.any())) & ~dropped
    g = np.asarray(group)
    if g.shape != zero.shape:
        raise ValueError("group must have one entry per study")
    _, codes = np.unique(g.ravel(), return_inverse=True)
    any0 = np.bincount(codes, weights=zero.ravel().astype(float)) > 0
    return any0[codes].reshape(zero.shape) & ~dropped


def _continuity(a, b, c, d, add, to, drop00, group):
    """Corrected cells and the (corrected, dropped) flags, as metafor's escalc (add/to/drop00)."""
    dropped = (((a == 0) & (c == 0)) | ((b == 0) & (d == 0))) if drop00 else np.zeros(a.shape, bool)
    zero = ((a == 0) | (b == 0) | (c == 0) | (d == 0)) & ~dropped
    corr = continuity_flags(zero, dropped, add, to, group)
    inc = np.where(corr, float(add), 0.0)
    return a + inc, b + inc, c + inc, d + inc, corr, dropped


def _binary(a, n1, c, n2, measure, add, to, drop00, group):
    if measure not in BINARY_MEASURES:
        raise ValueError(f"binary measure must be one of {BINARY_MEASURES}, not {measure!r}")
    a, n1, c, n2 = np.broadcast_arrays(_f(a), _f(n1), _f(c), _f(n2))
    a1, b1, c1, d1, corr, dropped = _continuity(a, n1 - a, c, n2 - c, add, to, drop00, group)
    m1 = a1 + b1
    m2 = c1 + d1
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = a1 / m1
        p2 = c1 / m2
        if measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / a1 + 1 / b1 + 1 / c1 + 1 / d1
        elif measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a1 - 1 / m1 + 1 / c1 - 1 / m2
        else:
            yi = p1 - p2
            vi = p1 * (1 - p1) / m1 + p2 * (1 - p2) / m2
        sei = np.sqrt(vi)
    yi = np.where(dropped, np.nan, yi)
    vi = np.where(dropped, np.nan, vi)
    sei = np.where(dropped, np.nan, sei)
    return EffectSizes(yi, vi, sei, corr, dropped, measure_scale(measure), measure)


def binary_effects(
    a, n1, c, n2, measure, *, add=0.5, to="only0", drop00=False, group=None, check=True, labels=None
) -> EffectSizes:
    """Log odds ratio (``OR``), log risk ratio (``RR``) or risk difference (``RD``) per 2x2 table.

    ``a``/``c`` are the events and ``n1``/``n2`` the sizes of the treatment/control arms. The
    continuity correction follows metafor's ``escalc(add=, to=, drop00=)`` (see the module
    docstring); ``group`` (one label per study) is the analysis of each study for
    ``to="if0all"``. With ``check=True`` (default) an infinite or non-positive variance (e.g. a
    zero cell with ``to="none"``) raises :class:`~trialmeta.inputs.errors.InputError`; ``labels`` name
    the studies in that message.
    """
    es = _binary(a, n1, c, n2, measure, add, to, drop00, group)
    if check:
        _raise_invalid(es, labels)
    return es


def continuous_effects(
    m1, sd1, n1, m2, sd2, n2, measure, *, check=True, labels=None
) -> EffectSizes:
    """Mean difference (``MD``) or Hedges' g (``SMD``, exact bias correction; Hedges 1981).

    ``MD``: ``yi = m1 - m2``, ``vi = sd1^2/n1 + sd2^2/n2``. ``SMD``: ``yi = J (m1 - m2)/s_p``,
    ``s_p^2 = ((n1-1) sd1^2 + (n2-1) sd2^2)/(n1+n2-2)``, ``J = exp(lgamma(m/2) - log(sqrt(m/2)) -
    lgamma((m-1)/2))`` with ``m = n1+n2-2``, ``vi = 1/n1 + 1/n2 + yi^2/(2(n1+n2))``.
    """
    if measure not in CONTINUOUS_MEASURES:
        raise ValueError(
            f"continuous measure must be one of {CONTINUOUS_MEASURES}, not {measure!r}"
        )
    m1, sd1, n1, m2, sd2, n2 = np.broadcast_arrays(*map(_f, (m1, sd1, n1, m2, sd2, n2)))
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "MD":
            yi = m1 - m2
            vi = sd1**2 / n1 + sd2**2 / n2
        elif measure == "ROM":  # log ratio of means (metafor vtype="LS")
            yi = np.log(m1 / m2)
            vi = sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)
        else:
            ni = n1 + n2
            mi = ni - 2
            sdpi = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / mi)
            cmi = np.where(
                mi > 1,
                np.exp(
                    special.gammaln(mi / 2)
                    - np.log(np.sqrt(mi / 2))
                    - special.gammaln((mi - 1) / 2)
                ),
                np.nan,
            )
            yi = cmi * ((m1 - m2) / sdpi)
            vi = 1 / n1 + 1 / n2 + yi**2 / (2 * ni)
        sei = np.sqrt(vi)
    none = np.zeros(yi.shape, bool)
    es = EffectSizes(yi, vi, sei, none, none.copy(), measure_scale(measure), measure)
    if check:
        _raise_invalid(es, labels)
    return es


def _normalise_generic(measure, shape):
    meas = np.broadcast_to(np.asarray(measure, dtype=object), shape)
    unknown = sorted({str(m) for m in meas.ravel() if m not in GENERIC_MEASURES})
    if unknown:
        raise ValueError(
            f"unknown generic measure(s) {unknown}; choose from {tuple(GENERIC_MEASURES)}"
        )
    name = np.array([GENERIC_MEASURES[m][0] for m in meas.ravel()], dtype=object).reshape(shape)
    scale = np.array([GENERIC_MEASURES[m][1] for m in meas.ravel()], dtype=object).reshape(shape)
    logged = np.array([GENERIC_MEASURES[m][2] for m in meas.ravel()], dtype=bool).reshape(shape)
    return name, scale, logged


def generic_effects(
    measure,
    *,
    yi=None,
    sei=None,
    estimate=None,
    ci_low=None,
    ci_high=None,
    level=0.95,
    check=True,
    labels=None,
) -> EffectSizes:
    """Effect sizes given directly (``yi``, ``sei`` on the analysis scale) or as estimate + CI.

    ``measure`` is one name or one per study (``logHR, logOR, logRR, logIRR`` on the log scale;
    ``HR, OR, RR, IRR`` in natural units; ``MD, SMD, RD`` raw). Where ``yi``/``sei`` are finite
    they are used (``vi = sei^2``; a natural-scale ratio name with yi/sei is an error, since yi
    must be on the analysis scale). Otherwise ``estimate, ci_low, ci_high`` are used: ratio
    measures are logged, ``yi = log(estimate)``, ``sei = (log(upper) - log(lower)) / (2 z)``,
    raw measures ``sei = (upper - lower) / (2 z)``, with ``z = Phi^-1(1 - (1 - level)/2)``
    (1.959964 for the usual 95 % CI; metafor's ``conv.wald``). The returned ``measure`` is the
    analysis-scale name (``HR`` -> ``logHR``).
    """
    arrays = [x for x in (yi, sei, estimate, ci_low, ci_high) if x is not None]
    if not arrays:
        raise ValueError("generic effects need yi and sei, or estimate, ci_low and ci_high")
    shape = np.broadcast_shapes(*[np.shape(x) for x in arrays], np.shape(measure))
    nan = np.full(shape, np.nan)
    y = nan if yi is None else np.broadcast_to(_f(yi), shape)
    s = nan if sei is None else np.broadcast_to(_f(sei), shape)
    est = nan if estimate is None else np.broadcast_to(_f(estimate), shape)
    lo = nan if ci_low is None else np.broadcast_to(_f(ci_low), shape)
    hi = nan if ci_high is None else np.broadcast_to(_f(ci_high), shape)
    name, scale, logged = _normalise_generic(measure, shape)
    direct = np.isfinite(y) & np.isfinite(s)
    wrong = direct & logged
    if wrong.any():
        given = str(
            np.broadcast_to(np.asarray(measure, dtype=object), shape).ravel()[
                np.flatnonzero(wrong.ravel())[0]
            ]
        )
        raise ValueError(
            f"yi/sei must be on the analysis scale: measure {given} given with yi/sei "
            f"(use {GENERIC_MEASURES[given][0]}, or give estimate, ci_low and ci_high)"
        )
    z = float(-special.ndtri((1.0 - level) / 2.0))  # = scipy.stats.norm.isf
    with np.errstate(divide="ignore", invalid="ignore"):
        t_est = np.where(logged, np.log(est), est)
        t_lo = np.where(logged, np.log(lo), lo)
        t_hi = np.where(logged, np.log(hi), hi)
        y_out = np.where(direct, y, t_est)
        s_out = np.where(direct, s, (t_hi - t_lo) / (2.0 * z))
        vi = s_out**2
    none = np.zeros(shape, bool)
    if np.ndim(measure) == 0:  # one measure for all studies: plain strings
        scale_out, name_out = GENERIC_MEASURES[measure][1], GENERIC_MEASURES[measure][0]
    else:
        scale_out, name_out = scale, name
    es = EffectSizes(
        np.asarray(y_out, float),
        np.asarray(vi, float),
        np.asarray(s_out, float),
        none,
        none.copy(),
        scale_out,
        name_out,
    )
    if check:
        _raise_invalid(es, labels)
    return es
