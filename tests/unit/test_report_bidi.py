"""Report cells: text is isolated with <bdi>, numbers alone are not (issue 16: page size)."""

from trialmeta.report.build import _environment, bidi_neutral


def test_numbers_and_their_punctuation_are_bidi_neutral():
    for cell in ("\u22120.78 [\u22124.33, 2.78]", "92%", "1,000", "0.5 \u00d7 2", "", 3.5, 12):
        assert bidi_neutral(cell), cell
    for cell in ("SYNTHETIC 1", "\u202e12", "1.2e-05", "\u05d0 1", "<b>1</b>", "1\u200f2"):
        assert not bidi_neutral(cell), cell


def test_the_u_macro_isolates_text_but_not_numbers():
    env = _environment()
    page = env.from_string(
        '{% from "_macros.html.j2" import u %}{{ u(a) }}|{{ u(b) }}|{{ u(c) }}'
    ).render(a="\u22121.5 [\u22122, 3]", b="\u202eevil<script>", c="SERENE 2010")
    assert page == (
        "\u22121.5 [\u22122, 3]|<bdi>\u202eevil&lt;script&gt;</bdi>|<bdi>SERENE 2010</bdi>"
    )
