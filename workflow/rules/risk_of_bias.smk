rule risk_of_bias:
    """Risk of bias (RoB 2): read and check the judgement tables (config risk_of_bias; every
    problem at once), risk_of_bias.csv and rob_sensitivity.csv (low-risk-only and
    excluding-high-risk re-analyses), traffic-light and summary plots. Without judgement tables
    the two CSVs have their header only."""
    input:
        rob=ROB_FILES,
        trials=rules.validate.output.trials,
        effects=rules.effect_sizes.output.effects,
        pooled=rules.pool.output.pooled,
        studies=rules.pool.output.studies,
    output:
        judgements=work("risk_of_bias", "judgements.parquet"),
        rob_parquet=work("risk_of_bias", "risk_of_bias.parquet"),
        sensitivity_parquet=work("risk_of_bias", "rob_sensitivity.parquet"),
        rob=stage("tables", "risk_of_bias.csv"),
        sensitivity=stage("tables", "rob_sensitivity.csv"),
        figures=directory(stage("figures", "risk_of_bias")),
    log:
        log_file("risk_of_bias"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        files=ROB_FILES,
        code=PLAN["code"],
    script:
        "../scripts/risk_of_bias.py"
