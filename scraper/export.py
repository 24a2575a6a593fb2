"""Exports for spreadsheets and scripts: the municipal table at a revision, every figure of every
revision in long form, and a list of changes, as CSV or JSON. The one CSV writer (`render_csv`:
UTF-8 with BOM, CRLF, text quoted, formula-safe) is here. Pure: rows in, text out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scraper.models import Change, Page, Series, series_field
from scraper.norsk import same_name

EXPORT_FORMATS = ("csv", "json")
CHANGE_COLUMNS: tuple[str, ...] = (
    "kind", "county", "municipality", "municipality_number", "field", "measure", "year", "part",
    "old", "new", "delta", "section",
)  # fmt: skip
CSV_BOM = "\ufeff"
# A cell starting with one of these is a formula to Excel and LibreOffice ("=HYPERLINK(…)",
# "+1+1", "-2+3", "@SUM(…)"; tab and CR are how some of them are smuggled past a first check).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Record = dict[str, Any]


# --- table and history -----------------------------------------------------------------------


def wide_records(
    page: Page, *, county: str | None = None
) -> tuple[list[Record], tuple[str, ...], tuple[Series, ...]]:
    """The table at one revision, wide: a record per municipality (per county on a page without
    municipal rows) and a column per series, named as diffs name them ("requested", "minors" …
    for the request of the page's year, "decision_2023" …). An area in two tables (a request
    table and a decision table) is one record. Printed totals rows are left out: a sum in the
    spreadsheet would count them twice. `county`: that county's records alone (case- and
    accent-blind). Returns the records, the column names, and the series of the figure columns
    (those after the area columns), in column order."""
    series = page.all_series
    columns = {s.key: series_field(s, page.year) for s in series}
    levels = {a.level for t in page.tables for a in t.areas}
    municipal = "municipality" in levels
    names = (
        ("municipality", "municipality_number", "county")
        if municipal
        else ("county", "county_number")
    )
    records: dict[tuple[Any, ...], Record] = {}
    for table in page.tables:
        for position, area in enumerate(table.areas):
            if area.level != ("municipality" if municipal else "county"):
                continue
            if county is not None and not same_name(
                area.county if municipal else area.name, county
            ):
                continue
            key = (area.number or area.name or f"#{position}", area.county)
            if municipal:
                place = {"municipality": area.name, "municipality_number": area.number,
                         "county": area.county}  # fmt: skip
            else:
                place = {"county": area.name, "county_number": area.number}
            record = records.setdefault(key, {**place, **dict.fromkeys(columns.values())})
            for each, value in zip(table.series, area.values, strict=True):
                record[columns[each.key]] = value
    return list(records.values()), (*names, *columns.values()), series


LONG_COLUMNS: tuple[str, ...] = (
    "revision_id", "seen", "updated", "level", "area", "number", "county", "measure", "year",
    "part", "value",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RevisionFigures:
    """One revision's figures, with what the long form repeats on every line."""

    revision_id: int
    seen: str  # when imdi-watch first saw the revision (first_seen)
    updated: str | None  # the page's "Sist oppdatert" date
    page: Page


def long_records(revisions: Iterable[RevisionFigures]) -> list[Record]:
    """Every figure of every revision in long form: one record per (revision, area, series);
    a blank cell is a record with value None."""
    return [
        {
            "revision_id": revision.revision_id,
            "seen": revision.seen,
            "updated": revision.updated,
            "level": figure.level,
            "area": figure.area,
            "number": figure.number,
            "county": figure.county,
            **figure.series.key_dict(),
            "value": figure.value,
        }
        for revision in revisions
        for figure in revision.page.figures()
    ]


def change_records(changes: Iterable[Change]) -> list[Record]:
    """A diff's changes, one record each; a row's figures (old/new of an added or removed row)
    become JSON text in their cell."""
    records = []
    for change in changes:
        record = change.to_dict()
        record.update(change.series.key_dict() if change.series else {})
        for side in ("old", "new"):
            if isinstance(record[side], dict | list):
                record[side] = json.dumps(record[side], ensure_ascii=False, separators=(",", ":"))
        records.append(record)
    return records


def render_records(
    records: Sequence[Mapping[str, Any]], columns: Sequence[str], *, format: str
) -> str:
    """CSV for spreadsheets or JSON (a list of objects, keys in `columns` order)."""
    if format == "csv":
        return render_csv(records, columns)
    if format == "json":
        return (
            json.dumps(
                [{name: record.get(name) for name in columns} for record in records],
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
    raise ValueError(f"unknown export format {format!r}: use one of {', '.join(EXPORT_FORMATS)}")


def render_csv(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """RFC 4180 CSV that spreadsheets open with Norwegian letters intact.

    UTF-8 with a BOM (Excel reads BOM-less CSV as the ANSI code page) and CRLF line ends. Every
    text cell is quoted and numbers are not, so "0301" is marked as text for tools that honour
    quotes (LibreOffice's "Format quoted field as text"); a blank cell is empty, unlike a 0. A
    text cell that a spreadsheet would run as a formula (`FORMULA_START`) gets a leading `'`,
    which shows the text as it is; numbers, negative ones too, stay numbers.
    """
    lines = [",".join(_csv_cell(name) for name in columns)]
    lines += [",".join(_csv_cell(record.get(name)) for name in columns) for record in records]
    return CSV_BOM + "\r\n".join(lines) + "\r\n"


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_START):
        text = "'" + text
    return '"' + text.replace('"', '""') + '"'
