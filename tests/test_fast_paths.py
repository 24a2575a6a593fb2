"""The parser's fast paths answer exactly what its long paths answer.

A plain table (table parts and text alone) is read in one walk with its white space normalised
for all cells at once; its plain figures ("13", "", "780 (199)") come from memos, column by
column; normalize_space uses str.split(). Each is checked against the way it replaced, on
generated input, so a speed-up can never change a figure, a name or a fingerprint.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from scraper import parse
from scraper.columns import classify_columns
from scraper.municipalities import load_register
from scraper.norsk import BOKMAL_WORDS, NYNORSK_WORDS, normalize_space
from scraper.parse import PageWarning, parse_page

FIXTURES = Path(__file__).parent / "fixtures"

# Every kind of white space the pages hold, and the two zero-width ones normalize_space adds.
_SPACES = " \t\n\r\f\v\u00a0\u2007\u202f\u2028\u2029\u3000\x1c\x1f\u200b\ufeff"
_SPACE_REGEX = re.compile(r"[\s\u00a0\u2007\u202f\u200b\u2028\u2029\ufeff]+")
_text = st.text(
    alphabet=st.sampled_from([*_SPACES, "a", "ø", "1", "7", "(", ")", "-"]), max_size=12
)


@given(_text)
def test_normalize_space_is_the_white_space_regex(text: str) -> None:
    assert normalize_space(text) == _SPACE_REGEX.sub(" ", text).strip()


# Cell texts as IMDi prints them and as a hostile page might: blanks of every kind, numbers
# with spaces, pairs, names, an invisible character or footnote marker (those leave the plain
# path), markup characters that must be escaped.
_cell = st.one_of(
    st.sampled_from(
        ["", "\u00a0", " ", "13", "5 500", "5\u00a0500", "780 (199)", "Bergen", "Nordre Follo",
         "Sum", "Kommune", "Fylke", "Endelege tal 2022", "a & b", "<x>", "Voss*", "7\u00ad", "182¹"]
    ),
    _text,
)  # fmt: skip
_gap = st.sampled_from(["", "\n", "\n  ", " ", "\t"])
# Most cells have none; a span of 1 (or nonsense) spans nothing; 2 sends the table the long way.
_attributes = st.sampled_from(
    ["", "", "", ' class="n"', ' colspan="1"', " rowspan=1", ' colspan="x"', ' colspan="2"',
     ' rowspan="3"']
)  # fmt: skip


_inner = st.one_of(
    _cell.map(html.escape),
    st.tuples(
        st.sampled_from(["p", "span", "strong", "b", "div", "a", "sup", "sub", "em", "script"]),
        _cell.map(html.escape),
    ).map(lambda pair: f"<{pair[0]}>{pair[1]}</{pair[0]}>"),
    st.sampled_from(["<br>", "<!-- x -->", "\n", " ", "\u00a0", "<p><b>7</b></p>"]),
)


_escaped_cell = _cell.map(html.escape)


@st.composite
def _table_html(draw: st.DrawFn, cell: st.SearchStrategy[str] = _escaped_cell) -> str:
    """A table: optional caption, optional <thead>, rows of <td>/<th> cells (text alone, or
    the `cell` markup given), any white space between tags, cells of different counts per row."""
    parts = ["<table>", draw(_gap)]
    if draw(st.booleans()):
        parts.append(f"<caption>{html.escape(draw(_text))}</caption>")
    rows = draw(
        st.lists(st.lists(st.tuples(cell, st.booleans(), _attributes), max_size=5), max_size=6)
    )
    head = draw(st.integers(0, len(rows)))
    for number, cells in enumerate(rows):
        if number == 0 and head:
            parts.append("<thead>")
        if number == head and head:
            parts.append("</thead><tbody>")
        parts.append("<tr>" + draw(_gap))
        for text, is_header, attributes in cells:
            tag = "th" if is_header else "td"
            parts.append(f"<{tag}{attributes}>{text}</{tag}>{draw(_gap)}")
        parts.append("</tr>" + draw(_gap))
    parts.append("</tbody></table>" if head else "</table>")
    return "".join(parts)


@settings(max_examples=300)
@given(_table_html())
def test_a_plain_table_reads_as_its_cells_read_one_by_one(markup: str) -> None:
    table = LexborHTMLParser(f"<html><body>{markup}</body></html>").css_first("table")
    assert table is not None
    plain = parse._plain_table(table)
    slow = parse._grid(table)
    if plain is None:  # a spanning cell, or no rows at all (then the long way finds no cell)
        assert re.search(r'(?:colspan="2"|rowspan="3")', markup) or slow.texts == []
        return
    fast = plain.grid()
    if fast is None:  # a cell needs cleaning: an invisible character or a footnote marker
        assert any(parse._NEEDS_CLEANING.search(text) for text in plain.texts)
        return
    assert fast.texts == slow.texts
    assert fast.th_rows == slow.th_rows[:4]
    assert fast.thead_rows == slow.thead_rows


# Markup a CMS puts around a cell's text, mostly the kind that keeps a table on the one walk.
_wrapped_cell = st.one_of(
    st.lists(_inner, max_size=3).map("".join),
    st.tuples(
        st.sampled_from(["", "\n  "]),
        st.sampled_from(["p", "div", "span", "strong", "b", "a"]),
        st.sampled_from(["", "span", "b"]),
        _escaped_cell,
    ).map(lambda t: f"{t[0]}<{t[1]}>{f'<{t[2]}>{t[3]}</{t[2]}>' if t[2] else t[3]}</{t[1]}>{t[0]}"),
)


@settings(max_examples=400)
@given(_table_html(_wrapped_cell))
def test_a_table_with_markup_in_its_cells_reads_the_same_either_way(markup: str) -> None:
    # Inline elements and one block around a cell's text keep a table on the one-walk path;
    # whatever it takes in, it must read as the cell-by-cell walk does.
    table = LexborHTMLParser(f"<html><body>{markup}</body></html>").css_first("table")
    assert table is not None
    plain = parse._plain_table(table)
    fast = plain.grid() if plain is not None else None
    if fast is None:
        return
    slow = parse._grid(table)
    assert fast.texts == slow.texts
    assert fast.th_rows == slow.th_rows[:4]


def test_one_block_or_inline_markup_keeps_a_table_plain() -> None:
    for inner in ("<td><p>13</p></td>", "<td>\n <p>13</p>\n</td>", "<td><strong>Bergen</strong></td>",
                  "<td><span>5</span> <b>500</b></td>", "<td><p><b>7</b></p></td>"):  # fmt: skip
        table = LexborHTMLParser(f"<table><tr>{inner}</tr></table>").css_first("table")
        assert table is not None and parse._plain_table(table) is not None, inner


def test_a_table_with_markup_in_a_cell_is_not_plain() -> None:
    for inner in ("<td>7<br>8</td>", "<td><!-- x -->7</td>", "<td>1<p>2</p></td>",
                  "<td><p>1</p><p>2</p></td>", "<td>182<sup>1</sup></td>"):  # fmt: skip
        tree = LexborHTMLParser(f"<table><tr>{inner}</tr></table>")
        table = tree.css_first("table")
        assert table is not None and parse._plain_table(table) is None
    nested = LexborHTMLParser("<table><tr><td><table><tr><td>1</td></tr></table></td></tr></table>")
    outer = nested.css_first("table")
    assert outer is not None and parse._plain_table(outer) is None


_figure = st.one_of(
    st.sampled_from(["", "0", "13", "5500", "780 (199)", "12 (0)", "5 500", "7 (x)", "-"]),
    st.integers(0, 10**9).map(str),
    st.text(alphabet="0123456789 ()", max_size=8),
)


@settings(max_examples=300)
@given(st.lists(st.lists(_figure, min_size=3, max_size=3), max_size=6), st.booleans())
def test_plain_figures_are_the_figures_read_one_row_at_a_time(
    rows: list[list[str]], paired: bool
) -> None:
    header = "Anmodning for 2017 (herav enslige mindreårige)" if paired else "Vedtak 2023"
    columns = [c for c in classify_columns(["Kommune", header, header], page_year=2023) if c.series]
    texts = [["Bergen", *row[:2]] for row in rows]
    fast = parse._plain_values(texts, columns)
    warnings: list[PageWarning] = []
    slow = [parse._read_values(row, columns, number, warnings) for number, row in enumerate(texts)]
    if fast is not None:  # every cell plain: the same figures, and nothing to warn about
        assert fast == slow
        assert warnings == []
    else:  # some cell is not plain: the long way reads it, and says so if it cannot
        plain = r"\d{1,15}|\d{1,9} \(\d{1,9}\)" if paired else r"\d{1,15}"
        assert any(text and not re.fullmatch(plain, text) for row in texts for text in row[1:])


def test_the_memos_of_plain_cells_stay_bounded() -> None:
    memo = parse._PlainCells(parse._plain_number)
    for number in range(100_050):
        assert memo[str(number)] == number
    assert len(memo) <= 100_000
    register = load_register("2024")
    for number in range(20_050):
        register.lookup(f"Ingen by {number}", None)
    assert len(register._lookups) <= 20_000
    assert register.lookup("Bergen", "Vestland") == "4601"


def test_the_two_standards_word_lists_share_no_word() -> None:
    # detect_language counts each list on its own: a shared word would count for both.
    assert not NYNORSK_WORDS & BOKMAL_WORDS


_block = st.deferred(
    lambda: st.one_of(
        st.sampled_from(
            ["<p>Tekst 12 kommunar.</p>", "<h2>Vestland</h2>", "<h3> </h3>", "<h1>Tittel</h1>",
             "<h4>Fylke: Agder</h4>", "<table><tr><td>Bergen</td><td>1</td></tr></table>",
             "<nav><h2>Meny</h2></nav>", "<p><span><h5>Inne</h5></span></p>", "text"]
        ),
        st.lists(_block, max_size=4).map(lambda inner: "<div>" + "".join(inner) + "</div>"),
        st.lists(_block, max_size=3).map(
            lambda inner: "<table><tr><td>" + "".join(inner) + "</td></tr></table>"
        ),
    )
)  # fmt: skip


@settings(max_examples=300)
@given(st.lists(_block, max_size=8))
def test_each_table_gets_the_heading_the_query_in_page_order_gives(blocks: list[str]) -> None:
    tree = LexborHTMLParser(f"<html><body><main>{''.join(blocks)}</main></body></html>")
    content = tree.css_first("main")
    assert content is not None
    walked = [(t.mem_id, h) for t, h in parse._tables_and_headings(content)]
    queried = [(t.mem_id, h) for t, h in parse._tables_and_headings_queried(content)]
    assert walked == queried


def test_a_heading_far_back_is_still_found() -> None:
    # Past the walk's limit the one query answers: the heading before 600 paragraphs counts.
    body = "<h2>Agder</h2>" + "<p>x</p>" * 600 + "<table><tr><td>Risør</td><td>13</td></tr></table>"
    content = LexborHTMLParser(f"<main>{body}</main>").css_first("main")
    assert content is not None
    assert [h for _, h in parse._tables_and_headings(content)] == ["Agder"]


@pytest.mark.parametrize(
    ("fixture", "cell"),
    [
        ("page-2022-nn-a.html", "<td>Risør</td>"),
        ("synthetic/synthetic-2017-county-and-municipal-tables.html", "<td>Halden</td>"),
    ],
)
def test_a_whole_page_reads_the_same_the_long_way(fixture: str, cell: str) -> None:
    # One element inside one cell sends that table the long way (cell by cell, read_cell_text,
    # figures row by row): every figure, name, number and the fingerprint stay the same.
    html = (FIXTURES / fixture).read_text(encoding="utf-8")
    assert html.count(cell) == 1
    fast = parse_page(html)
    slow = parse_page(
        html.replace(cell, cell.replace(">", "><span>", 1).replace("</", "</span></"))
    )
    assert slow.tables == fast.tables
    assert [a.number for t in slow.tables for a in t.areas] == [
        a.number for t in fast.tables for a in t.areas
    ]
    assert slow.warnings == fast.warnings
    assert slow.fingerprint == fast.fingerprint


@settings(max_examples=400)
@given(st.lists(_inner, max_size=4))
def test_a_cell_read_the_short_way_reads_as_the_whole_walk(parts: list[str]) -> None:
    markup = "".join(parts)
    tree = LexborHTMLParser(f"<table><tr><td>{markup}</td></tr></table>")
    cell = tree.css_first("td")
    assert cell is not None
    assert parse.read_cell_text(cell) == parse._walked_cell_text(cell)
