/* The viewer's start and wiring: the controls drive the timeline, the family and the state;
 * the live stream feeds all three. Every value from the API goes into the page as text. */

import { follow, getJSON } from "./api.js";
import { $, announce, isoDay, parseDay, showError } from "./dom.js";
import { chooseDate, fitRange, initControls, setDate, setHead, setRange, view } from "./controls.js";
import { loadState, onStateGrown } from "./state.js";
import { initFamily, loadFamily, offerPlans } from "./family.js";
import { addLive, focusEvent, initTimeline, renameGroups, showView } from "./timeline.js";
import { showDetail } from "./detail.js";
import { learnMessageNames, listLive, setConnection } from "./live.js";

let refreshTimer = 0;

/** The state and the plan family for the view (the family waits for a plan to show). */
function refresh() {
  if (view.plan) loadFamily(view);
  loadState(view).then((doc) => doc && plansLoaded(doc));
}

/** Offer the plans loaded so far; the family follows once there is a plan to show. */
function plansLoaded(doc) {
  const hadPlan = view.plan;
  offerPlans(view, doc);
  renameGroups();
  if (!hadPlan && view.plan) loadFamily(view);
}

function onChange() {
  showView(view);
  refresh();
}

function onLive(e) {
  learnMessageNames(e);
  renameGroups();
  setHead(e.sequence);
  const day = parseDay((e.time || "").slice(0, 10));
  if (day !== null) fitRange(day);
  addLive(e);
  listLive(e, view, (shown) => {
    showDetail(shown);
    focusEvent(shown.sequence);
  });
  const pinned = view.knownAt !== "";
  if (!pinned) {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(refresh, 100);
  }
  announce(
    `New event #${e.sequence}: ${e.headline}.` +
      (pinned ? ` The view stays as known at sequence ${view.knownAt}.` : " The view is updated."),
  );
}

/** The newest valid time worth opening on: the last recorded event's, unless it is in the future. */
async function openingDay(head) {
  const today = isoDay(Date.now());
  if (!head) return today;
  const page = await getJSON("/v1/events", { after: head - 1, limit: 1 });
  const day = page.events.length ? page.events[0].time.slice(0, 10) : today;
  return day < today ? day : today;
}

async function start() {
  const params = new URLSearchParams(window.location.search);
  initControls(onChange, params);
  initFamily(view, () => loadFamily(view));
  onStateGrown(plansLoaded);
  let earliest = null;
  let opening = isoDay(Date.now());
  try {
    const [first, log] = await Promise.all([
      getJSON("/v1/timeline", { limit: 1 }),
      getJSON("/v1/events", { after: 0, limit: 1 }),
    ]);
    if (first.events.length) earliest = parseDay(first.events[0].time.slice(0, 10));
    setHead(log.last_sequence || 0);
    if (!params.get("at")) opening = await openingDay(view.head);
  } catch (error) {
    showError($("timeline-error"), error);
  }
  const thisYear = new Date().getUTCFullYear();
  const firstYear = earliest === null ? 2014 : new Date(earliest).getUTCFullYear();
  setRange(Date.UTC(firstYear, 0, 1), Date.UTC(thisYear, 11, 31));
  if (!(params.get("at") && setDate(params.get("at")))) setDate(opening);
  initTimeline(view, showDetail, chooseDate);
  refresh();
  follow(view.head, onLive, setConnection);
}

start();
