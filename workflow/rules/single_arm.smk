rule single_arm:
    """Single-arm pre-post change: the pooled change at the configured prepost_correlation and at
    0.3 and 0.7 (trialmeta.tables.single_arm.prepost_sensitivity)."""
    input:
        trials=rules.validate.output.trials,
    output:
        csv=report(
            stage("tables", "single_arm_sensitivity.csv"),
            caption="../report/single_arm.rst",
            category="Tables",
        ),
        parquet=work("single_arm_sensitivity.parquet"),
    log:
        log_file("single_arm"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        code=PLAN["code"],
    script:
        "../scripts/single_arm.py"
