/* The state at the chosen date: plans, meetings and parties as cards (GET /v1/state, a page
 * of each kind at a time, every page at one sequence; "Show more" reads the next). */

import { getJSON, question } from "./api.js";
import {
  $, DEFAULT_MIN, announce, confidenceBadge, h, learnNames, longDate, nameList, nameOf, rank, showError, sinceText, weakest,
} from "./dom.js";

const KIND_ORDER = { state: 0, organization: 1, person: 2, media: 3, other: 4 };
// Subjects one /v1/state request asks for: the answer stays small however long the log is.
const PAGE = 100;
const MAX_LIMIT = 10_000; // the service's largest page (SPEC §5)

const proposed = (p) => ((p.facts || {}).title || {}).time || "";
// Each list is sorted across the pages loaded so far: a later page's cards can land above
// earlier ones (a party with many positions sorts first wherever its id falls).
const LISTS = {
  plans: {
    kind: "plan",
    noun: "plans",
    empty: "No plans yet on this date.",
    card: planCard,
    order: (a, b) => proposed(a).localeCompare(proposed(b)) || (a.title || a.id).localeCompare(b.title || b.id),
  },
  meetings: {
    kind: "meeting",
    noun: "meetings",
    empty: "No meetings yet on this date.",
    card: meetingCard,
    order: (a, b) => String(a.starts).localeCompare(String(b.starts)),
  },
  parties: {
    kind: "party",
    noun: "parties",
    empty: "No parties yet on this date.",
    card: partyCard,
    order: (a, b) =>
      Object.keys(b.positions || {}).length - Object.keys(a.positions || {}).length ||
      (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) ||
      (a.name || a.id).localeCompare(b.name || b.id),
  },
};
const FOLLOWING = ["meetings", "parties"]; // asked once the plans' answer has fixed the sequence

const el = {
  state: $("state"),
  date: $("state-date"),
  meta: $("state-meta"),
  error: $("state-error"),
};
for (const plural of Object.keys(LISTS)) {
  el[plural] = $(plural);
  el[`${plural}Count`] = $(`${plural}-count`);
  el[`${plural}More`] = $(`${plural}-more`);
  el[`${plural}Heading`] = $(`${plural}-heading`);
  el[`${plural}More`].addEventListener("click", () => showMore(plural));
}
let latest = 0;
// What the panel shows: the view it answers (`key`), the question asked (pinned to one
// sequence) and, per list, the subjects loaded, the next page's cursor and the pages read.
let shown = null;
let onGrown = () => {};

/** `listener(doc)` hears of every page added by "Show more" (doc as loadState resolves). */
export function onStateGrown(listener) {
  onGrown = listener;
}

const viewKey = (view) => [view.at, view.knownAt, view.minConfidence].join("|");

/**
 * Load and show the state the view asks for, a page of each kind, all at one sequence;
 * resolves to {at, sequence, plans, meetings, parties} as loaded (null on failure).
 */
export async function loadState(view) {
  const mine = ++latest;
  const at = view.at;
  // Refreshing the view shown (a live event) reads as many pages as are shown; another view starts over.
  const again = shown && shown.key === viewKey(view) ? shown : null;
  const limit = (plural) => Math.min(MAX_LIMIT, PAGE * (again ? again.lists[plural].pages : 1));
  el.meta.textContent = "Loading…";
  el.state.setAttribute("aria-busy", "true");
  const answers = {};
  let ask;
  try {
    answers.plans = await getJSON("/v1/state", { ...question(view), kind: "plan", limit: limit("plans") });
    if (mine !== latest) return null;
    ask = { ...question(view), known_at: view.knownAt || answers.plans.sequence };
    const docs = await Promise.all(
      FOLLOWING.map((plural) => getJSON("/v1/state", { ...ask, kind: LISTS[plural].kind, limit: limit(plural) })),
    );
    FOLLOWING.forEach((plural, i) => (answers[plural] = docs[i]));
  } catch (error) {
    if (mine !== latest) return null;
    showError(el.error, error);
    el.meta.textContent = "";
    el.state.removeAttribute("aria-busy");
    return null;
  }
  if (mine !== latest) return null; // a newer request has been made: drop this answer
  showError(el.error, null);
  const sequence = answers.plans.sequence;
  shown = { key: viewKey(view), ask, sequence, lists: {} };
  for (const [plural, doc] of Object.entries(answers)) {
    learnNames(doc);
    const pages = again ? again.lists[plural].pages : 1;
    shown.lists[plural] = { items: doc[plural], next: doc.next, pages };
  }
  const known = view.knownAt ? `as known at sequence ${sequence}` : `as known now (sequence ${sequence})`;
  const conf = view.minConfidence === DEFAULT_MIN ? "all confidence levels" : `${view.minConfidence} or better`;
  el.meta.textContent = `${known} · ${conf}`;
  for (const plural of Object.keys(LISTS)) fill(plural);
  el.date.textContent = longDate(at);
  el.date.setAttribute("datetime", at);
  el.state.dataset.at = at; // what is shown: tests wait for this
  el.state.dataset.sequence = String(sequence);
  el.state.removeAttribute("aria-busy");
  return loaded();
}

/** The next page of one list, at the sequence the panel shows; its cards join the list. */
async function showMore(plural) {
  const mine = latest;
  const state = shown;
  const list = state.lists[plural];
  const button = el[`${plural}More`];
  if (!list.next || button.disabled) return;
  button.disabled = true;
  let doc;
  try {
    // The cursor pins the walk to its sequence; kind and the view's question go with every page.
    doc = await getJSON("/v1/state", { ...state.ask, kind: LISTS[plural].kind, limit: PAGE, cursor: list.next });
  } catch (error) {
    if (mine !== latest) return;
    showError(el.error, error);
    button.disabled = false;
    return;
  }
  if (mine !== latest || state !== shown) return; // the view has changed meanwhile: drop this page
  showError(el.error, null);
  learnNames(doc);
  list.items = [...list.items, ...doc[plural]];
  list.next = doc.next;
  list.pages += 1;
  const hadFocus = document.activeElement === button;
  fill(plural);
  if (hadFocus && button.hidden) {
    // The button is gone: keep the keyboard in this list rather than dropping it to the page.
    el[`${plural}Heading`].tabIndex = -1;
    el[`${plural}Heading`].focus();
  }
  announce(`${list.items.length} ${LISTS[plural].noun} shown${list.next ? ", more to load" : ", all of them"}.`);
  onGrown(loaded());
}

/** The subjects loaded so far, shaped like a /v1/state answer. */
function loaded() {
  const doc = { at: shown.ask.at, sequence: shown.sequence, issues: [] };
  for (const [plural, list] of Object.entries(shown.lists)) doc[plural] = list.items;
  return doc;
}

function fill(plural) {
  const { items, next } = shown.lists[plural];
  const spec = LISTS[plural];
  const cards = [...items].sort(spec.order).map(spec.card);
  el[plural].replaceChildren(...cards);
  if (!cards.length) el[plural].append(h("li", { class: "empty", text: next ? `No ${spec.noun} so far.` : spec.empty }));
  el[`${plural}Count`].textContent = next ? `(${cards.length} shown, more to load)` : `(${cards.length})`;
  const button = el[`${plural}More`];
  button.textContent = `Show up to ${PAGE} more ${spec.noun}`;
  button.hidden = !next;
  button.disabled = false;
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

export function stanceItem(key, s, attr) {
  const conditions = (s.conditions || []).length
    ? h("ul", { class: "conditions" }, s.conditions.map((c) => h("li", { text: c })))
    : null;
  return h(
    "li",
    { class: `position conf-${s.confidence}`, [attr]: key, "data-testid": "position", "data-confidence": s.confidence },
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
  const sub = [p.kind, p.role, p.member_of ? `member of ${nameOf(p.member_of)}` : null].filter(Boolean).join(" · ");
  const members = (p.members || []).length ? h("p", { class: "card-sub", text: `members: ${nameList(p.members)}` }) : null;
  return card(
    "party",
    p,
    factConfidence(p, ["name", "kind"]),
    p.name || nameOf(p.id),
    sub ? h("p", { class: "card-sub", text: sub }) : null,
    members,
    positions.length
      ? h("ul", { class: "positions", "aria-label": `Positions of ${p.name || nameOf(p.id)}` },
          positions.map(([on, s]) => stanceItem(on, s, "data-on")))
      : h("p", { class: "muted", text: "No stated positions." }),
  );
}
