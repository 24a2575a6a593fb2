"""The real-page fixtures (tests/fixtures/real/) are well-formed and expected.json agrees with them.

Reads the HTML with selectolax directly, never with scraper.parse: these checks hold the
fixtures themselves to account, so the parser's tests can trust them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser, LexborNode

REAL = Path(__file__).parent / "fixtures" / "real"
EXPECTED: dict[str, Any] = json.loads((REAL / "expected.json").read_text(encoding="utf-8"))
FIXTURES = sorted(p.name for p in REAL.glob("*.html"))


def _text(node: LexborNode) -> str:
    raw = (node.text(separator=" ") or "").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", raw).strip()


def _cell(text: str) -> tuple[int, int | None] | None:
    if not text:
        return None
    m = re.fullmatch(r"(\d[\d ]*?) ?(?:\((\d[\d ]*)\))?", text)
    assert m, f"unexpected cell {text!r}"
    minors = m.group(2)
    return int(m.group(1).replace(" ", "")), int(minors.replace(" ", "")) if minors else None


def test_every_fixture_has_an_entry_and_every_entry_a_fixture() -> None:
    assert FIXTURES, "no fixtures found"
    assert sorted(EXPECTED) == FIXTURES
    for name in FIXTURES:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.html", name)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_is_well_formed(name: str) -> None:
    raw = (REAL / name).read_text(encoding="utf-8")
    assert raw.startswith("<!DOCTYPE html>") and raw.rstrip().endswith("</html>")
    tree = LexborHTMLParser(raw)
    entry = EXPECTED[name]
    h1 = tree.css("main article h1")
    assert len(h1) == 1 and _text(h1[0]) == entry["title"]
    assert entry["language"] in {"nn", "nb"}
    assert entry["source"].startswith("https://www.imdi.no/")
    for key in ("updated", "published"):
        if entry[key] is not None:
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry[key])
    tables = tree.css("main article table")
    assert len(tables) == len(entry["tables"])
    for table in tables:
        widths = {len(tr.css("th, td")) for tr in table.css("tr")}
        assert len(widths) == 1, "every row of a table has as many cells as its header"


@pytest.mark.parametrize("name", FIXTURES)
def test_column_sums_in_expected_json_equal_the_cells(name: str) -> None:
    tree = LexborHTMLParser((REAL / name).read_text(encoding="utf-8"))
    for table, want in zip(tree.css("main article table"), EXPECTED[name]["tables"], strict=True):
        trs = table.css("tr")
        head = next(tr for tr in trs if tr.css("th") and not tr.css("td"))
        headers = [_text(th) for th in head.css("th")]
        assert headers == want["headers"]
        body = [[_text(td) for td in tr.css("td")] for tr in trs if tr.css("td")]
        totals = [r for r in body if r[0] == (want["totals_row"] or [None])[0]]
        rows = [r for r in body if r not in totals]
        assert sum(want["rows"].values()) == len(rows)
        for i, column in enumerate(want["columns"]):
            assert column["header"] == headers[i]
            if "role" in column:
                continue
            cells = [_cell(r[i]) for r in rows]
            present = [c for c in cells if c is not None]
            assert column["blank_cells"] == len(cells) - len(present)
            assert column["zero_cells"] == sum(1 for c in present if c[0] == 0)
            assert column["sum_total"] == sum(c[0] for c in present)
            if column["cells"] == "N (M)":
                assert column["sum_minors"] == sum(c[1] or 0 for c in present)
            if totals:
                printed = _cell(totals[0][i])
                assert printed is not None
                assert column["printed_total"]["total"] == printed[0]
                assert column["sum_matches_printed"] == (
                    printed[0] == column["sum_total"]
                    and (column["cells"] != "N (M)" or printed[1] == column["sum_minors"])
                )


@pytest.mark.parametrize("name", FIXTURES)
def test_statements_and_key_figures_are_in_the_text(name: str) -> None:
    tree = LexborHTMLParser((REAL / name).read_text(encoding="utf-8"))
    article = tree.css_first("main article")
    assert article is not None
    text = _text(article)
    entry = EXPECTED[name]
    for statement in entry["statements"]:
        assert statement["text"] in text
        assert statement["template"].count("{}") == len(statement["values"])
        for figure in statement["key_figures"]:
            assert figure["value"] in statement["values"]
            assert figure["measure"] in {"request", "decision", "settled", "unknown"}
            assert figure["subject"] in {"refugees", "municipalities"}
            assert figure["qualifier"] in {None, "at-least", "about", "at-most"}
    assert entry["key_figures"] == [f for s in entry["statements"] for f in s["key_figures"]]


@pytest.mark.parametrize(
    "name", ["2017-03-06-anmodning-og-vedtak.html", "2017-03-06-anmodning-og-vedtak-xtable.html"]
)
def test_the_2017_county_table_has_its_known_real_values(name: str) -> None:
    table = EXPECTED[name]["tables"][0]
    assert table["shape"] == "county" and table["rows"] == {"county": 19}
    sums = [
        (c["measure"], c["year"], c["sum_total"], c["sum_minors"]) for c in table["columns"][1:]
    ]
    assert sums == [
        ("request", 2016, 18517, 4637),
        ("decision", 2016, 16523, 2666),
        ("request", 2017, 12522, 701),
        ("decision", 2017, 10908, 718),
    ]
    printed = table["columns"][4]["printed_total"]
    assert (printed["total"], printed["minors"]) == (10915, 759)
    assert [c.get("sum_matches_printed") for c in table["columns"][1:]] == [True, True, True, False]
