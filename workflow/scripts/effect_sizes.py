"""Rule effect_sizes: one row per study x measure (trialmeta.stats.effect_sizes.compute_effect_sizes)."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import read_parquet, run_step, write_parquet
from trialmeta.tables.single_arm import effects_with_single_arm


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    trials = read_parquet(snakemake.input.trials)
    # randomised rows: trialmeta.tables.effects.compute_effect_sizes; single-arm rows (issue 17)
    effects = effects_with_single_arm(
        trials,
        measures=settings.measures.as_dict(),
        continuity=settings.continuity.as_dict(),
        prepost_correlation=settings.prepost_correlation,
    )
    log.info("%d trial rows -> %d effect rows", len(trials), len(effects))
    write_parquet(effects, snakemake.output.effects)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake
