"""The dashboard (/-/dashboards/imdi-watch) in headless Chromium on the demo store, offline: every
chart draws its marks from scripts `serve` itself serves, no request leaves 127.0.0.1, and the
municipality filter shows that municipality's figures from the store."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from headless import CHROMIUM, Chromium, Served, chart_marks, serve, wait_for_charts

from scraper.dashboard import CHARTS, DEFAULT_MUNICIPALITY, PATH, dashboard_config
from scraper.norsk import format_number

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`imdi-watch demo --keep DIR`: the recorded history, checked into a store by the pipeline."""
    folder = tmp_path_factory.mktemp("dashboard") / "demo"
    env = {key: value for key, value in os.environ.items() if key != "IMDI_WATCH_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "scraper", "demo", "--keep", str(folder)],
        cwd=folder.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return folder / "imdi-watch.db"


@pytest.fixture(scope="module")
def served(demo_store: Path) -> Iterator[Served]:
    with serve(demo_store, cwd=demo_store.parent) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium() as chromium:
        yield chromium


def store_rows(db_path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_dashboard_draws_every_chart_offline(
    served: Served, browser: Chromium, tmp_path: Path
) -> None:
    browser.requests.clear()
    browser.open(served.url.rstrip("/") + PATH)
    wait_for_charts(browser, CHARTS)
    marks = chart_marks(browser)
    assert sorted(marks) == sorted(CHARTS)
    for chart in CHARTS:
        assert len(marks[chart]) > 0, f"{chart} drew no marks"
    # the three figure changes of the revision of 19 November, largest first
    assert marks["largest_changes"] == [
        "Bergen (4601): 182 → 192 (+10)",
        "Gjerstad (4211): 0 → 10 (+10)",
        "Oslo (0301): 225 → 215 (−10)",
    ]
    # the national request: blank before the table was published, then 5 500 and 5 510
    national = marks["national"]
    assert "request (table total), 12.11.2021: 5 500" in national
    assert "request (table total), 19.11.2021: 5 510" in national
    assert "request (table total), 01.10.2021: (blank)" in national
    assert not any(label.endswith(": 0") for label in national)

    # offline: everything came from `serve`, and nothing else was even tried
    assert browser.left_loopback() == []
    scripts = [url for url in browser.requests if url.endswith(".js")]
    assert any(url.endswith("/vega-lite.min.js") for url in scripts), scripts
    assert all(url.startswith(served.url) for url in browser.requests)
    served_paths = "".join(served.log)
    for asset in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "dashboards.js"):
        assert f"/{asset} HTTP/1.1" in served_paths and asset in served_paths

    screenshot = browser.screenshot(tmp_path / "dashboard.png")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 30_000  # four charts, not a blank page


def test_dashboard_opens_on_the_default_municipality(served: Served, browser: Chromium) -> None:
    browser.open(served.url.rstrip("/") + PATH)
    wait_for_charts(browser, CHARTS)
    assert browser.evaluate("location.search") == "?municipality=" + quote_plus(
        DEFAULT_MUNICIPALITY
    )
    assert "Oslo (0301), requested, 19.11.2021: 215" in chart_marks(browser)["municipality"]


@pytest.mark.parametrize("picked", ["Bergen (4601)", "bergen", "4601"])
def test_dashboard_filter_shows_that_municipality_from_the_store(
    served: Served, browser: Chromium, demo_store: Path, picked: str
) -> None:
    browser.open(f"{served.url.rstrip('/')}{PATH}?municipality={quote_plus(picked)}")
    wait_for_charts(browser, CHARTS)
    expected = [
        f"Bergen (4601), {figure}, {day}.{month}.{year}: {format_number(value) or '(blank)'}"
        for day, month, year, figure, value in _bergen(demo_store)
    ]
    assert expected[0] == "Bergen (4601), requested, 12.11.2021: 182"
    assert "Bergen (4601), requested, 19.11.2021: 192" in expected
    drawn = chart_marks(browser)["municipality"]
    # each point once, and the step line through the points (one path per figure)
    points = [label for label in drawn if label in expected]
    assert sorted(set(points)) == sorted(expected)
    assert browser.left_loopback() == []


def _bergen(db_path: Path) -> list[tuple[str, str, str, str, int | None]]:
    """Bergen's four figures in every revision, straight from the store."""
    rows = store_rows(
        db_path,
        "SELECT revision_id, updated, requested, minors, minors_15_18, minors_under_15 "
        "FROM municipality_history WHERE municipality_number = ? ORDER BY revision_id",
        "4601",
    )
    labels = ("requested", "minors", "minors 15–18", "minors <15")
    found = []
    for _, updated, *values in rows:
        year, month, day = str(updated).split("-")
        found += [
            (day, month, year, label, value) for label, value in zip(labels, values, strict=True)
        ]
    return found


def test_dashboard_filter_lists_every_municipality_by_name_and_number(
    served: Served, browser: Chromium, demo_store: Path
) -> None:
    browser.open(served.url.rstrip("/") + PATH)
    options = browser.evaluate(
        "Array.from(document.querySelectorAll('#municipality-list option')).map(o => o.value)"
    )
    named = store_rows(
        demo_store,
        "SELECT DISTINCT municipality, municipality_number FROM municipality_history "
        "WHERE municipality IS NOT NULL",
    )
    assert len(options) == len(named) == 356 - 1  # one row of the demo has lost its name
    assert {"Bergen (4601)", "Oslo (0301)", "Ålesund (1507)"} <= set(options)


def test_dashboard_config_is_datasette_dashboards_shaped() -> None:
    config = dashboard_config("imdi-watch")
    (slug,) = config
    dashboard = config[slug]
    assert sorted(dashboard["charts"]) == sorted(CHARTS)
    assert {chart["library"] for chart in dashboard["charts"].values()} == {"vega-lite"}
    assert sorted(name for row in dashboard["layout"] for name in row) == sorted(CHARTS)
