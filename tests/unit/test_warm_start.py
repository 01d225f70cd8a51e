"""trialmeta.pipeline.warm_start: a job handed to the warm process runs as it would in its own
process (streams, directory, environment, command line, exit status, signals), and runs in its
own process when there is no warm process. That the workflow's outputs are the same either way is
tests/workflow/test_reproducible.py."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trialmeta.pipeline import warm_start

pytestmark = pytest.mark.skipif(
    not (hasattr(os, "pidfd_open") and hasattr(__import__("socket"), "send_fds")),
    reason="warm start needs Linux (os.pidfd_open)",
)

JOB = """\
from trialmeta.pipeline.warm_start import hand_over

hand_over()
import os, sys, time
print("out", os.environ.get("TRIALMETA_WARM_CHILD", "own process"), os.getcwd(), sys.argv[1:])
print("err", os.environ.get("JOB_VALUE"), file=sys.stderr)
with open("written.txt", "w") as fh:
    fh.write(str(os.getpid()))
if os.environ.get("JOB_SLEEP"):
    print("sleeping", flush=True)
    time.sleep(60)
if os.environ.get("JOB_RAISE"):
    raise ValueError("boom")
sys.exit(int(os.environ.get("JOB_STATUS", "0")))
"""


@pytest.fixture
def job(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(JOB, encoding="utf-8")
    return script


@pytest.fixture
def warm(monkeypatch):
    """A warm process for this test (stopped after it)."""
    monkeypatch.delenv(warm_start.SWITCH_ENV, raising=False)
    path = warm_start.start()
    assert path is not None
    yield path
    warm_start.stop()


def run(script: Path, *args, **env):
    """The finished job process (``returncode``, ``stdout``, ``stderr``, ``pid``) and the pid of
    the process that ran the script's body (it writes it to written.txt)."""
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=script.parent,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout_text, proc.stderr_text = proc.communicate(timeout=120)
    written = script.with_name("written.txt")
    proc.body_pid = int(written.read_text()) if written.exists() else None
    return proc


def test_a_job_runs_in_a_fork_of_the_warm_process_as_in_its_own(job, warm):
    proc = run(job, "a", "b c", JOB_VALUE="x")
    assert proc.returncode == 0, proc.stderr_text
    assert proc.stdout_text == f"out 1 {job.parent} ['a', 'b c']\n"  # TRIALMETA_WARM_CHILD=1
    assert proc.stderr_text == "err x\n"
    assert proc.body_pid not in (None, proc.pid)  # the body ran in another process: the fork


def test_the_exit_status_and_errors_of_the_job_come_back(job, warm):
    assert run(job, JOB_STATUS="3").returncode == 3
    failed = run(job, JOB_RAISE="1")
    assert failed.returncode == 1
    assert "ValueError: boom" in failed.stderr_text and "Traceback" in failed.stderr_text


def test_a_signal_to_the_job_process_stops_the_fork_running_it(job, warm):
    proc = subprocess.Popen(
        [sys.executable, str(job)],
        cwd=job.parent,
        env={**os.environ, "JOB_SLEEP": "1"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline() == f"out 1 {job.parent} []\n"
    assert proc.stdout.readline() == "sleeping\n"
    forked = int((job.parent / "written.txt").read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 10
    while Path(f"/proc/{forked}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # reaped by the warm process
    assert not Path(f"/proc/{forked}").exists()


def test_without_a_warm_process_the_job_runs_in_its_own_process(job, monkeypatch):
    monkeypatch.delenv(warm_start.SOCKET_ENV, raising=False)
    proc = run(job, "a", JOB_VALUE="y")
    assert proc.returncode == 0, proc.stderr_text
    assert proc.stdout_text == f"out own process {job.parent} ['a']\n"
    assert proc.stderr_text == "err y\n"
    assert proc.body_pid == proc.pid


def test_a_stopped_warm_process_leaves_the_jobs_to_run_themselves(job, monkeypatch):
    monkeypatch.delenv(warm_start.SWITCH_ENV, raising=False)
    path = warm_start.start()
    sock_env = {warm_start.SOCKET_ENV: path, "TRIALMETA_WARM_PID": os.environ["TRIALMETA_WARM_PID"]}
    warm_start.stop()
    assert not Path(path).exists() and warm_start.SOCKET_ENV not in os.environ
    proc = run(job, **sock_env)  # a job that still has the old socket in its environment
    assert proc.returncode == 0 and proc.body_pid == proc.pid


def test_the_switch_turns_the_warm_start_off(monkeypatch):
    monkeypatch.setenv(warm_start.SWITCH_ENV, "0")
    assert warm_start.start() is None
    assert warm_start.SOCKET_ENV not in os.environ


MODULES_JOB = """\
from trialmeta.pipeline.warm_start import hand_over

hand_over()
import json, sys
from trialmeta.pipeline import warm_start

print(json.dumps(sorted(m for m in warm_start.PRELOAD + warm_start.PRELOAD_WHILE_IDLE if m in sys.modules)))
"""


def test_the_warm_process_listens_after_the_first_imports_and_imports_the_rest_while_idle(
    tmp_path, warm
):
    """PRELOAD is imported before the first job can arrive; PRELOAD_WHILE_IDLE between jobs, so
    that the first job (validation) does not wait for matplotlib: a later job has both."""
    script = tmp_path / "modules.py"
    script.write_text(MODULES_JOB, encoding="utf-8")
    first = run(script)
    assert first.returncode == 0, first.stderr_text
    assert set(warm_start.PRELOAD) <= set(json.loads(first.stdout_text))
    deadline = time.monotonic() + 60
    while True:
        later = run(script)
        loaded = set(json.loads(later.stdout_text))
        if loaded == set(warm_start.PRELOAD + warm_start.PRELOAD_WHILE_IDLE):
            break
        assert time.monotonic() < deadline, (
            f"never imported: {sorted(set(warm_start.PRELOAD_WHILE_IDLE) - loaded)}"
        )
        time.sleep(0.2)


def test_socket_directories_of_killed_runs_are_removed_at_the_next_start(monkeypatch, tmp_path):
    """A SIGKILLed run leaves its socket directory behind; the next run's start removes those
    named after a process that no longer runs, and no other."""
    monkeypatch.setattr(warm_start.tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    stale = tmp_path / f"trialmeta-warm-{ended.pid}-x1"
    alive = tmp_path / f"trialmeta-warm-{os.getpid()}-x2"
    unnamed = tmp_path / "trialmeta-warm-abc123"  # not named after a process: left alone
    other = tmp_path / f"unrelated-{ended.pid}-x3"
    for d in (stale, alive, unnamed, other):
        d.mkdir()
        (d / "socket").write_text("")
    warm_start._remove_stale_directories()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (alive, unnamed, other)
    )


def test_the_socket_directory_is_named_after_the_snakemake_process(warm):
    assert Path(warm).parent.name.startswith(f"trialmeta-warm-{os.getpid()}-")


ENGINES_JOB = """\
import sys
from trialmeta.pipeline.warm_start import hand_over

hand_over(engines=bool(int(sys.argv[1])))
import json

print(json.dumps([m in sys.modules for m in ("pymare", "statsmodels.stats.meta_analysis")]))
"""


def engines_copy_listening(warm: str) -> Path:
    """The engines' copy's socket, once it listens (within 60 s)."""
    engines_socket = Path(warm + ".engines")
    deadline = time.monotonic() + 60
    while not engines_socket.exists():
        assert time.monotonic() < deadline, "the engines' copy never listened"
        time.sleep(0.05)
    return engines_socket


def test_the_cross_check_runs_in_the_copy_with_its_engines_once(tmp_path, warm):
    """The warm process forks a copy that imports ENGINES (PyMARE, statsmodels) once it has
    imported the rest; the first job asking for it runs there, with the engines imported; the
    copy then ends, and a later job (or one not asking) runs in the warm process without them."""
    script = tmp_path / "engines.py"
    script.write_text(ENGINES_JOB, encoding="utf-8")
    engines_socket = engines_copy_listening(warm)
    plain = run(script, "0")
    assert json.loads(plain.stdout_text) == [False, False], plain.stderr_text
    first = run(script, "1")
    assert first.returncode == 0, first.stderr_text
    assert json.loads(first.stdout_text) == [True, True]
    assert not engines_socket.exists()  # one job only
    second = run(script, "1")
    assert second.returncode == 0, second.stderr_text
    assert json.loads(second.stdout_text) == [False, False]


FIRST_LINE_JOB = """\
import os, sys
with open("started.txt", "a") as fh:  # where Snakemake's preamble (the unpickling) would run
    fh.write(f"{os.getpid()} {os.environ.get('TRIALMETA_WARM_CHILD', 'own process')}\\n")
with open("written.txt", "w") as fh:
    fh.write(str(os.getpid()))
sys.exit(int(os.environ.get("JOB_STATUS", "0")))
"""


def snakemake_script(folder: Path, text: str) -> Path:
    """``text`` as Snakemake writes a script job: .snakemake/scripts/tmpXXXX.<name>.py."""
    scripts = folder / ".snakemake" / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    script = scripts / "tmp1a2b3c.job.py"
    script.write_text(text, encoding="utf-8")
    return script


def test_the_hook_hands_a_snakemake_script_over_before_its_first_line(tmp_path, warm):
    """The jobs' PYTHONPATH starts with the hook's directory; in a Snakemake script job the
    hook hands over at start-up, so not one line of the script (Snakemake's preamble comes
    first) runs in the job process, and the exit status still comes back."""
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == warm_start.HOOK_DIR
    script = snakemake_script(tmp_path, FIRST_LINE_JOB)
    proc = run(script, JOB_STATUS="4")
    assert proc.returncode == 4, proc.stderr_text
    started = (script.parent / "started.txt").read_text().splitlines()
    assert started == [f"{proc.body_pid} 1"] and proc.body_pid != proc.pid


def test_the_hook_leaves_other_python_processes_alone(tmp_path, warm):
    """Outside .snakemake/scripts (a job's own Python subprocess, a user's script) the process
    runs itself."""
    script = tmp_path / "job.py"
    script.write_text(FIRST_LINE_JOB, encoding="utf-8")
    proc = run(script)
    assert proc.returncode == 0, proc.stderr_text
    assert (tmp_path / "started.txt").read_text() == f"{proc.pid} own process\n"


def test_the_hook_runs_the_sitecustomize_it_hides(tmp_path, warm):
    """A sitecustomize later on the path (a distribution's, a user's) still runs."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import sys\nsys.hidden_ran = True\n")
    env = {"PYTHONPATH": os.environ["PYTHONPATH"] + os.pathsep + str(other)}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, sitecustomize; print(sys.hidden_ran, sitecustomize.__file__)",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == f"True {other / 'sitecustomize.py'}\n"


def test_stop_puts_back_the_pythonpath_it_found(monkeypatch):
    monkeypatch.delenv(warm_start.SWITCH_ENV, raising=False)
    monkeypatch.setenv("PYTHONPATH", "/some/where")
    assert warm_start.start() is not None
    assert os.environ["PYTHONPATH"] == os.pathsep.join([warm_start.HOOK_DIR, "/some/where"])
    warm_start.stop()
    assert os.environ["PYTHONPATH"] == "/some/where"
    monkeypatch.delenv("PYTHONPATH")
    warm_start.start()
    warm_start.stop()
    assert "PYTHONPATH" not in os.environ


def test_a_handed_over_cross_check_goes_on_to_the_engines_copy(tmp_path, warm):
    """Handed over by the hook to the warm process, the cross-check's own hand_over(engines=True)
    passes it on to the copy with the engines imported."""
    script = snakemake_script(tmp_path, ENGINES_JOB)
    engines_socket = engines_copy_listening(warm)
    plain = run(script, "0")
    assert json.loads(plain.stdout_text) == [False, False], plain.stderr_text
    first = run(script, "1")
    assert first.returncode == 0, first.stderr_text
    assert json.loads(first.stdout_text) == [True, True]
    assert not engines_socket.exists()
