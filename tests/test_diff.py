"""diff_pages reports exactly what changed: typed, ordered, matched municipality by municipality."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scraper.diff import (
    BROKEN_REVISION,
    apply_changes,
    diff_pages,
    is_broken,
    match_rows,
    split_sentences,
)
from scraper.models import (
    FIGURE_FIELDS,
    Change,
    ChangeKind,
    Headline,
    Page,
    PageWarning,
    Row,
    Section,
    Totals,
    request_table,
)
from scraper.parse import parse_page

FIXTURES = Path(__file__).parent / "fixtures"


@cache
def load(name: str) -> Page:
    return parse_page((FIXTURES / f"page-2022-{name}.html").read_bytes())


def make_page(
    rows: list[Row],
    *,
    sections: tuple[Section, ...] = (),
    warnings: tuple[PageWarning, ...] = (),
    totals: Totals | None = None,
    language: str = "nn",
    year: int = 2022,
    updated: str = "2021-11-12",
) -> Page:
    return Page(
        title=f"Oppmoding om busetting for {year}",
        language=language,
        updated=updated,
        year=year,
        headline=Headline(),
        sections=sections,
        warnings=warnings,
        fingerprint="",
        tables=(request_table(rows, totals, year=year),)
        if not any(w.code == "no-table" for w in warnings)
        else (),
    )


def brief(changes: list[Change]) -> list[tuple[Any, ...]]:
    return [(str(c.kind), c.municipality, c.field, c.old, c.new, c.delta) for c in changes]


LEAD_OLD = "IMDi har bedt 212 norske kommunar om å ta imot 5 500 flyktningar i 2022."
LEAD_NEW = "IMDi har bedt 213 norske kommunar om å ta imot 5 510 flyktningar i 2022."
MINORS_OLD = "Av desse er 32 kommunar oppmoda om å busette 141 einslege mindreårige flyktningar."
MINORS_NEW = "Av desse er 33 kommunar oppmoda om å busette 143 einslege mindreårige flyktningar."
LETTERS = "Oppmodingsbrev til kommunane har blitt sendt ut innan {} 2021."


def test_diff_revised_page_gives_the_exact_change_list() -> None:
    changes = diff_pages(load("nn-a"), load("revised"))
    assert brief(changes) == [
        ("updated", None, "updated", "2021-11-12", "2021-11-19", None),
        ("headline", None, "municipalities", 212, 213, 1),
        ("headline", None, "refugees", 5500, 5510, 10),
        ("headline", None, "minor_municipalities", 32, 33, 1),
        ("headline", None, "minors", 141, 143, 2),
        ("totals", None, "requested", 5500, 5510, 10),
        ("totals", None, "minors", 141, 143, 2),
        ("totals", None, "minors_15_18", 111, 112, 1),
        ("totals", None, "minors_under_15", 30, 31, 1),
        # Agder, by name: Gjerstad, Kristiansand, Risør; then Oslo; then Vestland.
        ("figure", "Gjerstad", "requested", 0, 10, 10),
        ("figure", "Kristiansand", "minors_15_18", 4, 3, -1),
        ("figure", "Kristiansand", "minors_under_15", 2, 3, 1),
        ("figure", "Risør", "minors", None, 2, None),
        ("figure", "Risør", "minors_15_18", None, 2, None),
        ("figure", "Risør", "minors_under_15", None, 0, None),
        ("figure", "Oslo", "requested", 225, 215, -10),
        ("figure", "Bergen", "requested", 182, 192, 10),
        # Sentences changed only in their numbers are statements.
        ("statement", None, "statement", LEAD_OLD, LEAD_NEW, None),
        ("statement", None, "statement", MINORS_OLD, MINORS_NEW, None),
        ("text", None, "sentence", LETTERS.format("midten av november"),
         LETTERS.format("19. november"), None),
    ]  # fmt: skip
    figures = [c for c in changes if c.kind is ChangeKind.FIGURE]
    assert [(c.county, c.municipality_number) for c in figures] == [
        ("Agder", "4211"), ("Agder", "4204"), ("Agder", "4204"), ("Agder", "4201"),
        ("Agder", "4201"), ("Agder", "4201"), ("Oslo", "0301"), ("Vestland", "4601"),
    ]  # fmt: skip
    assert [c.section for c in changes if c.kind in (ChangeKind.TEXT, ChangeKind.STATEMENT)] == [
        None,
        None,
        "Oppmodinga for 2022",
    ]
    assert all(c.series is not None and c.series.key[:2] == ("request", 2022) for c in figures)
    assert is_broken(load("nn-a"), load("revised")) is None


def test_diff_blank_zero_and_split_changes_have_the_right_deltas() -> None:
    changes = {(c.municipality, c.field): c for c in diff_pages(load("nn-a"), load("revised"))}
    assert changes["Gjerstad", "requested"].delta == 10  # 0 → 10 is a change from zero
    assert changes["Risør", "minors"].delta is None  # blank → 2: no arithmetic with a blank
    assert changes["Risør", "minors_under_15"].new == 0  # blank → 0 is a change too
    split = [changes["Kristiansand", f].delta for f in ("minors_15_18", "minors_under_15")]
    assert split == [-1, 1]
    assert ("Kristiansand", "minors") not in changes  # the total of minors stays 6


def test_diff_same_page_is_empty() -> None:
    assert diff_pages(load("nn-a"), load("nn-a")) == []


def test_diff_noise_and_other_markup_is_empty() -> None:
    assert diff_pages(load("nn-a"), load("nn-a-noise")) == []
    assert diff_pages(load("nn-a"), load("nn-b")) == []


def test_diff_written_standard_switch_is_one_language_change_and_a_summary() -> None:
    changes = diff_pages(load("nn-a"), load("nb"))
    assert brief(changes) == [
        ("title", None, "title", "Oppmoding om busetting for 2022",
         "Anmodning om bosetting for 2022", None),
        ("language", None, "language", "nn", "nb", None),
        ("text", None, "summary", None, "7 of 7 sections re-worded", None),
    ]  # fmt: skip


def test_diff_broken_page_gives_a_verdict_not_356_removed_rows() -> None:
    old, new = load("nn-a"), load("broken")
    assert is_broken(old, new) == "the table is gone"
    changes = diff_pages(old, new)
    kinds = [str(c.kind) for c in changes]
    assert not {"row-removed", "figure", "totals"} & set(kinds)
    assert brief(changes) == [
        ("updated", None, "updated", "2021-11-12", "2021-11-26", None),
        ("warning-added", None, BROKEN_REVISION, None, "the table is gone", None),
        ("warning-added", None, "no-table", None, "the page has no table of municipalities", None),
        ("warning-removed", None, "missing-name",
         "row 144 (Rogaland) has figures but no municipality name", None, None),
        ("text", None, "sentence", None, "Tala er flytta til vår tal- og statistikkløysing.", None),
    ]  # fmt: skip


def test_diff_truncated_page_is_broken_for_lost_rows() -> None:
    old, new = load("nn-a"), load("truncated")
    assert is_broken(old, new) == "lost most rows: 150 of 356 left"
    changes = diff_pages(old, new)
    assert changes[0].field == BROKEN_REVISION
    assert not [c for c in changes if c.kind in (ChangeKind.ROW_REMOVED, ChangeKind.FIGURE)]
    # The text after the cut is gone with it; that is not reported as removed sentences.
    assert not [c for c in changes if c.kind is ChangeKind.TEXT]


def test_diff_new_sum_mismatch_is_a_warning_not_broken_and_hides_no_figure() -> None:
    # IMDi's own 2017 table does not add up: every municipal change must still be listed.
    mismatch = PageWarning("sum-mismatch", "requested: …", {"field": "requested"})
    old = make_page([Row("Oslo", "Oslo", "0301", 225)])
    new = make_page([Row("Oslo", "Oslo", "0301", 230)], warnings=(mismatch,))
    assert is_broken(old, new) is None
    assert brief(diff_pages(old, new)) == [
        ("warning-added", None, "sum-mismatch", None, "requested: …", None),
        ("figure", "Oslo", "requested", 225, 230, 5),
    ]


def test_diff_table_first_published_is_not_broken() -> None:
    old, new = load("before-table"), load("nn-a")
    assert is_broken(old, new) is None
    added = [c for c in diff_pages(old, new) if c.kind is ChangeKind.ROW_ADDED]
    assert len(added) == 356


def test_diff_2024_structure_matches_municipality_by_municipality() -> None:
    old = make_page(
        [
            Row("Oslo", "Oslo", "0301", 225),
            Row("Ålesund", "Møre og Romsdal", "1507", 40, 2, 2, 0),
            Row("Fredrikstad", "Viken", "3004", 30),
        ],
        year=2024,  # the same series (request 2024) before and after the numbers changed
    )
    new = make_page(
        [
            Row("Oslo", "Oslo", "0301", 225),
            Row("Ålesund", "Møre og Romsdal", "1508", 35, 2, 2, 0),
            Row("Haram", "Møre og Romsdal", "1580", 10),
            Row("Fredrikstad", "Østfold", "3107", 31),
        ],
        year=2024,
    )
    changes = diff_pages(old, new)
    assert [
        (str(c.kind), c.county, c.municipality, c.municipality_number, c.field, c.new)
        for c in changes
    ] == [
        ("row-added", "Møre og Romsdal", "Haram", "1580", None,
         {"requested": 10, "minors": None, "minors_15_18": None, "minors_under_15": None}),
        ("figure", "Møre og Romsdal", "Ålesund", "1508", "requested", 35),
        ("figure", "Østfold", "Fredrikstad", "3107", "requested", 31),
    ]  # fmt: skip
    applied = apply_changes(old.rows, changes)
    assert [(r.municipality, r.requested) for r in applied] == [
        ("Oslo", 225), ("Ålesund", 35), ("Fredrikstad", 31), ("Haram", 10),
    ]  # fmt: skip


def test_diff_rows_sort_in_norwegian_order() -> None:
    places = [("Ås", "Akershus", "3218"), ("Asker", "Akershus", "3203"),
              ("Øksnes", "Nordland", "1868"), ("Bodø", "Nordland", "1804")]  # fmt: skip
    old = make_page([Row(*place, 1) for place in places])
    new = make_page([Row(r.municipality, r.county, r.municipality_number, 2) for r in old.rows])
    assert [c.municipality for c in diff_pages(old, new)] == ["Asker", "Ås", "Bodø", "Øksnes"]


def test_diff_same_number_new_name_is_renamed() -> None:
    old = make_page([Row("Deatnu - Tana", "Troms og Finnmark", "5441", 10)])
    new = make_page([Row("Tana", "Troms og Finnmark", "5441", 12)])
    assert brief(diff_pages(old, new)) == [
        ("renamed", "Tana", "municipality", "Deatnu - Tana", "Tana", None),
        ("figure", "Tana", "requested", 10, 12, 2),
    ]


def test_diff_reordered_rows_and_the_nameless_row_match_stably() -> None:
    rows = [
        Row("Stavanger", "Rogaland", "1103", 80),
        Row(None, "Rogaland", None, 30),
        Row("Sandnes", "Rogaland", "1108", 40),
    ]
    old = make_page(rows)
    new = make_page([rows[2], Row(None, "Rogaland", None, 35), rows[0]])
    assert brief(diff_pages(old, new)) == [("figure", None, "requested", 30, 35, 5)]


def test_diff_rows_without_number_match_by_name_and_county() -> None:
    old = make_page([Row("Nyby", "Agder", None, 5), Row("Gamleby", "Agder", None, 5)])
    new = make_page([Row("NYBY", "Agder", None, 6), Row("Annaby", "Agder", None, 1)])
    assert brief(diff_pages(old, new)) == [
        ("row-added", "Annaby", None, None, {"requested": 1, "minors": None,
         "minors_15_18": None, "minors_under_15": None}, None),
        ("row-removed", "Gamleby", None, {"requested": 5, "minors": None,
         "minors_15_18": None, "minors_under_15": None}, None, None),
        ("renamed", "NYBY", "municipality", "Nyby", "NYBY", None),
        ("figure", "NYBY", "requested", 5, 6, 1),
    ]  # fmt: skip


def test_diff_text_reports_added_removed_and_changed_sentences() -> None:
    old = make_page([], sections=(
        Section("Om", ("Første setning her. Andre setning blir borte.",)),
        Section("Gamal", ("Heile bolken går.",)),
    ))  # fmt: skip
    new = make_page([], sections=(
        Section("Om", ("Første setning der. Ny setning om noko heilt anna!",)),
        Section("Ny", ("Ein ny bolk.",)),
    ))  # fmt: skip
    assert [(c.section, c.field, c.old, c.new) for c in diff_pages(old, new)] == [
        ("Om", "sentence", "Første setning her.", "Første setning der."),
        ("Om", "sentence", "Andre setning blir borte.", None),
        ("Om", "sentence", None, "Ny setning om noko heilt anna!"),
        ("Ny", "sentence", None, "Ein ny bolk."),
        ("Gamal", "sentence", "Heile bolken går.", None),
    ]


def test_diff_text_follows_a_reworded_heading() -> None:
    old = make_page([], sections=(Section("Om busetting i 2021", ("A.",)),))
    new = make_page([], sections=(Section("Om busetting i 2022", ("A.",)),))
    assert [(c.field, c.old, c.new) for c in diff_pages(old, new)] == [
        ("heading", "Om busetting i 2021", "Om busetting i 2022"),
    ]


def test_split_sentences_keeps_dates_and_list_items_whole() -> None:
    assert split_sentences(["Sendt innan 19. november 2021. Sjå 5 500 tal.", "• prognosar"]) == [
        "Sendt innan 19. november 2021.",
        "Sjå 5 500 tal.",
        "• prognosar",
    ]


def test_apply_changes_turns_old_figures_into_new() -> None:
    old, new = load("nn-a"), load("revised")
    applied = apply_changes(old.rows, diff_pages(old, new))
    assert [r.to_dict() for r in applied] == [r.to_dict() for r in new.rows]


# --- properties ------------------------------------------------------------------------------

POOL = [
    ("Risør", "Agder", "4201"), ("Arendal", "Agder", "4203"), (None, "Agder", None),
    ("Oslo", "Oslo", "0301"), ("Stavanger", "Rogaland", "1103"), (None, "Rogaland", None),
    ("Bergen", "Vestland", "4601"), ("Bø (Nordland)", "Nordland", "1867"),
    ("Bø", "Vestfold og Telemark", "3817"), ("Ukjend", "Vestland", None),
    ("Ålesund", "Møre og Romsdal", "1507"), ("Sortland", "Nordland", "1870"),
]  # fmt: skip
FIGURE = st.one_of(st.none(), st.integers(0, 500))
FIGURES = st.fixed_dictionaries({name: FIGURE for name in FIGURE_FIELDS})


@st.composite
def pages_over(draw: st.DrawFn, places: list[tuple[str | None, str, str | None]]) -> Page:
    order = draw(st.permutations(places))
    rows = [Row(name, county, number, **draw(FIGURES)) for name, county, number in order]
    paragraphs = draw(st.lists(st.text(min_size=1, max_size=40), max_size=3))
    return make_page(rows, sections=(Section(None, tuple(paragraphs)),))


def figures_by_place(rows: list[Row] | tuple[Row, ...]) -> dict[Any, dict[str, int | None]]:
    return {(r.municipality, r.county, r.municipality_number): r.figures() for r in rows}


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_property_diff_of_a_page_with_itself_is_empty(data: st.DataObject) -> None:
    places = data.draw(st.lists(st.sampled_from(POOL), unique=True))
    page = data.draw(pages_over(places))
    assert diff_pages(page, page) == []


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_property_apply_diff_gives_the_new_figures(data: st.DataObject) -> None:
    places = data.draw(st.lists(st.sampled_from(POOL), unique=True))
    old, new = data.draw(pages_over(places)), data.draw(pages_over(places))
    changes = diff_pages(old, new)
    assert figures_by_place(apply_changes(old.rows, changes)) == figures_by_place(new.rows)
    assert all(c.kind is not ChangeKind.ROW_ADDED for c in changes)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_property_apply_diff_with_rows_added_and_removed(data: st.DataObject) -> None:
    old_places = data.draw(st.lists(st.sampled_from(POOL), unique=True, min_size=2))
    new_places = data.draw(st.lists(st.sampled_from(POOL), unique=True))
    old, new = data.draw(pages_over(old_places)), data.draw(pages_over(new_places))
    changes = diff_pages(old, new)
    if is_broken(old, new):
        assert not [c for c in changes if c.kind is ChangeKind.ROW_REMOVED]
    else:
        assert figures_by_place(apply_changes(old.rows, changes)) == figures_by_place(new.rows)


def test_match_rows_prefers_the_successor_of_the_same_name() -> None:
    old = [Row("Ålesund", "Møre og Romsdal", "1507", 1)]
    new = [Row("Haram", "Møre og Romsdal", "1580", 1), Row("Ålesund", "Møre og Romsdal", "1508")]
    assert match_rows(old, new) == ([(0, 1)], [], [0])
