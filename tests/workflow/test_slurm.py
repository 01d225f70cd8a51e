"""The workflow through a real single-node SLURM cluster.

The fixture starts munged, slurmctld and slurmd from the Debian packages (installing them with
apt-get when root and missing) on private ports with a private munge key, runs Snakemake with
``--workflow-profile workflow/profiles/slurm`` (executor ``slurm``), proves the jobs went through
the scheduler (slurmctld's submit log, the jobcomp/filetxt record of every finished job, and the
job id each rule saw in ``$SLURM_JOB_ID``), and compares every output byte for byte with a local
run. Every Snakemake run has a hard timeout: a misconfigured scheduler hangs silently, it does
not fail. Skipped, with the reason, only when SLURM cannot be installed (not root, no apt).

    .venv/bin/python -m pytest tests/workflow/test_slurm.py -q
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import slurm_cluster
from helpers.slurm_cluster import SlurmCluster, SlurmUnavailable, ensure_slurm_installed

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

ROOT = Path(__file__).resolve().parents[2]
SLURM_PROFILE = ROOT / "workflow" / "profiles" / "slurm"
PYTHON = sys.executable
# Poll the scheduler 1 s after submitting (the profile's 10 s suits a real cluster, and a
# test run is mostly waiting for polls).
FAST_POLL = ["--slurm-init-seconds-before-status-checks", "1"]


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        ensure_slurm_installed()
    except SlurmUnavailable as exc:
        pytest.skip(f"no local SLURM: {exc}")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm-cluster"))
    try:
        cluster.start()  # stops what it started itself if it fails half-way
        yield cluster
    finally:
        cluster.stop()
    # exactly the daemons we started are gone, and the machine's slurm.conf is as it was
    # (compared under the cluster lock: another xdist worker may start its cluster right after)
    assert set(cluster.last_pids) == {"munged", "slurmctld", "slurmd"}
    assert all(not _pid_alive(p) for p in cluster.last_pids.values())
    assert cluster.conf_after_stop == cluster.conf_before


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


# ---------------------------------------------------------------------------- running Snakemake
@dataclass
class Run:
    returncode: int
    output: str
    seconds: float

    def slurm_job_ids(self) -> list[int]:
        """SLURM job ids Snakemake reported submitting."""
        return [int(x) for x in re.findall(r"submitted with SLURM jobid (\d+)", self.output)]

    def run_uuid(self) -> str | None:
        m = re.search(r"SLURM run ID: (\S+)", self.output)
        return m.group(1) if m else None


class Snakemake:
    """One Snakemake process in its own process group, output to a file."""

    def __init__(self, args, *, cwd: Path, cluster: SlurmCluster | None):
        self.args, self.cluster = [str(a) for a in args], cluster
        env = cluster.env() if cluster else {k: v for k, v in os.environ.items()
                                             if not k.startswith("SLURM_")}  # fmt: skip
        where = "slurm" if cluster else "local"
        self.log_path = cwd / f"snakemake-{where}-{time.monotonic_ns()}.out"
        self.start = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "snakemake", *self.args],
                cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGTERM the process group (Snakemake then cancels its SLURM jobs), then SIGKILL."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def wait(self, timeout: float) -> Run:
        """Wait at most ``timeout`` s from start; on timeout kill it and fail with the logs."""
        left = max(1.0, timeout - (time.monotonic() - self.start))
        try:
            self.proc.wait(left)
        except subprocess.TimeoutExpired:
            self.kill()
            output = self.log_path.read_text(errors="replace")
            tails = self.cluster.log_tails(40) if self.cluster else ""
            pytest.fail(
                f"snakemake {' '.join(self.args)} did not finish within {timeout:.0f} s "
                f"(a silent hang: killed)\n----- snakemake output (tail) -----\n"
                f"{output[-6000:]}\n{tails}"
            )
        output = self.log_path.read_text(errors="replace")
        return Run(self.proc.returncode, output, time.monotonic() - self.start)


def run_snakemake(args, *, cwd: Path, cluster: SlurmCluster | None, timeout: float) -> Run:
    proc = Snakemake(args, cwd=cwd, cluster=cluster)
    try:
        return proc.wait(timeout)
    finally:
        proc.kill()


def slurm_args(*extra, profile: Path = SLURM_PROFILE) -> list[str]:
    return ["--workflow-profile", str(profile), *FAST_POLL, *extra]


def assert_went_through_slurm(
    run: Run, cluster: SlurmCluster, before: set[int], *, expected: int, workdir: Path,
    partition: str,
):  # fmt: skip
    """The jobs Snakemake submitted are exactly the new ones slurmctld accepted and finished,
    all COMPLETED, in ``partition``, in ``workdir``, named after this Snakemake run."""
    reported = set(run.slurm_job_ids())
    accepted = set(cluster.submitted_job_ids()) - before
    finished = {j.job_id: j for j in cluster.finished_jobs() if j.job_id not in before}
    context = f"\n----- snakemake output (tail) -----\n{run.output[-4000:]}\n{cluster.log_tails()}"
    assert len(reported) == expected, (
        f"expected {expected} SLURM jobs, got {sorted(reported)}{context}"
    )
    assert reported == accepted, (
        f"snakemake {sorted(reported)} vs slurmctld {sorted(accepted)}{context}"
    )
    assert set(finished) == reported, f"jobcomp records {sorted(finished)}{context}"
    assert run.run_uuid(), f"no SLURM run ID in the output{context}"
    for job in finished.values():
        assert job.state == "COMPLETED" and job.exit_code == "0:0", f"{job}{context}"
        assert job.name == run.run_uuid(), f"job {job.job_id} named {job.name}{context}"
        assert job.partition == partition, f"{job}{context}"
        assert Path(job.work_dir).resolve() == workdir.resolve(), f"{job}{context}"


def tree_files(root: Path) -> dict[str, Path]:
    """Every file under ``root`` (hidden ones too), by relative path."""
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_outputs(local: Path, slurm: Path) -> int:
    """Both trees hold the same files, each byte-identical; returns the number of files."""
    a, b = tree_files(local), tree_files(slurm)
    assert sorted(a) == sorted(b), f"file sets differ: {sorted(set(a) ^ set(b))}"
    assert a, f"no outputs under {local}"
    differ = [rel for rel in a if a[rel].read_bytes() != b[rel].read_bytes()]
    assert not differ, f"outputs differ between the local and the SLURM run: {differ}"
    return len(a)


# ---------------------------------------------------------------------------- harness unit tests
def test_not_root_means_skip_with_reason(monkeypatch):
    """Without root there is no cluster: the fixture turns this into a skip naming the reason."""
    monkeypatch.setattr(slurm_cluster.os, "geteuid", lambda: 1000)
    with pytest.raises(SlurmUnavailable, match="needs root"):
        ensure_slurm_installed()


def test_slurm_conf_is_backed_up_and_restored(tmp_path, monkeypatch):
    """An existing slurm.conf is put back; one left by a crashed run is cleaned up first."""
    conf = tmp_path / "etc" / "slurm.conf"
    monkeypatch.setattr(slurm_cluster, "SLURM_CONF", conf)
    cluster = SlurmCluster(tmp_path / "c1")
    cluster.root.mkdir()
    monkeypatch.setattr(cluster, "slurm_conf", lambda: f"{slurm_cluster.MARKER}\nours\n")

    conf.parent.mkdir()
    conf.write_text("site config\n")
    cluster._install_conf()
    assert conf.read_text().startswith(slurm_cluster.MARKER)
    assert cluster.conf_before == b"site config\n"
    cluster._restore_conf()
    assert conf.read_text() == "site config\n"
    assert list(conf.parent.iterdir()) == [conf]

    # a crashed run left its file and the backup behind: the site file comes back
    conf.write_text(f"{slurm_cluster.MARKER}\nstale\n")
    conf.with_name(conf.name + slurm_cluster.BACKUP_SUFFIX).write_text("site config\n")
    cluster._install_conf()
    cluster._restore_conf()
    assert conf.read_text() == "site config\n"

    # no file before: none after
    conf.unlink()
    cluster._install_conf()
    cluster._restore_conf()
    assert not conf.exists()


# ---------------------------------------------------------------------------- harness self-test
TINY_SNAKEFILE = r"""
SAMPLES = ["a"]

localrules: all, combine


rule all:
    input:
        "results/combined.txt",
        "results/never.txt",


rule square:
    output:
        "results/square/{s}.txt",
    log:
        "logs/square/{s}.log",
    params:
        n=lambda wc: ord(wc.s),
    shell:
        "echo $(( {params.n} * {params.n} )) > {output}; echo ${{SLURM_JOB_ID:-none}} > {log}"


rule combine:
    input:
        expand("results/square/{s}.txt", s=SAMPLES),
    output:
        "results/combined.txt",
    log:
        "logs/combine.log",
    shell:
        "cat {input} > {output}; echo ${{SLURM_JOB_ID:-none}} > {log}"


rule fail:
    output:
        "results/never.txt",
    log:
        "logs/fail.log",
    shell:
        "echo ${{SLURM_JOB_ID:-none}} > {log}; exit 3"
"""


def test_harness_tiny_workflow_through_slurm(cluster, tmp_path):
    """Self-test of the harness and the profile's executor settings on a 4-rule Snakefile.

    A `square` job and a failing `fail` job as two SLURM jobs (the failure must end the run
    with an error, not a hang), `combine` as a local rule. With --keep-going the outputs that
    can be made are made, identical to a local run. (Grouping is covered by the main test.)
    """
    runs = {}
    for where in ("local", "slurm"):
        d = tmp_path / where
        d.mkdir()
        (d / "Snakefile").write_text(TINY_SNAKEFILE)
    runs["local"] = run_snakemake(["--cores", "2", "--keep-going"], cwd=tmp_path / "local",
                                  cluster=None, timeout=120)  # fmt: skip
    before = set(cluster.submitted_job_ids())
    slurm = tmp_path / "slurm"
    run = run_snakemake(
        slurm_args("--keep-going"),
        cwd=slurm, cluster=cluster, timeout=300,
    )  # fmt: skip
    assert runs["local"].returncode == 1, runs["local"].output[-3000:]
    assert run.returncode == 1, run.output[-6000:] + cluster.log_tails()
    assert "SLURM status is: 'FAILED'" in run.output, run.output[-6000:]

    reported = set(run.slurm_job_ids())
    assert len(reported) == 2, run.output[-6000:]
    assert reported == set(cluster.submitted_job_ids()) - before
    finished = {j.job_id: j for j in cluster.finished_jobs() if j.job_id not in before}
    assert set(finished) == reported, cluster.log_tails()
    assert all(j.name == run.run_uuid() for j in finished.values())
    # no partition in the shipped profile: SLURM's default partition
    assert all(j.partition == cluster.partition for j in finished.values())
    assert all(Path(j.work_dir).resolve() == slurm.resolve() for j in finished.values())
    # each rule saw the SLURM job it ran in (recorded by SLURM as COMPLETED / FAILED);
    # `combine` ran on the submit host
    square_job = int((slurm / "logs/square/a.log").read_text())
    fail_job = int((slurm / "logs/fail.log").read_text())
    assert {square_job, fail_job} == reported
    assert finished[square_job].state == "COMPLETED"
    assert finished[fail_job].state == "FAILED"
    assert (slurm / "logs/combine.log").read_text().strip() == "none"
    assert "localrule combine:" in run.output
    assert assert_same_outputs(tmp_path / "local" / "results", slurm / "results") == 2


# ---------------------------------------------------------------------------- the shipped workflow
# The command is the one input a run records about itself (provenance.json and the report show
# it). Both runs get the same one, so every output file can be compared byte for byte.
RECORDED_COMMAND = "snakemake --snakefile workflow/Snakefile (tests/workflow/test_slurm.py)"


def copy_project(dst: Path) -> Path:
    """The workflow, its config, the shipped data and envs/: what a user's checkout has."""
    ignore = shutil.ignore_patterns("__pycache__", ".snakemake", "*.egg-info", "results")
    dst.mkdir(parents=True)
    for name in ("workflow", "config", "data", "envs"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dst / name, ignore=ignore)
    return dst


def profile_with_partition(dst: Path, partition: str) -> Path:
    """A copy of the shipped profile with its commented `slurm_partition` line filled in, as
    the README tells users to do."""
    text = (SLURM_PROFILE / "profile.yaml").read_text()
    placeholder = '  # slurm_partition: "<partition>"\n'
    assert placeholder in text, "the profile lost its slurm_partition placeholder"
    dst.mkdir(parents=True)
    (dst / "profile.yaml").write_text(
        text.replace(placeholder, f'  slurm_partition: "{partition}"\n')
    )
    return dst


def profile_settings() -> dict:
    import yaml

    return yaml.safe_load((SLURM_PROFILE / "profile.yaml").read_text())


def profile_groups() -> dict[str, str]:
    return profile_settings().get("groups") or {}


def profile_max_mem_mb() -> int:
    """The largest memory request of any job in the profile (MB)."""
    cfg = profile_settings()
    values = [cfg["default-resources"]["mem_mb"]]
    values += [r["mem_mb"] for r in (cfg.get("set-resources") or {}).values() if "mem_mb" in r]
    return max(int(v) for v in values)


def executed_rules(output: str) -> tuple[set[str], set[str]]:
    """(rules run as SLURM jobs, rules run locally) from a Snakemake log."""
    remote = set(re.findall(r"^\s*rule (\w+):", output, re.M))
    local = set(re.findall(r"^\s*localrule (\w+):", output, re.M))
    return remote, local


def test_shipped_workflow_through_slurm_matches_local_run(cluster, tmp_path, monkeypatch):
    """The shipped workflow via `--workflow-profile workflow/profiles/slurm` on a real SLURM:
    every job outside `localrules` was submitted to, run and completed by slurmctld/slurmd (in
    the partition set in the profile, not the default one), and every table, figure and report
    file is byte-identical to a local run."""
    assert (ROOT / "workflow" / "Snakefile").exists(), "workflow/Snakefile is missing"
    monkeypatch.setenv("TRIALMETA_COMMAND", RECORDED_COMMAND)
    local = copy_project(tmp_path / "local")
    slurm = copy_project(tmp_path / "slurm")
    snakefile = ["--snakefile", "workflow/Snakefile", "--configfile", "config/example.yaml"]

    # A job asking for more memory than the node has would wait in the queue forever.
    assert profile_max_mem_mb() <= cluster.real_memory_mb, (
        f"the profile asks for up to {profile_max_mem_mb()} MB per job, the test node has "
        f"{cluster.real_memory_mb} MB: jobs would stay PENDING"
    )

    # Both runs at once: the SLURM run mostly waits for the scheduler's polls.
    profile = profile_with_partition(tmp_path / "profile", cluster.other_partition)
    before = set(cluster.submitted_job_ids())
    procs = [
        Snakemake([*snakefile, *slurm_args(profile=profile)], cwd=slurm, cluster=cluster),
        Snakemake([*snakefile, "--workflow-profile", "workflow/profiles/default", "--cores", "2"],
                  cwd=local, cluster=None),
    ]  # fmt: skip
    try:
        run, run_local = (p.wait(timeout=600) for p in procs)
    finally:
        for p in procs:
            p.kill()
    assert run_local.returncode == 0, run_local.output[-6000:]
    assert run.returncode == 0, run.output[-8000:] + cluster.log_tails()

    # Which jobs went where: the profile's groups become one SLURM job each; every other
    # non-local job is one SLURM job; localrules never reach the scheduler.
    remote, local_rules = executed_rules(run.output)
    groups = profile_groups()
    assert remote, f"no job went to SLURM:\n{run.output[-6000:]}"
    assert {"pool", "validate", "effect_sizes"} <= remote, remote
    assert any(r.startswith("figures_") for r in remote), remote
    assert "publish" in local_rules and not remote & local_rules
    used_groups = {groups[r] for r in remote if r in groups}
    expected = len(used_groups) + len([r for r in remote if r not in groups])
    assert_went_through_slurm(run, cluster, before, expected=expected, workdir=slurm,
                              partition=cluster.other_partition)  # fmt: skip

    n = assert_same_outputs(local / "results", slurm / "results")
    assert n >= 10, n
    names = set(tree_files(slurm / "results"))
    assert any(p.endswith(".svg") for p in names)  # figures.formats default [svg]
    assert any(p.endswith(".csv") for p in names) and "report/index.html" in names
    provenance = json.loads((slurm / "results" / "provenance.json").read_text())
    assert provenance.get("command") == RECORDED_COMMAND
