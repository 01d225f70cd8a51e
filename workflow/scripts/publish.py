"""Rule publish: make the finished run visible in the results directory.

Nothing in the results directory changes before this job, the last of a run: a failed or killed
run leaves the previous complete results and report as they were. See trialmeta.pipeline.publish for the
guarantees (atomic replacement of each file, report directory swapped as a whole, manifest).
"""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

import os

from trialmeta.pipeline.compare import baseline_key
from trialmeta.pipeline.jobs import run_step, write_json
from trialmeta.pipeline.publish import publish_results
from trialmeta.plots.names import figure_folder


def main(snakemake, log):
    files = {
        f"tables/{os.path.basename(f)}": f
        for f in [*snakemake.input.tables, *snakemake.input.exploration]
    }
    files["tables/crosscheck.csv"] = snakemake.input.crosscheck
    files["tables/single_arm_sensitivity.csv"] = snakemake.input.single_arm  # issue 17
    files["provenance.json"] = snakemake.input.provenance
    for batch_dir in snakemake.input.figures:
        for name in sorted(os.listdir(batch_dir)):
            if not name.startswith("."):
                files[f"figures/{figure_folder(name)}/{name}"] = os.path.join(batch_dir, name)
    for f in snakemake.input.rob_tables:  # risk_of_bias.csv, rob_sensitivity.csv
        files[f"tables/{os.path.basename(f)}"] = f
    rob_dir = snakemake.input.rob_figures
    for name in sorted(os.listdir(rob_dir)):
        if not name.startswith("."):
            files[f"figures/risk_of_bias/{name}"] = os.path.join(rob_dir, name)
    for f in snakemake.input.interactions:  # interactions.csv, interaction_studies.csv
        files[f"tables/{os.path.basename(f)}"] = f
    inter_dir = snakemake.input.interaction_figures
    for name in sorted(os.listdir(inter_dir)):
        if not name.startswith("."):
            files[f"figures/interactions/{name}"] = os.path.join(inter_dir, name)
    files["tables/changes.csv"] = snakemake.input.changes_csv
    files["changes.json"] = snakemake.input.changes_json
    for f in snakemake.input.staged:  # summary_of_findings.csv/.docx, figures/evidence_map.svg
        files[os.path.relpath(f, snakemake.params.stage)] = f
    manifest = publish_results(files, snakemake.input.report, snakemake.params.results, log=log)
    # what the changes job compared with, and the results as published now (rules/changes.smk)
    manifest["changes_baseline"] = {
        "compared": snakemake.params.changes_key,
        "published": baseline_key(snakemake.params.results),
    }
    write_json(manifest, snakemake.output.published)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake
