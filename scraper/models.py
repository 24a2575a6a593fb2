"""Frozen dataclasses at the seams between modules: the parsed page, fetches, revisions, changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

FIGURE_FIELDS: tuple[str, ...] = ("requested", "minors", "minors_15_18", "minors_under_15")
HEADLINE_FIELDS: tuple[str, ...] = ("municipalities", "refugees", "minor_municipalities", "minors")


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
    rows: tuple[Row, ...]
    totals: Totals | None
    warnings: tuple[PageWarning, ...]
    fingerprint: str
    has_table: bool = True

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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Page:
        """Rebuild a page from `to_dict()` output (the --json shape)."""
        totals = data.get("totals")
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
            rows=tuple(Row(**r) for r in data.get("rows") or ()),
            totals=Totals(**totals) if totals else None,
            warnings=tuple(PageWarning.from_dict(w) for w in data.get("warnings") or ()),
            fingerprint=data.get("fingerprint", ""),
            has_table=not any(w.get("code") == "no-table" for w in data.get("warnings") or ()),
        )


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "municipality": self.municipality,
            "municipality_number": self.municipality_number,
            "county": self.county,
            "section": self.section,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "delta": self.delta,
        }
