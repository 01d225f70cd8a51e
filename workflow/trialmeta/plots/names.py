"""File names of the per-analysis figures (no matplotlib import: the report and the publish job
use these too).

Every figure of an analysis lives flat in its figure job's directory:

* ``<analysis_id>.<fmt>``: the forest plot;
* ``<analysis_id>.<kind>.<fmt>``: an exploration figure, ``kind`` one of ``funnel``,
  ``leave_one_out``, ``cumulative``, ``subgroups-<moderator>``, ``bubble-<moderator>``.

Analysis ids never contain a dot (lower-case slug + hash), so the first dot separates the id from
the kind. Moderators are column names of the user's tables: characters other than letters,
digits, ``_`` and ``-`` are replaced, and a short hash of the real name is appended when anything
was replaced, so two moderators never share a file.
"""

from __future__ import annotations

import hashlib
import json
import re

__all__ = [
    "EXPLORATION_KINDS",
    "moderator_token",
    "exploration_stem",
    "split_figure_name",
    "is_forest_file",
]

#: Exploration figure kinds, in report order.
EXPLORATION_KINDS = ("subgroups", "bubble", "leave_one_out", "cumulative", "funnel")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def moderator_token(moderator) -> str:
    """A file-name-safe token for a moderator column name (stable, collision-free)."""
    name = str(moderator)
    token = _UNSAFE.sub("_", name)[:60]
    if token != name:
        token += "-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]
    return token


def exploration_stem(analysis_id: str, kind: str, moderator=None) -> str:
    """``<analysis_id>.<kind>[-<moderator token>]`` (without the format extension)."""
    if kind not in EXPLORATION_KINDS:
        raise ValueError(f"unknown exploration figure kind {kind!r}")
    if kind in ("subgroups", "bubble"):
        if moderator is None:
            raise ValueError(f"{kind} figures need a moderator")
        return f"{analysis_id}.{kind}-{moderator_token(moderator)}"
    return f"{analysis_id}.{kind}"


def split_figure_name(name: str) -> tuple[str, str, str]:
    """``(analysis_id, kind, ext)`` of a figure file name; ``kind`` is ``""`` for the forest plot."""
    stem, _, ext = name.rpartition(".")
    aid, _, kind = stem.partition(".")
    return aid, kind, ext


def is_forest_file(name: str) -> bool:
    """True for ``<analysis_id>.<fmt>`` (a forest plot), False for an exploration figure."""
    return split_figure_name(name)[1] == ""


def figure_folder(name: str) -> str:
    """The folder of ``results/figures/`` a figure job's file is published in: ``forest`` or
    ``exploration`` (the report's pages show them from there)."""
    return "forest" if is_forest_file(name) else "exploration"


def posterior_stem(analysis_id: str) -> str:
    """``<analysis_id>.posterior`` (the posterior figure's file name without the format
    extension; :mod:`trialmeta.plots.posterior`)."""
    return f"{analysis_id}.posterior"


#: The columns that identify one within-trial interaction (one interaction figure):
#: :mod:`trialmeta.plots.interaction_forest`, :mod:`trialmeta.report.interactions_section`.
INTERACTION_KEY = ["analysis_id", "subgroup_variable", "level_a", "level_b"]


def interaction_stem(analysis_id: str, variable: str, level_a: str, level_b: str) -> str:
    """``<analysis_id>.interaction-<digest of variable and levels>`` (stable across runs): the
    interaction figure's file name without the format extension."""
    text = json.dumps([variable, level_a, level_b], ensure_ascii=False).encode("utf-8")
    return f"{analysis_id}.interaction-{hashlib.sha256(text).hexdigest()[:10]}"
