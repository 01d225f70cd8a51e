"""Within-trial subgroup rows and interactions (issue 11): input rules, a hand-checkable case,
properties (swapping levels negates d; identical level effects give d = 0; subgroup rows never
change the main table or its pooled results) and the ICEMAN table."""

import math

import numpy as np
import pandas as pd
import pytest

from trialmeta.inputs.errors import InputError
from trialmeta.inputs.settings import Settings
from trialmeta.inputs.subgroup_rows import validate_with_subgroups
from trialmeta.inputs.validate import validate_trials
from trialmeta.tables.iceman import ICEMAN_ITEMS, NEEDED, credibility_table, read_judgements
from trialmeta.tables.interactions import INTERACTION_COLUMNS, interaction_tables, level_pairs
from trialmeta.tables.pooled import pool_analyses

GROUP_BY = ["therapy", "comparator", "condition", "outcome", "outcome_type"]
BASE = {
    "therapy": "drug",
    "comparator": "placebo",
    "condition": "SLE",
    "outcome": "response",
    "outcome_type": "binary",
    "higher_is_better": "true",
}


def _row(study, et, nt, ec, nc, var="", level="", **extra):
    r = dict(BASE, study_id=study, events_treat=et, n_treat=nt, events_ctrl=ec, n_ctrl=nc)
    r.update(subgroup_variable=var, subgroup_level=level, **extra)
    return {k: str(v) for k, v in r.items()}


def _table(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows).fillna("")
    df["source_file"] = "t.csv"
    df["source_row"] = np.arange(len(df)) + 2
    return df


def _hand_rows():
    """Two trials; level a RR = 2 (20/100 vs 10/100), level b RR = 1 (10/100 vs 10/100)."""
    rows = []
    for s in ("T1", "T2"):
        rows.append(_row(s, 30, 200, 20, 200))
        rows.append(_row(s, 20, 100, 10, 100, "marker", "pos"))
        rows.append(_row(s, 10, 100, 10, 100, "marker", "neg"))
    return rows


def _settings(**kw):
    cfg = {"group_by": GROUP_BY, "tau2_methods": ["REML"], "measures": {"binary": ["RR", "OR"]}}
    return Settings.coerce({**cfg, **kw})


def _tables(rows, **kw):
    _, _, sub = validate_with_subgroups(_table(rows), GROUP_BY)
    return interaction_tables(sub, _settings(**kw))


def test_hand_checkable_ratio_of_risk_ratios():
    t = _tables(_hand_rows(), subgroup_levels={"marker": ["pos", "neg"]})
    st = t["interaction_studies"]
    assert list(st["level_a"].unique()) == ["pos"] and list(st["level_b"].unique()) == ["neg"]
    np.testing.assert_allclose(st["d"], math.log(2.0), rtol=1e-12)
    # var log RR = 1/a - 1/n1 + 1/c - 1/n2: 0.13 (level a) + 0.18 (level b)
    np.testing.assert_allclose(st["vd"], 0.31, rtol=1e-12)
    fe = t["interactions"].query("method == 'within_trial' and model == 'fixed'").iloc[0]
    assert fe["k"] == 2 and fe["estimate_exp"] == pytest.approx(2.0, rel=1e-12)
    assert fe["se"] == pytest.approx(math.sqrt(0.31 / 2), rel=1e-12)
    assert fe["Q"] == pytest.approx(0.0, abs=1e-12)
    assert fe["scale"] == "log"
    assert list(t["interactions"].columns) == GROUP_BY + list(INTERACTION_COLUMNS)
    assert set(t["interactions"]["method"]) == {"within_trial", "between_trial"}
    assert set(t["interactions"]["model"]) == {"fixed", "random"}


def test_swapping_the_levels_negates_d_and_the_estimates():
    ab = _tables(_hand_rows(), subgroup_levels={"marker": ["pos", "neg"]})
    ba = _tables(_hand_rows(), subgroup_levels={"marker": ["neg", "pos"]})
    np.testing.assert_allclose(ba["interaction_studies"]["d"], -ab["interaction_studies"]["d"])
    np.testing.assert_allclose(ba["interaction_studies"]["vd"], ab["interaction_studies"]["vd"])
    np.testing.assert_allclose(
        ba["interactions"]["estimate"], -ab["interactions"]["estimate"], atol=1e-14
    )
    # without the config key the levels are sorted: neg before pos
    assert _tables(_hand_rows())["interaction_studies"]["level_a"].iloc[0] == "neg"


def test_identical_level_effects_give_d_zero():
    rows = [
        _row("T1", 60, 300, 30, 300),
        _row("T1", 20, 100, 10, 100, "m", "x"),
        _row("T1", 40, 200, 20, 200, "m", "y"),
    ]
    st = _tables(rows)["interaction_studies"]
    assert st["d"].iloc[0] == pytest.approx(0.0, abs=1e-15)


def test_more_than_two_levels_each_against_the_first():
    assert level_pairs(["b", "c", "a"]) == [("a", "b"), ("a", "c")]
    assert level_pairs(["b", "c", "a"], ("c",)) == [("c", "a"), ("c", "b")]


def test_subgroup_rows_never_change_the_main_table_or_pooled():
    rows = _hand_rows()
    mixed, warnings, sub = validate_with_subgroups(_table(rows), GROUP_BY)
    main_only = [r for r in rows if not r["subgroup_variable"]]
    alone, _ = validate_trials(
        _table(main_only).drop(columns=["subgroup_variable", "subgroup_level"]), GROUP_BY
    )
    assert len(sub) == 4 and len(mixed) == 2
    from trialmeta.inputs.analyses import assign_analysis_ids
    from trialmeta.tables.effects import compute_effect_sizes

    def pooled(t):
        eff = compute_effect_sizes(assign_analysis_ids(t, GROUP_BY))
        return pool_analyses(eff, GROUP_BY)[0]

    pd.testing.assert_frame_equal(pooled(mixed), pooled(alone))


def test_trial_without_overall_row_stays_out_with_a_warning():
    rows = _hand_rows()[1:]  # T1 has subgroup rows only
    trials, warnings, sub = validate_with_subgroups(_table(rows), GROUP_BY)
    assert list(trials["study_id"]) == ["T2"]
    text = [str(w) for w in warnings]
    assert any("'T1' has subgroup rows but no overall row" in w for w in text)
    assert sorted(set(sub["study_id"])) == ["T1", "T2"]


def _error(rows) -> str:
    with pytest.raises(InputError) as exc:
        validate_with_subgroups(_table(rows), GROUP_BY)
    return str(exc.value)


def test_overlapping_levels_are_an_error_naming_file_row_column():
    rows = _hand_rows()
    rows[2] = _row("T1", 10, 120, 10, 100, "marker", "neg")  # 100 + 120 > 200 treated
    assert "t.csv:4: n_treat=120: levels of 'marker' overlap" in _error(rows)
    rows[2] = _row("T1", 10, 100, 10, 101, "marker", "neg")  # 100 + 101 > 200 control
    assert "t.csv:4: n_ctrl=101: levels of 'marker' overlap" in _error(rows)


def test_variable_and_level_go_together_and_values_are_checked():
    rows = _hand_rows()
    rows[1]["subgroup_level"] = ""
    rows[4]["prespecified"] = "maybe"
    rows[5]["hypothesised_direction"] = "high"
    msg = _error(rows)
    assert "t.csv:3: subgroup_level: empty: a subgroup row needs both" in msg
    assert "t.csv:6: prespecified='maybe': must be true or false" in msg
    assert "group_by column" not in msg  # one message for the empty level, not two
    assert "t.csv:7: hypothesised_direction" in msg and "is not a level of 'marker'" in msg


def test_subgroup_rows_are_checked_like_trial_rows():
    rows = _hand_rows()
    rows[1]["events_treat"] = "120"  # > n_treat
    assert "t.csv:3: events_treat" in _error(rows)


def test_iceman_items_answers_and_overall(tmp_path):
    rows = _hand_rows()
    for r in rows:
        if r["subgroup_variable"]:
            r["prespecified"], r["hypothesised_direction"] = "true", "pos"
    _, _, sub = validate_with_subgroups(_table(rows), GROUP_BY)
    settings = _settings(subgroup_levels={"marker": ["pos", "neg"]})
    tables = interaction_tables(sub, settings)
    tables["subgroup_rows"] = sub
    cred = credibility_table(tables, settings, {})
    assert list(cred["item"]) == [str(n) for n, _ in ICEMAN_ITEMS] + ["overall"]
    answer = dict(zip(cred["item"], cred["answer"]))
    assert answer["1"].startswith("Yes: within-trial comparison (2 trials")
    assert answer["4"].startswith("Yes: hypothesised pos benefits more; observed pos")
    assert answer["5"] == NEEDED and answer["8"] == NEEDED
    assert answer["overall"].startswith("open")
    assert not any("score" in a and a[0].isdigit() for a in cred["answer"])
    f = tmp_path / "cred.yaml"
    f.write_text("marker:\n  overall: low\n  items:\n    5: no prior trials\n", encoding="utf-8")
    judged = dict(
        zip(*credibility_table(tables, settings, read_judgements(f))[["item", "answer"]].T.values)
    )
    assert judged["overall"] == "low" and judged["5"] == "no prior trials"


def test_figures_are_byte_deterministic(tmp_path):
    from trialmeta.plots.interaction_forest import draw_interaction_figures

    settings = _settings(subgroup_levels={"marker": ["pos", "neg"]})
    tables = _tables(_hand_rows(), subgroup_levels={"marker": ["pos", "neg"]})
    assert draw_interaction_figures(tables, settings, tmp_path / "a") == 1
    draw_interaction_figures(tables, settings, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert [n.rsplit(".", 1)[1] for n in names] == ["svg"]  # figures.formats default
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes(), n


def test_config_keys_subgroup_levels_and_credibility(tmp_path):
    from trialmeta.inputs.config import load_config
    from trialmeta.inputs.errors import ConfigError

    cfg = load_config({"subgroup_levels": {"anti-dsDNA": ["high", "normal"]}}, check_files=False)
    settings = Settings.from_config(cfg)
    assert settings.subgroup_levels == {"anti-dsDNA": ["high", "normal"]}
    assert hash(settings) == hash(Settings.from_config(cfg))  # settings stay hashable
    assert settings.credibility is None
    with pytest.raises(ConfigError, match="subgroup_levels"):
        load_config({"subgroup_levels": {"x": "high"}}, check_files=False)
    bad = tmp_path / "c.yaml"
    bad.write_text("marker: {overall: great}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="overall must be one of very low, low, moderate, high"):
        read_judgements(bad)


def test_credibility_file_must_exist(tmp_path):
    from trialmeta.inputs.config import load_config
    from trialmeta.inputs.errors import ConfigError

    (tmp_path / "data" / "trials").mkdir(parents=True)
    (tmp_path / "data" / "trials" / "t.csv").write_text("study_id\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="config: credibility: 'nope.yaml' is not a file"):
        load_config({"credibility": "nope.yaml"}, base_dir=tmp_path)
    (tmp_path / "cred.yaml").write_text("{}\n", encoding="utf-8")
    assert (
        load_config({"credibility": "cred.yaml"}, base_dir=tmp_path)["credibility"] == "cred.yaml"
    )


def test_one_level_only_and_between_trial_only():
    one = [_row("T1", 30, 200, 20, 200), _row("T1", 20, 100, 10, 100, "marker", "pos")]
    assert all(len(t) == 0 for t in _tables(one).values())  # nothing to compare
    rows = one + [_row("T2", 30, 200, 20, 200), _row("T2", 10, 100, 10, 100, "marker", "neg")]
    inter = _tables(rows)["interactions"]
    within = inter[inter["method"] == "within_trial"]
    assert (within["k"] == 0).all() and (within["status"] == "failed:no_studies").all()
    between = inter[inter["method"] == "between_trial"]
    assert (between["k"] == 2).all() and between["estimate"].notna().all()
