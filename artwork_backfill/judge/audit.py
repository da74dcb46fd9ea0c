"""Judging a cover already in the catalog (pure): is `library.artwork_url` the right cover?

Three verdicts, each with reason codes, like the backfill's bands:

* `ok`: the value is the cover the gate would write: the same image, or the same release's
  image, as the cover the gate rates `high` for the row;
* `wrong`: the value cannot be this album's cover: an artist photo (`A-`) or label logo (`L-`)
  (the file name says so: no LML answer needed), a spacer or placeholder, an unusable URL (not
  https, not a Discogs image host, over-long, malformed), the image of a release the gate
  rejects for this row, or the image of a release that the cached answers show is another
  artist's or another album's;
* `unverified`: nothing says either way (no answer yet, the gate is unsure, or the release of
  the image is unknown or is this album in another edition).

A `wrong` value gets a replacement only when the gate offers a cover for the row that is
writable (`cover_problems` empty), is not the same image, and is not itself judged wrong by
these rules: one wrong image is never replaced with another. The replacement carries the gate's
band (`high` is written by `apply --repair`; `review` needs a reviewer's accept).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from artwork_backfill.judge import discogs_image
from artwork_backfill.judge.compare import compare_texts
from artwork_backfill.judge.score import Band, ShelfRow, Verdict
from artwork_backfill.judge.thresholds import DEFAULT_THRESHOLDS, Thresholds
from artwork_backfill.judge.urls import check_url, cover_problems

# What Discogs calls a release, as LML's answers show it: (artist, album) by release id.
ReleaseIndex = Mapping[int, tuple[str | None, str | None]]


class AuditVerdict(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"
    UNVERIFIED = "unverified"


@dataclass(frozen=True, slots=True)
class Audit:
    library_id: int
    verdict: AuditVerdict
    reasons: tuple[str, ...]
    current_url: str
    replacement_url: str | None = None  # only for WRONG
    replacement_band: str | None = None  # the gate's band for the replacement


# URL problems that make a value unusable as a cover, whatever LML says
_UNUSABLE = {
    "url_not_https",
    "url_host",
    "url_too_long",
    "url_malformed",
    "spacer_gif",
    "placeholder_image",
}


# Reject reasons that say the release is another album or another artist's
_IDENTITY = frozenset(
    {
        "album_mismatch",
        "artist_mismatch",
        "number_mismatch",
        "artist_number_mismatch",
        "discogs_artist_id_differs",
        "corrected_artist_mismatch",
    }
)


def offline_problems(url: str) -> tuple[str, ...]:
    """Why `url` is no cover at all, from the URL alone (no LML answer): photo, logo,
    spacer, placeholder, or an unusable URL. Empty: it may be a cover."""
    check = check_url(url, 1, "https://www.discogs.com/release/1", None)
    codes = [c for c in check.reasons if c in _UNUSABLE]
    kind = discogs_image.not_a_cover(url)
    if kind == "artist_photo":
        codes.insert(0, "artist_photo")
    elif kind == "label_image":
        codes.insert(0, "label_image")
    return tuple(dict.fromkeys(codes))


def _same_image(a: str, b: str) -> bool:
    return a == b


def _release_of(url: str) -> int | None:
    image = discogs_image.decode(url)
    return image.entity_id if image is not None and image.kind == "R" else None


def audit_row(
    row: ShelfRow,
    current_url: str,
    gate: Verdict | None,
    releases: ReleaseIndex,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Audit:
    """Judge one filled row's current value; `gate` is the backfill's verdict for the row (cross-
    key evidence applied) when its key has an answer, `releases` what the cached answers say
    each Discogs release is."""
    offline = offline_problems(current_url)
    if offline:
        return _wrong(row, current_url, offline, gate, thresholds, releases, bad_release=None)
    release = _release_of(current_url)
    proposed = gate.artwork_url if gate is not None else None
    if gate is not None and proposed and gate.band is Band.HIGH:
        if _same_image(current_url, proposed):
            return Audit(row.library_id, AuditVerdict.OK, ("same_image",), current_url)
        if release is not None and release == gate.matched_release_id:
            return Audit(row.library_id, AuditVerdict.OK, ("same_release",), current_url)
    identity = (
        [r.partition(":")[0] for r in gate.reasons if r.partition(":")[0] in _IDENTITY]
        if gate
        else []
    )
    if (
        gate is not None
        and gate.band is Band.REJECT
        and release is not None
        and release == gate.matched_release_id
        and identity
    ):
        # the gate refuses this release for the row's text or artist (not for its URL: a
        # release whose offered image was a photo may still have its own cover in the value)
        why = ",".join(dict.fromkeys(identity))
        reason = f"gate_rejects_release:{why}"
        return _wrong(row, current_url, (reason,), gate, thresholds, releases, bad_release=release)
    if release is not None and release in releases:
        other = _other_release(row, releases[release], thresholds)
        if other is not None:
            return _wrong(
                row, current_url, (other,), gate, thresholds, releases, bad_release=release
            )
    reasons: list[str] = []
    if gate is None:
        reasons.append("no_answer")
    elif gate.band is Band.PENDING:
        reasons.append("answer_pending")
    elif proposed and _same_image(current_url, proposed):
        reasons.append(f"gate_not_sure:{gate.band}")
    elif gate.band is Band.HIGH:
        reasons.append("differs_from_gate_cover")
    else:
        reasons.append(f"gate_{gate.band}")
    if release is None:
        reasons.append("release_unknown")
    elif release not in releases:
        reasons.append("release_not_in_answers")
    else:
        reasons.append("same_album_other_release")
    return Audit(row.library_id, AuditVerdict.UNVERIFIED, tuple(reasons), current_url)


def _other_release(
    row: ShelfRow, release: tuple[str | None, str | None], t: Thresholds
) -> str | None:
    """`other_artist_cover` / `other_album_cover` when the release is clearly another's."""
    artist, album = release
    if not artist and not album:
        return None
    m = compare_texts(row.artist_name, row.album_title, artist, album, t)
    if artist and m.artist < t.review_artist:
        return "other_artist_cover"
    if album and m.album < t.review_album:
        return "other_album_cover"
    return None


def _wrong(
    row: ShelfRow,
    current_url: str,
    reasons: tuple[str, ...],
    gate: Verdict | None,
    t: Thresholds,
    releases: ReleaseIndex,
    *,
    bad_release: int | None,
) -> Audit:
    """A WRONG verdict, with the gate's cover as replacement when it is a safe one: writable,
    not the value itself, not of the release found wrong, and not another's cover either."""
    replacement = gate.artwork_url if gate is not None else None
    band = str(gate.band) if gate is not None else None
    usable = (
        replacement is not None
        and gate is not None
        and gate.band in (Band.HIGH, Band.REVIEW)
        and not cover_problems(replacement, gate.matched_release_id, ";".join(gate.reasons))
        and not _same_image(replacement, current_url)
        and (bad_release is None or _release_of(replacement) != bad_release)
        and not offline_problems(replacement)
    )
    if usable and replacement is not None:
        # the replacement must not be another's cover by the cached answers either
        rel = _release_of(replacement)
        if rel is not None and rel in releases and _other_release(row, releases[rel], t):
            usable = False
    if not usable:
        return Audit(row.library_id, AuditVerdict.WRONG, (*reasons, "no_replacement"), current_url)
    return Audit(row.library_id, AuditVerdict.WRONG, reasons, current_url, replacement, band)
