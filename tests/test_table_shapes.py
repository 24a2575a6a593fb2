"""Every table shape IMDi has used, read by meaning: Kommune + Fylke; Fylke only; per-county
tables under county headings (beside a county table); Kommunenummer/Kommunenavn; a header split
over two rows; row headers in <th>; totals named Totalt, Sum, I alt, Til saman, Hele landet;
a column nobody can name is kept and warned; two columns claiming one series are both kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.diff import diff_pages
from scraper.models import ChangeKind, Page
from scraper.parse import parse_page

FIXTURES = Path(__file__).parent / "fixtures"


def page(body: str, *, title: str = "Anmodning om bosetting for 2017") -> Page:
    return parse_page(
        f"""<!DOCTYPE html><html lang="nb"><body><main><h1>{title}</h1>
        <p>Sist oppdatert: 6. mars 2017</p>{body}</main></body></html>"""
    )


def sums(parsed: Page, level: str) -> dict[tuple[object, ...], int]:
    out: dict[tuple[object, ...], int] = {}
    for figure in parsed.figures():
        if figure.level == level:
            out[figure.series.key] = out.get(figure.series.key, 0) + (figure.value or 0)
    return out


COUNTY_TABLE = """<h2>Fylkesoversikt</h2><table><thead><tr><th>Fylke</th>
<th>Anmodning for 2017 (herav enslige mindreårige)</th>
<th>Vedtak for 2017 (herav enslige mindreårige)</th></tr></thead><tbody>
<tr><td>Hordaland</td><td>1 100 (60)</td><td>1 050 (55)</td></tr>
<tr><td>Rogaland</td><td>900 (40)</td><td>900 (40)</td></tr>
<tr><td>Totalt</td><td>2 000 (100)</td><td>1 950 (95)</td></tr></tbody></table>"""
PER_COUNTY = """<h3>Hordaland</h3><table><thead><tr><th>Kommune</th>
<th>Anmodning for 2017 (herav enslige mindreårige)</th>
<th>Vedtak for 2017 (herav enslige mindreårige)</th></tr></thead><tbody>
<tr><td>Bergen</td><td>250 (10)</td><td>250 (10)</td></tr>
<tr><td>Os</td><td>20 (0)</td><td></td></tr>
<tr><td>Sum</td><td>270 (10)</td><td>250 (10)</td></tr></tbody></table>
<h3>Rogaland</h3><table><thead><tr><th>Kommune</th>
<th>Anmodning for 2017 (herav enslige mindreårige)</th>
<th>Vedtak for 2017 (herav enslige mindreårige)</th></tr></thead><tbody>
<tr><td>Stavanger</td><td>150 (20)</td><td>0 (0)</td></tr>
<tr><td>Os</td><td>10</td><td>10</td></tr></tbody></table>"""


def test_county_table_and_per_county_municipal_tables_are_two_levels() -> None:
    parsed = page(COUNTY_TABLE + PER_COUNTY)
    assert len(parsed.tables) == 2
    county, municipal = parsed.tables
    assert [a.name for a in county.areas] == ["Hordaland", "Rogaland", "Totalt"]
    assert [(a.name, a.county, a.number) for a in municipal.areas if a.level == "municipality"] == [
        ("Bergen", "Hordaland", "1201"),
        ("Os", "Hordaland", "1243"),
        ("Stavanger", "Rogaland", "1103"),
        ("Os", "Rogaland", None),  # no Os in Rogaland: never a guessed number
    ]
    assert "unknown-municipality" in {w.code for w in parsed.warnings}
    assert sums(parsed, "county") == {
        ("request", 2017, "total"): 2000, ("request", 2017, "minors"): 100,
        ("decision", 2017, "total"): 1950, ("decision", 2017, "minors"): 95,
    }  # fmt: skip
    assert sums(parsed, "municipality") == {
        ("request", 2017, "total"): 430, ("request", 2017, "minors"): 30,
        ("decision", 2017, "total"): 260, ("decision", 2017, "minors"): 10,
    }  # fmt: skip
    # blank is not zero: Os (Hordaland) has no decision; Stavanger said no (0)
    by_name = {(f.area, f.county, f.series.key): f.value for f in parsed.figures()}
    assert by_name[("Os", "Hordaland", ("decision", 2017, "total"))] is None
    assert by_name[("Stavanger", "Rogaland", ("decision", 2017, "total"))] == 0
    # "10" alone under a paired header is the total; the minors are blank, not 0
    assert by_name[("Os", "Rogaland", ("request", 2017, "minors"))] is None
    assert parsed.year == 2017 and len(parsed.rows) == 4


@pytest.mark.parametrize(
    "label", ["Totalt", "Sum", "I alt", "Til saman", "Til sammen", "Hele landet", "Heile landet"]
)
def test_a_totals_row_by_any_name_is_never_a_municipality(label: str) -> None:
    parsed = page(f"""<table><tr><th>Kommune</th><th>Fylke</th><th>Anmodning 2017</th></tr>
    <tr><td>Bergen</td><td>Hordaland</td><td>250</td></tr>
    <tr><td>{label}</td><td></td><td>250</td></tr></table>""")
    (table,) = parsed.tables
    assert [(a.level, a.name) for a in table.areas] == [
        ("municipality", "Bergen"),
        ("total", label),
    ]
    assert parsed.totals is not None and parsed.totals.requested == 250


def test_number_and_name_columns_and_row_headers() -> None:
    parsed = page("""<table><tr><th>Kommunenummer</th><th>Kommunenavn</th><th>Fylke</th>
    <th>Anmodning 2017</th><th>Vedtak 2017</th></tr>
    <tr><th>1201</th><th>Bergen</th><td>Hordaland</td><td>250</td><td>240</td></tr>
    <tr><th>0301</th><th>Oslo</th><td>Oslo</td><td>500</td><td></td></tr></table>""")
    assert [(r.municipality, r.municipality_number, r.requested) for r in parsed.rows] == [
        ("Bergen", "1201", 250),
        ("Oslo", "0301", 500),
    ]
    decisions = {f.area: f.value for f in parsed.figures() if f.series.measure == "decision"}
    assert decisions == {"Bergen": 240, "Oslo": None}


def test_a_header_split_over_two_rows() -> None:
    parsed = page("""<table><thead><tr><th rowspan="2">Kommune</th><th rowspan="2">Fylke</th>
    <th colspan="2">Anmodning 2017</th><th colspan="2">Vedtak 2017</th></tr>
    <tr><th>Totalt</th><th>Herav enslige mindreårige</th><th>Totalt</th>
    <th>Herav enslige mindreårige</th></tr></thead>
    <tbody><tr><td>Bergen</td><td>Hordaland</td><td>250</td><td>10</td><td>240</td><td>9</td>
    </tr></tbody></table>""")
    assert [s.key for s in parsed.tables[0].series] == [
        ("request", 2017, "total"), ("request", 2017, "minors"),
        ("decision", 2017, "total"), ("decision", 2017, "minors"),
    ]  # fmt: skip
    assert [f.value for f in parsed.figures()] == [250, 10, 240, 9]


def test_a_column_beside_the_request_makes_no_change_in_the_request_series() -> None:
    """A "Busett 2021" or "Oppmoding 2021" column added beside "Endelege tal 2022" is another
    series: the request of 2022 keeps every figure, the new column is one series-added change."""
    html = (FIXTURES / "page-2022-nn-a.html").read_text("utf-8")
    old = parse_page(html)
    for header, measure in (("Busett 2021", "settled"), ("Oppmoding 2021", "request")):
        extra = html.replace(
            "<th>Endelege tal 2022</th>", f"<th>{header}</th><th>Endelege tal 2022</th>"
        )
        cells = iter(range(10_000))
        extra = extra.replace("</td>\n              <td>", "</td>\n              <td>", 0)
        rows = extra.split("<tr>")
        for index, row in enumerate(rows):
            if "<td>" in row:  # a body row: a new cell after the county cell
                first, second, rest = row.split("</td>", 2)
                rows[index] = f"{first}</td>{second}</td><td>{next(cells) % 97}</td>{rest}"
        new = parse_page("<tr>".join(rows))
        changes = diff_pages(old, new)
        assert [(c.kind, c.series.key if c.series else None) for c in changes if c.kind in (
            ChangeKind.FIGURE, ChangeKind.TOTALS, ChangeKind.ROW_ADDED, ChangeKind.ROW_REMOVED,
            ChangeKind.SERIES_ADDED, ChangeKind.SERIES_REMOVED)] == [
            (ChangeKind.SERIES_ADDED, (measure, 2021, "total")),
        ]  # fmt: skip
        assert new.rows == old.rows and new.totals == old.totals


def test_an_unknown_column_is_kept_and_warned_and_two_claims_are_both_kept() -> None:
    parsed = page("""<table><tr><th>Kommune</th><th>Fylke</th><th>Anmodning 2017</th>
    <th>Merknad</th><th>Plassar</th><th>Anmodning 2017</th></tr>
    <tr><td>Bergen</td><td>Hordaland</td><td>250</td><td>3</td><td>7</td><td>251</td></tr>
    </table>""")
    codes = [w.code for w in parsed.warnings]
    assert codes.count("unknown-column") == 2  # "Merknad", "Plassar"
    assert codes.count("ambiguous-column") == 1  # two "Anmodning 2017"
    kept = [(f.series.measure, f.series.header, f.value) for f in parsed.figures()]
    assert ("unknown", "Plassar", 7) in kept
    assert ("request", "Anmodning 2017", 250) in kept and ("request", "Anmodning 2017", 251) in kept


def test_a_footnote_is_kept_as_a_note_and_never_merged_into_the_number() -> None:
    parsed = page("""<table><tr><th>Kommune</th><th>Fylke</th><th>Anmodning 2017</th></tr>
    <tr><td>Bergen</td><td>Hordaland</td><td>182<sup>1</sup></td></tr>
    <tr><td>Voss*</td><td>Hordaland</td><td>40*</td></tr>
    <tr><td>Oslo</td><td>Oslo</td><td>ca. 200</td></tr></table>""")
    values = {f.area: f.value for f in parsed.figures()}
    assert values == {"Bergen": 182, "Voss": 40, "Oslo": None}
    notes = [
        (w.details["text"], w.details["note"]) for w in parsed.warnings if w.code == "cell-note"
    ]
    assert notes == [("182", "1"), ("40", "*")]
    unreadable = [w.details["text"] for w in parsed.warnings if w.code == "unreadable-cell"]
    assert unreadable == ["ca. 200"]
