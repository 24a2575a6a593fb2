"""`history NAME` at a terminal ends with a sparkline of the request (issue 16.3): blank is a gap."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from cli_helpers import clean_env, run_cli
from history_store import build_store

from scraper.report import render_sparkline


def test_sparkline_scales_from_lowest_to_highest() -> None:
    assert render_sparkline([0, 7, 14]) == "▁▅█"
    assert render_sparkline([182, 192]) == "▁█"


def test_sparkline_blank_is_a_gap_not_the_lowest_block() -> None:
    assert render_sparkline([5, None, 10]) == "▁ █"
    assert render_sparkline([None, None]) == "  "
    assert render_sparkline([0, None, 0]) == "▄ ▄"


def test_sparkline_of_nothing_is_empty() -> None:
    assert render_sparkline([]) == ""


def _run_in_terminal(args: list[str], *, cwd: Path) -> str:
    """The command's output as a terminal shows it (stdout is a pty)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "scraper", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=clean_env(COLUMNS="200", TERM="dumb"),
    )
    os.close(terminal)
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_history_at_a_terminal_shows_the_request_sparkline(tmp_path: Path) -> None:
    build_store(tmp_path)
    shown = _run_in_terminal(["history", "Bergen"], cwd=tmp_path)
    assert "requested ▁█  182 → 192\n" in shown


def test_history_into_a_pipe_has_no_sparkline(tmp_path: Path) -> None:
    build_store(tmp_path)
    result = run_cli("--config", str(tmp_path / "config.toml"), "history", "Bergen")
    assert result.code == 0
    assert "182" in result.out
    assert "▁" not in result.out and "█" not in result.out
