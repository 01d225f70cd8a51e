"""A private single-node SLURM cluster on localhost, for tests and benchmarks.

Starts ``munged``, ``slurmctld`` and ``slurmd`` from the Debian packages (``slurmctld slurmd
slurm-client munge``) with their own ports, munge key and socket, and state/spool/log/pid
directories inside one private directory. Facts this relies on (measured on Debian 12 with
SLURM 22.05 and snakemake-executor-plugin-slurm 2.8.0):

* No slurmdbd: ``sacct`` does not work, so the plugin must poll with ``squeue``; that needs
  ``MinJobAge`` >= 3x the plugin's first-check delay and longer than its longest poll gap
  (180 s): ``MinJobAge=600``.
* ``slurm.conf`` must be at the default path ``/etc/slurm/slurm.conf``: the plugin's job step
  removes every ``SLURM_*`` variable (``SLURM_CONF`` too) before its inner ``srun``. The
  cluster therefore writes that file, backs up any file that was there, and restores it on
  :meth:`SlurmCluster.stop`. A global lock serialises clusters on one machine.
* Each daemon runs in the foreground (``-D`` / ``-F``) as a child of this process in its own
  session, so it is stopped by exactly its PID (cross-checked with its pid file). Each also
  gets SIGTERM from the kernel if this process dies without running :meth:`SlurmCluster.stop`
  (``PR_SET_PDEATHSIG``: a killed test run leaves no daemons behind; the next run restores
  ``slurm.conf``).
* ``JobCompType=jobcomp/filetxt`` records every finished job (id, name, state, partition,
  working directory) in a plain file: the proof that jobs really went through the scheduler
  without accounting.
* Two partitions: ``debug`` (the default) and ``other``, so a test can prove that a partition
  named in the profile reaches ``sbatch``.

Usage::

    ensure_slurm_installed()              # raises SlurmUnavailable with a reason
    with SlurmCluster(tmp_dir) as cluster:
        subprocess.run([...], env=cluster.env())
        cluster.completed_jobs()
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DEBIAN_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
# binary -> Debian package that ships it
REQUIRED_BINARIES = {
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sinfo": "slurm-client",
    "sbatch": "slurm-client",
    "squeue": "slurm-client",
    "scontrol": "slurm-client",
    "srun": "slurm-client",
    "munged": "munge",
}
SLURM_CONF = Path("/etc/slurm/slurm.conf")
BACKUP_SUFFIX = ".trialmeta-backup"
MARKER = "# written by trialmeta tests/slurm_cluster.py"
LOCK_FILE = Path("/tmp/trialmeta-slurm-cluster.lock")
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be provided on this machine; ``str(exc)`` says why (used as skip reason)."""


def _which(name: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(SBIN_DIRS)
    return shutil.which(name, path=path)


def missing_binaries() -> list[str]:
    return [b for b in REQUIRED_BINARIES if _which(b) is None]


def ensure_slurm_installed(timeout: float = 600) -> None:
    """Make sure the SLURM and munge binaries exist and we may run a cluster.

    Installs the Debian packages with apt-get when they are missing and we are root (waiting
    for the dpkg lock rather than fighting another apt-get). Raises :class:`SlurmUnavailable`
    with a clear reason otherwise. Writing ``/etc/slurm/slurm.conf`` needs root, too.
    """
    if os.geteuid() != 0:
        missing = missing_binaries()
        what = f"missing {', '.join(missing)}; " if missing else ""
        raise SlurmUnavailable(
            f"{what}a local SLURM cluster needs root (it writes /etc/slurm/slurm.conf and "
            f"runs slurmd); install with: apt-get install -y {' '.join(DEBIAN_PACKAGES)}"
        )
    if not missing_binaries():
        return
    if _which("apt-get") is None:
        raise SlurmUnavailable(
            f"missing {', '.join(missing_binaries())} and no apt-get to install "
            f"{' '.join(DEBIAN_PACKAGES)}"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [
        "apt-get", "install", "-y", "-q", "--no-install-recommends",
        "-o", "DPkg::Lock::Timeout=300", *DEBIAN_PACKAGES,
    ]  # fmt: skip
    deadline = time.monotonic() + timeout
    log = []
    for attempt in ("install", "update", "install"):
        cmd = install if attempt == "install" else [
            "apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=300",
        ]  # fmt: skip
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=left)
        except subprocess.TimeoutExpired:
            log.append(f"{' '.join(cmd)}: timed out")
            break
        log.append(f"{' '.join(cmd)}: exit {res.returncode}: {res.stderr.strip()[-500:]}")
        if attempt == "install" and res.returncode == 0 and not missing_binaries():
            return
    raise SlurmUnavailable(
        f"missing {', '.join(missing_binaries())} and apt-get could not install "
        f"{' '.join(DEBIAN_PACKAGES)}: " + " | ".join(log)
    )


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the forked child before exec: SIGTERM when the process that started it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: stop() still stops the daemons


def _read_or_none(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<{path}: {exc}>"
    return "\n".join(text[-lines:])


@dataclass
class FinishedJob:
    """One line of the jobcomp/filetxt log."""

    job_id: int
    name: str
    state: str
    exit_code: str
    partition: str = ""
    work_dir: str = ""


class SlurmCluster:
    """A single-node SLURM cluster in ``root`` (see the module docstring).

    ``start()`` is idempotent-safe to pair with ``stop()`` in ``try/finally``; ``stop()`` stops
    exactly the daemons this object started, by PID, and restores ``/etc/slurm/slurm.conf``.
    """

    def __init__(
        self, root: Path, *, partition: str = "debug", other_partition: str = "other",
        min_job_age: int = 600,
    ):  # fmt: skip
        self.root = Path(root).resolve()
        self.partition = partition  # the default partition
        self.other_partition = other_partition  # same node, not the default
        self.min_job_age = min_job_age
        self.ctld_port = _free_port()
        self.slurmd_port = _free_port()
        while self.slurmd_port == self.ctld_port:
            self.slurmd_port = _free_port()
        d = self.root
        self.munge_dir = d / "munge"
        self.munge_key = self.munge_dir / "munge.key"
        self.munge_socket = self.munge_dir / "munge.socket"
        self.state_dir = d / "state"
        self.spool_dir = d / "spool"
        self.log_dir = d / "log"
        self.run_dir = d / "run"
        self.jobcomp_log = self.log_dir / "jobcomp.log"
        self.ctld_log = self.log_dir / "slurmctld.log"
        self.slurmd_log = self.log_dir / "slurmd.log"
        self.conf_copy = d / "slurm.conf"
        self._procs: dict[str, subprocess.Popen] = {}
        self.last_pids: dict[str, int] = {}  # PIDs of the daemons started, kept after stop()
        self._lock_fd: int | None = None
        self._conf_installed = False
        self._backup: Path | None = None
        # /etc/slurm/slurm.conf as it was before start() and as stop() left it, both read while
        # holding the lock (another process's cluster may install its own file right after)
        self.conf_before: bytes | None = None
        self.conf_after_stop: bytes | None = None
        self.node_name = socket.gethostname().split(".")[0]

    # ------------------------------------------------------------------ config
    def _node_line(self) -> str:
        out = subprocess.run(
            [_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30
        ).stdout
        line = next((ln for ln in out.splitlines() if ln.startswith("NodeName=")), "")
        if not line:
            raise SlurmUnavailable(f"`slurmd -C` printed no node line: {out!r}")
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        fields.pop("UpTime", None)
        self.node_name = fields["NodeName"]
        self.real_memory_mb = int(fields.get("RealMemory", "1000"))
        self.cpus = int(fields.get("CPUs", "1"))
        return " ".join(f"{k}={v}" for k, v in fields.items()) + " NodeAddr=127.0.0.1 State=UNKNOWN"

    def slurm_conf(self) -> str:
        node = self._node_line()
        return f"""{MARKER}
# A private single-node test cluster; the previous file (if any) is restored on teardown.
ClusterName=trialmeta
SlurmctldHost={self.node_name}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={self.state_dir}
SlurmdSpoolDir={self.spool_dir}
SlurmctldPidFile={self.run_dir}/slurmctld.pid
SlurmdPidFile={self.run_dir}/slurmd.pid
SlurmctldLogFile={self.ctld_log}
SlurmdLogFile={self.slurmd_log}
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge={self.min_job_age}
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp_log}
MailProg=/bin/true
{node}
PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName={self.other_partition} Nodes=ALL Default=NO MaxTime=INFINITE State=UP
"""

    # ------------------------------------------------------------------ lock and conf file
    def _acquire_lock(self, timeout: float) -> None:
        fd = os.open(LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise SlurmUnavailable(
                        f"another test cluster holds {LOCK_FILE} for more than {timeout:.0f} s"
                    ) from exc
                time.sleep(0.5)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _install_conf(self) -> None:
        backup = SLURM_CONF.with_name(SLURM_CONF.name + BACKUP_SUFFIX)
        # A file carrying our marker was left by a crashed run (we hold the lock, so no live
        # run owns it): put the original back before starting.
        if SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text(errors="replace"):
            if backup.exists():
                os.replace(backup, SLURM_CONF)
            else:
                SLURM_CONF.unlink()
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        self.conf_before = _read_or_none(SLURM_CONF)
        if SLURM_CONF.exists():
            shutil.copy2(SLURM_CONF, backup)
            self._backup = backup
        text = self.slurm_conf()
        self.conf_copy.write_text(text)
        tmp = SLURM_CONF.with_name(SLURM_CONF.name + ".trialmeta-new")
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, SLURM_CONF)
        self._conf_installed = True

    def _restore_conf(self) -> None:
        if not self._conf_installed:
            return
        if self._backup is not None and self._backup.exists():
            os.replace(self._backup, SLURM_CONF)
        elif SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text(errors="replace"):
            SLURM_CONF.unlink()
        self._conf_installed = False

    # ------------------------------------------------------------------ daemons
    def _spawn(self, name: str, argv: list[str]) -> None:
        out = open(self.log_dir / f"{name}.stdout", "ab")
        try:
            self._procs[name] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: signals do not leak either way
                cwd=self.root,
                preexec_fn=_die_with_parent,
            )
        finally:
            out.close()
        self.last_pids[name] = self._procs[name].pid
        (self.run_dir / f"{name}.started-pid").write_text(str(self._procs[name].pid))

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode} during start-up\n{self.log_tails()}"
                )

    def _wait_for(self, what: str, predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if predicate():
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"timed out after {timeout:.0f} s waiting for {what}\n{self.log_tails()}"
        )

    def _run(self, argv: list[str], timeout: float = 15) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env())

    def env(self, base: dict | None = None) -> dict:
        """Environment for client commands and Snakemake: sbin on PATH, no stray SLURM_*."""
        env = {k: v for k, v in (base or os.environ).items() if not k.startswith("SLURM_")}
        path = env.get("PATH", "")
        extra = [d for d in SBIN_DIRS if d not in path.split(os.pathsep)]
        env["PATH"] = os.pathsep.join([path, *extra]) if path else os.pathsep.join(extra)
        return env

    def node_state(self) -> str:
        try:
            res = self._run(["sinfo", "-h", "-N", "-o", "%T"], timeout=10)
        except subprocess.TimeoutExpired:
            return "timeout"
        return res.stdout.strip() if res.returncode == 0 else f"error: {res.stderr.strip()}"

    def start(self, timeout: float = 60, lock_timeout: float = 900) -> SlurmCluster:
        for d in (self.munge_dir, self.state_dir, self.spool_dir, self.log_dir, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.munge_dir, 0o755)  # munged wants the socket dir world-executable
        self._acquire_lock(lock_timeout)
        try:
            self.munge_key.write_bytes(os.urandom(1024))
            os.chmod(self.munge_key, 0o600)
            self._install_conf()
            self._spawn("munged", [
                _which("munged"), "-F", "--force",
                f"--key-file={self.munge_key}", f"--socket={self.munge_socket}",
                f"--pid-file={self.run_dir}/munged.pid",
                f"--seed-file={self.munge_dir}/munged.seed",
            ])  # fmt: skip
            self._wait_for("the munge socket", self.munge_socket.exists, timeout)
            self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(SLURM_CONF)])
            self._wait_for(
                "slurmctld to answer",
                lambda: self._run(["scontrol", "ping"], timeout=10).stdout.count("UP") > 0,
                timeout,
            )
            self._spawn("slurmd", [_which("slurmd"), "-D", "-f", str(SLURM_CONF)])
            self._wait_for(
                "the node to become idle",
                lambda: self.node_state().startswith("idle"),
                timeout,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 10) -> None:
        """Stop exactly the daemons started here (by PID), restore slurm.conf, release lock."""
        try:
            if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
                # cancel whatever is still queued or running on *this* cluster
                try:
                    if self._run(["squeue", "-h", "-o", "%i"], timeout=10).stdout.strip():
                        self._run(["scancel", f"--partition={self.partition}"], timeout=10)
                        self._run(["scancel", f"--partition={self.other_partition}"], timeout=10)
                        # let slurmd end the job steps before it goes away itself
                        deadline = time.monotonic() + 15
                        while (
                            time.monotonic() < deadline
                            and self._run(
                                ["squeue", "-h", "-o", "%i", "-t", "PD,R,CG"], timeout=10
                            ).stdout.strip()
                        ):
                            time.sleep(0.5)
                except (subprocess.TimeoutExpired, OSError):
                    pass
            for name in ("slurmd", "slurmctld", "munged"):
                proc = self._procs.get(name)
                if proc is None:
                    continue
                pid_file = self.run_dir / f"{name}.pid"
                if pid_file.exists():
                    text = pid_file.read_text().strip()
                    if text.isdigit() and int(text) != proc.pid:
                        # daemons run in the foreground: the pid file must name our child
                        print(f"warning: {pid_file} says {text}, started {proc.pid}")
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(grace)
                    except subprocess.TimeoutExpired:
                        os.kill(proc.pid, signal.SIGKILL)
                        proc.wait(grace)
        finally:
            self._procs.clear()
            try:
                installed = self._conf_installed
                self._restore_conf()
                if installed:
                    self.conf_after_stop = _read_or_none(SLURM_CONF)
            finally:
                self._release_lock()

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ evidence
    def finished_jobs(self) -> list[FinishedJob]:
        """Jobs that finished on this cluster, from the jobcomp/filetxt log."""
        if not self.jobcomp_log.exists():
            return []
        jobs = []
        for line in self.jobcomp_log.read_text(errors="replace").splitlines():
            f = dict(re.findall(r"(\w+)=(\S*)", line))
            if "JobId" in f:
                jobs.append(
                    FinishedJob(int(f["JobId"]), f.get("Name", ""), f.get("JobState", ""),
                                f.get("ExitCode", ""), f.get("Partition", ""),
                                f.get("WorkDir", ""))
                )  # fmt: skip
        return jobs

    def submitted_job_ids(self) -> list[int]:
        """Job ids slurmctld accepted via sbatch, from its log."""
        text = self.ctld_log.read_text(errors="replace") if self.ctld_log.exists() else ""
        return [int(m) for m in re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", text)]

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        for path in (self.ctld_log, self.slurmd_log, self.log_dir / "munged.stdout"):
            parts.append(f"----- {path.name} (last {lines} lines) -----\n{_tail(path, lines)}")
        return "\n".join(parts)

    def started_pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self._procs.items()}
