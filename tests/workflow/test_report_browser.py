"""The report in a real headless chromium (Debian package), driven over the DevTools protocol.

* the shipped report renders with no console error, no failed load, every image decoded, and every
  request a file inside the report folder; a screenshot is taken (and kept when
  ``TRIALMETA_SCREENSHOT_DIR`` is set);
* negative controls prove the detector works: a page with a deliberate ``console.error`` and an
  ``alert`` IS caught, and an inline script in a page with our CSP is refused (CSP error logged,
  the script does not run);
* a report built from hostile labels runs no script: no dialog, no console call, no exception,
  no error, no request outside the report folder, no <script> element in the DOM, the hostile
  text visible as text; the same hostile text pasted unescaped into a page is caught (control).
"""

import os
import struct
import zlib
from pathlib import Path

import pytest

from helpers.cdp_browser import Browser, chromium_path
from helpers.report_tables import (
    CONFIG,
    HOSTILE,
    engine_tables,
    hostile_trials,
    load_shipped_trials,
)
from trialmeta.plots.forest import render_forest_plots
from trialmeta.report import build_report
from trialmeta.report.build import CSP

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        chromium_path() is None,
        reason="chromium not installed (Debian package 'chromium'; .ci/run installs it as root)",
    ),
    pytest.mark.xdist_group("browser"),
]

IMAGES_OK = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
N_IMAGES = "document.images.length"
N_SCRIPTS = "document.getElementsByTagName('script').length"
TEXT = "document.body ? document.body.textContent : ''"


def _build(tmp: Path, trials, ids=None):
    pooled, studies, _ = engine_tables(trials)
    ids = ids or sorted(set(pooled.analysis_id))
    render_forest_plots(pooled, studies, trials, CONFIG, tmp / "fig", ids)
    out = tmp / "report"
    build_report(pooled, studies, trials, CONFIG, [], tmp / "fig", out)
    return out


def _png_size_and_variety(path: Path):
    """(width, height, number of distinct byte values in the decoded image) of an RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    i, idat, w, h = 8, b"", 0, 0
    while i < len(data):
        n = struct.unpack(">I", data[i : i + 4])[0]
        kind = data[i + 4 : i + 8]
        body = data[i + 8 : i + 8 + n]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        i += 12 + n
    raw = zlib.decompress(idat)
    return w, h, len(set(raw[:4_000_000]))


@pytest.fixture(scope="module")
def browser():
    with Browser(timeout=60) as b:
        yield b


def _only_local(rec, root: Path):
    root_uri = root.resolve().as_uri() + "/"
    return [u for u in rec.requests if not u.startswith(root_uri)]


def test_shipped_report_renders_cleanly(browser, tmp_path):
    trials, _ = load_shipped_trials()
    ids = sorted(trials.analysis_id.unique())
    out = _build(tmp_path, trials)
    shot_dir = Path(os.environ.get("TRIALMETA_SCREENSHOT_DIR", tmp_path))
    shot_dir.mkdir(parents=True, exist_ok=True)
    pages = [(out / "index.html", shot_dir / "report_index.png")]
    pages += [(out / "analyses" / f"{ids[0]}.html", shot_dir / "report_analysis.png")]
    pages += [(out / "analyses" / f"{aid}.html", None) for aid in ids[1:4]]
    for page, shot in pages:
        rec = browser.open(
            page,
            screenshot=shot,
            evaluate={"images_ok": IMAGES_OK, "n_images": N_IMAGES, "n_scripts": N_SCRIPTS},
        )
        assert rec.loaded, page
        assert rec.errors == [], (page, rec.errors)
        assert rec.console == [] and rec.dialogs == [] and rec.exceptions == []
        assert _only_local(rec, out) == [], rec.requests
        assert rec.values["n_scripts"] == 0
        assert rec.values["images_ok"] is True
        if "analyses" in str(page):
            assert rec.values["n_images"] == 1  # the forest plot was decoded under the CSP
            assert any(u.endswith(".svg") for u in rec.requests)
        if shot is not None:
            w, h, variety = _png_size_and_variety(shot)
            assert w == 1280 and h >= 600 and variety > 20, (w, h, variety)


def test_exploration_sections_render_cleanly(browser, built):  # noqa: F811
    """Pages with every exploration section and figure (dat.bcg: k = 13, funnel plot; the shipped
    biomarker_selected subgroup analysis): no error, every figure decoded under the CSP."""
    out = built["out"]
    shot_dir = Path(os.environ.get("TRIALMETA_SCREENSHOT_DIR", out.parent))
    for key, min_images in (("bcg", 8), ("intralipid", 2)):
        page = out / "analyses" / f"{built[key]}.html"
        n_img = page.read_text(encoding="utf-8").count("<img ")
        rec = browser.open(
            page,
            screenshot=shot_dir / f"report_exploration_{key}.png",
            evaluate={
                "images_ok": IMAGES_OK,
                "n_images": N_IMAGES,
                "n_scripts": N_SCRIPTS,
                "text": TEXT,
            },
        )
        assert rec.loaded and rec.errors == [], (page, rec.errors)
        assert rec.console == [] and rec.dialogs == [] and rec.exceptions == []
        assert _only_local(rec, out) == [], rec.requests
        assert rec.values["n_scripts"] == 0 and rec.values["images_ok"] is True
        assert rec.values["n_images"] == n_img >= min_images
        assert sum(u.endswith(".svg") for u in rec.requests) >= min_images
        assert "Small-study effects" in rec.values["text"]


def test_negative_controls_are_detected(browser, tmp_path):
    noisy = tmp_path / "noisy.html"
    noisy.write_text(
        "<!DOCTYPE html><html><head><title>control</title></head><body><p>control</p>"
        "<script>console.error('deliberate console error'); alert('deliberate dialog');"
        "fetch('http://127.0.0.1:9/x').catch(() => {});</script></body></html>"
    )
    rec = browser.open(noisy)
    assert any("deliberate console error" in e for e in rec.errors), rec.errors
    assert rec.dialogs == [("alert", "deliberate dialog")]
    assert any(u.startswith("http://127.0.0.1:9/") for u in rec.requests)

    blocked = tmp_path / "blocked.html"
    blocked.write_text(
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{CSP}">'
        "<title>csp</title></head><body><p>csp</p>"
        "<script>console.error('must not run'); alert('must not run');</script>"
        '<img src="https://example.invalid/pixel.png"></body></html>'
    )
    rec = browser.open(blocked)
    assert rec.console == [] and rec.dialogs == []  # the inline script did not run
    assert any("Content Security Policy" in e for e in rec.errors), (
        rec.log_all
    )  # ... and was reported
    assert ("https://example.invalid/pixel.png", "csp") in rec.blocked  # image blocked by CSP


def test_hostile_report_runs_nothing(browser, tmp_path):
    trials, _ = load_shipped_trials()
    bad = hostile_trials(trials)
    ids = sorted(bad.analysis_id.unique())
    pick = [ids[0], ids[-1]]
    out = _build(tmp_path, bad, ids=pick)
    shot_dir = Path(os.environ.get("TRIALMETA_SCREENSHOT_DIR", tmp_path))
    for page in [out / "index.html"] + [out / "analyses" / f"{aid}.html" for aid in pick]:
        rec = browser.open(
            page,
            screenshot=shot_dir / f"hostile_{page.stem[:20]}.png",
            evaluate={"n_scripts": N_SCRIPTS, "text": TEXT, "images_ok": IMAGES_OK},
        )
        assert rec.loaded
        assert rec.dialogs == [], rec.dialogs
        assert rec.console == [] and rec.exceptions == []
        assert rec.errors == [], rec.errors
        assert _only_local(rec, out) == [], rec.requests
        assert rec.values["n_scripts"] == 0 and rec.values["images_ok"] is True
        assert "<script>alert('xss-script')</script>" in rec.values["text"]  # shown as text

    # control: the same hostile text pasted unescaped (what autoescape prevents) IS caught
    raw = tmp_path / "unescaped.html"
    raw.write_text(
        "<!DOCTYPE html><html><head><title>raw</title></head><body>"
        + HOSTILE["script"]
        + HOSTILE["img"]
        + "</body></html>"
    )
    rec = browser.open(raw)
    assert ("alert", "xss-script") in rec.dialogs


def test_detector_sees_uncaught_exception(browser, tmp_path):
    page = tmp_path / "throw.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        "<script>throw new Error('deliberate exception')</script></body></html>"
    )
    rec = browser.open(page)
    assert any("deliberate exception" in e for e in rec.errors), rec.errors


TOC_OK = (
    "Array.from(document.querySelectorAll('nav.toc a')).every(a => a.hash === '' || "
    "a.pathname !== location.pathname || "
    "document.getElementById(decodeURIComponent(a.hash.slice(1))) !== null)"
)
N_TOC = "document.querySelectorAll('nav.toc a').length"
N_ROWS = "document.querySelectorAll('table.index tbody tr').length"


@pytest.mark.parametrize("split", [False, True])
def test_grouped_index_and_condition_pages(browser, tmp_path, monkeypatch, split):
    """The grouped index renders cleanly; every table-of-contents link lands on an element (in
    this page, or in a condition page when the index is split)."""
    from trialmeta.report import index_page

    monkeypatch.setattr(index_page, "SPLIT_ABOVE", 5 if split else 2000)
    trials, _ = load_shipped_trials()
    pooled, studies, _ = engine_tables(trials)
    out = tmp_path / "report"
    build_report(pooled, studies, trials, CONFIG, [], None, out)
    n = trials.analysis_id.nunique()
    pages = [out / "index.html"] + sorted((out / "conditions").glob("*.html"))
    assert len(pages) == (1 + trials.condition.nunique() if split else 1)
    rows = 0
    for page in pages:
        rec = browser.open(
            page, evaluate={"toc_ok": TOC_OK, "n_toc": N_TOC, "n_rows": N_ROWS, "n": N_SCRIPTS}
        )
        assert rec.loaded and rec.errors == [] and rec.console == [], (page, rec.errors)
        assert _only_local(rec, out) == [] and rec.values["n"] == 0
        assert rec.values["n_toc"] > 0 and rec.values["toc_ok"] is True, page
        rows += rec.values["n_rows"]
    assert rows == n  # every analysis listed exactly once (in the index or a condition page)
