"""Load and check the workflow configuration (``config/config.yaml``).

:func:`load_config` validates a config dict against ``trialmeta/inputs/schemas/config.schema.yaml`` (package data; ``workflow/schemas`` links to it) (the
same schema the Snakefile hands to ``snakemake.utils.validate``), fills in the defaults, checks that
every ``trials`` pattern matches a file, and raises :class:`~trialmeta.inputs.errors.ConfigError` whose
lines each name the key, e.g.::

    config: tau2_methods[1]: unknown tau2 method 'REM' (did you mean 'REML'? one of DL, REML, ...)
    config: trials: 'data/x/*.csv' matches no file
    config: colour: unknown key (known keys: trials, results, ...)

Values from a fixed list are case-insensitive: ``reml``, ``HKSJ`` and ``rr`` are read as ``REML``,
``hksj`` and ``RR`` before the schema check (see :mod:`trialmeta.inputs.names`).

Checks that need the data (``group_by``, ``subgroups`` and ``metaregression`` columns must exist)
are in :func:`check_config_columns`, called after the tables are loaded.
"""

from __future__ import annotations

import copy
import difflib
import glob
import os
from functools import lru_cache
from pathlib import Path

from trialmeta.inputs.errors import ConfigError
from trialmeta.inputs.names import canonical_choice, close_choice, suggest_column

__all__ = [
    "load_config",
    "trial_paths",
    "check_config_columns",
    "config_schema",
    "CONFIG_SCHEMA_PATH",
]

CONFIG_SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"
_LIST_KEYS = (
    "trials",
    "risk_of_bias",
    "group_by",
    "subgroups",
    "metaregression",
    "tau2_methods",
    "ci_methods",
    "models",
)
_ITEM_NAMES = {
    "tau2_methods": "tau2 method",
    "ci_methods": "CI method",
    "measures.binary": "binary measure",
    "measures.continuous": "continuous measure",
    "models": "model",
    "figures.formats": "figure format",
}
_TYPE_NAMES = {
    "array": "a list",
    "object": "a mapping",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


@lru_cache(maxsize=1)
def config_schema() -> dict:
    """The config schema as a dict."""
    import yaml

    with open(CONFIG_SCHEMA_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _fill_defaults(node: dict, schema: dict) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in node and "default" in sub:
            node[key] = copy.deepcopy(sub["default"])
        if isinstance(node.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(node[key], sub)


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _item_name(path) -> str | None:
    named = ".".join(str(p) for p in path if not isinstance(p, int))
    return _ITEM_NAMES.get(named)


def _message(e) -> list[str]:
    key = _key(e.path)
    v = e.validator
    inst = e.instance
    if v == "additionalProperties":
        known = list(e.schema.get("properties", {}))
        extra = [k for k in inst if k not in known]
        out = []
        for k in extra:
            close = difflib.get_close_matches(str(k), known, n=1)
            hint = (
                f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
            )
            full = _key(list(e.path) + [k])
            out.append(f"config: {full}: unknown key{hint}")
        return out
    if v == "enum":
        name = _item_name(e.path)
        what = f"unknown {name}" if name else "unknown value"
        close = close_choice(inst, e.validator_value)
        hint = f"did you mean {close!r}? " if close else ""
        choices = ", ".join(map(str, e.validator_value))
        return [f"config: {key}: {what} {inst!r} ({hint}one of {choices})"]
    if v == "type":
        want = e.validator_value if isinstance(e.validator_value, str) else e.validator_value[0]
        return [
            f"config: {key}: must be {_TYPE_NAMES.get(want, want)}, got {inst!r} ({type(inst).__name__})"
        ]
    if v == "minItems":
        return [
            f"config: {key}: must list at least {e.validator_value} item{'s' if e.validator_value != 1 else ''}"
        ]
    if v == "uniqueItems":
        return [f"config: {key}: lists an item twice ({inst!r})"]
    if v == "minLength":
        return [f"config: {key}: must not be empty"]
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        hint = " (a proportion, e.g. 0.95)" if key == "level" else ""
        return [f"config: {key}: must be {op} {e.validator_value}, got {inst!r}{hint}"]
    return [f"config: {key}: {e.message}"]


def _canonical_names(node: dict, schema: dict) -> None:
    """Values from a fixed list written in another case get the schema's spelling, in place
    (``reml`` -> ``REML``, ``HKSJ`` -> ``hksj``, ``rr`` -> ``RR``), so that the schema check, the
    settings and every output see one spelling."""
    for key, sub in schema.get("properties", {}).items():
        if key not in node:
            continue
        value = node[key]
        if isinstance(value, dict) and sub.get("type") == "object":
            _canonical_names(value, sub)
        elif "enum" in sub:
            node[key] = canonical_choice(value, sub["enum"])
        elif isinstance(value, list) and "enum" in sub.get("items", {}):
            node[key] = [canonical_choice(v, sub["items"]["enum"]) for v in value]


def trial_paths(config: dict, base_dir=None) -> list[str]:
    """Expand ``config["trials"]`` (paths or globs) to files, in pattern order, each pattern's matches
    sorted, duplicates removed. Paths are returned as written (relative paths stay relative).

    Raises ConfigError naming every pattern that matches no file.
    """
    base = Path(base_dir) if base_dir is not None else Path(".")
    # a Settings object, or the raw dict load_config is checking (before defaults: no patterns)
    patterns = config.trials if hasattr(config, "trials") else config.get("trials", [])
    if isinstance(patterns, str):
        patterns = [patterns]
    found: list[str] = []
    errors: list[str] = []
    for pat in patterns:
        pat = str(pat)
        absolute = os.path.isabs(pat)
        if glob.has_magic(pat):
            root = "" if absolute else str(base)
            matches = sorted(glob.glob(pat, root_dir=None if absolute else root, recursive=True))
            matches = [m for m in matches if (Path(m) if absolute else base / m).is_file()]
            if not matches:
                errors.append(f"config: trials: {pat!r} matches no file")
            found += matches
        else:
            p = Path(pat) if absolute else base / pat
            if p.is_file():
                found.append(pat)
            elif p.exists():
                errors.append(f"config: trials: {pat!r} is not a file")
            else:
                errors.append(f"config: trials: {pat!r} does not exist")
    if errors:
        raise ConfigError(errors)
    return list(dict.fromkeys(found))


def load_config(config, *, base_dir=None, check_files: bool = True) -> dict:
    """Validate ``config`` (a dict, e.g. Snakemake's ``config``) and return a copy with defaults.

    * every key is checked against ``config.schema.yaml`` (unknown keys, types, enums, ranges);
    * a single string where a list is expected (``--config trials=data/x.csv``) becomes a list;
    * a value from a fixed list written in another case gets the canonical spelling
      (``reml`` -> ``REML``); an unknown value gets a "did you mean" when one is close;
    * with ``check_files`` (default) every ``trials`` pattern must match a file (relative to
      ``base_dir``, default the working directory).

    Raises ConfigError with every problem, one line each naming the key.
    """
    from jsonschema import Draft202012Validator

    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(
            [
                f"config: (top level): must be a mapping of keys to values, got {type(config).__name__}"
            ]
        )
    cfg = copy.deepcopy(dict(config))
    for k in _LIST_KEYS:
        if isinstance(cfg.get(k), str):
            cfg[k] = [cfg[k]]
    schema = config_schema()
    _canonical_names(cfg, schema)
    if str(cfg.get("bayes")).strip().casefold() in ("false", "no", "off"):  # --config bayes=false
        cfg["bayes"] = False
    _fill_defaults(cfg, schema)
    validator = Draft202012Validator(schema)
    messages: list[str] = []
    for e in sorted(
        validator.iter_errors(cfg), key=lambda e: (list(map(str, e.path)), e.validator)
    ):
        messages += _message(e)
    if not any(m.startswith("config: bayes") for m in messages):
        from trialmeta.inputs.priors import bayes_problems  # the prior strings (issue 12)

        messages += bayes_problems(cfg)
    trials_ok = not any(m.startswith("config: trials") for m in messages)
    if trials_ok and check_files:
        try:
            trial_paths(cfg, base_dir)
        except ConfigError as exc:
            messages += exc.messages
    credibility = cfg.get("credibility")  # the ICEMAN judgements file (issue 11)
    if isinstance(credibility, str) and check_files:
        if not (Path(base_dir or ".") / credibility).is_file():
            messages.append(f"config: credibility: {credibility!r} is not a file")
    if messages:
        raise ConfigError(list(dict.fromkeys(messages)))
    return cfg


def _tables_named(attrs: dict) -> str:
    """``the trial tables read from x.xlsx, sheet 'data'`` (files and sheets, when known)."""
    files = list(attrs.get("columns_by_file") or {})
    sheets = attrs.get("sheets") or {}
    if not files:
        return "the trial tables"
    named = [f"{f}, sheet {sheets[f]!r}" if sheets.get(f) else f for f in files]
    if len(named) > 5:
        named = named[:4] + [f"... ({len(named)} files)"]
    return "the trial tables read from " + "; ".join(named)


def check_config_columns(settings, columns) -> None:
    """After loading the tables: every group_by / subgroups / metaregression column must exist.

    ``settings``: a :class:`~trialmeta.inputs.settings.Settings` or a config dict. ``columns``:
    the table from :func:`~trialmeta.inputs.ingest.load_trials` (its files and workbook sheets
    are named in the message) or a list of column names. Raises ConfigError, one line per
    missing column, naming the key, the tables and the closest column name.
    """
    from trialmeta.inputs.settings import Settings

    settings = Settings.coerce(settings)
    where = _tables_named(getattr(columns, "attrs", None) or {})
    columns = list(columns)
    available = [c for c in columns if c not in ("source_file", "source_row", "analysis_id")]
    messages = []
    for key in ("group_by", "subgroups", "metaregression"):
        for i, col in enumerate(getattr(settings, key)):
            if col not in columns:
                close = suggest_column(col, available) or next(
                    iter(difflib.get_close_matches(col, available, n=1)), None
                )
                hint = f"did you mean {close!r}?" if close else "available: " + ", ".join(available)
                messages.append(f"config: {key}[{i}]: column {col!r} is not in {where} ({hint})")
    if messages:
        raise ConfigError(messages)
