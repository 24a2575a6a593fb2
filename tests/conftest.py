"""Shared fixtures: a loopback HTTP server and the fixtures folder. Two rules for every test:
hypothesis runs derandomized (the same examples on every run; `--hypothesis-profile=explore` to
search afresh), and a test run leaves the repository as it found it (tests write under tmp_path).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import settings
from server import LoopbackServer

from scraper.config import build_config
from scraper.fetch import make_client

REPOSITORY = Path(__file__).resolve().parent.parent
# What running the tests may leave in the repository: the interpreter's and the tools' caches.
SCRATCH = (".venv", "__pycache__", ".pytest_cache", ".hypothesis")

# Deterministic by default: a property test tries the same examples every run, and keeps no
# example database (a failure found once is replayed from the printed example, not from disk).
settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, database=None, print_blob=True)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("hypothesis_profile", default=None) is None:
        settings.load_profile("deterministic")


@pytest.fixture(scope="session", autouse=True)
def repository_left_as_found() -> Iterator[None]:
    """Fail the run (an error at the last test's teardown) if it created, changed or removed a
    file in the repository, tracked, untracked or ignored, outside SCRATCH."""
    before = repository_files()
    yield
    after = repository_files()
    if before is None or after is None:  # not a git checkout: nothing to compare with
        return
    touched = sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    if touched:
        pytest.fail(
            f"the test run wrote into the repository {REPOSITORY} (tests write under tmp_path): "
            + ", ".join(touched),
            pytrace=False,
        )


def repository_files() -> dict[str, tuple[str, int, int]] | None:
    """Each file git reports as changed, untracked or ignored, with its status; an untracked or
    ignored file also with its mtime and size. (A tracked file's changes count once, from clean to
    changed: someone editing a file that was already changed during the run is not the tests.)"""
    excluded = [f":(exclude,glob)**/{name}/**" for name in SCRATCH]
    try:
        listed = subprocess.run(
            [
                "git",
                "status",
                "--porcelain=v1",
                "-z",
                "--ignored",
                "--untracked-files=all",
                "--",
                ".",
                *excluded,
            ],
            cwd=REPOSITORY,
            capture_output=True,
            check=True,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        ).stdout.decode("utf-8", "surrogateescape")
    except (OSError, subprocess.CalledProcessError):
        return None
    files: dict[str, tuple[str, int, int]] = {}
    entries = iter(listed.split("\0"))
    for entry in entries:
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            next(entries, None)  # the path it was renamed or copied from
        if status not in ("??", "!!"):
            files[path] = (status, 0, 0)
            continue
        try:
            stat = (REPOSITORY / path).stat()
            files[path] = (status, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            files[path] = (status, 0, -1)
    return files


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """An HTTP server on 127.0.0.1, port 0; script it with `http_server.route(path, Reply(...))`."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """An HTTP client as `check` makes it, with the default [fetch] settings."""
    with make_client(build_config({}, base=Path("/nonexistent"), source=None).fetch) as client:
        yield client


@pytest.fixture
def fixtures_dir() -> Path:
    return Path(__file__).parent / "fixtures"


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config.toml in tmp_path for one page at `url` with fast, test-sized fetch settings.

    `fetch` and `store` add or override keys of those sections; `extra` is appended verbatim.
    The store is tmp_path/store/imdi-watch.db, the snapshots tmp_path/snapshots.
    """

    def write(
        url: str,
        *,
        fetch: dict[str, object] | None = None,
        store: dict[str, object] | None = None,
        extra: str = "",
        name: str = "config.toml",
    ) -> Path:
        fetch_values: dict[str, object] = {
            "backoff_s": 0.01,
            "max_backoff_s": 0.05,
            "read_timeout_s": 0.5,
            "connect_timeout_s": 0.5,
            "max_attempts": 3,
            "ignore_robots": False,
            **(fetch or {}),
        }
        store_values: dict[str, object] = {
            "path": "store/imdi-watch.db",
            "snapshots": "snapshots",
            **(store or {}),
        }
        lines = ["[[pages]]", 'name = "oppmoding"', f"url = {_toml(url)}", "", "[store]"]
        lines += [f"{key} = {_toml(value)}" for key, value in store_values.items()]
        lines += ["", "[fetch]"]
        lines += [f"{key} = {_toml(value)}" for key, value in fetch_values.items()]
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
        return path

    return write


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
