# What changed since the results published before this run (or config compare_to):
# tables/changes.csv and changes.json (trialmeta.pipeline.compare). The baseline is read when the
# job runs, before publish; CHANGES_KEY (a signature of the baseline directory) reruns the job
# when the baseline is replaced, and stays the same after this run's own publish (the publish job
# records both signatures in published.json).
CHANGES_BASELINE = (
    os.path.normpath(SETTINGS.compare_to) if SETTINGS.compare_to else RESULTS
)


CHANGES_KEY = changes_key(CHANGES_BASELINE, RESULTS, PUBLISHED)


localrules:
    changes,


rule changes:
    """What changed since the previous results: trials, analyses, primary results, settings."""
    input:
        pooled=rules.tables.output.pooled,
        studies=rules.tables.output.studies,
        provenance=rules.provenance.output.provenance,
    output:
        csv=stage("tables", "changes.csv"),
        json=stage("changes.json"),
    log:
        log_file("changes"),
    conda:
        CONDA_ENV
    params:
        baseline=CHANGES_BASELINE,
        baseline_key=CHANGES_KEY,
        move_fraction=SETTINGS.changes_move_fraction,
        code=PLAN["code"],
    script:
        "../scripts/changes.py"
