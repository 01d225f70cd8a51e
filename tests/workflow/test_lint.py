"""The workflow passes `snakemake --lint` and `snakefmt --check` (issue 3)."""

import subprocess
import sys
from pathlib import Path

import pytest

from helpers.workflow_project import ROOT, make_project, snakemake

SNAKEFMT = Path(sys.executable).with_name("snakefmt")


def test_snakefmt_check_is_clean():
    proc = subprocess.run([str(SNAKEFMT), "--check", "workflow/"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.xdist_group("workflow")
def test_snakemake_lint_is_clean():
    project = make_project()
    proc = snakemake(project, "--lint", check=False, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out
    assert "Lints for" not in out, out
