"""Warm start: the jobs of a local run are forked from one process that has already imported
their libraries, instead of each importing pandas, PyArrow and SciPy again.

Why: a one-row edit reruns 16 jobs, and each spent 0.5-0.7 CPU-s importing the same libraries
before doing 0.1-1 s of work (issue 16). Snakemake starts every job as a new Python process.

How:

* While the workflow is parsed (rules/common.smk), :func:`start` starts the *warm process*
  (``python -m trialmeta.pipeline.warm_start <socket>``; it imports :data:`PRELOAD`, then listens on
  a Unix socket in a new temporary directory and imports :data:`PRELOAD_WHILE_IDLE` between
  requests), so that its imports overlap Snakemake's parsing and DAG building, and puts the
  socket's path into the environment the jobs inherit (:data:`SOCKET_ENV`). ``onstart:`` stops
  it again when the jobs go to a cluster; ``onsuccess:``/``onerror:`` call :func:`stop`; so
  does ``atexit`` (a dry run, ``--lint``), and the warm process also ends when the Snakemake
  process that started it is gone.
* A job process calls :func:`hand_over` at Python start-up: :func:`start` puts :data:`HOOK_DIR`
  first on the jobs' ``PYTHONPATH``, and its ``sitecustomize`` calls it in a Snakemake script job
  before Snakemake's preamble imports Snakemake to unpickle the job (0.1 CPU-s per job); every
  job script also starts with it, for where the hook cannot run. When the socket is there, the
  job process sends its command line, working directory, environment and standard streams, and
  the warm process forks a copy that runs the same script file (Snakemake's preamble included)
  exactly as the job process would have; the job process then waits and exits with that copy's
  exit status (signals it receives are passed on). Without a socket -- a cluster job, a run that
  started no warm process, a process that cannot connect -- :func:`hand_over` returns and the
  job runs itself as before.
* What a job writes, logs and prints is the same either way (the same code runs on the same
  inputs); only the start-up is shared.

Set ``TRIALMETA_WARM_START=0`` to run every job in its own process (e.g. to profile one).
Only on Linux (``os.pidfd_open``); elsewhere the jobs run as before.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time

__all__ = [
    "SOCKET_ENV",
    "SWITCH_ENV",
    "PRELOAD",
    "PRELOAD_WHILE_IDLE",
    "hand_over",
    "start",
    "stop",
    "serve",
]

#: The warm process's socket path, inherited by the jobs from the Snakemake process.
SOCKET_ENV = "TRIALMETA_WARM_SOCKET"
#: "0" turns the warm start off (each job imports its own libraries).
SWITCH_ENV = "TRIALMETA_WARM_START"
#: Set in a forked job, so that its own :func:`hand_over` call runs the job ("1"; a job asking
#: for the engines' copy hands over once more: :data:`_IN_ENGINES_COPY` there).
_CHILD_ENV = "TRIALMETA_WARM_CHILD"
_IN_ENGINES_COPY = "engines"
#: The directory put on the jobs' ``PYTHONPATH``: its ``sitecustomize`` hands a script job over
#: before Snakemake's preamble imports Snakemake (warm_hook/sitecustomize.py).
HOOK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "warm_hook")
#: The warm process's pid (a job waits for its socket only while it runs).
_PID_ENV = "TRIALMETA_WARM_PID"
#: Seconds a job waits at most for the warm process to listen (it imports for ~1 s).
_PATIENCE = 30.0
#: What the warm process imports before it listens: what every job imports. A job that arrives
#: sooner would import the same itself, beside the warm process (the first job, validation, is
#: on every run's critical path: listening ~0.5 s sooner starts it ~0.3 s sooner).
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "snakemake.iocontainers",
    "snakemake.logging",
    "trialmeta.inputs.settings",
    "trialmeta.pipeline.jobs",
    "trialmeta.pipeline.safe_csv",
)
#: What it imports afterwards, one module at a time while no job is waiting (a job forked
#: earlier imports what it needs of these itself), in the order the stages need them:
#: validation, pooling, then matplotlib with trialmeta's figure modules (0.35 CPU-s in each job
#: that draws: the figure batches, Summary of Findings, posterior, interaction and risk-of-bias
#: plots). Every forked job counts the warm process's pages in its resident memory, so what
#: only one job needs stays out (the cross-check's engines: :data:`ENGINES`); matplotlib adds
#: 28 MB, and the peak of a run is its figure jobs, which import it anyway.
PRELOAD_WHILE_IDLE = (
    "trialmeta.inputs.subgroup_rows",
    "scipy.special",
    "trialmeta.tables.pooled",
    "trialmeta.plots.style",
    "trialmeta.plots.forest",
    "trialmeta.plots.exploration_figures",
)
#: What a second warm copy imports for the one job that needs it: the cross-check's independent
#: engines (1.2 CPU-s of imports, +82 MB). Forked from the warm process once it has imported
#: everything else, it serves that job (``hand_over(engines=True)``) and ends: no other job
#: carries these modules, and their import is done while a core is idle (issue 16).
ENGINES = ("pymare", "statsmodels.stats.meta_analysis")
_ENGINES_SOCKET = ".engines"  # suffix of the second copy's socket path
_STATUS = struct.Struct("!i")
#: The socket's directory in the temporary directory: ``trialmeta-warm-<Snakemake's pid>-<random>``.
_DIR_PREFIX = "trialmeta-warm-"
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_server = None  # the warm process started by this (Snakemake) process
_UNSET = object()
_pythonpath_before = _UNSET  # PYTHONPATH before start() put HOOK_DIR on it (None: unset)


def _available() -> bool:
    return hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


# --- the job side -------------------------------------------------------------------------


def hand_over(engines: bool = False) -> None:
    """Run this job in a fork of the warm process and exit with its status; return at once
    when there is no warm process to use (the job then runs in this process). ``engines``: run
    it in a fork of the copy that has imported :data:`ENGINES` when that copy is ready (else as
    any other job)."""
    path = os.environ.get(SOCKET_ENV)
    child = os.environ.get(_CHILD_ENV)
    if not path or child == _IN_ENGINES_COPY or (child and not engines) or not _available():
        return
    conn = _connect_now(path + _ENGINES_SOCKET) if engines else None
    if conn is None and child:
        return  # forked by the warm process (the hook handed it over): run here
    if conn is None:
        conn = _connect(path, int(os.environ.get(_PID_ENV, "0")))
    if conn is None:
        return  # the warm process is gone: run here
    request = {"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}
    _flush_std_streams()
    socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
    conn.shutdown(socket.SHUT_WR)
    pid = _read_int(conn)
    for signum in _SIGNALS:  # Snakemake stopping the job stops the copy running it
        signal.signal(signum, lambda s, _frame: _pass_on(pid, s))
    status = _read_int(conn)
    os._exit(status if status >= 0 else 128 - status)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _connect(path: str, server_pid: int) -> socket.socket | None:
    """A connection to the warm process; while it is still importing (the first jobs of a run
    start with it), wait for it rather than import the same libraries beside it. None when it
    has ended or does not answer within :data:`_PATIENCE` seconds."""
    deadline = time.monotonic() + _PATIENCE
    while True:
        conn = _connect_now(path)
        if conn is not None:
            return conn
        if time.monotonic() > deadline or not _running(server_pid):
            return None
        time.sleep(0.01)


def _connect_now(path: str) -> socket.socket | None:
    """A connection to ``path`` if something listens there now, else None (no waiting)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        return conn
    except OSError:
        conn.close()
        return None


def _running(pid: int) -> bool:
    """True while process ``pid`` exists and has not ended (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _pass_on(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:  # it has just ended
        pass


def _read_int(conn: socket.socket) -> int:
    data = b""
    while len(data) < _STATUS.size:
        chunk = conn.recv(_STATUS.size - len(data))
        if not chunk:
            raise RuntimeError("trialmeta: the warm process ended before the job did")
        data += chunk
    return _STATUS.unpack(data)[0]


# --- the Snakemake side --------------------------------------------------------------------


def start() -> str | None:
    """Start the warm process for this run's jobs; its socket path (also in ``os.environ``),
    or None when the warm start is off or unavailable."""
    global _server
    import subprocess

    if os.environ.get(SWITCH_ENV) == "0" or not _available() or _server is not None:
        return None
    _remove_stale_directories()
    directory = tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-")
    path = os.path.join(directory, "socket")
    _server = subprocess.Popen(
        [sys.executable, "-m", "trialmeta.pipeline.warm_start", path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    os.environ[SOCKET_ENV] = path
    os.environ[_PID_ENV] = str(_server.pid)
    _put_hook_on_path()
    atexit.register(stop)
    return path


def _put_hook_on_path() -> None:
    """Put :data:`HOOK_DIR` first on the jobs' ``PYTHONPATH`` (not the warm process's: it has
    started); :func:`stop` puts back what was there."""
    global _pythonpath_before
    if not os.path.isfile(os.path.join(HOOK_DIR, "sitecustomize.py")):
        return  # an installation without it: the scripts' own hand_over() calls hand over
    _pythonpath_before = os.environ.get("PYTHONPATH")
    paths = [HOOK_DIR] + ([_pythonpath_before] if _pythonpath_before else [])
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)


def _take_hook_off_path() -> None:
    global _pythonpath_before
    if _pythonpath_before is _UNSET:
        return
    if _pythonpath_before is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = _pythonpath_before
    _pythonpath_before = _UNSET


def _remove_stale_directories() -> None:
    """Remove the socket directories left by killed runs (a SIGKILL leaves no time to remove
    them): this user's directories named after a Snakemake process that no longer runs."""
    root = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(root) if n.startswith(_DIR_PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name[len(_DIR_PREFIX) :].split("-", 1)[0]
        path = os.path.join(root, name)
        try:
            mine = os.stat(path).st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def stop() -> None:
    """Stop the warm process (waited for, so that its jobs' CPU time is counted) and remove its
    socket; nothing when none was started."""
    global _server
    path = os.environ.pop(SOCKET_ENV, None)
    os.environ.pop(_PID_ENV, None)
    _take_hook_off_path()
    if _server is None:
        return
    server, _server = _server, None
    server.terminate()
    try:
        server.wait(timeout=30)
    except Exception:  # noqa: BLE001 - never keep Snakemake from ending
        server.kill()
        server.wait()
    if path:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


# --- the warm process ----------------------------------------------------------------------


def serve(path: str) -> None:
    """Import :data:`PRELOAD`, listen on ``path`` and fork one copy per job request until told
    to stop (SIGTERM) or until the process that started it ends; between requests, import
    :data:`PRELOAD_WHILE_IDLE`; at the end, wait for the jobs still running, remove the socket's
    directory and exit."""
    import importlib

    for signum in _SIGNALS:  # stopped while importing: end at once, quietly
        signal.signal(signum, signal.SIG_DFL)
    for module in PRELOAD:
        importlib.import_module(module)
    # what the jobs inherit lives to their end: out of their garbage collections, and its pages
    # stay shared with this process (a collection writes to every object it visits)
    gc.freeze()
    parent = os.getppid()
    for signum in _SIGNALS:  # stop() sends SIGTERM; Ctrl-C in a terminal reaches us too
        signal.signal(signum, _raise_stop)
    listener, selector = _listen(path, 64)
    later = list(PRELOAD_WHILE_IDLE)
    try:
        while os.getppid() == parent:
            events = selector.select(timeout=0 if later else 1.0)
            for key, _ in events:
                if key.fileobj is listener:
                    _start_job(listener, selector)
                else:
                    _finish_job(key, selector)
            if later and not events:  # nobody waiting: import the next module
                importlib.import_module(later.pop(0))
                gc.freeze()
                if not later:  # all imported: the engines' copy starts from here
                    _fork_engines(path + _ENGINES_SOCKET, selector)
    except _Stop:
        pass
    for signum in _SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    for key in list(selector.get_map().values()):
        if key.data is not None and key.data[1] is None:  # the engines' copy, still running
            signal.pidfd_send_signal(key.fd, signal.SIGTERM)  # (it waits for its job)
    for key in list(selector.get_map().values()):  # jobs still running: wait for them
        if key.fileobj is not listener:
            _finish_job(key, selector)
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)  # also after a killed Snakemake
    os._exit(0)  # nothing to save: skip Python's teardown of pandas & co. (~0.2 s)


def _listen(path: str, backlog: int):
    """A Unix socket listening on ``path`` and a selector watching it."""
    import selectors

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(backlog)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    return listener, selector


class _Stop(Exception):
    """SIGTERM from :func:`stop` (or SIGINT, SIGHUP): leave the loop at once."""


def _raise_stop(*_):
    raise _Stop


def _start_job(listener, selector, marker: str = "1") -> None:
    """Fork a copy that runs the job whose request is waiting on ``listener``; ``marker``: the
    copy's :data:`_CHILD_ENV`."""
    import selectors

    conn, _ = listener.accept()
    message, fds, _flags, _addr = socket.recv_fds(conn, 1 << 22, 3)
    while True:  # the request may arrive in several pieces
        more = conn.recv(1 << 22)
        if not more:
            break
        message += more
    pid = _fork()
    if pid == 0:  # never returns into the loop
        try:
            _close_server_files(selector, conn)
            _run_job(json.loads(message), fds, marker)
        finally:
            os._exit(1)
    for fd in fds:
        os.close(fd)
    conn.sendall(_STATUS.pack(pid))
    selector.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, conn))


def _finish_job(key, selector) -> None:
    pid, conn = key.data
    selector.unregister(key.fileobj)
    os.close(key.fd)
    _, status = os.waitpid(pid, 0)
    if conn is None:  # the engines' copy (_fork_engines): nobody waits for it
        return
    try:
        conn.sendall(_STATUS.pack(os.waitstatus_to_exitcode(status)))
    except OSError:
        pass  # the job process is gone (killed): nobody to tell
    conn.close()


def _fork() -> int:
    """``os.fork()`` with the stop signals held back while it runs: a stop arriving during the
    fork would interrupt the at-fork handlers (``logging``'s lock), which print its traceback;
    it is taken right after instead. The child starts with them held back until it has set its
    own handlers (:func:`_run_job`, :func:`_serve_one_with_engines`)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    pid = os.fork()
    if pid:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    return pid


def _fork_engines(path: str, selector) -> None:
    """Fork the copy that imports :data:`ENGINES`, listens on ``path`` and runs the first job
    that asks for it (:func:`hand_over` with ``engines=True``), then ends (watched by the warm
    process with its jobs)."""
    import selectors

    pid = _fork()
    if pid:
        selector.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, None))
        return
    try:
        _close_server_files(selector, None)
        _serve_one_with_engines(path)
    finally:
        os._exit(0)


def _serve_one_with_engines(path: str) -> None:
    import importlib

    for signum in _SIGNALS:  # stopped while importing: end at once
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    try:
        for module in ENGINES:
            importlib.import_module(module)
    except ImportError:
        return  # the job imports them itself (and reports what is missing)
    gc.freeze()
    server = os.getppid()
    for signum in _SIGNALS:
        signal.signal(signum, _raise_stop)
    listener, selector = _listen(path, 1)
    try:
        while os.getppid() == server and not selector.select(timeout=1.0):
            pass
        if os.getppid() == server:
            _start_job(listener, selector, _IN_ENGINES_COPY)
    except _Stop:
        pass
    finally:  # one job only: later ones go to the warm process
        selector.unregister(listener)
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
    for signum in _SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    for key in list(selector.get_map().values()):
        _finish_job(key, selector)


def _close_server_files(selector, conn) -> None:
    """In the forked copy: close the warm process's socket, its other jobs' connections and
    process handles."""
    for key in list(selector.get_map().values()):
        if isinstance(key.fileobj, int):
            os.close(key.fileobj)
        else:
            key.fileobj.close()
        if key.data is not None and key.data[1] is not None:
            key.data[1].close()
    selector.close()
    if conn is not None:
        conn.close()


def _job_streams() -> None:
    """sys.stdin/stdout/stderr on the job's descriptors 0-2, buffered as Python's own."""
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - open until the process ends
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stdout.reconfigure(line_buffering=os.isatty(1))
    sys.stderr = open(2, "w", closefd=False, errors="backslashreplace")  # noqa: SIM115
    sys.stderr.reconfigure(line_buffering=True)


def _run_job(request: dict, fds, marker: str) -> None:
    """In the forked copy: become the job process (streams, directory, environment, command
    line), run its script file as ``__main__`` and exit with its status."""
    import runpy
    import traceback

    for signum in _SIGNALS:  # as in a new Python process: Ctrl-C raises KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    _job_streams()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[_CHILD_ENV] = marker
    sys.argv = request["argv"]
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))  # as for `python <script>`
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int) and exc.code is not None:
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - reported as a failed job, like an uncaught error
        traceback.print_exc()
        code = 1
    _flush_std_streams()
    os._exit(code)


if __name__ == "__main__":
    serve(sys.argv[1])
