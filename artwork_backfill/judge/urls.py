"""Whether a cover URL may be written to `library.artwork_url`: `validate_artwork_url` (https,
a Discogs image host, 512 characters, no placeholder, no artist photo or label logo, a real
release), the cached `check_url` the scorer uses, and `cover_problems` for a match-table row."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from artwork_backfill.judge import discogs_image

MAX_URL_LENGTH = 512  # library.artwork_url is varchar(512)
DISCOGS_IMAGE_HOSTS = frozenset({"i.discogs.com", "img.discogs.com", "s.discogs.com"})
# Codes that mean "there is no cover here" (NO_MATCH) rather than "a cover fails" (REJECT).
NO_COVER_CODES = frozenset({"no_artwork_url", "spacer_gif", "placeholder_image"})

# A well-formed URL as written to the catalog: RFC 3986's unreserved characters, its
# delimiters but the single quote (legacy img.discogs.com paths carry `filters:format(jpeg)`),
# and `%` escapes. Everything else (spaces, controls,
# quotes, `<`, `>`, backslashes, backticks, braces, non-ASCII, a bare `%`) must be
# percent-encoded in a URL; an answer carrying one is refused, never repaired: a consumer that
# puts the value in HTML or SQL without escaping it must not get markup from us.
_WELL_FORMED_URL_RE = re.compile(r"^(?:[A-Za-z0-9\-._~/:?#@!$&()*+,;=]|%[0-9A-Fa-f]{2})*$")
# scheme, authority, path (urllib.parse.urlsplit is several times slower, and the scorer
# checks every candidate of every key)
_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)")


def _split_url(url: str) -> tuple[str, str, str]:
    """(lower-case scheme, lower-case host, path); '' if absent.

    A host with userinfo or a port other than 443 is returned whole, so it never equals a
    Discogs image host: no Discogs cover URL carries either.
    """
    m = _URL_RE.match(url)
    if m is None:
        return "", "", ""
    netloc = m.group(2).lower()
    host, _, port = netloc.partition(":")
    if "@" in netloc or port not in ("", "443"):
        host = netloc
    return m.group(1).lower(), host, m.group(3)


def validate_artwork_url(
    url: str | None,
    *,
    release_id: int | None,
    release_url: str | None,
    artist_image_url: str | None,
) -> tuple[str, ...]:
    """Reason codes why `url` must not be written to `library.artwork_url`; empty = valid.

    Checks: present; https; a Discogs image host; at most 512 characters; only characters
    a URL may carry unencoded (no space, control, quote, `<`, `>`, bare `%`...);
    not `spacer.gif` or a default placeholder; not LML's synthetic streaming-only sentinel
    (`release_id` 0 or `release_url` ""); not the artist's photo (equal to
    `artist_image_url`, or a Discogs `A-` artist image) and not a label logo (`L-`).
    """
    return check_url(url, as_int(release_id), release_url, artist_image_url).reasons


@dataclass(frozen=True, slots=True)
class UrlCheck:
    reasons: tuple[str, ...]  # why the URL must not be written (validate_artwork_url)
    other_release: bool  # the image file is another Discogs release's than the one matched
    size: int | None  # the served image's smaller side, when the URL says


@lru_cache(maxsize=1 << 17)
def check_url(
    url: str | None, release_id: int | None, release_url: str | None, artist_image_url: str | None
) -> UrlCheck:
    reasons: list[str] = []
    other_release = False
    size = None
    if not isinstance(url, str) or not url:
        reasons.append("no_artwork_url")
    else:
        if (not_cover := discogs_image.not_a_cover(url)) in ("spacer_gif", "placeholder_image"):
            reasons.append(not_cover)
        if not _WELL_FORMED_URL_RE.match(url):
            scheme, host = "", ""
            reasons.append("url_malformed")
        else:
            scheme, host, _ = _split_url(url)
        if scheme != "https":
            reasons.append("url_not_https")
        if host not in DISCOGS_IMAGE_HOSTS:
            reasons.append("url_host")
        if len(url) > MAX_URL_LENGTH:
            reasons.append("url_too_long")
        if (artist_image_url and url == artist_image_url) or not_cover == "artist_photo":
            reasons.append("artist_photo")
        elif not_cover == "label_image":
            reasons.append("label_image")
        image = discogs_image.decode(url)
        if image is not None:
            other_release = image.kind == "R" and image.entity_id != release_id
            size = image.size
    if release_id is None or release_id <= 0 or not release_url:
        reasons.append("synthetic_release")
    return UrlCheck(tuple(reasons), other_release, size)


_INT64_MAX = 2**63 - 1


def as_int(value: object) -> int | None:
    """An id from an answer as an int, or None: booleans, fractions, text that is no integer
    and integers outside 64 bits (no Discogs or catalog id is; the match table's columns are
    64-bit) are no id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() and abs(value) <= _INT64_MAX else None
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        # at most 19 digits: a longer text is out of range (and int() of a few thousand digits raises)
        value = int(text) if digits.isdigit() and len(digits) <= 19 else None
    if isinstance(value, int) and -_INT64_MAX <= value <= _INT64_MAX:
        return value
    return None


# Reason codes that make a cover unwritable whatever a reviewer says: the image is not this
# release's cover. A reviewer may overrule the scorer's judgement of titles and rows, never these.
UNWRITABLE_CODES = frozenset({"artist_photo", "label_image", "synthetic_release"})


def cover_problems(url: str | None, release_id: int | None, reasons: str | None) -> list[str]:
    """Why a match-table row's cover must not be written (empty list: writable).

    The match table keeps the matched release id, not LML's release URL, so the release URL is
    taken as Discogs' page of that id: a missing or 0 id (LML's synthetic streaming-only
    result) is refused. `reasons` is the verdict's `;`-joined codes.
    """
    if not url:
        return ["no_artwork_url"]
    release_url = f"https://www.discogs.com/release/{release_id}" if release_id else None
    problems = list(
        validate_artwork_url(
            url, release_id=release_id, release_url=release_url, artist_image_url=None
        )
    )
    codes = {r.partition(":")[0] for r in (reasons or "").split(";") if r}
    problems.extend(sorted((codes & UNWRITABLE_CODES) - set(problems)))
    return problems
