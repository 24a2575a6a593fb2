"""`imdi-watch serve` and `feed`: Datasette on a real store — canned queries, views, metadata,
read-only access, escaping — and the Atom feed of changes, parsed as XML."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_helpers import run_cli
from history_store import SCRIPT, build_store, hostile_revision

from scraper.config import DEFAULT_URL
from scraper.serve import CANNED_QUERIES, make_datasette
from scraper.store import VIEWS

DB = "imdi-watch"
ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def datasette(store_path: Path) -> Any:
    return make_datasette(store_path)


def get(datasette: Any, path: str) -> httpx.Response:
    return asyncio.run(datasette.client.get(path))


def rows(datasette: Any, path: str) -> list[dict[str, Any]]:
    """The rows of a table, view or canned query as JSON objects."""
    base, _, query = path.partition("?")
    response = get(datasette, f"{base}.json?_shape=array&{query}")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()
    return data


def sql(datasette: Any, statement: str) -> list[dict[str, Any]]:
    return rows(datasette, f"/{DB}?" + httpx.QueryParams({"sql": statement}).__str__())


# --- canned queries --------------------------------------------------------------------------


def test_serve_current_figures_filters_by_county(datasette: Any) -> None:
    found = rows(datasette, f"/{DB}/current_figures?county=Vestland")
    assert len(found) == 43
    assert {row["county"] for row in found} == {"Vestland"}
    bergen = next(row for row in found if row["municipality"] == "Bergen")
    assert bergen == {
        "municipality": "Bergen", "municipality_number": "4601", "county": "Vestland",
        "requested": 192, "minors": 7, "minors_15_18": 5, "minors_under_15": 2,
        "updated": "2021-11-19", "revision_id": 2,
    }  # fmt: skip
    assert rows(datasette, f"/{DB}/current_figures?county=vestland") == found


def test_serve_current_figures_without_county_is_the_whole_latest_table(datasette: Any) -> None:
    found = rows(datasette, f"/{DB}/current_figures")
    assert len(found) == 356
    assert {row["revision_id"] for row in found} == {2}
    assert found[0]["municipality"] == "Risør"  # the page's order
    assert next(r for r in found if r["municipality"] == "Oslo")["requested"] == 215


@pytest.mark.parametrize("name", ["bergen", "Bergen", "BERGEN", "4601"])
def test_serve_municipality_history_by_name_or_number(datasette: Any, name: str) -> None:
    found = rows(datasette, f"/{DB}/municipality_history?municipality={name}")
    assert [(r["revision_id"], r["updated"], r["requested"]) for r in found] == [
        (1, "2021-11-12", 182),
        (2, "2021-11-19", 192),
    ]
    assert {r["municipality"] for r in found} == {"Bergen"}


def test_serve_municipality_history_is_accent_blind_and_pads_numbers(datasette: Any) -> None:
    oygarden = rows(datasette, f"/{DB}/municipality_history?municipality=oygarden")
    assert {r["municipality"] for r in oygarden} == {"Øygarden"} and len(oygarden) == 2
    oslo = rows(datasette, f"/{DB}/municipality_history?municipality=301")
    assert [(r["municipality_number"], r["requested"]) for r in oslo] == [
        ("0301", 225),
        ("0301", 215),
    ]
    bo = rows(datasette, f"/{DB}/municipality_history?municipality=bo")
    assert {r["municipality"] for r in bo} == {"Bø (Nordland)"}  # "bo" names no exact "Bø"
    assert rows(datasette, f"/{DB}/municipality_history?municipality=") == []
    assert rows(datasette, f"/{DB}/municipality_history?municipality=Atlantis") == []


def test_serve_recent_changes_carry_the_revision_dates(datasette: Any) -> None:
    found = rows(datasette, f"/{DB}/recent_changes")
    assert len(found) == 20
    bergen = [r for r in found if r["municipality"] == "Bergen"]
    assert bergen == [
        {
            "revision_id": 2, "updated": "2021-11-19", "previous_updated": "2021-11-12",
            "seen": "2021-11-19T09:00:00.000Z", "kind": "figure", "county": "Vestland",
            "municipality": "Bergen", "municipality_number": "4601", "measure": "request",
            "year": 2022, "part": "total", "field": "requested", "old": 182, "new": 192,
            "delta": 10, "section": None,
        }
    ]  # fmt: skip
    risor = [r for r in found if r["municipality"] == "Risør" and r["field"] == "minors"]
    assert (risor[0]["old"], risor[0]["new"]) == (None, 2)  # blank → 2, not 0 → 2
    vestland = rows(datasette, f"/{DB}/recent_changes?county=vestland")
    assert [r["municipality"] for r in vestland] == ["Bergen"]
    assert rows(datasette, f"/{DB}/recent_changes?revision_id=1") == []
    assert len(rows(datasette, f"/{DB}/recent_changes?revision_id=2")) == 20


def test_serve_current_series_keeps_blank_apart_from_zero(datasette: Any) -> None:
    found = rows(datasette, f"/{DB}/current_series?measure=request&county=agder")
    risor = {r["part"]: r["value"] for r in found if r["area"] == "Risør"}
    assert risor == {"total": 13, "minors": 2, "minors_15_18": 2, "minors_under_15": 0}
    gjerstad = {r["part"]: r["value"] for r in found if r["area"] == "Gjerstad"}
    assert gjerstad["total"] == 10 and gjerstad["minors"] is None
    assert {r["revision_id"] for r in found} == {2} and {r["note"] for r in found} == {None}
    assert rows(datasette, f"/{DB}/request_vs_decision") == []  # this page has no decision


def test_serve_revisions_list_the_sist_oppdatert_dates(datasette: Any) -> None:
    found = rows(datasette, f"/{DB}/revisions")
    assert [(r["revision_id"], r["updated"], r["changes"]) for r in found] == [
        (2, "2021-11-19", 20),
        (1, "2021-11-12", 0),
    ]
    assert [r["first_seen"] for r in found] == [
        "2021-11-19T09:00:00.000Z",
        "2021-11-12T09:00:00.000Z",
    ]
    assert [r["totals_requested"] for r in found] == [5510, 5500]


# --- the views the canned queries read -------------------------------------------------------


def test_serve_views_hold_the_same_rows(datasette: Any) -> None:
    vestland = sql(datasette, "select * from current_figures where county = 'Vestland'")
    assert len(vestland) == 43
    assert next(r for r in vestland if r["municipality"] == "Bergen")["requested"] == 192
    history = sql(
        datasette,
        "select revision_id, requested from municipality_history "
        "where municipality = 'Bergen' order by revision_id",
    )
    assert history == [{"revision_id": 1, "requested": 182}, {"revision_id": 2, "requested": 192}]
    changes = sql(datasette, "select * from recent_changes where municipality = 'Bergen'")
    assert [(c["old"], c["new"], c["updated"], c["previous_updated"]) for c in changes] == [
        ("182", "192", "2021-11-19", "2021-11-12")  # the view keeps old/new JSON-encoded
    ]
    summary = sql(datasette, "select revision_id, updated from revision_summary order by 1")
    assert summary == [
        {"revision_id": 1, "updated": "2021-11-12"},
        {"revision_id": 2, "updated": "2021-11-19"},
    ]


def test_serve_each_canned_query_reads_its_view() -> None:
    assert set(CANNED_QUERIES) == {
        "current_figures", "municipality_history", "recent_changes", "revisions",
        "current_series", "request_vs_decision",
    }  # fmt: skip
    views = {"revisions": "revision_summary", "current_series": "current_series_figures"}
    for name, query in CANNED_QUERIES.items():
        view = views.get(name, name)
        assert view in VIEWS
        assert re.search(rf"\bFROM {view}\b", query["sql"]), name
        assert query["title"] and query["description"]


# --- metadata, pages, read-only --------------------------------------------------------------


def test_serve_metadata_names_title_source_and_licence(datasette: Any) -> None:
    page = get(datasette, "/").text
    assert "imdi-watch: Oppmoding om busetting" in page
    assert "Kjelde: IMDi" in page
    assert DEFAULT_URL in page
    assert "NLOD" in page
    assert 'href="/changes.atom"' in page
    database = get(datasette, f"/{DB}").text
    for name in CANNED_QUERIES:
        assert f'href="/{DB}/{name}"' in database


def test_serve_tables_have_descriptions_and_facets(datasette: Any) -> None:
    figures = get(datasette, f"/{DB}/figures.json?county=Vestland").json()
    assert "county" in figures["facet_results"]
    changes = get(datasette, f"/{DB}/changes.json").json()
    assert {"kind", "county"} <= set(changes["facet_results"])
    kinds = {f["value"]: f["count"] for f in changes["facet_results"]["kind"]["results"]}
    assert kinds["figure"] == 8
    page = get(datasette, f"/{DB}/figures").text
    assert "figures in every revision (blank cells are null)" in page


def test_serve_every_page_answers(datasette: Any) -> None:
    for path in (
        "/", f"/{DB}", f"/{DB}/figures", f"/{DB}/changes", f"/{DB}/fetches", f"/{DB}/pages",
        f"/{DB}/revisions", f"/{DB}/revisions/2", f"/{DB}/sections", f"/{DB}/revision_summary",
        f"/{DB}/current_figures", f"/{DB}/municipality_history?municipality=Bergen",
        f"/{DB}/recent_changes", "/changes.atom",
    ):  # fmt: skip
        assert get(datasette, path).status_code == 200, path


def test_serve_opens_the_store_read_only(datasette: Any, store_path: Path) -> None:
    db = datasette.get_database(DB)

    def write(conn: Any) -> None:
        conn.execute("CREATE TABLE intruder (x)")

    with pytest.raises(Exception, match="readonly"):
        asyncio.run(db.execute_fn(write))
    assert "intruder" not in {r["name"] for r in sql(datasette, "select name from sqlite_master")}


def test_serve_refuses_a_missing_store(tmp_path: Path) -> None:
    result = run_cli("serve", "--store", str(tmp_path / "nothing.db"))
    assert result.code == 2
    assert "no such store" in result.err and "imdi-watch check" in result.err


def test_serve_refuses_a_port_in_use(store_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("serve", "--store", str(store_path), "--port", str(port))
    assert result.code == 2
    assert f"127.0.0.1:{port}" in result.err and "--port" in result.err


def test_serve_is_not_imported_by_the_feed_command(store_path: Path) -> None:
    script = (
        "import sys\n"
        "from scraper.cli import main\n"
        "try:\n"
        f"    main(['--config', {str(store_path.parent / 'config.toml')!r}, 'feed'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('datasette' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr
    assert "<feed" in done.stdout


# --- the Atom feed ---------------------------------------------------------------------------


def parse_feed(text: str) -> ET.Element:
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{ATOM}feed"
    return root


def test_feed_has_one_entry_per_revision_with_changes(datasette: Any) -> None:
    response = get(datasette, "/changes.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = parse_feed(response.text)
    changed = sql(datasette, "select count(*) as n from revision_summary where changes > 0")
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == changed[0]["n"] == 1
    for tag in ("title", "id", "updated", "author"):
        assert feed.find(f"{ATOM}{tag}") is not None, tag
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == "http://localhost/changes.atom"
    assert "Kjelde: IMDi" in feed.findtext(f"{ATOM}rights", "")
    entry = entries[0]
    title = entry.findtext(f"{ATOM}title")
    assert title == (
        "Sist oppdatert 12.11.2021 → 19.11.2021 · 8 figures changed in 5 municipalities"
        " · total 5 500 → 5 510"
    )
    assert entry.findtext(f"{ATOM}summary") == title
    content = entry.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert "Vestland · Bergen (4601): requested 182 → 192 (+10)" in (content.text or "")
    assert "Oslo · Oslo (0301): requested 225 → 215 (−10)" in (content.text or "")
    link = entry.find(f"{ATOM}link[@rel='alternate']")
    assert link is not None
    assert link.get("href") == f"http://localhost/{DB}/recent_changes?revision_id=2"


def test_feed_ids_are_unique_and_times_rfc3339(tmp_path: Path) -> None:
    # A → B → A → B': four revisions, three with changes.
    fixtures = Path(__file__).parent / "fixtures"
    nn_a = (fixtures / "page-2022-nn-a.html").read_bytes()
    db_path = build_store(
        tmp_path,
        extra=[(nn_a, "2021-11-20T09:00:00.000Z"), (hostile_revision(), "2021-11-21T09:00:00Z")],
    )
    result = run_cli("--config", str(tmp_path / "config.toml"), "feed")
    assert result.code == 0, result.err
    feed = parse_feed(result.out)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 3
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == 3 and all(i and i.startswith("urn:uuid:") for i in ids)
    times = [feed.findtext(f"{ATOM}updated")] + [e.findtext(f"{ATOM}updated") for e in entries]
    for stamp in times:
        assert stamp and RFC3339.match(stamp), stamp
        datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    updated = [e.findtext(f"{ATOM}updated") for e in entries]
    assert updated == sorted(updated, reverse=True)  # newest first
    assert feed.findtext(f"{ATOM}updated") == updated[0]
    # the same feed is served, with links to the served changes
    served = parse_feed(get(make_datasette(db_path), "/changes.atom").text)
    assert [e.findtext(f"{ATOM}id") for e in served.findall(f"{ATOM}entry")] == ids


def test_feed_of_a_store_without_changes_is_valid_and_empty(tmp_path: Path) -> None:
    from scraper.config import Target
    from scraper.pipeline import capture_result, ingest_body
    from scraper.store import open_store

    target = Target("oppmoding", DEFAULT_URL)
    db_path = tmp_path / "imdi-watch.db"
    body = (Path(__file__).parent / "fixtures" / "page-2022-nn-a.html").read_bytes()
    with open_store(db_path, tmp_path / "snapshots") as store:
        ingest_body(
            target,
            capture_result(body, url=target.url),
            store=store,
            fetched_at="2021-11-12T09:00:00Z",
        )
    feed = parse_feed(get(make_datasette(db_path), "/changes.atom").text)
    assert feed.findall(f"{ATOM}entry") == []
    assert feed.findtext(f"{ATOM}updated") == "1970-01-01T00:00:00Z"


# --- scraped text is escaped -----------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("hostile")
    return make_datasette(
        build_store(directory, extra=[(hostile_revision(), "2021-11-26T09:00:00.000Z")])
    )


def test_serve_escapes_scraped_html(hostile: Any) -> None:
    stored = sql(hostile, "select text from sections where revision_id = 3 and text like '%alert%'")
    assert len(stored) == 1 and SCRIPT in stored[0]["text"]  # stored as the text it is
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert SCRIPT in sql(hostile, "select title from revisions where id = 3")[0]["title"]
    for path in (
        f"/{DB}/revisions",
        f"/{DB}/revision_summary",
        f"/{DB}/recent_changes?revision_id=3",
        f"/{DB}/changes?revision_id=3",
    ):
        page = get(hostile, path).text
        assert SCRIPT not in page, path
        assert escaped in page, path


def test_feed_escapes_scraped_html(hostile: Any) -> None:
    feed = parse_feed(get(hostile, "/changes.atom").text)
    newest = feed.findall(f"{ATOM}entry")[0]
    content = newest.findtext(f"{ATOM}content") or ""
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content  # text inside the entry's HTML
    assert SCRIPT not in content
