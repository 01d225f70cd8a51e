"""Forgiving names: the canonical spelling of a config value, and suggestions for near-miss names.

Config values from a fixed list (estimators, CI methods, measures, ...) are accepted in any case
and turned into the canonical spelling before the config is checked (``reml`` -> ``REML``,
``HKSJ`` -> ``hksj``). Column names of the trial tables are never renamed silently: a missing
column gets a suggestion instead, found by comparing *normalised* header names:

* lower case, every run of characters other than letters and digits becomes one ``_``;
* common synonyms: ``treatment``/``treated``/``intervention``/``experimental``/``trt`` ->
  ``treat``, ``control``/``controls``/``ctl`` -> ``ctrl``, ``event`` -> ``events``;
* the same words in another order also match (``Treatment events`` -> ``events_treat``), and
  so does a name without its ``_id`` (``Study`` -> ``study_id``);
* otherwise a close match (:func:`difflib.get_close_matches`, cutoff 0.8) of the normalised names.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

__all__ = ["canonical_choice", "close_choice", "normalise_name", "suggest_column"]

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
SYNONYMS = {
    "treatment": "treat",
    "treated": "treat",
    "intervention": "treat",
    "experimental": "treat",
    "trt": "treat",
    "control": "ctrl",
    "controls": "ctrl",
    "ctl": "ctrl",
    "event": "events",
}
#: similarity (difflib ratio) above which a value or name counts as a near miss
CHOICE_CUTOFF = 0.7
COLUMN_CUTOFF = 0.8


def canonical_choice(value, choices):
    """The entry of ``choices`` equal to ``value`` ignoring case and surrounding spaces, else
    ``value`` unchanged (also when it is not a string)."""
    if not isinstance(value, str):
        return value
    wanted = value.strip().casefold()
    for choice in choices:
        if isinstance(choice, str) and choice.casefold() == wanted:
            return choice
    return value


def close_choice(value, choices) -> str | None:
    """The entry of ``choices`` closest to ``value`` (case-insensitive), or None."""
    texts = {str(c).casefold(): str(c) for c in choices}
    close = difflib.get_close_matches(str(value).casefold(), list(texts), n=1, cutoff=CHOICE_CUTOFF)
    return texts[close[0]] if close else None


def normalise_name(name: str) -> str:
    """A column name reduced for comparison (see the module docstring)."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    words = [w for w in _NON_ALNUM.split(text.lower()) if w]
    return "_".join(SYNONYMS.get(w, w) for w in words)


def suggest_column(wanted: str, available) -> str | None:
    """The name in ``available`` that is most likely meant by ``wanted``, or None.

    ``available`` should hold only names that are not themselves recognised columns, so that
    ``events_ctrl`` is never offered for a missing ``events_treat``.
    """
    available = [a for a in available if a != wanted]
    target = normalise_name(wanted)
    if not target:
        return None
    norm = {a: normalise_name(a) for a in available}
    for a, n in norm.items():
        if n == target:
            return a
    words = sorted(target.split("_"))
    for a, n in norm.items():
        if sorted(n.split("_")) == words or n + "_id" == target:
            return a
    by_norm: dict[str, str] = {}
    for a, n in norm.items():
        by_norm.setdefault(n, a)
    close = difflib.get_close_matches(target, list(by_norm), n=1, cutoff=COLUMN_CUTOFF)
    return by_norm[close[0]] if close else None
