"""The Discogs image URL decoder, on the real URL forms (lml-contract §5.5)."""

from __future__ import annotations

import base64

import pytest

from artwork_backfill.judge.discogs_image import DiscogsImage, decode, not_a_cover

from .cases import cover, legacy_cover

# Examples 13 and 14: what LML-feb's own code returned (a label logo, an artist photo).
LOGO_13 = (
    "https://i.discogs.com/IyqKdxa95EY1ZIpbSGB6mk4Xw2J6Ge4zOjGbhSl2jas/rs:fit/g:sm/q:90/h:600/"
    "w:600/czM6Ly9kaXNjb2dz/LWRhdGFiYXNlLWlt/YWdlcy9MLTcxOTk2/MS0xMjE2NjUwODY3/LTQyOTguanBlZw.jpeg"
)
PHOTO_14 = (
    "https://i.discogs.com/YlZdfnn1UYM3WHrDGvWHj6rsortoqX2tp-7le8ei690/rs:fit/g:sm/q:90/h:600/"
    "w:600/czM6Ly9kaXNjb2dz/LWRhdGFiYXNlLWlt/YWdlcy9BLTk4NDg1/MDktMTMxOTQ0MTg1/MS00ODg4LmpwZWc.jpeg"
)
CONTRACT_PHOTO = (
    "https://i.discogs.com/sig/rs:fit/g:sm/q:90/h:600/w:600/czM6Ly9kaXNjb2dz/LWRhdGFiYXNlLWlt/"
    "YWdlcy9BLTYwMTg5/NzItMTYzMTM3MjEz/OC02NzQ5LmpwZWc.jpeg"
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (LOGO_13, DiscogsImage("L", 719961, 600, 600)),
        (PHOTO_14, DiscogsImage("A", 9848509, 600, 600)),
        (CONTRACT_PHOTO, DiscogsImage("A", 6018972, 600, 600)),
        (cover(5), DiscogsImage("R", 5, 600, 600)),
        (cover(5_550_101), DiscogsImage("R", 5_550_101, 600, 600)),
        (cover(5_550_101, segmented=False), DiscogsImage("R", 5_550_101, 600, 600)),
        (cover(123_456_789, kind="A"), DiscogsImage("A", 123_456_789, 600, 600)),
        (cover(31_387_240, size=150), DiscogsImage("R", 31_387_240, 150, 150)),
        (legacy_cover(77, kind="L"), DiscogsImage("L", 77, 600, 600)),
        (legacy_cover(5_550_101), DiscogsImage("R", 5_550_101, 600, 600)),
    ],
)
def test_decodes_every_real_form(url: str, expected: DiscogsImage) -> None:
    assert decode(url) == expected


def test_segments_are_decoded_together_not_the_last_one_alone() -> None:
    url = cover(9_848_509, kind="A")
    last = url.rsplit("/", 1)[-1]
    assert "/" in url.split("w:600/", 1)[1]  # really segmented
    assert decode("https://i.discogs.com/sig/rs:fit/w:600/" + last) is None
    assert decode(url) == DiscogsImage("A", 9_848_509, 600, 600)


@pytest.mark.parametrize(
    "url",
    [
        "https://i.discogs.com/abc/rs:fit/g:sm/q:90/h:600/w:600/bm90LWJhc2U2NA.jpeg",
        "https://i.discogs.com/abc/" + "A" * 80 + ".jpeg",
        "https://i.discogs.com/abc/czM6Ly9kaXNjb2dz/" + "!" * 40 + ".jpeg",
        "https://s.discogs.com/images/spacer.gif",
        "not a url",
        "",
        None,
    ],
)
def test_urls_that_name_no_file(url: str | None) -> None:
    assert decode(url) is None


def test_another_bucket_layout_still_decodes_the_file_name() -> None:
    name = b"s3://discogs-database-images/images/R-42-1300000000-1234.jpeg"
    encoded = base64.urlsafe_b64encode(name).decode().rstrip("=")
    url = "https://i.discogs.com/s/rs:fit/" + "/".join(
        encoded[i : i + 16] for i in range(0, len(encoded), 16)
    )
    assert decode(url + ".jpeg") == DiscogsImage("R", 42)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (None, "no_artwork_url"),
        ("https://s.discogs.com/images/spacer.gif", "spacer_gif"),
        ("https://s.discogs.com/images/default-release-cd.png", "placeholder_image"),
        (PHOTO_14, "artist_photo"),
        (LOGO_13, "label_image"),
        (cover(5), None),
        (cover(5, size=150), None),
        ("https://example.com/cover.jpg", None),
    ],
)
def test_not_a_cover(url: str | None, reason: str | None) -> None:
    assert not_a_cover(url) == reason
