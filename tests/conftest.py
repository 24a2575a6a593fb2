"""Shared fixtures: a loopback HTTP server and the fixtures folder."""

from __future__ import annotations

from collections.abc import Iterator
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
