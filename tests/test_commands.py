"""The read and import commands on a real store (log, show, history, ingest, reparse, diff), and
every documented exit code, run through the CLI as a user would.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import Cli, CliResult, csv_rows, run_cli
from server import LoopbackServer, Reply

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "golden"
PAGE_A = FIXTURES / "page-2022-nn-a.html"
PAGE_REVISED = FIXTURES / "page-2022-revised.html"
PAGE_NOISE = FIXTURES / "page-2022-nn-a-noise.html"
UNUSED_URL = "http://127.0.0.1:9/oppmoding"  # never fetched by these commands
A_AT = "2021-11-12T09:00:00Z"
REVISED_AT = "2021-11-19T09:00:00Z"


@pytest.fixture
def cli(write_config: Callable[..., Path]) -> Cli:
    """A config whose store is empty."""
    return Cli(write_config(UNUSED_URL))


@pytest.fixture
def two(cli: Cli) -> Cli:
    """A store with revision 1 (nn-a, fetched 2021-11-12) and revision 2 (revised, 2021-11-19)."""
    assert cli("ingest", str(PAGE_A), "--fetched-at", A_AT).code == 0
    assert cli("ingest", str(PAGE_REVISED), "--fetched-at", REVISED_AT).code == 0
    return cli


def first_line(result: CliResult) -> str:
    return result.out.splitlines()[0]


# --- ingest ------------------------------------------------------------------------------------


def test_ingest_files_at_a_chosen_time_makes_revisions(cli: Cli) -> None:
    result = cli("ingest", str(PAGE_A), "--fetched-at", A_AT)

    assert result == CliResult(0, f"{PAGE_A}: new-revision (revision 1)\n", "")
    assert cli.query("SELECT id, first_seen, last_seen, updated, row_count FROM revisions") == [
        (1, "2021-11-12T09:00:00.000Z", "2021-11-12T09:00:00.000Z", "2021-11-12", 356)
    ]
    assert cli.query("SELECT id, fetched_at, outcome, status, revision_id FROM fetches") == [
        (1, "2021-11-12T09:00:00.000Z", "new-revision", 200, 1)
    ]


def test_ingest_is_idempotent_and_noise_is_unchanged(cli: Cli) -> None:
    cli("ingest", str(PAGE_A), "--fetched-at", A_AT)

    same = cli("ingest", str(PAGE_A), "--fetched-at", A_AT)
    noise = cli("ingest", str(PAGE_NOISE), "--fetched-at", "2021-11-13T09:00:00Z")

    assert same == CliResult(0, f"{PAGE_A}: already stored (a check at {A_AT[:-1]}.000Z)\n", "")
    assert noise == CliResult(0, f"{PAGE_NOISE}: unchanged (revision 1)\n", "")
    assert cli.query("SELECT id, last_seen FROM revisions") == [(1, "2021-11-13T09:00:00.000Z")]
    assert cli.query("SELECT count(*) FROM fetches") == [(2,)]


def test_ingest_of_a_capture_older_than_the_latest_check_is_refused(cli: Cli) -> None:
    assert cli("ingest", str(PAGE_REVISED), "--fetched-at", REVISED_AT).code == 0

    older = cli("ingest", str(PAGE_A), "--fetched-at", A_AT)

    assert older.code == 2
    assert older.err == (
        f"imdi-watch: error: {PAGE_A}: fetched at 2021-11-12T09:00:00.000Z, before the latest "
        f"check of {UNUSED_URL} (2021-11-19T09:00:00.000Z); history only grows forward: ingest "
        "older captures into a new store, before `check`\n"
    )
    assert cli.query("SELECT count(*) FROM revisions") == [(1,)]


def test_ingest_of_two_different_captures_at_one_time_is_refused(cli: Cli) -> None:
    both = cli("ingest", str(PAGE_A), str(PAGE_REVISED), "--fetched-at", A_AT)
    assert both.code == 2 and "two different captures fetched at" in both.err
    assert not cli.db_path.exists() or cli.query("SELECT count(*) FROM fetches") == [(0,)]


def test_ingest_json(cli: Cli) -> None:
    result = cli("ingest", str(PAGE_A), "--fetched-at", A_AT, "--json")

    (entry,) = json.loads(result.out)
    assert entry["file"] == str(PAGE_A)
    assert (entry["outcome"], entry["revision"], entry["fetched_at"]) == (
        "new-revision", 1, "2021-11-12T09:00:00.000Z"
    )  # fmt: skip


def test_ingest_of_a_non_html_file_is_error_exit_3(cli: Cli, tmp_path: Path) -> None:
    not_html = tmp_path / "figures.json"
    not_html.write_text('{"Bergen": 182}\n', encoding="utf-8")

    result = cli("ingest", str(not_html), "--fetched-at", A_AT)

    assert result.code == 3
    assert result.out == f"{not_html}: error\n"
    assert result.err == (
        f"imdi-watch: error: {not_html}: {UNUSED_URL}: not an HTML page: no HTML tags in the input\n"
    )
    assert cli.query("SELECT count(*) FROM revisions") == [(0,)]
    assert cli.query("SELECT outcome FROM fetches") == [("error",)]


def test_ingest_of_a_missing_file_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    result = cli("ingest", str(tmp_path / "nope.html"))

    assert result.code == 2
    assert result.err == f"imdi-watch: error: {tmp_path / 'nope.html'}: no such file\n"


def test_ingest_with_a_bad_time_is_exit_2(cli: Cli) -> None:
    result = cli("ingest", str(PAGE_A), "--fetched-at", "last tuesday")

    assert result.code == 2
    assert "expected ISO 8601 like 2021-11-12T09:00:00Z" in result.err
    assert result.err.count("\n") == 1


# --- log ---------------------------------------------------------------------------------------


def test_log_lists_fetches_and_revisions_newest_first(two: Cli) -> None:
    result = two("log")

    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "Fetches (newest 2)"
    fetch_lines = [line for line in lines if line.lstrip().startswith("2021-11-")]
    assert [line.split()[:3] for line in fetch_lines] == [
        ["2021-11-19T09:00:00.000Z", "new-revision", "200"],
        ["2021-11-12T09:00:00.000Z", "new-revision", "200"],
    ]
    assert "Revisions (newest 2)" in lines
    revision_lines = [
        line.split() for line in lines if line.startswith("  2 ") or line.startswith("  1 ")
    ]
    assert [(r[0], r[1], r[3], r[4]) for r in revision_lines] == [
        ("2", "2021-11-19T09:00:00.000Z", "19.11.2021", "356"),
        ("1", "2021-11-12T09:00:00.000Z", "12.11.2021", "356"),
    ]


def test_log_json(two: Cli) -> None:
    data = json.loads(two("log", "--json").out)

    assert list(data) == ["fetches", "revisions"]
    assert [(f["id"], f["outcome"], f["revision_id"]) for f in data["fetches"]] == [
        (2, "new-revision", 2),
        (1, "new-revision", 1),
    ]
    assert [
        (r["id"], r["first_seen"], r["updated"], r["row_count"]) for r in data["revisions"]
    ] == [
        (2, "2021-11-19T09:00:00.000Z", "2021-11-19", 356),
        (1, "2021-11-12T09:00:00.000Z", "2021-11-12", 356),
    ]


def test_log_limit(two: Cli) -> None:
    data = json.loads(two("log", "-n", "1", "--json").out)

    assert [f["id"] for f in data["fetches"]] == [2]
    assert [r["id"] for r in data["revisions"]] == [2]  # -n limits both, in SQL


# --- show --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "revision"),
    [
        ((), 2),  # the latest
        (("1",), 1),
        (("2",), 2),
        (("2021-11-12",), 1),
        (("2021-11-15",), 1),  # the revision current that day
        (("2021-11-19",), 2),
        (("2030-01-01",), 2),
    ],
)
def test_show_picks_the_revision(two: Cli, args: tuple[str, ...], revision: int) -> None:
    result = two("show", *args)

    assert result.code == 0
    assert first_line(result) == f"Revision {revision} · Oppmoding om busetting for 2022"


def test_show_a_date_before_monitoring_and_an_unknown_id_are_exit_2(two: Cli) -> None:
    before = two("show", "2021-11-01")
    unknown = two("show", "9")

    assert before.code == 2 and before.out == ""
    assert before.err.startswith("imdi-watch: error: no revision was current on 2021-11-01")
    assert unknown.code == 2 and unknown.out == ""
    assert "no revision 9" in unknown.err and unknown.err.count("\n") == 1


def test_show_county_vestland_only(two: Cli) -> None:
    text = two("show", "--county", "Vestland")
    table = two("show", "--county", "vestland", "--csv")

    assert text.code == table.code == 0
    assert "43 rows" in text.out.splitlines()[1]
    rows = csv_rows(table.out)
    assert len(rows) == 43
    assert {row["county"] for row in rows} == {"Vestland"}
    assert rows[0] == {
        "municipality": "Bergen", "municipality_number": "4601", "county": "Vestland",
        "requested": "192", "minors": "7", "minors_15_18": "5", "minors_under_15": "2",
    }  # fmt: skip


def test_show_unknown_county_is_exit_2(two: Cli) -> None:
    result = two("show", "--county", "Atlantis")

    assert result.code == 2
    assert result.err == "imdi-watch: error: no rows for county 'Atlantis' in revision 2\n"


def test_show_csv_keeps_blank_empty_zero_as_zero_and_leading_zeros(two: Cli) -> None:
    result = two("show", "1", "--csv")

    assert result.code == 0
    lines = result.out.removeprefix("\ufeff").split("\r\n")
    assert lines[0] == (
        '"municipality","municipality_number","county","requested","minors","minors_15_18",'
        '"minors_under_15"'
    )
    assert len(lines) == 358 and lines[-1] == ""
    assert '"Risør","4201","Agder",13,,,' in lines  # blank in revision 1
    assert '"Sortland","1870","Nordland",20,0,0,0' in lines
    assert '"Oslo","0301","Oslo",225,6,6,0' in lines
    assert ',,"Rogaland",30,,,' in lines  # the row without a name
    by_name = {row["municipality"]: row for row in csv_rows(result.out)}
    assert by_name["Oslo"]["municipality_number"] == "0301"


def test_show_json(two: Cli) -> None:
    result = two("show", "1", "--json")

    data = json.loads(result.out)
    rows = data["rows"]
    assert len(rows) == 356
    oslo = next(r for r in rows if r["municipality"] == "Oslo")
    assert oslo["municipality_number"] == "0301"
    risor = next(r for r in rows if r["municipality"] == "Risør")
    assert (risor["requested"], risor["minors"]) == (13, None)


def test_show_has_a_column_per_series_as_export_has(cli: Cli) -> None:
    # IMDi's request and decision tables of 2016 and 2017, per county (synthetic per-county
    # tables in the real 2017 shape): every series is shown, not the request of the year alone.
    page = FIXTURES / "synthetic" / "synthetic-2017-county-and-municipal-tables.html"
    assert cli("ingest", str(page), "--fetched-at", "2017-03-06T10:00:00Z").code == 0

    text = cli("show", "--county", "Østfold")
    shown = cli("show", "--county", "østfold", "--csv")
    exported = cli("export", "--format", "csv")
    data = json.loads(cli("show", "--json").out)

    header = text.out.splitlines()[3].split()
    assert " ".join(header) == (
        "municipality number request 2016 request 2016 minors decision 2016 decision 2016 minors "
        "request 2017 request 2017 minors decision 2017 decision 2017 minors"
    )
    halden = next(line.split() for line in text.out.splitlines() if "Halden" in line)
    assert halden == ["Halden", "0101", "63", "0", "44", "4", "25", "4", "6", "1"]
    aremark = next(line.split() for line in text.out.splitlines() if "Aremark" in line)
    assert aremark[-2:] == ["–", "–"]  # no decision for 2017 registered: blank, not 0
    rows = csv_rows(shown.out)
    assert rows == [r for r in csv_rows(exported.out) if r["county"] == "Østfold"]
    assert rows[0]["decision_2016_minors"] == "4" and rows[0]["requested"] == "25"
    assert data["columns"][3:] == [
        "request_2016", "request_2016_minors", "decision_2016", "decision_2016_minors",
        "requested", "minors", "decision_2017", "decision_2017_minors",
    ]  # fmt: skip
    assert len(data["table"]) == len(data["rows"]) == 426
    assert data["table"][0]["decision_2017"] == 6


def test_show_county_lines_with_every_series(cli: Cli) -> None:
    # IMDi's real 2017 table: 19 county lines, requests and decisions for 2016 and 2017.
    page = FIXTURES / "real" / "2017-03-06-anmodning-og-vedtak.html"
    assert cli("ingest", str(page), "--fetched-at", "2017-03-06T10:00:00Z").code == 0

    lines = cli("show").out.splitlines()

    assert "19 rows" in lines[1]
    assert lines[3].split()[:4] == ["county", "number", "request", "2016"]
    ostfold = next(line.split() for line in lines if line.startswith("Østfold"))
    assert ostfold == ["Østfold", "780", "199", "700", "107", "469", "30", "469", "41"]
    akershus = next(line for line in lines if line.startswith("Akershus"))
    assert "1 410" in akershus  # Norwegian thousands, as printed


def test_show_a_page_without_a_table_gives_its_key_figures(cli: Cli) -> None:
    # Bosettingstall, 3 Oct 2023: the figures are sentences, not a table.
    page = FIXTURES / "real" / "2023-10-03-bosettingstall.html"
    assert cli("ingest", str(page), "--fetched-at", "2023-10-03T12:00:00Z").code == 0

    text = cli("show")
    data = json.loads(cli("show", "--json").out)

    assert text.code == 0
    assert text.out.splitlines()[1].endswith("· no table")
    rows = [" ".join(line.split()) for line in text.out.splitlines()]
    assert "Anmodning 2023 refugees 38 000" in rows
    assert "Vedtak 2023 municipalities 291" in rows
    assert "Vedtak 2023 refugees 35 499" in rows
    assert data["table"] == [] and data["rows"] == []
    assert {"measure": "decision", "subject": "refugees", "part": "total", "year": 2023,
            "value": 35499, "qualifier": None} in data["key_figures"]  # fmt: skip


def test_show_on_an_empty_store_is_exit_2(cli: Cli) -> None:
    from scraper.store import open_store

    open_store(cli.db_path, cli.config.parent / "snapshots").close()  # a store, no revisions
    result = cli("show")

    assert result.code == 2
    assert "no revisions stored yet; run `imdi-watch check` first" in result.err


# --- history -----------------------------------------------------------------------------------


def test_history_alesund_finds_alesund_in_every_revision(two: Cli) -> None:
    result = two("history", "alesund", "--json")

    assert result.code == 0
    found = json.loads(result.out)
    assert found["municipality"] == {
        "name": "Ålesund", "municipality_number": "1507", "numbers": ["1507"],
        "county": "Møre og Romsdal",
    }  # fmt: skip
    assert [(e["revision"], e["municipality"]) for e in found["revisions"]] == [
        (1, "Ålesund"),
        (2, "Ålesund"),
    ]  # oldest first, as the text reads
    text = two("history", "ALESUND")
    assert text.code == 0
    assert text.out.splitlines()[0] == "Ålesund (1507, Møre og Romsdal)"


def test_history_by_number_0301(two: Cli) -> None:
    result = two("history", "0301", "--json")

    found = json.loads(result.out)
    requested = [
        (e["revision"], e["municipality"], f["value"])
        for e in found["revisions"]
        for f in e["figures"]
        if (f["measure"], f["year"], f["part"]) == ("request", 2022, "total")
    ]
    assert requested == [(1, "Oslo", 225), (2, "Oslo", 215)]
    text = two("history", "301")
    assert text.code == 0 and text.out.startswith("Oslo (0301, Oslo)")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "Herøy",
            "Herøy is 1515 Herøy (Møre og Romsdal) or 1818 Herøy (Nordland): give the number",
        ),
        (
            "heroy",
            "heroy is 1515 Herøy (Møre og Romsdal) or 1818 Herøy (Nordland): give the number",
        ),
        ("Nes", "Nes is 3034 Nes (Viken) or 3040 Nesbyen (Viken): give the number"),
    ],
)
def test_history_of_a_shared_name_is_refused_naming_each_number(
    two: Cli, name: str, message: str
) -> None:
    result = two("history", name)
    assert result == CliResult(2, "", f"imdi-watch: error: {message}\n")


@pytest.mark.parametrize(
    ("number", "name", "values"),
    [("1515", "Herøy (Møre og Romsdal)", [15, 15]), ("1818", "Herøy (Nordland)", [10, 10])],
)
def test_history_by_number_is_one_municipality(
    two: Cli, number: str, name: str, values: list[int]
) -> None:
    found = json.loads(two("history", number, "--json").out)
    assert found["municipality"]["name"] == name
    assert {e["municipality_number"] for e in found["revisions"]} == {number}
    assert [
        f["value"] for e in found["revisions"] for f in e["figures"] if f["part"] == "total"
    ] == values


def test_history_of_a_near_name_suggests_the_nearest(two: Cli) -> None:
    result = two("history", "Berg")
    assert result.code == 2
    assert result.err.startswith("imdi-watch: error: no municipality matches 'Berg' in any ")
    assert "nearest: 4601 Bergen" in result.err


@pytest.mark.parametrize(
    ("query", "number"),
    [("Aalesund", "1507"), ("aurskog holand", "3026"), ("Guovdageaidnu", "5430"), ("1818", "1818")],
)
def test_history_finds_names_as_people_type_them(two: Cli, query: str, number: str) -> None:
    found = json.loads(two("history", query, "--json").out)
    assert found["municipality"]["municipality_number"] == number


def test_history_of_an_unknown_name_is_exit_2_in_one_line(two: Cli) -> None:
    result = two("history", "Gotham")

    assert result == CliResult(
        2, "", "imdi-watch: error: no municipality matches 'Gotham' in any stored revision\n"
    )


# --- reparse -----------------------------------------------------------------------------------


def test_reparse_reports_counts_and_keeps_figures(two: Cli) -> None:
    figures = "SELECT * FROM figures ORDER BY revision_id, position"
    changes = "SELECT * FROM changes ORDER BY revision_id, position"
    before = (two.query(figures), two.query(changes))

    result = two("reparse")
    as_json = two("reparse", "--json")

    assert result == CliResult(0, "reparsed 2 revisions: 0 read differently now\n", "")
    assert json.loads(as_json.out) == {"revisions": 2, "changed": 0}
    assert (two.query(figures), two.query(changes)) == before
    assert len(before[0]) == 712


# --- diff --------------------------------------------------------------------------------------


def golden(suffix: str, old_label: str | None, new_label: str | None) -> str:
    """The golden a → revised report as the CLI prints it with these labels."""
    text = (GOLDEN / f"a-to-revised.{suffix}").read_bytes().decode("utf-8")  # CSV keeps CRLF
    if suffix == "txt" and old_label:
        first, rest = text.split("\n", 1)
        return f"{first}\n{old_label} → {new_label}\n{rest}"
    if suffix == "md" and old_label:
        return text.replace("12.11.2021 → 19.11.2021", f"{old_label} → {new_label}", 1)
    if suffix == "json":
        data = json.loads(text)
        data["from"]["label"], data["to"]["label"] = old_label, new_label
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return text


FORMATS = [("text", "txt"), ("markdown", "md"), ("json", "json"), ("csv", "csv")]


@pytest.mark.parametrize(("fmt", "suffix"), FORMATS)
def test_diff_between_revision_ids(two: Cli, fmt: str, suffix: str) -> None:
    result = two("diff", "1", "2", "--format", fmt)

    assert (result.code, result.err) == (0, "")
    assert_same_report(result.out, golden(suffix, "revision 1", "revision 2"), suffix)


@pytest.mark.parametrize(("fmt", "suffix"), FORMATS)
def test_diff_between_dates(two: Cli, fmt: str, suffix: str) -> None:
    result = two("diff", "2021-11-12", "2021-11-19", "--format", fmt)

    assert (result.code, result.err) == (0, "")
    assert_same_report(result.out, golden(suffix, "revision 1", "revision 2"), suffix)


@pytest.mark.parametrize(("fmt", "suffix"), FORMATS)
def test_diff_between_two_html_files_needs_no_store(cli: Cli, fmt: str, suffix: str) -> None:
    result = cli("diff", str(PAGE_A), str(PAGE_REVISED), "--format", fmt)

    assert (result.code, result.err) == (0, "")
    assert_same_report(
        result.out, golden(suffix, "page-2022-nn-a.html", "page-2022-revised.html"), suffix
    )
    assert not cli.db_path.exists()


def assert_same_report(actual: str, expected: str, suffix: str) -> None:
    if suffix == "json":
        assert json.loads(actual) == json.loads(expected)
    else:
        assert actual == expected


def test_diff_default_is_latest_against_the_one_before(two: Cli) -> None:
    result = two("diff")

    assert result.out == golden("txt", "revision 1", "revision 2")


def test_diff_needs_two_revisions(cli: Cli) -> None:
    cli("ingest", str(PAGE_A), "--fetched-at", A_AT)

    result = cli("diff")

    assert result.code == 2
    assert "1 revision(s) stored; a diff needs two" in result.err


# --- exit codes --------------------------------------------------------------------------------


def test_exit_0_for_commands_that_succeed(two: Cli) -> None:
    for args in (("log",), ("show", "1"), ("history", "Bergen"), ("diff",), ("--version",)):
        assert two(*args).code == 0, args


def test_exit_1_only_with_exit_code_on_a_new_revision(
    http_server: LoopbackServer, write_config: Callable[..., Path]
) -> None:
    http_server.route("/oppmoding", Reply(200, PAGE_A.read_bytes(), {"Content-Type": "text/html"}))
    config = write_config(http_server.url("/oppmoding"))

    assert run_cli("--config", str(config), "check", "-q", "--exit-code").code == 1
    assert run_cli("--config", str(config), "check", "-q", "--exit-code").code == 0


def test_exit_2_for_an_unknown_config_key_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[fetch]\ntimeout = 3\n", encoding="utf-8")

    result = run_cli("--config", str(config), "check")

    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert result.err.startswith(f"imdi-watch: error: {config}: unknown key [fetch].timeout ")
    assert "read_timeout_s" in result.err  # the hint lists the keys that exist


def test_exit_2_for_a_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    result = run_cli("--config", str(missing), "log")

    assert result == CliResult(2, "", f"imdi-watch: error: {missing}: no such config file\n")


def test_exit_2_for_a_bad_option() -> None:
    result = run_cli("check", "--frobnicate")

    assert result.code == 2
    assert result.err.count("\n") == 1 and "--frobnicate" in result.err


def test_exit_3_when_the_database_is_not_a_database(cli: Cli) -> None:
    cli.db_path.parent.mkdir(parents=True)
    cli.db_path.write_bytes(b"this is not sqlite" * 100)

    result = cli("log")

    assert result.code == 3
    assert result.err.startswith(f"imdi-watch: error: {cli.db_path}: not an imdi-watch database")
    assert result.err.count("\n") == 1


HOLD_LOCK = """
import sys, time
from pathlib import Path
from scraper.store import open_store
with open_store(Path(sys.argv[1]), Path(sys.argv[2])) as store, store.lock(10):
    print("locked", flush=True)
    time.sleep(30)
"""


def test_exit_4_when_another_process_holds_the_lock(
    http_server: LoopbackServer, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    http_server.route("/oppmoding", Reply(200, PAGE_A.read_bytes(), {"Content-Type": "text/html"}))
    config = write_config(http_server.url("/oppmoding"), store={"lock_wait_s": 0.3})
    cli = Cli(config)
    assert cli("check", "-q").code == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(cli.db_path), str(tmp_path / "snapshots")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"

        result = cli("check")

        assert result.code == 4
        assert result.out == ""
        assert result.err == (
            f"imdi-watch: error: another imdi-watch check holds the lock on "
            f"{cli.db_path}.lock (waited 0.3 s)\n"
        )
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert cli.query("PRAGMA integrity_check") == [("ok",)]
    assert cli.query("SELECT id, outcome FROM fetches") == [(1, "new-revision")]
    assert cli.query("SELECT count(*) FROM figures") == [(356,)]
    after = cli("check", "-q")
    assert after.code == 0
    assert cli.query("SELECT id, outcome FROM fetches") == [(1, "new-revision"), (2, "unchanged")]


def test_rebuild_from_snapshots_alone_gives_the_same_revisions_and_figures(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[[pages]]\nname = "oppmoding"\nurl = "http://127.0.0.1/x"\n', encoding="utf-8"
    )
    fixtures = Path(__file__).parent / "fixtures"
    for name, at in (("page-2022-nn-a.html", "2021-11-12T09:00:00Z"),
                     ("page-2022-revised.html", "2021-11-19T09:00:00Z")):  # fmt: skip
        result = run_cli(
            "--config", str(config), "ingest", str(fixtures / name), "--fetched-at", at
        )
        assert result.code == 0, result.err
    rebuilt = tmp_path / "rebuilt.db"
    result = run_cli("--config", str(config), "rebuild", str(rebuilt))
    assert result.code == 0, result.err
    assert result.out.strip() == f"{rebuilt}: 2 revisions from 2 snapshots"
    query = "SELECT revision_id, municipality, municipality_number, requested, minors FROM figures ORDER BY 1, position"
    original = sqlite3.connect(tmp_path / "store" / "imdi-watch.db").execute(query).fetchall()
    assert sqlite3.connect(rebuilt).execute(query).fetchall() == original
    assert len(original) == 2 * 356
    again = run_cli("--config", str(config), "rebuild", str(rebuilt))
    assert again.code == 2 and "already exists" in again.err
