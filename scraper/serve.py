"""Browsing the store: Datasette on it, read-only, with metadata and canned queries, and the Atom
feed of changes (served at /changes.atom, printed by `imdi-watch feed`). The only datasette user;
datasette is imported inside the functions that start it, so `imdi-watch feed` never loads it.
"""

from __future__ import annotations

import html
import logging
import re
import socket
import sqlite3
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from scraper import __version__
from scraper.config import DEFAULT_URL
from scraper.dashboard import number_match_sql
from scraper.errors import InputError, StoreError
from scraper.models import FIGURE_FIELDS, Change, ChangeKind, Page
from scraper.norsk import format_date
from scraper.report import (
    FIGURE_LABELS,
    HEADLINE_LABELS,
    LEAD,
    broken_warning,
    format_delta,
    format_value,
    summary_line,
)

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request, Response

    from scraper.models import PageRecord, RevisionRecord
    from scraper.store import Store

log = logging.getLogger(__name__)

PLUGIN_NAME = "imdi-watch"
FEED_PATH = "/changes.atom"
FEED_LIMIT = 50
LICENSE = "NLOD 2.0 (Norsk lisens for offentlege data)"
LICENSE_URL = "https://data.norge.no/nlod/no/2.0"
SOURCE_NOTE = "Kjelde: IMDi. Tala er publiserte under Norsk lisens for offentlege data (NLOD) 2.0."
TITLE = "imdi-watch: Oppmoding om busetting"
SOURCE = "Kjelde: IMDi \u2013 Oppmoding om busetting"
FEED_TITLE = f"{TITLE} \u2013 changes"
ATOM_NS = "http://www.w3.org/2005/Atom"
EPOCH = "1970-01-01T00:00:00Z"  # a feed's <updated> before any change was seen

# A municipality by number ("301" or "0301") or by name, case- and accent-blind like
# `imdi-watch history`: "bo" finds "Bø (Nordland)" only when no name is exactly "Bø".
_MUNICIPALITY_MATCH = f"""(
      {number_match_sql(7)}
   OR fold(municipality) = fold(:municipality)
   OR (trim(:municipality) <> ''
       AND fold(municipality) LIKE replace(replace(replace(fold(:municipality), '\\', '\\\\'),
           '%', '\\%'), '_', '\\_') || ' (%' ESCAPE '\\'
       AND NOT EXISTS (SELECT 1 FROM figures f WHERE fold(f.municipality) = fold(:municipality)))
)"""

# Each canned query reads the view of the same name (see store.VIEWS), so they agree by design;
# a canned query shadows its view's table page in Datasette, and adds the filters.
CANNED_QUERIES: dict[str, dict[str, Any]] = {
    "current_figures": {
        "title": "Current figures",
        "description": (
            "The table of the latest revision, in the page's order. Leave county empty for "
            "all 356 municipalities; county matches case- and accent-blind (vestland)."
        ),
        "params": ["county"],
        "sql": """SELECT municipality, municipality_number, county,
       requested, minors, minors_15_18, minors_under_15,
       updated, revision_id
FROM current_figures
WHERE :county = '' OR fold(county) = fold(:county)
ORDER BY page, position""",
    },
    "municipality_history": {
        "title": "Municipality history",
        "description": (
            "One municipality's figures in every revision, oldest first. By name (bergen, "
            "alesund) or number (0301, 301)."
        ),
        "params": ["municipality"],
        "sql": f"""SELECT revision_id, updated, first_seen, last_seen,
       municipality, municipality_number, county,
       requested, minors, minors_15_18, minors_under_15
FROM municipality_history
WHERE {_MUNICIPALITY_MATCH}
ORDER BY municipality_number, municipality, revision_id""",
    },
    "recent_changes": {
        "title": "Recent changes",
        "description": (
            "Every change between consecutive revisions, newest revision first: updated and "
            "previous_updated are the page's \u201cSist oppdatert\u201d dates, seen is when "
            "imdi-watch first saw the revision. old and new are plain values here (the view "
            "keeps them JSON-encoded). Both filters are optional."
        ),
        "params": ["county", "revision_id"],
        "sql": """SELECT revision_id, updated, previous_updated, seen, kind, county,
       municipality, municipality_number, measure, year, part, field,
       json_extract(old, '$') AS old, json_extract(new, '$') AS new, delta, section
FROM recent_changes
WHERE (:county = '' OR fold(county) = fold(:county))
  AND (:revision_id = '' OR revision_id = CAST(:revision_id AS INTEGER))
ORDER BY revision_id DESC, position""",
    },
    "current_series": {
        "title": "Current figures per series",
        "description": (
            "Every figure of the latest revision that has a table, one row per area and series "
            "(request, decision, settled …, by year and part); blank cells stay blank. "
            "note says when the latest revision had no table. Both filters are optional: "
            "measure (request, decision, settled, unknown) and county."
        ),
        "params": ["measure", "county"],
        "sql": """SELECT page, revision_id, note, level, area, number, county, measure, year, part,
       header, value
FROM current_series_figures
WHERE (:measure = '' OR measure = :measure)
  AND (:county = '' OR fold(county) = fold(:county) OR fold(area) = fold(:county))
ORDER BY page, level, county, area, measure, year, part""",
    },
    "request_vs_decision": {
        "title": "Request and decision",
        "description": (
            "Where a page has both, the request beside the decision for each area of the "
            "latest revision, with the gap (request − decision). A blank decision is no "
            "decision yet; 0 is a no."
        ),
        "params": [],
        "sql": """SELECT page, revision_id, level, area, number, county, year, part, request,
       decision, gap
FROM request_vs_decision
ORDER BY page, level, county, area, year, part""",
    },
    "revisions": {
        "title": "Revisions",
        "description": (
            "Every revision of the page, newest first: updated is the page's "
            "\u201cSist oppdatert\u201d date, first_seen/last_seen when imdi-watch saw it, "
            "changes how many changes it made."
        ),
        "params": [],
        "sql": """SELECT revision_id, updated, first_seen, last_seen, year, title, language,
       row_count, totals_requested, totals_minors,
       headline_municipalities, headline_refugees, changes, warnings
FROM revision_summary
ORDER BY revision_id DESC""",
    },
}

_FIGURE_COLUMNS = {
    "municipality": "Kommune (the name as printed; a county may follow in brackets)",
    "municipality_number": "Kommunenummer, four digits as text (0301)",
    "county": "Fylke",
    "requested": "Endelege tal: refugees the municipality is asked to settle (blank ≠ 0)",
    "minors": "Einslege mindreårige, total",
    "minors_15_18": "Einslege mindreårige 15–18",
    "minors_under_15": "Einslege mindreårige under 15",
}
_TABLES: dict[str, dict[str, Any]] = {
    "pages": {
        "description": "The watched pages ([[pages]] in config.toml).",
        "label_column": "name",
    },
    "revisions": {
        "description": "One row per distinct parsed content of a page.",
        "label_column": "updated",
        "sort_desc": "id",
        "columns": {
            "fingerprint": "SHA-256 of the parsed content; a new one makes a new revision",
            "first_seen": "When imdi-watch first fetched this content (UTC)",
            "last_seen": "The last check that still found it (UTC)",
            "snapshot": "SHA-256 of the raw body in snapshots/",
            "updated": "The page's own \u201cSist oppdatert\u201d date",
            "year": "The year the request is for",
            "row_count": "Municipal rows in the table",
            "warnings": "What looked wrong when parsing (JSON)",
        },
    },
    "fetches": {
        "description": "Every check, whatever its outcome.",
        "sort_desc": "id",
        "facets": ["outcome", "status"],
        "columns": {
            "outcome": "new-revision, unchanged, not-modified (HTTP 304) or error",
            "revision_id": "The revision the check saw",
        },
    },
    "figures": {
        "description": "Every municipality's figures in every revision (blank cells are null).",
        "facets": ["county"],
        "columns": {"position": "Row in the page's table, from 0", **_FIGURE_COLUMNS},
    },
    "changes": {
        "description": "Typed differences between a revision and the one before it.",
        "facets": ["kind", "county"],
        "sort_desc": "revision_id",
        "columns": {
            "kind": "figure, totals, headline, text, updated, row-added, …",
            "field": "Which figure or part of the page changed",
            "old": "The value before, JSON-encoded",
            "new": "The value after, JSON-encoded",
            "delta": "new − old, for numbers",
        },
    },
    "sections": {"description": "The page's text by heading, per revision."},
    "revision_summary": {
        "description": "Revisions with their totals and number of changes.",
        "sort_desc": "revision_id",
    },
    "notifications": {
        "description": "Notifications sent about new revisions.",
        "sort_desc": "id",
        "facets": ["outcome", "kind"],
    },
    "robots": {"description": "The cached robots.txt of each origin."},
    "texts": {"description": "Section texts, each kept once.", "hidden": True},
    "section_rows": {
        "description": "Sections per revision (see the sections view).",
        "hidden": True,
    },
}


def build_metadata(database: str, *, source_url: str = DEFAULT_URL) -> dict[str, Any]:
    """Datasette metadata: title, source, licence, table docs, facets and the canned queries."""
    credit = {
        "source": SOURCE,
        "source_url": source_url,
        "license": LICENSE,
        "license_url": LICENSE_URL,
    }
    # SQL is one click away; hidden, the pages open on the form and the rows
    queries = {
        name: {**query, **credit, "hide_sql": True} for name, query in CANNED_QUERIES.items()
    }
    return {
        "title": TITLE,
        "description_html": (
            "<p>Every revision of IMDi's page \u201cOppmoding om busetting\u201d: how many refugees "
            "each municipality is asked to settle, and what changed when. "
            f'<a href="{FEED_PATH}">Atom feed of changes</a>.</p>'
            "<p>Kjelde: IMDi. Tala er publiserte under NLOD.</p>"
        ),
        **credit,
        "about": "imdi-watch",
        "plugins": {PLUGIN_NAME: {"database": database}, **dashboard_plugins(database)},
        "databases": {
            database: {
                "description_html": (
                    "<p>Start with the canned queries: "
                    f'<a href="/{quote(database)}/current_figures">current figures</a>, '
                    f'<a href="/{quote(database)}/municipality_history?municipality=Bergen">'
                    "a municipality's history</a>, "
                    f'<a href="/{quote(database)}/recent_changes">recent changes</a>, '
                    f'<a href="/{quote(database)}/revisions">revisions</a>; '
                    f'or follow the <a href="{FEED_PATH}">Atom feed</a>.</p>'
                ),
                **credit,
                "tables": _TABLES,
                "queries": queries,
            }
        },
    }


# --- serving ---------------------------------------------------------------------------------


def make_datasette(db_path: Path, *, source_url: str = DEFAULT_URL) -> Datasette:
    """A Datasette on the store, read-only (SQLite `mode=ro`, as `check` may write meanwhile)."""
    from datasette.app import Datasette

    db_path = Path(db_path)
    _check_store(db_path)
    _register_plugin()
    _register_dashboard_functions()
    _register_guard()
    return Datasette(
        files=[str(db_path)],
        metadata=build_metadata(db_path.stem, source_url=source_url),
        settings={"default_page_size": 100, "sql_time_limit_ms": 3000, **dashboard_settings()},
        version_note=f"imdi-watch {__version__}",
    )


def _check_store(db_path: Path) -> None:
    from scraper.store import APPLICATION_ID, SCHEMA_VERSION

    if not db_path.is_file():
        raise InputError(
            f"{db_path}: no such store; run `imdi-watch check` (or `imdi-watch ingest FILE`) first"
        )
    try:
        conn = _connect_read_only(db_path)
        try:
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{db_path}: cannot read the database: {exc}") from exc
    if application_id != APPLICATION_ID:
        raise StoreError(f"{db_path}: not an imdi-watch database")
    if version < SCHEMA_VERSION:
        raise StoreError(
            f"{db_path}: schema version {version}, older than this imdi-watch's "
            f"{SCHEMA_VERSION}; any other command on it (e.g. `imdi-watch log`) migrates it"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(f"{db_path}: schema version {version} is newer than this imdi-watch")


def _connect_read_only(db_path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(Path(db_path).resolve()))}?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)


def bind_socket(host: str, port: int) -> socket.socket:
    """Listen on host:port (0: any free port) before serving, so a clash is a clear error."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        hint = "; choose another with --port" if port else ""
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from exc


def served_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def run_server(datasette: Datasette, sock: socket.socket) -> None:
    """Serve until Ctrl-C or SIGTERM. Uvicorn logs through the root logger (shown with -v)."""
    import uvicorn

    config = uvicorn.Config(read_only(datasette.app()), log_config=None, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def _register_plugin() -> None:
    """`fold()` in SQL (canned queries match names as `imdi-watch history` does) and the feed."""
    from datasette import hookimpl
    from datasette.plugins import pm

    from scraper.store import fold_or_none  # one fold() for every SQL connection

    if pm.get_plugin(PLUGIN_NAME) is not None:
        return

    class Plugin:
        __name__ = PLUGIN_NAME  # Datasette lists plugins by module name

        @hookimpl
        def prepare_connection(self, conn: sqlite3.Connection) -> None:
            conn.create_function("fold", 1, fold_or_none, deterministic=True)

        @hookimpl
        def register_routes(self, datasette: Datasette) -> list[tuple[str, Any]]:
            if datasette.plugin_config(PLUGIN_NAME) is None:
                return []
            return [(r"^/changes\.atom$", _feed_route)]

    pm.register(Plugin(), name=PLUGIN_NAME)


# --- the dashboard (scraper/dashboard.py holds its charts) ------------------------------------


def dashboard_plugins(database: str) -> dict[str, Any]:
    """datasette-dashboards' part of the metadata: the dashboard at /-/dashboards/imdi-watch."""
    from scraper.dashboard import PLUGIN, dashboard_config

    return {PLUGIN: dashboard_config(database)}


def dashboard_settings() -> dict[str, Any]:
    """Room for a chart's rows: the national series of 1 000 revisions is ~1 800 points."""
    from scraper.dashboard import MAX_ROWS

    return {"max_returned_rows": MAX_ROWS}


def _register_dashboard_functions() -> None:
    """The SQL functions of the dashboard's queries (norsk_number, norsk_date)."""
    from datasette import hookimpl
    from datasette.plugins import pm

    from scraper.dashboard import SQL_FUNCTIONS

    name = f"{PLUGIN_NAME}-dashboard"
    if pm.get_plugin(name) is not None:
        return

    class DashboardFunctions:
        __name__ = name

        @hookimpl
        def prepare_connection(self, conn: sqlite3.Connection) -> None:
            for function, implementation in SQL_FUNCTIONS.items():
                conn.create_function(function, 1, implementation, deterministic=True)

    pm.register(DashboardFunctions(), name=name)


async def _feed_route(datasette: Datasette, request: Request) -> Response:
    import asyncio

    from datasette.utils.asgi import Response

    database = datasette.plugin_config(PLUGIN_NAME)["database"]
    db_path = Path(datasette.get_database(database).path)
    changes_url = datasette.absolute_url(request, datasette.urls.table(database, "recent_changes"))

    def link(entry: FeedEntry) -> str:
        return f"{changes_url}?revision_id={entry.revision.id}"

    def render() -> str:
        from scraper.store import Store

        conn = _connect_read_only(db_path)
        with Store(conn, db_path=db_path, snapshots_dir=db_path.parent) as store:
            return render_store_feed(store, self_url=request.url, entry_link=link)

    xml = await asyncio.to_thread(render)
    return Response(xml, content_type="application/atom+xml; charset=utf-8")


# --- the Atom feed ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """A revision that changed something, with what it changed and the pages on both sides."""

    page_name: str
    page_url: str
    revision: RevisionRecord
    previous: RevisionRecord
    changes: tuple[Change, ...]
    old: Page
    new: Page
    title: str  # report.summary_line: the entry's title and summary


def collect_feed_entries(
    store: Store, pages: Iterable[PageRecord], *, limit: int = FEED_LIMIT
) -> list[FeedEntry]:
    """The newest `limit` revisions that changed something, newest first, over every page
    (`pages`: the store's)."""
    by_id = {page.id: page for page in pages}
    revisions = store.revisions()  # newest first
    previous_of: dict[int, RevisionRecord] = {}
    latest_older: dict[int, RevisionRecord] = {}
    for revision in reversed(revisions):
        if revision.page_id in latest_older:
            previous_of[revision.id] = latest_older[revision.page_id]
        latest_older[revision.page_id] = revision
    loaded: dict[int, Page] = {}

    def load(revision_id: int) -> Page:
        if revision_id not in loaded:
            loaded[revision_id] = store.load_page(revision_id)
        return loaded[revision_id]

    entries: list[FeedEntry] = []
    for revision in revisions:
        if len(entries) >= limit:
            break
        previous = previous_of.get(revision.id)
        if previous is None:
            continue  # the first revision of a page: monitoring began, nothing changed
        changes = tuple(store.changes(revision.id))
        if not changes:
            continue
        page = by_id[revision.page_id]
        old, new = load(previous.id), load(revision.id)
        entries.append(
            FeedEntry(
                page_name=page.name,
                page_url=page.url,
                revision=revision,
                previous=previous,
                changes=changes,
                old=old,
                new=new,
                title=summary_line(old, new, changes),
            )
        )
    return entries


def render_store_feed(
    store: Store,
    *,
    limit: int = FEED_LIMIT,
    self_url: str | None = None,
    entry_link: Callable[[FeedEntry], str] | None = None,
) -> str:
    """The store's Atom feed: `collect_feed_entries` rendered by `render_feed`."""
    pages = store.pages()
    return render_feed(
        collect_feed_entries(store, pages, limit=limit),
        title=FEED_TITLE,
        feed_id=feed_id_for(page.url for page in pages),
        self_url=self_url,
        entry_link=entry_link,
    )


def render_feed(
    entries: Sequence[FeedEntry],
    *,
    title: str,
    feed_id: str,
    self_url: str | None = None,
    entry_link: Callable[[FeedEntry], str] | None = None,
) -> str:
    """An Atom 1.0 document (RFC 4287), newest entry first. All scraped text is escaped.

    `entry_link` gives each entry's alternate link (e.g. the served changes of its revision);
    without it the entry links to the page it is about.
    """
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(_atom("feed"))
    _sub(feed, "title", title)
    _sub(feed, "id", feed_id)
    updated = max((entry.revision.first_seen for entry in entries), default=EPOCH)
    _sub(feed, "updated", updated)
    if self_url:
        _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    for url in dict.fromkeys(entry.page_url for entry in entries):
        _sub(feed, "link", rel="related", type="text/html", href=url)
    author = _sub(feed, "author")
    _sub(author, "name", "IMDi")
    _sub(author, "uri", "https://www.imdi.no/")
    _sub(feed, "rights", SOURCE_NOTE)
    _sub(feed, "generator", "imdi-watch")
    several_pages = len({entry.page_url for entry in entries}) > 1
    for entry in entries:
        element = _sub(feed, "entry")
        prefix = f"{entry.page_name}: " if several_pages else ""
        _sub(element, "title", prefix + entry.title)
        _sub(element, "id", entry_id(entry.page_url, entry.revision.first_seen))
        _sub(element, "updated", entry.revision.first_seen)
        _sub(element, "published", entry.revision.first_seen)
        href = entry_link(entry) if entry_link else entry.page_url
        _sub(element, "link", rel="alternate", type="text/html", href=href)
        _sub(element, "summary", entry.title)
        _sub(element, "content", entry_html(entry), type="html")
    ET.indent(feed, space="  ")  # only between elements: text and content are left untouched
    body = ET.tostring(feed, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


def feed_id_for(urls: Iterable[str]) -> str:
    """A stable feed id for the watched pages."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "imdi-watch changes " + " ".join(sorted(urls))).urn


def entry_id(page_url: str, first_seen: str) -> str:
    """A revision's entry id: stable across reparse and rebuild (neither moves first_seen)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{page_url}#revision@{first_seen}").urn


def entry_html(entry: FeedEntry) -> str:
    """The body of a feed entry: the summary, then every change as a list item (escaped)."""
    esc = html.escape
    revision, previous = entry.revision, entry.previous
    parts: list[str] = []
    if warning := broken_warning(entry.old, entry.new, entry.changes):
        parts.append(f"<p><strong>{esc(warning)}</strong></p>")
    parts.append(f"<p>{esc(entry.title)}</p>")
    parts.append(
        f"<p>Revision {revision.id} (Sist oppdatert {esc(format_date(revision.updated))}, "
        f"first seen {esc(revision.first_seen)}) against revision {previous.id} "
        f"(Sist oppdatert {esc(format_date(previous.updated))}).</p>"
    )
    for heading, kinds in _ENTRY_GROUPS:
        items = [_change_item(c) for c in entry.changes if c.kind in kinds]
        if items:
            parts.append(f"<h3>{esc(heading)}</h3>")
            parts.append("<ul>" + "".join(f"<li>{esc(item)}</li>" for item in items) + "</ul>")
    parts.append(f"<p>{esc(SOURCE_NOTE)}</p>")
    return "\n".join(parts)


_ENTRY_GROUPS: tuple[tuple[str, frozenset[ChangeKind]], ...] = (
    (
        "Figures · oppmodingstal per kommune",
        frozenset(
            {ChangeKind.FIGURE, ChangeKind.ROW_ADDED, ChangeKind.ROW_REMOVED, ChangeKind.RENAMED}
        ),
    ),
    ("Totals · sum", frozenset({ChangeKind.TOTALS})),
    ("Lead · ingress", frozenset({ChangeKind.HEADLINE})),
    (
        "Page · side",
        # the date change leads the summary line already
        frozenset({ChangeKind.TITLE, ChangeKind.YEAR, ChangeKind.LANGUAGE}),
    ),
    ("Warnings · åtvaringar", frozenset({ChangeKind.WARNING_ADDED, ChangeKind.WARNING_REMOVED})),
    ("Text · tekst", frozenset({ChangeKind.TEXT})),
)


def _change_item(change: Change) -> str:
    """One change as plain text, e.g. 'Vestland · Bergen (4601): requested 182 → 192 (+10)'."""
    kind = change.kind
    if kind in (
        ChangeKind.FIGURE,
        ChangeKind.ROW_ADDED,
        ChangeKind.ROW_REMOVED,
        ChangeKind.RENAMED,
    ):
        number = f" ({change.municipality_number})" if change.municipality_number else ""
        place = f"{change.county or '(no county)'} · {change.municipality or '(no name)'}{number}"
        if kind is ChangeKind.FIGURE:
            label = FIGURE_LABELS.get(change.field or "", change.field or "")
            return f"{place}: {label} {_arrow(change)}"
        if kind is ChangeKind.RENAMED:
            return f"{place}: renamed {change.old} → {change.new}"
        verb = "added" if kind is ChangeKind.ROW_ADDED else "removed"
        return f"{place}: {verb} ({_figures(change.new if verb == 'added' else change.old)})"
    if kind is ChangeKind.TOTALS:
        return f"{FIGURE_LABELS.get(change.field or '', change.field or '')} {_arrow(change)}"
    if kind is ChangeKind.HEADLINE:
        return f"{HEADLINE_LABELS.get(change.field or '', change.field or '')} {_arrow(change)}"
    if kind in (ChangeKind.WARNING_ADDED, ChangeKind.WARNING_REMOVED):
        sign = "+" if kind is ChangeKind.WARNING_ADDED else "−"
        return f"{sign} {change.field}: {change.new if sign == '+' else change.old}"
    if kind is ChangeKind.TEXT:
        where = change.section or LEAD
        if change.old is None:
            return f"{where}: added “{change.new}”"
        if change.new is None:
            return f"{where}: removed “{change.old}”"
        return f"{where}: “{change.old}” → “{change.new}”"
    return f"{kind}: {format_value(change.old)} → {format_value(change.new)}"


def _arrow(change: Change) -> str:
    text = f"{format_value(change.old)} → {format_value(change.new)}"
    if change.delta:
        text += f" ({format_delta(change.delta)})"
    return text


def _figures(figures: Any) -> str:
    if not isinstance(figures, dict):
        return format_value(figures)
    shown = [
        f"{FIGURE_LABELS[name]} {format_value(figures.get(name))}"
        for name in FIGURE_FIELDS
        if figures.get(name) is not None
    ]
    return " · ".join(shown) or "no figures"


def _atom(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


# Characters XML 1.0 cannot carry, not even as &#…; references: one in a scraped name (a page's
# "&#27;") would make the whole feed unreadable, so they become U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, _atom(tag), attributes)
    if text is not None:
        element.text = _NOT_XML.sub("\ufffd", text)
    return element


# --- a browsing server answers what it is asked, nothing more ---------------------------------

GUARD_NAME = "imdi-watch-guard"
DATASETTE_HANDLER = "datasette.handle_exception"
READ_METHODS = ("GET", "HEAD")
READ_ONLY_BODY = b"imdi-watch serve is read-only: only GET and HEAD are answered\n"


def read_only(app: Any) -> Any:
    """The ASGI app with every method but GET and HEAD answered 405 before Datasette sees it:
    a browsing server has nothing to insert, upsert, delete, drop or log in to."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in READ_METHODS:
            await send(
                {
                    "type": "http.response.start",
                    "status": 405,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"allow", b"GET, HEAD"),
                        (b"content-length", str(len(READ_ONLY_BODY)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": READ_ONLY_BODY})
            return
        await app(scope, receive, send)

    return guarded


def _register_guard() -> None:
    """Errors answered in one place: a malformed address (half a compound key, a column that
    does not exist) is the client's error, 4xx and one log line; anything else is a 500 with one
    logged traceback. Datasette's own handler (a rich traceback with every local variable on
    stderr, even for a 404) is replaced, since each of its responses would be rendered too."""
    from datasette import hookimpl
    from datasette.plugins import pm

    if pm.get_plugin(GUARD_NAME) is not None:
        return

    class Guard:
        __name__ = GUARD_NAME

        @hookimpl
        def handle_exception(
            self, datasette: Datasette, request: Request, exception: Exception
        ) -> Any:
            answer = client_error(exception)
            if answer is None:
                log.error("%s %s: %s", request.method, request.path, exception, exc_info=exception)
                status, message = 500, f"{type(exception).__name__}: {exception}"
            else:
                status, message = answer
                log.info("%s %s: %d %s", request.method, request.path, status, message)

            async def respond() -> Response:
                return await _error_response(datasette, request, status, message)

            return respond

    if pm.get_plugin(DATASETTE_HANDLER) is not None:
        pm.unregister(name=DATASETTE_HANDLER)
    pm.register(Guard(), name=GUARD_NAME)


def client_error(exception: BaseException) -> tuple[int, str] | None:
    """(status, message) when `exception` comes from what the request asked, else None."""
    from datasette.utils.asgi import Base400
    from datasette.views.base import DatasetteError

    if isinstance(exception, Base400):
        return exception.status, str(exception.args[0] if exception.args else exception)
    if isinstance(exception, DatasetteError) and not exception.message_is_html:
        # Datasette says 500 for what a request got wrong ("Cannot sort table by x")
        return min(exception.status, 400), str(exception.message)
    if isinstance(exception, sqlite3.ProgrammingError | sqlite3.OperationalError):
        # The URL's values became SQL parameters or names (a row's key, a sort column).
        return 400, f"this address does not name anything in the store ({exception})"
    return None


async def _error_response(
    datasette: Datasette, request: Request, status: int, message: str
) -> Response:
    from datasette.utils.asgi import Response

    info = {"ok": False, "error": message, "status": status, "title": None}
    if request.path.split("?")[0].endswith(".json"):
        return Response.json(info, status=status)
    page = await datasette.render_template([f"{status}.html", "error.html"], info, request=request)
    return Response.html(page, status=status)
