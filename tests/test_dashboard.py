"""The dashboard (/-/dashboards/imdi-watch) in headless Chromium on the demo store, offline: every
chart draws its marks from scripts `serve` itself serves, no request leaves 127.0.0.1, and the
municipality filter shows that municipality's figures from the store."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from cli_helpers import clean_env
from headless import CHROMIUM, Chromium, Served, chart_marks, serve, wait_for_charts
from history_store import query

from scraper.config import DEFAULT_URL, Target
from scraper.dashboard import CHART_SQL, CHARTS, DEFAULT_MUNICIPALITY, PATH, dashboard_config
from scraper.pipeline import capture_result, ingest_body
from scraper.serve import make_datasette
from scraper.store import open_store

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install chromium; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`imdi-watch demo --keep DIR`: the recorded history, checked into a store by the pipeline."""
    folder = tmp_path_factory.mktemp("dashboard") / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "scraper", "demo", "--keep", str(folder)],
        cwd=folder.parent,
        env=clean_env(),
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
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    with Chromium(profile_parent=tmp_path_factory.mktemp("chromium")) as chromium:
        yield chromium


def store_rows(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of the store the server is serving, read without a connection that can write."""
    return query(db_path, sql, read_only=True)


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
    # the national key figures as the page states them: exactly 5 500 and 5 510; last year's
    # 5 025 beside them ("behovet … om lag 5 500" before the table is a forecast, not a request)
    national = set(marks["national"])
    assert {
        "request 2022, 12.11.2021: 5 500",
        "request 2022, 19.11.2021: 5 510",
        "request 2021, 19.11.2021: 5 025",
    } <= national
    assert not any(label.endswith(": 0") for label in national)
    assert set(marks["request_vs_decision"]) >= {"Vestland, request: 745", "Oslo, request: 215"}

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
    assert "Oslo (0301), request 2022, 19.11.2021: 215" in chart_marks(browser)["municipality"]


@pytest.mark.parametrize("picked", ["Bergen (4601)", "bergen", "4601"])
def test_dashboard_filter_shows_that_municipality_from_the_store(
    served: Served, browser: Chromium, demo_store: Path, picked: str
) -> None:
    browser.open(f"{served.url.rstrip('/')}{PATH}?municipality={quote_plus(picked)}")
    wait_for_charts(browser, CHARTS)
    drawn = set(chart_marks(browser)["municipality"])
    requests = store_rows(
        demo_store,
        "SELECT updated, value FROM series_figures WHERE number = '4601' AND measure = 'request' "
        "AND part = 'total' ORDER BY revision_id",
    )
    assert requests == [("2021-11-12", 182), ("2021-11-19", 192)]
    assert {
        "Bergen (4601), request 2022, 12.11.2021: 182",
        "Bergen (4601), request 2022, 19.11.2021: 192",
        "Bergen (4601), request 2022 · minors, 19.11.2021: 7",
        "Bergen (4601), request 2022 · minors 15–18, 19.11.2021: 5",
        "Bergen (4601), request 2022 · minors <15, 19.11.2021: 2",
    } <= drawn
    assert not any("Oslo" in label for label in drawn)
    assert browser.left_loopback() == []


def test_dashboard_shows_a_blank_cell_as_blank_never_0(
    served: Served, browser: Chromium, demo_store: Path
) -> None:
    # Grimstad's minors are blank on the page (&nbsp;): no value row in the store
    assert store_rows(
        demo_store,
        "SELECT DISTINCT value FROM series_figures WHERE number = '4202' AND part = 'minors'",
    ) == [(None,)]
    browser.open(f"{served.url.rstrip('/')}{PATH}?municipality={quote_plus('Grimstad (4202)')}")
    wait_for_charts(browser, CHARTS)
    drawn = chart_marks(browser)["municipality"]
    assert "Grimstad (4202), request 2022 · minors, 12.11.2021: (blank)" in drawn
    assert "Grimstad (4202), request 2022, 19.11.2021: 29" in drawn
    assert not any(" · minors" in label and label.endswith(": 0") for label in drawn)


def test_dashboard_filter_lists_every_municipality_by_name_and_number(
    served: Served, browser: Chromium, demo_store: Path
) -> None:
    browser.open(served.url.rstrip("/") + PATH)
    options = browser.evaluate(
        "Array.from(document.querySelectorAll('#municipality-list option')).map(o => o.value)"
    )
    named = store_rows(
        demo_store,
        "SELECT DISTINCT area, number FROM series_figures "
        "WHERE level = 'municipality' AND area IS NOT NULL",
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


@pytest.fixture(scope="module")
def decision_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """IMDi's page of 6 March 2017: request and decision per county, through the pipeline."""
    folder = tmp_path_factory.mktemp("decisions")
    page = Path(__file__).parent / "fixtures" / "real" / "2017-03-06-anmodning-og-vedtak.html"
    target = Target("oppmoding", DEFAULT_URL)
    with open_store(folder / "imdi-watch.db", folder / "snapshots") as store:
        result = ingest_body(
            target,
            capture_result(page.read_bytes(), url=target.url),
            store=store,
            fetched_at="2017-03-06T12:00:00.000Z",
        )
    assert result.outcome == "new-revision"
    return folder / "imdi-watch.db"


def test_dashboard_shows_request_beside_decision_and_the_gap(
    decision_store: Path, browser: Chromium
) -> None:
    with serve(decision_store, cwd=decision_store.parent) as running:
        browser.open(running.url.rstrip("/") + PATH)
        # one revision of a county table: no changes yet, and no municipality to pick
        wait_for_charts(browser, ("request_vs_decision",))
        drawn = set(chart_marks(browser)["request_vs_decision"])
        assert browser.left_loopback() == []
        # the three charts without data are drawn empty, at their usual size (a legend with no
        # entries below a Vega chart makes it infinitely tall)
        browser.wait_for(
            lambda: (
                browser.evaluate(
                    "document.querySelectorAll('.dashboard-card-chart svg.marks').length"
                )
                == len(CHARTS)
            ),
            what="every chart drawn, empty or not",
        )
        assert browser.evaluate("document.documentElement.scrollHeight") < 3_000
    # the latest year the page has both for: 2017, per county, with request − decision
    assert {
        "Rogaland, request: 1 035 (gap 235)",
        "Rogaland, decision: 800 (gap 235)",
        "Oslo, request: 831 (gap -19)",
        "Østfold, decision: 469 (gap 0)",
    } <= drawn


def test_dashboard_keeps_two_watched_pages_apart(tmp_path: Path) -> None:
    """Two pages with the same table: a line per page, and counties never summed across them."""
    fixtures = Path(__file__).parent / "fixtures"
    with open_store(tmp_path / "imdi-watch.db", tmp_path / "snapshots") as store:
        for name, url, page, at in [
            ("nynorsk", DEFAULT_URL, "page-2022-nn-a.html", "2021-11-12T10:00:00.000Z"),
            (
                "copy",
                "https://example.org/copy",
                "page-2022-revised.html",
                "2021-11-19T10:00:00.000Z",
            ),
        ]:
            target = Target(name, url)
            body = (fixtures / page).read_bytes()
            result = ingest_body(target, capture_result(body, url=url), store=store, fetched_at=at)
            assert result.outcome == "new-revision"
    datasette = make_datasette(tmp_path / "imdi-watch.db")

    def chart(name: str) -> list[dict[str, object]]:
        params = {"sql": CHART_SQL[name], "municipality": "Bergen (4601)", "_shape": "array"}
        response = asyncio.run(datasette.client.get("/imdi-watch.json", params=params))
        assert response.status_code == 200, response.text
        rows: list[dict[str, object]] = response.json()
        return rows

    assert {row["description"] for row in chart("national")} >= {
        "request 2022 · nynorsk, 12.11.2021: 5 500",
        "request 2022 · copy, 19.11.2021: 5 510",
    }
    assert {row["description"] for row in chart("municipality")} >= {
        "Bergen (4601), request 2022 · nynorsk, 12.11.2021: 182",
        "Bergen (4601), request 2022 · copy, 19.11.2021: 192",
    }
    # the newest page's table alone: Vestland as the revised page has it (Bergen 192), not
    # both pages added up (735 + 745)
    counties = {row["county"]: row["value"] for row in chart("request_vs_decision")}
    assert counties["Vestland"] == 745
