"""What a hostile server, page or file cannot do: stop the watch, exhaust memory or invent a figure.

Each case talks to a real socket on 127.0.0.1. Where an HTTP library would refuse to send the
hostile bytes (a non-ASCII ETag, a control character in the reason phrase, one byte a second), a
raw socket server (`RawServer`) writes them by hand. Slow cases are scaled down with small
deadlines; memory is measured in a child process.
"""

from __future__ import annotations

import gzip
import json
import logging
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_helpers import run_cli
from history_store import query
from server import LoopbackServer, Reply
from test_fetch import settings
from test_fuzz import ABSURD_NUMBERS, SAME_CONTENT, mutate
from test_security import gzip_bomb

from scraper.config import build_config
from scraper.errors import FetchError
from scraper.fetch import fetch_page

FIXTURES = Path(__file__).parent / "fixtures"
PAGE_A = (FIXTURES / "page-2022-nn-a.html").read_bytes()
PATH = "/oppmoding"
ROOT = Path(__file__).resolve().parent.parent

Handler = Callable[[socket.socket, bytes], None]


class RawServer:
    """A TCP server on 127.0.0.1, port 0: each connection's request head is read, then
    `handler(conn, head)` writes whatever bytes it likes. /robots.txt gets a 404 unless the
    handler is given it too. `requests` holds every request head received."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.02)  # so that the accept loop sees _stopping
        self.port = int(self._listener.getsockname()[1])
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str = PATH) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            self.requests.append(head)
            try:
                if head.startswith(b"GET /robots.txt "):
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                else:
                    self.handler(conn, head)
            except OSError:  # the client hung up on purpose
                pass

    def page_requests(self) -> list[bytes]:
        return [r for r in self.requests if not r.startswith(b"GET /robots.txt ")]


def respond(status_line: bytes, headers: list[bytes], body: bytes = b"") -> Handler:
    """A handler that sends one fixed response, Content-Length added."""

    def handler(conn: socket.socket, _head: bytes) -> None:
        head = [status_line, *headers, b"Content-Length: %d" % len(body), b"Connection: close"]
        conn.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)

    return handler


def write_config(root: Path, *urls: str, **fetch: object) -> Path:
    values: dict[str, object] = {
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "read_timeout_s": 2.0,
        "connect_timeout_s": 2.0,
        "max_attempts": 2,
        **fetch,
    }
    lines = []
    for index, url in enumerate(urls):
        lines += ["[[pages]]", f'name = "page{index + 1}"', f'url = "{url}"', ""]
    lines += ["[fetch]", *(f"{key} = {json.dumps(value)}" for key, value in values.items())]
    path = root / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- validators the server cannot make us keep -----------------------------------------------

BAD_ETAG = '"abc\u00e6"'.encode()  # "abcæ" in UTF-8: not ASCII, cannot be sent back


def test_hostile_non_ascii_etag_is_ignored_and_the_next_check_runs(tmp_path: Path) -> None:
    handler = respond(
        b"HTTP/1.1 200 OK",
        [
            b"Content-Type: text/html; charset=utf-8",
            b"ETag: " + BAD_ETAG,
            b"Last-Modified: Fri, 12 Nov 2021 08:30:00 GMT\xc3\xa6",
        ],
        PAGE_A,
    )
    with RawServer(handler) as server:
        config = write_config(tmp_path, server.url())
        first = run_cli("--config", str(config), "check", "--quiet")
        second = run_cli("--config", str(config), "check", "--quiet")

    assert (first.code, second.code) == (0, 0)
    assert second.err.splitlines() == [
        f"imdi-watch: WARNING: GET {server.url()}: ignoring an invalid ETag ('\"abcæ\"'); "
        "the next check is not conditional",
        f"imdi-watch: WARNING: GET {server.url()}: ignoring an invalid Last-Modified "
        "('Fri, 12 Nov 2021 08:30:00 GMTæ'); the next check is not conditional",
    ]
    db = tmp_path / "store" / "imdi-watch.db"
    assert query(db, "SELECT outcome, status, etag, last_modified FROM fetches ORDER BY id") == [
        ("new-revision", 200, None, None),
        ("unchanged", 200, None, None),
    ]
    (second_request,) = server.page_requests()[1:]
    assert b"if-none-match" not in second_request.lower()
    assert b"if-modified-since" not in second_request.lower()
    snapshot_meta = next((tmp_path / "snapshots").glob("*.json"))
    assert "etag" not in json.loads(snapshot_meta.read_text())["headers"]


def test_hostile_stored_invalid_validator_is_not_sent(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    """A validator an older version stored must not stop every later check."""
    http_server.route(PATH, Reply(200, PAGE_A))

    result = fetch_page(
        http_server.url(PATH),
        client=client,
        settings=settings(),
        etag='"abc\u00e6"',
        last_modified="Fri, 12 Nov 2021\x00",
    )

    assert (result.status, result.body) == (200, PAGE_A)
    (request,) = http_server.requests_for(PATH)
    assert "if-none-match" not in request.headers
    assert "if-modified-since" not in request.headers


# --- encoding bombs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gibibyte_gzip() -> bytes:
    """1 GiB of zeros, gzip: ~1 MB."""
    return gzip_bomb(1 << 30)


RSS_CHILD = """
import json, sys
from pathlib import Path
from scraper.config import build_config
from scraper.errors import FetchError
from scraper.fetch import fetch_page, make_client
settings = build_config({"fetch": {"max_attempts": 1}}, base=Path("."), source=None).fetch
with make_client(settings) as client:
    try:
        fetch_page(sys.argv[1], client=client, settings=settings)
        error = None
    except FetchError as exc:
        error = str(exc)
# VmHWM is this process image's own peak: ru_maxrss would also keep the peak of the process it
# was forked from (Linux carries it across exec), which is pytest's size, not the fetch's.
status = Path("/proc/self/status").read_text()
peak_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
print(json.dumps({"error": error, "peak_mib": peak_kib / 1024}))
"""


def fetch_in_child(url: str) -> dict[str, Any]:
    """fetch_page in a fresh interpreter with default settings (max_bytes 10 MB): its error and
    its own peak RSS, so that nothing this test process holds is counted."""
    done = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("encodings", "wrap"),
    [
        ("gzip, gzip", lambda inner: gzip.compress(inner, 9)),
        ("deflate, gzip", None),  # the inner layer zlib-wrapped deflate, the outer gzip
    ],
    ids=["gzip-gzip", "deflate-gzip"],
)
def test_hostile_stacked_encoding_bomb_stays_under_150_mb(
    gibibyte_gzip: bytes, encodings: str, wrap: Callable[[bytes], bytes] | None
) -> None:
    if wrap is not None:
        body = wrap(gibibyte_gzip)
    else:
        deflated = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS)
        inner = b"".join(deflated.compress(bytes(1 << 20)) for _ in range(256)) + deflated.flush()
        body = gzip.compress(inner, 9)
    assert len(body) < 10_000  # a few KB on the wire
    handler = respond(
        b"HTTP/1.1 200 OK",
        [b"Content-Type: text/html", b"Content-Encoding: " + encodings.encode()],
        body,
    )
    with RawServer(handler) as server:
        outcome = fetch_in_child(server.url())

    assert outcome["error"] == (
        f"GET {server.url()}: response larger than 10000000 bytes (max_bytes in [fetch])"
    )
    print(f"peak RSS, {encodings} bomb: {outcome['peak_mib']:.1f} MiB")
    assert outcome["peak_mib"] <= 150


def test_hostile_three_content_encodings_are_refused(client: httpx.Client) -> None:
    body = gzip.compress(gzip.compress(gzip.compress(b"<html><body><p>x</p></body></html>")))
    handler = respond(
        b"HTTP/1.1 200 OK",
        [b"Content-Type: text/html", b"Content-Encoding: gzip, gzip, gzip"],
        body,
    )
    with RawServer(handler) as server, pytest.raises(FetchError) as caught:
        fetch_page(server.url(), client=client, settings=settings(max_attempts=1))

    assert str(caught.value) == (
        f"GET {server.url()}: 3 content encodings (gzip, gzip, gzip) refused; at most 2 are decoded"
    )


@pytest.mark.parametrize(
    ("encodings", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib header
        ("gzip, deflate", lambda data: zlib.compress(gzip.compress(data))),
        ("identity", lambda data: data),
    ],
    ids=["gzip", "deflate", "raw-deflate", "gzip-deflate", "identity"],
)
def test_hostile_honest_encodings_still_decode(
    client: httpx.Client, encodings: str, encode: Callable[[bytes], bytes]
) -> None:
    handler = respond(
        b"HTTP/1.1 200 OK",
        [b"Content-Type: text/html", b"Content-Encoding: " + encodings.encode()],
        encode(PAGE_A),
    )
    with RawServer(handler) as server:
        result = fetch_page(server.url(), client=client, settings=settings(max_attempts=1))

    assert result.body == PAGE_A


# --- the deadline ----------------------------------------------------------------------------


def trickle(prefix: bytes, *, every_s: float, seconds: float) -> Handler:
    """Send `prefix`, then one byte every `every_s` for `seconds` (a body that never ends soon)."""

    def handler(conn: socket.socket, _head: bytes) -> None:
        conn.sendall(prefix)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(every_s)
            conn.sendall(b"x")

    return handler


@pytest.mark.parametrize(
    "prefix",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n<html>",
        b"HTTP/1.1 200 OK\r\nX-Slow: ",  # the headers never end
    ],
    ids=["body", "headers"],
)
def test_hostile_one_byte_a_second_stops_at_the_deadline(
    client: httpx.Client, prefix: bytes
) -> None:
    # scaled down: a byte every 0.1 s (each read well within read_timeout_s), deadline 1 s
    with RawServer(trickle(prefix, every_s=0.1, seconds=30)) as server:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            fetch_page(
                server.url(),
                client=client,
                settings=settings(deadline_s=1.0, read_timeout_s=5.0, max_attempts=3),
            )
        print(f"trickle ({prefix[-8:]!r}) stopped after {time.monotonic() - started:.2f} s")

    assert str(caught.value) == (
        f"GET {server.url()}: no complete response within 1 s (deadline_s in [fetch])"
    )
    assert len(server.page_requests()) == 1  # no time left for a retry


def test_hostile_retry_after_beyond_the_deadline_gives_up_without_waiting(
    http_server: LoopbackServer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.route(PATH, Reply(503, headers={"Retry-After": "3600"}))
    sleeps: list[float] = []

    with caplog.at_level(logging.WARNING, logger="scraper.fetch"), pytest.raises(FetchError) as e:
        fetch_page(
            http_server.url(PATH),
            client=client,
            settings=settings(deadline_s=30.0, max_backoff_s=60.0),
            sleep=sleeps.append,
        )

    assert str(e.value) == (
        f"GET {http_server.url(PATH)}: HTTP 503 Service Unavailable; no time left for another "
        "try within 30 s (deadline_s in [fetch])"
    )
    assert sleeps == []
    assert [r.getMessage() for r in caplog.records] == [
        f"GET {http_server.url(PATH)}: the server asks to wait 3600 s (Retry-After); "
        "waiting 60 s (max_backoff_s in [fetch])"
    ]


def test_hostile_retry_after_above_the_cap_is_logged_as_shortened(
    http_server: LoopbackServer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.route(PATH, Reply(429, headers={"Retry-After": "120"}), Reply(200, PAGE_A))
    sleeps: list[float] = []

    with caplog.at_level(logging.WARNING, logger="scraper.fetch"):
        result = fetch_page(
            http_server.url(PATH),
            client=client,
            settings=settings(max_backoff_s=0.05),
            sleep=sleeps.append,
        )

    assert (result.status, result.attempts, sleeps) == (200, 2, [0.05])
    assert [r.getMessage() for r in caplog.records] == [
        f"GET {http_server.url(PATH)}: the server asks to wait 120 s (Retry-After); "
        "waiting 0.05 s (max_backoff_s in [fetch])"
    ]


def test_hostile_trickle_does_not_hold_up_the_next_page(tmp_path: Path) -> None:
    body = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
    with (
        RawServer(trickle(body, every_s=0.1, seconds=30)) as slow,
        LoopbackServer() as fast,
    ):
        fast.route(PATH, Reply(200, PAGE_A, {"Content-Type": "text/html; charset=utf-8"}))
        config = write_config(tmp_path, slow.url(), fast.url(PATH), deadline_s=1.0)
        result = run_cli("--config", str(config), "check", "--quiet")

    assert result.code == 3
    assert (
        f"GET {slow.url()}: no complete response within 1 s (deadline_s in [fetch])" in result.err
    )
    db = tmp_path / "store" / "imdi-watch.db"
    assert query(db, "SELECT page_id, outcome FROM fetches ORDER BY id") == [
        (1, "error"),
        (2, "new-revision"),
    ]


# --- redirects and server text ---------------------------------------------------------------


def test_hostile_redirect_to_the_same_host_on_another_port_is_refused(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    with LoopbackServer() as other:
        other.route(PATH, Reply(200, PAGE_A))
        elsewhere = other.url(PATH)
        http_server.route(PATH, Reply(302, headers={"Location": elsewhere}))

        with pytest.raises(FetchError) as caught:
            fetch_page(http_server.url(PATH), client=client, settings=settings())

    assert str(caught.value) == (
        f"GET {http_server.url(PATH)}: redirect to another port ({elsewhere}) refused; "
        "set allow_other_hosts = true in [fetch] to follow it"
    )
    assert other.requests == []


def test_hostile_redirect_to_another_scheme_on_the_same_host_is_refused(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    target = f"https://127.0.0.1:{http_server.port}{PATH}"
    http_server.route(PATH, Reply(302, headers={"Location": target}))

    with pytest.raises(FetchError) as caught:
        fetch_page(http_server.url(PATH), client=client, settings=settings())

    assert str(caught.value) == (
        f"GET {http_server.url(PATH)}: redirect to another scheme ({target}) refused; "
        "set allow_other_hosts = true in [fetch] to follow it"
    )


def test_hostile_reason_phrase_cannot_drive_the_terminal(tmp_path: Path) -> None:
    handler = respond(b"HTTP/1.1 599 \x1b[2J\x1b]0;owned\x07Gone\x9b31m", [])
    with RawServer(handler) as server:
        config = write_config(tmp_path, server.url(), max_attempts=1)
        result = run_cli("--config", str(config), "check")

    assert result.code == 3
    line = f"GET {server.url()}: HTTP 599 \\x1b[2J\\x1b]0;owned\\x07Gone31m"
    assert line in result.err
    assert "\x1b" not in result.err and "\x07" not in result.err
    db = tmp_path / "store" / "imdi-watch.db"
    ((error,),) = query(db, "SELECT error FROM fetches")
    assert line in error


# --- content that must not invent a change or a figure ---------------------------------------

HTML_UTF8 = {"Content-Type": "text/html; charset=utf-8"}


@pytest.mark.parametrize("name", sorted(SAME_CONTENT))
def test_hostile_content_that_reads_the_same_is_unchanged(tmp_path: Path, name: str) -> None:
    with LoopbackServer() as server:
        server.route(PATH, Reply(200, PAGE_A, HTML_UTF8), Reply(200, SAME_CONTENT[name], HTML_UTF8))
        config = write_config(tmp_path, server.url(PATH))
        first = run_cli("--config", str(config), "check", "--json")
        second = run_cli("--config", str(config), "check", "--json")

    assert (first.code, second.code) == (0, 0), second.err
    (result,) = json.loads(second.out)
    assert (result["outcome"], result["changes"]) == ("unchanged", 0)
    db = tmp_path / "store" / "imdi-watch.db"
    assert query(db, "SELECT count(*) FROM revisions") == [(1,)]
    assert query(db, "SELECT requested, minors FROM figures WHERE municipality = 'Bergen'") == [
        (182, 7)
    ]


def test_hostile_latin_1_page_says_how_it_was_read() -> None:
    from scraper.parse import parse_page

    page = parse_page(SAME_CONTENT["latin-1-as-utf-8"], encoding="utf-8")

    (fallback,) = [w for w in page.warnings if w.code == "encoding-fallback"]
    assert fallback.details["encoding"] == "windows-1252"
    assert fallback.message.startswith("the page is not valid UTF-8 (byte ")
    assert "Risør" in {row.municipality for row in page.rows}
    assert page.fingerprint == parse_page(PAGE_A).fingerprint


def test_hostile_deep_nesting_is_a_warning_not_a_crash() -> None:
    from scraper.parse import parse_page

    page = parse_page(SAME_CONTENT["nested-1000-deep"])

    assert [w.code for w in page.warnings if w.code == "nesting-too-deep"] == ["nesting-too-deep"]
    assert len(page.rows) == len(parse_page(PAGE_A).rows)


@pytest.mark.parametrize("name", sorted(ABSURD_NUMBERS))
def test_hostile_absurd_number_is_blank_with_a_warning(tmp_path: Path, name: str) -> None:
    with LoopbackServer() as server:
        server.route(PATH, Reply(200, ABSURD_NUMBERS[name], HTML_UTF8))
        config = write_config(tmp_path, server.url(PATH))
        result = run_cli("--config", str(config), "check", "--json")

    assert result.code == 0, result.err
    (check,) = json.loads(result.out)
    assert check["outcome"] == "new-revision"
    assert "number-too-large" in [warning["code"] for warning in check["warnings"]]
    db = tmp_path / "store" / "imdi-watch.db"
    if name.startswith("cell"):
        assert query(db, "SELECT requested FROM figures WHERE municipality = 'Bergen'") == [(None,)]
    else:
        assert query(db, "SELECT headline_municipalities FROM revisions") == [(None,)]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("<td>182<sup>1</sup></td>", ("182", "1")),
        ("<td>182¹²</td>", ("182", "¹²")),
        ("<td>5 500 *</td>", ("5 500", "*")),
        ("<td>Bergen<sup> 2) </sup></td>", ("Bergen", "2)")),
        ("<td>Søndre<br>Land</td>", ("Søndre Land", None)),
        ("<td>Nord-<div>Fron</div></td>", ("Nord- Fron", None)),
        ("<td>Kristian\u00adsand\u200b</td>", ("Kristiansand", None)),
        ("<td>Oslo<script>x()</script><!-- y --><noscript>z</noscript></td>", ("Oslo", None)),
        ("<td>Hamar*</td>", ("Hamar*", None)),  # a marker beside a name is left to the reader
        ("<td>" + "<span>" * 5000 + "7" + "</span>" * 5000 + "</td>", ("7", None)),
    ],
)
def test_hostile_read_cell_text(cell: str, expected: tuple[str, str | None]) -> None:
    from selectolax.lexbor import LexborHTMLParser

    from scraper.parse import read_cell_text

    node = LexborHTMLParser(f"<table><tr>{cell}</tr></table>").css_first("td")
    assert node is not None
    assert read_cell_text(node) == expected


# --- the store defends its history -----------------------------------------------------------


def checked_once(root: Path, server: LoopbackServer) -> Path:
    """A config whose store holds one revision of PAGE_A (and its snapshot)."""
    server.route(PATH, Reply(200, PAGE_A, HTML_UTF8))
    config = write_config(root, server.url(PATH))
    assert run_cli("--config", str(config), "check", "--quiet").code == 0
    return config


def remove_database(db: Path) -> None:
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        path.unlink(missing_ok=True)


@pytest.mark.parametrize("how", ["emptied", "replaced"])
def test_hostile_empty_database_beside_snapshots_is_refused(
    tmp_path: Path, http_server: LoopbackServer, how: str
) -> None:
    config = checked_once(tmp_path, http_server)
    db = tmp_path / "store" / "imdi-watch.db"
    remove_database(db)
    if how == "emptied":
        db.write_bytes(b"")
    else:  # another SQLite file put in its place
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE notes (text TEXT)")
        conn.close()

    result = run_cli("--config", str(config), "check")

    assert result.code == 3
    what = "is empty (0 bytes)" if how == "emptied" else "holds no pages"
    assert result.err.splitlines() == [
        f"imdi-watch: error: {db}: {what}, but {tmp_path / 'snapshots'} holds 1 snapshots of an "
        "earlier history; refusing to start that history again. Move the database away, then "
        f"run `imdi-watch rebuild {db}` to rebuild it from the snapshots"
    ]
    assert query(db, "SELECT name FROM sqlite_master") == (
        [] if how == "emptied" else [("notes",)]
    )  # refused before anything was written


def test_hostile_database_without_pages_is_refused_and_rebuild_restores_it(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    config = checked_once(tmp_path, http_server)
    db = tmp_path / "store" / "imdi-watch.db"
    conn = sqlite3.connect(db)
    with conn:
        for table in ("fetches", "notifications"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute("DELETE FROM revisions")
        conn.execute("DELETE FROM pages")
    conn.close()

    refused = run_cli("--config", str(config), "check")
    assert refused.code == 3
    assert f"{db}: holds no pages, but " in refused.err
    assert f"run `imdi-watch rebuild {db}`" in refused.err

    db.rename(tmp_path / "old.db")
    remove_database(db)
    assert run_cli("--config", str(config), "rebuild", str(db)).code == 0
    again = run_cli("--config", str(config), "check", "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)[0]["outcome"] == "unchanged"


def test_hostile_disk_full_is_named_as_such(tmp_path: Path) -> None:
    from scraper.config import Target
    from scraper.errors import StoreError
    from scraper.models import FetchResult
    from scraper.pipeline import ingest_body
    from scraper.store import open_store

    url = "http://127.0.0.1/oppmoding"
    fetch = FetchResult(url, url, 200, PAGE_A, {}, elapsed_ms=1, attempts=1, encoding=None)
    with open_store(tmp_path / "db.sqlite", tmp_path / "snapshots") as store:
        page = store.ensure_page("oppmoding", url)
        # A full disk, honestly: SQLite's own limit on this connection's database size, at the
        # size it has now. (The connection is the store's; the pragma lives only there.)
        store._conn.execute(f"PRAGMA max_page_count = {store._query('PRAGMA page_count')[0][0]}")
        with pytest.raises(StoreError) as caught:
            ingest_body(
                Target("oppmoding", url), fetch, store=store,
                fetched_at="2025-03-01T06:00:00.000Z", page_id=page.id,
            )  # fmt: skip

    assert str(caught.value) == (
        f"{tmp_path / 'db.sqlite'}: the disk is full (SQLite: database or disk is full); "
        "nothing of this operation was stored. Free some space and run again"
    )
    assert query(tmp_path / "db.sqlite", "SELECT count(*) FROM revisions") == [(0,)]


IO_ERROR_CHILD = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from scraper.__main__ import main
sys.argv = ["imdi-watch", "--config", sys.argv[1], "check"]
main()
"""


def test_hostile_io_error_is_named_as_such(tmp_path: Path, http_server: LoopbackServer) -> None:
    http_server.route(PATH, Reply(200, PAGE_A, HTML_UTF8))
    config = write_config(tmp_path, http_server.url(PATH))
    # the store's schema first, then a file-size limit just above it: the WAL cannot grow
    from scraper.store import open_store

    with open_store(tmp_path / "store" / "imdi-watch.db", tmp_path / "snapshots"):
        pass
    done = subprocess.run(
        [sys.executable, "-c", IO_ERROR_CHILD, str(config), str(48 * 1024)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip

    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [
        f"imdi-watch: error: {tmp_path / 'store' / 'imdi-watch.db'}: I/O error "
        "(SQLITE_IOERR_WRITE: disk I/O error); nothing of this operation was stored. Check the disk"
    ]
    assert query(tmp_path / "store" / "imdi-watch.db", "SELECT count(*) FROM revisions") == [(0,)]


# --- no credentials in URLs ------------------------------------------------------------------


def test_hostile_config_refuses_a_password_in_a_page_url() -> None:
    from scraper.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        build_config(
            {"pages": [{"name": "x", "url": "http://user:hunter2@127.0.0.1/oppmoding"}]},
            base=Path("."),
            source=None,
        )

    assert "hunter2" not in str(caught.value)
    assert str(caught.value).startswith(
        "defaults: [[pages]] #1.url has a user name or password in it (http://127.0.0.1/oppmoding"
    )
    assert "environment variable" in str(caught.value)


def test_hostile_userinfo_is_never_stored(tmp_path: Path, http_server: LoopbackServer) -> None:
    config = write_config(tmp_path, http_server.url(PATH))
    secret_url = f"http://user:secret@127.0.0.1:{http_server.port}/moved"
    http_server.route(PATH, Reply(302, headers={"Location": secret_url}))
    http_server.route("/moved", Reply(200, PAGE_A, HTML_UTF8))
    page = tmp_path / "saved.html"
    page.write_bytes(mutate(b"<td>182</td>", b"<td>183</td>"))

    checked = run_cli("--config", str(config), "check", "--quiet")
    ingested = run_cli(
        "--config", str(config), "ingest", str(page), "--url",
        f"http://user:secret@127.0.0.1:{http_server.port}/other",
        "--fetched-at", "2030-01-01T00:00:00Z",
    )  # fmt: skip

    assert (checked.code, ingested.code) == (0, 0), checked.err + ingested.err
    db = tmp_path / "store" / "imdi-watch.db"
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert "secret" not in dump
    assert f"http://127.0.0.1:{http_server.port}/moved" in dump
    for meta in (tmp_path / "snapshots").glob("*.json"):
        assert "secret" not in meta.read_text()


# --- backfill --------------------------------------------------------------------------------


def test_hostile_backfill_capture_dated_in_the_future_is_skipped(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    from test_backfill import CAPTURES, backfill, cdx_listing, script_archive
    from test_backfill import write_config as backfill_config

    future = ("29990101000000", "revised", "DIGESTF")
    script_archive(
        http_server,
        listing=Reply(200, cdx_listing([*CAPTURES, future]), {"Content-Type": "text/plain"}),
    )
    http_server.route(
        f"/web/{future[0]}id_/https://www.imdi.no/planlegging-og-bosetting/bosettingsprosessen/"
        "imdis-anmodning/",
        Reply(200, PAGE_A, HTML_UTF8),
    )
    config = backfill_config(tmp_path)

    result = backfill(config, http_server)

    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if "future" in line]
    assert len(warnings) == 1
    assert (
        "capture 29990101000000 is dated in the future (2999-01-01T00:00:00.000Z); skipped"
        in (warnings[0])
    )
    times = query(tmp_path / "imdi-watch.db", "SELECT max(fetched_at) FROM fetches")
    assert times == [("2021-11-19T12:00:00.000Z",)]
    assert not [r for r in http_server.requests if "2999" in r.path]


def test_hostile_page_text_in_a_warning_is_clipped() -> None:
    # A 5 000-character cell, header or name is named in a warning, not repeated whole.
    from scraper.parse import parse_page

    long_text = "x" * 5000
    page = parse_page(
        PAGE_A.replace(b">182<", f">18{long_text}<".encode()).replace(
            ">Risør<".encode(), f">R{long_text}<".encode()
        )
    )
    codes = {w.code: w for w in page.warnings}
    assert {"unreadable-cell", "unknown-municipality"} <= set(codes)
    for warning in page.warnings:
        assert len(warning.message) < 300, warning.message
        assert all(len(v) <= 200 for v in warning.details.values() if isinstance(v, str))
