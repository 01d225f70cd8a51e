"""Config errors stop the workflow before anything runs: exit 1, one line naming the key, no
traceback, no results/ (the messages come from trialmeta.inputs.config)."""

import pytest

from helpers.workflow_project import make_project, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

CASES = [
    (["colour=red"], "config: colour: unknown key"),
    (['tau2_methods=["REML","REM"]'], "config: tau2_methods[1]: unknown tau2 method 'REM'"),
    (['trials=["data/nothing/*.csv"]'], "config: trials: 'data/nothing/*.csv' matches no file"),
    (
        ['group_by=["therapy","comparator","outcome","outcome_type","arm_colour"]'],
        "config: group_by[4]: column 'arm_colour' is not in the trial tables",
    ),
]


@pytest.fixture(scope="module")
def project():
    return make_project()


@pytest.mark.parametrize(
    ("overrides", "expected"), CASES, ids=[c[1].split(":")[1].strip() for c in CASES]
)
def test_config_error_is_one_line_naming_the_key(project, overrides, expected):
    proc = snakemake(project, "--cores", "1", "--config", *overrides, check=False, timeout=600)
    assert proc.returncode != 0
    hits = [line for line in proc.stderr.splitlines() if line.startswith(expected)]
    assert hits, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert not (project / "results").exists()
