"""Storage cost of a year of checks: 10 000 checks of which 100 make a new revision.

Through the real pipeline and store (no HTTP): 100 distinct revisions (the 12 November 2021 page
with Bergen's figure, the total and the lead changed by one more each time), then 9 900 unchanged
checks alternating the same body and a noisy copy (tokens, nonces) of it. Reports
  - bytes per unchanged check: database growth over the 9 900 checks / 9 900   (target ≤ 200 B)
  - bytes per revision: (database growth + snapshots/) over the 100 revisions / 100  (≤ 30 KB)
  - `history Bergen` over the 100 revisions: median of store.area_history over 50 runs  (≤ 50 ms)
Sizes are page_count × page_size after PRAGMA wal_checkpoint(TRUNCATE); nothing is vacuumed.
Run: bench/run storage   (or .venv/bin/python bench/bench_storage.py)
"""

from __future__ import annotations

import dataclasses
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scraper.config import DEFAULT_URL, Target
from scraper.models import Outcome
from scraper.pipeline import capture_result, ingest_body, iso_utc
from scraper.store import Store, open_store

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
PAGE = (FIXTURES / "page-2022-nn-a.html").read_bytes()
NOISE = (FIXTURES / "page-2022-nn-a-noise.html").read_bytes()
REVISIONS = 100
CHECKS = 10_000
UNCHANGED = CHECKS - REVISIONS
THROUGH_PIPELINE = 500  # unchanged checks run through ingest_body (fetch → parse → compare → save)
HISTORY_RUNS = 50
TARGET_UNCHANGED_B = 200
TARGET_REVISION_B = 30 * 1024
TARGET_HISTORY_MS = 50.0
BERGEN = b"<td>Bergen</td>\n              <td>Vestland</td>\n              <td>182</td>"
TOTAL = b"<td>5500</td>"
LEAD = b"ta imot 5 500 flyktningar"


def variant(body: bytes, i: int) -> bytes:
    """The page with Bergen asked for 182 + i, and the total and the lead saying so."""
    for old in (BERGEN, TOTAL, LEAD):
        assert body.count(old) == 1, old
    total = f"{5500 + i:,}".replace(",", " ")
    return (
        body.replace(BERGEN, BERGEN.replace(b"182", str(182 + i).encode()))
        .replace(TOTAL, f"<td>{5500 + i}</td>".encode())
        .replace(LEAD, f"ta imot {total} flyktningar".encode())
    )


def db_bytes(store: Store) -> int:
    conn = sqlite3.connect(store.db_path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_count,) = conn.execute("PRAGMA page_count").fetchone()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    finally:
        conn.close()
    return int(page_count) * int(page_size)


def object_bytes(store: Store) -> dict[str, int]:
    """Bytes per table and index (SQLite's dbstat), to say where the growth goes."""
    conn = sqlite3.connect(store.db_path)
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    finally:
        conn.close()
    return {name: int(size) for name, size in rows}


def growth(before: dict[str, int], after: dict[str, int], per: int) -> str:
    deltas = {name: (after.get(name, 0) - before.get(name, 0)) / per for name in after}
    top = sorted(((d, n) for n, d in deltas.items() if d > 0), reverse=True)
    return ", ".join(f"{name} {d:,.0f}" for d, name in top)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def response(body: bytes, i: int, elapsed_ms: int):  # type: ignore[no-untyped-def]
    """A 200 with an ETag (as bench_check's server sends), which every fetch row keeps."""
    headers = {"content-type": "text/html; charset=utf-8", "etag": f'W/"{i:08x}-5f3a9c"'}
    result = capture_result(body, url=DEFAULT_URL, headers=headers)
    return dataclasses.replace(result, elapsed_ms=elapsed_ms)


def verdict(value: float, target: float) -> str:
    return "target met" if value <= target else "target MISSED"


def main() -> None:
    target = Target("oppmoding", DEFAULT_URL)
    moment = datetime(2021, 11, 12, 9, 0, tzinfo=UTC)
    step = timedelta(minutes=30)
    with tempfile.TemporaryDirectory(prefix="imdi-bench-") as tmp:
        root = Path(tmp)
        store = open_store(root / "imdi-watch.db", root / "snapshots")
        with store:
            empty = db_bytes(store)
            empty_objects = object_bytes(store)

            started = time.perf_counter()
            for i in range(REVISIONS):
                result = ingest_body(
                    target, response(variant(PAGE, i), i, 150 + i), store=store,
                    fetched_at=iso_utc(moment),
                )  # fmt: skip
                assert result.outcome is Outcome.NEW_REVISION, (i, result.outcome, result.error)
                moment += step
            revisions_s = time.perf_counter() - started
            after_revisions = db_bytes(store)
            snapshots = folder_bytes(store.snapshots_dir)
            revision_objects = object_bytes(store)

            last = REVISIONS - 1
            bodies = [variant(PAGE, last), variant(NOISE, last)]
            page_id = store.ensure_page(target.name, target.url).id
            started = time.perf_counter()
            pipeline_s = 0.0
            for n in range(UNCHANGED):
                fetch = response(bodies[n % 2], last, 120 + n % 300)
                if n < THROUGH_PIPELINE:
                    result = ingest_body(target, fetch, store=store, fetched_at=iso_utc(moment))
                    assert result.outcome is Outcome.UNCHANGED, (n, result.outcome)
                    if n == THROUGH_PIPELINE - 1:
                        pipeline_s = time.perf_counter() - started
                else:
                    # the same write ingest_body makes for an unchanged body, without re-parsing
                    # the same 89 KB 9 400 more times
                    store.record_check(
                        page_id, fetched_at=iso_utc(moment), outcome=Outcome.UNCHANGED, fetch=fetch
                    )
                moment += step
            unchanged_s = time.perf_counter() - started
            after_unchanged = db_bytes(store)
            unchanged_objects = object_bytes(store)
            assert folder_bytes(store.snapshots_dir) == snapshots  # unchanged bodies are not kept

            (page,) = store.pages()
            found = store.area_history(page.id, ["4601"])  # Bergen, as `history Bergen` asks
            assert len(found) == REVISIONS, len(found)
            requested = [f.value for f in found[-1][1] if f.series.part == "total"]
            assert requested == [182 + last], requested
            times = []
            for _ in range(HISTORY_RUNS):
                t0 = time.perf_counter()
                store.area_history(page.id, ["4601"])
                times.append(time.perf_counter() - t0)
            history_ms = statistics.median(times) * 1000

            text_columns = ("fetched_at", "outcome", "etag", "last_modified", "final_url")
            (widths,) = store._query(
                "SELECT "
                + ", ".join(f"avg(coalesce(length({c}), 0))" for c in text_columns)
                + " FROM fetches WHERE outcome = 'unchanged'"
            )
            counts = store._query(
                "SELECT (SELECT count(*) FROM fetches), (SELECT count(*) FROM revisions)"
            )

    per_unchanged = (after_unchanged - after_revisions) / UNCHANGED
    per_revision = (after_revisions - empty + snapshots) / REVISIONS
    fetches, revisions = counts[0]
    print(f"simulated {fetches} checks: {revisions} revisions, {fetches - revisions} unchanged")
    print(f"  {REVISIONS} new revisions took {revisions_s:.2f} s "
          f"({revisions_s / REVISIONS * 1000:.1f} ms each)")  # fmt: skip
    print(f"  {THROUGH_PIPELINE} unchanged checks through ingest_body: "
          f"{pipeline_s / THROUGH_PIPELINE * 1000:.2f} ms each; all {UNCHANGED}: {unchanged_s:.1f} s")  # fmt: skip
    print(f"database: empty {empty:,} B, after the revisions {after_revisions:,} B, "
          f"after the unchanged checks {after_unchanged:,} B; snapshots/ {snapshots:,} B")  # fmt: skip
    print(f"bytes per unchanged check: {per_unchanged:.0f} B "
          f"(target ≤ {TARGET_UNCHANGED_B} B: {verdict(per_unchanged, TARGET_UNCHANGED_B)})")  # fmt: skip
    print(f"bytes per revision: {per_revision / 1024:.1f} KB "
          f"(database {(after_revisions - empty) / REVISIONS / 1024:.1f} KB + snapshot "
          f"{snapshots / REVISIONS / 1024:.1f} KB; target ≤ 30 KB: "
          f"{verdict(per_revision, TARGET_REVISION_B)})")  # fmt: skip
    print(f"  where a revision goes (B): {growth(empty_objects, revision_objects, REVISIONS)}")
    print(f"  where an unchanged check goes (B): "
          f"{growth(revision_objects, unchanged_objects, UNCHANGED)}")  # fmt: skip
    print("  text in an unchanged check's row (B): "
          + ", ".join(f"{c} {w:.0f}" for c, w in zip(text_columns, widths, strict=True)))  # fmt: skip
    print(f"history Bergen over {REVISIONS} revisions: median {history_ms:.2f} ms of {HISTORY_RUNS} "
          f"(target ≤ {TARGET_HISTORY_MS:g} ms: {verdict(history_ms, TARGET_HISTORY_MS)})")  # fmt: skip


if __name__ == "__main__":
    main()
