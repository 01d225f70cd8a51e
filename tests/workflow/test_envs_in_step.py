"""envs/trialmeta.yaml (for `snakemake --use-conda`) pins the same versions as requirements.lock."""

import re
import tomllib

import yaml

from helpers.workflow_project import ROOT

# Run-time dependencies that are not needed inside a job's environment (snakemake runs the jobs).
NOT_IN_JOB_ENV = {"snakemake", "snakemake-executor-plugin-slurm"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", line)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def env_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "envs" / "trialmeta.yaml").read_text(encoding="utf-8"))
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict) and "pip" in dep:
            for spec in dep["pip"]:
                name, _, version = spec.partition("==")
                assert version, f"envs/trialmeta.yaml: {spec!r} is not pinned with =="
                pins[_norm(name)] = version
    return pins


def test_every_pin_matches_the_lock():
    lock, env = lock_pins(), env_pins()
    assert env, "no pip pins in envs/trialmeta.yaml"
    wrong = {n: (v, lock.get(n)) for n, v in env.items() if lock.get(n) != v}
    assert not wrong, f"env pin != lock (env, lock): {wrong}"


def test_every_runtime_dependency_is_in_the_env():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = {_norm(re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0]) for d in project["dependencies"]}
    missing = sorted(needed - {_norm(n) for n in NOT_IN_JOB_ENV} - set(env_pins()))
    assert not missing, f"runtime dependencies missing from envs/trialmeta.yaml: {missing}"


def test_python_version_matches_pyproject():
    env = yaml.safe_load((ROOT / "envs" / "trialmeta.yaml").read_text(encoding="utf-8"))
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert pythons == ["python=3.11"], pythons
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "requires-python"
    ]
    assert ">=3.11" in requires and "<3.12" in requires
