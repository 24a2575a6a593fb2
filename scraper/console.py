"""What the commands share without click: logging to stderr, errors as one line and an exit code,
and `check` itself — the command cron runs every half hour, which so pays only for a check.

`imdi-watch check [-q] [--json] [--exit-code]` (after `--config`, `--debug`, `-v`) runs from here
without importing click (~30 ms of imports and command building); anything else, `check --help`
included, goes through the click CLI in `cli.py`, whose `check` runs the same `run_check`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from scraper.errors import ExitCode, ImdiWatchError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import httpx

    from scraper.config import Config
    from scraper.models import CheckResult
    from scraper.store import Store

# the options `check` takes, and those of the group before it (the lean path knows no others)
CHECK_FLAGS = {"-q": "quiet", "--quiet": "quiet", "--json": "as_json", "--exit-code": "exit_code"}
GROUP_FLAGS = {"--debug": "debug", "-v": "verbose", "--verbose": "verbose"}


def now_utc() -> datetime:
    return datetime.now(UTC)


# --- how the commands speak ------------------------------------------------------------------


def program_name() -> str:
    """How to run this imdi-watch again, for the commands it prints (help, hints, the demo).

    `./imdi-watch` says how it was typed ($IMDI_WATCH_PROG); an installed script on PATH is
    `imdi-watch`, one off PATH its absolute path; `python -m scraper` is that interpreter's.
    """
    import shlex  # only when a command line is printed
    import shutil

    wrapper = os.environ.get("IMDI_WATCH_PROG")
    if wrapper:
        return shlex.quote(wrapper)
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name == "__main__.py" and Path(argv0).parent.name == "scraper":
        return f"{shlex.quote(sys.executable)} -m scraper"
    if Path(argv0).name != "imdi-watch":
        return "imdi-watch"  # called in-process (tests, embedding): the documented name
    found = shutil.which("imdi-watch")
    if found and Path(found).resolve() == Path(argv0).resolve():
        return "imdi-watch"
    return shlex.quote(str(Path(argv0).absolute()))


def retarget(text: str) -> str:
    """`text` with each command line for the user (`imdi-watch check`, "  imdi-watch log -n 5")
    naming the command actually running, so it works as printed, e.g. from a clone."""
    program = program_name()
    if program == "imdi-watch":
        return text
    return re.sub(_COMMAND_LINE, lambda m: m.group(1) + program, text, flags=re.MULTILINE)


# `imdi-watch` where a command starts: in backticks, at a line's start (after VAR=value settings
# too), after `&&`, `||`, `;`, `|` or `$`, before an option or a command name (not in prose like
# "what imdi-watch reads"). Compiled (and cached by `re`) at the first use, not at every start-up.
_COMMAND_LINE = (
    r"(`|^[ \t]*(?:[A-Z][A-Z0-9_]*=\S+ )*|(?:&&|\|\||;|\||\$) )"
    r"imdi-watch(?= (?:-|[a-z]+\b(?!-watch)))"
)


def say(text: str, *, err: bool = False, nl: bool = True) -> None:
    """A line for people: control characters shown as escapes (`report.visible`), never obeyed."""
    if not text.isprintable():  # the common case needs no import
        from scraper.report import visible

        text = visible(text)
    write(text + ("\n" if nl else ""), err=err)


def write(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text)
    stream.flush()


def setup_logging(level: int, *, json_lines: bool = False, timestamps: bool = False) -> None:
    """Diagnostics to stderr, one line each (led by an ISO time with `timestamps`, as `run`
    logs); results go to stdout."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(timestamps=timestamps))
    # A wait (for the lock, before a retry) is one line on a terminal even without -v: a person
    # watching should not think it hangs. Logs (not a terminal) keep their level.
    notices = level > logging.INFO and _stderr_is_terminal()
    handler.addFilter(_Threshold(level, notices=notices))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if notices else level)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpcore").setLevel(max(level, logging.WARNING))


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Threshold(logging.Filter):
    """The chosen level, and records marked `notice` (waits) when `notices` is on."""

    def __init__(self, level: int, *, notices: bool) -> None:
        super().__init__()
        self.level = level
        self.notices = notices

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or (self.notices and getattr(record, "notice", False))


class TextFormatter(logging.Formatter):
    """`imdi-watch: WARNING: …`, control characters escaped (a URL or an HTTP reason phrase in a
    message comes from a server); a notice (a wait) without its level; with `timestamps`, led by
    the UTC time."""

    def __init__(self, *, timestamps: bool = False) -> None:
        super().__init__("imdi-watch: %(levelname)s: %(message)s")
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if getattr(record, "notice", False):
            text = f"imdi-watch: {record.getMessage()}"
        if not text.isprintable():
            from scraper.report import visible

            text = "\n".join(visible(line) for line in text.split("\n"))
        if self.timestamps:
            moment = datetime.fromtimestamp(record.created, UTC)
            text = f"{moment.isoformat(timespec='milliseconds').replace('+00:00', 'Z')} {text}"
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        return json.dumps(data, ensure_ascii=False, default=str)


def run_guarded(body: Callable[[], None], *, debug: bool) -> NoReturn:
    """Run a command and exit: our own errors become one line on stderr and a documented exit
    code, a bug one line too (its traceback only with --debug)."""
    try:
        body()
    except ImdiWatchError as exc:
        if debug:
            raise
        say(f"imdi-watch: error: {retarget(str(exc))}", err=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        say("imdi-watch: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: still one line, the traceback only with --debug
        if debug:
            raise
        say(
            f"imdi-watch: internal error: {type(exc).__name__}: {exc} "
            "(run again with --debug for the traceback, and please report it)",
            err=True,
        )
        sys.exit(int(ExitCode.FAILURE))
    sys.exit(0)


# --- check -----------------------------------------------------------------------------------


def parse_check_args(args: Sequence[str]) -> dict[str, Any] | None:
    """The options of a plain `check` invocation, or None for anything else (another command,
    `--help`, a typo, `--config` without a value): the click CLI handles and explains those."""
    options: dict[str, Any] = {
        "config_path": None, "debug": False, "verbose": False,
        "quiet": False, "as_json": False, "exit_code": False,
    }  # fmt: skip
    position = 0
    while position < len(args) and args[position] != "check":
        arg = args[position]
        if arg in GROUP_FLAGS:
            options[GROUP_FLAGS[arg]] = True
        elif arg == "--config" and position + 1 < len(args):
            position += 1
            options["config_path"] = args[position]
        elif arg.startswith("--config=") and len(arg) > len("--config="):
            options["config_path"] = arg.partition("=")[2]
        else:
            return None
        position += 1
    if position == len(args):
        return None
    for arg in args[position + 1 :]:
        if arg not in CHECK_FLAGS:
            return None
        options[CHECK_FLAGS[arg]] = True
    return options


def main_check(
    *,
    config_path: str | None,
    debug: bool,
    verbose: bool,
    quiet: bool,
    as_json: bool,
    exit_code: bool,
) -> NoReturn:
    """`imdi-watch check` without click (see the module's docstring)."""
    setup_logging(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)

    def body() -> None:
        from scraper.config import load_config

        code = run_check(
            load_config(config_path), quiet=quiet, as_json=as_json, exit_code=exit_code
        )
        if code:
            sys.exit(code)

    run_guarded(body, debug=debug)


def run_check(config: Config, *, quiet: bool, as_json: bool, exit_code: bool) -> int:
    """Check every page once, print what was found, return the exit code: 3 if a page failed,
    1 for a new revision with `exit_code`, else 0."""
    from scraper.store import open_store

    with open_store(config.store.path, config.store.snapshots) as store:
        results = check_pages(config, store)
    if as_json:
        write(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2) + "\n")
    elif not quiet:
        for result in results:
            print_check(result)
    for result in results:
        if result.error:
            say(f"imdi-watch: error: {result.target.name}: {result.error}", err=True)
    if any(r.outcome == "error" for r in results):
        return int(ExitCode.FAILURE)
    if exit_code and any(r.outcome == "new-revision" for r in results):
        return int(ExitCode.CHANGED)
    return int(ExitCode.OK)


def print_check(result: CheckResult) -> None:
    """One line per page; a new revision's report (or, the first time, the page) below it."""
    from scraper.norsk import format_number

    facts = []
    if result.status is not None:
        facts.append(f"HTTP {result.status}")
    if result.bytes is not None:
        facts.append(f"{format_number(result.bytes)} bytes")
    if result.elapsed_ms is not None:
        facts.append(f"{result.elapsed_ms} ms")
    if result.revision_id is not None:
        facts.append(f"revision {result.revision_id}")
    details = f" ({', '.join(facts)})" if facts else ""  # an error before any response has none
    say(f"{result.target.name}: {result.outcome}{details}")
    if result.outcome != "new-revision" or result.page is None:
        return
    from scraper.report import render_changes, render_page

    color = sys.stdout.isatty()
    if result.previous_page is None:
        write(render_page(result.page, color=color))
        return
    report = render_changes(
        result.previous_page,
        result.page,
        result.changes,
        format="text",
        old_label=f"revision {result.previous_revision_id}",
        new_label=f"revision {result.revision_id}",
        color=color,
    )
    write(report)


def check_pages(
    config: Config,
    store: Store,
    *,
    clients: Callable[[], AbstractContextManager[httpx.Client]] | None = None,
) -> list[CheckResult]:
    """One check of every page of `config` on `store` (`pipeline.check_all`), then the
    notifications it calls for: `check` runs it once, `run` on its schedule. The targets of
    [notify] are read once per check; nothing of notify is imported when none is configured.
    A failed notification is logged, never an error of the check."""
    from scraper.pipeline import check_all

    settings = config.notify
    urls: tuple[str, ...] = ()

    def plan(results: list[CheckResult]) -> list[Any]:
        nonlocal urls
        if not settings.urls and not settings.urls_env:
            return []
        from scraper.notify import plan_notifications, read_notification_urls

        urls = read_notification_urls(settings)
        if not urls:
            return []
        return plan_notifications(results, store=store, after_failures=settings.after_failures)

    def send(messages: Sequence[Any]) -> None:
        from scraper.notify import send_notifications

        send_notifications(list(messages), urls=urls, now=now_utc(), store=store)

    return check_all(
        config.pages,
        store=store,
        settings=config.fetch,
        now=now_utc,
        lock_wait_s=config.store.lock_wait_s,
        clients=clients,
        plan=plan,
        send=send,
    )
