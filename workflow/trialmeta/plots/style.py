"""Shared, deterministic matplotlib settings and figure saving for every trialmeta plot.

Determinism (two runs give byte-identical files):

* the Agg backend and no pyplot global state (figures are :class:`matplotlib.figure.Figure`
  objects with their own canvas);
* bundled DejaVu Sans only (no system-font lookup that differs between machines);
* ``svg.hashsalt`` fixed, so the ids of clip paths and glyphs are the same on every run;
* ``svg.fonttype = "path"``: text becomes outlines, so the SVG looks the same everywhere; the
  XML comments in which matplotlib repeats each text are removed, so the SVG holds no text from
  the data at all;
* metadata stripped: no ``Date``/``Creator`` in SVG, no ``Software`` chunk in PNG;
* files written to a temp file and renamed (:func:`trialmeta.pipeline.safe_csv.atomic_write_bytes`).

``text.parse_math`` is off: a study label such as ``$x$`` is drawn as written, never as
mathtext (which could also fail to parse and abort a run).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=True)

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from trialmeta.pipeline.safe_csv import atomic_write_bytes  # noqa: E402

__all__ = ["RC", "PALETTE", "apply_style", "new_figure", "save_figure", "PNG_DPI"]

PNG_DPI = 150
_SVG_COMMENT = re.compile(rb"[ \t]*<!--.*?-->\n?", re.S)

#: Colours (seaborn "colorblind" palette values, fixed here so no palette lookup can change them).
PALETTE = {
    "study": "#0173b2",  # study squares / CIs
    "pooled": "#000000",  # primary pooled diamond
    "fixed": "#ffffff",  # fixed-effect diamond (hollow, black edge)
    "prediction": "#d55e00",  # prediction interval bar
    "null": "#555555",  # line of no effect
    "grid": "#dddddd",
    "text": "#000000",
    "muted": "#555555",
}

RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.spines.left": False,
    "axes.linewidth": 0.8,
    "xtick.direction": "out",
    "xtick.major.size": 3,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
    "svg.hashsalt": "trialmeta",
    "svg.fonttype": "path",
    "svg.image_inline": True,
    "path.simplify": False,
    "text.parse_math": False,
    "text.usetex": False,
    "axes.unicode_minus": True,
}


def apply_style() -> None:
    """Set the shared rc parameters (idempotent; called by every plotting entry point)."""
    matplotlib.rcParams.update(RC)


def new_figure(width: float, height: float) -> Figure:
    """A new Figure with its own Agg canvas (no pyplot, nothing to close globally)."""
    apply_style()
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """Render ``fig`` to ``svg`` or ``png`` bytes with metadata stripped."""
    apply_style()
    buf = io.BytesIO()
    if fmt == "svg":
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        # matplotlib keeps each text as an XML comment next to its outline; drop them so the file
        # holds no data-derived text at all (it is escaped there, but nothing is safer)
        return _SVG_COMMENT.sub(b"", buf.getvalue())
    elif fmt == "png":
        fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
    elif fmt == "pdf":
        fig.savefig(
            buf, format="pdf", metadata={"CreationDate": None, "Creator": None, "Producer": None}
        )
    else:
        raise ValueError(f"unsupported figure format {fmt!r} (use svg, png or pdf)")
    return buf.getvalue()


def save_figure(fig: Figure, path_without_ext, formats=("svg", "png")) -> list[Path]:
    """Write ``fig`` as ``<path_without_ext>.<fmt>`` for each format, atomically; return the paths.

    The output is byte-deterministic (see the module docstring).
    """
    base = Path(path_without_ext)
    written = []
    for fmt in formats:
        target = base.parent / f"{base.name}.{fmt}"
        atomic_write_bytes(target, figure_bytes(fig, fmt))
        written.append(target)
    return written
