"""One check of one page: fetch → snapshot → parse → diff → save, as a single stored outcome.

The outcome decides what is written: a new revision only when the parsed content's fingerprint
differs from the page's latest revision; anything that goes wrong is an `error` fetch and never
touches stored revisions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scraper.config import FetchSettings, Target
from scraper.errors import FetchError, ParseError
from scraper.models import Change, FetchResult, Outcome, Page

if TYPE_CHECKING:
    import httpx

    from scraper.store import RevisionRecord, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one check of one page found and stored."""

    target: Target
    outcome: Outcome
    fetched_at: str
    fetch_id: int
    status: int | None = None
    error: str | None = None
    revision_id: int | None = None
    previous_revision_id: int | None = None
    page: Page | None = None
    previous_page: Page | None = None
    changes: tuple[Change, ...] = field(default_factory=tuple)
    broken: str | None = None  # why the new revision looks broken, if it does
    elapsed_ms: int | None = None
    bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "page": self.target.name,
            "url": self.target.url,
            "outcome": str(self.outcome),
            "fetched_at": self.fetched_at,
            "status": self.status,
            "bytes": self.bytes,
            "elapsed_ms": self.elapsed_ms,
            "revision": self.revision_id,
            "previous_revision": self.previous_revision_id,
            "updated": self.page.updated if self.page else None,
            "changes": len(self.changes),
            "broken": self.broken,
            "warnings": [w.code for w in self.page.warnings] if self.page else [],
            "error": self.error,
        }


def iso_utc(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds, the one timestamp format in the store."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def check_page(
    target: Target,
    *,
    client: httpx.Client,
    store: Store,
    settings: FetchSettings,
    now: datetime,
) -> CheckResult:
    """Fetch the page once (conditionally) and store the outcome. Never raises for fetch/parse."""
    from scraper.fetch import fetch_page

    record = store.ensure_page(target.name, target.url)
    fetched_at = iso_utc(now)
    try:
        _check_robots(target, client=client, store=store, settings=settings, now=now)
        # Validators come only from accepted 200/304 fetches, which imply a stored revision:
        # no need to read the latest revision here too (ingest_body reads it once).
        etag, last_modified = store.last_validators(record.id)
        result = fetch_page(
            target.url, client=client, settings=settings, etag=etag, last_modified=last_modified
        )
    except FetchError as exc:
        log.info("%s: %s", target.name, exc)  # the caller reports it; here only for -v logs
        stored = store.record_check(
            record.id, fetched_at=fetched_at, outcome=Outcome.ERROR, fetch=None, error=str(exc)
        )
        return CheckResult(
            target, Outcome.ERROR, fetched_at, stored.fetch_id, status=exc.status, error=str(exc)
        )
    return ingest_body(target, result, store=store, fetched_at=fetched_at, page_id=record.id)


def _check_robots(
    target: Target, *, client: httpx.Client, store: Store, settings: FetchSettings, now: datetime
) -> None:
    from scraper.fetch import RobotsRecord, check_robots

    if settings.ignore_robots:
        log.warning("%s: robots.txt not consulted (ignore_robots = true in [fetch])", target.name)
        return
    parts = urlsplit(target.url)
    origin = f"{parts.scheme}://{parts.netloc}"
    cached_row = store.load_robots(origin)
    cached = RobotsRecord(**cached_row) if cached_row else None
    allowed, fresh = check_robots(
        target.url, client=client, settings=settings, cached=cached, now=now
    )
    if fresh != cached:
        store.save_robots(fresh.origin, fresh.fetched_at, fresh.status, fresh.text)
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
) -> CheckResult:
    """Store one response: not-modified, unchanged (same fingerprint) or a new revision."""
    if page_id is None:
        page_id = store.ensure_page(target.name, target.url).id
    base = {"status": result.status, "elapsed_ms": result.elapsed_ms}
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
            **base,
        )
    base["bytes"] = len(result.body)
    from scraper.parse import parse_page

    try:
        page = parse_page(result.body, encoding=result.encoding)
    except ParseError as exc:
        message = f"{result.final_url}: {exc}"
        log.info("%s: %s", target.name, message)
        stored = store.record_check(
            page_id, fetched_at=fetched_at, outcome=Outcome.ERROR, fetch=result, error=message
        )
        return CheckResult(
            target, Outcome.ERROR, fetched_at, stored.fetch_id, error=message, **base
        )
    latest = store.latest_revision(page_id)
    if latest is not None and latest.fingerprint == page.fingerprint:
        stored = store.record_check(
            page_id, fetched_at=fetched_at, outcome=Outcome.UNCHANGED, fetch=result
        )
        return CheckResult(
            target, Outcome.UNCHANGED, fetched_at, stored.fetch_id, revision_id=latest.id, **base
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
        **base,
    )


def _baseline(
    store: Store, page_id: int, latest: RevisionRecord | None, page: Page
) -> RevisionRecord | None:
    """What a new revision is compared with: the latest, unless the latest lost the table that
    this one has again — then the last revision with a table, so a page that comes back after
    a broken spell is not reported as 356 municipalities added."""
    if latest is None or latest.has_table or not page.has_table:
        return latest
    return next((r for r in store.revisions(page_id) if r.has_table), latest)


def capture_result(body: bytes, *, url: str, headers: dict[str, str] | None = None) -> FetchResult:
    """A saved capture (a file, an archive copy) dressed as the 200 response it once was."""
    return FetchResult(
        url=url, final_url=url, status=200, body=body, headers=headers or {}, elapsed_ms=0
    )


def reparse_store(store: Store) -> dict[str, int]:
    """Re-read every snapshot with the current parser; rebuild figures, text and changes."""
    from scraper.diff import diff_pages
    from scraper.parse import PARSER_VERSION, parse_page

    revisions = store.revisions()
    changed = store.reparse(parse_page, parser_version=PARSER_VERSION, diff=diff_pages)
    return {"revisions": len(revisions), "changed": len(changed)}
