"""The one reading of a true/false value: trial-table cells (``higher_is_better``, true/false
moderators such as ``biomarker_selected``), table columns (``continuity_corrected``) and settings.

=========================  ==========================================================
value                      reading
=========================  ==========================================================
``True`` / ``False``       itself (also NumPy booleans)
``1`` / ``0``              True / False (numbers equal to 1 or 0)
text ``true, yes, 1``      True (any case, surrounding spaces ignored; "TRUE" is R's)
text ``false, no, 0``      False
empty text, None, NaN, NA  unknown (None)
anything else              unknown (None), or :class:`ValueError` with ``strict=True``
=========================  ==========================================================

The spellings are those the trials schema documents for ``higher_is_better``
(``trialmeta/inputs/schemas/trials.schema.yaml``).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["TRUE_WORDS", "FALSE_WORDS", "parse_bool"]

#: text read as True (compared after ``strip().casefold()``)
TRUE_WORDS = frozenset({"true", "yes", "1"})
#: text read as False
FALSE_WORDS = frozenset({"false", "no", "0"})


def parse_bool(value, *, strict: bool = False) -> bool | None:
    """True, False or None (unknown) from a bool, a number, or text (see the module table).

    With ``strict=True`` a value that is neither empty/missing nor one of the spellings raises
    :class:`ValueError` (the validation of the trial tables reports it with file, row and column).
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Number):
        if value != value:  # NaN
            return None
        if value == 1 or value == 0:
            return bool(value == 1)
        if strict:
            raise ValueError(value)
        return None
    if not isinstance(value, str):
        if _missing(value):
            return None
        value = str(value)
    text = value.strip().casefold()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    if strict and text:
        raise ValueError(value)
    return None


def _missing(value) -> bool:
    """pandas.NA (and other missing-value singletons that refuse ``bool()``)."""
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return True
