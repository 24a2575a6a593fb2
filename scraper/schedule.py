"""The long-running monitor: the only apscheduler user. It is handed the check callable.

APScheduler decides *when* (interval or cron, jitter, coalescing, one instance at a time), through
its public API only; the checks themselves run in the thread that called `run_schedule` (a due
run hands them over), so a store or client opened there can be used, and a stop signal lets the
check in flight finish before returning.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scraper.config import ScheduleSettings
from scraper.errors import ConfigError, ImdiWatchError, LockBusy

if TYPE_CHECKING:
    from scraper.models import CheckResult

log = logging.getLogger(__name__)

JOB_ID = "check"
_POLL_S = 0.25  # how soon an idle monitor notices `stop`
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC_DAYS = re.compile(r"^(?:(\*)|(\d)(?:-(\d))?)(?:/(\d+))?$")


def make_trigger(settings: ScheduleSettings, *, where: str = "config") -> BaseTrigger:
    """The trigger [schedule] asks for: `cron` if set, else every `interval_s`; ConfigError if bad.

    `where` (the config file) starts error messages, which name the key and how to fix it.
    """
    try:
        zone = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: [schedule].timezone {settings.timezone!r} is not a known time zone "
            "(use an IANA name such as Europe/Oslo or UTC)"
        ) from None
    jitter = settings.jitter_s or None  # APScheduler adds up to this many seconds to each run
    if settings.cron.strip():
        fields = crontab_with_sunday_zero(settings.cron).split()
        try:
            if len(fields) != 5:
                raise ValueError(f"{len(fields)} fields, not 5")
            # what CronTrigger.from_crontab does, plus the jitter it cannot take
            minute, hour, day, month, day_of_week = fields
            return CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=day_of_week,
                timezone=zone,
                jitter=jitter,
            )
        except ValueError as exc:
            reason = " ".join(str(exc).split())
            raise ConfigError(
                f"{where}: [schedule].cron {settings.cron!r} is not a crontab expression "
                f'({reason}); use five fields: minute hour day month weekday, e.g. "*/30 7-17 * * mon-fri"'
            ) from None
    if settings.interval_s <= 0:
        raise ConfigError(
            f"{where}: [schedule].interval_s must be more than 0, got {settings.interval_s:g}"
        )
    return IntervalTrigger(seconds=settings.interval_s, timezone=zone, jitter=jitter)


def crontab_with_sunday_zero(expression: str) -> str:
    """Day-of-week numbers as crontab means them (0 and 7 = Sunday), spelt as names.

    APScheduler 3 counts 0 as Monday; names mean the same to both, so "1-5" becomes
    "mon,tue,wed,thu,fri". Anything else in the expression is left alone.
    """
    fields = expression.split()
    if len(fields) != 5:
        return expression
    days = []
    for part in fields[4].split(","):
        match = _NUMERIC_DAYS.match(part)
        if match is None or (match[1] and not match[4]):
            days.append(part)  # names, "*" or something APScheduler will judge
            continue
        star, first, last, step = match.groups()
        start = 0 if star else int(first)
        end = int(last) if last is not None else 6 if (star or step) else start
        if end < start or end > 7:
            days.append(part)
            continue
        days.extend(_DAY_NAMES[n % 7] for n in range(start, end + 1, int(step or 1)))
    unique = list(dict.fromkeys(days))
    return " ".join([*fields[:4], ",".join(unique)])


def describe_schedule(settings: ScheduleSettings) -> str:
    """'every 1800 s (+ up to 30 s)' or "on cron '*/30 7-17 * * mon-fri' (Europe/Oslo)"."""
    jitter = f" (+ up to {settings.jitter_s:g} s)" if settings.jitter_s else ""
    if settings.cron.strip():
        return f"on cron {settings.cron.strip()!r} ({settings.timezone}){jitter}"
    return f"every {settings.interval_s:g} s{jitter}"


def run_schedule(
    check_once: Callable[[], list[CheckResult]],
    *,
    settings: ScheduleSettings,
    stop: threading.Event,
    max_checks: int | None = None,
    where: str = "config",
) -> int:
    """Call `check_once` now and then on the schedule until `stop` is set; return how many ran.

    Checks run in this thread, one at a time: a run that falls due while one is in flight is
    skipped, missed runs (a suspended machine) coalesce into one. A check that raises is logged
    and the schedule goes on; LockBusy is logged as skipped. Setting `stop` (from a signal
    handler, say) ends the loop after the check in flight. After `max_checks` checks, `stop` is
    set. Each result is logged in one line (fields for JSON logs).
    """
    trigger = make_trigger(settings, where=where)
    zone = ZoneInfo(settings.timezone)
    due: queue.SimpleQueue[threading.Event] = queue.SimpleQueue()

    def job() -> None:
        # APScheduler's run hands the check to the caller's thread and lasts until it is done,
        # so that APScheduler counts it as running: max_instances=1 then skips runs falling due
        # meanwhile (instead of queueing them), as for any long job.
        done = threading.Event()
        due.put(done)
        while not done.wait(_POLL_S) and not stop.is_set():
            pass

    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=zone,
    )
    scheduler.add_job(job, trigger, id=JOB_ID, name="check", next_run_time=datetime.now(zone))
    scheduler.start()
    count = 0
    try:
        while not stop.is_set():
            try:
                done = due.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            try:
                if stop.is_set():
                    break
                count += 1
                _run_check(check_once)
                if max_checks is not None and count >= max_checks:
                    stop.set()
            finally:
                done.set()
    finally:
        scheduler.shutdown(wait=False)
    return count


def _run_check(check_once: Callable[[], list[CheckResult]]) -> None:
    """One check, whatever happens: logged, never raised."""
    try:
        results = check_once()
    except LockBusy as exc:
        log.warning("check skipped: %s", exc, extra={"fields": {"outcome": "skipped"}})
        return
    except ImdiWatchError as exc:
        log.error("check failed: %s", exc, extra={"fields": {"outcome": "error"}})
        return
    except Exception as exc:  # a bug: keep monitoring, but show where
        log.error(
            "check failed: %s: %s",
            type(exc).__name__,
            exc,
            exc_info=True,
            extra={"fields": {"outcome": "error"}},
        )
        return
    for result in results:
        log_result(result)


def log_result(result: CheckResult) -> None:
    """One line per checked page: 'oppmoding: new-revision (HTTP 200, revision 2, 8 changes, 41 ms)'."""
    data = result.to_dict()
    fields = {
        key: data[key] for key in ("page", "outcome", "status", "revision", "changes", "elapsed_ms")
    }
    facts = []
    if data["status"] is not None:
        facts.append(f"HTTP {data['status']}")
    if data["revision"] is not None:
        facts.append(f"revision {data['revision']}")
    if data["outcome"] == "new-revision":
        facts.append(f"{data['changes']} changes")
    if data["elapsed_ms"] is not None:
        facts.append(f"{data['elapsed_ms']} ms")
    message = f"{data['page']}: {data['outcome']}" + (f" ({', '.join(facts)})" if facts else "")
    if data["error"]:
        fields["error"] = data["error"]
        log.warning("%s: %s", message, data["error"], extra={"fields": fields})
    else:
        log.info("%s", message, extra={"fields": fields})
