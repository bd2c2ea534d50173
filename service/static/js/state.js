/* The state at the chosen date: plans, meetings and parties as cards (GET /v1/state). */

import { getJSON, question } from "./api.js";
import {
  $, confidenceBadge, h, learnNames, longDate, nameList, nameOf, rank, showError, sinceText, weakest,
} from "./dom.js";

const KIND_ORDER = { state: 0, organization: 1, person: 2, media: 3, other: 4 };
const el = {
  state: $("state"),
  date: $("state-date"),
  meta: $("state-meta"),
  error: $("state-error"),
  plans: $("plans"),
  meetings: $("meetings"),
  parties: $("parties"),
  plansCount: $("plans-count"),
  meetingsCount: $("meetings-count"),
  partiesCount: $("parties-count"),
};
let latest = 0;

/** Load and show the state the view asks for; resolves to the answer (null on failure). */
export async function loadState(view) {
  const mine = ++latest;
  const at = view.at;
  el.meta.textContent = "Loading…";
  el.state.setAttribute("aria-busy", "true");
  let doc;
  try {
    doc = await getJSON("/v1/state", question(view));
  } catch (error) {
    if (mine !== latest) return null;
    showError(el.error, error);
    el.meta.textContent = "";
    el.state.removeAttribute("aria-busy");
    return null;
  }
  if (mine !== latest) return null; // a newer request has been made: drop this answer
  showError(el.error, null);
  learnNames(doc);
  render(doc, view);
  el.date.textContent = longDate(at);
  el.date.setAttribute("datetime", at);
  el.state.dataset.at = at; // what is shown: tests wait for this
  el.state.dataset.sequence = String(doc.sequence);
  el.state.removeAttribute("aria-busy");
  return doc;
}

function render(doc, view) {
  const known = view.knownAt ? `as known at sequence ${doc.sequence}` : `as known now (sequence ${doc.sequence})`;
  const conf = view.minConfidence === "disputed" ? "all confidence levels" : `${view.minConfidence} or better`;
  el.meta.textContent = `${known} · ${conf}`;

  const proposed = (p) => ((p.facts || {}).title || {}).time || "";
  const plans = [...doc.plans].sort(
    (a, b) => proposed(a).localeCompare(proposed(b)) || (a.title || a.id).localeCompare(b.title || b.id),
  );
  fill(el.plans, el.plansCount, plans.map(planCard), "No plans yet on this date.");
  const meetings = [...doc.meetings].sort((a, b) => String(a.starts).localeCompare(String(b.starts)));
  fill(el.meetings, el.meetingsCount, meetings.map(meetingCard), "No meetings yet on this date.");
  const parties = [...doc.parties].sort(
    (a, b) =>
      Object.keys(b.positions || {}).length - Object.keys(a.positions || {}).length ||
      (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) ||
      (a.name || a.id).localeCompare(b.name || b.id),
  );
  fill(el.parties, el.partiesCount, parties.map(partyCard), "No parties yet on this date.");
}

function fill(list, count, cards, empty) {
  list.replaceChildren(...cards);
  if (!cards.length) list.append(h("li", { class: "empty", text: empty }));
  count.textContent = `(${cards.length})`;
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
