"""The pipeline decides outcomes and baselines; a broken spell never becomes a wall of changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.config import Target
from scraper.models import ChangeKind, Outcome
from scraper.pipeline import capture_result, ingest_body
from scraper.store import Store, open_store

FIXTURES = Path(__file__).parent / "fixtures"
TARGET = Target("oppmoding", "http://127.0.0.1/oppmoding")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with open_store(tmp_path / "store" / "imdi-watch.db", tmp_path / "snapshots") as opened:
        yield opened


def ingest(store: Store, name: str, at: str):
    body = (FIXTURES / name).read_bytes()
    return ingest_body(TARGET, capture_result(body, url=TARGET.url), store=store, fetched_at=at)


def test_pipeline_first_then_unchanged_then_noise(store: Store) -> None:
    first = ingest(store, "page-2022-nn-a.html", "2021-11-12T09:00:00.000Z")
    again = ingest(store, "page-2022-nn-a.html", "2021-11-12T09:30:00.000Z")
    noise = ingest(store, "page-2022-nn-a-noise.html", "2021-11-12T10:00:00.000Z")
    assert [first.outcome, again.outcome, noise.outcome] == [
        Outcome.NEW_REVISION,
        Outcome.UNCHANGED,
        Outcome.UNCHANGED,
    ]
    assert first.changes == () and first.previous_revision_id is None
    assert len(store.revisions()) == 1
    assert len(list((store.snapshots_dir).glob("*.html.gz"))) == 1  # noise bodies are not kept


def test_pipeline_revised_page_is_a_new_revision_with_its_changes(store: Store) -> None:
    ingest(store, "page-2022-nn-a.html", "2021-11-12T09:00:00.000Z")
    revised = ingest(store, "page-2022-revised.html", "2021-11-19T09:00:00.000Z")
    assert revised.outcome is Outcome.NEW_REVISION
    assert revised.previous_revision_id == 1 and revised.broken is None
    figures = [
        (c.municipality, c.field, c.old, c.new, c.delta)
        for c in revised.changes
        if c.kind is ChangeKind.FIGURE
    ]
    assert ("Bergen", "requested", 182, 192, 10) in figures
    assert ("Risør", "minors", None, 2, None) in figures  # blank → 2: no delta, not "+2"
    assert ("Gjerstad", "requested", 0, 10, 10) in figures  # 0 → 10: a real +10
    assert len(figures) == 8
    assert store.changes(revised.revision_id)[0].kind is ChangeKind.UPDATED


def test_pipeline_page_back_after_a_broken_spell_is_compared_with_the_last_good_revision(
    store: Store,
) -> None:
    good = ingest(store, "page-2022-nn-a.html", "2021-11-12T09:00:00.000Z")
    broken = ingest(store, "page-2022-broken.html", "2021-11-26T09:00:00.000Z")
    back = ingest(store, "page-2022-nn-a.html", "2021-11-27T09:00:00.000Z")
    assert broken.broken == "the table is gone"
    assert not any(c.kind is ChangeKind.ROW_REMOVED for c in broken.changes)
    assert back.outcome is Outcome.NEW_REVISION  # the content differs from the broken latest
    assert back.previous_revision_id == good.revision_id
    assert back.broken is None
    assert back.changes == ()  # the same page as before the spell: nothing to report


def test_pipeline_not_html_is_an_error_fetch_and_stores_nothing_else(store: Store) -> None:
    ingest(store, "page-2022-nn-a.html", "2021-11-12T09:00:00.000Z")
    result = ingest_body(
        TARGET,
        capture_result(b"%PDF-1.7 binary", url=TARGET.url),
        store=store,
        fetched_at="2021-11-12T10:00:00.000Z",
    )
    assert result.outcome is Outcome.ERROR
    assert result.error == f"{TARGET.url}: not an HTML page: the input is binary"
    assert len(store.revisions()) == 1
    assert store.fetches(limit=1)[0].error == result.error
