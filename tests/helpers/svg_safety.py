"""What a figure's SVG may hold when its labels come from hostile table cells.

Text stays text in trialmeta's SVGs (``svg.fonttype = none``, :mod:`trialmeta.plots.style`), so
a label such as ``<script>...`` is in the file, as escaped character data of a ``<text>``
element: never as markup, an event attribute, a link or foreign content.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

FORBIDDEN_ELEMENTS = {"script", "foreignObject", "a", "iframe", "image", "object", "embed"}


def svg_text(data: bytes) -> str:
    """All character data of the SVG's ``<text>`` elements, concatenated (the labels shown);
    fails when the file is not well-formed, holds active content or an ``on*`` attribute."""
    root = ET.fromstring(data)
    tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    assert not tags & FORBIDDEN_ELEMENTS, tags & FORBIDDEN_ELEMENTS
    events = [k for el in root.iter() for k in el.attrib if k.lower().startswith("on")]
    assert not events, events
    assert b"<script" not in data.lower()  # only ever as &lt;script
    return "".join("".join(el.itertext()) for el in root.iter() if el.tag.endswith("}text"))
