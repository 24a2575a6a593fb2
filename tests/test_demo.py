"""`imdi-watch demo` works offline with no config: real checks of a recorded history into a store
the user can browse with the commands it suggests.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from cli_helpers import run_cli

from scraper.demo import STEPS, read_variant
from scraper.store import open_store

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder without config.toml, and no $IMDI_WATCH_CONFIG."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("IMDI_WATCH_CONFIG", raising=False)
    return cwd


def test_demo_replays_the_recorded_history_into_a_kept_store(tmp_path: Path, nowhere: Path) -> None:
    folder = tmp_path / "demo"
    result = run_cli("demo", "--keep", str(folder))
    assert result.code == 0, result.err
    assert result.err == ""
    out = result.out
    for line in (
        "check 1 (2021-10-04 08:00 UTC): new-revision — first revision: 0 rows (no table yet)",
        "check 2 (2021-11-12 10:00 UTC): new-revision — revision 1 → 2: the figures are published",
        "check 3 (2021-11-12 16:00 UTC): unchanged "
        "(noise only: CSRF token and asset versions differ)",
        "check 4 (2021-11-15 08:00 UTC): not-modified (HTTP 304: the server's ETag still matches)",
        "check 5 (2021-11-17 08:00 UTC): error (HTTP 503 Service Unavailable) — "
        "the site is down for maintenance; stored as a failed check",
        "check 6 (2021-11-19 12:00 UTC): new-revision — revision 2 → 3: figures revised, new date",
        "    Bergen       requested        182 → 192 +10",
        "    Oslo         requested        225 → 215 −10",
        "6 checks: 3 new-revision, 1 unchanged, 1 not-modified, 1 error. "
        f"The store is kept in {folder}",
    ):
        assert line in out.splitlines(), line
    assert out.splitlines()[-1] == f"  imdi-watch serve --store {folder / 'imdi-watch.db'}"
    assert f"  imdi-watch --config {folder / 'config.toml'} log" in out.splitlines()
    assert not (nowhere / "store").exists() and list(nowhere.iterdir()) == []

    with open_store(folder / "imdi-watch.db", folder / "snapshots") as store:
        revisions = list(reversed(store.revisions()))
        fetches = list(reversed(store.fetches()))
        bergen = [row for row in store.figures(revisions[2].id) if row.municipality == "Bergen"]
    assert [(r.updated, r.row_count, r.first_seen, r.last_seen) for r in revisions] == [
        ("2021-10-01", 0, "2021-10-04T08:00:00.000Z", "2021-10-04T08:00:00.000Z"),
        ("2021-11-12", 356, "2021-11-12T10:00:00.000Z", "2021-11-12T16:00:00.000Z"),
        ("2021-11-19", 356, "2021-11-19T12:00:00.000Z", "2021-11-19T12:00:00.000Z"),
    ]
    assert [(str(f.outcome), f.status, f.revision_id) for f in fetches] == [
        ("new-revision", 200, 1),
        ("new-revision", 200, 2),
        ("unchanged", 200, 2),
        ("not-modified", 304, 2),
        ("error", 503, None),  # a failed check keeps its HTTP status
        ("new-revision", 200, 3),
    ]
    assert bergen[0].requested == 192
    assert len(list((folder / "snapshots").glob("*.html.gz"))) == 3


def test_demo_store_answers_the_commands_it_suggests(tmp_path: Path, nowhere: Path) -> None:
    folder = tmp_path / "demo"
    assert run_cli("demo", "--keep", str(folder)).code == 0
    config = str(folder / "config.toml")
    log = run_cli("--config", config, "log", "--json")
    assert log.code == 0 and len(json.loads(log.out)["revisions"]) == 3
    history = run_cli("--config", config, "history", "Bergen", "--json")
    found = {
        (e["revision"], f["value"])
        for e in json.loads(history.out)["revisions"]
        for f in e["figures"]
        if f["part"] == "total"
    }
    assert found == {(2, 182), (3, 192)}
    diff = run_cli("--config", config, "diff", "2021-11-12", "2021-11-19")
    assert diff.code == 0 and "Bergen" in diff.out


def test_demo_without_keep_uses_a_new_temporary_folder(
    tmp_path: Path, nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = run_cli("demo")
    assert result.code == 0, result.err
    (folder,) = tmp_path.glob("imdi-watch-demo-*")
    assert (folder / "imdi-watch.db").is_file() and (folder / "config.toml").is_file()
    assert result.out.splitlines()[-1] == f"  imdi-watch serve --store {folder / 'imdi-watch.db'}"


def test_demo_refuses_a_folder_that_already_holds_a_store(tmp_path: Path, nowhere: Path) -> None:
    folder = tmp_path / "demo"
    assert run_cli("demo", "--keep", str(folder)).code == 0
    again = run_cli("demo", "--keep", str(folder))
    assert again.code == 2
    assert "already holds imdi-watch.db" in again.err and "new or empty folder" in again.err


def test_demo_json_lists_every_check(tmp_path: Path, nowhere: Path) -> None:
    result = run_cli("demo", "--keep", str(tmp_path / "demo"), "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["store"] == str(tmp_path / "demo" / "imdi-watch.db")
    assert [(c["outcome"], c["revision"]) for c in data["checks"]] == [
        ("new-revision", 1),
        ("new-revision", 2),
        ("unchanged", 2),
        ("not-modified", 2),
        ("error", None),
        ("new-revision", 3),
    ]


@pytest.mark.parametrize("variant", sorted({s.variant for s in STEPS if s.variant}))
def test_demo_data_is_the_generated_fixture(variant: str) -> None:
    # regenerate both with: python3 tests/fixtures/make_fixtures.py
    assert read_variant(variant) == (FIXTURES / f"page-2022-{variant}.html").read_bytes()
