"""The exploration tables, named once: ``results/tables/<name>.csv`` (and a parquet copy for the
jobs), in report order, with the heading of their report section.

Standard library only: the workflow reads these names at parse time (``workflow/rules``).
"""

from __future__ import annotations

__all__ = ["EXPLORATION_TITLES", "EXPLORATION_TABLES", "FIGURE_TABLES"]

#: table name -> report heading, in report order
EXPLORATION_TITLES = {
    "subgroups": "Subgroup analyses",
    "metaregression": "Meta-regression",
    "leave_one_out": "Leave-one-out sensitivity analysis",
    "influence": "Influence diagnostics",
    "cumulative": "Cumulative meta-analysis",
    "small_study": "Small-study effects",
    "sparse_binary": "Sparse binary data",
}
#: the exploration tables of :func:`trialmeta.tables.exploration.exploration_tables`
EXPLORATION_TABLES = tuple(EXPLORATION_TITLES)
#: the tables the exploration figures are drawn from (subgroup forest, bubble, leave-one-out,
#: cumulative and funnel plots; :mod:`trialmeta.plots.exploration_figures`)
FIGURE_TABLES = ("subgroups", "metaregression", "leave_one_out", "cumulative", "small_study")
