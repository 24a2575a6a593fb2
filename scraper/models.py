"""Frozen dataclasses at the seams between modules: the parsed page, fetches, revisions, changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

FIGURE_FIELDS: tuple[str, ...] = ("requested", "minors", "minors_15_18", "minors_under_15")
HEADLINE_FIELDS: tuple[str, ...] = ("municipalities", "refugees", "minor_municipalities", "minors")

# A series is (measure, year, part); its part says which share of the measure it counts.
PARTS: tuple[str, ...] = ("total", "minors", "minors_15_18", "minors_under_15")
LEVELS: tuple[str, ...] = ("municipality", "county", "total")
# Every code a PageWarning may carry (README "Warnings" lists them with their meaning).
WARNING_CODES: frozenset[str] = frozenset({
    "no-table", "missing-name", "no-totals", "sum-mismatch", "headline-mismatch",
    "minors-split-mismatch", "unknown-municipality", "duplicate-municipality", "no-updated-date",
    "unreadable-cell", "unknown-column", "ambiguous-column", "lead-unread",
    "ambiguous-key-figure", "encoding-fallback", "nesting-too-deep", "number-too-large",
    "cell-note",
})  # fmt: skip
# The legacy `Row` fields are the request series' parts, in this order.
PART_FIELDS: dict[str, str] = dict(zip(PARTS, FIGURE_FIELDS, strict=True))
MEASURE_LABELS: dict[str, dict[str, str]] = {
    "nn": {"request": "Oppmoding", "decision": "Vedtak", "settled": "Busett", "unknown": "Kolonne"},
    "nb": {"request": "Anmodning", "decision": "Vedtak", "settled": "Bosatt", "unknown": "Kolonne"},
}
PART_LABELS: dict[str, str] = {
    "total": "",
    "minors": "einslege mindreårige",
    "minors_15_18": "einslege mindreårige 15–18 år",
    "minors_under_15": "einslege mindreårige under 15 år",
}
# The code of the warning-added change that stands in for all row changes of a broken revision
# (diff writes it, report reads it).
BROKEN_REVISION = "broken-revision"


@dataclass(frozen=True, slots=True)
class Series:
    """What one column of figures counts: (measure, year, part); `header` is the column as printed
    (kept for people and for `unknown` columns, not part of the identity)."""

    measure: str
    year: int | None
    part: str = "total"
    header: str = field(default="", compare=False)

    @property
    def key(self) -> tuple[str, int | None, str]:
        return (self.measure, self.year, self.part)

    def label(self, language: str | None = None) -> str:
        """'Vedtak 2023', 'Oppmoding 2022 · einslege mindreårige', an unknown column's header."""
        if self.measure == "unknown":
            return self.header or "unknown column"
        words = MEASURE_LABELS.get(language or "nn", MEASURE_LABELS["nn"])[self.measure]
        text = f"{words} {self.year}" if self.year is not None else words
        return f"{text} · {PART_LABELS[self.part]}" if PART_LABELS.get(self.part) else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "year": self.year,
            "part": self.part,
            "header": self.header,
        }

    def key_dict(self) -> dict[str, Any]:
        return {"measure": self.measure, "year": self.year, "part": self.part}


def series_field(series: Series, page_year: int | None) -> str:
    """The `field` of a figure change: the legacy names for the request of the page's year."""
    if series.measure == "request" and series.year in (page_year, None):
        return PART_FIELDS[series.part]
    if series.measure == "unknown":
        return f"unknown:{series.header}"
    name = f"{series.measure}_{series.year}" if series.year is not None else series.measure
    return name if series.part == "total" else f"{name}_{PART_FIELDS[series.part]}"


@dataclass(slots=True)
class Area:
    """One line of a figure table: a municipality, a county, or a printed totals row (level
    `total`). `values` line up with the table's series; None is a blank cell, 0 a printed zero."""

    level: str
    name: str | None
    number: str | None
    county: str | None
    values: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class FigureTable:
    """The figures of one logical table: its series (columns) and areas (rows). Per-county tables
    with one header are one logical table; `heading` is the heading above the first of them."""

    series: tuple[Series, ...]
    areas: tuple[Area, ...]
    heading: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Figure:
    """One value of one area in one series (the long form of a table cell)."""

    level: str
    area: str | None
    number: str | None
    county: str | None
    series: Series
    value: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "area": self.area,
            "number": self.number,
            "county": self.county,
            **self.series.key_dict(),
            "value": self.value,
        }


@dataclass(frozen=True, slots=True)
class Statement:
    """A sentence that holds numbers: its template ('{} personer har …') and the numbers."""

    section: str | None
    template: str
    values: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "template": self.template, "values": list(self.values)}


@dataclass(frozen=True, slots=True)
class KeyFigure:
    """A figure the text states with meaning: 'IMDi ber kommunane ta imot 37 000 flyktningar'."""

    measure: str
    subject: str  # "refugees" or "municipalities"
    part: str
    year: int | None
    value: int
    qualifier: str | None = None  # "at-least", "about", "at-most"

    @property
    def key(self) -> tuple[str, str, str, int | None]:
        return (self.measure, self.subject, self.part, self.year)

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "subject": self.subject,
            "part": self.part,
            "year": self.year,
            "value": self.value,
            "qualifier": self.qualifier,
        }


@dataclass(frozen=True, slots=True)
class Headline:
    """The figures of the lead sentence; None where the lead does not say."""

    municipalities: int | None = None
    refugees: int | None = None
    minor_municipalities: int | None = None
    minors: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in HEADLINE_FIELDS}


@dataclass(slots=True)
class Row:
    """One municipality's line of the table. None is a blank cell; 0 is a printed zero.

    Read-only by convention, not frozen: a page has 356 rows and a frozen __init__ costs five
    times as much, a third of the parser's time budget.
    """

    municipality: str | None
    county: str | None
    municipality_number: str | None
    requested: int | None = None
    minors: int | None = None
    minors_15_18: int | None = None
    minors_under_15: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "municipality": self.municipality,
            "county": self.county,
            "municipality_number": self.municipality_number,
            **self.figures(),
        }

    def figures(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in FIGURE_FIELDS}


@dataclass(frozen=True, slots=True)
class Totals:
    """The totals row as printed under the table."""

    requested: int | None = None
    minors: int | None = None
    minors_15_18: int | None = None
    minors_under_15: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in FIGURE_FIELDS}


@dataclass(frozen=True, slots=True)
class PageWarning:
    """Something about the page that looks wrong; `details` adds machine-readable context."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PageWarning:
        rest = {k: v for k, v in data.items() if k not in ("code", "message")}
        return cls(code=data["code"], message=data["message"], details=rest)


@dataclass(frozen=True, slots=True)
class Section:
    """A heading and the paragraphs and list items ("• …") under it; heading None before the first."""

    heading: str | None
    paragraphs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"heading": self.heading, "paragraphs": list(self.paragraphs)}


@dataclass(frozen=True, slots=True)
class Page:
    """Everything imdi-watch reads from one HTML page."""

    title: str | None
    language: str | None  # "nn" or "nb"
    updated: str | None  # ISO date of "Sist oppdatert"
    year: int | None
    headline: Headline
    sections: tuple[Section, ...]
    warnings: tuple[PageWarning, ...]
    fingerprint: str
    tables: tuple[FigureTable, ...] = ()
    statements: tuple[Statement, ...] = ()
    key_figures: tuple[KeyFigure, ...] = ()
    # rows and totals, worked out once on first use (the page is immutable)
    _legacy: tuple[tuple[Row, ...], Totals | None] | None = field(
        default=None, init=False, compare=False, repr=False
    )

    @property
    def has_table(self) -> bool:
        return any(table.areas for table in self.tables)

    @property
    def rows(self) -> tuple[Row, ...]:
        """The request series of the page's year as legacy rows: municipal rows where the page
        has them, else county rows (the county's name in `county`)."""
        return self._legacy_rows()[0]

    @property
    def totals(self) -> Totals | None:
        """The printed totals of the table that gives `rows`."""
        return self._legacy_rows()[1]

    def _legacy_rows(self) -> tuple[tuple[Row, ...], Totals | None]:
        if self._legacy is None:
            object.__setattr__(self, "_legacy", legacy_rows(self.tables, self.year))
        assert self._legacy is not None
        return self._legacy

    @property
    def all_series(self) -> tuple[Series, ...]:
        """Every series of every table, once each, in page order."""
        seen: dict[tuple[str, int | None, str], Series] = {}
        for table in self.tables:
            for series in table.series:
                seen.setdefault(series.key, series)
        return tuple(seen.values())

    def figures(self) -> list[Figure]:
        """Every cell of every table in long form, blanks included (value None)."""
        return [figure for table in self.tables for figure in _table_figures(table)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "language": self.language,
            "updated": self.updated,
            "year": self.year,
            "headline": self.headline.to_dict(),
            "sections": [s.to_dict() for s in self.sections],
            "rows": [r.to_dict() for r in self.rows],
            "totals": self.totals.to_dict() if self.totals else None,
            "warnings": [w.to_dict() for w in self.warnings],
            "fingerprint": self.fingerprint,
            "series": [
                {**s.to_dict(), "table": number}
                for number, table in enumerate(self.tables)
                for s in table.series
            ],
            "figures": [
                {**f.to_dict(), "table": number}
                for number, table in enumerate(self.tables)
                for f in _table_figures(table)
            ],
            "statements": [s.to_dict() for s in self.statements],
            "key_figures": [k.to_dict() for k in self.key_figures],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Page:
        """Rebuild a page from `to_dict()` output (the --json shape)."""
        return cls(
            title=data.get("title"),
            language=data.get("language"),
            updated=data.get("updated"),
            year=data.get("year"),
            headline=Headline(**(data.get("headline") or {})),
            sections=tuple(
                Section(s.get("heading"), tuple(s.get("paragraphs") or ()))
                for s in data.get("sections") or ()
            ),
            warnings=tuple(PageWarning.from_dict(w) for w in data.get("warnings") or ()),
            fingerprint=data.get("fingerprint", ""),
            tables=_tables_from_dicts(data.get("series") or (), data.get("figures") or ()),
            statements=tuple(
                Statement(s.get("section"), s["template"], tuple(s.get("values") or ()))
                for s in data.get("statements") or ()
            ),
            key_figures=tuple(KeyFigure(**k) for k in data.get("key_figures") or ()),
        )


def main_request(
    tables: Sequence[FigureTable], year: int | None
) -> tuple[FigureTable, str, list[int | None]] | None:
    """The table whose request series of `year` make the legacy rows — at municipality level
    where one has them, else county level — with that level and, per part (PARTS order), the
    index of its series (None where the table lacks that part)."""
    for level in ("municipality", "county"):
        for table in tables:
            if not any(a.level == level for a in table.areas):
                continue
            at = {
                s.part: i
                for i, s in enumerate(table.series)
                if s.measure == "request" and (s.year == year or year is None or s.year is None)
            }
            if "total" in at:
                return table, level, [at.get(part) for part in PARTS]
    return None


def legacy_rows(
    tables: Sequence[FigureTable], year: int | None
) -> tuple[tuple[Row, ...], Totals | None]:
    """Rows and totals of the request series of `year` (see `main_request`)."""
    main = main_request(tables, year)
    if main is None:
        return (), None
    table, level, index = main
    whole = index == list(range(len(table.series)))  # the values are the row as it is
    rows: list[Row] = []
    totals: Totals | None = None
    for area in table.areas:
        values = (
            area.values if whole else [area.values[i] if i is not None else None for i in index]
        )
        if area.level == "total":
            totals = Totals(*values)
        elif area.level == level == "municipality":
            rows.append(Row(area.name, area.county, area.number, *values))
        elif area.level == level:
            rows.append(Row(None, area.name, area.number, *values))
    return tuple(rows), totals


def request_table(
    rows: Sequence[Row], totals: Totals | None = None, *, year: int | None = None
) -> FigureTable:
    """The request series of one year as a figure table, from legacy rows and totals."""
    series = tuple(Series("request", year, part) for part in PARTS)
    areas = [
        Area("municipality", r.municipality, r.municipality_number, r.county,
             tuple(getattr(r, name) for name in FIGURE_FIELDS))
        for r in rows
    ]  # fmt: skip
    if totals is not None:
        areas.append(
            Area("total", None, None, None, tuple(getattr(totals, n) for n in FIGURE_FIELDS))
        )
    return FigureTable(series, tuple(areas))


def _table_figures(table: FigureTable) -> list[Figure]:
    return [
        Figure(area.level, area.name, area.number, area.county, series, value)
        for area in table.areas
        for series, value in zip(table.series, area.values, strict=True)
    ]


def _tables_from_dicts(
    series: Sequence[dict[str, Any]], figures: Sequence[dict[str, Any]]
) -> tuple[FigureTable, ...]:
    """Tables back from the long `series`/`figures` lists of `Page.to_dict()`."""
    columns: dict[int, list[Series]] = {}
    for item in series:
        columns.setdefault(item.get("table", 0), []).append(
            Series(item["measure"], item["year"], item["part"], item.get("header") or "")
        )
    # Figures come area by area, each area's series in column order: runs of len(series).
    rows: dict[int, list[dict[str, Any]]] = {n: [] for n in columns}
    for item in figures:
        rows.setdefault(item.get("table", 0), []).append(item)
    areas: dict[int, list[Area]] = {}
    for number, items in rows.items():
        width = len(columns.get(number, ())) or 1
        areas[number] = [
            Area(
                run[0]["level"], run[0]["area"], run[0]["number"], run[0]["county"],
                tuple(item["value"] for item in run),
            )
            for run in (items[i : i + width] for i in range(0, len(items), width))
        ]  # fmt: skip
    return tuple(
        FigureTable(
            tuple(columns[n]),
            tuple(areas.get(n, ())),
        )
        for n in sorted(columns)
    )


@dataclass(frozen=True, slots=True)
class PageRecord:
    id: int
    name: str
    url: str


@dataclass(frozen=True, slots=True)
class RevisionRecord:
    """One distinct parsed content of a page; `snapshot` is the SHA-256 of its raw body."""

    id: int
    page_id: int
    fingerprint: str
    first_seen: str
    last_seen: str
    snapshot: str
    title: str | None
    language: str | None
    updated: str | None
    year: int | None
    headline: Headline
    totals: Totals | None
    row_count: int
    warnings: tuple[PageWarning, ...]
    parser_version: str | None
    has_table: bool = True


@dataclass(frozen=True, slots=True)
class RevisionStamp:
    """A revision named by its id and dates, as history lists it."""

    id: int
    first_seen: str
    last_seen: str
    updated: str | None


@dataclass(frozen=True, slots=True)
class FetchRecord:
    """One check, whatever its outcome; `revision_id` is the revision it saw (None on error)."""

    id: int
    page_id: int
    fetched_at: str
    outcome: Outcome
    status: int | None
    bytes: int | None
    elapsed_ms: int | None
    attempts: int | None
    etag: str | None
    last_modified: str | None
    final_url: str | None
    error: str | None
    revision_id: int | None


@dataclass(frozen=True, slots=True)
class Target:
    """One watched page, as the config names it."""

    name: str
    url: str


class Outcome(StrEnum):
    """What one check found (urlwatch's verbs, spelled as stored)."""

    NEW_REVISION = "new-revision"
    UNCHANGED = "unchanged"
    NOT_MODIFIED = "not-modified"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One HTTP exchange as fetch.py saw it. `body` is None for 304 Not Modified."""

    url: str
    final_url: str
    status: int
    body: bytes | None
    headers: dict[str, str]
    elapsed_ms: int
    attempts: int = 1
    encoding: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


class ChangeKind(StrEnum):
    UPDATED = "updated"
    TITLE = "title"
    YEAR = "year"
    LANGUAGE = "language"
    HEADLINE = "headline"
    FIGURE = "figure"
    ROW_ADDED = "row-added"
    ROW_REMOVED = "row-removed"
    RENAMED = "renamed"
    TOTALS = "totals"
    WARNING_ADDED = "warning-added"
    WARNING_REMOVED = "warning-removed"
    TEXT = "text"
    SERIES_ADDED = "series-added"
    SERIES_REMOVED = "series-removed"
    STATEMENT = "statement"
    KEY_FIGURE = "key-figure"


@dataclass(frozen=True, slots=True)
class Change:
    """One typed difference between two revisions of a page."""

    kind: ChangeKind
    field: str | None = None
    old: Any = None
    new: Any = None
    delta: int | None = None
    municipality: str | None = None
    municipality_number: str | None = None
    county: str | None = None
    section: str | None = None
    series: Series | None = None
    level: str | None = None  # of the area a figure change is about

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "level": self.level,
            "series": self.series.key_dict() if self.series else None,
            "municipality": self.municipality,
            "municipality_number": self.municipality_number,
            "county": self.county,
            "section": self.section,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "delta": self.delta,
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one check of one page found and stored."""

    target: Target
    outcome: Outcome
    fetched_at: str
    fetch_id: int
    status: int | None = None
    error: str | None = None
    revision_id: int | None = None
    previous_revision_id: int | None = None
    page: Page | None = None
    previous_page: Page | None = None
    changes: tuple[Change, ...] = field(default_factory=tuple)
    broken: str | None = None  # why the new revision looks broken, if it does
    elapsed_ms: int | None = None
    bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "page": self.target.name,
            "url": self.target.url,
            "outcome": str(self.outcome),
            "fetched_at": self.fetched_at,
            "status": self.status,
            "bytes": self.bytes,
            "elapsed_ms": self.elapsed_ms,
            "revision": self.revision_id,
            "previous_revision": self.previous_revision_id,
            "updated": self.page.updated if self.page else None,
            "changes": len(self.changes),
            "broken": self.broken,
            "warnings": [w.to_dict() for w in self.page.warnings] if self.page else [],
            "error": self.error,
        }


def without_userinfo(url: str) -> str:
    """`url` without `user:password@`: no credential is ever stored, or shown in a message or by
    `serve`. A URL that cannot be split is returned as it is (the caller reports it)."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
