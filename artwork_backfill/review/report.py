"""What the cached answers add up to: statistics, samples, the export and the review page.

Pure over the match table (see `matches.py`): no network, no database. `build_report` reads
the cache once; everything else takes the table and returns or writes text.

The export (CSV or Parquet) and the review page's download share one layout,
`EXPORT_COLUMNS`, with an empty `decision` column a reviewer fills with `accept` or
`reject`; `decisions.read_decisions` reads either back. The CSV text of each cell is made
here once (`csv_cells`) and embedded verbatim in the page, so the page's download is
byte-for-byte the CSV `export_matches` writes, except for the decisions.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from artwork_backfill.cache.store import Cache
from artwork_backfill.errors import UserError
from artwork_backfill.judge.score import (
    DEFAULT_THRESHOLDS,
    REASONS,
    Band,
    Thresholds,
    cover_problems,
)
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
    """Score the cache and count: the match table and its statistics."""
    table = match_table(cache, thresholds)
    return table, compute_stats(
        table, sample=sample, thresholds=thresholds, cache_info=cache_info(cache)
    )


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


def csv_field(text: str) -> str:
    """RFC 4180 quoting, as the review page's JavaScript does it (keep the two in step)."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


_NEEDS_QUOTES = r'[",\r\n]'


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """The export's CSV text for rows of cell texts (see `csv_field` for the quoting)."""
    lines = [",".join(EXPORT_COLUMNS)]
    lines.extend(",".join(csv_field(cell) for cell in row) for row in rows)
    return "\n".join(lines) + "\n"


def _csv_text_of(cells: pl.DataFrame) -> str:
    """`csv_text` of a `cell_frame`, quoted column-wise by polars (a 64K-row export in ~0.1 s)."""
    quoted = [
        pl.when(pl.col(name).str.contains(_NEEDS_QUOTES))
        .then(pl.lit('"') + pl.col(name).str.replace_all('"', '""', literal=True) + pl.lit('"'))
        .otherwise(pl.col(name))
        for name in EXPORT_COLUMNS
    ]
    lines = cells.select(pl.concat_str(quoted, separator=",").alias("line"))["line"].to_list()
    return "\n".join([",".join(EXPORT_COLUMNS), *lines]) + "\n"


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
    script = _SCRIPT
    script_hash = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = (
        "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = {
        "CSP": _e(csp),
        "STYLE": _STYLE,
        "SUMMARY": _summary_html(stats, generated),
        "DATA": _script_json(data),
        "SCRIPT": script,
    }
    # One pass over the template, so no value is ever searched for placeholders.
    return _PLACEHOLDER_RE.sub(lambda m: parts[m.group(1)], _PAGE)


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
    )


_STYLE = """
:root { --high:#1b7f3b; --review:#b7791f; --reject:#c53030; --no_match:#718096; --pending:#3182ce; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 1rem 2rem; color:#1a202c; }
h1 { font-size: 1.3rem; margin: .8rem 0 .2rem; }
.meta { color:#4a5568; margin:.2rem 0 .6rem; }
code { font-size: .85em; }
.summary { display:flex; gap:2rem; align-items:flex-start; flex-wrap:wrap; }
table.bands td, table.bands th { padding: 1px 8px; text-align:right; }
table.bands th:first-child { text-align:left; }
.histogram { min-width: 320px; }
.htitle { color:#4a5568; font-size:.85rem; }
.hbar { display:flex; align-items:center; gap:6px; height:16px; }
.hlabel { width:64px; flex:none; white-space:nowrap; text-align:right; font-size:.8rem; color:#4a5568; }
.hfill { background:#a0aec0; height:11px; display:inline-block; min-width:1px; max-width:240px; }
.hcount { font-size:.8rem; }
.controls { position: sticky; top:0; background:#fff; padding:.5rem 0; border-bottom:1px solid #e2e8f0;
            display:flex; flex-wrap:wrap; gap:.6rem; align-items:center; z-index:1; }
.controls label { font-size:.85rem; color:#4a5568; }
button { cursor:pointer; }
#rows { border-collapse: collapse; width:100%; margin-top:.5rem; }
#rows th { text-align:left; font-size:.8rem; color:#4a5568; border-bottom:1px solid #cbd5e0; padding:4px; }
#rows td { vertical-align: top; border-bottom:1px solid #edf2f7; padding:6px 4px; }
td.cover img { width:96px; height:96px; object-fit:cover; background:#edf2f7; display:block; }
td.cover .none { width:96px; height:96px; background:#edf2f7; color:#a0aec0; display:flex;
                 align-items:center; justify-content:center; font-size:.75rem; }
.artist { font-weight:600; }
.ids { color:#718096; font-size:.75rem; }
.band { font-weight:600; }
.band.high { color:var(--high); } .band.review { color:var(--review); } .band.reject { color:var(--reject); }
.band.no_match { color:var(--no_match); } .band.pending { color:var(--pending); }
.reason { display:inline-block; background:#edf2f7; border-radius:3px; padding:0 4px; margin:1px;
          font-size:.75rem; cursor:help; }
.decide button { width:5.2rem; margin:1px 0; display:block; border:1px solid #cbd5e0; background:#fff; border-radius:3px; }
tr.accept { background:#f0fff4; } tr.reject { background:#fff5f5; }
tr.accept button.accept { background:var(--high); color:#fff; }
tr.reject button.reject { background:var(--reject); color:#fff; }
.decide button:disabled { color:#a0aec0; background:#f7fafc; cursor:not-allowed; }
#notice { color:var(--reject); font-size:.85rem; }
#status { color:#4a5568; font-size:.85rem; }
.pager { display:flex; gap:.4rem; align-items:center; }
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="@CSP@">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>artwork-backfill review</title>
<style>@STYLE@</style>
</head>
<body>
<h1>artwork-backfill: review covers</h1>
@SUMMARY@
<div class="controls">
  <label>band <select id="band"></select></label>
  <label>reason <select id="reason"></select></label>
  <label>decision <select id="decision">
    <option value="">any</option><option value="none">undecided</option>
    <option value="accept">accepted</option><option value="reject">rejected</option></select></label>
  <label>search <input id="search" type="search" placeholder="artist or title" size="18"></label>
  <label>sort <select id="sort">
    <option value="score-asc">score, low first</option><option value="score-desc">score, high first</option>
    <option value="id">library id</option><option value="artist">artist</option></select></label>
  <span class="pager"><button id="prev" type="button">&larr; prev</button><span id="page"></span>
    <button id="next" type="button">next &rarr;</button></span>
  <button id="accept-page" type="button" title="accept every undecided review row shown on this page (reviewers decide review rows only)">accept page</button>
  <button id="download" type="button">download decisions (CSV)</button>
  <button id="clear" type="button">clear decisions</button>
  <span id="status"></span>
  <span id="notice" role="alert"></span>
</div>
<table id="rows">
  <thead><tr><th>cover</th><th>on the shelf</th><th>LML matched</th><th>band</th><th>score</th>
  <th>reasons</th><th>decision</th></tr></thead>
  <tbody></tbody>
</table>
<script type="application/json" id="review-data">@DATA@</script>
<script>@SCRIPT@</script>
</body>
</html>
"""

# Values are only ever put into the page with textContent / attributes set through the DOM,
# never through innerHTML, so titles with quotes, <, & stay text.
_SCRIPT = r"""
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("review-data").textContent);
  var COLS = DATA.columns, ROWS = DATA.rows, REASONS = DATA.reasons, BLOCKED = DATA.blocked;
  var NOT_REVIEWABLE = DATA.notReviewable;
  var C = {};
  COLS.forEach(function (name, i) { C[name] = i; });
  var STORE = DATA.storageKey;
  var decisions = new Map();  // row index -> "accept" | "reject"
  var byId = new Map();
  ROWS.forEach(function (row, i) { byId.set(row[C.library_id], i); });
  var scores = ROWS.map(function (row) { var s = parseFloat(row[C.score]); return isNaN(s) ? -1 : s; });
  var reasonCodes = ROWS.map(function (row) {
    return row[C.reasons] ? row[C.reasons].split(";").map(function (r) { return r.split(":")[0]; }) : [];
  });
  var state = { band: DATA.defaultBand, reason: "", decision: "", search: "", sort: "score-asc", page: 0 };
  var shown = [];
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // -- persistence ------------------------------------------------------------------------
  var storageOk = true;
  function save() {
    var out = {};
    decisions.forEach(function (d, i) { out[ROWS[i][C.library_id]] = [d, ROWS[i][C.verdict_id]]; });
    try { localStorage.setItem(STORE, JSON.stringify(out)); } catch (e) { storageOk = false; }
  }
  var stale = 0, refusedSaved = 0;
  function load() {
    var raw = null;
    try { raw = localStorage.getItem(STORE); } catch (e) { storageOk = false; }
    if (!raw) return;
    var saved;
    try { saved = JSON.parse(raw); } catch (e) { return; }
    Object.keys(saved).forEach(function (id) {
      var i = byId.get(id), entry = saved[id];
      if (i === undefined || !Array.isArray(entry)) { stale++; return; }
      if (entry[1] !== ROWS[i][C.verdict_id]) { stale++; return; }  // the verdict changed since
      if (entry[0] === "accept" && refusal(i)) { refusedSaved++; return; }  // not a review row
      if (entry[0] === "accept" || entry[0] === "reject") decisions.set(i, entry[0]);
    });
  }

  // -- who may be accepted: reviewers decide `review` rows only ------------------------------
  // Why row i cannot be accepted ("" when it can): its band is not `review`, it has no cover,
  // or its cover breaks the URL rules. Every accept (button, accept page, saved decisions, the
  // console API, the CSV) goes through this.
  function refusal(i) {
    var row = ROWS[i], band = row[C.band], label = "library " + row[C.library_id];
    if (band !== "review") {
      var why = label + " is " + band + ": reviewers decide review rows only; " +
                (NOT_REVIEWABLE[band] || "it is never written");
      return BLOCKED[i] ? why + " (and this cover cannot be written: " + BLOCKED[i] + ")" : why;
    }
    if (!row[C.artwork_url]) return label + ": nothing to write: no cover";
    if (BLOCKED[i]) return label + ": this cover cannot be written: " + BLOCKED[i];
    return "";
  }
  function notice(text) { $("notice").textContent = text; }

  // -- filters ----------------------------------------------------------------------------
  function count(pred) { var n = 0; for (var i = 0; i < ROWS.length; i++) if (pred(i)) n++; return n; }
  function fillSelects() {
    var band = $("band");
    var all = el("option", null, "all (" + ROWS.length + ")"); all.value = ""; band.appendChild(all);
    DATA.bands.forEach(function (b) {
      var o = el("option", null, b + " (" + count(function (i) { return ROWS[i][C.band] === b; }) + ")");
      o.value = b; band.appendChild(o);
    });
    band.value = state.band;
    var reason = $("reason"), seen = new Map();
    reasonCodes.forEach(function (codes) { codes.forEach(function (c) { seen.set(c, (seen.get(c) || 0) + 1); }); });
    var any = el("option", null, "any"); any.value = ""; reason.appendChild(any);
    Array.from(seen.keys()).sort().forEach(function (c) {
      var o = el("option", null, c + " (" + seen.get(c) + ")"); o.value = c;
      o.title = REASONS[c] || c; reason.appendChild(o);
    });
  }
  function matches(i) {
    var row = ROWS[i];
    if (state.band && row[C.band] !== state.band) return false;
    if (state.reason && reasonCodes[i].indexOf(state.reason) < 0) return false;
    if (state.decision) {
      var d = decisions.get(i) || "none";
      if (d !== state.decision) return false;
    }
    if (state.search) {
      var hay = (row[C.artist_name] + " " + row[C.album_title] + " " + row[C.matched_artist] + " " +
                 row[C.matched_album] + " " + row[C.library_id]).toLowerCase();
      if (hay.indexOf(state.search) < 0) return false;
    }
    return true;
  }
  function compare(a, b) {
    if (state.sort === "score-asc") return scores[a] - scores[b] || a - b;
    if (state.sort === "score-desc") return scores[b] - scores[a] || a - b;
    if (state.sort === "artist") {
      var x = ROWS[a][C.artist_name].toLowerCase(), y = ROWS[b][C.artist_name].toLowerCase();
      return x < y ? -1 : x > y ? 1 : a - b;
    }
    return Number(ROWS[a][C.library_id]) - Number(ROWS[b][C.library_id]);
  }
  function refilter() {
    shown = [];
    for (var i = 0; i < ROWS.length; i++) if (matches(i)) shown.push(i);
    shown.sort(compare);
    state.page = 0;
    render();
  }

  // -- rendering (one page at a time) -------------------------------------------------------
  function pages() { return Math.max(1, Math.ceil(shown.length / DATA.pageSize)); }
  function render() {
    var body = document.querySelector("#rows tbody");
    var frag = document.createDocumentFragment();
    var start = state.page * DATA.pageSize;
    shown.slice(start, start + DATA.pageSize).forEach(function (i) { frag.appendChild(renderRow(i)); });
    body.replaceChildren(frag);
    $("page").textContent = "page " + (state.page + 1) + " of " + pages() + " (" + shown.length + " rows)";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages() - 1;
    status();
  }
  function renderRow(i) {
    var row = ROWS[i];
    var tr = el("tr");
    tr.dataset.index = String(i);
    tr.dataset.libraryId = row[C.library_id];
    tr.dataset.band = row[C.band];
    var cover = el("td", "cover"), url = row[C.artwork_url];
    if (/^https:\/\//i.test(url)) {
      var img = el("img"); img.loading = "lazy"; img.alt = "cover"; img.referrerPolicy = "no-referrer";
      img.src = url; img.title = url; cover.appendChild(img);
    } else {
      cover.appendChild(el("div", "none", url ? "not https" : "no cover"));
    }
    tr.appendChild(cover);
    var shelf = el("td", "shelf");
    shelf.appendChild(el("div", "artist", row[C.artist_name]));
    shelf.appendChild(el("div", "title", row[C.album_title]));
    shelf.appendChild(el("div", "ids", "library " + row[C.library_id] + " · legacy " + row[C.legacy_release_id] +
                                      (row[C.format_name] ? " · " + row[C.format_name] : "")));
    tr.appendChild(shelf);
    var matched = el("td", "matched");
    matched.appendChild(el("div", "artist", row[C.matched_artist]));
    matched.appendChild(el("div", "title", row[C.matched_album]));
    var info = (row[C.search_type] || "") + (row[C.matched_release_id] ? " · release " + row[C.matched_release_id] : "");
    matched.appendChild(el("div", "ids", info));
    tr.appendChild(matched);
    tr.appendChild(el("td", "band " + row[C.band], row[C.band]));
    tr.appendChild(el("td", "score", row[C.score]));
    var reasons = el("td", "reasons");
    (row[C.reasons] ? row[C.reasons].split(";") : []).forEach(function (r) {
      var code = r.split(":")[0], chip = el("span", "reason", r);
      chip.title = REASONS[code] || code;
      reasons.appendChild(chip);
    });
    tr.appendChild(reasons);
    var decide = el("td", "decide");
    var accept = el("button", "accept", "accept"), reject = el("button", "reject", "reject");
    accept.type = "button"; reject.type = "button";
    var refused = refusal(i);
    if (refused) { accept.disabled = true; accept.title = refused; }
    decide.appendChild(accept); decide.appendChild(reject);
    tr.appendChild(decide);
    paint(tr, i);
    return tr;
  }
  function paint(tr, i) {
    var d = decisions.get(i);
    tr.classList.toggle("accept", d === "accept");
    tr.classList.toggle("reject", d === "reject");
    tr.dataset.decision = d || "";
  }
  // A button's decision: a second click takes it back. An accept that `refusal` forbids changes
  // nothing and says why (the button is disabled; this guards any other way in).
  function decide(i, value) {
    if (value === "accept" && decisions.get(i) !== "accept" && refusal(i)) {
      notice("not accepted: " + refusal(i));
      return false;
    }
    if (decisions.get(i) === value) decisions.delete(i); else decisions.set(i, value);
    notice("");
    save();
    return true;
  }
  function status() {
    var a = 0, r = 0;
    decisions.forEach(function (d) { if (d === "accept") a++; else r++; });
    var text = a + " accepted, " + r + " rejected";
    if (stale) text += " · " + stale + " saved decisions dropped (their verdict changed)";
    if (refusedSaved) text += " · " + refusedSaved + " saved accepts dropped (reviewers decide review rows only)";
    if (!storageOk) text += " · this browser does not keep decisions: download them before closing";
    $("status").textContent = text;
  }

  // -- CSV (the same layout and quoting as `artwork-backfill report --export x.csv`) ---------
  function field(text) {
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function csv() {
    var lines = [COLS.join(",")];
    for (var i = 0; i < ROWS.length; i++) {
      var cells = ROWS[i].slice();
      var d = decisions.get(i) || "";
      cells[C.decision] = d === "accept" && refusal(i) ? "" : d;  // never accept a non-review row
      lines.push(cells.map(field).join(","));
    }
    return lines.join("\n") + "\n";
  }
  function download() {
    var text = csv();
    window.artworkBackfillLastCsv = text;  // for tests and for copying from the console
    var blob = new Blob([text], { type: "text/csv;charset=utf-8" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "decisions.csv";
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  // -- wiring ---------------------------------------------------------------------------------
  document.querySelector("#rows tbody").addEventListener("click", function (ev) {
    var button = ev.target.closest("button");
    if (!button) return;
    var tr = button.closest("tr"), i = Number(tr.dataset.index);
    decide(i, button.classList.contains("accept") ? "accept" : "reject");
    paint(tr, i);
    status();
  });
  $("band").addEventListener("change", function (e) { state.band = e.target.value; refilter(); });
  $("reason").addEventListener("change", function (e) { state.reason = e.target.value; refilter(); });
  $("decision").addEventListener("change", function (e) { state.decision = e.target.value; refilter(); });
  $("sort").addEventListener("change", function (e) { state.sort = e.target.value; refilter(); });
  var timer = null;
  $("search").addEventListener("input", function (e) {
    clearTimeout(timer);
    timer = setTimeout(function () { state.search = e.target.value.trim().toLowerCase(); refilter(); }, 200);
  });
  $("prev").addEventListener("click", function () { if (state.page > 0) { state.page--; render(); } });
  $("next").addEventListener("click", function () { if (state.page < pages() - 1) { state.page++; render(); } });
  $("accept-page").addEventListener("click", function () {
    var start = state.page * DATA.pageSize, accepted = 0, skipped = 0;
    shown.slice(start, start + DATA.pageSize).forEach(function (i) {
      if (decisions.has(i)) return;
      if (refusal(i)) { skipped++; return; }
      decisions.set(i, "accept");
      accepted++;
    });
    save();
    render();
    notice(skipped ? "accept page: accepted " + accepted + " review rows; " + skipped + " undecided rows " +
                     "left as they were (reviewers decide review rows only, and only a cover that can be written)" : "");
  });
  $("download").addEventListener("click", download);
  $("clear").addEventListener("click", function () {
    if (!window.confirm("Forget every decision made on this page?")) return;
    decisions.clear(); save(); render();
  });

  load();
  fillSelects();
  refilter();
  // For tests and the console. Decisions go through `decide` and its checks, by library id:
  // `value` "accept", "reject" or "" (no decision); false (and a notice) when refused.
  function decideById(libraryId, value) {
    var i = byId.get(String(libraryId)), ok = true;
    if (i === undefined) { notice("no row with library id " + libraryId); return false; }
    if (value === "") { decisions.delete(i); save(); notice(""); }
    else if (value !== "accept" && value !== "reject") {
      notice("a decision is accept, reject or empty, not " + JSON.stringify(value)); return false;
    }
    else if (decisions.get(i) !== value) ok = decide(i, value);
    render();
    return ok;
  }
  window.artworkBackfillReview = {
    csv: csv, rows: ROWS.length, refilter: refilter, decide: decideById,
    decision: function (libraryId) { var i = byId.get(String(libraryId)); return (i !== undefined && decisions.get(i)) || ""; },
  };
  document.body.dataset.ready = "1";
})();
"""
