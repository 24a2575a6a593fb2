"""What a hostile page, server or config cannot make imdi-watch do: read local files, follow a
redirect elsewhere, swallow an oversize or gzip-bomb body, drive the terminal or a Markdown
renderer with scraped text, or leak a notification secret.
"""

from __future__ import annotations

import gzip
import html
import re
import shutil
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

import httpx
import pytest
from cli_helpers import run_cli
from history_store import query
from server import LoopbackServer, Reply

from scraper.config import build_config
from scraper.diff import diff_pages
from scraper.errors import ConfigError, FetchError
from scraper.fetch import fetch_page, make_client
from scraper.parse import parse_page
from scraper.report import render_changes
from scraper.serve import CANNED_QUERIES, FEED_PATH

FIXTURES = Path(__file__).parent / "fixtures"
PAGE_A = (FIXTURES / "page-2022-nn-a.html").read_bytes()
PAGE_REVISED = (FIXTURES / "page-2022-revised.html").read_bytes()
HTML = {"Content-Type": "text/html; charset=utf-8"}
PATH = "/oppmoding"
TOO_LARGE = "response larger than {} bytes (max_bytes in [fetch])"


def snapshot_files(root: Path) -> list[str]:
    folder = root / "snapshots"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- only http(s), only the page's own host --------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://ftp.example.org/oppmoding.html",
        "gopher://example.org/",
        "javascript:alert(1)",
        "data:text/html,<h1>x</h1>",
        "/etc/passwd",
        "http:///no-host",
    ],
)
def test_security_config_refuses_non_http_page_urls(url: str) -> None:
    with pytest.raises(ConfigError, match=r"\[\[pages\]\] #1\.url"):
        build_config({"pages": [{"name": "x", "url": url}]}, base=Path("."), source=None)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://ftp.example.org/x.html"])
def test_security_check_with_a_file_or_ftp_page_is_a_config_error_before_any_io(
    tmp_path: Path, url: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[[pages]]\nname = "x"\nurl = "{url}"\n', encoding="utf-8")

    result = run_cli("--config", str(config), "check")

    assert result.code == 2
    assert result.err.startswith(f"imdi-watch: error: {config}: [[pages]] #1.url must be an http")
    assert not (tmp_path / "store").exists()  # nothing opened, nothing fetched


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://ftp.example.org/x.html"])
def test_security_fetch_refuses_file_and_ftp_urls(url: str) -> None:
    settings = build_config({}, base=Path("."), source=None).fetch
    with (
        make_client(settings) as client,
        pytest.raises(FetchError, match="only http:// and https:// URLs are fetched"),
    ):
        fetch_page(url, client=client, settings=settings)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://ftp.example.org/x.html"])
def test_security_parse_command_refuses_file_and_ftp_urls(url: str) -> None:
    result = run_cli("parse", url)

    assert result.code == 2
    assert "only http:// and https:// URLs or local files can be read" in result.err
    assert "root:" not in result.out


@pytest.fixture
def watch_config(
    http_server: LoopbackServer, write_config: Callable[..., Path]
) -> Callable[..., Path]:
    def make(**fetch: object) -> Path:
        return write_config(http_server.url(PATH), fetch=fetch)

    return make


@pytest.mark.parametrize(
    ("location", "allow_other_hosts"),
    [
        ("file:///etc/passwd", False),
        ("file:///etc/passwd", True),  # allowing other hosts never allows other schemes
        ("ftp://127.0.0.1/oppmoding", True),
        ("gopher://127.0.0.1:70/", True),
    ],
)
def test_security_check_refuses_a_redirect_to_another_scheme(
    http_server: LoopbackServer,
    watch_config: Callable[..., Path],
    tmp_path: Path,
    location: str,
    allow_other_hosts: bool,
) -> None:
    config = watch_config(allow_other_hosts=allow_other_hosts)
    http_server.route(PATH, Reply(302, b"", {"Location": location}))

    result = run_cli("--config", str(config), "check")

    assert result.code == 3
    scheme = location.split(":")[0]
    assert re.search(
        rf"redirect to {scheme}:\S+ refused: only http\(s\) URLs are fetched", result.err
    )
    assert query(tmp_path / "store" / "imdi-watch.db", "SELECT outcome FROM fetches") == [
        ("error",)
    ]
    assert query(tmp_path / "store" / "imdi-watch.db", "SELECT count(*) FROM revisions") == [(0,)]
    assert len(http_server.requests_for(PATH)) == 1


def test_security_check_refuses_redirects_to_other_hosts(
    http_server: LoopbackServer, watch_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = watch_config()
    # the same server under another name, then a URL whose host hides behind user info
    other_name = http_server.url("/elsewhere", host="localhost")
    userinfo = f"http://127.0.0.1:{http_server.port}@example.invalid/oppmoding"
    http_server.route(
        PATH,
        Reply(301, b"", {"Location": other_name}),
        Reply(307, b"", {"Location": userinfo}),
    )
    http_server.route("/elsewhere", Reply(200, PAGE_A, HTML))

    first = run_cli("--config", str(config), "check")
    second = run_cli("--config", str(config), "check")

    assert first.code == second.code == 3
    assert f"redirect to another host ({other_name}) refused" in first.err
    assert "redirect to another host (http://example.invalid/oppmoding) refused" in second.err
    assert http_server.requests_for("/elsewhere") == []
    assert query(tmp_path / "store" / "imdi-watch.db", "SELECT count(*) FROM revisions") == [(0,)]


# --- the size cap, on the decoded body -------------------------------------------------------


def gzip_bomb(decoded_bytes: int) -> bytes:
    """A gzip body of zeros that inflates to `decoded_bytes`, built without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(decoded_bytes >> 20)]
    parts.append(packer.compress(bytes(decoded_bytes & ((1 << 20) - 1))))
    parts.append(packer.flush())
    return b"".join(parts)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, PAGE_A, HTML),  # Content-Length over the cap: refused before reading
        Reply(200, headers=HTML, chunks=(PAGE_A[:60_000], PAGE_A[60_000:])),  # no length
    ],
    ids=["content-length", "chunked"],
)
def test_security_check_refuses_a_body_over_max_bytes(
    http_server: LoopbackServer, watch_config: Callable[..., Path], tmp_path: Path, reply: Reply
) -> None:
    config = watch_config(max_bytes=50_000)
    http_server.route(PATH, reply)

    result = run_cli("--config", str(config), "check")

    assert result.code == 3
    assert TOO_LARGE.format(50_000) in result.err
    db = tmp_path / "store" / "imdi-watch.db"
    assert query(db, "SELECT outcome, revision_id FROM fetches") == [("error", None)]
    assert snapshot_files(tmp_path) == []


def test_security_check_refuses_a_gzip_bomb_by_its_decoded_size(
    http_server: LoopbackServer, watch_config: Callable[..., Path], tmp_path: Path
) -> None:
    bomb = gzip_bomb(64 << 20)  # 64 MiB of zeros in ~65 KB
    assert len(bomb) < 100_000
    config = watch_config(max_bytes=1_000_000)
    http_server.route(PATH, Reply(200, bomb, {**HTML, "Content-Encoding": "gzip"}))

    result = run_cli("--config", str(config), "check")

    assert result.code == 3
    # the compressed Content-Length (~65 KB) is under the cap: only the decoded size can refuse it
    assert TOO_LARGE.format(1_000_000) in result.err
    db = tmp_path / "store" / "imdi-watch.db"
    assert query(db, "SELECT outcome, revision_id FROM fetches") == [("error", None)]
    assert query(db, "SELECT count(*) FROM revisions") == [(0,)]
    assert snapshot_files(tmp_path) == []
    assert len(http_server.requests_for(PATH)) == 1  # not worth a retry


def test_security_gzip_page_under_the_cap_is_stored_decoded(
    http_server: LoopbackServer, watch_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = watch_config(max_bytes=len(PAGE_A))  # exactly the decoded size
    http_server.route(PATH, Reply(200, gzip.compress(PAGE_A), {**HTML, "Content-Encoding": "gzip"}))

    result = run_cli("--config", str(config), "check")

    assert (result.code, result.err) == (0, "")
    db = tmp_path / "store" / "imdi-watch.db"
    assert query(db, "SELECT outcome, bytes FROM fetches") == [("new-revision", len(PAGE_A))]
    (snapshot,) = [n for n in snapshot_files(tmp_path) if n.endswith(".html.gz")]
    assert gzip.decompress((tmp_path / "snapshots" / snapshot).read_bytes()) == PAGE_A


def test_security_gzip_bomb_one_byte_over_the_cap_is_refused(http_server: LoopbackServer) -> None:
    settings = build_config(
        {"fetch": {"max_bytes": 2_000_000, "max_attempts": 1}}, base=Path("."), source=None
    ).fetch
    http_server.route("/exact", Reply(200, gzip_bomb(2_000_000), {"Content-Encoding": "gzip"}))
    http_server.route("/over", Reply(200, gzip_bomb(2_000_001), {"Content-Encoding": "gzip"}))
    with make_client(settings) as client:
        exact = fetch_page(http_server.url("/exact"), client=client, settings=settings)
        assert exact.body is not None and len(exact.body) == 2_000_000
        with pytest.raises(FetchError, match=re.escape(TOO_LARGE.format(2_000_000))):
            fetch_page(http_server.url("/over"), client=client, settings=settings)


# --- scraped text is shown, never obeyed -----------------------------------------------------

HOSTILE_NAME = (
    "&lt;script&gt;alert(1)&lt;/script&gt; [click](javascript:alert(1)) "
    "&lt;img src=x onerror=alert(2)&gt; a|b *bold* &#27;]0;pwned&#7;&#27;[2J"
)
HOSTILE_TEXT = (
    "<script>alert(1)</script> [click](javascript:alert(1)) <img src=x onerror=alert(2)> "
    "a|b *bold* \x1b]0;pwned\x07\x1b[2J"
)  # html.unescape would drop the controls that a browser (and lexbor) keeps


def hostile_pages(tmp_path: Path) -> tuple[Path, Path]:
    """nn-a and revised with Bergen renamed to HOSTILE_NAME on both sides (182 → 192)."""
    old = PAGE_A.replace(b"<td>Bergen</td>", f"<td>{HOSTILE_NAME}</td>".encode())
    new = PAGE_REVISED.replace(b"<td>Bergen</td>", f"<td>{HOSTILE_NAME}</td>".encode())
    assert old != PAGE_A and new != PAGE_REVISED
    (tmp_path / "old.html").write_bytes(old)
    (tmp_path / "new.html").write_bytes(new)
    return tmp_path / "old.html", tmp_path / "new.html"


def test_security_parser_keeps_hostile_text_as_text(tmp_path: Path) -> None:
    old, _ = hostile_pages(tmp_path)
    page = parse_page(old.read_bytes())
    assert HOSTILE_TEXT in {row.municipality for row in page.rows}


@pytest.mark.parametrize("color", [False, True])
def test_security_text_report_shows_control_characters_escaped(tmp_path: Path, color: bool) -> None:
    old, new = (parse_page(p.read_bytes()) for p in hostile_pages(tmp_path))

    text = render_changes(old, new, diff_pages(old, new), format="text", color=color)

    assert "\x07" not in text
    assert "\x1b]" not in text and "\x1b[2J" not in text  # no OSC title, no screen clear
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in text
    assert "<script>alert(1)</script>" in text  # plain text: shown as it reads on the page


def test_security_diff_command_output_has_no_control_characters(tmp_path: Path) -> None:
    old, new = hostile_pages(tmp_path)

    for fmt in ("text", "markdown"):
        result = run_cli("diff", str(old), str(new), "--format", fmt)
        assert result.code == 0, result.err
        assert "\x1b" not in result.out and "\x07" not in result.out
    assert "\\u001b" in run_cli("diff", str(old), str(new), "--format", "json").out


def test_security_markdown_report_escapes_html_links_and_table_cells(tmp_path: Path) -> None:
    old, new = (parse_page(p.read_bytes()) for p in hostile_pages(tmp_path))

    markdown = render_changes(old, new, diff_pages(old, new), format="markdown")

    row = next(line for line in markdown.splitlines() if "alert(1)" in line)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row
    assert "<script>" not in markdown and "<img" not in markdown
    assert "\\[click\\](javascript:alert(1))" in row
    assert "a\\|b" in row and "\\*bold\\*" in row
    assert row.count(" | ") == 5  # still six cells: the name's pipe did not split the row
    assert row.endswith("| requested | 182 | 192 | +10 |")


def test_security_markdown_report_renders_to_inert_html(tmp_path: Path) -> None:
    markdown_lib = pytest.importorskip("markdown")
    old, new = (parse_page(p.read_bytes()) for p in hostile_pages(tmp_path))

    rendered = markdown_lib.markdown(
        render_changes(old, new, diff_pages(old, new), format="markdown"), extensions=["tables"]
    )

    assert "<script" not in rendered and "<img" not in rendered
    assert "href=" not in rendered
    assert "<strong>bold</strong>" not in rendered and "<em>bold</em>" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered


def test_security_show_and_history_escape_control_characters(
    http_server: LoopbackServer, watch_config: Callable[..., Path], tmp_path: Path
) -> None:
    old, _ = hostile_pages(tmp_path)
    config = watch_config()
    http_server.route(PATH, Reply(200, old.read_bytes(), HTML))
    assert run_cli("--config", str(config), "check", "--quiet").code == 0

    shown = run_cli("--config", str(config), "show", "--county", "Vestland")
    history = run_cli("--config", str(config), "history", HOSTILE_TEXT)

    assert shown.code == 0 and "\\x1b]0;pwned" in shown.out
    assert "\x1b" not in shown.out and "\x07" not in shown.out
    assert history.code == 0 and "\\x1b]0;pwned" in history.out
    assert "\x1b" not in history.out and "\x07" not in history.out


# --- serve: the browsable store escapes scraped text -----------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def hostile_store(
    http_server: LoopbackServer, watch_config: Callable[..., Path], tmp_path: Path
) -> Path:
    """A store with two revisions of a page whose Bergen row is named HOSTILE_NAME."""
    old, new = hostile_pages(tmp_path)
    config = watch_config()
    http_server.route(PATH, Reply(200, old.read_bytes(), HTML), Reply(200, new.read_bytes(), HTML))
    assert run_cli("--config", str(config), "check", "--quiet").code == 0
    assert run_cli("--config", str(config), "check", "--quiet").code == 0
    return config


@pytest.fixture
def served(hostile_store: Path, tmp_path: Path) -> Iterator[str]:
    """`imdi-watch serve` on 127.0.0.1 as a subprocess; yields its base URL."""
    executable = shutil.which("imdi-watch", path=str(Path(sys.executable).parent))
    assert executable is not None
    port = _free_port()
    process = subprocess.Popen(
        [
            executable,
            "--config",
            str(hostile_store),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    err = process.stderr.read().decode() if process.stderr else ""
                    pytest.fail(f"imdi-watch serve did not start: {err}")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


DATABASE = "imdi-watch"
RAW_MARKUP = ("<script>alert(1)</script>", "<img src=x onerror")
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


def column(page: str, name: str) -> list[str]:
    """The text of every cell of column `name` in a Datasette table or query page, unescaped."""
    pattern = rf'<td class="col-{re.escape(name)}(?: [^"]*)?"[^>]*>(.*?)</td>'
    return [html.unescape(cell).strip() for cell in re.findall(pattern, page, re.S)]


def columns(page: str, *names: str) -> list[tuple[str, ...]]:
    return list(zip(*(column(page, name) for name in names), strict=True))


HOSTILE = quote(HOSTILE_TEXT)
# Every page the sweep requests: its exact status, then what it must show (the hostile Bergen
# row, renamed HOSTILE_TEXT, asked 182 in revision 1 and 192 in revision 2).
SWEEP: list[tuple[str, int, Callable[[str], object]]] = [
    ("/", 200, lambda page: f'href="/{DATABASE}"' in page),
    (f"/{DATABASE}", 200, lambda page: all(f'href="/{DATABASE}/{name}"' in page for name in CANNED_QUERIES)),
    (
        f"/{DATABASE}/figures?municipality={HOSTILE}",
        200,
        lambda page: columns(page, "revision_id", "municipality", "requested")
        == [("1", HOSTILE_TEXT, "182"), ("2", HOSTILE_TEXT, "192")],
    ),
    (
        f"/{DATABASE}/changes?kind=figure&field=requested",
        200,
        lambda page: sorted(columns(page, "municipality", "old", "new"))
        == [(HOSTILE_TEXT, "182", "192"), ("Gjerstad", "0", "10"), ("Oslo", "225", "215")],
    ),
    (
        f"/{DATABASE}/current_figures?county=vestland",
        200,
        lambda page: len(column(page, "municipality")) == 43
        and columns(page, "municipality", "requested", "revision_id")[0] == (HOSTILE_TEXT, "192", "2"),
    ),
    (
        f"/{DATABASE}/municipality_history?municipality={HOSTILE}",
        200,
        lambda page: columns(page, "revision_id", "municipality", "requested", "updated")
        == [("1", HOSTILE_TEXT, "182", "2021-11-12"), ("2", HOSTILE_TEXT, "192", "2021-11-19")],
    ),
    (
        f"/{DATABASE}/recent_changes?county=vestland",
        200,
        lambda page: columns(page, "revision_id", "kind", "municipality", "field", "old", "new")
        == [("2", "figure", HOSTILE_TEXT, "requested", "182", "192")],
    ),
    (
        f"/{DATABASE}/revisions",
        200,
        lambda page: columns(page, "revision_id", "updated", "row_count")
        == [("2", "2021-11-19", "356"), ("1", "2021-11-12", "356")],
    ),
    (f"/{DATABASE}/no_such_table", 404, lambda page: "Table not found" in page),
]  # fmt: skip


def test_security_serve_shows_scraped_html_escaped(served: str) -> None:
    databases = httpx.get(served + "/-/databases.json", timeout=10).json()
    assert [d["name"] for d in databases if not d["name"].startswith("_")] == [DATABASE]
    answers = {path: httpx.get(served + path, timeout=10) for path, _, _ in SWEEP}

    statuses = {path: answers[path].status_code for path in answers}
    assert statuses == {path: status for path, status, _ in SWEEP}
    for path, _, shows in SWEEP:
        page = answers[path].text
        assert shows(page), f"{path} does not show what it should:\n{page[-3000:]}"
        assert not any(markup in page for markup in RAW_MARKUP), path
        if HOSTILE_TEXT in column(page, "municipality"):
            assert ESCAPED_SCRIPT in page, path


def test_security_serve_feed_is_well_formed_xml_with_escaped_html(served: str) -> None:
    feed = httpx.get(served + FEED_PATH, timeout=10)

    assert feed.status_code == 200, feed.text[:2000]
    assert feed.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = ElementTree.fromstring(feed.content)  # a control character would make it unreadable
    namespace = {"atom": "http://www.w3.org/2005/Atom"}
    entries = root.findall("atom:entry", namespace)
    titles = [entry.findtext("atom:title", namespaces=namespace) for entry in entries]
    assert titles == [
        "Sist oppdatert 12.11.2021 \u2192 19.11.2021 \u00b7 8 figures changed in 5 municipalities"
        " \u00b7 total 5 500 \u2192 5 510"
    ]
    body = entries[0].findtext("atom:content", namespaces=namespace) or ""  # HTML, unescaped once
    assert "<script>" not in body and "<img" not in body
    assert f"Vestland \u00b7 {ESCAPED_SCRIPT} [click](javascript:alert(1))" in body
    assert "requested 182 \u2192 192 (+10)" in body


# --- notifications: secrets stay secret -------------------------------------------------------

SECRET = "S3cretT0ken-9f8e7d"


def test_security_notification_secrets_never_leak(
    http_server: LoopbackServer,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("scraper.notify", reason="scraper/notify.py not built yet")
    hook = f"json://bot:{SECRET}@127.0.0.1:{http_server.port}/hook?token={SECRET}"
    config = write_config(
        http_server.url(PATH),
        extra=f'\n[notify]\nurls = ["{hook}"]\nurls_env = "IMDI_TEST_NOTIFY"\nafter_failures = 1\n',
    )
    env_hook = f"json://env:{SECRET}-env@127.0.0.1:{http_server.port}/env-hook"
    monkeypatch.setenv("IMDI_TEST_NOTIFY", env_hook)
    http_server.route(
        PATH,
        Reply(200, PAGE_A, HTML),
        Reply(200, PAGE_REVISED, HTML),
        Reply(500),  # and the checks after fail: a "failing" notification
    )
    # the first delivery fails all its attempts (its error is logged), later ones go through
    http_server.route("/hook", Reply(500, b"no"), Reply(500, b"no"), Reply(500, b"no"), Reply(200))
    http_server.route("/env-hook", Reply(200, b"ok"))

    cli = ("--config", str(config))
    results = [
        run_cli(*cli, "-v", "check"),
        run_cli(*cli, "--debug", "check"),
        run_cli(*cli, "-v", "check", "--json"),
        run_cli(*cli, "--debug", "run", "--max-checks", "1"),
        run_cli(*cli, "--debug", "run", "--max-checks", "1", "--log-format", "json"),
        run_cli(*cli, "log", "--json"),
        run_cli(*cli, "notify"),
        run_cli(*cli, "notify", "--json"),
        run_cli(*cli, "--debug", "notify", "--test"),
    ]

    assert http_server.requests_for("/hook") and http_server.requests_for("/env-hook")
    for result in results:
        assert SECRET not in result.out, result.out
        assert SECRET not in result.err, result.err
    assert "***" in results[6].out  # the targets are listed, masked
    stored = b"".join(
        p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".toml"
    )
    assert stored and SECRET.encode() not in stored


def test_security_notification_shows_scraped_html_escaped(
    http_server: LoopbackServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    pytest.importorskip("scraper.notify", reason="scraper/notify.py not built yet")
    old, new = hostile_pages(tmp_path)
    hook = f"json://127.0.0.1:{http_server.port}/hook"
    config = write_config(http_server.url(PATH), extra=f'\n[notify]\nurls = ["{hook}"]\n')
    http_server.route(PATH, Reply(200, old.read_bytes(), HTML), Reply(200, new.read_bytes(), HTML))
    http_server.route("/hook", Reply(200, b"ok"))

    for _ in range(2):
        assert run_cli("--config", str(config), "check", "--quiet").code == 0

    payloads = [r.body.decode("utf-8") for r in http_server.requests_for("/hook")]
    message = next(p for p in payloads if "alert(1)" in p)
    assert "<script>" not in message and "<img" not in message
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message
    assert "\\u001b" not in message and "\x1b" not in message  # shown as \x1b, not sent raw
