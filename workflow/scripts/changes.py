"""Rule changes: compare this run's staged tables with the results published before it."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

import json
from pathlib import Path

from trialmeta.pipeline.compare import write_changes
from trialmeta.pipeline.jobs import run_step


def main(snakemake, log):
    with open(snakemake.input.provenance, encoding="utf-8") as fh:
        provenance = json.load(fh)
    record = write_changes(
        snakemake.params.baseline,
        Path(snakemake.input.pooled).parent,
        provenance,
        snakemake.params.move_fraction,
        snakemake.output.csv,
        snakemake.output.json,
    )
    log.info("changes: %s", record["summary"])


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake
