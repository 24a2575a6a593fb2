"""config.toml → Config. Every setting is declared once (name, type, default, help) in SETTINGS;
that table drives defaults, validation, error messages and the README's list of keys.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from scraper.errors import ConfigError
from scraper.models import Target, without_userinfo

DEFAULT_URL = "https://www.imdi.no/planlegging-og-bosetting/bosettingsprosessen/imdis-anmodning/"
# Since 2023/24 the request page carries only the lead; request and decision figures nationally,
# by county and per municipality are on Bosettingstall, updated weekly.
BOSETTINGSTALL_URL = "https://www.imdi.no/planlegging-og-bosetting/bosettingstall/"
DEFAULT_PAGES = (("oppmoding", DEFAULT_URL), ("bosettingstall", BOSETTINGSTALL_URL))
CONFIG_ENV = "IMDI_WATCH_CONFIG"
DEFAULT_CONFIG_NAME = "config.toml"


class Setting(NamedTuple):
    """One key of config.toml (a NamedTuple: ~5× cheaper to define than a frozen dataclass, and
    this module is imported by every cron check)."""

    type: type | tuple[type, ...]
    default: Any
    help: str
    minimum: float = 0


# section → key → Setting. [[pages]] is an array of tables and is checked on its own.
SETTINGS: dict[str, dict[str, Setting]] = {
    "fetch": {
        "connect_timeout_s": Setting((int, float), 10.0, "seconds to wait for a connection", 0.001),
        "read_timeout_s": Setting((int, float), 30.0, "seconds to wait for data", 0.001),
        "max_bytes": Setting(int, 10_000_000, "largest response body accepted", 1),
        "max_attempts": Setting(int, 4, "tries per check on network errors, 429 and 5xx", 1),
        "backoff_s": Setting((int, float), 1.0, "first wait between tries; doubles each time"),
        "max_backoff_s": Setting(
            (int, float), 60.0, "longest wait between tries (Retry-After too)"
        ),
        "allow_other_hosts": Setting(bool, False, "follow redirects to another host"),
        "contact": Setting(str, "", "e-mail or URL put in the User-Agent, so IMDi can reach you"),
        "ignore_robots": Setting(bool, False, "fetch even where robots.txt disallows (logged)"),
        "concurrency": Setting(int, 4, "pages fetched at once (never more than 2 per host)", 1),
        "deadline_s": Setting(
            (int, float),
            120.0,
            "most seconds one page's fetch may take, retries and waits included",
            0.001,
        ),
    },
    "store": {
        "path": Setting(str, "store/imdi-watch.db", "the SQLite database, relative to this file"),
        "snapshots": Setting(str, "snapshots", "raw captures folder, relative to this file"),
        "lock_wait_s": Setting((int, float), 10.0, "how long a check waits for another's lock"),
    },
    "schedule": {
        "interval_s": Setting((int, float), 1800, "seconds between checks (when no cron)"),
        "cron": Setting(str, "", 'a crontab expression, e.g. "*/30 7-17 * * mon-fri"'),
        "timezone": Setting(str, "Europe/Oslo", "time zone of the cron expression"),
        "jitter_s": Setting((int, float), 30, "random delay added to each run, in seconds"),
    },
    "notify": {
        "urls": Setting(list, [], "Apprise URLs to notify on a new revision"),
        "urls_env": Setting(str, "", "name of an environment variable holding more Apprise URLs"),
        "after_failures": Setting(
            int, 3, "notify after this many failed checks in a row; 0: never"
        ),
    },
}
PAGE_KEYS = {"name": "a short name for the page", "url": "the http(s) address to watch"}


@dataclass(frozen=True, slots=True)
class FetchSettings:
    connect_timeout_s: float
    read_timeout_s: float
    max_bytes: int
    max_attempts: int
    backoff_s: float
    max_backoff_s: float
    allow_other_hosts: bool
    contact: str
    ignore_robots: bool
    concurrency: int
    deadline_s: float


@dataclass(frozen=True, slots=True)
class StoreSettings:
    path: Path
    snapshots: Path
    lock_wait_s: float


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    interval_s: float
    cron: str
    timezone: str
    jitter_s: float


@dataclass(frozen=True, slots=True)
class NotifySettings:
    urls: tuple[str, ...]
    urls_env: str
    after_failures: int


@dataclass(frozen=True, slots=True)
class Config:
    pages: tuple[Target, ...]
    fetch: FetchSettings
    store: StoreSettings
    schedule: ScheduleSettings
    notify: NotifySettings
    source: Path | None  # the file read, None for built-in defaults


def find_config_file(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config, else $IMDI_WATCH_CONFIG, else ./config.toml if present, else None (defaults)."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and check a config file; with None, the defaults (paths relative to the cwd)."""
    file = find_config_file(path)
    if file is None:
        return build_config({}, base=Path.cwd(), source=None)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    return build_config(data, base=file.resolve().parent, source=file)


def build_config(data: dict[str, Any], *, base: Path, source: Path | None) -> Config:
    where = str(source) if source else "defaults"
    for key in data:
        if key != "pages" and key not in SETTINGS:
            expected = ", ".join(["[[pages]]", *(f"[{name}]" for name in SETTINGS)])
            raise ConfigError(f"{where}: unknown key {key!r} (expected one of: {expected})")
    sections = {name: _section(where, name, data.get(name, {})) for name in SETTINGS}
    store = sections["store"]
    return Config(
        pages=_pages(where, data.get("pages")),
        fetch=FetchSettings(**sections["fetch"]),
        store=StoreSettings(
            path=(base / store["path"]).resolve(),
            snapshots=(base / store["snapshots"]).resolve(),
            lock_wait_s=store["lock_wait_s"],
        ),
        schedule=ScheduleSettings(**sections["schedule"]),
        notify=NotifySettings(
            urls=tuple(sections["notify"]["urls"]),
            urls_env=sections["notify"]["urls_env"],
            after_failures=sections["notify"]["after_failures"],
        ),
        source=source,
    )


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
             list: "a list of strings"}  # fmt: skip
    if isinstance(expected, tuple):
        return "a number" if float in expected else " or ".join(names[t] for t in expected)
    return names[expected]


def _section(where: str, name: str, values: Any) -> dict[str, Any]:
    declared = SETTINGS[name]
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    result = {key: setting.default for key, setting in declared.items()}
    for key, value in values.items():
        setting = declared.get(key)
        if setting is None:
            raise ConfigError(
                f"{where}: unknown key [{name}].{key} (expected one of: {', '.join(declared)})"
            )
        ok = isinstance(value, setting.type) and not (
            isinstance(value, bool) and setting.type is not bool
        )
        if ok and setting.type is list:
            ok = all(isinstance(item, str) for item in value)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and number and value < setting.minimum:
            least = (
                "not be negative" if setting.minimum == 0 else f"be at least {setting.minimum:g}"
            )
            raise ConfigError(f"{where}: [{name}].{key} must {least}, got {value!r}")
        if not ok:
            raise ConfigError(
                f"{where}: [{name}].{key} must be {_type_name(setting.type)}, got {value!r}"
            )
        result[key] = value
    for key, setting in declared.items():  # 10 in a float setting reads as 10.0
        if isinstance(setting.type, tuple) and float in setting.type:
            result[key] = float(result[key])
    return result


def _pages(where: str, pages: Any) -> tuple[Target, ...]:
    if pages is None:
        return tuple(Target(name=name, url=url) for name, url in DEFAULT_PAGES)
    if not isinstance(pages, list) or not pages:
        raise ConfigError(f"{where}: [[pages]] must be one or more tables with name and url")
    targets: list[Target] = []
    for index, page in enumerate(pages):
        label = f"[[pages]] #{index + 1}"
        if not isinstance(page, dict):
            raise ConfigError(f"{where}: {label} must be a table with name and url")
        for key in page:
            if key not in PAGE_KEYS:
                raise ConfigError(f"{where}: unknown key {label}.{key} (expected: name, url)")
        url = page.get("url")
        if not isinstance(url, str) or (parts := urlsplit(url)).scheme not in ("http", "https"):
            raise ConfigError(
                f"{where}: {label}.url must be an http:// or https:// URL, got {url!r}"
            )
        if not parts.hostname:
            raise ConfigError(f"{where}: {label}.url has no host: {url!r}")
        if "@" in parts.netloc:
            raise ConfigError(
                f"{where}: {label}.url has a user name or password in it "
                f"({without_userinfo(url)} with "
                "user:password@); they would be stored and shown with every fetch. imdi-watch "
                "fetches public pages only: remove them (keep secrets in an environment "
                "variable, as [notify].urls_env does)"
            )
        name = page.get("name", f"page{index + 1}")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: {label}.name must be a non-empty string, got {name!r}")
        targets.append(Target(name=name, url=url))
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: [[pages]] names must be unique, got {names}")
    return tuple(targets)
