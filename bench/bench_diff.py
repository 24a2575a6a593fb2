"""Diff two 356-row revisions (target ≤ 5 ms) and a whole `imdi-watch diff` process (≤ 350 ms).

Run: bench/run diff   (or .venv/bin/python bench/bench_diff.py)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scraper.config import Target
from scraper.diff import diff_pages
from scraper.parse import parse_page
from scraper.pipeline import capture_result, ingest_body
from scraper.store import open_store

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
EXECUTABLE = Path(sys.executable).parent / "imdi-watch"


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def time_diff_function(runs: int = 500) -> float:
    old = parse_page((FIXTURES / "page-2022-nn-a.html").read_bytes())
    new = parse_page((FIXTURES / "page-2022-revised.html").read_bytes())
    diff_pages(old, new)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        diff_pages(old, new)
        times.append(time.perf_counter() - start)
    return median_ms(times)


def time_diff_process(folder: Path, runs: int = 20) -> float:
    target = Target("oppmoding", "http://127.0.0.1/oppmoding")
    (folder / "config.toml").write_text(
        f'[[pages]]\nname = "{target.name}"\nurl = "{target.url}"\n', encoding="utf-8"
    )
    with open_store(folder / "store" / "imdi-watch.db", folder / "snapshots") as store:
        for name, at in (("page-2022-nn-a.html", "2021-11-12T09:00:00.000Z"),
                         ("page-2022-revised.html", "2021-11-19T09:00:00.000Z")):  # fmt: skip
            body = (FIXTURES / name).read_bytes()
            ingest_body(target, capture_result(body, url=target.url), store=store, fetched_at=at)
    command = [str(EXECUTABLE), "--config", str(folder / "config.toml"), "diff"]
    subprocess.run(command, check=True, capture_output=True)  # warm the OS file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return median_ms(times)


def main() -> int:
    in_process = time_diff_function()
    print(f"diff_pages, 356 rows, nn-a → revised, median of 500: {in_process:.2f} ms"
          f"  (target ≤ 5 ms: {'met' if in_process <= 5 else 'MISSED'})")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        process = time_diff_process(Path(folder))
    print(f"`imdi-watch diff` whole process (latest vs previous, text), median of 20: "
          f"{process:.0f} ms  (target ≤ 350 ms: {'met' if process <= 350 else 'MISSED'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
