"""The only httpx user: one polite, conditional, size-capped GET per check, with bounded retries and
same-origin redirects, and robots.txt checks the caller caches. Every failure is one FetchError line.

What a hostile server sends is bounded here: the body is decoded in steps so that no stack of
content encodings inflates past max_bytes, one page's fetch has an overall deadline, and validators
and server text are checked or escaped before they are kept or shown.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random as _random
import re
import ssl
import sys
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from scraper import __version__, retry
from scraper.config import FetchSettings
from scraper.errors import FetchError
from scraper.models import FetchResult, without_userinfo

# `import httpx` also imports httpx._main, its command-line client, which imports click, rich and
# pygments when they are installed. Skipping it, `import scraper.fetch` takes ~70 ms instead of
# ~107 ms (~83 instead of ~111 when click is already loaded, as under the CLI; -X importtime).
# With a None entry in sys.modules httpx falls back to its stub `main`; the entry is removed again
# so httpx._main stays importable for anyone who wants it.
_SKIP_HTTPX_CLI = "httpx" not in sys.modules and "httpx._main" not in sys.modules
if _SKIP_HTTPX_CLI:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
try:
    import httpx
finally:
    if _SKIP_HTTPX_CLI:
        del sys.modules["httpx._main"]
import httpcore  # noqa: E402  (after httpx, which imports it anyway)

logger = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/imdi-watch"
MAX_REDIRECTS = 10
ROBOTS_MAX_AGE = timedelta(hours=24)
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 §2.5: parse at least 500 KiB, ignore the rest
ROBOTS_MAX_REDIRECTS = 5  # RFC 9309 §2.3.1.2
_SCHEMES = ("http", "https")
# Only what we can decode in bounded steps; set explicitly so that installing brotli or zstandard
# (which httpx would then advertise) changes nothing.
ACCEPT_ENCODING = "gzip, deflate"
MAX_CONTENT_ENCODINGS = 2
_DECODE_STEP = 64 * 1024  # the most one decoding step may produce
_VALIDATOR_MAX_CHARS = 1024
# C0, DEL, C1 and the bidi controls: what could move a terminal's cursor or reorder a line
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The monotonic time by which the current page's fetch must be done (see _DeadlineBackend).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "imdi_watch_fetch_deadline", default=None
)


def user_agent(contact: str) -> str:
    """`imdi-watch/0.1.0 (+https://github.com/imdi-watch; contact: X)`, without the contact if empty."""
    # header values must be one line of ASCII
    contact = " ".join(contact.split()).encode("ascii", "replace").decode("ascii")
    details = f"+{PROJECT_URL}; contact: {contact}" if contact else f"+{PROJECT_URL}"
    return f"imdi-watch/{__version__} ({details})"


def make_client(settings: FetchSettings) -> httpx.Client:
    """A client for fetch_page and check_robots, with our timeouts and User-Agent. Close it after use.

    It never follows redirects itself: fetch_page follows them, same origin only. Its connections
    honour the deadline of the fetch in progress (`deadline_s`), in every read, write and connect.
    The TLS context (certifi's CA bundle: ~20 ms to load) is made at the first https:// request,
    not before, so a check of http:// pages never pays for it. With proxies in the environment httpx builds its
    transports itself, as usual.
    """
    timeout = httpx.Timeout(
        connect=settings.connect_timeout_s,
        read=settings.read_timeout_s,
        write=settings.read_timeout_s,
        pool=settings.connect_timeout_s,
    )
    headers = {"User-Agent": user_agent(settings.contact), "Accept-Encoding": ACCEPT_ENCODING}
    if urllib.request.getproxies():  # what httpx reads them with
        client = httpx.Client(timeout=timeout, follow_redirects=False, headers=headers)
        for transport in (client._transport, *client._mounts.values()):
            _bound_by_deadline(transport)
        return client
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        headers=headers,
        # plain http: a context with no CA loaded, so TLS here could never succeed by accident
        transport=_bound_by_deadline(
            httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        ),
        mounts={"https://": _TLSOnFirstUse()},
    )


def _bound_by_deadline(transport: httpx.BaseTransport | None) -> httpx.BaseTransport | None:
    """Bound every read of this transport's connections by what is left of the deadline.

    httpx has no overall timeout, and a server trickling one byte a second never trips a read
    timeout. httpx offers no public hook for the network backend, hence the private attributes;
    without them the deadline is still checked between body chunks and before each retry.
    """
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return transport


class _TLSOnFirstUse(httpx.BaseTransport):
    """httpx's own https transport (CA bundle, SSL_CERT_FILE), created at the first request."""

    def __init__(self) -> None:
        self._transport: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()  # pages are fetched from several threads

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if self._transport is None:
                self._transport = httpx.HTTPTransport()
                _bound_by_deadline(self._transport)
        return self._transport.handle_request(request)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _remaining_s(timeout: float | None) -> float | None:
    """`timeout` shortened to what is left of the current deadline; raises once it has passed."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the fetch's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining_s(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining_s(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _remaining_s(timeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _remaining_s(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, _remaining_s(timeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[float]:
    """Within this block, every read of our clients' connections ends `seconds` from now."""
    deadline = time.monotonic() + seconds
    token = _DEADLINE.set(deadline)
    try:
        yield deadline
    finally:
        _DEADLINE.reset(token)


def _past_deadline() -> bool:
    deadline = _DEADLINE.get()
    return deadline is not None and time.monotonic() >= deadline


def escape_controls(text: str) -> str:
    """`text` with control and bidi characters written as escapes (`\\x1b`), for one safe line."""
    return _CONTROL.sub(lambda m: _escape_char(m.group()), text)


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class _Retryable(Exception):
    """A failure worth another attempt (network trouble, 429, 5xx); `reason` completes the message."""

    def __init__(self, reason: str, *, status: int | None = None, wait_s: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.wait_s = wait_s  # from Retry-After


def fetch_page(
    url: str,
    *,
    client: httpx.Client,
    settings: FetchSettings,
    etag: str | None = None,
    last_modified: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    random: Callable[[], float] = _random.random,
) -> FetchResult:
    """GET `url` once per check: 200 with the body, or 304 (body None) when `etag`/`last_modified`
    from the last good fetch still hold. Anything else raises FetchError, after up to
    `settings.max_attempts` tries for network errors, 429 and 5xx, all within
    `settings.deadline_s` (waits between tries included).

    `elapsed_ms` is the time of the last attempt, redirects included; waits are not counted.
    An ETag or Last-Modified that could not be sent back (not printable ASCII) is logged and left
    out of the result's headers, so it is never kept as a validator.
    """
    shown = without_userinfo(url)
    _check_url(url, shown)
    headers = {"User-Agent": user_agent(settings.contact), "Accept-Encoding": ACCEPT_ENCODING}
    if etag and _valid_validator(etag, "ETag", shown):
        headers["If-None-Match"] = etag
    if last_modified and _valid_validator(last_modified, "Last-Modified", shown):
        headers["If-Modified-Since"] = last_modified
    max_attempts = max(1, settings.max_attempts)
    attempt = 1
    with _deadline(settings.deadline_s) as deadline:
        while True:
            started = time.monotonic()
            try:
                response, body = _get(url, shown, client=client, settings=settings, headers=headers)
            except FetchError as exc:
                exc.attempts = exc.attempts or attempt
                raise
            except _Retryable as failure:
                if attempt >= max_attempts:
                    raise FetchError(
                        f"GET {shown}: {failure.reason}{_after(attempt)}",
                        url=url,
                        status=failure.status,
                        attempts=attempt,
                    ) from failure.__cause__
                # Retry-After if the server sent one, else backoff_s doubling per attempt,
                # jittered ±50 %; both capped at max_backoff_s
                wait_s = retry.backoff_s(
                    attempt,
                    base_s=settings.backoff_s,
                    max_s=settings.max_backoff_s,
                    retry_after_s=failure.wait_s,
                    jitter=random,
                )
                if failure.wait_s is not None and failure.wait_s > settings.max_backoff_s:
                    logger.warning(
                        "GET %s: the server asks to wait %g s (Retry-After); waiting %g s "
                        "(max_backoff_s in [fetch])",
                        shown,
                        failure.wait_s,
                        wait_s,
                    )
                if time.monotonic() + wait_s >= deadline:
                    raise FetchError(
                        f"GET {shown}: {failure.reason}{_after(attempt)}; no time left for "
                        f"another try within {settings.deadline_s:g} s (deadline_s in [fetch])",
                        url=url,
                        status=failure.status,
                        attempts=attempt,
                    ) from failure.__cause__
                retry.announce_retry(
                    f"GET {shown}", failure.reason, wait_s=wait_s, attempt=attempt,
                    attempts=max_attempts,
                )  # fmt: skip
                sleep(wait_s)
                attempt += 1
                continue
            return FetchResult(
                url=url,
                final_url=str(response.url),
                status=response.status_code,
                body=body,
                headers=_kept_headers(response, shown),
                elapsed_ms=round((time.monotonic() - started) * 1000),
                attempts=attempt,
                encoding=response.charset_encoding,
            )


def _kept_headers(response: httpx.Response, shown: str) -> dict[str, str]:
    """The response headers, lower-case names, without validators we could not send back."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    for name, label in (("etag", "ETag"), ("last-modified", "Last-Modified")):
        value = headers.get(name)
        if value is not None and not _valid_validator(value, label, shown):
            del headers[name]
    return headers


def _valid_validator(value: str, label: str, shown: str) -> bool:
    """Printable ASCII of a sane length: what can go back in If-None-Match / If-Modified-Since."""
    if value.isascii() and value.isprintable() and len(value) <= _VALIDATOR_MAX_CHARS:
        return True
    logger.warning(
        "GET %s: ignoring an invalid %s (%s); the next check is not conditional",
        shown,
        label,
        escape_controls(repr(value[:80])),
    )
    return False


def _get(
    url: str,
    shown: str,
    *,
    client: httpx.Client,
    settings: FetchSettings,
    headers: dict[str, str],
) -> tuple[httpx.Response, bytes | None]:
    """One attempt: follow redirects, then return a 200 with its body or a 304 with None."""
    start = _origin_of(httpx.URL(url))
    current: httpx.URL | str = url
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            request = client.build_request("GET", current, headers=headers)
            response = client.send(request, stream=True, follow_redirects=False)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _failure(exc, shown, url=url, settings=settings) from exc
        try:
            status = response.status_code
            if status == 200:
                return response, _read_body(response, shown, url=url, settings=settings)
            if status == 304:
                return response, None
            if not response.has_redirect_location:
                raise _status_failure(response, shown, url=url)
            current = _redirect_target(response, shown, url=url)
            if _origin_of(current) != start and not settings.allow_other_hosts:
                raise FetchError(
                    f"GET {shown}: redirect to another {_what_differs(start, current)} "
                    f"({without_userinfo(str(current))}) refused; "
                    "set allow_other_hosts = true in [fetch] to follow it",
                    url=url,
                    status=status,
                )
        finally:
            response.close()
    raise FetchError(
        f"GET {shown}: more than {MAX_REDIRECTS} redirects "
        f"(the last to {without_userinfo(str(current))})",
        url=url,
    )


def _origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port), the port made explicit: a redirect may keep all three, no less."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


def _what_differs(start: tuple[str, str, int | None], target: httpx.URL) -> str:
    scheme, host, _port = _origin_of(target)
    if host != start[1]:
        return "host"
    return "scheme" if scheme != start[0] else "port"


def _read_body(response: httpx.Response, shown: str, *, url: str, settings: FetchSettings) -> bytes:
    status = response.status_code
    too_large = (
        f"GET {shown}: response larger than {settings.max_bytes} bytes (max_bytes in [fetch])"
    )
    declared = _content_length(response)
    if declared is not None and declared > settings.max_bytes:
        raise FetchError(too_large, url=url, status=status)
    encodings = _content_encodings(response, shown, url=url)
    chunks: list[bytes] = []
    size = 0
    try:
        raw = _capped(response.iter_raw(), settings.max_bytes, too_large, url=url, status=status)
        for chunk in _decoded(raw, encodings):
            size += len(chunk)
            if size > settings.max_bytes:
                raise FetchError(too_large, url=url, status=status)
            if _past_deadline():  # for clients without _DeadlineBackend
                raise httpx.ReadTimeout("the fetch's deadline has passed")
            chunks.append(chunk)
    except zlib.error as exc:
        raise FetchError(
            f"GET {shown}: cannot decode the body ({_escape_detail(exc)})", url=url, status=status
        ) from exc
    except httpx.RemoteProtocolError as exc:
        raise _Retryable(_cut_short(response, declared), status=status) from exc
    except httpx.HTTPError as exc:
        raise _failure(exc, shown, url=url, settings=settings, status=status) from exc
    # h11 already raises when the peer closes early; this also covers transports that do not
    if declared is not None and response.num_bytes_downloaded < declared:
        raise _Retryable(_cut_short(response, declared), status=status)
    return b"".join(chunks)


def _content_encodings(response: httpx.Response, shown: str, *, url: str) -> list[str]:
    """The Content-Encoding tokens, outermost last; refuses what we did not offer and long stacks."""
    encodings = _encoding_tokens(response)
    if len(encodings) > MAX_CONTENT_ENCODINGS:
        raise FetchError(
            f"GET {shown}: {len(encodings)} content encodings "
            f"({escape_controls(', '.join(encodings))[:200]}) refused; "
            f"at most {MAX_CONTENT_ENCODINGS} are decoded",
            url=url,
            status=response.status_code,
        )
    for encoding in encodings:
        if encoding in ("br", "zstd", "compress", "x-compress"):
            raise FetchError(
                f"GET {shown}: content encoding {encoding!r} refused (we asked for {ACCEPT_ENCODING})",
                url=url,
                status=response.status_code,
            )
    return encodings


def _encoding_tokens(response: httpx.Response) -> list[str]:
    value = ",".join(response.headers.get_list("content-encoding"))
    return [token.strip().lower() for token in value.split(",") if token.strip()]


def _capped(
    raw: Iterator[bytes], max_bytes: int, too_large: str, *, url: str, status: int
) -> Iterator[bytes]:
    """The raw body, refused once it passes max_bytes (a Content-Length may be absent or false)."""
    size = 0
    for chunk in raw:
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(too_large, url=url, status=status)
        yield chunk


def _decoded(raw: Iterator[bytes], encodings: list[str]) -> Iterator[bytes]:
    """The body decoded lazily, layer by layer, no step producing more than _DECODE_STEP bytes:
    the consumer's size cap then stops a bomb of any depth before it is inflated."""
    stream = raw
    for encoding in reversed(encodings):  # the last one listed was applied last
        if encoding in ("gzip", "x-gzip"):
            stream = _inflate(stream, zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            stream = _inflate(stream, zlib.MAX_WBITS, raw_fallback=True)
        # identity and unknown tokens pass through, as httpx does
    return stream


def _inflate(chunks: Iterator[bytes], wbits: int, *, raw_fallback: bool = False) -> Iterator[bytes]:
    decompressor = zlib.decompressobj(wbits)
    first = True
    for chunk in chunks:
        data = chunk
        while data and not decompressor.eof:
            try:
                out = decompressor.decompress(data, _DECODE_STEP)
            except zlib.error:
                if not (first and raw_fallback):
                    raise
                # "deflate" is often sent raw, without the zlib header (as httpx allows)
                decompressor, raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                continue
            first = False
            if out:
                yield out
            data = decompressor.unconsumed_tail
            while len(out) == _DECODE_STEP and not data and not decompressor.eof:
                out = decompressor.decompress(b"", _DECODE_STEP)  # output still pending
                if out:
                    yield out
        # after the end of the stream the rest of the raw body is read and dropped, as httpx does
    rest = decompressor.flush()
    if rest:
        yield rest


def _cut_short(response: httpx.Response, declared: int | None) -> str:
    received = response.num_bytes_downloaded
    if declared is None:
        return f"body cut short after {received} bytes (incomplete chunked read)"
    return f"body cut short: {received} of {declared} bytes"


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _redirect_target(response: httpx.Response, shown: str, *, url: str) -> httpx.URL:
    location = response.headers["location"]
    try:
        target = response.url.join(location)
    except httpx.InvalidURL as exc:
        raise FetchError(
            f"GET {shown}: redirect to an invalid URL ({location!r})",
            url=url,
            status=response.status_code,
        ) from exc
    if target.scheme not in _SCHEMES or not target.host:
        raise FetchError(
            f"GET {shown}: redirect to {without_userinfo(str(target))} refused: "
            "only http(s) URLs are fetched",
            url=url,
            status=response.status_code,
        )
    return target


def _status_failure(response: httpx.Response, shown: str, *, url: str) -> Exception:
    status = response.status_code
    reason = f"HTTP {status} {escape_controls(_phrase(response))}".rstrip()
    if status == 429 or status >= 500:
        return _Retryable(reason, status=status, wait_s=_retry_after_s(response))
    if 300 <= status < 400 and "location" not in response.headers:
        reason += " without a Location header"
    elif 200 <= status < 300:
        reason += " (expected 200 OK)"
    return FetchError(f"GET {shown}: {reason}", url=url, status=status)


def _failure(
    exc: httpx.HTTPError | httpx.InvalidURL,
    shown: str,
    *,
    url: str,
    settings: FetchSettings,
    status: int | None = None,
) -> Exception:
    """Map an httpx exception to _Retryable (worth another try) or FetchError (not)."""
    detail = _escape_detail(exc)
    if isinstance(exc, httpx.TimeoutException) and _past_deadline():
        deadline_s = settings.deadline_s
        return FetchError(
            f"GET {shown}: no complete response within {deadline_s:g} s (deadline_s in [fetch])",
            url=url,
            status=status,
        )
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        return _Retryable(
            f"timed out after {settings.read_timeout_s:g} s (read_timeout_s)", status=status
        )
    if isinstance(exc, httpx.TimeoutException):  # connecting, or waiting for a pooled connection
        return _Retryable(
            f"timed out connecting after {settings.connect_timeout_s:g} s (connect_timeout_s)",
            status=status,
        )
    if _caused_by(exc, ConnectionResetError):
        return _Retryable("connection reset", status=status)
    if isinstance(exc, httpx.ConnectError):
        return _Retryable(f"cannot connect ({detail})", status=status)
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return _Retryable(f"connection failed ({detail})", status=status)
    if isinstance(exc, httpx.DecodingError):
        return FetchError(f"GET {shown}: cannot decode the body ({detail})", url=url, status=status)
    return FetchError(f"GET {shown}: {detail}", url=url, status=status)


def _escape_detail(exc: BaseException) -> str:
    """An exception's text for a message: one line, server-sent control characters escaped."""
    return escape_controls(" ".join(str(exc).split())) or type(exc).__name__


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _depth in range(10):  # chains can loop
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _retry_after_s(response: httpx.Response) -> float | None:
    """Retry-After in seconds, from delay-seconds or an HTTP date; None when absent or invalid.

    A date is measured against the response's own Date header when there is one, so a skewed
    local clock does not matter.
    """
    value = response.headers.get("retry-after", "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    server_now = _http_date(response.headers.get("date", "")) or datetime.now(UTC)
    return max(0.0, (when - server_now).total_seconds())


def _http_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _phrase(response: httpx.Response) -> str:
    return httpx.codes.get_reason_phrase(response.status_code) or response.reason_phrase


def _after(attempts: int) -> str:
    return f" after {attempts} attempts" if attempts > 1 else ""


def _check_url(url: str, shown: str) -> None:
    """Refuse before any I/O what is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise FetchError(f"GET {shown}: not a valid URL ({exc})", url=url) from exc
    if parts.scheme.lower() not in _SCHEMES:
        scheme = f"{parts.scheme}:" if parts.scheme else "a URL without a scheme"
        raise FetchError(
            f"GET {shown}: only http:// and https:// URLs are fetched, not {scheme}", url=url
        )
    if not parts.hostname:
        raise FetchError(f"GET {shown}: no host in the URL", url=url)
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(f"GET {shown}: not a valid URL ({exc})", url=url) from exc


# --- robots.txt ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RobotsRecord:
    """One fetch of an origin's robots.txt, for the caller to keep between runs.

    `status` is the HTTP status, or 0 when nothing was fetched (network error, ignore_robots).
    """

    origin: str  # "https://www.imdi.no"
    fetched_at: str  # ISO-8601 UTC, "2025-03-01T06:00:00Z"
    status: int
    text: str


def check_robots(
    url: str,
    *,
    client: httpx.Client,
    settings: FetchSettings,
    cached: RobotsRecord | None,
    now: datetime,
) -> tuple[bool, RobotsRecord]:
    """May we fetch `url`? Returns the answer and the record to keep for next time.

    `cached` is reused while younger than 24 h; otherwise /robots.txt is fetched once (no retries).
    404/410 and other 4xx: all allowed; 401/403: all disallowed. 429, 5xx or a network error: the
    previous record decides if there is one (and is returned, so the next run tries again),
    else allowed. A naive `now` is taken as UTC.
    """
    shown = without_userinfo(url)
    _check_url(url, shown)
    origin = _origin(url)
    previous = cached if cached is not None and cached.origin == origin else None
    if settings.ignore_robots:
        logger.warning(
            "ignore_robots = true in [fetch]: not checking %s/robots.txt before GET %s",
            origin,
            shown,
        )
        return True, previous or RobotsRecord(origin, _iso(now), 0, "")
    agent = user_agent(settings.contact)
    if previous is not None and _is_fresh(previous, now):
        return _robots_allow(previous, url, agent), previous
    with _deadline(settings.deadline_s):
        record = _fetch_robots(origin, client=client, agent=agent, now=now)
    if _is_failure(record):
        if previous is not None:
            return _robots_allow(previous, url, agent), previous
        return True, record
    return _robots_allow(record, url, agent), record


def _fetch_robots(origin: str, *, client: httpx.Client, agent: str, now: datetime) -> RobotsRecord:
    target: httpx.URL | str = f"{origin}/robots.txt"
    status = 0
    try:
        for _hop in range(ROBOTS_MAX_REDIRECTS + 1):
            request = client.build_request("GET", target, headers={"User-Agent": agent})
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                status = response.status_code
                if response.has_redirect_location:
                    target = response.url.join(response.headers["location"])
                    if target.scheme not in _SCHEMES:
                        break
                    continue
                text = ""
                if response.is_success:
                    text = _read_capped(response, ROBOTS_MAX_BYTES).decode("utf-8-sig", "replace")
                return RobotsRecord(origin, _iso(now), status, text)
            finally:
                response.close()
    except (httpx.HTTPError, httpx.InvalidURL, zlib.error) as exc:
        logger.warning(
            "GET %s/robots.txt failed (%s); fetching anyway", origin, _escape_detail(exc)
        )
        return RobotsRecord(origin, _iso(now), 0, "")
    # too many redirects, or to a non-http URL: robots.txt is unavailable (RFC 9309 §2.3.1.2)
    return RobotsRecord(origin, _iso(now), status, "")


def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """At most max_bytes of the decoded body; what is past them is never read, nor inflated."""
    encodings = _encoding_tokens(response)[:MAX_CONTENT_ENCODINGS]
    chunks: list[bytes] = []
    size = 0
    for chunk in _decoded(response.iter_raw(), encodings):
        chunks.append(chunk)
        size += len(chunk)
        if size >= max_bytes:
            break
    return b"".join(chunks)[:max_bytes]


def _robots_allow(record: RobotsRecord, url: str, agent: str) -> bool:
    if 200 <= record.status < 300:
        from urllib.robotparser import RobotFileParser  # ~11 ms of imports: only when needed

        parser = RobotFileParser()
        parser.parse(record.text.splitlines())
        return parser.can_fetch(agent, url)
    # 401/403 as urllib.robotparser reads them; RFC 9309 would allow all for any 4xx
    return record.status not in (401, 403)


def _is_failure(record: RobotsRecord) -> bool:
    return record.status == 0 or record.status == 429 or record.status >= 500


def _is_fresh(record: RobotsRecord, now: datetime) -> bool:
    if _is_failure(record):
        return False
    try:
        fetched_at = _utc(datetime.fromisoformat(record.fetched_at))
    except ValueError:
        return False
    return timedelta(0) <= _utc(now) - fetched_at < ROBOTS_MAX_AGE


def _origin(url: str) -> str:
    """scheme://host[:port], without user info or a default port; IDNA hosts in ASCII."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
