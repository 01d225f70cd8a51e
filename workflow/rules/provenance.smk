rule provenance:
    """SHA-256 of every input and of the config, package versions, git commit, the command."""
    input:
        trials=TRIAL_FILES,
        # the reviewer's ICEMAN judgements (config credibility; rules/interactions.smk)
        credibility=[SETTINGS.credibility] if SETTINGS.credibility else [],
    output:
        provenance=report(
            stage("provenance.json"),
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        log_file("provenance"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        # in the order they are applied: the Snakefile's configfile, then the --configfile ones
        configfiles=applied_configfiles(),
        code=PLAN["code"],
    script:
        "../scripts/provenance.py"
