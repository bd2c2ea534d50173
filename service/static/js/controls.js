/* The view's controls: the date (field and slider together), known_at, minimum confidence. */

import { $, CONFIDENCE, DAY_MS, DEFAULT_MIN, isSubject, isoDay, longDate, parseDay } from "./dom.js";

/** What the page shows: one valid time, one known_at (empty: now), one confidence floor. */
export const view = { at: "", knownAt: "", minConfidence: DEFAULT_MIN, head: 0, plan: "" };

const el = {
  date: $("at-date"),
  slider: $("at-slider"),
  sliderRange: $("slider-range"),
  knownAt: $("known-at"),
  head: $("head-sequence"),
  minConfidence: $("min-confidence"),
  form: $("view-controls"),
};
const range = { min: Infinity, max: -Infinity };
let changed = () => {};
let timer = 0;

/** Wire the controls; `onChange(what)` hears "at" (debounced while sliding), "known" or "confidence". */
export function initControls(onChange, params) {
  changed = onChange;
  view.knownAt = /^\d+$/.test(params.get("known_at") || "") ? params.get("known_at") : "";
  view.minConfidence = CONFIDENCE.includes(params.get("min_confidence"))
    ? params.get("min_confidence")
    : DEFAULT_MIN;
  view.plan = isSubject(params.get("plan") || "", "plan") ? params.get("plan") : "";
  el.knownAt.value = view.knownAt;
  el.minConfidence.value = view.minConfidence;

  el.slider.addEventListener("input", () => {
    setDate(isoDay(range.min + Number(el.slider.value) * DAY_MS), "slider");
    later("at", 150);
  });
  el.slider.addEventListener("change", () => later("at", 0));
  const onField = () => {
    if (setDate(el.date.value, "field")) later("at", 0);
  };
  el.date.addEventListener("input", onField);
  el.date.addEventListener("change", onField);
  el.knownAt.addEventListener("change", () => {
    const value = el.knownAt.value.trim();
    if (value !== "" && !/^\d+$/.test(value)) return;
    view.knownAt = value;
    saveToUrl();
    changed("known");
  });
  el.minConfidence.addEventListener("change", () => {
    view.minConfidence = el.minConfidence.value;
    saveToUrl();
    changed("confidence");
  });
  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    el.knownAt.dispatchEvent(new Event("change"));
    onField();
  });
}

function later(what, delay) {
  window.clearTimeout(timer);
  timer = window.setTimeout(() => changed(what), delay);
}

/** The slider's span: from `minMs` to `maxMs` (whole UTC days). */
export function setRange(minMs, maxMs) {
  range.min = Math.min(range.min, minMs);
  range.max = Math.max(range.max, maxMs);
  el.slider.min = "0";
  el.slider.max = String(Math.round((range.max - range.min) / DAY_MS));
  el.sliderRange.textContent = `${longDate(isoDay(range.min))} to ${longDate(isoDay(range.max))}`;
  const at = parseDay(view.at);
  if (at !== null) el.slider.value = String(Math.round((at - range.min) / DAY_MS));
}

/** Widen the slider to the whole year of `dayMs` when it lies outside. */
export function fitRange(dayMs) {
  const year = new Date(dayMs).getUTCFullYear();
  if (dayMs < range.min) setRange(Date.UTC(year, 0, 1), range.max);
  if (dayMs > range.max) setRange(range.min, Date.UTC(year, 11, 31));
}

/** Show `day` (YYYY-MM-DD) in the field and on the slider; false when it is no date. */
export function setDate(day, from) {
  const ms = parseDay(day);
  if (ms === null) return false;
  fitRange(ms);
  view.at = day;
  if (from !== "field") el.date.value = day;
  if (from !== "slider") el.slider.value = String(Math.round((ms - range.min) / DAY_MS));
  el.slider.setAttribute("aria-valuetext", longDate(day));
  saveToUrl();
  return true;
}

/** Go to `day` as if the reader had chosen it. */
export function chooseDate(day) {
  if (setDate(day)) changed("at");
}

export function setHead(sequence) {
  if (sequence > view.head) view.head = sequence;
  el.head.textContent = String(view.head);
  el.knownAt.max = String(view.head);
}

export function saveToUrl() {
  const params = new URLSearchParams();
  if (view.at) params.set("at", view.at);
  if (view.knownAt) params.set("known_at", view.knownAt);
  if (view.minConfidence !== DEFAULT_MIN) params.set("min_confidence", view.minConfidence);
  if (view.plan) params.set("plan", view.plan);
  const query = params.toString();
  window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
}
