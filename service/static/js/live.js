/* "Just recorded": the stream's newest events, as their messages carry them (no extra request). */

import { $, QUALIFIER_TEXT, confidenceBadge, h, learnName, nameOf, rank, shortTime } from "./dom.js";

const KEEP = 20; // newest events listed
const el = { section: $("live"), list: $("live-events"), connection: $("connection"), text: $("connection-text") };

/** Learn the display names a stream message carries. */
export function learnMessageNames(e) {
  for (const [id, name] of Object.entries(e.names || {})) learnName(id, name);
}

/** List a live event at the top; `onOpen(e)` shows it in full. */
export function listLive(e, view, onOpen) {
  const qualifier = QUALIFIER_TEXT[e.timequalifier];
  const item = h(
    "li",
    {
      class: `event conf-${e.confidence} is-live`,
      "data-testid": "live-event",
      "data-sequence": e.sequence,
      "data-confidence": e.confidence,
    },
    h(
      "button",
      { type: "button", class: "linklike headline", onclick: () => onOpen(e) },
      h("span", { class: "badge badge-new", text: "new" }),
      " ",
      h("span", { "data-field": "headline", text: e.headline }),
    ),
    h(
      "p",
      { class: "event-meta" },
      h("time", { datetime: e.time, text: shortTime(e.time, e.timeprecision) }),
      qualifier ? ` (${qualifier})` : "",
      e.subject ? ` · ${nameOf(e.subject)}` : "",
      ` · #${e.sequence} `,
      confidenceBadge(e.confidence),
    ),
  );
  item.hidden = rank(e.confidence) < rank(view.minConfidence);
  el.list.prepend(item);
  while (el.list.children.length > KEEP) el.list.lastElementChild.remove();
  el.section.hidden = ![...el.list.children].some((i) => !i.hidden);
}

export function setConnection(state, text) {
  el.connection.dataset.state = state;
  el.text.textContent = text;
}
