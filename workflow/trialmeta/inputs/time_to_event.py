"""Validation of ``time_to_event`` and ``rate`` rows (the rules a JSON schema cannot express).

:mod:`trialmeta.inputs.validate` calls these from its checker: the columns a file needs
(:func:`needed_columns`), the message when a row gives none of its alternatives
(:func:`alternatives_message`) and the rules across the cells of one row (:func:`check_row`):

time_to_event rows (one of, first used when several are given):

* ``estimate, ci_low, ci_high``: the hazard ratio and its 95% CI, all > 0, ``ci_low <= estimate
  <= ci_high`` and ``ci_low < ci_high``;
* ``o_minus_e, v``: ``v > 0`` (the schema);
* ``log_hr, se_log_hr``: ``se_log_hr > 0`` (the schema);
* ``logrank_p, logrank_favours, events_total`` (+ optional ``allocation_ratio``, default 1):
  ``logrank_favours`` is ``treat`` or ``ctrl`` (any case); the HR is approximate (a warning says so).

rate rows: ``events_treat, person_time_treat, events_ctrl, person_time_ctrl`` (events whole
numbers >= 0, person-time > 0: the schema) or a reported rate ratio ``estimate, ci_low, ci_high``
(as the hazard ratio).

Every problem names file, row and column (through the checker's ``err``/``warn``).
"""

from __future__ import annotations

__all__ = [
    "ALTERNATIVE_KINDS",
    "ALTERNATIVES",
    "needed_columns",
    "alternatives_message",
    "check_row",
    "favours_treatment",
    "SOURCE_NAMES",
]

#: outcome types whose rows give one of several sets of cells
ALTERNATIVES = {
    "time_to_event": (
        ("estimate", "ci_low", "ci_high"),
        ("o_minus_e", "v"),
        ("log_hr", "se_log_hr"),
        ("logrank_p", "logrank_favours", "events_total"),
    ),
    "rate": (
        ("events_treat", "person_time_treat", "events_ctrl", "person_time_ctrl"),
        ("estimate", "ci_low", "ci_high"),
    ),
}
ALTERNATIVE_KINDS = tuple(ALTERNATIVES)
#: the names of the time-to-event sources (studies.csv ``hr_source``), in ALTERNATIVES order
SOURCE_NAMES = ("HR + CI", "O-E and V", "log HR + SE", "log-rank p (approximate)")
FAVOURS = {"treat": True, "ctrl": False}


def needed_columns(kind: str, header) -> list:
    """Columns a file with ``kind`` rows must have: none when one alternative is complete in its
    header, otherwise those of the alternative that is most nearly complete."""
    have = set(header)
    alts = ALTERNATIVES[kind]
    if any(set(a) <= have for a in alts):
        return []
    best = max(alts, key=lambda a: sum(c in have for c in a))
    return [c for c in best if c not in have]


def alternatives_message(kind: str) -> str:
    """``time_to_event row needs estimate, ci_low, ci_high; or o_minus_e, v; or ...``."""
    alts = "; or ".join(", ".join(a) for a in ALTERNATIVES[kind])
    return f"{kind} row needs {alts} (cells empty)"


def _given(checker, i, cols) -> bool:
    return all(checker.val(i, c) is not None or checker.cell(i, c) != "" for c in cols)


def favours_treatment(text: str):
    """True (``treat``), False (``ctrl``) or None (anything else), case-insensitive."""
    return FAVOURS.get(str(text or "").strip().casefold())


def _ratio_ci(checker, i, what: str) -> None:
    """estimate > 0 inside its CI, all > 0, a CI of positive width."""
    est, lo, hi = (checker.val(i, c) for c in ("estimate", "ci_low", "ci_high"))
    if None in (est, lo, hi):
        return
    bad = False
    for c, x in (("estimate", est), ("ci_low", lo), ("ci_high", hi)):
        if x <= 0:
            checker.err(i, c, f"must be > 0 ({what} and its CI are ratios)", checker.cell(i, c))
            bad = True
    if bad:
        return
    if lo > hi:
        checker.err(
            i, "ci_low", f"> ci_high={checker.cell(i, 'ci_high')}", checker.cell(i, "ci_low")
        )
    elif not lo <= est <= hi:
        checker.err(
            i,
            "estimate",
            f"{what} outside its CI [{checker.cell(i, 'ci_low')}, {checker.cell(i, 'ci_high')}]"
            " (the CI must contain the estimate)",
            checker.cell(i, "estimate"),
        )
    elif lo == hi:
        checker.err(
            i,
            "ci_low",
            f"= ci_high={checker.cell(i, 'ci_high')}: a zero-width CI gives no standard error",
            checker.cell(i, "ci_low"),
        )


def check_row(checker, i: int, kind: str) -> None:
    """The cross-cell rules of one time_to_event or rate row (see the module docstring)."""
    alts = ALTERNATIVES[kind]
    complete = [a for a in alts if _given(checker, i, a)]
    if kind == "rate":
        if complete and complete[0] == alts[1]:
            _ratio_ci(checker, i, "rate ratio")
        if len(complete) > 1:
            checker.warn(
                i,
                None,
                "both events/person-time and a rate ratio with CI given: the counts are used",
            )
        return
    if complete and complete[0] == alts[0]:
        _ratio_ci(checker, i, "hazard ratio")
    if "logrank_favours" in checker.text and checker.cell(i, "logrank_favours") != "":
        raw = checker.cell(i, "logrank_favours")
        if favours_treatment(raw) is None:
            checker.err(i, "logrank_favours", "must be treat or ctrl (the arm favoured)", raw)
    if complete and complete[0] == alts[3]:
        checker.warn(
            i,
            "logrank_p",
            "hazard ratio approximated from the log-rank p-value and the total events "
            "(V = D r/(1+r)^2, Tierney et al. 2007): approximate; prefer a reported HR with CI "
            "or O-E and V",
            checker.cell(i, "logrank_p"),
        )
    if len(complete) > 1:
        used = SOURCE_NAMES[alts.index(complete[0])]
        checker.warn(i, None, f"several hazard-ratio sources given: {used} is used")
