"""`serve` answers malformed addresses with 4xx, not a 500 and a traceback, and no write endpoint
is reachable: the real server (uvicorn) in a subprocess, asked over HTTP on 127.0.0.1."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_helpers import clean_env
from history_store import build_store


def start_serve(db_path: Path) -> tuple[subprocess.Popen[str], str]:
    """`imdi-watch serve` on `db_path` in a subprocess, in a user's environment, and its base URL
    (from the first line it logs)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scraper", "serve", "--store", str(db_path), "--port", "0"],
        env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    first = process.stderr.readline()
    assert " at http://127.0.0.1:" in first, first
    return process, first.split(" at ")[1].split(" ")[0].rstrip("/")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running `serve` on a two-revision store."""
    process, base = start_serve(build_store(tmp_path_factory.mktemp("guard")))
    try:
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/imdi-watch/changes/1", 400),  # half of the (revision_id, position) key
        ("/imdi-watch/changes/1.json", 400),
        ("/imdi-watch/figures/1", 404),  # a view has no rows by key
        ("/imdi-watch/fetches.json?_sort=no_such_column", 400),
        ("/imdi-watch/no_such_table", 404),
        ("/imdi-watch/changes/999,1", 404),
    ],
)
def test_serve_malformed_addresses_are_client_errors(served: str, path: str, status: int) -> None:
    response = httpx.get(served + path)
    assert response.status_code == status
    if path.split("?")[0].endswith(".json"):
        assert response.json()["ok"] is False


@pytest.mark.parametrize(
    "path",
    ["/-/insert", "/imdi-watch/figures/-/insert", "/imdi-watch/figures/-/upsert",
     "/imdi-watch/figures/1,1/-/delete", "/imdi-watch/figures/-/drop", "/imdi-watch/-/create",
     "/-/create-token", "/-/messages", "/-/logout", "/imdi-watch/current_figures"],
)  # fmt: skip
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_serve_answers_no_write_method(served: str, path: str, method: str) -> None:
    response = httpx.request(method, served + path, json={"rows": [{"requested": 1}]})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.text == "imdi-watch serve is read-only: only GET and HEAD are answered\n"


def test_serve_logs_a_malformed_address_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    process, base = start_serve(build_store(tmp_path))
    statuses = [
        httpx.get(base + "/imdi-watch/changes/1").status_code,
        httpx.get(base + "/imdi-watch/fetches?_sort=nope").status_code,
        httpx.post(base + "/-/insert", json={}).status_code,
        httpx.get(base + "/imdi-watch/revisions.json?_shape=array").status_code,
    ]
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert statuses == [400, 400, 405, 200]
    assert "Traceback" not in err and "│" not in err
