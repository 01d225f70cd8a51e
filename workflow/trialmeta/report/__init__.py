"""The reviewer's offline HTML report (``results/report/``).

:func:`build_report` writes ``index.html`` (all analyses, grouped by condition and therapy with
a table of contents; one page per condition under ``conditions/`` for large runs: see
:mod:`trialmeta.report.index_page`), one page per analysis under ``analyses/``, the stylesheet under ``static/`` and copies of the figures under ``figures/``.
Everything is escaped by Jinja2 (autoescape on), the pages carry a strict Content-Security-Policy
(no script at all, images and styles from the report folder only) and nothing is loaded from the
network; output is byte-deterministic. See :mod:`trialmeta.report.build`.
"""

from trialmeta.report.build import build_report, safe_http_url

__all__ = ["build_report", "safe_http_url"]
