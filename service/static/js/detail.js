/* One event, as clicked on the timeline: what it says, its sources and its corrections. */

import { getJSON } from "./api.js";
import { $, QUALIFIER_TEXT, confidenceBadge, h, nameOf, references, shortTime } from "./dom.js";
import { chooseDate } from "./controls.js";
import { clearSelection } from "./timeline.js";

const el = $("detail");
let shown = 0;

export function hideDetail() {
  shown = 0;
  clearSelection();
  el.hidden = true;
  el.replaceChildren();
}

/** Show `e` (a timeline entry or a stream message's event). */
export function showDetail(e) {
  shown = e.sequence;
  const d = e.data && typeof e.data === "object" ? e.data : {};
  const day = (e.time || "").slice(0, 10);
  const qualifier = QUALIFIER_TEXT[e.timequalifier];
  const sources = Array.isArray(d.sources) ? d.sources : [];
  const concerned = [...references(e)].filter((s) => s !== e.subject);
  const parts = [
    h(
      "div",
      { class: "detail-head" },
      h("h3", { id: "detail-heading", "data-field": "headline", text: e.headline || e.type }),
      h("button", { type: "button", class: "secondary close", "aria-label": "Close the event", text: "×", onclick: hideDetail }),
    ),
    h(
      "p",
      { class: "event-meta" },
      h("time", { datetime: e.time, text: shortTime(e.time, e.timeprecision) }),
      qualifier ? ` (${qualifier})` : "",
      ` · ${e.timegiven ? `given as ${e.timegiven} · ` : ""}`,
      h("code", { text: e.type }),
      ` · #${e.sequence} · `,
      e.confidence,
      " ",
      confidenceBadge(e.confidence),
    ),
    e.subject ? h("p", { class: "card-sub", text: `About ${nameOf(e.subject)}` }) : null,
    concerned.length ? h("p", { class: "card-sub", text: `Concerns ${concerned.map(nameOf).join(", ")}` }) : null,
    typeof d.summary === "string" ? h("p", { class: "card-summary", text: d.summary }) : null,
    typeof d.quote === "string" ? h("blockquote", { class: "quote", text: d.quote }) : null,
    h("h4", { text: "Sources" }),
    sources.length
      ? h("ul", { class: "sources", "data-testid": "sources" }, sources.map(source))
      : h("p", { class: "muted", text: "No source given." }),
    h("div", { class: "corrections", "data-testid": "corrections" }),
    h("button", { type: "button", class: "secondary", text: `Show the state on ${shortTime(e.time, "day")}`, onclick: () => chooseDate(day) }),
  ];
  el.replaceChildren(...parts.filter(Boolean)); // (replaceChildren would write null as text)
  el.hidden = false;
  if (e.corrected_by) corrections(e);
}

function source(s) {
  const link = typeof s.url === "string" && /^https?:\/\//i.test(s.url)
    ? h("a", { href: s.url, rel: "noopener noreferrer", target: "_blank", text: s.url })
    : null;
  return h(
    "li",
    {},
    h("strong", { text: s.outlet || "unknown outlet" }),
    s.published ? ` (${s.published})` : "",
    s.note ? ` — ${s.note}` : "",
    link ? " " : "",
    link,
  );
}

/** The event as first recorded, beside the correction that replaced it. */
async function corrections(e) {
  const box = el.querySelector(".corrections");
  const mine = e.sequence;
  try {
    const [original, correction] = await Promise.all([
      getJSON(`/v1/events/${encodeURIComponent(e.id)}`, { source: e.source }),
      getJSON(`/v1/events/${encodeURIComponent(e.corrected_by)}`),
    ]);
    if (shown !== mine) return;
    const before = original.data && typeof original.data === "object" ? original.data : {};
    box.replaceChildren(
      h("h4", { text: "Corrections" }),
      h(
        "p",
        {},
        `Corrected by ${correction.id} (#${correction.sequence}, recorded ${correction.recordedtime.slice(0, 10)}). `,
        `As first recorded: ${original.timegiven}`,
        typeof before.summary === "string" ? ` — ${before.summary}` : "",
      ),
    );
  } catch (error) {
    if (shown === mine) box.replaceChildren(h("p", { class: "muted", text: `Corrected by ${e.corrected_by}.` }));
  }
}
