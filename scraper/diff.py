"""What changed between two revisions of a page: `diff_pages` turns two `Page`s into typed `Change`s.

Pure. Rows are matched by municipality number, across the 2024 reform through the SSB mapping,
then by name and county; a revision that looks broken is reported as one warning, not 356 rows.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from scraper.models import (
    FIGURE_FIELDS,
    HEADLINE_FIELDS,
    Change,
    ChangeKind,
    Page,
    PageWarning,
    Row,
    Section,
    Totals,
)
from scraper.municipalities import numbers_2020_to_2024
from scraper.norsk import fold

# The code of the warning-added change that stands in for all row changes of a broken revision.
# report.py spells the same string (it must not import this module).
BROKEN_REVISION = "broken-revision"
# Old and new sentences at least this similar are one changed sentence, not removed + added.
SIMILAR_SENTENCE = 0.6
SIMILAR_HEADING = 0.6

# A sentence ends at . ! ? before a capital, digit, quote or bullet: "innan 19. november" is one.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"«(•A-ZÆØÅ0-9])")
_FIELD_ORDER = {name: index for index, name in enumerate(FIGURE_FIELDS)}
_ROW_KIND_ORDER = {
    ChangeKind.ROW_REMOVED: 0, ChangeKind.RENAMED: 1, ChangeKind.FIGURE: 2, ChangeKind.ROW_ADDED: 3,
}  # fmt: skip
_COLLATE = str.maketrans({"æ": "{", "ø": "|", "å": "}"})


def diff_pages(old: Page, new: Page) -> list[Change]:
    """Every difference between two revisions, in report order.

    Order: updated, title, year, language, headline, totals, warnings, rows (by county, then
    municipality, then figure field), text. When `is_broken(old, new)` has a reason, rows and
    totals are not compared: a `warning-added` change with field "broken-revision" and the
    reason as `new` stands in for them, and text changes list only sentences added or changed.
    A switch of written standard (nn ↔ nb) is one `language` change plus one `text` change with
    field "summary" ("7 of 7 sections re-worded"), not a change per sentence.

    Row changes carry the new row's municipality, number and county (the old row's for
    row-removed); figure deltas are None when either side is blank; row-added/row-removed hold
    the row's figures as a dict in `new`/`old`. Text changes have field "sentence" (old None:
    added, new None: removed), or "heading" for a re-worded heading; `section` is the heading
    (None for the lead, before the first heading).
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

    broken = is_broken(old, new)
    if broken is None:
        changes += _diff_totals(old.totals, new.totals)
    changes += _diff_warnings(old, new, broken)
    if broken is None:
        changes += diff_rows(old.rows, new.rows)

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
        changes += text
    return changes


def is_broken(old: Page, new: Page) -> str | None:
    """Why the new revision looks broken or redesigned, or None when it looks like a revision."""
    old_codes = {w.code for w in old.warnings}
    new_codes = {w.code for w in new.warnings}
    if "no-table" in new_codes and "no-table" not in old_codes:
        return "the table is gone"
    if old.rows and len(new.rows) * 2 < len(old.rows):
        return f"lost most rows: {len(new.rows)} of {len(old.rows)} left"
    if "sum-mismatch" in new_codes and "sum-mismatch" not in old_codes:
        fields = [w.details.get("field", "?") for w in new.warnings if w.code == "sum-mismatch"]
        return f"the rows no longer add up to the totals ({', '.join(map(str, fields))})"
    return None


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


def diff_rows(old_rows: Sequence[Row], new_rows: Sequence[Row]) -> list[Change]:
    """Figure, renamed, row-added and row-removed changes, sorted by county, municipality, field."""
    pairs, removed, added = match_rows(old_rows, new_rows)
    keyed: list[tuple[tuple[Any, ...], Change]] = []
    for old_index, new_index in pairs:
        before, after = old_rows[old_index], new_rows[new_index]
        if before.municipality != after.municipality:
            keyed.append(
                _keyed(
                    after,
                    ChangeKind.RENAMED,
                    "municipality",
                    before.municipality,
                    after.municipality,
                )
            )
        for name in FIGURE_FIELDS:
            old_value, new_value = getattr(before, name), getattr(after, name)
            if old_value != new_value:
                keyed.append(_keyed(after, ChangeKind.FIGURE, name, old_value, new_value))
    for index in removed:
        row = old_rows[index]
        keyed.append(_keyed(row, ChangeKind.ROW_REMOVED, None, row.figures(), None))
    for index in added:
        row = new_rows[index]
        keyed.append(_keyed(row, ChangeKind.ROW_ADDED, None, None, row.figures()))
    keyed.sort(key=lambda item: item[0])
    return [change for _, change in keyed]


def _keyed(
    row: Row, kind: ChangeKind, field: str | None, old: Any, new: Any
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
    )
    key = (
        collate(row.county),
        collate(row.municipality),
        row.municipality_number or "",
        _ROW_KIND_ORDER[kind],
        _FIELD_ORDER.get(field or "", -1),
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


def _diff_totals(old: Totals | None, new: Totals | None) -> list[Change]:
    changes = []
    for name in FIGURE_FIELDS:
        before = getattr(old, name) if old else None
        after = getattr(new, name) if new else None
        if before != after:
            changes.append(Change(ChangeKind.TOTALS, name, before, after, _delta(before, after)))
    return changes


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

    The inverse of `diff_rows` for figures and names: `apply_changes(a.rows, diff_pages(a, b))`
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
            row = find(change, change.municipality)
            if row is not None:
                setattr(row, change.field, change.new)
        elif kind is ChangeKind.RENAMED:
            row = find(change, change.old)
            if row is not None:
                row.municipality = change.new
        elif kind is ChangeKind.ROW_REMOVED:
            row = find(change, change.municipality)
            if row is not None:
                removed.add(id(row))
        elif kind is ChangeKind.ROW_ADDED:
            figures = change.new if isinstance(change.new, dict) else {}
            added.append(
                Row(change.municipality, change.county, change.municipality_number, **figures)
            )
    return [row for row in rows if id(row) not in removed] + added


# --- text ------------------------------------------------------------------------------------


def split_sentences(paragraphs: Iterable[str]) -> list[str]:
    """The sentences of a section's paragraphs and list items, in reading order."""
    sentences: list[str] = []
    for paragraph in paragraphs:
        sentences += [s for s in _SENTENCE_END.split(paragraph) if s]
    return sentences


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
