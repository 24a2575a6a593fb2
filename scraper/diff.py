"""What changed between two revisions of a page: `diff_pages` turns two `Page`s into typed `Change`s.

Pure. Rows are matched by municipality number, across the 2024 reform through the SSB mapping,
then by name and county; a revision that looks broken is reported as one warning, not 356 rows.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from scraper.models import (
    BROKEN_REVISION,
    FIGURE_FIELDS,
    HEADLINE_FIELDS,
    LEVELS,
    PARTS,
    Change,
    ChangeKind,
    KeyFigure,
    Page,
    PageWarning,
    Row,
    Section,
    Series,
    series_field,
)
from scraper.municipalities import numbers_2020_to_2024
from scraper.norsk import fold, split_sentences
from scraper.statements import make_statement

# Old and new sentences at least this similar are one changed sentence, not removed + added.
SIMILAR_SENTENCE = 0.6
SIMILAR_HEADING = 0.6

_FIELD_ORDER = {name: index for index, name in enumerate(FIGURE_FIELDS)}
_PART_ORDER = {name: index for index, name in enumerate(PARTS)}
_LEVEL_ORDER = {name: index for index, name in enumerate(LEVELS)}
_ROW_KIND_ORDER = {
    ChangeKind.ROW_REMOVED: 0, ChangeKind.RENAMED: 1, ChangeKind.FIGURE: 2, ChangeKind.ROW_ADDED: 3,
}  # fmt: skip
_COLLATE = str.maketrans({"æ": "{", "ø": "|", "å": "}"})


def diff_pages(old: Page, new: Page) -> list[Change]:
    """Every difference between two revisions, in report order.

    Order: updated, title, year, language, headline, key figures, totals, warnings, series added
    or removed, figures (by measure and year, then county, municipality and part), statements,
    text. When `is_broken(old, new)` has a reason, figures and totals are not compared: a
    `warning-added` change with field "broken-revision" and the reason as `new` stands in for
    them, and text changes list only sentences added or changed. A printed total that does not
    add up is a `sum-mismatch` warning, never a reason to hide the figures. A switch of written
    standard (nn ↔ nb) is one `language` change plus one `text` change with field "summary"
    ("7 of 7 sections re-worded"), not a change per sentence.

    Figure changes are keyed by (area, series): the area by level and number (across the 2024
    reform), else by name and county; the series by (measure, year, part), carried in
    `change.series`. `field` names the series: "requested", "minors", … for the request of the
    page's year, else "decision_2023", "request_2016_minors" …. Deltas are None when either
    side is blank; row-added/row-removed hold the area's figures as a dict in `new`/`old`. A
    sentence whose words stay and whose numbers change is one `statement` change (values as
    lists; `delta` when one number changed); other text changes have field "sentence" (old
    None: added, new None: removed), or "heading" for a re-worded heading; `section` is the
    heading (None for the lead, before the first heading).
    """
    changes: list[Change] = []
    for kind, old_value, new_value in (
        (ChangeKind.UPDATED, old.updated, new.updated),
        (ChangeKind.TITLE, old.title, new.title),
        (ChangeKind.YEAR, old.year, new.year),
        (ChangeKind.LANGUAGE, old.language, new.language),
    ):
        if old_value != new_value:
            changes.append(Change(kind, field=str(kind), old=old_value, new=new_value))
    for name in HEADLINE_FIELDS:
        before, after = getattr(old.headline, name), getattr(new.headline, name)
        if before != after:
            changes.append(Change(ChangeKind.HEADLINE, name, before, after, _delta(before, after)))
    changes += _diff_key_figures(old, new)

    broken = is_broken(old, new)
    figures = diff_figures(old, new) if broken is None else []
    changes += [c for c in figures if c.kind is ChangeKind.TOTALS]
    changes += _diff_warnings(old, new, broken)
    changes += [c for c in figures if c.kind is not ChangeKind.TOTALS]

    if old.language and new.language and old.language != new.language:
        reworded = _count_reworded(old.sections, new.sections)
        if reworded:
            summary = (
                f"{reworded} of {max(len(old.sections), len(new.sections))} sections re-worded"
            )
            changes.append(Change(ChangeKind.TEXT, "summary", None, summary))
    else:
        text = diff_sections(old.sections, new.sections)
        if broken is not None:  # a cut-off page "removes" every sentence after the cut
            text = [change for change in text if change.new is not None]
        changes += _statements_of(text)
    return changes


def is_broken(old: Page, new: Page) -> str | None:
    """Why the new revision looks broken or redesigned, or None when it looks like a revision:
    the tables are gone, most rows are gone, or every series changed within the same year."""
    if old.has_table and not new.has_table:
        return "the table is gone"
    old_count, new_count = _main_area_count(old), _main_area_count(new)
    if old_count and new_count * 2 < old_count:
        return f"lost most rows: {new_count} of {old_count} left"
    old_keys = {s.key for s in old.all_series if s.measure != "unknown"}
    new_keys = {s.key for s in new.all_series if s.measure != "unknown"}
    if old_keys and new.has_table and not old_keys & new_keys and old.year == new.year:
        gone = ", ".join(s.label() for s in old.all_series if s.key in old_keys - new_keys)
        return f"every series is gone ({gone})"
    return None


def _main_area_count(page: Page) -> int:
    """Areas at the page's finest level: municipalities where it has them, else counties."""
    counts = {"municipality": 0, "county": 0}
    for table in page.tables:
        for area in table.areas:
            if area.level in counts:
                counts[area.level] += 1
    return counts["municipality"] or counts["county"]


# --- rows ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _numbers_2024_to_2020() -> dict[str, str]:
    return {new: old for old, news in numbers_2020_to_2024().items() for new in news}


def _successors(number: str) -> tuple[str, ...]:
    """The numbers this municipality has in the other structure (both directions of the reform)."""
    forward = numbers_2020_to_2024().get(number, ())
    backward = _numbers_2024_to_2020().get(number)
    return forward + ((backward,) if backward and backward != number else ())


def _name_key(row: Row) -> tuple[str, str] | None:
    if row.municipality is None:
        return None
    return fold(row.municipality), fold(row.county or "")


def match_rows(
    old_rows: Sequence[Row], new_rows: Sequence[Row]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """(old index, new index) pairs, then the unmatched old and new indexes. O(n).

    By number; by the number across the 2024 reform (1507 Ålesund → 1508 Ålesund, the first
    successor whose name agrees, else the first; the others are left to be reported added); by
    folded name and county; rows with neither name nor number by their order among the nameless
    rows of their county.
    """
    new_by_number: dict[str, list[int]] = {}
    for index, row in enumerate(new_rows):
        if row.municipality_number:
            new_by_number.setdefault(row.municipality_number, []).append(index)
    pairs: dict[int, int] = {}
    taken: set[int] = set()

    def take(old_index: int, candidates: list[int] | None) -> bool:
        for candidate in candidates or ():
            if candidate not in taken:
                pairs[old_index] = candidate
                taken.add(candidate)
                return True
        return False

    deferred: list[int] = []
    for index, row in enumerate(old_rows):
        number = row.municipality_number
        if not (number and take(index, new_by_number.get(number))):
            deferred.append(index)

    rest: list[int] = []
    for index in deferred:
        row = old_rows[index]
        number = row.municipality_number
        if number:
            successors = [n for n in _successors(number) if n in new_by_number]
            key = _name_key(row)
            successors.sort(
                key=lambda n: key is None or _name_key(new_rows[new_by_number[n][0]]) != key
            )
            if any(take(index, new_by_number[n]) for n in successors):
                continue
        rest.append(index)

    new_by_name: dict[tuple[Any, ...], list[int]] = {}
    nameless_seen: dict[str, int] = {}
    for index, row in enumerate(new_rows):
        if index in taken:
            continue
        key = _fallback_key(row, nameless_seen)
        new_by_name.setdefault(key, []).append(index)
    unmatched_old: list[int] = []
    nameless_seen = {}
    for index in rest:
        if not take(index, new_by_name.get(_fallback_key(old_rows[index], nameless_seen))):
            unmatched_old.append(index)
    unmatched_new = [i for i in range(len(new_rows)) if i not in taken]
    return sorted(pairs.items()), unmatched_old, unmatched_new


def _fallback_key(row: Row, nameless_seen: dict[str, int]) -> tuple[Any, ...]:
    key = _name_key(row)
    if key is not None:
        return key
    county = fold(row.county or "")
    ordinal = nameless_seen.get(county, 0)
    nameless_seen[county] = ordinal + 1
    return (None, county, ordinal)


@dataclass
class _Places:
    """The areas of one level across a page's tables, merged by identity: the matching key
    (a Row, as `match_rows` takes them) and the area's values by series key."""

    rows: list[Row]
    values: list[dict[tuple[str, int | None, str], int | None]]


def _places(page: Page) -> dict[str, _Places]:
    by_level: dict[str, _Places] = {}
    index: dict[tuple[Any, ...], int] = {}
    for table in page.tables:
        for area in table.areas:
            places = by_level.setdefault(area.level, _Places([], []))
            if area.number:
                identity: tuple[Any, ...] = (area.level, area.number)
            elif area.name is not None:
                identity = (area.level, fold(area.name), fold(area.county or ""))
            else:  # a nameless line is never merged with another
                identity = (area.level, None, len(places.rows))
            at = index.get(identity)
            if at is None or any(s.key in places.values[at] for s in table.series):
                index[identity] = at = len(places.rows)
                # A county line is named and grouped by its own name.
                county = area.name if area.level == "county" else area.county
                places.rows.append(Row(area.name, county, area.number))
                places.values.append({})
            for series, value in zip(table.series, area.values, strict=True):
                places.values[at][series.key] = value
    return by_level


def diff_figures(old: Page, new: Page) -> list[Change]:
    """Series added or removed, then figure, renamed, row-added, row-removed and totals changes
    of the series both pages have, in report order."""
    old_series = {s.key: s for s in old.all_series}
    new_series = {s.key: s for s in new.all_series}
    common = [key for key in new_series if key in old_series]
    group_rank: dict[tuple[str, int | None], int] = {}
    for key in new_series:
        group_rank.setdefault(key[:2], len(group_rank))
    changes: list[Change] = []
    for key, series in old_series.items():
        if key not in new_series:
            changes.append(_series_change(ChangeKind.SERIES_REMOVED, old, series))
    for key, series in new_series.items():
        if key not in old_series:
            changes.append(_series_change(ChangeKind.SERIES_ADDED, new, series))
    old_places, new_places = _places(old), _places(new)
    keyed: list[tuple[tuple[Any, ...], Change]] = []
    for level in LEVELS:
        before = old_places.get(level, _Places([], []))
        after = new_places.get(level, _Places([], []))
        if not before.rows and not after.rows:
            continue
        if level == "total":
            keyed += _diff_totals(before, after, common, new_series, new.year, group_rank)
            continue
        pairs, removed, added = match_rows(before.rows, after.rows)
        for old_index, new_index in pairs:
            row_old, row_new = before.rows[old_index], after.rows[new_index]
            values_old, values_new = before.values[old_index], after.values[new_index]
            if row_old.municipality != row_new.municipality:  # the field is the level renamed
                keyed.append(_keyed(row_new, level, ChangeKind.RENAMED, level,
                                    row_old.municipality, row_new.municipality, None, (0,)))  # fmt: skip
            for key in common:
                if key not in values_old and key not in values_new:
                    continue
                value_old, value_new = values_old.get(key), values_new.get(key)
                if value_old != value_new:
                    series = new_series[key]
                    rank = (group_rank[key[:2]],)
                    keyed.append(_keyed(row_new, level, ChangeKind.FIGURE,
                                        series_field(series, new.year), value_old, value_new,
                                        series, rank))  # fmt: skip
        for index in removed:
            row = before.rows[index]
            figures = _figure_dict(before.values[index], old_series, old.year)
            keyed.append(
                _keyed(row, level, ChangeKind.ROW_REMOVED, None, figures, None, None, (0,))
            )
        for index in added:
            row = after.rows[index]
            figures = _figure_dict(after.values[index], new_series, new.year)
            keyed.append(_keyed(row, level, ChangeKind.ROW_ADDED, None, None, figures, None, (0,)))
    keyed.sort(key=lambda item: item[0])
    return changes + [change for _, change in keyed]


def _series_change(kind: ChangeKind, page: Page, series: Series) -> Change:
    values = [f.value for f in page.figures() if f.series.key == series.key and f.level != "total"]
    summary = {
        "figures": len(values),
        "sum": sum(v or 0 for v in values),
        "blank": sum(1 for v in values if v is None),
        "header": series.header,
    }
    return Change(
        kind,
        series_field(series, page.year),
        summary if kind is ChangeKind.SERIES_REMOVED else None,
        summary if kind is ChangeKind.SERIES_ADDED else None,
        series=series,
    )


def _figure_dict(
    values: dict[tuple[str, int | None, str], int | None],
    series: dict[tuple[str, int | None, str], Series],
    year: int | None,
) -> dict[str, int | None]:
    return {series_field(series[key], year): value for key, value in values.items()}


def _diff_totals(
    before: _Places,
    after: _Places,
    common: list[tuple[str, int | None, str]],
    series: dict[tuple[str, int | None, str], Series],
    year: int | None,
    group_rank: dict[tuple[str, int | None], int],
) -> list[tuple[tuple[Any, ...], Change]]:
    """Totals rows compared series by series (a page prints one totals row per table)."""
    old_values: dict[tuple[str, int | None, str], int | None] = {}
    new_values: dict[tuple[str, int | None, str], int | None] = {}
    for values in before.values:
        old_values.update(values)
    for values in after.values:
        new_values.update(values)
    keyed = []
    for key in common:
        if key not in old_values and key not in new_values:
            continue
        value_old, value_new = old_values.get(key), new_values.get(key)
        if value_old != value_new:
            change = Change(ChangeKind.TOTALS, series_field(series[key], year), value_old,
                            value_new, _delta(value_old, value_new), series=series[key],
                            level="total")  # fmt: skip
            keyed.append((((group_rank[key[:2]],), -1, _PART_ORDER[key[2]]), change))
    return keyed


def _keyed(
    row: Row,
    level: str,
    kind: ChangeKind,
    field: str | None,
    old: Any,
    new: Any,
    series: Series | None,
    rank: tuple[int, ...],
) -> tuple[tuple[Any, ...], Change]:
    change = Change(
        kind,
        field,
        old,
        new,
        _delta(old, new) if kind is ChangeKind.FIGURE else None,
        municipality=row.municipality,
        municipality_number=row.municipality_number,
        county=row.county,
        series=series,
        level=level,
    )
    key = (
        rank,
        _LEVEL_ORDER[level],
        collate(row.county),
        collate(row.municipality),
        row.municipality_number or "",
        _ROW_KIND_ORDER[kind],
        _PART_ORDER[series.part] if series else -1,
    )
    return key, change


def collate(text: str | None) -> tuple[int, str]:
    """A sort key in Norwegian alphabetical order (… z æ ø å); None sorts last."""
    if text is None:
        return (1, "")
    return (0, fold(text.casefold().translate(_COLLATE)))


def _delta(old: Any, new: Any) -> int | None:
    if isinstance(old, int) and isinstance(new, int):
        return new - old
    return None


def _diff_key_figures(old: Page, new: Page) -> list[Change]:
    """Key figures the headline does not already show (decisions, other years, qualified ones)."""

    def keyed(page: Page) -> dict[tuple[Any, ...], set[tuple[int, str | None]]]:
        out: dict[tuple[Any, ...], set[tuple[int, str | None]]] = {}
        for figure in page.key_figures:
            if _in_headline(figure, page.year):
                continue
            out.setdefault(figure.key, set()).add((figure.value, figure.qualifier))
        return out

    before, after = keyed(old), keyed(new)
    changes = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: tuple(map(str, k))):
        old_values, new_values = before.get(key, set()), after.get(key, set())
        if old_values == new_values:
            continue
        old_value = _one(old_values)
        new_value = _one(new_values)
        measure, subject, part, year = key
        changes.append(
            Change(
                ChangeKind.KEY_FIGURE,
                f"{measure}_{subject}" + ("" if part == "total" else f"_{part}"),
                old_value,
                new_value,
                _delta(old_value, new_value),
                series=Series(measure, year, part),
            )
        )
    return changes


def _in_headline(figure: KeyFigure, year: int | None) -> bool:
    return (
        figure.measure == "request"
        and figure.qualifier is None
        and figure.part in ("total", "minors")
        and figure.year in (year, None)
    )


def _one(values: set[tuple[int, str | None]]) -> Any:
    if not values:
        return None
    if len(values) == 1:
        ((value, _),) = values
        return value
    return sorted(value for value, _ in values)


def _statements_of(text: list[Change]) -> list[Change]:
    """A sentence changed only in its numbers becomes one `statement` change with the values."""
    out = []
    for change in text:
        if change.field == "sentence" and change.old is not None and change.new is not None:
            before = make_statement(change.section, change.old)
            after = make_statement(change.section, change.new)
            if before and after and before.template == after.template:
                changed = [
                    (a, b) for a, b in zip(before.values, after.values, strict=True) if a != b
                ]
                delta = changed[0][1] - changed[0][0] if len(changed) == 1 else None
                out.append(
                    Change(
                        ChangeKind.STATEMENT,
                        "statement",
                        change.old,
                        change.new,
                        delta,
                        section=change.section,
                    )
                )
                continue
        out.append(change)
    return out


def _diff_warnings(old: Page, new: Page, broken: str | None) -> list[Change]:
    old_keys = {(w.code, w.message) for w in old.warnings}
    new_keys = {(w.code, w.message) for w in new.warnings}
    changes = []
    if broken is not None:
        changes.append(Change(ChangeKind.WARNING_ADDED, BROKEN_REVISION, None, broken))
    changes += [
        Change(ChangeKind.WARNING_ADDED, w.code, None, w.message)
        for w in _unique(new.warnings)
        if (w.code, w.message) not in old_keys
    ]
    changes += [
        Change(ChangeKind.WARNING_REMOVED, w.code, w.message, None)
        for w in _unique(old.warnings)
        if (w.code, w.message) not in new_keys
    ]
    return changes


def _unique(warnings: Iterable[PageWarning]) -> list[PageWarning]:
    seen: set[tuple[str, str]] = set()
    out = []
    for warning in warnings:
        if (warning.code, warning.message) not in seen:
            seen.add((warning.code, warning.message))
            out.append(warning)
    return out


def apply_changes(rows_old: Sequence[Row], changes: Iterable[Change]) -> list[Row]:
    """Old rows with row changes applied: kept rows in old order, then added rows.

    The inverse of `diff_figures` for the legacy rows (figures and names): `apply_changes(a.rows, diff_pages(a, b))`
    has b's figures. Rows are found as `match_rows` matches them (number, reform mapping, name
    and county); a change on a nameless row applies to the first nameless row of its county.
    """
    rows = [Row(**row.to_dict()) for row in rows_old]
    by_number = {r.municipality_number: r for r in reversed(rows) if r.municipality_number}
    by_name: dict[tuple[Any, ...], Row] = {}
    for row in reversed(rows):
        by_name[_name_key(row) or (None, fold(row.county or ""))] = row
    removed: set[int] = set()
    added: list[Row] = []

    def find(change: Change, name: str | None) -> Row | None:
        number = change.municipality_number
        if number:
            for candidate in (number, *_successors(number)):
                if candidate in by_number:
                    return by_number[candidate]
        key = (fold(name), fold(change.county or "")) if name is not None else None
        return by_name.get(key or (None, fold(change.county or "")))

    for change in changes:
        kind = change.kind
        if kind is ChangeKind.FIGURE and change.field in _FIELD_ORDER:
            found = find(change, change.municipality)
            if found is not None:
                setattr(found, change.field or "", change.new)
        elif kind is ChangeKind.RENAMED:
            found = find(change, change.old)
            if found is not None:
                found.municipality = change.new
        elif kind is ChangeKind.ROW_REMOVED:
            found = find(change, change.municipality)
            if found is not None:
                removed.add(id(found))
        elif kind is ChangeKind.ROW_ADDED:
            figures = change.new if isinstance(change.new, dict) else {}
            legacy = {k: v for k, v in figures.items() if k in _FIELD_ORDER}
            added.append(
                Row(change.municipality, change.county, change.municipality_number, **legacy)
            )
    return [row for row in rows if id(row) not in removed] + added


# --- text ------------------------------------------------------------------------------------


def diff_sections(old: Sequence[Section], new: Sequence[Section]) -> list[Change]:
    """Sentence changes per section heading; sections are matched by heading (then by similar
    heading, reported as a `text` change with field "heading")."""
    old_keyed = _keyed_sections(old)
    new_keyed = _keyed_sections(new)
    new_keys = {key for key, _ in new_keyed}
    old_keys = {key for key, _ in old_keyed}
    old_only = [s for key, s in old_keyed if key not in new_keys]
    paired: dict[int, Section] = {}  # id(new section) → the old section it continues
    for section in old_only:
        for key, candidate in new_keyed:
            if key in old_keys or id(candidate) in paired:
                continue
            if _similar_headings(section.heading, candidate.heading):
                paired[id(candidate)] = section
                break
    paired_old = {id(s) for s in paired.values()}
    old_by_key = dict(old_keyed)

    changes: list[Change] = []
    for key, section in new_keyed:
        if key in old_by_key:
            before = old_by_key[key]
        elif id(section) in paired:
            before = paired[id(section)]
            changes.append(
                Change(
                    ChangeKind.TEXT,
                    "heading",
                    before.heading,
                    section.heading,
                    section=section.heading,
                )
            )
        else:
            before = Section(section.heading, ())
        if before.paragraphs != section.paragraphs:
            changes += _diff_sentences(before, section)
    for section in old_only:
        if id(section) not in paired_old:
            changes += _diff_sentences(section, Section(section.heading, ()))
    return changes


def _keyed_sections(sections: Sequence[Section]) -> list[tuple[tuple[str | None, int], Section]]:
    seen: dict[str | None, int] = {}
    keyed = []
    for section in sections:
        occurrence = seen.get(section.heading, 0)
        seen[section.heading] = occurrence + 1
        keyed.append(((section.heading, occurrence), section))
    return keyed


def _similar_headings(old: str | None, new: str | None) -> bool:
    if old is None or new is None:
        return False
    return difflib.SequenceMatcher(None, old, new).ratio() >= SIMILAR_HEADING


def _diff_sentences(old: Section, new: Section) -> list[Change]:
    before = split_sentences(old.paragraphs)
    after = split_sentences(new.paragraphs)
    heading = new.heading if new.paragraphs or not old.paragraphs else old.heading
    changes: list[Change] = []

    def text(old_sentence: str | None, new_sentence: str | None) -> None:
        changes.append(
            Change(ChangeKind.TEXT, "sentence", old_sentence, new_sentence, section=heading)
        )

    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        unused_new = list(range(j1, j2))
        for i in range(i1, i2):
            best, best_ratio = None, SIMILAR_SENTENCE
            for j in unused_new:
                pair = difflib.SequenceMatcher(None, before[i], after[j], autojunk=False)
                if pair.real_quick_ratio() >= best_ratio and pair.quick_ratio() >= best_ratio:
                    ratio = pair.ratio()
                    if ratio >= best_ratio:
                        best, best_ratio = j, ratio
            if best is None:
                text(before[i], None)
            else:
                unused_new.remove(best)
                text(before[i], after[best])
        for j in unused_new:
            text(None, after[j])
    return changes


def _count_reworded(old: Sequence[Section], new: Sequence[Section]) -> int:
    width = max(len(old), len(new))
    return sum(
        1
        for index in range(width)
        if index >= len(old) or index >= len(new) or old[index] != new[index]
    )
