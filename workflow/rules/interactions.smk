rule interactions:
    """Within-trial and between-trial biomarker interactions, one batched job (issue 11)."""
    input:
        subgroups=rules.validate.output.subgroups,
        # the reviewer's ICEMAN judgements (config key credibility), when given
        credibility=[SETTINGS.credibility] if SETTINGS.credibility else [],
    output:
        csv=report(
            multiext(
                stage("tables", ""), "interactions.csv", "interaction_studies.csv"
            ),
            caption="../report/interactions.rst",
            category="Interactions",
        ),
        parquet=multiext(
            work("interactions", ""),
            "interactions.parquet",
            "interaction_studies.parquet",
            "interaction_levels.parquet",
            "interaction_credibility.parquet",
        ),
        figures=directory(stage("figures", "interactions")),
    log:
        log_file("interactions"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        code=PLAN["code"],
    script:
        "../scripts/interactions.py"
