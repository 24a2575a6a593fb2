"""`imdi-watch check` end to end: a real HTTP server on 127.0.0.1 plays a sequence of responses,
the CLI runs one check per step, and the exact rows in fetches, revisions and figures are asserted.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import CliResult, run_cli
from server import LoopbackServer, Reply

from scraper.parse import parse_page

FIXTURES = Path(__file__).parent / "fixtures"
PAGE_A = (FIXTURES / "page-2022-nn-a.html").read_bytes()
PAGE_NOISE = (FIXTURES / "page-2022-nn-a-noise.html").read_bytes()
PAGE_REVISED = (FIXTURES / "page-2022-revised.html").read_bytes()
PAGE_BROKEN = (FIXTURES / "page-2022-broken.html").read_bytes()
HTML = {"Content-Type": "text/html; charset=utf-8"}
PATH = "/oppmoding"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# fetches columns asserted exactly; fetched_at is checked for its form, elapsed_ms not at all.
# final_url is stored only where a redirect led elsewhere (NULL = the page's own URL).
FETCH_COLUMNS = (
    "id, page_id, outcome, status, bytes, attempts, etag, last_modified, "
    "CASE WHEN status IS NULL THEN final_url "
    "ELSE coalesce(final_url, (SELECT url FROM pages WHERE pages.id = fetches.page_id)) END, "
    "error, "
    "revision_id"
)
REVISION_COLUMNS = "id, page_id, fingerprint, snapshot, updated, has_table, row_count"


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def fingerprint(body: bytes) -> str:
    return parse_page(body).fingerprint


@dataclass
class Watch:
    """One watched page on the loopback server, its config and its store."""

    server: LoopbackServer
    config: Path
    root: Path

    @property
    def url(self) -> str:
        return self.server.url(PATH)

    @property
    def db_path(self) -> Path:
        return self.root / "store" / "imdi-watch.db"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    def serve(self, *replies: Reply) -> None:
        self.server.route(PATH, *replies)

    def check(self, *args: str) -> CliResult:
        return run_cli("--config", str(self.config), "check", *args)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db_path)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def fetches(self) -> list[tuple[Any, ...]]:
        return self.query(f"SELECT {FETCH_COLUMNS} FROM fetches ORDER BY id")

    def fetched_at(self) -> list[str]:
        return [at for (at,) in self.query("SELECT fetched_at FROM fetches ORDER BY id")]

    def revisions(self) -> list[tuple[Any, ...]]:
        return self.query(f"SELECT {REVISION_COLUMNS} FROM revisions ORDER BY id")

    def seen(self) -> list[tuple[str, str]]:
        return self.query("SELECT first_seen, last_seen FROM revisions ORDER BY id")

    def figure_counts(self) -> list[tuple[int, int]]:
        return self.query(
            "SELECT r.id, count(f.position) FROM revisions r "
            "LEFT JOIN figures f ON f.revision_id = r.id GROUP BY r.id ORDER BY r.id"
        )

    def snapshot_files(self) -> list[str]:
        return sorted(p.name for p in self.snapshots.iterdir()) if self.snapshots.exists() else []

    def page_requests(self) -> list[dict[str, str]]:
        return [r.headers for r in self.server.requests_for(PATH)]


@pytest.fixture
def make_watch(
    http_server: LoopbackServer, write_config: Callable[..., Path], tmp_path: Path
) -> Callable[..., Watch]:
    def make(**settings: Any) -> Watch:
        config = write_config(http_server.url(PATH), **settings)
        return Watch(http_server, config, tmp_path)

    return make


@pytest.fixture
def watch(make_watch: Callable[..., Watch]) -> Watch:
    return make_watch()


def ok(body: bytes, **headers: str) -> Reply:
    return Reply(200, body, {**HTML, **headers})


def new_revision_row(
    watch: Watch, fetch_id: int, body: bytes, revision_id: int, **kw: Any
) -> tuple:
    return (fetch_id, 1, "new-revision", 200, len(body), kw.get("attempts", 1),
            kw.get("etag"), None, watch.url, None, revision_id)  # fmt: skip


def error_row(
    fetch_id: int,
    message: str,
    *,
    status: int | None = None,
    attempts: int | None = 3,
    url: str | None = None,
) -> tuple:
    """A failed check: its HTTP status when there was a response, and how many tries it took."""
    return (fetch_id, 1, "error", status, None, attempts, None, None, url, message, None)


# --- the happy paths -------------------------------------------------------------------------


def test_check_same_page_twice_is_new_revision_then_unchanged(watch: Watch) -> None:
    watch.serve(ok(PAGE_A))

    first = watch.check()

    assert (first.code, first.err) == (0, "")
    assert re.match(
        r"^oppmoding: new-revision \(HTTP 200, 89 070 bytes, \d+ ms, revision 1\)\n", first.out
    )
    assert watch.fetches() == [new_revision_row(watch, 1, PAGE_A, 1)]
    assert watch.revisions() == [(1, 1, fingerprint(PAGE_A), sha256(PAGE_A), "2021-11-12", 1, 356)]
    (at1,) = watch.fetched_at()
    assert TIMESTAMP.match(at1)
    assert watch.seen() == [(at1, at1)]
    assert watch.figure_counts() == [(1, 356)]
    assert watch.snapshot_files() == [f"{sha256(PAGE_A)}.html.gz", f"{sha256(PAGE_A)}.json"]

    second = watch.check()

    assert (second.code, second.err) == (0, "")
    assert re.fullmatch(
        r"oppmoding: unchanged \(HTTP 200, 89 070 bytes, \d+ ms, revision 1\)\n", second.out
    )
    assert watch.fetches() == [
        new_revision_row(watch, 1, PAGE_A, 1),
        (2, 1, "unchanged", 200, len(PAGE_A), 1, None, None, watch.url, None, 1),
    ]
    at1_again, at2 = watch.fetched_at()
    assert at1_again == at1 and at2 >= at1
    assert watch.seen() == [(at1, at2)]  # last_seen moved, first_seen stayed
    assert watch.figure_counts() == [(1, 356)]
    assert len(watch.snapshot_files()) == 2


def test_check_noise_only_change_is_unchanged_and_keeps_no_snapshot(watch: Watch) -> None:
    watch.serve(ok(PAGE_A))
    assert watch.check().code == 0
    files = watch.snapshot_files()
    watch.serve(ok(PAGE_NOISE))

    result = watch.check()

    assert (result.code, result.err) == (0, "")
    assert result.out.startswith("oppmoding: unchanged (")
    assert watch.fetches()[1] == (
        2, 1, "unchanged", 200, len(PAGE_NOISE), 1, None, None, watch.url, None, 1
    )  # fmt: skip
    assert len(watch.revisions()) == 1
    assert watch.snapshot_files() == files  # the noisy body is not kept


def test_check_changed_figures_make_revision_2_with_changes_and_report(watch: Watch) -> None:
    watch.serve(ok(PAGE_A))
    watch.check()
    watch.serve(ok(PAGE_REVISED))

    result = watch.check()

    assert (result.code, result.err) == (0, "")
    assert result.out.startswith("oppmoding: new-revision (HTTP 200, 89 050 bytes, ")
    assert "8 figures changed in 5 municipalities" in result.out
    assert "revision 1 → revision 2" in result.out
    assert watch.fetches() == [
        new_revision_row(watch, 1, PAGE_A, 1),
        new_revision_row(watch, 2, PAGE_REVISED, 2),
    ]
    assert watch.revisions() == [
        (1, 1, fingerprint(PAGE_A), sha256(PAGE_A), "2021-11-12", 1, 356),
        (2, 1, fingerprint(PAGE_REVISED), sha256(PAGE_REVISED), "2021-11-19", 1, 356),
    ]
    assert watch.figure_counts() == [(1, 356), (2, 356)]
    assert watch.query(
        "SELECT revision_id, requested FROM figures WHERE municipality = 'Bergen' "
        "ORDER BY revision_id"
    ) == [(1, 182), (2, 192)]
    assert watch.query(
        "SELECT previous_revision_id, municipality, field, old, new, delta FROM changes "
        "WHERE revision_id = 2 AND kind = 'figure' ORDER BY position"
    ) == [
        (1, "Gjerstad", "requested", "0", "10", 10),
        (1, "Kristiansand", "minors_15_18", "4", "3", -1),
        (1, "Kristiansand", "minors_under_15", "2", "3", 1),
        (1, "Risør", "minors", None, "2", None),
        (1, "Risør", "minors_15_18", None, "2", None),
        (1, "Risør", "minors_under_15", None, "0", None),
        (1, "Oslo", "requested", "225", "215", -10),
        (1, "Bergen", "requested", "182", "192", 10),
    ]
    assert watch.query(
        "SELECT kind, count(*) FROM changes WHERE revision_id = 2 GROUP BY kind ORDER BY kind"
    ) == [
        ("figure", 8), ("headline", 4), ("statement", 2), ("text", 1), ("totals", 4),
        ("updated", 1),
    ]  # fmt: skip
    assert len(watch.snapshot_files()) == 4


def test_check_304_answers_a_conditional_get_as_not_modified(watch: Watch) -> None:
    watch.serve(ok(PAGE_A, ETag='"v1"'), Reply(304, headers={"ETag": '"v1"'}))

    assert watch.check().code == 0
    result = watch.check()

    assert (result.code, result.err) == (0, "")
    assert re.fullmatch(r"oppmoding: not-modified \(HTTP 304, \d+ ms, revision 1\)\n", result.out)
    first_request, second_request = watch.page_requests()
    assert "if-none-match" not in first_request
    assert second_request["if-none-match"] == '"v1"'
    assert watch.fetches() == [
        new_revision_row(watch, 1, PAGE_A, 1, etag='"v1"'),
        (2, 1, "not-modified", 304, None, 1, '"v1"', None, watch.url, None, 1),
    ]
    assert len(watch.revisions()) == 1


def test_check_retries_a_500_and_stores_the_200(watch: Watch) -> None:
    watch.serve(Reply(500, b"oops"), ok(PAGE_A))

    result = watch.check()

    assert (result.code, result.err) == (0, "")
    assert len(watch.page_requests()) == 2
    assert watch.fetches() == [new_revision_row(watch, 1, PAGE_A, 1, attempts=2)]
    assert watch.figure_counts() == [(1, 356)]


def test_check_waits_out_a_429_with_retry_after_then_stores_the_200(watch: Watch) -> None:
    watch.serve(Reply(429, b"slow down", {"Retry-After": "0"}), ok(PAGE_A))

    result = watch.check()

    assert (result.code, result.err) == (0, "")
    assert watch.fetches() == [new_revision_row(watch, 1, PAGE_A, 1, attempts=2)]


def test_check_recovers_from_one_connection_reset(watch: Watch) -> None:
    watch.serve(Reply(action="reset"), ok(PAGE_A))

    result = watch.check()

    assert (result.code, result.err) == (0, "")
    assert watch.fetches() == [new_revision_row(watch, 1, PAGE_A, 1, attempts=2)]


# --- failures: one error fetch, no revision, exit 3, one line naming the URL -----------------


def assert_failed_check(
    watch: Watch,
    result: CliResult,
    message: str,
    *,
    status: int | None = None,
    attempts: int | None = 3,
) -> None:
    assert result.code == 3
    assert result.err == f"imdi-watch: error: oppmoding: {message}\n"
    url = watch.url if status is not None else None
    assert watch.fetches() == [error_row(1, message, status=status, attempts=attempts, url=url)]
    assert watch.revisions() == []
    assert watch.snapshot_files() == []


def test_check_times_out_every_attempt_as_error(watch: Watch) -> None:
    watch.serve(Reply(200, PAGE_A, HTML, delay_s=1.0))

    result = watch.check()

    assert result.out == "oppmoding: error\n"
    assert_failed_check(
        watch, result, f"GET {watch.url}: timed out after 0.5 s (read_timeout_s) after 3 attempts"
    )
    assert len(watch.page_requests()) == 3


def test_check_connection_reset_every_attempt_is_error(watch: Watch) -> None:
    watch.serve(Reply(action="reset"))

    result = watch.check()

    assert_failed_check(watch, result, f"GET {watch.url}: connection reset after 3 attempts")


def test_check_truncated_body_is_error(watch: Watch) -> None:
    cut = PAGE_A[:40_000]
    watch.serve(Reply(200, cut, {**HTML, "Content-Length": str(len(PAGE_A))}, action="truncate"))

    result = watch.check()

    assert_failed_check(
        watch,
        result,
        f"GET {watch.url}: body cut short: 40000 of {len(PAGE_A)} bytes after 3 attempts",
        status=200,
    )


def test_check_oversize_body_is_error_naming_max_bytes(make_watch: Callable[..., Watch]) -> None:
    watch = make_watch(fetch={"max_bytes": 1000})
    watch.serve(ok(PAGE_A))

    result = watch.check()

    assert_failed_check(
        watch,
        result,
        f"GET {watch.url}: response larger than 1000 bytes (max_bytes in [fetch])",
        status=200,
        attempts=1,
    )
    assert len(watch.page_requests()) == 1  # not worth a retry


def test_check_oversize_chunked_body_is_error(make_watch: Callable[..., Watch]) -> None:
    watch = make_watch(fetch={"max_bytes": 1000})
    watch.serve(Reply(200, headers=HTML, chunks=(PAGE_A[:800], PAGE_A[800:1600])))

    result = watch.check()

    assert_failed_check(
        watch,
        result,
        f"GET {watch.url}: response larger than 1000 bytes (max_bytes in [fetch])",
        status=200,
        attempts=1,
    )


def test_check_refuses_a_redirect_to_another_host(watch: Watch) -> None:
    elsewhere = watch.server.url(PATH, host="localhost")
    watch.serve(Reply(302, b"", {"Location": elsewhere}))

    result = watch.check()

    assert result.code == 3
    message = (
        f"GET {watch.url}: redirect to another host ({elsewhere}) refused; "
        "set allow_other_hosts = true in [fetch] to follow it"
    )
    assert result.err == f"imdi-watch: error: oppmoding: {message}\n"
    assert watch.fetches() == [error_row(1, message, status=302, attempts=1, url=watch.url)]
    assert watch.revisions() == []


def test_check_a_failure_after_a_revision_keeps_the_revision(watch: Watch) -> None:
    watch.serve(ok(PAGE_A))
    watch.check()
    watch.serve(Reply(503, b"down"))

    result = watch.check()

    assert result.code == 3
    assert watch.fetches()[1] == error_row(
        2,
        f"GET {watch.url}: HTTP 503 Service Unavailable after 3 attempts",
        status=503,
        url=watch.url,
    )
    assert watch.figure_counts() == [(1, 356)]
    seen = watch.seen()
    assert seen[0][0] == seen[0][1]  # an error is not a sighting


def test_check_not_html_is_an_error_fetch(watch: Watch) -> None:
    watch.serve(Reply(200, b'{"not": "html"}', {"Content-Type": "application/json"}))

    result = watch.check()

    assert result.code == 3
    message = f"{watch.url}: not an HTML page: no HTML tags in the input"
    assert result.err == f"imdi-watch: error: oppmoding: {message}\n"
    assert watch.fetches() == [(1, 1, "error", 200, 15, 1, None, None, watch.url, message, None)]
    assert watch.revisions() == []


# --- a broken page is kept, and the report says so first ------------------------------------


def test_check_page_without_table_is_stored_and_reported_as_broken(watch: Watch) -> None:
    watch.serve(ok(PAGE_A))
    watch.check()
    watch.serve(ok(PAGE_BROKEN))

    result = watch.check("--exit-code")

    assert (result.code, result.err) == (1, "")
    status_line, first_report_line, *rest = result.out.splitlines()
    assert status_line.startswith("oppmoding: new-revision (HTTP 200, ")
    assert first_report_line == (
        "WARNING: the new revision looks broken or redesigned (the table is gone) — "
        "not reporting 356 municipalities as removed."
    )
    assert "Bergen" not in result.out and "removed" not in "\n".join(rest)
    assert watch.revisions()[1] == (
        2, 1, fingerprint(PAGE_BROKEN), sha256(PAGE_BROKEN), "2021-11-26", 0, 0
    )  # fmt: skip
    assert watch.figure_counts() == [(1, 356), (2, 0)]
    assert watch.query("SELECT count(*) FROM changes WHERE kind = 'row-removed'") == [(0,)]
    assert (watch.snapshots / f"{sha256(PAGE_BROKEN)}.html.gz").is_file()


# --- output options ----------------------------------------------------------------------------


def test_check_exit_code_is_1_on_new_revision_and_0_on_unchanged(watch: Watch) -> None:
    watch.serve(ok(PAGE_A))

    assert watch.check("--exit-code", "--quiet").code == 1
    assert watch.check("--exit-code", "--quiet").code == 0
    watch.serve(ok(PAGE_REVISED))
    assert watch.check("--exit-code", "--quiet").code == 1


def test_check_without_exit_code_flag_is_0_on_new_revision(watch: Watch) -> None:
    watch.serve(ok(PAGE_A))

    assert watch.check("--quiet").code == 0


def test_check_quiet_prints_nothing_on_success(watch: Watch) -> None:
    watch.serve(ok(PAGE_A))

    assert watch.check("--quiet") == CliResult(0, "", "")
    watch.serve(ok(PAGE_REVISED))
    assert watch.check("-q") == CliResult(0, "", "")


def test_check_quiet_still_reports_an_error(watch: Watch) -> None:
    watch.serve(Reply(404, b"gone"))

    result = watch.check("--quiet")

    assert result.code == 3
    assert result.out == ""
    assert result.err == f"imdi-watch: error: oppmoding: GET {watch.url}: HTTP 404 Not Found\n"
    # the status is stored too, and shown by `log`
    assert watch.fetches() == [
        error_row(1, f"GET {watch.url}: HTTP 404 Not Found", status=404, attempts=1, url=watch.url)
    ]
    assert " 404 " in run_cli("--config", str(watch.config), "log").out


def test_check_json_shape(watch: Watch) -> None:
    watch.serve(ok(PAGE_A, ETag='"v1"'))
    first = json.loads(watch.check("--json").out)
    watch.serve(ok(PAGE_REVISED))

    second = json.loads(watch.check("--json").out)

    keys = ["page", "url", "outcome", "fetched_at", "status", "bytes", "elapsed_ms", "revision",
            "previous_revision", "updated", "changes", "broken", "warnings", "error"]  # fmt: skip
    assert isinstance(first, list) and len(first) == 1
    assert list(first[0]) == keys
    assert isinstance(first[0]["elapsed_ms"], int)
    assert TIMESTAMP.match(first[0]["fetched_at"])
    stable = {k: v for k, v in second[0].items() if k not in ("elapsed_ms", "fetched_at")}
    assert stable == {
        "page": "oppmoding",
        "url": watch.url,
        "outcome": "new-revision",
        "status": 200,
        "bytes": len(PAGE_REVISED),
        "revision": 2,
        "previous_revision": 1,
        "updated": "2021-11-19",
        "changes": 20,
        "broken": None,
        "warnings": [  # the one warning shape, as in parse --json and log --json
            {
                "code": "missing-name",
                "message": "row 144 (Rogaland) has figures but no municipality name",
                "row": 144,
                "county": "Rogaland",
            }
        ],
        "error": None,
    }


def test_check_json_of_an_error(watch: Watch) -> None:
    watch.serve(Reply(404, b"gone"))

    result = watch.check("--json")

    assert result.code == 3
    (entry,) = json.loads(result.out)
    assert (entry["outcome"], entry["status"], entry["revision"]) == ("error", 404, None)
    assert entry["error"] == f"GET {watch.url}: HTTP 404 Not Found"


# --- robots.txt --------------------------------------------------------------------------------


def test_check_disallowed_by_robots_txt_is_an_error_fetch(watch: Watch) -> None:
    watch.server.route("/robots.txt", Reply(200, b"User-agent: *\nDisallow: /oppmoding\n"))
    watch.serve(ok(PAGE_A))

    result = watch.check()

    origin = watch.server.url("").rstrip("/")
    message = (
        f"GET {watch.url}: disallowed by {origin}/robots.txt for imdi-watch; "
        "set ignore_robots = true in [fetch] only if you have permission"
    )
    assert_failed_check(watch, result, message, attempts=None)
    assert watch.page_requests() == []  # the page itself was never asked for


def test_check_ignore_robots_fetches_anyway_with_a_warning(
    make_watch: Callable[..., Watch],
) -> None:
    watch = make_watch(fetch={"ignore_robots": True})
    watch.server.route("/robots.txt", Reply(200, b"User-agent: *\nDisallow: /\n"))
    watch.serve(ok(PAGE_A))

    result = watch.check("--quiet")

    assert result.code == 0
    assert "robots.txt not consulted (ignore_robots = true in [fetch])" in result.err
    assert result.err.count("\n") == 1
    assert watch.server.requests_for("/robots.txt") == []
    assert watch.fetches() == [new_revision_row(watch, 1, PAGE_A, 1)]


def test_check_robots_txt_allowing_the_path_is_asked_once_a_day(watch: Watch) -> None:
    watch.server.route("/robots.txt", Reply(200, b"User-agent: *\nDisallow: /private\n"))
    watch.serve(ok(PAGE_A))

    assert watch.check().code == 0
    assert watch.check().code == 0

    assert len(watch.server.requests_for("/robots.txt")) == 1  # cached in the store
    assert [row[2] for row in watch.fetches()] == ["new-revision", "unchanged"]


def test_check_follows_a_redirect_on_the_same_host(watch: Watch) -> None:
    watch.serve(Reply(301, b"", {"Location": "/ny-adresse"}))
    watch.server.route("/ny-adresse", ok(PAGE_A))

    result = watch.check()

    assert (result.code, result.err) == (0, "")
    assert watch.fetches() == [
        (1, 1, "new-revision", 200, len(PAGE_A), 1, None, None,
         watch.server.url("/ny-adresse"), None, 1)
    ]  # fmt: skip


def test_check_a_page_changed_back_is_a_new_revision_sharing_the_snapshot(watch: Watch) -> None:
    for body in (PAGE_A, PAGE_REVISED, PAGE_A):
        watch.serve(ok(body))
        assert watch.check("--quiet", "--exit-code").code == 1

    assert [row[3] for row in watch.revisions()] == [
        sha256(PAGE_A),
        sha256(PAGE_REVISED),
        sha256(PAGE_A),
    ]
    assert watch.figure_counts() == [(1, 356), (2, 356), (3, 356)]
    assert len(watch.snapshot_files()) == 4  # A's body is kept once
    meta = json.loads((watch.snapshots / f"{sha256(PAGE_A)}.json").read_text(encoding="utf-8"))
    assert meta["new_revision_at"] == [watch.fetched_at()[0], watch.fetched_at()[2]]
