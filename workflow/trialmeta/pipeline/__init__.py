"""Pipeline plumbing for the Snakemake jobs: the parse-time plan and figure batches, job I/O and
logging, the render cache, formula-safe CSV and atomic publishing of ``results/``.
"""
