"""fetch.py against a real HTTP server on 127.0.0.1 (tests/server.py); MockTransport only where no
request may happen or an httpx exception cannot be provoked over loopback."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from server import LoopbackServer, Reply

from scraper import __version__
from scraper.config import FetchSettings, build_config
from scraper.errors import FetchError
from scraper.fetch import (
    RobotsRecord,
    check_robots,
    fetch_page,
    make_client,
    user_agent,
)
from scraper.models import FetchResult

NOW = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
PAGE_PATH = "/planlegging-og-bosetting/imdis-anmodning/"


def settings(**overrides: Any) -> FetchSettings:
    defaults = build_config({}, base=Path("/nonexistent"), source=None).fetch
    return dataclasses.replace(defaults, **overrides)


class Sleeps(list[float]):
    """A fake `sleep` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def page(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / "page-2022-nn-a.html").read_bytes()


def fetch(
    url: str, client: httpx.Client, sleeps: Sleeps | None = None, **overrides: Any
) -> FetchResult:
    return fetch_page(
        url,
        client=client,
        settings=settings(**overrides),
        sleep=sleeps if sleeps is not None else Sleeps(),
        random=lambda: 0.5,
    )


def fetch_error(url: str, client: httpx.Client, **overrides: Any) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, client, **overrides)
    return caught.value


# --- success and conditional requests --------------------------------------------------------


def test_fetch_returns_body_status_and_lower_case_headers(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    headers = {"Content-Type": "text/html", "ETag": '"v1"', "Last-Modified": "Sat, 01 Mar 2025"}
    http_server.route(PAGE_PATH, Reply(200, page, headers))
    url = http_server.url(PAGE_PATH)

    result = fetch_page(url, client=client, settings=settings())

    assert (result.url, result.final_url, result.status) == (url, url, 200)
    assert result.body == page
    assert result.attempts == 1
    assert result.headers["content-type"] == "text/html"
    assert (result.etag, result.last_modified) == ('"v1"', "Sat, 01 Mar 2025")
    assert result.encoding is None
    assert result.elapsed_ms >= 0


def test_fetch_sends_conditional_headers_and_returns_304_without_body(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route(PAGE_PATH, Reply(304, headers={"ETag": '"v1"'}))

    result = fetch_page(
        http_server.url(PAGE_PATH),
        client=client,
        settings=settings(),
        etag='"v1"',
        last_modified="Sat, 01 Mar 2025 06:00:00 GMT",
    )

    assert result.not_modified
    assert result.body is None
    assert result.status == 304
    (request,) = http_server.requests_for(PAGE_PATH)
    assert request.headers["if-none-match"] == '"v1"'
    assert request.headers["if-modified-since"] == "Sat, 01 Mar 2025 06:00:00 GMT"


def test_fetch_without_validators_sends_no_conditional_headers(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    http_server.route(PAGE_PATH, Reply(200, page))

    fetch(http_server.url(PAGE_PATH), client)

    (request,) = http_server.requests_for(PAGE_PATH)
    assert "if-none-match" not in request.headers
    assert "if-modified-since" not in request.headers


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("text/html; charset=ISO-8859-1", "iso-8859-1"),
        ("text/html; charset=utf-8", "utf-8"),
        ("text/html", None),
    ],
)
def test_fetch_records_charset_from_content_type(
    http_server: LoopbackServer,
    client: httpx.Client,
    content_type: str,
    encoding: str | None,
) -> None:
    http_server.route(PAGE_PATH, Reply(200, b"<p>hei</p>", {"Content-Type": content_type}))

    result = fetch_page(http_server.url(PAGE_PATH), client=client, settings=settings())

    assert result.encoding == encoding


# --- User-Agent ------------------------------------------------------------------------------


def test_user_agent_names_tool_version_and_contact() -> None:
    assert user_agent("ops@example.no") == (
        f"imdi-watch/{__version__} (+https://github.com/imdi-watch; contact: ops@example.no)"
    )
    assert user_agent("") == f"imdi-watch/{__version__} (+https://github.com/imdi-watch)"


def test_user_agent_is_one_ascii_line() -> None:
    assert user_agent(" ops@example.no\r\nX-Evil: 1 ") == (
        f"imdi-watch/{__version__} (+https://github.com/imdi-watch; contact: ops@example.no X-Evil: 1)"
    )
    assert user_agent("ø@example.no").isascii()


def test_fetch_sends_user_agent_with_version_and_contact(
    http_server: LoopbackServer, page: bytes
) -> None:
    http_server.route(PAGE_PATH, Reply(200, page))
    fetch_settings = settings(contact="ops@example.no")

    with make_client(fetch_settings) as client:
        fetch_page(http_server.url(PAGE_PATH), client=client, settings=fetch_settings)

    (request,) = http_server.requests_for(PAGE_PATH)
    assert request.headers["user-agent"] == user_agent("ops@example.no")
    assert f"imdi-watch/{__version__}" in request.headers["user-agent"]


# --- retries ---------------------------------------------------------------------------------


def test_fetch_retries_500_then_returns_200_after_backoff(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    http_server.route(PAGE_PATH, Reply(500), Reply(200, page))
    sleeps = Sleeps()

    result = fetch_page(
        http_server.url(PAGE_PATH),
        client=client,
        settings=settings(backoff_s=1.0),
        sleep=sleeps,
        random=lambda: 0.5,
    )

    assert result.attempts == 2
    assert result.body == page
    assert sleeps == [1.0]
    assert len(http_server.requests_for(PAGE_PATH)) == 2


@pytest.mark.parametrize(
    ("jitter", "expected"),
    [(0.5, [1.0, 2.0, 3.0]), (0.0, [0.5, 1.0, 2.0]), (0.99, [1.49, 2.98, 3.0])],
)
def test_fetch_backoff_doubles_with_jitter_and_is_capped(
    http_server: LoopbackServer,
    client: httpx.Client,
    page: bytes,
    jitter: float,
    expected: list[float],
) -> None:
    http_server.route(PAGE_PATH, Reply(502), Reply(503), Reply(504), Reply(200, page))
    sleeps = Sleeps()

    result = fetch_page(
        http_server.url(PAGE_PATH),
        client=client,
        settings=settings(backoff_s=1.0, max_backoff_s=3.0, max_attempts=4),
        sleep=sleeps,
        random=lambda: jitter,
    )

    assert result.attempts == 4
    assert sleeps == pytest.approx(expected)


def test_fetch_honours_retry_after_seconds_on_429(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    http_server.route(PAGE_PATH, Reply(429, headers={"Retry-After": "2"}), Reply(200, page))
    sleeps = Sleeps()

    result = fetch(http_server.url(PAGE_PATH), client, sleeps, backoff_s=10.0)

    assert result.attempts == 2
    assert sleeps == [2.0]


def test_fetch_caps_retry_after_at_max_backoff(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    http_server.route(PAGE_PATH, Reply(503, headers={"Retry-After": "3600"}), Reply(200, page))
    sleeps = Sleeps()

    fetch(http_server.url(PAGE_PATH), client, sleeps, max_backoff_s=60.0)

    assert sleeps == [60.0]


def test_fetch_honours_retry_after_http_date_against_the_date_header(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    server_now = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)  # a server clock far from ours
    headers = {
        "Date": format_datetime(server_now, usegmt=True),
        "Retry-After": format_datetime(server_now + timedelta(seconds=30), usegmt=True),
    }
    http_server.route(PAGE_PATH, Reply(503, headers=headers), Reply(200, page))
    sleeps = Sleeps()

    fetch(http_server.url(PAGE_PATH), client, sleeps)

    assert sleeps == [30.0]


def test_fetch_ignores_invalid_retry_after(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    http_server.route(PAGE_PATH, Reply(503, headers={"Retry-After": "soon"}), Reply(200, page))
    sleeps = Sleeps()

    fetch(http_server.url(PAGE_PATH), client, sleeps, backoff_s=1.0)

    assert sleeps == [1.0]


def test_fetch_gives_up_on_5xx_after_max_attempts_with_one_line_message(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route(PAGE_PATH, Reply(503))
    url = http_server.url(PAGE_PATH)
    sleeps = Sleeps()

    with pytest.raises(FetchError) as caught:
        fetch(url, client, sleeps, max_attempts=4)

    assert str(caught.value) == f"GET {url}: HTTP 503 Service Unavailable after 4 attempts"
    assert (caught.value.status, caught.value.url) == (503, url)
    assert len(http_server.requests_for(PAGE_PATH)) == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize(("status", "phrase"), [(404, "Not Found"), (403, "Forbidden")])
def test_fetch_does_not_retry_4xx(
    http_server: LoopbackServer, client: httpx.Client, status: int, phrase: str
) -> None:
    http_server.route(PAGE_PATH, Reply(status))
    url = http_server.url(PAGE_PATH)
    sleeps = Sleeps()

    with pytest.raises(FetchError) as caught:
        fetch(url, client, sleeps)

    assert str(caught.value) == f"GET {url}: HTTP {status} {phrase}"
    assert caught.value.status == status
    assert len(http_server.requests_for(PAGE_PATH)) == 1
    assert sleeps == []


def test_fetch_refuses_other_2xx(http_server: LoopbackServer, client: httpx.Client) -> None:
    http_server.route(PAGE_PATH, Reply(204))
    url = http_server.url(PAGE_PATH)

    error = fetch_error(url, client)

    assert str(error) == f"GET {url}: HTTP 204 No Content (expected 200 OK)"


# --- network failures ------------------------------------------------------------------------


def test_fetch_read_timeout_is_retried_then_reported(http_server: LoopbackServer) -> None:
    http_server.route(PAGE_PATH, Reply(200, b"late", delay_s=5))
    url = http_server.url(PAGE_PATH)
    fetch_settings = settings(read_timeout_s=0.2, max_attempts=2)

    with make_client(fetch_settings) as client, pytest.raises(FetchError) as caught:
        fetch_page(url, client=client, settings=fetch_settings, sleep=Sleeps())

    assert (
        str(caught.value) == f"GET {url}: timed out after 0.2 s (read_timeout_s) after 2 attempts"
    )
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert len(http_server.requests_for(PAGE_PATH)) == 2


def test_fetch_connection_reset_is_retried_then_reported(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route(PAGE_PATH, Reply(action="reset"))
    url = http_server.url(PAGE_PATH)

    error = fetch_error(url, client, max_attempts=3)

    assert str(error) == f"GET {url}: connection reset after 3 attempts"
    assert error.status is None
    assert len(http_server.requests_for(PAGE_PATH)) == 3


def test_fetch_recovers_after_connection_reset(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    http_server.route(PAGE_PATH, Reply(action="reset"), Reply(200, page))

    result = fetch(http_server.url(PAGE_PATH), client)

    assert result.attempts == 2
    assert result.body == page


def test_fetch_connection_refused_is_reported(client: httpx.Client) -> None:
    with LoopbackServer() as stopped:
        url = stopped.url(PAGE_PATH)  # nothing listens there once the server stops

    error = fetch_error(url, client, max_attempts=2)

    assert str(error).startswith(f"GET {url}: cannot connect (")
    assert str(error).endswith(") after 2 attempts")


def test_fetch_connect_timeout_names_the_setting() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    url = "https://www.imdi.no/x"
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        error = fetch_error(url, client, max_attempts=1, connect_timeout_s=10.0)

    assert str(error) == f"GET {url}: timed out connecting after 10 s (connect_timeout_s)"


# --- bodies: truncated and oversize ----------------------------------------------------------


def test_fetch_truncated_body_is_an_error_not_a_partial_page(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route(
        PAGE_PATH,
        Reply(200, b"x" * 12000, {"Content-Length": "40000"}, action="truncate"),
    )
    url = http_server.url(PAGE_PATH)

    error = fetch_error(url, client, max_attempts=1)

    assert str(error) == f"GET {url}: body cut short: 12000 of 40000 bytes"
    assert error.status == 200


def test_fetch_truncated_body_is_retried(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    http_server.route(
        PAGE_PATH,
        Reply(200, page[:1000], {"Content-Length": str(len(page))}, action="truncate"),
        Reply(200, page),
    )

    result = fetch(http_server.url(PAGE_PATH), client)

    assert (result.attempts, result.body) == (2, page)


def test_fetch_incomplete_chunked_body_is_an_error(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route(PAGE_PATH, Reply(200, chunks=(b"x" * 1000,) * 5, action="truncate"))
    url = http_server.url(PAGE_PATH)

    error = fetch_error(url, client, max_attempts=2)

    assert str(error) == (
        f"GET {url}: body cut short after 5000 bytes (incomplete chunked read) after 2 attempts"
    )


def test_fetch_complete_chunked_body_is_accepted(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route(PAGE_PATH, Reply(200, chunks=(b"<p>", b"hei", b"</p>")))

    result = fetch(http_server.url(PAGE_PATH), client)

    assert result.body == b"<p>hei</p>"


def test_fetch_rejects_oversize_body_by_content_length_before_reading(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route(PAGE_PATH, Reply(200, b"x" * 5000))
    url = http_server.url(PAGE_PATH)
    sleeps = Sleeps()

    with pytest.raises(FetchError) as caught:
        fetch(url, client, sleeps, max_bytes=1000)

    assert str(caught.value) == f"GET {url}: response larger than 1000 bytes (max_bytes in [fetch])"
    assert caught.value.status == 200
    assert len(http_server.requests_for(PAGE_PATH)) == 1  # not retried
    assert sleeps == []


def test_fetch_rejects_oversize_chunked_body_while_streaming(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    # 13 MB without a Content-Length: only counting while reading can stop it
    http_server.route(PAGE_PATH, Reply(200, chunks=(b"x" * 65536,) * 200))
    url = http_server.url(PAGE_PATH)

    error = fetch_error(url, client, max_bytes=1_000_000)

    assert str(error) == f"GET {url}: response larger than 1000000 bytes (max_bytes in [fetch])"
    assert len(http_server.requests_for(PAGE_PATH)) == 1


def test_fetch_accepts_body_of_exactly_max_bytes(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route(PAGE_PATH, Reply(200, b"x" * 1000))

    result = fetch(http_server.url(PAGE_PATH), client, max_bytes=1000)

    assert result.body == b"x" * 1000


# --- redirects -------------------------------------------------------------------------------


def test_fetch_follows_same_host_redirect_and_records_final_url(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    http_server.route("/old", Reply(301, headers={"Location": "/middle"}))
    http_server.route("/middle", Reply(302, headers={"Location": http_server.url(PAGE_PATH)}))
    http_server.route(PAGE_PATH, Reply(200, page))
    url = http_server.url("/old")

    result = fetch_page(url, client=client, settings=settings(), etag='"v1"')

    assert result.url == url
    assert result.final_url == http_server.url(PAGE_PATH)
    assert result.body == page
    assert result.attempts == 1
    (request,) = http_server.requests_for(PAGE_PATH)
    assert request.headers["if-none-match"] == '"v1"'


def test_fetch_refuses_redirect_to_another_host(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    elsewhere = http_server.url(PAGE_PATH, host="localhost")
    http_server.route("/old", Reply(302, headers={"Location": elsewhere}))
    url = http_server.url("/old")

    error = fetch_error(url, client)

    assert str(error) == (
        f"GET {url}: redirect to another host ({elsewhere}) refused; "
        "set allow_other_hosts = true in [fetch] to follow it"
    )
    assert error.status == 302
    assert http_server.requests_for(PAGE_PATH) == []


def test_fetch_follows_redirect_to_another_host_when_allowed(
    http_server: LoopbackServer, client: httpx.Client, page: bytes
) -> None:
    elsewhere = http_server.url(PAGE_PATH, host="localhost")
    http_server.route("/old", Reply(302, headers={"Location": elsewhere}))
    http_server.route(PAGE_PATH, Reply(200, page))

    result = fetch(http_server.url("/old"), client, allow_other_hosts=True)

    assert result.final_url == elsewhere
    (request,) = http_server.requests_for(PAGE_PATH)
    assert request.headers["host"] == f"localhost:{http_server.port}"


def test_fetch_gives_up_after_ten_redirects(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route("/loop", Reply(302, headers={"Location": "/loop"}))
    url = http_server.url("/loop")

    error = fetch_error(url, client)

    assert str(error) == f"GET {url}: more than 10 redirects (the last to {url})"
    assert len(http_server.requests_for("/loop")) == 11


def test_fetch_refuses_redirect_to_another_scheme(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route("/old", Reply(302, headers={"Location": "ftp://127.0.0.1/x"}))
    url = http_server.url("/old")

    error = fetch_error(url, client)

    assert str(error) == (
        f"GET {url}: redirect to ftp://127.0.0.1/x refused: only http(s) URLs are fetched"
    )


def test_fetch_redirect_without_location_is_an_error(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    http_server.route("/old", Reply(301))
    url = http_server.url("/old")

    error = fetch_error(url, client)

    assert str(error) == f"GET {url}: HTTP 301 Moved Permanently without a Location header"


# --- URLs refused before any I/O -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "only http:// and https:// URLs are fetched, not file:"),
        ("ftp://example.com/x", "only http:// and https:// URLs are fetched, not ftp:"),
        ("data:text/html,<p>hei</p>", "only http:// and https:// URLs are fetched, not data:"),
        ("www.imdi.no/x", "only http:// and https:// URLs are fetched, not a URL without a scheme"),
        ("http:///x", "no host in the URL"),
        ("http://[::1/x", "not a valid URL (Invalid IPv6 URL)"),
    ],
)
def test_fetch_refuses_non_http_urls_without_io(url: str, message: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        error = fetch_error(url, client)
        with pytest.raises(FetchError):
            check_robots(url, client=client, settings=settings(), cached=None, now=NOW)

    assert str(error) == f"GET {url}: {message}"
    assert seen == []


def test_fetch_message_hides_user_and_password(client: httpx.Client) -> None:
    error = fetch_error("ftp://user:secret@example.com/x", client)

    assert "secret" not in str(error)
    assert str(error).startswith("GET ftp://example.com/x: ")


# --- robots.txt ------------------------------------------------------------------------------


def robots(http_server: LoopbackServer, *replies: Reply) -> None:
    http_server.route("/robots.txt", *replies)


def test_check_robots_disallowing_the_path_returns_false(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    text = "User-agent: *\nDisallow: /planlegging-og-bosetting/\n"
    robots(http_server, Reply(200, text.encode()))

    allowed, record = check_robots(
        http_server.url(PAGE_PATH), client=client, settings=settings(), cached=None, now=NOW
    )

    assert allowed is False
    assert record == RobotsRecord(
        origin=f"http://127.0.0.1:{http_server.port}",
        fetched_at="2025-03-01T06:00:00Z",
        status=200,
        text=text,
    )
    (request,) = http_server.requests_for("/robots.txt")
    assert request.headers["user-agent"] == user_agent("")


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("User-agent: *\nDisallow: /private/\n", True),
        ("User-agent: imdi-watch\nDisallow: /\n\nUser-agent: *\nAllow: /\n", False),
        ("User-agent: otherbot\nDisallow: /\n", True),
        ("", True),
    ],
)
def test_check_robots_evaluates_rules_for_our_user_agent(
    http_server: LoopbackServer, client: httpx.Client, text: str, allowed: bool
) -> None:
    robots(http_server, Reply(200, text.encode()))

    result, _ = check_robots(
        http_server.url(PAGE_PATH), client=client, settings=settings(), cached=None, now=NOW
    )

    assert result is allowed


def test_check_robots_reuses_cached_record_younger_than_24h_without_request(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    cached = RobotsRecord(
        origin=f"http://127.0.0.1:{http_server.port}",
        fetched_at="2025-02-28T07:00:00Z",  # 23 h before NOW
        status=200,
        text="User-agent: *\nDisallow: /\n",
    )
    robots(http_server, Reply(200, b""))

    allowed, record = check_robots(
        http_server.url(PAGE_PATH), client=client, settings=settings(), cached=cached, now=NOW
    )

    assert (allowed, record) == (False, cached)
    assert http_server.requests_for("/robots.txt") == []


def test_check_robots_refetches_record_older_than_24h(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    cached = RobotsRecord(
        origin=f"http://127.0.0.1:{http_server.port}",
        fetched_at="2025-02-28T05:00:00Z",  # 25 h before NOW
        status=200,
        text="User-agent: *\nDisallow: /\n",
    )
    robots(http_server, Reply(200, b"User-agent: *\nAllow: /\n"))

    allowed, record = check_robots(
        http_server.url(PAGE_PATH), client=client, settings=settings(), cached=cached, now=NOW
    )

    assert allowed is True
    assert record.fetched_at == "2025-03-01T06:00:00Z"
    assert len(http_server.requests_for("/robots.txt")) == 1


def test_check_robots_refetches_record_of_another_origin(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    cached = RobotsRecord("https://example.com", "2025-03-01T05:00:00Z", 200, "")
    robots(http_server, Reply(200, b""))

    _, record = check_robots(
        http_server.url(PAGE_PATH), client=client, settings=settings(), cached=cached, now=NOW
    )

    assert record.origin == f"http://127.0.0.1:{http_server.port}"
    assert len(http_server.requests_for("/robots.txt")) == 1


@pytest.mark.parametrize(
    ("status", "allowed"), [(404, True), (410, True), (401, False), (403, False)]
)
def test_check_robots_status_without_rules(
    http_server: LoopbackServer, client: httpx.Client, status: int, allowed: bool
) -> None:
    robots(http_server, Reply(status, b"User-agent: *\nDisallow: /\n"))

    result, record = check_robots(
        http_server.url(PAGE_PATH), client=client, settings=settings(), cached=None, now=NOW
    )

    assert result is allowed
    assert (record.status, record.text) == (status, "")


def test_check_robots_follows_redirects(http_server: LoopbackServer, client: httpx.Client) -> None:
    robots(http_server, Reply(301, headers={"Location": "/robots-2025.txt"}))
    http_server.route("/robots-2025.txt", Reply(200, b"User-agent: *\nDisallow: /\n"))

    allowed, record = check_robots(
        http_server.url(PAGE_PATH), client=client, settings=settings(), cached=None, now=NOW
    )

    assert allowed is False
    assert record.status == 200


def test_check_robots_server_error_without_cache_allows(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    robots(http_server, Reply(503))

    allowed, record = check_robots(
        http_server.url(PAGE_PATH), client=client, settings=settings(), cached=None, now=NOW
    )

    assert allowed is True
    assert record.status == 503


@pytest.mark.parametrize("failure", [Reply(500), Reply(action="reset")])
def test_check_robots_failure_keeps_the_stale_record(
    http_server: LoopbackServer, client: httpx.Client, failure: Reply
) -> None:
    stale = RobotsRecord(
        origin=f"http://127.0.0.1:{http_server.port}",
        fetched_at="2025-02-20T06:00:00Z",
        status=200,
        text="User-agent: *\nDisallow: /\n",
    )
    robots(http_server, failure)

    allowed, record = check_robots(
        http_server.url(PAGE_PATH), client=client, settings=settings(), cached=stale, now=NOW
    )

    assert (allowed, record) == (False, stale)


def test_check_robots_network_error_allows_and_is_not_cached(
    http_server: LoopbackServer, client: httpx.Client
) -> None:
    robots(http_server, Reply(action="reset"), Reply(200, b"User-agent: *\nDisallow: /\n"))
    url = http_server.url(PAGE_PATH)

    allowed, record = check_robots(url, client=client, settings=settings(), cached=None, now=NOW)
    again, _ = check_robots(url, client=client, settings=settings(), cached=record, now=NOW)

    assert (allowed, record.status) == (True, 0)
    assert again is False
    assert len(http_server.requests_for("/robots.txt")) == 2


def test_check_robots_ignore_robots_skips_request_and_logs_warning(
    http_server: LoopbackServer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    robots(http_server, Reply(200, b"User-agent: *\nDisallow: /\n"))

    with caplog.at_level(logging.WARNING, logger="scraper.fetch"):
        allowed, record = check_robots(
            http_server.url(PAGE_PATH),
            client=client,
            settings=settings(ignore_robots=True),
            cached=None,
            now=NOW,
        )

    assert allowed is True
    assert record.status == 0
    assert http_server.requests_for("/robots.txt") == []
    assert "ignore_robots = true" in caplog.text
