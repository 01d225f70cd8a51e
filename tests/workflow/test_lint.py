"""What `make lint` checks, as tests: ruff (lint and format), `snakemake --lint`, `snakefmt`;
and the project's metadata: LICENSE agrees with pyproject.toml, the workflow-catalog file parses
and points at the workflow's real configuration."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from helpers.workflow_project import ROOT, make_project, snakemake

SNAKEFMT = Path(sys.executable).with_name("snakefmt")
RUFF = Path(sys.executable).with_name("ruff")
if not RUFF.exists():
    RUFF = Path(shutil.which("ruff") or RUFF)
PYTHON_DIRS = ["workflow/", "tests/"]  # the same as PY_DIRS in the Makefile
CATALOG = ROOT / ".snakemake-workflow-catalog.yml"

needs_ruff = pytest.mark.skipif(
    not RUFF.exists(), reason="ruff is not installed (it comes with the test extra: make setup)"
)


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_snakefmt_check_is_clean():
    proc = _run(str(SNAKEFMT), "--check", "workflow/")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_ruff
def test_ruff_check_is_clean():
    proc = _run(str(RUFF), "check", "--no-cache", *PYTHON_DIRS)
    assert proc.returncode == 0, "`make format` fixes most of these:\n" + proc.stdout + proc.stderr


@needs_ruff
def test_ruff_format_check_is_clean():
    proc = _run(str(RUFF), "format", "--check", "--no-cache", *PYTHON_DIRS)
    assert proc.returncode == 0, "run `make format`:\n" + proc.stdout + proc.stderr


@pytest.mark.xdist_group("workflow")
def test_snakemake_lint_is_clean():
    project = make_project()
    proc = snakemake(project, "--lint", check=False, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out
    assert "Lints for" not in out, out


def test_license_file_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["license"]
    declared = declared["text"] if isinstance(declared, dict) else declared
    lines = (ROOT / "LICENSE").read_text(encoding="utf-8").splitlines()
    assert declared == "MIT", declared
    assert lines[0] == "MIT License", lines[0]
    assert re.fullmatch(r"Copyright \(c\) 20\d\d the trialmeta authors", lines[2]), lines[2]
    assert any("Permission is hereby granted, free of charge" in line for line in lines)


def test_workflow_catalog_file_describes_the_workflow():
    usage = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["usage"]
    assert usage["software-stack-deployment"]["conda"] is True
    assert usage["report"] is True
    assert isinstance(usage["mandatory-flags"]["desc"], str)
    # The catalog's standardized usage needs workflow/Snakefile and config/README.md.
    snakefile = (ROOT / "workflow" / "Snakefile").read_text(encoding="utf-8")
    assert (ROOT / "config" / "README.md").is_file()
    configfiles = re.findall(r'^configfile:\s*"([^"]+)"', snakefile, flags=re.M)
    assert configfiles == ["config/config.yaml"], configfiles
    named = set(re.findall(r"config/\w+(?:\.\w+)*", usage["mandatory-flags"]["desc"]))
    assert named == {"config/config.yaml", "config/example.yaml", "config/README.md"}, named
    assert all((ROOT / path).is_file() for path in named)
    # conda: true holds only if every rule with a conda directive uses the shipped environment.
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text(encoding="utf-8")
    env = re.search(r'^CONDA_ENV = "([^"]+)"', common, flags=re.M).group(1)
    assert (ROOT / "workflow" / "rules" / env).resolve() == ROOT / "envs" / "trialmeta.yaml"
