"""Parse the 12 November 2021 page into the model, fingerprint included: target median ≤ 3 ms.

Also times the everyday alternative, BeautifulSoup with lxml, doing part of the same reading
(table found by header words, cells to numbers, article text), interleaved with parse_page, and
prints the ratio. The first round's parser, interleaved: bench/compare_parse.py.
Run: bench/run parse   (or .venv/bin/python bench/bench_parse.py)
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from scraper.norsk import normalize_space, parse_number
from scraper.parse import parse_page

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
PAGE = FIXTURES / "page-2022-nn-a.html"
# A county table and 19 per-county municipal tables in four paired series (8 series, 446 areas).
COUNTY_PAGE = FIXTURES / "synthetic" / "synthetic-2017-county-and-municipal-tables.html"
RUNS = 300


def median_ms(func: Callable[[], object], runs: int = RUNS) -> float:
    func()  # warm caches (municipality register, regexes) as a long-running monitor would
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def parse_with_beautifulsoup(html: bytes) -> tuple[list[list[int | None]], list[str]]:
    """The same reading as parse_page, written the everyday way with bs4 + lxml."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "nav", "aside", "form", "footer", "noscript"]):
        tag.decompose()
    main = soup.find("main") or soup.body
    table = next(
        t for t in main.find_all("table")
        if "Kommune" in t.find("tr").get_text() and "Fylke" in t.find("tr").get_text()
    )  # fmt: skip
    rows = []
    for tr in table.find_all("tr")[1:]:
        cells = [normalize_space(td.get_text()) for td in tr.find_all(["td", "th"])]
        rows.append([parse_number(c) for c in cells[2:6]])
    table.decompose()
    texts = [normalize_space(el.get_text()) for el in main.find_all(["h2", "h3", "p", "li"])]
    return rows, texts


def interleaved_ms(
    ours: Callable[[], object], theirs: Callable[[], object], rounds: int = 30, per_round: int = 10
) -> tuple[float, float]:
    """Medians of both, timed in turns (`per_round` of ours, then one of theirs, `rounds` times),
    so a busy spell of the machine falls on both alike."""
    ours(), theirs()
    our_times, their_times = [], []
    for _ in range(rounds):
        for _ in range(per_round):
            start = time.perf_counter()
            ours()
            our_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs()
        their_times.append(time.perf_counter() - start)
    return statistics.median(our_times) * 1000, statistics.median(their_times) * 1000


def main() -> int:
    html = PAGE.read_bytes()
    page = parse_page(html)
    assert len(page.rows) == 356 and page.totals and page.totals.requested == 5500
    ours = median_ms(lambda: parse_page(html))
    print(f"page: {PAGE.name}, {len(html):,} bytes, {len(page.rows)} rows")
    print(f"imdi-watch parse_page (selectolax/lexbor) median of {RUNS}: {ours:.2f} ms"
          f"  (target ≤ 3 ms: {'met' if ours <= 3 else 'MISSED'})")  # fmt: skip
    county_html = COUNTY_PAGE.read_bytes()
    county = parse_page(county_html)
    assert len(county.tables) == 2 and len(county.all_series) == 8
    tables = median_ms(lambda: parse_page(county_html))
    areas = sum(len(t.areas) for t in county.tables)
    print(
        f"page: {COUNTY_PAGE.name}, {len(county_html):,} bytes, {len(county.tables)} tables "
        f"({areas} areas, {len(county.all_series)} series)"
    )
    print(f"imdi-watch parse_page median of {RUNS}: {tables:.2f} ms"
          f"  (target ≤ 5 ms: {'met' if tables <= 5 else 'MISSED'})")  # fmt: skip
    try:
        import bs4  # noqa: F401
        import lxml  # noqa: F401
    except ImportError:
        print("BeautifulSoup/lxml not installed: `.venv/bin/pip install -e '.[bench]'`")
        return 0
    ours, theirs = interleaved_ms(lambda: parse_page(html), lambda: parse_with_beautifulsoup(html))
    print(
        f"interleaved: parse_page {ours:.2f} ms, BeautifulSoup + lxml (the table and text "
        f"alone) {theirs:.2f} ms: BeautifulSoup takes {theirs / ours:.1f}× as long"
    )
    print("the first round's parser, interleaved: bench/compare_parse.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
