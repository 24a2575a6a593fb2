"""One output layer (issues 15.2, 13.4): the same output options on every reporting command, one
JSON shape per thing, lists in the text's order, one formula-safe CSV dialect, and terminal
output that never obeys a control character.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import TABLE_COLUMNS, Cli, clean_env, csv_rows, run_cli
from history_store import FIXTURES, build_store
from server import LoopbackServer, Reply

from scraper.cli import cli
from scraper.export import render_csv
from scraper.store import lock_store

MISSING_NAME = {
    "code": "missing-name",
    "message": "row 144 (Rogaland) has figures but no municipality name",
    "row": 144,
    "county": "Rogaland",
}
BOM = "\ufeff"


@pytest.fixture
def store(tmp_path: Path) -> Cli:
    """Run the CLI on a store holding revision 1 (12 Nov 2021) and 2 (19 Nov 2021)."""
    return Cli(tmp_path / "config.toml", build_store(tmp_path))


# --- one set of output options -----------------------------------------------------------------


NOT_REPORTS = {"serve", "feed", "run"}  # a server, an Atom document, a log (--log-format json)


@pytest.mark.parametrize("command", sorted(set(cli.commands) - NOT_REPORTS))
def test_every_reporting_command_has_json_and_format_where_there_are_several(
    command: str,
) -> None:
    params = {p.name for p in cli.commands[command].params}
    assert "as_json" in params, f"{command} has no --json"
    result = run_cli(command, "--help")
    assert "  --json " in result.out


@pytest.mark.parametrize(
    "args",
    [["log"], ["show"], ["show", "1"], ["history", "Bergen"], ["diff"], ["diff", "1", "2"],
     ["export"], ["export", "--history"]],
    ids=" ".join,
)  # fmt: skip
def test_json_of_every_read_command_is_json(store: Cli, args: list[str]) -> None:
    result = store(*args, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)


def test_diff_json_is_format_json(store: Cli) -> None:
    assert store("diff", "--json").out == store("diff", "--format", "json").out
    assert json.loads(store("diff", "--json").out)["to"]["label"] == "revision 2"


def test_json_with_another_format_is_a_usage_error(store: Cli) -> None:
    result = store("diff", "--json", "--format", "csv")
    assert result.code == 2
    assert result.err.startswith(
        "imdi-watch: error: --json and --format csv disagree: give one of them"
    )
    shown = store("show", "--json", "--csv")
    assert shown.code == 2 and "--csv and --format json disagree" in shown.err


def test_warnings_have_one_shape_in_parse_log_and_show(store: Cli) -> None:
    parsed = json.loads(store("parse", str(FIXTURES / "page-2022-nn-a.html"), "--json").out)
    logged = json.loads(store("log", "--json").out)
    shown = json.loads(store("show", "--json").out)
    assert parsed["warnings"] == [MISSING_NAME]
    assert [r["warnings"] for r in logged["revisions"]] == [[MISSING_NAME], [MISSING_NAME]]
    assert shown["revision"]["warnings"] == [MISSING_NAME]


def test_history_json_names_the_municipality_once_in_the_texts_order(
    store: Cli,
) -> None:
    data = json.loads(store("history", "Bergen", "--json").out)
    text = store("history", "Bergen").out
    assert data == {
        "municipality": {
            "name": "Bergen", "municipality_number": "4601", "numbers": ["4601"],
            "county": "Vestland",
        },
        "revisions": [
            {
                "revision": 1, "first_seen": "2021-11-12T09:00:00.000Z", "updated": "2021-11-12",
                "municipality": "Bergen", "municipality_number": "4601", "county": "Vestland",
                "figures": [
                    {"measure": "request", "year": 2022, "part": "total", "value": 182},
                    {"measure": "request", "year": 2022, "part": "minors", "value": 7},
                    {"measure": "request", "year": 2022, "part": "minors_15_18", "value": 5},
                    {"measure": "request", "year": 2022, "part": "minors_under_15", "value": 2},
                ],
            },
            {
                "revision": 2, "first_seen": "2021-11-19T09:00:00.000Z", "updated": "2021-11-19",
                "municipality": "Bergen", "municipality_number": "4601", "county": "Vestland",
                "figures": [
                    {"measure": "request", "year": 2022, "part": "total", "value": 192},
                    {"measure": "request", "year": 2022, "part": "minors", "value": 7},
                    {"measure": "request", "year": 2022, "part": "minors_15_18", "value": 5},
                    {"measure": "request", "year": 2022, "part": "minors_under_15", "value": 2},
                ],
            },
        ],
    }  # fmt: skip
    revisions_in_text = re.findall(r"^(\d+) +2021-", text, re.MULTILINE)
    assert revisions_in_text == ["1", "2"]


# --- one CSV dialect ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["show", "--csv"], ["show", "--format", "csv"], ["export"], ["diff", "--format", "csv"]],
)
def test_every_csv_is_the_excel_safe_dialect(store: Cli, args: list[str]) -> None:
    result = store(*args)
    assert result.code == 0, result.err
    assert result.out.startswith(BOM + '"')
    assert result.out.endswith("\r\n")
    assert "\n" not in result.out.replace("\r\n", "")
    if args[0] != "diff":
        assert '"Oslo","0301","Oslo",215,6,6,0\r\n' in result.out
    else:
        assert (
            '"figure","Oslo","Oslo","0301","requested","request",2022,"total",225,215,-10,\r\n'
            in result.out
        )


def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote_and_numbers_stay_numbers() -> None:
    record = {
        "municipality": "=HYPERLINK(\"http://evil\",\"x\")", "municipality_number": "+4799",
        "county": "-Agder", "requested": -3, "minors": "@SUM(A1)", "minors_15_18": "\tx",
        "minors_under_15": "\rx",
    }  # fmt: skip
    text = render_csv([record], TABLE_COLUMNS)
    assert text.split("\r\n")[1] == (
        '"\'=HYPERLINK(""http://evil"",""x"")","\'+4799","\'-Agder",-3,"\'@SUM(A1)","\'\tx","\'\rx"'
    )


def hostile_page() -> bytes:
    body = (FIXTURES / "page-2022-revised.html").read_text(encoding="utf-8")
    assert body.count(">Bergen<") == 1 and body.count(">Vestland<") >= 1
    return body.replace(">Bergen<", ">=HYPERLINK(&quot;http://evil/&quot;)<").encode()


@pytest.mark.parametrize(
    "args",
    [["export"], ["export", "--history"], ["show", "--csv"], ["diff", "--format", "csv"]],
    ids=" ".join,
)
def test_a_formula_in_a_scraped_name_is_text_in_every_csv(tmp_path: Path, args: list[str]) -> None:
    build_store(tmp_path, extra=[(hostile_page(), "2021-11-20T09:00:00.000Z")])
    result = run_cli("--config", str(tmp_path / "config.toml"), *args)
    assert result.code == 0, result.err
    cells = [cell for row in csv.reader(io.StringIO(result.out[1:], newline="")) for cell in row]
    assert '\'=HYPERLINK("http://evil/")' in cells
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)


# --- the terminal never obeys what it prints -------------------------------------------------


def test_an_error_naming_a_file_escapes_its_control_characters(tmp_path: Path) -> None:
    result = run_cli("parse", str(tmp_path / "x\x1b]0;pwned\x07.html"))
    assert result.code == 2
    assert "\x1b" not in result.err and "\x07" not in result.err
    assert result.err == f"imdi-watch: error: {tmp_path}/x\\x1b]0;pwned\\x07.html: no such file\n"


def test_scraped_text_in_a_report_is_escaped(tmp_path: Path) -> None:
    body = (FIXTURES / "page-2022-nn-a.html").read_text(encoding="utf-8")
    page = tmp_path / "page.html"
    page.write_text(body.replace(">Oslo<", ">Oslo&#27;[2J<", 1), encoding="utf-8")
    result = run_cli("diff", str(FIXTURES / "page-2022-nn-a.html"), str(page))
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and "Oslo\\x1b[2J" in result.out


def test_notify_lists_a_target_with_control_characters_escaped(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[notify]\nurls = ["json://127.0.0.1:9/a\x1b[2Jb"]\n')
    result = run_cli("--config", str(config), "notify")
    assert "\x1b" not in result.out + result.err


def test_run_text_log_lines_start_with_an_iso_time(
    http_server: LoopbackServer, write_config: Callable[..., Path]
) -> None:
    http_server.route("/robots.txt", Reply(200, b""))
    http_server.route("/page", Reply(200, (FIXTURES / "page-2022-nn-a.html").read_bytes()))
    config = write_config(http_server.url("/page"))

    result = run_cli("--config", str(config), "run", "--max-checks", "1")

    assert result.code == 0, result.err
    lines = result.err.splitlines()
    assert len(lines) >= 3
    for line in lines:
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z imdi-watch: INFO: ", line), line


def run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (as in an interactive shell)."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "scraper", *args],
        cwd=cwd, env=clean_env(), stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(slave)
    out, _ = process.communicate(timeout=60)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    return process.returncode, out.decode(), err.decode().replace("\r\n", "\n")


def test_waiting_for_the_lock_says_so_on_a_terminal(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[[pages]]\nname = "p"\nurl = "http://127.0.0.1:9/"\n\n'
        '[store]\npath = "imdi-watch.db"\nlock_wait_s = 0.3\n'
    )
    with lock_store(tmp_path / "imdi-watch.db", wait_s=0):
        code, _, err = run_on_a_terminal(["--config", str(config), "check"], tmp_path)
    assert code == 4
    assert err.splitlines() == [
        f"imdi-watch: waiting up to 0.3 s for the lock on {tmp_path}/imdi-watch.db.lock "
        "(another check holds it)",
        f"imdi-watch: error: another imdi-watch check holds the lock on {tmp_path}/"
        "imdi-watch.db.lock (waited 0.3 s)",
    ]


def test_waiting_for_the_lock_is_silent_in_a_log(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[store]\npath = "imdi-watch.db"\nlock_wait_s = 0.3\n')
    with lock_store(tmp_path / "imdi-watch.db", wait_s=0):
        result = run_cli("--config", str(config), "check")
    assert result.code == 4
    assert result.err.count("\n") == 1 and "waiting up to" not in result.err


def test_a_retry_says_so_on_a_terminal(tmp_path: Path, http_server: LoopbackServer) -> None:
    page = (FIXTURES / "page-2022-nn-a.html").read_bytes()
    http_server.route("/robots.txt", Reply(200, b""))
    http_server.route("/page", Reply(503, b"busy"), Reply(200, page))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[pages]]\nname = "p"\nurl = "{http_server.url("/page")}"\n\n'
        "[fetch]\nmax_attempts = 2\nbackoff_s = 0.01\nmax_backoff_s = 0.01\n\n"
        '[store]\npath = "imdi-watch.db"\n'
    )
    code, out, err = run_on_a_terminal(["--config", str(config), "check", "--quiet"], tmp_path)
    assert (code, out) == (0, "")
    assert err == (
        f"imdi-watch: GET {http_server.url('/page')}: HTTP 503 Service Unavailable; "
        "retrying in 0.0 s (attempt 1 of 2)\n"
    )


def test_terminal_tables_keep_their_columns_when_a_cell_carries_a_delta(
    store: Cli,
) -> None:
    lines = store("history", "Bergen").out.splitlines()
    header, first, second = lines[1], lines[2], lines[3]
    assert first.split() == ["1", "2021-11-12", "12.11.2021", "182", "7", "5", "2"]
    assert second.split()[:5] == ["2", "2021-11-19", "19.11.2021", "192", "(+10)"]
    assert "{+" not in second  # the plain report's markers are not for tables
    end = header.index("requested 2022") + len("requested 2022")
    assert first[:end].endswith("182") and second[:end].endswith("192 (+10)")


def test_readme_history_json_names_the_keys_history_prints(store: Cli) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("### `history --json`", 1)[1].split("```json\n", 1)[1].split("```")[0]
    documented = set(re.findall(r'"(\w+)":', block))

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    assert documented == keys(json.loads(store("history", "Bergen", "--json").out))


def test_diff_json_and_csv_list_changes_in_the_texts_order(store: Cli) -> None:
    text = store("diff").out
    changes = json.loads(store("diff", "--json").out)["changes"]
    rows = csv_rows(store("diff", "--format", "csv").out)
    kinds = [c["kind"] for c in changes]
    assert kinds == [row["kind"] for row in rows]
    assert kinds.index("figure") < kinds.index("headline") < kinds.index("totals")
    assert kinds.index("totals") < kinds.index("text")
    places = list(dict.fromkeys(c["municipality"] for c in changes if c["kind"] == "figure"))
    assert places == ["Gjerstad", "Kristiansand", "Risør", "Oslo", "Bergen"]
    assert [text.index(f"    {name} ") for name in places] == sorted(
        text.index(f"    {name} ") for name in places
    )
