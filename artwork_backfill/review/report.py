"""What the cached answers add up to: statistics, samples, the export and the review page.

Pure over the match table (see `matches.py`): no network, no database. `build_report` reads
the cache once; everything else takes the table and returns or writes text.

The export (CSV or Parquet) and the review page's download share one layout,
`EXPORT_COLUMNS`, with an empty `decision` column a reviewer fills with `accept` or
`reject`; `decisions.read_decisions` reads either back. The CSV text of each cell is made
here once (`csv_cells`) and embedded verbatim in the page, so the page's download is
byte-for-byte the CSV `export_matches` writes, except for the decisions.

Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a
formula (CSV injection, CWE-1236): an artist `=HYPERLINK("http://x","y")` would become a live
link in the reviewer's spreadsheet. So each such CSV cell is written with a single quote `'`
in front (OWASP's advice), by `csv_field`, by the polars writer and by the page's JS alike;
`decisions.read_decisions` takes the quote off again where it reads a cell. The Parquet export
is typed and keeps every value as it is.

The review page's markup, style and script are package data in `page/` (`review.html`,
`review.css`, `review.js`). `render_html` inlines the style and the script into the markup,
with the summary and the data, so the page written is one self-contained file; its Content
Security Policy allows that one script by its hash.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from artwork_backfill.cache.store import Cache
from artwork_backfill.errors import UserError
from artwork_backfill.judge.reasons import REASONS
from artwork_backfill.judge.score import Band
from artwork_backfill.judge.thresholds import DEFAULT_THRESHOLDS, Thresholds
from artwork_backfill.judge.urls import cover_problems
from artwork_backfill.review.matches import match_table

BANDS: tuple[str, ...] = tuple(str(b) for b in Band)  # best first: high, review, reject, ...
SCORED_BANDS: tuple[str, ...] = (str(Band.HIGH), str(Band.REVIEW), str(Band.REJECT))

# The layout of an export and of the review page's download, in this order.
EXPORT_COLUMNS: tuple[str, ...] = (
    "library_id",
    "decision",
    "band",
    "score",
    "artist_name",
    "album_title",
    "matched_artist",
    "matched_album",
    "reasons",
    "search_type",
    "artwork_url",
    "legacy_release_id",
    "format_name",
    "matched_release_id",
    "key_id",
    "verdict_id",
    # the audit's rows only: the value in the catalog now, the verdict on it, and why
    "current_artwork_url",
    "audit",
    "audit_reasons",
)
DECISION_VALUES: tuple[str, ...] = ("accept", "reject")
# Reviewers decide `review` rows only: why `accept` is refused on a row of another band. The
# review page and `decisions.read_decisions` both say it (a decisions file may still accept a
# `high` row: it is written anyway, so that accept changes nothing).
NOT_REVIEWABLE: dict[str, str] = {
    str(Band.HIGH): "it is written without a decision (reject it to hold it back)",
    str(Band.REJECT): "a rejected cover is never written",
    str(Band.NO_MATCH): "LML found no cover for it, so nothing is written",
    str(Band.PENDING): "LML has not answered for it yet, so nothing is written",
}

_PLACEHOLDER_RE = re.compile(r"@(CSP|STYLE|SUMMARY|DATA|SCRIPT)@")
HISTOGRAM_BIN_WIDTH = 10.0  # scores are 0..100
NO_VALUE = "-"


# -- statistics -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistogramBin:
    low: float
    high: float
    rows: int
    bands: dict[str, int]  # rows of each scored band in this bin

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "rows": self.rows, "bands": self.bands}


@dataclass(frozen=True, slots=True)
class SampleRow:
    """One library row shown beside what LML matched it with."""

    library_id: int
    band: str
    score: float
    artist_name: str
    album_title: str
    matched_artist: str | None
    matched_album: str | None
    search_type: str | None
    reasons: tuple[str, ...]
    artwork_url: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "library_id": self.library_id,
            "band": self.band,
            "score": self.score,
            "artist_name": self.artist_name,
            "album_title": self.album_title,
            "matched_artist": self.matched_artist,
            "matched_album": self.matched_album,
            "search_type": self.search_type,
            "reasons": list(self.reasons),
            "artwork_url": self.artwork_url,
        }


@dataclass(frozen=True)
class ReportStats:
    """Counts over one match table. Bands are counted in library rows (`bands`) and in keys
    (`bands_keys`: each key once, in the best band any of its rows reached)."""

    candidates: int
    keys: int
    bands: dict[str, int]
    bands_keys: dict[str, int]
    histogram: list[HistogramBin]
    reasons: dict[str, int]  # rows carrying each reason code (details after ":" dropped)
    reasons_keys: dict[str, int]
    search_types: dict[str, int]  # in keys; "-" for keys without an answer's search_type
    search_types_rows: dict[str, int]
    pending_rows: int
    pending_keys: int
    pending_reasons: dict[str, int]  # in keys: "not_asked", "pending_transient:timeout_flag" ...
    transient_keys: int
    error_keys: int
    not_asked_keys: int
    with_artwork_rows: int  # rows whose verdict names a cover (high, review, reject)
    samples: dict[str, list[SampleRow]]
    thresholds: dict[str, float]
    cache: dict[str, Any] = field(default_factory=dict)  # path, source, answers (when known)
    audit: dict[str, Any] = field(default_factory=dict)  # the audit's counts (audit_stats)

    @property
    def candidates_per_key(self) -> float:
        return self.candidates / self.keys if self.keys else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "candidates": self.candidates,
            "keys": self.keys,
            "candidates_per_key": round(self.candidates_per_key, 4),
            "bands": self.bands,
            "bands_keys": self.bands_keys,
            "with_artwork_rows": self.with_artwork_rows,
            "histogram": [b.to_json() for b in self.histogram],
            "reasons": self.reasons,
            "reasons_keys": self.reasons_keys,
            "search_types": self.search_types,
            "search_types_rows": self.search_types_rows,
            "pending": {
                "rows": self.pending_rows,
                "keys": self.pending_keys,
                "transient_keys": self.transient_keys,
                "error_keys": self.error_keys,
                "not_asked_keys": self.not_asked_keys,
                "reasons": self.pending_reasons,
            },
            "samples": {band: [s.to_json() for s in rows] for band, rows in self.samples.items()},
            "thresholds": self.thresholds,
            "cache": self.cache,
            "audit": self.audit,
        }


def reason_code(reason: str) -> str:
    """The code of a reason, without its ":detail" (`pending_transient:http_503` -> `pending_transient`)."""
    return reason.partition(":")[0]


def split_reasons(joined: str | None) -> tuple[str, ...]:
    return tuple(r for r in (joined or "").split(";") if r)


def _counts(values: Iterable[str], order: Sequence[str] = ()) -> dict[str, int]:
    counted = Counter(values)
    ordered = {name: counted.pop(name, 0) for name in order}
    ordered.update(sorted(counted.items(), key=lambda item: (-item[1], item[0])))
    return ordered


def compute_stats(
    table: pl.DataFrame,
    *,
    sample: int = 5,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    cache_info: dict[str, Any] | None = None,
) -> ReportStats:
    """Statistics and `sample` example rows per band for a match table."""
    bands = _counts(table["band"].to_list(), BANDS)

    rank = {band: i for i, band in enumerate(BANDS)}
    keyed = (
        table.select(
            "key_id",
            pl.col("band").replace_strict(rank, return_dtype=pl.Int32).alias("rank"),
            "search_type",
            "classification",
            "reasons",
        )
        .group_by("key_id")
        .agg(
            pl.col("rank").min(),
            pl.col("search_type").first(),
            pl.col("classification").first(),
            pl.col("reasons").first(),
        )
    )
    bands_keys = _counts((BANDS[r] for r in keyed["rank"].to_list()), BANDS)
    search_types = _counts(s or NO_VALUE for s in keyed["search_type"].to_list())
    search_types_rows = _counts(s or NO_VALUE for s in table["search_type"].to_list())

    row_reasons = [split_reasons(r) for r in table["reasons"].to_list()]
    reasons = _counts(reason_code(r) for rs in row_reasons for r in dict.fromkeys(rs))
    key_reasons: dict[str, set[str]] = {}
    for key_id, rs in zip(table["key_id"].to_list(), row_reasons, strict=True):
        key_reasons.setdefault(key_id, set()).update(reason_code(r) for r in rs)
    reasons_keys = _counts(code for codes in key_reasons.values() for code in codes)

    pending_rank = rank[str(Band.PENDING)]
    pending = keyed.filter(pl.col("rank") == pending_rank)
    pending_reasons = _counts(
        r for joined in pending["reasons"].to_list() for r in split_reasons(joined)
    )
    classes = Counter(pending["classification"].to_list())

    scores = table.filter(pl.col("band").is_in(SCORED_BANDS))
    return ReportStats(
        candidates=table.height,
        keys=keyed.height,
        bands=bands,
        bands_keys=bands_keys,
        histogram=_histogram(scores["score"].to_list(), scores["band"].to_list()),
        reasons=reasons,
        reasons_keys=reasons_keys,
        search_types=search_types,
        search_types_rows=search_types_rows,
        pending_rows=bands[str(Band.PENDING)],
        pending_keys=pending.height,
        pending_reasons=pending_reasons,
        transient_keys=classes.get("transient", 0),
        error_keys=classes.get("error", 0),
        not_asked_keys=classes.get(None, 0),
        with_artwork_rows=int(table["artwork_url"].is_not_null().sum()),
        samples=samples(table, sample),
        thresholds=thresholds.as_dict(),
        cache=dict(cache_info or {}),
    )


def _histogram(scores: Sequence[float], bands: Sequence[str]) -> list[HistogramBin]:
    n_bins = math.ceil(100.0 / HISTOGRAM_BIN_WIDTH)
    rows = [0] * n_bins
    per_band = [dict.fromkeys(SCORED_BANDS, 0) for _ in range(n_bins)]
    for score, band in zip(scores, bands, strict=True):
        i = min(max(int(score // HISTOGRAM_BIN_WIDTH), 0), n_bins - 1)
        rows[i] += 1
        per_band[i][band] += 1
    return [
        HistogramBin(
            i * HISTOGRAM_BIN_WIDTH, min((i + 1) * HISTOGRAM_BIN_WIDTH, 100.0), rows[i], per_band[i]
        )
        for i in range(n_bins)
    ]


def samples(table: pl.DataFrame, per_band: int) -> dict[str, list[SampleRow]]:
    """Up to `per_band` rows of each band, spread over the table (ordered by verdict id, a
    hash, so the same cache always shows the same rows and not just the lowest ids)."""
    out: dict[str, list[SampleRow]] = {band: [] for band in BANDS}
    if per_band <= 0:
        return out
    picked = (
        table.sort("verdict_id")
        .group_by("band", maintain_order=True)
        .head(per_band)
        .sort("band", "score", "library_id", descending=[False, True, False])
    )
    for r in picked.iter_rows(named=True):
        out.setdefault(r["band"], []).append(
            SampleRow(
                library_id=r["library_id"],
                band=r["band"],
                score=r["score"],
                artist_name=r["artist_name"],
                album_title=r["album_title"],
                matched_artist=r["matched_artist"],
                matched_album=r["matched_album"],
                search_type=r["search_type"],
                reasons=split_reasons(r["reasons"]),
                artwork_url=r["artwork_url"],
            )
        )
    return out


def cache_info(cache: Cache) -> dict[str, Any]:
    return {
        "path": str(cache.path),
        "source": cache.meta("source"),
        "answers": cache.response_count(),
    }


def build_report(
    cache: Cache, thresholds: Thresholds = DEFAULT_THRESHOLDS, *, sample: int = 5
) -> tuple[pl.DataFrame, ReportStats]:
    """Score the cache and count: the match table (the audit's rows after the backfill's, if
    the cache holds an audit) and its statistics (the bands count the backfill's rows; the
    audit's are counted apart, in `ReportStats.audit`)."""
    table = match_table(cache, thresholds, include_audit=True)
    backfill = table.filter(pl.col("audit").is_null())
    stats = compute_stats(
        backfill, sample=sample, thresholds=thresholds, cache_info=cache_info(cache)
    )
    audited = table.filter(pl.col("audit").is_not_null())
    if audited.height:
        stats = replace(stats, audit=audit_stats(audited, sample))
    return table, stats


AUDIT_VERDICTS = ("ok", "wrong", "unverified")


def audit_stats(audited: pl.DataFrame, sample: int) -> dict[str, Any]:
    """The audit's figures: rows per verdict, per reason code, the replacements offered (by
    the gate's band: `high` is what `apply --repair` writes) and sample rows per verdict."""
    verdicts = _counts(audited["audit"].to_list(), AUDIT_VERDICTS)
    reasons = _counts(
        reason_code(r)
        for joined in audited["audit_reasons"].to_list()
        for r in split_reasons(joined)
    )
    wrong = audited.filter(pl.col("audit") == "wrong")
    replacements = {
        band: int((wrong["band"] == band).sum()) for band in (str(Band.HIGH), str(Band.REVIEW))
    }
    replacements["none"] = wrong.height - sum(replacements.values())
    picked = audited.sort("verdict_id").group_by("audit", maintain_order=True).head(sample)
    return {
        "rows": audited.height,
        "verdicts": verdicts,
        "reasons": reasons,
        "replacements": replacements,
        "samples": {
            v: [
                {
                    "library_id": r["library_id"],
                    "artist_name": r["artist_name"],
                    "album_title": r["album_title"],
                    "current_artwork_url": r["current_artwork_url"],
                    "reasons": list(split_reasons(r["audit_reasons"])),
                    "replacement_url": r["artwork_url"],
                    "replacement_band": r["band"] if r["artwork_url"] else None,
                }
                for r in picked.filter(pl.col("audit") == v).iter_rows(named=True)
            ]
            for v in AUDIT_VERDICTS
        },
    }


def blocked_rows(table: pl.DataFrame) -> dict[int, str]:
    """Row position -> why its cover cannot be accepted, for rows that have a cover."""
    blocked: dict[int, str] = {}
    columns = table.select("artwork_url", "matched_release_id", "reasons").iter_rows()
    for i, (url, release_id, reasons) in enumerate(columns):
        if url:
            problems = cover_problems(url, release_id, reasons)
            if problems:
                blocked[i] = ", ".join(problems)
    return blocked


# -- export ---------------------------------------------------------------------------------


def format_score(score: float | None) -> str:
    return "" if score is None else f"{score:.2f}"


def export_frame(table: pl.DataFrame) -> pl.DataFrame:
    """The match table in the export's layout, typed (Parquet keeps these types)."""
    return table.with_columns(pl.lit("", dtype=pl.String).alias("decision")).select(EXPORT_COLUMNS)


def cell_frame(table: pl.DataFrame) -> pl.DataFrame:
    """The export's layout with every value as the exact text of its CSV cell (nulls are empty)."""
    frame = export_frame(table)
    score = pl.Series("score", [format_score(v) for v in frame["score"].to_list()], dtype=pl.String)
    return frame.with_columns(score).select(
        pl.col(name).cast(pl.String).fill_null("") for name in EXPORT_COLUMNS
    )


def csv_cells(table: pl.DataFrame) -> list[tuple[str, ...]]:
    """Each row of the export as the exact text of its CSV cells (decision left empty)."""
    return cell_frame(table).rows()


# A cell starting with one of these is a formula to a spreadsheet: it is written after a `'`.
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
FORMULA_GUARD = "'"


def neutralise_formula(text: str) -> str:
    """`text` as a spreadsheet shows it literally: a `'` in front of a formula trigger."""
    return FORMULA_GUARD + text if text.startswith(FORMULA_TRIGGERS) else text


def csv_field(text: str) -> str:
    """One CSV cell: formula triggers neutralised (`neutralise_formula`), then RFC 4180 quoting;
    the review page's `field` in page/review.js does the same (keep the two in step)."""
    text = neutralise_formula(text)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """The export's CSV text for rows of cell texts (see `csv_field` for the quoting)."""
    lines = [",".join(EXPORT_COLUMNS)]
    lines.extend(",".join(csv_field(cell) for cell in row) for row in rows)
    return "\n".join(lines) + "\n"


def _csv_text_of(cells: pl.DataFrame) -> str:
    """`csv_text` of a `cell_frame`, written by polars (a 64K-row export in ~0.1 s). Empty
    cells are written as nothing, not `""`, and formula triggers are neutralised, as
    `csv_field` and the page do."""
    blank_as_null = cells.select(
        pl.when(pl.col(name) == "")
        .then(None)
        .when(pl.any_horizontal(pl.col(name).str.starts_with(t) for t in FORMULA_TRIGGERS))
        .then(pl.lit(FORMULA_GUARD) + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in EXPORT_COLUMNS
    )
    return blank_as_null.write_csv(quote_style="necessary", line_terminator="\n")


def export_matches(table: pl.DataFrame, path: Path) -> int:
    """Write the match table for review: `.csv` or `.parquet`. Returns the rows written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UserError(f"{path}: an export file name must end in .csv or .parquet")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            path.write_text(_csv_text_of(cell_frame(table)), encoding="utf-8", newline="")
        else:
            export_frame(table).write_parquet(path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return table.height


# -- the review page ------------------------------------------------------------------------


@functools.cache
def _page_file(name: str) -> str:
    """One file of the review page (package data in `page/`), as text."""
    page = resources.files("artwork_backfill.review").joinpath("page", name)
    return page.read_text(encoding="utf-8")


@functools.cache
def _page_part(name: str) -> str:
    """The style or script as it goes into its element: on the line after the opening tag.
    Neither may end its element early (the page would run what follows as markup)."""
    text = _page_file(name)
    tag = "</style" if name.endswith(".css") else "</script"
    if tag in text.lower():
        raise ValueError(f"{name} must not contain {tag}")
    return "\n" + text


def storage_key(cache: dict[str, Any]) -> str:
    """The page's localStorage key: one per cache (its path and the database it belongs to)."""
    raw = f"{cache.get('path', '')}|{cache.get('source', '')}"
    return "artwork-backfill:decisions:" + hashlib.sha1(raw.encode()).hexdigest()[:16]


def _script_json(value: Any) -> str:
    """JSON that is safe inside <script>: no `</script>`, no `<!--`, no U+2028 surprises."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def write_html(table: pl.DataFrame, stats: ReportStats, path: Path, *, page_size: int = 50) -> int:
    """Write the self-contained review page. Returns the rows in it."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"{path}: the review page's file name must end in .html")
    text = render_html(table, stats, page_size=page_size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return table.height


def render_html(table: pl.DataFrame, stats: ReportStats, *, page_size: int = 50) -> str:
    reason_codes = sorted({reason_code(r) for r in stats.reasons} | set(REASONS))
    data = {
        "columns": list(EXPORT_COLUMNS),
        "rows": csv_cells(table),
        "blocked": {str(i): why for i, why in blocked_rows(table).items()},
        "notReviewable": NOT_REVIEWABLE,
        "reasons": {code: REASONS.get(code, code) for code in reason_codes},
        "bands": list(BANDS),
        "storageKey": storage_key(stats.cache),
        "pageSize": page_size,
        "defaultBand": str(Band.REVIEW),
    }
    script = _page_part("review.js")
    script_hash = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = (
        "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = {
        "CSP": _e(csp),
        "STYLE": _page_part("review.css"),
        "SUMMARY": _summary_html(stats, generated),
        "DATA": _script_json(data),
        "SCRIPT": script,
    }
    # One pass over the template, so no value is ever searched for placeholders.
    return _PLACEHOLDER_RE.sub(lambda m: parts[m.group(1)], _page_file("review.html"))


def _summary_html(stats: ReportStats, generated: str) -> str:
    cells = "".join(
        f'<tr class="band-{_e(b)}"><th>{_e(b)}</th><td>{stats.bands.get(b, 0)}</td>'
        f"<td>{stats.bands_keys.get(b, 0)}</td></tr>"
        for b in BANDS
    )
    peak = max((b.rows for b in stats.histogram), default=0) or 1
    bars = "".join(
        f'<div class="hbar"><span class="hlabel">{b.low:g}–{b.high:g}</span>'
        f'<span class="hfill" style="width:{b.rows / peak * 100:.1f}%"></span>'
        f'<span class="hcount">{b.rows}</span></div>'
        for b in stats.histogram
    )
    source = stats.cache.get("source") or ""
    cache_path = stats.cache.get("path") or ""
    return (
        f'<p class="meta">cache <code>{_e(cache_path)}</code>'
        + (f" · source <code>{_e(source)}</code>" if source else "")
        + f" · {stats.candidates} rows, {stats.keys} keys · generated {_e(generated)}</p>"
        '<div class="summary"><table class="bands"><thead><tr><th>band</th><th>rows</th>'
        f"<th>keys</th></tr></thead><tbody>{cells}</tbody></table>"
        f'<div class="histogram"><div class="htitle">score (high, review, reject rows)</div>{bars}</div></div>'
        + _audit_summary_html(stats.audit)
    )


def _audit_summary_html(audit: dict[str, Any]) -> str:
    """The audit's counts on the page (nothing when the cache holds no audit)."""
    if not audit:
        return ""
    verdicts = "".join(
        f'<tr class="audit-{_e(v)}"><th>{_e(v)}</th><td>{n}</td></tr>'
        for v, n in audit["verdicts"].items()
    )
    repl = audit["replacements"]
    return (
        '<div class="summary audit"><table class="audit"><thead><tr><th>audit of filled rows</th>'
        f"<th>rows</th></tr></thead><tbody>{verdicts}</tbody></table>"
        f'<p class="meta">wrong values with a replacement: {repl.get("high", 0)} high '
        f"(apply --repair writes them), {repl.get('review', 0)} for review, "
        f"{repl.get('none', 0)} without one. Audit rows show the value now beside the "
        "replacement; accept or reject the replacement as any other row.</p></div>"
    )
