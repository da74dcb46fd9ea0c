"""The scorer's numeric knobs: `Thresholds` (every one, with its meaning and default), their
validation, and `DEFAULT_THRESHOLDS`. Overridden by `--threshold NAME=VALUE` (see `cli.options`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

_SCORE_FIELDS = ("high_album", "high_artist", "review_album", "review_artist", "strict_match",
                 "word_variant_ratio", "ambiguity_margin")  # fmt: skip
_UNIT_FIELDS = ("note_weight", "partial_credit_weight", "album_weight", "min_lml_confidence")
_PIXEL_FIELDS = ("small_image_px", "review_image_px")


@dataclass(frozen=True)
class Thresholds:
    """Every numeric knob of the scorer, in one place.

    Similarity scores are rapidfuzz `token_sort_ratio` values (0..100) of the normalised
    texts (see `artwork_backfill.judge.normalize`).
    """

    high_album: float = 90.0
    """Album similarity needed for HIGH; below it (and at or above `review_album`): REVIEW."""
    high_artist: float = 90.0
    """Artist similarity needed for HIGH; below it (and at or above `review_artist`): REVIEW.
    LML's `corrected_artist` must match the row's artist this well too."""
    review_album: float = 60.0
    """Below this album similarity the cover is another album: REJECT (the pollution audit's
    "mismatch" line)."""
    review_artist: float = 60.0
    """Below this artist similarity the cover is another artist's: REJECT."""
    strict_match: float = 97.0
    """Near-exact after normalisation. A low `artwork.confidence` is overruled only when both
    album (notes included) and artist reach it."""
    word_variant_ratio: float = 80.0
    """A word found on one side only must be at least this close (rapidfuzz `ratio`) to a
    word on the other side for HIGH: "tomatoe"/"tomato" (92) pass, "east"/"west" (75) do not."""
    note_weight: float = 0.92
    """Weight of the title score computed with bracketed notes removed ("Pet Sounds" vs
    "Pet Sounds (Deluxe Edition)" scores 100 x 0.92 = 92): notes count, at reduced weight."""
    partial_credit_weight: float = 0.85
    """Weight of an artist match through one member of a joint credit ("Anadol" vs
    "Anadol & Marie Klock" scores 100 x 0.85 = 85): REVIEW at best."""
    album_weight: float = 0.6
    """Share of the album similarity in the reported combined score (the rest is artist)."""
    min_lml_confidence: float = 0.8
    """`artwork.confidence` below this is a warning (`low_lml_confidence`)."""
    ambiguity_margin: float = 10.0
    """Another fitting candidate with a different cover within this many points of the best
    makes the row ambiguous (REVIEW)."""

    small_image_px: float = 300.0
    """A cover served smaller than this many pixels (the URL's `w:`/`h:` options; LML-feb's
    API path gives 150 px search thumbnails) is still the right cover and is written, but
    carries the `small_image` reason so the report counts it."""
    review_image_px: float = 0.0
    """A cover served smaller than this many pixels goes to REVIEW (0: never; 300 sends
    every thumbnail to a person)."""

    def __post_init__(self) -> None:
        for name in _SCORE_FIELDS:
            _check_range(name, getattr(self, name), 0.0, 100.0)
        for name in _UNIT_FIELDS:
            _check_range(name, getattr(self, name), 0.0, 1.0)
        for name in _PIXEL_FIELDS:
            _check_range(name, getattr(self, name), 0.0, 100_000.0)
        if self.review_album > self.high_album:
            raise ValueError(
                f"review_album ({self.review_album}) must not exceed high_album ({self.high_album})"
            )
        if self.review_artist > self.high_artist:
            raise ValueError(
                f"review_artist ({self.review_artist}) must not exceed high_artist ({self.high_artist})"
            )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, str | float]) -> Thresholds:
        """Defaults overridden by `values` (e.g. from a config file or `--threshold k=v`).

        Raises ValueError naming the offending key on an unknown name or a bad value.
        """
        known = cls.names()
        parsed: dict[str, float] = {}
        for name, raw in values.items():
            if name not in known:
                raise ValueError(
                    f"unknown threshold {name!r}; known thresholds: {', '.join(known)}"
                )
            parsed[name] = _parse_number(name, raw)
        return cls(**parsed)

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def _parse_number(name: str, raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"threshold {name!r} must be a number, got {raw!r}")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"threshold {name!r} must be a number, got {raw!r}") from None
    else:
        raise ValueError(f"threshold {name!r} must be a number, got {type(raw).__name__}")
    return value


def _check_range(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"threshold {name!r} must be a number, got {value!r}")
    if math.isnan(value) or not low <= value <= high:
        raise ValueError(f"threshold {name!r} must be between {low:g} and {high:g}, got {value!r}")


DEFAULT_THRESHOLDS = Thresholds()
