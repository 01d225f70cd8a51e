"""Reading the report's HTML pages in tests: tags and text of a page, every page, offline links."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class Page(HTMLParser):
    """Collects tags/attributes of one page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []  # (tag, attrs dict)
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Page:
    p = Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def all_pages(out: Path):
    return (
        [out / "index.html"]
        + sorted((out / "conditions").glob("*.html"))
        + sorted((out / "analyses").glob("*.html"))
    )


def check_offline(out: Path, allowed_external: set):
    """Every src/href is a file inside ``out`` (or an anchor), except the listed source links."""
    root = out.resolve()
    for page in all_pages(out):
        for tag, attrs in parse(page).tags:
            for key in ("src", "href", "srcset", "data", "poster", "action"):
                if key not in attrs or attrs[key] is None:
                    continue
                url = attrs[key]
                parts = urlsplit(url)
                if parts.scheme in ("http", "https"):
                    assert key == "href" and tag == "a", (page, url)
                    assert url in allowed_external, (page, url)
                    assert attrs.get("rel") == "noopener noreferrer"
                    continue
                assert parts.scheme == "" and parts.netloc == "", (page, url)
                if url.startswith("#"):
                    continue
                target = (page.parent / unquote(parts.path)).resolve()
                assert target.is_file(), (page, url)
                assert root in target.parents, (page, url)
