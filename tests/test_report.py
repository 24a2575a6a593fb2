"""Reports say what changed, the same way every time: golden files, plain text, escaped scraped text.

Regenerate the golden files after an intended change of output with
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_report.py
and read the diff of tests/fixtures/golden/ before committing it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from scraper.diff import diff_pages
from scraper.export import CHANGE_COLUMNS, change_records, render_csv
from scraper.models import Change, ChangeKind, Headline, Page, Row, Section, request_table
from scraper.parse import parse_page
from scraper.report import ordered_changes, render_changes, summary_line

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "golden"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIRST_LINE = (
    "Sist oppdatert 12.11.2021 → 19.11.2021 · 8 figures changed in 5 municipalities"
    " · total 5 500 → 5 510"
)


@cache
def load(name: str) -> Page:
    return parse_page((FIXTURES / f"page-2022-{name}.html").read_bytes())


def report(
    old: str,
    new: str,
    format: str,
    *,
    color: bool = False,
    old_label: str | None = None,
    new_label: str | None = None,
) -> str:
    before, after = load(old), load(new)
    changes = diff_pages(before, after)
    return render_changes(
        before, after, changes, format=format, color=color, old_label=old_label,
        new_label=new_label,
    )  # fmt: skip


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
    assert actual == path.read_bytes().decode("utf-8")


@pytest.mark.parametrize(
    ("format", "suffix"), [("text", "txt"), ("markdown", "md"), ("json", "json"), ("csv", "csv")]
)
def test_report_revised_matches_golden_file(format: str, suffix: str) -> None:
    if format == "csv":  # the one CSV writer, export's (diff --format csv)
        changes = ordered_changes(diff_pages(load("nn-a"), load("revised")))
        actual = render_csv(change_records(changes), CHANGE_COLUMNS)
    else:
        actual = report("nn-a", "revised", format)
    assert_golden(f"a-to-revised.{suffix}", actual)


def test_report_text_first_line_is_the_summary() -> None:
    text = report("nn-a", "revised", "text")
    assert text.splitlines()[0] == FIRST_LINE
    changes = diff_pages(load("nn-a"), load("revised"))
    assert summary_line(load("nn-a"), load("revised"), changes) == FIRST_LINE
    assert "\x1b" not in text


def test_report_text_marks_blanks_deltas_and_changed_words() -> None:
    text = report("nn-a", "revised", "text")
    assert "minors       (blank) →   2" in text  # a blank is not a zero, and has no delta
    assert "225 → 215 −10" in text
    assert "innan [-midten av-]{+19.+} november 2021." in text
    assert "[-5 500-]{+5 510+}" in text  # a grouped number is one word


def test_report_color_uses_ansi_and_keeps_the_words() -> None:
    colored = report("nn-a", "revised", "text", color=True)
    assert "\x1b[" in colored
    plain = ANSI.sub("", colored)
    assert plain.splitlines()[0] == FIRST_LINE
    assert "innan midten av 19. november 2021." in plain  # struck old words, then bold new ones


def test_report_broken_page_leads_with_the_warning() -> None:
    text = report("nn-a", "broken", "text")
    assert text.splitlines()[0] == (
        "WARNING: the new revision looks broken or redesigned (the table is gone)"
        " — not reporting 356 municipalities as removed."
    )
    assert "removed" not in text.split("\n", 1)[1].replace("as removed", "")
    markdown = report("nn-a", "broken", "markdown")
    assert (
        "> **WARNING: the new revision looks broken or redesigned (the table is gone)" in markdown
    )


def test_report_truncated_page_leads_with_the_warning() -> None:
    first = report("nn-a", "truncated", "text").splitlines()[0]
    assert first == (
        "WARNING: the new revision looks broken or redesigned (lost most rows: 150 of 356 left)"
        " — not reporting 206 municipalities as removed."
    )


def test_report_language_switch_is_summarised() -> None:
    text = report("nn-a", "nb", "text")
    assert text.splitlines()[0] == "Nynorsk → Bokmål · title changed · 7 of 7 sections re-worded"
    assert "{+" not in text


def test_report_no_changes() -> None:
    page = load("nn-a")
    assert summary_line(page, page, []) == "no changes"
    assert render_changes(page, page, [], format="text") == "no changes\n"


def test_report_first_revision_has_no_old_page() -> None:
    text = render_changes(None, load("nn-a"), [], format="text")
    assert text == "Sist oppdatert 12.11.2021 · first revision · 356 municipalities · total 5 500\n"
    assert json.loads(render_changes(None, load("nn-a"), [], format="json"))["from"] is None


def test_report_json_has_both_revisions_and_every_change() -> None:
    data = json.loads(report("nn-a", "revised", "json", old_label="r1", new_label="r2"))
    assert data["from"]["updated"] == "2021-11-12"
    assert data["to"] == {
        "title": "Oppmoding om busetting for 2022",
        "updated": "2021-11-19",
        "year": 2022,
        "language": "nn",
        "fingerprint": load("revised").fingerprint,
        "label": "r2",
    }
    assert len(data["changes"]) == 20
    kinds = [c["kind"] for c in data["changes"]]  # in the text's order: date, figures, lead, …
    assert kinds[:2] == ["updated", "figure"] and kinds[-1] == "text"
    assert data["changes"][4] == {
        "kind": "figure", "municipality": "Risør", "municipality_number": "4201",
        "county": "Agder", "section": None, "field": "minors", "old": None, "new": 2,
        "delta": None, "level": "municipality",
        "series": {"measure": "request", "year": 2022, "part": "minors"},
    }  # fmt: skip


def test_report_csv_is_the_export_dialect_one_change_a_row() -> None:
    old, new = load("nn-a"), load("revised")
    text = render_csv(change_records(diff_pages(old, new)), CHANGE_COLUMNS)
    assert text.startswith("\ufeff")
    lines = text[1:].split("\r\n")
    assert lines[-1] == "" and all("\n" not in line for line in lines)
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert tuple(rows[0]) == CHANGE_COLUMNS
    assert len(rows) == 21
    assert rows[13] == [
        "figure", "Agder", "Risør", "4201", "minors", "request", "2022", "minors", "", "2", "", "",
    ]  # fmt: skip
    assert '"figure","Agder","Risør","4201","minors","request",2022,"minors",,2,,' in lines


def test_report_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report format 'yaml'"):
        report("nn-a", "revised", "yaml")


HOSTILE_NAME = "[bold]Evil[/bold] <script>alert(1)</script>"
HOSTILE_TEXT = "Sjå [link=https://x.invalid]her[/link] og <b>*dette*</b> | no."


def hostile_pages() -> tuple[Page, Page, list[Change]]:
    def page(requested: int, text: str) -> Page:
        return Page(
            title="Oppmoding [red]om[/red] busetting",
            language="nn",
            updated="2021-11-12",
            year=2022,
            headline=Headline(),
            sections=(Section("[i]Om[/i] <em>", (text,)),),
            warnings=(),
            fingerprint="",
            tables=(request_table([Row(HOSTILE_NAME, "Agder", None, requested)], year=2022),),
        )

    old, new = page(1, "Sjå her."), page(2, HOSTILE_TEXT)
    return old, new, diff_pages(old, new)


@pytest.mark.parametrize("color", [False, True])
def test_report_text_shows_scraped_markup_literally(color: bool) -> None:
    old, new, changes = hostile_pages()
    text = ANSI.sub("", render_changes(old, new, changes, format="text", color=color))
    assert HOSTILE_NAME in text
    assert "[i]Om[/i] <em>" in text
    assert "[link=https://x.invalid]her[/link]" in text
    assert "<b>*dette*</b>" in text


def test_report_markdown_escapes_scraped_markup() -> None:
    old, new, changes = hostile_pages()
    markdown = render_changes(old, new, changes, format="markdown")
    assert "<script>" not in markdown and "<b>" not in markdown
    assert r"\[bold\]Evil\[/bold\] &lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert r"&lt;b&gt;\*dette\*&lt;/b&gt; \| no." in markdown
    table_rows = [line for line in markdown.splitlines() if line.startswith("| Agder")]
    assert len(table_rows) == 1 and table_rows[0].count(" | ") == 5  # the name broke no cell


def test_report_json_and_csv_keep_scraped_text_as_is() -> None:
    old, new, changes = hostile_pages()
    data = json.loads(render_changes(old, new, changes, format="json"))
    figure = next(c for c in data["changes"] if c["kind"] == str(ChangeKind.FIGURE))
    assert figure["municipality"] == HOSTILE_NAME
    text = render_csv(change_records(changes), CHANGE_COLUMNS)
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert any(row[2] == HOSTILE_NAME for row in rows)


def test_report_import_and_plain_rendering_do_not_import_rich() -> None:
    code = (
        "import sys; from pathlib import Path; from scraper.parse import parse_page;"
        "from scraper.diff import diff_pages; from scraper.report import render_changes;"
        "f = Path('tests/fixtures');"
        "a = parse_page((f / 'page-2022-nn-a.html').read_bytes());"
        "b = parse_page((f / 'page-2022-revised.html').read_bytes());"
        "[render_changes(a, b, diff_pages(a, b), format=x) for x in"
        " ('text', 'markdown', 'json')];"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))"
    )
    root = Path(__file__).parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
