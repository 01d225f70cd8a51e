"""The effect axis of the forest-style plots (RevMan convention): a pure function from the
intervals to limits, ticks and clipping flags; favours labels wrap instead of being cut."""

import math

import numpy as np
import pytest

from trialmeta.plots.axis import RATIO_CAP, effect_axis, tick_label
from trialmeta.plots.labels import favours_lines, wrap_lines


@pytest.mark.parametrize(
    "core,spread,limits,ticks",
    [
        ([0.9, 1.1], [0.8, 1.6], (0.5, 2.0), (0.5, 0.7, 1, 1.5, 2)),
        ([0.6, 2.3], [0.5, 4.9], (0.2, 5.0), (0.2, 0.5, 1, 2, 5)),
        ([1.2], [0.3, 8.0], (0.1, 10.0), (0.1, 0.2, 0.5, 1, 2, 5, 10)),
        ([1.2], [0.08, 15.0], (0.05, 20.0), (0.05, 0.2, 1, 5, 20)),
        ([1.59, 0.0131, 192.5], [0.95, 5.16], (0.01, 100.0), (0.01, 0.1, 1, 10, 100)),
    ],
)
def test_ratio_axis_is_a_symmetric_revman_scale(core, spread, limits, ticks):
    axis = effect_axis(core, spread, is_ratio=True)
    assert axis.limits == pytest.approx(limits) and axis.is_ratio
    assert axis.limits[0] == pytest.approx(1 / axis.limits[1])
    assert axis.ticks == pytest.approx(ticks)
    assert "1" in axis.labels and len(set(axis.labels)) == len(axis.labels)


def test_ratio_axis_cap_and_arrows():
    """One huge CI (0.002-500) does not stretch the axis past 0.01-100; it is flagged for
    arrows at both ends, the others are not."""
    lo, hi = np.array([0.002, 0.8, 0.5]), np.array([500.0, 1.6, 2.0])
    axis = effect_axis([1.0, 1.1, 1.2], np.concatenate([lo, hi]), is_ratio=True)
    assert axis.limits == pytest.approx((1 / RATIO_CAP, RATIO_CAP))
    left, right = axis.clipped(lo, hi)
    assert left.tolist() == [True, False, False] and right.tolist() == [True, False, False]
    assert axis.labels == ("0.01", "0.1", "1", "10", "100")


def test_difference_axis_symmetric_nice_ticks_and_cap():
    axis = effect_axis([-0.26, -0.21, -0.24], [-0.40, -0.12, -0.55, 0.08], is_ratio=False)
    assert axis.limits == (-1.0, 1.0) and axis.ticks == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert axis.labels == ("\u22121", "\u22120.5", "0", "0.5", "1")
    # one study with a huge CI: the axis is at most 3x what the estimates and pooled CI need
    axis = effect_axis([-2.0, 1.0], [-60.0, 55.0, -3.0, 2.5], is_ratio=False)
    assert axis.limits == (-10.0, 10.0)
    left, right = axis.clipped([-60.0, -3.0], [55.0, 2.5])
    assert left.tolist() == [True, False] and right.tolist() == [True, False]
    assert effect_axis([], is_ratio=False).limits == (-1.0, 1.0)
    assert effect_axis([math.nan], is_ratio=True).limits == pytest.approx((0.5, 2.0))


def test_tick_label_plain_text():
    assert [tick_label(t) for t in (0.01, 0.5, 1.0, 100.0, -2.5, 0.0)] == [
        "0.01",
        "0.5",
        "1",
        "100",
        "\u22122.5",
        "0",
    ]


def test_favours_labels_wrap_and_keep_every_name():
    therapy = "hydrocortisone / prednisolone / dexamethasone / methylprednisolone / budesonide"
    left, right = favours_lines(therapy, "placebo", False, 24)
    assert len(left) >= 3 and all(len(line) <= 24 for line in left)
    text = " ".join(left)
    for name in therapy.split(" / "):
        assert name in text
    assert not text.endswith("/") and "\u2026" not in text
    assert right == ["Favours placebo"]
    # only an absurdly long label is shortened, with an ellipsis on its last line
    lines = wrap_lines("x " * 400, 24, max_lines=10)
    assert len(lines) == 10 and lines[-1].endswith("\u2026")
