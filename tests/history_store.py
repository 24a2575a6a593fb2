"""A store holding a real history, made from fixture pages without HTTP (for serve/export tests)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scraper.config import DEFAULT_URL, Target
from scraper.pipeline import capture_result, ingest_body
from scraper.store import open_store

FIXTURES = Path(__file__).parent / "fixtures"
TARGET = Target("oppmoding", DEFAULT_URL)
# 12 November 2021, then the revision of 19 November (Bergen 182 → 192, Oslo 225 → 215, …)
HISTORY: tuple[tuple[str, str], ...] = (
    ("page-2022-nn-a.html", "2021-11-12T09:00:00.000Z"),
    ("page-2022-revised.html", "2021-11-19T09:00:00.000Z"),
)
SCRIPT = "<script>alert(1)</script>"


def hostile_revision() -> bytes:
    """The revised page with a script tag as *text* in its title and a paragraph (escaped in the
    HTML, so literal once parsed)."""
    body = (FIXTURES / "page-2022-revised.html").read_text(encoding="utf-8")
    sentence = "innan 19. november 2021."
    assert sentence in body
    script = "&lt;script&gt;alert(1)&lt;/script&gt;"
    heading = "<h1>Oppmoding om busetting for 2022</h1>"
    assert heading in body
    body = body.replace(heading, heading.replace("</h1>", f" {script}</h1>"))
    return body.replace(sentence, f"{sentence} {script}").encode()


def query(
    db: Path, sql: str, params: Sequence[object] = (), *, read_only: bool = False
) -> list[tuple[Any, ...]]:
    """The rows `sql` gives on the SQLite file `db`, on a connection of its own, closed after
    (`read_only`: one that cannot write, for a store another process is serving)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True) if read_only else sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def build_store(directory: Path, extra: Sequence[tuple[bytes, str]] = ()) -> Path:
    """imdi-watch.db (and snapshots/) in `directory` with the fixture history, then `extra`
    bodies at their times; returns the database path. Writes a config.toml pointing at it."""
    db_path = directory / "imdi-watch.db"
    bodies = [((FIXTURES / name).read_bytes(), at) for name, at in HISTORY] + list(extra)
    with open_store(db_path, directory / "snapshots") as store:
        for body, fetched_at in bodies:
            result = ingest_body(
                TARGET, capture_result(body, url=TARGET.url), store=store, fetched_at=fetched_at
            )
            assert result.outcome == "new-revision", result
    (directory / "config.toml").write_text(
        f'[[pages]]\nname = "{TARGET.name}"\nurl = "{TARGET.url}"\n\n'
        '[store]\npath = "imdi-watch.db"\nsnapshots = "snapshots"\n',
        encoding="utf-8",
    )
    return db_path
