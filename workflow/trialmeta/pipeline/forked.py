"""Share a job's loop over analyses with forked copies of the job (a job given several cores).

A job that renders a page per analysis has read its tables once; a forked child starts with them
already in memory (copy-on-write), where a new process would start Python, import pandas and read
every table again. The work is split into contiguous runs of the items, in their order: this
process does the first, each child one of the others, and the results come back in item order, so
what is written does not depend on the number of processes (issue 16: the report's pages were
the run's serial tail, one core busy and one idle).
"""

from __future__ import annotations

import multiprocessing
import sys
import traceback
from collections.abc import Callable, Sequence

#: Items below which one process does everything (a fork costs more than a few pages).
MIN_ITEMS_PER_PROCESS = 32


def contiguous_shares(items: Sequence, processes: int) -> list[Sequence]:
    """``items`` cut into at most ``processes`` contiguous, nearly equal runs (none empty), with
    at least :data:`MIN_ITEMS_PER_PROCESS` items each unless there is only one run."""
    n = max(1, min(int(processes), len(items) // MIN_ITEMS_PER_PROCESS))
    bounds = [round(i * len(items) / n) for i in range(n + 1)]
    return [items[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def _run_child(conn, work: Callable, share: Sequence) -> None:
    """In the child: send ``("ok", work(share))``, or ``("error", the traceback)``."""
    try:
        conn.send(("ok", work(share)))
    except BaseException:  # noqa: BLE001 - every failure goes back to the parent as text
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()
        sys.stdout.flush()
        sys.stderr.flush()


def map_shares(work: Callable[[Sequence], list], items: Sequence, processes: int) -> list:
    """``work(share)`` for contiguous shares of ``items`` (:func:`contiguous_shares`), the first in
    this process and each other one in a forked child; their result lists concatenated in item
    order. A child's exception is raised here as a RuntimeError carrying its traceback; a child
    that dies without answering (killed, out of memory) is an error too.

    ``work`` must return something picklable (it crosses a pipe) and may write files; a child sees
    this process's memory as it was at the fork and its changes to it are lost. POSIX only:
    without ``fork`` everything runs here.
    """
    shares = contiguous_shares(items, processes)
    if len(shares) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [r for share in shares for r in work(share)]
    ctx = multiprocessing.get_context("fork")
    children = []
    for share in shares[1:]:
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_run_child, args=(send, work, share), daemon=True)
        child.start()
        send.close()  # only the child writes: recv() ends with EOFError if the child dies
        children.append((child, receive))
    try:
        results = list(work(shares[0]))
        for child, receive in children:
            results.extend(_receive(child, receive))
    finally:
        for child, receive in children:
            receive.close()
            child.join(timeout=5)
            if child.is_alive():
                child.terminate()
                child.join()
    return results


def _receive(child, receive) -> list:
    """The result list a child sent, or a RuntimeError saying why there is none."""
    try:
        status, payload = receive.recv()
    except EOFError:
        child.join()
        raise RuntimeError(
            f"a forked worker (pid {child.pid}) ended without a result (exit code "
            f"{child.exitcode}): see the messages above"
        ) from None
    if status != "ok":
        raise RuntimeError(f"a forked worker failed:\n{payload}")
    return list(payload)
