"""Figures of trialmeta (matplotlib, Agg backend, byte-deterministic output).

* :mod:`trialmeta.plots.style`  - shared rc settings and :func:`~trialmeta.plots.style.save_figure`;
* :mod:`trialmeta.plots.forest` - RevMan-style forest plots and the batch entry point
  :func:`~trialmeta.plots.forest.render_forest_plots` used by the Snakemake figure jobs.

Submodules are imported on demand (``from trialmeta.plots.forest import ...``) so that importing
the package stays cheap.
"""
