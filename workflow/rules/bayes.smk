# tables/bayes.csv exists when the bayes setting is on (published by rules/publish.smk)
BAYES_ON = bool(SETTINGS.bayes)
BAYES_TABLES = [stage("tables", "bayes.csv")] if BAYES_ON else []


rule bayes:
    """Bayesian random-effects posterior of every analysis in one batched job (tables/bayes.csv),
    and the modified HKSJ interval and posterior figures of the analyses with few trials.
    """
    input:
        pooled=rules.pool.output.pooled,
        studies=rules.pool.output.studies,
        trials=rules.validate.output.trials,
    output:
        csv=BAYES_TABLES,
        parquet=work("bayes", "bayes.parquet"),
        few_trials=work("bayes", "few_trials.parquet"),
        figures=directory(stage("figures", "posterior")),
    log:
        log_file("bayes"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        code=PLAN["code"],
    script:
        "../scripts/bayes.py"
