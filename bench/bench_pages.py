"""Many pages in one check: 50 pages whose server answers each request after 100 ms, checked by
one `imdi-watch check` process. Target: ≤ 1.5 s with the default [fetch].concurrency (4).

The pages live on 5 loopback hosts (127.0.0.1 … 127.0.0.5, 10 pages each; at most 2 requests
per host at a time, so one host alone could not go below 50 × 100 ms / 2 = 2.5 s). Every request,
robots.txt included, waits 100 ms. Measured: the second and later checks (robots.txt is then
cached for 24 h, as in steady state): the wall time of `pipeline.check_all` in this process (what
the target is about), and the wall time and CPU of a whole `imdi-watch check` process, with
  same bytes   every page as before (stored as unchanged without parsing),
  noise        every page re-rendered with a new token (each one parsed),
and, for scale, concurrency 1 (one page after another) and all 50 pages on one host.
Run: bench/run pages   (or .venv/bin/python bench/bench_pages.py)
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _common import run_timed

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "tests" / "fixtures" / "page-2022-nn-a.html").read_bytes()
PAGES = 50
HOSTS = 5
LATENCY_S = 0.1
RUNS = 5
TARGET_S = 1.5
_counter = itertools.count()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    noise = False  # switched by the benchmark

    def do_GET(self) -> None:
        time.sleep(LATENCY_S)
        if self.path == "/robots.txt":
            status, body = 200, b"User-agent: *\nAllow: /\n"
        elif self.path.startswith("/page"):
            status, body = 200, PAGE
            if _Handler.noise:  # a comment that differs per response: other bytes, same content
                body = PAGE.replace(b"</body>", f"<!-- {next(_counter)} --></body>".encode(), 1)
        else:
            status, body = 404, b"not found\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(host: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(folder: Path, urls: list[str], concurrency: int) -> Path:
    lines = []
    for number, url in enumerate(urls):
        lines += ["[[pages]]", f'name = "page{number}"', f'url = "{url}"', ""]
    lines += ["[fetch]", "max_attempts = 1", f"concurrency = {concurrency}", ""]
    lines += ["[store]", 'path = "store/imdi-watch.db"', 'snapshots = "snapshots"']
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check(config: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one `imdi-watch check` process."""
    return run_timed(["--config", str(config), "check", "--quiet"], "check")


def check_all_s(config_path: Path) -> float:
    """The wall time of `pipeline.check_all` alone, in this process (start-up excluded)."""
    from datetime import UTC, datetime

    from scraper.config import load_config
    from scraper.pipeline import check_all
    from scraper.store import open_store

    config = load_config(config_path)
    with open_store(config.store.path, config.store.snapshots) as store:
        started = time.perf_counter()
        check_all(config.pages, store=store, settings=config.fetch,
                  now=lambda: datetime.now(UTC), lock_wait_s=10)  # fmt: skip
        return time.perf_counter() - started


def measure(label: str, urls: list[str], *, concurrency: int, noise: bool, runs: int) -> float:
    """Prints the whole process's wall and CPU, and check_all's own wall; returns the latter."""
    with tempfile.TemporaryDirectory(prefix="imdi-watch-pages-") as tmp:
        config = write_config(Path(tmp), urls, concurrency)
        _Handler.noise = False
        check(config)  # first check: new revisions, robots.txt fetched and cached
        _Handler.noise = noise
        walls, cpus = zip(*(check(config) for _ in range(runs)), strict=True)
        inside = [check_all_s(config) for _ in range(runs)]
    print(
        f"{label:<48} check_all {statistics.median(inside):5.2f} s ({min(inside):.2f}–"
        f"{max(inside):.2f})   process {statistics.median(walls):5.2f} s wall "
        f"({min(walls):.2f}–{max(walls):.2f}), {statistics.median(cpus) * 1000:4.0f} ms CPU"
    )
    return statistics.median(inside)


def main() -> None:
    try:
        servers = [serve(f"127.0.0.{n}") for n in range(1, HOSTS + 1)]
    except OSError as exc:  # Linux answers on all of 127/8; macOS only on 127.0.0.1 by default
        raise SystemExit(f"cannot listen on 127.0.0.2–{HOSTS} ({exc}); on macOS: "
                         "sudo ifconfig lo0 alias 127.0.0.2 up (and .3, .4, .5)") from exc  # fmt: skip
    spread = [
        f"http://{s.server_address[0]}:{s.server_address[1]}/page{n}"
        for n, s in zip(range(PAGES), itertools.cycle(servers), strict=False)
    ]
    one_host = [f"http://127.0.0.1:{servers[0].server_address[1]}/page{n}" for n in range(PAGES)]
    print(f"{PAGES} pages, {LATENCY_S * 1000:.0f} ms per request, median (range) of {RUNS} checks")
    results = {
        "same bytes": measure(
            f"{HOSTS} hosts, concurrency 4, same bytes", spread, concurrency=4, noise=False,
            runs=RUNS,
        ),
        "noise": measure(
            f"{HOSTS} hosts, concurrency 4, noise (parsed)", spread, concurrency=4, noise=True,
            runs=RUNS,
        ),
    }  # fmt: skip
    measure(f"{HOSTS} hosts, concurrency 8, noise (parsed)", spread, concurrency=8, noise=True,
            runs=RUNS)  # fmt: skip
    measure("1 host (2 at a time), concurrency 4, same bytes", one_host, concurrency=4,
            noise=False, runs=RUNS)  # fmt: skip
    measure(f"{HOSTS} hosts, concurrency 1, same bytes", spread, concurrency=1, noise=False,
            runs=1)  # fmt: skip
    for name, wall in results.items():
        verdict = "met" if wall <= TARGET_S else "missed"
        print(f"target check_all ≤ {TARGET_S} s ({name}): {verdict} ({wall:.2f} s)")


if __name__ == "__main__":
    main()
