"""`imdi-watch export`: the table at a revision and the long-form history, as spreadsheet-ready CSV
(BOM, CRLF, quoted text, blank ≠ 0) and as JSON that round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import TABLE_COLUMNS, run_cli
from cli_helpers import csv_rows as read_csv  # one of the tests has rows named csv_rows
from history_store import build_store

from scraper.export import LONG_COLUMNS, render_csv

BOM = "\ufeff"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("export")
    build_store(directory)
    return str(directory / "config.toml")


def export(config: str, *args: str) -> str:
    result = run_cli("--config", config, "export", *args)
    assert result.code == 0, result.err
    return result.out


def test_export_csv_is_utf8_bom_crlf_with_every_municipality(config: str) -> None:
    text = export(config)
    assert text.startswith(BOM + '"municipality","municipality_number","county","requested",')
    lines = text[1:].split("\r\n")
    assert lines[-1] == ""  # ends with CRLF
    assert all("\n" not in line for line in lines)  # no bare LF anywhere
    rows = read_csv(text)
    assert len(rows) == 356
    assert list(rows[0]) == list(TABLE_COLUMNS)
    assert next(r for r in rows if r["municipality"] == "Bergen")["requested"] == "192"  # latest
    assert "Øygarden" in text and "Bø (Nordland)" in text


def test_export_csv_keeps_blank_apart_from_zero_and_numbers_as_text(config: str) -> None:
    text = export(config, "1")
    lines = text[1:].split("\r\n")
    assert '"Risør","4201","Agder",13,,,' in lines  # blank cells are empty
    assert '"Arendal","4203","Agder",36,3,3,0' in lines  # a printed 0 stays 0
    assert '"Oslo","0301","Oslo",225,6,6,0' in lines  # the number quoted, as text
    rows = {r["municipality"]: r for r in read_csv(text)}
    assert rows["Risør"]["minors"] == "" and rows["Arendal"]["minors_under_15"] == "0"
    assert rows["Oslo"]["municipality_number"] == "0301"


def test_export_revision_by_date_equals_by_id(config: str) -> None:
    assert export(config, "2021-11-12") == export(config, "1")
    assert export(config, "2021-11-19") == export(config, "2") == export(config)


def test_export_history_is_long_form_with_every_figure(config: str) -> None:
    rows = read_csv(export(config, "--history"))
    assert len(rows) == 2 * (356 + 1) * 4  # the printed totals row is a figure too
    assert list(rows[0]) == list(LONG_COLUMNS)
    bergen = [
        (r["revision_id"], r["seen"], r["updated"], r["value"])
        for r in rows
        if r["area"] == "Bergen"
        and (r["measure"], r["year"], r["part"]) == ("request", "2022", "total")
    ]
    assert bergen == [
        ("1", "2021-11-12T09:00:00.000Z", "2021-11-12", "182"),
        ("2", "2021-11-19T09:00:00.000Z", "2021-11-19", "192"),
    ]
    risor = {(r["revision_id"], r["part"]): r["value"] for r in rows if r["area"] == "Risør"}
    assert risor[("1", "minors")] == "" and risor[("2", "minors")] == "2"
    assert risor[("2", "minors_under_15")] == "0"


def test_export_json_round_trips(config: str) -> None:
    text = export(config, "1", "--format", "json")
    assert "Risør" in text  # ensure_ascii=False
    data = json.loads(text)
    assert isinstance(data, list) and len(data) == 356
    assert list(data[0]) == list(TABLE_COLUMNS)
    by_name = {r["municipality"]: r for r in data}
    assert by_name["Risør"]["minors"] is None
    assert by_name["Arendal"]["minors_under_15"] == 0
    assert by_name["Oslo"]["municipality_number"] == "0301"
    # the JSON and the CSV say the same
    csv_rows = read_csv(export(config, "1"))
    assert [
        {k: "" if v is None else str(v) for k, v in record.items()} for record in data
    ] == csv_rows


def test_export_history_json_has_a_null_for_each_blank(config: str) -> None:
    data = json.loads(export(config, "--history", "--format", "json"))
    assert len(data) == 2856
    assert list(data[0]) == list(LONG_COLUMNS)
    blank = next(
        r for r in data if r["area"] == "Risør" and r["part"] == "minors" and r["revision_id"] == 1
    )
    assert blank["value"] is None


def test_export_output_file_gets_the_exact_bytes(config: str, tmp_path: Path) -> None:
    target = tmp_path / "oppmoding.csv"
    result = run_cli("--config", config, "export", "1", "--output", str(target))
    assert result.code == 0 and result.out == ""
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    assert data.decode("utf-8") == export(config, "1")
    assert "Risør".encode() in data


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("7",), "no revision 7"),
        (("2020-01-01",), "no revision was current on 2020-01-01"),
        (("1", "--history"), "--history"),
        (("--format", "xlsx"), "xlsx"),
    ],
)
def test_export_errors_are_one_line_with_exit_2(
    config: str, args: tuple[str, ...], message: str
) -> None:
    result = run_cli("--config", config, "export", *args)
    assert result.code == 2
    assert message in result.err and result.out == ""


def test_export_of_an_empty_store_says_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[store]\npath = "imdi-watch.db"\nsnapshots = "snapshots"\n', encoding="utf-8"
    )
    for args in ((), ("--history",)):
        result = run_cli("--config", str(config), "export", *args)
        assert result.code == 2 and "imdi-watch check" in result.err


def test_export_csv_quotes_text_and_doubles_quotes() -> None:
    text = render_csv([{"a": 'He said "hi"', "b": 0, "c": None}], ("a", "b", "c"))
    assert text == BOM + '"a","b","c"\r\n"He said ""hi""",0,\r\n'
