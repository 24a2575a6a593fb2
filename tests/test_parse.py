"""The parser reads the page's meaning exactly: figures, blanks, dates, lead, text, warnings."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from scraper.errors import ParseError
from scraper.models import FIGURE_FIELDS, Page, Totals
from scraper.norsk import detect_language, parse_date, parse_number
from scraper.parse import parse_page

FIXTURES = Path(__file__).parent / "fixtures"
SEED_PAGES = ["page-2022-nn-a.html", "page-2022-nn-b.html", "page-2022-nn-a-noise.html"]


def load(name: str) -> Page:
    return parse_page((FIXTURES / name).read_bytes())


def html_page(table_rows: str, *, lead: str = "", updated: str = "12. november 2021") -> str:
    return f"""<!DOCTYPE html><html lang="nn"><head><title>x</title></head><body><main>
    <h1>Oppmoding om busetting for 2022</h1><p>{lead}</p><p>Sist oppdatert: {updated}</p>
    <table><tr><td><strong>Kommune</strong></td><td><strong>Fylke</strong></td>
    <td><strong>Endelege tal 2022</strong></td><td><strong>- Einslege mindreårige</strong></td>
    <td><strong>Einslege mindreårige 15-18</strong></td>
    <td><strong>Einslege mindreårige &lt;15</strong></td></tr>{table_rows}</table></main></body></html>"""


@pytest.mark.parametrize("name", SEED_PAGES)
def test_parse_seed_page_figures(name: str) -> None:
    page = load(name)
    assert len(page.rows) == 356
    assert page.totals == Totals(requested=5500, minors=141, minors_15_18=111, minors_under_15=30)
    for field in FIGURE_FIELDS:
        assert sum(getattr(r, field) or 0 for r in page.rows) == getattr(page.totals, field)
    requested = Counter(
        "blank" if r.requested is None else "zero" if r.requested == 0 else "asked"
        for r in page.rows
    )
    assert requested == {"asked": 212, "zero": 84, "blank": 60}
    assert sum(1 for r in page.rows if (r.minors or 0) > 0) == 32
    assert page.updated == "2021-11-12"
    assert page.year == 2022
    assert page.language == "nn"
    assert page.title == "Oppmoding om busetting for 2022"
    assert page.headline.to_dict() == {
        "municipalities": 212,
        "refugees": 5500,
        "minor_municipalities": 32,
        "minors": 141,
    }
    assert [w.code for w in page.warnings] == ["missing-name"]
    assert page.warnings[0].details["county"] == "Rogaland"


def test_parse_two_markup_styles_give_identical_output_and_fingerprint() -> None:
    style_a, style_b = load("page-2022-nn-a.html"), load("page-2022-nn-b.html")
    assert style_a.to_dict() == style_b.to_dict()
    assert style_a.fingerprint == style_b.fingerprint


def test_parse_noise_only_rerender_keeps_the_fingerprint() -> None:
    assert load("page-2022-nn-a.html").fingerprint == load("page-2022-nn-a-noise.html").fingerprint


def test_parse_any_changed_figure_date_or_sentence_changes_the_fingerprint() -> None:
    html = (FIXTURES / "page-2022-nn-a.html").read_text(encoding="utf-8")
    base = parse_page(html).fingerprint
    edits = [
        ("<td>Bergen</td>", "<td>Bergen </td>"),  # white space only: same meaning
        ("12. november 2021</time>", "13. november 2021</time>"),
        ("Om busetting i 2021", "Om busetting i 2021 og 2022"),
        ("Prognosane viser", "Prognosane syner"),
    ]
    fingerprints = [parse_page(html.replace(old, new, 1)).fingerprint for old, new in edits]
    assert fingerprints[0] == base
    assert len({base, *fingerprints[1:]}) == 4
    bergen = html.index("<td>Bergen</td>")
    figure_edit = html[:bergen] + html[bergen:].replace("<td>182</td>", "<td>183</td>", 1)
    assert parse_page(figure_edit).fingerprint != base


def test_parse_blank_cell_is_null_and_zero_is_zero() -> None:
    rows = {r.municipality: r for r in load("page-2022-nn-a.html").rows}
    assert rows["Risør"].requested == 13
    assert (rows["Risør"].minors, rows["Risør"].minors_15_18) == (None, None)
    assert rows["Gjerstad"].requested == 0
    assert (rows["Arendal"].minors, rows["Arendal"].minors_under_15) == (3, 0)
    assert rows["Sortland"].minors == 0 and rows["Sortland"].minors_15_18 == 0
    assert rows["Bø (Nordland)"].requested is None


def test_parse_municipality_numbers_keep_leading_zero_and_match_the_2020_list() -> None:
    page = load("page-2022-nn-a.html")
    by_name = {r.municipality: r for r in page.rows}
    assert by_name["Oslo"].municipality_number == "0301"
    assert by_name["Bergen"].municipality_number == "4601"
    assert by_name["Nes (Ak.)"].municipality_number == "3034"
    assert by_name["Nes (Busk.)"].municipality_number == "3040"
    assert by_name["Våler (Hedmark)"].municipality_number == "3419"
    assert by_name["Ålesund"].municipality_number == "1507"
    unnamed = [r for r in page.rows if r.municipality is None]
    assert len(unnamed) == 1
    assert (unnamed[0].county, unnamed[0].requested, unnamed[0].municipality_number) == (
        "Rogaland",
        30,
        None,
    )
    numbers = [r.municipality_number for r in page.rows if r.municipality]
    assert len(numbers) == len(set(numbers)) == 355


def test_parse_bokmal_page() -> None:
    page = load("page-2022-nb.html")
    assert page.language == "nb"
    assert page.title == "Anmodning om bosetting for 2022"
    assert page.headline.to_dict() == {
        "municipalities": 212,
        "refugees": 5500,
        "minor_municipalities": 32,
        "minors": 141,
    }
    assert page.totals == load("page-2022-nn-a.html").totals  # "5.500" read as 5500
    assert [r.to_dict() for r in page.rows] == [
        r.to_dict() for r in load("page-2022-nn-a.html").rows
    ]
    assert page.updated == "2021-11-12"
    assert [w.code for w in page.warnings] == ["missing-name"]


def test_parse_page_before_the_table_existed() -> None:
    page = load("page-2022-before-table.html")
    assert page.rows == () and page.totals is None
    assert page.updated == "2021-10-01"
    assert page.year == 2022
    assert page.headline.municipalities is None and page.headline.refugees is None
    assert [w.code for w in page.warnings] == ["no-table"]


def test_parse_page_cut_off_mid_table_warns_and_keeps_what_is_there() -> None:
    page = load("page-2022-truncated.html")
    assert len(page.rows) == 150
    assert page.totals is None
    codes = [w.code for w in page.warnings]
    assert "no-totals" in codes
    assert codes.count("headline-mismatch") == 4
    assert page.rows[-1].county == "Rog"  # the cut-off cell, as it is


def test_parse_sections_are_article_text_only() -> None:
    page = load("page-2022-nn-a.html")
    headings = [s.heading for s in page.sections]
    assert headings == [
        None,
        "Om busetting i 2021",
        "Oppmodinga for 2022",
        "Alle oppmodingstal på kommunenivå",
        "Korleis vert oppmodingstalet fastsett?",
        "Kva tyder oppmodingstalet?",
        "Kva skal kommunen gjere?",
    ]
    text = json.dumps(page.to_dict()["sections"], ensure_ascii=False)
    for boilerplate in ("Fant du det du lette etter", "Relatert innhald", "Personvern", "csrf"):
        assert boilerplate not in text
    assert "Sist oppdatert" not in text  # read as `updated`, not as text
    first = page.sections[0].paragraphs[0]
    assert first.startswith("IMDi har bedt 212 norske kommunar om å ta imot 5 500 flyktningar")
    bullets = [p for p in page.sections[2].paragraphs if p.startswith("• ")]
    assert len(bullets) == 8
    assert "\u00a0" not in text and "\u202f" not in text


def test_parse_numbers_as_imdi_writes_them() -> None:
    for text in ("5 500", "5\u00a0500", "5.500", "5500", " 5500 ", "5\u202f500"):
        assert parse_number(text) == 5500, text
    assert parse_number("0") == 0
    assert parse_number("") is None and parse_number("\u00a0") is None
    with pytest.raises(ValueError):
        parse_number("ca. 12")


def test_parse_dates_in_every_written_form() -> None:
    assert parse_date("Sist oppdatert: 12. november 2021") == "2021-11-12"
    assert parse_date("Sist oppdatert 12.11.2021") == "2021-11-12"
    assert parse_date("2021-11-12T08:00:00+01:00") == "2021-11-12"
    assert parse_date("1. okt. 2021") == "2021-10-01"
    assert parse_date("no date here") is None


def test_parse_language_from_words_not_only_the_lang_attribute() -> None:
    assert detect_language("IMDi har bedt 212 kommunar", declared="nb") == "nn"
    assert detect_language("Av disse er 32 kommuner anmodet", declared="nn") == "nb"
    assert detect_language("12 345", declared="nn-NO") == "nn"
    # "òg" (also) is Nynorsk's own; an accented letter is part of a word, not a break in it
    assert detect_language("Dei skal òg busetje. Alle kommuner", declared="nb") == "nn"


def test_parse_updated_from_time_datetime_attribute() -> None:
    page = parse_page(html_page("", updated='<time datetime="2021-11-19T10:00:00">fredag</time>'))
    assert page.updated == "2021-11-19"


def test_parse_table_without_thead_and_column_words_in_bokmal() -> None:
    html = """<html><body><article><h1>Anmodning om bosetting for 2023</h1>
    <p>Sist oppdatert: 1.12.2022</p><table>
    <tr><th>Fylke</th><th>Kommune</th><th>Enslige mindreårige under 15</th>
    <th>Enslige mindreårige 15–18</th><th>Endelig tall 2023</th>
    <th>- Enslige mindreårige</th></tr>
    <tr><td>Oslo</td><td>Oslo</td><td>1</td><td>5</td><td>1 200</td><td>6</td></tr>
    <tr><td></td><td></td><td>1</td><td>5</td><td>1.200</td><td>6</td></tr>
    </table></article></body></html>"""
    page = parse_page(html)
    assert page.year == 2023 and page.updated == "2022-12-01"
    (oslo,) = page.rows
    assert oslo.to_dict() == {
        "municipality": "Oslo",
        "county": "Oslo",
        "municipality_number": "0301",
        "requested": 1200,
        "minors": 6,
        "minors_15_18": 5,
        "minors_under_15": 1,
    }
    assert page.totals == Totals(1200, 6, 5, 1)


def test_parse_2024_counties_use_the_2024_numbers() -> None:
    rows = """<tr><td>Fredrikstad</td><td>Østfold</td><td>40</td><td></td><td></td><td></td></tr>
    <tr><td>Ålesund</td><td>Møre og Romsdal</td><td>30</td><td></td><td></td><td></td></tr>
    <tr><td>Haram</td><td>Møre og Romsdal</td><td>0</td><td></td><td></td><td></td></tr>
    <tr><td>Tromsø</td><td>Troms</td><td>50</td><td></td><td></td><td></td></tr>"""
    page = parse_page(html_page(rows))
    assert [r.municipality_number for r in page.rows] == ["3107", "1508", "1580", "5501"]


def test_parse_validation_warnings() -> None:
    rows = """<tr><td>Bergen</td><td>Vestland</td><td>10</td><td>3</td><td>1</td><td>1</td></tr>
    <tr><td>Bergen</td><td>Vestland</td><td>5</td><td></td><td></td><td></td></tr>
    <tr><td>Atlantis</td><td>Vestland</td><td>1</td><td></td><td></td><td></td></tr>
    <tr><td></td><td></td><td>99</td><td>3</td><td>1</td><td>1</td></tr>"""
    page = parse_page(html_page(rows, lead="IMDi har bedt 3 norske kommunar om å ta imot 16 "
                                "flyktningar i 2022.", updated="snart"))  # fmt: skip
    codes = sorted(w.code for w in page.warnings)
    assert codes == [
        "duplicate-municipality",
        "minors-split-mismatch",  # Bergen: 3 ≠ 1 + 1
        "minors-split-mismatch",  # totals: 3 ≠ 1 + 1
        "no-updated-date",
        "sum-mismatch",  # requested: 16 ≠ 99
        "unknown-municipality",
    ]
    mismatch = next(w for w in page.warnings if w.code == "sum-mismatch")
    assert mismatch.to_dict() == {
        "code": "sum-mismatch",
        "message": "Oppmoding 2022: the rows sum to 16, the totals row says 99",
        "field": "requested",
        "series": {"measure": "request", "year": 2022, "part": "total"},
        "sum": 16,
        "printed": 99,
    }


def test_parse_unreadable_cell_is_neither_blank_nor_zero() -> None:
    rows = "<tr><td>Oslo</td><td>Oslo</td><td>ca. 200</td><td></td><td></td><td></td></tr>"
    page = parse_page(html_page(rows))
    assert page.rows[0].requested is None
    assert "unreadable-cell" in [w.code for w in page.warnings]


@pytest.mark.parametrize(
    "body",
    [b"", b"%PDF-1.7 binary", b"\x00\x01\x02garbage", b'{"json": true}', b"just some words"],
)
def test_parse_rejects_input_that_is_not_html(body: bytes) -> None:
    with pytest.raises(ParseError, match="not an HTML page"):
        parse_page(body)


def test_parse_json_shape_is_the_documented_one() -> None:
    data = load("page-2022-nn-a.html").to_dict()
    assert list(data) == [
        "title", "language", "updated", "year", "headline", "sections", "rows", "totals",
        "warnings", "fingerprint", "series", "figures", "statements", "key_figures",
    ]  # fmt: skip
    assert data["series"][0] == {
        "measure": "request", "year": 2022, "part": "total", "header": "Endelege tal 2022",
        "table": 0,
    }  # fmt: skip
    assert data["figures"][0] == {
        "level": "municipality", "area": "Risør", "number": "4201", "county": "Agder",
        "measure": "request", "year": 2022, "part": "total", "value": 13, "table": 0,
    }  # fmt: skip
    assert data["key_figures"][0] == {
        "measure": "request", "subject": "refugees", "part": "total", "year": 2022,
        "value": 5500, "qualifier": None,
    }  # fmt: skip
    assert data["statements"][0] == {
        "section": None,
        "template": "IMDi har bedt {} norske kommunar om å ta imot {} flyktningar i {}.",
        "values": [212, 5500, 2022],
    }
    assert list(data["rows"][0]) == [
        "municipality", "county", "municipality_number", "requested", "minors",
        "minors_15_18", "minors_under_15",
    ]  # fmt: skip
    assert data["warnings"][0]["code"] == "missing-name"
    assert Page.from_dict(json.loads(json.dumps(data))) == load("page-2022-nn-a.html")
