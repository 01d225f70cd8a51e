"""The reviewer's offline HTML report (``results/report/``).

:func:`build_report` writes ``index.html`` (all analyses, grouped by condition and therapy with
a table of contents; one page per condition under ``conditions/`` for large runs: see
:mod:`trialmeta.report.index_page`), one page per analysis under ``analyses/``, the stylesheet under ``static/`` and copies of the figures under ``figures/``.
Everything is escaped by Jinja2 (autoescape on), the pages carry a strict Content-Security-Policy
(no script at all, images and styles from the report folder only) and nothing is loaded from the
network; output is byte-deterministic. See :mod:`trialmeta.report.build`.
"""

__all__ = ["build_report", "safe_http_url"]


def __getattr__(name: str):
    """``build_report`` and ``safe_http_url`` from :mod:`trialmeta.report.build`, imported on
    first use: a job that needs only another report module (the SoF document) does not pay for
    Jinja2 and the plotting modules at start-up (~0.25 s)."""
    if name in __all__:
        from trialmeta.report import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
