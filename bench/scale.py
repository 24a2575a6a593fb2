"""Does anything get slower as history grows? Stores of 1, 100 and 1 000 revisions, built through
the real pipeline (`ingest_body`: parse, baseline, diff, store) from varied versions of the
12 November 2021 page: each revision moves 1–6 municipalities' figures by a few (seeded), every
97th loses its table (a broken spell, then back), and the "Sist oppdatert" date moves on.

For each store it prints, median (range) of RUNS:
  - every view in `scraper.store.VIEWS`: its first page as Datasette shows it (LIMIT 101) and a
    count of all its rows;
  - every canned query in the Datasette metadata (`scraper.serve.build_metadata`), with the
    parameters a person would give (municipality=Bergen, the others empty);
  - whole `imdi-watch` processes: `history Bergen` and `log -n 5` (wall and CPU, from wait4);
then the ratio of each at 1 000 revisions to 1 revision (target for the commands: ≤ 1.25×, for
views and queries ≤ 50 ms at 1 000). Generic over the views and queries that exist: it reads
them from the package, so a new view is measured without editing this file.
Run: .venv/bin/python bench/scale.py [--sizes 1,100,1000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import UPDATED, run_timed, updated_on

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
PAGE = (FIXTURES / "page-2022-nn-a.html").read_text(encoding="utf-8")
BROKEN = (FIXTURES / "page-2022-broken.html").read_text(encoding="utf-8")
CELL = re.compile(r"(<td>)(\d{1,4})(</td>)")
PARAMS = {"municipality": "Bergen"}  # anything else: '' (all)
COMMANDS = (("history Bergen", ["history", "Bergen"]), ("log -n 5", ["log", "-n", "5"]))
TARGET_MS = 50.0
TARGET_RATIO = 1.25


def versions(count: int, seed: int = 14) -> Iterator[tuple[str, str]]:
    """`count` (body, fetched_at) pairs, each a different page from the one before."""
    rng = random.Random(seed)
    cells = [m for m in CELL.finditer(PAGE)]
    assert PAGE.count(UPDATED) == 1 and len(cells) > 300, (PAGE.count(UPDATED), len(cells))
    values = {m.start(): int(m.group(2)) for m in cells}
    moment = datetime(2021, 11, 12, 9, 0, tzinfo=UTC)
    for number in range(count):
        moment += timedelta(hours=rng.randint(1, 72))
        if number % 97 == 96:
            yield BROKEN, _iso(moment)
            continue
        for start in rng.sample(sorted(values), rng.randint(1, 6)):
            values[start] = max(0, values[start] + rng.choice((-5, -2, -1, 1, 2, 3, 10)))
        body, last = [], 0
        for m in cells:
            body += [PAGE[last : m.start()], f"<td>{values[m.start()]}</td>"]
            last = m.end()
        body.append(PAGE[last:])
        day = date(2021, 11, 12) + timedelta(days=number)
        yield "".join(body).replace(UPDATED, updated_on(day)), _iso(moment)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def build_stores(root: Path, sizes: list[int]) -> dict[int, Path]:
    """One store folder per size (config.toml, imdi-watch.db, snapshots/), grown in one go and
    copied when it reaches each size."""
    from scraper.config import DEFAULT_URL, Target
    from scraper.pipeline import capture_result, ingest_body
    from scraper.store import open_store

    target = Target("oppmoding", DEFAULT_URL)
    work = root / "growing"
    work.mkdir()
    folders: dict[int, Path] = {}
    revisions = 0
    started = time.perf_counter()
    with open_store(work / "imdi-watch.db", work / "snapshots") as store:
        for body, fetched_at in versions(max(sizes) * 2):  # more than enough
            result = ingest_body(
                target, capture_result(body.encode(), url=DEFAULT_URL), store=store,
                fetched_at=fetched_at,
            )  # fmt: skip
            if result.outcome != "new-revision":
                continue
            revisions += 1
            if revisions in sizes:
                folders[revisions] = _copy(store.db_path, root / f"store-{revisions}", work)
                print(f"  {revisions:>5} revisions built ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr)  # fmt: skip
            if revisions == max(sizes):
                break
    return folders


def _copy(db_path: Path, folder: Path, work: Path) -> Path:
    folder.mkdir()
    source = sqlite3.connect(db_path)
    target = sqlite3.connect(folder / "imdi-watch.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    shutil.copytree(work / "snapshots", folder / "snapshots")
    (folder / "config.toml").write_text(
        '[[pages]]\nname = "oppmoding"\nurl = "https://www.imdi.no/planlegging-og-bosetting/'
        'bosettingsprosessen/imdis-anmodning/"\n\n'
        '[store]\npath = "imdi-watch.db"\nsnapshots = "snapshots"\n',
        encoding="utf-8",
    )
    return folder


def connect(db_path: Path) -> sqlite3.Connection:
    """Read-only, with the SQL functions Datasette gets from serve.py's plugins."""
    from scraper.store import fold_or_none

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.create_function("fold", 1, fold_or_none, deterministic=True)
    try:
        from scraper.dashboard import SQL_FUNCTIONS

        for name, function in SQL_FUNCTIONS.items():
            conn.create_function(name, 1, function, deterministic=True)
    except ImportError:
        pass
    return conn


def timed(call: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def canned_queries() -> dict[str, dict[str, Any]]:
    from scraper.serve import build_metadata

    database = build_metadata("imdi-watch")["databases"]["imdi-watch"]
    return dict(database.get("queries", {}))


def views() -> list[str]:
    from scraper.store import VIEWS

    return list(VIEWS)


def measure_sql(db_path: Path, runs: int) -> dict[str, list[float]]:
    conn = connect(db_path)
    results: dict[str, list[float]] = {}
    try:
        for view in views():
            results[f"view {view}: first page"] = timed(
                lambda v=view: conn.execute(f"SELECT * FROM [{v}] LIMIT 101").fetchall(), runs
            )
            results[f"view {view}: count"] = timed(
                lambda v=view: conn.execute(f"SELECT count(*) FROM [{v}]").fetchall(), runs
            )
        for name, query in canned_queries().items():
            params = {p: PARAMS.get(p, "") for p in query.get("params", [])}
            results[f"query {name}"] = timed(
                lambda q=query, p=params: conn.execute(q["sql"], p).fetchall(), runs
            )
    finally:
        conn.close()
    return results


def measure_commands(folders: dict[int, Path], runs: int) -> dict[str, dict[int, list[float]]]:
    """Each command on each store, the stores taking turns run by run (a busy spell of the
    machine then falls on all sizes alike)."""
    results: dict[str, dict[int, list[float]]] = {}
    for label, args in COMMANDS:
        for _ in range(runs):
            for size, folder in folders.items():
                wall, cpu = run_timed(["--config", str(folder / "config.toml"), *args], label)
                results.setdefault(f"`{label}` CPU", {}).setdefault(size, []).append(cpu)
                results.setdefault(f"`{label}` wall", {}).setdefault(size, []).append(wall)
    return results


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.1f} ms ({min(values) * 1000:.1f}–{max(values) * 1000:.1f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="1,100,1000", help="revisions per store (default 1,100,1000)"
    )
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (default 7)")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    with tempfile.TemporaryDirectory(prefix="imdi-watch-scale-") as tmp:
        folders = build_stores(Path(tmp), sizes)
        table: dict[str, dict[int, list[float]]] = {}
        for size, folder in folders.items():
            for name, values in measure_sql(folder / "imdi-watch.db", args.runs).items():
                table.setdefault(name, {})[size] = values
        table.update(measure_commands(folders, args.runs))
    head = "| | " + " | ".join(f"{s} revision{'s' if s != 1 else ''}" for s in sizes)
    first, last = sizes[0], sizes[-1]
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; median (range) of {args.runs}")
    print()
    print(head + f" | {last} ÷ {first} |")
    print("|---|" + "---:|" * (len(sizes) + 1))
    missed = []
    for name, by_size in table.items():
        cells = [fmt(by_size[s]) if s in by_size else "–" for s in sizes]
        ratio = statistics.median(by_size[last]) / max(statistics.median(by_size[first]), 1e-9)
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f}× |")
        slowest = statistics.median(by_size[last]) * 1000
        if name.startswith(("view", "query")) and slowest > TARGET_MS:
            missed.append(
                f"{name}: {slowest:.0f} ms at {last} revisions (target ≤ {TARGET_MS:g} ms)"
            )
        if name.startswith("`") and ratio > TARGET_RATIO:
            missed.append(f"{name}: {ratio:.2f}× from {first} to {last} (target ≤ {TARGET_RATIO}×)")
    print()
    print("targets: " + ("all met" if not missed else "missed:\n  " + "\n  ".join(missed)))


if __name__ == "__main__":
    main()
