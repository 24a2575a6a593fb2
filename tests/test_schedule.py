"""The long-running monitor: schedule settings, one check at a time, clean stops, and `run` end to end
against the loopback server (pages and an Apprise json:// receiver on the same server).
"""

from __future__ import annotations

import ast
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import history_store
import pytest
from cli_helpers import run_cli
from server import LoopbackServer, Reply

from scraper.config import ScheduleSettings
from scraper.errors import ConfigError, LockBusy, StoreError
from scraper.schedule import crontab_with_sunday_zero, make_trigger, run_schedule

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
PAGE_A = (FIXTURES / "page-2022-nn-a.html").read_bytes()
PAGE_REVISED = (FIXTURES / "page-2022-revised.html").read_bytes()
FAST = ScheduleSettings(interval_s=0.05, cron="", timezone="Europe/Oslo", jitter_s=0)


def write_config(
    tmp_path: Path,
    server: LoopbackServer,
    *,
    notify: str = "",
    schedule: str = "interval_s = 0.2\njitter_s = 0",
) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[[pages]]
name = "oppmoding"
url = "{server.url("/page")}"

[fetch]
max_attempts = 1
backoff_s = 0

[store]
path = "store/imdi-watch.db"
snapshots = "snapshots"
lock_wait_s = 0.1

[schedule]
{schedule}

[notify]
{notify}
""",
        encoding="utf-8",
    )
    server.route("/robots.txt", Reply(200, b""))
    return config


def received(server: LoopbackServer, path: str = "/notify") -> list[dict[str, str]]:
    return [json.loads(request.body) for request in server.requests_for(path)]


def query(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    return history_store.query(tmp_path / "store" / "imdi-watch.db", sql)


# --- run_schedule with a stand-in check ------------------------------------------------------------


def scheduled_times(caplog: pytest.LogCaptureFixture) -> list[datetime]:
    """When APScheduler meant each check to run (its executor logs each run's scheduled time)."""
    return [
        record.args[1]
        for record in caplog.records
        if record.msg == 'Running job "%s" (scheduled at %s)' and isinstance(record.args, tuple)
    ]


def test_run_schedule_checks_at_once_without_waiting_an_interval() -> None:
    stop = threading.Event()
    hourly = ScheduleSettings(interval_s=3600, cron="", timezone="Europe/Oslo", jitter_s=0)
    watchdog = threading.Timer(60, stop.set)  # were the first check an hour away, 0 checks
    watchdog.start()
    try:
        count = run_schedule(lambda: [], settings=hourly, stop=stop, max_checks=1)
    finally:
        watchdog.cancel()

    assert count == 1


def test_run_schedule_checks_on_the_interval_and_stops_after_max_checks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="apscheduler.executors")
    calls: list[int] = []
    stop = threading.Event()

    count = run_schedule(
        lambda: calls.append(len(calls) + 1) or [], settings=FAST, stop=stop, max_checks=3
    )

    assert (count, calls, stop.is_set()) == (3, [1, 2, 3], True)
    first, second, third = scheduled_times(caplog)
    assert first.tzinfo is not None and first.utcoffset() == second.utcoffset()
    assert first < second < third
    # after the first (at once), the runs lie on the interval's grid: whole intervals apart
    # (more than one when a busy machine made the scheduler coalesce a missed run)
    intervals = (third - second) / timedelta(seconds=FAST.interval_s)
    assert intervals >= 1 and abs(intervals - round(intervals)) < 1e-4, intervals


def test_run_schedule_logs_a_check_that_raises_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = iter(
        [RuntimeError("boom"), LockBusy("another check holds the lock"), StoreError("disk full")]
    )

    def check_once() -> list[object]:
        error = next(failures, None)
        if error is not None:
            raise error
        return []

    caplog.set_level(logging.INFO, logger="scraper.schedule")
    count = run_schedule(check_once, settings=FAST, stop=threading.Event(), max_checks=4)

    assert count == 4
    messages = [r.getMessage() for r in caplog.records if r.name == "scraper.schedule"]
    assert messages == [
        "check failed: RuntimeError: boom",
        "check skipped: another check holds the lock",
        "check failed: disk full",
    ]
    skipped = next(r for r in caplog.records if "skipped" in r.getMessage())
    assert skipped.fields == {"outcome": "skipped"}  # type: ignore[attr-defined]


def test_run_schedule_runs_one_check_at_a_time_and_does_not_pile_up() -> None:
    running = 0
    most = 0
    calls = 0

    def slow_check() -> list[object]:
        nonlocal running, most, calls
        running += 1
        calls += 1
        most = max(most, running)
        time.sleep(0.3)  # six intervals fall due meanwhile
        running -= 1
        return []

    count = run_schedule(slow_check, settings=FAST, stop=threading.Event(), max_checks=2)

    assert (count, calls, most) == (2, 2, 1)


def test_run_schedule_stop_lets_the_check_in_flight_finish() -> None:
    stop = threading.Event()
    finished: list[bool] = []

    def check_once() -> list[object]:
        stop.set()  # as a signal handler would, mid-check
        time.sleep(0.2)
        finished.append(True)
        return []

    count = run_schedule(check_once, settings=FAST, stop=stop)

    assert (count, finished) == (1, [True])


# --- schedule settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 8 * * 1-5", "0 8 * * mon,tue,wed,thu,fri"),
        ("0 8 * * 0", "0 8 * * sun"),
        ("0 8 * * 7", "0 8 * * sun"),
        ("0 8 * * 0,6", "0 8 * * sun,sat"),
        ("0 8 * * */2", "0 8 * * sun,tue,thu,sat"),
        ("0 8 * * 1/2", "0 8 * * mon,wed,fri"),
        ("*/30 7-17 * * mon-fri", "*/30 7-17 * * mon-fri"),
        ("*/30 * * * *", "*/30 * * * *"),
    ],
)
def test_crontab_weekday_numbers_mean_what_crontab_means(cron: str, expected: str) -> None:
    assert crontab_with_sunday_zero(cron) == expected


def test_make_trigger_cron_fires_on_weekdays_in_oslo_time() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    oslo = ZoneInfo("Europe/Oslo")
    trigger = make_trigger(ScheduleSettings(1800, "0 8 * * 1-5", "Europe/Oslo", 0))
    saturday = datetime(2021, 11, 13, 12, 0, tzinfo=oslo)

    assert trigger.get_next_fire_time(None, saturday) == datetime(2021, 11, 15, 8, 0, tzinfo=oslo)


OSLO = ZoneInfo("Europe/Oslo")


def fire_times(settings: ScheduleSettings, now: datetime, count: int) -> list[str]:
    """The first `count` runs of run_schedule started at `now`: the first at once, each next one
    from the trigger given the one before, as APScheduler asks it."""
    trigger = make_trigger(settings)
    times = [now]
    while len(times) < count:
        times.append(trigger.get_next_fire_time(times[-1], times[-1]))
    return [time.isoformat() for time in times]


@pytest.fixture
def seeded_random() -> Iterator[None]:
    """APScheduler draws its jitter from the `random` module: seeded here, restored after."""
    state = random.getstate()
    random.seed(2021)
    yield
    random.setstate(state)


def test_interval_schedule_is_every_interval_of_real_time_across_the_dst_change() -> None:
    settings = ScheduleSettings(1800, "", "Europe/Oslo", 0)
    night = datetime(2021, 10, 31, 1, 10, tzinfo=OSLO)  # at 03:00 CEST the clocks go back to 02:00

    assert fire_times(settings, night, 7) == [
        "2021-10-31T01:10:00+02:00",
        "2021-10-31T01:40:00+02:00",
        "2021-10-31T02:10:00+02:00",
        "2021-10-31T02:40:00+02:00",
        "2021-10-31T02:10:00+01:00",
        "2021-10-31T02:40:00+01:00",
        "2021-10-31T03:10:00+01:00",
    ]


def test_cron_schedule_keeps_office_hours_on_weekdays_in_oslo_time() -> None:
    settings = ScheduleSettings(1800, "*/30 7-17 * * 1-5", "Europe/Oslo", 0)
    friday = datetime(2021, 11, 12, 16, 40, tzinfo=OSLO)

    assert fire_times(settings, friday, 5) == [
        "2021-11-12T16:40:00+01:00",  # at once
        "2021-11-12T17:00:00+01:00",
        "2021-11-12T17:30:00+01:00",
        "2021-11-15T07:00:00+01:00",  # Monday morning
        "2021-11-15T07:30:00+01:00",
    ]
    daily = ScheduleSettings(1800, "0 8 * * 1-5", "Europe/Oslo", 0)
    assert fire_times(daily, datetime(2021, 10, 29, 9, 0, tzinfo=OSLO), 3) == [
        "2021-10-29T09:00:00+02:00",
        "2021-11-01T08:00:00+01:00",  # still 08:00 on the wall clock after the DST change
        "2021-11-02T08:00:00+01:00",
    ]


def test_jitter_delays_each_run_by_up_to_jitter_s(seeded_random: None) -> None:
    interval = ScheduleSettings(1800, "", "Europe/Oslo", 30)
    cron = ScheduleSettings(1800, "*/30 7-17 * * 1-5", "Europe/Oslo", 30)

    assert fire_times(interval, datetime(2021, 11, 12, 9, 0, tzinfo=OSLO), 4) == [
        "2021-11-12T09:00:00+01:00",
        "2021-11-12T09:30:25.090125+01:00",  # each run 1800–1830 s after the one before
        "2021-11-12T10:00:50.839197+01:00",
        "2021-11-12T10:31:07.162507+01:00",
    ]
    random.seed(2021)
    assert fire_times(cron, datetime(2021, 11, 12, 16, 40, tzinfo=OSLO), 5) == [
        "2021-11-12T16:40:00+01:00",
        "2021-11-12T17:00:25.090125+01:00",  # each run up to 30 s after its crontab time
        "2021-11-12T17:30:25.749072+01:00",
        "2021-11-15T07:00:16.323310+01:00",
        "2021-11-15T07:30:07.419970+01:00",
    ]


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        (ScheduleSettings(1800, "*/30 * * *", "Europe/Oslo", 0), "[schedule].cron"),
        (ScheduleSettings(1800, "61 * * * *", "Europe/Oslo", 0), "[schedule].cron"),
        (ScheduleSettings(1800, "", "Europe/Nowhere", 0), "[schedule].timezone"),
        (ScheduleSettings(0, "", "Europe/Oslo", 0), "[schedule].interval_s"),
    ],
)
def test_make_trigger_rejects_bad_settings_naming_the_key(
    settings: ScheduleSettings, key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_trigger(settings, where="config.toml")

    assert str(caught.value).startswith(f"config.toml: {key} ")
    assert "\n" not in str(caught.value)


def test_run_with_a_bad_crontab_exits_2_with_one_line(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    config = write_config(tmp_path, http_server, schedule='cron = "every half hour"')

    result = run_cli("--config", str(config), "run")

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert result.err.startswith(f"imdi-watch: error: {config}: [schedule].cron 'every half hour'")
    assert http_server.requests == []
    assert not (tmp_path / "store").exists()


# --- run end to end ---------------------------------------------------------------------------------


def test_run_notifies_the_first_revision_and_the_change_and_nothing_for_unchanged(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("/page", Reply(200, PAGE_A), Reply(200, PAGE_REVISED))  # then revised again
    http_server.route("/notify", Reply(200, b"ok"))
    notify = f'urls = ["json://127.0.0.1:{http_server.port}/notify"]'
    config = write_config(tmp_path, http_server, notify=notify)

    result = run_cli("--config", str(config), "run", "--max-checks", "4")

    assert result.code == 0, result.err
    first, change = received(http_server)  # exactly two
    assert first["title"] == (
        "IMDi-oppmodinga for 2022 er lagra for første gong (sist oppdatert 12.11.2021)"
    )
    assert change["title"] == "IMDi-oppmodinga for 2022 er endra (sist oppdatert 19.11.2021)"
    assert "| Vestland | Bergen | requested | 182 | 192 | +10 |" in change["message"]
    outcomes = re.findall(r"INFO: oppmoding: ([a-z-]+) \(", result.err)
    assert outcomes == ["new-revision", "new-revision", "unchanged", "unchanged"]
    target = f"json://127.0.0.1:{http_server.port}/notify"
    assert query(tmp_path, "SELECT kind, target, outcome, attempts, error FROM notifications") == [
        ("first-revision", target, "sent", 1, None),
        ("new-revision", target, "sent", 1, None),
    ]
    assert query(tmp_path, "SELECT revision_id FROM notifications") == [(1,), (2,)]


def test_run_json_logs_one_object_per_check_with_its_fields(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("/page", Reply(200, PAGE_A), Reply(304))
    config = write_config(tmp_path, http_server)

    result = run_cli("--config", str(config), "run", "--max-checks", "2", "--log-format", "json")

    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.err.splitlines()]
    checks = [line for line in lines if "outcome" in line]
    keys = ["page", "outcome", "status", "revision", "changes", "elapsed_ms"]
    assert [{k: c[k] for k in keys if k != "elapsed_ms"} for c in checks] == [
        {
            "page": "oppmoding",
            "outcome": "new-revision",
            "status": 200,
            "revision": 1,
            "changes": 0,
        },
        {
            "page": "oppmoding",
            "outcome": "not-modified",
            "status": 304,
            "revision": 1,
            "changes": 0,
        },
    ]
    assert all(isinstance(c["elapsed_ms"], int) and c["level"] == "info" for c in checks)


def test_run_retries_a_failing_receiver_records_it_and_keeps_checking(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("/page", Reply(200, PAGE_A))
    http_server.route("/notify", Reply(500, b"down"))
    notify = f'urls = ["json://127.0.0.1:{http_server.port}/notify"]'
    config = write_config(tmp_path, http_server, notify=notify)

    result = run_cli("--config", str(config), "run", "--max-checks", "2")

    assert result.code == 0, result.err
    assert len(http_server.requests_for("/notify")) == 3
    ((kind, outcome, attempts, error),) = query(
        tmp_path, "SELECT kind, outcome, attempts, error FROM notifications"
    )
    assert (kind, outcome, attempts) == ("first-revision", "failed", 3)
    assert "500" in error
    assert query(tmp_path, "SELECT outcome FROM fetches ORDER BY id") == [
        ("new-revision",),
        ("unchanged",),
    ]
    assert "notification to json://127.0.0.1:" in result.err


def test_run_announces_a_failure_streak_once_and_the_recovery_once(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route(
        "/page",
        Reply(200, PAGE_A),
        Reply(500, b"oops"),
        Reply(500, b"oops"),
        Reply(500, b"oops"),
        Reply(200, PAGE_A),
    )
    http_server.route("/notify", Reply(200, b"ok"))
    notify = f'urls = ["json://127.0.0.1:{http_server.port}/notify"]\nafter_failures = 2'
    config = write_config(tmp_path, http_server, notify=notify)

    result = run_cli("--config", str(config), "run", "--max-checks", "6")

    assert result.code == 0, result.err
    kinds = query(tmp_path, "SELECT kind FROM notifications ORDER BY id")
    assert kinds == [("first-revision",), ("failing",), ("recovered",)]
    _, failing, recovered = received(http_server)
    assert failing["title"] == "imdi-watch: oppmoding has failed 2 checks in a row"
    assert "HTTP 500 Internal Server Error" in failing["message"]
    assert recovered["title"] == "imdi-watch: oppmoding works again"


def test_run_skips_a_check_while_another_holds_the_lock(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    from scraper.store import lock_store

    http_server.route("/page", Reply(200, PAGE_A))
    config = write_config(tmp_path, http_server)
    (tmp_path / "store").mkdir()

    with lock_store(tmp_path / "store" / "imdi-watch.db", wait_s=0):
        result = run_cli("--config", str(config), "run", "--max-checks", "2")

    assert result.code == 0, result.err
    assert result.err.count("check skipped: another imdi-watch check holds the lock") == 2
    assert http_server.requests_for("/page") == []


def test_sigterm_during_a_check_waits_for_it_and_exits_0(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("/page", Reply(200, PAGE_A, delay_s=1.0))
    config = write_config(tmp_path, http_server, schedule="interval_s = 3600\njitter_s = 0")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "scraper", "--config", str(config), "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not http_server.requests_for("/page") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert http_server.requests_for("/page"), "the check never reached the server"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, err
    assert "stopped (SIGTERM) after 1 check(s)" in err
    assert query(tmp_path, "PRAGMA integrity_check") == [("ok",)]
    assert query(tmp_path, "SELECT outcome FROM fetches") == [("new-revision",)]
    assert query(tmp_path, "SELECT count(*) FROM figures") == [(356,)]


def test_schedule_uses_apscheduler_public_api_only() -> None:
    # no private attribute (job._jobstore_alias, executor._run_job_success …) on any object
    source = Path(__file__).resolve().parent.parent / "scraper" / "schedule.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    private = sorted(
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    )
    imported = sorted(
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("apscheduler")
        for alias in node.names
    )
    assert private == []
    assert imported == [
        "apscheduler.executors.pool.ThreadPoolExecutor",
        "apscheduler.schedulers.background.BackgroundScheduler",
        "apscheduler.triggers.base.BaseTrigger",
        "apscheduler.triggers.cron.CronTrigger",
        "apscheduler.triggers.interval.IntervalTrigger",
    ]
