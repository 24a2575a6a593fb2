"""The reference lists of municipalities (kommunar) 2020–2023 and 2024–: names → 4-digit numbers.

Pure and read-only: the CSV files ship in scraper/data/, copied from SSB's classification 131.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from scraper.norsk import fold

STRUCTURE_2020 = "2020"
STRUCTURE_2024 = "2024"
# Counties that exist in only one of the two structures; a page's counties tell which it uses.
COUNTIES_ONLY_2020 = frozenset({"Viken", "Vestfold og Telemark", "Troms og Finnmark"})
COUNTIES_ONLY_2024 = frozenset(
    {"Østfold", "Akershus", "Buskerud", "Vestfold", "Telemark", "Troms", "Finnmark"}
)
_QUALIFIER = re.compile(r"\s*\([^)]*\)\s*$")


@dataclass(frozen=True, slots=True)
class Municipality:
    number: str
    name: str
    county: str
    number_2020: str  # the same as `number` in the 2020 structure


class Register:
    """Looks up a municipality number by (name, county), tolerant of IMDi's own spellings."""

    def __init__(self, structure: str, municipalities: Iterable[tuple[Municipality, list[str]]]):
        self.structure = structure
        self.by_number: dict[str, Municipality] = {}
        self._by_name_county: dict[tuple[str, str], set[str]] = {}
        self._by_name: dict[str, set[str]] = {}
        for municipality, names in municipalities:
            self.by_number[municipality.number] = municipality
            for name in _name_variants(names):
                self._by_name_county.setdefault((name, fold(municipality.county)), set()).add(
                    municipality.number
                )
                self._by_name.setdefault(name, set()).add(municipality.number)
        self.counties = frozenset(m.county for m in self.by_number.values())

    def lookup(self, name: str | None, county: str | None) -> str | None:
        """The number of the one municipality so named (in that county), else None."""
        if not name:
            return None
        key = fold(name)
        if county:
            numbers = self._by_name_county.get((key, fold(county)))
            if numbers is None:
                numbers = self._by_name_county.get((fold(_QUALIFIER.sub("", name)), fold(county)))
        else:
            numbers = self._by_name.get(key)
        if numbers and len(numbers) == 1:
            return next(iter(numbers))
        return None


def _name_variants(names: Iterable[str]) -> set[str]:
    """Every way a name may be written: as given, each part of 'Deatnu - Tana', without '(Viken)'."""
    variants: set[str] = set()
    for name in names:
        if not name:
            continue
        for candidate in (name, _QUALIFIER.sub("", name)):
            variants.add(fold(candidate))
            for part in candidate.split(" - "):
                variants.add(fold(part))
    return variants


def _read_csv(filename: str) -> list[dict[str, str]]:
    text = resources.files("scraper").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=2)
def load_register(structure: str = STRUCTURE_2020) -> Register:
    if structure == STRUCTURE_2024:
        rows = _read_csv("kommunar-2024.csv")
        return Register(
            structure,
            (
                (
                    Municipality(
                        r["kommunenummer"], r["kommune"], r["fylke"], r["kommunenummer_2020"]
                    ),
                    [r["kommune"]],
                )
                for r in rows
            ),
        )
    rows = _read_csv("kommunar-2020.csv")
    return Register(
        structure,
        (
            (
                Municipality(r["kommunenummer"], r["kommune"], r["fylke"], r["kommunenummer"]),
                [r["kommune"], r["imdi_name"]],
            )
            for r in rows
        ),
    )


def choose_structure(counties: Iterable[str | None], *, year: int | None) -> str:
    """2024 when the page names a county created in 2024; 2020 when it names one abolished then."""
    names = {c for c in counties if c}
    if names & COUNTIES_ONLY_2024 and not names & COUNTIES_ONLY_2020:
        return STRUCTURE_2024
    if names & COUNTIES_ONLY_2020:
        return STRUCTURE_2020
    return STRUCTURE_2024 if year is not None and year >= 2025 else STRUCTURE_2020


@lru_cache(maxsize=1)
def numbers_2020_to_2024() -> dict[str, tuple[str, ...]]:
    """2020 number → the 2024 number(s) it became (1507 Ålesund → 1508 Ålesund and 1580 Haram)."""
    mapping: dict[str, list[str]] = {}
    for row in _read_csv("kommunar-2024.csv"):
        mapping.setdefault(row["kommunenummer_2020"], []).append(row["kommunenummer"])
    return {old: tuple(new) for old, new in mapping.items()}
