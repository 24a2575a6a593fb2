"""A whole `imdi-watch check` process on an unchanged page, from spawn to exit: target ≤ 300 ms.

A local server (started here, on 127.0.0.1) serves page-2022-nn-a.html with an ETag. Two paths:
  (a) 304: the server honours If-None-Match, the check stores a not-modified fetch;
  (b) 200, same fingerprint: the server ignores If-None-Match, the check downloads, parses and
      stores an unchanged fetch.
For each, the median wall time of the runs and the median CPU time (user + system, from
resource.getrusage(RUSAGE_CHILDREN) deltas). Then `python -X importtime` of one check, summed
by top-level package, to show where start-up goes.
Run: bench/run check   (or .venv/bin/python bench/bench_check.py)
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "tests" / "fixtures" / "page-2022-nn-a.html").read_bytes()
ETAG = '"nn-a-2021-11-12"'
RUNS = 25
TARGET_MS = 300.0
TOP = 12


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    honour_etag = True  # switched by the benchmark between the two paths

    def do_GET(self) -> None:
        if self.path != "/oppmoding":
            self._send(404, b"not found\n", {})
        elif _Handler.honour_etag and self.headers.get("If-None-Match") == ETAG:
            self._send(304, b"", {"ETag": ETAG})
        else:
            self._send(200, PAGE, {"ETag": ETAG, "Content-Type": "text/html; charset=utf-8"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _command(config: Path) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "imdi-watch"), "--config", str(config), "check", "--quiet"]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _environment(pycache: Path | None) -> dict[str, str]:
    """With `pycache`, bytecode is cached there, as an installed package has it; without, every
    run compiles scraper/ again (what PYTHONDONTWRITEBYTECODE=1 does to a source checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPYCACHEPREFIX",)}
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    cpu = _cpu_s()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0 or done.stdout or done.stderr:
        sys.exit(f"check failed ({done.returncode}): {done.stdout}{done.stderr}")
    return wall * 1000, (_cpu_s() - cpu) * 1000


def _measure(command: list[str], label: str, env: dict[str, str], *, target: bool = True) -> float:
    _run_once(command, env)  # warm the OS file cache and the bytecode cache
    walls, cpus = zip(*(_run_once(command, env) for _ in range(RUNS)), strict=True)
    wall = statistics.median(walls)
    verdict = "target met" if wall <= TARGET_MS else "target MISSED"
    print(
        f"{label}: median wall {wall:.0f} ms (min {min(walls):.0f}, max {max(walls):.0f}), "
        f"median CPU {statistics.median(cpus):.0f} ms, {RUNS} runs"
        + (f" (target ≤ {TARGET_MS:g} ms: {verdict})" if target else "")
    )
    return wall


def _import_times(config: Path, env: dict[str, str]) -> None:
    """Self time of every import during one check, summed by top-level package."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *_command(config)],
        capture_output=True,
        text=True,
        env=env,
    )
    self_us: dict[str, int] = defaultdict(int)
    modules: dict[str, int] = {}
    line = re.compile(r"^import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")
    for text in done.stderr.splitlines():
        if match := line.match(text):
            self_us[match.group(2).split(".")[0]] += int(match.group(1))
            modules[match.group(2)] = int(match.group(1))
    total = sum(self_us.values())
    print(f"imports of one check (200 path), self time by top-level package: {total / 1000:.0f} ms")
    for name, us in sorted(self_us.items(), key=lambda item: -item[1])[:TOP]:
        print(f"  {name:<22} {us / 1000:6.1f} ms  {100 * us / total:4.1f} %")
    ours = sorted(((us, name) for name, us in modules.items() if name.startswith("scraper")))
    print("  of which scraper's own modules: " + ", ".join(
        f"{name.removeprefix('scraper.')} {us / 1000:.1f}" for us, name in reversed(ours)
    ))  # fmt: skip


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/oppmoding"
    try:
        with tempfile.TemporaryDirectory(prefix="imdi-bench-") as tmp:
            config = Path(tmp) / "config.toml"
            config.write_text(
                f'[[pages]]\nname = "oppmoding"\nurl = "{url}"\n\n'
                '[store]\npath = "imdi-watch.db"\nsnapshots = "snapshots"\n',
                encoding="utf-8",
            )
            command = _command(config)
            cached = _environment(Path(tmp) / "pycache")
            first = subprocess.run(command, capture_output=True, text=True, env=cached)
            if first.returncode != 0:  # that check stored revision 1
                sys.exit(f"first check failed: {first.stderr}")
            print(f"imdi-watch check on an unchanged page ({len(PAGE):,} bytes), spawn to exit,")
            print("bytecode cached (in a temporary PYTHONPYCACHEPREFIX, as when installed):")
            bare = [sys.executable, "-c", "pass"]
            _measure(bare, "bare interpreter (python -c pass), for scale", cached, target=False)
            _Handler.honour_etag = True
            _measure(command, "(a) 304 Not Modified", cached)
            _Handler.honour_etag = False
            _measure(command, "(b) 200, same fingerprint", cached)
            _import_times(config, cached)
            print(
                "without bytecode caching (PYTHONDONTWRITEBYTECODE=1: scraper/ compiled each run):"
            )
            _Handler.honour_etag = True
            _measure(command, "(a) 304 Not Modified", _environment(None))
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
