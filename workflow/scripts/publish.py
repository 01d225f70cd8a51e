"""Rule publish: make the finished run visible in the results directory.

Nothing in the results directory changes before this job, the last of a run: a failed or killed
run leaves the previous complete results and report as they were. See trialmeta.pipeline.publish for the
guarantees (atomic replacement of each file, report directory swapped as a whole, manifest).
"""

import os

from trialmeta.pipeline.compare import baseline_key
from trialmeta.pipeline.jobs import run_step, write_json
from trialmeta.pipeline.publish import publish_results
from trialmeta.plots.names import is_forest_file


def main(snakemake, log):
    files = {
        f"tables/{os.path.basename(f)}": f
        for f in [*snakemake.input.tables, *snakemake.input.exploration]
    }
    files["tables/crosscheck.csv"] = snakemake.input.crosscheck
    files["provenance.json"] = snakemake.input.provenance
    for batch_dir in snakemake.input.figures:
        for name in sorted(os.listdir(batch_dir)):
            if not name.startswith("."):
                folder = "forest" if is_forest_file(name) else "exploration"
                files[f"figures/{folder}/{name}"] = os.path.join(batch_dir, name)
    files["tables/changes.csv"] = snakemake.input.changes_csv
    files["changes.json"] = snakemake.input.changes_json
    manifest = publish_results(files, snakemake.input.report, snakemake.params.results, log=log)
    # what the changes job compared with, and the results as published now (rules/changes.smk)
    manifest["changes_baseline"] = {
        "compared": snakemake.params.changes_key,
        "published": baseline_key(snakemake.params.results),
    }
    write_json(manifest, snakemake.output.published)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake
