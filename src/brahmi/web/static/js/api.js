// @ts-check
/**
 * Reading the REST API and following the event stream with the caller's bearer token.
 *
 * The token lives in sessionStorage (this tab only) and travels in the Authorization
 * header, never in a URL; that is why events are read with fetch() and not EventSource,
 * which cannot send headers.
 */

const TOKEN_KEY = "brahmi.token";

/** @returns {string | null} */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** An answer of the API that is not 2xx. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {any} body
   */
  constructor(status, body) {
    super((body && (body.message || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error;
    this.body = body;
  }
}

/** @type {Promise<void> | null} */
let asking = null;

/**
 * Show the token dialog; resolves once a token was entered.
 * @param {string} reason
 * @returns {Promise<void>}
 */
function askToken(reason) {
  if (asking) return asking;
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("token-dialog"));
  const form = /** @type {HTMLFormElement} */ (document.getElementById("token-form"));
  const input = /** @type {HTMLInputElement} */ (document.getElementById("token-input"));
  const why = /** @type {HTMLElement} */ (document.getElementById("token-reason"));
  why.textContent = reason;
  asking = new Promise((resolve) => {
    form.addEventListener(
      "submit",
      () => {
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        input.value = "";
        asking = null;
        showSignOut();
        resolve();
      },
      { once: true },
    );
  });
  dialog.showModal();
  return asking;
}

function showSignOut() {
  const button = document.getElementById("sign-out");
  if (!button) return;
  button.hidden = !token();
}

/** @returns {Record<string, string>} */
function authHeaders() {
  const secret = token();
  return secret ? { Authorization: `Bearer ${secret}` } : {};
}

/**
 * Call the API; asks for a token (and tries again) when the server wants one.
 * @param {string} path e.g. "/api/v1/projects"
 * @param {{method?: string, body?: any}} [options]
 * @returns {Promise<any>} the JSON answer
 * @throws {ApiError} on any other non-2xx answer
 */
export async function api(path, options = {}) {
  for (;;) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json", ...authHeaders() };
    let body;
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const response = await fetch(path, { method: options.method || "GET", headers, body });
    const data = await response.json().catch(() => null);
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      await askToken((data && data.message) || "This server needs a bearer token.");
      continue;
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
}

/** @typedef {{id: number, kind: string, task_id: string | null, data: any, created_at: number}} BrahmiEvent */

/**
 * Follow a project's events from after event id `after`, reconnecting (from the last id
 * seen) when the stream drops. Returns a function that stops following.
 * @param {string} projectId
 * @param {number} after
 * @param {(event: BrahmiEvent) => void} onEvent
 * @returns {() => void}
 */
export function follow(projectId, after, onEvent) {
  let cursor = after;
  let stopped = false;
  const abort = new AbortController();
  const live = document.getElementById("live");
  /** @param {boolean} on */
  const mark = (on) => {
    if (!live) return;
    live.hidden = false;
    live.textContent = on ? "live" : "reconnecting…";
    live.classList.toggle("off", !on);
  };
  (async () => {
    while (!stopped) {
      try {
        const url = `/api/v1/events?project_id=${encodeURIComponent(projectId)}&after=${cursor}`;
        const response = await fetch(url, {
          headers: { Accept: "text/event-stream", ...authHeaders() },
          signal: abort.signal,
        });
        if (response.status === 401) {
          sessionStorage.removeItem(TOKEN_KEY);
          await askToken("This server needs a bearer token.");
          continue;
        }
        if (response.status === 403 || response.status === 404) {
          // Not this caller's project (or gone): retrying would not change that.
          if (live) {
            live.hidden = false;
            live.textContent = "not following: no access";
            live.classList.add("off");
          }
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        mark(true);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer = (buffer + value).replace(/\r\n/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = frame
              .split("\n")
              .filter((line) => line.startsWith("data:"))
              .map((line) => line.slice(5).replace(/^ /, ""))
              .join("\n");
            if (!data) continue; // a comment (keep-alive ping)
            const event = /** @type {BrahmiEvent} */ (JSON.parse(data));
            cursor = Math.max(cursor, event.id);
            try {
              onEvent(event);
            } catch (error) {
              console.error("event handler failed", error);
            }
          }
        }
      } catch (error) {
        if (stopped) return;
      }
      mark(false);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return () => {
    stopped = true;
    abort.abort();
  };
}

/**
 * What the caller may do (GET /api/v1/access), for hiding actions it may not take.
 * @returns {Promise<{project_id: string | null, read_only: boolean}>}
 */
export function access() {
  return api("/api/v1/access");
}

/**
 * Whether the caller may change `projectId`.
 * @param {{project_id: string | null, read_only: boolean}} scope
 * @param {string} projectId
 */
export function canWrite(scope, projectId) {
  return !scope.read_only && (scope.project_id === null || scope.project_id === projectId);
}

document.getElementById("sign-out")?.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});
showSignOut();
