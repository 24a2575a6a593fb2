"""The dashboard served at /-/dashboards/imdi-watch: each chart's SQL (all in CHART_SQL) and its
Vega-Lite spec, as datasette-dashboards plugin config. Pure data; `serve` mounts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scraper.models import FIGURE_FIELDS
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


# Every municipality of the store, without reading every revision's rows (0.3 s over 1 000
# revisions): a name or number enters the store in a page's first revision with a table, or in
# a revision that added or renamed a row, so the rows of those revisions hold them all.
_MUNICIPALITIES = f"""SELECT DISTINCT municipality, municipality_number, {_LABEL_SQL} AS label
  FROM municipality_history
  WHERE revision_id IN (
      SELECT min(id) FROM revisions WHERE row_count > 0 GROUP BY page_id
      UNION
      SELECT revision_id FROM changes WHERE kind IN ('row-added', 'renamed')
    )
    AND (municipality IS NOT NULL OR municipality_number IS NOT NULL)"""

# The filter's value: a label from the list ("Bergen (4601)"), a number (301, 0301) or a name
# (bergen, ålesund, as `history` matches it); then that municipality's rows, by the index on
# the number.
_MUNICIPALITY_PICKED = f"""SELECT h.*
  FROM (
    SELECT * FROM ({_MUNICIPALITIES})
    WHERE label = trim(:municipality)
       OR (trim(:municipality) <> '' AND trim(:municipality) NOT GLOB '*[^0-9]*'
           AND municipality_number = substr('0000' || trim(:municipality), -4))
       OR fold(municipality) = fold(:municipality)
  ) picked
  CROSS JOIN municipality_history h  -- picked first: h by the index on the number
    ON h.municipality_number = picked.municipality_number
   AND h.municipality IS picked.municipality"""


def _figure_rows(source: str) -> str:
    """One row per figure of each row of `source`: long form, for a colour per figure."""
    return "\n    UNION ALL\n".join(
        f"    SELECT page, revision_id, updated, first_seen, municipality, municipality_number, "
        f"county, '{FIGURE_LABELS[name]}' AS series, {position} AS series_order, {name} AS value "
        f"FROM {source}"
        for position, name in enumerate(FIGURE_FIELDS)
    )


def _moves_only(source: str) -> str:
    """The rows of `source` (page, series, revision_id, value) where the value moved, and each
    series' first and last: the step line through them is the whole series, and a store of
    1 000 revisions stays far below Datasette's row limit."""
    return f"""SELECT * FROM (
  SELECT *, lag(revision_id) OVER w AS previous_id, lag(value) OVER w AS previous,
         lead(revision_id) OVER w AS next_id
  FROM ({source})
  WINDOW w AS (PARTITION BY page, series ORDER BY revision_id)
)
WHERE previous_id IS NULL OR next_id IS NULL OR value IS NOT previous"""


# The latest revision of each page (what `current_figures` shows, without that view's
# per-row subquery: 27 s over 1 000 revisions, against 3 ms this way).
_LATEST = "(SELECT max(id) FROM revisions GROUP BY page_id)"

# Every chart's query, in one place. They read the browsing views (store.VIEWS); when the series
# views land (series_figures, request_vs_decision, key_figure_history) only these change.
CHART_SQL: dict[str, str] = {
    "national": f"""SELECT revision_id, date, series AS measure, value,
       {_value_sql("value")} AS value_text,
       series || ', ' || norsk_date(date) || ': ' || {_value_sql("value")} AS description
FROM (
{
        _moves_only(
            "SELECT page, revision_id, coalesce(updated, substr(first_seen, 1, 10)) AS date, "
            "'request (lead)' AS series, headline_refugees AS value FROM revision_summary "
            "UNION ALL "
            "SELECT page, revision_id, coalesce(updated, substr(first_seen, 1, 10)) AS date, "
            "'request (table total)' AS series, totals_requested AS value FROM revision_summary"
        )
    }
)
ORDER BY revision_id, measure""",
    "largest_changes": f"""WITH moved AS (
  SELECT * FROM recent_changes
  WHERE kind = 'figure' AND field = 'requested' AND delta IS NOT NULL
)
SELECT revision_id, updated, previous_updated, county, label, delta, delta_text, old_text,
       new_text, label || ': ' || old_text || ' → ' || new_text || ' (' || delta_text || ')'
         AS description
FROM (
  SELECT *, {_LABEL_SQL} AS label,
         CASE WHEN delta > 0 THEN '+' ELSE '−' END || norsk_number(abs(delta)) AS delta_text,
         {_value_sql("json_extract(old, '$')")} AS old_text,
         {_value_sql("json_extract(new, '$')")} AS new_text
  FROM moved
  WHERE revision_id = (SELECT max(revision_id) FROM moved)
)
ORDER BY abs(delta) DESC, label
LIMIT 25""",
    "request_vs_decision": f"""SELECT county, measure, value, {_value_sql("value")} AS value_text,
       county || ', ' || measure || ': ' || {_value_sql("value")} AS description
FROM (
  SELECT county, 'request' AS measure, sum(requested) AS value
  FROM municipality_history
  WHERE revision_id IN {_LATEST} AND county IS NOT NULL
  GROUP BY county
)
ORDER BY county, measure""",
    "municipality": f"""WITH picked AS MATERIALIZED (
  {_MUNICIPALITY_PICKED}
)
SELECT revision_id, date, label, county, series AS figure, value,
       {_value_sql("value")} AS value_text,
       label || ', ' || series || ', ' || norsk_date(date) || ': ' || {_value_sql("value")}
         AS description
FROM (
  SELECT *, coalesce(updated, substr(first_seen, 1, 10)) AS date, {_LABEL_SQL} AS label
  FROM (
{_moves_only(_figure_rows("picked"))}
  )
)
ORDER BY revision_id, series_order""",
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
    "legend": {"orient": "bottom", "title": None},
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
            ],
        },
    ),
    "municipality": _spec(
        height=260,
        mark={"type": "line", "interpolate": "step-after", "point": True},
        encoding={
            "x": _date(),
            "y": {"field": "value", "type": "quantitative", "title": "refugees"},
            "color": {
                "field": "figure",
                "type": "nominal",
                "sort": [FIGURE_LABELS[name] for name in FIGURE_FIELDS],
            },
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
    "national": "National request over time",
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
