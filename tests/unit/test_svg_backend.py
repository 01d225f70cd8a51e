"""trialmeta.plots.svg_backend writes the same bytes as matplotlib's own SVG canvas (issue 16).

Every comparison renders one Figure twice: through ``figure_bytes`` (the cached canvas the
pipeline uses) and through matplotlib's ``FigureCanvasSVG`` (``backend="svg"``), and asserts
the two files are identical, byte for byte. Covered: every per-analysis figure kind of a figure
job (forest, subgroup forest, bubble, leave-one-out, cumulative, funnel: the synthetic analyses of
the figure-cost test), and a figure of text in every alignment, rotation and awkward string
(accents that reach above the font's line, brackets, missing glyphs, mathtext, several lines,
empty text, a position at infinity), drawn with cold caches and again with warm ones.
"""

from __future__ import annotations

import io
import random
from functools import partial

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import FixedFormatter, FixedLocator

from trialmeta.plots import style
from trialmeta.plots.lean_axes import LeanAxes, new_axes
from trialmeta.plots.style import apply_style, figure_bytes, new_figure
from trialmeta.plots.svg_text import _TEXT_TO_PATH, _font_key, _height_descent

METADATA = dict.fromkeys(("Date", "Creator", "Format", "Type"))


def matplotlib_svg(fig) -> bytes:
    """The file matplotlib's own SVG canvas writes, as figure_bytes post-processes it."""
    apply_style()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", backend="svg", metadata=METADATA)
    return style._SVG_COMMENT.sub(b"", buf.getvalue())


def assert_same_svg(fig, what: str) -> bytes:
    ours, theirs = figure_bytes(fig, "svg"), matplotlib_svg(fig)
    if ours != theirs:
        a, b = ours.decode().splitlines(), theirs.decode().splitlines()
        first = next(i for i, (x, y) in enumerate(zip(a + [""], b + [""])) if x != y)
        pytest.fail(
            f"{what}, line {first + 1}:\n ours {a[first : first + 1]}\n mpl  {b[first : first + 1]}"
        )
    return ours


def test_every_figure_of_a_figure_job_is_byte_identical(tmp_path, monkeypatch):
    from test_figure_cost import draw_figures, figure_inputs

    seen = []

    def compare(fig, fmt):
        assert fmt == "svg"
        seen.append(fig)
        return assert_same_svg(fig, f"figure {len(seen)}")

    monkeypatch.setattr(style, "figure_bytes", compare)
    written = draw_figures(figure_inputs(tmp_path), tmp_path / "out")
    kinds = {p.name.split(".")[1] if p.name.count(".") > 1 else "forest" for p in written}
    assert {"forest", "funnel", "leave_one_out", "cumulative"} <= kinds
    assert any(k.startswith("subgroups") for k in kinds) and any(
        k.startswith("bubble") for k in kinds
    )
    assert len(seen) == len(written) >= 12


STRINGS = [
    "0.85 [0.62, 1.17]",
    "Étude Évian (Åland)",  # capitals with accents reach above the font's line ascent
    "Favours biomarker-guided",
    "Q = 4.12, df = 3 (P = 0.25); I² = 27%",
    "χ² τ² ≥ ≤ ± — µ",
    "中文 missing glyphs",  # falls back to another font, or to the missing-glyph box
    "price $x$ and \\$5",
    "two\nlines",
    " ",
    "",
    "|||___jjj",
]


def stress_figure():
    fig = new_figure(8, 6)
    ax = fig.add_axes([0.3, 0.2, 0.5, 0.6])
    ax.set_xscale("log")
    ax.set_xlim(0.1, 10)
    ax.set_ylim(0, 12)
    ax.set_xlabel("Risk Ratio (IV, Random, 95% CI)")
    ax.set_ylabel("Study", rotation=90)
    rng = random.Random(7)
    for i, text in enumerate(STRINGS):
        for j, (ha, va) in enumerate(
            [
                ("left", "center"),
                ("right", "top"),
                ("center", "bottom"),
                ("left", "baseline"),
                ("right", "center_baseline"),
            ]
        ):
            mode = "anchor" if (i + j) % 2 else "default"
            fig.text(
                0.02 + 0.05 * j,
                0.05 + 0.08 * i,
                text,
                ha=ha,
                va=va,
                rotation_mode=mode,
                fontsize=rng.choice([7, 8, 8.5, 9]),
                weight=rng.choice(["normal", "bold"]),
                color=rng.choice(["#000000", "#0173b2", "#555555"]),
                gid=f"t{i}-{j}",
            )
        ax.text(0.2 + i % 3, i, text, ha="center", va="center", alpha=0.6, rotation=30 * (i % 3))
        ax.annotate(text, xy=(1, i), xytext=(4, 0), textcoords="offset points", va="center")
    ax.annotate("arrow", xy=(2, 2), xytext=(5, 5), arrowprops={"arrowstyle": "->"})
    ax.text(np.inf, 3, "at infinity")
    ax.text(np.nan, 3, "at nan")
    t = fig.text(0.5, 0.95, "$\\tau^2$ mathtext", ha="center")
    t.set_parse_math(True)
    fig.text(0.5, 0.9, "boxed", bbox={"facecolor": "#dddddd"})
    fig.text(0.7, 0.9, "a link", url="https://example.org/?a=1&b=2")
    ax.text(0.5, 11, "clipped to the axes", clip_on=True).set_clip_box(ax.bbox)
    ax.text(0.5, 10, "clipped by a path", clip_on=True).set_clip_path(ax.patch)
    return fig


def test_text_of_every_kind_is_byte_identical_with_cold_and_warm_caches():
    import trialmeta.plots.svg_text as backend

    for cache in (backend._TEXT_METRICS, backend._LINE_METRICS, backend._GLYPH_EXTENTS):
        cache.data.clear()
    with pytest.warns(UserWarning):  # the missing glyphs
        assert_same_svg(stress_figure(), "cold caches")
        assert_same_svg(stress_figure(), "warm caches")
    assert backend._GLYPH_EXTENTS.data and backend._TEXT_METRICS.data


def tick_figure(axes_class=None):
    """Axes whose ticks come from every path of Axis._update_ticks: log scale with minor ticks
    (labelled and not), fixed labels set with properties, ticks on top and right, inward and
    centred ticks, labels aligned across axes, an offset text, hidden tick lines and labels,
    minor grid lines (clipped to the axes), tick parameters reset."""
    fig = new_figure(9, 7)
    add_axes = partial(fig.add_axes, **({"axes_class": axes_class} if axes_class else {}))
    a = add_axes([0.08, 0.55, 0.38, 0.35])
    a.set_xscale("log")
    a.set_xlim(0.3, 4)  # minor ticks labelled (less than a decade)
    a.set_ylim(1e-3, 1e3)
    a.set_yscale("log")
    a.set_xlabel("Odds ratio")
    b = add_axes([0.58, 0.55, 0.38, 0.35])
    b.set_xticks(range(6))
    b.set_xticklabels(
        ["one", "two", "three", "four", "five", "six"],
        rotation=30,
        ha="right",
        fontsize=7,
        color="#0173b2",
    )
    b.tick_params(axis="y", direction="in", right=True, labelright=True, length=6)
    b.xaxis.tick_top()
    b.set_xlabel("moved to the top")
    b.xaxis.set_label_position("top")
    c = add_axes([0.08, 0.1, 0.38, 0.3])
    c.plot([0, 1], [1e6, 1.0001e6])  # an offset text ("+1e6")
    c.tick_params(direction="inout")
    c.minorticks_on()
    c.grid(True, which="both", color="#dddddd")
    c.tick_params(axis="y", which="minor", length=1.5)
    a.xaxis.set_tick_params(which="minor", reset=True, width=0.5)
    c.set_xlabel("aligned with the top left")
    d = add_axes([0.58, 0.1, 0.38, 0.3])
    d.set_xlim(-2, 2)
    d.set_xticks([-1, 0, 1], minor=False)
    d.set_xticks(np.linspace(-2, 2, 9), minor=True)
    d.tick_params(axis="x", which="minor", length=2, bottom=True)
    d.tick_params(axis="y", left=False)
    d.tick_params(axis="x", which="both", labelbottom=False)  # label below the ticks themselves
    d.set_xlabel("below the ticks")
    fig.align_xlabels([a, c])
    return fig


def test_axes_and_ticks_of_every_kind_are_byte_identical():
    assert_same_svg(tick_figure(), "ticks")
    assert_same_svg(tick_figure(LeanAxes), "ticks on LeanAxes")


def many_ticks_figure(labels: list[str]):
    """Two axes with more tick locations than ticks (each draws with a spare tick)."""
    fig = new_figure(5, 3)
    for rect in ([0.1, 0.55, 0.8, 0.35], [0.1, 0.1, 0.8, 0.35]):
        ax = new_axes(fig, rect)
        ax.xaxis.set_major_locator(FixedLocator(range(len(labels))))
        ax.xaxis.set_major_formatter(FixedFormatter(labels))  # no tick made per label
        ax.set_xlim(-1, len(labels))
        ax.set_yticks(range(4))
    return fig


def test_spare_ticks_reused_across_files_draw_what_new_ones_draw():
    """A spare tick kept from an earlier file is reused only with the same tick and rc
    parameters; every file draws what matplotlib draws."""
    from trialmeta.plots import svg_ticks

    def free():
        return {id(entry[-1]) for entry in svg_ticks._FREE_SPARES}

    labels = ["one", "two", "three", "$10^{3}$", "five", "six"]
    svg_ticks._FREE_SPARES.clear()  # fewer than MAX_FREE_SPARES are kept below
    assert_same_svg(many_ticks_figure(labels), "first file")
    kept = free()
    assert kept, "the spare ticks are kept for the next file"
    assert_same_svg(many_ticks_figure(labels), "spares reused")
    assert free() == kept
    with mpl.rc_context({"lines.antialiased": False}):  # read by Tick.__init__, not copied
        assert_same_svg(many_ticks_figure(labels), "another rc parameter")
    assert free() > kept
    kept = free()
    fig = many_ticks_figure(labels)
    fig.axes[0].tick_params(axis="x", labelrotation=40, labelrotation_mode="xtick")
    assert_same_svg(fig, "another tick parameter")
    assert free() > kept
    for entry in svg_ticks._FREE_SPARES:
        assert entry[-1].get_figure() is None and entry[-1].axes is None


def test_a_table_cell_copied_from_its_look_is_the_text_figure_text_makes():
    from matplotlib.transforms import blended_transform_factory

    from trialmeta.plots.cell_text import _key, cells_of

    fig = new_figure(5, 3)
    ax = new_axes(fig, [0.5, 0.1, 0.4, 0.8])
    tr = blended_transform_factory(fig.transFigure, ax.transData)
    looks = [
        dict(transform=tr, horizontalalignment="right", verticalalignment="center"),
        dict(transform=tr, color="#333333", parse_math=False, fontweight="bold", fontsize=8.5),
        dict(horizontalalignment="center", fontsize=7),
    ]
    for look in looks * 2:  # the second time from the kept model
        for x, y, s in ((0.1, 2, "Smith 2001"), (0.3, -1.5, ""), (0.2, 3, "$x$ 12/40")):
            ours, theirs = cells_of(fig).text(x, y, s, **look), fig.text(x, y, s, **look)
            a, b = vars(ours), vars(theirs)
            assert a.keys() == b.keys()
            assert ours._callbacks is not theirs._callbacks and not ours._callbacks.callbacks
            assert ours._fontproperties == theirs._fontproperties
            assert ours._fontproperties is not cells_of(fig)._models[_key(look)]._fontproperties
            for key in a.keys() - {"_callbacks", "_fontproperties"}:
                assert a[key] == b[key], key
    assert fig.texts[-2] is ours and fig.texts[-1] is theirs
    assert_same_svg(fig, "cells")


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_lean_axes_draw_what_plain_axes_draw(fmt):
    """LeanAxes make their first minor tick late, with what plain Axes gave it at set-up."""
    plain, lean = tick_figure(), tick_figure(LeanAxes)
    if fmt == "svg":
        assert matplotlib_svg(lean) == matplotlib_svg(plain)
    else:
        assert figure_bytes(lean, "png") == figure_bytes(plain, "png")


def test_lean_axes_make_no_minor_tick_until_asked():
    fig = new_figure(4, 3)
    ax = new_axes(fig, [0.1, 0.1, 0.8, 0.8])
    ax.plot([0, 1], [0, 1])
    figure_bytes(fig, "svg")
    assert "minorTicks" not in vars(ax.xaxis) and "minorTicks" not in vars(ax.yaxis)
    plain = fig.add_axes([0.1, 0.1, 0.8, 0.8])
    tick, first = ax.xaxis.minorTicks[0], plain.xaxis.minorTicks[0]
    assert tick.gridline.get_clip_box().bounds == first.gridline.get_clip_box().bounds
    assert tick.tick1line.get_visible() == first.tick1line.get_visible()


def test_a_font_setting_changed_between_files_is_not_served_from_the_cache():
    def both(family):
        with mpl.rc_context({"font.family": "sans-serif", "font.sans-serif": family}):
            fig = mpl.figure.Figure(figsize=(4, 2))
            fig.text(0.5, 0.5, "Étude 0.85 [0.62, 1.17]", ha="center", va="center")
            files = []
            for backend in ("module://trialmeta.plots.svg_backend", "svg"):
                buf = io.BytesIO()
                fig.savefig(buf, format="svg", backend=backend, metadata=METADATA)
                files.append(buf.getvalue())
            return files

    sans, serif = both(["DejaVu Sans"]), both(["DejaVu Serif"])
    assert sans[0] == sans[1] and serif[0] == serif[1]
    assert sans[0] != serif[0]


def test_line_height_and_descent_equal_freetypes_layout_of_the_whole_string():
    rng = random.Random(1)
    chars = "aegjpqyAÉÅÇ()[]{}|/\\-–—.,;: 0123456789%+±≥≤·×°µαβ_^~'\"@#&*<>?!"
    for size, weight in [(7, "normal"), (8.5, "bold"), (11, "normal")]:
        prop = FontProperties(family="sans-serif", size=size, weight=weight)
        for _ in range(400):
            s = "".join(rng.choice(chars) for _ in range(rng.randint(1, 14)))
            _, h, d = _TEXT_TO_PATH.get_text_width_height_descent(s, prop, False)
            assert _height_descent(s, prop, _font_key(prop)) == (h, d), s
