"""trialmeta.inputs.settings: one typed, frozen settings object whose defaults are the schema's;
the README, config/README.md and the schema list the same keys with the same defaults."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from trialmeta.inputs.config import config_schema, load_config
from trialmeta.inputs.errors import ConfigError
from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.plan import settings_digest


def _schema_defaults(schema: dict, prefix: str = "") -> dict:
    """{dotted key: default} of every leaf key of the schema (nested objects flattened)."""
    out = {}
    for key, sub in schema["properties"].items():
        if sub.get("type") == "object" and "properties" in sub:
            out.update(_schema_defaults(sub, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = sub["default"]
    return out


def _flat(node: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _settings_value(settings: Settings, dotted: str):
    value = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return list(value) if isinstance(value, tuple) else value


def test_built_from_the_shipped_config(project_root):
    raw = yaml.safe_load((project_root / "config" / "config.yaml").read_text(encoding="utf-8"))
    settings = Settings.from_config(load_config(raw, base_dir=project_root))
    assert settings.group_by == ("therapy", "comparator", "condition", "outcome", "outcome_type")
    assert settings.measures.binary == ("RR", "OR", "RD")
    assert settings.measures.for_outcome("binary")[0] == "RR"
    assert settings.measures.for_outcome("generic") == ()
    assert settings.primary_tau2_method == "REML" and settings.primary_ci_method == "hksj"
    assert settings.continuity.add == 0.5 and settings.continuity.to == "only0"
    assert settings.figures.formats == ("svg",)
    assert settings.metaregression_estimator == "REML"
    assert settings.sensitivity_ci_method == "primary" and settings.trimfill_tau2_method == "REML"
    assert settings.sensitivity_ci == "hksj"  # primary = the first of ci_methods


def test_fields_mirror_the_schema_key_for_key():
    schema = config_schema()
    assert [f.name for f in dataclasses.fields(Settings)] == list(schema["properties"])
    for f in dataclasses.fields(Settings):
        sub = schema["properties"][f.name]
        if sub.get("type") == "object" and "properties" in sub:  # a section, not a mapping key
            nested = type(getattr(Settings.coerce({}), f.name))
            assert [g.name for g in dataclasses.fields(nested)] == list(sub["properties"])


def test_every_schema_default_is_what_an_empty_config_gives():
    settings = Settings.coerce({})
    defaults = _schema_defaults(config_schema())
    assert defaults  # the schema gives a default for every key
    for key, default in defaults.items():
        assert _settings_value(settings, key) == default, key


def test_the_dataclasses_hold_no_defaults_of_their_own():
    classes = [Settings] + [
        type(getattr(Settings.coerce({}), k))
        for k in ("measures", "continuity", "report", "figures")
    ]
    for cls in classes:
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, (
                f.name
            )


def test_frozen():
    settings = Settings.coerce({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.level = 0.9
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.continuity.add = 1.0
    assert isinstance(settings.tau2_methods, tuple)  # lists become tuples: nothing to mutate
    assert hash(settings) == hash(Settings.coerce({}))


def test_coerce_a_partial_dict_and_a_settings():
    settings = Settings.coerce({"tau2_methods": ["DL", "REML"], "continuity": {"add": 0.25}})
    assert settings.tau2_methods == ("DL", "REML") and settings.continuity.add == 0.25
    assert settings.continuity.to == "only0"  # the rest from the schema
    assert settings.trials == ("data/trials/*.csv",)  # no file is looked up
    assert Settings.coerce(settings) is settings
    assert Settings.coerce(None) == Settings.coerce({})
    with pytest.raises(ConfigError, match="tau2_methods"):
        Settings.coerce({"tau2_methods": ["REM"]})


def test_to_config_round_trips_and_records_every_setting(project_root):
    raw = yaml.safe_load((project_root / "config" / "config.yaml").read_text(encoding="utf-8"))
    cfg = load_config(raw, base_dir=project_root)
    settings = Settings.from_config(cfg)
    assert settings.to_config() == cfg  # every key, defaults included (provenance.json)
    assert list(settings.to_config()) == list(config_schema()["properties"])
    assert Settings.coerce(settings.to_config()) == settings
    assert settings_digest(settings) == settings_digest(cfg)
    changed = dataclasses.replace(settings, sensitivity_ci_method="wald")
    assert (
        changed.to_config()["sensitivity_ci_method"] == "wald" and changed.sensitivity_ci == "wald"
    )
    assert settings_digest(changed) != settings_digest(settings)


def test_scalars_are_kept_as_written():
    """provenance.json and the settings digest see the values as the user wrote them."""
    assert Settings.coerce({"continuity": {"add": 1}}).to_config()["continuity"]["add"] == 1
    assert isinstance(
        Settings.coerce({"continuity": {"add": 1}}).to_config()["continuity"]["add"], int
    )


@pytest.mark.parametrize(
    "primary, expected",
    [("REML", "REML"), ("ML", "ML"), ("DL", "DL"), ("PM", "REML"), ("SJ", "REML")],
)
def test_metaregression_estimator(primary, expected):
    assert Settings.coerce({"tau2_methods": [primary]}).metaregression_estimator == expected
    chosen = Settings.coerce({"tau2_methods": [primary], "metaregression_tau2_method": "ML"})
    assert chosen.metaregression_estimator == "ML"


# ------------------------------------------------------------------ the docs list the same keys
_ROW = re.compile(r"^\| `([a-z0-9_.]+)` \| `([^`]*)` \| `([^`]*)` \|")


def _documented_defaults(text: str) -> dict:
    """{key: default} of the config table rows ``| `key` | `shipped` | `default` | meaning |``."""
    out = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            out[m.group(1)] = yaml.safe_load(m.group(3))
    return out


@pytest.mark.parametrize("doc", ["README.md", "config/README.md"])
def test_docs_list_every_key_with_the_schema_default(project_root, doc):
    text = (project_root / doc).read_text(encoding="utf-8")
    if doc == "README.md":
        text = text.split("## Configuration: every key", 1)[1].split("\n## ", 1)[0]
    assert _documented_defaults(text) == _schema_defaults(config_schema())


@pytest.mark.parametrize("doc", ["README.md", "config/README.md"])
def test_docs_shipped_column_is_the_shipped_config(project_root, doc):
    raw = yaml.safe_load((project_root / "config" / "config.yaml").read_text(encoding="utf-8"))
    shipped = _flat(Settings.from_config(load_config(raw, base_dir=project_root)).to_config())
    shipped.update({k: v for k, v in _schema_defaults(config_schema()).items() if k not in shipped})
    text = (project_root / doc).read_text(encoding="utf-8")
    if doc == "README.md":
        text = text.split("## Configuration: every key", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1): yaml.safe_load(m.group(2)) for m in map(_ROW.match, text.splitlines()) if m}
    assert rows == shipped


# ------------------------------------------------------------------ the settings reach the fits
def _one_analysis(k: int = 12):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    rows = np.arange(k) + 2
    effects = pd.DataFrame(
        {
            "analysis_id": "a",
            "study_id": [f"s{i}" for i in range(k)],
            "measure": "MD",
            "scale": "identity",
            "yi": rng.normal(0.3, 0.4, k),
            "vi": rng.uniform(0.02, 0.2, k),
            "source_file": "t.csv",
            "source_row": rows,
        }
    )
    trials = pd.DataFrame(
        {
            "source_file": "t.csv",
            "source_row": rows,
            "year": 2000 + np.arange(k),
            "dose": rng.uniform(1, 5, k),
        }
    )
    return effects, trials


def test_exploration_fits_follow_the_settings():
    import pandas as pd

    from trialmeta.tables import exploration as ex

    effects, trials = _one_analysis()
    base = {"metaregression": ["dose"], "tau2_methods": ["PM", "REML"]}
    default = ex.exploration_tables(effects, trials, base)
    pd.testing.assert_frame_equal(
        default["metaregression"], ex.metaregression_table(effects, trials, ["dose"], method="REML")
    )
    chosen = ex.exploration_tables(
        effects,
        trials,
        dict(
            base,
            metaregression_tau2_method="DL",
            sensitivity_ci_method="wald",
            trimfill_tau2_method="DL",
        ),
    )
    pd.testing.assert_frame_equal(
        chosen["metaregression"], ex.metaregression_table(effects, trials, ["dose"], method="DL")
    )
    pd.testing.assert_frame_equal(
        chosen["leave_one_out"], ex.leave_one_out_table(effects, tau2_method="PM", ci_method="wald")
    )
    pd.testing.assert_frame_equal(
        chosen["cumulative"],
        ex.cumulative_table(effects, trials, tau2_method="PM", ci_method="wald"),
    )
    # default sensitivity_ci_method: primary = the first of ci_methods (hksj)
    pd.testing.assert_frame_equal(
        default["leave_one_out"],
        ex.leave_one_out_table(effects, tau2_method="PM", ci_method="hksj"),
    )
    pd.testing.assert_frame_equal(
        default["cumulative"],
        ex.cumulative_table(effects, trials, tau2_method="PM", ci_method="hksj"),
    )
    assert (default["cumulative"]["ci_method"] == "hksj").all()
    assert (chosen["cumulative"]["ci_method"] == "wald").all()
    pd.testing.assert_frame_equal(
        chosen["small_study"], ex.small_study_table(effects, trimfill_method="DL")
    )
    assert not chosen["leave_one_out"]["ci_low"].equals(default["leave_one_out"]["ci_low"])
