"""Soak `imdi-watch run`: 2 000+ scheduled checks against a loopback server that misbehaves at
random (fixed seed), then prove from the server's own log that nothing was lost or invented.

The server answers every GET of the page with one response drawn from a seeded mix: the current
page, the current page re-rendered with fresh noise (CSRF token, nonce, asset version), 500,
429 with Retry-After: 0, a timeout (no answer for longer than read_timeout_s), a connection reset,
a body cut short, and oversize bodies (declared and chunked). The content itself changes at known
request numbers (12 Nov → 19 Nov → broken redesign → 19 Nov → Bokmål → 12 Nov). Every response
is logged. `imdi-watch run` (interval 0.05 s, no jitter, 2 tries per check, tiny backoff) runs as
a subprocess until the store holds --checks fetches; then SIGTERM.

Asserted afterwards:
- the process was alive until SIGTERM and exited 0;
- RSS (VmRSS, sampled every 100 page requests) ends within --rss-slack-mib of where it was after
  the first 100;
- every fetch row is what the server's log says it must be, in order: outcome, attempts, bytes,
  the error's cause, the revision it saw (retries replayed from the log: a 500/429/timeout/reset/
  cut-short answer is tried again once, an oversize one is not);
- every real change of content is stored exactly once, as the revision of the response that
  showed it, and no revision comes from a faulty or noise-only response.

Only loopback traffic; bounded by --checks and --max-minutes. Exit status 1 if an assertion fails.
Run: .venv/bin/python bench/soak.py            (about 3–4 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import random
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scraper.parse import parse_page  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
OUT = ROOT / "bench" / "out" / "soak"
IMDI_WATCH = Path(sys.executable).parent / "imdi-watch"
PAGE_PATH = "/oppmoding"
READ_TIMEOUT_S = 0.25
MAX_BYTES = 150_000
MAX_ATTEMPTS = 2
# (request number from which it is served, fixture)
CONTENT_SCHEDULE = [
    (0, "page-2022-nn-a.html"),
    (450, "page-2022-revised.html"),
    (900, "page-2022-broken.html"),
    (1350, "page-2022-revised.html"),
    (1800, "page-2022-nb.html"),
    (2250, "page-2022-nn-a.html"),
]
FAULTS = {  # kind: weight
    "ok": 52,
    "noise": 15,
    "500": 6,
    "429": 6,
    "timeout": 2,
    "reset": 6,
    "truncated": 6,
    "oversize": 4,
    "oversize-chunked": 3,
}
RETRIED = {"500", "429", "timeout", "reset", "truncated"}
ERROR_TEXT = {
    "500": "HTTP 500",
    "429": "HTTP 429",
    "timeout": "timed out after",
    "reset": "connection",
    "truncated": "cut short",
    "oversize": "larger than",
    "oversize-chunked": "larger than",
}
NOISE_TOKENS = {
    b"b6Zq3kP0tW1xYc9LmR2vN8sJ4hE7uA5dGfTqKzXo": b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    b"n0Nc3-A1b2C3d4E5f6G7h8": b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    b"20211112.3": b"0123456789",
}


@dataclass
class Sent:
    """One response as the server sent it."""

    number: int  # page request number, from 0
    kind: str
    fixture: str
    size: int  # bytes of the body as a complete answer would carry it
    sha256: str | None  # of the body, for complete 200s


class SoakServer:
    def __init__(self, seed: int, *, on_request: callable | None = None):  # type: ignore[valid-type]
        self.rng = random.Random(seed)
        self.log: list[Sent] = []
        self.other: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.on_request = on_request
        self.pages = {name: (FIXTURES / name).read_bytes() for _, name in CONTENT_SCHEDULE}
        kinds, weights = zip(*FAULTS.items(), strict=True)
        soak = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.close_connection = True
                if self.path != PAGE_PATH:
                    soak.other.append(self.path)
                    self._reply(404, b"")
                    return
                with soak.lock:
                    number = len(soak.log)
                    kind = soak.rng.choices(kinds, weights)[0]
                    fixture = [name for start, name in CONTENT_SCHEDULE if start <= number][-1]
                    body = soak.pages[fixture]
                    if kind == "noise":
                        body = soak.noise(body)
                    elif kind.startswith("oversize"):
                        body = body + b"<!--" + b"x" * (MAX_BYTES - len(body) + 10_000) + b"-->"
                    complete = kind in ("ok", "noise")
                    sha = hashlib.sha256(body).hexdigest() if complete else None
                    soak.log.append(Sent(number, kind, fixture, len(body), sha))
                if soak.on_request is not None:
                    soak.on_request(number)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._misbehave(kind, body)

            def _misbehave(self, kind: str, body: bytes) -> None:
                if kind in ("ok", "noise", "oversize"):
                    self._reply(200, body)
                elif kind == "500":
                    self._reply(500, b"oops\n")
                elif kind == "429":
                    self._reply(429, b"slow down\n", {"Retry-After": "0"})
                elif kind == "timeout":
                    soak.stopping.wait(READ_TIMEOUT_S + 0.5)
                elif kind == "reset":
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                elif kind == "truncated":
                    self._head(200, {"Content-Length": str(len(body))})
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_WR)
                elif kind == "oversize-chunked":
                    self._head(200, {"Transfer-Encoding": "chunked"})
                    for start in range(0, len(body), 16_384):
                        chunk = body[start : start + 16_384]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")

            def _head(self, status: int, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()

            def _reply(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self._head(status, {"Content-Length": str(len(body)), **(headers or {})})
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def noise(self, body: bytes) -> bytes:
        for token, alphabet in NOISE_TOKENS.items():
            value = bytes(self.rng.choice(alphabet) for _ in token)
            if token == b"20211112.3":
                value = value[:8] + b"." + value[9:]
            body = body.replace(token, value)
        return body

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{PAGE_PATH}"

    def __enter__(self) -> SoakServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def vm_rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fetch_rows(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(
            "SELECT id, outcome, status, bytes, attempts, error, revision_id FROM fetches ORDER BY id"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def verify(log: list[Sent], fetches: list[tuple], revisions: list[tuple]) -> list[str]:
    """Replay the server's log into the fetch rows it must have produced; the differences."""
    problems: list[str] = []
    fingerprints: dict[str, str] = {}  # fixture → fingerprint
    expected_revisions: list[tuple[str, str]] = []  # (fingerprint, sha256 of the body)
    position = 0
    for row in fetches:
        fetch_id, outcome, _status, size, attempts, error, revision_id = row
        tries: list[Sent] = []
        while position < len(log):
            sent = log[position]
            position += 1
            tries.append(sent)
            if sent.kind not in RETRIED or len(tries) >= MAX_ATTEMPTS:
                break
        if not tries:
            problems.append(f"fetch {fetch_id}: no request in the server's log")
            break
        last = tries[-1]
        if last.kind in ("ok", "noise"):
            fixture = last.fixture
            if fixture not in fingerprints:
                fingerprints[fixture] = parse_page((FIXTURES / fixture).read_bytes()).fingerprint
            fingerprint = fingerprints[fixture]
            new = not expected_revisions or expected_revisions[-1][0] != fingerprint
            if new:
                expected_revisions.append((fingerprint, last.sha256 or ""))
            want = (
                "new-revision" if new else "unchanged",
                len(tries),
                last.size,
                None,
                len(expected_revisions),
            )
            got = (outcome, attempts, size, error, revision_id)
        else:
            want = ("error", ERROR_TEXT[last.kind])
            got = (
                outcome,
                ERROR_TEXT[last.kind] if ERROR_TEXT[last.kind] in (error or "") else error,
            )
        if got != want:
            kinds = "/".join(t.kind for t in tries)
            problems.append(
                f"fetch {fetch_id} (requests {tries[0].number}–{last.number}: {kinds}): {got} ≠ expected {want}"
            )
    if position != len(log):
        problems.append(f"{len(log) - position} request(s) in the server's log belong to no fetch")
    stored = [(fp, snap) for _id, fp, snap in revisions]
    if stored != expected_revisions:
        problems.append(f"revisions {stored} ≠ expected {expected_revisions}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=2200, help="fetch rows to wait for")
    parser.add_argument("--seed", type=int, default=20211112)
    parser.add_argument("--max-minutes", type=float, default=9.0)
    parser.add_argument("--rss-slack-mib", type=float, default=4.0)
    args = parser.parse_args(argv)

    import shutil

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    db = OUT / "store" / "imdi-watch.db"
    rss: list[tuple[int, int]] = []  # (page request number, VmRSS KB)
    holder: dict[str, int] = {}

    def sample(number: int) -> None:
        if number % 100 == 0 and "pid" in holder:
            rss.append((number, vm_rss_kb(holder["pid"])))

    started = time.monotonic()
    with SoakServer(args.seed, on_request=sample) as server:
        (OUT / "config.toml").write_text(
            "\n".join(
                [
                    "[[pages]]",
                    'name = "oppmoding"',
                    f'url = "{server.url}"',
                    "",
                    "[store]",
                    'path = "store/imdi-watch.db"',
                    'snapshots = "snapshots"',
                    "",
                    "[fetch]",
                    f"read_timeout_s = {READ_TIMEOUT_S}",
                    "connect_timeout_s = 1.0",
                    f"max_bytes = {MAX_BYTES}",
                    f"max_attempts = {MAX_ATTEMPTS}",
                    "backoff_s = 0.005",
                    "max_backoff_s = 0.01",
                    "",
                    "[schedule]",
                    "interval_s = 0.05",
                    "jitter_s = 0",
                    "",
                    "[notify]",
                    "after_failures = 0",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        with open(OUT / "run.log", "wb") as log_file:
            process = subprocess.Popen(
                [str(IMDI_WATCH), "--config", "config.toml", "run"],
                cwd=OUT,
                stdout=log_file,
                stderr=log_file,
            )
            holder["pid"] = process.pid
            deadline = started + args.max_minutes * 60
            alive_throughout = True
            count = 0
            while time.monotonic() < deadline:
                time.sleep(0.5)
                if process.poll() is not None:
                    alive_throughout = False
                    break
                count = len(fetch_rows(db))
                if count >= args.checks:
                    break
            rss.append((len(server.log), vm_rss_kb(process.pid)))
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
        elapsed = time.monotonic() - started
        log = list(server.log)
        other = list(server.other)

    fetches = fetch_rows(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    revisions = conn.execute(
        "SELECT id, fingerprint, snapshot FROM revisions ORDER BY id"
    ).fetchall()
    conn.close()
    problems = verify(log, fetches, revisions)
    if not alive_throughout:
        problems.insert(0, f"imdi-watch run exited on its own with {code} (see {OUT / 'run.log'})")
    if code != 0:
        problems.insert(0, f"exit status {code} after SIGTERM, not 0")
    if len(fetches) < args.checks:
        problems.append(f"only {len(fetches)} checks in {args.max_minutes} minutes")
    warm = [kb for number, kb in rss if number >= 100] or [kb for _, kb in rss]
    growth_mib = (warm[-1] - warm[0]) / 1024 if warm else 0.0
    if growth_mib > args.rss_slack_mib:
        problems.append(f"RSS grew by {growth_mib:.1f} MiB (> {args.rss_slack_mib} MiB)")
    outside = sorted(set(other) - {"/robots.txt"})
    if outside:
        problems.append(f"unexpected requests: {outside}")

    outcomes = Counter(row[1] for row in fetches)
    kinds = Counter(sent.kind for sent in log)
    print(
        f"imdi-watch run soak: {len(fetches)} checks, {len(log)} page requests in {elapsed:.0f} s "
        f"(seed {args.seed}); exit {code} after SIGTERM"
    )
    print("  responses sent:  " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    print("  fetches stored:  " + ", ".join(f"{k} {n}" for k, n in outcomes.most_common()))
    print(f"  retried checks:  {sum(1 for row in fetches if (row[4] or 1) > 1)}")
    print(
        f"  revisions:       {len(revisions)} (content changes served: "
        f"{len(CONTENT_SCHEDULE) - sum(1 for s, _ in CONTENT_SCHEDULE if s >= len(log))})"
    )
    if warm:
        print(
            f"  VmRSS:           {warm[0] / 1024:.1f} MiB after 100 requests → "
            f"{warm[-1] / 1024:.1f} MiB at the end ({growth_mib:+.1f} MiB; "
            f"max {max(warm) / 1024:.1f}, median {statistics.median(warm) / 1024:.1f})"
        )
    if problems:
        print(f"FAILED: {len(problems)} problem(s)")
        for problem in problems[:30]:
            print("  - " + problem)
        return 1
    print(
        "OK: every fetch matches the server's log; every change stored once; no revision from "
        "a faulty or noise-only response; no crash; RSS flat"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
