/* Annals viewer: reads with a token, for a service whose reads are not public
 * (ANNALS_PUBLIC_READS=0).
 *
 * When a read answers 401, the page asks for a token (the form #token-form), keeps it in
 * this tab only (sessionStorage, never in a URL), and sends it as `Authorization: Bearer`.
 * EventSource cannot send that header, so with a token the live stream is read with fetch
 * instead, by a small reader that behaves like an EventSource (open, error, message and
 * named events, readyState, Last-Event-ID on reconnect). Without a token nothing changes.
 */
"use strict";

window.AnnalsAccess = (function () {
  const KEY = "annals-token";
  const CONNECTING = 0;
  const OPEN = 1;
  const CLOSED = 2;
  let asking = null; // the pending question for a token, shared by every read that needs one

  function token() {
    try {
      return window.sessionStorage.getItem(KEY) || "";
    } catch (_) {
      return "";
    }
  }

  function withToken(headers) {
    const all = Object.assign({}, headers || {});
    const t = token();
    if (t) all.Authorization = `Bearer ${t}`;
    return all;
  }

  function askForToken(rejected) {
    if (asking) return asking;
    const form = document.getElementById("token-form");
    const input = document.getElementById("token-input");
    const note = document.getElementById("token-note");
    if (!form || !input) return Promise.reject(new Error("this service needs a token to read"));
    note.textContent = rejected
      ? "That token was not accepted. Give a token with scope read."
      : "This service shows its data to token holders only. Give a token with scope read.";
    form.hidden = false;
    input.focus();
    asking = new Promise((resolve) => {
      form.addEventListener(
        "submit",
        (submitted) => {
          submitted.preventDefault();
          try {
            window.sessionStorage.setItem(KEY, input.value.trim());
          } catch (_) {
            /* storage refused: the token lasts as long as this page */
          }
          input.value = "";
          form.hidden = true;
          asking = null;
          resolve();
        },
        { once: true },
      );
    });
    return asking;
  }

  /* fetch, with the token when there is one; a 401 asks for one and tries again. */
  async function authorizedFetch(url, init) {
    for (;;) {
      const options = Object.assign({}, init || {});
      options.headers = withToken(options.headers);
      const response = await fetch(url, options);
      if (response.status !== 401) return response;
      await askForToken(Boolean(token()));
    }
  }

  /* An EventSource look-alike over fetch, so that the stream can carry the token. */
  class TokenEventSource extends EventTarget {
    constructor(url) {
      super();
      this.url = url;
      this.readyState = CONNECTING;
      this.lastEventId = "";
      this.controller = new AbortController();
      this.run();
    }

    close() {
      this.readyState = CLOSED;
      this.controller.abort();
    }

    async run() {
      let retry = 2000;
      while (this.readyState !== CLOSED) {
        try {
          const headers = withToken({ Accept: "text/event-stream" });
          if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
          const response = await fetch(this.url, { headers, signal: this.controller.signal });
          if (!response.ok || !response.body) {
            // Refused (401, 4xx): an EventSource stops for good here, and so does this.
            this.readyState = CLOSED;
            this.dispatchEvent(new Event("error"));
            return;
          }
          this.readyState = OPEN;
          this.dispatchEvent(new Event("open"));
          retry = await this.read(response.body, retry);
        } catch (_) {
          if (this.readyState === CLOSED) return;
        }
        if (this.readyState === CLOSED) return;
        this.readyState = CONNECTING;
        this.dispatchEvent(new Event("error"));
        await new Promise((resolve) => window.setTimeout(resolve, retry));
      }
    }

    async read(body, retry) {
      const reader = body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return retry;
        buffer = (buffer + value).replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          retry = this.dispatchBlock(buffer.slice(0, end), retry);
          buffer = buffer.slice(end + 2);
        }
      }
    }

    dispatchBlock(block, retry) {
      let type = "message";
      const data = [];
      let id = null;
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") data.push(value);
        else if (field === "event") type = value || "message";
        else if (field === "id") id = value;
        else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
      }
      if (id !== null) this.lastEventId = id;
      if (data.length) {
        const init = { data: data.join("\n"), lastEventId: this.lastEventId };
        this.dispatchEvent(new MessageEvent(type, init));
      }
      return retry;
    }
  }

  function eventSource(url) {
    return token() ? new TokenEventSource(url) : new EventSource(url);
  }

  return { fetch: authorizedFetch, eventSource, token };
})();
