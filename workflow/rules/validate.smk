rule validate:
    """Read and check every trial table at once; stop with every problem (file:row: column=value rule)."""
    input:
        trials=TRIAL_FILES,
    output:
        trials=work("validated", "trials.parquet"),
        warnings=work("validated", "warnings.json"),
        # within-trial subgroup rows (trialmeta.inputs.subgroup_rows), kept out of trials
        subgroups=work("validated", "subgroup_rows.parquet"),
    log:
        log_file("validate"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        settings=PLAN["settings"],
        code=PLAN["code"],
        plan_ids=ids_digest(ANALYSES),
        plan_ok=PLAN["ok"],
    script:
        "../scripts/validate.py"
