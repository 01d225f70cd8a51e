"""Binomial-normal GLMM for single proportions, batched over analyses.

The random-intercept logistic model ``x_ij ~ Binomial(n_ij, expit(beta_i + theta_i u_ij))``,
``u_ij ~ N(0, 1)``, fitted by maximum likelihood with adaptive Gauss-Hermite quadrature (AGQ,
7 nodes): metafor's ``rma.glmm(measure="PLO")`` (``lme4::glmer(cbind(x, n - x) ~ 1 + (1 |
study), family = binomial, nAGQ = 7)``). ``tau2 = theta^2``.

Per study the integral over ``u`` is taken around the conditional mode ``u_hat`` (Newton on
``h(u) = log Binom(x | n, expit(beta + theta u)) + log phi(u)``) with the scale ``s = (-h''(u_hat))
^(-1/2)``: ``L = sum_q w_q s exp(h(u_hat + s z_q) + z_q^2/2)`` (``z_q, w_q`` the Gauss-Hermite
rule for ``exp(-z^2/2)``), exactly the AGQ approximation lme4 maximises. The log likelihood is
separable over analyses, so all analyses are fitted at once: a damped Newton iteration on
``(beta, theta)`` of every analysis with a finite-difference gradient and Hessian of the vector of
per-analysis log likelihoods. The likelihood is even in ``theta``, so ``theta`` is unconstrained
and ``|theta|`` is reported. The standard error of ``beta`` comes from the inverse of the observed
information of ``(beta, theta)`` (lme4's ``vcov`` uses a finite-difference Hessian too); the CI is
Wald (``z``), as metafor's default ``test="z"``.

No continuity correction is needed: studies with 0 or n events contribute their exact binomial
likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy import special

__all__ = ["GlmmResult", "binomial_normal_glmm", "NODES"]

NODES = 7
_Z, _W = hermegauss(NODES)
_LOG_W = np.log(_W)


@dataclass
class GlmmResult:
    """Per-analysis results (arrays of length K): ``beta`` (pooled logit), ``se``, ``ci_low``,
    ``ci_high``, ``zval``, ``pval``, ``tau2``, ``loglik`` (AGQ log likelihood without the binomial
    coefficients), ``k``, ``iterations`` and ``converged``."""

    beta: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    tau2: np.ndarray
    loglik: np.ndarray
    k: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def _conditional_modes(beta, theta, x, n, mask):
    """``u_hat`` and ``-h''(u_hat)`` of every study (Newton, vectorized; h is strictly concave)."""
    b, t = beta[:, None], theta[:, None]
    u = np.zeros(x.shape)
    for _ in range(100):
        p = special.expit(b + t * u)
        g = t * (x - n * p) - u
        h = t * t * n * p * (1 - p) + 1.0
        step = g / h
        u = u + step
        if np.all(np.abs(step[mask]) < 1e-13):
            break
    p = special.expit(b + t * u)
    return u, t * t * n * p * (1 - p) + 1.0


def _loglik(beta, theta, x, n, mask):
    """AGQ log likelihood of each analysis (K,), binomial coefficients left out."""
    u_hat, curv = _conditional_modes(beta, theta, x, n, mask)
    s = 1.0 / np.sqrt(curv)
    u = u_hat[..., None] + s[..., None] * _Z  # (K, k, Q)
    eta = beta[:, None, None] + theta[:, None, None] * u
    # log p^x (1-p)^(n-x) = x eta - n log(1 + e^eta)
    h = x[..., None] * eta - n[..., None] * np.logaddexp(0.0, eta) - 0.5 * u * u
    terms = h + 0.5 * _Z * _Z + _LOG_W - 0.5 * np.log(2 * np.pi)
    per_study = special.logsumexp(terms, axis=-1) + np.log(s)
    return np.where(mask, per_study, 0.0).sum(axis=1)


def _derivatives(beta, theta, x, n, mask, h=1e-4):
    """Value, gradient (K, 2) and Hessian (K, 2, 2) by central differences (the objective is
    separable, so each call evaluates all analyses at once)."""

    def f(db, dt):
        return _loglik(beta + db, theta + dt, x, n, mask)

    f0 = f(0.0, 0.0)
    fb1, fb0 = f(h, 0.0), f(-h, 0.0)
    ft1, ft0 = f(0.0, h), f(0.0, -h)
    fpp, fmm = f(h, h), f(-h, -h)
    fpm, fmp = f(h, -h), f(-h, h)
    grad = np.stack([(fb1 - fb0) / (2 * h), (ft1 - ft0) / (2 * h)], axis=1)
    hbb = (fb1 - 2 * f0 + fb0) / h**2
    htt = (ft1 - 2 * f0 + ft0) / h**2
    hbt = (fpp - fpm - fmp + fmm) / (4 * h * h)
    hess = np.stack([np.stack([hbb, hbt], 1), np.stack([hbt, htt], 1)], 1)
    return f0, grad, hess


def _start(x, n, mask):
    """Start values: the pooled logit of the summed counts, theta = 0.5."""
    xs, ns = np.where(mask, x, 0).sum(1), np.where(mask, n, 0).sum(1)
    p = (xs + 0.5) / (ns + 1.0)
    return np.log(p / (1 - p)), np.full(p.shape, 0.5)


def _newton_step(f0, grad, hess, beta, theta, x, n, mask):
    """One damped Newton (or gradient-ascent) step per analysis, halved until the likelihood
    does not decrease."""
    det = hess[:, 0, 0] * hess[:, 1, 1] - hess[:, 0, 1] ** 2
    neg_def = (hess[:, 0, 0] < 0) & (det > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        nb = -(hess[:, 1, 1] * grad[:, 0] - hess[:, 0, 1] * grad[:, 1]) / det
        nt = -(-hess[:, 0, 1] * grad[:, 0] + hess[:, 0, 0] * grad[:, 1]) / det
    db = np.where(neg_def, nb, 0.1 * grad[:, 0])
    dt = np.where(neg_def, nt, 0.1 * grad[:, 1])
    scale = np.minimum(1.0, 2.0 / np.maximum(np.abs(db), np.abs(dt)).clip(1e-300))
    db, dt = db * scale, dt * scale
    step = np.ones(beta.shape)
    for _ in range(30):
        new = _loglik(beta + step * db, theta + step * dt, x, n, mask)
        worse = ~(new >= f0 - 1e-12 * np.abs(f0))
        if not worse.any():
            break
        step = np.where(worse, step / 2, step)
    return beta + step * db, theta + step * dt, np.maximum(np.abs(step * db), np.abs(step * dt))


def binomial_normal_glmm(x, n, mask, level=0.95, tol=1e-9, max_iter=200) -> GlmmResult:
    """ML fit of the binomial-normal model of every analysis (rows of the padded ``(K, k)``
    arrays ``x`` events, ``n`` sizes, ``mask`` real studies). See the module docstring."""
    x, n, mask = np.asarray(x, float), np.asarray(n, float), np.asarray(mask, bool)
    x, n = np.where(mask, x, 0.0), np.where(mask, n, 1.0)
    beta, theta = _start(x, n, mask)
    done = np.zeros(beta.shape, bool)
    iters = np.zeros(beta.shape, int)
    for _ in range(max_iter):
        f0, grad, hess = _derivatives(beta, theta, x, n, mask)
        nb, nt, moved = _newton_step(f0, grad, hess, beta, theta, x, n, mask)
        beta, theta = np.where(done, beta, nb), np.where(done, theta, nt)
        iters += ~done
        done |= moved < tol
        if done.all():
            break
    theta = np.abs(theta)
    f0, grad, hess = _derivatives(beta, theta, x, n, mask, h=1e-4)
    with np.errstate(divide="ignore", invalid="ignore"):
        det = hess[:, 0, 0] * hess[:, 1, 1] - hess[:, 0, 1] ** 2
        var_b = np.where(theta > 1e-6, -hess[:, 1, 1] / det, -1.0 / hess[:, 0, 0])
        se = np.sqrt(var_b)
        z = float(-special.ndtri((1 - level) / 2))
        zval = beta / se
    return GlmmResult(
        beta=beta,
        se=se,
        ci_low=beta - z * se,
        ci_high=beta + z * se,
        zval=zval,
        pval=2 * special.ndtr(-np.abs(zval)),
        tau2=theta**2,
        loglik=f0,
        k=mask.sum(1),
        iterations=iters,
        converged=done & np.isfinite(se),
    )
