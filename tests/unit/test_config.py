"""Config validation: defaults, one-line errors naming the key, trials globs, columns vs data."""

from __future__ import annotations

import pytest
import yaml
from snakemake.exceptions import WorkflowError

from trialmeta.inputs.config import (
    CONFIG_SCHEMA_PATH,
    check_config_columns,
    load_config,
    trial_paths,
)
from trialmeta.inputs.errors import ConfigError


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data" / "trials"
    d.mkdir(parents=True)
    (d / "b.csv").write_text("x\n1\n")
    (d / "a.csv").write_text("x\n1\n")
    (d / "c.xlsx").write_bytes(b"")
    return tmp_path


def messages(config, **kw) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(config, **kw)
    lines = str(exc.value).splitlines()
    assert lines == exc.value.messages
    return lines


def test_defaults(data_dir):
    cfg = load_config({}, base_dir=data_dir)
    assert cfg == {
        "trials": ["data/trials/*.csv"],
        "risk_of_bias": [],
        "results": "results",
        "compare_to": None,
        "changes_move_fraction": 0.25,
        "group_by": ["therapy", "comparator", "condition", "outcome", "outcome_type"],
        "measures": {
            "binary": ["OR", "RR", "RD"],
            "continuous": ["MD", "SMD"],
            "rate": ["IRR"],
            "single_arm_proportion": ["PLO"],
            "single_arm_change": ["MC", "SMCR"],
        },
        "tau2_methods": ["REML", "DL"],
        "ci_methods": ["hksj", "wald"],
        "prediction_interval": "metafor",
        "continuity": {"add": 0.5, "to": "only0", "drop00": False},
        "min_studies": 1,
        "duplicates": "warn",
        "multi_arm": "split",
        "level": 0.95,
        "models": ["random", "fixed", "mh", "peto", "glmm"],
        "prepost_correlation": 0.5,
        "subgroups": [],
        "metaregression": [],
        "subgroup_common_tau2": False,
        "subgroup_levels": {},
        "credibility": None,
        "metaregression_test": "z",
        "metaregression_tau2_method": "primary",
        "sensitivity_ci_method": "primary",
        "small_study_min_k": 10,
        "trimfill_tau2_method": "REML",
        "assumed_control_risk": {},
        "minimal_important_difference": {},
        "grade_judgements": None,
        "bayes": False,
        "few_trials_k": 5,
        "report": {"per_analysis_figures_in_snakemake_report": False},
        "figures": {"formats": ["svg"]},
    }


def test_partial_nested_keys_get_their_defaults(data_dir):
    cfg = load_config({"measures": {"binary": ["RR"]}, "continuity": {"add": 0}}, base_dir=data_dir)
    measures = {k: cfg["measures"][k] for k in ("binary", "continuous", "single_arm_proportion")}
    assert measures == {
        "binary": ["RR"],
        "continuous": ["MD", "SMD"],
        "single_arm_proportion": ["PLO"],
    }
    assert cfg["continuity"] == {"add": 0, "to": "only0", "drop00": False}


def test_input_dict_not_modified(data_dir):
    given = {"tau2_methods": ["DL"]}
    load_config(given, base_dir=data_dir)
    assert given == {"tau2_methods": ["DL"]}


def test_single_string_becomes_list(data_dir):
    cfg = load_config({"trials": "data/trials/a.csv", "group_by": "outcome"}, base_dir=data_dir)
    assert cfg["trials"] == ["data/trials/a.csv"] and cfg["group_by"] == ["outcome"]


@pytest.mark.parametrize(
    "config, expected",
    [
        (
            {"colour": "red"},
            "config: colour: unknown key (known keys: trials, risk_of_bias, results, compare_to, changes_move_fraction, group_by, measures, tau2_methods, ci_methods, prediction_interval, continuity, min_studies, duplicates, multi_arm, level, models, prepost_correlation, subgroups, metaregression, subgroup_common_tau2, subgroup_levels, credibility, metaregression_test, metaregression_tau2_method, sensitivity_ci_method, small_study_min_k, trimfill_tau2_method, assumed_control_risk, minimal_important_difference, grade_judgements, bayes, few_trials_k, report, figures)",
        ),
        (
            {"tau2_method": ["DL"]},
            "config: tau2_method: unknown key (did you mean 'tau2_methods'?)",
        ),
        (
            {"continuity": {"drop": True}},
            "config: continuity.drop: unknown key (did you mean 'drop00'?)",
        ),
        (
            {"tau2_methods": ["REML", "REM"]},
            "config: tau2_methods[1]: unknown tau2 method 'REM' (did you mean 'REML'? one of DL, REML, ML, PM, HE, SJ, EB, HS)",
        ),
        (
            {"measures": {"binary": ["OR", "HR"]}},
            "config: measures.binary[1]: unknown binary measure 'HR' (one of OR, RR, RD)",
        ),
        (
            {"measures": {"continuous": ["GLASS"]}},
            "config: measures.continuous[0]: unknown continuous measure 'GLASS' (one of MD, SMD, "
            "ROM)",
        ),
        (
            {"ci_methods": ["kh"]},
            "config: ci_methods[0]: unknown CI method 'kh' (one of wald, hksj, hksj_adhoc)",
        ),
        (
            {"prediction_interval": "t"},
            "config: prediction_interval: unknown value 't' (one of metafor, higgins, none)",
        ),
        ({"min_studies": "2"}, "config: min_studies: must be an integer, got '2' (str)"),
        ({"min_studies": 0}, "config: min_studies: must be >= 1, got 0"),
        ({"small_study_min_k": 2}, "config: small_study_min_k: must be >= 3, got 2"),
        (
            {"metaregression_test": "t"},
            "config: metaregression_test: unknown value 't' (one of z, knha)",
        ),
        (
            {"subgroup_common_tau2": "yes"},
            "config: subgroup_common_tau2: must be true or false, got 'yes' (str)",
        ),
        ({"min_studies": True}, "config: min_studies: must be an integer, got True (bool)"),
        ({"level": 95}, "config: level: must be < 1, got 95 (a proportion, e.g. 0.95)"),
        ({"continuity": {"add": -0.5}}, "config: continuity.add: must be >= 0, got -0.5"),
        (
            {"continuity": {"to": "some"}},
            "config: continuity.to: unknown value 'some' (one of only0, all, if0all, none)",
        ),
        ({"continuity": "0.5"}, "config: continuity: must be a mapping, got '0.5' (str)"),
        ({"tau2_methods": []}, "config: tau2_methods: must list at least 1 item"),
        (
            {"tau2_methods": ["DL", "DL"]},
            "config: tau2_methods: lists an item twice (['DL', 'DL'])",
        ),
        (
            {"report": {"per_analysis_figures_in_snakemake_report": "yes"}},
            "config: report.per_analysis_figures_in_snakemake_report: must be true or false, got 'yes' (str)",
        ),
        (
            {"figures": {"formats": ["jpg"]}},
            "config: figures.formats[0]: unknown figure format 'jpg' (one of svg, png, pdf)",
        ),
        ({"trials": ["data/x/*.csv"]}, "config: trials: 'data/x/*.csv' matches no file"),
        (
            {"trials": ["data/trials/missing.csv"]},
            "config: trials: 'data/trials/missing.csv' does not exist",
        ),
        ({"trials": ["data/trials"]}, "config: trials: 'data/trials' is not a file"),
        ({"group_by": [1]}, "config: group_by[0]: must be a string, got 1 (int)"),
    ],
)
def test_one_line_errors_naming_the_key(data_dir, config, expected):
    assert messages(config, base_dir=data_dir) == [expected]


def test_all_config_problems_at_once(data_dir):
    lines = messages({"colour": 1, "level": 2, "trials": ["nope/*.tsv"]}, base_dir=data_dir)
    assert [line.split(" (")[0] for line in lines] == [
        "config: colour: unknown key",
        "config: level: must be < 1, got 2",
        "config: trials: 'nope/*.tsv' matches no file",
    ]


def test_not_a_mapping():
    assert messages(["trials"]) == [
        "config: (top level): must be a mapping of keys to values, got list"
    ]


def test_trial_paths_order_and_dedup(data_dir):
    cfg = {"trials": ["data/trials/*.csv", "data/trials/a.csv", "data/trials/*.xlsx"]}
    assert trial_paths(cfg, data_dir) == [
        "data/trials/a.csv",
        "data/trials/b.csv",
        "data/trials/c.xlsx",
    ]


def test_check_files_can_be_skipped(tmp_path):
    assert load_config({"trials": ["nothing/*.csv"]}, base_dir=tmp_path, check_files=False)[
        "trials"
    ] == ["nothing/*.csv"]


def test_columns_checked_against_the_data():
    cfg = {"group_by": ["therapy_klass", "outcome"], "subgroups": ["region"], "metaregression": []}
    with pytest.raises(ConfigError) as exc:
        check_config_columns(cfg, ["study_id", "therapy_class", "outcome", "source_file"])
    assert str(exc.value).splitlines() == [
        "config: group_by[0]: column 'therapy_klass' is not in the trial tables (did you mean 'therapy_class'?)",
        "config: subgroups[0]: column 'region' is not in the trial tables (available: study_id, therapy_class, outcome)",
    ]
    check_config_columns({"group_by": ["outcome"]}, ["outcome"])  # no error


def test_schema_works_with_snakemake_validate(data_dir):
    from snakemake.utils import validate

    config = {"trials": ["data/trials/*.csv"], "tau2_methods": ["DL"]}
    validate(config, str(CONFIG_SCHEMA_PATH))
    assert config["ci_methods"] == ["hksj", "wald"] and config["tau2_methods"] == ["DL"]
    bad = {"tau2_methods": ["XX"]}
    with pytest.raises(WorkflowError, match="XX"):
        validate(bad, str(CONFIG_SCHEMA_PATH))


def test_shipped_config_is_valid(project_root):
    path = project_root / "config" / "config.yaml"
    if not path.exists():
        pytest.skip("config/config.yaml not written yet (owned by the workflow helper)")
    raw = yaml.safe_load(path.read_text())
    cfg = load_config(raw, base_dir=project_root)
    # generic: the data dictionary's key columns, no moderators (any table that follows it runs)
    assert cfg["group_by"] == ["therapy", "comparator", "condition", "outcome", "outcome_type"]
    assert cfg["subgroups"] == [] and cfg["metaregression"] == []
    assert cfg["tau2_methods"][0] == "REML" and cfg["ci_methods"][0] == "hksj"
    # the shipped example's choices (`make run`: --configfile config/example.yaml on top)
    example = yaml.safe_load((project_root / "config" / "example.yaml").read_text())
    cfg = load_config({**raw, **example}, base_dir=project_root)
    assert cfg["group_by"] == [
        "therapy_class",
        "comparator",
        "condition",
        "outcome",
        "outcome_type",
    ]
    assert cfg["subgroups"] == ["biomarker_selected"]
    assert cfg["metaregression"] == ["year", "timepoint_weeks"]


# ------------------------------------------------------------------ forgiving names
def test_method_and_measure_names_are_case_insensitive(data_dir):
    cfg = load_config(
        {
            "tau2_methods": ["reml", "Dl"],
            "ci_methods": "HKSJ",
            "measures": {"binary": ["rr", "Or"], "continuous": ["smd"]},
            "models": ["RANDOM", "mh"],
            "prediction_interval": "Higgins",
            "continuity": {"to": "ONLY0"},
            "metaregression_tau2_method": "Primary",
            "sensitivity_ci_method": " Wald ",
            "trimfill_tau2_method": "dl",
            "duplicates": "Error",
            "figures": {"formats": ["SVG", "png"]},
        },
        base_dir=data_dir,
    )
    assert cfg["tau2_methods"] == ["REML", "DL"] and cfg["ci_methods"] == ["hksj"]
    assert {k: cfg["measures"][k] for k in ("binary", "continuous")} == {
        "binary": ["RR", "OR"],
        "continuous": ["SMD"],
    }
    assert cfg["models"] == ["random", "mh"] and cfg["prediction_interval"] == "higgins"
    assert cfg["continuity"]["to"] == "only0" and cfg["metaregression_tau2_method"] == "primary"
    assert cfg["sensitivity_ci_method"] == "wald" and cfg["trimfill_tau2_method"] == "DL"
    assert cfg["duplicates"] == "error" and cfg["figures"]["formats"] == ["svg", "png"]


def test_canonical_names_reach_the_settings():
    from trialmeta.inputs.settings import Settings

    settings = Settings.coerce({"tau2_methods": ["pm", "reml"], "measures": {"binary": ["rd"]}})
    assert settings.primary_tau2_method == "PM" and settings.measures.binary == ("RD",)
    assert settings.to_config()["tau2_methods"] == ["PM", "REML"]


def test_case_variants_of_one_name_are_the_same_item(data_dir):
    assert messages({"tau2_methods": ["REML", "reml"]}, base_dir=data_dir) == [
        "config: tau2_methods: lists an item twice (['REML', 'REML'])"
    ]


@pytest.mark.parametrize(
    "config, expected",
    [
        (
            {"ci_methods": ["hksk"]},
            "config: ci_methods[0]: unknown CI method 'hksk' (did you mean 'hksj'? one of wald, hksj, hksj_adhoc)",
        ),
        (
            {"models": ["ramdom"]},
            "config: models[0]: unknown model 'ramdom' (did you mean 'random'? one of random, fixed, mh, peto, glmm)",
        ),
        (
            {"duplicates": "warning"},
            "config: duplicates: unknown value 'warning' (did you mean 'warn'? one of warn, error)",
        ),
        (
            {"measures": {"binary": ["RRR"]}},
            "config: measures.binary[0]: unknown binary measure 'RRR' (did you mean 'RR'? one of OR, RR, RD)",
        ),
    ],
)
def test_did_you_mean_for_unknown_values(data_dir, config, expected):
    assert messages(config, base_dir=data_dir) == [expected]


def test_missing_config_column_names_file_and_sheet(tmp_path):
    from helpers.trial_tables import HEADER, row, write_xlsx
    from trialmeta.inputs.ingest import load_trials

    renamed = {"comparator": "Comparator arm"}
    header = [renamed.get(c, c) for c in HEADER]
    p = write_xlsx(
        tmp_path / "review.xlsx",
        {
            "README": [["Extraction form v2", "reviewer JS"]],
            "trials": [header, [row("A")[c] for c in HEADER]],
        },
    )
    raw = load_trials([p])
    with pytest.raises(ConfigError) as exc:
        check_config_columns({"group_by": ["comparator", "outcome"], "subgroups": ["region"]}, raw)
    lines = str(exc.value).splitlines()
    assert lines[0] == (
        f"config: group_by[0]: column 'comparator' is not in the trial tables read from {p}, sheet 'trials' "
        "(did you mean 'Comparator arm'?)"
    )
    assert lines[1].startswith(
        f"config: subgroups[0]: column 'region' is not in the trial tables read from {p}, sheet 'trials' "
        "(available: study_id, therapy, Comparator arm, condition"
    )


def test_missing_config_column_names_several_files(tmp_path):
    from helpers.trial_tables import row, write_csv
    from trialmeta.inputs.ingest import load_trials

    a = write_csv(tmp_path / "a.csv", [row("A")])
    b = write_csv(tmp_path / "b.csv", [row("B")])
    with pytest.raises(ConfigError) as exc:
        check_config_columns({"group_by": ["therapy_class"]}, load_trials([a, b]))
    assert str(exc.value) == (
        f"config: group_by[0]: column 'therapy_class' is not in the trial tables read from {a}; {b} "
        "(did you mean 'therapy'?)"
    )
