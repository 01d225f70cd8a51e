rule pool:
    """Pool all analyses in one batched job (every tau2 estimator, CI method and model)."""
    input:
        effects=rules.effect_sizes.output.effects,
    output:
        pooled=stage("tables", "pooled.parquet"),
        studies=stage("tables", "studies.parquet"),
    log:
        log_file("pool"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        code=PLAN["code"],
    script:
        "../scripts/pool.py"
