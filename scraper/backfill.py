"""`imdi-watch backfill --wayback`: the page's past from the Internet Archive. Its captures are listed
through the CDX API and ingested oldest first, each as a check at its capture time, so revisions,
changes and first/last seen come out as if the page had been watched live.

The store is the only state: a capture whose time is already a fetch of the page is skipped, so a
second run adds nothing and an interrupted run continues where it stopped. A history only grows
forward: a capture older than the page's latest stored fetch is skipped, never inserted before it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from scraper.config import FetchSettings
from scraper.errors import FetchError
from scraper.models import CheckResult, FetchResult, Outcome, Target
from scraper.pipeline import ingest_body, iso_utc

if TYPE_CHECKING:
    import httpx

    from scraper.store import Store

log = logging.getLogger(__name__)

DEFAULT_ARCHIVE_URL = "https://web.archive.org"
CDX_FIELDS = ("timestamp", "original", "statuscode", "digest", "mimetype")
_TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
# response headers kept with a capture: the archive's own validators are not IMDi's
_KEPT_HEADERS = ("content-type",)


@dataclass(frozen=True, slots=True)
class Capture:
    """One capture in the archive: `timestamp` is YYYYMMDDhhmmss in UTC, `original` the URL."""

    timestamp: str
    original: str
    digest: str = ""
    mimetype: str | None = None

    @property
    def moment(self) -> datetime:
        return datetime.strptime(self.timestamp, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)

    @property
    def fetched_at(self) -> str:
        return iso_utc(self.moment)

    def raw_url(self, archive_url: str) -> str:
        """The capture's bytes as they were served, without the archive's toolbar (`id_`)."""
        return f"{archive_url.rstrip('/')}/web/{self.timestamp}id_/{self.original}"


class Status(StrEnum):
    """What a backfill did with one capture."""

    PENDING = "pending"  # to be fetched (only inside a run)
    INGESTED = "ingested"  # fetched and stored as a check
    ALREADY_STORED = "already-stored"  # a fetch of the page at this time exists
    DUPLICATE = "duplicate"  # same digest (or time) as the capture before it
    TOO_EARLY = "too-early"  # older than the page's latest stored fetch
    FAILED = "failed"  # the archive did not serve it; not stored
    LEFT = "left"  # not reached: --limit


@dataclass(frozen=True, slots=True)
class BackfillItem:
    capture: Capture
    status: Status
    result: CheckResult | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.capture.timestamp,
            "fetched_at": self.capture.fetched_at,
            "url": self.capture.original,
            "digest": self.capture.digest,
            "status": str(self.status),
            "outcome": str(self.result.outcome) if self.result else None,
            "revision": self.result.revision_id if self.result else None,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class BackfillSummary:
    """A run's items, oldest capture first; `latest` is the page's latest fetch before the run."""

    target: Target
    items: tuple[BackfillItem, ...]
    latest: str | None

    def count(self, status: Status) -> int:
        return sum(1 for item in self.items if item.status is status)

    def count_outcome(self, outcome: Outcome) -> int:
        return sum(1 for item in self.items if item.result and item.result.outcome is outcome)

    def summary_line(self) -> str:
        """One line, e.g. "12 captures: 10 ingested (3 new revisions), 1 already stored"."""
        ingested = f"{self.count(Status.INGESTED)} ingested"
        details = []
        if new := self.count_outcome(Outcome.NEW_REVISION):
            details.append(_plural(new, "new revision", "new revisions"))
        if unreadable := self.count_outcome(Outcome.ERROR):
            details.append(f"{unreadable} unreadable")
        parts = [f"{ingested} ({', '.join(details)})" if details else ingested]
        for status, label in (
            (Status.ALREADY_STORED, "already stored"),
            (Status.DUPLICATE, "duplicate of the capture before"),
            (Status.TOO_EARLY, "older than the store's latest fetch"),
            (Status.FAILED, "failed"),
            (Status.LEFT, "left for the next run"),
        ):
            if count := self.count(status):
                parts.append(f"{count} {label}")
        return f"{_plural(len(self.items), 'capture', 'captures')}: {', '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "page": self.target.name,
            "url": self.target.url,
            "captures": len(self.items),
            **{str(s).replace("-", "_"): self.count(s) for s in Status if s is not Status.PENDING},
            "new_revisions": self.count_outcome(Outcome.NEW_REVISION),
            "latest_before": self.latest,
            "items": [item.to_dict() for item in self.items],
        }


class Throttle:
    """At least `interval_s` between the starts of two requests to the archive."""

    def __init__(
        self,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            remaining = self._last + self.interval_s - self._clock()
            if remaining > 0:
                self._sleep(remaining)
        self._last = self._clock()


# --- listing ---------------------------------------------------------------------------------


def cdx_url(
    page_url: str, *, archive_url: str, since: date | None = None, until: date | None = None
) -> str:
    """The CDX query for the page's distinct 200 captures, `since`/`until` inclusive (UTC days)."""
    params = {
        "url": page_url,
        "output": "json",
        "fl": ",".join(CDX_FIELDS),
        "filter": "statuscode:200",
        "collapse": "digest",
    }
    if since is not None:
        params["from"] = since.strftime("%Y%m%d")
    if until is not None:
        params["to"] = until.strftime("%Y%m%d")
    return f"{archive_url.rstrip('/')}/cdx/search/cdx?{urlencode(params, safe=':/,')}"


def parse_cdx(
    body: bytes,
    *,
    url: str,
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
) -> list[Capture]:
    """The captures of a CDX JSON listing (a header row, then one row per capture), oldest first.

    Rows that are not 200 captures, or outside `since`..`until`, are left out (the archive filters
    too; this keeps a listing from a less careful server honest). A capture dated after `now` is
    left out with a warning: stored, it would come after every later check and block every later
    backfill. Raises FetchError when the body is not such a listing.
    """
    if not body.strip():
        return []  # the CDX API answers an empty body when nothing matches
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FetchError(f"{url}: not a CDX JSON listing ({exc})", url=url) from exc
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise FetchError(f"{url}: not a CDX JSON listing (expected an array of rows)", url=url)
    if not data:
        return []
    header = [str(name) for name in data[0]]
    missing = {"timestamp", "original"} - set(header)
    if missing:
        raise FetchError(
            f"{url}: CDX listing without {', '.join(sorted(missing))} in its header row", url=url
        )
    captures = []
    for row in data[1:]:
        fields = dict(zip(header, (str(cell) for cell in row), strict=False))
        if fields.get("statuscode", "200") != "200":
            continue
        timestamp = fields.get("timestamp", "")
        try:
            moment = datetime.strptime(timestamp, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            log.warning("%s: capture with a bad timestamp %r skipped", url, timestamp)
            continue
        if now is not None and moment > now:
            log.warning(
                "%s: capture %s is dated in the future (%s); skipped",
                url,
                timestamp,
                iso_utc(moment),
            )
            continue
        day = moment.date()
        if (since is not None and day < since) or (until is not None and day > until):
            continue
        captures.append(
            Capture(
                timestamp=timestamp,
                original=fields["original"],
                digest=fields.get("digest", ""),
                mimetype=fields.get("mimetype"),
            )
        )
    return sorted(captures, key=lambda c: c.timestamp)


def list_captures(
    page_url: str,
    *,
    client: httpx.Client,
    settings: FetchSettings,
    archive_url: str = DEFAULT_ARCHIVE_URL,
    since: date | None = None,
    until: date | None = None,
    throttle: Throttle | None = None,
    now: datetime | None = None,
) -> list[Capture]:
    """Ask the archive's CDX API for the page's captures (none dated after `now`, by default the
    time of asking). Raises FetchError if that fails."""
    from scraper.fetch import fetch_page

    url = cdx_url(page_url, archive_url=archive_url, since=since, until=until)
    if throttle is not None:
        throttle.wait()
    try:
        result = fetch_page(url, client=client, settings=settings)
    except FetchError as exc:
        raise FetchError(
            f"cannot list the archive's captures: {exc}", url=url, status=exc.status
        ) from exc
    return parse_cdx(
        result.body or b"", url=url, since=since, until=until, now=now or datetime.now(UTC)
    )


# --- ingesting -------------------------------------------------------------------------------


def plan_backfill(
    captures: Iterable[Capture], *, stored: Collection[datetime]
) -> list[BackfillItem]:
    """Decide, before any download, what each capture is: pending, or skipped and why.

    `stored` are the times of the page's fetches already in the store.
    """
    latest = max(stored, default=None)
    items = []
    previous: Capture | None = None
    for capture in sorted(captures, key=lambda c: c.timestamp):
        if previous is not None and (
            (capture.digest and capture.digest == previous.digest)
            or capture.timestamp == previous.timestamp
        ):
            status = Status.DUPLICATE
        elif capture.moment in stored:
            status = Status.ALREADY_STORED
        elif latest is not None and capture.moment < latest:
            status = Status.TOO_EARLY
        else:
            status = Status.PENDING
        items.append(BackfillItem(capture, status))
        previous = capture
    return items


def backfill_page(
    target: Target,
    captures: Sequence[Capture],
    *,
    client: httpx.Client,
    store: Store,
    settings: FetchSettings,
    archive_url: str = DEFAULT_ARCHIVE_URL,
    throttle: Throttle | None = None,
    limit: int | None = None,
    on_item: Callable[[BackfillItem], None] | None = None,
) -> BackfillSummary:
    """Fetch and ingest the pending captures, oldest first; the caller holds the store's lock.

    A capture the archive does not serve is reported (FAILED) and skipped. `limit` caps how many
    are fetched in this run; the rest are LEFT for the next. `on_item` sees every item once, in
    order, as it is settled.
    """
    page = store.ensure_page(target.name, target.url)
    stored = _stored_times(store, page.id)
    latest = max(stored, default=None)
    items = plan_backfill(captures, stored=stored)
    done: list[BackfillItem] = []
    fetched = 0
    for item in items:
        if item.status is Status.PENDING:
            if limit is not None and fetched >= limit:
                item = BackfillItem(item.capture, Status.LEFT)
            else:
                fetched += 1
                if throttle is not None:
                    throttle.wait()
                item = _ingest(
                    item.capture, target, page_id=page.id, archive_url=archive_url,
                    client=client, store=store, settings=settings,
                )  # fmt: skip
        done.append(item)
        if on_item is not None:
            on_item(item)
    return BackfillSummary(target, tuple(done), iso_utc(latest) if latest else None)


def _ingest(
    capture: Capture,
    target: Target,
    *,
    page_id: int,
    archive_url: str,
    client: httpx.Client,
    store: Store,
    settings: FetchSettings,
) -> BackfillItem:
    from scraper.fetch import fetch_page

    try:
        response = fetch_page(capture.raw_url(archive_url), client=client, settings=settings)
    except FetchError as exc:
        log.info("capture %s: %s", capture.timestamp, exc)
        return BackfillItem(capture, Status.FAILED, error=str(exc))
    headers = {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS}
    result = FetchResult(
        url=target.url,
        final_url=response.final_url,  # the archive's copy: where these bytes came from
        status=200,
        body=response.body,
        headers=headers,
        elapsed_ms=response.elapsed_ms,
        attempts=response.attempts,
        encoding=response.encoding,
    )
    check = ingest_body(target, result, store=store, fetched_at=capture.fetched_at, page_id=page_id)
    return BackfillItem(capture, Status.INGESTED, result=check, error=check.error)


def _stored_times(store: Store, page_id: int) -> set[datetime]:
    # every fetch of the page: sys.maxsize is the largest LIMIT SQLite takes
    times = set()
    for fetch in store.fetches(limit=sys.maxsize, page_id=page_id):
        try:
            times.add(datetime.fromisoformat(fetch.fetched_at).astimezone(UTC))
        except ValueError:
            log.warning("fetch %s: unreadable time %r ignored", fetch.id, fetch.fetched_at)
    return times


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
