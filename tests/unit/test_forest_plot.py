"""RevMan-style forest plots: texts, favours sides, axes, k = 1, hostile labels, byte determinism."""

import math
import struct

import matplotlib.text
import numpy as np
import pandas as pd
import pytest

from helpers.report_tables import CONFIG, HOSTILE, engine_tables, load_shipped_trials
from helpers.svg_safety import svg_text
from trialmeta.plots.forest import axis_ticks, forest_plot, render_forest_plots, select_rows
from trialmeta.plots.labels import (
    analysis_labels,
    favours_labels,
    favours_therapy_side,
    measure_info,
)


@pytest.fixture(scope="module")
def tables():
    trials, _ = load_shipped_trials()
    pooled, studies, engine = engine_tables(trials)
    return trials, pooled, studies


def texts(fig):
    """{gid or text: text} of every Text artist, plus the list of all strings."""
    by_gid, allt = {}, []
    for t in fig.findobj(matplotlib.text.Text):
        s = t.get_text()
        if not s:
            continue
        allt.append(s)
        if t.get_gid():
            by_gid[t.get_gid()] = s
    return by_gid, allt


def plot_for(tables, aid, **over):
    trials, pooled, studies = tables
    labels = analysis_labels(trials[trials.analysis_id == aid])
    pa = pooled[pooled.analysis_id == aid]
    measure = select_rows(pa, aid, None, CONFIG)["measure"]
    kw = dict(
        measure=measure,
        therapy_label=labels["therapy"],
        comparator_label=labels["comparator"],
        higher_is_better=labels["higher_is_better"],
        outcome_type=labels["outcome_type"],
        config=CONFIG,
    )
    kw.update(over)
    return (
        forest_plot({"analysis_id": aid}, studies[studies.analysis_id == aid], pa, **kw),
        labels,
        measure,
    )


def find_aid(trials, *, outcome_type, higher_is_better, min_k=2):
    for aid, g in trials.groupby("analysis_id", sort=True):
        lab = analysis_labels(g)
        if (
            lab["outcome_type"] == outcome_type
            and lab["higher_is_better"] is higher_is_better
            and len(g) >= min_k
        ):
            return aid
    raise LookupError((outcome_type, higher_is_better))


# ------------------------------------------------------------------------- direction logic
@pytest.mark.parametrize(
    "hib,left_is_therapy", [(True, False), (False, True), ("true", False), ("false", True)]
)
def test_favours_labels_logic(hib, left_is_therapy):
    left, right = favours_labels("DrugX", "Placebo", hib)
    assert (left, right) == (
        ("Favours DrugX", "Favours Placebo")
        if left_is_therapy
        else ("Favours Placebo", "Favours DrugX")
    )


def test_favours_unknown_direction_says_so():
    assert favours_therapy_side(None) is None
    left, right = favours_labels("DrugX", "Placebo", float("nan"))
    assert "Favours" not in left + right and "DrugX" in left and "DrugX" in right


@pytest.mark.parametrize(
    "measure,scale,ratio,null",
    [
        ("RR", "log", True, 1.0),
        ("OR", "log", True, 1.0),
        ("logHR", None, True, 1.0),
        ("MD", "raw", False, 0.0),
        ("SMD", None, False, 0.0),
        ("RD", "raw", False, 0.0),
    ],
)
def test_measure_info(measure, scale, ratio, null):
    name, is_ratio, nv = measure_info(measure, scale)
    assert is_ratio is ratio and nv == null and name


def test_axis_ticks_symmetric():
    (lo, hi), ticks = axis_ticks([0.6, 4.9], True)
    assert lo == pytest.approx(1 / hi) and hi == 5 and 1 in ticks and 0.2 in ticks and 5 in ticks
    (lo, hi), ticks = axis_ticks([-0.4, 0.05], False)
    assert (lo, hi) == (-0.5, 0.5) and ticks == [-0.5, -0.25, 0.0, 0.25, 0.5]
    (lo, hi), ticks = axis_ticks([0.002, 1.2, 500.0], True)  # capped, not 0.002-500
    assert (lo, hi) == pytest.approx((0.01, 100.0)) and ticks == [0.01, 0.1, 1, 10, 100]


def _huge_ci_tables():
    """Two trials whose HKSJ pooled CI is 0.01-192.5 (the shipped intralipid analysis)."""
    studies = pd.DataFrame(
        {
            "analysis_id": "a",
            "measure": "RR",
            "scale": "log",
            "study_id": ["Dakhly 2016", "Singh 2019"],
            "yi": np.log([1.17, 2.52]),
            "ci_low": np.log([0.95, 1.23]),
            "ci_high": np.log([1.44, 5.16]),
            "weight_random": [60.2, 39.8],
            "events_treat": [84, 21],
            "n_treat": [144, 52],
            "events_ctrl": [76, 8],
            "n_ctrl": [152, 50],
        }
    )
    pooled = pd.DataFrame(
        {
            "analysis_id": "a",
            "measure": "RR",
            "scale": "log",
            "model": ["random", "fixed"],
            "tau2_method": ["REML", ""],
            "ci_method": ["hksj", "wald"],
            "estimate": np.log([1.586, 1.24]),
            "ci_low": np.log([0.0131, 1.01]),
            "ci_high": np.log([192.5, 1.52]),
            "pi_low": np.log([0.0005, np.nan]),
            "pi_high": np.log([3528.0, np.nan]),
            "primary": [True, False],
        }
    )
    return studies, pooled


def test_huge_ci_axis_capped_with_arrows_and_axis_title():
    studies, pooled = _huge_ci_tables()
    fig = forest_plot(
        {"analysis_id": "a"},
        studies,
        pooled,
        measure="RR",
        therapy_label="intralipid",
        comparator_label="saline",
        higher_is_better=True,
        outcome_type="binary",
        config=CONFIG,
    )
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((0.01, 100.0))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.01", "0.1", "1", "10", "100"]
    assert ax.xaxis.get_label().get_text() == "Risk Ratio (IV, Random, 95% CI)"
    arrows = [ln.get_gid() for ln in ax.get_lines() if ln.get_gid()]
    # the diamond (0.01-192.5) is cut on the right; the prediction interval on both sides
    assert arrows.count("arrow-right") == 2 and arrows.count("arrow-left") == 1
    diamond = next(p for p in ax.patches if p.get_gid() == "diamond-primary")
    xs = diamond.get_xy()[:, 0]
    assert xs.max() <= 100.0 + 1e-9 and xs.min() >= 0.01 - 1e-12
    by_gid, _ = texts(fig)
    assert by_gid["pooled-effect"] == "1.59 [0.01, 192.50]"  # the text keeps the real CI


def test_long_favours_label_wraps_and_plot_grows():
    studies, pooled = _huge_ci_tables()
    therapy = "hydrocortisone / prednisolone / dexamethasone / methylprednisolone / budesonide"
    kw = dict(measure="RR", comparator_label="placebo", outcome_type="binary", config=CONFIG)
    short = forest_plot({"analysis_id": "a"}, studies, pooled, therapy_label="x",
                        higher_is_better=False, **kw)  # fmt: skip
    fig = forest_plot({"analysis_id": "a"}, studies, pooled, therapy_label=therapy,
                      higher_is_better=False, **kw)  # fmt: skip
    by_gid, _ = texts(fig)
    lines = by_gid["favours-left"].split("\n")
    assert len(lines) >= 4 and all(len(line) <= 24 for line in lines)
    for name in therapy.split(" / "):
        assert name in " ".join(lines)
    assert fig.get_figheight() > short.get_figheight()  # room for the extra lines


# ------------------------------------------------------------------------- real plots
def _ratio_favours_case(tables, hib):
    trials = tables[0]
    aid = find_aid(trials, outcome_type="binary", higher_is_better=hib)
    fig, labels, measure = plot_for(tables, aid)
    return fig, labels, measure, aid


@pytest.mark.parametrize("hib", [True, False])
def test_ratio_plot_favours_sides_and_log_axis(tables, hib):
    fig, labels, measure, aid = _ratio_favours_case(tables, hib)
    by_gid, allt = texts(fig)
    therapy_side = "favours-right" if hib else "favours-left"
    other_side = "favours-left" if hib else "favours-right"
    flat = lambda s: s.replace("\n", " ")  # noqa: E731
    assert flat(by_gid[therapy_side]).startswith("Favours ")
    assert labels["therapy"][:15] in flat(by_gid[therapy_side])
    assert flat(by_gid[other_side]) == f"Favours {labels['comparator']}"
    ax = fig.axes[0]
    assert measure_info(measure)[1] and ax.get_xscale() == "log"
    ticklabels = [t.get_text() for t in ax.get_xticklabels()]
    assert "1" in ticklabels
    lo, hi = ax.get_xlim()
    assert lo == pytest.approx(1 / hi)
    # favours-left is left of the null, favours-right right of it (axes fraction 0.25 / 0.75)
    pos = {t.get_gid(): t.xy[0] for t in fig.findobj(matplotlib.text.Annotation)}
    assert pos["favours-left"] < 0.5 < pos["favours-right"]


def test_plot_has_labels_weights_pooled_and_heterogeneity(tables):
    trials, pooled, studies = tables
    aid = find_aid(trials, outcome_type="binary", higher_is_better=True, min_k=4)
    fig, labels, measure = plot_for(tables, aid)
    by_gid, allt = texts(fig)
    st = studies[(studies.analysis_id == aid) & (studies.measure == measure)].reset_index(drop=True)
    for i, row in st.iterrows():
        assert by_gid[f"study-{i}"].startswith(row["study_id"])
        assert by_gid[f"weight-{i}"] == f"{row['weight_random']:.1f}%"
        assert f"{row['events_treat']:.0f}" in allt and f"{row['n_ctrl']:.0f}" in allt
    prim = select_rows(pooled, aid, measure, CONFIG)["primary"]
    est = math.exp(prim["estimate"])
    assert by_gid["pooled-effect"].startswith(f"{est:.2f} [")
    assert "Tau\u00b2" in by_gid["heterogeneity"] and "I\u00b2 = " in by_gid["heterogeneity"]
    assert f"df = {int(prim['Q_df'])}" in by_gid["heterogeneity"]
    stat_word = "t = " if str(prim["ci_method"]) == "hksj" else "Z = "
    assert stat_word in by_gid["overall-effect"]
    gids = {p.get_gid() for p in fig.axes[0].patches}
    assert {"diamond-primary", "diamond-fixed"} <= gids
    assert "Prediction interval" in allt
    assert "Events" in allt and "Total" in allt and "Weight" in allt


@pytest.mark.parametrize("hib", [True, False])
def test_difference_measure_favours_sides_linear_axis(tables, hib):
    """MD (HAQ-DI change, lower is better in the data); the same rows with higher_is_better
    flipped must move the therapy label to the other side. The axis is linear about 0."""
    trials = tables[0]
    aid = find_aid(trials, outcome_type="continuous", higher_is_better=False)
    fig, labels, measure = plot_for(tables, aid, higher_is_better=hib)
    by_gid, allt = texts(fig)
    therapy_gid = "favours-right" if hib else "favours-left"
    assert by_gid[therapy_gid].replace("\n", " ").startswith(f"Favours {labels['therapy'][:10]}")
    ax = fig.axes[0]
    assert measure in ("MD", "SMD") and ax.get_xscale() == "linear"
    lo, hi = ax.get_xlim()
    assert lo == -hi and "0" in [t.get_text() for t in ax.get_xticklabels()]
    assert "Mean" in allt and "SD" in allt


def _single_study_tables():
    studies = pd.DataFrame(
        {
            "analysis_id": ["solo"],
            "study_id": ["Only 2020"],
            "measure": ["OR"],
            "yi": [0.4],
            "vi": [0.04],
            "sei": [0.2],
            "ci_low": [0.4 - 1.96 * 0.2],
            "ci_high": [0.4 + 1.96 * 0.2],
            "continuity_corrected": [False],
            "weight_fixed": [100.0],
            "weight_random": [100.0],
            "events_treat": [30.0],
            "n_treat": [60.0],
            "events_ctrl": [20.0],
            "n_ctrl": [60.0],
        }
    )
    pooled = pd.DataFrame(
        {
            "analysis_id": ["solo", "solo"],
            "measure": ["OR", "OR"],
            "scale": ["log", "log"],
            "model": ["random", "fixed"],
            "tau2_method": ["REML", ""],
            "ci_method": ["hksj", "wald"],
            "k": [1, 1],
            "estimate": [0.4, 0.4],
            "se": [0.2, 0.2],
            "ci_low": [0.0, 0.0],
            "ci_high": [0.8, 0.8],
            "status": ["single_study", "single_study"],
            "primary": [True, False],
        }
    )
    return pooled, studies


def test_single_study_no_diamond_and_note():
    pooled, studies = _single_study_tables()
    fig = forest_plot(
        {"analysis_id": "solo"},
        studies,
        pooled,
        measure="OR",
        therapy_label="DrugX",
        comparator_label="Placebo",
        higher_is_better=True,
        outcome_type="binary",
    )
    by_gid, allt = texts(fig)
    assert "note-single-study" in by_gid and "nothing pooled" in by_gid["note-single-study"]
    assert not {"diamond-primary", "diamond-fixed"} & {p.get_gid() for p in fig.axes[0].patches}
    assert "pooled-effect" not in by_gid
    assert by_gid["weight-0"] == "100.0%"
    assert fig.axes[0].get_xscale() == "log"


def test_not_estimable_pooled_result_has_no_diamond():
    pooled, studies = _single_study_tables()
    two = pd.concat([studies, studies.assign(study_id="Second 2021", yi=0.1)], ignore_index=True)
    pooled = pooled.assign(k=2, estimate=float("nan"), status="failed:tau2_not_estimable")
    fig = forest_plot(
        {"analysis_id": "solo"},
        two,
        pooled,
        measure="OR",
        therapy_label="DrugX",
        comparator_label="Placebo",
        higher_is_better=True,
        outcome_type="binary",
    )
    by_gid, allt = texts(fig)
    assert "not estimable" in allt and "not estimable" in by_gid["heterogeneity"]
    assert not {"diamond-primary", "diamond-fixed"} & {p.get_gid() for p in fig.axes[0].patches}
    assert "failed: tau2_not_estimable" in by_gid["note-status"]


def test_confidence_level_from_config():
    pooled, studies = _single_study_tables()
    two = pd.concat([studies, studies.assign(study_id="Second 2021", yi=0.1)], ignore_index=True)
    pooled = pooled.assign(
        k=2, status="ok", Q=1.0, Q_df=1, Q_pval=0.3, I2=0.0, tau2=0.0, stat=2.0, pval=0.04
    )
    fig = forest_plot(
        {"analysis_id": "solo"},
        two,
        pooled,
        measure="OR",
        therapy_label="DrugX",
        comparator_label="Placebo",
        higher_is_better=True,
        outcome_type="binary",
        config={"level": 0.9},
    )
    by_gid, allt = texts(fig)
    assert (
        by_gid["pooled-label"] == "Total (90% CI), random effects" and "IV, Random, 90% CI" in allt
    )
    assert "Z = 2.00 (P = 0.04)" in by_gid["overall-effect"]


@pytest.mark.parametrize(
    "status,full,short",
    [
        ("ok", "", ""),
        ("tau2_boundary", "tau\u00b2 estimated as 0", "tau\u00b2 = 0"),
        ("ok;tau2_ci_ub>", "upper bound of the tau\u00b2 confidence interval", ""),
        ("not_converged;tau2_ci_lb<", "did not converge", "not converged"),
        ("failed:no_studies", "failed: no_studies", "failed: no_studies"),
        ("studies_without_effect:2", "2 stud(ies) without an effect size", "2 not pooled"),
        ("<b>new</b>", "<b>new</b>", "<b>new</b>"),
    ],
)
def test_describe_status(status, full, short):
    from trialmeta.plots.labels import describe_status

    assert full in describe_status(status) and (full == "" or describe_status(status))
    assert short in describe_status(status, short=True)
    if not short:
        assert describe_status(status, short=True) == ""


def test_generic_ratio_measure():
    """Generic rows (reported HR with CI): log[HR] and SE columns, log axis, HR in natural units."""
    yi = np.log([0.7, 0.85, 0.6])
    se = np.array([0.1, 0.15, 0.2])
    studies = pd.DataFrame(
        {
            "analysis_id": "hr",
            "study_id": ["A 2001", "B 2002", "C 2003"],
            "measure": "HR",
            "yi": yi,
            "vi": se**2,
            "sei": se,
            "ci_low": yi - 1.96 * se,
            "ci_high": yi + 1.96 * se,
            "weight_fixed": [50.0, 30.0, 20.0],
            "weight_random": [45.0, 32.0, 23.0],
        }
    )
    pooled = pd.DataFrame(
        {
            "analysis_id": ["hr"],
            "measure": ["HR"],
            "scale": ["log"],
            "model": ["random"],
            "tau2_method": ["REML"],
            "ci_method": ["wald"],
            "k": [3],
            "estimate": [np.log(0.72)],
            "ci_low": [np.log(0.62)],
            "ci_high": [np.log(0.84)],
            "stat": [-4.1],
            "pval": [4e-5],
            "tau2": [0.0],
            "Q": [1.2],
            "Q_df": [2],
            "Q_pval": [0.55],
            "I2": [0.0],
            "status": ["ok"],
            "primary": [True],
        }
    )
    fig = forest_plot(
        {"analysis_id": "hr"},
        studies,
        pooled,
        measure="HR",
        therapy_label="DrugX",
        comparator_label="Placebo",
        higher_is_better=False,
        outcome_type="generic",
    )
    by_gid, allt = texts(fig)
    assert "log[HR]" in allt and "SE" in allt and "Hazard Ratio" in allt
    assert fig.axes[0].get_xscale() == "log"
    assert by_gid["pooled-effect"] == "0.72 [0.62, 0.84]"
    assert by_gid["overall-effect"] == "Test for overall effect: Z = 4.10 (P = 0.00004)"
    assert by_gid["favours-left"] == "Favours DrugX"


def test_hostile_labels_are_drawn_as_text(tmp_path):
    pooled, studies = _single_study_tables()
    studies["study_id"] = HOSTILE["math"] + HOSTILE["script"] + HOSTILE["rtl"]
    fig = forest_plot(
        {"analysis_id": "solo"},
        studies,
        pooled,
        measure="OR",
        therapy_label=HOSTILE["img"] + HOSTILE["long"],
        comparator_label=HOSTILE["formula"],
        higher_is_better=True,
        outcome_type="binary",
        title=HOSTILE["math"],
    )
    by_gid, _ = texts(fig)
    assert by_gid["study-0"].startswith("$\\frac{1}{0}$")  # drawn as written, no mathtext
    assert (
        len(by_gid["study-0"]) <= 40 and "\u202e" not in by_gid["study-0"]
    )  # cut, bidi controls dropped
    from trialmeta.plots.style import save_figure

    svg, png = save_figure(fig, tmp_path / "hostile", ("svg", "png"))
    shown = svg_text(svg.read_bytes())  # escaped text, never markup (helpers/svg_safety.py)
    assert "$\\frac{1}{0}$" in shown and "\u202e" not in shown
    assert png.stat().st_size > 1000


def _png_chunks(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    i, out = 8, []
    while i < len(data):
        n = struct.unpack(">I", data[i : i + 4])[0]
        out.append(data[i + 4 : i + 8].decode("ascii"))
        i += 12 + n
    return out


def test_render_batch_deterministic_bytes_and_metadata(tables, tmp_path):
    trials, pooled, studies = tables
    ids = sorted(trials.analysis_id.unique())[:3]
    a = render_forest_plots(pooled, studies, trials, CONFIG, tmp_path / "a", ids)
    b = render_forest_plots(pooled, studies, trials, CONFIG, tmp_path / "b", list(reversed(ids)))
    assert [p.name for p in a] == sorted(f"{i}.{ext}" for i in ids for ext in ("png", "svg"))
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
    svg = a[1].read_text(encoding="utf-8")
    assert a[1].suffix == ".svg" and "<dc:date>" not in svg and "Matplotlib" not in svg
    chunks = _png_chunks(a[0].read_bytes())
    assert not {"tEXt", "iTXt", "zTXt", "tIME"} & set(chunks)
    assert not list((tmp_path / "a").glob(".*"))  # no temp files left


def test_render_refuses_unsafe_ids(tables, tmp_path):
    trials, pooled, studies = tables
    for bad in ("../escape", "a/b", "..", ".hidden", "a\\b"):
        with pytest.raises(ValueError):
            render_forest_plots(pooled, studies, trials, CONFIG, tmp_path, [bad])
    assert not (tmp_path.parent / "escape.svg").exists()


def test_missing_analysis_still_gets_a_figure(tables, tmp_path):
    trials, pooled, studies = tables
    out = render_forest_plots(
        pooled.iloc[0:0], studies.iloc[0:0], trials.iloc[0:0], CONFIG, tmp_path, ["nothing-here"]
    )
    assert [p.name for p in out] == ["nothing-here.png", "nothing-here.svg"]
