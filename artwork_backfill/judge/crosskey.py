"""Cross-key evidence: one cover LML offered to several albums (`apply_cross_key_evidence`
over every key's verdicts; pure, no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from artwork_backfill.judge import discogs_image
from artwork_backfill.judge.compare import compare_texts
from artwork_backfill.judge.score import Band, ShelfRow, Verdict
from artwork_backfill.judge.thresholds import DEFAULT_THRESHOLDS, Thresholds


@dataclass(frozen=True, slots=True)
class KeyVerdicts:
    """One lookup key's rows and their verdicts, as `score_key` made them."""

    key_id: str
    rows: Sequence[ShelfRow]
    verdicts: Sequence[Verdict]


def _cover_identities(verdict: Verdict) -> tuple[tuple[str, object], ...]:
    """What names the cover a verdict is about: its Discogs release (matched, and the one
    the image file names) and, for a URL that names no file, the URL itself."""
    ids: list[tuple[str, object]] = []
    if verdict.matched_release_id and verdict.matched_release_id > 0:
        ids.append(("release", verdict.matched_release_id))
    image = discogs_image.decode(verdict.artwork_url)
    if image is not None and image.kind == "R":
        ids.append(("release", image.entity_id))
    elif image is None and verdict.artwork_url:
        ids.append(("url", verdict.artwork_url))
    return tuple(dict.fromkeys(ids))


def _same_album(a: ShelfRow, b: ShelfRow, t: Thresholds) -> bool:
    """Two shelf rows name one album (two spellings, an edition note): sharing a cover is fine."""
    text = compare_texts(a.artist_name or "", a.album_title or "", b.artist_name, b.album_title, t)
    return (
        not text.hard
        and not text.caps
        and text.album >= t.high_album
        and text.artist >= t.high_artist
    )


def apply_cross_key_evidence(
    keys: Sequence[KeyVerdicts], thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> list[list[Verdict]]:
    """The verdicts of every key, with cover reuse across the whole cache taken into account.

    Cover reuse is visible only across keys: LML-feb scores every "Various" release alike and
    offers one compilation's cover to many V/A rows, and a direct answer can pair a row with
    another album's artwork. A cover (a Discogs release, or an image URL naming no file)
    that LML paired with the *own* library rows of several keys whose albums differ is
    suspect for every one of them: HIGH becomes REVIEW with `cover_shared:<keys>`. A cover
    offered to one key alone, or to keys that are one album spelled two ways, is untouched,
    so a compilation whose cover is its own stays HIGH. Offers of another library row's
    result (LML saying "here is another album") are not counted: they claim nothing.
    Pure: no network, no I/O.
    """
    offers: dict[tuple[str, object], dict[str, ShelfRow]] = {}
    for kv in keys:
        legacy_ids = {row.legacy_release_id for row in kv.rows}
        for row, verdict in zip(kv.rows, kv.verdicts, strict=True):
            if verdict.band not in (Band.HIGH, Band.REVIEW, Band.REJECT):
                continue
            if verdict.matched_library_item_id not in legacy_ids:
                continue
            if discogs_image.not_a_cover(verdict.artwork_url):
                continue
            for identity in _cover_identities(verdict):
                offers.setdefault(identity, {}).setdefault(kv.key_id, row)
    suspect: dict[str, int] = {}
    for by_key in offers.values():
        if len(by_key) < 2:
            continue
        shelf = list(by_key.values())
        if all(_same_album(shelf[0], other, thresholds) for other in shelf[1:]):
            continue
        for key_id in by_key:
            suspect[key_id] = max(suspect.get(key_id, 0), len(by_key))
    out: list[list[Verdict]] = []
    for kv in keys:
        n = suspect.get(kv.key_id)
        if n is None:
            out.append(list(kv.verdicts))
            continue
        out.append(
            [
                dataclasses.replace(
                    v,
                    band=Band.REVIEW if v.band is Band.HIGH else v.band,
                    reasons=tuple(dict.fromkeys([*v.reasons, f"cover_shared:{n}_keys"])),
                )
                if v.band in (Band.HIGH, Band.REVIEW)
                else v
                for v in kv.verdicts
            ]
        )
    return out
