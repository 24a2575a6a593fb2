"""Which municipality (kommune) a name or number means, per era, and which era a table uses.

Eras are SSB's municipal structures 2017, 2018, 2019, 2020 (valid 2020–2023) and 2024; counties come
from fylke-historikk.csv. Pure and read-only: the CSVs in scraper/data/ (sources in its README.md)
are read on first use and cached. A name several municipalities share is never guessed.
"""

from __future__ import annotations

import csv
import difflib
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Protocol, TypeVar

from scraper.norsk import fold, fold_loosely, normalize_space

STRUCTURE_2017 = "2017"
STRUCTURE_2018 = "2018"
STRUCTURE_2019 = "2019"
STRUCTURE_2020 = "2020"  # valid 2020-01-01 to 2023-12-31
STRUCTURE_2024 = "2024"
# Newest first: the order `resolve` and `suggest` search in when no era is given.
STRUCTURES = (STRUCTURE_2024, STRUCTURE_2020, STRUCTURE_2019, STRUCTURE_2018, STRUCTURE_2017)
# The first and last calendar year of each structure (None: still valid).
STRUCTURE_YEARS: dict[str, tuple[int, int | None]] = {
    STRUCTURE_2017: (2017, 2017),
    STRUCTURE_2018: (2018, 2018),
    STRUCTURE_2019: (2019, 2019),
    STRUCTURE_2020: (2020, 2023),
    STRUCTURE_2024: (2024, None),
}
_QUALIFIER = re.compile(r"\s*\(([^)]*)\)\s*$")
# SSB joins a municipality's names in several languages with " - " ("Deatnu - Tana").
_LANGUAGE_PARTS = re.compile(r"\s+[-–—]\s+")
_NUMBERED = re.compile(r"^(\d{1,4})(?:\s+(.+))?$")
# "Bø i Telemark", "Os i Hordaland": the Norwegian way to say which one.
_IN_COUNTY = re.compile(r"^(.+?)\s+i\s+(.+)$", re.IGNORECASE)
_COUNTY_SUFFIXES = ("fylkeskommune", "fylke")
# difflib's similarity below which a name is not worth suggesting ('Fred' is not 'Re').
_SUGGEST_CUTOFF = 0.7
_T = TypeVar("_T")
_MUNICIPALITY_FILES = {
    STRUCTURE_2017: "kommunar-2017.csv",
    STRUCTURE_2018: "kommunar-2018.csv",
    STRUCTURE_2019: "kommunar-2019.csv",
    STRUCTURE_2020: "kommunar-2020.csv",
    STRUCTURE_2024: "kommunar-2024.csv",
}


@dataclass(frozen=True, slots=True)
class Municipality:
    number: str  # 4 digits, leading zero kept: "0301"
    name: str  # SSB's official name in that era: "Herøy (Nordland)", "Deatnu - Tana"
    county: str  # the county in that era: "Sør-Trøndelag" (2017), "Viken" (2020)
    number_2020: str | None  # the 2020–2023 number; None before 2020 (not mapped here)
    era: str  # one of STRUCTURES

    @property
    def label(self) -> str:
        """'1818 Herøy (Nordland)': number, name without SSB's own qualifier, county."""
        return f"{self.number} {_QUALIFIER.sub('', self.name)} ({self.county})"


class Register:
    """One era's municipalities: by number, by (name, county), and by names as people type them."""

    def __init__(self, structure: str, municipalities: Iterable[tuple[Municipality, list[str]]]):
        self.structure = structure
        self.by_number: dict[str, Municipality] = {}
        self._by_name_county: dict[tuple[str, str], set[str]] = {}
        self._by_name: dict[str, set[str]] = {}
        self._by_key: dict[str, list[str]] = {}
        self._lookups: dict[tuple[str | None, str | None], str | None] = {}
        for municipality, names in municipalities:
            self.by_number[municipality.number] = municipality
            for name in _name_variants(names):
                self._by_name_county.setdefault((name, fold(municipality.county)), set()).add(
                    municipality.number
                )
                self._by_name.setdefault(name, set()).add(municipality.number)
            for key in _loose_variants(names):
                numbers = self._by_key.setdefault(key, [])
                if municipality.number not in numbers:
                    numbers.append(municipality.number)
        self.counties = frozenset(m.county for m in self.by_number.values())

    def lookup(self, name: str | None, county: str | None) -> str | None:
        """The number of the one municipality so named (in that county), else None."""
        key = (name, county)
        if key in self._lookups:
            return self._lookups[key]
        number = self._lookup(name, county)
        if len(self._lookups) >= 20_000:  # a memo of a pure function: bounded, as pages vary
            self._lookups.clear()
        self._lookups[key] = number
        return number

    def _lookup(self, name: str | None, county: str | None) -> str | None:
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
        if numbers is None:  # not as written: as people type it ("Aurskog Høland", "Aalesund")
            found = self.find_name(name)
            if county:
                found = [m for m in found if _county_key(m.county) == _county_key(county)]
            if len(found) == 1:
                return found[0].number
        return None

    def find_name(self, name: str) -> list[Municipality]:
        """Every municipality the name may mean, in number order; typed forms and Sámi names count."""
        numbers = self._by_key.get(fold_loosely(name))
        if numbers:
            return [self.by_number[n] for n in sorted(numbers)]
        # "Nes (Akershus)", "Bø i Telemark", "Herøy (Nordl.)": the base name, in a county so named
        qualified = _QUALIFIER.search(name)
        if qualified is not None:
            base_name, county_name = _QUALIFIER.sub("", name), qualified.group(1)
        elif (in_county := _IN_COUNTY.match(name)) is not None:
            base_name, county_name = in_county.group(1), in_county.group(2)
        else:
            return []
        county_key = _county_key(county_name)
        base = self._by_key.get(fold_loosely(base_name), [])
        return [
            self.by_number[n]
            for n in sorted(base)
            if county_key and _county_key(self.by_number[n].county).startswith(county_key)
        ]

    def find_number(self, number: str, name: str | None = None) -> list[Municipality]:
        """The municipality with this number ('301' = '0301'); with a name, only if it agrees."""
        municipality = self.by_number.get(number.zfill(4))
        if municipality is None:
            return []
        if name and municipality not in self.find_name(name):
            base = _QUALIFIER.sub("", name)  # "3040 Nesbyen (Viken)", as `label` writes it
            if municipality not in self.find_name(base):
                return []
        return [municipality]

    def name_keys(self) -> dict[str, list[str]]:
        """Loosely folded name → numbers; what `suggest` measures distances against."""
        return self._by_key


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


def _loose_variants(names: Iterable[str]) -> list[str]:
    """The `fold_loosely` keys of each name, of each of its languages, with and without qualifier."""
    keys: list[str] = []
    for name in names:
        if not name:
            continue
        for candidate in (name, _QUALIFIER.sub("", name)):
            for text in (candidate, *_LANGUAGE_PARTS.split(candidate)):
                key = fold_loosely(text)
                if key and key not in keys:
                    keys.append(key)
    return keys


@lru_cache(maxsize=1024)  # pure; a table names its few counties on every row
def _county_key(name: str) -> str:
    key = fold_loosely(name)
    for suffix in _COUNTY_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def _find_county(name: str, known: dict[str, _T]) -> _T | None:
    """The entry for a county name as tables write it, SSB's bilingual form included
    ('Finnmark - Finnmárku - Finmarkku', 'Trøndelag - Trööndelage')."""
    for text in (name, *_LANGUAGE_PARTS.split(name)):
        found = known.get(_county_key(text))
        if found is not None:
            return found
    return None


def _read_csv(filename: str) -> list[dict[str, str]]:
    text = resources.files("scraper").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def _extra_names() -> dict[tuple[str, str], list[str]]:
    """(era, number) → official names adopted inside an era that its list does not carry."""
    extra: dict[tuple[str, str], list[str]] = {}
    for row in _read_csv("kommunenamn-tillegg.csv"):
        extra.setdefault((row["struktur"], row["kommunenummer"]), []).append(row["namn"])
    return extra


@cache  # one per era (the default call is a key of its own): a few hundred rows each
def load_register(structure: str = STRUCTURE_2020) -> Register:
    """The register of one era ('2017', '2018', '2019', '2020' or '2024')."""
    era = _check_era(structure)
    extra = _extra_names()
    entries: list[tuple[Municipality, list[str]]] = []
    for row in _read_csv(_MUNICIPALITY_FILES[era]):
        number, name = row["kommunenummer"], row["kommune"]
        if era == STRUCTURE_2024:
            number_2020: str | None = row["kommunenummer_2020"]
        elif era == STRUCTURE_2020:
            number_2020 = number
        else:
            number_2020 = None
        names = [name, row.get("imdi_name", ""), *extra.get((era, number), [])]
        entries.append((Municipality(number, name, row["fylke"], number_2020, era), names))
    return Register(era, entries)


def _check_era(era: str) -> str:
    if era not in STRUCTURE_YEARS:
        raise ValueError(f"unknown era {era!r}: use one of {', '.join(sorted(STRUCTURE_YEARS))}")
    return era


def era_for_year(year: int) -> str | None:
    """The municipal structure in force on 1 January of `year`; None before 2017 (no register)."""
    for era in STRUCTURES:
        first, last = STRUCTURE_YEARS[era]
        if first <= year and (last is None or year <= last):
            return era
    return None


def _eras(era: str | None) -> tuple[str, ...]:
    return STRUCTURES if era is None else (_check_era(era),)


def resolve(
    query: str, *, era: str | None = None, among: Collection[str] | None = None
) -> list[Municipality]:
    """Every municipality `query` may mean: one is an answer, several an ambiguity, none a miss.

    A number ('0301', '301', or '1515 Herøy' as `label` writes it) means that number; a name is
    matched as people type it ('Aalesund', 'aurskog holand', 'Guovdageaidnu', 'Nes (Ak.)').
    With an era, only that era's register is asked; without one, the newest era that knows the
    query answers (2024, then 2020, 2019, 2018, 2017), so a list never mixes eras. `among`
    keeps only those numbers (say, the ones a store holds for a page): 'Nes' among 2020 numbers
    is 3034 or 3040, not 2024's 3228. No number names two different places in two eras.
    """
    text = normalize_space(query)
    if not text:
        return []
    numbered = _NUMBERED.match(text)
    for structure in _eras(era):
        register = load_register(structure)
        if numbered:
            found = register.find_number(numbered.group(1), numbered.group(2))
        else:
            found = register.find_name(text)
        if among is not None:
            found = [m for m in found if m.number in among]
        if found:
            return found
    return []


class Labelled(Protocol):
    @property
    def label(self) -> str: ...


def describe_ambiguity(query: str, candidates: Sequence[Labelled]) -> str:
    """'Herøy is 1515 Herøy (Møre og Romsdal) or 1818 Herøy (Nordland): give the number'
    (for register municipalities and for the candidates a page's history holds alike)."""
    labels = list(dict.fromkeys(m.label for m in candidates))
    listed = " or ".join(filter(None, [", ".join(labels[:-1]), *labels[-1:]]))
    return f"{normalize_space(query)} is {listed}: give the number"


def suggest(
    query: str, n: int = 3, *, era: str | None = None, among: Collection[str] | None = None
) -> list[Municipality]:
    """The municipalities whose names come nearest `query` ('Berg' → Bergen …), best first;
    `among` as for `resolve`."""
    key = fold_loosely(query)
    if not key or n <= 0:
        return []
    pool: dict[str, list[Municipality]] = {}
    for structure in _eras(era):  # newest first: a name keeps its newest era's municipalities
        register = load_register(structure)
        for name_key, numbers in register.name_keys().items():
            if among is not None:
                numbers = [number for number in numbers if number in among]
            if numbers:
                pool.setdefault(name_key, [register.by_number[number] for number in numbers])
    exact = [key] if key in pool else []
    # A name begun is a strong hint ('Fred' → Fredrikstad) that difflib's ratio rates low.
    begun = sorted((k for k in pool if len(key) >= 3 and k.startswith(key) and k != key), key=len)
    close = (
        difflib.get_close_matches(key, list(pool), n=len(pool), cutoff=_SUGGEST_CUTOFF)
        if pool
        else []
    )
    found: list[Municipality] = []
    for name_key in dict.fromkeys([*exact, *begun, *close]):
        for municipality in pool[name_key]:
            if municipality not in found:
                found.append(municipality)
    return found[:n]


@dataclass(frozen=True, slots=True)
class CountyRegister:
    """One era's counties: number → name, and a lookup that takes the spellings tables use."""

    era: str
    names: dict[str, str]  # "16" → "Sør-Trøndelag"

    def lookup(self, name: str | None) -> str | None:
        """The county number for 'Sør-Trøndelag', 'sor trondelag', 'Finnmark fylke' or '5'."""
        if not name:
            return None
        text = normalize_space(name)
        if text.isdigit():
            number = text.zfill(2)
            return number if number in self.names else None
        return _find_county(text, _county_numbers(self.era))


@lru_cache(maxsize=1)
def _county_rows() -> list[tuple[str, str, int, int | None]]:
    return [
        (
            row["fylkesnummer"],
            row["fylke"],
            int(row["fra"]),
            int(row["til"]) if row["til"] else None,
        )
        for row in _read_csv("fylke-historikk.csv")
    ]


def _county_exists(first: int, last: int | None, era: str) -> bool:
    """Whether a county existed on the first day of the era."""
    start = STRUCTURE_YEARS[era][0]
    return first <= start and (last is None or start <= last)


@lru_cache(maxsize=len(STRUCTURES))
def _county_numbers(era: str) -> dict[str, str]:
    return {
        _county_key(name): number
        for number, name, first, last in _county_rows()
        if _county_exists(first, last, era)
    }


@lru_cache(maxsize=len(STRUCTURES))
def county_register(era: str) -> CountyRegister:
    """The counties of an era: 19 in 2017, 18 in 2018 and 2019, 11 in 2020, 15 in 2024."""
    _check_era(era)
    names = {
        number: name
        for number, name, first, last in _county_rows()
        if _county_exists(first, last, era)
    }
    return CountyRegister(era, dict(sorted(names.items())))


@lru_cache(maxsize=1)
def _county_eras() -> dict[str, frozenset[str]]:
    """Loosely folded county name → the eras in which a county of that name existed."""
    eras: dict[str, set[str]] = {}
    for _number, name, first, last in _county_rows():
        for era in STRUCTURES:
            if _county_exists(first, last, era):
                eras.setdefault(_county_key(name), set()).add(era)
    return {key: frozenset(found) for key, found in eras.items()}


def _structures_for_counties(counties: Iterable[str | None]) -> tuple[str, ...]:
    known = _county_eras()
    sets = [found for c in counties if c and (found := _find_county(c, known)) is not None]
    if not sets:
        return STRUCTURES
    common = frozenset.intersection(*sets)
    if not common:  # names of two eras (a stray cell, a typo): the eras most names agree with
        votes = Counter(era for found in sets for era in found)
        best = max(votes.values())
        common = frozenset(era for era, count in votes.items() if count == best)
    return tuple(era for era in STRUCTURES if era in common)


def _structure_for_request_year(year: int | None) -> str:
    """A request for year N is published in N-1, in that year's structure; 2020 when unknown."""
    if year is None:
        return STRUCTURE_2020
    return era_for_year(year - 1) or STRUCTURE_2017


def choose_structure(
    counties: Iterable[str | None],
    *,
    year: int | None,
    municipalities: Iterable[str | None] = (),
) -> str:
    """The era a table uses, from its county names, else its municipality names, else the year.

    Counties decide when they can: Sør-/Nord-Trøndelag → 2017; Trøndelag beside Hordaland → 2018 or
    2019; Viken → 2020; Buskerud beside Vestland → 2024. Between eras the counties allow, the era
    whose register knows most of the municipality names wins; then the request `year`'s era
    (a request for N is published in N-1's structure); for a recent or unknown year, the newest
    era allowed (Østfold beside Troms is 2024, not 2019).
    """
    candidates = _structures_for_counties(counties)
    if len(candidates) > 1:
        names = [name for name in municipalities if name]
        if names:
            scores = {
                era: sum(1 for name in names if load_register(era).find_name(name))
                for era in candidates
            }
            best = max(scores.values())
            candidates = tuple(era for era in candidates if scores[era] == best)
    if len(candidates) == 1:
        return candidates[0]
    preferred = _structure_for_request_year(year)
    if preferred in candidates:
        return preferred
    if preferred in (STRUCTURE_2020, STRUCTURE_2024):  # a recent page: the newest era allowed
        return candidates[0]
    start = STRUCTURE_YEARS[preferred][0]
    older = [era for era in candidates if STRUCTURE_YEARS[era][0] <= start]
    return older[0] if older else candidates[-1]


@lru_cache(maxsize=1)
def numbers_2020_to_2024() -> dict[str, tuple[str, ...]]:
    """2020 number → the 2024 number(s) it became (1507 Ålesund → 1508 Ålesund and 1580 Haram)."""
    mapping: dict[str, list[str]] = {}
    for row in _read_csv("kommunar-2024.csv"):
        mapping.setdefault(row["kommunenummer_2020"], []).append(row["kommunenummer"])
    return {old: tuple(new) for old, new in mapping.items()}


@lru_cache(maxsize=1)
def county_names() -> dict[str, str]:
    """Folded county name → county name, for every county of every era since 1972."""
    names = {fold(name): name for _, name, _, _ in _county_rows()}
    for register in (load_register(STRUCTURE_2020), load_register(STRUCTURE_2024)):
        names.update({fold(county): county for county in register.counties})
    return names


@dataclass(frozen=True, slots=True)
class Candidate:
    """One municipality a query may mean: its numbers (more than one across the 2024 reform),
    the name and county it is known by."""

    numbers: tuple[str, ...]
    name: str
    county: str | None

    @property
    def label(self) -> str:
        """'1515 Herøy (Møre og Romsdal)', '3040 Nesbyen (Viken)': as `Municipality.label`,
        with SSB's official name for the newest number."""
        number = self.numbers[-1] if self.numbers else "no number"
        name = _QUALIFIER.sub("", official_name(number) or self.name)
        return f"{number} {name} ({self.county})" if self.county else f"{number} {name}"


def official_name(number: str) -> str | None:
    """SSB's name for a municipality number of the 2020 or the 2024 structure."""
    for structure in (STRUCTURE_2024, STRUCTURE_2020):
        municipality = load_register(structure).by_number.get(number)
        if municipality is not None:
            return municipality.name
    return None


def reform_group(number: str) -> set[str]:
    """A number with its predecessor and successors across the 2024 reform."""
    group = {number, *numbers_2020_to_2024().get(number, ())}
    group |= {old for old, news in numbers_2020_to_2024().items() if number in news}
    return group


def match_names(query: str, known: Iterable[tuple[str, str | None, str | None]]) -> list[Candidate]:
    """The municipalities among `known` (name, number, county: what a page's history holds) that
    `query` names, as `resolve` reads a query, else by IMDi's own spelling in `known`.
    Municipalities are told apart by number: two numbers joined by the 2024 reform under one
    name are one municipality, anything else is a second candidate (Herøy is 1515 and 1818)."""
    known = list(known)
    stored = {number for _, number, _ in known if number}
    hits: list[tuple[str, str | None, str | None]] = [
        (m.name, m.number, m.county) for m in resolve(query, among=stored)
    ]
    if not hits and not query.strip().isdigit():
        key = fold(query)
        hits = [k for k in known if key in _name_variants([k[0]])]
    groups: list[tuple[set[str], list[tuple[str, str | None, str | None]]]] = []
    for hit in hits:
        number = hit[1]
        same_name = {
            k[1] for k in known
            if k[1] and fold(_QUALIFIER.sub("", k[0])) == fold(_QUALIFIER.sub("", hit[0]))
        } | ({number} if number else set())  # fmt: skip
        members = reform_group(number) & same_name if number else set()
        for numbers, group in groups:
            if numbers & members:
                numbers |= members
                group.append(hit)
                break
        else:
            groups.append((members, [hit]))
    candidates = []
    for numbers, group in groups:
        name, _, county = max(group, key=lambda m: m[1] or "")  # the hit of the highest number
        candidates.append(Candidate(tuple(sorted(numbers)), name, county))
    return candidates
