"""The warm start's hook (trialmeta.pipeline.warm_start): hand a Snakemake script job to the warm
process before Snakemake's preamble runs.

This directory is put on ``PYTHONPATH`` for the jobs of a local run only (``warm_start.start``),
so Python imports this module at start-up in every Python process those jobs start. In a
Snakemake script job (``python .snakemake/scripts/tmpXXXX.<name>.py``) it calls
:func:`~trialmeta.pipeline.warm_start.hand_over` at once: the job process then no longer imports
Snakemake to unpickle its job (0.1 CPU-s per job; the warm process has it imported). Any other
process goes on as before, with the ``sitecustomize`` module this one hides, if there is one.
"""

import os
import sys


def _snakemake_script_job() -> bool:
    script = sys.argv[0] if sys.argv else ""
    folder, name = os.path.split(os.path.dirname(os.path.abspath(script)))
    return (
        script.endswith(".py")
        and name == "scripts"
        and os.path.basename(folder) == ".snakemake"
        # warm_start.SOCKET_ENV, spelled out: importing warm_start in every Python process the
        # jobs start would cost more than this check
        and "TRIALMETA_WARM_SOCKET" in os.environ
    )


def _run_hidden_sitecustomize() -> None:
    """Run the ``sitecustomize`` module later on ``sys.path`` that this one hides (e.g. a Linux
    distribution's), as Python would have without this directory."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[__name__] = module
        spec.loader.exec_module(module)


if _snakemake_script_job():
    try:
        from trialmeta.pipeline.warm_start import hand_over
    except ImportError:  # a Python without trialmeta: the job runs (and fails) as before
        pass
    else:
        hand_over()  # returns only when there is no warm process to run the job
_run_hidden_sitecustomize()
