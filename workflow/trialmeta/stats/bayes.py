"""Bayesian normal-normal random-effects meta-analysis of K analyses at once, by deterministic
numerical integration over the heterogeneity tau (no MCMC: reruns are byte-identical).

Model: ``y_i ~ N(mu, v_i + tau^2)``; a proper prior on tau (:class:`~trialmeta.stats.tau_priors.
TauPrior`) and on mu either the improper uniform prior (default) or ``N(m, s^2)``.

Method (Röver C, 2020. Bayesian random-effects meta-analysis using the bayesmeta R package.
J Stat Softw 93(6):1-51, sections 2.3-2.5): given tau, the posterior of mu is normal,

    mu | tau, y ~ N(mu_hat(tau), 1 / sum w),   w_i = 1 / (v_i + tau^2),
    mu_hat(tau) = sum w y / sum w,

and the marginal posterior of tau is, with mu integrated out analytically,

    p(tau | y) ∝ p(tau) prod_i w_i^(1/2) exp(-1/2 sum w (y - mu_hat)^2) (sum w)^(-1/2).

A normal prior ``N(m, s^2)`` on mu enters as one more "study" ``(m, s^2)`` whose variance does
not include tau^2 (the same integral, up to a constant). The marginal posterior of mu (and the
posterior predictive distribution of a new study's effect, ``N(mu_hat, 1/sum w + tau^2)`` given
tau) is then a mixture of normals over tau.

Integration: over ``u = F(tau)`` in (0, 1), F the prior's distribution function, so that
``∫ p(tau) L(tau) dtau = ∫_0^1 L(F^-1(u)) du`` with a bounded integrand for every prior (heavy
tails included). The interval is cut into fixed panels: 24 equal panels on [1/16, 15/16] and
panels shrinking geometrically (ratio 1/8) towards 0 and 1 down to 8^-13; each panel gets a
10-point Gauss-Legendre rule (the results) and a 5-point rule (the error estimate). Error bound
check: the posterior mass per panel and the posterior mean of mu from both rules must agree to
:data:`TOLERANCE` (mass: sum of absolute differences; mean of mu: relative to its posterior SD);
otherwise the analysis gets status ``integration_error`` and no numbers. Quantiles: of mu and of
the predictive distribution by safeguarded Halley (Newton) iterations on the mixture distribution function;
of tau by Newton iterations on the cumulative posterior inside the panel that holds the quantile
(the integrand evaluated afresh there, Gauss-Legendre on the partial panel).

Status values: ``ok``; ``improper_posterior`` (k = 0 with the uniform prior on mu: nothing to
report); ``no_studies`` (k = 0 with a normal prior on mu); ``integration_error``;
``mu_sd_infinite`` (joined to ``ok``: with a half-Cauchy or log-t prior on tau and ``k <= 2``
studies (counting a normal prior on mu as one), E[tau^2 | y] is infinite and so is the posterior
SD of mu; the median and intervals are still reported).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import special

from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.tau_priors import TauPrior

__all__ = ["BayesResult", "bayes_random_effects", "posterior_densities", "TOLERANCE", "quadrature"]

#: error bound that every analysis's integration must meet (see the module docstring)
TOLERANCE = 1e-6
_NODE_CHUNK = 64
_SUMMARY_NAMES = (
    "mu_mean",
    "mu_sd",
    "p_below",
    *(f"{a}_{b}" for a in ("mu", "pred", "tau") for b in ("low", "median", "high")),
)  # nodes per likelihood evaluation (memory: K x n x chunk)


@dataclass(frozen=True)
class BayesResult:
    """Posterior summaries of K analyses; every array has shape (K,)."""

    k: np.ndarray
    mu_median: np.ndarray
    mu_mean: np.ndarray
    mu_sd: np.ndarray
    mu_ci_low: np.ndarray
    mu_ci_high: np.ndarray
    tau_median: np.ndarray
    tau_ci_low: np.ndarray
    tau_ci_high: np.ndarray
    pred_low: np.ndarray
    pred_high: np.ndarray
    prob_benefit: np.ndarray
    error: np.ndarray  # integration error estimate (the larger of the two checks)
    status: np.ndarray  # object array of str


# --------------------------------------------------------------------------- the grid
@functools.cache
def _panels(refine: int = 0):
    """Panel edges in u as (a, b, upper) with ``upper`` panels given by their complements;
    ``refine`` splits every panel into ``4**refine`` (the geometric ones at their ratio)."""
    ratio = 8.0 ** (1.0 / 4**refine)
    n_geo = round(np.log(8.0**13 / 64) / np.log(ratio))
    edges = [1 / 64 / ratio**m for m in range(n_geo, -1, -1)]
    lower = [(0.0, edges[0])] + list(zip(edges[:-1], edges[1:]))
    n_mid = 4**refine
    mid = np.linspace(1 / 64, 1 / 16, n_mid + 1)
    lower += list(zip(mid[:-1], mid[1:]))
    n_inner = 24 * 4**refine
    inner = np.linspace(1 / 16, 15 / 16, n_inner + 1)
    rows = [(a, b, False) for a, b in lower]
    rows += [(inner[i], inner[i + 1], False) for i in range(n_inner)]
    rows += [(ca, cb, True) for cb, ca in reversed(lower)]  # complements: c from ca down to cb
    return rows


@functools.cache
def quadrature(order: int, refine: int = 0):
    """Nodes ``(u, c = 1 - u, weight, panel)`` of the ``order``-point Gauss-Legendre rule on every
    panel (weights sum to 1 over (0, 1))."""
    x, w = np.polynomial.legendre.leggauss(order)
    us, cs, ws, ps = [], [], [], []
    for p, (a, b, upper) in enumerate(_panels(refine)):
        half = (b - a) / 2 if not upper else (a - b) / 2
        if upper:  # a, b are complements 1 - u of the panel's left and right edge (a > b)
            c = b + half * (1 - x)  # u increasing
            u = 1 - c
        else:
            u = a + half * (x + 1)
            c = 1 - u
        us.append(u), cs.append(c), ws.append(w * abs(half)), ps.append(np.full(order, p))
    return (np.concatenate(us), np.concatenate(cs), np.concatenate(ws), np.concatenate(ps))


# --------------------------------------------------------------------------- likelihood
def _augment(batch: StudyBatch, mu_prior):
    """(y, v, weight mask, tau mask): the studies, plus the normal prior of mu as one more study
    whose variance does not include tau^2."""
    y, v, mask = batch.yi, batch.vi, batch.mask.astype(float)
    tau_on = mask.copy()
    if mu_prior is not None:
        m, s = float(mu_prior[0]), float(mu_prior[1])
        K = y.shape[0]
        y = np.hstack([y, np.full((K, 1), m)])
        v = np.hstack([v, np.full((K, 1), s * s)])
        mask = np.hstack([mask, np.ones((K, 1))])
        tau_on = np.hstack([tau_on, np.zeros((K, 1))])
    return y, v, mask, tau_on


def _log_lik(data, tau2):
    """log marginal likelihood of tau (mu integrated out), mu_hat and sum w at ``tau2``: (J,) or
    (K, J); returns three (K, J) arrays."""
    y, v, mask, tau_on = data
    tau2 = np.atleast_2d(tau2)
    K, J = y.shape[0], tau2.shape[1]
    out = [np.empty((K, J)) for _ in range(3)]
    for s in range(0, J, _NODE_CHUNK):
        t2 = tau2[:, None, s : s + _NODE_CHUNK]  # (K or 1, 1, chunk)
        with np.errstate(over="ignore", invalid="ignore"):
            w = mask[:, :, None] / (v[:, :, None] + tau_on[:, :, None] * t2)  # (K, n, chunk)
            sw = w.sum(axis=1)
            mh = (w * y[:, :, None]).sum(axis=1) / sw
            q = (w * (y[:, :, None] - mh[:, None, :]) ** 2).sum(axis=1)
            logw = np.where(mask[:, :, None] > 0, np.log(np.where(w > 0, w, 1.0)), 0.0)
        out[0][:, s : s + _NODE_CHUNK] = 0.5 * logw.sum(axis=1) - 0.5 * q - 0.5 * np.log(sw)
        out[1][:, s : s + _NODE_CHUNK] = mh
        out[2][:, s : s + _NODE_CHUNK] = sw
    return out


# --------------------------------------------------------------------------- quantiles
def _mixture_quantile(weights, means, sds, p, start, scale):
    """x with sum weights * Phi((x - means) / sds) = p per row (weights sum to 1).

    Halley steps (Newton's when Halley's leaves the bracket) inside a bracket that every
    evaluation narrows; bisection when both leave a finite bracket; while one side is still open,
    a step is at most 4 ``scale`` (the mixture's SD). Rows whose last step was below
    1e-10 (1 + |x|) (cubic convergence: the error is then far smaller) drop out of the iteration.
    """
    x = np.asarray(start, float).copy()
    lo, hi = np.full(x.shape, -np.inf), np.full(x.shape, np.inf)
    active = np.flatnonzero(np.isfinite(x))
    for _ in range(200):
        if active.size == 0:
            break
        w, m, s, xa = weights[active], means[active], sds[active], x[active]
        z = (xa[:, None] - m) / s
        F = (w * special.ndtr(z)).sum(axis=1) - p
        phi = w * np.exp(-0.5 * z * z) / s
        d1 = phi.sum(axis=1) / np.sqrt(2 * np.pi)  # density
        d2 = -(phi * z / s).sum(axis=1) / np.sqrt(2 * np.pi)  # its derivative
        la = lo[active] = np.where(F < 0, xa, lo[active])
        ha = hi[active] = np.where(F >= 0, xa, hi[active])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            halley = xa - 2 * F * d1 / (2 * d1 * d1 - F * d2)
            newton = xa - F / d1
        step = np.clip(newton - xa, -4 * scale[active], 4 * scale[active])
        fallback = np.where(np.isfinite(la) & np.isfinite(ha), (la + ha) / 2, xa + step)
        new = np.where((newton >= la) & (newton <= ha), newton, fallback)
        new = np.where((halley >= la) & (halley <= ha), halley, new)
        x[active] = new
        active = active[np.abs(new - xa) > 1e-10 * (1 + np.abs(xa))]
    return x


def _tau_quantile(data, prior, target, panels, cum, mass, shift):
    """u-space Newton inside the panel that holds the posterior probability ``target`` (times the
    normalising constant: ``cum`` are the cumulative panel masses, (K, P+1))."""
    x10, w10 = np.polynomial.legendre.leggauss(10)
    K = cum.shape[0]
    p = np.clip((cum[:, 1:] < target[:, None]).sum(axis=1), 0, len(panels) - 1)
    a = np.array([panels[i][0] for i in p])
    b = np.array([panels[i][1] for i in p])
    upper = np.array([panels[i][2] for i in p])
    rest = target - cum[np.arange(K), p]
    m = mass[np.arange(K), p]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(np.where(m > 0, rest / m, 0.5), 0.0, 1.0)

    def at(frac):  # (u, c) at fractions (K, J) of the panel
        if frac.ndim == 1:
            frac = frac[:, None]
        c_up = b[:, None] + (1 - frac) * (a - b)[:, None]
        u_lo = a[:, None] + frac * (b - a)[:, None]
        return (np.where(upper[:, None], 1 - c_up, u_lo), np.where(upper[:, None], c_up, 1 - u_lo))

    width = np.abs(b - a)
    lo, hi = np.zeros(K), np.ones(K)
    for _ in range(60):
        frac = t[:, None] * (x10 + 1) / 2
        u, c = at(frac)
        f = np.exp(_log_lik(data, np.minimum(prior.ppf(u, c), 1e100) ** 2)[0] - shift[:, None])
        g = width * t / 2 * (f * w10).sum(axis=1) - rest
        u1, c1 = at(t)
        d = width * np.exp(
            _log_lik(data, np.minimum(prior.ppf(u1, c1), 1e100) ** 2)[0][:, 0] - shift
        )
        lo, hi = np.where(g < 0, t, lo), np.where(g >= 0, t, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = t - g / d
        new = np.where((new >= lo) & (new <= hi), new, (lo + hi) / 2)
        done = np.abs(new - t) <= 1e-13
        t = new
        if np.all(done):
            break
    u, c = at(t)
    return prior.ppf(u[:, 0], c[:, 0])


# --------------------------------------------------------------------------- the posterior
def _integrate(data, prior, refine=0):
    """Posterior node weights (10-point rule), node values, and the error estimate."""
    u10, c10, w10, p10 = quadrature(10, refine)
    u5, c5, w5, p5 = quadrature(5, refine)
    # tau capped at 1e100 (the log-t and half-Cauchy quantiles overflow in the last panels, whose
    # weights are below 8^-13)
    tau = np.concatenate([prior.ppf(u10, c10), prior.ppf(u5, c5)])
    tau2 = np.minimum(tau, 1e100) ** 2
    logl, mh, sw = _log_lik(data, tau2)
    J = u10.size
    shift = np.max(logl, axis=1)
    f = np.exp(logl - shift[:, None])
    P = int(p10.max()) + 1
    m10 = np.zeros((f.shape[0], P))
    m5 = np.zeros((f.shape[0], P))
    for p in range(P):  # per-panel masses (a loop over the panels, not over analyses)
        m10[:, p] = f[:, :J][:, p10 == p] @ w10[p10 == p]
        m5[:, p] = f[:, J:][:, p5 == p] @ w5[p5 == p]
    z10, z5 = m10.sum(axis=1), m5.sum(axis=1)
    omega = f[:, :J] * w10 / z10[:, None]
    mean10 = (omega * mh[:, :J]).sum(axis=1)
    mean5 = (f[:, J:] * w5 * mh[:, J:]).sum(axis=1) / z5
    var = (omega * (1 / sw[:, :J] + (mh[:, :J] - mean10[:, None]) ** 2)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.maximum(
            np.abs(m10 / z10[:, None] - m5 / z5[:, None]).sum(axis=1),
            np.abs(mean10 - mean5) / np.sqrt(var),
        )
    nodes = {"omega": omega, "mh": mh[:, :J], "sw": sw[:, :J], "tau2": tau2[:J]}
    return (
        nodes,
        mean10,
        var,
        err,
        (np.cumsum(np.hstack([np.zeros((f.shape[0], 1)), m10]), 1), m10, shift),
    )


def _summaries(data, tau_prior, level, refine):
    """The posterior summaries (a dict of (K,) arrays) and the error estimate on one grid."""
    nodes, mean, var, err, (cum, mass, shift) = _integrate(data, tau_prior, refine)
    # nodes without weight in any analysis (far tails) cannot move a quantile: dropped
    keep = np.max(nodes["omega"], axis=0) > 1e-15
    omega, mh, sw = nodes["omega"][:, keep], nodes["mh"][:, keep], nodes["sw"][:, keep]
    tau2 = nodes["tau2"][keep]
    s_mu = np.sqrt(1 / sw)
    s_pred = np.sqrt(1 / sw + tau2)
    alpha = (1 - level) / 2
    sd = np.sqrt(var)
    sd_pred = np.sqrt(var + (omega * tau2).sum(axis=1))
    q = {"mu_mean": mean, "mu_sd": sd, "p_below": (omega * special.ndtr(-mh / s_mu)).sum(axis=1)}
    panels = _panels(refine)
    for name, p in (("low", alpha), ("median", 0.5), ("high", 1 - alpha)):
        z = -special.ndtri(1 - p) if p > 0.5 else special.ndtri(p)
        q["mu_" + name] = _mixture_quantile(omega, mh, s_mu, p, mean + z * sd, sd)
        q["pred_" + name] = _mixture_quantile(omega, mh, s_pred, p, mean + z * sd_pred, sd_pred)
        target = p * cum[:, -1]
        q["tau_" + name] = _tau_quantile(data, tau_prior, target, panels, cum, mass, shift)
    return q, err


def _status(k, prior, mu_prior, err):
    k_eff = k + (mu_prior is not None)
    status = np.full(k.shape, "ok", dtype=object)
    heavy = prior.family in ("half_cauchy", "log_t")
    if heavy:
        status[(k_eff <= 2) & (k > 0)] = "ok;mu_sd_infinite"
    status[~(err <= TOLERANCE)] = "integration_error"
    status[k == 0] = "no_studies" if mu_prior is not None else "improper_posterior"
    return status


def bayes_random_effects(
    batch: StudyBatch,
    tau_prior: TauPrior,
    mu_prior: tuple | None = None,
    level: float = 0.95,
    higher_is_better=None,
) -> BayesResult:
    """Posterior summaries of every analysis of ``batch`` under one pair of priors.

    ``mu_prior``: None for the improper uniform prior, or ``(mean, sd)`` of a normal prior.
    ``higher_is_better``: (K,) of True / False / None (or NaN): ``prob_benefit`` is P(mu > 0 | y)
    where True, else P(mu < 0 | y) (the analysis scale: log ratio or difference; null 0).
    """
    k = batch.study_counts().astype(int)
    data = _augment(batch, mu_prior)
    q: dict = {}
    err = np.full(k.shape, np.nan)
    rows = np.flatnonzero(k > 0)  # k = 0: nothing to integrate (status below)
    for refine in (0, 1, 2):  # analyses that miss the error bound: again on finer panels
        if rows.size == 0:
            break
        sub, sub_err = _summaries(tuple(a[rows] for a in data), tau_prior, level, refine)
        for name, values in sub.items():
            q.setdefault(name, np.full(k.shape, np.nan))[rows] = values
        err[rows] = sub_err
        rows = rows[~(sub_err <= TOLERANCE)]
    q = {name: q.get(name, np.full(k.shape, np.nan)) for name in _SUMMARY_NAMES}
    hib = _higher_is_better(higher_is_better, k.shape[0])
    status = _status(k, tau_prior, mu_prior, err)
    blank = np.isin(status, ["integration_error", "no_studies", "improper_posterior"])

    def out(x):
        return np.where(blank, np.nan, x)

    return BayesResult(
        k=k,
        mu_median=out(q["mu_median"]),
        mu_mean=out(q["mu_mean"]),
        mu_sd=out(np.where(status == "ok;mu_sd_infinite", np.nan, q["mu_sd"])),
        mu_ci_low=out(q["mu_low"]),
        mu_ci_high=out(q["mu_high"]),
        tau_median=out(q["tau_median"]),
        tau_ci_low=out(q["tau_low"]),
        tau_ci_high=out(q["tau_high"]),
        pred_low=out(q["pred_low"]),
        pred_high=out(q["pred_high"]),
        prob_benefit=out(np.where(hib, 1 - q["p_below"], q["p_below"])),
        error=err,
        status=status,
    )


def _higher_is_better(values, K):
    if values is None:
        return np.zeros(K, dtype=bool)
    arr = np.asarray(values, dtype=object).reshape(-1)
    return np.array([v is True or v == 1 for v in arr.tolist()], dtype=bool)


def posterior_densities(yi, vi, tau_prior: TauPrior, mu_prior, mu_x, tau_x):
    """Marginal posterior densities of mu at ``mu_x`` and of tau at ``tau_x`` for ONE analysis
    (1-D arrays of its studies), and the prior density of tau at ``tau_x`` (for plots)."""
    batch = StudyBatch.from_arrays(np.asarray(yi, float)[None], np.asarray(vi, float)[None])
    data = _augment(batch, mu_prior)
    nodes, _, _, err, (cum, _, shift) = _integrate(data, tau_prior)
    for refine in (1, 2):
        if err[0] <= TOLERANCE:
            break
        nodes, _, _, err, (cum, _, shift) = _integrate(data, tau_prior, refine)
    omega, mh, s = nodes["omega"][0], nodes["mh"][0], np.sqrt(1 / nodes["sw"][0])
    mu_x = np.asarray(mu_x, float)
    z = (mu_x[:, None] - mh) / s
    mu_dens = (omega * np.exp(-0.5 * z * z) / s).sum(axis=1) / np.sqrt(2 * np.pi)
    tau_x = np.asarray(tau_x, float)
    prior_dens = tau_prior.pdf(tau_x)
    logl = _log_lik(data, tau_x**2)[0][0]
    tau_dens = prior_dens * np.exp(logl - shift[0]) / cum[0, -1]
    return mu_dens, tau_dens, prior_dens
