"""Rule pool: every analysis pooled in one batched call (trialmeta.tables.pooled.pool_analyses)."""

from trialmeta.tables.pooled import pool_analyses
from trialmeta.pipeline.jobs import read_parquet, run_step, write_parquet


def main(snakemake, log):
    config = snakemake.params.config
    effects = read_parquet(snakemake.input.effects)
    pooled, studies = pool_analyses(
        effects,
        list(config["group_by"]),
        tau2_methods=config["tau2_methods"],
        ci_methods=config["ci_methods"],
        prediction_interval=config["prediction_interval"],
        level=config["level"],
        models=config["models"],
    )
    log.info("%d effect rows -> %d pooled rows, %d study rows", len(effects), len(pooled), len(studies))
    write_parquet(pooled, snakemake.output.pooled)
    write_parquet(studies, snakemake.output.studies)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake
