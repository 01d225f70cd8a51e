"""Rule pool: every analysis pooled in one batched call (trialmeta.tables.pooled.pool_analyses)."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import read_parquet, run_step, write_parquet
from trialmeta.tables.pooled import pool_analyses
from trialmeta.tables.single_arm import single_arm_pooled


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    effects = read_parquet(snakemake.input.effects)
    pooled, studies = pool_analyses(
        effects,
        list(settings.group_by),
        tau2_methods=list(settings.tau2_methods),
        ci_methods=list(settings.ci_methods),
        prediction_interval=settings.prediction_interval,
        level=settings.level,
        models=[m for m in settings.models if m != "glmm"],
    )
    # single-arm proportions (issue 17): back-transformed *_exp columns, model glmm rows
    pooled, studies = single_arm_pooled(
        pooled, studies, effects, models=settings.models, level=settings.level
    )
    log.info(
        "%d effect rows -> %d pooled rows, %d study rows", len(effects), len(pooled), len(studies)
    )
    write_parquet(pooled, snakemake.output.pooled)
    write_parquet(studies, snakemake.output.studies)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake
