"""Rule report: the offline HTML report (trialmeta.report.build_report) into the staging area."""

import json
from pathlib import Path

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import problems_from_records, read_parquet, run_step
from trialmeta.report import build_report


def main(snakemake, log):
    settings = Settings.coerce(snakemake.params.config)
    with open(snakemake.input.warnings, encoding="utf-8") as fh:
        warnings = problems_from_records(json.load(fh))
    with open(snakemake.input.provenance, encoding="utf-8") as fh:
        provenance = json.load(fh)
    index = build_report(
        read_parquet(snakemake.input.pooled),
        read_parquet(snakemake.input.studies),
        read_parquet(snakemake.input.trials),
        settings,
        warnings,
        list(snakemake.input.figures),  # one directory per figure job
        snakemake.output.report,
        provenance=provenance,
        exploration={Path(p).stem: read_parquet(p) for p in snakemake.input.exploration},
        cache_dir=snakemake.params.cache_dir,
        changes=json.loads(Path(snakemake.input.changes).read_text(encoding="utf-8")),
        crosscheck=json.loads(Path(snakemake.input.crosscheck).read_text(encoding="utf-8")),
    )
    log.info("report: %s", index)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake
