/* Annals viewer: the state at a date, the timeline, and live updates. No build step.
 *
 * Reads GET /v1/state, /v1/timeline, /v1/events and /v1/stream of the service that serves
 * this file; nothing is loaded from anywhere else. Every value from the API is put into
 * the page as text (never as HTML).
 */
"use strict";

(function () {
  const CONFIDENCE = ["disputed", "unconfirmed", "reported", "confirmed"]; // weakest first
  // Every SSE `event:` an EventSource must listen for (the SPEC §3 vocabulary). Custom
  // `x-` types cannot be listened for by name: they are fetched when a gap in sequences shows.
  const STREAM_TYPES = [
    "party.registered",
    "plan.proposed",
    "plan.revised",
    "plan.classified",
    "plan.declassified",
    "plan.presented",
    "plan.superseded",
    "position.stated",
    "meeting.scheduled",
    "meeting.rescheduled",
    "meeting.held",
    "meeting.cancelled",
    "event.retracted",
    "event.corrected",
    "message",
  ];
  const KIND_ORDER = { state: 0, organization: 1, person: 2, media: 3, other: 4 };
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const MONTHS_LONG = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
  ];
  const DAY_MS = 86400000;
  const SMALL_WORDS = new Set(["a", "an", "and", "at", "de", "for", "in", "of", "on", "the", "to"]);

  const $ = (id) => document.getElementById(id);
  const el = {
    date: $("at-date"),
    slider: $("at-slider"),
    sliderRange: $("slider-range"),
    knownAt: $("known-at"),
    head: $("head-sequence"),
    minConfidence: $("min-confidence"),
    viewControls: $("view-controls"),
    state: document.querySelector("section.state"),
    stateDate: $("state-date"),
    stateMeta: $("state-meta"),
    stateError: $("state-error"),
    plans: $("plans"),
    meetings: $("meetings"),
    parties: $("parties"),
    plansCount: $("plans-count"),
    meetingsCount: $("meetings-count"),
    partiesCount: $("parties-count"),
    filters: $("timeline-filters"),
    subject: $("filter-subject"),
    type: $("filter-type"),
    limit: $("filter-limit"),
    subjects: $("subjects"),
    timelineError: $("timeline-error"),
    events: $("events"),
    live: $("live"),
    liveEvents: $("live-events"),
    prev: $("page-prev"),
    next: $("page-next"),
    pageInfo: $("page-info"),
    announcer: $("live-announcer"),
    connection: $("connection"),
    connectionText: $("connection-text"),
  };

  const view = { at: "", knownAt: "", minConfidence: "disputed" };
  const timeline = { subject: "", type: "", limit: 50, cursors: [null], page: 0, shown: new Set() };
  const range = { min: Infinity, max: -Infinity }; // set from the events at start
  const names = new Map();
  let head = 0; // the highest sequence seen
  let stateRequest = 0;
  let timelineRequest = 0;
  let stateTimer = 0;

  /* ---------- small helpers ---------- */

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function nameOf(subject) {
    if (!subject) return "unknown";
    if (names.has(subject)) return names.get(subject);
    const slash = subject.indexOf("/");
    if (slash < 0) return subject;
    const words = [];
    subject.slice(slash + 1).split("-").forEach((word, i) => {
      const last = words[words.length - 1];
      if (/^\d+$/.test(word) && last && /\d$/.test(last)) words[words.length - 1] += "-" + word;
      else if (SMALL_WORDS.has(word) && i > 0) words.push(word);
      else if (/^[a-z]{2}$/.test(word)) words.push(word.toUpperCase());
      else words.push(word.charAt(0).toUpperCase() + word.slice(1));
    });
    return words.join(" ");
  }

  function nameList(ids) {
    return (ids || []).map(nameOf).join(", ");
  }

  function rank(confidence) {
    const i = CONFIDENCE.indexOf(confidence);
    return i < 0 ? 0 : i;
  }

  function weakest(confidences) {
    let worst = "confirmed";
    for (const c of confidences) if (c && rank(c) < rank(worst)) worst = c;
    return worst;
  }

  function confidenceBadge(confidence) {
    if (!confidence || confidence === "confirmed") return null;
    return h("span", { class: `badge conf-${confidence}`, "data-field": "confidence", text: confidence });
  }

  function isoDay(ms) {
    return new Date(ms).toISOString().slice(0, 10);
  }

  function parseDay(text) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
    if (!m) return null;
    const ms = Date.UTC(+m[1], +m[2] - 1, +m[3]);
    return Number.isNaN(ms) ? null : ms;
  }

  function longDate(day) {
    const ms = parseDay(day);
    if (ms === null) return day;
    const d = new Date(ms);
    return `${d.getUTCDate()} ${MONTHS_LONG[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
  }

  /** A valid time as precise as it was given: "2014", "Nov 2025", "28 Nov 2025". */
  function shortTime(time, precision) {
    const d = new Date(time);
    if (Number.isNaN(d.getTime())) return time || "";
    const y = d.getUTCFullYear();
    if (precision === "year") return String(y);
    if (precision === "month") return `${MONTHS[d.getUTCMonth()]} ${y}`;
    const day = `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${y}`;
    if (precision === "instant") return `${day} ${time.slice(11, 16)} UTC`;
    return day;
  }

  /** A stance's `since` (always a full timestamp) as a day, or a year on 1 January. */
  function sinceText(since) {
    if (!since) return "";
    return since.slice(5, 19) === "01-01T00:00:00" ? since.slice(0, 4) : shortTime(since, "day");
  }

  const QUALIFIER_TEXT = { approximate: "approx.", uncertain: "uncertain" };

  async function getJSON(path, params) {
    const url = new URL(path, window.location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== "" && value !== null && value !== undefined) url.searchParams.set(key, value);
    }
    const response = await window.AnnalsAccess.fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try {
        const problem = await response.json();
        if (problem && (problem.detail || problem.title)) detail = problem.detail || problem.title;
      } catch (_) {
        /* not JSON: keep the status line */
      }
      throw new Error(detail);
    }
    return response.json();
  }

  function showError(node, error) {
    if (error) {
      node.textContent = `Could not load: ${error.message || error}`;
      node.hidden = false;
    } else {
      node.textContent = "";
      node.hidden = true;
    }
  }

  function announce(text) {
    // Replace the text so screen readers read each announcement once.
    el.announcer.textContent = "";
    window.setTimeout(() => {
      el.announcer.textContent = text;
    }, 50);
  }

  /* ---------- the date: slider and field kept in sync ---------- */

  function setRange(minMs, maxMs) {
    range.min = Math.min(range.min, minMs);
    range.max = Math.max(range.max, maxMs);
    el.slider.min = "0";
    el.slider.max = String(Math.round((range.max - range.min) / DAY_MS));
    el.sliderRange.textContent = `${longDate(isoDay(range.min))} to ${longDate(isoDay(range.max))}`;
    const at = parseDay(view.at);
    if (at !== null) el.slider.value = String(Math.round((at - range.min) / DAY_MS));
  }

  function fitRange(dayMs) {
    const year = new Date(dayMs).getUTCFullYear();
    if (dayMs < range.min) setRange(Date.UTC(year, 0, 1), range.max);
    if (dayMs > range.max) setRange(range.min, Date.UTC(year, 11, 31));
  }

  function setDate(day, { from } = {}) {
    const ms = parseDay(day);
    if (ms === null) return false;
    fitRange(ms);
    view.at = day;
    if (from !== "field") el.date.value = day;
    if (from !== "slider") el.slider.value = String(Math.round((ms - range.min) / DAY_MS));
    el.slider.setAttribute("aria-valuetext", longDate(day));
    el.stateDate.textContent = longDate(day);
    el.stateDate.setAttribute("datetime", day);
    markAfterDate();
    saveToUrl();
    return true;
  }

  el.slider.addEventListener("input", () => {
    const day = isoDay(range.min + Number(el.slider.value) * DAY_MS);
    setDate(day, { from: "slider" });
    scheduleState(150);
  });
  el.slider.addEventListener("change", () => scheduleState(0));

  function onDateField() {
    if (setDate(el.date.value, { from: "field" })) scheduleState(0);
  }
  el.date.addEventListener("input", onDateField);
  el.date.addEventListener("change", onDateField);

  el.knownAt.addEventListener("change", () => {
    const value = el.knownAt.value.trim();
    if (value !== "" && !/^\d+$/.test(value)) return;
    view.knownAt = value;
    saveToUrl();
    scheduleState(0);
    resetTimeline();
  });

  el.minConfidence.addEventListener("change", () => {
    view.minConfidence = el.minConfidence.value;
    saveToUrl();
    scheduleState(0);
    resetTimeline();
    filterLive();
  });

  el.viewControls.addEventListener("submit", (event) => {
    event.preventDefault();
    el.knownAt.dispatchEvent(new Event("change"));
    onDateField();
  });

  function saveToUrl() {
    const params = new URLSearchParams();
    if (view.at) params.set("at", view.at);
    if (view.knownAt) params.set("known_at", view.knownAt);
    if (view.minConfidence !== "disputed") params.set("min_confidence", view.minConfidence);
    if (timeline.subject) params.set("subject", timeline.subject);
    if (timeline.type) params.set("type", timeline.type);
    const query = params.toString();
    window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
  }

  /* ---------- the state at the date ---------- */

  function scheduleState(delay) {
    window.clearTimeout(stateTimer);
    stateTimer = window.setTimeout(loadState, delay);
  }

  async function loadState() {
    const mine = ++stateRequest;
    const at = view.at;
    el.stateMeta.textContent = "Loading…";
    el.state.setAttribute("aria-busy", "true");
    let doc;
    try {
      doc = await getJSON("/v1/state", {
        at,
        known_at: view.knownAt,
        min_confidence: view.minConfidence,
      });
    } catch (error) {
      if (mine !== stateRequest) return;
      showError(el.stateError, error);
      el.stateMeta.textContent = "";
      el.state.removeAttribute("aria-busy");
      return;
    }
    if (mine !== stateRequest) return; // a newer request has been made: drop this answer
    showError(el.stateError, null);
    renderState(doc);
    el.state.dataset.at = at; // what is shown: tests wait for this
    el.state.dataset.sequence = String(doc.sequence);
    el.state.removeAttribute("aria-busy");
  }

  function learnNames(doc) {
    for (const p of doc.parties || []) if (p.name) names.set(p.id, p.name);
    for (const p of doc.plans || []) if (p.title) names.set(p.id, p.title);
    for (const m of doc.meetings || []) if (m.title) names.set(m.id, m.title);
    const ids = [...doc.parties, ...doc.plans, ...doc.meetings, ...doc.issues].map((s) => s.id);
    for (const link of document.querySelectorAll("[data-names]")) {
      link.textContent = nameOf(link.dataset.names); // names learnt after the timeline drew
    }
    const known = new Set([...el.subjects.options].map((o) => o.value));
    for (const id of ids.sort()) {
      if (!known.has(id)) el.subjects.append(h("option", { value: id, label: nameOf(id) }));
    }
  }

  function renderState(doc) {
    learnNames(doc);
    const known = view.knownAt ? `as known at sequence ${doc.sequence}` : `as known now (sequence ${doc.sequence})`;
    const conf = view.minConfidence === "disputed" ? "all confidence levels" : `${view.minConfidence} or better`;
    el.stateMeta.textContent = `${known} · ${conf}`;

    const proposed = (p) => ((p.facts || {}).title || {}).time || "";
    const plans = [...doc.plans].sort(
      (a, b) => proposed(a).localeCompare(proposed(b)) || (a.title || a.id).localeCompare(b.title || b.id),
    );
    el.plans.replaceChildren(...plans.map(planCard));
    if (!plans.length) el.plans.append(emptyNote("No plans yet on this date."));
    el.plansCount.textContent = `(${plans.length})`;

    const meetings = [...doc.meetings].sort((a, b) => String(a.starts).localeCompare(String(b.starts)));
    el.meetings.replaceChildren(...meetings.map(meetingCard));
    if (!meetings.length) el.meetings.append(emptyNote("No meetings yet on this date."));
    el.meetingsCount.textContent = `(${meetings.length})`;

    const parties = [...doc.parties].sort(
      (a, b) =>
        Object.keys(b.positions || {}).length - Object.keys(a.positions || {}).length ||
        (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) ||
        (a.name || a.id).localeCompare(b.name || b.id),
    );
    el.parties.replaceChildren(...parties.map(partyCard));
    if (!parties.length) el.parties.append(emptyNote("No parties yet on this date."));
    el.partiesCount.textContent = `(${parties.length})`;
  }

  function emptyNote(text) {
    return h("li", { class: "empty", text });
  }

  function factConfidence(state, fields) {
    const facts = state.facts || {};
    return weakest((fields || Object.keys(facts)).map((f) => facts[f] && facts[f].confidence));
  }

  function card(kind, state, confidence, title, ...body) {
    const headingId = `${kind}-${state.id.replace(/[^a-z0-9]+/gi, "-")}`;
    return h(
      "li",
      {
        class: `card ${kind}-card conf-${confidence}`,
        "data-subject": state.id,
        "data-testid": `${kind}-card`,
        "data-confidence": confidence,
      },
      h(
        "article",
        { "aria-labelledby": headingId },
        h("div", { class: "card-head" }, h("h4", { id: headingId, text: title }), confidenceBadge(confidence)),
        ...body,
      ),
    );
  }

  function row(label, field, value, confidence) {
    if (value === null || value === undefined || value === "") return null;
    return h(
      "div",
      { class: "row" },
      h("dt", { text: label }),
      h("dd", {}, h("span", { "data-field": field, text: value }), confidenceBadge(confidence)),
    );
  }

  /** A field's own confidence, where it is weaker than its card's (which already says). */
  function fieldConf(state, field, cardConfidence) {
    const fact = (state.facts || {})[field];
    if (!fact || rank(fact.confidence) >= rank(cardConfidence || "confirmed")) return null;
    return fact.confidence;
  }

  function stanceList(stances, label) {
    const entries = Object.entries(stances || {});
    if (!entries.length) return null;
    return h(
      "div",
      { class: "stances" },
      h("p", { class: "stances-label", text: label }),
      h("ul", { class: "positions" }, entries.map(([who, s]) => stanceItem(who, s, "data-party"))),
    );
  }

  function stanceItem(key, s, attr) {
    const conditions = (s.conditions || []).length
      ? h("ul", { class: "conditions" }, s.conditions.map((c) => h("li", { text: c })))
      : null;
    return h(
      "li",
      {
        class: `position conf-${s.confidence}`,
        [attr]: key,
        "data-testid": "position",
        "data-confidence": s.confidence,
      },
      h(
        "p",
        { class: "position-line" },
        h("span", { class: "position-on", text: nameOf(key) }),
        h("span", { class: `stance stance-${s.stance}`, "data-field": "stance", "data-testid": "stance", text: s.stance }),
        confidenceBadge(s.confidence),
      ),
      s.summary ? h("p", { class: "position-summary", text: s.summary }) : null,
      conditions,
      h(
        "p",
        { class: "position-source" },
        `since ${sinceText(s.since)}`,
        s.speaker ? ` · said by ${nameOf(s.speaker)}` : "",
        ` · event ${s.event}`,
      ),
    );
  }

  function planCard(p) {
    const confidence = factConfidence(p, ["title", "status", "points", "sponsor"]);
    const classified = p.classified
      ? `Classified${p.classified_by ? ` (ordered by ${nameOf(p.classified_by)})` : ""}`
      : "Not classified";
    const sub = [p.kind, p.sponsor ? `sponsored by ${nameOf(p.sponsor)}` : null].filter(Boolean).join(" · ");
    return card(
      "plan",
      p,
      confidence,
      p.title || nameOf(p.id),
      sub ? h("p", { class: "card-sub", text: sub }) : null,
      p.classified ? h("p", { class: "flag flag-classified", "data-testid": "classified-flag", text: "Classified" }) : null,
      h(
        "dl",
        { class: "facts" },
        row("Status", "status", p.status, fieldConf(p, "status", confidence)),
        row("Points", "points", p.points === null || p.points === undefined ? null : String(p.points), fieldConf(p, "points", confidence)),
        row("Revision", "revision", String(p.revision || 0)),
        row("Classification", "classified", classified, fieldConf(p, "classified", confidence)),
        row("Withheld from", "withheld_from", nameList(p.withheld_from), fieldConf(p, "withheld_from", confidence)),
        row("Based on", "based_on", p.based_on ? nameOf(p.based_on) : null),
        row("Presented to", "presented_to", nameList(p.presented_to), fieldConf(p, "presented_to", confidence)),
        row("Superseded by", "superseded_by", p.superseded_by ? nameOf(p.superseded_by) : null),
      ),
      p.summary ? h("p", { class: "card-summary", text: p.summary }) : null,
      stanceList(p.stances, "Stances"),
    );
  }

  function meetingCard(m) {
    const confidence = factConfidence(m, ["title", "starts"]);
    return card(
      "meeting",
      m,
      confidence,
      m.title || nameOf(m.id),
      h(
        "dl",
        { class: "facts" },
        row("Starts", "starts", m.starts, fieldConf(m, "starts", confidence)),
        row("Where", "location", m.location, fieldConf(m, "location", confidence)),
        row("Status", "status", m.status, fieldConf(m, "status", confidence)),
        row("Participants", "participants", nameList(m.participants), fieldConf(m, "participants", confidence)),
        row("Agenda", "agenda", nameList(m.agenda), fieldConf(m, "agenda", confidence)),
        row("Outcome", "outcome", m.outcome, fieldConf(m, "outcome", confidence)),
        row("Cancelled because", "cancel_reason", m.cancel_reason, fieldConf(m, "cancel_reason", confidence)),
      ),
    );
  }

  function partyCard(p) {
    const positions = Object.entries(p.positions || {});
    const sub = [p.kind, p.role, p.member_of ? `member of ${nameOf(p.member_of)}` : null]
      .filter(Boolean)
      .join(" · ");
    return card(
      "party",
      p,
      factConfidence(p, ["name", "kind"]),
      p.name || nameOf(p.id),
      sub ? h("p", { class: "card-sub", text: sub }) : null,
      positions.length
        ? h("ul", { class: "positions", "aria-label": `Positions of ${p.name || nameOf(p.id)}` },
            positions.map(([on, s]) => stanceItem(on, s, "data-on")))
        : h("p", { class: "muted", text: "No stated positions." }),
    );
  }

  /* ---------- the timeline ---------- */

  function resetTimeline() {
    timeline.cursors = [null];
    timeline.page = 0;
    loadTimeline();
  }

  async function loadTimeline() {
    const mine = ++timelineRequest;
    const cursor = timeline.cursors[timeline.page];
    el.pageInfo.textContent = "Loading…";
    let doc;
    try {
      doc = await getJSON("/v1/timeline", {
        subject: timeline.subject,
        type: timeline.type,
        min_confidence: view.minConfidence,
        known_at: cursor ? "" : view.knownAt,
        limit: timeline.limit,
        cursor,
      });
    } catch (error) {
      if (mine !== timelineRequest) return;
      showError(el.timelineError, error);
      el.events.replaceChildren();
      el.pageInfo.textContent = "";
      el.prev.disabled = timeline.page === 0;
      el.next.disabled = true;
      return;
    }
    if (mine !== timelineRequest) return;
    showError(el.timelineError, null);
    timeline.cursors = timeline.cursors.slice(0, timeline.page + 1);
    if (doc.next) timeline.cursors.push(doc.next);
    timeline.shown = new Set(doc.events.map((e) => e.sequence));
    el.events.replaceChildren(...doc.events.map((e) => eventItem(e, false)));
    if (!doc.events.length) el.events.append(emptyNote("No events match."));
    const first = timeline.page * timeline.limit + 1;
    const last = timeline.page * timeline.limit + doc.events.length;
    el.pageInfo.textContent = doc.events.length
      ? `Page ${timeline.page + 1} · events ${first}–${last} · known at ${doc.known_at}`
      : `Page ${timeline.page + 1}`;
    el.prev.disabled = timeline.page === 0;
    el.next.disabled = !doc.next;
    markAfterDate();
  }

  function eventItem(e, live) {
    const day = (e.time || "").slice(0, 10);
    const when = shortTime(e.time, e.timeprecision);
    const qualifier = QUALIFIER_TEXT[e.timequalifier];
    const subject = e.subject
      ? h("button", {
          type: "button",
          class: "linklike",
          "data-testid": "event-subject",
          "data-names": e.subject,
          title: `Show only events concerning ${e.subject}`,
          text: nameOf(e.subject),
          onclick: () => {
            el.subject.value = e.subject;
            applyFilters();
          },
        })
      : null;
    return h(
      "li",
      {
        class: `event conf-${e.confidence}${live ? " is-live" : ""}`,
        "data-sequence": e.sequence,
        "data-type": e.type,
        "data-subject": e.subject || "",
        "data-day": day,
        "data-confidence": e.confidence,
        "data-testid": live ? "live-event" : "event",
      },
      h(
        "div",
        { class: "event-when" },
        h(
          "button",
          {
            type: "button",
            class: "linklike when",
            title: `Show the state on ${longDate(day)}`,
            "aria-label": `${when}${qualifier ? ` (${qualifier})` : ""}: show the state on ${longDate(day)}`,
            onclick: () => {
              if (setDate(day)) scheduleState(0);
            },
          },
          h("time", { datetime: e.time, text: when }),
        ),
        qualifier ? h("span", { class: "qualifier", text: qualifier }) : null,
      ),
      h(
        "div",
        { class: "event-body" },
        h(
          "p",
          { class: "headline" },
          live ? h("span", { class: "badge badge-new", text: "new" }) : null,
          h("span", { class: "headline-text", "data-field": "headline", text: e.headline || fallbackHeadline(e) }),
        ),
        h(
          "p",
          { class: "event-meta" },
          h("code", { class: "event-type", text: e.type }),
          subject ? " · " : "",
          subject,
          ` · #${e.sequence}`,
          e.corrected_by ? ` · corrected by ${e.corrected_by}` : "",
          " ",
          confidenceBadge(e.confidence),
          h("span", { class: "visually-hidden after-note", text: " (after the selected date)" }),
        ),
      ),
    );
  }

  function fallbackHeadline(e) {
    const d = e.data && typeof e.data === "object" ? e.data : {};
    if (e.type === "position.stated") return `${nameOf(e.subject)} ${d.stance || "states a position"} on ${nameOf(d.on)}`;
    const label = d.title || d.name || d.headline || d.summary;
    return [e.type, e.subject ? nameOf(e.subject) : null, label].filter(Boolean).join(": ");
  }

  /** Dim what comes after the selected date, and mark the date's place in the list. */
  function markAfterDate() {
    if (!view.at) return;
    for (const item of document.querySelectorAll("li.event")) {
      item.classList.toggle("after-date", item.dataset.day > view.at);
    }
    const old = el.events.querySelector(".date-marker");
    if (old) old.remove();
    const items = [...el.events.querySelectorAll("li.event")];
    if (!items.length) return;
    const marker = h(
      "li",
      { class: "date-marker", "data-testid": "date-marker" },
      h("span", { text: `Selected date: ${longDate(view.at)}` }),
    );
    const firstAfter = items.find((item) => item.dataset.day > view.at);
    if (firstAfter) el.events.insertBefore(marker, firstAfter);
    else el.events.append(marker);
  }

  function applyFilters() {
    timeline.subject = el.subject.value.trim();
    timeline.type = el.type.value.trim();
    timeline.limit = Number(el.limit.value) || 50;
    saveToUrl();
    resetTimeline();
    filterLive();
  }

  el.filters.addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters();
  });
  el.filters.addEventListener("reset", () => {
    window.setTimeout(applyFilters, 0); // after the form has cleared its fields
  });
  el.limit.addEventListener("change", applyFilters);
  el.prev.addEventListener("click", () => {
    if (timeline.page > 0) {
      timeline.page -= 1;
      loadTimeline();
    }
  });
  el.next.addEventListener("click", () => {
    if (timeline.cursors.length > timeline.page + 1) {
      timeline.page += 1;
      loadTimeline();
    }
  });

  /* ---------- live updates ---------- */

  function matchesFilters(e) {
    if (rank(e.confidence) < rank(view.minConfidence)) return false;
    const t = timeline.type;
    if (t && !(e.type === t || (t.endsWith(".") && e.type.startsWith(t)))) return false;
    const s = timeline.subject;
    if (s && e.subject !== s && !JSON.stringify(e.data || null).includes(JSON.stringify(s))) return false;
    return true;
  }

  function filterLive() {
    for (const item of el.liveEvents.children) {
      item.hidden = !matchesFilters(item._event);
    }
    el.live.hidden = ![...el.liveEvents.children].some((item) => !item.hidden);
  }

  function setHead(sequence) {
    if (sequence > head) head = sequence;
    el.head.textContent = String(head);
    el.knownAt.max = String(head);
  }

  let lastSeen = 0;
  let queue = Promise.resolve();

  /** Live events are handled one at a time, in sequence order. */
  function receive(e) {
    queue = queue.then(() => handle(e)).catch(() => {});
  }

  async function handle(e) {
    if (e.sequence <= lastSeen) return;
    if (e.sequence > lastSeen + 1 && lastSeen > 0) {
      // Custom `x-` types reach no named listener: fetch what the stream skipped.
      try {
        const page = await getJSON("/v1/events", {
          after: lastSeen,
          limit: Math.min(e.sequence - lastSeen - 1, 1000),
        });
        for (const missed of page.events) {
          if (missed.sequence > lastSeen && missed.sequence < e.sequence) await showLive(missed);
        }
      } catch (_) {
        /* they show in the timeline on the next load */
      }
    }
    lastSeen = e.sequence;
    await showLive(e);
  }

  async function showLive(e) {
    setHead(e.sequence);
    const pinned = view.knownAt !== "";
    if (!pinned) scheduleState(100);
    const day = parseDay((e.time || "").slice(0, 10));
    if (day !== null) fitRange(day);
    let headline = fallbackHeadline(e);
    if (!timeline.shown.has(e.sequence)) {
      const item = eventItem(e, true);
      item._event = e;
      item.classList.toggle("after-date", (e.time || "").slice(0, 10) > view.at);
      el.liveEvents.prepend(item);
      item.hidden = !matchesFilters(e);
      el.live.hidden = ![...el.liveEvents.children].some((i) => !i.hidden);
      headline = await serverHeadline(e, item);
    }
    announce(
      `New event #${e.sequence}: ${headline}.` +
        (pinned ? " The state stays as known at sequence " + view.knownAt + "." : " The state is updated."),
    );
  }

  /** The server's headline for a live event: the timeline at its exact time and subject. */
  async function serverHeadline(e, item) {
    const text = item.querySelector(".headline-text");
    try {
      const doc = await getJSON("/v1/timeline", {
        from: e.time,
        to: e.time,
        subject: e.subject || "",
        known_at: e.sequence,
        limit: 100,
      });
      const found = doc.events.find((x) => x.sequence === e.sequence);
      if (found && found.headline) text.textContent = found.headline;
    } catch (_) {
      /* keep the headline made here */
    }
    return text.textContent;
  }

  let source = null;
  function connect() {
    if (source) source.close();
    source = window.AnnalsAccess.eventSource(`/v1/stream?after=${lastSeen}`);
    const onEvent = (message) => {
      let e;
      try {
        e = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      if (typeof e.sequence !== "number") e.sequence = Number(message.lastEventId);
      receive(e);
    };
    for (const type of STREAM_TYPES) source.addEventListener(type, onEvent);
    source.addEventListener("open", () => setConnection("live", "Live: new events appear as they are recorded"));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        setConnection("off", "Live updates stopped; retrying…");
        window.setTimeout(connect, 5000);
      } else {
        setConnection("retrying", "Reconnecting to the live stream…");
      }
    });
  }

  function setConnection(state, text) {
    el.connection.dataset.state = state;
    el.connectionText.textContent = text;
  }

  /* ---------- start ---------- */

  async function start() {
    const params = new URLSearchParams(window.location.search);
    view.knownAt = /^\d+$/.test(params.get("known_at") || "") ? params.get("known_at") : "";
    view.minConfidence = CONFIDENCE.includes(params.get("min_confidence")) ? params.get("min_confidence") : "disputed";
    timeline.subject = params.get("subject") || "";
    timeline.type = params.get("type") || "";
    el.knownAt.value = view.knownAt;
    el.minConfidence.value = view.minConfidence;
    el.subject.value = timeline.subject;
    el.type.value = timeline.type;
    timeline.limit = Number(el.limit.value) || 50;

    let earliest = null;
    try {
      const [first, log] = await Promise.all([
        getJSON("/v1/timeline", { limit: 1 }),
        getJSON("/v1/events", { after: 0, limit: 1 }),
      ]);
      if (first.events.length) earliest = parseDay(first.events[0].time.slice(0, 10));
      setHead(log.last_sequence || 0);
      lastSeen = log.last_sequence || 0;
    } catch (error) {
      showError(el.timelineError, error);
    }
    const thisYear = new Date().getUTCFullYear();
    const firstYear = earliest === null ? 2014 : new Date(earliest).getUTCFullYear();
    setRange(Date.UTC(firstYear, 0, 1), Date.UTC(thisYear, 11, 31));
    // Only an explicit choice moves the range: start at today unless the address says a date.
    const wanted = params.get("at");
    if (!(wanted && setDate(wanted))) setDate(isoDay(Date.now()));
    loadState();
    loadTimeline();
    connect();
  }

  start();
})();
