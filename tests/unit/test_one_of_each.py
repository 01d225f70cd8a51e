"""Things the package defines once: the true/false reading, the order of true/false subgroup
levels, the list of exploration tables."""

import math

import numpy as np
import pandas as pd
import pytest

from trialmeta.inputs.booleans import parse_bool
from trialmeta.tables.levels import ordered_levels
from trialmeta.tables.names import EXPLORATION_TABLES, EXPLORATION_TITLES, FIGURE_TABLES


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, True),
        (False, False),
        (np.bool_(True), True),
        (1, True),
        (0, False),
        (1.0, True),
        (np.int64(0), False),
        ("true", True),
        (" TRUE ", True),
        ("Yes", True),
        ("1", True),
        ("false", False),
        ("NO", False),
        ("0", False),
        ("", None),
        ("  ", None),
        (None, None),
        (math.nan, None),
        (pd.NA, None),
        ("maybe", None),
        ("t", None),
        ("y", None),
        (2, None),
    ],
)
def test_parse_bool_spellings(value, expected):
    assert parse_bool(value) is expected


@pytest.mark.parametrize("value", ["maybe", "t", "2", 2, 0.5])
def test_parse_bool_strict_refuses_other_values(value):
    with pytest.raises(ValueError):
        parse_bool(value, strict=True)


def test_parse_bool_strict_keeps_empty_unknown():
    assert parse_bool("", strict=True) is None and parse_bool(None, strict=True) is None


def test_true_level_first_for_true_false_moderators_only():
    rows = pd.DataFrame({"level": ["false", "TRUE"], "k": [3, 4]})
    assert ordered_levels(rows)["level"].tolist() == ["TRUE", "false"]
    other = pd.DataFrame({"level": ["b", "a"], "k": [3, 4]})
    assert ordered_levels(other)["level"].tolist() == ["b", "a"]


def test_one_list_of_exploration_tables(tmp_path):
    from trialmeta.report.build import EXPLORATION_SECTIONS
    from trialmeta.tables import exploration

    assert [name for name, _ in EXPLORATION_SECTIONS] == list(EXPLORATION_TABLES)
    assert exploration.EXPLORATION_TABLES is EXPLORATION_TABLES
    assert set(FIGURE_TABLES) <= set(EXPLORATION_TABLES) == set(EXPLORATION_TITLES)
    empty = pd.DataFrame(
        columns=[
            "analysis_id",
            "study_id",
            "measure",
            "scale",
            "yi",
            "vi",
            "source_file",
            "source_row",
        ]
    )
    tables = exploration.exploration_tables(empty, pd.DataFrame(), {})
    assert list(tables) == list(EXPLORATION_TABLES)
