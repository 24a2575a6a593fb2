"""The store on real SQLite files and real parsed fixture pages: exact rows, atomicity, rebuilds."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from history_store import query

from scraper.diff import diff_pages
from scraper.errors import InputError, LockBusy, StoreError
from scraper.models import Change, ChangeKind, FetchResult, Outcome, Page
from scraper.parse import PARSER_VERSION, parse_page
from scraper.pipeline import rebuild_store, reparse_store
from scraper.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    Reparsed,
    Store,
    build_snapshot_meta,
    open_store,
)

FIXTURES = Path(__file__).parent / "fixtures"
URL = "https://www.imdi.no/planlegging-og-bosetting/bosettingsprosessen/imdis-anmodning/"
T1 = "2021-11-12T10:00:00Z"
T2 = "2021-11-13T10:00:00Z"
T3 = "2021-11-19T10:30:00.250Z"
T4 = "2021-11-20T08:00:00Z"


@pytest.fixture(scope="module")
def bodies() -> dict[str, bytes]:
    return {
        name: (FIXTURES / f"page-2022-{name}.html").read_bytes()
        for name in ("nn-a", "revised", "nn-a-noise")
    }


@pytest.fixture(scope="module")
def pages(bodies: dict[str, bytes]) -> dict[str, Page]:
    return {name: parse_page(body) for name, body in bodies.items()}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "imdi-watch.db"


@pytest.fixture
def store(db_path: Path, tmp_path: Path) -> Iterator[Store]:
    with open_store(db_path, tmp_path / "snapshots") as opened:
        yield opened


def response(body: bytes | None, *, status: int = 200, etag: str | None = '"v1"') -> FetchResult:
    headers = {"content-type": "text/html; charset=utf-8"}
    if etag:
        headers["etag"] = etag
    if status == 200:
        headers["last-modified"] = "Fri, 12 Nov 2021 09:00:00 GMT"
    return FetchResult(URL, URL, status, body, headers, elapsed_ms=42)


def save_new(
    store: Store,
    page_id: int,
    body: bytes,
    page: Page,
    at: str,
    changes: tuple[Change, ...] = (),
    etag: str = '"v1"',
) -> int:
    """What the pipeline does for a new revision: snapshot first, then the one transaction."""
    fetch = response(body, etag=etag)
    sha = store.write_snapshot(body, build_snapshot_meta(fetch, fetched_at=at, page="oppmoding"))
    record = store.record_check(
        page_id,
        fetched_at=at,
        outcome=Outcome.NEW_REVISION,
        fetch=fetch,
        page=page,
        snapshot=sha,
        changes=changes,
        parser_version=PARSER_VERSION,
    )
    assert record.revision_id is not None
    return record.revision_id


def one(db_path: Path, sql: str, params: tuple[object, ...] = ()) -> object:
    ((value,),) = query(db_path, sql, params)
    return value


BERGEN = Change(
    ChangeKind.FIGURE, field="requested", old=182, new=192, delta=10,
    municipality="Bergen", municipality_number="4601", county="Vestland",
)  # fmt: skip
LEAD = Change(ChangeKind.TEXT, section=None, old="innan midten av november 2021", new=None)


# --- one new revision ------------------------------------------------------------------------


def test_store_new_revision_writes_exact_rows(
    store: Store, db_path: Path, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    revision_id = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)

    assert one(db_path, "SELECT count(*) FROM revisions") == 1
    assert one(db_path, "SELECT count(*) FROM figures WHERE revision_id = ?", (revision_id,)) == 356
    assert query(
        db_path,
        "SELECT municipality_number, typeof(municipality_number) FROM figures "
        "WHERE municipality = 'Oslo'",
    ) == [("0301", "text")]
    assert one(db_path, "SELECT count(*) FROM figures WHERE requested IS NULL") == 60
    assert one(db_path, "SELECT count(*) FROM figures WHERE requested = 0") == 84
    assert one(db_path, "SELECT sum(requested) FROM figures") == 5500
    assert query(
        db_path,
        "SELECT municipality, municipality_number, county, requested, minors FROM figures "
        "WHERE municipality IS NULL",
    ) == [(None, None, "Rogaland", 30, None)]
    assert one(db_path, "SELECT count(*) FROM figures WHERE municipality = '' OR county = ''") == 0
    assert query(
        db_path,
        "SELECT updated, year, totals_requested, totals_minors, totals_minors_15_18, "
        "totals_minors_under_15, headline_municipalities, headline_refugees, row_count, "
        "has_table, parser_version, first_seen, last_seen FROM revisions",
    ) == [("2021-11-12", 2022, 5500, 141, 111, 30, 212, 5500, 356, 1, PARSER_VERSION, T1, T1)]
    assert json.loads(str(one(db_path, "SELECT warnings FROM revisions"))) == [
        {
            "code": "missing-name",
            "message": "row 144 (Rogaland) has figures but no municipality name",
            "details": {"row": 144, "county": "Rogaland"},
        }
    ]
    assert query(
        db_path,
        "SELECT outcome, status, bytes, elapsed_ms, etag, final_url, error, revision_id "
        "FROM fetches",
    ) == [("new-revision", 200, len(bodies["nn-a"]), 42, '"v1"', None, None, revision_id)]
    sections = query(db_path, "SELECT heading, text FROM sections ORDER BY position")
    assert len(sections) == len(pages["nn-a"].sections)
    assert ("Alle oppmodingstal på kommunenivå", None) in sections  # a heading alone: NULL
    assert one(db_path, "SELECT count(*) FROM changes") == 0


def test_store_load_page_equals_the_parsed_page(
    store: Store, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    first = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    second = save_new(store, page_id, bodies["revised"], pages["revised"], T3)

    assert store.load_page(first) == pages["nn-a"]
    assert store.load_page(second) == pages["revised"]
    assert store.load_page(first).fingerprint == pages["nn-a"].fingerprint
    assert store.figures(first) == list(pages["nn-a"].rows)


def test_store_revision_record_reads_back(
    store: Store, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    revision_id = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)

    record = store.revision(revision_id)
    page = pages["nn-a"]
    assert record == store.latest_revision(page_id)
    assert (record.id, record.page_id, record.first_seen, record.last_seen) == (
        revision_id, page_id, T1, T1,
    )  # fmt: skip
    assert record.fingerprint == page.fingerprint
    assert record.headline == page.headline
    assert record.totals == page.totals
    assert record.warnings == page.warnings
    assert record.row_count == 356
    assert record.snapshot == store.write_snapshot(
        bodies["nn-a"], build_snapshot_meta(response(bodies["nn-a"]), fetched_at=T1)
    )
    with pytest.raises(InputError, match="no revision 99"):
        store.revision(99)


def test_store_schema_declares_every_column_type(store: Store, db_path: Path) -> None:
    objects = query(db_path, "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    assert {name for kind, name in objects if kind == "table"} == {
        "pages", "fetches", "revisions", "area_lists", "areas", "series", "figure_values", "figure_tables",
        "key_figures", "texts", "section_rows", "changes", "robots", "notifications",
    }  # fmt: skip
    assert {name for kind, name in objects if kind == "view"} == {
        "sections", "figures", "current_figures", "municipality_history", "recent_changes",
        "revision_summary", "series_figures", "current_series_figures", "request_vs_decision",
        "key_figure_history", "latest_revisions",
    }  # fmt: skip
    for (table,) in query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'"):
        for _, column, declared, *_ in query(db_path, f"PRAGMA table_info({table})"):
            assert declared in ("INTEGER", "TEXT"), (table, column)
    areas = {row[1]: row[2] for row in query(db_path, "PRAGMA table_info(areas)")}
    assert areas == {
        "list_id": "INTEGER", "position": "INTEGER", "table_no": "INTEGER", "level": "TEXT",
        "name": "TEXT", "number": "TEXT", "county": "TEXT",
    }  # fmt: skip
    figures = [row[1] for row in query(db_path, "PRAGMA table_info(figures)")]
    assert figures == [
        "revision_id", "position", "municipality", "municipality_number", "county", "requested",
        "minors", "minors_15_18", "minors_under_15",
    ]  # fmt: skip
    assert one(db_path, "PRAGMA user_version") == SCHEMA_VERSION
    assert one(db_path, "PRAGMA application_id") == APPLICATION_ID
    assert one(db_path, "PRAGMA journal_mode") == "wal"
    assert {row[2] for row in query(db_path, "PRAGMA index_list(pages)")} == {1}  # url UNIQUE


def test_store_refuses_figures_of_a_revision_that_does_not_exist(store: Store) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.record_check(page_id + 1, fetched_at=T1, outcome=Outcome.ERROR, fetch=None, error="x")


# --- the other outcomes ----------------------------------------------------------------------


def test_store_unchanged_check_adds_a_fetch_and_moves_last_seen_only(
    store: Store, db_path: Path, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    revision_id = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    noise = pages["nn-a-noise"]
    assert noise.fingerprint == pages["nn-a"].fingerprint

    record = store.record_check(
        page_id,
        fetched_at=T2,
        outcome=Outcome.UNCHANGED,
        fetch=response(bodies["nn-a-noise"], etag='"v2"'),
        page=noise,
    )

    assert (record.outcome, record.revision_id, record.previous_revision_id) == (
        Outcome.UNCHANGED, revision_id, None,
    )  # fmt: skip
    assert query(db_path, "SELECT first_seen, last_seen FROM revisions") == [(T1, T2)]
    assert one(db_path, "SELECT count(*) FROM revisions") == 1
    assert one(db_path, "SELECT count(*) FROM figures") == 356
    assert query(db_path, "SELECT outcome, etag, revision_id FROM fetches ORDER BY id") == [
        ("new-revision", '"v1"', revision_id),
        ("unchanged", '"v2"', revision_id),
    ]
    assert len(list((db_path.parent.parent / "snapshots").glob("*.html.gz"))) == 1


def test_store_not_modified_check_adds_a_fetch_row_only(
    store: Store, db_path: Path, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    revision_id = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)

    record = store.record_check(
        page_id, fetched_at=T2, outcome=Outcome.NOT_MODIFIED, fetch=response(None, status=304)
    )

    assert record.revision_id == revision_id
    assert query(db_path, "SELECT first_seen, last_seen FROM revisions") == [(T1, T1)]
    assert query(db_path, "SELECT outcome, status, bytes, revision_id FROM fetches")[-1] == (
        "not-modified", 304, None, revision_id,
    )  # fmt: skip
    assert one(db_path, "SELECT count(*) FROM figures") == 356


def test_store_error_check_stores_the_error_text(store: Store, db_path: Path) -> None:
    page_id = store.ensure_page("oppmoding", URL).id

    store.record_check(
        page_id, fetched_at=T1, outcome=Outcome.ERROR, fetch=None, error="connection refused"
    )
    store.record_check(
        page_id,
        fetched_at=T2,
        outcome=Outcome.ERROR,
        fetch=response(b"busy", status=503, etag=None),
        error=f"{URL}: HTTP 503",
    )

    assert query(db_path, "SELECT outcome, status, bytes, error, revision_id FROM fetches") == [
        ("error", None, None, "connection refused", None),
        ("error", 503, 4, f"{URL}: HTTP 503", None),
    ]
    assert store.consecutive_failures(page_id) == 2
    assert [f.error for f in store.fetches(page_id=page_id)] == [
        f"{URL}: HTTP 503",
        "connection refused",
    ]


def test_store_consecutive_failures_count_since_the_last_good_check(
    store: Store, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    assert store.consecutive_failures(page_id) == 0
    store.record_check(page_id, fetched_at=T1, outcome=Outcome.ERROR, fetch=None, error="x")
    save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T2)
    assert store.consecutive_failures(page_id) == 0
    for at in (T3, T4):
        store.record_check(page_id, fetched_at=at, outcome=Outcome.ERROR, fetch=None, error="y")
    assert store.consecutive_failures(page_id) == 2


def test_store_last_validators_come_from_good_fetches(
    store: Store, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    assert store.last_validators(page_id) == (None, None)
    save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    assert store.last_validators(page_id) == ('"v1"', "Fri, 12 Nov 2021 09:00:00 GMT")

    # A 304 may omit Last-Modified: the 200's still holds; a new ETag replaces the old one.
    store.record_check(
        page_id,
        fetched_at=T2,
        outcome=Outcome.NOT_MODIFIED,
        fetch=response(None, status=304, etag='"v2"'),
    )
    assert store.last_validators(page_id) == ('"v2"', "Fri, 12 Nov 2021 09:00:00 GMT")

    # A body that was rejected (say, truncated) must not be asked about with If-None-Match.
    store.record_check(
        page_id,
        fetched_at=T3,
        outcome=Outcome.ERROR,
        fetch=response(b"<html>cut", etag='"broken"'),
        error="truncated",
    )
    assert store.last_validators(page_id) == ('"v2"', "Fri, 12 Nov 2021 09:00:00 GMT")


def test_store_record_check_refuses_inconsistent_calls(
    store: Store, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    fetch = response(bodies["nn-a"])
    with pytest.raises(ValueError, match="no revision to be unchanged from"):
        store.record_check(page_id, fetched_at=T1, outcome=Outcome.UNCHANGED, fetch=fetch)
    with pytest.raises(StoreError, match="snapshot missing"):
        store.record_check(
            page_id, fetched_at=T1, outcome=Outcome.NEW_REVISION, fetch=fetch,
            page=pages["nn-a"], snapshot="0" * 64,
        )  # fmt: skip
    with pytest.raises(ValueError, match="ISO-8601 UTC"):
        store.record_check(
            page_id, fetched_at="2021-11-12 10:00", outcome=Outcome.ERROR, fetch=None
        )
    save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    with pytest.raises(ValueError, match="an equal fingerprint is an unchanged check"):
        save_new(store, page_id, bodies["nn-a-noise"], pages["nn-a-noise"], T2)
    assert len(store.fetches()) == 1


# --- snapshots -------------------------------------------------------------------------------


def test_store_same_body_is_stored_once(store: Store, bodies: dict[str, bytes]) -> None:
    body = bodies["nn-a"]
    first = store.write_snapshot(body, build_snapshot_meta(response(body), fetched_at=T1))
    gz = store.snapshots_dir / f"{first}.html.gz"
    written = gz.read_bytes()
    second = store.write_snapshot(body, build_snapshot_meta(response(body), fetched_at=T4))

    assert first == second
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == [
        f"{first}.html.gz",
        f"{first}.json",
    ]
    assert gz.read_bytes() == written
    assert gzip.decompress(written) == body
    assert store.read_snapshot(first) == body
    meta = store.snapshot_meta(first)
    assert (meta["url"], meta["final_url"], meta["status"], meta["fetched_at"]) == (
        URL, URL, 200, T1,
    )  # fmt: skip
    assert meta["headers"]["etag"] == '"v1"'
    assert meta["new_revision_at"] == [T1, T4]


def test_store_read_snapshot_detects_a_corrupt_file(store: Store, bodies: dict[str, bytes]) -> None:
    sha = store.write_snapshot(bodies["nn-a"], {"url": URL, "fetched_at": T1})
    path = store.snapshots_dir / f"{sha}.html.gz"
    path.write_bytes(gzip.compress(bodies["revised"]))
    with pytest.raises(StoreError, match="snapshot is corrupt"):
        store.read_snapshot(sha)
    # Writing the body again repairs it.
    store.write_snapshot(bodies["nn-a"], {"url": URL, "fetched_at": T2})
    assert store.read_snapshot(sha) == bodies["nn-a"]
    with pytest.raises(StoreError, match="no such snapshot"):
        store.read_snapshot("f" * 64)


# --- several revisions -----------------------------------------------------------------------


def test_store_revised_page_makes_a_second_revision_with_its_changes(
    store: Store, db_path: Path, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    first = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    second = save_new(
        store, page_id, bodies["revised"], pages["revised"], T3, changes=(BERGEN, LEAD)
    )

    assert [r.id for r in store.revisions(page_id)] == [second, first]
    assert store.changes(second) == [BERGEN, LEAD]
    assert store.changes(first) == []
    assert query(
        db_path,
        "SELECT previous_revision_id, position, kind, field, old, new, delta FROM changes "
        "ORDER BY position",
    ) == [
        (first, 0, "figure", "requested", "182", "192", 10),
        (first, 1, "text", None, '"innan midten av november 2021"', None, None),
    ]
    assert one(db_path, "SELECT count(*) FROM figures") == 2 * 356
    assert one(db_path, "SELECT totals_requested FROM revisions WHERE id = ?", (second,)) == 5510


def test_store_a_b_a_makes_three_revisions_with_two_snapshots(
    store: Store, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    ids = [
        save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1),
        save_new(store, page_id, bodies["revised"], pages["revised"], T3),
        save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T4),
    ]

    revisions = store.revisions(page_id)
    assert [r.id for r in revisions] == ids[::-1]
    assert revisions[0].snapshot == revisions[2].snapshot
    assert revisions[0].fingerprint == revisions[2].fingerprint
    assert len(list(store.snapshots_dir.glob("*.html.gz"))) == 2
    assert store.snapshot_meta(revisions[0].snapshot)["new_revision_at"] == [T1, T4]


def test_store_area_history_is_one_number_in_every_revision_of_one_page(
    store: Store, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    other_id = store.ensure_page("other", URL + "?other").id
    first = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    second = save_new(store, page_id, bodies["revised"], pages["revised"], T3)
    save_new(store, other_id, bodies["revised"], pages["revised"], T4)

    oslo = store.area_history(page_id, ["0301"])
    assert [
        (r.id, f.area, f.number, f.series.key, f.value)
        for r, figures in oslo
        for f in figures
        if f.series.part == "total"
    ] == [
        (first, "Oslo", "0301", ("request", 2022, "total"), 225),
        (second, "Oslo", "0301", ("request", 2022, "total"), 215),
    ]
    heroy = store.area_history(page_id, ["1818"])
    assert {f.area for _, figures in heroy for f in figures} == {"Herøy (Nordland)"}
    assert store.area_history(page_id, ["9999"]) == []
    assert store.area_history(page_id, []) == []
    names = store.area_names(page_id)
    assert ("Herøy (Møre og Romsdal)", "1515", "Møre og Romsdal") in names
    assert len({number for _, number, _ in names}) == 355  # and the nameless Hå row has none


def test_store_figures_filter_by_county(
    store: Store, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    revision_id = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)

    rows = store.figures(revision_id, county="more og romsdal")
    assert len(rows) == 26
    assert {row.county for row in rows} == {"Møre og Romsdal"}
    assert rows == [r for r in pages["nn-a"].rows if r.county == "Møre og Romsdal"]


def test_store_revision_at_is_the_revision_current_that_day(
    store: Store, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    first = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    second = save_new(store, page_id, bodies["revised"], pages["revised"], T3)

    def at(day: str) -> int | None:
        record = store.revision_at(page_id, day)
        return record.id if record else None

    assert at("2021-11-11") is None
    assert at("2021-11-12") == first
    assert at("2021-11-18") == first
    assert at("2021-11-19") == second
    assert at("2022-06-01") == second
    with pytest.raises(InputError, match="not a date"):
        store.revision_at(page_id, "19.11.2021")


def test_store_fetches_are_listed_newest_first(
    store: Store, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    revision_id = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    store.record_check(page_id, fetched_at=T2, outcome=Outcome.ERROR, fetch=None, error="x")
    store.record_check(
        page_id, fetched_at=T3, outcome=Outcome.UNCHANGED, fetch=response(bodies["nn-a"])
    )

    fetches = store.fetches()
    assert [(f.fetched_at, f.outcome, f.revision_id) for f in fetches] == [
        (T3, Outcome.UNCHANGED, revision_id),
        (T2, Outcome.ERROR, None),
        (T1, Outcome.NEW_REVISION, revision_id),
    ]
    assert [f.id for f in store.fetches(limit=1)] == [fetches[0].id]
    assert store.fetches(page_id=page_id + 1) == []


def test_store_ensure_page_is_idempotent_and_follows_renames(store: Store) -> None:
    first = store.ensure_page("oppmoding", URL)
    assert store.ensure_page("oppmoding", URL) == first
    renamed = store.ensure_page("imdi", URL)
    assert (renamed.id, renamed.name) == (first.id, "imdi")
    other = store.ensure_page("other", "https://example.org/")
    assert other.id != first.id
    assert store.pages() == [renamed, other]


def test_store_robots_cache_round_trips(store: Store) -> None:
    origin = "https://www.imdi.no"
    assert store.load_robots(origin) is None
    store.save_robots(origin, T1, 200, "User-agent: *\nDisallow: /sok\n")
    store.save_robots(origin, T2, 404, None)
    assert store.load_robots(origin) == {
        "origin": origin, "fetched_at": T2, "status": 404, "text": None,
    }  # fmt: skip


# --- reparse and rebuild ---------------------------------------------------------------------


def test_store_reparse_puts_the_current_parse_in_place_and_keeps_history(
    store: Store, db_path: Path, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    first = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    second = save_new(store, page_id, bodies["revised"], pages["revised"], T3, changes=(BERGEN,))
    # An older parser's reading of the first revision, and changes that are not the diff's.
    store.replace_contents([Reparsed(first, pages["revised"], (), None)], parser_version="0-test")
    assert store.load_page(first) == pages["revised"]
    assert store.revision(first).parser_version == "0-test"

    assert reparse_store(store) == {"revisions": 2, "changed": 1}
    assert store.load_page(first) == pages["nn-a"]
    assert store.load_page(second) == pages["revised"]
    assert store.revision(first).first_seen == T1
    assert store.changes(second) == diff_pages(pages["nn-a"], pages["revised"])
    assert store.changes(first) == []
    # every kept section text and area list belongs to a revision
    for orphans in (
        "SELECT count(*) FROM texts WHERE id NOT IN "
        "(SELECT text_id FROM section_rows WHERE text_id IS NOT NULL)",
        "SELECT count(*) FROM area_lists WHERE id NOT IN "
        "(SELECT area_list FROM revisions WHERE area_list IS NOT NULL)",
    ):
        assert one(db_path, orphans) == 0


def test_store_rebuild_from_snapshots_gives_the_same_revisions_and_figures(
    store: Store, db_path: Path, tmp_path: Path, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    page_id = store.ensure_page("oppmoding", URL).id
    save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    store.record_check(
        page_id, fetched_at=T2, outcome=Outcome.UNCHANGED, fetch=response(bodies["nn-a-noise"])
    )
    save_new(store, page_id, bodies["revised"], pages["revised"], T3)
    save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T4)
    store.record_check(page_id, fetched_at=T4, outcome=Outcome.ERROR, fetch=None, error="x")
    # A body the parser refuses (it never made a revision) is skipped and listed, not fatal.
    pdf = store.write_snapshot(b"%PDF-1.7 not a page", {"url": URL, "fetched_at": T2})
    store.close()

    rebuilt_path = tmp_path / "rebuilt" / "imdi-watch.db"
    summary = rebuild_store(rebuilt_path, store.snapshots_dir)

    def revisions(path: Path) -> list[tuple[object, ...]]:
        return query(
            path,
            "SELECT id, page_id, fingerprint, first_seen, snapshot, updated, row_count, warnings "
            "FROM revisions ORDER BY id",
        )

    def figures(path: Path) -> list[tuple[object, ...]]:
        return query(path, "SELECT * FROM figures ORDER BY revision_id, position")

    assert revisions(rebuilt_path) == revisions(db_path)
    assert figures(rebuilt_path) == figures(db_path)
    assert (summary.snapshots, summary.revisions, summary.skipped) == (2, 3, (pdf,))
    with open_store(rebuilt_path, store.snapshots_dir) as rebuilt:
        assert rebuilt.load_page(2) == pages["revised"]
        assert [r.first_seen for r in rebuilt.revisions()] == [T4, T3, T1]
        assert [(f.outcome, f.etag) for f in rebuilt.fetches()] == [
            (Outcome.NEW_REVISION, '"v1"')
        ] * 3
    assert sorted(p.name for p in rebuilt_path.parent.iterdir()) == ["imdi-watch.db"]

    with pytest.raises(StoreError, match="already exists"):
        rebuild_store(rebuilt_path, store.snapshots_dir)


# --- opening, locking ------------------------------------------------------------------------


def test_store_reopening_keeps_data_and_schema(
    db_path: Path, tmp_path: Path, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    snapshots = tmp_path / "snapshots"
    with open_store(db_path, snapshots) as store:
        page_id = store.ensure_page("oppmoding", URL).id
        revision_id = save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)
    schema = query(db_path, "SELECT sql FROM sqlite_master ORDER BY name")

    for _ in range(2):
        with open_store(db_path, snapshots) as store:
            assert store.load_page(revision_id) == pages["nn-a"]
    assert query(db_path, "SELECT sql FROM sqlite_master ORDER BY name") == schema
    assert one(db_path, "PRAGMA user_version") == SCHEMA_VERSION


def test_store_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError) as caught:
        open_store(path, tmp_path / "snapshots")
    assert str(caught.value) == f"{path}: not an imdi-watch database (file is not a database)"
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_store_refuses_another_programs_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.close()
    with pytest.raises(StoreError, match=r"not an imdi-watch database \(it holds other tables"):
        open_store(path, tmp_path / "snapshots")
    assert query(path, "SELECT name FROM sqlite_master") == [("recipes",)]


def test_store_refuses_a_newer_schema(db_path: Path, tmp_path: Path) -> None:
    open_store(db_path, tmp_path / "snapshots").close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="upgrade imdi-watch"):
        open_store(db_path, tmp_path / "snapshots")


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from scraper.store import lock_store
with lock_store(Path(sys.argv[1]), wait_s=0):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_store_lock_held_by_another_process_raises_lock_busy(store: Store, db_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(LockBusy) as caught, store.lock(wait_s=0.3):
            pass
        assert str(caught.value) == (
            f"another imdi-watch check holds the lock on {db_path}.lock (waited 0.3 s)"
        )
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        if holder.stdout:
            holder.stdout.close()
    # The kernel drops a dead holder's lock: no stale lock file to clean up.
    with store.lock(wait_s=5):
        pass


# --- size and crash consistency --------------------------------------------------------------


def test_store_revision_fits_the_size_budget(
    store: Store, db_path: Path, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    """≤ 30 KB per revision of the real-size page: database growth plus its snapshot."""
    page_id = store.ensure_page("oppmoding", URL).id
    save_new(store, page_id, bodies["nn-a"], pages["nn-a"], T1)

    def db_bytes() -> int:
        query(db_path, "PRAGMA wal_checkpoint(TRUNCATE)")
        return db_path.stat().st_size

    before = db_bytes()
    count = 20
    for index in range(count):
        name = "revised" if index % 2 == 0 else "nn-a"
        save_new(store, page_id, bodies[name], pages[name], f"2021-11-20T10:{index:02d}:00Z")
    per_revision = (db_bytes() - before) / count
    snapshot = store.latest_revision(page_id)
    assert snapshot is not None
    snapshot_bytes = store.snapshot_path(snapshot.snapshot).stat().st_size + 600  # + its .json
    assert per_revision + snapshot_bytes <= 30 * 1024, (per_revision, snapshot_bytes)


CRASH_WRITER = """
import random, sys
from datetime import datetime, timezone
from pathlib import Path
from scraper.models import Change, ChangeKind, FetchResult, Outcome
from scraper.parse import PARSER_VERSION, parse_page
from scraper.store import build_snapshot_meta, open_store

fixtures, db_path, snapshots, seed = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
bodies = [(fixtures / f"page-2022-{n}.html").read_bytes() for n in ("nn-a", "revised", "nn-a-noise")]
pages = [parse_page(body) for body in bodies]
rng = random.Random(seed)
url = "https://imdi.example/oppmoding"
with open_store(Path(db_path), Path(snapshots)) as store:
    page_id = store.ensure_page("oppmoding", url).id
    print("ready", flush=True)
    while True:
        at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        latest = store.latest_revision(page_id)
        index = rng.randrange(3)
        if latest is not None and rng.random() < 0.8:
            # mostly a body that differs from the latest revision, so revisions keep coming
            index = 1 if latest.fingerprint == pages[0].fingerprint else rng.choice((0, 2))
        body, page = bodies[index], pages[index]
        fetch = FetchResult(url, url, 200, body, {"etag": f'"{index}"'}, 10)
        if rng.random() < 0.1:
            store.record_check(page_id, fetched_at=at, outcome=Outcome.ERROR, fetch=None,
                               error="connection reset")
        elif latest is not None and latest.fingerprint == page.fingerprint:
            store.record_check(page_id, fetched_at=at, outcome=Outcome.UNCHANGED, fetch=fetch)
        else:
            sha = store.write_snapshot(body, build_snapshot_meta(fetch, fetched_at=at))
            changes = [Change(ChangeKind.TOTALS, field="requested", old=1, new=2, delta=1)] * 3
            store.record_check(page_id, fetched_at=at, outcome=Outcome.NEW_REVISION, fetch=fetch,
                               page=page, snapshot=sha, changes=changes if latest else [],
                               parser_version=PARSER_VERSION)
"""


def test_store_survives_sigkill_at_random_moments(tmp_path: Path, pages: dict[str, Page]) -> None:
    db_path, snapshots = tmp_path / "store" / "imdi-watch.db", tmp_path / "snapshots"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(CRASH_WRITER))
    rng = random.Random(20211112)
    ready_runs = 0
    for run in range(20):
        writer = subprocess.Popen(
            [sys.executable, str(script), str(FIXTURES), str(db_path), str(snapshots), str(run)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert writer.stdout is not None and writer.stderr is not None
        try:
            if run % 5 == 0:  # now and then, kill it wherever it is: importing, opening, migrating
                select.select([writer.stdout], [], [], rng.uniform(0.0, 0.5))
            else:
                readable, _, _ = select.select([writer.stdout], [], [], 60)
                line = writer.stdout.readline() if readable else b""
                assert line == b"ready\n", writer.stderr.read().decode()
                ready_runs += 1
                select.select([], [], [], rng.uniform(0.0, 0.2))
            assert writer.poll() is None, writer.stderr.read().decode()
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            writer.stdout.close()
            writer.stderr.close()

    assert ready_runs == 16
    assert one(db_path, "PRAGMA integrity_check") == "ok"
    assert query(db_path, "PRAGMA foreign_key_check") == []
    with open_store(db_path, snapshots) as store:
        revisions = store.revisions()
        assert len(revisions) > 20
        assert one(db_path, "SELECT count(*) FROM fetches WHERE outcome = 'new-revision'") == len(
            revisions
        )
        fingerprints = {p.fingerprint for p in pages.values()}
        for record in revisions:
            assert (snapshots / f"{record.snapshot}.html.gz").is_file()
            assert parse_page(store.read_snapshot(record.snapshot)).fingerprint == (
                record.fingerprint
            )
            assert record.fingerprint in fingerprints
            assert len(store.figures(record.id)) == 356
            assert len(store.changes(record.id)) == (3 if record.id != revisions[-1].id else 0)
        ordered = sorted(revisions, key=lambda r: r.id)
        assert all(a.fingerprint != b.fingerprint for a, b in itertools.pairwise(ordered))
    # Every snapshot under its final name is whole: temporary files are the only leftovers.
    for path in snapshots.iterdir():
        if path.name.endswith(".html.gz"):
            assert gzip.decompress(path.read_bytes())
        elif path.name.endswith(".json"):
            assert json.loads(path.read_bytes())["url"]
        else:
            assert path.name.startswith(".") and path.name.endswith(".tmp"), path.name
    assert not [p for p in os.listdir(db_path.parent) if p.endswith((".rebuilding",))]


def test_store_opening_a_current_database_does_not_import_sqlite_utils(
    db_path: Path, tmp_path: Path
) -> None:
    """sqlite-utils (~60 ms to import) is needed only to create or migrate the schema."""
    open_store(db_path, tmp_path / "snapshots").close()
    script = (
        "import sys; from pathlib import Path; from scraper.store import open_store; "
        f"open_store(Path({str(db_path)!r}), Path({str(tmp_path / 'snapshots')!r})).close(); "
        "print('sqlite_utils' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout == "False\n"


def test_store_of_the_first_round_migrates_and_reparse_brings_it_onto_the_series_model(
    tmp_path: Path, bodies: dict[str, bytes], pages: dict[str, Page]
) -> None:
    """A database written before the series model (schema 3: a wide `figures` table) opens,
    keeps every figure as the request series of its year, and `reparse` reads it anew."""
    import gzip
    import hashlib
    import json as jsonlib

    from sqlite_utils import Database

    from scraper import store as store_module

    db_path, snapshots = tmp_path / "old.db", tmp_path / "snapshots"
    snapshots.mkdir()
    conn = sqlite3.connect(db_path, isolation_level=None)
    db = Database(conn)
    for migration in store_module.MIGRATIONS[:3]:
        migration(db)
    conn.execute("PRAGMA user_version = 3")
    conn.execute(f"PRAGMA application_id = {store_module.APPLICATION_ID}")
    body, parsed = bodies["nn-a"], pages["nn-a"]
    sha = hashlib.sha256(body).hexdigest()
    (snapshots / f"{sha}.html.gz").write_bytes(gzip.compress(body))
    meta = {"url": URL, "fetched_at": T1, "new_revision_at": [T1], "page": "oppmoding"}
    (snapshots / f"{sha}.json").write_text(jsonlib.dumps(meta))
    conn.execute("INSERT INTO pages (id, name, url) VALUES (1, 'oppmoding', ?)", (URL,))
    totals = parsed.totals
    assert totals is not None
    conn.execute(
        "INSERT INTO revisions (id, page_id, fingerprint, first_seen, last_seen, snapshot, title, "
        "language, updated, year, has_totals, totals_requested, totals_minors, "
        "totals_minors_15_18, totals_minors_under_15, has_table, row_count, warnings, "
        "parser_version) VALUES (1, 1, 'old', ?, ?, ?, ?, 'nn', ?, 2022, 1, ?, ?, ?, ?, 1, ?, "
        "'[]', '1')",
        (T1, T1, sha, parsed.title, parsed.updated, totals.requested, totals.minors,
         totals.minors_15_18, totals.minors_under_15, len(parsed.rows)),
    )  # fmt: skip
    conn.executemany(
        "INSERT INTO figures VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (i, r.municipality, r.municipality_number, r.county, r.requested, r.minors,
             r.minors_15_18, r.minors_under_15)
            for i, r in enumerate(parsed.rows)
        ],
    )  # fmt: skip
    conn.close()

    with open_store(db_path, snapshots) as migrated:
        assert one(db_path, "PRAGMA user_version") == SCHEMA_VERSION
        old = migrated.load_page(1)
        assert old.rows == parsed.rows and old.totals == parsed.totals
        assert query(db_path, "SELECT count(*), sum(requested) FROM figures") == [(356, 5500)]
        assert reparse_store(migrated) == {"revisions": 1, "changed": 1}
        assert migrated.load_page(1) == parsed
        assert migrated.revision(1).parser_version == PARSER_VERSION
