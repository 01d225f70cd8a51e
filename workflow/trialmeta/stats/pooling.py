"""Inverse-variance pooling of K analyses at once: fixed effect and random effects.

Every function takes a :class:`~trialmeta.stats.batch.StudyBatch` (K analyses padded to a common width)
and returns one :class:`~trialmeta.stats.result.PooledResult` of (K,) arrays; there is no loop per
analysis or per study.

Formulas (``w_i = 1/(v_i + tau2)``, ``tau2 = 0`` for the fixed-effect model):

* estimate ``mu = sum w y / sum w``, ``se = sqrt(1 / sum w)`` (inverse-variance weighting,
  e.g. Borenstein et al. 2010); Wald ``z = mu / se``, two-sided normal p-value and CI;
* ``ci_method="hksj"``: Hartung & Knapp (2001), Sidik & Jonkman (2002):
  ``se^2 = sum w (y - mu)^2 / ((k - 1) sum w)``, t distribution with ``k - 1`` df for the CI and
  the p-value; no truncation of the scaling factor (as in metafor 3.8 ``test="knha"``);
* ``ci_method="hksj_adhoc"``: the modified HKSJ of Knapp & Hartung (2003), metafor 3.8
  ``test="adhoc"``: the scaling factor ``q = sum w (y - mu)^2 / (k - 1)`` is truncated below at 1,
  ``se^2 = max(1, q) / sum w`` (never narrower than the Wald-type SE), t with ``k - 1`` df;
* prediction interval (``prediction_interval=``):

  - ``"metafor"`` (metafor's ``predict()``): ``mu +- q sqrt(se^2 + tau2)`` with ``q`` the normal
    quantile for ``wald`` and the t(k - 1) quantile for ``hksj`` and ``hksj_adhoc`` (``se`` of
    the CI method);
  - ``"higgins"``: ``mu +- t_{k-2} sqrt(se^2 + tau2)`` (Higgins, Thompson & Spiegelhalter 2009);
    not defined for k = 2 (left empty, status ``no_prediction_interval``);
  - ``"none"``: no prediction interval;

* heterogeneity (Cochran's Q, I2, H2, Q-profile CI of tau2): :mod:`trialmeta.stats.heterogeneity`;
* per-study weights in percent (``100 w_i / sum w``).

An analysis with a single study is not pooled: it is reported as it is (``estimate = yi``,
``se = sqrt(vi)``, normal CI) with status ``single_study`` and no Q, tau2 or prediction interval.

References
----------
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials 7:177-188.
Hartung J, Knapp G (2001). On tests of the overall treatment effect in meta-analysis with normally
distributed responses. Stat Med 20:1771-1782.
Sidik K, Jonkman JN (2002). A simple confidence interval for meta-analysis. Stat Med 21:3153-3159.
Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a single
covariate. Stat Med 22:2693-2710.
Higgins JPT, Thompson SG, Spiegelhalter DJ (2009). A re-evaluation of random-effects
meta-analysis. J R Stat Soc A 172:137-159.
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med 21:1539-1558.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.heterogeneity import (
    QProfileCI,
    cochran_q,
    columns,
    fixed_i2_h2,
    i2_h2,
    quantile_by_df,
    typical_variance,
)
from trialmeta.stats.result import INTERVAL_AND_HETEROGENEITY, NUMBER_FIELDS, PooledResult, Status

__all__ = [
    "CI_METHODS",
    "PREDICTION_INTERVALS",
    "fixed_effect",
    "random_effects",
    "random_effects_given_tau2",
    "join_status",
]

CI_METHODS = ("wald", "hksj", "hksj_adhoc")
PREDICTION_INTERVALS = ("metafor", "higgins", "none")


def _merge_notes(base: str, note: str) -> str:
    notes = [n for n in str(base).split(";") if n]
    for n in str(note).split(";"):
        if n and n not in notes:
            notes.append(n)
    hard = [n for n in notes if n == Status.SINGLE_STUDY or n.startswith(Status.FAILED)]
    if hard:
        notes = hard
    elif notes and notes[0] != Status.OK and Status.OK in notes:
        notes.remove(Status.OK)
    return ";".join(notes) if notes else Status.OK


def join_status(base, *notes) -> np.ndarray:
    """Append per-analysis status notes (arrays or scalars of str, ``""`` = nothing) to ``base``.

    Duplicates are dropped; ``single_study`` or ``failed:...`` replace everything else. Only the
    analyses that carry a note are touched (string bookkeeping, not statistics), and each distinct
    (status, note) pair is merged once.
    """
    base = np.atleast_1d(np.asarray(base, dtype=object))
    size = max(
        [base.shape[0]] + [np.atleast_1d(np.asarray(n, dtype=object)).shape[0] for n in notes]
    )
    out = np.array(np.broadcast_to(base, (size,)), dtype=object)
    out[~out.astype(bool)] = Status.OK  # "" or None
    merged: dict = {}
    for note in notes:
        note = np.broadcast_to(np.atleast_1d(np.asarray(note, dtype=object)), (size,))
        idx = np.flatnonzero(note.astype(bool))
        if idx.size == 0:
            continue
        new = []
        for a, b in zip(out[idx].tolist(), note[idx].tolist()):
            m = merged.get((a, b))
            if m is None:
                m = merged[(a, b)] = _merge_notes(a, b)
            new.append(m)
        vals = np.empty(idx.size, dtype=object)
        vals[:] = new
        out[idx] = vals
    return out


def _as_k(x, K: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, dtype=float), (K,)).astype(float)


def _z_quantile(level: float) -> float:
    return float(-special.ndtri((1.0 - level) / 2.0))  # = scipy.stats.norm.isf


def _single_study_fill(res: PooledResult, batch: StudyBatch, level: float) -> PooledResult:
    """Overwrite k == 1 analyses with the unpooled study (normal CI), status ``single_study``."""
    single = batch.study_counts() == 1
    if not single.any():
        return res
    y = (batch.yi * batch.mask).sum(axis=1)
    se = np.sqrt((batch.vi * batch.mask).sum(axis=1))
    z = _z_quantile(level)
    res.estimate = np.where(single, y, res.estimate)
    res.se = np.where(single, se, res.se)
    with np.errstate(invalid="ignore", divide="ignore"):
        zval = y / se
    res.stat = np.where(single, zval, res.stat)
    res.df = np.where(single, np.nan, res.df)
    res.pval = np.where(single, 2.0 * special.ndtr(-np.abs(zval)), res.pval)
    res.ci_low = np.where(single, y - z * se, res.ci_low)
    res.ci_high = np.where(single, y + z * se, res.ci_high)
    for name in INTERVAL_AND_HETEROGENEITY:
        setattr(res, name, np.where(single, np.nan, getattr(res, name)))
    res.status = np.where(single, Status.SINGLE_STUDY, res.status).astype(object)
    if res.weights is not None:
        res.weights = np.where(single[:, None], np.where(batch.mask, 100.0, 0.0), res.weights)
    return res


def _no_study_fill(res: PooledResult, batch: StudyBatch) -> PooledResult:
    """Analyses without any study (all dropped): every number empty, status ``failed:no_studies``."""
    none = batch.study_counts() == 0
    if none.any():
        for name in NUMBER_FIELDS:
            setattr(res, name, np.where(none, np.nan, getattr(res, name)))
        res.status = np.where(none, f"{Status.FAILED}:no_studies", res.status).astype(object)
    return res


def fixed_effect(batch: StudyBatch, level: float = 0.95) -> PooledResult:
    """Fixed (common) effect, inverse-variance weights ``1/vi``, Wald z CI.

    Q, I2 = max(0, 100 (Q - df)/Q) and H2 = Q/df as metafor reports for ``method="FE"``; tau2 and
    the prediction interval do not apply (NaN). Weights in percent.
    """
    K = batch.n_analyses
    cols = columns(batch)
    w = cols.weights(0.0)
    sw = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.einsum("nk,nk->k", w, cols.y) / sw
        se = np.sqrt(1.0 / sw)
        zval = mu / se
        weights = (w * (100.0 / sw)).T
    z = _z_quantile(level)
    het = cochran_q(batch)
    i2, h2 = fixed_i2_h2(het.Q, het.df)
    res = PooledResult(
        model="fixed",
        tau2_method="",
        ci_method="wald",
        k=batch.study_counts().astype(float),
        estimate=mu,
        se=se,
        stat=zval,
        df=np.full(K, np.nan),
        pval=2.0 * special.ndtr(-np.abs(zval)),
        ci_low=mu - z * se,
        ci_high=mu + z * se,
        I2=i2,
        H2=h2,
        Q=het.Q,
        Q_df=het.df,
        Q_pval=het.pval,
        status=np.full(K, Status.OK, dtype=object),
        weights=weights,
    )
    res = _single_study_fill(res, batch, level)
    return _no_study_fill(res, batch)


def _wald_test(mu, sw, level):
    """Wald z test and CI: ``se = 1/sqrt(sum w)``; returns ``(se, df, crit, stat, pval)``."""
    K = mu.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(1.0 / sw)
        stat = mu / se
        pval = 2.0 * special.ndtr(-np.abs(stat))
    return se, np.full(K, np.nan), np.full(K, _z_quantile(level)), stat, pval


def _hksj_test(cols, mu, weights, k, level):
    """Hartung-Knapp-Sidik-Jonkman t test and CI (Hartung & Knapp 2001; Sidik & Jonkman 2002):
    ``se^2 = sum w (y - mu)^2 / ((k-1) sum w)`` on ``k - 1`` df, untruncated; ``weights`` are the
    (K, n) weights in percent. Returns ``(se, df, crit, stat, pval)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cols.y - mu
        # residuals at the round-off level of the effects (a few ulps: identical studies)
        # carry no information and depend on the summation order; they count as 0, so the
        # HKSJ SE of identical studies is exactly 0 whatever the order of the studies
        finite_y = np.where(np.isfinite(cols.y), np.abs(cols.y), 0.0)
        tiny = 4.0 * np.finfo(float).eps * np.nanmax(finite_y, axis=0)
        r[np.abs(r) <= tiny] = 0.0
        r *= r
        df = (k - 1).astype(float)
        se = np.sqrt(np.einsum("nk,nk->k", weights.T, r) / (100.0 * df))
        r = None
        dfs = np.where(df >= 1, df, np.nan)
        crit = quantile_by_df("t", (1.0 - level) / 2.0, dfs)
        stat = mu / se
        pval = 2.0 * special.stdtr(dfs, -np.abs(stat))
    return se, df, crit, stat, pval


def _hksj_adhoc_test(cols, mu, sw, weights, k, level):
    """Modified HKSJ (Knapp & Hartung 2003; metafor ``test="adhoc"``): the HKSJ scaling factor
    ``q = sum w (y - mu)^2 / (k-1)`` truncated below at 1, ``se^2 = max(1, q) / sum w``, t on
    ``k - 1`` df. Returns ``(se, df, crit, stat, pval)``."""
    se, df, crit, _, _ = _hksj_test(cols, mu, weights, k, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        # max(sqrt(q / sw), sqrt(1 / sw)) = sqrt(max(q, 1) / sw); a NaN HKSJ SE (k < 2) stays NaN
        se = np.where(np.isnan(se), se, np.fmax(se, np.sqrt(1.0 / sw)))
        dfs = np.where(df >= 1, df, np.nan)
        stat = mu / se
        pval = 2.0 * special.stdtr(dfs, -np.abs(stat))
    return se, df, crit, stat, pval


def _prediction_interval(method, mu, se, tau2, crit, k, level, notes):
    """``mu +- q sqrt(se^2 + tau2)`` with ``q`` the CI's critical value (``"metafor"``) or the
    t(k-2) quantile (``"higgins"``, Higgins et al. 2009; none for k = 2, noted in ``notes``);
    NaN for ``"none"``. Returns ``(pi_low, pi_high)``."""
    K = mu.shape[0]
    if method == "none":
        return np.full(K, np.nan), np.full(K, np.nan)
    if method == "metafor":
        q = crit
    else:  # higgins
        q = quantile_by_df("t", (1.0 - level) / 2.0, np.where(k >= 3, k - 2, np.nan))
        notes.append(np.where(k == 2, "no_prediction_interval", ""))
    with np.errstate(invalid="ignore"):
        half = q * np.sqrt(se * se + tau2)
    return mu - half, mu + half


def _q_profile_columns(qp_ci, notes):
    """The Q-profile CI's PooledResult fields and extra columns (empty without one)."""
    if qp_ci is None:
        return {}, {}
    notes.append(qp_ci.status_notes())
    fields = dict(
        tau2_ci_low=qp_ci.tau2_ci_low,
        tau2_ci_high=qp_ci.tau2_ci_high,
        I2_ci_low=qp_ci.I2_ci_low,
        I2_ci_high=qp_ci.I2_ci_high,
    )
    extra = dict(
        tau_ci_low=qp_ci.tau_ci_low,
        tau_ci_high=qp_ci.tau_ci_high,
        H2_ci_low=qp_ci.H2_ci_low,
        H2_ci_high=qp_ci.H2_ci_high,
    )
    return fields, extra


def _pi_df(prediction_interval, df, k):
    """df of the HKSJ prediction interval: the CI's (``metafor``), ``k - 2`` (``higgins``)."""
    if prediction_interval == "metafor":
        return df
    if prediction_interval == "higgins":
        return np.where(k >= 3, k - 2, np.nan).astype(float)
    return np.full(k.shape[0], np.nan)


def _check_methods(ci_method: str, prediction_interval: str) -> None:
    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method must be one of {CI_METHODS}, got {ci_method!r}")
    if prediction_interval not in PREDICTION_INTERVALS:
        raise ValueError(
            f"prediction_interval must be one of {PREDICTION_INTERVALS}, "
            f"got {prediction_interval!r}"
        )


def _weighted_mean(cols, tau2: np.ndarray):
    """Inverse-variance weighted mean with weights ``1/(vi + tau2)`` (tau2 NaN counts as 0):
    (mu, sum of weights, weights in percent as a (K, n) array)."""
    w = cols.weights(np.where(np.isnan(tau2), 0.0, tau2))
    sw = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.einsum("nk,nk->k", w, cols.y) / sw
        w *= 100.0 / sw
    return mu, sw, w.T  # (K, n) view, percent


def random_effects_given_tau2(
    batch: StudyBatch,
    tau2,
    ci_method: str = "wald",
    prediction_interval: str = "metafor",
    level: float = 0.95,
    *,
    tau2_method: str = "",
    status=None,
    qp_ci: QProfileCI | None = None,
    extra: dict | None = None,
) -> PooledResult:
    """Random-effects pooling for a given tau2 (scalar or (K,)): estimate, CI, PI, Q, I2, H2.

    ``ci_method`` is ``"wald"`` (normal), ``"hksj"`` (Hartung & Knapp 2001; Sidik & Jonkman
    2002: ``se^2 = sum w (y - mu)^2 / ((k-1) sum w)``, t(k-1), untruncated) or ``"hksj_adhoc"``
    (Knapp & Hartung 2003: the same with the scaling factor truncated below at 1, metafor
    ``test="adhoc"``). The prediction interval
    follows ``prediction_interval`` (see the module docstring). ``status`` (per-analysis notes from
    the tau2 estimator) and ``qp_ci`` (a Q-profile CI to attach, see
    :func:`trialmeta.stats.heterogeneity.q_profile_ci`) are optional.
    """
    _check_methods(ci_method, prediction_interval)
    K = batch.n_analyses
    k = batch.study_counts()
    tau2 = _as_k(tau2, K)
    cols = columns(batch)
    mu, sw, weights = _weighted_mean(cols, tau2)
    if ci_method == "wald":
        se, df, crit, stat, pval = _wald_test(mu, sw, level)
    elif ci_method == "hksj":
        se, df, crit, stat, pval = _hksj_test(cols, mu, weights, k, level)
    else:
        se, df, crit, stat, pval = _hksj_adhoc_test(cols, mu, sw, weights, k, level)
    notes = [np.full(K, Status.OK, dtype=object) if status is None else status]
    pi_low, pi_high = _prediction_interval(prediction_interval, mu, se, tau2, crit, k, level, notes)
    het = cochran_q(batch)
    vt = typical_variance(batch)
    i2, h2 = i2_h2(tau2, vt)
    fields, qp_extra = _q_profile_columns(qp_ci, notes)
    ex = {"vt": vt, **qp_extra}
    if ci_method != "wald":
        ex["pi_df"] = _pi_df(prediction_interval, df, k)
    if extra:
        ex.update(extra)
    res = PooledResult(
        model="random",
        tau2_method=tau2_method,
        ci_method=ci_method,
        k=k.astype(float),
        estimate=mu,
        se=se,
        stat=stat,
        df=df,
        pval=pval,
        ci_low=mu - crit * se,
        ci_high=mu + crit * se,
        pi_low=pi_low,
        pi_high=pi_high,
        tau2=tau2,
        tau=np.sqrt(tau2),
        I2=i2,
        H2=h2,
        Q=het.Q,
        Q_df=het.df,
        Q_pval=het.pval,
        status=join_status(*notes),
        weights=weights,
        extra=ex,
        **fields,
    )
    res = _failed_tau2_fill(res, batch, tau2)
    res = _single_study_fill(res, batch, level)
    return _no_study_fill(res, batch)


def _failed_tau2_fill(res: PooledResult, batch: StudyBatch, tau2: np.ndarray) -> PooledResult:
    """Where tau2 could not be estimated (NaN, k >= 2) nothing that depends on it is reported."""
    bad = ~np.isfinite(tau2) & (batch.study_counts() >= 2)
    if bad.any():
        for name in (
            "estimate",
            "se",
            "stat",
            "df",
            "pval",
            "ci_low",
            "ci_high",
            "pi_low",
            "pi_high",
            "tau2",
            "tau",
            "I2",
            "H2",
        ):
            setattr(res, name, np.where(bad, np.nan, getattr(res, name)))
        if res.weights is not None:
            res.weights = np.where(bad[:, None], np.nan, res.weights)
        res.status = join_status(
            res.status, np.where(bad, f"{Status.FAILED}:tau2_not_estimable", "")
        )
    return res


def random_effects(
    batch: StudyBatch,
    tau2_method: str = "REML",
    ci_method: str = "wald",
    prediction_interval: str = "metafor",
    level: float = 0.95,
    *,
    q_profile: bool = True,
) -> PooledResult:
    """Random-effects model with tau2 estimated by ``tau2_method`` (see :mod:`trialmeta.stats.tau2`).

    tau2 comes from :func:`trialmeta.stats.tau2.estimate_tau2` (DL, REML, ML, PM, HE, SJ, EB, HS); the
    rest is :func:`random_effects_given_tau2`. With ``q_profile=True`` the Q-profile CI of tau2
    (Viechtbauer 2007; search interval ``[0, max(100, 10 tau2)]`` as in metafor) is attached.
    ``extra["iterations"]`` and ``extra["converged"]`` come from the tau2 estimator.
    """
    from trialmeta.stats.heterogeneity import q_profile_ci
    from trialmeta.stats.tau2 import estimate_tau2

    est = estimate_tau2(batch, tau2_method)
    qp = q_profile_ci(batch, level, tau2=est.tau2) if q_profile else None
    return random_effects_given_tau2(
        batch,
        est.tau2,
        ci_method,
        prediction_interval,
        level,
        tau2_method=tau2_method,
        status=est.status,
        qp_ci=qp,
        extra={"iterations": np.asarray(est.iterations), "converged": np.asarray(est.converged)},
    )
