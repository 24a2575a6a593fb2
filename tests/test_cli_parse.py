"""`imdi-watch parse`: the documented JSON, and clear one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli_helpers import run_cli

FIXTURES = Path(__file__).parent / "fixtures"


def test_parse_json_prints_the_documented_shape() -> None:
    result = run_cli("parse", str(FIXTURES / "page-2022-nn-a.html"), "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert len(data["rows"]) == 356
    assert data["totals"] == {
        "requested": 5500,
        "minors": 141,
        "minors_15_18": 111,
        "minors_under_15": 30,
    }
    assert data["updated"] == "2021-11-12"
    assert data["headline"]["municipalities"] == 212
    oslo = next(r for r in data["rows"] if r["municipality"] == "Oslo")
    assert oslo["municipality_number"] == "0301"
    risor = next(r for r in data["rows"] if r["municipality"] == "Risør")
    assert risor["minors"] is None  # blank stays blank in JSON: null, not 0
    assert "Risør" in result.out  # ensure_ascii=False


def test_parse_summary_names_the_figures() -> None:
    result = run_cli("parse", str(FIXTURES / "page-2022-nn-a.html"))
    assert result.code == 0, result.err
    assert "Oppmoding om busetting for 2022" in result.out
    assert "12.11.2021" in result.out
    assert "5 500" in result.out and "356" in result.out
    assert "missing-name" in result.out


def test_parse_missing_file_is_exit_2_with_one_line() -> None:
    result = run_cli("parse", "no/such/page.html")
    assert result.code == 2
    assert result.err.strip() == "imdi-watch: error: no/such/page.html: no such file"


def test_parse_an_empty_file_name_says_so() -> None:
    # What `parse "$(ls -t snapshots/*.html.gz | head -1)"` passes where there is no snapshot.
    result = run_cli("parse", "")
    assert result.code == 2
    assert result.err.strip() == "imdi-watch: error: an empty file name: no file to read"


def test_parse_non_html_input_is_exit_2(tmp_path: Path) -> None:
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(b"%PDF-1.7\n\x00\x01binary")
    result = run_cli("parse", str(pdf))
    assert result.code == 2
    assert result.err.strip() == f"imdi-watch: error: {pdf}: not an HTML page: the input is binary"


def test_parse_bad_option_is_exit_2() -> None:
    result = run_cli("parse", "--jsn", str(FIXTURES / "page-2022-nn-a.html"))
    assert result.code == 2
    assert result.err == (
        "imdi-watch: error: No such option '--jsn'. Did you mean '--json'? "
        "(see imdi-watch parse --help)\n"
    )


def test_python_dash_m_scraper_runs_without_traceback() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "scraper", "parse", "missing.html"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    assert process.stderr.strip() == "imdi-watch: error: missing.html: no such file"
