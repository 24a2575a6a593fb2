"""Notifications: redacted targets, titles, retries, `notify --test`, and `check` (cron mode)
notifying through Apprise's json:// to the loopback server.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_cli
from server import LoopbackServer, Reply

from scraper.config import NotifySettings
from scraper.notify import (
    Message,
    build_revision_title,
    deliver,
    read_notification_urls,
    redact_url,
    scrub,
)
from scraper.parse import parse_page

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
PAGE_A = (FIXTURES / "page-2022-nn-a.html").read_bytes()
PAGE_REVISED = (FIXTURES / "page-2022-revised.html").read_bytes()
MESSAGE = Message(kind="test", title="Tittel", body="**Bergen** 182 → 192")


def write_config(tmp_path: Path, server: LoopbackServer, notify: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[[pages]]
name = "oppmoding"
url = "{server.url("/page")}"

[fetch]
max_attempts = 1

[store]
path = "store/imdi-watch.db"

[notify]
{notify}
""",
        encoding="utf-8",
    )
    server.route("/robots.txt", Reply(200, b""))
    return config


def received(server: LoopbackServer, path: str = "/notify") -> list[dict[str, str]]:
    return [json.loads(request.body) for request in server.requests_for(path)]


def notifications(tmp_path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "store" / "imdi-watch.db") as conn:
        return conn.execute(
            "SELECT kind, target, outcome, attempts, error FROM notifications ORDER BY id"
        ).fetchall()


# --- targets and redaction -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("json://user:s3cr3tpass@127.0.0.1:8080/x", "json://***@127.0.0.1:8080/x"),
        ("json://127.0.0.1:8080/notify?token=TOPSECRET", "json://127.0.0.1:8080/notify?token=***"),
        ("mailtos://me:app-password@gmail.com?to=desk@avis.no", "mailtos://***@gmail.com?to=***"),
        ("ntfys://ntfy.sh/imdi-8f3k2x", "ntfys://ntfy.sh/***"),
        ("ntfy://ntfy.example.org/imdi", "ntfy://ntfy.example.org/imdi"),
        (
            "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#nyhet",
            "slack://***/***/***/#nyhet",
        ),
        ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654", "tgram://***/987654"),
        (
            "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX",
            "https://hooks.slack.com/***/T000/B000/***",
        ),
        ("json://[::1]:8080/p", "json://[::1]:8080/p"),
    ],
)
def test_redact_url_keeps_scheme_and_host_and_masks_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_removes_every_secret_part_of_a_url_from_a_message() -> None:
    url = "json://user:s3cr3tpass@127.0.0.1:8080/hook-abcdef?token=TOPSECRET"
    text = "POST http://user:s3cr3tpass@127.0.0.1:8080/hook-abcdef?token=TOPSECRET failed"

    cleaned = scrub(text, [url])

    assert "s3cr3tpass" not in cleaned
    assert "TOPSECRET" not in cleaned
    assert "hook-abcdef" not in cleaned
    assert "127.0.0.1:8080" in cleaned


def test_read_notification_urls_joins_config_and_environment() -> None:
    settings = NotifySettings(
        urls=("json://127.0.0.1/a",), urls_env="IMDI_WATCH_NOTIFY", after_failures=3
    )
    environ = {
        "IMDI_WATCH_NOTIFY": " ntfys://ntfy.sh/topic1,json://127.0.0.1/a\n"
        "mailtos://u:p@example.org?to=a@x.no,b@y.no, json://127.0.0.1/b "
    }

    assert read_notification_urls(settings, environ=environ) == (
        "json://127.0.0.1/a",
        "ntfys://ntfy.sh/topic1",
        "mailtos://u:p@example.org?to=a@x.no,b@y.no",
        "json://127.0.0.1/b",
    )
    assert read_notification_urls(settings, environ={}) == ("json://127.0.0.1/a",)


# --- titles ----------------------------------------------------------------------------------------


def test_revision_title_follows_the_page_language() -> None:
    nynorsk = parse_page(PAGE_REVISED)
    bokmal = parse_page((FIXTURES / "page-2022-nb.html").read_bytes())

    assert build_revision_title(nynorsk, nynorsk) == (
        "IMDi-oppmodinga for 2022 er endra (sist oppdatert 19.11.2021)"
    )
    assert build_revision_title(None, nynorsk) == (
        "IMDi-oppmodinga for 2022 er lagra for første gong (sist oppdatert 19.11.2021)"
    )
    assert build_revision_title(bokmal, bokmal) == (
        "IMDi-anmodningen for 2022 er endret (sist oppdatert 12.11.2021)"
    )
    assert build_revision_title(None, bokmal) == (
        "IMDi-anmodningen for 2022 er lagret for første gang (sist oppdatert 12.11.2021)"
    )


# --- delivery --------------------------------------------------------------------------------------


def test_deliver_retries_with_doubling_waits_until_sent(http_server: LoopbackServer) -> None:
    http_server.route("/notify", Reply(500), Reply(503), Reply(200, b"ok"))
    waits: list[float] = []

    delivery = deliver(
        MESSAGE, f"json://127.0.0.1:{http_server.port}/notify", backoff_s=0.5, sleep=waits.append
    )

    assert (delivery.outcome, delivery.attempts, delivery.error) == ("sent", 3, None)
    assert waits == [0.5, 1.0]
    (last,) = received(http_server)[-1:]
    assert (last["title"], last["message"]) == ("Tittel", "**Bergen** 182 → 192")


def test_deliver_gives_up_after_three_attempts(http_server: LoopbackServer) -> None:
    http_server.route("/notify", Reply(500))

    delivery = deliver(MESSAGE, f"json://127.0.0.1:{http_server.port}/notify", sleep=lambda _: None)

    assert (delivery.outcome, delivery.attempts) == ("failed", 3)
    assert "500" in (delivery.error or "")
    assert len(http_server.requests_for("/notify")) == 3


def test_deliver_refuses_an_unknown_url_without_sending() -> None:
    delivery = deliver(MESSAGE, "nosuchservice://token-abcdefgh@example.org")

    assert (delivery.outcome, delivery.attempts) == ("failed", 0)
    assert delivery.target == "nosuchservice://***@example.org"
    assert "token-abcdefgh" not in (delivery.error or "")


# --- notify command --------------------------------------------------------------------------------


def test_notify_test_without_targets_exits_2_saying_how_to_configure(
    tmp_path: Path, http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMDI_WATCH_NOTIFY", raising=False)
    config = write_config(tmp_path, http_server, notify='urls_env = "IMDI_WATCH_NOTIFY"')

    result = run_cli("--config", str(config), "notify", "--test")

    assert result.code == 2
    assert result.err == (
        "imdi-watch: error: no notification targets configured: add Apprise URLs to "
        "[notify].urls in the config or set $IMDI_WATCH_NOTIFY (named by [notify].urls_env)\n"
    )


def test_notify_test_reports_each_target_and_exits_3_if_one_failed(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("/ok", Reply(200, b"ok"))
    http_server.route("/down", Reply(200, b"ok"))
    ok, down = (f"json://127.0.0.1:{http_server.port}{path}" for path in ("/ok", "/down"))
    config = write_config(tmp_path, http_server, notify=f'urls = ["{ok}", "{down}"]')

    good = run_cli("--config", str(config), "notify", "--test", "--json")
    http_server.route("/down", Reply(500, b"no"))
    bad = run_cli("--config", str(config), "notify", "--test")

    assert good.code == 0, good.err
    assert [(d["target"], d["outcome"], d["attempts"]) for d in json.loads(good.out)] == [
        (ok, "sent", 1),
        (down, "sent", 1),
    ]
    assert received(http_server, "/ok")[0]["title"] == "imdi-watch: test notification"
    assert bad.code == 3
    assert bad.out.splitlines() == [
        f"{ok}: sent (1 attempt(s))",
        f"{down}: failed (3 attempt(s)): "
        "Failed to send JSON POST notification: Internal server error., error=500.",
    ]


def test_notify_lists_targets_redacted(
    tmp_path: Path, http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMDI_WATCH_NOTIFY", "ntfys://ntfy.sh/imdi-secret-topic")
    config = write_config(
        tmp_path,
        http_server,
        notify='urls = ["mailtos://me:pw1234@gmail.com"]\nurls_env = "IMDI_WATCH_NOTIFY"',
    )

    result = run_cli("--config", str(config), "notify")

    assert (result.code, result.out) == (0, "mailtos://***@gmail.com\nntfys://ntfy.sh/***\n")


# --- check (cron mode) ------------------------------------------------------------------------------


def test_check_notifies_new_revisions_and_never_unchanged_or_304(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route(
        "/page", Reply(200, PAGE_A), Reply(200, PAGE_REVISED), Reply(200, PAGE_REVISED), Reply(304)
    )
    http_server.route("/notify", Reply(200, b"ok"))
    target = f"json://127.0.0.1:{http_server.port}/notify"
    config = write_config(tmp_path, http_server, notify=f'urls = ["{target}"]')

    codes = [run_cli("--config", str(config), "check", "-q").code for _ in range(4)]

    assert codes == [0, 0, 0, 0]
    first, change = received(http_server)
    assert first["title"].startswith("IMDi-oppmodinga for 2022 er lagra for første gong")
    assert change["title"] == "IMDi-oppmodinga for 2022 er endra (sist oppdatert 19.11.2021)"
    for figure in ("Bergen", "182", "192"):
        assert figure in change["message"]
    assert notifications(tmp_path) == [
        ("first-revision", target, "sent", 1, None),
        ("new-revision", target, "sent", 1, None),
    ]


def test_check_succeeds_and_prints_its_report_when_notifying_fails(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("/page", Reply(200, PAGE_A))
    http_server.route("/notify", Reply(500, b"down"))
    target = f"json://127.0.0.1:{http_server.port}/notify"
    config = write_config(tmp_path, http_server, notify=f'urls = ["{target}"]')

    result = run_cli("--config", str(config), "check", "--json")

    assert result.code == 0
    assert json.loads(result.out)[0]["outcome"] == "new-revision"
    assert f"notification to {target} failed after 3 attempt(s)" in result.err
    ((kind, _, outcome, attempts, error),) = notifications(tmp_path)
    assert (kind, outcome, attempts) == ("first-revision", "failed", 3)
    assert "500" in str(error)


def test_secrets_never_reach_logs_errors_or_the_store(
    tmp_path: Path, http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_server.route("/page", Reply(200, PAGE_A))
    http_server.route("/x", Reply(500, b"no"))
    http_server.route("/y", Reply(200, b"ok"))
    port = http_server.port
    monkeypatch.setenv("IMDI_WATCH_NOTIFY", f"json://127.0.0.1:{port}/y?token=TOPSECRET")
    config = write_config(
        tmp_path,
        http_server,
        notify=f'urls = ["json://user:s3cr3tpass@127.0.0.1:{port}/x"]\n'
        'urls_env = "IMDI_WATCH_NOTIFY"',
    )

    ran = run_cli("--debug", "--config", str(config), "run", "--max-checks", "1")
    tested = run_cli("--debug", "--config", str(config), "notify", "--test", "--json")
    listed = run_cli("--config", str(config), "notify")

    assert (ran.code, tested.code, listed.code) == (0, 3, 0)
    assert http_server.requests_for("/x")[0].headers["authorization"].startswith("Basic ")
    stored = notifications(tmp_path)
    assert {row[1] for row in stored} == {
        f"json://***@127.0.0.1:{port}/x",
        f"json://127.0.0.1:{port}/y?token=***",
    }
    everything = [ran.out, ran.err, tested.out, tested.err, listed.out, listed.err, repr(stored)]
    for text in everything:
        assert "s3cr3tpass" not in text
        assert "TOPSECRET" not in text


def test_check_without_anything_to_announce_does_not_import_apprise(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("/page", Reply(200, PAGE_A))
    http_server.route("/notify", Reply(200, b"ok"))
    with_target = write_config(
        tmp_path, http_server, notify=f'urls = ["json://127.0.0.1:{http_server.port}/notify"]'
    )
    assert run_cli("--config", str(with_target), "check", "-q").code == 0  # the first revision
    (tmp_path / "none").mkdir()
    without = write_config(tmp_path / "none", http_server)
    script = (
        "import sys\n"
        "from scraper.cli import main\n"
        "try:\n"
        "    main(['--config', sys.argv[1], 'check', '-q'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('apprise' in sys.modules)\n"
    )

    def imports_apprise(config: Path) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, str(config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip()

    assert imports_apprise(with_target) == "False"  # unchanged: nothing to send
    assert imports_apprise(without) == "False"  # a new revision, but no targets
    assert len(received(http_server)) == 1


def test_notify_page_back_after_a_broken_spell_is_not_called_changed() -> None:
    from scraper.config import Target
    from scraper.models import Outcome
    from scraper.notify import build_revision_message
    from scraper.parse import parse_page
    from scraper.pipeline import CheckResult

    page = parse_page((Path(__file__).parent / "fixtures" / "page-2022-nn-a.html").read_bytes())
    result = CheckResult(
        Target("oppmoding", "http://127.0.0.1/x"), Outcome.NEW_REVISION, "2021-11-27T09:00:00.000Z",
        3, revision_id=3, previous_revision_id=1, page=page, previous_page=page, changes=(),
    )  # fmt: skip
    message = build_revision_message(result)
    assert (
        message.title == "IMDi-oppmodinga for 2022 er attende som før (sist oppdatert 12.11.2021)"
    )
