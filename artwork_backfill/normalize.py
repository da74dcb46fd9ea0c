"""Pure text folding for WXYC catalog text and Discogs text.

Every comparison of names in the tool goes through this module (one normaliser, one place).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACE_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def clean_whitespace(text: str | None) -> str:
    """Drop control characters, collapse runs of whitespace, trim. None becomes ''."""
    if not text:
        return ""
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
