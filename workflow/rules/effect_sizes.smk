rule effect_sizes:
    """Per-study effect sizes (one row per study x measure) for every analysis."""
    input:
        trials=rules.validate.output.trials,
    output:
        effects=work("effects.parquet"),
    log:
        log_file("effect_sizes"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        code=PLAN["code"],
    script:
        "../scripts/effect_sizes.py"
