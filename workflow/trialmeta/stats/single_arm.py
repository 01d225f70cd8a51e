"""Single-arm effect sizes, as metafor 3.8-1 ``escalc`` defines them (uncontrolled evidence).

Proportions (``x`` events of ``n``; ``outcome_type: single_arm_proportion``):

* ``PLO``: logit, ``yi = log(p/(1-p))``, ``vi = 1/x + 1/(n-x)``;
* ``PAS``: arcsine square root, ``yi = asin(sqrt(p))``, ``vi = 1/(4n)``;
* ``PFT``: Freeman-Tukey double arcsine, ``yi = (asin(sqrt(x/(n+1))) + asin(sqrt((x+1)/(n+1))))/2``,
  ``vi = 1/(4n + 2)``;
* ``PR``: raw proportion, ``yi = p``, ``vi = p(1-p)/n``.

Continuity (metafor ``add``/``to``): ``to="only0"`` adds ``add`` to ``x`` and ``n - x`` of a study
with ``x = 0`` or ``x = n``, ``"all"`` to every study, ``"if0all"`` to every study of a ``group``
(analysis) that has such a study, ``"none"`` never. As in ``escalc`` called without ``add``,
``PAS`` and ``PFT`` are never corrected (metafor sets ``add = 0`` for them); ``PR`` and ``PLO``
use the corrected counts for both yi and vi (``addyi = addvi = TRUE``).

Back-transformations (metafor ``transf.*``): ``PLO`` ``plogis``; ``PAS`` ``sin(x)^2`` (clipped to
[0, 1]); ``PFT`` the Miller (1978) inversion ``transf.ipft`` with the study's own ``n``, and for a
pooled value ``transf.ipft.hm`` with the harmonic mean of the analysis's ``n`` (this is the
back-transformation Schwarzer et al. 2019, Res Synth Methods 10:476, show can mislead); ``PR``
the identity.

Pre-post change (``outcome_type: single_arm_change``; ``m1`` follow-up and ``m2`` baseline means,
SDs ``sd1``/``sd2``, ``n`` participants, pre-post correlation ``ri``):

* ``MC``: ``yi = m1 - m2``, ``vi = (sd1^2 + sd2^2 - 2 ri sd1 sd2)/n``; given the change directly
  (``mean_change``, ``sd_change``): ``vi = sd_change^2/n`` (the correlation is then not needed);
* ``SMCR``: ``yi = J (m1 - m2)/sd_baseline`` with ``J = exp(lgamma(m/2) - log(sqrt(m/2)) -
  lgamma((m-1)/2))``, ``m = n - 1`` (undefined for n <= 2), ``vi = 2(1 - ri)/n + yi^2/(2n)``
  (Becker 1988; metafor's ``vtype="LS"``; escalc called with ``m1i`` = follow-up, ``m2i`` =
  baseline, ``sd1i`` = baseline SD).

Per-study exact (Clopper-Pearson 1934) intervals: :func:`clopper_pearson`.

References
----------
Becker BJ (1988). Synthesizing standardized mean-change measures. Br J Math Stat Psychol 41:257.
Clopper CJ, Pearson ES (1934). The use of confidence or fiducial limits. Biometrika 26:404.
Miller JJ (1978). The inverse of the Freeman-Tukey double arcsine transformation. Am Stat 32:138.
Schwarzer G, Chemaitelly H, Abu-Raddad LJ, Ruecker G (2019). Seriously misleading results using
inverse of Freeman-Tukey double arcsine transformation in meta-analysis of single proportions.
Res Synth Methods 10:476-483.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from trialmeta.stats.effect_sizes import CONTINUITY_TO, EffectSizes

__all__ = [
    "PROPORTION_MEASURES",
    "CHANGE_MEASURES",
    "PROPORTION_SCALES",
    "proportion_effects",
    "change_effects",
    "back_transform",
    "clopper_pearson",
    "harmonic_mean",
    "SCHWARZER_WARNING",
]

PROPORTION_MEASURES = ("PLO", "PAS", "PFT", "PR")
CHANGE_MEASURES = ("MC", "SMCR")
#: measure -> scale name written in the tables' ``scale`` column
PROPORTION_SCALES = {"PLO": "logit", "PAS": "arcsine", "PFT": "pft", "PR": "proportion"}
SCHWARZER_WARNING = (
    "PFT (Freeman-Tukey double arcsine): the pooled proportion is back-transformed with the "
    "harmonic mean of the sample sizes (metafor transf.ipft.hm), which can give seriously "
    "misleading results (Schwarzer et al. 2019, Res Synth Methods 10:476); prefer PLO or the "
    "GLMM."
)


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _corrected_cells(x, n, add, to, group):
    """Events, non-events and the 'corrected' flag after metafor's continuity rule."""
    if to not in CONTINUITY_TO:
        raise ValueError(f"continuity 'to' must be one of {CONTINUITY_TO}, not {to!r}")
    m = n - x
    zero = (x == 0) | (m == 0)
    if to == "all":
        corr = np.ones(x.shape, bool)
    elif to == "only0":
        corr = zero
    elif to == "if0all":
        if group is None:
            corr = np.full(x.shape, bool(zero.any()))
        else:
            _, codes = np.unique(np.asarray(group).ravel(), return_inverse=True)
            any0 = np.bincount(codes, weights=zero.ravel().astype(float)) > 0
            corr = any0[codes].reshape(x.shape)
    else:
        corr = np.zeros(x.shape, bool)
    if add == 0:
        corr = np.zeros(x.shape, bool)
    inc = np.where(corr, float(add), 0.0)
    return x + inc, m + inc, corr


def proportion_effects(x, n, measure="PLO", *, add=0.5, to="only0", group=None) -> EffectSizes:
    """``PLO``/``PAS``/``PFT``/``PR`` of ``x`` events out of ``n`` (see the module docstring).

    ``group`` (one label per study) is the analysis of each study for ``to="if0all"``. Studies
    whose yi/vi are not finite or vi <= 0 are flagged by :meth:`EffectSizes.invalid`.
    """
    if measure not in PROPORTION_MEASURES:
        raise ValueError(f"proportion measure must be one of {PROPORTION_MEASURES}")
    x, n = np.broadcast_arrays(_f(x), _f(n))
    if measure in ("PAS", "PFT"):
        add = 0.0  # escalc's default for these measures
    xc, mc, corr = _corrected_cells(x, n, add, to, group)
    nc = xc + mc
    with np.errstate(divide="ignore", invalid="ignore"):
        p = xc / nc
        if measure == "PLO":
            yi, vi = np.log(p / (1 - p)), 1 / xc + 1 / mc
        elif measure == "PR":
            yi, vi = p, p * (1 - p) / nc
        elif measure == "PAS":
            yi, vi = np.arcsin(np.sqrt(p)), 1 / (4 * nc)
        else:
            yi = 0.5 * (np.arcsin(np.sqrt(xc / (nc + 1))) + np.arcsin(np.sqrt((xc + 1) / (nc + 1))))
            vi = 1 / (4 * nc + 2)
        sei = np.sqrt(vi)
    none = np.zeros(x.shape, bool)
    return EffectSizes(yi, vi, sei, corr, none, PROPORTION_SCALES[measure], measure)


def _cmi(mi):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            mi > 1,
            np.exp(
                special.gammaln(mi / 2) - np.log(np.sqrt(mi / 2)) - special.gammaln((mi - 1) / 2)
            ),
            np.nan,
        )


def change_effects(
    n,
    measure="MC",
    *,
    ri=0.5,
    mean_baseline=None,
    sd_baseline=None,
    mean_followup=None,
    sd_followup=None,
    mean_change=None,
    sd_change=None,
) -> EffectSizes:
    """``MC``/``SMCR`` per study: follow-up minus baseline (see the module docstring).

    Each study uses its baseline/follow-up means and SDs where they are all finite, otherwise
    ``mean_change``/``sd_change``. ``SMCR`` needs the baseline SD; from a change alone it is NaN.
    """
    if measure not in CHANGE_MEASURES:
        raise ValueError(f"change measure must be one of {CHANGE_MEASURES}")
    n = _f(n)
    nan = np.full(n.shape, np.nan)

    def arr(v):
        return nan if v is None else np.broadcast_to(_f(v), n.shape)

    m2, s2, m1, s1 = arr(mean_baseline), arr(sd_baseline), arr(mean_followup), arr(sd_followup)
    dm, ds = arr(mean_change), arr(sd_change)
    ri = np.broadcast_to(_f(ri), n.shape)
    arms = np.isfinite(m1) & np.isfinite(m2) & np.isfinite(s1) & np.isfinite(s2)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(arms, m1 - m2, dm)
        if measure == "MC":
            yi = diff
            vi = np.where(arms, (s1**2 + s2**2 - 2 * ri * s1 * s2) / n, ds**2 / n)
        else:
            yi = _cmi(n - 1) * diff / s2
            vi = 2 * (1 - ri) / n + yi**2 / (2 * n)
        sei = np.sqrt(vi)
    none = np.zeros(n.shape, bool)
    return EffectSizes(yi, vi, sei, none, none.copy(), "raw", measure)


def harmonic_mean(n, mask=None, axis=-1):
    """``1/mean(1/n)`` over ``axis`` (only where ``mask``), as metafor's ``transf.ipft.hm``."""
    n = _f(n)
    mask = np.ones(n.shape, bool) if mask is None else np.asarray(mask, bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(mask, 1.0 / n, 0.0)
        return mask.sum(axis=axis) / inv.sum(axis=axis)


def _ipft(xi, ni):
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sin(2 * xi)
        z = 0.5 * (1 - np.sign(np.cos(2 * xi)) * np.sqrt(1 - (s + (s - 1 / s) / ni) ** 2))
        top = 0.5 * (np.arcsin(np.sqrt(ni / (ni + 1))) + np.arcsin(np.sqrt((ni + 1) / (ni + 1))))
        bottom = 0.5 * (np.arcsin(np.sqrt(0 / (ni + 1))) + np.arcsin(np.sqrt(1 / (ni + 1))))
    z = np.where(xi > top, 1.0, z)
    z = np.where(xi < bottom, 0.0, z)
    return z


def back_transform(values, measure, n=None) -> np.ndarray:
    """Proportion from a value on the scale of ``measure`` (metafor's ``transf.*``).

    ``n``: for ``PFT`` the sample size (a study's own, or the harmonic mean of an analysis for a
    pooled value, :func:`harmonic_mean`); ignored for the others. Non-proportion measures: NaN.
    """
    v = _f(values)
    if measure == "PLO":
        return special.expit(v)
    if measure == "PAS":
        with np.errstate(invalid="ignore"):
            return np.where(v < 0, 0.0, np.where(v > np.pi / 2, 1.0, np.sin(v) ** 2))
    if measure == "PFT":
        return _ipft(v, np.broadcast_to(_f(n), v.shape))
    if measure == "PR":
        return v.copy()
    return np.full(v.shape, np.nan)


def clopper_pearson(x, n, level=0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) interval of the proportion ``x/n``: beta quantiles, 0 / 1 at the
    edges (``x = 0`` / ``x = n``)."""
    x, n = np.broadcast_arrays(_f(x), _f(n))
    a = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(x > 0, special.betaincinv(x, n - x + 1, a), 0.0)
        hi = np.where(x < n, special.betaincinv(x + 1, n - x, 1 - a), 1.0)
    return lo, hi
