"""Crash consistency: SIGKILL real `imdi-watch check` processes at random moments while they write
new revisions, then the store must be whole: the database opens and passes integrity_check,
every revision has all its figures and its snapshot, and the next check works.
"""

from __future__ import annotations

import itertools
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cli_helpers import run_cli
from server import LoopbackServer, Reply

from scraper.parse import parse_page
from scraper.store import open_store

FIXTURES = Path(__file__).parent / "fixtures"
PAGES = [
    (FIXTURES / "page-2022-nn-a.html").read_bytes(),
    (FIXTURES / "page-2022-revised.html").read_bytes(),
]
KILLS = 15
MAX_DELAY_S = 0.3
SEED = 20211119  # the same kill delays every run (where they land still varies with the machine)


def test_sigkill_mid_check_never_damages_the_store(
    http_server: LoopbackServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(http_server.url("/oppmoding"), store={"lock_wait_s": 5})
    db_path = tmp_path / "store" / "imdi-watch.db"
    snapshots = tmp_path / "snapshots"
    seed = SEED
    rng = random.Random(seed)
    outcomes: list[int] = []
    for kill in range(KILLS):
        # alternate the page so that (almost) every check that gets far enough writes a revision
        http_server.route("/oppmoding", Reply(200, PAGES[kill % 2], {"Content-Type": "text/html"}))
        process = subprocess.Popen(
            [sys.executable, "-m", "scraper", "--config", str(config), "check", "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0, MAX_DELAY_S))
        process.send_signal(signal.SIGKILL)
        outcomes.append(process.wait(timeout=30))

    context = f"seed {seed}, exit statuses {outcomes}"
    open_store(db_path, snapshots).close()  # opens (and migrates, if no check got that far)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], context
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == [], context
        revisions = conn.execute(
            "SELECT r.id, r.snapshot, r.fingerprint, r.row_count, count(f.position) "
            "FROM revisions r LEFT JOIN figures f ON f.revision_id = r.id "
            "GROUP BY r.id ORDER BY r.id"
        ).fetchall()
        fetches = conn.execute("SELECT outcome, revision_id FROM fetches ORDER BY id").fetchall()
    finally:
        conn.close()
    fingerprints = {parse_page(body).fingerprint for body in PAGES}
    for revision_id, snapshot, fingerprint, row_count, figures in revisions:
        assert (row_count, figures) == (356, 356), (revision_id, context)
        assert fingerprint in fingerprints, context
        assert (snapshots / f"{snapshot}.html.gz").is_file(), (revision_id, context)
        assert (snapshots / f"{snapshot}.json").is_file(), (revision_id, context)
    for previous, current in itertools.pairwise(revisions):
        assert previous[2] != current[2], f"two revisions in a row alike: {context}"
    revision_ids = {r[0] for r in revisions}
    for outcome, revision_id in fetches:
        assert outcome in ("new-revision", "unchanged", "not-modified", "error"), context
        assert outcome == "error" or revision_id in revision_ids, context
    assert sum(outcome == "new-revision" for outcome, _ in fetches) == len(revisions), context

    with open_store(db_path, snapshots) as store:  # every revision reads back whole
        for revision in store.revisions():
            assert len(store.load_page(revision.id).rows) == 356
            assert store.read_snapshot(revision.snapshot)

    # a normal check after all that: the page it serves differs from the last one stored
    latest = revisions[-1][2] if revisions else None
    body = next(b for b in PAGES if parse_page(b).fingerprint != latest)
    http_server.route("/oppmoding", Reply(200, body, {"Content-Type": "text/html"}))
    final = run_cli("--config", str(config), "check", "--quiet", "--exit-code")
    assert (final.code, final.err) == (1, ""), context
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        last = conn.execute(
            "SELECT r.id, count(f.position) FROM revisions r JOIN figures f "
            "ON f.revision_id = r.id GROUP BY r.id ORDER BY r.id DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    assert last == (len(revisions) + 1, 356), context
