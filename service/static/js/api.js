/* Reading the service that serves this page (same origin only; with a token when reads
 * are not public: access.js). */

/** GET a JSON answer; empty parameters are left out; a problem's detail becomes the error. */
export async function getJSON(path, params) {
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
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

/** The question every answer takes, from the view. */
export function question(view) {
  return { at: view.at, known_at: view.knownAt, min_confidence: view.minConfidence };
}

/**
 * Follow the live stream: `onEvent` gets each message's event (with `headline` and `names`),
 * `onStatus(state, text)` the connection's state. Resumes after the last sequence seen.
 */
export function follow(after, onEvent, onStatus) {
  let last = after;
  let source = null;
  const connect = () => {
    if (source) source.close();
    source = window.AnnalsAccess.eventSource(`/v1/stream?after=${last}`);
    source.addEventListener("message", (message) => {
      let e;
      try {
        e = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      if (typeof e.sequence !== "number" || e.sequence <= last) return;
      last = e.sequence;
      onEvent(e);
    });
    // Listeners, not on* properties: the token-carrying reader (access.js) dispatches events.
    source.addEventListener("open", () =>
      onStatus("live", "Live: new events appear as they are recorded"),
    );
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        onStatus("off", "Live updates stopped; retrying…");
        window.setTimeout(connect, 5000);
      } else {
        onStatus("retrying", "Reconnecting to the live stream…");
      }
    });
  };
  connect();
}
