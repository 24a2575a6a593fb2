"""Backfill from a web archive: a local server speaks the CDX API and serves raw captures; the
history comes out as if watched live, runs are idempotent, and an interrupted run resumes to the
same store as a clean one. Nothing here contacts the real archive.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cli_helpers import run_cli
from server import LoopbackServer, Reply

from scraper.backfill import (
    Capture,
    Status,
    Throttle,
    backfill_page,
    cdx_url,
    parse_cdx,
    plan_backfill,
)
from scraper.config import load_config
from scraper.errors import FetchError
from scraper.fetch import make_client
from scraper.pipeline import capture_result, ingest_body
from scraper.store import open_store

FIXTURES = Path(__file__).parent / "fixtures"
PAGE = "https://www.imdi.no/planlegging-og-bosetting/bosettingsprosessen/imdis-anmodning/"
# (timestamp, fixture variant or None for a capture the archive fails to serve, digest)
CAPTURES = [
    ("20211004080000", "before-table", "DIGESTA"),
    ("20211112100000", "nn-a", "DIGESTB"),
    ("20211112160000", "nn-a", "DIGESTB"),  # same digest as the one before: collapsed
    ("20211113080000", "nn-a-noise", "DIGESTC"),  # other bytes, same content: unchanged
    ("20211118080000", None, "DIGESTD"),  # the archive answers 500
    ("20211119120000", "revised", "DIGESTE"),
]
CDX_PATH = "/cdx/search/cdx"


def capture_path(timestamp: str) -> str:
    return f"/web/{timestamp}id_/{PAGE}"


def cdx_listing(rows: list[tuple[str, Any, str]] = CAPTURES) -> bytes:
    header = ["timestamp", "original", "statuscode", "digest", "mimetype"]
    return json.dumps(
        [header, *([ts, PAGE, "200", digest, "text/html"] for ts, _, digest in rows)]
    ).encode()


def script_archive(
    server: LoopbackServer, *, dropping: tuple[str, ...] = (), listing: Reply | None = None
) -> None:
    """The archive: the CDX listing and every capture; `dropping` captures reset the connection."""
    server.route(CDX_PATH, listing or Reply(200, cdx_listing(), {"Content-Type": "text/plain"}))
    for timestamp, variant, _ in CAPTURES:
        if timestamp in dropping:
            reply = Reply(action="reset")
        elif variant is None:
            reply = Reply(500, b"Internal Server Error\n")
        else:
            body = (FIXTURES / f"page-2022-{variant}.html").read_bytes()
            reply = Reply(200, body, {"Content-Type": "text/html; charset=utf-8"})
        server.route(capture_path(timestamp), reply)


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    config.write_text(
        f'[[pages]]\nname = "oppmoding"\nurl = "{PAGE}"\n\n'
        "[fetch]\nmax_attempts = 1\n\n"
        '[store]\npath = "imdi-watch.db"\nsnapshots = "snapshots"\n',
        encoding="utf-8",
    )
    return config


def backfill(config: Path, server: LoopbackServer, *args: str):
    return run_cli(
        "--config", str(config), "backfill", "--wayback",
        "--archive-url", server.url(""), "--rate", "0", *args,
    )  # fmt: skip


def store_state(config: Path) -> dict[str, Any]:
    """Everything a backfill decides: revisions, fetches, figures and changes."""
    with open_store(config.parent / "imdi-watch.db", config.parent / "snapshots") as store:
        revisions = list(reversed(store.revisions()))
        return {
            "revisions": [
                (r.fingerprint, r.first_seen, r.last_seen, r.updated, r.row_count)
                for r in revisions
            ],
            "fetches": [
                (f.fetched_at, str(f.outcome), f.status, f.revision_id, f.error)
                for f in reversed(store.fetches(limit=1000))
            ],
            "figures": [[row.to_dict() for row in store.figures(r.id)] for r in revisions],
            "changes": [[c.to_dict() for c in store.changes(r.id)] for r in revisions],
        }


@pytest.fixture
def clean_run(tmp_path: Path) -> dict[str, Any]:
    """The store a single uninterrupted backfill leaves."""
    config = write_config(tmp_path / "clean")
    with LoopbackServer() as server:
        script_archive(server)
        assert backfill(config, server).code == 0
    return store_state(config)


# --- the command -----------------------------------------------------------------------------


def test_backfill_ingests_captures_oldest_first_as_if_watched_live(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    script_archive(http_server)
    config = write_config(tmp_path)
    result = backfill(config, http_server)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[-1] == (
        "6 captures: 4 ingested (3 new revisions), 1 duplicate of the capture before, 1 failed"
    )
    assert lines[:-1] == [
        "2021-10-04T08:00:00.000Z  new-revision (revision 1)",
        "2021-11-12T10:00:00.000Z  new-revision (revision 2)",
        "2021-11-13T08:00:00.000Z  unchanged (revision 2)",
        "2021-11-18T08:00:00.000Z  failed",
        "2021-11-19T12:00:00.000Z  new-revision (revision 3)",
    ]
    assert "capture 20211118080000: GET " in result.err and "HTTP 500" in result.err
    state = store_state(config)
    assert [r[1:4] for r in state["revisions"]] == [
        ("2021-10-04T08:00:00.000Z", "2021-10-04T08:00:00.000Z", "2021-10-01"),
        ("2021-11-12T10:00:00.000Z", "2021-11-13T08:00:00.000Z", "2021-11-12"),
        ("2021-11-19T12:00:00.000Z", "2021-11-19T12:00:00.000Z", "2021-11-19"),
    ]
    assert [f[:2] for f in state["fetches"]] == [
        ("2021-10-04T08:00:00.000Z", "new-revision"),
        ("2021-11-12T10:00:00.000Z", "new-revision"),
        ("2021-11-13T08:00:00.000Z", "unchanged"),
        ("2021-11-19T12:00:00.000Z", "new-revision"),
    ]  # the capture the archive failed to serve is not a check of the page
    bergen = [(c["old"], c["new"]) for c in state["changes"][2] if c["municipality"] == "Bergen"]
    assert bergen == [(182, 192)]
    # the duplicate is never downloaded; the listing asks for distinct 200 captures of the page
    assert http_server.requests_for(capture_path("20211112160000")) == []
    (listing,) = [r for r in http_server.requests if r.path.startswith(CDX_PATH)]
    query = parse_qs(urlsplit(listing.path).query)
    assert query == {
        "url": [PAGE],
        "output": ["json"],
        "fl": ["timestamp,original,statuscode,digest,mimetype"],
        "filter": ["statuscode:200"],
        "collapse": ["digest"],
    }
    assert all(r.headers["user-agent"].startswith("imdi-watch/") for r in http_server.requests)


def test_backfill_keeps_where_each_capture_came_from(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    script_archive(http_server)
    config = write_config(tmp_path)
    assert backfill(config, http_server).code == 0
    with open_store(tmp_path / "imdi-watch.db", tmp_path / "snapshots") as store:
        first = store.revisions()[-1]
        meta = store.snapshot_meta(first.snapshot)
        (fetch,) = [f for f in store.fetches() if f.revision_id == first.id]
    assert meta["url"] == PAGE
    assert meta["final_url"] == http_server.url(capture_path("20211004080000"))
    assert meta["fetched_at"] == "2021-10-04T08:00:00.000Z"
    assert (fetch.etag, fetch.last_modified) == (None, None)  # the archive's are not IMDi's


def test_backfill_second_run_adds_nothing(tmp_path: Path, http_server: LoopbackServer) -> None:
    script_archive(http_server)
    config = write_config(tmp_path)
    assert backfill(config, http_server).code == 0
    before = store_state(config)
    again = backfill(config, http_server)
    assert again.code == 0
    assert again.out.splitlines() == [
        "6 captures: 0 ingested, 4 already stored, 1 duplicate of the capture before, "
        "1 older than the store's latest fetch"
    ]
    assert "older than the page's latest stored fetch (2021-11-19T12:00:00.000Z)" in again.err
    assert store_state(config) == before


def test_backfill_stopped_by_limit_resumes_to_the_clean_runs_store(
    tmp_path: Path, http_server: LoopbackServer, clean_run: dict[str, Any]
) -> None:
    script_archive(http_server)
    config = write_config(tmp_path / "resumed")
    first = backfill(config, http_server, "--limit", "2")
    assert first.code == 0
    assert first.out.splitlines()[-1] == (
        "6 captures: 2 ingested (2 new revisions), 1 duplicate of the capture before, "
        "3 left for the next run"
    )
    second = backfill(config, http_server)
    assert second.out.splitlines()[-1] == (
        "6 captures: 2 ingested (1 new revision), 2 already stored, "
        "1 duplicate of the capture before, 1 failed"
    )
    assert store_state(config) == clean_run


def test_backfill_after_the_archive_dropped_connections_resumes_to_the_clean_runs_store(
    tmp_path: Path, clean_run: dict[str, Any]
) -> None:
    config = write_config(tmp_path / "resumed")
    with LoopbackServer() as server:  # from the 4th capture on, every connection is reset
        script_archive(server, dropping=("20211113080000", "20211119120000"))
        broken = backfill(config, server)
    assert broken.code == 0  # single captures failing is not fatal
    assert broken.out.splitlines()[-1] == (
        "6 captures: 2 ingested (2 new revisions), 1 duplicate of the capture before, 3 failed"
    )
    assert broken.err.count("imdi-watch: warning: capture ") == 3
    with LoopbackServer() as server:
        script_archive(server)
        assert backfill(config, server).code == 0
    assert store_state(config) == clean_run


def test_backfill_interrupted_midway_resumes_to_the_clean_runs_store(
    tmp_path: Path, http_server: LoopbackServer, clean_run: dict[str, Any]
) -> None:
    script_archive(http_server)
    config_path = write_config(tmp_path / "resumed")
    config = load_config(config_path)
    captures = parse_cdx(cdx_listing(), url="test")
    waits = []

    def interrupt_on_third_wait(_seconds: float) -> None:
        waits.append(_seconds)
        if len(waits) == 3:
            raise KeyboardInterrupt

    throttle = Throttle(1.0, clock=lambda: 0.0, sleep=interrupt_on_third_wait)
    with (
        open_store(config.store.path, config.store.snapshots) as store,
        make_client(config.fetch) as client,
        pytest.raises(KeyboardInterrupt),
    ):
        backfill_page(
            config.pages[0], captures, client=client, store=store, settings=config.fetch,
            archive_url=http_server.url(""), throttle=throttle,
        )  # fmt: skip
    assert len(store_state(config_path)["fetches"]) == 3  # c1, c2, c4 (unchanged); then stopped
    assert backfill(config_path, http_server).code == 0
    assert store_state(config_path) == clean_run


def test_backfill_skips_captures_older_than_the_latest_fetch(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    config = write_config(tmp_path)
    settings = load_config(config)
    with open_store(settings.store.path, settings.store.snapshots) as store:
        body = (FIXTURES / "page-2022-nn-a.html").read_bytes()
        ingest_body(
            settings.pages[0], capture_result(body, url=PAGE), store=store,
            fetched_at="2021-11-15T08:00:00.000Z",
        )  # fmt: skip
    script_archive(http_server)
    result = backfill(config, http_server)
    assert result.code == 0
    assert result.out.splitlines()[-1] == (
        "6 captures: 1 ingested (1 new revision), 1 duplicate of the capture before, "
        "3 older than the store's latest fetch, 1 failed"
    )
    assert (
        "imdi-watch: note: 3 captures older than the page's latest stored fetch "
        "(2021-11-15T08:00:00.000Z) skipped: a history only grows forward"
    ) in result.err
    assert [f[:2] for f in store_state(config)["fetches"]] == [
        ("2021-11-15T08:00:00.000Z", "new-revision"),
        ("2021-11-19T12:00:00.000Z", "new-revision"),
    ]


def test_backfill_from_and_to_narrow_the_listing(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    script_archive(http_server)
    config = write_config(tmp_path)
    result = backfill(config, http_server, "--from", "2021-11-12", "--to", "2021-11-13")
    assert result.code == 0, result.err
    # the server ignores from/to; the listing is narrowed on our side too
    assert result.out.splitlines()[-1] == (
        "3 captures: 2 ingested (1 new revision), 1 duplicate of the capture before"
    )
    (listing,) = [r for r in http_server.requests if r.path.startswith(CDX_PATH)]
    query = parse_qs(urlsplit(listing.path).query)
    assert (query["from"], query["to"]) == (["20211112"], ["20211113"])


def test_backfill_json_shape(tmp_path: Path, http_server: LoopbackServer) -> None:
    script_archive(http_server)
    result = backfill(write_config(tmp_path), http_server, "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert {k: v for k, v in data.items() if k != "items"} == {
        "page": "oppmoding",
        "url": PAGE,
        "captures": 6,
        "ingested": 4,
        "already_stored": 0,
        "duplicate": 1,
        "too_early": 0,
        "failed": 1,
        "left": 0,
        "new_revisions": 3,
        "latest_before": None,
    }
    assert data["items"][4] == {
        "timestamp": "20211118080000",
        "fetched_at": "2021-11-18T08:00:00.000Z",
        "url": PAGE,
        "digest": "DIGESTD",
        "status": "failed",
        "outcome": None,
        "revision": None,
        "error": data["items"][4]["error"],
    }
    assert "HTTP 500" in data["items"][4]["error"]


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        (Reply(503, b"busy\n"), "cannot list the archive's captures: GET "),
        (Reply(200, b"<html>maintenance</html>"), "not a CDX JSON listing"),
        (Reply(200, b'{"error": "x"}'), "not a CDX JSON listing (expected an array of rows)"),
    ],
)
def test_backfill_listing_failure_exits_3(
    tmp_path: Path, http_server: LoopbackServer, listing: Reply, message: str
) -> None:
    script_archive(http_server, listing=listing)
    config = write_config(tmp_path)
    result = backfill(config, http_server)
    assert result.code == 3
    assert message in result.err and "Traceback" not in result.err
    assert not [r for r in http_server.requests if r.path.startswith("/web/")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name the source: --wayback"),
        (("--wayback", "--from", "12.11.2021"), "--from '12.11.2021': expected a day like"),
        (("--wayback", "--from", "2021-11-19", "--to", "2021-11-12"), "is after --to"),
        (("--wayback", "--archive-url", "ftp://archive"), "expected an http(s) URL"),
        (("--wayback", "--rate", "-1"), "--rate"),
        (("--wayback", "--page", "other"), "--page 'other': not in the config (oppmoding)"),
    ],
)
def test_backfill_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run_cli("--config", str(write_config(tmp_path)), "backfill", *args)
    assert result.code == 2
    assert message in result.err


# --- the parts -------------------------------------------------------------------------------


def test_cdx_url_asks_for_distinct_200_captures_in_the_range() -> None:
    url = cdx_url(
        PAGE, archive_url="https://web.archive.org/", since=date(2021, 10, 1),
        until=date(2021, 12, 31),
    )  # fmt: skip
    assert url == (
        "https://web.archive.org/cdx/search/cdx?url=https://www.imdi.no/planlegging-og-bosetting/"
        "bosettingsprosessen/imdis-anmodning/&output=json"
        "&fl=timestamp,original,statuscode,digest,mimetype&filter=statuscode:200"
        "&collapse=digest&from=20211001&to=20211231"
    )


def test_capture_raw_url_and_time() -> None:
    capture = Capture("20211112093015", PAGE, "X")
    assert capture.raw_url("https://web.archive.org/") == (
        f"https://web.archive.org/web/20211112093015id_/{PAGE}"
    )
    assert capture.fetched_at == "2021-11-12T09:30:15.000Z"


@pytest.mark.parametrize("body", [b"", b"  \n", b"[]", b'[["timestamp", "original"]]'])
def test_parse_cdx_no_captures(body: bytes) -> None:
    assert parse_cdx(body, url="x") == []


def test_parse_cdx_reads_columns_by_header_and_keeps_only_200_captures_in_order() -> None:
    body = json.dumps(
        [
            ["original", "timestamp", "digest", "statuscode"],
            [PAGE, "20211119120000", "E", "200"],
            [PAGE, "20211004080000", "A", "200"],
            [PAGE, "20211010000000", "R", "-"],  # a revisit record
            [PAGE, "2021", "B", "200"],  # not a timestamp
        ]
    ).encode()
    assert parse_cdx(body, url="x") == [
        Capture("20211004080000", PAGE, "A"),
        Capture("20211119120000", PAGE, "E"),
    ]


def test_parse_cdx_without_timestamp_column_is_an_error() -> None:
    with pytest.raises(FetchError, match="without timestamp"):
        parse_cdx(b'[["original"], ["x"]]', url="x")


def test_plan_backfill_skips_duplicates_stored_and_earlier_captures() -> None:
    captures = [Capture(ts, PAGE, digest) for ts, _, digest in CAPTURES]
    stored = {datetime(2021, 11, 12, 10, tzinfo=UTC), datetime(2021, 11, 15, tzinfo=UTC)}
    assert [item.status for item in plan_backfill(reversed(captures), stored=stored)] == [
        Status.TOO_EARLY,
        Status.ALREADY_STORED,
        Status.DUPLICATE,
        Status.TOO_EARLY,
        Status.PENDING,
        Status.PENDING,
    ]


def test_throttle_keeps_requests_apart() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(1.0, clock=lambda: now[0], sleep=sleep)
    throttle.wait()  # the first request goes at once
    now[0] += 0.25
    throttle.wait()
    now[0] += 5
    throttle.wait()  # already long enough apart
    assert slept == [0.75]
