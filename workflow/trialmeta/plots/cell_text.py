"""Table cell texts made as copies of one Text per look (issue 16).

A forest plot's table is a few hundred ``Figure.text`` calls with a handful of looks (alignment,
weight, size, colour, transform). ``Text.__init__`` works each look out again from the rc
parameters and the keyword arguments (a ``FontProperties``, colour checks, alignment checks:
about 18 us a cell); a copy of a Text made with the same look is the same artist for 3 us.

:meth:`CellTexts.text` is ``fig.text(x, y, s, **look)``: the first cell of a look is made by
``Text`` exactly as ``Figure.text`` makes it (without position or string) and kept as the
model; every cell of that look is a copy of the model with its own callback registry and font
properties (the two mutable things ``Text.__init__`` makes per text; ``Text.update_from`` copies
font properties the same way), then given its position and string as ``Text.__init__`` gives
them, then added to the figure as ``Figure.text`` adds it. ``tests/unit/test_svg_backend.py``
checks that the copy's attributes equal those of ``fig.text``'s Text.

A model outlives no figure: a :class:`CellTexts` belongs to one figure, made and filled while
that figure is built under one style (:func:`trialmeta.plots.style.new_figure`); the rc
parameters a model read do not change while its figure is built.
"""

from __future__ import annotations

import copy

from matplotlib import cbook
from matplotlib import figure as mfigure
from matplotlib.text import Text
from matplotlib.transforms import Transform

__all__ = ["CellTexts", "cells_of"]

#: The figure attribute that holds its CellTexts (:func:`cells_of`).
_ATTRIBUTE = "_trialmeta_cell_texts"


class CellTexts:
    """``Figure.text`` for the many cells of one figure (see the module docstring)."""

    def __init__(self, fig: mfigure.Figure):
        self.fig = fig
        self._models: dict[tuple, Text] = {}

    def text(self, x, y, s, **look) -> Text:
        """``self.fig.text(x, y, s, **look)``; ``look`` values hashable or transforms."""
        key = _key(look)
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = Text(
                text="", **{"transform": self.fig.transSubfigure, **look}
            )
        cell = copy.copy(model)
        cell._callbacks = cbook.CallbackRegistry(signals=["pchanged"])
        cell._fontproperties = model._fontproperties.copy()
        cell._x, cell._y = x, y
        cell.set_text(s)
        return _added(self.fig, cell)


def _key(look: dict) -> tuple:
    """The look's names, value types and values, a transform by identity (the model holds it,
    so its id is not reused while the model is kept). Unhashable values (``bbox`` dicts, lists:
    things a Text would hold per text) raise ``TypeError``."""
    return tuple((k, type(v), id(v) if isinstance(v, Transform) else v) for k, v in look.items())


def _added(fig: mfigure.Figure, text: Text) -> Text:
    """What ``Figure.text`` does with the Text it made."""
    text.set_figure(fig)
    text.stale_callback = mfigure._stale_figure_callback
    fig.texts.append(text)
    text._remove_method = fig.texts.remove
    fig.stale = True
    return text


def cells_of(fig: mfigure.Figure) -> CellTexts:
    """The :class:`CellTexts` of ``fig``, made on first use and kept on the figure (so dropped
    with it)."""
    cells = getattr(fig, _ATTRIBUTE, None)
    if cells is None:
        cells = CellTexts(fig)
        setattr(fig, _ATTRIBUTE, cells)
    return cells
