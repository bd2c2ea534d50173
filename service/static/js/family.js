/* A plan's family side by side: the plan and every version based on it (GET /v1/plans/{slug}/family). */

import { getJSON, question } from "./api.js";
import { $, confidenceBadge, h, learnName, nameList, nameOf, showError, weakest } from "./dom.js";
import { saveToUrl } from "./controls.js";

const el = { section: $("family"), pick: $("family-plan"), meta: $("family-meta"), tree: $("family-tree"), error: $("family-error") };
let latest = 0;
let reload = () => {};

/** Wire the plan picker; `onPick` reloads the family for the plan chosen. */
export function initFamily(view, onPick) {
  reload = onPick;
  el.pick.addEventListener("change", () => {
    view.plan = el.pick.value;
    saveToUrl();
    reload();
  });
}

/** Offer the plans no other is based on (the families' roots) among the plans the state panel has loaded. */
export function offerPlans(view, doc) {
  const roots = doc.plans.filter((p) => !p.based_on);
  if (!view.plan) {
    const widest = [...roots].sort((a, b) => (b.derived || []).length - (a.derived || []).length)[0];
    if (widest) view.plan = widest.id;
  }
  const ids = new Set(roots.map((p) => p.id));
  if (view.plan) ids.add(view.plan);
  const options = [...ids].sort().map((id) => h("option", { value: id, text: nameOf(id) }));
  el.pick.replaceChildren(...options);
  el.pick.value = view.plan;
}

/** Load and show the chosen plan's family at the view's date, as known at its known_at. */
export async function loadFamily(view) {
  if (!view.plan) {
    el.tree.replaceChildren(h("p", { class: "empty", text: "No plans yet on this date." }));
    return;
  }
  const mine = ++latest;
  el.section.setAttribute("aria-busy", "true");
  let doc;
  try {
    doc = await getJSON(`/v1/plans/${view.plan.slice(5)}/family`, question(view));
  } catch (error) {
    if (mine !== latest) return;
    el.section.removeAttribute("aria-busy");
    if (error.status === 404) {
      showError(el.error, null);
      el.tree.replaceChildren(h("p", { class: "empty", text: `${nameOf(view.plan)} is not known on this date.` }));
      el.section.dataset.at = view.at;
      el.section.dataset.sequence = "";
      return;
    }
    showError(el.error, error);
    return;
  }
  if (mine !== latest) return;
  showError(el.error, null);
  for (const v of doc.versions) learnName(v.id, v.title);
  const byId = new Map(doc.versions.map((v) => [v.id, v]));
  el.tree.replaceChildren(branch(byId.get(doc.plan), byId, new Set()));
  el.meta.textContent =
    `${doc.versions.length} version${doc.versions.length === 1 ? "" : "s"} · ` +
    (view.knownAt ? `as known at sequence ${doc.sequence}` : `as known now (sequence ${doc.sequence})`) +
    (doc.truncated ? " · only the first versions are shown" : "");
  el.section.dataset.at = view.at; // what is shown: tests wait for this
  el.section.dataset.sequence = String(doc.sequence);
  el.section.removeAttribute("aria-busy");
}

/** A version and, below it, the versions based on it. */
function branch(v, byId, seen) {
  seen.add(v.id);
  const children = v.derived.filter((id) => byId.has(id) && !seen.has(id)).map((id) => byId.get(id));
  for (const c of children) seen.add(c.id);
  return h(
    "div",
    { class: "branch" },
    version(v),
    children.length ? h("div", { class: "offspring" }, children.map((c) => branch(c, byId, seen))) : null,
  );
}

function version(v) {
  const facts = v.facts || {};
  const confidence = weakest(["title", "sponsor", "points", "classified"].map((f) => facts[f] && facts[f].confidence));
  const points = v.history.map((r) => r.points).filter((p) => p !== null && p !== undefined);
  const shownPoints = [...new Set(points)].join(" → ");
  const stances = Object.entries(v.stances || {});
  return h(
    "article",
    {
      class: `version conf-${confidence}${v.classified ? " is-classified" : ""}`,
      "data-testid": "family-version",
      "data-plan": v.id,
      "data-generation": v.generation,
      "data-confidence": confidence,
    },
    h("div", { class: "card-head" }, h("h3", { text: v.title || nameOf(v.id) }), confidenceBadge(confidence)),
    h("p", { class: "card-sub", text: [v.kind, v.sponsor ? `by ${nameOf(v.sponsor)}` : null].filter(Boolean).join(" · ") }),
    h(
      "p",
      { class: "version-facts" },
      shownPoints ? h("span", { class: "points", "data-field": "points", text: `${shownPoints} points` }) : null,
      v.status ? h("span", { class: "status", "data-field": "status", text: v.status }) : null,
      v.based_on ? h("span", { class: "based-on", text: `based on ${nameOf(v.based_on)}` }) : null,
    ),
    v.classified
      ? h(
          "p",
          { class: "flag flag-classified", "data-field": "classified" },
          "Classified",
          v.withheld_from.length ? ` · withheld from ${nameList(v.withheld_from)}` : "",
        )
      : h("p", { class: "flag flag-open", "data-field": "classified", text: "Not classified" }),
    v.presented_to.length ? h("p", { class: "card-sub", text: `presented to ${nameList(v.presented_to)}` }) : null,
    v.superseded_by ? h("p", { class: "card-sub", text: `superseded by ${nameOf(v.superseded_by)}` }) : null,
    stances.length
      ? h(
          "ul",
          { class: "version-stances", "aria-label": "Stances towards it" },
          stances.map(([party, s]) =>
            h(
              "li",
              { "data-party": party, "data-confidence": s.confidence },
              h("span", { class: "position-on", text: nameOf(party) }),
              " ",
              h("span", { class: `stance stance-${s.stance}`, "data-field": "stance", text: s.stance }),
              " ",
              confidenceBadge(s.confidence),
            ),
          ),
        )
      : null,
  );
}
