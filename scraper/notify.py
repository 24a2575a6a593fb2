"""Notifications: the only apprise user. What to announce after a check, to whom, and the record of
every attempt. Apprise URLs carry secrets, so only `redact_url`'s form of a target is ever logged,
stored or shown; apprise itself is imported only when something is sent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from scraper import retry
from scraper.config import NotifySettings
from scraper.errors import ConfigError
from scraper.models import Outcome
from scraper.norsk import format_date

if TYPE_CHECKING:
    from scraper.models import CheckResult, Page
    from scraper.store import Store

log = logging.getLogger(__name__)

MASK = "***"
ATTEMPTS = 3
BACKOFF_S = 0.5  # then 1 s: a receiver that hiccups gets a second and a third chance
MAX_BACKOFF_S = 30.0
# kinds of notification, as stored in notifications.kind
KINDS = ("first-revision", "new-revision", "failing", "recovered", "test")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S")
# a new URL starts wherever a comma (or whitespace) is followed by scheme://
_URL_SEPARATOR = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
# apprise logs full request URLs and payloads; requests/urllib3 log URLs too
_QUIET_LOGGERS = ("apprise", "urllib3", "requests")


@dataclass(frozen=True, slots=True)
class Message:
    """One notification to send to every target."""

    kind: str  # one of KINDS
    title: str
    body: str  # Markdown
    page_id: int | None = None
    revision_id: int | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one message to one target. `target` is redacted; so is `error`."""

    kind: str
    target: str
    outcome: str  # "sent" or "failed"
    attempts: int
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "target": self.target,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "error": self.error,
        }


# --- targets and their secrets ------------------------------------------------------------------


def read_notification_urls(
    settings: NotifySettings, *, environ: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The Apprise URLs to notify: [notify].urls, then those in the variable named by urls_env.

    The variable may hold several, separated by whitespace or commas (a comma inside a URL, as in
    `mailto://…?to=a@x.no,b@y.no`, stays part of it). Duplicates are sent once.
    """
    env = os.environ if environ is None else environ
    urls = [u.strip() for u in settings.urls if u.strip()]
    if settings.urls_env:
        urls += [u for u in _URL_SEPARATOR.split(env.get(settings.urls_env, "")) if u]
    return tuple(dict.fromkeys(urls))


def validate_targets(urls: Sequence[str], *, settings: NotifySettings) -> None:
    """Refuse, naming it masked, a target that is not a URL or that apprise cannot use (an
    unknown scheme, a missing token): otherwise every notification to it fails unseen."""
    import apprise

    for url in urls:
        origin = _origin_of(url, settings)
        if not _URL.match(url):
            raise ConfigError(
                f"notification target {mask_target(url)} ({origin}): not a URL; expected an "
                "Apprise URL such as ntfys://ntfy.sh/TOPIC or mailtos://user:pass@host"
            )
        scheme = url.partition("://")[0].lower()
        if scheme not in _known_schemes():
            raise ConfigError(
                f"notification target {mask_target(url)} ({origin}): unknown scheme {scheme}:// "
                "(formats: https://github.com/caronc/apprise/wiki)"
            )
        with _apprise_logs() as lines:
            usable = apprise.Apprise().add(url)
        if not usable:
            why = scrub(lines[-1], [url]) if lines else "not usable"
            raise ConfigError(
                f"notification target {mask_target(url)} ({origin}): apprise cannot use it: "
                f"{why.rstrip('.')} (formats: https://github.com/caronc/apprise/wiki)"
            )


def _known_schemes() -> set[str]:
    import apprise

    manager = apprise.NotificationManager()  # type: ignore[no-untyped-call]
    return {str(scheme).lower() for scheme in manager.schemas()}  # type: ignore[no-untyped-call]


def _origin_of(url: str, settings: NotifySettings) -> str:
    if url in (u.strip() for u in settings.urls):
        return "from [notify].urls"
    return f"from ${settings.urls_env}" if settings.urls_env else "from the config"


def mask_target(url: str) -> str:
    """`redact_url` for a URL; for anything else its first two characters and ***."""
    if _URL.match(url):
        return redact_url(url)
    text = url.strip()
    return f"{text[:2]}{MASK}" if len(text) > 6 else MASK


def redact_url(url: str) -> str:
    """A target as it may be shown: scheme and host kept, every likely secret masked.

    User and password, a "host" that is not a host name (Slack, Telegram and Discord put tokens
    there), path segments longer than 6 characters and query values become ***:
    `json://user:pw@127.0.0.1:8080/notify?token=x` → `json://***@127.0.0.1:8080/notify?token=***`.
    """
    redacted, _ = _split_secrets(url)
    return redacted


def scrub(text: str, urls: Iterable[str]) -> str:
    """`text` with every secret part of `urls` (as `redact_url` sees them) replaced by ***."""
    for url in urls:
        _, secrets = _split_secrets(url)
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= 4:  # shorter pieces are not secrets worth mangling a message for
                text = text.replace(secret, MASK)
    return text


def _split_secrets(url: str) -> tuple[str, set[str]]:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return f"{url.partition(':')[0] or '?'}://{MASK}", {url}
    secrets: set[str] = set()
    scheme = parts.scheme or "?"
    userinfo, _, hostport = parts.netloc.rpartition("@")
    netloc = ""
    if userinfo:
        secrets.add(userinfo)
        secrets.update(p for p in userinfo.split(":") if p)
        netloc = f"{MASK}@"
    host, port = _host_and_port(hostport)
    if host and _looks_like_host_name(host):
        netloc += host + (f":{port}" if port else "")
    elif hostport:
        secrets.add(hostport)
        secrets.update(p for p in hostport.split(":") if p)
        netloc += MASK
    segments = []
    for segment in parts.path.split("/"):
        if len(segment) > 6:
            secrets.add(segment)
            segments.append(MASK)
        else:
            segments.append(segment)
    path = "/".join(segments)
    query = ""
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        secrets.update(value for _, value in pairs if value)
        secrets.update(piece for piece in parts.query.split("&") if piece)
        query = "?" + "&".join(f"{key}={MASK}" if value else key for key, value in pairs)
    fragment = ""
    if parts.fragment:
        if len(parts.fragment) > 6:
            secrets.add(parts.fragment)
            fragment = f"#{MASK}"
        else:
            fragment = f"#{parts.fragment}"
    secrets |= {unquote(s) for s in secrets}
    return f"{scheme}://{netloc}{path}{query}{fragment}", secrets


def _host_and_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):  # an IPv6 literal
        host, _, rest = hostport.partition("]")
        return host + "]", rest.removeprefix(":") if rest.removeprefix(":").isdigit() else ""
    host, _, port = hostport.partition(":")
    if port and not port.isdigit():
        return "", ""  # "123456:ABC-token" is a token, not host:port
    return host, port


def _looks_like_host_name(host: str) -> bool:
    host = host.lower()
    return host == "localhost" or host.startswith("[") or "." in host


# --- what to announce -----------------------------------------------------------------------------


def plan_notifications(
    results: Sequence[CheckResult], *, store: Store, after_failures: int
) -> list[Message]:
    """The messages a check's results call for; reads the store, sends nothing.

    A new revision is announced, the first one of a page too. Errors are announced once per
    streak, when the `after_failures`-th check in a row has failed, and the first good check after
    such a streak says the page has recovered. Unchanged and 304 checks are never announced.
    """
    messages: list[Message] = []
    page_ids = {page.url: page.id for page in store.pages()} if results else {}
    for result in results:
        page_id = page_ids.get(result.target.url)
        if result.outcome == Outcome.NEW_REVISION and result.page is not None:
            messages.append(build_revision_message(result, page_id=page_id))
        if after_failures <= 0 or page_id is None:
            continue
        if result.outcome == Outcome.ERROR:
            if store.consecutive_failures(page_id) == after_failures:
                messages.append(
                    build_failing_message(result, failures=after_failures, page_id=page_id)
                )
        else:
            recent = store.fetches(limit=after_failures + 1, page_id=page_id)
            streak = recent[1:]
            if len(streak) == after_failures and all(f.outcome == Outcome.ERROR for f in streak):
                messages.append(
                    build_recovered_message(result, failures=after_failures, page_id=page_id)
                )
    return messages


def build_revision_title(previous: Page | None, page: Page) -> str:
    """In the page's language: IMDi-oppmodinga for 2022 er endra (sist oppdatert 19.11.2021)."""
    bokmal = page.language == "nb"
    subject = "IMDi-anmodningen" if bokmal else "IMDi-oppmodinga"
    if previous is None:
        verb = "er lagret for første gang" if bokmal else "er lagra for første gong"
    else:
        verb = "er endret" if bokmal else "er endra"
    year = f" for {page.year}" if page.year else ""
    updated = f" (sist oppdatert {format_date(page.updated)})" if page.updated else ""
    return f"{subject}{year} {verb}{updated}"


def build_revision_message(result: CheckResult, *, page_id: int | None = None) -> Message:
    """A new revision: the title above, the Markdown report of what changed as the body."""
    from scraper.report import render_changes

    assert result.page is not None
    report = render_changes(result.previous_page, result.page, result.changes, format="markdown")
    footer = f"{result.target.url} · imdi-watch revision {result.revision_id}"
    body = f"{report.rstrip()}\n\n---\n\n{footer}\n"
    title = build_revision_title(result.previous_page, result.page)
    if result.previous_page is not None and not result.changes:
        # Back from a broken spell, the same as the last good revision: say so, not "changed".
        back = "er tilbake som før" if result.page.language == "nb" else "er attende som før"
        title = title.replace("er endret", back).replace("er endra", back)
    return Message(
        kind="first-revision" if result.previous_page is None else "new-revision",
        title=title,
        body=body,
        page_id=page_id,
        revision_id=result.revision_id,
    )


def build_failing_message(
    result: CheckResult, *, failures: int, page_id: int | None = None
) -> Message:
    return Message(
        kind="failing",
        title=f"imdi-watch: {result.target.name} has failed {failures} checks in a row",
        body=(
            f"The last {failures} checks of {result.target.url} failed. The latest error:\n\n"
            f"    {result.error}\n\n"
            "You will hear once more when a check succeeds again."
        ),
        page_id=page_id,
    )


def build_recovered_message(
    result: CheckResult, *, failures: int, page_id: int | None = None
) -> Message:
    return Message(
        kind="recovered",
        title=f"imdi-watch: {result.target.name} works again",
        body=(
            f"A check of {result.target.url} succeeded ({result.outcome}) after {failures} or "
            "more failed checks in a row."
        ),
        page_id=page_id,
    )


def build_test_message(*, version: str) -> Message:
    return Message(
        kind="test",
        title="imdi-watch: test notification",
        body=f"A test from imdi-watch {version}. If you can read this, notifications work.",
    )


# --- sending ---------------------------------------------------------------------------------------


def send_notifications(
    messages: Sequence[Message],
    *,
    urls: Sequence[str],
    now: datetime,
    store: Store | None = None,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Send each message to each target, retrying; record every outcome in `store` if given.

    Never raises for a failed delivery: the failure is logged (redacted) and recorded.
    """
    from scraper.pipeline import iso_utc

    deliveries = []
    for message in messages:
        for url in urls:
            delivery = deliver(message, url, attempts=attempts, backoff_s=backoff_s, sleep=sleep)
            deliveries.append(delivery)
            if delivery.outcome == "sent":
                log.info("notified %s: %s", delivery.target, message.kind)
            else:
                log.warning(
                    "notification to %s failed after %d attempt(s): %s",
                    delivery.target,
                    delivery.attempts,
                    delivery.error,
                )
            if store is not None:
                store.record_notification(
                    sent_at=iso_utc(now),
                    kind=message.kind,
                    target=delivery.target,
                    outcome=delivery.outcome,
                    attempts=delivery.attempts,
                    error=delivery.error,
                    page_id=message.page_id,
                    revision_id=message.revision_id,
                )
    return deliveries


def deliver(
    message: Message,
    url: str,
    *,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Send one message to one Apprise URL, up to `attempts` times with doubling waits."""
    import apprise

    target = redact_url(url)
    sender = apprise.Apprise()
    with _apprise_logs() as lines:
        added = sender.add(url)
    if not added:
        return Delivery(
            message.kind,
            target,
            "failed",
            0,
            f"not an Apprise URL that this apprise knows ({target}); "
            "see https://github.com/caronc/apprise/wiki for the formats",
        )
    error = "not delivered"
    for attempt in range(1, attempts + 1):
        with _apprise_logs() as lines:
            try:
                sent = bool(
                    sender.notify(
                        body=message.body,
                        title=message.title,
                        body_format=apprise.NotifyFormat.MARKDOWN,
                    )
                )
            except Exception as exc:  # a plugin's bug must not stop the monitor
                sent = False
                lines.append(f"{type(exc).__name__}: {exc}")
        if sent:
            return Delivery(message.kind, target, "sent", attempt)
        error = scrub(lines[-1] if lines else "not delivered", [url])
        if attempt < attempts:
            wait_s = retry.backoff_s(attempt, base_s=backoff_s, max_s=MAX_BACKOFF_S)
            retry.announce_retry(
                f"notification to {target}", error, wait_s=wait_s, attempt=attempt,
                attempts=attempts,
            )  # fmt: skip
            sleep(wait_s)
    return Delivery(message.kind, target, "failed", attempts, error)


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(" ".join(record.getMessage().split()))


@contextlib.contextmanager
def _apprise_logs() -> Iterator[list[str]]:
    """Keep apprise's (and its HTTP libraries') log lines away from our handlers; collect warnings.

    They carry full URLs and payloads, so they must not reach stderr even with --debug; the
    caller turns the last warning into a redacted error message.
    """
    lines: list[str] = []
    handler = _Lines(lines)
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    saved = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.propagate = False
        logger.addHandler(handler)  # also keeps logging's last-resort handler from printing
    try:
        yield lines
    finally:
        for logger, propagate in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.propagate = propagate
