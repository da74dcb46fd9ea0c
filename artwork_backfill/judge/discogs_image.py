"""What a Discogs image URL points at (pure: no I/O).

Discogs names every image file after what it shows: `R-<release id>-...` is a release's own
image, `A-<artist id>-...` an artist's photo, `L-<label id>-...` a label's logo. LML falls
back from a release without a cover to the artist photo, then the label logo, and says
nothing about it in the answer, so the file name is the one reliable signal.

Three URL forms carry the file name:

* current `i.discogs.com` URLs: a signature, the imgproxy options (`rs:fit/g:sm/q:90/h:600/
  w:600`), then the unpadded url-safe base64 of `s3://discogs-database-images/<file>` cut
  into 16-character path segments, the last one followed by `.jpeg`. The segments are
  decoded together, never one alone;
* the same with the whole base64 in one segment (shorter URLs, and some older ones);
* legacy `img.discogs.com` URLs, which carry the path in clear (`.../discogs-images/R-...`).

The imgproxy options (`w:150`, `h:150`) and legacy `fit-in/150x150` say how large the image
is served, which tells a 150 px search thumbnail from a 600 px cover.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from functools import lru_cache

KINDS = {"R": "release image", "A": "artist photo", "L": "label logo"}

# base64 of "s3://discogs" (12 bytes, so exactly 16 characters): the first segment of every
# encoded file name, whichever way it is cut.
_ENCODED_HEAD = "czM6Ly9kaXNjb2dz"
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
_DECODED_RE = re.compile(rb"^s3://[^/]+/(?:[^/]+/)*([RAL])-(\d{1,19})-")
_PLAIN_RE = re.compile(r"(?:^|/)([RAL])-(\d{1,19})-[^/]*$")
_OPTION_RE = re.compile(r"^(w|h|width|height):(\d{1,6})$")
_FIT_IN_RE = re.compile(r"^(\d{1,6})x(\d{1,6})$")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)")


@dataclass(frozen=True, slots=True)
class DiscogsImage:
    """The image a Discogs URL names: its kind, the entity's id, and the served size."""

    kind: str  # "R" (a release's image), "A" (an artist photo), "L" (a label logo)
    entity_id: int  # the release, artist or label id
    width: int | None = None  # from the URL's options, when it says
    height: int | None = None

    @property
    def is_release_image(self) -> bool:
        return self.kind == "R"

    @property
    def size(self) -> int | None:
        """The served image's smaller side in pixels (None when the URL does not say)."""
        sides = [s for s in (self.width, self.height) if s]
        return min(sides) if sides else None


def decode(url: str | None) -> DiscogsImage | None:
    """The image `url` names, or None when the URL reveals no Discogs file name."""
    if not url or not isinstance(url, str):
        return None
    return _decode(url)


@lru_cache(maxsize=1 << 17)
def _decode(url: str) -> DiscogsImage | None:
    m = _URL_RE.match(url)
    path = m.group(1) if m is not None else url
    segments = [s for s in path.split("/") if s]
    if not segments:
        return None
    width, height = _size(segments)
    found = _from_encoded(segments)
    if found is None:
        plain = _PLAIN_RE.search(segments[-1])
        if plain is None:
            return None
        found = plain.group(1), int(plain.group(2))
    return DiscogsImage(found[0], found[1], width, height)


def _from_encoded(segments: list[str]) -> tuple[str, int] | None:
    start = next((i for i, seg in enumerate(segments) if seg.startswith(_ENCODED_HEAD)), None)
    if start is None:
        return None
    encoded = "".join(segments[start:])
    encoded = encoded.split(".", 1)[0]  # the file extension after the last segment
    if len(encoded) > 2048:
        return None
    try:
        text = encoded.translate(_URLSAFE_TO_STANDARD)
        decoded = binascii.a2b_base64(text + "=" * (-len(text) % 4), strict_mode=False)
    except (binascii.Error, ValueError):
        return None
    found = _DECODED_RE.match(decoded)
    if found is None:
        return None
    return found.group(1).decode(), int(found.group(2))


def _size(segments: list[str]) -> tuple[int | None, int | None]:
    width = height = None
    for segment in segments:
        if (m := _OPTION_RE.match(segment)) is not None:
            value = int(m.group(2))
            if m.group(1).startswith("w"):
                width = value
            else:
                height = value
        elif (m := _FIT_IN_RE.match(segment)) is not None:
            width, height = int(m.group(1)), int(m.group(2))
    return width or None, height or None


def not_a_cover(url: str | None) -> str | None:
    """Why the image at `url` is no album cover at all, as a reason code, or None.

    `no_artwork_url` (nothing), `spacer_gif` / `placeholder_image` (Discogs' placeholders),
    `artist_photo` (an `A-` file), `label_image` (an `L-` file). This is only what the URL
    itself says; whether a release image is the *right* cover is the scorer's question.
    """
    if not url or not isinstance(url, str):
        return "no_artwork_url"
    lowered = url.lower()
    if "spacer.gif" in lowered:
        return "spacer_gif"
    if "/images/default-" in lowered or "default-release" in lowered:
        return "placeholder_image"
    image = decode(url)
    if image is not None and image.kind == "A":
        return "artist_photo"
    if image is not None and image.kind == "L":
        return "label_image"
    return None


def cache_clear() -> None:
    _decode.cache_clear()
