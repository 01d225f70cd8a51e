"""The workflow's settings as one typed, frozen object, built once from the validated config.

:class:`Settings` mirrors ``config.schema.yaml`` key for key (nested mappings become nested frozen
dataclasses, lists become tuples). It holds no defaults of its own: every default lives in the
schema and is filled in by :func:`trialmeta.inputs.config.load_config`, so::

    settings = Settings.from_config(load_config(raw))    # the workflow: a checked config
    settings = Settings.coerce({"tau2_methods": ["DL"]})  # Python users, tests: a partial dict
    settings.primary_tau2_method                          # 'DL'
    settings.to_config()                                  # the plain dict again (provenance.json)

Derived choices that the pipeline makes from several keys (the primary tau² estimator, the
estimator of the meta-regression when ``metaregression_tau2_method`` is ``primary``) are
properties, so there is one place that states each rule.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, fields

from trialmeta.inputs.config import load_config

__all__ = ["Settings", "Measures", "Continuity", "FigureSettings", "ReportSettings"]

#: tau² estimators of the mixed-effects (meta-regression) model (trialmeta.stats.metaregression).
METAREGRESSION_TAU2_METHODS = ("REML", "ML", "DL")


class FrozenMapping(dict):
    """A mapping-valued key (``assumed_control_risk``, ...): read-only and hashable, so the
    settings stay a frozen, hashable object; :meth:`as_dict` gives the plain dict again."""

    def _read_only(self, *args, **kwargs):
        raise TypeError("settings are read-only")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _read_only

    def __hash__(self):
        return hash(json.dumps(self, sort_keys=True, default=str))

    def __reduce__(self):
        return (FrozenMapping, (self.as_dict(),))

    def as_dict(self) -> dict:
        return copy.deepcopy(dict(self))


class _Section:
    """A nested mapping of the config (``measures``, ``continuity``, ...)."""

    def as_dict(self) -> dict:
        """The section as the plain dict of the config (lists for tuples)."""
        return _to_node(self)


@dataclass(frozen=True)
class Measures(_Section):
    """Effect measures per outcome type; the first of each is the primary measure."""

    binary: tuple[str, ...]
    continuous: tuple[str, ...]
    rate: tuple[str, ...]
    single_arm_proportion: tuple[str, ...]
    single_arm_change: tuple[str, ...]

    def for_outcome(self, outcome_type: str) -> tuple[str, ...]:
        """The measures of one outcome type (``binary``/``continuous``/``rate``; time-to-event
        rows are ``HR``; none for generic rows)."""
        if outcome_type == "time_to_event":
            return ("HR",)
        return (
            getattr(self, str(outcome_type), ())
            if outcome_type
            in ("binary", "continuous", "rate", "single_arm_proportion", "single_arm_change")
            else ()
        )


@dataclass(frozen=True)
class Continuity(_Section):
    """Continuity correction of 2x2 tables with a zero cell (metafor ``escalc`` add/to/drop00)."""

    add: float
    to: str
    drop00: bool


@dataclass(frozen=True)
class FigureSettings(_Section):
    """Figure output."""

    formats: tuple[str, ...]


@dataclass(frozen=True)
class ReportSettings(_Section):
    """Options of ``snakemake --report``."""

    per_analysis_figures_in_snakemake_report: bool


class LevelOrder(dict):
    """``subgroup_levels``: {variable: [levels]} as the config has it, hashable (the settings
    are hashed); read-only by convention like the other settings."""

    def __hash__(self):
        return hash(tuple(sorted((k, tuple(v)) for k, v in self.items())))


_NESTED = {
    "measures": Measures,
    "continuity": Continuity,
    "report": ReportSettings,
    "figures": FigureSettings,
}


@dataclass(frozen=True)
class Settings:
    """Every config key (see ``config/README.md``), typed and read-only."""

    trials: tuple[str, ...]
    risk_of_bias: tuple[str, ...]
    results: str
    compare_to: str | None
    changes_move_fraction: float
    group_by: tuple[str, ...]
    measures: Measures
    tau2_methods: tuple[str, ...]
    ci_methods: tuple[str, ...]
    prediction_interval: str
    continuity: Continuity
    min_studies: int
    duplicates: str
    multi_arm: str
    level: float
    models: tuple[str, ...]
    prepost_correlation: float
    subgroups: tuple[str, ...]
    metaregression: tuple[str, ...]
    subgroup_common_tau2: bool
    subgroup_levels: LevelOrder
    credibility: str | None
    metaregression_test: str
    metaregression_tau2_method: str
    sensitivity_ci_method: str
    small_study_min_k: int
    trimfill_tau2_method: str
    assumed_control_risk: FrozenMapping
    minimal_important_difference: FrozenMapping
    grade_judgements: str | None
    bayes: FrozenMapping | bool  # false = off; the priors: trialmeta.inputs.priors.bayes_priors
    few_trials_k: int
    report: ReportSettings
    figures: FigureSettings

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, cfg: dict) -> Settings:
        """Settings from a config checked and completed by ``load_config`` (every key present),
        e.g. a job's ``snakemake.params.config`` (``CFG`` of rules/common.smk, checked when the
        workflow starts): not checked again, so a job does not import jsonschema."""
        return _from_node(cls, cfg)

    @classmethod
    def coerce(cls, obj) -> Settings:
        """``obj`` itself when it is a Settings; a dict (possibly partial) or None is checked and
        completed with the schema defaults by ``load_config`` (trial files are not looked up)."""
        if isinstance(obj, Settings):
            return obj
        return cls.from_config(load_config(obj, check_files=False))

    def to_config(self) -> dict:
        """The plain config dict (lists, nested dicts), every key in schema order: provenance.json
        records every setting, defaults included."""
        return _to_node(self)

    # ------------------------------------------------------------------ derived choices
    @property
    def primary_tau2_method(self) -> str:
        """The tau² estimator of the primary analysis (first of ``tau2_methods``)."""
        return self.tau2_methods[0]

    @property
    def primary_ci_method(self) -> str:
        """The CI method of the primary analysis (first of ``ci_methods``)."""
        return self.ci_methods[0]

    @property
    def sensitivity_ci(self) -> str:
        """The CI method of the leave-one-out and cumulative re-analyses: ``sensitivity_ci_method``,
        where ``primary`` (the default) means the primary CI method (first of ``ci_methods``)."""
        chosen = self.sensitivity_ci_method
        return self.primary_ci_method if chosen == "primary" else chosen

    @property
    def metaregression_estimator(self) -> str:
        """The residual tau² estimator of the meta-regression models and bubble plots.

        ``metaregression_tau2_method: primary`` means the primary estimator when the
        mixed-effects model supports it (REML, ML, DL), otherwise REML.
        """
        chosen = self.metaregression_tau2_method
        if chosen != "primary":
            return chosen
        primary = self.primary_tau2_method
        return primary if primary in METAREGRESSION_TAU2_METHODS else "REML"


def _from_node(cls, node: dict):
    kwargs = {}
    for f in fields(cls):
        value = node[f.name]
        if f.name == "subgroup_levels":
            value = LevelOrder(value or {})
        elif f.name in _NESTED and isinstance(value, dict):
            value = _from_node(_NESTED[f.name], value)
        elif isinstance(value, list):
            value = tuple(value)
        elif isinstance(value, dict):
            value = FrozenMapping(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _to_node(obj) -> dict:
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, FrozenMapping):
            value = value.as_dict()
        elif f.name in _NESTED and not isinstance(value, (dict, list)):
            value = _to_node(value)
        out[f.name] = value
    return out
