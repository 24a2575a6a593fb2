"""End to end in a real browser: `imdi-watch serve` as a subprocess, headless Chromium renders
Bergen's history. The screenshot is written under the test's tmp_path, which pytest keeps after
the run (the last three runs; `--basetemp DIR` to choose where) for people to look at."""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from history_store import build_store

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`imdi-watch serve` on a free loopback port; yields its base URL."""
    db_path = build_store(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "scraper", "serve", "--port", "0", "--store", str(db_path)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)

    threading.Thread(target=read_stderr, daemon=True).start()
    try:
        url = None
        while url is None:
            try:
                line = lines.get(timeout=30)
            except queue.Empty:
                pytest.fail("imdi-watch serve printed no address within 30 s")
            if match := re.search(r"at (http://127\.0\.0\.1:\d+/)", line):
                url = match.group(1)
        assert httpx.get(url, timeout=10).status_code == 200  # listening before it announced
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "LANG": "C.UTF-8"},
    )  # fmt: skip


def test_browser_shows_the_history_of_bergen(served: str, tmp_path: Path) -> None:
    url = f"{served}imdi-watch/municipality_history?municipality=Bergen"
    done = chromium(tmp_path, "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "Municipality history" in dom
    cells = re.findall(r'<td class="col-requested[^"]*">\s*(\d+)\s*</td>', dom)
    assert cells == ["182", "192"], dom[-3000:]
    assert "Bergen" in dom and "2021-11-12" in dom and "2021-11-19" in dom
    assert "Kjelde: IMDi" in dom

    screenshot = tmp_path / "municipality-history-bergen.png"
    done = chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,900", url)
    assert done.returncode == 0, done.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
