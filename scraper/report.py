"""Renderings for people and programs: text (plain or coloured), Markdown and JSON (CSV is
export.render_csv, the one CSV writer).

The only rich user, and only for `color=True`: plain text is built here as lines of styled spans,
so `check` never pays rich's import. Scraped text never becomes markup (rich Text objects only).
"""

from __future__ import annotations

import difflib
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from scraper.columns import AREA_COLUMNS
from scraper.models import (
    BROKEN_REVISION,
    FIGURE_FIELDS,
    PART_FIELDS,
    Change,
    ChangeKind,
    Figure,
    KeyFigure,
    Page,
    Series,
    series_field,
)
from scraper.norsk import format_date, format_number

FORMATS = ("text", "markdown", "json")
BLANK = "(blank)"
FIGURE_LABELS = {
    "requested": "requested",
    "minors": "minors",
    "minors_15_18": "minors 15–18",
    "minors_under_15": "minors <15",
}
FIGURE_LABELS_BY_PART = {part: FIGURE_LABELS[field] for part, field in PART_FIELDS.items()}
HEADLINE_LABELS = {
    "municipalities": "municipalities asked",
    "refugees": "refugees",
    "minor_municipalities": "municipalities asked for minors",
    "minors": "minors",
}
LANGUAGES = {"nn": "Nynorsk", "nb": "Bokmål"}
LEAD = "(lead)"  # the text before the first heading
_RICH_STYLES = {
    "removed": "red strike",
    "added": "bold green",
    "up": "green",
    "down": "red",
    "warning": "bold red",
    "heading": "bold",
}
# "5 500" is one word to a reader: a changed total reads [-5 500-]{+5 510+}, not 5 [-500-]{+510+}.
_WORD = re.compile(r"\d{1,3}(?: \d{3})+(?!\d)\S*|\S+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~\[\]|#])")
# C0/C1 controls but tab and newline: a page's "&#27;]0;…&#7;" must not reach the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

Span = tuple[str, str | None]  # text and a style name from _RICH_STYLES (None: plain)
Line = list[Span]


def render_changes(
    old: Page | None,
    new: Page,
    changes: Sequence[Change],
    *,
    format: str,
    old_label: str | None = None,
    new_label: str | None = None,
    color: bool = False,
) -> str:
    """The changes from `old` to `new` (None: the first revision) as text, markdown or json.

    Example: render_changes(a, b, diff_pages(a, b), format="text") starts with
    "Sist oppdatert 12.11.2021 → 19.11.2021 · 8 figures changed in 5 municipalities · …".
    """
    if format == "text":
        lines = _text_lines(old, new, changes, old_label=old_label, new_label=new_label)
        return _render(lines, color=color)
    if format == "markdown":
        return _render_markdown(old, new, changes, old_label=old_label, new_label=new_label)
    if format == "json":
        document = {
            "from": _meta(old, old_label) if old is not None else None,
            "to": _meta(new, new_label),
            "changes": [change.to_dict() for change in ordered_changes(changes)],
        }
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    raise ValueError(f"unknown report format {format!r}: use one of {', '.join(FORMATS)}")


def summary_line(old: Page | None, new: Page, changes: Sequence[Change]) -> str:
    """One line saying what changed, most important first; also a notification's title.

    Date, written standard, year, broken-revision warning, figures, rows added/removed/renamed,
    total requested, title, new warnings; the lead and text only when no figure changed.
    """
    if old is None:
        parts = [f"Sist oppdatert {format_date(new.updated)}", "first revision"]
        parts.append(_plural(len(new.rows), "municipality", "municipalities"))
        if new.totals is not None and new.totals.requested is not None:
            parts.append(f"total {format_number(new.totals.requested)}")
        return " · ".join(parts)
    if not changes:
        return "no changes"
    by_kind: dict[ChangeKind, list[Change]] = {}
    for change in changes:
        by_kind.setdefault(change.kind, []).append(change)

    def first(kind: ChangeKind, field: str | None = None) -> Change | None:
        return next((c for c in by_kind.get(kind, ()) if field is None or c.field == field), None)

    parts = []
    if updated := first(ChangeKind.UPDATED):
        parts.append(f"Sist oppdatert {format_date(updated.old)} → {format_date(updated.new)}")
    if language := first(ChangeKind.LANGUAGE):
        parts.append(f"{_language(language.old)} → {_language(language.new)}")
    if year := first(ChangeKind.YEAR):
        parts.append(f"year {year.old or '–'} → {year.new or '–'}")
    if broken := first(ChangeKind.WARNING_ADDED, BROKEN_REVISION):
        parts.append(f"WARNING: looks broken ({broken.new})")
    figures = by_kind.get(ChangeKind.FIGURE, [])
    if figures:
        places = {(c.level, c.county, c.municipality, c.municipality_number) for c in figures}
        municipal = sum(1 for place in places if place[0] != "county")
        where = [
            _plural(municipal, "municipality", "municipalities") if municipal else "",
            _plural(len(places) - municipal, "county", "counties")
            if len(places) > municipal
            else "",
        ]
        parts.append(
            f"{_plural(len(figures), 'figure', 'figures')} changed in "
            + " and ".join(w for w in where if w)
        )
    for kind, verb in ((ChangeKind.SERIES_ADDED, "added"), (ChangeKind.SERIES_REMOVED, "removed")):
        if count := len(by_kind.get(kind, ())):
            parts.append(f"{_plural(count, 'series', 'series')} {verb}")
    for kind, verb in (
        (ChangeKind.ROW_ADDED, "added"),
        (ChangeKind.ROW_REMOVED, "removed"),
        (ChangeKind.RENAMED, "renamed"),
    ):
        if count := len(by_kind.get(kind, ())):
            parts.append(f"{_plural(count, 'municipality', 'municipalities')} {verb}")
    if total := first(ChangeKind.TOTALS, "requested"):
        parts.append(f"total {format_value(total.old)} → {format_value(total.new)}")
    if first(ChangeKind.TITLE):
        parts.append("title changed")
    warnings = [c for c in by_kind.get(ChangeKind.WARNING_ADDED, ()) if c.field != BROKEN_REVISION]
    if warnings:
        parts.append(_plural(len(warnings), "new warning", "new warnings"))
    if not figures and not first(ChangeKind.TOTALS):
        key_figures = by_kind.get(ChangeKind.KEY_FIGURE, [])
        for change in key_figures[:2]:
            parts.append(
                f"{field_label(change)} {format_value(change.old)} → {format_value(change.new)}"
            )
        if ChangeKind.HEADLINE in by_kind or len(key_figures) > 2:
            parts.append("lead changed")
        text = by_kind.get(ChangeKind.TEXT, []) + by_kind.get(ChangeKind.STATEMENT, [])
        if summary := first(ChangeKind.TEXT, "summary"):
            parts.append(str(summary.new))
        elif text:
            sections = {c.section for c in text}
            parts.append(
                f"{_plural(len(text), 'sentence', 'sentences')} changed in "
                + _plural(len(sections), "section", "sections")
            )
    return " · ".join(parts) if parts else _plural(len(changes), "change", "changes")


def broken_warning(old: Page | None, new: Page, changes: Sequence[Change]) -> str | None:
    """The line that leads a report on a revision that looks broken, else None."""
    broken = next(
        (c for c in changes if c.kind is ChangeKind.WARNING_ADDED and c.field == BROKEN_REVISION),
        None,
    )
    if broken is None:
        return None
    lost = len(old.rows) - len(new.rows) if old is not None else 0
    consequence = (
        f"not reporting {_plural(lost, 'municipality', 'municipalities')} as removed"
        if lost > 0
        else "not comparing it municipality by municipality"
    )
    return f"WARNING: the new revision looks broken or redesigned ({broken.new}) — {consequence}."


# --- text ------------------------------------------------------------------------------------


def _text_lines(
    old: Page | None,
    new: Page,
    changes: Sequence[Change],
    *,
    old_label: str | None,
    new_label: str | None,
) -> list[Line]:
    lines: list[Line] = []
    if warning := broken_warning(old, new, changes):
        lines.append([(warning, "warning")])
    lines.append([(summary_line(old, new, changes), None)])
    if old_label or new_label:
        lines.append([(f"{old_label or '–'} → {new_label or '–'}", None)])
    groups = _group(changes)

    page_rows: list[list[Line]] = []
    for change in groups["page"]:
        if change.kind is ChangeKind.LANGUAGE:
            values = f"{_language(change.old)} → {_language(change.new)}"
        else:
            values = f"{change.old if change.old is not None else '–'} → {change.new or '–'}"
        page_rows.append([[(str(change.kind), None)], [(values, None)]])
    if page_rows:
        _section(lines, "Page · side")
        lines += _table(page_rows, "ll", indent=2)

    figure_rows: list[list[Line]] = []
    county: object = object()
    place: object = object()
    headed = _series_headed(groups["rows"], new)
    group: object = object()
    for change in groups["rows"]:
        if headed and _series_group(change) != group:
            group = _series_group(change)
            figure_rows.append([[(_group_label(change, new), "heading")]])
            county = object()
        if change.county != county:
            county = change.county
            figure_rows.append([[(change.county or "(no county)", "heading")]])
        this_place = (change.municipality, change.municipality_number)
        name = change.municipality or "(no name)"
        shown_name = name if this_place != place else ""
        place = this_place
        figure_rows.append(_row_cells(change, shown_name))
    if figure_rows:
        _section(lines, "Figures · oppmodingstal per kommune" if not headed else "Figures · tal")
        lines += _table(figure_rows, "llrlrr", indent=2)

    if groups["series"]:
        _section(lines, "Series · kolonnar")
        for change in groups["series"]:
            lines.append([("  ", None), *_series_line(change, new)])

    for title, kind, labels in (
        ("Lead · ingress", "headline", HEADLINE_LABELS),
        ("Totals · sum", "totals", FIGURE_LABELS),
    ):
        rows: list[list[Line]] = [
            [
                [(labels.get(c.field or "", "") or field_label(c), None)],
                [(format_value(c.old), None)],
                [("→", None)],
                [(format_value(c.new), None)],
                [_delta_span(c.delta)],
            ]
            for c in groups[kind]
        ]
        if rows:
            _section(lines, title)
            lines += _table(rows, "lrlrr", indent=2)

    if groups["warnings"]:
        _section(lines, "Warnings · åtvaringar")
        for change in groups["warnings"]:
            if change.kind is ChangeKind.WARNING_ADDED:
                lines.append([("  + ", None), (f"{change.field}: {change.new}", None)])
            else:
                lines.append([("  − ", None), (f"{change.field}: {change.old} (gone)", None)])

    if groups["text"]:
        _section(lines, "Text · tekst")
        section: object = object()
        for change in groups["text"]:
            if change.field == "summary":
                lines.append([("  ", None), (str(change.new), None)])
                continue
            if change.section != section:
                section = change.section
                lines.append([("  ", None), (change.section or LEAD, "heading")])
            if change.field == "heading":
                lines.append([("    heading: ", None), *_word_diff(change.old, change.new)])
            elif change.kind is ChangeKind.STATEMENT and change.delta is not None:
                delta = _delta_span(change.delta)
                words = _word_diff(change.old, change.new)
                lines.append([("    ", None), *words, ("  ", None), delta])
            else:
                lines.append([("    ", None), *_word_diff(change.old, change.new)])
    return lines


# the sections of the text report, in its order (after the summary line: the date, a broken page)
TEXT_ORDER = ("page", "rows", "series", "headline", "totals", "warnings", "text")


def ordered_changes(changes: Sequence[Change]) -> list[Change]:
    """The changes in the order the text report shows them, for JSON and CSV: the date and a
    broken-revision warning (the summary line) first, then section by section."""
    groups = _group(changes)
    first = [
        c
        for c in changes
        if c.kind is ChangeKind.UPDATED
        or (
            c.kind in (ChangeKind.WARNING_ADDED, ChangeKind.WARNING_REMOVED)
            and c.field == BROKEN_REVISION
        )
    ]
    ordered = first + [c for name in TEXT_ORDER for c in groups[name]]
    shown = {id(c) for c in ordered}
    return ordered + [c for c in changes if id(c) not in shown]  # none, unless a kind is new


def _group(changes: Sequence[Change]) -> dict[str, list[Change]]:
    groups: dict[str, list[Change]] = {
        "page": [], "headline": [], "totals": [], "warnings": [], "series": [], "rows": [],
        "text": [],
    }  # fmt: skip
    for change in changes:
        kind = change.kind
        if kind in (ChangeKind.UPDATED, ChangeKind.TITLE, ChangeKind.YEAR, ChangeKind.LANGUAGE):
            if kind is not ChangeKind.UPDATED:  # the date is the summary line's first words
                groups["page"].append(change)
        elif kind in (ChangeKind.HEADLINE, ChangeKind.KEY_FIGURE):
            groups["headline"].append(change)
        elif kind in (ChangeKind.SERIES_ADDED, ChangeKind.SERIES_REMOVED):
            groups["series"].append(change)
        elif kind is ChangeKind.STATEMENT:
            groups["text"].append(change)
        elif kind is ChangeKind.TOTALS:
            groups["totals"].append(change)
        elif kind in (ChangeKind.WARNING_ADDED, ChangeKind.WARNING_REMOVED):
            if change.field != BROKEN_REVISION:
                groups["warnings"].append(change)
        elif kind is ChangeKind.TEXT:
            groups["text"].append(change)
        else:
            groups["rows"].append(change)
    return groups


def _row_cells(change: Change, name: str) -> list[Line]:
    """municipality · field · old · → · new · delta, for figure, renamed, added, removed."""
    if change.kind is ChangeKind.FIGURE:
        return [
            [(name, None)],
            [(field_label(change), None)],
            [(format_value(change.old), None)],
            [("→", None)],
            [(format_value(change.new), None)],
            [_delta_span(change.delta)],
        ]
    if change.kind is ChangeKind.RENAMED:
        return [[(name, None)], [("renamed", None)], [(f"{change.old} → {change.new}", None)]]
    if change.kind is ChangeKind.ROW_ADDED:
        return [[(name, None)], [("added", "up")], [(_figures(change.new), None)]]
    return [[(name, None)], [("removed", "down")], [(_figures(change.old), None)]]


def field_label(change: Change) -> str:
    """'requested', 'minors 15–18' for the request of the page's year, else the series' label
    ('Vedtak 2023', 'Anmodning 2016 · einslege mindreårige')."""
    if change.field in FIGURE_LABELS:
        return FIGURE_LABELS[change.field or ""]
    if change.kind is ChangeKind.KEY_FIGURE and change.series is not None:
        subject = "municipalities" if "municipalities" in (change.field or "") else "refugees"
        return f"{change.series.label()} · {subject}"
    if change.series is not None:
        return change.series.label()
    return change.field or ""


def _series_group(change: Change) -> tuple[str, int | None] | None:
    return change.series.key[:2] if change.series is not None else None


def _series_headed(changes: Sequence[Change], page: Page) -> bool:
    """Figure changes get a heading per measure and year when there is more than the request
    of the page's year among them."""
    groups = {_series_group(c) for c in changes if c.series is not None}
    return bool(groups - {("request", page.year)}) or len(groups) > 1


def _group_label(change: Change, page: Page) -> str:
    if change.series is None:
        return "(rows)"
    return Series(change.series.measure, change.series.year).label(page.language)


def _series_line(change: Change, page: Page) -> Line:
    assert change.series is not None
    summary = change.new if change.kind is ChangeKind.SERIES_ADDED else change.old
    figures = summary.get("figures", 0) if isinstance(summary, dict) else 0
    total = summary.get("sum") if isinstance(summary, dict) else None
    header = summary.get("header") if isinstance(summary, dict) else None
    verb, style = ("added", "up") if change.kind is ChangeKind.SERIES_ADDED else ("removed", "down")
    label = change.series.label(page.language)
    column = f" (column {header!r})" if header and header != label else ""
    return [
        (f"{label}{column}: ", None),
        (verb, style),
        (f" · {_plural(figures, 'figure', 'figures')}, sum {format_value(total)}", None),
    ]


def _section(lines: list[Line], title: str) -> None:
    lines.append([])
    lines.append([(title, "heading")])


def _table(rows: list[list[Line]], align: str, *, indent: int) -> list[Line]:
    """Rows of cells padded into columns. A one-cell row is a group heading (the rows under it
    are indented two more); the last cell of a shorter row spans the columns it lacks."""
    columns = max(len(row) for row in rows)
    widths = [0] * columns
    for row in rows:
        spanning = len(row) < columns
        for index, cell in enumerate(row):
            if len(row) > 1 and not (spanning and index == len(row) - 1):
                widths[index] = max(widths[index], _width(cell))
    grouped = any(len(row) == 1 for row in rows)
    out: list[Line] = []
    for row in rows:
        if len(row) == 1:
            out.append([(" " * indent, None), *row[0]])
            continue
        line: Line = [(" " * (indent + 2 * grouped), None)]
        for index, cell in enumerate(row):
            if index:
                line.append((" ", None))
            padding = " " * max(0, widths[index] - _width(cell))
            if index == len(row) - 1 and align[index] == "l":
                padding = ""
            line += [(padding, None), *cell] if align[index] == "r" else [*cell, (padding, None)]
        while not line[-1][0].strip():  # an empty delta cell leaves only padding at the end
            line.pop()
        out.append(line)
    return out


def _width(cell: Line) -> int:
    return sum(len(text) for text, _ in cell)


def _word_diff(old: str | None, new: str | None) -> Line:
    """A sentence with the changed words marked: struck/red old, bold/green new."""
    if old is None:
        return [(new or "", "added")]
    if new is None:
        return [(old, "removed")]
    before, after = _WORD.findall(old), _WORD.findall(new)
    spans: Line = []

    def words(items: list[str]) -> str:
        return " ".join(items)

    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if spans:
            spans.append((" ", None))
        if tag == "equal":
            spans.append((words(before[i1:i2]), None))
            continue
        if i2 > i1:
            spans.append((words(before[i1:i2]), "removed"))
        if j2 > j1:
            spans.append((words(after[j1:j2]), "added"))
    return spans


def _render_plain(lines: list[Line]) -> str:
    markers = {"removed": ("[-", "-]"), "added": ("{+", "+}")}
    out = []
    for line in lines:
        parts = []
        for text, style in line:
            start, end = markers.get(style or "", ("", ""))
            parts.append(f"{start}{text}{end}")
        out.append("".join(parts).rstrip())
    return "\n".join(out) + "\n"


def _render_rich(lines: list[Line]) -> str:
    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        color_system="standard",
        force_terminal=True,
        width=100,
        soft_wrap=True,
        highlight=False,
        markup=False,
        emoji=False,
    )
    for line in lines:
        text = Text()
        previous: str | None = None
        for chunk, style in line:
            if previous == "removed" and style == "added":  # no [- -]{+ +} marks to part them
                text.append(" ")
            text.append(chunk, style=_RICH_STYLES.get(style or "", ""))
            previous = style
        text.rstrip()
        console.print(text)
    return buffer.getvalue()


# --- markdown --------------------------------------------------------------------------------


def _render_markdown(
    old: Page | None,
    new: Page,
    changes: Sequence[Change],
    *,
    old_label: str | None,
    new_label: str | None,
) -> str:
    esc = _markdown_escape
    title = new.title or (old.title if old else None) or "IMDi"
    since = old_label or (format_date(old.updated) if old else None)
    until = new_label or format_date(new.updated)
    heading = (
        f"{esc(title)}: {esc(since)} → {esc(until)}" if since else f"{esc(title)}: {esc(until)}"
    )
    out = [f"## {heading}", ""]
    if warning := broken_warning(old, new, changes):
        out += [f"> **{esc(warning)}**", ""]
    out += [esc(summary_line(old, new, changes)), ""]
    groups = _group(changes)

    if groups["page"]:
        for change in groups["page"]:
            if change.kind is ChangeKind.LANGUAGE:
                before, after = _language(change.old), _language(change.new)
            else:
                before, after = str(change.old or "–"), str(change.new or "–")
            out.append(f"- {change.kind}: ~~{esc(before)}~~ **{esc(after)}**")
        out.append("")

    if groups["rows"]:
        out += ["| Fylke | Kommune | Field | Old | New | Δ |", "|---|---|---|---:|---:|---:|"]
        for change in groups["rows"]:
            cells = [esc(change.county or ""), esc(change.municipality or "(no name)")]
            if change.kind is ChangeKind.FIGURE:
                cells += [
                    esc(field_label(change)),
                    format_value(change.old),
                    format_value(change.new),
                    format_delta(change.delta),
                ]
            elif change.kind is ChangeKind.RENAMED:
                cells += ["renamed", esc(str(change.old)), esc(str(change.new)), ""]
            elif change.kind is ChangeKind.ROW_ADDED:
                cells += ["added", "", _figures(change.new), ""]
            else:
                cells += ["removed", _figures(change.old), "", ""]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")

    if groups["series"]:
        out += ["**Series**", ""]
        for change in groups["series"]:
            out.append("- " + esc("".join(text for text, _ in _series_line(change, new))))
        out.append("")

    for title_text, kind, labels in (
        ("Lead", "headline", HEADLINE_LABELS),
        ("Totals", "totals", FIGURE_LABELS),
    ):
        if groups[kind]:
            out += [f"**{title_text}**", ""]
            for change in groups[kind]:
                label = labels.get(change.field or "", "") or field_label(change)
                delta = f" ({format_delta(change.delta)})" if change.delta is not None else ""
                out.append(
                    f"- {label}: {format_value(change.old)} → {format_value(change.new)}{delta}"
                )
            out.append("")

    if groups["warnings"]:
        out += ["**Warnings**", ""]
        for change in groups["warnings"]:
            if change.kind is ChangeKind.WARNING_ADDED:
                out.append(f"- new: `{change.field}` {esc(str(change.new))}")
            else:
                out.append(f"- gone: `{change.field}` ~~{esc(str(change.old))}~~")
        out.append("")

    if groups["text"]:
        out += ["**Text**", ""]
        section: object = object()  # no heading or None: the first change opens a section
        for change in groups["text"]:
            if change.field == "summary":
                out += [f"- {esc(str(change.new))}", ""]
                continue
            if change.section != section:
                if out[-1]:
                    out.append("")
                section = change.section
                out += [f"*{esc(change.section or LEAD)}*", ""]
            prefix = "heading: " if change.field == "heading" else ""
            out.append(f"- {prefix}{_markdown_words(change.old, change.new)}")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _markdown_words(old: str | None, new: str | None) -> str:
    styles: dict[str | None, Callable[[str], str]] = {
        "removed": lambda t: f"~~{t}~~",
        "added": lambda t: f"**{t}**",
        None: lambda t: t,
    }
    parts: list[str] = []
    previous: str | None = None
    for text, style in _word_diff(old, new):
        if previous == "removed" and style == "added":
            parts.append(" ")
        parts.append(styles[style](_markdown_escape(text)))
        previous = style
    return "".join(parts)


def _markdown_escape(text: str) -> str:
    """Scraped text shown literally: no emphasis, links, table breaks, raw HTML or controls."""
    text = visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


# --- json --------------------------------------------------------------------------------


def _meta(page: Page, label: str | None) -> dict[str, Any]:
    return {
        "title": page.title,
        "updated": page.updated,
        "year": page.year,
        "language": page.language,
        "fingerprint": page.fingerprint,
        "label": label,
    }


# --- small words -----------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A figure or a side of a change for people: 5 500, (blank) for None, anything else as text."""
    if value is None:
        return BLANK
    if isinstance(value, int):
        return format_number(value)
    return str(value)


def format_delta(delta: int | None) -> str:
    """+10, −5 500 (a minus sign, not a hyphen); '' for None."""
    if delta is None:
        return ""
    if delta < 0:
        return f"−{format_number(-delta)}"
    return f"+{format_number(delta)}"


def _delta_span(delta: int | None) -> Span:
    style = None if not delta else "up" if delta > 0 else "down"
    return (format_delta(delta), style)


def _figures(figures: Any) -> str:
    """A row's figures in one cell: 'requested 10 · minors 2'; blanks left out."""
    if not isinstance(figures, dict):
        return ""
    shown = [
        f"{FIGURE_LABELS.get(name, name)} {format_number(value)}"
        for name, value in sorted(
            figures.items(),
            key=lambda item: (
                item[0] not in FIGURE_LABELS,
                FIGURE_FIELDS.index(item[0]) if item[0] in FIGURE_LABELS else 0,
                item[0],
            ),
        )
        if isinstance(value, int)
    ]
    return " · ".join(shown) or "all blank"


def _language(code: str | None) -> str:
    return LANGUAGES.get(code or "", code or "unknown")


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


# --- pages, tables and history (parse, show, history, log) -----------------------------------

_CELL_BLANK = "–"  # a blank cell in a table; 0 stays 0


def _heading(text: str) -> Line:
    return [(text, "heading")]


def _cell(value: int | None) -> Line:
    return [(_CELL_BLANK if value is None else format_number(value), None)]


def _render(lines: list[Line], *, color: bool) -> str:
    lines = [[(visible(text), style) for text, style in line] for line in lines]
    return _render_rich(lines) if color else _render_plain(lines)


@dataclass(frozen=True, slots=True)
class Grid:
    """A table for `log`, `show` and `history`, laid out by rich's Table: the first row is the
    header; a one-cell row is a group heading (the rows under it are indented)."""

    rows: list[list[Line]]
    align: str  # "l" or "r" per column
    indent: int = 0


Block = Line | Grid


def _render_blocks(blocks: Sequence[Block], *, color: bool) -> str:
    """Lines and rich Tables, coloured on a terminal, plain text otherwise; scraped text is
    shown with its control characters escaped. (The change report that `check` prints keeps its
    own columns, `_table`: a check never imports rich.)"""
    from rich.console import Console
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    def text(spans: Line) -> Text:
        out = Text()
        for chunk, style in spans:
            out.append(visible(chunk), style=_RICH_STYLES.get(style or "", ""))
        return out

    buffer = io.StringIO()
    console = Console(
        file=buffer, width=10_000, color_system="standard" if color else None,
        force_terminal=color, highlight=False, markup=False, emoji=False,
    )  # fmt: skip
    for block in blocks:
        if not isinstance(block, Grid):
            console.print(text(block), soft_wrap=True)
            continue
        table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False)
        for cell, align in zip(block.rows[0], block.align, strict=False):
            justify: Literal["left", "right"] = "right" if align == "r" else "left"
            table.add_column(text(cell), justify=justify, no_wrap=True)
        grouped = any(len(row) == 1 for row in block.rows[1:])
        for row in block.rows[1:]:
            cells = [text(cell) for cell in row]
            if grouped and len(row) > 1:
                cells[0] = Text("  ") + cells[0]
            table.add_row(*cells)
        console.print(Padding(table, (0, 0, 0, block.indent)) if block.indent else table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().split("\n"))


def visible(text: str) -> str:
    """Control characters as \\x1b escapes, so scraped text cannot drive the terminal."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def render_page(page: Page, *, color: bool = False) -> str:
    """What imdi-watch read from one page: metadata, lead figures, table totals by county."""
    lines: list[Line] = [[(page.title or "(no title)", "heading")]]
    facts = [
        f"Sist oppdatert {format_date(page.updated)}",
        f"year {page.year if page.year is not None else '–'}",
        _language(page.language),
    ]
    lines.append([(" · ".join(facts), None)])
    head = page.headline
    if head.municipalities is not None or head.refugees is not None:
        lead = (
            f"Lead: {format_value(head.municipalities)} municipalities asked to settle "
            f"{format_value(head.refugees)} refugees"
        )
        if head.minors is not None:
            lead += (
                f"; {format_value(head.minor_municipalities)} of them {format_value(head.minors)} "
                "unaccompanied minors"
            )
        lines.append([(lead, None)])
    if not page.has_table:
        lines.append([("No table of municipalities on this page.", "warning")])
    else:
        asked = sum(1 for r in page.rows if (r.requested or 0) > 0)
        zero = sum(1 for r in page.rows if r.requested == 0)
        blank = sum(1 for r in page.rows if r.requested is None)
        lines.append(
            [
                (
                    f"Table: {len(page.rows)} rows · requested > 0 in {asked}, 0 in {zero}, "
                    f"blank in {blank}",
                    None,
                )
            ]
        )
        if page.totals is not None:
            totals = " / ".join(format_value(v) for v in page.totals.to_dict().values())
            lines.append([(f"Totals row (requested / minors / 15–18 / <15): {totals}", None)])
        counties: dict[str, list[int]] = {}
        for row in page.rows:
            sums = counties.setdefault(row.county or "(no county)", [0, 0, 0])
            sums[0] += 1
            sums[1] += row.requested or 0
            sums[2] += row.minors or 0
        table: list[list[Line]] = [
            [[("county", "heading")], [("rows", "heading")], [("requested", "heading")],
             [("minors", "heading")]],
        ]  # fmt: skip
        for county, (count, requested, minors) in counties.items():
            table.append([[(county, None)], _cell(count), _cell(requested), _cell(minors)])
        _section(lines, "By county")
        lines += _table(table, "lrrr", indent=2)
    _section(lines, f"Warnings ({len(page.warnings)})")
    for warning in page.warnings:
        lines.append([("  ", None), (warning.code, "warning"), (f": {warning.message}", None)])
    lines.append([])
    lines.append([(f"fingerprint {page.fingerprint}", None)])
    return _render(lines, color=color)


def render_table(
    revision: Any,
    records: Sequence[dict[str, Any]],
    columns: Sequence[str],
    series: Sequence[Series],
    *,
    rows: Sequence[Any],
    key_figures: Sequence[KeyFigure] = (),
    language: str | None = None,
    format: str,
    color: bool = False,
) -> str:
    """The table at one revision as `export.wide_records` lays it out (a record per municipality,
    or per county on a page of county lines, and a column per series), then the key figures the text
    states: text grouped by county, or JSON (blank = null) with the legacy `rows` (the request
    series of the page's year) kept."""
    if format == "json":
        return (
            json.dumps(
                {
                    "revision": record_to_dict(revision),
                    "rows": [row.to_dict() for row in rows],
                    "columns": list(columns),
                    "table": list(records),
                    "key_figures": [k.to_dict() for k in key_figures],
                },
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
    shape = (
        f"{_plural(len(records), 'row', 'rows')} · {_CELL_BLANK} = blank cell"
        if records
        else "no table"
    )
    lines: list[Block] = [
        [(f"Revision {revision.id} · {revision.title or '(no title)'}", "heading")],
        [
            (
                f"Sist oppdatert {format_date(revision.updated)} · first seen "
                f"{revision.first_seen[:10]} · {shape}",
                None,
            )
        ],
    ]
    if records:
        lines += [[], _table_grid(revision, records, columns, series)]
    if key_figures:
        lines += [[], [("Key figures (as the text states them)", "heading")]]
        lines.append(
            Grid(
                [[_heading("series"), _heading("counts"), _heading(""), _heading("value")]]
                + [
                    [
                        [(_key_figure_label(k, language), None)],
                        [(k.subject, None)],
                        [(QUALIFIER_LABELS.get(k.qualifier or "", ""), None)],
                        _cell(k.value),
                    ]
                    for k in key_figures
                ],
                "lllr",
            )
        )
    return _render_blocks(lines, color=color)


QUALIFIER_LABELS = {"at-least": "at least", "about": "about", "at-most": "at most"}


def _key_figure_label(figure: KeyFigure, language: str | None) -> str:
    """'Vedtak 2023', 'Oppmoding 2022 · einslege mindreårige'; a figure whose sentence names no
    measure (a forecast, a need) as 'no measure stated 2022'."""
    if figure.measure == "unknown":
        year = f" {figure.year}" if figure.year is not None else ""
        return f"no measure stated{year}"
    return Series(figure.measure, figure.year, figure.part).label(language)


def _table_grid(
    revision: Any,
    records: Sequence[dict[str, Any]],
    columns: Sequence[str],
    series: Sequence[Series],
) -> Grid:
    # A page of county lines (IMDi's 2017 table) has records named by their county alone.
    counties = "municipality" not in columns
    name, number = (
        ("county", "county_number") if counties else ("municipality", "municipality_number")
    )
    fields = [c for c in columns if c not in AREA_COLUMNS]
    table: list[list[Line]] = []
    county = object()
    for record in records:
        if record.get("county") != county and not counties:
            county = record.get("county")
            table.append([[(record.get("county") or "(no county)", "heading")]])
        table.append(
            [
                [(record.get(name) or "(no name)", None)],
                [(record.get(number) or "", None)],
                *(_cell(record[field]) for field in fields),
            ]
        )
    # Beside series of other years, the request of the page's year says its year too.
    with_year = any(f not in FIGURE_LABELS for f in fields)
    header: list[list[Line]] = [
        [_heading(name), _heading("number")]
        + [_heading(column_label(s, revision.year, with_year=with_year)) for s in series]
    ]
    return Grid(header + table, "ll" + "r" * len(fields))


def column_label(series: Series, page_year: int | None, *, with_year: bool) -> str:
    """A wide table's column (export.wide_records) as a heading: 'requested', 'minors 15–18',
    'decision 2023 minors', an unknown series by its header; `with_year`: the request of the
    page's year as 'request 2017', 'request 2017 minors'."""
    if series.measure == "unknown":
        return series.header
    part = "" if series.part == "total" else " " + FIGURE_LABELS_BY_PART[series.part]
    if series_field(series, page_year) in FIGURE_LABELS:  # the request of the page's year
        if with_year and page_year is not None:
            return f"request {page_year}{part}"
        return FIGURE_LABELS_BY_PART[series.part]
    measure = series.measure if series.year is None else f"{series.measure} {series.year}"
    return measure + part


def render_history(
    municipality: Any, found: Sequence[tuple[Any, Sequence[Figure]]], *, color: bool = False
) -> str:
    """One municipality across revisions, oldest first: a column per series; a figure that
    moved is marked with its delta, a blank stays blank. A revision in which none of this
    municipality's figures moved (another's did) is left out and counted under the table."""
    numbers = "/".join(municipality.numbers)
    where = f"{numbers}, {municipality.county or 'no county'}" if numbers else "county"
    lines: list[Block] = [[(f"{municipality.name} ({where})", "heading")]]
    seen: dict[tuple[str, int | None, str], Series] = {}
    for _, figures in found:
        for figure in figures:
            seen.setdefault(figure.series.key, figure.series)
    columns = list(seen.values())
    table: list[list[Line]] = [
        [_heading("revision"), _heading("first seen"), _heading("updated")]
        + [_heading(_series_heading(c)) for c in columns]
    ]
    previous: dict[tuple[str, int | None, str], int | None] | None = None
    same = 0
    for revision, figures in found:
        values = {f.series.key: f.value for f in figures}
        if values == previous:
            same += 1
            continue
        cells: list[Line] = [
            [(str(revision.id), None)],
            [(revision.first_seen[:10], None)],
            [(format_date(revision.updated), None)],
        ]
        for column in columns:
            value = values.get(column.key)
            cell = _cell(value)
            if previous is not None and column.key in previous and previous[column.key] != value:
                before = previous[column.key]
                delta = value - before if value is not None and before is not None else None
                cell = [
                    *cell,
                    (f" ({format_delta(delta)})" if delta is not None else " (*)", "added"),
                ]
            cells.append(cell)
        table.append(cells)
        previous = values
    lines.append(Grid(table, "lll" + "r" * len(columns)))
    if same:
        lines.append(
            [(f"{_plural(same, 'more revision', 'more revisions')} without a change here", None)]
        )
    return _render_blocks(lines, color=color)


SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 60  # the newest values a sparkline in `history` shows; older ones become "…"


def render_sparkline(values: Sequence[int | None]) -> str:
    """One block per value, from the smallest (▁) to the largest (█); a blank is a gap (a
    space), never the lowest block. Equal values sit in the middle (▄)."""
    known = [value for value in values if value is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    top = len(SPARK_BLOCKS) - 1
    blocks = []
    for value in values:
        if value is None:
            blocks.append(" ")
        elif high == low:
            blocks.append(SPARK_BLOCKS[top // 2])
        else:
            blocks.append(SPARK_BLOCKS[round((value - low) * top / (high - low))])
    return "".join(blocks)


def render_history_sparkline(found: Sequence[tuple[Any, Sequence[Figure]]]) -> str:
    """The request of `history`'s revisions as a sparkline, oldest first:
    'requested ▁█ 182 → 192'."""
    values: list[int | None] = [
        next(
            (f.value for f in figures if (f.series.measure, f.series.part) == ("request", "total")),
            None,
        )
        for _, figures in found
    ]
    shown = render_sparkline(values[-SPARK_WIDTH:])
    if len(values) > SPARK_WIDTH:
        shown = "…" + shown
    known = [value for value in values if value is not None]
    if not known:
        ends = BLANK
    elif len(known) == 1:
        ends = format_number(known[0])
    else:
        ends = f"{format_number(known[0])} → {format_number(known[-1])}"
    return f"{FIGURE_LABELS['requested']} {shown}  {ends}\n"


def _series_heading(series: Series) -> str:
    if series.measure == "request" and series.part in FIGURE_LABELS_BY_PART:
        return f"{FIGURE_LABELS_BY_PART[series.part]} {series.year or ''}".strip()
    return series.label()


def render_log(fetches: Sequence[Any], revisions: Sequence[Any], *, color: bool = False) -> str:
    """Fetches and revisions, newest first."""
    lines: list[Block] = [[(f"Fetches (newest {len(fetches)})", "heading")]]
    table: list[list[Line]] = [
        [
            [(h, "heading")]
            for h in ("fetched at", "outcome", "HTTP", "tries", "bytes", "ms", "rev", "error")
        ]
    ]
    for fetch in fetches:
        table.append(
            [
                [(fetch.fetched_at, None)],
                [(str(fetch.outcome), "warning" if fetch.outcome == "error" else None)],
                [(str(fetch.status or ""), None)],
                [(str(fetch.attempts or ""), None)],
                [(format_number(fetch.bytes), None)],
                [(str(fetch.elapsed_ms if fetch.elapsed_ms is not None else ""), None)],
                [(str(fetch.revision_id or ""), None)],
                [(fetch.error or "", None)],
            ]
        )
    lines.append(Grid(table, "llrrrrrl", indent=2))
    lines += [[], [(f"Revisions (newest {len(revisions)})", "heading")]]
    table = [
        [
            [(h, "heading")]
            for h in ("rev", "first seen", "last seen", "updated", "rows", "total", "warnings")
        ]
    ]
    for revision in revisions:
        totals = revision.totals.requested if revision.totals else None
        table.append(
            [
                [(str(revision.id), None)],
                [(revision.first_seen, None)],
                [(revision.last_seen, None)],
                [(format_date(revision.updated), None)],
                [(str(revision.row_count), None)],
                _cell(totals),
                [(", ".join(w.code for w in revision.warnings), None)],
            ]
        )
    lines.append(Grid(table, "llllrrl", indent=2))
    return _render_blocks(lines, color=color)


def record_to_dict(record: Any) -> dict[str, Any]:
    """A store record as JSON-ready data: nested records as objects, enums as strings, and a
    type's own `to_dict` where it has one, so a warning is `{"code", "message", …}` everywhere."""
    data = _jsonable(record)
    assert isinstance(data, dict)
    return data


def _jsonable(value: Any) -> Any:
    from dataclasses import fields, is_dataclass
    from enum import Enum

    if value is None or isinstance(value, bool | int | float | str):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return value.value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _jsonable(to_dict())
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    return str(value)


def history_to_dict(
    municipality: Any, found: Sequence[tuple[Any, Sequence[Figure]]]
) -> dict[str, Any]:
    """`history --json`: the municipality once, then its figures in each revision, oldest first
    (the text's order); a revision is named by id and dates, not repeated whole."""
    return {
        "municipality": {
            "name": municipality.name,
            "municipality_number": municipality.numbers[-1] if municipality.numbers else None,
            "numbers": list(municipality.numbers),
            "county": municipality.county,
        },
        "revisions": [
            {
                "revision": revision.id,
                "first_seen": revision.first_seen,
                "updated": revision.updated,
                "municipality": figures[0].area if figures else None,
                "municipality_number": figures[0].number if figures else None,
                "county": figures[0].county if figures else None,
                "figures": [{**f.series.key_dict(), "value": f.value} for f in figures],
            }
            for revision, figures in found
        ],
    }


class ProgressBar:
    """A progress bar on stderr for long runs (backfill); lines are printed above it."""

    def __init__(self, total: int, *, label: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._progress = Progress(
            label, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self._task = self._progress.add_task(label, total=total)

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def advance(self, line: str | None) -> None:
        if line is not None:
            self._progress.console.print(
                visible(line), markup=False, highlight=False, soft_wrap=True
            )
        self._progress.advance(self._task)

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()
