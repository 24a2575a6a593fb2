"""One check of one page: fetch → snapshot → parse → diff → save, as a single stored outcome.

The outcome decides what is written: a new revision only when the parsed content's fingerprint
differs from the page's latest revision; anything that goes wrong is an `error` fetch and never
touches stored revisions.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from scraper.config import FetchSettings
from scraper.errors import FetchError, InputError, ParseError, StoreError
from scraper.models import Change, CheckResult, FetchResult, Outcome, Page, Target

if TYPE_CHECKING:
    import httpx

    from scraper.fetch import RobotsRecord
    from scraper.models import RevisionRecord
    from scraper.store import RebuildSummary, Store

log = logging.getLogger(__name__)

PER_HOST = 2  # fetches in flight to one host at a time, whatever [fetch].concurrency says
M = TypeVar("M")


def iso_utc(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, the one timestamp format in the store."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def check_all(
    targets: Sequence[Target],
    *,
    store: Store,
    settings: FetchSettings,
    now: Callable[[], datetime],
    lock_wait_s: float,
    clients: Callable[[], AbstractContextManager[httpx.Client]] | None = None,
    plan: Callable[[list[CheckResult]], Sequence[M]] | None = None,
    send: Callable[[Sequence[M]], None] | None = None,
) -> list[CheckResult]:
    """One check of every page, as `check`, `run` and `demo` do it: take the store's lock, fetch
    the pages (up to `settings.concurrency` at once, at most PER_HOST per host), store each
    outcome in config order, `plan` the notifications the results call for, release the lock,
    then `send` them (sending may be slow; nobody should wait for it).

    Whatever goes wrong with one page (a fetch, a parse, a bug) is that page's `error` fetch; the
    other pages are still checked. Only LockBusy and a store that cannot be written escape.
    `clients` opens the HTTP client for this check (default: a new one from `settings`, made
    only if some page needs it); `now` gives each page's fetch time.
    """
    with store.lock(lock_wait_s):
        results = _check_pages(targets, store=store, settings=settings, now=now, clients=clients)
        messages = plan(results) if plan is not None else ()
    if messages and send is not None:
        send(messages)
    return results


class _Job:
    """One page of a check: what the store says before the fetch, then what the fetch brought.

    A plain class: a dataclass costs ~0.3 ms to create at import, on every cron start-up.
    """

    __slots__ = ("attempts", "error", "etag", "fetched_at", "last_modified", "page_id", "result",
                 "robots", "status", "target")  # fmt: skip

    def __init__(
        self, target: Target, page_id: int, etag: str | None, last_modified: str | None
    ) -> None:
        self.target = target
        self.page_id = page_id
        self.etag = etag
        self.last_modified = last_modified
        self.fetched_at = ""
        self.result: FetchResult | None = None
        self.error: str | None = None
        self.status: int | None = None
        self.attempts: int | None = None
        self.robots: RobotsRecord | None = None  # the origin's robots.txt after this page


def _check_pages(
    targets: Sequence[Target],
    *,
    store: Store,
    settings: FetchSettings,
    now: Callable[[], datetime],
    clients: Callable[[], AbstractContextManager[httpx.Client]] | None,
) -> list[CheckResult]:
    from scraper.fetch import RobotsRecord, make_client

    jobs = []
    for target in targets:
        record = store.ensure_page(target.name, target.url)
        etag, last_modified = store.last_validators(record.id)
        jobs.append(_Job(target, record.id, etag, last_modified))
    robots: dict[str, RobotsRecord | None] = {}
    if not settings.ignore_robots:
        for origin in dict.fromkeys(_origin(t.url) for t in targets):
            row = store.load_robots(origin)
            robots[origin] = RobotsRecord(**row) if row else None
    saved = dict(robots)
    opened = clients() if clients is not None else make_client(settings)
    results: list[CheckResult] = []
    with opened as client:
        fetcher = _Fetcher(client=client, settings=settings, now=now, robots=robots)
        # closing: a store failure stops the fetch threads before the client closes
        with closing(fetcher.run(jobs, concurrency=settings.concurrency)) as fetched:
            for job in fetched:
                origin = _origin(job.target.url)
                if job.robots is not None and job.robots != saved.get(origin):
                    fresh = job.robots
                    store.save_robots(fresh.origin, fresh.fetched_at, fresh.status, fresh.text)
                    saved[origin] = fresh
                results.append(_store_job(job, store=store))
    return results


def _store_job(job: _Job, *, store: Store) -> CheckResult:
    """The stored outcome of one fetched page; any exception becomes its error fetch."""
    target = job.target
    if job.result is not None:
        try:
            return _same_bytes(job, store=store) or ingest_body(
                target, job.result, store=store, fetched_at=job.fetched_at, page_id=job.page_id
            )
        except StoreError:
            raise
        except Exception as exc:  # a bug or a page we cannot handle: this page's error, not all
            job.error = _unexpected(target, exc)
    message = job.error or f"{target.url}: no response"
    stored = store.record_check(
        job.page_id, fetched_at=job.fetched_at, outcome=Outcome.ERROR, fetch=job.result,
        error=message, status=job.status, attempts=job.attempts,
    )  # fmt: skip
    status = job.result.status if job.result is not None else job.status
    return CheckResult(
        target, Outcome.ERROR, job.fetched_at, stored.fetch_id, status=status, error=message
    )


def _same_bytes(job: _Job, *, store: Store) -> CheckResult | None:
    """`unchanged`, without parsing, when the body is byte for byte the latest revision's snapshot
    (the same bytes are the same page); None when it is not, and the body must be read.

    The parser version is not compared on purpose: a page that did not change is not reported
    as changed because the parser did (`reparse` re-reads stored revisions after an upgrade).
    """
    result = job.result
    if result is None or result.body is None or result.not_modified:
        return None
    latest = store.latest_revision(job.page_id)
    if latest is None or latest.snapshot != hashlib.sha256(result.body).hexdigest():
        return None
    stored = store.record_check(
        job.page_id, fetched_at=job.fetched_at, outcome=Outcome.UNCHANGED, fetch=result
    )
    return CheckResult(
        job.target, Outcome.UNCHANGED, job.fetched_at, stored.fetch_id, status=result.status,
        elapsed_ms=result.elapsed_ms, bytes=len(result.body), revision_id=latest.id,
    )  # fmt: skip


def _unexpected(target: Target, exc: BaseException) -> str:
    """One line for an exception nobody expected, naming the page; the traceback goes to --debug."""
    log.debug("%s: unexpected failure", target.name, exc_info=exc)
    detail = " ".join(str(exc).split())
    if len(detail) > 200:
        detail = detail[:199] + "…"
    return f"{target.url}: internal error: {type(exc).__name__}" + (f": {detail}" if detail else "")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


class _Fetcher:
    """Fetches jobs on a few threads and hands them back in the order given, each as soon as it
    and all before it are done, so the caller writes the store in one thread, in config order.

    A job is started only when its host has fewer than PER_HOST fetches in flight; a thread never
    waits for a busy host while another host's job is pending. robots.txt is asked once per
    origin per check (the first page of an origin asks, the others wait for its answer).
    """

    def __init__(
        self,
        *,
        client: httpx.Client,
        settings: FetchSettings,
        now: Callable[[], datetime],
        robots: dict[str, RobotsRecord | None],
    ) -> None:
        self.client = client
        self.settings = settings
        self.now = now
        self.robots = robots
        self._robots_locks = {origin: threading.Lock() for origin in robots}
        self._cond = threading.Condition()
        self._pending: list[int] = []
        self._busy: dict[str, int] = {}
        self._done: dict[int, _Job] = {}

    def run(self, jobs: list[_Job], *, concurrency: int) -> Generator[_Job, None, None]:
        workers = min(max(1, concurrency), len(jobs))
        if workers <= 1:  # one page (the usual cron check) or one at a time: no threads
            for job in jobs:
                self._fetch(job)
                yield job
            return
        self._pending = list(range(len(jobs)))
        threads = [
            threading.Thread(target=self._work, args=(jobs,), name=f"imdi-watch-fetch-{n}")
            for n in range(workers)
        ]
        for thread in threads:
            thread.daemon = True
            thread.start()
        try:
            for index in range(len(jobs)):
                yield self._wait_done(index)
        finally:
            with self._cond:
                self._pending.clear()  # an early exit (a store failure) starts nothing new
            for thread in threads:
                thread.join()

    def _wait_done(self, index: int) -> _Job:
        with self._cond:
            self._cond.wait_for(lambda: index in self._done)
            return self._done.pop(index)

    def _work(self, jobs: list[_Job]) -> None:
        while (index := self._take(jobs)) is not None:
            job = jobs[index]
            try:
                self._fetch(job)
            finally:
                with self._cond:
                    self._busy[_host(job.target.url)] -= 1
                    self._done[index] = job
                    self._cond.notify_all()

    def _take(self, jobs: list[_Job]) -> int | None:
        with self._cond:
            while self._pending:
                for position, index in enumerate(self._pending):
                    host = _host(jobs[index].target.url)
                    if self._busy.get(host, 0) < PER_HOST:
                        self._busy[host] = self._busy.get(host, 0) + 1
                        del self._pending[position]
                        return index
                self._cond.wait()
            return None

    def _fetch(self, job: _Job) -> None:
        """Fetch one page into `job`; never raises (but for KeyboardInterrupt and the like)."""
        from scraper.fetch import fetch_page

        target = job.target
        job.fetched_at = iso_utc(self.now())
        try:
            self._check_robots(job)
            job.result = fetch_page(
                target.url,
                client=self.client,
                settings=self.settings,
                etag=job.etag,
                last_modified=job.last_modified,
            )
        except FetchError as exc:
            log.info("%s: %s", target.name, exc)  # the caller reports it; here only for -v logs
            job.error, job.status, job.attempts = str(exc), exc.status, exc.attempts
        except Exception as exc:  # a bug, or a header no client can send: this page only
            job.error = _unexpected(target, exc)

    def _check_robots(self, job: _Job) -> None:
        from scraper.fetch import check_robots

        target = job.target
        if self.settings.ignore_robots:
            log.warning(
                "%s: robots.txt not consulted (ignore_robots = true in [fetch])", target.name
            )
            return
        origin = _origin(target.url)
        with self._robots_locks[origin]:
            allowed, fresh = check_robots(
                target.url,
                client=self.client,
                settings=self.settings,
                cached=self.robots[origin],
                now=self.now(),
            )
            self.robots[origin] = job.robots = fresh
        if not allowed:
            raise FetchError(
                f"GET {target.url}: disallowed by {origin}/robots.txt for imdi-watch; "
                "set ignore_robots = true in [fetch] only if you have permission",
                url=target.url,
            )


def ingest_body(
    target: Target,
    result: FetchResult,
    *,
    store: Store,
    fetched_at: str,
    page_id: int | None = None,
    page: Page | None = None,
) -> CheckResult:
    """Store one response: not-modified, unchanged (same fingerprint) or a new revision.
    `page` is the body already parsed, when the caller had to parse it (rebuild)."""
    if page_id is None:
        page_id = store.ensure_page(target.name, target.url).id
    if result.not_modified or result.body is None:
        stored = store.record_check(
            page_id, fetched_at=fetched_at, outcome=Outcome.NOT_MODIFIED, fetch=result
        )
        latest = store.latest_revision(page_id)
        return CheckResult(
            target,
            Outcome.NOT_MODIFIED,
            fetched_at,
            stored.fetch_id,
            revision_id=latest.id if latest else None,
            status=result.status,
            elapsed_ms=result.elapsed_ms,
        )
    size = len(result.body)
    try:
        if page is None:
            from scraper.parse import parse_page

            page = parse_page(result.body, encoding=result.encoding)
    except ParseError as exc:
        message = f"{result.final_url}: {exc}"
        log.info("%s: %s", target.name, message)
        stored = store.record_check(
            page_id, fetched_at=fetched_at, outcome=Outcome.ERROR, fetch=result, error=message
        )
        return CheckResult(
            target,
            Outcome.ERROR,
            fetched_at,
            stored.fetch_id,
            error=message,
            status=result.status,
            elapsed_ms=result.elapsed_ms,
            bytes=size,
        )
    latest = store.latest_revision(page_id)
    if latest is not None and latest.fingerprint == page.fingerprint:
        stored = store.record_check(
            page_id, fetched_at=fetched_at, outcome=Outcome.UNCHANGED, fetch=result
        )
        return CheckResult(
            target,
            Outcome.UNCHANGED,
            fetched_at,
            stored.fetch_id,
            revision_id=latest.id,
            status=result.status,
            elapsed_ms=result.elapsed_ms,
            bytes=size,
        )
    from scraper.diff import diff_pages, is_broken
    from scraper.parse import PARSER_VERSION
    from scraper.store import build_snapshot_meta

    baseline = _baseline(store, page_id, latest, page)
    previous = store.load_page(baseline.id) if baseline is not None else None
    changes: Sequence[Change] = diff_pages(previous, page) if previous is not None else ()
    broken = is_broken(previous, page) if previous is not None else None
    snapshot = store.write_snapshot(
        result.body, build_snapshot_meta(result, fetched_at=fetched_at, page=target.name)
    )
    stored = store.record_check(
        page_id,
        fetched_at=fetched_at,
        outcome=Outcome.NEW_REVISION,
        fetch=result,
        page=page,
        snapshot=snapshot,
        changes=changes,
        parser_version=PARSER_VERSION,
        compared_with=baseline.id if baseline is not None else None,
    )
    log.info("%s: new revision %s (%d changes)", target.name, stored.revision_id, len(changes))
    return CheckResult(
        target,
        Outcome.NEW_REVISION,
        fetched_at,
        stored.fetch_id,
        revision_id=stored.revision_id,
        previous_revision_id=stored.previous_revision_id,
        page=page,
        previous_page=previous,
        changes=tuple(changes),
        broken=broken,
        status=result.status,
        elapsed_ms=result.elapsed_ms,
        bytes=size,
    )


def pick_baseline(earlier: Iterable[M], *, table: bool, has_table: Callable[[M], bool]) -> M | None:
    """What a new revision is compared with (the one rule, for check, ingest, backfill, reparse
    and rebuild): the latest of `earlier` (newest first), unless the latest lost the table that
    this one (`table`: it has one) has again — then the last revision with a table, so a page
    that comes back after a broken spell is not reported as 356 municipalities added."""
    revisions = iter(earlier)
    latest = next(revisions, None)
    if latest is None or has_table(latest) or not table:
        return latest
    return next((r for r in revisions if has_table(r)), latest)


def _baseline(
    store: Store, page_id: int, latest: RevisionRecord | None, page: Page
) -> RevisionRecord | None:
    def earlier() -> Iterator[RevisionRecord]:
        if latest is not None:
            yield latest
            yield from store.revisions(page_id)[1:]  # read only when the latest has no table

    return pick_baseline(earlier(), table=page.has_table, has_table=lambda r: r.has_table)


def baseline_of(store: Store, revision: RevisionRecord) -> RevisionRecord | None:
    """The revision a stored one was (or would be) compared with, by `pick_baseline`."""
    earlier = [r for r in store.revisions(revision.page_id) if r.id < revision.id]
    return pick_baseline(earlier, table=revision.has_table, has_table=lambda r: r.has_table)


@dataclass(frozen=True, slots=True)
class Capture:
    """A saved body (a file) and when it was fetched, to be ingested as a check of a page."""

    name: str
    body: bytes
    fetched_at: str


def plan_ingest(target: Target, captures: Sequence[Capture], *, store: Store) -> list[Capture]:
    """The captures to ingest, oldest first, by the rule backfill keeps too: history only grows
    forward. A capture at the time of a stored check is the same capture again, left out; one
    older than the page's latest check is refused (InputError naming it) unless the page has no
    checks yet. Nothing is written."""
    page_id = store.ensure_page(target.name, target.url).id
    latest = store.fetches(limit=1, page_id=page_id)
    latest_at = latest[0].fetched_at if latest else None
    planned: list[Capture] = []
    for capture in sorted(captures, key=lambda c: c.fetched_at):
        twin = next((c for c in planned if c.fetched_at == capture.fetched_at), None)
        if twin is not None and twin.body != capture.body:
            raise InputError(
                f"{capture.name} and {twin.name}: two different captures fetched at "
                f"{capture.fetched_at}; give each its own --fetched-at"
            )
        if twin is not None or store.fetch_at(page_id, capture.fetched_at) is not None:
            continue  # the same capture again
        if latest_at is not None and capture.fetched_at < latest_at:
            raise InputError(
                f"{capture.name}: fetched at {capture.fetched_at}, before the latest check of "
                f"{target.url} ({latest_at}); history only grows forward: ingest older "
                "captures into a new store, before `check`"
            )
        planned.append(capture)
    return planned


def capture_result(body: bytes, *, url: str, headers: dict[str, str] | None = None) -> FetchResult:
    """A saved capture (a file, an archive copy) dressed as the 200 response it once was."""
    return FetchResult(
        url=url, final_url=url, status=200, body=body, headers=headers or {}, elapsed_ms=0
    )


def reparse_store(store: Store) -> dict[str, int]:
    """Re-read every snapshot with the current parser and recompute each revision's changes by
    the live rule (`pick_baseline`, `diff_pages`); one transaction for the whole store."""
    from scraper.diff import diff_pages
    from scraper.parse import PARSER_VERSION, parse_page
    from scraper.store import Reparsed

    reparsed: list[Reparsed] = []
    for record in store.pages():
        done: list[tuple[int, Page]] = []  # newest first
        for revision in reversed(store.revisions(record.id)):
            result = store.snapshot_result(revision.snapshot)
            assert result.body is not None
            page = parse_page(result.body, encoding=result.encoding)
            base = pick_baseline(done, table=page.has_table, has_table=lambda d: d[1].has_table)
            changes = diff_pages(base[1], page) if base is not None else ()
            reparsed.append(Reparsed(revision.id, page, changes, base[0] if base else None))
            done.insert(0, (revision.id, page))
    changed = store.replace_contents(reparsed, parser_version=PARSER_VERSION)
    return {"revisions": len(reparsed), "changed": len(changed)}


def rebuild_store(db_path: Path, snapshots_dir: Path) -> RebuildSummary:
    """A new database at `db_path` from snapshots/ alone: every time a body made a new revision
    is checked again, in time order, through `ingest_body` — the live path, so a rebuilt store
    holds the same revisions and changes. What snapshots cannot tell is lost: unchanged, 304
    and failed checks, and `last_seen`. Unreadable snapshots are skipped and listed."""
    from scraper.parse import parse_page
    from scraper.store import RebuildSummary, building_store, snapshot_events

    events, skipped = snapshot_events(snapshots_dir)
    bad = set(skipped)
    read: set[str] = set()
    revisions = 0
    with building_store(db_path, snapshots_dir) as store:
        for fetched_at, sha in events:
            if sha in bad:
                continue
            try:
                meta = store.snapshot_meta(sha)
                result = store.snapshot_result(sha, meta)
                assert result.body is not None
                page = parse_page(result.body, encoding=result.encoding)  # never a revision: skip
            except (StoreError, ParseError) as exc:  # one bad snapshot must not stop the rebuild
                log.warning("snapshot %s skipped: %s", sha, exc)
                bad.add(sha)
                continue
            read.add(sha)
            target = Target(meta.get("page") or result.url, result.url)
            checked = ingest_body(target, result, store=store, fetched_at=fetched_at, page=page)
            if checked.outcome is Outcome.NEW_REVISION:  # parsed already: never an error here
                revisions += 1
    return RebuildSummary(snapshots=len(read), revisions=revisions, skipped=tuple(sorted(bad)))
