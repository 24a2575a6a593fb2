"""History is exact: one baseline rule for check, diff, reparse and rebuild; a broken latest
revision never empties an answer; time order kept. Real SQLite files, real pages, the real CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli_helpers import Cli
from history_store import query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scraper.config import Target
from scraper.pipeline import capture_result, ingest_body, rebuild_store, reparse_store
from scraper.store import open_store

FIXTURES = Path(__file__).parent / "fixtures"
URL = "http://127.0.0.1:9/oppmoding"
VERSIONS = ("nn-a", "revised", "broken", "before-table", "truncated", "nn-a-noise")
BODIES = {name: (FIXTURES / f"page-2022-{name}.html").read_bytes() for name in VERSIONS}
CHANGE_COLUMNS = (
    "revision_id, previous_revision_id, position, kind, municipality, municipality_number, "
    "county, level, measure, year, part, section, field, old, new, delta"
)


def changes_table(db: Path) -> list[tuple[Any, ...]]:
    return query(db, f"SELECT {CHANGE_COLUMNS} FROM changes ORDER BY revision_id, position")


def ingest(cli: Cli, *names: str) -> None:
    for day, name in enumerate(names, start=10):
        path = FIXTURES / f"page-2022-{name}.html"
        assert cli("ingest", str(path), "--fetched-at", f"2021-11-{day}T09:00:00Z").code == 0


def test_a_broken_spell_gives_one_answer_in_diff_store_reparse_and_rebuild(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cli = Cli(write_config(URL))

    ingest(cli, "nn-a", "broken", "revised")
    db = cli.db_path
    stored = changes_table(db)
    third = [row for row in stored if row[0] == 3]
    assert {row[1] for row in third} == {1}  # compared with the last revision with a table
    kinds = [row[3] for row in third]
    assert "row-added" not in kinds and kinds.count("figure") == 8
    assert len(third) == 20

    # Plain `diff` compares the latest with the same baseline.
    plain = json.loads(cli("diff", "--json").out)
    assert plain["from"]["label"] == "revision 1" and plain["to"]["label"] == "revision 3"
    # (the same changes; diff --json lists them in the text report's order)
    assert sorted(
        ((c["kind"], c["field"], c["old"], c["new"]) for c in plain["changes"]), key=repr
    ) == sorted(
        ((row[3], row[12], json.loads(row[13]) if row[13] else None,
          json.loads(row[14]) if row[14] else None) for row in third),
        key=repr,
    )  # fmt: skip

    assert cli("reparse").code == 0
    assert changes_table(db) == stored
    rebuilt = tmp_path / "rebuilt.db"
    assert cli("rebuild", str(rebuilt)).code == 0
    assert changes_table(rebuilt) == stored


def test_a_broken_latest_revision_never_empties_show_export_or_the_view(
    write_config: Callable[..., Path],
) -> None:
    cli = Cli(write_config(URL))

    ingest(cli, "nn-a", "revised", "broken")
    note = (
        "imdi-watch: note: the latest revision 3 has no table (no-table); showing revision 2, "
        "the last that had one\n"
    )
    exported = cli("export", "--format", "json")
    assert exported.code == 0 and exported.err == note
    rows = json.loads(exported.out)
    assert len(rows) == 356
    assert next(r for r in rows if r["municipality"] == "Bergen")["requested"] == 192
    shown = cli("show", "--json")
    assert shown.code == 0 and shown.err == note
    db = cli.db_path
    view = query(db, "SELECT DISTINCT revision_id, latest_revision_id, note FROM current_figures")
    assert view == [(2, 3, "latest revision 3 has no table; showing revision 2")]
    assert query(db, "SELECT count(*) FROM current_figures") == [(356,)]
    assert cli("show", "3", "--json").err == ""  # asked for by id: what it is, no fallback


def test_two_pages_in_one_store_never_mix(write_config: Callable[..., Path]) -> None:
    cli = Cli(write_config(URL))

    ingest(cli, "nn-a", "revised")
    other = "http://127.0.0.1:9/other"
    for day, name in ((20, "revised"), (21, "nn-a")):
        path = FIXTURES / f"page-2022-{name}.html"
        at = f"2021-11-{day}T09:00:00Z"
        assert cli("ingest", str(path), "--url", other, "--fetched-at", at).code == 0

    history = json.loads(cli("history", "Bergen", "--json").out)
    assert [e["revision"] for e in history["revisions"]] == [1, 2]
    other_history = json.loads(cli("history", "Bergen", "--page", other, "--json").out)
    assert [e["revision"] for e in other_history["revisions"]] == [3, 4]
    missing = cli("history", "Bergen", "--page", "nowhere")
    assert missing.code == 2 and "no page named 'nowhere'" in missing.err


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.sampled_from(VERSIONS), min_size=2, max_size=6))
def test_property_live_reparse_and_rebuild_give_identical_changes(
    tmp_path_factory: Any, versions: list[str]
) -> None:
    root = tmp_path_factory.mktemp("history")
    db, snapshots = root / "store.db", root / "snapshots"
    target = Target("oppmoding", URL)
    with open_store(db, snapshots) as store:
        for index, name in enumerate(versions):
            at = f"2021-11-{10 + index:02d}T09:00:00.000Z"
            ingest_body(target, capture_result(BODIES[name], url=URL), store=store, fetched_at=at)
    live = changes_table(db)
    with open_store(db, snapshots) as store:
        reparse_store(store)
    assert changes_table(db) == live
    rebuilt = root / "rebuilt.db"
    rebuild_store(rebuilt, snapshots)
    assert changes_table(rebuilt) == live
    assert query(rebuilt, "SELECT id, fingerprint FROM revisions ORDER BY id") == query(
        db, "SELECT id, fingerprint FROM revisions ORDER BY id"
    )


def test_a_page_of_county_lines_is_shown_and_has_history_by_county(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    cli = Cli(write_config(URL))

    real = FIXTURES / "real" / "2017-03-06-anmodning-og-vedtak.html"
    changed = tmp_path / "changed.html"
    changed.write_text(
        real.read_text("utf-8").replace(
            "<td>1218 (64)</td><td>345 (12)</td>", "<td>1218 (64)</td><td>380 (14)</td>"
        ),
        "utf-8",
    )
    assert cli("ingest", str(real), "--fetched-at", "2017-03-06T09:00:00Z").code == 0
    assert cli("ingest", str(changed), "--fetched-at", "2017-03-13T09:00:00Z").code == 0
    shown = cli("show")
    assert shown.code == 0 and "(no name)" not in shown.out and "Hordaland" in shown.out
    history = json.loads(cli("history", "hordaland", "--json").out)
    decided = [
        f["value"]
        for e in history["revisions"]
        for f in e["figures"]
        if (f["measure"], f["year"], f["part"]) == ("decision", 2017, "total")
    ]
    assert decided == [345, 380]
    text = cli("history", "Hordaland").out
    assert text.splitlines()[0] == "Hordaland (county)" and "380 (+35)" in text


def test_history_text_leaves_out_revisions_where_the_municipality_did_not_move(
    write_config: Callable[..., Path],
) -> None:
    cli = Cli(write_config(URL))

    ingest(cli, "nn-a", "revised", "nn-a")  # Bergen 182 → 192 → 182; Vinje never moves
    vinje = cli("history", "Vinje").out.splitlines()
    assert [line.split()[0] for line in vinje[2:-1]] == ["1"]
    assert vinje[-1] == "2 more revisions without a change here"
    bergen = cli("history", "Bergen").out.splitlines()
    assert [line.split()[0] for line in bergen[2:]] == ["1", "2", "3"]
    full = json.loads(cli("history", "Vinje", "--json").out)
    assert [e["revision"] for e in full["revisions"]] == [1, 2, 3]  # JSON keeps every revision
