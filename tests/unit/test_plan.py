"""trialmeta.pipeline.plan.make_plan: the analyses known at parse time, and the incremental
rebuild after an edit that leaves every row in its analysis (issue 16)."""

import csv
import io
import shutil

import pytest

from trialmeta.inputs.config import load_config
from trialmeta.pipeline import plan as plan_module
from trialmeta.pipeline.plan import make_plan

TABLE = "immunotherapy_trials.csv"  # the shipped example table (data/trials, sourced rows)
GROUP_BY = ["therapy_class", "comparator", "condition", "outcome", "outcome_type"]


@pytest.fixture
def project(project_root, tmp_path, monkeypatch):
    shutil.copy(project_root / "data" / "trials" / TABLE, tmp_path / TABLE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _config(**overrides):
    return load_config({"trials": [TABLE], "group_by": GROUP_BY, **overrides})


def _edit(path, row, column, change):
    """Change one cell of a CSV file (row 0 = the first data row)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    cells = next(csv.reader([lines[row + 1]]))
    i = header.index(column)
    cells[i] = change(cells[i])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    lines[row + 1] = out.getvalue()
    path.write_text("".join(lines), encoding="utf-8")


def _first_binary_row(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return next(i for i, r in enumerate(csv.DictReader(fh)) if r["events_treat"])


def _from_scratch(project, config, name):
    return make_plan([TABLE], config, project / name)


def _count_validations(monkeypatch):
    from trialmeta.inputs import validate

    calls = []
    real = validate.validate_trials

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(validate, "validate_trials", counting)
    return calls


def test_an_edited_number_keeps_the_analyses_without_validating_again(project, monkeypatch):
    config = _config()
    before = make_plan([TABLE], config, project / "cache")
    row = _first_binary_row(project / TABLE)
    _edit(project / TABLE, row, "events_treat", lambda v: str(int(v) + 1))
    calls = _count_validations(monkeypatch)
    after = make_plan([TABLE], config, project / "cache")
    assert calls == []  # the rows' analyses came from the previous plan
    scratch = _from_scratch(project, config, "scratch")
    assert len(calls) == 1
    assert after == scratch  # the same plan as from scratch, every field
    changed = [a for a in before["analyses"] if before["analyses"][a] != after["analyses"][a]]
    assert len(changed) == 1 and sorted(after["analyses"]) == sorted(before["analyses"])


@pytest.mark.parametrize(
    "column, change",
    [("condition", lambda v: v + " (edited)"), ("outcome_type", lambda v: v.upper())],
)
def test_an_edited_grouping_cell_validates_again(project, monkeypatch, column, change):
    config = _config()
    make_plan([TABLE], config, project / "cache")
    _edit(project / TABLE, 0, column, change)
    calls = _count_validations(monkeypatch)
    after = make_plan([TABLE], config, project / "cache")
    assert calls == [1]
    assert after == _from_scratch(project, config, "scratch")


def test_other_settings_validate_again(project, monkeypatch):
    make_plan([TABLE], _config(), project / "cache")
    _edit(project / TABLE, _first_binary_row(project / TABLE), "n_treat", lambda v: str(int(v) + 1))
    calls = _count_validations(monkeypatch)
    config = _config(min_studies=2)
    after = make_plan([TABLE], config, project / "cache")
    assert calls == [1]
    assert after == _from_scratch(project, config, "scratch")


def test_a_broken_number_is_left_to_the_validate_job(project):
    """From scratch the plan reports the problem (and the workflow runs only the validate job);
    after a good run the rows keep their analyses and the validate job reports it."""
    config = _config()
    make_plan([TABLE], config, project / "cache")
    _edit(project / TABLE, _first_binary_row(project / TABLE), "events_treat", lambda v: "many")
    assert make_plan([TABLE], config, project / "cache")["ok"] is True
    scratch = _from_scratch(project, config, "scratch")
    assert scratch["ok"] is False and "events_treat" in scratch["error"]


def test_a_previous_plan_of_another_version_is_not_used(project, monkeypatch):
    config = _config()
    make_plan([TABLE], config, project / "cache")
    monkeypatch.setattr(plan_module, "PLAN_VERSION", plan_module.PLAN_VERSION + 1)
    _edit(project / TABLE, _first_binary_row(project / TABLE), "n_ctrl", lambda v: str(int(v) + 1))
    calls = _count_validations(monkeypatch)
    make_plan([TABLE], config, project / "cache")
    assert calls == [1]
