"""Shared fixtures: a loopback HTTP server and the fixtures folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from server import LoopbackServer


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """An HTTP server on 127.0.0.1, port 0; script it with `http_server.route(path, Reply(...))`."""
    with LoopbackServer() as server:
        yield server


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
