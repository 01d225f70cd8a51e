"""The evidence map's files from a previous run when nothing it draws has changed.

The map draws at most :data:`~trialmeta.plots.evidence_map_layout.MAX_THERAPIES` x
:data:`~trialmeta.plots.evidence_map_layout.MAX_CONDITIONS` cells of a run's thousands of
analyses; an edit of any other analysis reruns the Summary of Findings job but leaves the map's
bytes as they were. Drawing it cost that job about 1 CPU-s (importing matplotlib, laying out and
saving the figure; issue 16). Here the files are kept in a content-addressed cache
(:mod:`trialmeta.pipeline.render_cache`, entry ``evidence_map.<key>``) whose key is the digest of
everything the figure shows -- its axes and note and every column of the cells it draws
(:func:`~trialmeta.plots.evidence_map_layout.map_content`) -- with the code digest, matplotlib's
version and the file formats. On a hit the files are written from the cache (new files, so
their times are the job's); on a miss the map is drawn as always and the cache entry replaced.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from trialmeta.pipeline import render_cache
from trialmeta.pipeline.safe_csv import atomic_write_bytes
from trialmeta.plots.evidence_map_layout import MapAxes, map_content

__all__ = ["map_key", "write_evidence_map", "ENTRY"]

#: The cache entry's name (:func:`trialmeta.pipeline.render_cache.entry_dir`).
ENTRY = "evidence_map"


def map_key(axes: MapAxes, cells: pd.DataFrame, formats, code: str = "") -> str:
    """Hex digest (16 characters) of what the map shows (``axes``, ``cells``: every value in
    Python's exact repr, with column names and dtypes), the file ``formats``, the ``code``
    digest and matplotlib's version."""
    parts = [
        [axes.therapies, axes.conditions, axes.n_therapies, axes.n_conditions, axes.n_analyses],
        [str(c) for c in cells.columns],
        [str(t) for t in cells.dtypes],
        cells.astype(object).to_numpy().tolist(),
        list(formats),
        code,
        version("matplotlib"),
    ]
    text = json.dumps(parts, default=repr, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def write_evidence_map(sof, interactions, paths, cache_dir=None, code: str = "") -> list[Path]:
    """Write the evidence map of ``sof`` (and ``interactions``) to ``paths`` (one per format,
    ``<name>.<fmt>`` in one folder), from ``cache_dir`` when it holds the same map."""
    paths = [Path(p) for p in paths]
    axes, cells = map_content(sof, interactions)
    key = map_key(axes, cells, [p.suffix[1:] for p in paths], code)
    entry = render_cache.entry_dir(cache_dir, ENTRY, key) if cache_dir else None
    if entry is not None and all((entry / p.name).is_file() for p in paths):
        for p in paths:
            atomic_write_bytes(p, (entry / p.name).read_bytes())
        return paths
    from trialmeta.plots.evidence_map import evidence_map
    from trialmeta.plots.style import save_figure

    fig = evidence_map(sof, interactions)
    save_figure(fig, paths[0].with_suffix(""), [p.suffix[1:] for p in paths])
    if entry is not None:
        render_cache.prune(cache_dir, {ENTRY: key})
        render_cache.store(cache_dir, ENTRY, key, paths)
    return paths
