"""matplotlib's own SVG output, written faster for a process that writes many files (issue 16).

``figure_bytes`` (:mod:`trialmeta.plots.style`) saves SVG through this canvas
(``backend="module://trialmeta.plots.svg_backend"``). It is matplotlib's ``FigureCanvasSVG``;
while it writes a file, two of matplotlib's steps take a short cut that computes the same
numbers with less work:

* text: metrics and layouts kept across files, one line placed and written without measuring
  its width, its CSS made once per font, colour and alignment (:mod:`trialmeta.plots.svg_text`);
* axes: ticks drawn with the axis's existing tick objects instead of one new object per tick
  location, planned once per axis, spare ticks reused across files
  (:mod:`trialmeta.plots.svg_ticks`).

The output is byte-identical to ``FigureCanvasSVG.print_svg``: ``tests/unit/test_svg_backend.py``
compares the two on every per-analysis figure kind and on figures made to exercise every path
(alignments, rotations, awkward strings, log axes, minor ticks, ticks on every side, aligned
labels, clipped and linked text). The short cuts replace ``Text.draw``, ``Text._get_layout``,
``Axis.draw``, ``Axis._get_tick_boxes_siblings`` and ``Spine.get_window_extent`` only while this
canvas writes a file (:func:`_short_cuts`);
matplotlib is pinned (``pyproject.toml``), and the test fails if an upgrade changes what they
write.

Measured (issue 16; 40 synthetic analyses, 279 figures, one process, old and new code
alternated): the figure job's CPU per analysis went from 408-490 ms (f7a8813) to 218-252 ms
with these short cuts and the leaner data preparation of 4354c48; the text short cut alone took
~30% off, the ticks and the cached text CSS and layouts most of the rest.
"""

from __future__ import annotations

import codecs
from contextlib import contextmanager

import matplotlib as mpl
from matplotlib import artist as martist
from matplotlib.axis import Axis
from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_svg import FigureCanvasSVG, RendererSVG
from matplotlib.spines import Spine
from matplotlib.text import Text

from trialmeta.plots import svg_text, svg_ticks
from trialmeta.plots.svg_text import draw_single_line, forget_if_fonts_changed, is_svg, text_metrics

__all__ = ["FigureCanvasCachedSVG"]


class _RendererCachedSVG(RendererSVG):
    """``RendererSVG`` whose text measurements outlive one file (see :func:`text_metrics`)."""

    def get_text_width_height_descent(self, s, prop, ismath):
        return text_metrics(s, prop, ismath)


@contextmanager
def _short_cuts():
    """While the block runs: single lines of text drawn by
    :func:`trialmeta.plots.svg_text.draw_single_line`, text layouts kept across files
    (:func:`trialmeta.plots.svg_text.layout`), and axes drawn with their existing tick objects
    (:func:`trialmeta.plots.svg_ticks.draw_axis`)."""
    text_draw, text_layout, axis_draw = Text.draw, Text._get_layout, Axis.draw
    siblings, spine_extent = Axis._get_tick_boxes_siblings, Spine.get_window_extent
    plans: dict = {}

    @martist.allow_rasterization
    def draw_text(self, renderer):
        return draw_single_line(self, renderer, text_draw.__wrapped__)

    @martist.allow_rasterization
    def draw_axis(self, renderer):
        if not is_svg(renderer) or self.axes.name != "rectilinear":
            return axis_draw.__wrapped__(self, renderer)
        return svg_ticks.draw_axis(self, renderer, plans)

    def tick_boxes(self, renderer):
        if self not in plans:
            return siblings(self, renderer)
        return svg_ticks.tick_label_bboxes_of_siblings(self, renderer, plans)

    def spine_box(self, renderer=None):
        if self.axis not in plans:
            return spine_extent(self, renderer)
        return svg_ticks.spine_extent(self, renderer, plans[self.axis])

    def get_layout(self, renderer):
        return svg_text.layout(self, renderer, text_layout)

    Text.draw, Axis.draw, Axis._get_tick_boxes_siblings = draw_text, draw_axis, tick_boxes
    Spine.get_window_extent, Text._get_layout = spine_box, get_layout
    try:
        yield
    finally:
        svg_ticks.return_spares(plans)
        Text.draw, Axis.draw, Axis._get_tick_boxes_siblings = text_draw, axis_draw, siblings
        Spine.get_window_extent, Text._get_layout = spine_extent, text_layout


class FigureCanvasCachedSVG(FigureCanvasSVG):
    """``FigureCanvasSVG`` with the short cuts of the module docstring; byte-identical output."""

    def print_svg(self, filename, *, bbox_inches_restore=None, metadata=None, **ignored):
        """``FigureCanvasSVG.print_svg``; ``ignored``: the options ``savefig`` passes to every
        canvas (dpi, facecolor, edgecolor, orientation), which matplotlib withholds from its own
        SVG canvas because it does not take them either."""
        with mpl.cbook.open_file_cm(filename, "w", encoding="utf-8") as fh:
            if not mpl.cbook.file_requires_unicode(fh):
                fh = codecs.getwriter("utf-8")(fh)
            dpi = self.figure.dpi
            self.figure.dpi = 72
            width, height = self.figure.get_size_inches()
            w, h = width * 72, height * 72
            renderer = MixedModeRenderer(
                self.figure,
                width,
                height,
                dpi,
                _RendererCachedSVG(w, h, fh, image_dpi=dpi, metadata=metadata),
                bbox_inches_restore=bbox_inches_restore,
            )
            forget_if_fonts_changed()
            with _short_cuts():
                self.figure.draw(renderer)
            renderer.finalize()


FigureCanvas = FigureCanvasCachedSVG
