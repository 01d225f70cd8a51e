"""Rule report: the offline HTML report (trialmeta.report.build_report) into the staging area."""

import json
import os
import shutil
import tempfile
from pathlib import Path

from trialmeta.report import build_report
from trialmeta.workflow_io import problems_from_records, read_parquet, run_step


def figures_by_analysis_id(batch_dirs, tmp_parent):
    """One directory with the forest plots of every figure job (hard links, or copies)."""
    Path(tmp_parent).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="report-figures-", dir=tmp_parent))
    for d in batch_dirs:
        for src in sorted(Path(d).iterdir()):
            if src.name.startswith("."):
                continue
            try:
                os.link(src, tmp / src.name)
            except OSError:
                shutil.copyfile(src, tmp / src.name)
    return tmp


def main(snakemake, log):
    config = snakemake.params.config
    with open(snakemake.input.warnings, encoding="utf-8") as fh:
        warnings = problems_from_records(json.load(fh))
    with open(snakemake.input.provenance, encoding="utf-8") as fh:
        provenance = json.load(fh)
    figures = figures_by_analysis_id(snakemake.input.figures, snakemake.params.tmp_dir)
    try:
        index = build_report(
            read_parquet(snakemake.input.pooled),
            read_parquet(snakemake.input.studies),
            read_parquet(snakemake.input.trials),
            config,
            warnings,
            figures,
            snakemake.output.report,
            provenance=provenance,
            exploration={Path(p).stem: read_parquet(p) for p in snakemake.input.exploration},
            cache_dir=snakemake.params.cache_dir,
        )
    finally:
        shutil.rmtree(figures, ignore_errors=True)
    log.info("report: %s", index)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake
