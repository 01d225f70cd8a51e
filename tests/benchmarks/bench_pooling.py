#!/usr/bin/env python
"""Benchmark: pooling K synthetic analyses at once (not part of ``make test``).

Data: K analyses x 10 studies, ``rng = np.random.default_rng(1)``,
``vi ~ U(0.01, 0.2)``, ``yi ~ N(0.3, sqrt(vi + 0.05))`` (a fresh generator per K).

Engines, timed in the same run on the same data:

* ``trialmeta``: REML tau2 + Hartung-Knapp-Sidik-Jonkman CI + prediction interval + Q-profile CI of
  tau2 for all K analyses in one batched call (``random_effects(batch, "REML", "hksj")``,
  including building the padded batch from the (K, 10) arrays);
* ``pymare``: PyMARE's vectorised ``VarianceBasedLikelihoodEstimator(method="REML")`` fitted on
  (10, K) arrays (REML only);
* ``statsmodels``: ``combine_effects(yi, vi, method_re="pm")`` in a Python loop (a subset is timed
  and extrapolated linearly to K; the line says so);
* ``metafor``: ``rma(yi, vi, method="REML")`` in an R loop through ``Rscript`` (only when
  ``library(metafor)`` loads; a subset is timed for large K and extrapolated; the line says so).
  Only the loop is timed (``proc.time()`` inside R), not R's start-up or reading the data.

Each line: ``engine, K, seconds, analyses_per_s, ratio_vs_trialmeta`` where
``ratio_vs_trialmeta = trialmeta analyses/s / engine analyses/s`` (how many times faster trialmeta
is). trialmeta and PyMARE are each timed ``--repeat`` times in a row after an untimed warm-up
(call for call on the same arrays) and a 0.2 s pause (PyMARE's fit runs OpenBLAS, whose worker
threads spin for ~0.1 s after their work: without the pause they would run during, and be counted
in, the next timings); ``seconds`` is the median wall time. The notes add the minimum wall time
and the median CPU time (``time.process_time``, all threads of the process: on a shared machine
CPU time separates work from waiting; PyMARE's BLAS may use both cores, so its CPU time can exceed
its wall time) and the ratios by each. Targets: >= 4x PyMARE, >= 1000x metafor's loop, K = 100,000 in < 1 GB.

Also checks that trialmeta's REML tau2 agrees with PyMARE's (scaled relative difference
``|a - b| / max(|b|, var(yi))``, target 1e-6; where they differ more, it compares the REML
log-likelihood at both values to show which one is the maximum) and reports the peak memory of the trialmeta call
for the largest K (tracemalloc, in a separate untimed run) and the process' peak RSS.

Bayesian summaries (issue 12): ``--bayes-k`` analyses (default 1,000) of the same synthetic data,
``bayes_random_effects`` with a half-normal(0.5) prior on tau and the uniform prior on mu (the
full bayes.csv row: mu median/mean/SD/95% interval, tau median/interval, predictive interval,
prob_benefit, with the integration error check), timed like trialmeta's pooling and printed side by
side with the pooling of the same analyses. Target: < 1 s for 1,000 analyses x 10 studies.

Usage: ``.venv/bin/python tests/benchmarks/bench_pooling.py [--sizes 2000 100000] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.pooling import random_effects

N_STUDIES = 10


def synthetic(K: int):
    rng = np.random.default_rng(1)
    vi = rng.uniform(0.01, 0.2, size=(K, N_STUDIES))
    yi = rng.normal(0.3, np.sqrt(vi + 0.05))
    return yi, vi


def run_trialmeta(yi, vi):
    batch = StudyBatch.from_arrays(yi, vi)
    return random_effects(batch, "REML", "hksj", "metafor", 0.95)


def run_pymare(yi, vi, **kwargs):
    from pymare.estimators import VarianceBasedLikelihoodEstimator

    X = np.ones((yi.shape[1], 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = VarianceBasedLikelihoodEstimator(method="REML", **kwargs).fit(yi.T, vi.T, X)
    return np.asarray(est.params_["tau2"]).ravel()


def timed(fn):
    """(wall seconds, CPU seconds, result) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def timed_block(fn, repeat, pause=0.2):
    """``repeat`` timed calls of ``fn`` after an untimed warm-up, preceded by a ``pause`` (s):
    OpenBLAS worker threads woken by an earlier PyMARE fit spin for ~0.1 s after their work and
    would otherwise run during, and be counted in, these timings. Returns (wall times, CPU times,
    last result)."""
    fn()
    time.sleep(pause)
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w, c, out = timed(fn)
        walls.append(w)
        cpus.append(c)
    return np.array(walls), np.array(cpus), out


def reml_loglik(yi, vi, tau2):
    """Restricted log-likelihood (up to a constant) of each row at its tau2 (Viechtbauer 2005)."""
    w = 1.0 / (vi + tau2[:, None])
    sw = w.sum(axis=1)
    mu = (w * yi).sum(axis=1) / sw
    q = (w * (yi - mu[:, None]) ** 2).sum(axis=1)
    return -0.5 * (np.log(vi + tau2[:, None]).sum(axis=1) + np.log(sw) + q)


def run_statsmodels(yi, vi, n_sub):
    from statsmodels.stats.meta_analysis import combine_effects

    n = min(n_sub, yi.shape[0])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            combine_effects(yi[i], vi[i], method_re="pm")
    return time.perf_counter() - t0, n


R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
ids <- split(seq_len(nrow(d)), d$id)
fit <- function(ix) tryCatch(rma(d$yi[ix], d$vi[ix], method = "REML")$tau2, error = function(e) NA_real_)
t0 <- proc.time()[["elapsed"]]
tau2 <- vapply(ids, fit, 0)
el <- proc.time()[["elapsed"]] - t0
cat(sprintf("%.6f %d\n", el, length(ids)))
"""


def have_metafor() -> bool:
    if shutil.which("Rscript") is None:
        return False
    try:
        r = subprocess.run(
            ["Rscript", "-e", "suppressPackageStartupMessages(library(metafor))"],
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def run_metafor(yi, vi, n_sub):
    n = min(n_sub, yi.shape[0])
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        ids = np.repeat(np.arange(n), yi.shape[1])
        data = np.column_stack([ids, yi[:n].ravel(), vi[:n].ravel()])
        np.savetxt(
            csv, data, delimiter=",", header="id,yi,vi", comments="", fmt=["%d", "%.17g", "%.17g"]
        )
        script = Path(tmp) / "loop.R"
        script.write_text(R_SCRIPT)
        r = subprocess.run(
            ["Rscript", str(script), str(csv)], capture_output=True, text=True, timeout=3600
        )
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        seconds, count = r.stdout.split()
    return float(seconds), int(count)


def run_bayes(yi, vi):
    from trialmeta.stats.bayes import bayes_random_effects
    from trialmeta.stats.tau_priors import TauPrior

    return bayes_random_effects(StudyBatch.from_arrays(yi, vi), TauPrior("half_normal", (0.5,)))


def bayes_lines(K: int, repeat: int) -> list[str]:
    """Bayesian summaries of K analyses x 10 studies beside the pooling of the same analyses."""
    yi, vi = synthetic(K)
    w_pool, _, _ = timed_block(lambda: run_trialmeta(yi, vi), repeat)
    w_b, c_b, res = timed_block(lambda: run_bayes(yi, vi), repeat)
    for engine, w in (("trialmeta pooling (REML+HKSJ+PI+QP-CI)", w_pool), ("trialmeta bayes", w_b)):
        t = np.median(w)
        print(f"{engine}, {K}, {t:.4f}, {K / t:.1f}, {t / np.median(w_pool):.1f}x pooling time")
    t = np.median(w_b)
    counts = dict(zip(*np.unique(res.status.astype(str), return_counts=True)))
    return [
        f"K={K} bayes (half_normal(0.5), uniform mu): wall median {t:.4f} s (min {w_b.min():.4f}), "
        f"CPU median {np.median(c_b):.4f} s; target < 1 s: "
        + ("[met]" if t < 1 else "[NOT met]")
        + " by wall, "
        + ("[met]" if np.median(c_b) < 1 else "[NOT met]")
        + f" by CPU; status counts {counts}; max integration error {np.nanmax(res.error):.2g}"
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 100000])
    ap.add_argument(
        "--repeat",
        type=int,
        default=7,
        help="timed runs of trialmeta and of PyMARE (interleaved; median reported)",
    )
    ap.add_argument("--statsmodels-subset", type=int, default=2000)
    ap.add_argument("--metafor-subset", type=int, default=2000)
    ap.add_argument("--no-metafor", action="store_true")
    ap.add_argument("--no-statsmodels", action="store_true")
    ap.add_argument("--bayes-k", type=int, default=1000, help="analyses of the Bayesian timing")
    args = ap.parse_args(argv)

    use_r = not args.no_metafor and have_metafor()
    print("engine, K, seconds, analyses_per_s, ratio_vs_trialmeta")
    notes = []
    ok = True
    for K in args.sizes:
        yi, vi = synthetic(K)
        w_tm, c_tm, res = timed_block(lambda: run_trialmeta(yi, vi), args.repeat)
        w_pm, c_pm, tau2_pm = timed_block(lambda: run_pymare(yi, vi), args.repeat)
        t_tm, t_pm = np.median(w_tm), np.median(w_pm)
        rate_tm = K / t_tm

        def line(engine, seconds, n_timed=None):
            rate = K / seconds
            note = (
                ""
                if n_timed is None or n_timed >= K
                else f"  # timed {n_timed}, extrapolated to {K}"
            )
            print(
                f"{engine}, {K}, {seconds:.4f}, {rate:.1f}, {rate_tm / rate:.1f}{note}", flush=True
            )
            return rate

        line("trialmeta (REML+HKSJ+PI+QP-CI)", t_tm)
        rate_pm = line("pymare VarianceBasedLikelihoodEstimator(REML)", t_pm)
        notes.append(
            f"K={K}: {args.repeat} timed runs each; trialmeta wall median {t_tm:.4f} s "
            f"(min {w_tm.min():.4f}), CPU median {np.median(c_tm):.4f} s; pymare wall median "
            f"{t_pm:.4f} s (min {w_pm.min():.4f}), CPU median {np.median(c_pm):.4f} s; "
            f"pymare/trialmeta time ratio: median wall {t_pm / t_tm:.2f}, min wall "
            f"{w_pm.min() / w_tm.min():.2f}, median CPU {np.median(c_pm) / np.median(c_tm):.2f}"
        )
        if not args.no_statsmodels:
            sec, n = run_statsmodels(yi, vi, args.statsmodels_subset)
            line("statsmodels combine_effects(pm) loop", sec * K / n, n)
        rate_r = None
        if use_r:
            sec, n = run_metafor(yi, vi, args.metafor_subset if K > args.metafor_subset else K)
            rate_r = line("metafor rma(REML) loop via Rscript", sec * K / n, n)

        # agreement of tau2 with PyMARE
        tau2 = res.tau2
        scale = np.maximum(np.abs(tau2_pm), np.var(yi, axis=1, ddof=1))
        rel = np.abs(tau2 - tau2_pm) / scale
        off = np.flatnonzero(rel > 1e-6)
        msg = (
            f"K={K}: tau2 vs PyMARE: max |diff| {np.max(np.abs(tau2 - tau2_pm)):.3g}, "
            f"max scaled rel diff |a-b|/max(|b|, var(yi)) {np.max(rel):.3g}; "
            f"agree to 1e-6 in {K - off.size} of {K}"
        )
        if off.size:
            gain = reml_loglik(yi[off], vi[off], tau2[off]) - reml_loglik(
                yi[off], vi[off], tau2_pm[off]
            )
            better = int(np.sum(gain >= -1e-12))
            msg += (
                f"; in the other {off.size} trialmeta's REML log-likelihood is higher in {better} "
                f"(by {np.min(gain):.3g} .. {np.max(gain):.3g}): PyMARE's bounded scan stopped at a "
                f"lower point (PyMARE tau2 there: {', '.join(f'{x:.3g}' for x in tau2_pm[off][:5])}; "
                f"trialmeta: {', '.join(f'{x:.3g}' for x in tau2[off][:5])})"
            )
            agree = better == off.size
        else:
            agree = True
        ok &= agree
        notes.append(msg + (" [ok]" if agree else " [DISAGREES]"))
        st = res.status
        notes.append(
            f"K={K}: trialmeta status counts: "
            + ", ".join(
                f"{s}={int(n)}" for s, n in zip(*np.unique(st.astype(str), return_counts=True))
            )
        )
        speed_pm = rate_tm / rate_pm
        speed_cpu = np.median(c_pm) / np.median(c_tm)
        notes.append(
            f"K={K}: trialmeta / PyMARE analyses per second = {speed_pm:.2f} by median "
            f"wall time, {speed_cpu:.2f} by median CPU time (target >= 4): "
            + ("[met]" if speed_pm >= 4 else "[NOT met]")
            + " by wall, "
            + ("[met]" if speed_cpu >= 4 else "[NOT met]")
            + " by CPU"
        )
        if rate_r is not None:
            speed_r = rate_tm / rate_r
            notes.append(
                f"K={K}: trialmeta / metafor loop = {speed_r:.0f} (target >= 1000) "
                + ("[met]" if speed_r >= 1000 else "[NOT met]")
            )
        else:
            notes.append(f"K={K}: metafor not available (Rscript/library(metafor)); skipped")

    if args.bayes_k:
        notes += bayes_lines(args.bayes_k, args.repeat)
    K = max(args.sizes)
    yi, vi = synthetic(K)
    tracemalloc.start()
    run_trialmeta(yi, vi)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    notes.append(
        f"K={K}: peak memory of the trialmeta call (tracemalloc) {peak / 2**20:.0f} MiB "
        f"(target < 1024); whole benchmark process peak RSS {rss:.0f} MiB"
    )
    print()
    for n in notes:
        print(n)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
