"""Rule report: the offline HTML report (trialmeta.report.build_report) into the staging area."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

import json
from pathlib import Path

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import problems_from_records, read_parquet, run_step
from trialmeta.report import build_report


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
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
        # the risk-of-bias figures (rules/risk_of_bias.smk), the posterior figures of the "few
        # trials" panel (rules/bayes.smk) and the interaction plots (rules/interactions.smk);
        # the figure jobs' files are published_figures (shown from results/figures/, no copy)
        [snakemake.input.rob_figures, snakemake.input.bayes_figures]
        + [snakemake.input.interaction_figures],
        snakemake.output.report,
        provenance=provenance,
        exploration={
            **{Path(p).stem: read_parquet(p) for p in snakemake.input.exploration},
            # risk-of-bias section (trialmeta.report.risk_of_bias_section)
            "risk_of_bias": read_parquet(snakemake.input.rob),
            "rob_sensitivity": read_parquet(snakemake.input.rob_sensitivity),
            # pre-post correlation sensitivity (trialmeta.report.single_arm_section)
            "single_arm_sensitivity": read_parquet(snakemake.input.single_arm),
            # within-trial interactions (trialmeta.report.interactions_section)
            **{Path(p).stem: read_parquet(p) for p in snakemake.input.interactions},
            # "few trials" panel (trialmeta.report.few_trials; rules/bayes.smk)
            "bayes": read_parquet(snakemake.input.bayes),
            "few_trials": read_parquet(snakemake.input.few_trials),
        },
        cache_dir=snakemake.params.cache_dir,
        template_cache_dir=snakemake.params.template_cache_dir,
        changes=json.loads(Path(snakemake.input.changes).read_text(encoding="utf-8")),
        crosscheck=json.loads(Path(snakemake.input.crosscheck).read_text(encoding="utf-8")),
        summary_of_findings={
            "sof": read_parquet(snakemake.input.sof),
            "signals": read_parquet(snakemake.input.sof_signals),
            "evidence_map": list(snakemake.input.evidence_map),
        },
        published_figures=list(snakemake.input.figures),
        # the pages to render are shared by forked copies of this job, one per thread
        processes=snakemake.threads,
    )
    log.info("report: %s", index)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake
