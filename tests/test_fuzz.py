"""Property tests of the parser on damaged and random input: it never raises anything but
ParseError (and that only for input that is not HTML), always returns a well-formed Page, and
reads the same bytes to the same fingerprint. Bounded for CI; bench/fuzz_parse.py runs longer.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scraper.errors import ParseError
from scraper.models import (
    FIGURE_FIELDS,
    HEADLINE_FIELDS,
    WARNING_CODES,
    Page,
    PageWarning,
    Row,
    Section,
    Totals,
)
from scraper.norsk import parse_number
from scraper.parse import parse_page

FIXTURES = Path(__file__).parent / "fixtures"
SEED = (FIXTURES / "page-2022-nn-a.html").read_bytes()
NOISE = (FIXTURES / "page-2022-nn-a-noise.html").read_bytes()
SEED_FINGERPRINT = parse_page(SEED).fingerprint

# --- hostile content: what a page can send that must not invent a change or a figure

BERGEN = b"<td>Bergen</td>\n              <td>Vestland</td>\n              <td>182</td>"


def mutate(old: bytes, new: bytes, page: bytes = SEED) -> bytes:
    assert page.count(old) == 1, old
    return page.replace(old, new)


# Each page reads exactly as SEED: same names, same figures, same fingerprint.
SAME_CONTENT = {
    # Latin-1 (windows-1252) bytes under a UTF-8 label: not 145 municipalities added and removed
    "latin-1-as-utf-8": SEED.decode("utf-8").encode("cp1252"),
    "soft-hyphen": mutate(b"<td>Kristiansand</td>", b"<td>Kristian&shy;sand</td>"),
    "zero-width-space": mutate(b"<td>Bergen</td>", "<td>Bergen\u200b</td>".encode()),
    "bidi-controls": mutate(
        b"<td>\xc3\x98ygarden</td>", "<td>\u202a\u00d8ygarden\u202c\u200e</td>".encode()
    ),
    "br-in-name": mutate("<td>Søndre Land</td>".encode(), "<td>Søndre<br>Land</td>".encode()),
    "script-in-name": mutate(
        b"<td>Kristiansand</td>", b"<td>Kristiansand<script>document.write('x')</script></td>"
    ),
    "style-and-template": mutate(
        b"<td>Bergen</td>", b"<td><style>td{}</style>Bergen<template>Oslo</template></td>"
    ),
    "sup-footnote": mutate(BERGEN, BERGEN.replace(b"182", b"182<sup>1</sup>")),
    "star-footnote": mutate(BERGEN, BERGEN.replace(b"182", b"182*")),
    "superscript-footnote": mutate(BERGEN, BERGEN.replace(b"182", "182¹".encode())),
    "nested-1000-deep": mutate(
        b"</table>",
        b"</table>" + b"</div>" * 1000,
        mutate(b'<table class="imdi-table">', b"<div>" * 1000 + b'<table class="imdi-table">'),
    ),
}


ABSURD_NUMBERS = {
    "cell": mutate(BERGEN, BERGEN.replace(b"182", b"99999999999999999999999")),
    # int() refuses 4 300 digits and more: the cell must be blank and warned, not the page lost
    "cell-5000-digits": mutate(BERGEN, BERGEN.replace(b"182", b"9" * 5000)),
    "lead-5000-digits": mutate(b"bedt 212 norske", b"bedt " + b"9" * 5000 + b" norske"),
}
# The hostile content cases of issue 13 (tests/test_hostile.py), also seeds of the atheris corpus.
HOSTILE_PAGES = {**SAME_CONTENT, **ABSURD_NUMBERS}

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def check_page_model(page: Page) -> None:
    """What every Page must look like, whatever the input was."""
    assert isinstance(page, Page)
    assert page.title is None or (isinstance(page.title, str) and page.title)
    assert page.language in ("nn", "nb", None)
    assert page.updated is None or _ISO_DATE.match(page.updated)
    assert page.year is None or (isinstance(page.year, int) and 2000 <= page.year <= 2099)
    for name in HEADLINE_FIELDS:
        value = getattr(page.headline, name)
        assert value is None or (type(value) is int and value >= 0)
    assert isinstance(page.sections, tuple)
    for section in page.sections:
        assert isinstance(section, Section)
        assert section.heading is None or isinstance(section.heading, str)
        assert all(isinstance(p, str) and p for p in section.paragraphs)
    assert isinstance(page.rows, tuple)
    for row in page.rows:
        assert isinstance(row, Row)
        assert row.municipality is None or (isinstance(row.municipality, str) and row.municipality)
        assert row.county is None or (isinstance(row.county, str) and row.county)
        assert row.municipality_number is None or isinstance(row.municipality_number, str)
        for name in FIGURE_FIELDS:
            value = getattr(row, name)
            assert value is None or type(value) is int, (name, value)
    if page.totals is not None:
        assert isinstance(page.totals, Totals)
        assert all(v is None or type(v) is int for v in page.totals.to_dict().values())
    for warning in page.warnings:
        assert isinstance(warning, PageWarning)
        assert warning.code in WARNING_CODES, warning.code
        assert warning.message
    codes = {w.code for w in page.warnings}
    assert page.has_table == ("no-table" not in codes)
    if not page.has_table:
        assert page.rows == () and page.totals is None
    assert _SHA256.match(page.fingerprint)
    json.dumps(page.to_dict(), ensure_ascii=False)  # the --json shape always serializes


def parse_checked(data: bytes | str) -> Page | None:
    """Parse, check the model and determinism; None when the input is (rightly) not HTML."""
    try:
        page = parse_page(data)
    except ParseError as exc:
        assert str(exc).startswith("not an HTML page"), exc
        return None
    check_page_model(page)
    again = parse_page(data)
    assert again.fingerprint == page.fingerprint
    assert again.to_dict() == page.to_dict()
    return page


# --- mutated copies of the real page ---------------------------------------------------------

_SNIPPETS = [
    b"<",
    b">",
    b"</td>",
    b"<td>",
    b"</tr><tr>",
    b"<table>",
    b"</table>",
    b"&nbsp;",
    b"&",
    b"\xc3",
    b"\xff\xfe",
    b"\x00",
    b"-",
    b"5 500",
    b"<!--",
    b"<script>",
    b"Sum",
    b"Kommune",
    b"<th>Fylke</th>",
    b"\xe2\x80\x8b",
    b"&shy;",
    b"\xe2\x80\xae",
    b"<sup>1</sup>",
    b"*",
    b"\xc2\xb9",
    b"<br>",
    b"<template>",
    b"\xf8",
    b"<div>" * 300,
    b"99999999999999999999999",
]

_mutation = st.one_of(
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 400)),
    st.tuples(
        st.just("insert"),
        st.floats(0, 1),
        st.one_of(st.sampled_from(_SNIPPETS), st.binary(min_size=1, max_size=40)),
    ),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(b"")),
)


def apply_mutations(data: bytes, mutations: list[tuple[str, float, object]]) -> bytes:
    for kind, where, arg in mutations:
        at = int(where * len(data))
        if kind == "delete":
            assert isinstance(arg, int)
            data = data[:at] + data[at + arg :]
        elif kind == "insert":
            assert isinstance(arg, bytes)
            data = data[:at] + arg + data[at:]
        else:
            data = data[:at]
    return data


@FAST
@given(st.lists(_mutation, min_size=1, max_size=8))
def test_fuzz_mutated_page_gives_valid_model_or_parse_error(mutations: list) -> None:
    parse_checked(apply_mutations(SEED, mutations))


@FAST
@given(st.integers(0, len(SEED)))
def test_fuzz_truncated_page_never_passes_for_complete(cut: int) -> None:
    page = parse_checked(SEED[:cut])
    if page is None or cut == len(SEED):
        return
    if page.fingerprint != SEED_FINGERPRINT:
        # cut anywhere before the totals row: the damage shows as a warning or an empty table
        assert page.warnings or not page.rows or page.totals is None


@FAST
@given(st.text(min_size=0, max_size=600))
def test_fuzz_mutated_page_as_text(garbage: str) -> None:
    """A str (already decoded) takes the other branch of the decoder."""
    text = SEED.decode("utf-8")
    middle = len(text) // 2
    parse_checked(text[:middle] + garbage + text[middle:])


# --- noise never changes the fingerprint -----------------------------------------------------

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=40)  # fmt: skip


@FAST
@given(csrf=_token, version=st.from_regex(r"20\d{6}\.\d{1,2}", fullmatch=True), nonce=_token)
def test_fuzz_fresh_noise_keeps_the_fingerprint(csrf: str, version: str, nonce: str) -> None:
    body = (
        NOISE.replace(b"Yt8rX2mQ7pL0wK4zJ9vB1nC6sD3fH5gA0eUiOoPq", csrf.encode())
        .replace(b"20211115.1", version.encode())
        .replace(b"zZ9y-X8w7V6u5T4s3R2q1P", nonce.encode())
    )
    page = parse_checked(body)
    assert page is not None and page.fingerprint == SEED_FINGERPRINT


# --- random cell contents --------------------------------------------------------------------

_cell_text = st.one_of(
    st.just(""),
    st.just("\u00a0"),
    st.integers(0, 99999).map(str),
    st.integers(1000, 99999).map(lambda n: f"{n:,}".replace(",", " ")),
    st.integers(1000, 99999).map(lambda n: f"{n:,}".replace(",", ".")),
    st.sampled_from(["-", "–", "−3", "-3", "+5", "1_000", "0x10", "5,5", "١٢", "²", "12 ", " 7"]),
    st.text(alphabet=st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), max_size=12),
)


def _expected_figure(text: str) -> tuple[int | None, bool]:
    """What a cell's text must read as: (value, unreadable?) — the same as parse_number."""
    cleaned = " ".join(text.split())
    try:
        return parse_number(cleaned), False
    except ValueError:
        return None, True


def _table_page(rows: list[list[str]]) -> str:
    body = "".join(
        "<tr><td>Bergen</td><td>Vestland</td>"
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
        + "</tr>"
        for cells in rows
    )
    return f"""<!DOCTYPE html><html lang="nn"><head><title>x</title></head><body><main>
    <h1>Oppmoding om busetting for 2022</h1><p>Sist oppdatert: 12. november 2021</p>
    <table><tr><th>Kommune</th><th>Fylke</th><th>Endelege tal 2022</th>
    <th>- Einslege mindreårige</th><th>Einslege mindreårige 15-18</th>
    <th>Einslege mindreårige &lt;15</th></tr>{body}</table></main></body></html>"""


@FAST
@given(st.lists(st.lists(_cell_text, min_size=4, max_size=4), min_size=1, max_size=4))
@example([["1_000", "+5", "²", "-3"], ["", "\u00a0", "١٢", "5 500"]])
def test_fuzz_cell_contents_read_as_parse_number_says(rows: list[list[str]]) -> None:
    page = parse_checked(_table_page(rows))
    assert page is not None and len(page.rows) == len(rows)
    unreadable = {
        (w.details["row"], w.details["field"]) for w in page.warnings if w.code == "unreadable-cell"
    }
    for position, (row, cells) in enumerate(zip(page.rows, rows, strict=True), start=1):
        for name, text in zip(FIGURE_FIELDS, cells, strict=True):
            value, refused = _expected_figure(text)
            assert getattr(row, name) == value, (name, text)
            assert ((position, name) in unreadable) == refused, (name, text)


# --- tag soup --------------------------------------------------------------------------------

_TAGS = ["html", "body", "main", "article", "div", "p", "table", "thead", "tbody", "tr", "td",
         "th", "h1", "h2", "h3", "ul", "li", "nav", "script", "style", "time", "header", "br",
         "form", "template", "svg", "aside", "span", "strong", "caption"]  # fmt: skip
_WORDS = ["Kommune", "Fylke", "Endelege tal 2022", "Einslege mindreårige 15-18", "<15", "Sum",
          "Bergen", "Vestland", "Oslo", "182", "5 500", "", "Sist oppdatert 12.11.2021",
          "IMDi har bedt 212 norske kommunar om å ta imot 5 500 flyktningar i 2022.",
          "Av desse er 32 kommunar oppmoda om å busette 141 einslege mindreårige flyktningar.",
          "&nbsp;", "&amp;", "&#0;", "&#x110000;", "\u00a0", "—"]  # fmt: skip
_ATTRS = ["", ' hidden', ' role="main"', ' role="navigation"', ' aria-hidden="true"',
          ' lang="nn"', ' datetime="2021-11-12"', ' colspan="3"', ' rowspan="99999"',
          ' charset="latin-1"']  # fmt: skip
_soup_token = st.one_of(
    st.builds(lambda t, a: f"<{t}{a}>", st.sampled_from(_TAGS), st.sampled_from(_ATTRS)),
    st.builds(lambda t: f"</{t}>", st.sampled_from(_TAGS)),
    st.sampled_from(_WORDS),
    st.sampled_from(["<!--", "-->", "<!DOCTYPE html>", "<![CDATA[", "<?xml ?>", "<", ">"]),
    st.text(max_size=8),
)


@FAST
@given(st.lists(_soup_token, max_size=60), st.booleans())
def test_fuzz_tag_soup_gives_valid_model_or_parse_error(tokens: list[str], as_bytes: bool) -> None:
    soup = "".join(tokens)
    parse_checked(soup.encode("utf-8", "surrogatepass") if as_bytes else soup)


@FAST
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_are_refused_or_parsed(data: bytes) -> None:
    parse_checked(data)


@pytest.mark.parametrize("name", sorted(HOSTILE_PAGES))
def test_fuzz_hostile_content_gives_a_valid_model(name: str) -> None:
    assert parse_checked(HOSTILE_PAGES[name]) is not None
