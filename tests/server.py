"""A scriptable HTTP/1.1 server on 127.0.0.1 (port 0) for tests: each path answers with a queue of
`Reply`s, misbehaving on request (delay, reset, truncated or oversize bodies); every request is
recorded, a POST with its body (an Apprise json:// receiver).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Literal

Action = Literal["send", "reset", "truncate"]


@dataclass(frozen=True)
class Reply:
    """One scripted response.

    `headers` are sent as given; Content-Length is added unless the headers already have one or
    `chunks` is set (then the body goes out with Transfer-Encoding: chunked and `body` is ignored;
    `(b"x" * 65536,) * 200` is 13 MB on the wire but one bytes object in memory).
    `delay_s` waits before answering (read timeouts). `action`: "send" normally; "reset" reads
    the request and aborts the connection (TCP RST) without a response; "truncate" sends the
    headers and `body`, then closes, so a Content-Length larger than the body (or an unfinished
    chunked body) arrives cut short.
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    chunks: tuple[bytes, ...] | None = None
    action: Action = "send"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""  # what a POST sent


@dataclass
class LoopbackServer:
    """`route(path, *replies)` scripts a path: each request takes the next reply and the last one
    repeats. Unscripted paths get 404. Use as a context manager (or the `http_server` fixture).
    """

    requests: list[Request] = field(default_factory=list)
    # the most requests answered at once, per Host header (concurrency limits are per host)
    max_in_flight: dict[str, int] = field(default_factory=dict)
    _in_flight: dict[str, int] = field(default_factory=dict)
    _routes: dict[str, list[Reply]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: _ThreadingServer | None = None
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    def url(self, path: str = "/", *, host: str = "127.0.0.1") -> str:
        """The URL of `path`; host="localhost" reaches the same server under another host name."""
        return f"http://{host}:{self.port}{path}"

    def route(self, path: str, *replies: Reply) -> None:
        """Replace what `path` answers; call again between two checks to change the page."""
        if not replies:
            raise ValueError("route() needs at least one Reply")
        with self._lock:
            self._routes[path] = list(replies)

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> LoopbackServer:
        self._server = _ThreadingServer(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _take(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self._routes.get(request.path.split("?", 1)[0])
            if not queue:
                return Reply(404, b"no reply scripted for this path\n")
            return queue.pop(0) if len(queue) > 1 else queue[0]


class _ThreadingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        owner: LoopbackServer,
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ThreadingServer

    def do_GET(self) -> None:
        owner = self.server.owner
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self.rfile.read(int(headers.get("content-length") or 0))
        reply = owner._take(Request(self.command, self.path, headers, body))
        self.close_connection = True
        host = headers.get("host", "")
        with owner._lock:
            owner._in_flight[host] = owner._in_flight.get(host, 0) + 1
            owner.max_in_flight[host] = max(
                owner.max_in_flight.get(host, 0), owner._in_flight[host]
            )
        try:
            if reply.delay_s and owner._stopping.wait(reply.delay_s):
                return
            # the client may hang up on purpose (oversize body, timeout)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer(reply)
        finally:
            with owner._lock:
                owner._in_flight[host] -= 1

    do_HEAD = do_POST = do_GET

    def _answer(self, reply: Reply) -> None:
        if reply.action == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        names = {name.lower() for name in reply.headers}
        head = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        if reply.chunks is not None:
            head.append("Transfer-Encoding: chunked")
        elif "content-length" not in names and reply.status != 304:
            head.append(f"Content-Length: {len(reply.body)}")
        head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if reply.chunks is not None:
            for chunk in reply.chunks:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if reply.action != "truncate":
                self.wfile.write(b"0\r\n\r\n")
        elif self.command != "HEAD":
            self.wfile.write(reply.body)
        self.wfile.flush()
        if reply.action == "truncate":
            self.connection.shutdown(socket.SHUT_WR)

    def log_message(self, format: str, *args: object) -> None:
        pass
