"""Read the meaning of an IMDi "Oppmoding om busetting" page: HTML in, a `Page` out. Pure.

The table is found by what its header says ("Kommune", "Fylke"), never by CSS classes, so the
parser keeps working when IMDi changes templates; problems become warnings, not exceptions.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from scraper.columns import Column, area_column, classify_columns, split_pair
from scraper.errors import ParseError
from scraper.models import (
    HEADLINE_FIELDS,
    PART_FIELDS,
    Area,
    FigureTable,
    Headline,
    KeyFigure,
    Page,
    PageWarning,
    Section,
    Series,
    main_request,
    series_field,
)
from scraper.municipalities import choose_structure, county_names, load_register
from scraper.norsk import (
    MAX_NUMBER_CHARS,
    NUMBER_PATTERN,
    WHOLE_NUMBER,
    detect_language,
    fold,
    normalize_space,
    parse_date,
)
from scraper.norsk import parse_number as _parse_number
from scraper.statements import read_key_figures, read_statements

# Bumped whenever a change here can change what is read from a page (stored with each revision).
PARSER_VERSION = "3"

_BOILERPLATE_TAGS = frozenset({
    "script", "style", "noscript", "template", "svg", "iframe", "nav", "aside", "form",
    "footer", "button", "select", "dialog", "object", "canvas", "-comment",
})  # fmt: skip
_BOILERPLATE_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search", "dialog")
_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "ul",
    ]
)
_HEADING_TAGS = frozenset({"h2", "h3", "h4", "h5", "h6"})
_NOT_CELL_TEXT = frozenset({"script", "style", "template", "noscript", "-comment"})


def _tag_ids(names: frozenset[str]) -> frozenset[int]:
    """lexbor's numeric ids of these tags ("-comment": a comment), read off a snippet that holds
    each in a <div> (so no table parts, body or caption)."""
    snippet = "".join("<!---->" if n == "-comment" else f"<{n}></{n}>" for n in sorted(names))
    div = LexborHTMLParser(f"<div>{snippet}</div>").css("div")[0]
    return frozenset(n.tag_id for n in div.traverse(include_text=True) if n.tag in names)


# lexbor's ids of the block tags (a block reads as a space on each side in read_cell_text).
_BLOCK_IDS = _tag_ids(_BLOCK_TAGS - {"body", "caption", "table"})
# lexbor's numeric ids of <td> and <th>: comparing ints is the cheapest test in the table loop.
_TABLE_TAG_IDS = {
    node.tag: node.tag_id
    for node in LexborHTMLParser(
        "<table><caption></caption><colgroup><col></colgroup><thead><tr><th></th></tr></thead>"
        "<tbody><tr><td></td></tr></tbody><tfoot></tfoot></table>"
    ).css("table, table *")
}
_TR_ID, _TH_ID, _TD_ID = _TABLE_TAG_IDS["tr"], _TABLE_TAG_IDS["th"], _TABLE_TAG_IDS["td"]
_THEAD_ID = _TABLE_TAG_IDS["thead"]
_HEADING_IDS = _tag_ids(_HEADING_TAGS | {"h1"})
_CELL_TAG_IDS = frozenset({_TD_ID, _TH_ID})
_TABLE_ID, _CAPTION_ID = _TABLE_TAG_IDS["table"], _TABLE_TAG_IDS["caption"]
_SECTION_IDS = frozenset(_TABLE_TAG_IDS[tag] for tag in ("thead", "tbody", "tfoot"))
_EMPTY_TABLE_PARTS = frozenset(_TABLE_TAG_IDS[tag] for tag in ("colgroup", "col"))
_TEXT_TAG_ID = next(LexborHTMLParser("<p>x</p>").css("p")[0].iter(include_text=True)).tag_id
_SKIP_IN_TEXT = frozenset({"table", "h1"})
_LOOKS_LIKE_HTML = re.compile(
    rb"<\s*(?:!doctype|html|head|body|div|p|table|h1|article|main)\b", re.I
)
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.I)
# "Sist oppdatert: 12. november 2021", "Publisert 1.2.2023 | Sist endret 5.3.2023", "Oppdatert:"
_UPDATED = re.compile(
    r"^(?:(?:publisert|publ\.)[^|·]*[|·]\s*)?(?:sist\s+)?(?:oppdatert|endra|endret)\b"
    r"(?:\s+dato)?\s*:?",
    re.I,
)
_UPDATED_IN_HEADING = re.compile(r"\boppdatert\s+(\d{1,2}\.\s*[a-zæøå]+)\s*\)?\s*$", re.I)
_SITE_SUFFIX = re.compile(r"\s*(?:[|–—-]\s*IMDi\s*$|^\s*IMDi\s*[|–—-]\s*)", re.I)
_YEAR_IN_TITLE = re.compile(r"\b(?:for|i)\s+(20\d\d)\b")
_YEAR = re.compile(r"\b(20\d\d)\b")
_ENDLESS_NUMBER = re.compile(rf"\d{{{MAX_NUMBER_CHARS + 1}}}")  # too long to be a count
_PLAIN_PAIR = re.compile(r"(\d{1,9}) \((\d{1,9})\)\Z", re.ASCII)
_NAME_MARKS = "*†‡¹²³⁴⁵⁶⁷⁸⁹⁰"  # a footnote marker after a name ("Voss*") is not part of it
_MARKED_LABEL = re.compile(f"[{re.escape(_NAME_MARKS)}\x00]")  # \x00: _NOTE, defined below
_TOTALS_LABELS = frozenset({
    "sum", "totalt", "total", "i alt", "til saman", "til sammen", "samla", "samlet",
    "hele landet", "heile landet", "landet", "norge", "noreg", "totalt for landet", "sum landet",
})  # fmt: skip
# What a cell's text never includes: soft hyphen, zero-width characters, bidi controls.
_INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
# An invisible character or a footnote mark: one character class, a fast scan.
_NEEDS_CLEANING = re.compile(f"{_INVISIBLE.pattern[:-1]}{re.escape(_NAME_MARKS)}]")
# Elements whose text is not a cell's text as it stands (left out, a note, a line break).
_NOT_WRAPPER_IDS = _tag_ids(_NOT_CELL_TEXT | {"sup", "br", "sub"})
# A footnote marker glued to a number: "182*", "182¹", "182 †"
_MARKED_NUMBER = re.compile(rf"^([−-]?(?:{NUMBER_PATTERN}))\s*([{re.escape(_NAME_MARKS)}]+)$")
_FOOTNOTE_CHARS = frozenset(_NAME_MARKS)
MAX_DEPTH = 256  # elements deeper than this are read as flat text (Python's recursion is ~1000)
MAX_FIGURE = 1_000_000_000  # no figure on the page comes near; beyond it a number is unreadable
_LONGEST_NUMBER = 15  # digits: a longer run is not parsed at all (int() of 5 000 digits is slow)
_TOO_LONG: int = 10**_LONGEST_NUMBER


def parse_page(html: bytes | str, *, encoding: str | None = None) -> Page:
    """Parse one page. Raises ParseError only for input that is not an HTML page at all."""
    text, edge_warnings = _decode(html, encoding)
    tree = LexborHTMLParser(text)
    declared_lang = tree.root.attributes.get("lang") if tree.root else None
    body = tree.body
    if body is None:
        raise ParseError("not an HTML page: it has no <body>")
    content = _content_root(body)

    title = _read_title(tree, content)
    reader = _TextReader()
    reader.read(content)
    if reader.too_deep:
        edge_warnings.append(
            PageWarning(
                "nesting-too-deep",
                f"the page nests elements more than {MAX_DEPTH} deep; deeper text is read flat",
                {"max_depth": MAX_DEPTH},
            )
        )
    raw_tables = _read_raw_tables(content)
    plain_text = " ".join(p for s in reader.sections for p in s.paragraphs)
    headers = [h for raw in raw_tables for h in raw.headers]
    language = detect_language(
        " ".join(filter(None, [title, plain_text[:4000], *headers])), declared=declared_lang
    )
    year = _read_year(title, headers, plain_text)
    updated = _read_updated(reader, content, year=year)
    if year is None and updated is not None:  # a news item: the year it was written
        year = int(updated[:4])

    warnings: list[PageWarning] = edge_warnings
    tables = _bound_tables(_read_tables(raw_tables, year=year, warnings=warnings), warnings)
    main = main_request(tables, year)
    statements = read_statements(reader.sections)
    key_figures, unexplained = read_key_figures(reader.sections, page_year=year, page_date=updated)
    if _ENDLESS_NUMBER.search(plain_text):
        warnings.append(
            PageWarning(
                "number-too-large",
                "the text holds a number too long to be a count; it is read as no figure",
            )
        )
    key_figures = _bound_key_figures(key_figures, warnings)
    headline = _headline(key_figures, year, warnings)
    if unexplained:
        warnings.append(
            PageWarning(
                "lead-unread",
                f"the lead holds {', '.join(unexplained)}, which no key figure explains",
                {"numbers": unexplained},
            )
        )
    warnings += _validate(tables=tables, main=main, headline=headline, updated=updated)

    content_fields: dict[str, Any] = {
        "title": title,
        "language": language,
        "updated": updated,
        "year": year,
        "sections": [s.to_dict() for s in reader.sections],
        "tables": [
            (
                [(s.measure, s.year, s.part, s.header) for s in t.series],
                [(a.level, a.name, a.number, a.county, a.values) for a in t.areas],
                t.heading,
            )
            for t in tables
        ],
    }
    page = Page(
        title=title,
        language=language,
        updated=updated,
        year=year,
        headline=headline,
        sections=tuple(reader.sections),
        warnings=tuple(warnings),
        fingerprint=fingerprint_content(content_fields),
        tables=tuple(tables),
        statements=statements,
        key_figures=key_figures,
    )
    return page


def fingerprint_content(content_fields: dict[str, Any]) -> str:
    """SHA-256 of the parsed content in canonical JSON: markup, tokens and scripts do not count."""
    canonical = _CANONICAL_JSON.encode(content_fields)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# Canonical JSON; check_circular off (parsed content cannot refer to itself), output unchanged.
_CANONICAL_JSON = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), check_circular=False
)


# --- input -----------------------------------------------------------------------------------


def _decode(html: bytes | str, encoding: str | None) -> tuple[str | bytes, list[PageWarning]]:
    """The page's text (valid UTF-8 bytes as they are: the parser reads those as such), and an
    `encoding-fallback` warning when bytes labelled (or taken for) UTF-8 are not: single-byte
    text (windows-1252, else latin-1) is read as such, so "Risør" in latin-1 stays "Risør"
    instead of becoming "Ris\ufffdr" and a new municipality."""
    if isinstance(html, str):
        raw_head = html[:4096].encode("utf-8", "replace")
        if not _LOOKS_LIKE_HTML.search(raw_head) and "<" not in html[:4096]:
            raise ParseError("not an HTML page: no HTML tags in the input")
        return html, []
    if b"\x00" in html[:4096] or html[:5] == b"%PDF-":
        raise ParseError("not an HTML page: the input is binary")
    if not _LOOKS_LIKE_HTML.search(html, 0, 65536):
        raise ParseError("not an HTML page: no HTML tags in the input")
    if html.startswith(b"\xef\xbb\xbf"):
        html, encoding = html[3:], "utf-8"
    if encoding is None:
        match = _CHARSET.search(html[:4096])
        encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        codec = "utf-8"
    if codec != "utf-8":
        return html.decode(codec, "replace"), []
    try:
        html.decode("utf-8")  # valid: lexbor takes the bytes, sparing a decode and re-encode
        return html, []
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    replaced = html.decode("utf-8", "replace")
    invalid = replaced.count("\ufffd") - html.count("\ufffd".encode())
    valid = sum(1 for char in replaced if char > "\x7f") - replaced.count("\ufffd")
    if valid > invalid:  # UTF-8 with a few stray bytes: keep it, mark them
        return replaced, [
            PageWarning(
                "encoding-fallback",
                f"the page has {invalid} bytes that are not UTF-8 (the first at byte "
                f"{first_bad}); they are read as \ufffd",
                {"encoding": "utf-8", "invalid_bytes": invalid, "offset": first_bad},
            )
        ]
    try:
        text, used = html.decode("windows-1252"), "windows-1252"
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are not windows-1252
        text, used = html.decode("latin-1"), "latin-1"
    return text, [
        PageWarning(
            "encoding-fallback",
            f"the page is not valid UTF-8 (byte {first_bad}); read as {used}",
            {"encoding": used, "offset": first_bad},
        )
    ]


def _is_boilerplate(node: LexborNode) -> bool:
    """Navigation, forms, scripts, hidden parts: never the article's own text or table."""
    tag = node.tag
    if tag in _BOILERPLATE_TAGS:
        return True
    attributes = node.attributes
    if not attributes:
        return tag == "header" and node.css_first("h1") is None
    if "hidden" in attributes or attributes.get("aria-hidden") == "true":
        return True
    if attributes.get("role") in _BOILERPLATE_ROLES:
        return True
    # A site header holds logo and menu; an article's own <header> holds its h1: keep that one.
    return tag == "header" and node.css_first("h1") is None


def _inside_boilerplate(node: LexborNode) -> bool:
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        if _is_boilerplate(parent):
            return True
        parent = parent.parent
    return False


def _content_root(body: LexborNode) -> LexborNode:
    """<main>, else the largest <article>, else the block that holds the article's paragraphs."""
    main = body.css_first("main,[role=main]")
    if main is not None:
        return main
    articles = body.css("article")
    if articles:
        return max(articles, key=lambda a: len(a.text(deep=True)))
    # An old template: the parent with the most paragraphs, widened to take in the h1 too.
    paragraph_count: dict[int, tuple[int, LexborNode]] = {}
    for paragraph in body.css("p"):
        parent = paragraph.parent
        if parent is not None and not _inside_boilerplate(paragraph):
            count, _ = paragraph_count.get(parent.mem_id, (0, parent))
            paragraph_count[parent.mem_id] = (count + 1, parent)
    if not paragraph_count:
        return body
    root = max(paragraph_count.values(), key=lambda item: item[0])[1]
    h1 = body.css_first("h1")
    return _common_ancestor(root, h1) if h1 is not None else root


def _common_ancestor(first: LexborNode, second: LexborNode) -> LexborNode:
    ancestors: set[int] = set()
    node: LexborNode | None = first
    while node is not None:
        ancestors.add(node.mem_id)
        node = node.parent
    node = second
    while node is not None and node.mem_id not in ancestors:
        node = node.parent
    return node if node is not None else first


def _read_title(tree: LexborHTMLParser, content: LexborNode) -> str | None:
    h1 = content.css_first("h1")
    if h1 is not None and not _inside_boilerplate(h1):
        text = normalize_space(h1.text(deep=True))
        if text:
            return text
    title = tree.css_first("title")
    if title is not None:
        text = _SITE_SUFFIX.sub("", normalize_space(title.text()))
        return text or None
    return None


# --- text ------------------------------------------------------------------------------------


@dataclass
class _TextReader:
    """Walks the article, collecting headings, paragraphs and list items in reading order."""

    sections: list[Section] = field(default_factory=list)
    updated_dates: list[str] = field(default_factory=list)
    _heading: str | None = None
    _paragraphs: list[str] = field(default_factory=list)
    _inline: list[str] = field(default_factory=list)
    _bullet_pending: bool = False
    too_deep: bool = False  # some elements were nested deeper than MAX_DEPTH

    def read(self, root: LexborNode) -> None:
        self._walk(root, 0)
        self._flush_inline()
        self._close_section()

    def _walk(self, node: LexborNode, depth: int) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                self._inline.append(child.text_content or "")
            elif _is_boilerplate(child) or tag in _SKIP_IN_TEXT:
                self._flush_inline()
            elif tag == "br":
                self._inline.append(" ")
            elif tag in _HEADING_TAGS:
                self._flush_inline()
                heading = normalize_space(child.text(deep=True))
                if heading:
                    self._close_section()
                    self._heading = heading
            elif depth >= MAX_DEPTH and (tag == "li" or tag in _BLOCK_TAGS):
                self.too_deep = True  # no deeper recursion: the rest is one flat paragraph
                self._inline.append(_flat_text(child))
            elif tag == "li":
                self._flush_inline()
                self._bullet_pending = True
                self._walk(child, depth + 1)
                self._flush_inline()
                self._bullet_pending = False
            elif tag in _BLOCK_TAGS:
                self._flush_inline()
                self._walk(child, depth + 1)
                self._flush_inline()
            else:
                self._inline.append(child.text(deep=True))

    def _flush_inline(self) -> None:
        if not self._inline:
            return
        text = normalize_space("".join(self._inline))
        if not text.isascii() and _INVISIBLE.search(text):
            text = _clean_text(text)
        self._inline.clear()
        if not text:
            return
        match = _UPDATED.match(text) if len(text) < 160 else None
        if match:
            found = parse_date(text[match.end() :])
            if found:
                self.updated_dates.append(found)
                return
        if self._bullet_pending:
            text = "• " + text
            self._bullet_pending = False
        self._paragraphs.append(text)

    def _close_section(self) -> None:
        if self._heading is not None or self._paragraphs:
            self.sections.append(Section(self._heading, tuple(self._paragraphs)))
        self._heading = None
        self._paragraphs = []


def _flat_text(node: LexborNode) -> str:
    """The text under `node` as one run, without recursion, skipping what _TextReader skips."""
    parts: list[str] = [" "]
    stack: list[Iterator[LexborNode]] = [node.iter(include_text=True)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            parts.append(" ")
        elif child.tag == "-text":
            parts.append(child.text_content or "")
        elif child.tag == "br":
            parts.append(" ")
        elif not (_is_boilerplate(child) or child.tag in _SKIP_IN_TEXT):
            if child.tag in _BLOCK_TAGS:
                parts.append(" ")
            stack.append(child.iter(include_text=True))
    return "".join(parts)


def _find_time_datetime(content: LexborNode) -> str | None:
    for node in content.css("time[datetime]"):
        parent_text = normalize_space((node.parent or node).text(deep=True))
        if _UPDATED.search(parent_text):
            return parse_date(node.attributes.get("datetime") or "")
    return None


def _headline(
    key_figures: Sequence[KeyFigure], year: int | None, warnings: list[PageWarning]
) -> Headline:
    """The lead's four figures for the page's year, from the key figures. Two different values
    for one of them are reported, and neither is chosen."""
    wanted = {
        "municipalities": ("municipalities", "total"),
        "refugees": ("refugees", "total"),
        "minor_municipalities": ("municipalities", "minors"),
        "minors": ("refugees", "minors"),
    }
    values: dict[str, int | None] = {}
    for name, (subject, part) in wanted.items():
        found = {
            k.value
            for k in key_figures
            if k.measure == "request" and k.subject == subject and k.part == part
            and (k.year == year or year is None) and k.qualifier is None
        }  # fmt: skip
        if len(found) > 1:
            warnings.append(
                PageWarning(
                    "ambiguous-key-figure",
                    f"the text gives {name} as {' and '.join(map(str, sorted(found)))}",
                    {"field": name, "values": sorted(found)},
                )
            )
        values[name] = found.pop() if len(found) == 1 else None
    return Headline(**values)


def _read_updated(reader: _TextReader, content: LexborNode, *, year: int | None) -> str | None:
    """The latest of the page's update dates: "Sist oppdatert …", "Publisert … | Sist oppdatert
    …", "Oppdatert: …", a <time> beside such words, "(oppdatert 03. oktober)" in a heading (its
    year from the page's year)."""
    dates = list(reader.updated_dates)
    moment = _find_time_datetime(content)
    if moment:
        dates.append(moment)
    for section in reader.sections:
        match = _UPDATED_IN_HEADING.search(section.heading or "")
        if match and year is not None:
            found = parse_date(f"{match.group(1)} {year}")
            if found:
                dates.append(found)
    return max(dates) if dates else None


def _read_year(title: str | None, headers: list[str], text: str) -> int | None:
    """The page's year: from the title ("… for 2022", else any year in it), else the latest year
    the table headers name ("Anmodning for 2016 …", "… for 2017" → 2017), else the lead's."""
    if title:
        match = _YEAR_IN_TITLE.search(title) or _YEAR.search(title)
        if match:
            return int(match.group(1))
    years = [int(y) for header in set(headers) for y in _YEAR.findall(header)]
    if years:
        return max(years)
    match = _YEAR_IN_TITLE.search(text[:400]) or _YEAR.search(text[:400])
    return int(match.group(1)) if match else None


def _too_large(value: int | None, where: str, name: str, warnings: list[PageWarning]) -> bool:
    """Is `value` beyond MAX_FIGURE? Then say so: no such figure is real, and one would overflow
    SQLite's INTEGER."""
    if value is None or -MAX_FIGURE <= value <= MAX_FIGURE:
        return False
    shown = (
        str(value) if abs(value) < _TOO_LONG else f"a number of more than {_LONGEST_NUMBER} digits"
    )
    warnings.append(
        PageWarning(
            "number-too-large",
            f"{where}: {name} {shown} is beyond {MAX_FIGURE}; read as blank",
            {"where": where, "field": name},
        )
    )
    return True


def _bound_tables(tables: list[FigureTable], warnings: list[PageWarning]) -> list[FigureTable]:
    """Figures above MAX_FIGURE become blank with a `number-too-large` warning."""
    values = list(filter(None, chain.from_iterable([a.values for t in tables for a in t.areas])))
    if not values or -MAX_FIGURE <= min(values) <= max(values) <= MAX_FIGURE:
        return tables  # the usual case, in one pass
    bounded: list[FigureTable] = []
    for table in tables:
        areas = []
        for area in table.areas:
            where = area.name or area.level
            kept = tuple(
                None if _too_large(v, where, series.label(), warnings) else v
                for v, series in zip(area.values, table.series, strict=False)
            )
            areas.append(dataclasses.replace(area, values=kept))
        bounded.append(dataclasses.replace(table, areas=tuple(areas)))
    return bounded


def _bound_key_figures(
    key_figures: Sequence[KeyFigure], warnings: list[PageWarning]
) -> tuple[KeyFigure, ...]:
    """Key figures above MAX_FIGURE are dropped with a `number-too-large` warning."""
    return tuple(
        k
        for k in key_figures
        if not _too_large(k.value, "text", f"{k.subject} {k.measure}", warnings)
    )


# --- the tables ------------------------------------------------------------------------------


@dataclass
class _RawTable:
    """One HTML table as text: header texts per column, body rows, the heading above it."""

    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (row position, cell texts)
    heading: str | None


# A footnote's note travels with its cell's text behind this separator until the table reader
# takes it off: a figure keeps its number and the page gets a `cell-note` warning naming the note.
_NOTE = "\x00"


def _cell_text(cell: LexborNode) -> str:
    """A cell's text as read_cell_text reads it, a footnote's note after `_NOTE`."""
    text, note = read_cell_text(cell)
    return f"{text}{_NOTE}{note}" if note else text


def read_cell_text(cell: LexborNode) -> tuple[str, str | None]:
    """A cell's (or a name's) text as a reader sees it, and its footnote note if it has one.

    The text has single spaces (NBSP and other Unicode spaces too), no soft hyphens, zero-width
    characters or bidi controls, `<br>` and block elements read as a space, and nothing from
    script, style, template, noscript or comments. A footnote is never part of the text: `<sup>`
    content, and a marker (`*`, `†`, `¹²³`) right after a number, come back as the note, so
    `182<sup>1</sup>` and `182¹` are ("182", "1") and ("182", "¹"), never 1821. The note is None
    when there is none.
    """
    child = cell.child
    if child is not None and child.next is None and child.tag_id == _TEXT_TAG_ID:
        return _finish_cell_text(child.text_content or "", None)
    wrapped = _wrapped_text(cell)
    if wrapped is not None:
        return _finish_cell_text(wrapped, None)
    return _walked_cell_text(cell)


def _walked_cell_text(cell: LexborNode) -> tuple[str, str | None]:
    """read_cell_text the long way: every node of the cell walked."""
    parts: list[str] = []
    notes: list[str] = []
    _collect_cell_text(cell, parts, notes)
    return _finish_cell_text("".join(parts), _clean_text(" ".join(notes)) or None)


def _wrapped_text(cell: LexborNode) -> str | None:
    """The text of a cell that holds one element around one text ("<p>13</p>", "<strong>Bergen
    </strong>"), white space around it aside — as the long walk reads it, since the spaces a
    block adds at the edges go — else None. A footnote (<sup>), a <br>, a script and the like
    are not wrappers."""
    element: LexborNode | None = None
    for node in cell.iter(include_text=True):
        if node.tag_id == _TEXT_TAG_ID:
            text = node.text_content
            if text and not text.isspace():
                return None
        elif element is not None:
            return None
        else:
            element = node
    if element is None or element.tag_id in _NOT_WRAPPER_IDS:
        return None
    inner = element.child
    if inner is None or inner.next is not None or inner.tag_id != _TEXT_TAG_ID:
        return None
    return inner.text_content or ""


def _finish_cell_text(raw: str, note: str | None) -> tuple[str, str | None]:
    text = _clean_text(raw)
    if text and text[-1] in _FOOTNOTE_CHARS:
        marked = _MARKED_NUMBER.match(text)
        if marked:
            text = marked.group(1)
            note = marked.group(2) if note is None else f"{marked.group(2)} {note}"
    return text, note


def _clean_text(text: str) -> str:
    """`text` without invisible characters, its white space (NBSP and every other Unicode
    space: str.split() splits on each) collapsed to single spaces, and stripped."""
    if not text.isascii():  # ASCII holds no invisible character: the common case, kept fast
        text = _INVISIBLE.sub("", text)
    return " ".join(text.split())


def _collect_cell_text(cell: LexborNode, parts: list[str], notes: list[str]) -> None:
    """Depth-first, without recursion (a cell may nest thousands deep)."""
    stack: list[tuple[Iterator[LexborNode], bool]] = [(cell.iter(include_text=True), False)]
    while stack:
        iterator, block = stack[-1]
        node = next(iterator, None)
        if node is None:
            stack.pop()
            if block:
                parts.append(" ")
            continue
        tag = node.tag
        if tag == "-text":
            parts.append(node.text_content or "")
        elif tag in _NOT_CELL_TEXT:
            continue
        elif tag == "br":
            parts.append(" ")
        elif tag == "sup":
            notes.append(node.text(deep=True))
        else:
            is_block = tag in _BLOCK_TAGS
            if is_block:
                parts.append(" ")
            stack.append((node.iter(include_text=True), is_block))


def _span_value(text: str | None) -> int:
    """A colspan or rowspan as a reader takes it: 1 to 50, 1 for nonsense."""
    try:
        return max(1, min(50, int(text or 1)))
    except ValueError:
        return 1


def _read_raw_tables(content: LexborNode) -> list[_RawTable]:
    """Every table of the article with the heading (or caption) it stands under."""
    tables: list[_RawTable] = []
    for node, heading in _tables_and_headings(content):
        if _inside_boilerplate(node):
            continue
        plain = _plain_table(node)
        if plain is not None:
            caption = plain.caption
            grid = plain.grid()
        elif len(node.css("table")) > 1:  # css() includes the node: a layout table, skipped
            continue
        else:
            caption = node.css_first("caption")
            grid = None
        raw = _raw_table(
            grid if grid is not None else _grid(node),
            caption=normalize_space(caption.text()) if caption else None,
        )
        if raw is not None:
            raw.heading = raw.heading or heading
            tables.append(raw)
    return tables


def _tables_and_headings(content: LexborNode) -> list[tuple[LexborNode, str | None]]:
    """Every table under `content` in page order, with the last heading (h1–h6, not empty)
    before it in page order, as far back as `content`.

    The heading is found by walking back from the table (it is seldom more than a few nodes
    away); a walk that goes on for long (tables with no heading between them) gives way to one
    query for all headings and tables."""
    found: list[tuple[LexborNode, str | None]] = []
    known: dict[int, str | None] = {}  # a table's mem_id → its heading
    for table in content.css("table"):
        heading = _heading_before(table, content, known)
        if heading is _TOO_FAR:
            return _tables_and_headings_queried(content)
        known[table.mem_id] = heading
        found.append((table, heading))
    return found


def _tables_and_headings_queried(content: LexborNode) -> list[tuple[LexborNode, str | None]]:
    """The same answer from one query for every heading and table, in page order."""
    found: list[tuple[LexborNode, str | None]] = []
    heading: str | None = None
    for node in content.css("h1,h2,h3,h4,h5,h6,table"):
        if node.tag_id == _TABLE_ID:
            found.append((node, heading))
        else:
            heading = normalize_space(node.text(deep=True)) or heading
    return found


_TOO_FAR = "\x00too far"  # a sentinel: the walk back gave up
_WALK_BACK_LIMIT = 500  # nodes


def _heading_before(
    table: LexborNode, root: LexborNode, known: dict[int, str | None]
) -> str | None:
    """The text of the last non-empty heading before `table` in page order, within `root` (and
    `root` itself); None when there is none; `_TOO_FAR` after `_WALK_BACK_LIMIT` nodes. A table
    met on the way whose heading is `known` (by mem_id) answers for all before it."""
    node = table
    root_id = root.mem_id
    for _ in range(_WALK_BACK_LIMIT):
        if node.mem_id == root_id:
            return None
        previous = node.prev
        if previous is None:
            parent = node.parent
            if parent is None:
                return None
            node = parent  # the parent comes before its children
        else:
            node = previous  # ... and a sibling's last descendant right before the next sibling
            while (last := node.last_child) is not None:
                node = last
        tag_id = node.tag_id
        if tag_id in _HEADING_IDS:
            text = normalize_space(node.text(deep=True))
            if text:
                return text
        elif tag_id == _TABLE_ID and node.mem_id in known:
            return known[node.mem_id]
    return _TOO_FAR


def _raw_table(grid: _Grid, *, caption: str | None) -> _RawTable | None:
    texts_grid = grid.texts
    if not texts_grid:
        return None
    width = max(map(len, texts_grid))
    # The header: the <thead> rows, else the leading rows of <th> cells or of column words
    # ("Kommune", "Fylke") without figures, else the leading rows without figures (a header
    # may be split over two rows).
    header_rows = grid.thead_rows
    if not header_rows:
        for all_th, texts in zip(grid.th_rows[:4], texts_grid, strict=False):
            worded = any(area_column(text) for text in texts) and not _has_figures(texts)
            if not (all_th or worded) or header_rows >= len(texts_grid) - 1:
                break
            header_rows += 1
    if not header_rows:
        while header_rows < min(4, len(texts_grid) - 1) and not _has_figures(
            texts_grid[header_rows]
        ):
            header_rows += 1
    if header_rows == 0:
        return None
    headers: list[str] = []
    for index in range(width):
        words: list[str] = []
        for row in texts_grid[:header_rows]:
            text = row[index] if index < len(row) else ""
            if text and text not in words:
                words.append(text.partition(_NOTE)[0])
        headers.append(" ".join(w for w in words if w))
    rows = list(enumerate(texts_grid[header_rows:], start=1))
    return _RawTable(headers=headers, rows=rows, heading=caption)


@dataclass
class _Grid:
    """A table's cell texts row by row, which rows are all <th>, how many rows <thead> holds."""

    texts: list[list[str]]
    th_rows: list[bool]
    thead_rows: int


def _grid(table: LexborNode) -> _Grid:
    """The table's cell texts row by row, colspan and rowspan spread over the cells they
    cover, each cell read by `read_cell_text` (a plain table is read by `_plain_table`)."""
    trs = table.css("tr")
    texts = []
    th_rows = []
    carried: dict[int, tuple[int, str]] = {}  # column → (rows still covered, text)
    for tr in trs:
        cells = [c for c in tr.iter() if c.tag_id in _CELL_TAG_IDS]
        th_rows.append(bool(cells) and all(c.tag_id == _TH_ID for c in cells))
        row: list[str] = []
        for cell in cells:
            while len(row) in carried:
                row.append(_take_carried(carried, len(row)))
            text = _cell_text(cell)
            attributes = cell.attributes
            rowspan = _span_value(attributes.get("rowspan")) if attributes else 1
            colspan = _span_value(attributes.get("colspan")) if attributes else 1
            for _ in range(colspan):
                if rowspan > 1:
                    carried[len(row)] = (rowspan - 1, text)
                row.append(text)
        while len(row) in carried:
            row.append(_take_carried(carried, len(row)))
        texts.append(row)
    return _Grid(texts, th_rows, len(table.css("thead tr")))


@dataclass
class _PlainTable:
    """A table of table parts alone, read in one walk: its cells' texts in order, where each
    row starts, how many <th> cells each row has, its <thead> rows, its caption."""

    texts: list[str]
    starts: list[int]
    th_cells: list[int]
    thead_rows: int
    caption: LexborNode | None

    def grid(self) -> _Grid | None:
        """The cell texts row by row (white space normalised as normalize_space does, all at
        once), or None when a cell needs `read_cell_text` (an invisible character, a footnote
        marker)."""
        # "\x00" is no white space to str.split(): the cells' runs become single spaces, and
        # the spaces left beside a cell's edge go.
        whole = " ".join("\x00".join(self.texts).split())
        whole = whole.replace(" \x00", "\x00").replace("\x00 ", "\x00")
        if _NEEDS_CLEANING.search(whole):
            return None
        flat = whole.split("\x00") if self.texts else []
        ends = [*self.starts[1:], len(flat)]
        rows = [flat[start:end] for start, end in zip(self.starts, ends, strict=False)]
        th_rows = [
            count > 0 and count == len(row)
            for count, row in zip(self.th_cells[:4], rows, strict=False)
        ]
        return _Grid(rows, th_rows, self.thead_rows)


def _plain_table(table: LexborNode) -> _PlainTable | None:
    """The table read in one walk, one C call a cell, or None when a cell's text as one run is
    not its text as read_cell_text reads it, or a cell spans.

    Text and inline elements ("<strong>Bergen</strong>") read as one run. So does one block
    ("<p>13</p>") when the cell holds nothing else but white space: the spaces a block adds go
    at the cell's edges. Anything else — a second block, text beside a block, a <br>, a
    footnote (<sup>), a script, a comment, a nested table — sends the table the long way."""
    texts: list[str] = []
    block_cell = -1  # the cell that holds a block already
    starts: list[int] = []
    th_cells: list[int] = []
    thead_rows = 0
    in_thead = False
    caption: LexborNode | None = None
    nodes = table.traverse()
    next(nodes)  # the table itself
    first = next(nodes, None)
    if first is None or first.tag_id in _CELL_TAG_IDS:  # no rows; a cell outside any row
        return None
    for node in chain((first,), nodes):
        tag_id = node.tag_id
        if tag_id == _TD_ID:
            if (attributes := node.attributes) and _spans(attributes):
                return None
            texts.append(node.text_lexbor() or "")
        elif tag_id == _TR_ID:
            starts.append(len(texts))
            th_cells.append(0)
            thead_rows += in_thead
        elif tag_id == _TH_ID:
            if (attributes := node.attributes) and _spans(attributes):
                return None
            texts.append(node.text_lexbor() or "")
            th_cells[-1] += 1
        elif tag_id in _SECTION_IDS:
            in_thead = tag_id == _THEAD_ID
        elif tag_id == _CAPTION_ID:
            caption = caption or node
        elif tag_id in _EMPTY_TABLE_PARTS:
            continue
        elif tag_id in _NOT_WRAPPER_IDS or tag_id == _TABLE_ID:
            return None
        elif tag_id in _BLOCK_IDS:  # inside the latest cell (nothing else holds elements)
            cell = len(texts) - 1
            if cell < 0 or cell == block_cell:
                return None
            if " ".join(texts[cell].split()) != " ".join((node.text_lexbor() or "").split()):
                return None  # text beside the block: the block's spaces would fall inside
            block_cell = cell
    return _PlainTable(texts, starts, th_cells, thead_rows, caption)


def _spans(attributes: dict[str, str | None]) -> bool:
    """Does a cell with these attributes span? ("colspan=1" does not, nor does nonsense.)"""
    return ("colspan" in attributes or "rowspan" in attributes) and (
        _span_value(attributes.get("colspan")) != 1 or _span_value(attributes.get("rowspan")) != 1
    )


def _take_carried(carried: dict[int, tuple[int, str]], column: int) -> str:
    left, text = carried.pop(column)
    if left > 1:
        carried[column] = (left - 1, text)
    return text


def _has_figures(texts: list[str]) -> bool:
    return any(_looks_numeric(text) for text in texts[1:])


def _looks_numeric(text: str) -> bool:
    if not text:
        return False
    pair = split_pair(text)
    try:
        _parse_number(pair[0] if pair else text)
    except ValueError:
        return False
    return True


@dataclass
class _TableBuild:
    """A figure table being read: its columns, the level of its areas, the areas so far."""

    columns: list[Column]
    level: str
    series: list[Series]
    areas: list[Area] = field(default_factory=list)
    heading: str | None = None


def _read_tables(
    raw_tables: list[_RawTable], *, year: int | None, warnings: list[PageWarning]
) -> list[FigureTable]:
    """Figure tables in page order; per-county tables with one header become one table."""
    builds: dict[tuple[Any, ...], _TableBuild] = {}
    for number, raw in enumerate(raw_tables, start=1):
        columns = classify_columns(raw.headers, page_year=year)
        areas = {c.area for c in columns if c.area}
        series_columns = [c for c in columns if c.series]
        if not areas & {"municipality", "county", "municipality_number"} or not series_columns:
            continue
        level = "municipality" if areas & {"municipality", "municipality_number"} else "county"
        county_from_heading = level == "municipality" and "county" not in areas
        series: list[Series] = [s for c in series_columns for s in c.series]
        key = (level, tuple((s.key, s.header) for s in series), county_from_heading)
        build = builds.get(key)
        if build is None:
            build = builds[key] = _TableBuild(columns, level, series, heading=raw.heading)
            _warn_columns(columns, number, warnings)
        heading_county = _county_in_heading(raw.heading) if county_from_heading else None
        _read_areas(build, raw, heading_county=heading_county, warnings=warnings)
    tables = [
        FigureTable(tuple(b.series), tuple(b.areas), b.heading) for b in builds.values() if b.areas
    ]
    for table in tables:
        _number_areas(table, year=year, warnings=warnings)
    return tables


def _warn_columns(columns: list[Column], table_number: int, warnings: list[PageWarning]) -> None:
    claimed: dict[tuple[str, int | None, str], str] = {}
    for column in columns:
        for series in column.series:
            if series.measure == "unknown":
                warnings.append(
                    PageWarning(
                        "unknown-column",
                        f"table {table_number}: column {_quoted(column.header)} names no measure "
                        "(request, decision, settled); its figures are kept as an unknown series",
                        {"table": table_number, "header": _clip(column.header)},
                    )
                )
            elif series.key in claimed:
                warnings.append(
                    PageWarning(
                        "ambiguous-column",
                        f"table {table_number}: {_quoted(claimed[series.key])} and {_quoted(column.header)} "
                        f"both read as {series.label()}; both are kept, neither is chosen",
                        {
                            "table": table_number,
                            "headers": [_clip(claimed[series.key]), _clip(column.header)],
                        },
                    )
                )
            else:
                claimed[series.key] = column.header


def _read_areas(
    build: _TableBuild,
    raw: _RawTable,
    *,
    heading_county: str | None,
    warnings: list[PageWarning],
) -> None:
    columns = build.columns
    at = {c.area: c.index for c in columns if c.area}
    municipal = build.level == "municipality"
    name_at = at.get("municipality") if municipal else at.get("county")
    county_at = at.get("county") if municipal else None
    number_at = at.get("municipality_number") if municipal else at.get("county_number")
    series_columns = [c for c in columns if c.series]
    # Every row as wide as the widest column read: a missing cell reads as a blank one.
    width = 1 + max([c.index for c in columns], default=0)
    rows = [
        (position, texts if len(texts) >= width else texts + [""] * (width - len(texts)))
        for position, texts in raw.rows
        if "".join(texts)
    ]
    names = _labels(rows, name_at)
    counties = _labels(rows, county_at)
    numbers = _labels(rows, number_at)
    last_row = len(rows)
    totals = [
        (name is not None and _is_totals_label(name))
        or (county is not None and _is_totals_label(county))
        or (
            name is None
            and number is None
            and (county_at is None or county is None)
            and (county_at is not None or order == last_row)
        )
        for order, (name, county, number) in enumerate(
            zip(names, counties, numbers, strict=True), start=1
        )
    ]
    plain = _plain_values(
        [texts for (_, texts), total in zip(rows, totals, strict=True) if not total],
        series_columns,
    )
    body_values = iter(plain) if plain is not None else None
    level, areas = build.level, build.areas
    for (position, texts), name, county, number, total in zip(
        rows, names, counties, numbers, totals, strict=True
    ):
        if total:
            printed = _read_values(texts, series_columns, position, warnings)
            areas.append(Area("total", name or county, None, None, printed))
            continue
        if county is None and municipal:
            county = heading_county
        values = (
            next(body_values)
            if body_values is not None
            else _read_values(texts, series_columns, position, warnings)
        )
        areas.append(Area(level, name, number, county, values))


def _plain_values(
    rows: list[list[str]], columns: list[Column]
) -> list[tuple[int | None, ...]] | None:
    """Every row's figures when every cell is plain ("13", "", "780 (199)"), read column by
    column in C calls alone; None when some cell needs the long way (`_read_values`)."""
    series_columns: list[list[int | None]] = []
    try:
        for column in columns:
            cells = [texts[column.index] for texts in rows]
            if column.paired:  # "780 (199)": a total column and a minors column
                pairs = list(map(_PAIR_VALUES.__getitem__, cells))
                series_columns.append(list(map(_FIRST, pairs)))
                series_columns.append(list(map(_SECOND, pairs)))
            else:
                series_columns.append(list(map(_PLAIN_VALUES.__getitem__, cells)))
    except KeyError:
        return None
    return list(zip(*series_columns, strict=True))


_FIRST, _SECOND = itemgetter(0), itemgetter(1)


def _labels(rows: list[tuple[int, list[str]]], at: int | None) -> list[str | None]:
    """The name, county or number cell of every row (a footnote's note on a name is not news)."""
    if at is None:
        return [None] * len(rows)
    texts = [cells[at] for _, cells in rows]
    if not _MARKED_LABEL.search("\n".join(texts)):
        return [text or None for text in texts]
    return [text.partition(_NOTE)[0].rstrip(_NAME_MARKS).rstrip() or None for text in texts]


class _PlainCells(dict[str, Any]):
    """A memo of plain cells' values, bounded: `read(text)` gives the value of "" or "13", and
    raises KeyError for any other text (read that the long way)."""

    def __init__(self, read: Callable[[str], Any]) -> None:
        super().__init__()
        self.read = read

    def __missing__(self, text: str) -> Any:
        value = self.read(text)
        if len(self) >= 100_000:
            self.clear()
        self[text] = value
        return value


def _plain_number(text: str) -> int | None:
    if not text:
        return None
    if text.isascii() and text.isdigit() and len(text) <= _LONGEST_NUMBER:
        return int(text)
    raise KeyError(text)


def _plain_pair(text: str) -> tuple[int | None, int | None]:
    """'780 (199)' → (780, 199); '13' → (13, None): a paired column's two figures."""
    plain = _PLAIN_PAIR.match(text)
    if plain:
        return int(plain.group(1)), int(plain.group(2))
    return _plain_number(text), None


_PLAIN_VALUES = _PlainCells(_plain_number)
_PAIR_VALUES = _PlainCells(_plain_pair)


def _read_values(
    texts: list[str], columns: list[Column], position: int, warnings: list[PageWarning]
) -> tuple[int | None, ...]:
    values: list[int | None] = []
    width = len(texts)
    for column in columns:
        text = texts[column.index] if column.index < width else ""
        if column.paired:  # "780 (199)": the total, then the minors
            try:
                values += _PAIR_VALUES[text]
                continue
            except KeyError:  # not plain: the long way, with its warnings
                pass
            pair = split_pair(text)
            first, second = pair if pair else (text, "")
            values.append(_number(first, column, 0, position, warnings))
            values.append(_number(second, column, 1, position, warnings))
            continue
        try:
            values.append(_PLAIN_VALUES[text])
        except KeyError:
            values.append(_number(text, column, 0, position, warnings))
    return tuple(values)


def _number(
    text: str, column: Column, index: int, position: int, warnings: list[PageWarning]
) -> int | None:
    if _NOTE in text:
        text, _, note = text.partition(_NOTE)
        warnings.append(
            PageWarning(
                "cell-note",
                f"row {position}: {_quoted(column.header)} {_quoted(text)} has the footnote "
                f"{_quoted(note)}; the "
                "number is read without it",
                {
                    "row": position,
                    "header": _clip(column.header),
                    "text": _clip(text),
                    "note": _clip(note),
                },
            )
        )
    if (
        len(text) > _LONGEST_NUMBER
        and WHOLE_NUMBER.fullmatch(text)
        and sum(map(str.isdigit, text)) > _LONGEST_NUMBER
    ):  # beyond any count, and int() refuses 4 300 digits: _bound_tables blanks it and warns
        return -_TOO_LONG if text[0] in "−-" else _TOO_LONG
    try:
        return _parse_number(text)
    except ValueError:
        # Neither blank nor a number: keep None, but say so (it must not pass for blank).
        series = column.series[index]
        field_name = series_field(series, series.year)
        warnings.append(
            PageWarning(
                "unreadable-cell",
                f"row {position}: {field_name} {_quoted(text)} is not a number",
                {
                    "row": position,
                    "field": field_name,
                    "header": _clip(column.header),
                    "text": _clip(text),
                },
            )
        )
        return None


def _quoted(text: str) -> str:
    """Page text quoted in a warning's one line: at most 60 characters of it."""
    return repr(text if len(text) <= 60 else f"{text[:59]}…")


def _clip(text: str) -> str:
    """Page text kept in a warning's details: at most 200 characters of it."""
    return text if len(text) <= 200 else f"{text[:199]}…"


@lru_cache(maxsize=4096)
def _is_totals_label(text: str) -> bool:
    return len(text) < 25 and fold(text).strip(" :") in _TOTALS_LABELS


def _county_in_heading(heading: str | None) -> str | None:
    """'Vestland', 'Fylke: Vestland', 'Kommunar i Vestland' → 'Vestland', when it names a county."""
    if not heading:
        return None
    names = county_names()
    key = fold(heading)
    if key in names:
        return names[key]
    for folded, name in sorted(names.items(), key=lambda item: -len(item[0])):
        if re.search(rf"(?:^|\b(?:i|fylke:?)\s+){re.escape(folded)}$", key):
            return name
    return None


def _number_areas(table: FigureTable, *, year: int | None, warnings: list[PageWarning]) -> None:
    """Municipality numbers from the reference list of the era the table's counties name."""
    if not any(a.level == "municipality" for a in table.areas):
        return
    counties = {a.county for a in table.areas if a.level == "municipality"}
    register = load_register(choose_structure(counties, year=year))
    for position, area in enumerate(table.areas, start=1):
        if area.level != "municipality":
            continue
        if area.name is None:
            warnings.append(
                PageWarning(
                    "missing-name",
                    f"row {position} ({area.county or 'no county'}) has figures but no "
                    "municipality name",
                    {"row": position, "county": area.county},
                )
            )
            continue
        if area.number is None:
            area.number = register.lookup(area.name, area.county)
        if area.number is None:
            warnings.append(
                PageWarning(
                    "unknown-municipality",
                    f"row {position}: {_quoted(area.name)} ({area.county or 'no county'}) is not in the "
                    f"{register.structure} list of municipalities",
                    {"row": position, "municipality": _clip(area.name), "county": area.county},
                )
            )


# --- validation ------------------------------------------------------------------------------


def _validate(
    *,
    tables: list[FigureTable],
    main: tuple[FigureTable, str, list[int | None]] | None,
    headline: Headline,
    updated: str | None,
) -> list[PageWarning]:
    warnings: list[PageWarning] = []
    if not tables:
        warnings.append(PageWarning("no-table", "the page has no table of municipalities"))
    else:
        for table in tables:
            warnings += _check_duplicates(table)
            warnings += _check_sums(table)
    if main is not None:
        table, level, (at_total, at_minors, at_15_18, at_under_15) = main

        areas = [a for a in table.areas if a.level == level]
        total = next((a for a in table.areas if a.level == "total"), None)
        if total is None and areas and not any(a.level == "total" for t in tables for a in t.areas):
            warnings.append(PageWarning("no-totals", "the table has no totals row"))
        if level == "municipality":
            requested = [a.values[at_total] or 0 for a in areas] if at_total is not None else []
            minors = [a.values[at_minors] or 0 for a in areas] if at_minors is not None else []
            implied = {
                "municipalities": sum(1 for v in requested if v > 0),
                "refugees": sum(requested),
                "minor_municipalities": sum(1 for v in minors if v > 0),
                "minors": sum(minors),
            }
            for name in HEADLINE_FIELDS:
                stated = getattr(headline, name)
                if stated is not None and stated != implied[name]:
                    warnings.append(
                        PageWarning(
                            "headline-mismatch",
                            f"the lead says {name} = {stated}, the table implies {implied[name]}",
                            {"field": name, "headline": stated, "table": implied[name]},
                        )
                    )
        if at_minors is not None and (at_15_18 is not None or at_under_15 is not None):
            for area in [*areas, *([total] if total else [])]:
                whole = area.values[at_minors]
                older = area.values[at_15_18] if at_15_18 is not None else None
                younger = area.values[at_under_15] if at_under_15 is not None else None
                if whole is None or (older is None and younger is None):
                    continue
                if whole != (older or 0) + (younger or 0):
                    where = (area.name if area.level != "total" else None) or "totals"
                    warnings.append(
                        PageWarning(
                            "minors-split-mismatch",
                            f"{where}: minors {whole} ≠ 15–18 {older} + under 15 {younger}",
                            {"municipality": where, "minors": whole},
                        )
                    )
    if updated is None:
        warnings.append(PageWarning("no-updated-date", 'no "Sist oppdatert" date on the page'))
    return warnings


def _check_sums(table: FigureTable) -> list[PageWarning]:
    """A printed total that the rows do not add up to is a warning, never a reason to hide the
    rows' changes: IMDi's own tables do not always add up."""
    warnings: list[PageWarning] = []
    totals = [a for a in table.areas if a.level == "total"]
    if len(totals) != 1:
        return warnings
    (total,) = totals
    values = [a.values for a in table.areas if a.level != "total"]
    for index, series in enumerate(table.series):
        printed = total.values[index]
        if printed is None:
            continue
        column_sum = sum(filter(None, [v[index] for v in values]))
        if printed != column_sum:
            field_name = PART_FIELDS[series.part] if series.measure == "request" else series.label()
            warnings.append(
                PageWarning(
                    "sum-mismatch",
                    f"{series.label()}: the rows sum to {column_sum}, the totals row says {printed}",
                    {"field": field_name, "series": series.key_dict(), "sum": column_sum,
                     "printed": printed},
                )
            )  # fmt: skip
    return warnings


def _check_duplicates(table: FigureTable) -> list[PageWarning]:
    named = [(a, a.name) for a in table.areas if a.name is not None and a.level != "total"]
    keys = [
        (a.level, a.number) if a.number else (a.level, fold(name), a.county) for a, name in named
    ]
    seen: set[tuple[str | None, ...]] = set()
    warnings: list[PageWarning] = []
    if len(set(keys)) == len(keys):
        return warnings  # the usual case, in C
    for (area, _), key in zip(named, keys, strict=True):
        if key in seen:
            warnings.append(
                PageWarning(
                    "duplicate-municipality",
                    f"{area.name} ({area.county}) appears more than once",
                    {"municipality": area.name, "county": area.county},
                )
            )
        seen.add(key)
    return warnings
