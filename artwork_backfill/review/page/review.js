// The review page's script, inlined into the page by report.render_html (its Content Security
// Policy allows this script by its hash). The rows come from the JSON in #review-data.
// Values are only ever put into the page with textContent / attributes set through the DOM,
// never through innerHTML, so titles with quotes, <, & stay text.
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
  var current = -1;  // the current row (keyboard): an index into ROWS, shown on this page; -1 none
  var reviewRows = count(function (i) { return ROWS[i][C.band] === "review"; });
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
  function pageRows() { var start = state.page * DATA.pageSize; return shown.slice(start, start + DATA.pageSize); }
  function render() {
    var body = document.querySelector("#rows tbody");
    var frag = document.createDocumentFragment();
    var rows = pageRows();
    if (rows.indexOf(current) < 0) current = -1;  // the current row is always one on this page
    rows.forEach(function (i) { frag.appendChild(renderRow(i)); });
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
    if (i === current) { tr.classList.add("current"); tr.setAttribute("aria-current", "true"); }
    var cover = el("td", "cover"), url = row[C.artwork_url];
    if (/^https:\/\//i.test(url)) {
      var img = el("img"); img.loading = "lazy"; img.alt = "cover"; img.referrerPolicy = "no-referrer";
      img.src = url; img.title = url; cover.appendChild(img);
    } else {
      cover.appendChild(el("div", "none", url ? "not https" : "no cover"));
    }
    var now = row[C.current_artwork_url];
    if (now) {  // an audit row: the value in the catalog now, and the audit's verdict on it
      tr.classList.add("audited");
      var was = el("div", "now-value audit-" + row[C.audit]);
      was.appendChild(el("div", "label", "now (" + row[C.audit] + ")"));
      if (/^https:\/\//i.test(now)) {
        var old = el("img"); old.loading = "lazy"; old.alt = "current value"; old.referrerPolicy = "no-referrer";
        old.src = now; old.title = now; was.appendChild(old);
      } else {
        was.appendChild(el("div", "none", now));
      }
      (row[C.audit_reasons] ? row[C.audit_reasons].split(";") : []).forEach(function (r) {
        var chip = el("span", "reason", r);
        chip.title = REASONS[r.split(":")[0]] || r;
        was.appendChild(chip);
      });
      cover.appendChild(was);
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
    var left = reviewRows;
    decisions.forEach(function (d, i) { if (ROWS[i][C.band] === "review") left--; });
    $("left").textContent = left + " of " + reviewRows + " review rows left to decide";
  }
  // Set row i's decision to `value`: "accept", "reject" or "" (none). Unlike a button it does
  // not toggle; an accept goes through `decide` and its refusal. False when refused.
  function setDecision(i, value) {
    if (value === "") { decisions.delete(i); save(); notice(""); return true; }
    return decisions.get(i) === value ? true : decide(i, value);
  }

  // -- CSV (the same layout and quoting as `artwork-backfill report --export x.csv`) ---------
  // A cell a spreadsheet would run as a formula (= + - @ tab CR first) gets a ' in front
  // (CSV injection, CWE-1236), as report.csv_field does; then RFC 4180 quoting.
  function field(text) {
    if (/^[=+\-@\t\r]/.test(text)) text = "'" + text;
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
    var tr = ev.target.closest("tr");
    if (tr) setCurrent(Number(tr.dataset.index), false);  // a row clicked is the current row
    var button = ev.target.closest("button");
    if (!button) return;
    var i = Number(tr.dataset.index);
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
    var accepted = 0, skipped = 0;
    pageRows().forEach(function (i) {
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

  // -- the keyboard -----------------------------------------------------------------------------
  // j/ArrowDown and k/ArrowUp move the current row (on to the next or previous page), a / r / u
  // accept, reject or clear its decision (through setDecision, so an accept the rules refuse
  // changes nothing and says why, as the button does), ? shows the help. Keys typed into the
  // search box or a list are theirs: the page does nothing with them.
  function rowElement(i) { return document.querySelector('#rows tbody tr[data-index="' + Number(i) + '"]'); }
  function setCurrent(i, scroll) {
    var old = current >= 0 ? rowElement(current) : null;
    if (old) { old.classList.remove("current"); old.removeAttribute("aria-current"); }
    var tr = i >= 0 ? rowElement(i) : null;
    current = tr ? i : -1;
    if (!tr) return;
    tr.classList.add("current");
    tr.setAttribute("aria-current", "true");
    if (scroll) reveal(tr);
  }
  // Scroll the row into the window, below the sticky controls (which cover the top).
  function reveal(tr) {
    var rect = tr.getBoundingClientRect(), top = $("controls").getBoundingClientRect().bottom;
    if (rect.top < top) window.scrollBy(0, rect.top - top);
    else if (rect.bottom > window.innerHeight) window.scrollBy(0, Math.min(rect.bottom - window.innerHeight, rect.top - top));
  }
  function move(step) {
    var rows = pageRows(), at = rows.indexOf(current);
    if (!rows.length) { notice("no rows shown: change the filters"); return; }
    if (at < 0) { setCurrent(step > 0 ? rows[0] : rows[rows.length - 1], true); return; }
    if (at + step >= 0 && at + step < rows.length) { setCurrent(rows[at + step], true); return; }
    var page = state.page + step;
    if (page < 0 || page >= pages()) return;  // the first or the last row shown: stay
    state.page = page;
    render();
    rows = pageRows();
    setCurrent(step > 0 ? rows[0] : rows[rows.length - 1], true);
  }
  function keyDecide(value) {
    var tr = current >= 0 ? rowElement(current) : null;
    if (!tr) { notice("no current row: press j or \u2193 to choose one"); return; }
    setDecision(current, value);
    paint(tr, current);
    status();
  }
  function showHelp(open) {
    $("keys-help").hidden = !open;
    $("keys").setAttribute("aria-expanded", open ? "true" : "false");
  }
  $("keys").addEventListener("click", function () { showHelp($("keys-help").hidden); });
  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return;
    var target = ev.target;
    if (target && (target.isContentEditable ||
                   (target.closest && target.closest("input, select, textarea")))) return;
    var key = ev.key && ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (key === "j" || key === "ArrowDown") move(1);
    else if (key === "k" || key === "ArrowUp") move(-1);
    else if (key === "a") keyDecide("accept");
    else if (key === "r") keyDecide("reject");
    else if (key === "u") keyDecide("");
    else if (key === "?") showHelp($("keys-help").hidden);
    else if (key === "Escape" && !$("keys-help").hidden) showHelp(false);
    else return;
    ev.preventDefault();
  });

  load();
  fillSelects();
  refilter();
  // For tests and the console. Decisions go through `decide` and its checks, by library id:
  // `value` "accept", "reject" or "" (no decision); false (and a notice) when refused.
  function decideById(libraryId, value) {
    var i = byId.get(String(libraryId));
    if (i === undefined) { notice("no row with library id " + libraryId); return false; }
    if (value !== "" && value !== "accept" && value !== "reject") {
      notice("a decision is accept, reject or empty, not " + JSON.stringify(value)); return false;
    }
    var ok = setDecision(i, value);
    render();
    return ok;
  }
  window.artworkBackfillReview = {
    csv: csv, rows: ROWS.length, refilter: refilter, decide: decideById,
    decision: function (libraryId) { var i = byId.get(String(libraryId)); return (i !== undefined && decisions.get(i)) || ""; },
    current: function () { return current < 0 ? "" : ROWS[current][C.library_id]; },
  };
  document.body.dataset.ready = "1";
})();
