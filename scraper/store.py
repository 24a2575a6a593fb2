"""The store: snapshots/ (raw bodies, content-addressed) and the SQLite database of pages, fetches,
revisions, figures, sections, changes and the robots.txt cache. The only sqlite-utils user and the
only writer of snapshots/.

Rules that keep every revision and never corrupt one:

- A *snapshot* is the raw body of a response, kept as ``snapshots/<sha256>.html.gz`` (gzip -9, so
  the same body is stored once) beside ``<sha256>.json`` (url, final_url, status, headers,
  fetched_at, page, and ``new_revision_at``: every time this body made a new revision, which lets
  ``pipeline.rebuild_store`` replay A → B → A). Both are written atomically: a temporary file in
  the same folder, fsync, ``os.replace``, fsync of the folder.
- Only bodies that make a new revision are kept. A body that parses to the latest revision's
  fingerprint (noise: tokens, nonces, asset versions) adds a fetch row and moves ``last_seen``;
  its bytes are not stored.
- The snapshot is written before the database transaction, and ``record_check`` refuses a new
  revision whose snapshot file is missing, so a revision row never exists without its snapshot;
  a snapshot without a revision (a crash in between) is harmless garbage.
- All the writes of one check are one SQLite transaction (WAL, ``synchronous=NORMAL``), so a
  crash leaves the previous state or the whole new one, never a partial revision.

Conventions: timestamps are ISO-8601 UTC strings (``2021-11-12T08:30:00Z``, milliseconds
allowed); blank cells and empty strings are stored as NULL; ``changes.old``/``changes.new`` hold
the value JSON-encoded (``182``, ``"Bergen"``), and a None is NULL.

sqlite-utils creates and migrates the schema; it is imported only when a migration is pending
(a new or older database), because importing it costs ~60 ms and a check's hot path needs
nothing but ``sqlite3``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gzip
import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scraper.errors import InputError, LockBusy, StoreError
from scraper.models import (
    FIGURE_FIELDS,
    HEADLINE_FIELDS,
    Area,
    Change,
    ChangeKind,
    FetchRecord,
    FetchResult,
    Figure,
    FigureTable,
    Headline,
    KeyFigure,
    Outcome,
    Page,
    PageRecord,
    PageWarning,
    RevisionRecord,
    RevisionStamp,
    Row,
    Section,
    Series,
    Totals,
    without_userinfo,
)
from scraper.norsk import fold, same_name

if TYPE_CHECKING:
    from sqlite_utils import Database

log = logging.getLogger(__name__)

APPLICATION_ID = 0x494D4457  # "IMDW" in the database header marks an imdi-watch database
SNAPSHOT_SUFFIX = ".html.gz"
META_SUFFIX = ".json"
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LOCK_POLL_S = 0.05


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """What `record_check` wrote. `previous_revision_id` is set for a new revision only."""

    fetch_id: int
    outcome: Outcome
    revision_id: int | None
    previous_revision_id: int | None


@dataclass(frozen=True, slots=True)
class Reparsed:
    """A revision read again: its new content, its changes and what they were computed against."""

    revision_id: int
    page: Page
    changes: Sequence[Change]
    compared_with: int | None


@dataclass(frozen=True, slots=True)
class RebuildSummary:
    snapshots: int  # bodies read from snapshots/
    revisions: int  # revisions written
    skipped: tuple[str, ...]  # snapshot ids that could not be read or parsed


@dataclass(frozen=True, slots=True)
class _FetchValues:
    status: int | None
    bytes: int | None
    elapsed_ms: int | None
    attempts: int | None
    etag: str | None
    last_modified: str | None
    final_url: str | None


# --- schema ----------------------------------------------------------------------------------


def _migration_1_initial(db: Database) -> None:
    """The first schema. Every table declared with types; STRICT where SQLite supports it."""
    strict = db.supports_strict
    db.table("pages").create(
        {"id": int, "name": str, "url": str}, pk="id", not_null=["name", "url"], strict=strict
    )
    db.table("pages").create_index(["url"], unique=True)
    db.table("revisions").create(
        {
            "id": int,
            "page_id": int,
            "fingerprint": str,
            "first_seen": str,
            "last_seen": str,
            "snapshot": str,
            "title": str,
            "language": str,
            "updated": str,
            "year": int,
            **{f"headline_{name}": int for name in HEADLINE_FIELDS},
            "has_totals": int,
            **{f"totals_{name}": int for name in FIGURE_FIELDS},
            "has_table": int,
            "row_count": int,
            "warnings": str,
            "parser_version": str,
        },
        pk="id",
        not_null=[
            "page_id",
            "fingerprint",
            "first_seen",
            "last_seen",
            "snapshot",
            "has_totals",
            "has_table",
            "row_count",
            "warnings",
        ],
        foreign_keys=[("page_id", "pages", "id")],
        strict=strict,
    )
    db.table("revisions").create_index(["page_id", "first_seen"])
    db.table("fetches").create(
        {
            "id": int,
            "page_id": int,
            "fetched_at": str,
            "outcome": str,
            "status": int,
            "bytes": int,
            "elapsed_ms": int,
            "attempts": int,
            "etag": str,
            "last_modified": str,
            "final_url": str,
            "error": str,
            "revision_id": int,
        },
        pk="id",
        not_null=["page_id", "fetched_at", "outcome"],
        foreign_keys=[("page_id", "pages", "id"), ("revision_id", "revisions", "id")],
        strict=strict,
    )
    db.table("fetches").create_index(["page_id"])
    # figures is hand-written: sqlite-utils cannot say WITHOUT ROWID, and keying the rows by
    # (revision_id, position) without a separate rowid b-tree takes 356 rows from ~18.8 KB to
    # ~13.8 KB per revision, which is what keeps a revision under the 30 KB budget.
    db.execute(
        f"""CREATE TABLE figures (
   revision_id INTEGER NOT NULL REFERENCES revisions(id),
   position INTEGER NOT NULL,
   municipality TEXT,
   municipality_number TEXT,
   county TEXT,
   requested INTEGER,
   minors INTEGER,
   minors_15_18 INTEGER,
   minors_under_15 INTEGER,
   PRIMARY KEY (revision_id, position)
) WITHOUT ROWID{", STRICT" if strict else ""}"""
    )
    # A section's text rarely changes between revisions: each distinct text is kept once in
    # `texts` (by its SHA-256), saving ~5.8 KB per revision; the `sections` view reads as one table.
    db.table("texts").create(
        {"id": int, "sha256": str, "text": str},
        pk="id",
        not_null=["sha256", "text"],
        strict=strict,
    )
    db.table("texts").create_index(["sha256"], unique=True)
    db.table("section_rows").create(
        {"revision_id": int, "position": int, "heading": str, "text_id": int},
        pk=("revision_id", "position"),
        not_null=["revision_id", "position"],
        foreign_keys=[("revision_id", "revisions", "id"), ("text_id", "texts", "id")],
        strict=strict,
    )
    db.create_view(
        "sections",
        "SELECT s.revision_id, s.position, s.heading, t.text "
        "FROM section_rows s LEFT JOIN texts t ON t.id = s.text_id",
    )
    db.table("changes").create(
        {
            "revision_id": int,
            "previous_revision_id": int,
            "position": int,
            "kind": str,
            "municipality": str,
            "municipality_number": str,
            "county": str,
            "section": str,
            "field": str,
            "old": str,
            "new": str,
            "delta": int,
        },
        pk=("revision_id", "position"),
        not_null=["revision_id", "position", "kind"],
        foreign_keys=[
            ("revision_id", "revisions", "id"),
            ("previous_revision_id", "revisions", "id"),
        ],
        strict=strict,
    )
    db.table("robots").create(
        {"origin": str, "fetched_at": str, "status": int, "text": str},
        pk="origin",
        not_null=["fetched_at"],
        strict=strict,
    )


# Views for browsing (Datasette, or any SQLite tool): named like the canned queries they serve.
_VIEWS_2: dict[str, str] = {
    "current_figures": """
SELECT p.name AS page, r.id AS revision_id, r.updated, r.first_seen, f.position,
       f.municipality, f.municipality_number, f.county,
       f.requested, f.minors, f.minors_15_18, f.minors_under_15
FROM figures f
JOIN revisions r ON r.id = f.revision_id
JOIN pages p ON p.id = r.page_id
WHERE r.id = (SELECT max(r2.id) FROM revisions r2 WHERE r2.page_id = r.page_id)""",
    "municipality_history": """
SELECT p.name AS page, r.id AS revision_id, r.first_seen, r.last_seen, r.updated, r.year,
       f.municipality, f.municipality_number, f.county,
       f.requested, f.minors, f.minors_15_18, f.minors_under_15
FROM figures f
JOIN revisions r ON r.id = f.revision_id
JOIN pages p ON p.id = r.page_id""",
    "recent_changes": """
SELECT p.name AS page, c.revision_id, r.first_seen AS seen, r.updated,
       c.previous_revision_id, prev.updated AS previous_updated, c.position, c.kind,
       c.county, c.municipality, c.municipality_number, c.section, c.field,
       c.old, c.new, c.delta
FROM changes c
JOIN revisions r ON r.id = c.revision_id
JOIN pages p ON p.id = r.page_id
LEFT JOIN revisions prev ON prev.id = c.previous_revision_id""",
    "revision_summary": """
SELECT p.name AS page, r.id AS revision_id, r.first_seen, r.last_seen, r.updated, r.year,
       r.title, r.language, r.row_count, r.totals_requested, r.totals_minors,
       r.headline_municipalities, r.headline_refugees,
       (SELECT count(*) FROM changes c WHERE c.revision_id = r.id) AS changes,
       r.warnings, r.snapshot, r.fingerprint
FROM revisions r JOIN pages p ON p.id = r.page_id""",
}


def _migration_2_notifications_and_views(db: Database) -> None:
    """Notifications sent (or not) and the browsing views."""
    db.table("notifications").create(
        {
            "id": int,
            "page_id": int,
            "revision_id": int,
            "sent_at": str,
            "kind": str,
            "target": str,
            "outcome": str,
            "attempts": int,
            "error": str,
        },
        pk="id",
        not_null=["sent_at", "kind", "target", "outcome"],
        foreign_keys=[("page_id", "pages", "id"), ("revision_id", "revisions", "id")],
        strict=db.supports_strict,
    )
    db.table("notifications").create_index(["sent_at"])
    db.table("changes").create_index(["municipality_number"])
    db.table("figures").create_index(["municipality_number"])
    for name, sql in _VIEWS_2.items():
        db.create_view(name, sql.strip())


def _migration_3_drop_number_index(db: Database) -> None:
    """The figures index by number cost 5.4 KB per revision (a sixth of a revision's budget) and
    saved ~1 ms only on lookups by number; names are matched by a scan through fold() anyway."""
    db.execute("DROP INDEX IF EXISTS idx_figures_municipality_number")


# The series model (migration 4). A revision's figures are its tables' areas (rows) and series
# (columns); a value row exists only for a printed number, so a blank cell is an area and a series
# of the same table without a value row: ~360 value rows for the 356-row page instead of 1 424.
# Each page's latest revision and the latest that has a table: the rule "a broken latest revision
# never empties an answer" (pipeline.pick_baseline's, in SQL), one GROUP BY over revisions.
BASE_VIEWS: dict[str, str] = {
    "latest_revisions": """
SELECT page_id, max(id) AS latest_id, max(CASE WHEN has_table THEN id END) AS table_id
FROM revisions GROUP BY page_id""",
}
SERIES_VIEWS: dict[str, str] = {
    # One row per cell of every table of every revision, blanks included (value NULL).
    "series_figures": """
SELECT p.name AS page, r.id AS revision_id, r.first_seen, r.updated, a.level, a.name AS area,
       a.number, a.county, s.measure, s.year, s.part, s.header, v.value
FROM revisions r
JOIN areas a ON a.list_id = r.area_list
JOIN pages p ON p.id = r.page_id
JOIN series s ON s.revision_id = r.id AND s.table_no = a.table_no
LEFT JOIN figure_values v
  ON v.revision_id = r.id AND v.area = a.position AND v.series = s.position""",
    # The latest revision of each page that has a table; `note` says when the latest has none.
    "current_series_figures": """
SELECT p.name AS page, r.id AS revision_id, l.latest_id AS latest_revision_id,
       CASE WHEN l.latest_id != r.id THEN 'latest revision ' || l.latest_id
            || ' has no table; showing revision ' || r.id END AS note,
       r.first_seen, r.updated, a.level, a.name AS area, a.number, a.county,
       s.measure, s.year, s.part, s.header, v.value
FROM latest_revisions l
JOIN revisions r ON r.id = l.table_id
JOIN pages p ON p.id = r.page_id
JOIN areas a ON a.list_id = r.area_list
JOIN series s ON s.revision_id = r.id AND s.table_no = a.table_no
LEFT JOIN figure_values v
  ON v.revision_id = r.id AND v.area = a.position AND v.series = s.position""",
    # Request beside decision for the same area, year and part, with the gap (request − decision).
    "request_vs_decision": """
SELECT q.page, q.revision_id, q.level, q.area, q.number, q.county, q.year, q.part,
       q.value AS request, d.value AS decision, q.value - d.value AS gap
FROM current_series_figures q
JOIN current_series_figures d
  ON d.revision_id = q.revision_id AND d.level = q.level AND d.year IS q.year
  AND d.part = q.part AND d.measure = 'decision'
  AND coalesce(d.number, d.area) IS coalesce(q.number, q.area)
WHERE q.measure = 'request'""",
    "key_figure_history": """
SELECT p.name AS page, r.id AS revision_id, r.first_seen, r.updated, k.measure, k.subject,
       k.part, k.year, k.value, k.qualifier
FROM key_figures k
JOIN revisions r ON r.id = k.revision_id
JOIN pages p ON p.id = r.page_id""",
}
# The request series' four parts of a revision's own year, joined to an area `a` of revision `r`.
_REQUEST_PARTS = """
LEFT JOIN series s0 ON s0.revision_id = r.id AND s0.table_no = a.table_no
  AND s0.measure = 'request' AND s0.part = 'total' AND (s0.year IS r.year OR r.year IS NULL)
LEFT JOIN series s1 ON s1.revision_id = r.id AND s1.table_no = a.table_no
  AND s1.measure = 'request' AND s1.part = 'minors' AND (s1.year IS r.year OR r.year IS NULL)
LEFT JOIN series s2 ON s2.revision_id = r.id AND s2.table_no = a.table_no
  AND s2.measure = 'request' AND s2.part = 'minors_15_18'
  AND (s2.year IS r.year OR r.year IS NULL)
LEFT JOIN series s3 ON s3.revision_id = r.id AND s3.table_no = a.table_no
  AND s3.measure = 'request' AND s3.part = 'minors_under_15'
  AND (s3.year IS r.year OR r.year IS NULL)
LEFT JOIN figure_values v0
  ON v0.revision_id = r.id AND v0.area = a.position AND v0.series = s0.position
LEFT JOIN figure_values v1
  ON v1.revision_id = r.id AND v1.area = a.position AND v1.series = s1.position
LEFT JOIN figure_values v2
  ON v2.revision_id = r.id AND v2.area = a.position AND v2.series = s2.position
LEFT JOIN figure_values v3
  ON v3.revision_id = r.id AND v3.area = a.position AND v3.series = s3.position"""
# The request series of each revision's own year at municipality level: the shape of the first
# round's `figures` table, kept as a view so that older queries keep working.
LEGACY_VIEWS: dict[str, str] = {
    # No GROUP BY: a filter on the revision or the municipality reaches the indexes through
    # these views (a grouped view is computed whole first: 1.8 s at 1 000 revisions).
    "figures": f"""
SELECT r.id AS revision_id, a.position, a.name AS municipality,
       a.number AS municipality_number, a.county,
       v0.value AS requested, v1.value AS minors, v2.value AS minors_15_18,
       v3.value AS minors_under_15
FROM revisions r
JOIN areas a ON a.list_id = r.area_list AND a.level = 'municipality'
{_REQUEST_PARTS}
WHERE s0.position IS NOT NULL""",
    "current_figures": f"""
SELECT p.name AS page, r.id AS revision_id, l.latest_id AS latest_revision_id,
       CASE WHEN l.latest_id != r.id THEN 'latest revision ' || l.latest_id
            || ' has no table; showing revision ' || r.id END AS note,
       r.updated, r.first_seen, a.position,
       a.name AS municipality, a.number AS municipality_number, a.county,
       v0.value AS requested, v1.value AS minors, v2.value AS minors_15_18,
       v3.value AS minors_under_15
FROM latest_revisions l
JOIN revisions r ON r.id = l.table_id
JOIN pages p ON p.id = r.page_id
JOIN areas a ON a.list_id = r.area_list AND a.level = 'municipality'
{_REQUEST_PARTS}
WHERE s0.position IS NOT NULL""",
    "municipality_history": f"""
SELECT p.name AS page, r.id AS revision_id, r.first_seen, r.last_seen, r.updated, r.year,
       a.name AS municipality, a.number AS municipality_number, a.county,
       v0.value AS requested, v1.value AS minors, v2.value AS minors_15_18,
       v3.value AS minors_under_15
FROM areas a
JOIN revisions r ON r.area_list = a.list_id
JOIN pages p ON p.id = r.page_id
{_REQUEST_PARTS}
WHERE a.level = 'municipality' AND s0.position IS NOT NULL""",
    "recent_changes": """
SELECT p.name AS page, c.revision_id, r.first_seen AS seen, r.updated,
       c.previous_revision_id, prev.updated AS previous_updated, c.position, c.kind,
       c.county, c.municipality, c.municipality_number, c.level, c.measure, c.year, c.part,
       c.section, c.field, c.old, c.new, c.delta
FROM changes c
JOIN revisions r ON r.id = c.revision_id
JOIN pages p ON p.id = r.page_id
LEFT JOIN revisions prev ON prev.id = c.previous_revision_id""",
    "revision_summary": _VIEWS_2["revision_summary"],  # unchanged since migration 2
}


def _migration_4_series(db: Database) -> None:
    """Figures as series: areas, series and values per revision; key figures; changes carry
    their series. The first round's figures (request series of the page's year) move over."""
    strict = ", STRICT" if db.supports_strict else ""
    for name in _VIEWS_2:
        db.execute(f"DROP VIEW IF EXISTS {name}")
    # A revision's list of areas (names, numbers, counties, levels) rarely changes: each distinct
    # list is kept once (by its SHA-256) and revisions point to it, ~13 KB saved per revision.
    db.table("area_lists").create(
        {"id": int, "sha256": str}, pk="id", not_null=["sha256"], strict=db.supports_strict
    )
    db.table("area_lists").create_index(["sha256"], unique=True)
    db.execute(
        f"""CREATE TABLE areas (
   list_id INTEGER NOT NULL REFERENCES area_lists(id),
   position INTEGER NOT NULL,
   table_no INTEGER NOT NULL,
   level TEXT NOT NULL,
   name TEXT,
   number TEXT,
   county TEXT,
   PRIMARY KEY (list_id, position)
) WITHOUT ROWID{strict}"""
    )
    db.execute("ALTER TABLE revisions ADD COLUMN area_list INTEGER REFERENCES area_lists(id)")
    db.execute(
        f"""CREATE TABLE series (
   revision_id INTEGER NOT NULL REFERENCES revisions(id),
   position INTEGER NOT NULL,
   table_no INTEGER NOT NULL,
   measure TEXT NOT NULL,
   year INTEGER,
   part TEXT NOT NULL,
   header TEXT,
   PRIMARY KEY (revision_id, position)
) WITHOUT ROWID{strict}"""
    )
    db.execute(
        f"""CREATE TABLE figure_values (
   revision_id INTEGER NOT NULL REFERENCES revisions(id),
   area INTEGER NOT NULL,
   series INTEGER NOT NULL,
   value INTEGER NOT NULL,
   PRIMARY KEY (revision_id, area, series)
) WITHOUT ROWID{strict}"""
    )
    db.execute(
        f"""CREATE TABLE figure_tables (
   revision_id INTEGER NOT NULL REFERENCES revisions(id),
   table_no INTEGER NOT NULL,
   heading TEXT,
   PRIMARY KEY (revision_id, table_no)
) WITHOUT ROWID{strict}"""
    )
    db.table("key_figures").create(
        {"revision_id": int, "position": int, "measure": str, "subject": str, "part": str,
         "year": int, "value": int, "qualifier": str},
        pk=("revision_id", "position"),
        not_null=["revision_id", "position", "measure", "subject", "part", "value"],
        foreign_keys=[("revision_id", "revisions", "id")],
        strict=db.supports_strict,
    )  # fmt: skip
    # History and lookups by number and by name stay cheap at any age.
    db.execute("CREATE INDEX idx_areas_number ON areas (number)")
    db.execute("CREATE INDEX idx_revisions_area_list ON revisions (area_list)")
    for column in ("level", "measure", "year", "part"):
        db.execute(
            f"ALTER TABLE changes ADD COLUMN {column} {'INTEGER' if column == 'year' else 'TEXT'}"
        )
    # Move the first round's figures: the request series of the revision's year, four parts.
    db.execute(
        "INSERT INTO series (revision_id, position, table_no, measure, year, part, header) "
        "SELECT r.id, p.position, 0, 'request', r.year, p.part, NULL FROM revisions r "
        "JOIN (SELECT 0 AS position, 'total' AS part UNION ALL SELECT 1, 'minors' "
        "UNION ALL SELECT 2, 'minors_15_18' UNION ALL SELECT 3, 'minors_under_15') p "
        "WHERE EXISTS (SELECT 1 FROM figures f WHERE f.revision_id = r.id)"
    )
    # Old revisions each get a list of their own (named by their id); new ones share lists.
    db.execute(
        "INSERT INTO area_lists (id, sha256) SELECT id, 'migrated-' || id FROM revisions "
        "WHERE EXISTS (SELECT 1 FROM figures f WHERE f.revision_id = revisions.id)"
    )
    db.execute("UPDATE revisions SET area_list = id WHERE id IN (SELECT id FROM area_lists)")
    db.execute(
        "INSERT INTO areas (list_id, position, table_no, level, name, number, county) "
        "SELECT revision_id, position, 0, 'municipality', municipality, municipality_number, "
        "county FROM figures"
    )
    for index, column in enumerate(FIGURE_FIELDS):
        db.execute(
            f"INSERT INTO figure_values (revision_id, area, series, value) "
            f"SELECT revision_id, position, {index}, {column} FROM figures "
            f"WHERE {column} IS NOT NULL"
        )
    # A printed totals row becomes a `total` area after the rows.
    db.execute(
        "INSERT INTO areas (list_id, position, table_no, level, name, number, county) "
        "SELECT r.id, (SELECT count(*) FROM figures f WHERE f.revision_id = r.id), 0, 'total', "
        "NULL, NULL, NULL FROM revisions r WHERE r.has_totals AND r.area_list IS NOT NULL"
    )
    for index, column in enumerate(FIGURE_FIELDS):
        db.execute(
            f"INSERT INTO figure_values (revision_id, area, series, value) "
            f"SELECT r.id, (SELECT count(*) FROM figures f WHERE f.revision_id = r.id), {index}, "
            f"r.totals_{column} FROM revisions r WHERE r.has_totals AND r.totals_{column} IS NOT NULL"
        )
    db.execute("DROP TABLE figures")
    for name, sql in VIEWS.items():
        db.create_view(name, sql.strip())


# Applied in order on open; PRAGMA user_version counts the ones applied. Append, never edit.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (
    _migration_1_initial,
    _migration_2_notifications_and_views,
    _migration_3_drop_number_index,
    _migration_4_series,
)
SCHEMA_VERSION = len(MIGRATIONS)
# The browsing views as they stand (named like the canned queries that read them).
VIEWS: dict[str, str] = {**BASE_VIEWS, **LEGACY_VIEWS, **SERIES_VIEWS}


# --- opening, locking, errors ----------------------------------------------------------------


def open_store(db_path: Path, snapshots_dir: Path, *, rebuilding: bool = False) -> Store:
    """Open (creating folders and the database if needed) and migrate the store.

    An empty database (new, 0 bytes, or one without pages) beside snapshots of an earlier history
    is refused, so history never starts again at revision 1 by accident; `rebuilding` allows it
    for `rebuild`, which fills a new database from those snapshots.
    """
    db_path, snapshots_dir = Path(db_path), Path(snapshots_dir)
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        snapshots_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(_os_message(exc, db_path)) from exc
    if db_path.is_dir():
        raise StoreError(f"{db_path}: is a folder, not a database file")
    try:
        conn = sqlite3.connect(db_path, timeout=10.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"{db_path}: cannot open the database: {exc}") from exc
    try:
        if not rebuilding:
            _refuse_empty_beside_snapshots(conn, db_path, snapshots_dir)
        _prepare(conn, db_path)
    except BaseException:
        conn.close()
        raise
    return Store(conn, db_path=db_path, snapshots_dir=snapshots_dir)


def _refuse_empty_beside_snapshots(
    conn: sqlite3.Connection, db_path: Path, snapshots_dir: Path
) -> None:
    """Before anything is written: a database without pages must not meet existing snapshots."""
    try:
        has_pages = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pages'"
        ).fetchone() is not None and (
            conn.execute("SELECT 1 FROM pages LIMIT 1").fetchone() is not None
        )
    except sqlite3.DatabaseError:
        return  # not a database, or unreadable: _prepare says which
    if has_pages:
        return
    try:
        count = sum(1 for _ in snapshots_dir.glob(f"*{SNAPSHOT_SUFFIX}"))
    except OSError:
        return
    if not count:
        return
    size = db_path.stat().st_size if db_path.exists() else 0
    what = "is empty (0 bytes)" if size == 0 else "holds no pages"
    raise StoreError(
        f"{db_path}: {what}, but {snapshots_dir} holds {count} snapshots of an earlier history; "
        f"refusing to start that history again. Move the database away, then run "
        f"`imdi-watch rebuild {db_path}` to rebuild it from the snapshots"
    )


def _sqlite_message(exc: sqlite3.Error, db_path: Path) -> str | None:
    """A disk-full or I/O error named as such (SQLite may report it later as something else,
    such as "cannot commit - no transaction is active")."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    if code & 0xFF == sqlite3.SQLITE_FULL:
        return (
            f"{db_path}: the disk is full (SQLite: {exc}); nothing of this operation was stored. "
            "Free some space and run again"
        )
    if code & 0xFF == sqlite3.SQLITE_IOERR:
        name = getattr(exc, "sqlite_errorname", "SQLITE_IOERR")
        return (
            f"{db_path}: I/O error ({name}: {exc}); nothing of this operation was stored. "
            "Check the disk"
        )
    return None


def _prepare(conn: sqlite3.Connection, db_path: Path) -> None:
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")  # one read transaction: a concurrent migration is all or nothing
        try:
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = [
                name
                for (name,) in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
        finally:
            conn.execute("COMMIT")
        if application_id != APPLICATION_ID and (application_id != 0 or version != 0 or tables):
            what = (
                f"it holds other tables: {', '.join(tables[:5])}"
                if tables
                else f"its application id is {application_id:#x}"
            )
            raise StoreError(f"{db_path}: not an imdi-watch database ({what})")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{db_path}: schema version {version} is newer than this imdi-watch knows "
                f"({SCHEMA_VERSION}); upgrade imdi-watch"
            )
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version < SCHEMA_VERSION:
            _migrate(conn, db_path)
        conn.create_function("fold", 1, fold_or_none, deterministic=True)
    except sqlite3.DatabaseError as exc:
        named = _sqlite_message(exc, db_path)
        if named is not None:
            raise StoreError(named) from exc
        if "not a database" in str(exc):
            raise StoreError(f"{db_path}: not an imdi-watch database ({exc})") from exc
        raise StoreError(f"{db_path}: {exc}") from exc


def _migrate(conn: sqlite3.Connection, db_path: Path) -> None:
    from sqlite_utils import Database

    db = Database(conn, execute_plugins=False, recursive_triggers=False)
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            log.info("%s: applying migration %d (%s)", db_path, number, migration.__name__)
            migration(db)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def fold_or_none(text: object) -> str | None:
    """`fold()` as SQL sees it (store queries, Datasette's canned queries): NULL and any value
    that is not text give NULL."""
    return fold(text) if isinstance(text, str) else None


@contextlib.contextmanager
def lock_store(db_path: Path, *, wait_s: float) -> Iterator[None]:
    """Hold an exclusive flock on `<db_path>.lock`, waiting up to `wait_s`, else LockBusy.

    The kernel releases the lock when the holder dies, so a crashed check never leaves it stale.
    """
    lock_path = Path(db_path).with_name(Path(db_path).name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(_os_message(exc, lock_path)) from exc
    try:
        deadline = time.monotonic() + wait_s
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if not waited and remaining > 0:
                    waited = True
                    log.info(
                        "waiting up to %g s for the lock on %s (another check holds it)",
                        wait_s,
                        lock_path,
                        extra={"notice": True},
                    )
                if remaining <= 0:
                    raise LockBusy(
                        f"another imdi-watch check holds the lock on {lock_path} "
                        f"(waited {wait_s:g} s)"
                    ) from None
                time.sleep(min(_LOCK_POLL_S, remaining))
            except OSError as exc:
                raise StoreError(_os_message(exc, lock_path)) from exc
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _os_message(exc: OSError, fallback: Path) -> str:
    where = exc.filename if exc.filename is not None else fallback
    named = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
             errno.EIO: "I/O error", errno.EFBIG: "file too large"}.get(exc.errno or 0)  # fmt: skip
    if named:
        return f"{where}: {named} ({exc.strerror or exc})"
    return f"{where}: {exc.strerror or exc}"


def _check_timestamp(value: str, name: str) -> None:
    if not _TIMESTAMP.match(value):
        raise ValueError(f"{name} must be ISO-8601 UTC like 2021-11-12T08:30:00Z, got {value!r}")


def _time_key(value: str) -> str:
    """A sort key on which '…:05Z' comes before '…:05.123Z'."""
    seconds, _, fraction = value.rstrip("Z").partition(".")
    return f"{seconds}.{fraction.ljust(6, '0')}"


def _blank_to_none(text: str | None) -> str | None:
    return text if text else None


def _encode_value(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _decode_value(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _encode_warnings(warnings: Sequence[PageWarning]) -> str:
    return json.dumps(
        [{"code": w.code, "message": w.message, "details": w.details} for w in warnings],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _decode_warnings(text: str) -> tuple[PageWarning, ...]:
    return tuple(PageWarning(w["code"], w["message"], w["details"]) for w in json.loads(text))


def build_snapshot_meta(
    fetch: FetchResult, *, fetched_at: str, page: str | None = None
) -> dict[str, Any]:
    """The `<sha>.json` beside a snapshot, from the fetch that brought the body."""
    return {
        "url": without_userinfo(fetch.url),
        "final_url": without_userinfo(fetch.final_url),
        "status": fetch.status,
        "headers": dict(fetch.headers),
        "fetched_at": fetched_at,
        "elapsed_ms": fetch.elapsed_ms,
        "attempts": fetch.attempts,
        "encoding": fetch.encoding,
        "page": without_userinfo(page) if page else page,
    }


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, os.replace, fsync the folder: all or nothing."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- the store -------------------------------------------------------------------------------

_REVISION_COLUMNS = (
    "id, page_id, fingerprint, first_seen, last_seen, snapshot, title, language, updated, year, "
    + ", ".join(f"headline_{name}" for name in HEADLINE_FIELDS)
    + ", has_totals, "
    + ", ".join(f"totals_{name}" for name in FIGURE_FIELDS)
    + ", has_table, row_count, warnings, parser_version"
)
_FETCH_COLUMNS = (
    "id, page_id, fetched_at, outcome, status, bytes, elapsed_ms, attempts, etag, last_modified, "
    "final_url, error, revision_id"
)
_CHANGE_COLUMNS = (
    "kind, field, old, new, delta, municipality, municipality_number, county, section, level, "
    "measure, year, part"
)


def _revision_from_row(row: Sequence[Any]) -> RevisionRecord:
    (rid, page_id, fingerprint, first_seen, last_seen, snapshot, title, language, updated, year,
     h1, h2, h3, h4, has_totals, t1, t2, t3, t4, has_table, row_count, warnings,
     parser_version) = row  # fmt: skip
    return RevisionRecord(
        id=rid,
        page_id=page_id,
        fingerprint=fingerprint,
        first_seen=first_seen,
        last_seen=last_seen,
        snapshot=snapshot,
        title=title,
        language=language,
        updated=updated,
        year=year,
        headline=Headline(h1, h2, h3, h4),
        totals=Totals(t1, t2, t3, t4) if has_totals else None,
        row_count=row_count,
        warnings=_decode_warnings(warnings),
        parser_version=parser_version,
        has_table=bool(has_table),
    )


def _fetch_from_row(row: Sequence[Any]) -> FetchRecord:
    values = list(row)
    values[3] = Outcome(values[3])
    return FetchRecord(*values)


def _change_from_row(row: Sequence[Any]) -> Change:
    (
        kind,
        field,
        old,
        new,
        delta,
        municipality,
        number,
        county,
        section,
        level,
        measure,
        year,
        part,
    ) = row
    return Change(
        kind=ChangeKind(kind),
        field=field,
        old=_decode_value(old),
        new=_decode_value(new),
        delta=delta,
        municipality=municipality,
        municipality_number=number,
        county=county,
        section=section,
        series=Series(measure, year, part) if measure is not None else None,
        level=level,
    )


class Store:
    """An open store. Use `open_store()`; close it, or use it as a context manager."""

    def __init__(self, conn: sqlite3.Connection, *, db_path: Path, snapshots_dir: Path):
        self._conn = conn
        self.db_path = db_path
        self.snapshots_dir = snapshots_dir

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._errors():
            self._conn.close()

    def lock(self, wait_s: float) -> contextlib.AbstractContextManager[None]:
        """The store's check lock (see `lock_store`)."""
        return lock_store(self.db_path, wait_s=wait_s)

    # --- plumbing

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            named = _sqlite_message(exc, self.db_path)
            if named is not None:
                raise StoreError(named) from exc
            if "not a database" in str(exc):
                raise StoreError(f"{self.db_path}: not an imdi-watch database ({exc})") from exc
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"{self.db_path}: {exc} (another process is writing; try again)"
                ) from exc
            raise StoreError(f"{self.db_path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"{self.db_path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(_os_message(exc, self.snapshots_dir)) from exc

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One SQLite transaction; reads too, so that several SELECTs see one state."""
        with self._errors():
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._errors():
            return self._conn.execute(sql, params).fetchall()

    # --- pages

    def ensure_page(self, name: str, url: str) -> PageRecord:
        """The page with this URL, created if new; a changed name (in config) is updated.
        The URL is kept without user:password@, as every URL in the store (and so is a name that
        is a URL, as `ingest --url` gives)."""
        url, name = without_userinfo(url), without_userinfo(name)
        with self._transaction(write=True) as conn:
            row = conn.execute("SELECT id, name FROM pages WHERE url = ?", (url,)).fetchone()
            if row is None:
                cursor = conn.execute("INSERT INTO pages (name, url) VALUES (?, ?)", (name, url))
                return PageRecord(id=_lastrowid(cursor), name=name, url=url)
            if row[1] != name:
                conn.execute("UPDATE pages SET name = ? WHERE id = ?", (name, row[0]))
            return PageRecord(id=row[0], name=name, url=url)

    def pages(self) -> list[PageRecord]:
        return [PageRecord(*row) for row in self._query("SELECT id, name, url FROM pages")]

    # --- snapshots

    def snapshot_path(self, sha: str) -> Path:
        return self.snapshots_dir / f"{_check_sha(sha)}{SNAPSHOT_SUFFIX}"

    def write_snapshot(self, body: bytes, meta: Mapping[str, Any]) -> str:
        """Store a body (once per SHA-256) and its fetch metadata; returns the SHA-256 hex.

        `meta` needs at least `url` and `fetched_at` (see `build_snapshot_meta`). Writing a body
        again keeps the first metadata and adds `meta["fetched_at"]` to `new_revision_at`.
        """
        for key in ("url", "fetched_at"):
            if key not in meta:
                raise ValueError(f"snapshot metadata needs {key!r}")
        _check_timestamp(meta["fetched_at"], "meta['fetched_at']")
        sha = hashlib.sha256(body).hexdigest()
        path = self.snapshot_path(sha)
        meta_path = path.with_name(sha + META_SUFFIX)
        with self._errors():
            if not self._snapshot_intact(path, sha):
                _write_atomic(path, gzip.compress(body, compresslevel=9, mtime=0))
            record: Any = None
            with contextlib.suppress(FileNotFoundError):
                try:
                    record = json.loads(meta_path.read_bytes())
                except ValueError:
                    log.warning("%s: unreadable snapshot metadata, written anew", meta_path)
            if not isinstance(record, dict):
                record = {**meta, "new_revision_at": []}
            times = set(record.get("new_revision_at") or ()) | {meta["fetched_at"]}
            record["new_revision_at"] = sorted(times, key=_time_key)
            data = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            _write_atomic(meta_path, data.encode("utf-8"))
        return sha

    def _snapshot_intact(self, path: Path, sha: str) -> bool:
        try:
            return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == sha
        except (OSError, EOFError, zlib.error):
            return False

    def read_snapshot(self, sha: str) -> bytes:
        """The raw body; checks it against its SHA-256."""
        path = self.snapshot_path(sha)
        try:
            body = gzip.decompress(path.read_bytes())
        except FileNotFoundError as exc:
            raise StoreError(f"{path}: no such snapshot") from exc
        except (OSError, EOFError, zlib.error) as exc:
            raise StoreError(f"{path}: cannot read snapshot: {exc}") from exc
        if hashlib.sha256(body).hexdigest() != sha:
            raise StoreError(f"{path}: snapshot is corrupt (its content has another SHA-256)")
        return body

    def snapshot_meta(self, sha: str) -> dict[str, Any]:
        path = self.snapshots_dir / f"{_check_sha(sha)}{META_SUFFIX}"
        try:
            data: dict[str, Any] = json.loads(path.read_bytes())
        except FileNotFoundError as exc:
            raise StoreError(f"{path}: no such snapshot metadata") from exc
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path}: cannot read snapshot metadata: {exc}") from exc
        return data

    # --- checks

    def record_check(
        self,
        page_id: int,
        *,
        fetched_at: str,
        outcome: Outcome,
        fetch: FetchResult | None,
        error: str | None = None,
        page: Page | None = None,
        snapshot: str | None = None,
        changes: Sequence[Change] = (),
        parser_version: str | None = None,
        compared_with: int | None = None,
        status: int | None = None,
        attempts: int | None = None,
    ) -> CheckRecord:
        """Write one check in one transaction (the caller decides the outcome).

        A failed fetch without a response body keeps `status` and `attempts` (a 404 is a 404).

        `compared_with` names the revision the `changes` were computed against, when that is not
        the latest (after a broken revision the next is compared with the last good one).

        NEW_REVISION needs `page` and `snapshot` (already written): inserts the revision, its
        figures, sections and `changes`. UNCHANGED moves the latest revision's `last_seen`.
        NOT_MODIFIED only adds the fetch row (linked to the latest revision). ERROR stores `error`.
        """
        outcome = Outcome(outcome)
        _check_timestamp(fetched_at, "fetched_at")
        if outcome is not Outcome.ERROR and fetch is None:
            raise ValueError(f"a {outcome} check needs the fetch result")
        if outcome is Outcome.NEW_REVISION:
            if page is None or snapshot is None:
                raise ValueError("a new revision needs the parsed page and its snapshot")
            snapshot_path = self.snapshot_path(snapshot)
            if not snapshot_path.is_file():
                raise StoreError(
                    f"{snapshot_path}: snapshot missing; write_snapshot() comes before a new revision"
                )
        values = _fetch_values(fetch, status=status, attempts=attempts)
        with self._transaction(write=True) as conn:
            latest = conn.execute(
                "SELECT id, fingerprint FROM revisions WHERE page_id = ? ORDER BY id DESC LIMIT 1",
                (page_id,),
            ).fetchone()
            latest_id = latest[0] if latest else None
            if outcome is Outcome.NEW_REVISION:
                assert page is not None and snapshot is not None
                if latest is not None and latest[1] == page.fingerprint:
                    raise ValueError(
                        f"revision {latest_id} already has fingerprint {page.fingerprint[:12]}; "
                        "an equal fingerprint is an unchanged check"
                    )
                revision_id = _insert_revision(
                    conn, page_id, page, snapshot=snapshot, fetched_at=fetched_at,
                    parser_version=parser_version,
                )  # fmt: skip
                _insert_changes(conn, revision_id, compared_with or latest_id, changes)
                fetch_id = _insert_fetch(
                    conn, page_id, fetched_at, outcome, values, error, revision_id
                )
                return CheckRecord(fetch_id, outcome, revision_id, compared_with or latest_id)
            if outcome is Outcome.UNCHANGED:
                if latest is None:
                    raise ValueError(f"page {page_id} has no revision to be unchanged from")
                if page is not None and page.fingerprint != latest[1]:
                    raise ValueError("an unchanged check's page must have the latest fingerprint")
                conn.execute(
                    "UPDATE revisions SET last_seen = ? WHERE id = ? AND last_seen < ?",
                    (fetched_at, latest_id, fetched_at),
                )
            seen_id = None if outcome is Outcome.ERROR else latest_id
            fetch_id = _insert_fetch(conn, page_id, fetched_at, outcome, values, error, seen_id)
            return CheckRecord(fetch_id, outcome, seen_id, None)

    def last_validators(self, page_id: int) -> tuple[str | None, str | None]:
        """(ETag, Last-Modified) for a conditional GET: from the last good 200, updated by the
        304s after it (a 304 may omit a validator; the 200's still holds). Error checks don't count:
        their body was never accepted, so a 304 against it would hide it for good.
        """
        etag: str | None = None
        last_modified: str | None = None
        with self._errors():
            rows = self._conn.execute(
                "SELECT status, etag, last_modified FROM fetches WHERE page_id = ? "
                "AND outcome != 'error' AND status IN (200, 304) ORDER BY id DESC",
                (page_id,),
            )
            for status, row_etag, row_last_modified in rows:
                etag = etag or row_etag
                last_modified = last_modified or row_last_modified
                if status == 200 or (etag and last_modified):
                    break
        return etag, last_modified

    def record_notification(
        self,
        *,
        sent_at: str,
        kind: str,
        target: str,
        outcome: str,
        attempts: int,
        error: str | None = None,
        page_id: int | None = None,
        revision_id: int | None = None,
    ) -> int:
        """Keep one notification attempt; `target` must already have its secrets redacted."""
        with self._transaction(write=True) as conn:
            cursor = conn.execute(
                "INSERT INTO notifications (page_id, revision_id, sent_at, kind, target, outcome,"
                " attempts, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (page_id, revision_id, sent_at, kind, target, outcome, attempts, error),
            )
            return _lastrowid(cursor)

    def notifications(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest notification attempts, newest first."""
        columns = ("id", "page_id", "revision_id", "sent_at", "kind", "target", "outcome",
                   "attempts", "error")  # fmt: skip
        rows = self._query(
            f"SELECT {', '.join(columns)} FROM notifications ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def consecutive_failures(self, page_id: int) -> int:
        """Error checks since the last check that was not an error."""
        ((count,),) = self._query(
            "SELECT count(*) FROM fetches WHERE page_id = ? AND outcome = 'error' AND id > "
            "coalesce((SELECT max(id) FROM fetches WHERE page_id = ? AND outcome != 'error'), 0)",
            (page_id, page_id),
        )
        return int(count)

    def fetches(self, limit: int = 50, page_id: int | None = None) -> list[FetchRecord]:
        """The latest checks, newest first."""
        rows = self._query(
            f"SELECT {_FETCH_COLUMNS} FROM fetches WHERE ?1 IS NULL OR page_id = ?1 "
            "ORDER BY id DESC LIMIT ?2",
            (page_id, limit),
        )
        return [_fetch_from_row(row) for row in rows]

    def fetch_at(self, page_id: int, fetched_at: str) -> FetchRecord | None:
        """The page's check at exactly this time, if there is one."""
        rows = self._query(
            f"SELECT {_FETCH_COLUMNS} FROM fetches WHERE page_id = ? AND fetched_at = ? LIMIT 1",
            (page_id, fetched_at),
        )
        return _fetch_from_row(rows[0]) if rows else None

    # --- revisions

    def latest_revision(self, page_id: int) -> RevisionRecord | None:
        rows = self._query(
            f"SELECT {_REVISION_COLUMNS} FROM revisions WHERE page_id = ? ORDER BY id DESC LIMIT 1",
            (page_id,),
        )
        return _revision_from_row(rows[0]) if rows else None

    def revision(self, revision_id: int) -> RevisionRecord:
        rows = self._query(
            f"SELECT {_REVISION_COLUMNS} FROM revisions WHERE id = ?", (revision_id,)
        )
        if not rows:
            raise InputError(f"{self.db_path}: no revision {revision_id}")
        return _revision_from_row(rows[0])

    def revisions(
        self, page_id: int | None = None, *, limit: int | None = None
    ) -> list[RevisionRecord]:
        """Every revision (or the latest `limit`), newest first."""
        rows = self._query(
            f"SELECT {_REVISION_COLUMNS} FROM revisions WHERE ?1 IS NULL OR page_id = ?1 "
            "ORDER BY id DESC LIMIT ?2",
            (page_id, -1 if limit is None else limit),
        )
        return [_revision_from_row(row) for row in rows]

    def revision_at(self, page_id: int, day: str) -> RevisionRecord | None:
        """The revision current at the end of `day` (an ISO date, UTC), None before the first."""
        try:
            next_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        except ValueError as exc:
            raise InputError(f"not a date: {day!r} (expected YYYY-MM-DD)") from exc
        rows = self._query(
            f"SELECT {_REVISION_COLUMNS} FROM revisions WHERE page_id = ? AND first_seen < ? "
            "ORDER BY first_seen DESC, id DESC LIMIT 1",
            (page_id, next_day),
        )
        return _revision_from_row(rows[0]) if rows else None

    def load_page(self, revision_id: int) -> Page:
        """The page as parsed, rebuilt from the stored tables, key figures and sections of one
        revision (statements are read again from the sections, which hold them whole)."""
        from scraper.statements import read_statements

        with self._transaction(write=False) as conn:
            record = self.revision(revision_id)
            tables = _select_tables(conn, revision_id)
            sections = tuple(
                Section(heading, tuple(text.split("\n")) if text is not None else ())
                for heading, text in conn.execute(
                    "SELECT heading, text FROM sections WHERE revision_id = ? ORDER BY position",
                    (revision_id,),
                )
            )
            key_figures = tuple(
                KeyFigure(*row)
                for row in conn.execute(
                    "SELECT measure, subject, part, year, value, qualifier FROM key_figures "
                    "WHERE revision_id = ? ORDER BY position",
                    (revision_id,),
                )
            )
        page = Page(
            title=record.title,
            language=record.language,
            updated=record.updated,
            year=record.year,
            headline=record.headline,
            sections=sections,
            warnings=record.warnings,
            fingerprint=record.fingerprint,
            tables=tables,
            statements=read_statements(sections),
            key_figures=key_figures,
        )
        if len(page.rows) != record.row_count:
            raise StoreError(
                f"{self.db_path}: revision {revision_id} has {len(page.rows)} figure rows, "
                f"expected {record.row_count}"
            )
        return page

    def figures(self, revision_id: int, county: str | None = None) -> list[Row]:
        """A revision's rows (the request series of its year) in page order; `county` matches
        as `--county` does (case- and accent-blind)."""
        rows = self.load_page(revision_id).rows
        return [row for row in rows if county is None or same_name(row.county, county)]

    def area_names(
        self, page_id: int, level: str = "municipality"
    ) -> list[tuple[str, str | None, str | None]]:
        """Every distinct (name, number, county) of an area of `level` in a page's history."""
        return [
            (name, number, county)
            for name, number, county in self._query(
                "SELECT DISTINCT a.name, a.number, a.county FROM areas a "
                "WHERE a.list_id IN (SELECT DISTINCT area_list FROM revisions WHERE page_id = ?) "
                "AND a.level = ? AND a.name IS NOT NULL "
                "ORDER BY a.number, a.name",
                (page_id, level),
            )
        ]

    def area_history(
        self, page_id: int, numbers: Sequence[str], *, county: str | None = None
    ) -> list[tuple[RevisionStamp, list[Figure]]]:
        """One municipality (its numbers across the 2024 reform) — or, with `county`, one county
        line by its name — in every revision of one page that has it, oldest first: each
        revision (its id and dates: its warnings are not read) with the area's figures."""
        if county is not None:
            where, params = "a.name = ? AND a.level = 'county'", [county]
        elif numbers:
            where = f"a.number IN ({', '.join('?' * len(numbers))}) AND a.level = 'municipality'"
            params = list(numbers)
        else:
            return []
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT r.id, r.first_seen, r.last_seen, r.updated, a.level, a.name, a.number, "
                "a.county, s.measure, s.year, s.part, s.header, v.value FROM areas a "
                "JOIN revisions r ON r.area_list = a.list_id "
                "JOIN series s ON s.revision_id = r.id AND s.table_no = a.table_no "
                "LEFT JOIN figure_values v ON v.revision_id = r.id "
                "AND v.area = a.position AND v.series = s.position "
                f"WHERE {where} AND r.page_id = ? "
                "ORDER BY r.id, a.position, s.position",
                (*params, page_id),
            ).fetchall()
        history: dict[int, tuple[RevisionStamp, list[Figure]]] = {}
        columns: dict[tuple[Any, ...], Series] = {}  # a series is one object however often seen
        for rid, first_seen, last_seen, updated, level, name, number, county, *rest in rows:
            measure, year, part, header, value = rest
            if rid not in history:
                history[rid] = (RevisionStamp(rid, first_seen, last_seen, updated), [])
            series = columns.get((measure, year, part, header))
            if series is None:
                series = columns[(measure, year, part, header)] = Series(
                    measure, year, part, header or ""
                )
            history[rid][1].append(Figure(level, name, number, county, series, value))
        return list(history.values())

    def changes(self, revision_id: int) -> list[Change]:
        """The changes that made this revision, as the diff listed them."""
        self.revision(revision_id)
        rows = self._query(
            f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE revision_id = ? ORDER BY position",
            (revision_id,),
        )
        return [_change_from_row(row) for row in rows]

    # --- reparsing

    def replace_contents(
        self, reparsed: Sequence[Reparsed], *, parser_version: str | None
    ) -> list[int]:
        """Put re-parses in place of revisions' parsed content, all in one transaction: each
        revision's tables, text and changes (against the revision the pipeline chose).
        Returns the ids of the revisions whose fingerprint changed."""
        changed: list[int] = []
        with self._transaction(write=True) as conn:
            for item in reparsed:
                row = conn.execute(
                    "SELECT fingerprint FROM revisions WHERE id = ?", (item.revision_id,)
                ).fetchone()
                if row is None:
                    raise InputError(f"{self.db_path}: no revision {item.revision_id}")
                _replace_content(
                    conn, item.revision_id, item.page, parser_version, item.changes,
                    item.compared_with,
                )  # fmt: skip
                if item.page.fingerprint != row[0]:
                    changed.append(item.revision_id)
        return changed

    def snapshot_result(self, sha: str, meta: Mapping[str, Any] | None = None) -> FetchResult:
        """A stored body as the response that brought it (URL, status, headers, encoding);
        `meta` is its `snapshot_meta` when the caller has read it already."""
        if meta is None:
            meta = self.snapshot_meta(sha)
        headers = {str(k).lower(): str(v) for k, v in (meta.get("headers") or {}).items()}
        encoding = meta.get("encoding")
        if encoding is None:
            match = re.search(r"charset=([\w-]+)", headers.get("content-type", ""), re.I)
            encoding = match.group(1) if match else None
        return FetchResult(
            url=meta["url"],
            final_url=meta.get("final_url") or meta["url"],
            status=meta.get("status") or 200,
            body=self.read_snapshot(sha),
            headers=headers,
            elapsed_ms=meta.get("elapsed_ms") or 0,
            attempts=meta.get("attempts") or 1,
            encoding=encoding,
        )

    # --- robots.txt cache

    def load_robots(self, origin: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT origin, fetched_at, status, text FROM robots WHERE origin = ?", (origin,)
        )
        if not rows:
            return None
        origin, fetched_at, status, text = rows[0]
        return {"origin": origin, "fetched_at": fetched_at, "status": status, "text": text}

    def save_robots(
        self, origin: str, fetched_at: str, status: int | None, text: str | None
    ) -> None:
        _check_timestamp(fetched_at, "fetched_at")
        with self._transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO robots (origin, fetched_at, status, text) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (origin) DO UPDATE SET fetched_at = excluded.fetched_at, "
                "status = excluded.status, text = excluded.text",
                (origin, fetched_at, status, text),
            )


# --- writes inside a transaction -------------------------------------------------------------


def _lastrowid(cursor: sqlite3.Cursor) -> int:
    rowid = cursor.lastrowid
    assert rowid is not None
    return rowid


def _check_sha(sha: str) -> str:
    if not _SHA256.match(sha):
        raise InputError(f"not a snapshot id (64 hex digits): {sha!r}")
    return sha


def _fetch_values(
    fetch: FetchResult | None, *, status: int | None = None, attempts: int | None = None
) -> _FetchValues:
    if fetch is None:
        return _FetchValues(status, None, None, attempts, None, None, None)
    final_url = without_userinfo(fetch.final_url)
    return _FetchValues(
        status=fetch.status,
        bytes=len(fetch.body) if fetch.body is not None else None,
        elapsed_ms=fetch.elapsed_ms,
        attempts=fetch.attempts,
        etag=fetch.etag,
        last_modified=fetch.last_modified,
        # Only where a redirect led elsewhere: ~80 bytes saved on every one of thousands of checks.
        final_url=final_url if final_url != without_userinfo(fetch.url) else None,
    )


def _insert_fetch(
    conn: sqlite3.Connection,
    page_id: int,
    fetched_at: str,
    outcome: Outcome,
    values: _FetchValues,
    error: str | None,
    revision_id: int | None,
) -> int:
    cursor = conn.execute(
        "INSERT INTO fetches (page_id, fetched_at, outcome, status, bytes, elapsed_ms, attempts, "
        "etag, last_modified, final_url, error, revision_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            page_id, fetched_at, str(outcome), values.status, values.bytes, values.elapsed_ms,
            values.attempts, values.etag, values.last_modified, values.final_url, error,
            revision_id,
        ),
    )  # fmt: skip
    return _lastrowid(cursor)


def _content_values(page: Page, parser_version: str | None) -> dict[str, Any]:
    totals = page.totals or Totals()
    return {
        "fingerprint": page.fingerprint,
        "title": _blank_to_none(page.title),
        "language": _blank_to_none(page.language),
        "updated": _blank_to_none(page.updated),
        "year": page.year,
        **{f"headline_{name}": getattr(page.headline, name) for name in HEADLINE_FIELDS},
        "has_totals": int(page.totals is not None),
        **{f"totals_{name}": getattr(totals, name) for name in FIGURE_FIELDS},
        "has_table": int(page.has_table),
        "row_count": len(page.rows),
        "warnings": _encode_warnings(page.warnings),
        "parser_version": parser_version,
    }


def _insert_revision(
    conn: sqlite3.Connection,
    page_id: int,
    page: Page,
    *,
    snapshot: str,
    fetched_at: str,
    parser_version: str | None,
) -> int:
    values = {
        "page_id": page_id,
        "first_seen": fetched_at,
        "last_seen": fetched_at,
        "snapshot": snapshot,
        **_content_values(page, parser_version),
    }
    cursor = conn.execute(
        f"INSERT INTO revisions ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
        list(values.values()),
    )
    revision_id = _lastrowid(cursor)
    _insert_content(conn, revision_id, page)
    return revision_id


def _insert_content(conn: sqlite3.Connection, revision_id: int, page: Page) -> None:
    """A revision's tables (areas, series, printed values), key figures and sections."""
    for section in page.sections:
        # Paragraphs are joined by "\n"; that reads back only if none is empty or holds one.
        if any(not p or "\n" in p for p in section.paragraphs):
            raise StoreError(
                f"section {section.heading!r}: a paragraph is empty or holds a line break, "
                "which the sections table cannot keep apart (a parser bug)"
            )
    areas: list[tuple[Any, ...]] = []
    series: list[tuple[Any, ...]] = []
    values: list[tuple[int, int, int, int]] = []
    headings: list[tuple[int, int, str | None]] = []
    for table_no, table in enumerate(page.tables):
        headings.append((revision_id, table_no, table.heading))
        first_series = len(series)
        for column in table.series:
            series.append((revision_id, len(series), table_no, column.measure, column.year,
                           column.part, _blank_to_none(column.header)))  # fmt: skip
        for area in table.areas:
            position = len(areas)
            areas.append((position, table_no, area.level, _blank_to_none(area.name),
                          _blank_to_none(area.number), _blank_to_none(area.county)))  # fmt: skip
            values += [
                (revision_id, position, first_series + index, value)
                for index, value in enumerate(area.values)
                if value is not None
            ]
    conn.execute(
        "UPDATE revisions SET area_list = ? WHERE id = ?", (_area_list_id(conn, areas), revision_id)
    )
    conn.executemany("INSERT INTO figure_tables VALUES (?, ?, ?)", headings)
    conn.executemany("INSERT INTO series VALUES (?, ?, ?, ?, ?, ?, ?)", series)
    conn.executemany("INSERT INTO figure_values VALUES (?, ?, ?, ?)", values)
    conn.executemany(
        "INSERT INTO key_figures (revision_id, position, measure, subject, part, year, value, "
        "qualifier) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (revision_id, position, k.measure, k.subject, k.part, k.year, k.value, k.qualifier)
            for position, k in enumerate(page.key_figures)
        ],
    )
    conn.executemany(
        "INSERT INTO section_rows (revision_id, position, heading, text_id) VALUES (?, ?, ?, ?)",
        [
            (revision_id, position, s.heading, _text_id(conn, "\n".join(s.paragraphs)))
            for position, s in enumerate(page.sections)
        ],
    )


def _area_list_id(conn: sqlite3.Connection, areas: list[tuple[Any, ...]]) -> int | None:
    """The id of this list of areas in `area_lists`, added if new; None for no areas."""
    if not areas:
        return None
    digest = hashlib.sha256(json.dumps(areas, ensure_ascii=False).encode("utf-8")).hexdigest()
    row = conn.execute("SELECT id FROM area_lists WHERE sha256 = ?", (digest,)).fetchone()
    if row is not None:
        return int(row[0])
    list_id = _lastrowid(conn.execute("INSERT INTO area_lists (sha256) VALUES (?)", (digest,)))
    conn.executemany(
        "INSERT INTO areas VALUES (?, ?, ?, ?, ?, ?, ?)", [(list_id, *area) for area in areas]
    )
    return list_id


def _delete_content(conn: sqlite3.Connection, revision_id: int) -> None:
    for table in ("figure_values", "series", "figure_tables", "key_figures", "section_rows"):
        conn.execute(f"DELETE FROM {table} WHERE revision_id = ?", (revision_id,))
    conn.execute("UPDATE revisions SET area_list = NULL WHERE id = ?", (revision_id,))


def _delete_orphans(conn: sqlite3.Connection) -> None:
    """Area lists and texts no revision points to any more (after a reparse)."""
    conn.execute(
        "DELETE FROM areas WHERE list_id NOT IN "
        "(SELECT area_list FROM revisions WHERE area_list IS NOT NULL)"
    )
    conn.execute(
        "DELETE FROM area_lists WHERE id NOT IN "
        "(SELECT area_list FROM revisions WHERE area_list IS NOT NULL)"
    )
    conn.execute(
        "DELETE FROM texts WHERE id NOT IN "
        "(SELECT text_id FROM section_rows WHERE text_id IS NOT NULL)"
    )


def _select_tables(conn: sqlite3.Connection, revision_id: int) -> tuple[FigureTable, ...]:
    headings = dict(
        conn.execute(
            "SELECT table_no, heading FROM figure_tables WHERE revision_id = ?", (revision_id,)
        ).fetchall()
    )
    columns: dict[int, list[tuple[int, Series]]] = {}
    for position, table_no, measure, year, part, header in conn.execute(
        "SELECT position, table_no, measure, year, part, header FROM series "
        "WHERE revision_id = ? ORDER BY position",
        (revision_id,),
    ):
        columns.setdefault(table_no, []).append(
            (position, Series(measure, year, part, header or ""))
        )
    printed: dict[tuple[int, int], int] = {
        (area, series): value
        for area, series, value in conn.execute(
            "SELECT area, series, value FROM figure_values WHERE revision_id = ?", (revision_id,)
        )
    }
    areas: dict[int, list[Area]] = {}
    for position, table_no, level, name, number, county in conn.execute(
        "SELECT a.position, a.table_no, a.level, a.name, a.number, a.county FROM revisions r "
        "JOIN areas a ON a.list_id = r.area_list WHERE r.id = ? ORDER BY a.position",
        (revision_id,),
    ):
        values = tuple(printed.get((position, index)) for index, _ in columns.get(table_no, ()))
        areas.setdefault(table_no, []).append(Area(level, name, number, county, values))
    numbers = sorted(set(columns) | set(areas) | set(headings))
    return tuple(
        FigureTable(
            tuple(series for _, series in columns.get(n, ())),
            tuple(areas.get(n, ())),
            headings.get(n),
        )
        for n in numbers
    )


def _text_id(conn: sqlite3.Connection, text: str) -> int | None:
    """The id of this section text in `texts`, added if new; None for a heading alone."""
    if not text:
        return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    row = conn.execute("SELECT id FROM texts WHERE sha256 = ?", (digest,)).fetchone()
    if row is not None:
        return int(row[0])
    return _lastrowid(
        conn.execute("INSERT INTO texts (sha256, text) VALUES (?, ?)", (digest, text))
    )


def _insert_changes(
    conn: sqlite3.Connection,
    revision_id: int,
    previous_revision_id: int | None,
    changes: Sequence[Change],
) -> None:
    conn.executemany(
        "INSERT INTO changes (revision_id, previous_revision_id, position, kind, municipality, "
        "municipality_number, county, section, field, old, new, delta, level, measure, year, "
        "part) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (revision_id, previous_revision_id, position, str(c.kind), c.municipality,
             c.municipality_number, c.county, c.section, c.field, _encode_value(c.old),
             _encode_value(c.new), c.delta, c.level,
             *((c.series.measure, c.series.year, c.series.part) if c.series else (None,) * 3))
            for position, c in enumerate(changes)
        ],
    )  # fmt: skip


def _replace_content(
    conn: sqlite3.Connection,
    revision_id: int,
    page: Page,
    parser_version: str | None,
    changes: Sequence[Change],
    compared_with: int | None,
) -> None:
    """A revision's parsed content and changes anew; its id, times and snapshot stay (they are
    history). Revisions are never merged or split, even if two now parse alike."""
    values = _content_values(page, parser_version)
    conn.execute(
        f"UPDATE revisions SET {', '.join(f'{name} = ?' for name in values)} WHERE id = ?",
        [*values.values(), revision_id],
    )
    _delete_content(conn, revision_id)
    _insert_content(conn, revision_id, page)
    _delete_orphans(conn)
    conn.execute("DELETE FROM changes WHERE revision_id = ?", (revision_id,))
    _insert_changes(conn, revision_id, compared_with, changes)


# --- rebuilding ------------------------------------------------------------------------------


def snapshot_events(snapshots_dir: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Every time a body made a new revision (`new_revision_at` in its .json), in time order,
    as (fetched_at, sha); and the snapshots whose metadata cannot be read."""
    snapshots_dir = Path(snapshots_dir)
    if not snapshots_dir.is_dir():
        raise StoreError(f"{snapshots_dir}: no such snapshots folder")
    events: list[tuple[str, str]] = []
    skipped: list[str] = []
    for meta_path in sorted(snapshots_dir.glob(f"*{META_SUFFIX}")):
        sha = meta_path.name.removesuffix(META_SUFFIX)
        if not _SHA256.match(sha):
            continue
        try:
            meta = json.loads(meta_path.read_bytes())
            times = meta.get("new_revision_at") or [meta["fetched_at"]]
            if not isinstance(meta["url"], str):
                raise TypeError("url is not text")
            for fetched_at in times:
                _check_timestamp(fetched_at, "fetched_at")
            events += [(fetched_at, sha) for fetched_at in times]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("%s: skipped, unreadable snapshot metadata: %s", meta_path, exc)
            skipped.append(sha)
    events.sort(key=lambda event: (_time_key(event[0]), event[1]))
    return events, skipped


@contextlib.contextmanager
def building_store(db_path: Path, snapshots_dir: Path) -> Iterator[Store]:
    """A new store built beside `db_path` and renamed into place when the block ends well, so
    an interrupted rebuild leaves nothing at `db_path`."""
    db_path = Path(db_path)
    if db_path.exists():
        raise StoreError(
            f"{db_path}: already exists; a rebuild writes a new database, move it away"
        )
    building = db_path.with_name(db_path.name + ".rebuilding")
    for leftover in (building, *(Path(f"{building}{s}") for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    with open_store(building, snapshots_dir, rebuilding=True) as store:
        yield store
        with store._errors():
            store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    try:
        os.replace(building, db_path)
        for suffix in ("-wal", "-shm"):
            Path(f"{building}{suffix}").unlink(missing_ok=True)
    except OSError as exc:
        raise StoreError(_os_message(exc, db_path)) from exc
