"""Shared test helpers: reference data, trial-table builders, workflow projects, browser, SLURM."""
