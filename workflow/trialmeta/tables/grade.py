"""GRADE signals per analysis, each with its reason in words, and the suggested certainty.

The rules below *suggest*; they never decide silently. Every domain gets a signal (``not
serious``, ``serious``, ``very serious``, or ``not assessed`` / ``not assessable`` with the reason
why), the number of levels it takes off, and a sentence giving the numbers behind it. A reviewer's
judgements file (:mod:`trialmeta.inputs.grade_judgements`) replaces the signal of exactly the
domains and analyses it names; the table keeps both, with the reviewer's reason.

* **Risk of bias** (Guyatt et al. 2011, GRADE 4): the share of the analysis's random-effects
  weight from trials at high risk and at some concerns (RoB 2 overall, ``risk_of_bias.csv``);
  serious when trials at high risk or some concerns carry at least half the weight, very serious
  when trials at high risk alone do; also serious when the estimate restricted to trials at low
  risk (``rob_sensitivity.csv``) no longer excludes no effect while the primary one does. Without
  judgements: "not assessed" (never "low"), no level taken off, and the reason says so.
* **Inconsistency** (GRADE 7): I² with its Q-profile CI, whether the prediction interval includes
  no effect when the CI does not, and how many trial estimates lie on each side of no effect;
  serious when I² >= 50% and (the PI crosses no effect while the CI does not, or the trials point
  both ways), very serious when I² >= 75% and both hold. One trial: not assessable.
* **Imprecision** (GRADE 6): the CI against no effect and against the minimal important
  difference (config ``minimal_important_difference``; for ratios 0.75 and 1.25 by default);
  serious when the CI includes no effect (or, with a configured MID, effects smaller than it),
  very serious when it includes appreciable benefit and appreciable harm; serious when fewer
  participants than the optimal information size (OIS,
  :func:`trialmeta.stats.absolute_effects.ois_binary` / ``ois_continuous``) were randomised.
* **Indirectness** (GRADE 8): the reviewer's only; "not assessed" unless judged.
* **Publication bias** (GRADE 5): Egger's test (random-effects version) when k >=
  ``small_study_min_k``, serious when P < 0.10; else "not assessable".

Certainty starts high for randomised comparisons and low for single-arm outcomes
(``single_arm_proportion``, ``single_arm_change``) and loses the levels of all domains (at least
very low).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trialmeta.inputs.grade_judgements import DOMAINS, JUDGEMENTS

__all__ = [
    "DOMAINS",
    "DOMAIN_NAMES",
    "CERTAINTY",
    "SINGLE_ARM_TYPES",
    "rob_signal",
    "inconsistency_signal",
    "imprecision_signal",
    "publication_bias_signal",
    "indirectness_signal",
    "apply_judgements",
    "certainty_of",
]

DOMAIN_NAMES = {
    "risk_of_bias": "risk of bias",
    "inconsistency": "inconsistency",
    "indirectness": "indirectness",
    "imprecision": "imprecision",
    "publication_bias": "publication bias",
}
#: certainty level (4 = high) -> word
CERTAINTY = {4: "high", 3: "moderate", 2: "low", 1: "very low"}
SINGLE_ARM_TYPES = ("single_arm_proportion", "single_arm_change")
#: Egger's test P below this suggests small-study effects (Sterne et al. 2011 BMJ 343:d4002)
EGGER_ALPHA = 0.10


def _signal(levels: int, reason: str, status: str | None = None) -> dict:
    words = {0: "not serious", 1: "serious", 2: "very serious"}
    return {"signal": status or words[levels], "downgrade": int(levels), "reason": reason}


def _num(x, digits=2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "NA"
    return f"{x:.{digits}f}"


def _crosses(lo, hi, null) -> bool:
    return bool(lo <= null <= hi)


def rob_signal(rob: pd.DataFrame | None, sens: pd.DataFrame | None, prim: dict) -> dict:
    """Risk-of-bias signal from the analysis's rows of ``risk_of_bias.csv`` and
    ``rob_sensitivity.csv`` (either may be None or empty) and its primary result ``prim``
    (``estimate``, ``ci_low``, ``ci_high`` natural scale, ``null``, ``measure``)."""
    if rob is None or not len(rob):
        return _signal(
            0, "not assessed: no risk-of-bias judgements for these trials", "not assessed"
        )
    overall = rob["overall"].fillna("").astype(str).str.strip().str.lower()
    judged = overall.isin(["low", "some concerns", "high"])
    if not judged.any():
        return _signal(
            0, "not assessed: no overall risk-of-bias judgement for these trials", "not assessed"
        )
    w = pd.to_numeric(rob["weight_percent"], errors="coerce").fillna(0.0)
    high, some = float(w[overall == "high"].sum()), float(w[overall == "some concerns"].sum())
    missing = max(0.0, 100.0 - float(w[judged].sum()))
    levels = 2 if high >= 50 else 1 if high + some >= 50 else 0
    parts = [
        f"{high:.0f}% of the weight from trials at high risk, {some:.0f}% at some concerns"
        + (f", {missing:.0f}% from trials without a judgement" if missing >= 0.5 else "")
    ]
    low = _restriction(sens, "low_risk_only")
    if low is None or not low.get("k"):
        parts.append("no trial at low risk to restrict to")
    else:
        est, lo, hi = low["estimate"], low["ci_low"], low["ci_high"]
        parts.append(
            f"restricted to {int(low['k'])} trial(s) at low risk: {prim['measure']} {_num(est)} "
            f"({_num(lo)} to {_num(hi)}) vs {_num(prim['estimate'])} with all trials"
        )
        primary_clear = not _crosses(prim["ci_low"], prim["ci_high"], prim["null"])
        if primary_clear and np.isfinite(lo) and _crosses(lo, hi, prim["null"]):
            levels = max(levels, 1)
            parts.append("the low-risk estimate no longer excludes no effect")
    return _signal(levels, "; ".join(parts))


def _restriction(sens: pd.DataFrame | None, name: str) -> dict | None:
    if sens is None or not len(sens):
        return None
    rows = sens[sens["restriction"].astype(str) == name]
    if not len(rows):
        return None
    r = rows.iloc[0]
    ratio = str(r.get("scale", "")) == "log"
    pick = (lambda c: r.get(f"{c}_exp")) if ratio else (lambda c: r.get(c))
    return {
        "k": int(pd.to_numeric(r.get("k"), errors="coerce") or 0),
        "estimate": float(pd.to_numeric(pick("estimate"), errors="coerce")),
        "ci_low": float(pd.to_numeric(pick("ci_low"), errors="coerce")),
        "ci_high": float(pd.to_numeric(pick("ci_high"), errors="coerce")),
    }


def inconsistency_signal(prim: dict, yi: np.ndarray) -> dict:
    """I² (with CI), PI against CI, and the directions of the trial estimates ``yi`` (on the
    scale of the model: log for ratios, where no effect is 0)."""
    k = int(prim["k"])
    if k < 2:
        return _signal(0, "not assessable: a single trial", "not assessable")
    if not np.isfinite(prim["null"]):  # single-arm: no effect to compare with, I² only
        text = f"I² = {prim['I2']:.0f}% (95% CI {prim['I2_ci_low']:.0f}% to "
        text += f"{prim['I2_ci_high']:.0f}%); single-arm evidence, judged on I² alone"
        return _signal(1 if prim["I2"] >= 50 else 0, text)
    i2, lo, hi = prim["I2"], prim["I2_ci_low"], prim["I2_ci_high"]
    ci_crosses = _crosses(prim["ci_low"], prim["ci_high"], prim["null"])
    pi_known = np.isfinite(prim["pi_low"]) and np.isfinite(prim["pi_high"])
    pi_crosses = pi_known and _crosses(prim["pi_low"], prim["pi_high"], prim["null"])
    above, below = int(np.sum(yi > 0)), int(np.sum(yi < 0))
    both_ways = above > 0 and below > 0
    pi_flag = pi_crosses and not ci_crosses
    parts = [f"I² = {i2:.0f}% (95% CI {lo:.0f}% to {hi:.0f}%)"]
    if not pi_known:
        parts.append("no prediction interval")
    elif pi_flag:
        parts.append("the prediction interval includes no effect, the CI does not")
    else:
        parts.append(
            "the prediction interval "
            + ("and the CI both include no effect" if pi_crosses else "excludes no effect")
        )
    parts.append(
        f"trial estimates: {above} above and {below} below no effect"
        if both_ways
        else "all trial estimates on the same side of no effect"
    )
    levels = 0
    if i2 >= 50 and (pi_flag or both_ways):
        levels = 2 if (i2 >= 75 and pi_flag and both_ways) else 1
    return _signal(levels, "; ".join(parts))


def imprecision_signal(prim: dict, participants: float, ois: float, mid: dict) -> dict:
    """CI against no effect and the MID thresholds ``mid`` (``low``, ``high`` on the natural
    scale, ``given`` True when configured), and the participants against the OIS."""
    null, lo, hi = prim["null"], prim["ci_low"], prim["ci_high"]
    if not np.isfinite(null):
        return _signal(
            0,
            f"not assessable: single-arm evidence (CI {_num(lo)} to {_num(hi)}, "
            f"{int(participants):,} participants); the reviewer judges the CI's width",
            "not assessable",
        )
    crosses = _crosses(lo, hi, null)
    t_lo, t_hi = mid.get("low"), mid.get("high")
    has_mid = t_lo is not None and t_hi is not None
    both = has_mid and lo <= t_lo and hi >= t_hi
    parts, levels = [], 0
    if crosses:
        levels = 2 if both else 1
        parts.append(f"the CI ({_num(lo)} to {_num(hi)}) includes no effect")
        if both:
            parts.append(f"and both appreciable benefit and harm ({_num(t_lo)} and {_num(t_hi)})")
    else:
        parts.append(f"the CI ({_num(lo)} to {_num(hi)}) excludes no effect")
        side = t_hi if prim["estimate"] > null else t_lo
        if has_mid and mid.get("given") and min(lo, hi) <= side <= max(lo, hi):
            levels = 1
            parts.append(f"but includes effects smaller than the MID ({_num(side)})")
    if np.isfinite(ois):
        short = participants < ois
        parts.append(
            f"{int(participants):,} participants "
            + ("fewer than" if short else "at least")
            + f" the optimal information size of {int(ois):,}"
        )
        if short:
            levels = max(levels, 1)
    else:
        parts.append("optimal information size not computable")
    return _signal(levels, "; ".join(parts))


def publication_bias_signal(k: int, min_k: int, egger_p, trimfill_k0=None) -> dict:
    """Egger's test when ``k >= min_k`` (config ``small_study_min_k``), else not assessable."""
    if k < min_k:
        return _signal(
            0,
            f"not assessable: {k} trials, fewer than small_study_min_k = {min_k}",
            "not assessable",
        )
    if egger_p is None or not np.isfinite(egger_p):
        return _signal(0, "not assessable: Egger's test could not be computed", "not assessable")
    extra = f"; trim-and-fill adds {int(trimfill_k0)} trial(s)" if trimfill_k0 else ""
    if egger_p < EGGER_ALPHA:
        return _signal(1, f"Egger's test P = {egger_p:.3f} < {EGGER_ALPHA}{extra}")
    return _signal(0, f"Egger's test P = {egger_p:.3f}{extra}")


def indirectness_signal() -> dict:
    return _signal(
        0, "not assessed: judged by the reviewer only (grade_judgements)", "not assessed"
    )


def apply_judgements(signals: dict[str, dict], judgements: pd.DataFrame | None) -> dict:
    """``signals`` (domain -> signal dict) with the reviewer's judgements of this analysis put
    in place of the domains they name (``overridden``, ``suggested`` and ``override_reason``
    kept); the other domains unchanged."""
    out = {
        d: dict(
            s,
            suggested=s["signal"],
            suggested_downgrade=s["downgrade"],
            overridden=False,
            override_reason="",
        )
        for d, s in signals.items()
    }
    if judgements is None or not len(judgements):
        return out
    for rec in judgements.to_dict("records"):
        d = rec["domain"]
        out[d].update(
            signal=rec["judgement"],
            downgrade=JUDGEMENTS[rec["judgement"]],
            overridden=True,
            override_reason=rec["reason"],
        )
    return out


def certainty_of(start: int, signals: dict[str, dict], key: str = "downgrade") -> str:
    """The certainty word after taking off the levels of every domain (at least very low)."""
    return CERTAINTY[max(1, start - sum(int(signals[d][key]) for d in DOMAINS))]
