/* Building the page safely: elements from data (text only, never HTML), names, dates. */

export const CONFIDENCE = ["disputed", "unconfirmed", "reported", "confirmed"]; // weakest first
export const DEFAULT_MIN = CONFIDENCE[0]; // the floor a view has unless it names one: all count
const SMALL_WORDS = new Set(["a", "an", "and", "at", "de", "for", "in", "of", "on", "the", "to"]);
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_LONG = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
];
export const DAY_MS = 86400000;
export const QUALIFIER_TEXT = { approximate: "approx.", uncertain: "uncertain" };

export const $ = (id) => document.getElementById(id);

/** An element; attributes `class`, `text`, `on<event>`, others as given; children as text. */
export function h(tag, attrs, ...children) {
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

/* ---------- display names: learnt from answers and stream messages ---------- */

const names = new Map();

export function learnName(id, name) {
  if (id && typeof name === "string" && name.trim()) names.set(id, name);
}

export function learnNameIfNew(id, name) {
  if (!names.has(id)) learnName(id, name);
}

/** Every name an answer carries (parties' names, plans' and meetings' titles). */
export function learnNames(doc) {
  for (const p of doc.parties || []) learnName(p.id, p.name);
  for (const p of doc.plans || []) learnName(p.id, p.title);
  for (const m of doc.meetings || []) learnName(m.id, m.title);
}

/** A subject's display name; one made from its slug until the real one is known. */
export function nameOf(subject) {
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

const SUBJECT = /^(party|plan|meeting|issue)\/[a-z0-9][a-z0-9-]{0,63}$/;
/** A subject id (SPEC §1), of `kind` when one is named. */
export const isSubject = (v, kind = null) => SUBJECT.test(v) && (!kind || v.startsWith(`${kind}/`));

/** The subjects an event concerns: its subject and every subject id in its data (SPEC §1). */
export function references(e) {
  const found = new Set(e.subject ? [e.subject] : []);
  const stack = [e.data];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === "string") {
      if (SUBJECT.test(v)) found.add(v);
    } else if (v && typeof v === "object") {
      stack.push(...Object.values(v));
    }
  }
  return found;
}

export function nameList(ids) {
  return (ids || []).map(nameOf).join(", ");
}

/* ---------- confidence ---------- */

export function rank(confidence) {
  const i = CONFIDENCE.indexOf(confidence);
  return i < 0 ? 0 : i;
}

export function weakest(confidences) {
  let worst = "confirmed";
  for (const c of confidences) if (c && rank(c) < rank(worst)) worst = c;
  return worst;
}

export function confidenceBadge(confidence) {
  if (!confidence || confidence === "confirmed") return null;
  return h("span", { class: `badge conf-${confidence}`, "data-field": "confidence", text: confidence });
}

/* ---------- dates (UTC days) ---------- */

export function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

export function parseDay(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3]);
  return Number.isNaN(ms) ? null : ms;
}

export function longDate(day) {
  const ms = parseDay(day);
  if (ms === null) return day;
  const d = new Date(ms);
  return `${d.getUTCDate()} ${MONTHS_LONG[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

/** A valid time as precise as it was given: "2014", "Nov 2025", "28 Nov 2025". */
export function shortTime(time, precision) {
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
export function sinceText(since) {
  if (!since) return "";
  return since.slice(5, 19) === "01-01T00:00:00" ? since.slice(0, 4) : shortTime(since, "day");
}

/** The interval a date given in data covers (`starts`: 2025-12-02, 2025-12?, an instant). */
export function interval(text) {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?[~?]?$/.exec(text || "");
  if (!m) {
    const at = new Date(text);
    return Number.isNaN(at.getTime()) ? null : { start: at, end: new Date(at.getTime() + 3600000) };
  }
  const [y, mo, d] = [+m[1], m[2] ? +m[2] - 1 : null, m[3] ? +m[3] : null];
  if (mo === null) return { start: new Date(Date.UTC(y, 0, 1)), end: new Date(Date.UTC(y + 1, 0, 1)) };
  if (d === null) return { start: new Date(Date.UTC(y, mo, 1)), end: new Date(Date.UTC(y, mo + 1, 1)) };
  return { start: new Date(Date.UTC(y, mo, d)), end: new Date(Date.UTC(y, mo, d + 1)) };
}

/* ---------- status lines ---------- */

export function showError(node, error) {
  node.textContent = error ? `Could not load: ${error.message || error}` : "";
  node.hidden = !error;
}

export function announce(text) {
  // Replace the text so screen readers read each announcement once.
  const node = $("live-announcer");
  node.textContent = "";
  window.setTimeout(() => {
    node.textContent = text;
  }, 50);
}
