rule explore:
    """Heterogeneity and bias exploration of every analysis in one batched job."""
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
    script:
        "../scripts/explore.py"
