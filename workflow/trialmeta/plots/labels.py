"""Words and numbers shown to a reader: measure names, natural units, effect and p-value text,
which side of a forest plot favours the therapy. Shared by the forest plots and the HTML report
(no matplotlib import here).

Direction convention (the one used by the engine for every measure): an effect compares therapy
with comparator (therapy / comparator for ratios, therapy - comparator for differences), so an
effect above the null value (1 for ratios, 0 for differences) means *more* of the outcome with the
therapy. For an outcome where higher is better (response, live birth) the right side of the line of
no effect favours the therapy; for an adverse outcome (disability progression, serious adverse
events, a change score where lower is better) the left side does. Ratio and difference measures
follow the same rule; only the null value differs.
"""

from __future__ import annotations

import math
import re
import textwrap
import unicodedata

import numpy as np
import pandas as pd

from trialmeta.inputs.booleans import parse_bool

__all__ = [
    "MEASURE_NAMES",
    "measure_info",
    "to_natural",
    "choose_decimals",
    "format_number",
    "format_effect",
    "format_p",
    "parse_bool",
    "favours_therapy_side",
    "favours_labels",
    "favours_lines",
    "wrap_lines",
    "ci_method_text",
    "clean_text",
    "analysis_labels",
    "describe_status",
    "level_text",
]

#: Display names (RevMan wording). Generic measures given on the log scale (logHR) are shown
#: back-transformed (HR).
MEASURE_NAMES = {
    "OR": "Odds Ratio",
    "LOGOR": "Odds Ratio",
    "RR": "Risk Ratio",
    "LOGRR": "Risk Ratio",
    "HR": "Hazard Ratio",
    "LOGHR": "Hazard Ratio",
    "IRR": "Rate Ratio",
    "LOGIRR": "Rate Ratio",
    "RD": "Risk Difference",
    "MD": "Mean Difference",
    "IRD": "Rate Difference",
    "ROM": "Ratio of Means",
    "SMD": "Std. Mean Difference",
    "PETO_OR": "Peto Odds Ratio",
}
_RATIO = {"OR", "RR", "HR", "IRR", "LOGOR", "LOGRR", "LOGHR", "LOGIRR", "PETO_OR", "ROM"}


def measure_info(measure, scale=None) -> tuple[str, bool, float]:
    """``(display name, is_ratio, null value)`` for a measure code and its analysis scale.

    ``scale == "log"`` (pooled.csv) decides; without it the measure code does.
    """
    code = str(measure or "").strip()
    key = code.upper()
    if scale is not None and not (isinstance(scale, float) and math.isnan(scale)) and str(scale):
        is_ratio = str(scale).lower() == "log"
    else:
        is_ratio = key in _RATIO
    name = MEASURE_NAMES.get(key)
    if name is None:
        base = code[3:] if key.startswith("LOG") and is_ratio else code
        name = base or "Effect"
    return name, is_ratio, (1.0 if is_ratio else 0.0)


def to_natural(x, is_ratio: bool):
    """Back-transform from the analysis scale (log for ratios) to natural units."""
    arr = np.asarray(x, dtype=float)
    out = np.exp(arr) if is_ratio else arr
    return out if out.ndim else float(out)


def choose_decimals(values, is_ratio: bool) -> int:
    """Decimals for a set of effects in natural units: 2 (RevMan) unless the values are small."""
    vals = np.abs(np.asarray([v for v in np.ravel(values) if v is not None], dtype=float))
    vals = vals[np.isfinite(vals)]
    if is_ratio or vals.size == 0:
        return 2
    scale = np.nanmax(vals)
    if scale == 0 or scale >= 0.1:
        return 2
    return int(min(6, 1 + math.ceil(-math.log10(scale))))


def format_number(x, decimals: int = 2) -> str:
    """A number for display (minus sign as U+2212), ``-`` (en dash) when missing."""
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return "\u2013"
    if not math.isfinite(xf):
        return "\u2013" if math.isnan(xf) else ("\u221e" if xf > 0 else "\u2212\u221e")
    text = f"{xf:.{decimals}f}"
    if text.startswith("-"):
        text = "\u2212" + text[1:] if float(text) != 0 else text[1:]
    return text


def format_effect(est, lo, hi, decimals: int = 2) -> str:
    """``"1.23 [0.98, 1.54]"``; ``"not estimable"`` when the estimate is missing."""
    try:
        if not math.isfinite(float(est)):
            return "not estimable"
    except (TypeError, ValueError):
        return "not estimable"
    return f"{format_number(est, decimals)} [{format_number(lo, decimals)}, {format_number(hi, decimals)}]"


def format_p(p) -> str:
    """RevMan style: ``P < 0.00001``; ``P = 0.0004``; ``P = 0.004``; else two decimals ``P = 0.36``."""
    try:
        p = float(p)
    except (TypeError, ValueError):
        return "P not available"
    if not math.isfinite(p):
        return "P not available"
    if p < 1e-5:
        return "P < 0.00001"
    if p < 0.001:
        decimals = -int(math.floor(math.log10(p)))
        return f"P = {p:.{decimals}f}"
    if p < 0.01:
        return f"P = {p:.3f}"
    return f"P = {p:.2f}"


def favours_therapy_side(higher_is_better) -> str | None:
    """``"right"`` or ``"left"``: where effects favouring the therapy lie; None if unknown.

    Effects above the null mean more of the outcome with the therapy, so the therapy is favoured on
    the right for a good outcome (``higher_is_better`` true) and on the left for an adverse one,
    for ratio and difference measures alike.
    """
    hib = parse_bool(higher_is_better)
    if hib is None:
        return None
    return "right" if hib else "left"


def favours_labels(therapy_label: str, comparator_label: str, higher_is_better) -> tuple[str, str]:
    """``(left text, right text)`` for under the forest plot axis."""
    side = favours_therapy_side(higher_is_better)
    if side == "right":
        return f"Favours {comparator_label}", f"Favours {therapy_label}"
    if side == "left":
        return f"Favours {therapy_label}", f"Favours {comparator_label}"
    return f"Lower with {therapy_label}", f"Higher with {therapy_label}"


#: A favours label longer than this many lines ends in an ellipsis (about 300 characters).
FAVOURS_MAX_LINES = 10


def wrap_lines(text: str, width: int, max_lines: int = FAVOURS_MAX_LINES) -> list[str]:
    """``text`` wrapped at spaces into lines of at most ``width`` characters (a longer word is
    broken); beyond ``max_lines`` the last line ends in an ellipsis. Nothing else is cut."""
    lines = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(1, width - 1)].rstrip() + "\u2026"
    return lines


def favours_lines(
    therapy_label: str, comparator_label: str, higher_is_better, width: int
) -> tuple[list[str], list[str]]:
    """The favours labels (:func:`favours_labels`) of the left and right half of a forest plot's
    axis, each wrapped onto as many lines as it needs (:func:`wrap_lines`)."""
    left, right = favours_labels(
        clean_text(therapy_label), clean_text(comparator_label), higher_is_better
    )
    return wrap_lines(left, width), wrap_lines(right, width)


_CI_METHODS = {
    "hksj": "Hartung-Knapp-Sidik-Jonkman",
    "hksj_adhoc": "modified HKSJ (Knapp & Hartung 2003)",
    "wald": "Wald (normal)",
}


def ci_method_text(ci_method) -> str:
    """Words for a ``ci_method`` code (``hksj``, ``hksj_adhoc``, ``wald``); other codes as
    written."""
    code = clean_text(ci_method)
    return _CI_METHODS.get(code.lower(), code)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(value, max_len: int | None = None) -> str:
    """Text safe to draw: control characters to spaces, bidi overrides/isolates removed (they
    would reorder the rest of a plot line), whitespace collapsed, cut to ``max_len`` with ``...``.

    Used for plots only; the HTML report shows the text as written (escaped by Jinja2, isolated
    with ``<bdi>``).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = _CONTROL.sub(" ", str(value))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = " ".join(text.split())
    if max_len is not None and len(text) > max_len:
        text = text[: max(1, max_len - 1)].rstrip() + "\u2026"
    return text


def _common(values: pd.Series):
    vals = [
        v for v in values.tolist() if not (v is None or (isinstance(v, float) and math.isnan(v)))
    ]
    uniq = list(dict.fromkeys(str(v) for v in vals))
    return uniq


def analysis_labels(rows: pd.DataFrame) -> dict:
    """Labels of one analysis from its trial rows: therapy, comparator, condition, outcome,
    outcome_type, higher_is_better (True/False/None when missing or mixed).

    The therapy label is the common ``therapy`` when all rows agree, else ``therapy_class``, else
    the distinct therapies joined with `` / ``.
    """
    out = {}
    for col in ("comparator", "condition", "outcome", "outcome_type"):
        vals = _common(rows[col]) if col in rows else []
        out[col] = " / ".join(vals) if vals else ""
    therapies = _common(rows["therapy"]) if "therapy" in rows else []
    classes = _common(rows["therapy_class"]) if "therapy_class" in rows else []
    if len(therapies) == 1:
        out["therapy"] = therapies[0]
    elif len(classes) == 1:
        out["therapy"] = classes[0]
    else:
        out["therapy"] = " / ".join(therapies) if therapies else "therapy"
    if not out["comparator"]:
        out["comparator"] = "comparator"
    hib = (
        {parse_bool(v) for v in rows["higher_is_better"].tolist()}
        if "higher_is_better" in rows
        else {None}
    )
    hib.discard(None)
    out["higher_is_better"] = hib.pop() if len(hib) == 1 else None
    return out


_STATUS_WORDS = {
    "tau2_boundary": "tau\u00b2 estimated as 0 (on the boundary of its range)",
    "not_converged": "the tau\u00b2 estimator did not converge within its iteration cap",
    "single_study": "single study, nothing pooled",
    "no_events": "no events in any study",
    "tau2_ci_lb<": "the lower bound of the tau\u00b2 confidence interval is below the search interval (set to 0)",
    "tau2_ci_ub>": "the upper bound of the tau\u00b2 confidence interval lies beyond the search interval",
    "tau2_ci_not_converged": "the Q-profile confidence interval of tau\u00b2 did not converge",
    "studies_without_effect": "{arg} stud(ies) without an effect size were listed but not pooled",
    "overlapping_cohort": "{arg} stud(ies) of an overlapping cohort (same cohort_id) listed but not pooled; the largest is pooled",
    "failed": "failed: {arg}",
}
_STATUS_SHORT = {
    "tau2_boundary": "tau\u00b2 = 0 (boundary)",
    "not_converged": "not converged",
    "single_study": "single study",
    "no_events": "no events",
    "tau2_ci_lb<": "",
    "tau2_ci_ub>": "",
    "tau2_ci_not_converged": "tau\u00b2 CI not converged",
    "studies_without_effect": "{arg} not pooled",
    "overlapping_cohort": "{arg} overlapping, not pooled",
    "failed": "failed: {arg}",
}


def describe_status(status: str, short: bool = False) -> str:
    """Plain words for a pooled.csv status (``ok`` parts dropped; unknown parts shown as written).

    ``short=True`` gives the index-table version, which leaves out notes that only concern the
    confidence interval of tau\u00b2 (``tau2_ci_lb<``, ``tau2_ci_ub>``).
    """
    table = _STATUS_SHORT if short else _STATUS_WORDS
    words = []
    for part in str(status or "").split(";"):
        part = part.strip()
        if not part or part == "ok":
            continue
        key, _, arg = part.partition(":")
        if key in table:
            text = table[key].format(arg=clean_text(arg, 80))
        else:
            text = clean_text(part, 80)
        if text and text not in words:
            words.append(text)
    return "; ".join(words)


def level_text(settings=None) -> str:
    """The confidence level of the pooled intervals as text, e.g. ``95%`` (``level`` of a
    :class:`~trialmeta.inputs.settings.Settings` or of a config dict; None: the schema default)."""
    from trialmeta.inputs.settings import Settings

    return f"{float(Settings.coerce(settings).level) * 100:g}%"
