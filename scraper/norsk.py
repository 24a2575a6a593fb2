"""Norwegian as IMDi writes it: Nynorsk/Bokmål vocabulary, dates ("12. november 2021"), numbers ("5 500")."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date
from functools import lru_cache

MONTHS: dict[str, int] = {
    "januar": 1, "februar": 2, "mars": 3, "april": 4, "mai": 5, "juni": 6,
    "juli": 7, "august": 8, "september": 9, "oktober": 10, "november": 11, "desember": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "sept": 9, "okt": 10, "nov": 11, "des": 12,
}  # fmt: skip

# Words that only one written standard uses; counted to decide the page's language.
NYNORSK_WORDS = frozenset(
    [
        "kommunar",
        "flyktningar",
        "einslege",
        "oppmoding",
        "oppmodinga",
        "oppmoda",
        "oppmodingstal",
        "endelege",
        "tal",
        "desse",
        "ikkje",
        "eit",
        "ein",
        "vert",
        "kva",
        "korleis",
        "kvar",
        "dei",
        "òg",
        "meir",
        "berre",
        "talet",
        "busetjing",
        "frå",
        "åra",
        "sjå",
    ]
)
BOKMAL_WORDS = frozenset(
    [
        "kommuner",
        "flyktninger",
        "enslige",
        "anmodning",
        "anmodningen",
        "anmodet",
        "endelig",
        "tall",
        "disse",
        "ikke",
        "et",
        "en",
        "blir",
        "hva",
        "hvordan",
        "hver",
        "de",
        "også",
        "mer",
        "bare",
        "tallet",
        "bosetting",
        "fra",
        "årene",
        "se",
    ]
)

_SPACES = re.compile(r"[\s\u00a0\u2007\u202f\u200b\u2028\u2029\ufeff]+")
# A number as IMDi prints it: "5 500", "5\u00a0500", "5.500", "5500", "-3".
NUMBER_PATTERN = r"\d{1,3}(?:[ \u00a0\u202f.]\d{3})+(?!\d)|\d+"
# The same, signed, as a whole text: use it with fullmatch().
WHOLE_NUMBER = re.compile(rf"[−-]?(?:{NUMBER_PATTERN})")
# A number printed longer than this is no count (int() refuses 4 300+ digits): read as no figure.
MAX_NUMBER_CHARS = 40
_GROUPING = re.compile(r"[ \u00a0\u202f.]")

_DATE_WORDS = re.compile(
    r"(\d{1,2})\.?\s*(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?\s+(\d{4})",
    re.IGNORECASE,
)
_DATE_NUMERIC = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})(?!\d)")
_DATE_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def normalize_space(text: str) -> str:
    """Collapse every kind of white space (NBSP, line separators…) to one space, and strip."""
    if "\u200b" in text or "\ufeff" in text:  # zero-width: not white space to str.split()
        return _SPACES.sub(" ", text).strip()
    return " ".join(text.split())  # str.split() splits on every other kind: in C


def parse_number(text: str | None) -> int | None:
    """'5 500' → 5500; a blank cell → None; '0' → 0. Raises ValueError for non-numbers."""
    if not text:
        return None
    if text.isdigit():  # the common case, kept fast: the seed page has 1 400 cells
        return int(text)
    cleaned = normalize_space(text)
    if not cleaned or cleaned in ("-", "–", "—"):
        return None
    if not WHOLE_NUMBER.fullmatch(cleaned):
        raise ValueError(f"not a number: {text!r}")
    negative = cleaned[0] in "−-"
    value = int(_GROUPING.sub("", cleaned.lstrip("−-")))
    return -value if negative else value


def find_number(text: str) -> int | None:
    """The first number written in `text`, else None."""
    match = re.search(NUMBER_PATTERN, text)
    return parse_number(match.group(0)) if match else None


def parse_date(text: str) -> str | None:
    """First date in `text` as ISO YYYY-MM-DD: '12. november 2021', '12.11.2021', '2021-11-12'."""
    for pattern, order in ((_DATE_ISO, "ymd"), (_DATE_WORDS, "dmy"), (_DATE_NUMERIC, "dmy")):
        match = pattern.search(text)
        if not match:
            continue
        parts = dict(zip(order, match.groups(), strict=True))
        month = parts["m"]
        month_no = int(month) if month.isdigit() else MONTHS[month.lower()]
        year = int(parts["y"])
        if year < 100:
            year += 2000
        try:
            return date(year, month_no, int(parts["d"])).isoformat()
        except ValueError:
            continue
    return None


def format_number(value: int | None) -> str:
    """5500 → '5 500' (with a normal space), None → '' — the way IMDi prints figures."""
    if value is None:
        return ""
    return f"{value:,}".replace(",", " ")


def format_date(iso: str | None) -> str:
    """'2021-11-12' → '12.11.2021'."""
    if not iso:
        return "–"
    year, month, day = iso.split("-")
    return f"{day}.{month}.{year}"


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """A key for matching names case- and accent-insensitively: 'Ålesund' and 'alesund' agree."""
    text = text.casefold().replace("ø", "o").replace("æ", "ae").replace("đ", "d")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return normalize_space(stripped)


_NOT_LETTER_OR_DIGIT = re.compile(r"[^0-9a-z]+")


def same_name(name: str | None, wanted: str) -> bool:
    """Whether `name` is `wanted`, case- and accent-blind ("vestland" is Vestland): how a
    `--county` option picks its rows."""
    return name is not None and fold(name) == fold(wanted)


def fold_loosely(text: str) -> str:
    """A key for names as people type them: 'Aalesund' = 'Ålesund', 'aurskog holand' = 'Aurskog-Høland'.

    On top of `fold`: 'aa' (written for å) and 'oe' (for ø) collapse to one letter, ŋ is n
    ('Porsáŋgu' = 'Porsángu'), and spaces, hyphens, dashes, dots and brackets are dropped.
    Both sides of a comparison go through it, so a name's own 'aa' (Snåase) still matches itself.
    """
    key = fold(text).replace("ŋ", "n").replace("ŧ", "t")
    key = _NOT_LETTER_OR_DIGIT.sub("", key)
    return key.replace("aa", "a").replace("oe", "o")


# The letters of Norwegian and Sámi words, accented ones too ("òg", "idé"), of casefolded text
# (one character class: twice as fast as a category test).
_WORD = re.compile("[a-zæøåàáâäãçèéêëìíîïñòóôöõùúûüýčđŋšŧž]+")


def detect_language(text: str, *, declared: str | None = None) -> str | None:
    """'nn' or 'nb' by which standard's own words the text uses; the html lang only breaks ties."""
    words = _WORD.findall(text.casefold())
    # The two word lists share no word: each word counts for one standard at most.
    nynorsk = sum(map(NYNORSK_WORDS.__contains__, words))
    bokmal = sum(map(BOKMAL_WORDS.__contains__, words))
    if nynorsk > bokmal:
        return "nn"
    if bokmal > nynorsk:
        return "nb"
    if declared:
        lang = declared.lower()
        if lang.startswith("nn"):
            return "nn"
        if lang.startswith(("nb", "no")):
            return "nb"
    return None


# A sentence ends at . ! ? before a capital, digit, quote or bullet: "innan 19. november" is one.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"«(•A-ZÆØÅ0-9])")


def split_sentences(paragraphs: Iterable[str]) -> list[str]:
    """The sentences of a section's paragraphs and list items, in reading order."""
    sentences: list[str] = []
    for paragraph in paragraphs:
        sentences += _paragraph_sentences(paragraph)
    return sentences


@lru_cache(maxsize=4096)  # pure; statements and key figures both read every paragraph
def _paragraph_sentences(paragraph: str) -> tuple[str, ...]:
    return tuple(s for s in _SENTENCE_END.split(paragraph) if s)


# --- what figures count, in words of either standard (folded: ø → o, å → a, æ → ae) -----------
# Shared by column headers (columns.py) and sentences (statements.py); each adds its own request
# words (header nouns "Endelege tal", verbs "ber", "bedt").
DECISION_WORDS = re.compile(r"\bvedt(?:ak|att|eke|ok|e)\w*|\bfatta\w*\s+vedtak")
SETTLED_WORDS = re.compile(r"\b(?:busett|bosatt|busatt|bosatte|vart\s+busette)\b")
MINORS_WORDS = re.compile(r"\b(?:einsleg\w*|enslig\w*|mindrearig\w*|em|emf|under\s*18(?:\s+ar)?)\b")
AGE_15_18 = re.compile(r"\b15\s*(?:[-–]|til)\s*18\b")
AGE_UNDER_15 = re.compile(r"(?:<|\bunder)\s*15\b|\b0\s*-\s*1[45]\b")


def measure_of(
    folded: str, *, request_words: re.Pattern[str], forecast_words: re.Pattern[str] | None = None
) -> str | None:
    """What a header or sentence counts, in one order of precedence: a decision before a request
    ("anmodning og vedtak": the decision), a request before a forecast of the need (`unknown`:
    "IMDi ber …" beside "venta"), a forecast before what was settled ("anslaget for kor mange som
    blir busett"). Each caller names its own request words (header nouns, sentence verbs)."""
    if DECISION_WORDS.search(folded):
        return "decision"
    if request_words.search(folded):
        return "request"
    if forecast_words is not None and forecast_words.search(folded):
        return "unknown"
    if SETTLED_WORDS.search(folded):
        return "settled"
    return None


def minors_part(folded: str, *, minors_named: bool) -> str:
    """'total', 'minors', 'minors_15_18' or 'minors_under_15' for folded text. An age band alone
    ("15-18") counts minors only where minors are the subject already (`minors_named`: a table
    column beside a minors column); in a sentence the minors must be named."""
    named = minors_named or bool(MINORS_WORDS.search(folded))
    if not named:
        return "total"
    if AGE_15_18.search(folded):
        return "minors_15_18"
    if AGE_UNDER_15.search(folded):
        return "minors_under_15"
    return "minors" if MINORS_WORDS.search(folded) else "total"
