"""The dashboard served at /-/dashboards/imdi-watch: each chart's SQL (all in CHART_SQL) and its
Vega-Lite spec, as datasette-dashboards plugin config. Pure data; `serve` mounts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scraper.norsk import format_date, format_number
from scraper.report import BLANK, FIGURE_LABELS

PLUGIN = "datasette-dashboards"
SLUG = "imdi-watch"
PATH = f"/-/dashboards/{SLUG}"
# The municipality filter starts on Oslo: in every era 0301, and the largest request.
DEFAULT_MUNICIPALITY = "Oslo (0301)"
# Datasette's max_returned_rows for serve: a chart gets all its rows (the default is 1 000).
MAX_ROWS = 5_000
CHARTS = ("national", "largest_changes", "request_vs_decision", "municipality")


def number_text(value: object) -> str:
    """5500 → '5 500' for tooltips and labels; a blank (or anything not a whole number) → ''."""
    return format_number(value) if isinstance(value, int) and not isinstance(value, bool) else ""


def date_text(value: object) -> str:
    """'2021-11-12' → '12.11.2021'; no date → ''."""
    return format_date(value) if isinstance(value, str) and value else ""


# SQL functions the charts' queries use; serve registers them on every connection.
SQL_FUNCTIONS: dict[str, Callable[[object], str]] = {
    "norsk_number": number_text,
    "norsk_date": date_text,
}

# A municipality as the filter lists it, "Bergen (4601)", and the same label in SQL.
_LABEL_SQL = (
    "coalesce(municipality, '(no name)') || CASE WHEN municipality_number IS NULL THEN '' "
    "ELSE ' (' || municipality_number || ')' END"
)


def _value_sql(column: str) -> str:
    """A figure as people read it, and as screen readers hear it: 5 500, or (blank)."""
    return f"coalesce(nullif(norsk_number({column}), ''), '{BLANK}')"


# A figure's part as the legend shows it after its measure: "request 2022 · minors".
_PART_SQL = (
    "CASE part WHEN 'total' THEN '' "
    + " ".join(
        f"WHEN '{part}' THEN ' · {FIGURE_LABELS[part]}'"
        for part in ("minors", "minors_15_18", "minors_under_15")
    )
    + " ELSE ' · ' || part END"
)

# With several pages watched, a series names its page ("request 2022 · vedtak"): one line each.
_PAGE_SQL = "CASE WHEN (SELECT count(*) FROM pages) > 1 THEN ' · ' || {page} ELSE '' END"

# Every municipality of the store, from `areas`: each distinct list of a table's rows is kept
# once there, so this reads a few hundred rows, not every revision's (series_figures).
_MUNICIPALITIES = f"""SELECT DISTINCT municipality, municipality_number, {_LABEL_SQL} AS label
  FROM (SELECT name AS municipality, number AS municipality_number FROM areas
        WHERE level = 'municipality' AND (name IS NOT NULL OR number IS NOT NULL))"""


def number_match_sql(indent: int) -> str:
    """`:municipality` as a number ("301", "0301") that is `municipality_number`: one rule for
    this filter and serve's `municipality_history`; `indent` spaces lay out its second line."""
    return (
        "(trim(:municipality) <> '' AND trim(:municipality) NOT GLOB '*[^0-9]*'\n"
        + " " * indent
        + "AND municipality_number = substr('0000' || trim(:municipality), -4))"
    )


# The filter's value: a label from the list ("Bergen (4601)"), a number (301, 0301) or a name
# (bergen, ålesund); then that municipality's cells in every revision, by the index on the number.
_MUNICIPALITY_PICKED = f"""SELECT f.*, picked.label
  FROM (
    SELECT * FROM ({_MUNICIPALITIES})
    WHERE label = trim(:municipality)
       OR {number_match_sql(11)}
       OR fold(municipality) = fold(:municipality)
  ) picked
  CROSS JOIN series_figures f  -- picked first: f by the index on the number
    ON f.number = picked.municipality_number AND f.area IS picked.municipality
   AND f.level = 'municipality'"""


def _moves_only(source: str, *, shown: str = "value") -> str:
    """The rows of `source` (page, series, revision_id, value) where what is `shown` moved, and
    each series' first and last: the step line through them is the whole series, and a store of
    1 000 revisions stays far below the row limit."""
    return f"""SELECT * FROM (
  SELECT *, lag(revision_id) OVER w AS previous_id, lag({shown}) OVER w AS previous,
         lead(revision_id) OVER w AS next_id
  FROM ({source})
  WINDOW w AS (PARTITION BY page, series ORDER BY revision_id)
)
WHERE previous_id IS NULL OR next_id IS NULL OR {shown} IS NOT previous"""


# Every chart's query, in one place, on the series views (store.SERIES_VIEWS).
CHART_SQL: dict[str, str] = {
    # The key figures the page states (lead and statements): request and decision per year;
    # "about 5 500" then "5 500" is a move.
    "national": f"""WITH stated AS (
  -- one value per revision and series: the exact figure, else an "about" one (om lag)
  SELECT page, revision_id, measure, year,
         coalesce(max(CASE WHEN qualifier IS NULL THEN value END),
                  max(CASE WHEN qualifier = 'about' THEN value END)) AS value,
         max(CASE WHEN qualifier IS NULL THEN value END) IS NULL AS about
  FROM key_figure_history
  WHERE subject = 'refugees' AND part = 'total' AND measure IN ('request', 'decision')
    AND (qualifier IS NULL OR qualifier = 'about')
  GROUP BY page, revision_id, measure, year
), grid AS (
  -- every revision × every series of its page: a revision without the figure is a gap
  SELECT r.page, r.revision_id, coalesce(r.updated, substr(r.first_seen, 1, 10)) AS date,
         s.measure, s.year,
         s.measure || coalesce(' ' || s.year, '') || {_PAGE_SQL.format(page="r.page")} AS series
  FROM revision_summary r
  JOIN (SELECT DISTINCT page, measure, year FROM stated) s ON s.page = r.page
)
SELECT revision_id, date, series AS measure, value,
       CASE WHEN about THEN 'about ' ELSE '' END || {_value_sql("value")} AS value_text,
       series || ', ' || norsk_date(date) || ': '
         || CASE WHEN about THEN 'about ' ELSE '' END || {_value_sql("value")} AS description
FROM (
{
        _moves_only(
            "SELECT g.page, g.revision_id, g.date, g.series, s.value, s.about FROM grid g "
            "LEFT JOIN stated s ON s.page = g.page AND s.revision_id = g.revision_id "
            "AND s.measure = g.measure AND s.year IS g.year",
            shown="value || '/' || about",
        )
    }
)
ORDER BY revision_id, measure""",
    # The latest revision that moved a municipality's request (its latest year).
    "largest_changes": f"""WITH moved AS (
  SELECT * FROM recent_changes
  WHERE kind = 'figure' AND level = 'municipality' AND measure = 'request' AND part = 'total'
    AND delta IS NOT NULL
), latest AS (
  SELECT revision_id, max(year) AS year FROM moved
  WHERE revision_id = (SELECT max(revision_id) FROM moved)
  GROUP BY revision_id
)
SELECT revision_id, updated, previous_updated, county, label, delta, delta_text, old_text,
       new_text, label || ': ' || old_text || ' → ' || new_text || ' (' || delta_text || ')'
         AS description
FROM (
  SELECT m.*, {_LABEL_SQL} AS label,
         CASE WHEN delta > 0 THEN '+' ELSE '−' END || norsk_number(abs(delta)) AS delta_text,
         {_value_sql("json_extract(old, '$')")} AS old_text,
         {_value_sql("json_extract(new, '$')")} AS new_text
  FROM moved m JOIN latest l ON l.revision_id = m.revision_id AND m.year IS l.year
)
ORDER BY abs(delta) DESC, label
LIMIT 25""",
    # Request beside decision per county where the page has both (request_vs_decision), else
    # the request alone; the page's county rows where it has them, else its municipalities
    # summed by county; of the page whose table is newest, in its latest year.
    "request_vs_decision": f"""WITH pairs AS (
  SELECT page, revision_id, CASE WHEN level = 'county' THEN area ELSE county END AS county,
         level, year, request, decision
  FROM request_vs_decision
  WHERE part = 'total' AND level IN ('county', 'municipality')
), shown AS (
  SELECT * FROM pairs
  UNION ALL
  SELECT page, revision_id, CASE WHEN level = 'county' THEN area ELSE county END, level,
         year, value, NULL
  FROM current_series_figures
  WHERE measure = 'request' AND part = 'total' AND level IN ('county', 'municipality')
    AND NOT EXISTS (SELECT 1 FROM pairs)
), newest AS (
  -- one page (the one whose table is newest) and its latest year: never two pages summed
  SELECT page, max(year) AS year FROM shown
  WHERE page = (SELECT page FROM shown ORDER BY revision_id DESC LIMIT 1)
), chosen AS (
  SELECT s.* FROM shown s JOIN newest n ON n.page = s.page AND s.year IS n.year
  WHERE (s.level = 'county' OR NOT EXISTS (
           SELECT 1 FROM shown c WHERE c.page = n.page AND c.level = 'county'))
    AND s.county IS NOT NULL
), counties AS (
  SELECT county, sum(request) AS request, sum(decision) AS decision,
         sum(request) - sum(decision) AS gap
  FROM chosen GROUP BY county
), long AS (
  SELECT county, 'request' AS measure, request AS value, gap FROM counties
  UNION ALL
  SELECT county, 'decision', decision, gap FROM counties
  WHERE EXISTS (SELECT 1 FROM counties WHERE decision IS NOT NULL)
)
SELECT county, measure, value, {_value_sql("value")} AS value_text,
       coalesce(norsk_number(gap), '') AS gap_text,
       county || ', ' || measure || ': ' || {_value_sql("value")}
         || CASE WHEN gap IS NULL THEN '' ELSE ' (gap ' || norsk_number(gap) || ')' END
         AS description
FROM long
ORDER BY county, measure DESC""",
    # Every series of one municipality's rows (request, decision, …, by year and part).
    "municipality": f"""WITH picked AS MATERIALIZED (
  {_MUNICIPALITY_PICKED}
)
SELECT revision_id, date, label, county, series AS figure, value,
       {_value_sql("value")} AS value_text,
       label || ', ' || series || ', ' || norsk_date(date) || ': ' || {_value_sql("value")}
         AS description
FROM (
  SELECT *, coalesce(updated, substr(first_seen, 1, 10)) AS date
  FROM (
{
        _moves_only(
            "SELECT page, revision_id, updated, first_seen, label, county, value, measure, "
            "year, part, measure || coalesce(' ' || year, '') || "
            + _PART_SQL
            + " || "
            + _PAGE_SQL.format(page="page")
            + " AS series "
            "FROM picked"
        )
    }
  )
)
ORDER BY revision_id, measure DESC, year, part <> 'total', part""",
}

FILTER_SQL = f"""SELECT label FROM ({_MUNICIPALITIES})
ORDER BY municipality IS NULL, fold(municipality), municipality_number"""

# Norwegian number and date formats for Vega (d3-format / d3-time-format locales): "5 500".
NUMBER_LOCALE: dict[str, Any] = {
    "decimal": ",",
    "thousands": " ",
    "grouping": [3],
    "currency": ["", " kr"],
    "minus": "−",
}
TIME_LOCALE: dict[str, Any] = {
    "dateTime": "%A %e. %B %Y kl. %X",
    "date": "%d.%m.%Y",
    "time": "%H:%M:%S",
    "periods": ["", ""],
    "days": ["søndag", "måndag", "tysdag", "onsdag", "torsdag", "fredag", "laurdag"],
    "shortDays": ["sø.", "må.", "ty.", "on.", "to.", "fr.", "la."],
    "months": [
        "januar", "februar", "mars", "april", "mai", "juni",
        "juli", "august", "september", "oktober", "november", "desember",
    ],
    "shortMonths": [
        "jan.", "feb.", "mars", "apr.", "mai", "juni",
        "juli", "aug.", "sep.", "okt.", "nov.", "des.",
    ],
}  # fmt: skip
_DATE_FORMAT = "%d.%m.%Y"
_CONFIG: dict[str, Any] = {
    "background": "#00000000",
    "locale": {"number": NUMBER_LOCALE, "time": TIME_LOCALE},
    # grouped, fixed-point, no trailing zeros: 5 500, not d3's 5,5e+3 for a round axis
    "numberFormat": ",~f",
    "line": {"point": True},
    # at the right: a legend with no entries below a chart makes Vega 6 draw it infinitely tall
    "legend": {"orient": "right", "title": None},
}
# SVG, so the marks are in the page (the test counts them); no link out to the Vega editor.
_EMBED = {
    "renderer": "svg",
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}


def _spec(**spec: Any) -> dict[str, Any]:
    return {"config": _CONFIG, "usermeta": {"embedOptions": _EMBED}, **spec}


def _date(title: str = "Sist oppdatert") -> dict[str, Any]:
    return {
        "field": "date",
        "type": "temporal",
        "title": title,
        "axis": {"format": _DATE_FORMAT, "labelAngle": 0},
    }


_DATE_TIP = {"field": "date", "type": "temporal", "title": "Sist oppdatert", "format": _DATE_FORMAT}

_DISPLAY: dict[str, dict[str, Any]] = {
    "national": _spec(
        height=260,
        # the value holds until the next change; a blank breaks the line, never drops to 0
        mark={"type": "line", "interpolate": "step-after", "point": True},
        encoding={
            "x": _date(),
            "y": {
                "field": "value",
                "type": "quantitative",
                "title": "refugees",
                "scale": {"zero": False},
            },
            "color": {"field": "measure", "type": "nominal"},
            "description": {"field": "description"},
            "tooltip": [
                {"field": "measure", "title": "figure"},
                {"field": "value_text", "title": "refugees"},
                _DATE_TIP,
                {"field": "revision_id", "title": "revision"},
            ],
        },
    ),
    "largest_changes": _spec(
        mark={"type": "bar"},
        encoding={
            "y": {"field": "label", "type": "nominal", "sort": "-x", "title": None},
            "x": {"field": "delta", "type": "quantitative", "title": "change in request"},
            "color": {"field": "county", "type": "nominal"},
            "description": {"field": "description"},
            "tooltip": [
                {"field": "label", "title": "municipality"},
                {"field": "county"},
                {"field": "old_text", "title": "before"},
                {"field": "new_text", "title": "after"},
                {"field": "delta_text", "title": "change"},
                {"field": "revision_id", "title": "revision"},
            ],
        },
    ),
    "request_vs_decision": _spec(
        mark={"type": "bar"},
        encoding={
            "y": {"field": "county", "type": "nominal", "title": None},
            "yOffset": {"field": "measure"},
            "x": {"field": "value", "type": "quantitative", "title": "refugees"},
            "color": {"field": "measure", "type": "nominal"},
            "description": {"field": "description"},
            "tooltip": [
                {"field": "county"},
                {"field": "measure", "title": "figure"},
                {"field": "value_text", "title": "refugees"},
                {"field": "gap_text", "title": "gap (request − decision)"},
            ],
        },
    ),
    "municipality": _spec(
        height=260,
        mark={"type": "line", "interpolate": "step-after", "point": True},
        encoding={
            "x": _date(),
            "y": {"field": "value", "type": "quantitative", "title": "refugees"},
            "color": {"field": "figure", "type": "nominal"},
            "description": {"field": "description"},
            "tooltip": [
                {"field": "label", "title": "municipality"},
                {"field": "figure"},
                {"field": "value_text", "title": "value"},
                _DATE_TIP,
                {"field": "revision_id", "title": "revision"},
            ],
        },
    ),
}

_TITLES = {
    "national": "National key figures over time: request and decision, as the page states them",
    "largest_changes": "Largest changes in the latest revision that moved a request",
    "request_vs_decision": "Request and decision per county",
    "municipality": "One municipality across revisions",
}

_ABOUT = (
    "Figures from every stored revision of IMDi's page \u201cOppmoding om busetting\u201d. "
    "A blank cell on the page is a gap here, never 0. "
    "Kjelde: IMDi, under Norsk lisens for offentlege data (NLOD) 2.0."
)


def dashboard_config(database: str) -> dict[str, Any]:
    """The datasette-dashboards config (`plugins` in Datasette's metadata) for the store."""
    charts: dict[str, Any] = {
        name: {
            "title": _TITLES[name],
            "db": database,
            "query": CHART_SQL[name],
            "library": "vega-lite",
            "display": _DISPLAY[name],
        }
        for name in CHARTS
    }
    return {
        SLUG: {
            "title": "imdi-watch: Oppmoding om busetting",
            "description": _ABOUT,
            "layout": [
                ["national", "largest_changes"],
                ["request_vs_decision", "municipality"],
            ],
            "filters": {
                "municipality": {
                    "name": "Municipality (kommune)",
                    "type": "select",
                    "db": database,
                    "query": FILTER_SQL,
                    "default": DEFAULT_MUNICIPALITY,
                }
            },
            "charts": charts,
        }
    }
