rule explore:
    """Heterogeneity and bias exploration of every analysis in one job, computed per batch of
    analyses (the figure jobs' batches), each batch kept between runs."""
    input:
        effects=rules.effect_sizes.output.effects,
        trials=rules.validate.output.trials,
    output:
        csv=report(
            expand(stage("tables", "{name}.csv"), name=EXPLORATION_TABLES),
            caption="../report/exploration.rst",
            category="Exploration",
        ),
        parquet=expand(work("exploration", "{name}.parquet"), name=EXPLORATION_TABLES),
    log:
        log_file("explore"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        code=PLAN["code"],
        # each batch's tables are kept between runs under the digest of its analyses: an edit
        # recomputes the batches it changes (trialmeta.pipeline.explore_batches)
        batches={batch.name: batch.digest for batch in EXPLORE_BATCHES},
        n_batches=EXPLORE_BATCHES[0].n_batches if EXPLORE_BATCHES else 0,
        cache_dir=work("render_cache", "explore"),
        # the CSV lines of analyses whose rows did not change (trialmeta.pipeline.csv_reuse)
        csv_cache=work("render_cache", "csv", "explore"),
    script:
        "../scripts/explore.py"
