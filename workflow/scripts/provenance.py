"""Rule provenance: what went in (SHA-256 of every trial table and config file), with what.

Deterministic on purpose (no time stamps, no host names, no absolute paths for files inside the
project: they are recorded relative to it): two runs of the same command on the same inputs and
code write the same bytes.
"""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import run_step, write_json
from trialmeta.pipeline.plan import settings_digest, sha256_file

PACKAGES = (
    "trialmeta",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "statsmodels",
    "matplotlib",
    "seaborn",
    "jinja2",
    "jsonschema",
    "openpyxl",
    "pyyaml",
    "snakemake",
)


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git(*args):
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def project_path(path, project=None) -> str:
    """``path`` relative to the project (the directory snakemake runs in) when it is inside it
    (a ``--configfile`` is given to the jobs by absolute path); other paths as they are."""
    project = Path(project or os.getcwd()).resolve()
    absolute = Path(os.path.abspath(path))
    for candidate in (absolute, absolute.resolve()):
        if candidate.is_relative_to(project):
            return candidate.relative_to(project).as_posix()
    return str(path)


def _file_record(path):
    return {"path": project_path(path), "sha256": sha256_file(path), "bytes": os.path.getsize(path)}


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    commit = _git("rev-parse", "HEAD")
    dirty = None
    if commit:
        status = _git("status", "--porcelain", "--untracked-files=no")
        dirty = bool(status) if status is not None else None
    record = {
        "inputs": [
            _file_record(p) for p in [*snakemake.input.trials, *snakemake.input.credibility]
        ],
        "config_files": [
            _file_record(p) for p in snakemake.params.configfiles if os.path.isfile(p)
        ],
        "config": settings.to_config(),
        "config_settings_sha256": settings_digest(settings),
        "trialmeta_code_sha256": snakemake.params.code,
        "packages": {name: _version(name) for name in PACKAGES},
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "git": {"commit": commit, "dirty": dirty},
        "command": os.environ.get("TRIALMETA_COMMAND", ""),
    }
    write_json(record, snakemake.output.provenance)
    log.info("provenance: %d inputs, git %s", len(record["inputs"]), commit)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake
