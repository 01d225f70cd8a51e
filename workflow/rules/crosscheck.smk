rule crosscheck:
    """Double programming: each analysis's primary random-effects result recomputed by PyMARE
    and statsmodels and compared with trialmeta's (tables/crosscheck.csv)."""
    input:
        pooled=rules.pool.output.pooled,
        studies=rules.pool.output.studies,
    output:
        csv=report(
            stage("tables", "crosscheck.csv"),
            caption="../report/crosscheck.rst",
            category="Tables",
        ),
        summary=work("crosscheck.json"),
    log:
        log_file("crosscheck"),
    # first among the jobs that wait for pooling (with the CSV tables): the longest of them, and
    # the report waits for it; started last, it kept the report waiting (issue 16)
    priority: 1
    conda:
        CONDA_ENV
    params:
        config=CFG,
        code=PLAN["code"],
    script:
        "../scripts/crosscheck.py"
