"""Benchmark the report index on SYNTHETIC analyses (not part of `make test`).

    .venv/bin/python tests/benchmarks/bench_report_index.py --analyses 1000 [--split-above N]
        [--out /tmp/index_bench] [--screenshot /tmp/tools/screens/index_1000.png]

Builds SYNTHETIC trial rows (random numbers, every study_id starts with "SYNTHETIC") spread over
``--conditions`` conditions and 37 therapy classes (numbers not zero-padded, so the natural sort
shows), pools them with the real engine (REML + HKSJ only, to keep it quick), builds the report
with :func:`trialmeta.report.build_report` (no figures) and reports: build time, the size of
``index.html`` (and of the per-condition pages when the index is split), and the time headless
Chromium takes to load the index (navigation start to the load event, from the Navigation Timing
API, median of 3 loads).

Measured 2026-12-02 on the 2-core development machine (shared, load average 5-9), synthetic
structure: analyses / 50 conditions x 37 therapy classes, 3 trials each:

| analyses | index | size | Chromium load | page height |
|---|---|---|---|---|
| 1,000 | one page, every group inline | 2.1 MB | 1.2-2.0 s | 271,000 px |
| 10,000 | one page (``--split-above 100000``) | 21.0 MB | 14.7 s | 2,703,000 px |
| 10,000 | split: contents only, 200 condition pages | 1.5 MB (largest condition page 110 kB) | 0.64 s (condition page 0.06 s) | 37,000 px |

Load time grows linearly with the analyses on a page (about 1.5 ms each), so above
:data:`~trialmeta.report.index_page.SPLIT_ABOVE` (1,000) analyses the index is split into one page
per condition: no page then holds more than one condition's analyses.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.cdp_browser import Browser  # noqa: E402
from trialmeta.inputs.analyses import assign_analysis_ids  # noqa: E402
from trialmeta.report import build_report, index_page  # noqa: E402
from trialmeta.tables.effects import compute_effect_sizes  # noqa: E402
from trialmeta.tables.pooled import pool_analyses  # noqa: E402

GROUP_BY = ["therapy_class", "comparator", "condition", "outcome", "outcome_type"]
CONFIG = {
    "trials": ["SYNTHETIC.csv"],
    "results": "results",
    "group_by": GROUP_BY,
    "measures": {"binary": ["RR"], "continuous": ["MD"]},
    "tau2_methods": ["REML"],
    "ci_methods": ["hksj"],
    "models": ["random"],
    "subgroups": [],
    "metaregression": [],
}


def synthetic_trials(n_analyses: int, n_conditions: int, n_studies: int = 3, seed: int = 10):
    """SYNTHETIC trial rows, ``n_studies`` per analysis (random numbers, timing only)."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n_analyses):
        binary = a % 2 == 0
        for s in range(n_studies):
            n1, n2 = (int(x) for x in rng.integers(30, 400, size=2))
            row = {
                "study_id": f"SYNTHETIC {a}-{s}",
                "therapy": f"synthetic drug {a}",
                "therapy_class": f"synthetic class {(a // n_conditions) % 37 + 1}",
                "comparator": "synthetic placebo",
                "condition": f"synthetic condition {a % n_conditions + 1}",
                "outcome": f"synthetic outcome {a + 1}",
                "outcome_type": "binary" if binary else "continuous",
                "higher_is_better": True,
                "year": int(rng.integers(1995, 2025)),
                "source_file": "SYNTHETIC.csv",
                "source_row": a * n_studies + s + 2,
                "n_treat": n1,
                "n_ctrl": n2,
            }
            if binary:
                row.update(
                    events_treat=int(rng.binomial(n1, 0.3)), events_ctrl=int(rng.binomial(n2, 0.3))
                )
            else:
                row.update(
                    mean_treat=float(rng.normal(-5, 3)),
                    sd_treat=float(rng.uniform(5, 15)),
                    mean_ctrl=float(rng.normal(-5, 3)),
                    sd_ctrl=float(rng.uniform(5, 15)),
                )
            rows.append(row)
    return assign_analysis_ids(pd.DataFrame(rows), GROUP_BY)


def load_times(path: Path, repeats: int = 3, screenshot: Path | None = None) -> dict:
    """Median navigation-start-to-load time (ms) in headless Chromium, and the page height."""
    expr = {
        "load_ms": "performance.getEntriesByType('navigation')[0].loadEventEnd",
        "dom_ms": "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd",
        "height_px": "document.documentElement.scrollHeight",
    }
    runs = []
    with Browser(timeout=300) as b:
        for i in range(repeats):
            shot = screenshot if (screenshot is not None and i == repeats - 1) else None
            rec = b.open(path, evaluate=expr, screenshot=shot)
            assert not rec.errors, rec.errors
            runs.append(rec.values)
    return {k: statistics.median(r[k] for r in runs) for k in expr}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--analyses", type=int, default=1000)
    ap.add_argument("--conditions", type=int, default=0, help="default: analyses / 50, >= 1")
    ap.add_argument("--split-above", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("/tmp/index_bench"))
    ap.add_argument("--screenshot", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="page cache (fast rebuilds)")
    a = ap.parse_args(argv)
    if a.split_above is not None:
        index_page.SPLIT_ABOVE = a.split_above
    trials = synthetic_trials(a.analyses, a.conditions or max(1, a.analyses // 50))
    t0 = time.monotonic()
    effects = compute_effect_sizes(trials, measures=CONFIG["measures"])
    pooled, studies = pool_analyses(
        effects, GROUP_BY, tau2_methods=["REML"], ci_methods=["hksj"], models=["random"]
    )
    t1 = time.monotonic()
    shutil.rmtree(a.out, ignore_errors=True)
    index = build_report(pooled, studies, trials, CONFIG, [], None, a.out, cache_dir=a.cache)
    t2 = time.monotonic()
    pages = sorted((a.out / "conditions").glob("*.html")) if (a.out / "conditions").is_dir() else []
    result = {
        "analyses": a.analyses,
        "pool_s": round(t1 - t0, 1),
        "build_s": round(t2 - t1, 1),
        "index_bytes": index.stat().st_size,
        "condition_pages": len(pages),
        "largest_condition_page_bytes": max((p.stat().st_size for p in pages), default=0),
        "index": load_times(index, screenshot=a.screenshot),
    }
    if pages:
        biggest = max(pages, key=lambda p: p.stat().st_size)
        result["largest_condition_page"] = load_times(biggest)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
