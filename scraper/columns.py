"""What a table column holds, from its header's words in either written standard. Pure.

A column is an area column (municipality name or number, county name or number) or holds one or
two series: "Anmodning for 2017 (herav enslige mindreårige)" holds request 2017 total and minors,
printed as `780 (199)`. A header that names no measure is `unknown`, kept with its header text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from scraper.models import Series
from scraper.norsk import MINORS_WORDS, fold, measure_of, minors_part

AREA_COLUMNS = ("municipality", "municipality_number", "county", "county_number")

_YEAR = re.compile(r"\b((?:19|20)\d\d)\b")
_PAIRED = re.compile(
    r"\((?:[^)]*\b)?(?:herav|av\s+dei|av\s+desse|av\s+disse|derav|herunder)\b[^)]*\)"
)
_REQUEST = re.compile(
    r"\b(?:oppmod\w*|anmod\w*|endeleg\w*|endelig\w*|justert\w*|tal|tall|oppmodingstal\w*)\b"
)


@dataclass(frozen=True, slots=True)
class Column:
    """One column: `area` names an area column, else `series` holds the series it carries
    (one, or two for a paired `N (M)` column: total then minors)."""

    index: int
    header: str
    area: str | None = None
    series: tuple[Series, ...] = ()

    @property
    def paired(self) -> bool:
        return len(self.series) == 2


def area_column(header: str) -> str | None:
    """'Kommune' → municipality, 'Kommunenr.' → municipality_number, 'Fylke' → county …"""
    key = fold(header).strip(" .:")
    if re.match(r"^(?:kommunenr|kommunenummer|knr|kommunekode)\b", key):
        return "municipality_number"
    if re.match(r"^(?:fylkesnr|fylkesnummer|fylkenr|fylkeskode)\b", key):
        return "county_number"
    if re.match(r"^(?:kommune|kommunenavn|kommunenamn|kommunar|kommuner|bosettingskommune)\b", key):
        return "municipality"
    if re.match(r"^(?:fylke|fylkesnavn|fylkesnamn|fylker|fylke/kommune)\b", key):
        return "county"
    return None


def classify_columns(headers: Sequence[str], *, page_year: int | None) -> list[Column]:
    """Every column of a table header, left to right. A minors column without a measure word
    ("- Einslege mindreårige") belongs to the measure and year of the nearest total column on its
    left, else on its right ("Enslige under 15 | … | Endelig tall 2023")."""
    return list(_classify(tuple(headers), page_year))


@lru_cache(maxsize=256)  # pure (Column and Series are frozen); per-county tables repeat a header
def _classify(headers: tuple[str, ...], page_year: int | None) -> tuple[Column, ...]:
    read: list[tuple[str, str | None, str | None, int | None, str, bool]] = []
    for printed in headers:
        header = printed.replace("–", "-").replace("—", "-")  # one dash, whatever the markup
        area = area_column(header)
        key = fold(header)
        year_match = _YEAR.search(key)
        year = int(year_match.group(1)) if year_match else None
        paired = bool(_PAIRED.search(key) and MINORS_WORDS.search(key))
        read.append(
            (header, area, measure_of(key, request_words=_REQUEST), year, _part(key), paired)
        )
    totals = [
        (index, measure, year)
        for index, (_, area, measure, year, part, _) in enumerate(read)
        if area is None and measure is not None and part == "total"
    ]
    columns: list[Column] = []
    for index, (header, area, measure, year, part, paired) in enumerate(read):
        if area is not None:
            columns.append(Column(index, header, area=area))
            continue
        if measure is None and part != "total" and totals:
            left = [t for t in totals if t[0] < index]
            _, measure, context_year = left[-1] if left else totals[0]
            year = year if year is not None else context_year
        if measure is None:
            columns.append(
                Column(index, header, series=(Series("unknown", year, "total", header),))
            )
            continue
        year = year if year is not None else page_year
        if paired and part == "total":
            pair = (Series(measure, year, "total", header), Series(measure, year, "minors", header))
            columns.append(Column(index, header, series=pair))
        else:
            columns.append(Column(index, header, series=(Series(measure, year, part, header),)))
    return tuple(columns)


def _part(key: str) -> str:
    """The share of the measure a column counts. A parenthesis "(herav …)" does not make the
    column a minors column: it adds a second figure to it. An age band alone ("15-18") in a
    header is a band of minors (`minors_named`), as IMDi's tables print them beside the minors
    column; a header with neither a band nor minors words counts the total."""
    return minors_part(_PAIRED.sub(" ", key), minors_named=True)


_PAIR_CELL = re.compile(r"^\s*([^()]*?)\s*\(\s*([^()]*?)\s*\)\s*$")


def split_pair(text: str) -> tuple[str, str] | None:
    """'780 (199)' → ('780', '199'); None when the cell is not of that form."""
    match = _PAIR_CELL.match(text)
    return (match.group(1), match.group(2)) if match else None
