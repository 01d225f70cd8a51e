"""Parse-time set-up: configuration, paths, and the analyses found in the trial tables.

Cheap on purpose (every cluster job parses the workflow again): the standard library, jsonschema
and a JSON cache; pandas is imported only on the first parse after a table or the code changed
(see trialmeta.pipeline.plan).
"""

import os
import re
import shlex
import sys
import time

from snakemake.utils import min_version, validate

# The trialmeta package (workflow/trialmeta) is installed into the environment that runs the
# workflow and its jobs (`make setup`: an editable install into .venv; see envs/trialmeta.yaml).
from trialmeta.inputs.config import CONFIG_SCHEMA_PATH, load_config, trial_paths
from trialmeta.inputs.errors import ConfigError
from trialmeta.inputs.risk_of_bias import files_digest, risk_of_bias_paths
from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.compare import changes_key, changes_line
from trialmeta.pipeline.console import (
    crosscheck_lines,
    print_at_exit,
    problem_lists,
    run_summary,
)
from trialmeta.pipeline.jobs import PROBLEMS_AT_END_ENV
from trialmeta.pipeline.plan import figure_batches, ids_digest, make_plan
from trialmeta.pipeline import warm_start
from trialmeta.pipeline.run_end import end_run
from trialmeta.tables.names import EXPLORATION_TABLES, FIGURE_TABLES

min_version("9.0")

# The warm process the local jobs are forked from imports its libraries while the workflow is
# parsed (trialmeta.pipeline.warm_start; not in a job that Snakemake runs as a subprocess or on a
# cluster node). The Snakefile's onstart stops it when the jobs go to a cluster.
if not (workflow.remote_exec or workflow.subprocess_exec):
    warm_start.start()


def fail_at_parse(message):
    """Print a user error (one line per problem, no traceback) and stop with exit status 1."""
    print(message, file=sys.stderr, flush=True)
    sys.exit(1)


def checked_config(raw):
    """The config with defaults, or exit with one line per problem naming the key."""
    try:
        cfg = load_config(raw)
    except ConfigError as exc:
        fail_at_parse(f"trialmeta: configuration error\n{exc}")
    validate(cfg, str(CONFIG_SCHEMA_PATH))
    return cfg


# The typed settings, built once; CFG is their plain dict, what the jobs get (params) and what
# provenance.json records.
SETTINGS = Settings.from_config(checked_config(config))
CFG = SETTINGS.to_config()
config.update(CFG)  # defaults filled in, e.g. for workflow/report/workflow.rst
TRIAL_FILES = trial_paths(SETTINGS)
try:  # risk-of-bias judgement tables (rules/risk_of_bias.smk); none unless configured
    ROB_FILES = risk_of_bias_paths(SETTINGS)
except ConfigError as exc:
    fail_at_parse(f"trialmeta: configuration error\n{exc}")
RESULTS = os.path.normpath(SETTINGS.results)
# Everything is built under WORK (intermediate tables, a staging copy of results/, logs) and
# published into RESULTS by the last job, so a failed or killed run never touches RESULTS.
WORK = os.path.join(
    ".snakemake",
    "trialmeta",
    re.sub(r"[^A-Za-z0-9._-]+", "_", RESULTS).strip("_") or "results",
)
STAGE = os.path.join(WORK, "stage")
LOGS = os.path.join(WORK, "logs")
PUBLISHED = os.path.join(WORK, "published.json")
CONDA_ENV = "../../envs/trialmeta.yaml"
FIGURE_FORMATS = list(SETTINGS.figures.formats)
# EXPLORATION_TABLES: the tables of trialmeta.tables.exploration.exploration_tables (subgroups,
# meta-regression, sensitivity, bias); FIGURE_TABLES: those the exploration figures are drawn from.
FIGURES_IN_SNAKEMAKE_REPORT = SETTINGS.report.per_analysis_figures_in_snakemake_report

# The command the user ran, recorded in provenance.json (inherited by every job's environment).
os.environ.setdefault("TRIALMETA_COMMAND", shlex.join(sys.argv))

PLAN = make_plan(
    TRIAL_FILES,
    SETTINGS,
    os.path.join(WORK, "plan"),
    scripts_dir=os.path.join(workflow.basedir, "scripts"),
)
if PLAN.get("config_error"):
    fail_at_parse(f"trialmeta: configuration error\n{PLAN['error']}")
ANALYSES = sorted(PLAN["analyses"])
# forest plots carry RoB columns: their digests (not the plan's) follow the judgement tables
FIGURE_BATCHES = figure_batches(
    {**PLAN, "settings": files_digest(PLAN["settings"], ROB_FILES)}
    if ROB_FILES
    else PLAN
)
# the explore job's tables are computed and kept per batch of the same analyses
# (trialmeta.pipeline.explore_batches), whose digests do not follow the RoB tables
EXPLORE_BATCHES = figure_batches(PLAN) if ROB_FILES else FIGURE_BATCHES


def applied_configfiles():
    """The config files in the order they are applied (the Snakefile's configfile, then the
    --configfile ones), relative to the working directory when inside it: a project moved or
    cloned elsewhere does not rerun its provenance job."""
    overrides = set(map(str, workflow.overwrite_configfiles))
    files = sorted((str(f) for f in workflow.configfiles), key=lambda f: f in overrides)
    relative = [os.path.relpath(f) for f in files]
    return [r if not r.startswith("..") else f for r, f in zip(relative, files)]


def work(*parts):
    return os.path.join(WORK, *parts)


def stage(*parts):
    return os.path.join(STAGE, *parts)


def log_file(name):
    return os.path.join(LOGS, f"{name}.log")


def figures_dir(batch):
    """The staged figures of one figure job (the figures_<batch> job) in figures_<batch>.<digest>/
    <analysis_id>.<format> (forest plots) and <analysis_id>.<kind>.<format> (exploration figures).

    The digest (rows, settings, code of its analyses) in the name is what reruns exactly the
    figure jobs whose analyses changed.
    """
    return stage("figures", f"figures_{batch.name}.{batch.digest}")


FIGURE_DIRS = [figures_dir(batch) for batch in FIGURE_BATCHES]


def results_complete():
    """True when RESULTS holds every file the last publish job wrote (checked at parse time)."""
    import json

    manifest = os.path.join(RESULTS, ".trialmeta-manifest.json")
    try:
        with open(manifest, encoding="utf-8") as fh:
            files = json.load(fh)["files"]
    except (OSError, ValueError, KeyError):
        return False
    return all(os.path.isfile(os.path.join(RESULTS, f)) for f in files)


# A results directory deleted or damaged by hand is published again from the staging copy.
if os.path.exists(PUBLISHED) and not results_complete():
    os.remove(PUBLISHED)


def sof_optional(rule_name, *parts):
    """``[stage(*parts)]`` when the workflow has the rule ``rule_name`` (risk_of_bias,
    interactions), else none: evaluated when the DAG is built, after every rule file is read.
    """
    return lambda wildcards: [stage(*parts)] if hasattr(rules, rule_name) else []
