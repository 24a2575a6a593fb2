"""Read the meaning of an IMDi "Oppmoding om busetting" page: HTML in, a `Page` out. Pure.

The table is found by what its header says ("Kommune", "Fylke"), never by CSS classes, so the
parser keeps working when IMDi changes templates; problems become warnings, not exceptions.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from scraper.errors import ParseError
from scraper.models import (
    FIGURE_FIELDS,
    HEADLINE_FIELDS,
    Headline,
    Page,
    PageWarning,
    Row,
    Section,
    Totals,
)
from scraper.municipalities import choose_structure, load_register
from scraper.norsk import NUMBER_PATTERN, detect_language, fold, normalize_space, parse_date
from scraper.norsk import parse_number as _parse_number

# Bumped whenever a change here can change what is read from a page (stored with each revision).
PARSER_VERSION = "1"

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
# lexbor's numeric ids of <td> and <th>: comparing ints is the cheapest test in the table loop.
_CELL_TAG_IDS = frozenset(
    cell.tag_id
    for cell in LexborHTMLParser("<table><tr><th></th><td></td></tr></table>").css("td,th")
)
_SKIP_IN_TEXT = frozenset({"table", "h1"})
_LOOKS_LIKE_HTML = re.compile(
    rb"<\s*(?:!doctype|html|head|body|div|p|table|h1|article|main)\b", re.I
)
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.I)
_UPDATED = re.compile(r"^\s*sist\s+(?:oppdatert|endra|endret|endret dato)\b", re.I)
_SITE_SUFFIX = re.compile(r"\s*(?:[|–—-]\s*IMDi\s*$|^\s*IMDi\s*[|–—-]\s*)", re.I)
_YEAR_IN_TITLE = re.compile(r"\b(?:for|i)\s+(20\d\d)\b")
_YEAR = re.compile(r"\b(20\d\d)\b")
_NUM = rf"({NUMBER_PATTERN})"
_HEADLINE_MAIN = re.compile(
    rf"\bbedt\s+{_NUM}\s+(?:norske\s+)?kommun\w*[^.]*?\b(?:ta\s+imot|busette|bosette)\s+{_NUM}"
    rf"\s+(?:\w+\s+)?flyktning",
    re.I,
)
_HEADLINE_MINORS = re.compile(
    rf"\b{_NUM}\s+kommun\w*\s+(?:oppmoda|anmodet|anmoda|bedt)[^.]*?\b{_NUM}\s+(?:einslege|enslige)",
    re.I,
)
_TOTALS_LABELS = frozenset({"sum", "totalt", "total", "i alt", "til saman", "til sammen", "samla"})


def parse_page(html: bytes | str, *, encoding: str | None = None) -> Page:
    """Parse one page. Raises ParseError only for input that is not an HTML page at all."""
    text = _decode(html, encoding)
    tree = LexborHTMLParser(text)
    declared_lang = tree.root.attributes.get("lang") if tree.root else None
    body = tree.body
    if body is None:
        raise ParseError("not an HTML page: it has no <body>")
    content = _content_root(body)

    title = _read_title(tree, content)
    reader = _TextReader()
    reader.read(content)
    table = _find_table(content)
    table_read = _read_table(table) if table is not None else None
    plain_text = " ".join(p for s in reader.sections for p in s.paragraphs)
    language = detect_language(
        " ".join(
            filter(None, [title, plain_text[:4000], *(table_read.header if table_read else ())])
        ),
        declared=declared_lang,
    )
    updated = reader.updated or _find_time_datetime(content)
    headline = _read_headline(plain_text)
    year = _read_year(title, table_read, plain_text)

    rows: tuple[Row, ...] = ()
    totals: Totals | None = None
    warnings: list[PageWarning] = []
    if table_read is not None:
        rows, warnings = _build_rows(table_read, year=year)
        totals = table_read.totals
    warnings += _validate(
        has_table=table_read is not None, rows=rows, totals=totals, headline=headline,
        updated=updated,
    )  # fmt: skip

    content_fields: dict[str, Any] = {
        "title": title,
        "language": language,
        "updated": updated,
        "year": year,
        "headline": headline.to_dict(),
        "sections": [s.to_dict() for s in reader.sections],
        "rows": [
            (
                r.municipality,
                r.county,
                r.municipality_number,
                r.requested,
                r.minors,
                r.minors_15_18,
                r.minors_under_15,
            )
            for r in rows
        ],
        "totals": totals.to_dict() if totals else None,
    }
    return Page(
        title=title,
        language=language,
        updated=updated,
        year=year,
        headline=headline,
        sections=tuple(reader.sections),
        rows=rows,
        totals=totals,
        warnings=tuple(warnings),
        fingerprint=fingerprint_content(content_fields),
        has_table=table_read is not None,
    )


def fingerprint_content(content_fields: dict[str, Any]) -> str:
    """SHA-256 of the parsed content in canonical JSON: markup, tokens and scripts do not count."""
    canonical = json.dumps(
        content_fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- input -----------------------------------------------------------------------------------


def _decode(html: bytes | str, encoding: str | None) -> str:
    if isinstance(html, str):
        raw_head = html[:4096].encode("utf-8", "replace")
        if not _LOOKS_LIKE_HTML.search(raw_head) and "<" not in html[:4096]:
            raise ParseError("not an HTML page: no HTML tags in the input")
        return html
    if b"\x00" in html[:4096] or html[:5] == b"%PDF-":
        raise ParseError("not an HTML page: the input is binary")
    if not _LOOKS_LIKE_HTML.search(html[:65536]):
        raise ParseError("not an HTML page: no HTML tags in the input")
    if html.startswith(b"\xef\xbb\xbf"):
        return html[3:].decode("utf-8", "replace")
    if encoding is None:
        match = _CHARSET.search(html[:4096])
        encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return html.decode(encoding, "replace")
    except LookupError:
        return html.decode("utf-8", "replace")


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
    updated: str | None = None
    _heading: str | None = None
    _paragraphs: list[str] = field(default_factory=list)
    _inline: list[str] = field(default_factory=list)
    _bullet_pending: bool = False

    def read(self, root: LexborNode) -> None:
        self._walk(root)
        self._flush_inline()
        self._close_section()

    def _walk(self, node: LexborNode) -> None:
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
            elif tag == "li":
                self._flush_inline()
                self._bullet_pending = True
                self._walk(child)
                self._flush_inline()
                self._bullet_pending = False
            elif tag in _BLOCK_TAGS:
                self._flush_inline()
                self._walk(child)
                self._flush_inline()
            else:
                self._inline.append(child.text(deep=True))

    def _flush_inline(self) -> None:
        if not self._inline:
            return
        text = normalize_space("".join(self._inline))
        self._inline.clear()
        if not text:
            return
        if _UPDATED.match(text):
            self.updated = self.updated or parse_date(text)
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


def _find_time_datetime(content: LexborNode) -> str | None:
    for node in content.css("time[datetime]"):
        parent_text = normalize_space((node.parent or node).text(deep=True))
        if _UPDATED.match(parent_text):
            return parse_date(node.attributes.get("datetime") or "")
    return None


def _read_headline(text: str) -> Headline:
    main = _HEADLINE_MAIN.search(text)
    minors = _HEADLINE_MINORS.search(text)
    return Headline(
        municipalities=_parse_number(main.group(1)) if main else None,
        refugees=_parse_number(main.group(2)) if main else None,
        minor_municipalities=_parse_number(minors.group(1)) if minors else None,
        minors=_parse_number(minors.group(2)) if minors else None,
    )


def _read_year(title: str | None, table: _TableRead | None, text: str) -> int | None:
    """The request year: from the title ("… for 2022"), else the table header, else the lead."""
    candidates = [title or "", *(table.header if table else ()), text[:400]]
    for pattern in (_YEAR_IN_TITLE, _YEAR):
        for candidate in candidates:
            match = pattern.search(candidate)
            if match:
                return int(match.group(1))
    return None


# --- the table -------------------------------------------------------------------------------


@dataclass
class _TableRead:
    header: list[str]
    cells: list[tuple[int, list[str]]]  # (row position, cell texts) of the municipal rows
    columns: dict[str, int]  # field → column index, first column that says it
    totals: Totals | None


def _column_field(header: str) -> str | None:
    """Which figure a column holds, from its header's words in either written standard."""
    key = fold(header).replace("–", "-").replace("—", "-")
    if key.startswith(("kommunenr", "kommunenummer", "knr")):
        return "municipality_number"
    if key.startswith("kommune"):
        return "municipality"
    if key.startswith("fylke"):
        return "county"
    if re.search(r"15\s*-\s*18", key):
        return "minors_15_18"
    if re.search(r"(?:<|under)\s*15", key):
        return "minors_under_15"
    if "mindrearig" in key or "einsleg" in key or "enslig" in key:
        return "minors"
    if re.search(r"\b(?:endeleg|endelig|tal|tall|oppmoding|anmodning|busett|bosett|20\d\d)", key):
        return "requested"
    return None


def _cell_texts(row: LexborNode) -> list[str]:
    # str.split() splits on every Unicode space, NBSP included: normalize_space, but in C.
    return [
        " ".join((c.text_lexbor() or "").split()) for c in row.iter() if c.tag_id in _CELL_TAG_IDS
    ]


def _header_columns(texts: list[str]) -> dict[str, int] | None:
    """Field → column index when these cells are the table's header, else None."""
    columns: dict[str, int] = {}
    for index, text in enumerate(texts):
        column = _column_field(text)
        if column is not None and column not in columns:
            columns[column] = index
    return columns if {"municipality", "county"} <= columns.keys() else None


def _find_table(content: LexborNode) -> LexborNode | None:
    for table in content.css("table"):
        if _inside_boilerplate(table):
            continue
        if any(_header_columns(_cell_texts(row)) for row in table.css("tr")[:3]):
            return table
    return None


def _read_table(table: LexborNode) -> _TableRead:
    all_rows = table.css("tr")
    header_index, columns = 0, {}
    for index, tr in enumerate(all_rows[:3]):
        found = _header_columns(_cell_texts(tr))
        if found:
            header_index, columns = index, found
            break
    header = _cell_texts(all_rows[header_index])
    name_at, county_at = columns["municipality"], columns["county"]
    cells: list[tuple[int, list[str]]] = []
    totals: Totals | None = None
    for position, tr in enumerate(all_rows[header_index + 1 :], start=1):
        texts = _cell_texts(tr)
        if not "".join(texts):
            continue
        name = texts[name_at] if name_at < len(texts) else ""
        county = texts[county_at] if county_at < len(texts) else ""
        if _is_totals_row(name, county):
            totals = Totals(**_read_figures(texts, columns, position, warnings=None))
            continue
        cells.append((position, texts))
    return _TableRead(header=header, cells=cells, columns=columns, totals=totals)


def _read_figures(
    texts: list[str], columns: dict[str, int], position: int, *, warnings: list[PageWarning] | None
) -> dict[str, int | None]:
    figures: dict[str, int | None] = {}
    for name in FIGURE_FIELDS:
        index = columns.get(name)
        text = texts[index] if index is not None and index < len(texts) else ""
        try:
            figures[name] = _parse_number(text)
        except ValueError:
            # Neither blank nor a number: keep None, but say so (it must not pass for blank).
            figures[name] = None
            if warnings is not None:
                warnings.append(
                    PageWarning(
                        "unreadable-cell",
                        f"row {position}: {name} {text!r} is not a number",
                        {"row": position, "field": name, "text": text},
                    )
                )
    return figures


def _is_totals_row(name: str, county: str) -> bool:
    if not name and not county:
        return True
    return name.casefold() in _TOTALS_LABELS or county.casefold() in _TOTALS_LABELS


def _build_rows(
    table: _TableRead, *, year: int | None
) -> tuple[tuple[Row, ...], list[PageWarning]]:
    """Rows with figures and municipality numbers from the reference list their counties use."""
    columns = table.columns
    name_at, county_at = columns["municipality"], columns["county"]
    number_at = columns.get("municipality_number")
    figure_at = [columns.get(name, -1) for name in FIGURE_FIELDS]
    if -1 in figure_at:
        figure_at, last_figure_at = [], 1 << 30  # a column is missing: always the careful way
    else:
        last_figure_at = max(figure_at)
    register = load_register(
        choose_structure({t[county_at] for _, t in table.cells if county_at < len(t)}, year=year)
    )
    rows: list[Row] = []
    warnings: list[PageWarning] = []
    for position, texts in table.cells:
        width = len(texts)
        name = (texts[name_at] if name_at < width else "") or None
        county = (texts[county_at] if county_at < width else "") or None
        printed_number = texts[number_at] if number_at is not None and number_at < width else ""
        number = printed_number or register.lookup(name, county)
        if name is None:
            warnings.append(
                PageWarning(
                    "missing-name",
                    f"row {position} ({county or 'no county'}) has figures but no municipality name",
                    {"row": position, "county": county},
                )
            )
        elif number is None:
            warnings.append(
                PageWarning(
                    "unknown-municipality",
                    f"row {position}: {name!r} ({county or 'no county'}) is not in the "
                    f"{register.structure} list of municipalities",
                    {"row": position, "municipality": name, "county": county},
                )
            )
        try:  # fast path for plain cells ("13", ""); int() refuses "5 500", which goes the long way
            if width <= last_figure_at:
                raise ValueError
            plain = [texts[i] for i in figure_at]
            # int() also takes "+5" and "1_000", which parse_number calls unreadable
            joined = "".join(plain)
            if joined and not joined.isdigit():
                raise ValueError
            row = Row(name, county, number, *[int(text) if text else None for text in plain])
        except ValueError:
            row = Row(
                name, county, number, **_read_figures(texts, columns, position, warnings=warnings)
            )
        rows.append(row)
    return tuple(rows), warnings


# --- validation ------------------------------------------------------------------------------


def _count(rows: Iterable[Row], pick: Callable[[Row], int | None]) -> int:
    return sum(1 for row in rows if (pick(row) or 0) > 0)


def _validate(
    *,
    has_table: bool,
    rows: tuple[Row, ...],
    totals: Totals | None,
    headline: Headline,
    updated: str | None,
) -> list[PageWarning]:
    warnings: list[PageWarning] = []
    if not has_table:
        warnings.append(PageWarning("no-table", "the page has no table of municipalities"))
    else:
        warnings += _check_duplicates(rows)
        if totals is None:
            warnings.append(PageWarning("no-totals", "the table has no totals row"))
        else:
            for name in FIGURE_FIELDS:
                printed = getattr(totals, name)
                column_sum = sum(getattr(r, name) or 0 for r in rows)
                if printed is not None and printed != column_sum:
                    warnings.append(
                        PageWarning(
                            "sum-mismatch",
                            f"{name}: the rows sum to {column_sum}, the totals row says {printed}",
                            {"field": name, "sum": column_sum, "printed": printed},
                        )
                    )
        implied = {
            "municipalities": _count(rows, lambda r: r.requested),
            "refugees": sum(r.requested or 0 for r in rows),
            "minor_municipalities": _count(rows, lambda r: r.minors),
            "minors": sum(r.minors or 0 for r in rows),
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
        for row in (*rows, *([totals] if totals else [])):
            split = (row.minors_15_18, row.minors_under_15)
            if row.minors is None or split == (None, None):
                continue
            if row.minors != (split[0] or 0) + (split[1] or 0):
                where = getattr(row, "municipality", None) or "totals"
                warnings.append(
                    PageWarning(
                        "minors-split-mismatch",
                        f"{where}: minors {row.minors} ≠ 15–18 {split[0]} + under 15 {split[1]}",
                        {"municipality": where, "minors": row.minors},
                    )
                )
    if updated is None:
        warnings.append(PageWarning("no-updated-date", 'no "Sist oppdatert" date on the page'))
    return warnings


def _check_duplicates(rows: tuple[Row, ...]) -> list[PageWarning]:
    seen: set[tuple[str | None, ...]] = set()
    warnings: list[PageWarning] = []
    for row in rows:
        if row.municipality is None:
            continue
        key = (
            (row.municipality_number,)
            if row.municipality_number
            else (fold(row.municipality), row.county)
        )
        if key in seen:
            warnings.append(
                PageWarning(
                    "duplicate-municipality",
                    f"{row.municipality} ({row.county}) appears more than once",
                    {"municipality": row.municipality, "county": row.county},
                )
            )
        seen.add(key)
    return warnings
