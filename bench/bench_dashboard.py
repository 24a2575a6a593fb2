"""Render time of each dashboard chart in headless Chromium: target ≤ 1 s per chart.

Two stores, each served by `imdi-watch serve` on 127.0.0.1:
  - demo: `imdi-watch demo --keep DIR` (3 revisions);
  - 1 000 revisions: the 12 November 2021 page through the real pipeline (ingest_body), each
    revision moving five municipalities' requests (and the total and the lead with them) and
    the "Sist oppdatert" date one day on.
For each store the dashboard is loaded RUNS times in one browser (the first load warms the
caches and is not counted) and for every chart we report the medians of
  - drawn: navigation start → the chart's SVG holds its marks (what a person waits for; includes
    the page and ~820 KB of Vega scripts, shared by all four charts),
  - own: the chart's data request sent → marks drawn (its SQL, the JSON and Vega's rendering),
  - sql: the same query run directly on the store through sqlite3.
Run: bench/run dashboard   (or .venv/bin/python bench/bench_dashboard.py); needs chromium.
"""

from __future__ import annotations

import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from _common import UPDATED, updated_on  # noqa: E402
from headless import CHROMIUM, Chromium, serve, wait_for_charts  # noqa: E402

from scraper.config import DEFAULT_URL, Target  # noqa: E402
from scraper.dashboard import CHART_SQL, CHARTS, PATH, SQL_FUNCTIONS  # noqa: E402
from scraper.pipeline import capture_result, ingest_body  # noqa: E402
from scraper.store import fold_or_none, open_store  # noqa: E402

PAGE = (ROOT / "tests" / "fixtures" / "page-2022-nn-a.html").read_text(encoding="utf-8")
REVISIONS = 1_000
MOVED_PER_REVISION = 5
RUNS = 6  # loads per store; the first is a warm-up
SQL_RUNS = 20
TARGET_MS = 1_000.0

# When each chart's data request started: its resource timing entry, found by its SQL.
RESOURCE_STARTS = """Object.fromEntries(performance.getEntriesByType('resource')
  .filter(entry => entry.name.includes('.json?sql='))
  .map(entry => [entry.name, entry.startTime]))"""


def build_demo(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "scraper", "demo", "--keep", str(folder / "demo")],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return folder / "demo" / "imdi-watch.db"


def build_big(folder: Path, revisions: int = REVISIONS) -> Path:
    """`revisions` distinct revisions of the page, through ingest_body like `imdi-watch ingest`."""
    rows = list(
        re.finditer(
            r"(<tr>\s*<td>(?!&nbsp;)[^<]+</td>\s*<td>[^<]+</td>\s*<td>)(?P<requested>\d+)(</td>)",
            PAGE,
        )
    )
    figures = [int(match["requested"]) for match in rows]
    unmatched = 5500 - sum(figures)  # the totals row also counts the row that lost its name
    rng = random.Random(16)
    target = Target("oppmoding", DEFAULT_URL)
    db_path = folder / "big" / "imdi-watch.db"
    db_path.parent.mkdir()
    day = date(2021, 11, 12)
    with open_store(db_path, db_path.parent / "snapshots") as store:
        for i in range(revisions):
            if i:
                for index in rng.sample(range(len(figures)), MOVED_PER_REVISION):
                    figures[index] = max(0, figures[index] + rng.choice((-10, -5, 5, 10)))
                day += timedelta(days=1)
            body = _page(rows, figures, day, total=sum(figures) + unmatched)
            result = ingest_body(
                target,
                capture_result(body, url=target.url),
                store=store,
                fetched_at=f"{day.isoformat()}T12:00:00.000Z",
            )
            assert result.outcome == "new-revision", (i, result.outcome)
            if i % 100 == 99:
                print(f"  built {i + 1} revisions", file=sys.stderr)
    return db_path


def _page(rows: list[re.Match[str]], figures: list[int], day: date, *, total: int) -> bytes:
    parts: list[str] = []
    last = 0
    for match, value in zip(rows, figures, strict=True):
        parts += [PAGE[last : match.start()], match.group(1), str(value), match.group(3)]
        last = match.end()
    parts.append(PAGE[last:])
    body = "".join(parts)
    spoken = f"{total:,}".replace(",", " ")
    body = body.replace("<td>5500</td>", f"<td>{total}</td>", 1)
    body = body.replace("ta imot 5 500 flyktningar", f"ta imot {spoken} flyktningar", 1)
    return body.replace(UPDATED, updated_on(day)).encode()


def measure_browser(db_path: Path) -> dict[str, tuple[list[float], list[float]]]:
    """Per chart: (drawn ms, own ms) of each counted load."""
    found: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in CHARTS}
    with serve(db_path, cwd=db_path.parent) as served, Chromium(timeout_s=120) as browser:
        url = served.url.rstrip("/") + PATH
        for run in range(RUNS):
            browser.open(url)
            drawn = wait_for_charts(browser, CHARTS)
            starts = browser.evaluate(RESOURCE_STARTS)
            if run == 0:
                continue
            for name in CHARTS:
                started = _start_of(name, starts)
                found[name][0].append(drawn[name])
                found[name][1].append(drawn[name] - started)
            assert browser.left_loopback() == [], browser.left_loopback()
    return found


def _start_of(chart: str, starts: dict[str, float]) -> float:
    for url, started in starts.items():
        if parse_qs(urlsplit(url).query).get("sql", [""])[0] == CHART_SQL[chart]:
            return started
    raise LookupError(f"no data request for {chart}")


def measure_sql(db_path: Path) -> dict[str, float]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    for name, function in SQL_FUNCTIONS.items():
        conn.create_function(name, 1, function, deterministic=True)
    conn.create_function("fold", 1, fold_or_none, deterministic=True)
    medians = {}
    for name in CHARTS:
        times = []
        for _ in range(SQL_RUNS):
            started = time.perf_counter()
            conn.execute(CHART_SQL[name], {"municipality": "Oslo (0301)"}).fetchall()
            times.append((time.perf_counter() - started) * 1000)
        medians[name] = statistics.median(times)
    conn.close()
    return medians


def main() -> None:
    if CHROMIUM is None:
        print("skipped: chromium is not installed (apt-get install chromium)")
        return
    with tempfile.TemporaryDirectory(prefix="imdi-watch-bench-dashboard-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        stores = {"demo (3 revisions)": build_demo(folder)}
        print("building the store of 1 000 revisions through the pipeline ...", file=sys.stderr)
        stores["1 000 revisions"] = build_big(folder)
        print(f"  stores built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        worst = 0.0
        for label, db_path in stores.items():
            browser = measure_browser(db_path)
            sql = measure_sql(db_path)
            print(f"{label}: median of {RUNS - 1} loads (ms)")
            print(f"  {'chart':<22}{'drawn':>8}{'own':>8}{'sql':>8}")
            for name in CHARTS:
                drawn = statistics.median(browser[name][0])
                own = statistics.median(browser[name][1])
                worst = max(worst, drawn)
                print(f"  {name:<22}{drawn:>8.0f}{own:>8.0f}{sql[name]:>8.2f}")
        verdict = "ok" if worst <= TARGET_MS else "OVER"
        print(
            f"slowest chart drawn {worst:.0f} ms after navigation (target ≤ {TARGET_MS:.0f}): {verdict}"
        )


if __name__ == "__main__":
    main()
