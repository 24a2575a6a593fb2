"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no
driver, no websocket library. The network is limited to 127.0.0.1 — other host names resolve to
nothing and other addresses go to a dead proxy — and every request the page made is recorded, so a
test can assert that none left 127.0.0.1. Shared by tests/test_dashboard.py,
bench/bench_dashboard.py and dev/screenshot_dashboard.py."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium")
LOOPBACK = "127.0.0.1"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio",
    # every name but 127.0.0.1 resolves to nothing; an address literal goes to a dead proxy
    # (loopback itself bypasses a proxy in Chromium)
    f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {LOOPBACK}",
    f"--proxy-server=http://{LOOPBACK}:9",
    "--remote-debugging-pipe",
)  # fmt: skip

# Set before the page's own scripts run: when each chart first holds Vega marks, in ms since
# navigation began (performance.now()). The charts are the dashboard's .dashboard-card-chart.
CHART_TIMER = """
window.__chartDrawnMs = {};
new MutationObserver(() => {
  for (const el of document.querySelectorAll('.dashboard-card-chart')) {
    if (!(el.id in window.__chartDrawnMs) && el.querySelector('svg .role-mark > *')) {
      window.__chartDrawnMs[el.id] = performance.now();
    }
  }
}).observe(document, {childList: true, subtree: true});
"""


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium with one tab. Use as a context manager."""

    def __init__(
        self,
        *,
        width: int = 1400,
        height: int = 1100,
        timeout_s: float = 60,
        profile_parent: Path | None = None,
    ) -> None:
        """`profile_parent`: where the fresh profile folder goes (a test's tmp_path)."""
        if CHROMIUM is None:
            raise BrowserError("chromium is not installed (apt-get install chromium)")
        self.timeout_s = timeout_s
        self.requests: list[str] = []  # every URL the page asked for, in order
        self._profile = tempfile.TemporaryDirectory(
            prefix="imdi-watch-chromium-", dir=profile_parent
        )
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def connect_pipes() -> None:  # in the child: Chromium reads fd 3 and writes fd 4
            read = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            write = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self._process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=connect_pipes,  # only dup2: safe beside other threads
            close_fds=False,
            env={**os.environ, "LANG": "C.UTF-8"},
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Network.enable")
        self.call("Page.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.call("Page.addScriptToEvaluateOnNewDocument", source=CHART_TIMER)

    # --- the protocol ---

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_child, 1 << 16):
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                with self._cond:
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self._on_event(message)
                        self._events.append(message)
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _on_event(self, message: dict[str, Any]) -> None:
        if message.get("method") == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])

    def send(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            while ident not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise BrowserError(f"no answer to {method} within {self.timeout_s} s")
                self._cond.wait(left)
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the tab."""
        return self.send(method, session=self._session, **params)

    # --- what tests use ---

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        with self._cond:
            self._events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for(lambda: self._has_event("Page.loadEventFired"), what=f"{url} to load")

    def _has_event(self, method: str) -> bool:
        with self._cond:
            return any(event.get("method") == method for event in self._events)

    def evaluate(self, expression: str) -> Any:
        """A JavaScript expression's value (awaited if it is a promise), as JSON."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, ready: Callable[[], Any], *, what: str) -> Any:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if value := ready():
                return value
            time.sleep(0.05)
        raise BrowserError(f"waited {self.timeout_s} s for {what}")

    def screenshot(self, path: Path) -> Path:
        """The whole page as PNG."""
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def left_loopback(self) -> list[str]:
        """The requests the page made to anywhere but 127.0.0.1 (data: and about: stay home)."""
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "about", "blob")
            and urlsplit(url).hostname != LOOPBACK
        ]

    def close(self) -> None:
        with contextlib.suppress(BrowserError):
            self.send("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_child)
        self._reader.join(timeout=5)
        os.close(self._from_child)
        self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- `imdi-watch serve` as a subprocess -----------------------------------------------------


@dataclass
class Served:
    """A running `imdi-watch -v serve`: its base URL and what it logged (uvicorn's access log)."""

    url: str
    log: list[str] = field(default_factory=list)


@contextlib.contextmanager
def serve(db_path: Path, *, cwd: Path) -> Iterator[Served]:
    """`imdi-watch -v serve --port 0` on the store; yields once it announced its address."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scraper", "-v", "serve", "--port", "0", "--store", str(db_path)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    served = Served(url="")

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            served.log.append(line)
            lines.put(line)

    threading.Thread(target=read_stderr, daemon=True).start()
    try:
        while not served.url:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                raise BrowserError("imdi-watch serve printed no address within 60 s") from None
            if match := re.search(r"at (http://127\.0\.0\.1:\d+/)", line):
                served.url = match.group(1)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the dashboard --------------------------------------------------------------------------

CHART_MARKS = """Object.fromEntries(Array.from(document.querySelectorAll('.dashboard-card-chart'))
  .map(el => [el.id.replace(/^chart-/, ''),
              Array.from(el.querySelectorAll('svg .role-mark > *'))
                .map(mark => mark.getAttribute('aria-label') || '')]))"""


def wait_for_charts(browser: Chromium, charts: tuple[str, ...]) -> dict[str, float]:
    """Wait until every chart drew its marks; when each did, in ms since navigation began."""

    def drawn() -> dict[str, float] | None:
        found = browser.evaluate("window.__chartDrawnMs") or {}
        times = {name: found.get(f"chart-{name}") for name in charts}
        return None if None in times.values() else {k: float(v) for k, v in times.items()}

    result: dict[str, float] = browser.wait_for(drawn, what=f"the charts {', '.join(charts)}")
    return result


def chart_marks(browser: Chromium) -> dict[str, list[str]]:
    """Each chart's Vega marks (bars, lines, points) by their aria-label descriptions."""
    marks: dict[str, list[str]] = browser.evaluate(CHART_MARKS)
    return marks
