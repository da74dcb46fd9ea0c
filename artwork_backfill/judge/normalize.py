"""Pure text folding for WXYC catalog text and Discogs text.

Every comparison of names in the tool goes through this module (one normaliser, one place).

Two kinds of folding live here:

* the *grouping* fold (`grouping_text`, `grouping_key`): deliberately conservative, it only
  decides which library rows share one LML question;
* the *matching* fold (`repair_mojibake`, `fold`, `parse_title`, `parse_artist`): aggressive,
  it decides whether a Discogs spelling names the same thing as a shelf spelling. It repairs
  mojibake, folds Unicode, reconciles `&`/`and`, "The" placement, Discogs' `(2)` suffixes and
  WXYC's V/A credits, strips format notes (`12"`, `LP`), separates bracketed edition notes and
  extracts numbers and roman numerals so the scorer can refuse `Vol. 1` for `Vol. 2`.

The matching functions are cached: the scorer calls them for every row and every candidate.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import ftfy
from anyascii import anyascii

_SPACE_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# Big enough for a whole catalogue pass (64K rows + their Discogs spellings) without eviction,
# small enough that a 1M-answer benchmark cannot grow memory without bound.
_CACHE_SIZE = 1 << 17


def clean_whitespace(text: str | None) -> str:
    """Drop control characters, collapse runs of whitespace, trim. None becomes ''."""
    if not text:
        return ""
    if text.isprintable() and "  " not in text and text[0] != " " and text[-1] != " ":
        return text  # the common case, and exactly what the substitutions would return
    return _SPACE_RE.sub(" ", _CONTROL_RE.sub(" ", text)).strip()


def grouping_text(text: str | None) -> str:
    """The conservative fold used to group library rows into lookup keys.

    Two rows share a key only when their text is the same after whitespace cleaning,
    Unicode NFKC and case folding: the CD and the LP of one album, or a stray double space.
    It deliberately keeps punctuation and words, so two different albums never merge.
    """
    return unicodedata.normalize("NFKC", clean_whitespace(text)).casefold()


def grouping_key(artist: str | None, album: str | None) -> str:
    """A stable id for the (artist, album) key: a short hash of the folded pair."""
    folded = f"{grouping_text(artist)}\x1f{grouping_text(album)}"
    return hashlib.sha1(folded.encode("utf-8")).hexdigest()[:20]


# --------------------------------------------------------------------------------------------
# Mojibake repair
# --------------------------------------------------------------------------------------------

# MacRoman's upper half, character -> byte. WXYC's non-ASCII rows are UTF-8 bytes that were
# read back as MacRoman ("S√°lvese" for "Sálvese"); ftfy does not know this pairing.
_MAC_ROMAN_BYTE = {
    ch: byte for byte, ch in enumerate(bytes(range(0x80, 0x100)).decode("mac_roman"), start=0x80)
}
_MAC_ROMAN_LEADS = frozenset(ch for ch, b in _MAC_ROMAN_BYTE.items() if 0xC2 <= b <= 0xF4)
_IMPLAUSIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})


def _repair_mac_roman(text: str) -> str:
    """Re-read every run that is a valid UTF-8 sequence when encoded as MacRoman.

    Each candidate run starts with a MacRoman character whose byte is a UTF-8 lead byte
    (`√` = 0xC3, `¬` = 0xC2, `‚` = 0xE2 ...) and continues with the right number of
    continuation bytes. A run is replaced only when it decodes to a single plausible
    character (not a control, private-use or lone combining mark); anything else is kept as
    written, so genuine text such as "Motörhead" or "√2" is left alone.
    """
    if not any(ch in _MAC_ROMAN_LEADS for ch in text):
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        lead = _MAC_ROMAN_BYTE.get(text[i])
        if lead is not None and 0xC2 <= lead <= 0xF4:
            need = 1 if lead < 0xE0 else 2 if lead < 0xF0 else 3
            seq = [lead]
            for j in range(i + 1, min(i + 1 + need, n)):
                cont = _MAC_ROMAN_BYTE.get(text[j])
                if cont is None or not 0x80 <= cont <= 0xBF:
                    break
                seq.append(cont)
            if len(seq) == need + 1:
                try:
                    decoded = bytes(seq).decode("utf-8")
                except UnicodeDecodeError:
                    decoded = ""
                if (
                    len(decoded) == 1
                    and unicodedata.category(decoded) not in _IMPLAUSIBLE_CATEGORIES
                ):
                    out.append(decoded)
                    i += need + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


@lru_cache(maxsize=_CACHE_SIZE)
def repair_mojibake(text: str | None) -> str:
    """Whitespace-clean `text` and undo mojibake and HTML entities; '' for None.

    cp1252/latin-1 mojibake ("BeyoncÃ©") is ftfy's job; MacRoman mojibake of UTF-8
    ("S√°lvese", "¬µ-Ziq") is repaired run by run (ftfy leaves it alone). Text without
    either is returned unchanged apart from whitespace.
    """
    cleaned = clean_whitespace(text)
    if "&" in cleaned and ";" in cleaned:
        cleaned = html.unescape(cleaned)
    if cleaned.isascii():
        return cleaned
    repaired = _repair_mac_roman(ftfy.fix_encoding(cleaned))
    return clean_whitespace(repaired)


def was_repaired(text: str | None) -> bool:
    """True when `repair_mojibake` changed more than whitespace."""
    return repair_mojibake(text) != clean_whitespace(text)


# --------------------------------------------------------------------------------------------
# The matching fold
# --------------------------------------------------------------------------------------------

_AND_RE = re.compile(r"\s*[&+]\s*")
_DROP_APOSTROPHES = str.maketrans("", "", "'`´‘’")
_ACRONYM_RE = re.compile(r"\b(?:[a-z0-9]\.){2,}(?:[a-z0-9]\b)?")
_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=_CACHE_SIZE)
def fold(text: str | None) -> str:
    """Fold text for matching: lowercase ASCII words separated by single spaces.

    Repairs mojibake, applies NFKC and case folding, transliterates (æ→ae, ø→o, ß→ss,
    ł→l, é→e), spells `&` and `+` as "and", drops apostrophes and acronym dots
    ("R.E.M." → "rem") and turns all other punctuation into spaces.
    """
    s = repair_mojibake(text)
    if s.isascii():
        s = s.lower()  # ASCII is NFKC-stable, and casefold is lower there
    else:
        s = unicodedata.normalize("NFKC", s).casefold()
        if not s.isascii():
            s = anyascii(s).lower()
    if "&" in s or "+" in s:
        s = _AND_RE.sub(" and ", s)
    s = s.translate(_DROP_APOSTROPHES)
    if "." in s:
        s = _ACRONYM_RE.sub(lambda m: m.group(0).replace(".", ""), s)
    return _NON_ALNUM_RE.sub(" ", s).strip()


# Words after which a number word or a lone roman numeral counts as a number:
# "Part One" == "Part 1", "Vol. I" == "Vol. 1"; a bare "I" elsewhere stays the pronoun.
_NUMBER_CONTEXT = frozenset(
    {"vol", "volume", "part", "pt", "chapter", "ch", "book", "no", "nr", "number", "episode",
     "disc", "disk", "phase", "act", "op", "opus", "series", "movement", "mvt", "track",
     "tape", "session", "sessions", "suite", "symphony", "concerto", "sonata"}
)  # fmt: skip
_TOKEN_SYNONYMS = {
    "volume": "vol", "pt": "part", "ch": "chapter", "nr": "no", "number": "no", "disk": "disc",
    "opus": "op", "mvt": "movement",
}  # fmt: skip
_NUMBER_WORD_LIST = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)  # fmt: skip
_NUMBER_WORDS = {word: value for value, word in enumerate(_NUMBER_WORD_LIST)}
# Ordinal words count everywhere: "The Second Law" == "The 2nd Law", and "First Psychedelic
# Era" is not "Second Psychedelic Era".
_ORDINAL_WORD_LIST = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
)  # fmt: skip
_ORDINAL_WORDS = {word: value for value, word in enumerate(_ORDINAL_WORD_LIST, start=1)}
_ORDINAL_RE = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
# Roman numerals from 2 to 39 made of i, v and x only. Letters such as c, d, l, m are left
# out on purpose: "mc", "dc", "cd", "mix", "lil" and "mid" are words, not numbers.
_ROMAN_RE = re.compile(r"^x{0,3}(?:ix|iv|v?i{0,3})$")
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10}


def _roman_value(token: str) -> int | None:
    if not token or not _ROMAN_RE.match(token):
        return None
    total = 0
    for ch, nxt in zip(token, [*token[1:], ""], strict=True):
        value = _ROMAN_VALUES[ch]
        total += -value if nxt and _ROMAN_VALUES[nxt] > value else value
    return total


def roman_to_int(token: str, *, in_context: bool = False) -> int | None:
    """The value of a roman-numeral token, or None.

    Multi-letter numerals (ii ... xxxix) always count. The single letters i, v and x count
    only `in_context` (after "vol", "part", "chapter" ...), so "I Am", "Malcolm X" and
    "V for Vendetta" keep their words.
    """
    token = token.lower()
    if len(token) == 1 and not in_context:
        return None
    return _roman_value(token)


_ROMAN_LETTERS = frozenset("ivx")
_DIGITS = frozenset("0123456789")


def _canonical_tokens(folded: str) -> tuple[tuple[str, ...], frozenset[int]]:
    """Canonical tokens of a folded string, and the numbers among them."""
    tokens: list[str] = []
    numbers: set[int] = set()
    previous = ""
    for raw in folded.split():
        token = _TOKEN_SYNONYMS.get(raw, raw)
        in_context = previous in _NUMBER_CONTEXT
        value: int | None = None
        if token.isdigit():
            value = int(token)
        elif token[0] in _DIGITS:
            if (m := _ORDINAL_RE.match(token)) is not None:
                value = int(m.group(1))
        elif in_context and token in _NUMBER_WORDS:
            value = _NUMBER_WORDS[token]
        elif token in _ORDINAL_WORDS:
            value = _ORDINAL_WORDS[token]
        elif _ROMAN_LETTERS.issuperset(token):
            value = roman_to_int(token, in_context=in_context)
        if value is not None:
            token = str(value)
            numbers.add(value)
        tokens.append(token)
        previous = raw
    return tuple(tokens), frozenset(numbers)


@lru_cache(maxsize=_CACHE_SIZE)
def canonical(text: str | None) -> str:
    """`fold` plus canonical tokens: "Volume II" → "vol 2", "Part One" → "part 1"."""
    return " ".join(_canonical_tokens(fold(text))[0])


@lru_cache(maxsize=_CACHE_SIZE)
def numbers_in(text: str | None) -> frozenset[int]:
    """Every number in `text`: digits, ordinals, roman numerals (see `roman_to_int`), and
    number words after a context word."""
    return _canonical_tokens(fold(text))[1]


# --------------------------------------------------------------------------------------------
# Titles
# --------------------------------------------------------------------------------------------

# A format written into a title: 12", 7", 10", 12 inch, 7-inch (with an optional trailing
# "single"/"vinyl"), anywhere in the title, bracketed or not.
_INCH_RE = re.compile(
    r"[(\[]?\s*\b(?:7|10|12)\s*(?:\"|”|″|''|-?\s*inch(?:es)?\b)"
    r"(?:\s*(?:single|vinyl|record))?\s*[)\]]?",
    re.IGNORECASE,
)
# A trailing physical format word: "Foo LP", "Bar 2xCD", "Baz CD-R".
_TRAILING_FORMAT_RE = re.compile(
    r"\s+[-–—]?\s*(?:\d\s*x\s*)?(?:lp|cd|cds|cdr|cd-r|cd5|cdep|cassette)\.?\s*$",
    re.IGNORECASE,
)
# A trailing "EP" is kept as a (soft) edition note: "Foo EP" and "Foo" are usually the same
# record, but not always, so the scorer weighs the difference.
_TRAILING_EP_RE = re.compile(r"\s+[-–—]?\s*(ep)\.?\s*$", re.IGNORECASE)
_INCH_HINT_RE = re.compile(r"[\"”″]|''|inch")
_FORMAT_ENDINGS = ("lp", "cd", "cds", "cdr", "cd-r", "cd5", "cdep", "ette")
_DASH_HINT_RE = re.compile(r"\s[-–—]|[-–—]\s")


def _has_bracket(text: str) -> bool:
    return "(" in text or "[" in text or "{" in text


_BRACKET_RE = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]|\{([^{}]*)\}")
_TRANSLATION_RE = re.compile(r"\s+=\s+(.+)$")
_DASH_NOTE_RE = re.compile(r"\s+[-–—]\s+([^-–—]+)$")
_THE_SUFFIX_RE = re.compile(r"^(.*\S)\s*,\s*the$", re.IGNORECASE)
_SELF_TITLED_RE = re.compile(r"^\W*(?:s\s*[/.\\]\s*t\.?|self[\s-]*titled)\W*$", re.IGNORECASE)

_FORMAT_TOKENS = frozenset(
    {"lp", "lps", "cd", "cds", "cdr", "cassette", "mc", "vinyl", "album", "x", "2xlp", "2xcd",
     "3xlp", "3xcd", "inch", "7", "10", "12", "2", "3", "4", "digital", "file",
     "files", "flac", "mp3"}
)  # fmt: skip
# Words of a note that only describes an edition of the same record. Words that name another
# product are deliberately absent: a box set, a single, a remix, a live record, a soundtrack
# (vs the score), a regional issue (a Japanese edition often has its own cover).
_EDITION_TOKENS = frozenset(
    {"deluxe", "edition", "editions", "ed", "remaster", "remastered", "remasters", "reissue",
     "reissued", "repress", "expanded", "anniversary", "bonus", "version", "mono", "stereo",
     "debut", "promo", "limited", "special", "collector", "collectors", "vinyl", "cd",
     "lp", "ep", "disc", "digipak", "digipack", "gatefold", "180g", "180", "gram",
     "press", "pressing", "issue", "mastered", "restored", "reedition", "explicit", "legacy",
     "definitive", "track", "tracks", "bonustrack", "bonustracks", "reissues", "remastering",
     "rem"}
)  # fmt: skip
# A shelf note that is about the physical copy, not the record ("[delete]", "[dupe]",
# "[missing sleeve]"): WXYC's librarians' notes, dropped before comparing.
_LIBRARIAN_TOKENS = frozenset(
    {"delete", "deleted", "del", "dupe", "duplicate", "copy", "missing", "damaged", "scratched",
     "warped", "skips", "sleeve", "jacket", "insert", "booklet", "needs", "replace",
     "replacement", "cracked", "broken", "case", "no", "reshelve", "staff", "pick", "return",
     "dj"}
)  # fmt: skip
_YEAR_RE = re.compile(r"^(?:1[89]|20)\d\d$")
_NOTE_FILLER = frozenset({"and", "the", "of", "a", "with", "w", "in", "on", "new", "from"})


def _is_format_note(folded: str) -> bool:
    """A bracket that only names a format ("2xLP", "CD, Album", '12"'). Small numbers are
    disc counts and sizes; a year makes it an annotation ("[1995 LP]")."""
    tokens = folded.replace("x", " x ").split()
    return (
        bool(tokens)
        and all(t in _FORMAT_TOKENS or (t.isdigit() and int(t) <= 20) for t in tokens)
        # a bare number ("Peter Gabriel (3)") numbers a record; it is no format
        and not all(t.isdigit() for t in tokens)
    )


def _is_librarian_note(folded: str) -> bool:
    """A note about the shelf copy ("delete", "missing sleeve", "dj copy"), not the record."""
    tokens = [t for t in folded.split() if t not in _NOTE_FILLER]
    return bool(tokens) and all(t in _LIBRARIAN_TOKENS for t in tokens)


def _is_edition_note(folded: str) -> bool:
    """A note that only describes an edition of the same record: every word is an edition
    word, a year or an ordinal ("25th Anniversary Edition", "2011 Remaster", "1970 debut").

    One other word makes it a note that may name another record: "(Live Version)",
    "(Green Album)", "(Instrumentals)" are held for a person.
    """
    tokens = [t for t in folded.split() if t not in _NOTE_FILLER]
    counted = "anniversary" in tokens  # "40th Anniversary": the number counts years
    return all(
        t in _EDITION_TOKENS
        or _YEAR_RE.match(t)
        or _ORDINAL_RE.match(t)
        or (counted and t.isdigit())
        for t in tokens
    )


@dataclass(frozen=True, slots=True)
class Title:
    """A title split into what identifies the album and what annotates it.

    `core` and `full` are canonical folded strings (see `canonical`); `full` keeps the
    bracketed notes, `core` drops them. Format notes (`12"`, `LP`, `(2xCD)`) are dropped from
    both. `numbers` come from the core, `note_numbers` from notes that are not edition notes
    (`(Switched On Volume 2)` counts, `(2011 Remaster)` does not), `note_years` are the years
    (1800-2099) in any note (`[1970 debut]`).
    """

    text: str
    core: str
    full: str
    notes: tuple[str, ...]
    edition_notes: tuple[str, ...]
    numbers: frozenset[int]
    note_numbers: frozenset[int]
    note_years: frozenset[int]
    format_notes: tuple[str, ...]
    self_titled: bool
    repaired: bool


@lru_cache(maxsize=_CACHE_SIZE)
def parse_title(text: str | None) -> Title:
    """Split an album title into core words, notes, format notes and numbers."""
    repaired = repair_mojibake(text)
    work = repaired
    lowered = work.lower()
    if lowered.endswith("the") and (m := _THE_SUFFIX_RE.match(work)) is not None:
        work = f"The {m.group(1)}"

    format_notes: list[str] = []

    def take_format(match: re.Match[str]) -> str:
        format_notes.append(fold(match.group(0)))
        return " "

    if _INCH_HINT_RE.search(lowered):
        work = _INCH_RE.sub(take_format, work).strip()
    last_word = work.rsplit(None, 1)[-1].lower() if work else ""
    if (
        last_word.rstrip(".")[-5:].endswith(_FORMAT_ENDINGS)
        and (m := _TRAILING_FORMAT_RE.search(work)) is not None
        and m.start() > 0
    ):
        format_notes.append(fold(m.group(0)))
        work = work[: m.start()].rstrip()

    raw_notes: list[str] = []
    forced_edition: set[str] = set()  # notes that annotate whatever their words
    if (
        last_word.rstrip(".").endswith("ep")
        and (m := _TRAILING_EP_RE.search(work)) is not None
        and m.start() > 0
    ):
        raw_notes.append("ep")
        work = work[: m.start()].rstrip()
    if " = " in work and (m := _TRANSLATION_RE.search(work)) is not None and m.start() > 0:
        # Discogs' "Title = Translated Title": the same record under a second name.
        raw_notes.append(m.group(1))
        forced_edition.add(canonical(m.group(1)))
        work = work[: m.start()].rstrip()

    def take_bracket(match: re.Match[str]) -> str:
        inner = next(g for g in match.groups() if g is not None)
        folded_inner = fold(inner)
        if folded_inner and (_is_format_note(folded_inner) or _is_librarian_note(folded_inner)):
            format_notes.append(folded_inner)
            return " "
        raw_notes.append(inner)
        return " \x00 "  # a marker: notes stay in place in `full`

    with_markers = _BRACKET_RE.sub(take_bracket, work) if _has_bracket(work) else work
    if (
        _DASH_HINT_RE.search(with_markers)
        and (m := _DASH_NOTE_RE.search(with_markers)) is not None
        and m.start() > 0
    ):
        tail = fold(m.group(1))
        if tail and _is_edition_note(tail):
            raw_notes.append(m.group(1))
            with_markers = with_markers[: m.start()] + " \x00 "

    core_text = with_markers.replace("\x00", " ")
    core_tokens, numbers = _canonical_tokens(fold(core_text))
    if len(core_tokens) > 1 and core_tokens[-1] == "ep" and "ep" not in raw_notes:
        # "Foo EP (Deluxe Edition)": the EP word ends the title proper, not the text.
        core_tokens = core_tokens[:-1]
        raw_notes.insert(0, "ep")
    if not core_tokens and core_text.strip():
        core_tokens = (_symbols_only(core_text),)
    notes = tuple(canonical(n) for n in raw_notes if fold(n))
    if not core_tokens and notes:
        # The whole title is a note ("(Untitled)"): the note is the title.
        core_tokens, numbers = _canonical_tokens(" ".join(notes))
        notes = ()
    edition_notes = tuple(n for n in notes if n in forced_edition or _is_edition_note(n))
    note_numbers: set[int] = set()
    for note in notes:
        if note not in edition_notes:
            note_numbers |= _canonical_tokens(note)[1]
    note_years = frozenset(
        int(token) for note in notes for token in note.split() if _YEAR_RE.match(token)
    )
    core = " ".join(core_tokens)
    full = " ".join([core, *notes]).strip()
    return Title(
        text=repaired,
        core=core,
        full=full,
        notes=notes,
        edition_notes=edition_notes,
        numbers=numbers,
        note_numbers=frozenset(note_numbers),
        note_years=note_years,
        format_notes=tuple(format_notes),
        self_titled=bool(_SELF_TITLED_RE.match(repaired)),
        repaired=repaired != clean_whitespace(text),
    )


# --------------------------------------------------------------------------------------------
# Artists
# --------------------------------------------------------------------------------------------

# WXYC's compilation credits ("Various Artists - Rock - R", "Various Artists - Hiphop",
# "various", and soundtracks shelved as "Soundtracks - S") and Discogs' ("Various", "Various
# Artists"). A following word without a separator is a real name ("Various Production",
# "Various Cruelties", "Soundtrack Of Our Lives").
_VARIOUS_RE = re.compile(
    r"^\s*(?:(?:various(?:\s+artists?)?|v\s*/\s*a|v\.a\.?)\s*(?:$|[-–—:/(\[,])"
    r"|soundtracks?\s*[-–—:]\s*\S)",
    re.IGNORECASE,
)
_CREDIT_SPLIT_RE = re.compile(
    r"\s*(?:[&+,/]|\band\b|\bfeat\b\.?|\bfeaturing\b|\bft\b\.?|\bwith\b|\bvs\b\.?)\s*",
    re.IGNORECASE,
)
_DISCOGS_SUFFIX_RE = re.compile(r"\s*\(\d+\)\s*$")
_ANV_STAR_RE = re.compile(r"\s*\*+\s*$")
VARIOUS = "various"


@dataclass(frozen=True, slots=True)
class ArtistName:
    """An artist credit folded for matching.

    `key` is the canonical fold without a leading article or bracketed annotation ("The
    Clean", "Clean, The" and "Clean" share a key); `folded` keeps the article. `variants`
    are every spelling worth comparing: the key, the folded form and each bracketed alias
    (WXYC writes "¬µ-Ziq [mu-Ziq]"). A compilation credit has key `"various"`.
    """

    text: str
    folded: str
    key: str
    variants: tuple[str, ...]
    various: bool
    numbers: frozenset[int]
    discogs_suffix: bool
    repaired: bool


def is_various_artists(text: str | None) -> bool:
    """True for WXYC's and Discogs' compilation credits, not for "Various Production"."""
    return bool(_VARIOUS_RE.match(repair_mojibake(text)))


def _symbols_only(text: str) -> str:
    """A last-resort key for names made only of punctuation ("!!!", "+/-")."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if not ch.isspace())


def _without_article(tokens: tuple[str, ...]) -> str:
    return " ".join(tokens[1:]) if len(tokens) > 1 and tokens[0] == "the" else " ".join(tokens)


@lru_cache(maxsize=_CACHE_SIZE)
def parse_artist(text: str | None) -> ArtistName:
    """Fold an artist credit from either side (WXYC shelf or Discogs)."""
    repaired = repair_mojibake(text)
    repaired_flag = repaired != clean_whitespace(text)
    work = _ANV_STAR_RE.sub("", repaired) if "*" in repaired else repaired
    suffix = False
    if work.endswith(")"):
        stripped = _DISCOGS_SUFFIX_RE.sub("", work)
        suffix = stripped != work
        work = _ANV_STAR_RE.sub("", stripped) if "*" in stripped else stripped
    if work[:1] in ("v", "V", "s", "S") and _VARIOUS_RE.match(work):
        return ArtistName(
            repaired, VARIOUS, VARIOUS, (VARIOUS,), True, frozenset(), suffix, repaired_flag
        )
    if work.lower().endswith("the") and (m := _THE_SUFFIX_RE.match(work)) is not None:
        work = f"The {m.group(1)}"
    aliases: list[str] = []

    def take_alias(match: re.Match[str]) -> str:
        aliases.append(next(g for g in match.groups() if g is not None))
        return " "

    main = (_BRACKET_RE.sub(take_alias, work).strip() or work) if _has_bracket(work) else work
    tokens, numbers = _canonical_tokens(fold(main))
    if not tokens and main:
        tokens = (_symbols_only(main),)
    folded = " ".join(tokens)
    key = _without_article(tokens)
    variants = [key, folded]
    if aliases:
        variants.append(" ".join(_canonical_tokens(fold(work))[0]))
        variants.extend(_without_article(_canonical_tokens(fold(a))[0]) for a in aliases)
    return ArtistName(
        text=repaired,
        folded=folded,
        key=key,
        variants=tuple(v for v in dict.fromkeys(variants) if v),
        various=False,
        numbers=numbers,
        discogs_suffix=suffix,
        repaired=repaired_flag,
    )


@lru_cache(maxsize=_CACHE_SIZE)
def credit_members(text: str | None) -> tuple[str, ...]:
    """The keys of the names in a joint credit ("Anadol & Marie Klock" → "anadol",
    "marie klock"); empty for a single name or a compilation credit."""
    name = parse_artist(text)
    if name.various:
        return ()
    main = _BRACKET_RE.sub(" ", _DISCOGS_SUFFIX_RE.sub("", _ANV_STAR_RE.sub("", name.text)))
    members = tuple(
        dict.fromkeys(
            member
            for part in _CREDIT_SPLIT_RE.split(main)
            if (member := _without_article(_canonical_tokens(fold(part))[0]))
        )
    )
    return members if len(members) > 1 else ()


def cache_clear() -> None:
    """Empty every matching cache (for benchmarks that time a cold pass)."""
    for cached in (
        repair_mojibake, fold, canonical, numbers_in, parse_title, parse_artist, credit_members,
    ):  # fmt: skip
        cached.cache_clear()
