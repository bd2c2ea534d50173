/* The visual timeline (vis-timeline): what is in view, a page at a time, grouped by subject. */

import { DataSet, Timeline } from "../vendor/vis-timeline/vis-timeline-graph2d.min.js";
import { getJSON } from "./api.js";
import {
  $, DAY_MS, h, interval, learnNameIfNew, nameOf, parseDay, rank, shortTime, showError,
} from "./dom.js";

const PAGE = 250; // events a request asks for
const MAX_PAGES = 4; // pages one window may take; past that the reader zooms in
const KIND_ORDER = { plan: 0, meeting: 1, party: 2, issue: 3 };
const NO_SUBJECT = "(no subject)";

const el = { host: $("vis"), meta: $("timeline-meta"), error: $("timeline-error"), section: $("timeline") };
const items = new DataSet();
const groups = new DataSet();
const events = new Map(); // sequence -> event, for what a click shows
let timeline = null;
let loaded = { key: "", spans: [] }; // windows fully loaded under one known_at and confidence
let latest = 0;
let inflight = ""; // the window being loaded, so one window is asked for once
let timer = 0;
let markerMs = 0;
let current = null; // the view the items were loaded for

/** Draw the timeline around the view's date; `onSelect(event)` hears clicks on items. */
export function initTimeline(view, onSelect, onMarkerMoved) {
  const at = markerTime(view.at);
  // About 40 pixels a day: a month around the date on a desktop, a week on a phone.
  const days = Math.max(7, Math.min(31, Math.round(el.host.clientWidth / 40)));
  timeline = new Timeline(el.host, items, groups, {
    start: new Date(at - Math.round(days * 0.6) * DAY_MS),
    end: new Date(at + Math.round(days * 0.4) * DAY_MS),
    stack: true,
    minHeight: 240,
    maxHeight: Math.max(360, Math.round(window.innerHeight * 0.7)),
    verticalScroll: true,
    orientation: "top",
    showCurrentTime: false,
    zoomMin: 6 * 3600000,
    groupOrder: (a, b) => a.order - b.order || a.label.localeCompare(b.label),
    margin: { item: { horizontal: 2, vertical: 4 } },
    tooltip: { followMouse: false },
  });
  timeline.addCustomTime(new Date(at), "at");
  timeline.on("select", ({ items: picked }) => {
    const e = events.get(picked[0]);
    if (e) onSelect(e);
  });
  timeline.on("rangechanged", () => later());
  timeline.on("timechanged", ({ id, time }) => {
    if (id === "at") onMarkerMoved(new Date(time.getTime() - 1).toISOString().slice(0, 10));
  });
  showView(view);
}

/** Follow the view: move the marker, and reload when known_at or confidence changed. */
export function showView(view) {
  current = { ...view };
  markerMs = markerTime(view.at);
  timeline.setCustomTime(new Date(markerMs), "at");
  timeline.setCustomTimeMarker(
    shortTime(`${view.at}T00:00:00Z`, "day") + (view.knownAt ? ` · known at #${view.knownAt}` : ""),
    "at",
    false,
  );
  const win = timeline.getWindow();
  if (markerMs < win.start.getTime() || markerMs > win.end.getTime()) timeline.moveTo(new Date(markerMs));
  restyle();
  later(0);
}

export function clearSelection() {
  if (timeline) timeline.setSelection([]);
}

/** Bring an event's item into view (scrolling to its group) and select it. */
export function focusEvent(sequence) {
  if (!items.get(sequence)) return;
  timeline.setSelection([sequence]);
  timeline.focus(sequence, { animation: false, zoom: false });
}

/** A live event from the stream: drawn at once when the view would show it. */
export function addLive(e) {
  if (!current) return;
  if (e.type === "event.retracted" || e.type === "event.corrected") return amend(e);
  if (rank(e.confidence) < rank(current.minConfidence)) return;
  if (current.knownAt && e.sequence > Number(current.knownAt)) return;
  put([e], true);
  count();
}

/** A retraction or correction the view knows of: the window is asked for again, so that
 * what it changes (data, time, confidence, which events show) is the service's to say. */
function amend(e) {
  if (current.knownAt && e.sequence > Number(current.knownAt)) return;
  loaded = { key: "", spans: [] };
  inflight = "";
  later(0);
}

function markerTime(day) {
  const ms = parseDay(day);
  return (ms === null ? Date.now() : ms) + DAY_MS - 1; // `at` is the end of that day
}

function later(delay = 250) {
  window.clearTimeout(timer);
  timer = window.setTimeout(loadWindow, delay);
}

/** What is in view, as known at the view's known_at: a page at a time, up to MAX_PAGES. */
async function loadWindow() {
  const view = current;
  const key = `${view.knownAt}|${view.minConfidence}`;
  if (key !== loaded.key) {
    loaded = { key, spans: [] };
    items.clear();
    events.clear();
  }
  const win = timeline.getWindow();
  const [from, to] = [win.start.getTime(), win.end.getTime()];
  if (loaded.spans.some(([a, b]) => a <= from && to <= b)) return count();
  const asking = `${key}|${from}|${to}`;
  if (asking === inflight) return; // the same window is on its way already
  inflight = asking;
  prune(from - (to - from), to + (to - from));
  const mine = ++latest;
  el.section.setAttribute("aria-busy", "true");
  let cursor = null;
  let pages = 0;
  try {
    do {
      const doc = await getJSON("/v1/timeline", {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        known_at: cursor ? "" : view.knownAt,
        min_confidence: view.minConfidence,
        limit: PAGE,
        cursor,
      });
      if (mine !== latest || key !== loaded.key) return;
      put(doc.events, false);
      cursor = doc.next;
      pages += 1;
    } while (cursor && pages < MAX_PAGES);
  } catch (error) {
    if (mine === latest) {
      inflight = "";
      showError(el.error, error);
      el.section.removeAttribute("aria-busy");
    }
    return;
  }
  inflight = "";
  showError(el.error, null);
  if (!cursor) loaded.spans.push([from, to]);
  count(cursor ? " — more than fit: zoom in to see them all" : "");
  el.section.removeAttribute("aria-busy");
}

/** Keep what lies within [from, to] (a window either side of the one in view): zooming and
 * panning through thousands of events keeps the drawn set about three windows wide. */
function prune(from, to) {
  const gone = items.getIds({ filter: (it) => it.start.getTime() > to || (it.end || it.start).getTime() < from });
  if (!gone.length) return;
  items.remove(gone);
  for (const id of gone) events.delete(id);
  loaded.spans = loaded.spans.filter(([a, b]) => from <= a && b <= to);
}

function count(more = "") {
  const n = items.length;
  el.meta.textContent = `${n} event${n === 1 ? "" : "s"} drawn${more}`;
  el.section.dataset.known = current.knownAt; // what is shown: tests wait for this
  el.section.dataset.items = String(n);
}

function put(list, live) {
  const fresh = [];
  for (const e of list) {
    events.set(e.sequence, e);
    const d = e.data && typeof e.data === "object" ? e.data : {};
    // A name or title in a vocabulary event names its subject (custom events may mean
    // anything by theirs); the answers' names, learnt elsewhere, take precedence.
    if (e.subject && !e.type.startsWith("x-")) learnNameIfNew(e.subject, d.name ?? d.title);
    group(e.subject || NO_SUBJECT);
    fresh.push(item(e, live));
  }
  items.update(fresh);
}

/** An event as an item: a point at its time, or a range over the `starts` it gives (a meeting). */
function item(e, live) {
  const d = e.data && typeof e.data === "object" ? e.data : {};
  const span = typeof d.starts === "string" ? interval(d.starts) : null;
  const start = span ? span.start : new Date(e.time);
  const text = e.headline || e.type;
  return {
    id: e.sequence,
    group: e.subject || NO_SUBJECT,
    start,
    ...(span ? { end: span.end } : {}),
    type: span ? "range" : "point",
    className: classes(e, start, live),
    live,
    content: h("span", {
      class: "item-text",
      "data-testid": "timeline-item",
      "data-sequence": e.sequence,
      "data-subject": e.subject || "",
      "data-confidence": e.confidence,
      title: text,
      text: text.length > 64 ? `${text.slice(0, 63)}…` : text,
    }),
  };
}

function classes(e, start, live) {
  return [
    `conf-${e.confidence}`,
    start.getTime() > markerMs ? "after-date" : "",
    live ? "is-live" : "",
  ].filter(Boolean).join(" ");
}

/** Dim what lies after the chosen date. */
function restyle() {
  const changed = [];
  for (const it of items.get()) {
    const className = classes(events.get(it.id), it.start, it.live);
    if (className !== it.className) changed.push({ id: it.id, className });
  }
  if (changed.length) items.update(changed);
}

function group(subject) {
  if (groups.get(subject)) return;
  const kind = subject.split("/")[0];
  groups.add({ id: subject, order: KIND_ORDER[kind] ?? 9, label: nameOf(subject), content: label(subject) });
}

function label(subject) {
  return h("span", { class: `group-label kind-${subject.split("/")[0]}`, title: subject, text: nameOf(subject) });
}

/** Names learnt after the groups were drawn replace the names made from slugs. */
export function renameGroups() {
  const changed = [];
  for (const g of groups.get()) {
    const name = nameOf(g.id);
    if (name !== g.label) changed.push({ id: g.id, label: name, content: label(g.id) });
  }
  if (changed.length) groups.update(changed);
}
