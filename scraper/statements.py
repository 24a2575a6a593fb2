"""Numbers in running text: every sentence that holds a number becomes a `Statement` (its
template and values), and a sentence that says what a number counts gives a `KeyFigure`. Pure.

Meaning is read from words, not fixed phrasings: the noun after a number says what it counts
(kommunar/kommuner → municipalities; flyktningar, personar, einslege/enslige … → refugees), the
verbs of the sentence say the measure (vedtak/vedtatt → decision; oppmoda/anmodet/ber/bedt →
request; busett/bosatt → settled), "minst"/"om lag"/"inntil" the qualifier. A range is never
read as one figure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from scraper.models import KeyFigure, Section, Statement
from scraper.norsk import (
    MAX_NUMBER_CHARS,
    MINORS_WORDS,
    NUMBER_PATTERN,
    fold,
    measure_of,
    minors_part,
    parse_number,
    split_sentences,
)

_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(rf"(?<![\d\w])(?:{NUMBER_PATTERN})(?![\d\w])")
_YEARISH = re.compile(r"^(?:19|20)\d\d$")
_RANGE_AFTER = re.compile(r"^\s*(?:[–—-]|til|og)\s*\d")
_RANGE_BEFORE = re.compile(r"(?:mellom|fra)\s+$")
_RANGE_END = re.compile(r"\d\s*(?:[-–—]|til|og)\s*$")
_REQUEST = re.compile(
    r"\b(?:oppmod\w*|anmod\w*|ber|bad|ba|bedt|bede|beden|be\s+om|be\s+\w+\s+om|bedne)\b"
)
_FORECAST = re.compile(
    r"\b(?:behov\w*|prognos\w*|anslag\w*|forventa\w*|forventet\w*|venta|ventet|berekna\w*|"
    r"beregne\w*)\b"
)
# A number's noun followed by a restriction counts a share, not the whole.
_RESTRICTED = re.compile(r"^\s*(?:\w+\s+){0,2}?(?:som|der|med|fra)\b")
_SUBSET = re.compile(
    r"\b(?:flere|fleire|faerre|like\s+mange|ikke|ikkje|enna|enno|mindre\s+enn|meir\s+enn|"
    r"mer\s+enn|over|under)\b(?!\s+\d)"
)
_CHANGE_VERB = re.compile(
    r"\b(?:redusert|redusere\w*|okt|auka|auke|endra|endret|nedjuster\w*|oppjuster\w*|"
    r"justert|justere\w*)\b"
)
_REFERS_BACK = re.compile(r"^\s*(?:dette|det|desse|disse|dei|de)\b")
_GENERIC_NOUN = re.compile(r"\b(?:person\w*|plass\w*|bosettingsplass\w*)\b")
_NOUN_TAIL = re.compile(r"[^,;:()\d]{0,30}")
_MUNICIPALITY_NOUN = re.compile(r"^\s*(?:(?:norske|nye|ulike|andre)\s+)?kommun\w*")
_REFUGEE_NOUN = re.compile(
    r"^\s*(?:(?:er|blir|vert|skal\s+vere|skal\s+vaere)\s+)?"
    r"(?:(?:antall|antallet|talet\s+pa|tal\s+pa)\s+)?(?:[a-z]+e\s+){0,2}"
    r"(?:flyktning\w*|person\w*|einsleg\w*|enslig\w*|mindrearig\w*|barn\b|"
    r"bosettingsplass\w*|busetjingsplass\w*|plass(?:ar|er)\b)"
)
_AT_LEAST = re.compile(
    r"\b(?:minst|minimum|over|meir\s+enn|mer\s+enn|fleire\s+enn|flere\s+enn)\s+$"
)
_ABOUT = re.compile(r"\b(?:om\s*lag|omlag|ca\.?|cirka|rundt|omkring|kring|anslagsvis)\s+$")
_AT_MOST = re.compile(
    r"\b(?:inntil|opp\s+til|maks\w*|hogst|hoyst|under|faerre\s+enn|faerre\s+en|mindre\s+enn)\s+$"
)
_YEAR_IN_SENTENCE = re.compile(r"\b(?:i|for|til|gjennom|innan|innen|per)\s+((?:19|20)\d\d)\b")
_NEXT_YEAR = re.compile(r"\bneste\s+ar\b")
_THIS_YEAR = re.compile(r"\b(?:i\s+ar|inneverande\s+ar|dette\s+aret)\b")
_DATE_CONTEXT = re.compile(
    r"\b\d{1,2}\.\s*(?:jan|feb|mar|apr|mai|jun|jul|aug|sep|okt|nov|des)\w*\.?\s+$"
)


def read_statements(sections: Sequence[Section]) -> tuple[Statement, ...]:
    """Every sentence (headings included) that holds a number, as template and values."""
    statements: list[Statement] = []
    for section in sections:
        texts: list[str] = [section.heading] if section.heading else []
        texts += split_sentences(section.paragraphs)
        for sentence in texts:
            if _DIGIT.search(sentence):
                statement = make_statement(section.heading, sentence)
                if statement is not None:
                    statements.append(statement)
    return tuple(statements)


@lru_cache(maxsize=4096)  # pure, and a page's sentences come back check after check
def make_statement(section: str | None, sentence: str) -> Statement | None:
    """'35 499 personer har …' → template '{} personer har …', values (35499,)."""
    values: list[int] = []
    parts: list[str] = []
    last = 0
    for match in _NUMBER.finditer(sentence):
        value = _value(match.group(0))
        if value is None:
            continue
        parts.append(sentence[last : match.start()].replace("{", "{{").replace("}", "}}"))
        parts.append("{}")
        values.append(value)
        last = match.end()
    if not values:
        return None
    parts.append(sentence[last:].replace("{", "{{").replace("}", "}}"))
    return Statement(section, "".join(parts), tuple(values))


def read_key_figures(
    sections: Sequence[Section], *, page_year: int | None, page_date: str | None
) -> tuple[tuple[KeyFigure, ...], list[str]]:
    """Key figures stated anywhere, and the lead's numbers that no key figure explains.

    The lead is the first paragraph before the first heading. Years, dates and list positions
    are not figures. A sentence with no measure word of its own ("Dette er på same nivå som i
    2019 (5 350 flyktningar …)") takes the measure of the sentence before it in its paragraph.
    """
    figures: list[KeyFigure] = []
    unexplained: list[str] = []
    for position, section in enumerate(sections):
        for heading in [section.heading] if section.heading else []:
            figures += _key_figures_cached(heading, page_year, page_date, None)[0]
        for index, paragraph in enumerate(section.paragraphs):
            previous: str | None = None  # the sentence before, for one that refers back to it
            for sentence in split_sentences([paragraph]):
                if _DIGIT.search(sentence):
                    cached, loose = _key_figures_cached(sentence, page_year, page_date, previous)
                    figures += cached
                    if position == 0 and section.heading is None and index == 0:
                        unexplained += loose
                previous = sentence
    return tuple(dict.fromkeys(figures)), unexplained  # each once, in order


@lru_cache(maxsize=4096)  # pure, and a page's sentences come back check after check
def _key_figures_cached(
    sentence: str, page_year: int | None, page_date: str | None, previous: str | None
) -> tuple[tuple[KeyFigure, ...], tuple[str, ...]]:
    found, loose = key_figures_in(
        sentence, page_year=page_year, page_date=page_date, previous=previous
    )
    return tuple(found), tuple(loose)


def key_figures_in(
    sentence: str,
    *,
    page_year: int | None,
    page_date: str | None,
    previous: str | None = None,
) -> tuple[list[KeyFigure], list[str]]:
    """The key figures one sentence states, and its numbers (as printed) that say nothing known.

    A number counts what the noun after it names; a subset ("… kommuner har vedtatt færre
    plasser enn …", "… som har kollektiv beskyttelse", "… har ennå ikke fatta vedtak") is not a
    key figure of its own, only a statement."""
    if not _DIGIT.search(sentence):
        return [], []
    folded = fold(sentence)
    measure = _sentence_measure(folded)
    if measure is None and previous and _REFERS_BACK.match(folded):
        measure = _sentence_measure(fold(previous))  # "Dette er …": the sentence before's

    year = _sentence_year(folded, page_year=page_year, page_date=page_date)
    minors_sentence = bool(MINORS_WORDS.search(folded))
    subset = bool(_SUBSET.search(folded))
    changes = bool(_CHANGE_VERB.search(folded))
    found: list[KeyFigure] = []
    loose: list[str] = []
    pending_municipalities: list[tuple[int, str | None]] = []
    plain_refugees = False
    numbers = [
        (match, value)
        for match in _NUMBER.finditer(folded)
        if (value := _value(match.group(0))) is not None
    ]
    for index, (match, value) in enumerate(numbers):
        printed = match.group(0)
        before, after = folded[: match.start()], folded[match.end() :]
        if _not_a_figure(printed, before, after):
            continue
        ranged = (
            _RANGE_AFTER.match(after) or _RANGE_BEFORE.search(before) or _RANGE_END.search(before)
        )
        if ranged and not changes:
            continue  # a range: never one exact figure
        qualifier = _qualifier(before)
        if changes and _RANGE_AFTER.match(after) and index + 1 < len(numbers):
            # "frå 110 til 72 personar": X is of Y's noun
            after = folded[numbers[index + 1][0].end() :]
        if municipalities := _MUNICIPALITY_NOUN.match(after):
            if not (subset or _RESTRICTED.match(after[municipalities.end() :])):
                pending_municipalities.append((value, qualifier))
            continue
        noun = _REFUGEE_NOUN.match(after)
        if noun and measure is not None:
            rest = after[noun.end() :]
            if subset or _RESTRICTED.match(rest):
                continue  # a share of something: a statement, not a key figure
            tail = _NOUN_TAIL.match(rest)
            phrase = noun.group(0) + (tail.group(0) if tail else "")
            part = minors_part(phrase, minors_named=False)
            if part == "total" and minors_sentence and _GENERIC_NOUN.search(noun.group(0)):
                part = "minors"  # "einslege mindreårige … frå 110 til 72 personar"
            if part == "total":
                plain_refugees = True
            found.append(KeyFigure(measure, "refugees", part, year, value, qualifier))
            continue
        loose.append(printed)
    for value, qualifier in pending_municipalities:
        if measure is None:
            loose.append(str(value))
            continue
        part = "minors" if minors_sentence and not plain_refugees else "total"
        found.append(KeyFigure(measure, "municipalities", part, year, value, qualifier))
    return found, loose


def _value(printed: str) -> int | None:
    """A number as written, or None for one too long to be a count (int() refuses 4 300+
    digits; the parser warns `number-too-large` for any above its limit)."""
    if len(printed) > MAX_NUMBER_CHARS:
        return None
    return parse_number(printed)


def _sentence_measure(folded: str) -> str | None:
    return measure_of(folded, request_words=_REQUEST, forecast_words=_FORECAST)


def _sentence_year(folded: str, *, page_year: int | None, page_date: str | None) -> int | None:
    match = _YEAR_IN_SENTENCE.search(folded)
    if match:
        return int(match.group(1))
    today = date.fromisoformat(page_date).year if page_date else None
    if today is not None and _NEXT_YEAR.search(folded):
        return today + 1
    if today is not None and _THIS_YEAR.search(folded):
        return today
    return page_year


def _not_a_figure(printed: str, before: str, after: str) -> bool:
    """Years, dates, percentages, ages and ordinals are not counts of people or municipalities."""
    if _YEARISH.match(printed):
        return True
    if after.startswith((".", ":")) and re.match(r"^[.:]\s*(?:\d|[a-z]+\s+\d{4})", after):
        return True  # "12.11.2021", "12. november 2021"
    if re.match(r"^\s*(?:prosent|%|ar\b|timar|timer|dagar|dager|veker|uker|mnd)", after):
        return True
    return bool(_DATE_CONTEXT.search(before))


def _qualifier(before: str) -> str | None:
    if _AT_LEAST.search(before):
        return "at-least"
    if _ABOUT.search(before):
        return "about"
    if _AT_MOST.search(before):
        return "at-most"
    return None
