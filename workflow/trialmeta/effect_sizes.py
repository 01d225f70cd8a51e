"""Per-study effect sizes, following metafor's ``escalc`` conventions exactly (metafor 3.8-1).

All functions are vectorized over studies (NumPy arrays, any shape); :func:`compute_effect_sizes`
turns the validated trials table into the long *effects table* (one row per study x measure) with
one vectorized call per outcome type and measure.

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
error (:class:`trialmeta.errors.InputError` naming file, row and study), never a silent NaN.

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
import pandas as pd
from scipy import special

from .errors import InputError, Problem

__all__ = [
    "EffectSizes",
    "BINARY_MEASURES",
    "CONTINUOUS_MEASURES",
    "GENERIC_MEASURES",
    "CONTINUITY_TO",
    "DEFAULT_MEASURES",
    "DEFAULT_CONTINUITY",
    "EFFECT_COLUMNS",
    "binary_effects",
    "continuous_effects",
    "generic_effects",
    "compute_effect_sizes",
    "measure_scale",
]

BINARY_MEASURES = ("OR", "RR", "RD")
CONTINUOUS_MEASURES = ("MD", "SMD")
CONTINUITY_TO = ("only0", "all", "if0all", "none")
#: generic measure name -> (analysis-scale name, scale, whether a given estimate/CI is logged)
GENERIC_MEASURES = {
    "logHR": ("logHR", "log", False), "HR": ("logHR", "log", True),
    "logOR": ("logOR", "log", False), "OR": ("logOR", "log", True),
    "logRR": ("logRR", "log", False), "RR": ("logRR", "log", True),
    "logIRR": ("logIRR", "log", False), "IRR": ("logIRR", "log", True),
    "MD": ("MD", "raw", False), "SMD": ("SMD", "raw", False), "RD": ("RD", "raw", False),
}
DEFAULT_MEASURES = {"binary": ["OR", "RR", "RD"], "continuous": ["MD", "SMD"]}
DEFAULT_CONTINUITY = {"add": 0.5, "to": "only0", "drop00": False}
#: columns the effects table adds (after the passed-through trial columns)
EFFECT_COLUMNS = (
    "analysis_id", "study_id", "measure", "scale", "yi", "vi", "sei", "ci_low", "ci_high",
    "continuity_corrected", "dropped", "events_treat", "n_treat", "events_ctrl", "n_ctrl",
    "mean_treat", "sd_treat", "mean_ctrl", "sd_ctrl", "primary_measure", "source_file", "source_row",
)
_COUNT_COLUMNS = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
_MEAN_COLUMNS = ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")
#: input columns of generic rows renamed in the effects table (their names are output columns)
_REPORTED = {"estimate": "estimate_reported", "ci_low": "ci_low_reported", "ci_high": "ci_high_reported",
             "yi": "yi_reported", "sei": "sei_reported", "measure": "measure_reported"}


def measure_scale(measure: str) -> str:
    """``"log"`` for ratio measures (OR, RR, logHR, ...), ``"raw"`` for differences (RD, MD, SMD)."""
    if measure in ("OR", "RR"):
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


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _raise_invalid(es: EffectSizes, labels=None) -> None:
    bad = es.invalid()
    if not bad.any():
        return
    problems = []
    for i in np.flatnonzero(bad.ravel()):
        where = f"study at position {i}" if labels is None else f"study {labels[i]!s}"
        problems.append(Problem("input arrays", None, None,
                                f"{where}: {es.measure} yi={es.yi.ravel()[i]!r}, vi={es.vi.ravel()[i]!r}: "
                                "effect size and variance must be finite with vi > 0"))
    raise InputError(problems)


def _continuity(a, b, c, d, add, to, drop00, group):
    """Corrected cells and the (corrected, dropped) flags, as metafor's escalc (add/to/drop00)."""
    if to not in CONTINUITY_TO:
        raise ValueError(f"continuity 'to' must be one of {CONTINUITY_TO}, not {to!r}")
    dropped = (((a == 0) & (c == 0)) | ((b == 0) & (d == 0))) if drop00 else np.zeros(a.shape, bool)
    zero = ((a == 0) | (b == 0) | (c == 0) | (d == 0)) & ~dropped
    if to == "only0":
        corr = zero
    elif to == "all":
        corr = ~dropped
    elif to == "if0all":
        if group is None:
            corr = np.full(a.shape, bool(zero.any())) & ~dropped
        else:
            g = np.asarray(group)
            if g.shape != a.shape:
                raise ValueError("group must have one entry per study")
            _, codes = np.unique(g.ravel(), return_inverse=True)
            any0 = np.bincount(codes, weights=zero.ravel().astype(float)) > 0
            corr = any0[codes].reshape(a.shape) & ~dropped
    else:
        corr = np.zeros(a.shape, bool)
    if add == 0:
        corr = np.zeros(a.shape, bool)
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


def binary_effects(a, n1, c, n2, measure, *, add=0.5, to="only0", drop00=False, group=None,
                   check=True, labels=None) -> EffectSizes:
    """Log odds ratio (``OR``), log risk ratio (``RR``) or risk difference (``RD``) per 2x2 table.

    ``a``/``c`` are the events and ``n1``/``n2`` the sizes of the treatment/control arms. The
    continuity correction follows metafor's ``escalc(add=, to=, drop00=)`` (see the module
    docstring); ``group`` (one label per study) is the analysis of each study for
    ``to="if0all"``. With ``check=True`` (default) an infinite or non-positive variance (e.g. a
    zero cell with ``to="none"``) raises :class:`~trialmeta.errors.InputError`; ``labels`` name
    the studies in that message.
    """
    es = _binary(a, n1, c, n2, measure, add, to, drop00, group)
    if check:
        _raise_invalid(es, labels)
    return es


def continuous_effects(m1, sd1, n1, m2, sd2, n2, measure, *, check=True, labels=None) -> EffectSizes:
    """Mean difference (``MD``) or Hedges' g (``SMD``, exact bias correction; Hedges 1981).

    ``MD``: ``yi = m1 - m2``, ``vi = sd1^2/n1 + sd2^2/n2``. ``SMD``: ``yi = J (m1 - m2)/s_p``,
    ``s_p^2 = ((n1-1) sd1^2 + (n2-1) sd2^2)/(n1+n2-2)``, ``J = exp(lgamma(m/2) - log(sqrt(m/2)) -
    lgamma((m-1)/2))`` with ``m = n1+n2-2``, ``vi = 1/n1 + 1/n2 + yi^2/(2(n1+n2))``.
    """
    if measure not in CONTINUOUS_MEASURES:
        raise ValueError(f"continuous measure must be one of {CONTINUOUS_MEASURES}, not {measure!r}")
    m1, sd1, n1, m2, sd2, n2 = np.broadcast_arrays(*map(_f, (m1, sd1, n1, m2, sd2, n2)))
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "MD":
            yi = m1 - m2
            vi = sd1 ** 2 / n1 + sd2 ** 2 / n2
        else:
            ni = n1 + n2
            mi = ni - 2
            sdpi = np.sqrt(((n1 - 1) * sd1 ** 2 + (n2 - 1) * sd2 ** 2) / mi)
            cmi = np.where(mi > 1, np.exp(special.gammaln(mi / 2) - np.log(np.sqrt(mi / 2))
                                          - special.gammaln((mi - 1) / 2)), np.nan)
            yi = cmi * ((m1 - m2) / sdpi)
            vi = 1 / n1 + 1 / n2 + yi ** 2 / (2 * ni)
        sei = np.sqrt(vi)
    none = np.zeros(yi.shape, bool)
    es = EffectSizes(yi, vi, sei, none, none.copy(), "raw", measure)
    if check:
        _raise_invalid(es, labels)
    return es


def _normalise_generic(measure, shape):
    meas = np.broadcast_to(np.asarray(measure, dtype=object), shape)
    unknown = sorted({str(m) for m in meas.ravel() if m not in GENERIC_MEASURES})
    if unknown:
        raise ValueError(f"unknown generic measure(s) {unknown}; choose from {tuple(GENERIC_MEASURES)}")
    name = np.array([GENERIC_MEASURES[m][0] for m in meas.ravel()], dtype=object).reshape(shape)
    scale = np.array([GENERIC_MEASURES[m][1] for m in meas.ravel()], dtype=object).reshape(shape)
    logged = np.array([GENERIC_MEASURES[m][2] for m in meas.ravel()], dtype=bool).reshape(shape)
    return name, scale, logged


def generic_effects(measure, *, yi=None, sei=None, estimate=None, ci_low=None, ci_high=None,
                    level=0.95, check=True, labels=None) -> EffectSizes:
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
        given = str(np.broadcast_to(np.asarray(measure, dtype=object), shape).ravel()[np.flatnonzero(wrong.ravel())[0]])
        raise ValueError(f"yi/sei must be on the analysis scale: measure {given} given with yi/sei "
                         f"(use {GENERIC_MEASURES[given][0]}, or give estimate, ci_low and ci_high)")
    z = float(-special.ndtri((1.0 - level) / 2.0))   # = scipy.stats.norm.isf
    with np.errstate(divide="ignore", invalid="ignore"):
        t_est = np.where(logged, np.log(est), est)
        t_lo = np.where(logged, np.log(lo), lo)
        t_hi = np.where(logged, np.log(hi), hi)
        y_out = np.where(direct, y, t_est)
        s_out = np.where(direct, s, (t_hi - t_lo) / (2.0 * z))
        vi = s_out ** 2
    none = np.zeros(shape, bool)
    if np.ndim(measure) == 0:  # one measure for all studies: plain strings
        scale_out, name_out = GENERIC_MEASURES[measure][1], GENERIC_MEASURES[measure][0]
    else:
        scale_out, name_out = scale, name
    es = EffectSizes(np.asarray(y_out, float), np.asarray(vi, float), np.asarray(s_out, float),
                     none, none.copy(), scale_out, name_out)
    if check:
        _raise_invalid(es, labels)
    return es


# ----------------------------------------------------------------------------- the effects table
def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)


class _Locations:
    """file and spreadsheet row of input row i (``source_file``/``source_row`` when present)."""

    def __init__(self, df: pd.DataFrame):
        self.files = df["source_file"] if "source_file" in df else None
        self.rows = pd.to_numeric(df["source_row"], errors="coerce") if "source_row" in df else None

    def __call__(self, i):
        file = str(self.files.iloc[i]) if self.files is not None else "trials table"
        if self.rows is None:  # spreadsheet row of a single table with a header row
            return file, int(i) + 2
        r = self.rows.iloc[i]
        return file, (int(r) if np.isfinite(r) else None)


def _cell(df, col, i):
    v = df[col].iloc[i] if col in df else None
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _diagnose(df, i, kind, measure, to):
    """(column, value, message) explaining why study i has no usable effect size."""
    one = df.iloc[[i]]
    if kind == "binary":
        vals = {col: _numeric(one, col)[0] for col in _COUNT_COLUMNS}
        missing = [col for col, v in vals.items() if not np.isfinite(v)]
        if missing:
            return missing[0], None, "missing: no effect size"
        for col, arm in (("events_treat", "n_treat"), ("events_ctrl", "n_ctrl")):
            if vals[col] == 0 or vals[col] == vals[arm]:
                cell = "zero event cell" if vals[col] == 0 else f"= {arm}: zero non-event cell"
                msg = (f"{cell} and no continuity correction (continuity to={to!r}): infinite or zero "
                       "variance; use continuity to: only0")
                return col, _cell(df, col, i), msg
        return None, None, "effect size or variance not finite or vi <= 0"
    if kind == "continuous":
        for col in _MEAN_COLUMNS:
            if not np.isfinite(_numeric(one, col)[0]):
                return col, None, "missing: no effect size"
        if measure == "SMD" and _numeric(one, "n_treat")[0] + _numeric(one, "n_ctrl")[0] <= 3:
            return "n_treat", _cell(df, "n_treat", i), "SMD needs n_treat + n_ctrl > 3"
        return None, None, "sampling variance must be finite and > 0"
    for col in ("sei", "ci_low", "ci_high"):
        if col in df and _cell(df, col, i) is not None:
            return col, _cell(df, col, i), "gives a sampling variance that is not finite and > 0"
    return None, None, "generic row needs yi and sei, or estimate, ci_low and ci_high"


def compute_effect_sizes(trials_df: pd.DataFrame, *, measures=None, continuity=None,
                         level: float = 0.95) -> pd.DataFrame:
    """The effects table: one row per study x measure, from the validated trials table.

    Parameters
    ----------
    trials_df : DataFrame
        Validated trials (see ``docs``/interfaces): ``study_id, outcome_type, analysis_id`` and the
        arm columns of each outcome type (binary: ``events_treat, n_treat, events_ctrl, n_ctrl``;
        continuous: ``mean_treat, sd_treat, n_treat, mean_ctrl, sd_ctrl, n_ctrl``; generic:
        ``measure`` with ``yi, sei`` or ``estimate, ci_low, ci_high``). ``source_file`` and
        ``source_row`` locate rows in error messages.
    measures : dict
        ``{"binary": [...], "continuous": [...]}``; the first measure of each list is the primary
        one (``primary_measure``). Generic rows carry their own measure (always primary).
    continuity : dict
        ``{"add": 0.5, "to": "only0", "drop00": False}`` (metafor's escalc defaults; ``to`` in
        ``only0, all, if0all, none``; ``if0all`` applies per analysis).
    level : float
        Level of the per-study Wald CI ``yi +- z sei`` (on the analysis scale).

    Returns
    -------
    DataFrame
        The trial columns passed through (group_by keys, moderators, ...; the generic input
        columns ``yi, sei, measure, estimate, ci_low, ci_high`` renamed ``*_reported``), then
        :data:`EFFECT_COLUMNS`. Rows in input order, measures in configuration order within a row.
        Dropped double-zero studies (``drop00``) keep a row with NaN yi/vi and ``dropped=True``.

    Raises
    ------
    InputError
        Every study whose effect size or variance is not finite or whose variance is <= 0 (e.g.
        a zero cell with ``to="none"``), each naming file, row, column and study.
    """
    measures = DEFAULT_MEASURES if measures is None else measures
    cont = dict(DEFAULT_CONTINUITY)
    cont.update(continuity or {})
    if cont["to"] not in CONTINUITY_TO:
        raise ValueError(f"continuity 'to' must be one of {CONTINUITY_TO}, not {cont['to']!r}")
    for kind, allowed in (("binary", BINARY_MEASURES), ("continuous", CONTINUOUS_MEASURES)):
        bad = [m for m in measures.get(kind, []) if m not in allowed]
        if bad:
            raise ValueError(f"unknown {kind} measure(s) {bad}; choose from {allowed}")
    df = trials_df.reset_index(drop=True)
    for col in ("analysis_id", "study_id", "outcome_type"):
        if col not in df:
            raise InputError([Problem("trials table", None, col, "missing required column")])
    ot = df["outcome_type"].astype(str)
    kind_code = np.full(len(df), -1)
    for code, kind in enumerate(("binary", "continuous", "generic")):
        kind_code[(ot == kind).to_numpy(dtype=bool)] = code
    where = _Locations(df)
    problems = []
    for i in np.flatnonzero(kind_code < 0):
        problems.append(Problem(*where(i), "outcome_type", "must be binary, continuous or generic",
                                value=str(df["outcome_type"].iloc[i])))
    z = float(-special.ndtri((1.0 - level) / 2.0))   # = scipy.stats.norm.isf
    aid = pd.factorize(df["analysis_id"].astype(str))[0]  # analysis codes (``if0all`` groups)
    parts = []  # (row indices, measure names, EffectSizes, rank, primary)
    bad_effects = {}  # (row, column, value, message) -> measures: one problem per row and cause

    def note_invalid(idx, kind, measures_, es, keep=None):
        bad = es.invalid() if keep is None else es.invalid() & keep
        for j in np.flatnonzero(bad):
            m = measures_ if isinstance(measures_, str) else str(measures_[j])
            key = (int(idx[j]), *_diagnose(df, idx[j], kind, m, cont["to"]))
            bad_effects.setdefault(key, []).append(f"{m}: yi={float(es.yi[j])!r}, vi={float(es.vi[j])!r}")

    def add_part(idx, kind, measure, es, rank, primary):
        note_invalid(idx, kind, measure, es)
        parts.append((idx, measure, es, rank, primary))

    idx = np.flatnonzero(kind_code == 0)
    if idx.size:
        a, n1, c, n2 = (_numeric(df, col)[idx] for col in _COUNT_COLUMNS)
        for r, m in enumerate(measures.get("binary", [])):
            es = binary_effects(a, n1, c, n2, m, add=cont["add"], to=cont["to"],
                                drop00=bool(cont["drop00"]), group=aid[idx], check=False)
            add_part(idx, "binary", m, es, r, r == 0)
    idx = np.flatnonzero(kind_code == 1)
    if idx.size:
        cols = [_numeric(df, col)[idx] for col in _MEAN_COLUMNS]
        for r, m in enumerate(measures.get("continuous", [])):
            es = continuous_effects(*cols, m, check=False)
            add_part(idx, "continuous", m, es, r, r == 0)
    idx = np.flatnonzero(kind_code == 2)
    if idx.size:
        meas = df["measure"].astype(str).to_numpy()[idx] if "measure" in df else np.full(idx.size, "")
        unknown = ~np.isin(meas, list(GENERIC_MEASURES))
        for j in np.flatnonzero(unknown):
            problems.append(Problem(*where(idx[j]), "measure",
                                    "unknown generic measure (one of " + ", ".join(GENERIC_MEASURES) + ")",
                                    value=meas[j]))
        ok = idx[~unknown]
        if ok.size:
            m_ok = meas[~unknown]
            y, s = _numeric(df, "yi")[ok], _numeric(df, "sei")[ok]
            logged = np.array([GENERIC_MEASURES[m][2] for m in m_ok])
            wrong = np.isfinite(y) & np.isfinite(s) & logged
            for j in np.flatnonzero(wrong):
                problems.append(Problem(*where(ok[j]), "measure",
                                        f"yi/sei must be on the analysis scale: use {GENERIC_MEASURES[m_ok[j]][0]} "
                                        f"(or give estimate, ci_low, ci_high in {m_ok[j]})", value=m_ok[j]))
            y = np.where(wrong, np.nan, y)
            s = np.where(wrong, np.nan, s)
            es = generic_effects(m_ok, yi=y, sei=s, estimate=_numeric(df, "estimate")[ok],
                                 ci_low=_numeric(df, "ci_low")[ok], ci_high=_numeric(df, "ci_high")[ok],
                                 level=level, check=False)
            note_invalid(ok, "generic", es.measure, es, keep=~wrong)
            parts.append((ok, es.measure, es, 0, True))
    for (i, col, val, msg), found in bad_effects.items():
        study = _cell(df, "study_id", i)
        problems.append(Problem(*where(i), col, f"{msg} (study {study!r}; {'; '.join(found)})", value=val))
    if problems:
        raise InputError(problems)

    # assemble: rows in input order, measures in configuration order within a row
    passthrough = df.rename(columns={k: v for k, v in _REPORTED.items() if k in df})
    keep_cols = [c for c in passthrough.columns if c not in set(EFFECT_COLUMNS)]
    if not parts:
        return pd.DataFrame(columns=keep_cols + list(EFFECT_COLUMNS))
    idx_all = np.concatenate([p[0] for p in parts])
    order = np.lexsort((np.concatenate([np.full(p[0].size, p[3]) for p in parts]), idx_all))
    src = idx_all[order]

    def stacked(get):
        return np.concatenate([np.broadcast_to(get(p), p[0].shape) for p in parts])[order]

    yi = stacked(lambda p: p[2].yi)
    sei = stacked(lambda p: p[2].sei)
    kind = np.array(["binary", "continuous", "generic"])[kind_code[src]]

    def text(col):
        return df[col].astype(str).take(src).reset_index(drop=True)

    def labels(get):
        cats, codes = [], []
        for p in parts:  # one name per part (binary/continuous) or per study (generic)
            u, inv = np.unique(np.broadcast_to(np.asarray(get(p), dtype=str), p[0].shape), return_inverse=True)
            for x in u:
                if x not in cats:
                    cats.append(x)
            look = np.array([cats.index(x) for x in u], dtype=int)
            codes.append(look[inv] if look.size else inv)
        return pd.Series(pd.Categorical.from_codes(np.concatenate(codes)[order], cats)).astype(str)

    out = {
        "analysis_id": text("analysis_id"),
        "study_id": text("study_id"),
        "measure": labels(lambda p: p[1]),
        "scale": labels(lambda p: p[2].scale),
        "yi": yi, "vi": stacked(lambda p: p[2].vi), "sei": sei,
        "ci_low": yi - z * sei, "ci_high": yi + z * sei,
        "continuity_corrected": stacked(lambda p: p[2].corrected),
        "dropped": stacked(lambda p: p[2].dropped),
    }
    for col in _COUNT_COLUMNS + ("mean_treat", "sd_treat", "mean_ctrl", "sd_ctrl"):
        v = _numeric(df, col)[src]
        if col in ("events_treat", "events_ctrl"):
            v = np.where(kind == "binary", v, np.nan)
        elif col in ("n_treat", "n_ctrl"):
            v = np.where(kind == "generic", np.nan, v)
        else:
            v = np.where(kind == "continuous", v, np.nan)
        out[col] = v
    out["primary_measure"] = stacked(lambda p: np.asarray(bool(p[4])))
    out["source_file"] = text("source_file") if "source_file" in df else np.full(src.size, np.nan)
    out["source_row"] = df["source_row"].to_numpy()[src] if "source_row" in df else np.full(src.size, np.nan)
    base = passthrough[keep_cols].take(src).reset_index(drop=True)
    return pd.concat([base, pd.DataFrame(out)], axis=1)
