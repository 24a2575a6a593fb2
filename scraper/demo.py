"""`imdi-watch demo`: a recorded history of the page, replayed from a loopback server into a fresh
store by the real pipeline (httpx, robots.txt, conditional GET), so it works offline in seconds.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import shlex
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from scraper.config import Config, load_config
from scraper.errors import InputError
from scraper.models import CheckResult, Outcome
from scraper.pipeline import check_all

PAGE_PATH = "/planlegging-og-bosetting/bosettingsprosessen/imdis-anmodning/"
DB_NAME = "imdi-watch.db"
CONFIG_NAME = "config.toml"
ROBOTS_TXT = b"User-agent: *\nAllow: /\n"
# a report longer than this is summed up (the page and a hint) instead of printed in full
MAX_REPORT_LINES = 60


@dataclass(frozen=True, slots=True)
class DemoStep:
    """What the recorded server answers at one check: a page variant (data/demo/<variant>.html.gz)
    with 200, a 304 to a matching If-None-Match, or an error status."""

    at: str  # the simulated time of the check, ISO-8601 UTC
    note: str  # what the server serves, for people
    variant: str | None = None
    status: int = 200


STEPS: tuple[DemoStep, ...] = (
    DemoStep("2021-10-04T08:00:00Z", "the page before the figures were published", "before-table"),
    DemoStep("2021-11-12T10:00:00Z", "the figures are published", "nn-a"),
    DemoStep(
        "2021-11-12T16:00:00Z",
        "noise only: CSRF token and asset versions differ",
        "nn-a-noise",
    ),
    DemoStep("2021-11-15T08:00:00Z", "HTTP 304: the server's ETag still matches", status=304),
    DemoStep("2021-11-17T08:00:00Z", "the site is down for maintenance", status=503),
    DemoStep("2021-11-19T12:00:00Z", "figures revised, new date", "revised"),
)


def read_variant(variant: str) -> bytes:
    """One recorded page, as served (the gzip is only how the wheel carries it)."""
    data = resources.files("scraper").joinpath("data", "demo", f"{variant}.html.gz").read_bytes()
    return gzip.decompress(data)


# --- the recorded server ---------------------------------------------------------------------


@dataclass
class _Recording:
    """The server's state: the step to answer with and the last page it sent."""

    step: DemoStep | None = None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, if_none_match: str | None) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            step = self.step
            if step is None:
                return 404, b"no check in progress\n", {"Content-Type": "text/plain"}
            if step.variant is not None:
                self.body = read_variant(step.variant)
                self.etag = f'"{hashlib.sha256(self.body).hexdigest()[:16]}"'
                self.last_modified = format_datetime(_moment(step.at), usegmt=True)
            elif step.status not in (200, 304):
                return step.status, b"Service Unavailable\n", {"Content-Type": "text/plain"}
            if self.body is None or self.etag is None or self.last_modified is None:
                return 404, b"nothing served yet\n", {"Content-Type": "text/plain"}
            validators = {"ETag": self.etag, "Last-Modified": self.last_modified}
            if step.status == 304 and if_none_match == self.etag:
                return 304, b"", validators
            return 200, self.body, {"Content-Type": "text/html; charset=utf-8", **validators}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, recording: _Recording) -> None:
        self.recording = recording
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        if self.path == "/robots.txt":
            status, body, headers = 200, ROBOTS_TXT, {"Content-Type": "text/plain"}
        elif self.path == PAGE_PATH:
            status, body, headers = self.server.recording.answer(self.headers.get("If-None-Match"))
        else:
            status, body, headers = 404, b"not found\n", {"Content-Type": "text/plain"}
        self.close_connection = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _serve(recording: _Recording) -> Iterator[str]:
    """The recorded page's URL on 127.0.0.1 (port 0), for as long as the block runs."""
    server = _Server(recording)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{PAGE_PATH}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- the session -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoCheck:
    number: int
    step: DemoStep
    result: CheckResult


@dataclass
class DemoSession:
    """A demo folder with its config.toml and store, and the server that plays the recording."""

    directory: Path
    url: str
    config: Config
    _recording: _Recording

    @property
    def config_path(self) -> Path:
        return self.directory / CONFIG_NAME

    @property
    def db_path(self) -> Path:
        return self.config.store.path

    def run(self, steps: tuple[DemoStep, ...] = STEPS) -> Iterator[DemoCheck]:
        """One real check per step (fetch over HTTP, parse, diff, store), at the step's time."""
        from scraper.fetch import make_client
        from scraper.store import open_store

        settings = self.config.fetch
        with (
            open_store(self.config.store.path, self.config.store.snapshots) as store,
            make_client(settings) as client,
        ):
            for number, step in enumerate(steps, start=1):
                with self._recording.lock:
                    self._recording.step = step
                moment = _moment(step.at)
                (result,) = check_all(
                    self.config.pages[:1],
                    store=store,
                    settings=settings,
                    now=_at(moment),
                    lock_wait_s=self.config.store.lock_wait_s,
                    clients=lambda: contextlib.nullcontext(client),
                )
                yield DemoCheck(number, step, result)


@contextlib.contextmanager
def open_demo(keep: str | Path | None = None) -> Iterator[DemoSession]:
    """A new demo folder (a temporary one unless `keep` names it) with the recorded server up.

    The folder stays afterwards: its config.toml points [store] at the demo's store.
    """
    directory = _demo_directory(keep)
    recording = _Recording()
    with _serve(recording) as url:
        config_path = directory / CONFIG_NAME
        config_path.write_text(_config_text(url, directory), encoding="utf-8")
        yield DemoSession(directory, url, load_config(config_path), recording)


def _demo_directory(keep: str | Path | None) -> Path:
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="imdi-watch-demo-")).resolve()
    directory = Path(keep).expanduser().resolve()
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--keep {keep}: is a file, not a folder")
    for name in (DB_NAME, CONFIG_NAME):
        if (directory / name).exists():
            raise InputError(
                f"--keep {keep}: already holds {name} (a demo ran there before); "
                "name a new or empty folder"
            )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--keep {keep}: cannot create the folder: {exc.strerror}") from exc
    return directory


def _config_text(url: str, directory: Path) -> str:
    shown = shlex.quote(str(directory / CONFIG_NAME))
    return f"""\
# Written by `imdi-watch demo`: the store below holds the demo's recorded history.
#   imdi-watch --config {shown} log
# The page was served by the demo's own server on 127.0.0.1, which stopped when the demo ended,
# so a `check` with this config fails; the read commands (log, show, diff, history) all work.

[[pages]]
name = "oppmoding"
url = "{url}"

[fetch]
max_attempts = 1      # the demo's outage is one failed check, not a retry
read_timeout_s = 10

[store]
path = "{DB_NAME}"
snapshots = "snapshots"
"""


def _at(moment: datetime) -> Callable[[], datetime]:
    """A clock that always says `moment` (each demo step happens at its recorded time)."""
    return lambda: moment


def _moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)


# --- what the demo prints --------------------------------------------------------------------


def render_intro(session: DemoSession) -> str:
    return (
        'imdi-watch demo: replaying a recorded history of IMDi\'s "Oppmoding om busetting" page\n'
        f"  served by  {session.url}  (loopback only, no network)\n"
        f"  stored in  {session.directory}\n\n"
    )


def render_check(check: DemoCheck, *, color: bool = False) -> str:
    """The check's outcome in one line, then, for a new revision, what changed."""
    from scraper.report import render_changes, render_page, summary_line

    result = check.result
    when = _moment(check.step.at).strftime("%Y-%m-%d %H:%M UTC")
    head = f"check {check.number} ({when}): {result.outcome}"
    if result.outcome is Outcome.UNCHANGED or result.outcome is Outcome.NOT_MODIFIED:
        return f"{head} ({check.step.note})\n"
    if result.outcome is Outcome.ERROR:
        error = (result.error or "").removeprefix(f"GET {result.target.url}: ")
        return f"{head} ({error}) — {check.step.note}; stored as a failed check\n"
    page = result.page
    assert page is not None
    if result.previous_page is None:
        rows = f"{len(page.rows)} rows" + ("" if page.has_table else " (no table yet)")
        return f"{head} — first revision: {rows}\n"
    old, new = result.previous_revision_id, result.revision_id
    report = render_changes(
        result.previous_page,
        page,
        result.changes,
        format="text",
        old_label=f"revision {old}",
        new_label=f"revision {new}",
        color=color,
    )
    lines = f"{head} — revision {old} → {new}: {check.step.note}\n\n"
    if report.count("\n") <= MAX_REPORT_LINES:
        return f"{lines}{report}\n"
    summary = summary_line(result.previous_page, page, result.changes)
    return (
        f"{lines}{summary}\n(the full report has {len(result.changes)} changes: "
        f"`imdi-watch diff {old} {new}` with the config below)\n\n"
        f"{render_page(page, color=color)}\n"
    )


def render_outro(session: DemoSession, checks: list[DemoCheck]) -> str:
    counts: dict[str, int] = {}
    for check in checks:
        counts[str(check.result.outcome)] = counts.get(str(check.result.outcome), 0) + 1
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
    config = shlex.quote(str(session.config_path))
    return (
        f"{len(checks)} checks: {outcomes}. The store is kept in {session.directory}\n"
        "Browse it:\n"
        f"  imdi-watch --config {config} log\n"
        f"  imdi-watch --config {config} history Bergen\n"
        f"  imdi-watch --config {config} diff 2021-11-12 2021-11-19\n"
        f"  imdi-watch serve --store {shlex.quote(str(session.db_path))}\n"
    )
