"""`pipeline.check_all`, the one loop behind `check`, `run` and `demo`: one page's failure, whatever
it is, is that page's `error` fetch and the next page is still checked; pages are fetched a few at
a time (never more than two per host) and stored in config order.
"""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_helpers import run_cli
from history_store import query
from server import LoopbackServer, Reply

from scraper.config import load_config
from scraper.models import Outcome
from scraper.pipeline import check_all
from scraper.store import open_store

FIXTURES = Path(__file__).parent / "fixtures"
PAGE_A = (FIXTURES / "page-2022-nn-a.html").read_bytes()
HTML = {"Content-Type": "text/html; charset=utf-8"}
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def write_pages(tmp_path: Path, pages: list[tuple[str, str]], **fetch: object) -> Path:
    lines = []
    for name, url in pages:
        lines += ["[[pages]]", f'name = "{name}"', f'url = "{url}"', ""]
    settings = {"max_attempts": 1, "read_timeout_s": 5, "connect_timeout_s": 2, **fetch}
    lines += ["[fetch]", *(f"{key} = {toml(value)}" for key, value in settings.items()), ""]
    lines += ["[store]", 'path = "store/imdi-watch.db"', 'snapshots = "snapshots"']
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def toml(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


def stored_fetches(tmp_path: Path) -> list[tuple[Any, ...]]:
    return query(
        tmp_path / "store" / "imdi-watch.db",
        "SELECT p.name, f.outcome, f.status, f.error FROM fetches f "
        "JOIN pages p ON p.id = f.page_id ORDER BY f.id",
    )


class _GarbageHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"\x00\xffnot HTTP at all\r\n\r\n")


@pytest.fixture
def garbage_url() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that answers any request with bytes that are not HTTP."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _GarbageHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/oppmoding"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- per-page isolation ----------------------------------------------------------------------


def test_check_all_a_server_answering_garbage_is_an_error_and_the_next_page_is_checked(
    tmp_path: Path, http_server: LoopbackServer, garbage_url: str
) -> None:
    http_server.route("/oppmoding", Reply(200, PAGE_A, HTML))
    config = write_pages(
        tmp_path, [("garbage", garbage_url), ("good", http_server.url("/oppmoding"))]
    )
    done = run_cli("--config", str(config), "check", "--quiet")
    assert done.code == 3
    fetches = stored_fetches(tmp_path)
    assert [(name, outcome, status) for name, outcome, status, _ in fetches] == [
        ("garbage", "error", None),
        ("good", "new-revision", 200),
    ]
    error = fetches[0][3]
    assert error.startswith(f"GET {garbage_url}: connection failed (")
    assert "\n" not in error
    robots, failed = done.err.splitlines()  # robots.txt could not be read either: a warning
    assert robots.startswith("imdi-watch: WARNING: GET http://127.0.0.1:")
    assert failed == f"imdi-watch: error: garbage: {error}"


HOSTILE_PAGES = {
    # selectolax nodes walked recursively: RecursionError before the parser bounded the depth
    "deep": PAGE_A.replace(b"<table", b"<div>" * 1000 + b"<table", 1),
    # a cell SQLite cannot store as INTEGER: OverflowError from the driver
    "huge": PAGE_A.replace(b">182<", b">99999999999999999999999<", 1),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_PAGES))
def test_check_all_a_page_that_breaks_the_parser_or_store_does_not_stop_the_next_page(
    tmp_path: Path, http_server: LoopbackServer, kind: str
) -> None:
    http_server.route("/hostile", Reply(200, HOSTILE_PAGES[kind], HTML))
    http_server.route("/oppmoding", Reply(200, PAGE_A, HTML))
    pages = [("hostile", http_server.url("/hostile")), ("good", http_server.url("/oppmoding"))]
    done = run_cli("--config", str(write_pages(tmp_path, pages)), "check", "--quiet")
    (hostile, good) = stored_fetches(tmp_path)
    assert good == ("good", "new-revision", 200, None)
    # the page either reads with warnings (once the parser bounds it) or is one error fetch
    assert hostile[:3] in {("hostile", "error", 200), ("hostile", "new-revision", 200)}
    if hostile[1] == "error":
        assert done.code == 3
        assert re.fullmatch(
            rf"{re.escape(pages[0][1])}: internal error: \w+Error: [^\n]+", hostile[3]
        )
        assert done.err == f"imdi-watch: error: hostile: {hostile[3]}\n"
    else:
        assert done.code == 0


@pytest.mark.parametrize(
    "exc",
    [
        RecursionError("maximum recursion depth exceeded"),
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        UnicodeEncodeError("ascii", "abcæ", 3, 4, "ordinal not in range(128)"),
        KeyError("surprise"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_check_all_any_exception_in_one_page_is_its_error_fetch_and_counts_as_a_failure(
    tmp_path: Path, exc: Exception
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        if request.url.host == "broken.test":
            raise exc
        return httpx.Response(200, stream=httpx.ByteStream(PAGE_A), headers=HTML)

    pages = [
        ("broken", "http://broken.test/oppmoding"),
        ("good", "http://good.test/oppmoding"),
    ]
    config = load_config(write_pages(tmp_path, pages, concurrency=1))
    planned: list[list[tuple[str, str]]] = []
    with open_store(config.store.path, config.store.snapshots) as store:
        results = check_all(
            config.pages,
            store=store,
            settings=config.fetch,
            now=lambda: NOW,
            lock_wait_s=1,
            clients=lambda: httpx.Client(transport=httpx.MockTransport(answer)),
            plan=lambda found: [(r.target.name, str(r.outcome)) for r in found],
            send=planned.append,
        )
        failures = store.consecutive_failures(store.ensure_page("broken", pages[0][1]).id)
    detail = " ".join(str(exc).split())
    message = f"http://broken.test/oppmoding: internal error: {type(exc).__name__}: {detail}"
    assert [(r.target.name, r.outcome, r.error) for r in results] == [
        ("broken", Outcome.ERROR, message),
        ("good", Outcome.NEW_REVISION, None),
    ]
    assert stored_fetches(tmp_path) == [
        ("broken", "error", None, message),
        ("good", "new-revision", 200, None),
    ]
    assert failures == 1  # what the "failing" notification counts
    assert planned == [[("broken", "error"), ("good", "new-revision")]]  # sent after the lock


# --- concurrency -----------------------------------------------------------------------------


def test_check_all_fetches_pages_at_once_at_most_two_per_host_and_stores_in_config_order(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    # 8 pages on two host names of the same server; the first answers last
    pages = []
    for number in range(8):
        path = f"/page{number}"
        delay_s = 0.8 if number == 0 else 0.3
        http_server.route(path, Reply(200, PAGE_A, HTML, delay_s=delay_s))
        host = "127.0.0.1" if number % 2 == 0 else "localhost"
        pages.append((f"page{number}", http_server.url(path, host=host)))
    config = write_pages(tmp_path, pages, concurrency=4)
    done = run_cli("--config", str(config), "check", "--quiet")
    assert done.code == 0, done.err
    assert [(name, outcome) for name, outcome, _, _ in stored_fetches(tmp_path)] == [
        (f"page{number}", "new-revision") for number in range(8)
    ]
    port = http_server.port
    assert set(http_server.max_in_flight) == {f"127.0.0.1:{port}", f"localhost:{port}"}
    assert max(http_server.max_in_flight.values()) <= 2  # never more than two per host
    assert sum(http_server.max_in_flight.values()) > 2  # but more than one page at a time


def test_check_all_concurrency_1_fetches_one_page_at_a_time(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    pages = []
    for number in range(3):
        http_server.route(f"/page{number}", Reply(200, PAGE_A, HTML, delay_s=0.1))
        pages.append((f"page{number}", http_server.url(f"/page{number}")))
    done = run_cli("--config", str(write_pages(tmp_path, pages, concurrency=1)), "check", "-q")
    assert done.code == 0, done.err
    assert http_server.max_in_flight == {f"127.0.0.1:{http_server.port}": 1}
    assert [o for _, o, _, _ in stored_fetches(tmp_path)] == ["new-revision"] * 3


def test_check_all_asks_robots_txt_once_per_origin(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("/robots.txt", Reply(200, b"User-agent: *\nAllow: /\n"))
    pages = []
    for number in range(4):
        http_server.route(f"/page{number}", Reply(200, PAGE_A, HTML))
        pages.append((f"page{number}", http_server.url(f"/page{number}")))
    config = write_pages(tmp_path, pages, concurrency=4, ignore_robots=False)
    assert run_cli("--config", str(config), "check", "-q").code == 0
    assert len(http_server.requests_for("/robots.txt")) == 1


def test_config_concurrency_must_be_a_positive_integer(tmp_path: Path) -> None:
    config = write_pages(tmp_path, [("p", "http://127.0.0.1:9/")], concurrency=0)
    done = run_cli("--config", str(config), "check")
    assert (done.code, done.err) == (
        2,
        f"imdi-watch: error: {config}: [fetch].concurrency must be at least 1, got 0\n",
    )
    assert load_config(write_pages(tmp_path, [("p", "http://127.0.0.1:9/")])).fetch.concurrency == 4


# --- TLS only where it is needed -------------------------------------------------------------


@pytest.fixture
def https_url(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https:// page on 127.0.0.1 with a self-signed certificate, and that certificate."""
    import ssl
    import subprocess
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PAGE_A if self.path == "/oppmoding" else b"not here\n"
            self.send_response(200 if self.path == "/oppmoding" else 404)
            self.send_header("Content-Type", HTML["Content-Type"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/oppmoding", cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_check_all_https_page_is_verified_with_the_ca_bundle_made_on_first_use(
    tmp_path: Path, https_url: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert = https_url
    config = write_pages(tmp_path, [("tls", url)])
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    refused = run_cli("--config", str(config), "check", "--quiet")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # what httpx trusts besides certifi's bundle
    trusted = run_cli("--config", str(config), "check", "--quiet")
    assert (refused.code, trusted.code) == (3, 0), trusted.err
    assert "CERTIFICATE_VERIFY_FAILED" in refused.err
    assert [row[:3] for row in stored_fetches(tmp_path)] == [
        ("tls", "error", None),
        ("tls", "new-revision", 200),
    ]


# --- the lean `check` and the click CLI agree ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "lean"),
    [
        (["check"], {}),
        (["--config", "c.toml", "-v", "check", "-q", "--exit-code"],
         {"config_path": "c.toml", "verbose": True, "quiet": True, "exit_code": True}),
        (["--config=c.toml", "--debug", "check", "--json"],
         {"config_path": "c.toml", "debug": True, "as_json": True}),
        (["check", "--help"], None),
        (["check", "--quiet", "extra"], None),
        (["--config"], None),
        (["--config", "check"], None),  # "check" is the config's path; no command: click's turn
        (["log", "-n", "5"], None),
        (["--version"], None),
    ],
)  # fmt: skip
def test_console_takes_only_a_plain_check_and_leaves_the_rest_to_click(
    args: list[str], lean: dict[str, object] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scraper.console import parse_check_args

    monkeypatch.delenv("IMDI_WATCH_CONFIG", raising=False)
    defaults = {"config_path": None, "debug": False, "verbose": False, "quiet": False,
                "as_json": False, "exit_code": False}  # fmt: skip
    assert parse_check_args(args) == (None if lean is None else {**defaults, **lean})


def test_console_check_and_the_click_check_answer_alike(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    import contextlib
    import io

    from scraper.cli import main as click_main

    http_server.route("/gone", Reply(404, b"gone\n"))
    lean_config = write_pages(tmp_path / "lean", [("gone", http_server.url("/gone"))])
    lean = run_cli("--config", str(lean_config), "check")
    click_config = write_pages(tmp_path / "click", [("gone", http_server.url("/gone"))])
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.raises(SystemExit) as exited,
    ):
        click_main(["--config", str(click_config), "check"])
    assert (exited.value.code, out.getvalue(), err.getvalue()) == (lean.code, lean.out, lean.err)
    assert (lean.code, lean.out, lean.err) == (
        3,
        "gone: error (HTTP 404)\n",
        f"imdi-watch: error: gone: GET {http_server.url('/gone')}: HTTP 404 Not Found\n",
    )
