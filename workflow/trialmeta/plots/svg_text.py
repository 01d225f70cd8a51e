"""Text in matplotlib's SVG output without re-measuring it for every file (issue 16), for
:mod:`trialmeta.plots.svg_backend`.

matplotlib's SVG renderer lays out each text from scratch on every save: it looks the font up
again, reads its ascent and descent from the font tables again, and measures the string with
FreeType again, because its metrics cache belongs to one renderer and a new renderer is made for
every file. Here:

* **text metrics** (width, height and descent of a string in a font, from
  ``matplotlib.textpath.TextToPath``, the function the SVG renderer itself calls) are kept for
  the whole process (:func:`text_metrics`; bounded; emptied when a font setting changes);
* **the font's line ascent and descent** (the OS/2 typographic metrics that ``Text._get_layout``
  uses as a floor for every line) are read once per font and size;
* **a single line of horizontal text** is placed by the same arithmetic as ``Text._get_layout``
  and ``Text.draw`` (same operations in the same order, so the same floating-point numbers), but
  without measuring the string's width, which SVG does not need: the renderer anchors the text
  at its own position with ``text-anchor`` (``svg.fonttype = "none"``). Its height and descent
  come from per-character outline boxes (:func:`_height_descent`), which is how FreeType makes
  the string's box.

Everything else (several lines, rotated text, a box around the text, mathtext, TeX, wrapping,
rasterised or filtered artists, ``svg.fonttype = "path"``) goes through ``Text.draw`` unchanged.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib import colors as mcolors
from matplotlib import font_manager as fm
from matplotlib.backends.backend_svg import RendererSVG, _generate_css, _short_float_fmt
from matplotlib.font_manager import fontManager, get_font
from matplotlib.ft2font import LoadFlags
from matplotlib.text import Text
from matplotlib.textpath import TextToPath

__all__ = ["draw_single_line", "forget_if_fonts_changed", "is_svg", "layout", "text_metrics"]

_TEXT_TO_PATH = TextToPath()
#: Distinct strings (with their font) kept. Most texts of a figure job are met once (numbers of
#: one study); what repeats (tick labels, headers, notes) is a few thousand. A layout holds a
#: box and lists (~1 kB): 65,536 of them added ~120 MB to a figure job's peak memory.
CACHE_SIZE = 8192
#: Settings that change which font file is used or how it is measured: the caches are emptied
#: when any of them changes.
_FONT_SETTINGS = (
    "font.family",
    "font.sans-serif",
    "font.serif",
    "font.monospace",
    "font.cursive",
    "font.fantasy",
    "text.hinting_factor",
    "text.kerning_factor",
)


class _Cache:
    """A dict that empties itself when full; what it holds never depends on what it held
    before, so emptying it changes no output."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size, self.data = size, {}

    def get(self, key, compute):
        value = self.data.get(key)
        if value is None:
            if len(self.data) >= self.size:
                self.data.clear()
            value = self.data[key] = compute()
        return value


_TEXT_METRICS, _LINE_METRICS, _GLYPH_EXTENTS = _Cache(), _Cache(256), _Cache()
_TEXT_CSS, _LAYOUTS = _Cache(1024), _Cache()
_font_settings: list = [None]


def forget_if_fonts_changed() -> None:
    """Empty the caches when a font setting changed since the last file."""
    settings = tuple(str(mpl.rcParams[k]) for k in _FONT_SETTINGS)
    if settings != _font_settings[0]:
        for cache in (_TEXT_METRICS, _LINE_METRICS, _GLYPH_EXTENTS, _TEXT_CSS, _LAYOUTS):
            cache.data.clear()
        _font_settings[0] = settings


def _font_key(prop) -> tuple:
    """What ``FontProperties.__hash__`` is made of (the prop itself is mutable)."""
    return (
        tuple(prop.get_family()),
        prop.get_style(),
        prop.get_variant(),
        prop.get_weight(),
        prop.get_stretch(),
        prop.get_size_in_points(),
        prop.get_file(),
        prop.get_math_fontfamily(),
    )


def text_metrics(text: str, prop, ismath=False) -> tuple[float, float, float]:
    """(width, height, descent) of ``text`` in points, as ``RendererSVG`` measures it.

    Kept for the process: the result depends only on the string, the font and the font settings
    (the SVG renderer works at 72 dpi), never on the figure."""
    return _TEXT_METRICS.get(
        (text, _font_key(prop), ismath),
        lambda: _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath),
    )


def _read_line_metrics(prop, dpi: float) -> tuple[float, float] | tuple[None, None]:
    """The font's typographic ascent and descent at this size, read as ``Text._get_layout``
    reads them (OS/2 table, else hhea), in pixels at ``dpi``."""
    font = get_font(fontManager._find_fonts_by_props(prop))
    for table_name, ascent_key, descent_key in (
        ("OS/2", "sTypoAscender", "sTypoDescender"),
        ("hhea", "ascent", "descent"),
    ):
        table = font.get_sfnt_table(table_name)
        if table is None:
            continue
        fontsize = prop.get_size_in_points()
        units_per_em = font.get_sfnt_table("head")["unitsPerEm"]
        scale = 1 / units_per_em * fontsize * dpi / 72
        return table[ascent_key] * scale, -table[descent_key] * scale
    return None, None


def _glyph_extent(char: str, key: tuple, prop) -> tuple[int, int]:
    """The top and bottom of one character's outline, in FreeType's 1/64 units at the size
    ``TextToPath`` measures at (100 pt, 72 dpi, no hinting)."""

    def measure():
        font = _TEXT_TO_PATH._get_font(prop)
        font.set_text(char, 0.0, flags=LoadFlags.NO_HINTING)
        _, height = font.get_width_height()
        descent = font.get_descent()
        return height - descent, -descent

    return _GLYPH_EXTENTS.get((char, key), measure)


def _height_descent(text: str, prop, key: tuple) -> tuple[float, float]:
    """``TextToPath.get_text_width_height_descent(text)[1:]`` without laying the string out: a
    line's outline box spans from its lowest glyph bottom to its highest glyph top (FreeType
    unions the glyphs' boxes; moving a glyph along the line does not move it up or down), and
    the arithmetic below is TextToPath's."""
    extents = [_glyph_extent(char, key, prop) for char in set(text)]
    top, bottom = max(e[0] for e in extents), min(e[1] for e in extents)
    h, d = top - bottom, -bottom
    h /= 64.0
    d /= 64.0
    scale = prop.get_size_in_points() / _TEXT_TO_PATH.FONT_SCALE
    return h * scale, d * scale


def _ascent_descent(text: str, prop, dpi: float, key: tuple) -> tuple[float, float] | None:
    """The line's ascent and descent as ``Text._get_layout`` computes them for one line of
    text (at 72 dpi, where the SVG renderer's points are pixels): the string's own, but no less
    than the font's line metrics. ``key``: ``_font_key(prop)``."""
    min_ascent, min_descent = _LINE_METRICS.get((key, dpi), lambda: _read_line_metrics(prop, dpi))
    if min_ascent is None or dpi != 72:
        return None
    h, d = _height_descent(text, prop, key)
    return max(h - d, min_ascent), max(d, min_descent)


def _fits_short_cut(text: Text, renderer) -> bool:
    return (
        mpl.rcParams["svg.fonttype"] == "none"
        and text.get_rotation() == 0
        and text._linespacing == "normal"
        and text._bbox_patch is None
        and not text.get_wrap()
        and not text.get_usetex()
        and not text.get_parse_math()
        and not text.get_path_effects()
        and not text.get_rasterized()
        and text.get_agg_filter() is None
        and text.get_rotation_mode() in ("default", "anchor")
        and "\n" not in text.get_text()
        and is_svg(renderer)
    )


def _baseline_offset(valign: str, anchor_mode: bool, a: float, d: float) -> float:
    """``Text._get_layout``'s vertical placement of one unrotated line: the y of its baseline
    relative to the text's position, by the same operations (so the same floating-point value)."""
    thisy = 0.0
    baseline = a - thisy
    thisy -= a
    y_line, descent = thisy, d
    ymin, ymax = y_line - descent, 0
    if valign == "bottom":
        offsety = ymin
    elif valign == "top":
        offsety = ymax
    elif valign == "center":
        offsety = (ymin + ymax) / 2
    elif anchor_mode:  # baseline, center_baseline
        offsety = ymax - baseline if valign == "baseline" else ymax - baseline / 2
    else:
        height = ymax - ymin
        offsety = ymin + descent if valign == "baseline" else ymin + height - baseline / 2
    return y_line - offsety


def _position(text: Text) -> tuple[float, float]:
    x, y = text._x, text._y
    x = np.nan if np.ma.is_masked(x) else x
    y = np.nan if np.ma.is_masked(y) else y
    return text.get_transform().transform(
        (float(text.convert_xunits(x)), float(text.convert_yunits(y)))
    )


def draw_single_line(self: Text, renderer, original) -> None:
    """``Text.draw`` for one unrotated line in SVG (see the module docstring)."""
    if not _fits_short_cut(self, renderer):
        return original(self, renderer)
    self._renderer = renderer
    if not self.get_visible() or self.get_text() == "":
        return
    posx, posy = _position(self)
    prop = self._fontproperties
    key = _font_key(prop)  # made once per text: the font's part of every cache key below
    extent = _ascent_descent(self.get_text(), prop, self.get_figure(root=True).dpi, key)
    if extent is None or not (np.isfinite(posx) and np.isfinite(posy)):
        return original(self, renderer)  # nan: nothing drawn; inf: matplotlib's warning
    renderer.open_group("text", self.get_gid())
    anchor_mode = self.get_rotation_mode() == "anchor"
    y = _baseline_offset(self._verticalalignment, anchor_mode, *extent) + posy
    if renderer.flipy():
        y = renderer.get_canvas_width_height()[1] - y
    # the x of the line's start is not written with svg.fonttype none (the text is anchored at
    # its own position, posx), so the string's width is never measured
    if self._url is None and not _clipped(self):
        _write_text_element(renderer, self, posx, posy, y, key)
    else:
        _draw_through_renderer(renderer, self, posx, y)
    renderer.close_group("text")
    self.stale = False


def _draw_through_renderer(renderer, text: Text, posx: float, y: float) -> None:
    """The rest of ``Text.draw`` for a line with a link or a clip: the renderer writes it."""
    gc = renderer.new_gc()
    gc.set_foreground(mcolors.to_rgba(text.get_color()), isRGBA=True)
    gc.set_alpha(text.get_alpha())
    gc.set_url(text._url)
    gc.set_antialiased(text._antialiased)
    gc.set_snap(text.get_snap())
    text._set_gc_clip(gc)
    renderer.draw_text(gc, posx, y, text.get_text(), text._fontproperties, 0.0, False, text)
    gc.restore()


def _clipped(text: Text) -> bool:
    return text._clipon and (text.clipbox is not None or text._clippath is not None)


#: ``RendererSVG._draw_text_as_text``'s direction of the vertical offset for an angle of 0
_UPRIGHT = np.array([np.sin(np.deg2rad(0.0)), np.cos(np.deg2rad(0.0))])
_ANCHOR = {"left": "start", "right": "end", "center": "middle"}


def _write_text_element(
    renderer, text: Text, posx: float, posy: float, y: float, font_key: tuple
) -> None:
    """The ``<text>`` element ``RendererSVG.draw_text`` writes for one unrotated, unclipped line
    anchored at its position (``_draw_text_as_text`` with ``mtext``): the same attributes in the
    same order, the same arithmetic; its CSS is made once per font (``font_key``: its
    :func:`_font_key`), colour and alignment."""
    svg = getattr(renderer, "_renderer", renderer)
    ax, ay = posx, svg.height - posy
    v_offset = np.dot(_UPRIGHT, [(posx - ax), (y - ay)])
    ax = ax + v_offset * _UPRIGHT[0]
    ay = ay + v_offset * _UPRIGHT[1]
    x_s, y_s = _short_float_fmt(ax), _short_float_fmt(ay)
    svg.writer.element(
        "text",
        text.get_text(),
        attrib={
            "style": _text_css(text, font_key),
            "x": x_s,
            "y": y_s,
            "transform": f"rotate(-0 {x_s} {y_s})",
        },
    )


def _text_css(text: Text, font_key: tuple) -> str:
    rgba = mcolors.to_rgba(text.get_color())
    alpha = text.get_alpha()
    alpha = rgba[3] if alpha is None else alpha
    prop = text._fontproperties
    key = (font_key, mcolors.rgb2hex(rgba), alpha, text.get_ha())
    return _TEXT_CSS.get(key, lambda: _css(prop, *key[1:]))


def _css(prop, color: str, alpha: float, ha: str) -> str:
    """The style attribute of ``RendererSVG._draw_text_as_text`` (text, not mathtext)."""
    font_style = {}
    if prop.get_style() != "normal":
        font_style["font-style"] = prop.get_style()
    if prop.get_variant() != "normal":
        font_style["font-variant"] = prop.get_variant()
    weight = fm.weight_dict.get(prop.get_weight(), prop.get_weight())
    if weight != 400:
        font_style["font-weight"] = f"{weight}"
    font_style["font-size"] = f"{_short_float_fmt(prop.get_size())}px"
    font_style["font-family"] = ", ".join(dict.fromkeys(_quoted_family_names(prop)))
    if prop.get_stretch() != "normal":
        font_style["font-stretch"] = prop.get_stretch()
    font_style["text-anchor"] = _ANCHOR[ha]
    colour = {"fill": color} if color != "#000000" else {}
    if alpha != 1:
        colour["opacity"] = _short_float_fmt(alpha)
    return _generate_css({**font_style, **colour})


def _quoted_family_names(prop) -> list[str]:
    """The font families as ``_draw_text_as_text`` lists them: generic names expanded into the
    configured fonts, specific names quoted."""

    def sans(name):
        return "sans-serif" if name in ["sans", "sans serif"] else name

    def expand(entry):
        entry = sans(entry)
        if entry in fm.font_family_aliases:
            for name in fm.FontManager._expand_aliases(entry):
                yield sans(name)
        yield entry

    return [
        name if name in fm.font_family_aliases else repr(name)
        for entry in prop.get_family()
        for name in expand(entry)
    ]


def is_svg(renderer) -> bool:
    return isinstance(getattr(renderer, "_renderer", renderer), RendererSVG)


def layout(text: Text, renderer, original):
    """``Text._get_layout`` kept for the process: its result (the text's box and lines relative
    to its position) depends only on the string, the font, the alignment, the rotation and the
    dpi, never on where the text is, unless it wraps (then: ``original``). The box is a copy, so
    a caller that changes it changes nothing here."""
    if text.get_wrap() or not is_svg(renderer):
        return original(text, renderer)
    key = (
        text.get_text(),
        _font_key(text._fontproperties),
        text.get_rotation(),
        text.get_rotation_mode(),
        text._horizontalalignment,
        text._verticalalignment,
        text._multialignment,
        text._linespacing,
        text.get_usetex(),
        text.get_parse_math(),
        text.get_figure(root=True).dpi,
    )
    bbox, lines, box = _LAYOUTS.get(key, lambda: original(text, renderer))
    return bbox.frozen(), lines, box
