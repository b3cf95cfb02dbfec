// @ts-check
/**
 * The task page: everything about one task, read again when an event names it or one of
 * its sub-tasks; its newest attempt's transcript tailed while the attempt runs; retry,
 * cancel and resume for callers that may change the project.
 */
import { access, api, canWrite, follow } from "./api.js";
import { badge, byId, count, duration, el, fill, json, money, showError, time } from "./dom.js";

/** Transcript polling interval while the attempt runs, in milliseconds. */
const TAIL_MS = 500;
/** Wait after an event before reading the task again, in milliseconds. */
const REFRESH_MS = 150;

const main = byId("main");
const taskId = /** @type {string} */ (main.dataset.taskId);
const projectId = /** @type {string} */ (main.dataset.projectId);
const path = `/api/v1/tasks/${encodeURIComponent(taskId)}`;
/** @type {Set<string>} */
let related = new Set([taskId]);
/** @type {any} */
let current = null;

/**
 * @param {string} title
 * @param {...any} children
 */
function section(title, ...children) {
  return el("section", { class: "panel" }, el("h2", {}, title), ...children);
}

/** @param {any} value */
function empty(value) {
  return value === null || value === undefined || (typeof value === "object" && Object.keys(value).length === 0);
}

/** @param {Record<string, string[]>} criteria */
function criteriaList(criteria) {
  const groups = Object.entries(criteria || {}).filter(([, items]) => items && items.length);
  if (!groups.length) return el("p", { class: "muted", text: "None." });
  return el(
    "dl",
    { class: "criteria" },
    groups.map(([level, items]) => [el("dt", {}, level.replace(/_/g, " ")), el("dd", {}, el("ul", {}, items.map((item) => el("li", {}, String(item)))))]),
  );
}

/** @param {any} feedback */
function feedbackView(feedback) {
  if (empty(feedback)) return el("p", { class: "muted", text: "No feedback." });
  const issues = feedback && Array.isArray(feedback.issues) ? feedback.issues : null;
  return el(
    "div",
    { class: "feedback" },
    issues
      ? el(
          "ol",
          { class: "issues" },
          issues.map((/** @type {any} */ issue) =>
            el(
              "li",
              {},
              typeof issue === "object" && issue
                ? Object.entries(issue).map(([k, v]) => el("div", {}, el("b", {}, `${k}: `), typeof v === "string" ? v : JSON.stringify(v)))
                : String(issue),
            ),
          ),
        )
      : null,
    el("details", {}, el("summary", {}, "feedback_for_rebuild"), json(feedback)),
  );
}

/** @param {any} entry */
function historyItem(entry) {
  const when = time(entry.created_at);
  if (entry.kind === "verdict") {
    return el(
      "li",
      { class: `turn verdict-${entry.verdict}`, dataset: { kind: "verdict", turn: String(entry.turn) } },
      el("div", { class: "turn-head" }, el("b", {}, `QA turn ${entry.turn}: `), el("span", { class: `badge v-${entry.verdict}`, text: `verdict ${entry.verdict}` }), entry.score !== null && entry.score !== undefined ? ` score ${entry.score}` : "", " ", when),
      entry.summary ? el("p", {}, String(entry.summary)) : null,
      entry.verdict === "fail" || !empty(entry.feedback_for_rebuild) ? feedbackView(entry.feedback_for_rebuild) : null,
    );
  }
  if (entry.kind === "rebuild") {
    return el(
      "li",
      { class: "turn rebuild", dataset: { kind: "rebuild", turn: String(entry.turn) } },
      el("div", { class: "turn-head" }, el("b", {}, `Rebuild ${entry.turn}`), " with the feedback of QA task ", el("a", { href: `/tasks/${encodeURIComponent(entry.qa_task_id)}` }, entry.qa_task_id), " ", when),
      feedbackView(entry.feedback_for_rebuild),
    );
  }
  if (entry.kind === "resume") {
    return el("li", { class: "turn", dataset: { kind: "resume" } }, el("div", { class: "turn-head" }, el("b", {}, `Resumed (${entry.mode})`), " ", when), el("p", {}, String(entry.message ?? "")));
  }
  if (entry.kind === "retry") {
    return el("li", { class: "turn", dataset: { kind: "retry" } }, el("div", { class: "turn-head" }, el("b", {}, "Retried"), ` from ${entry.previous_status} `, when), entry.error ? el("p", { class: "error" }, `${entry.error} [${entry.error_code}]`) : null);
  }
  return el("li", { class: "turn" }, el("div", { class: "turn-head" }, el("b", {}, entry.kind), " ", when), json(entry));
}

/** @param {any} usage */
function usageText(usage) {
  if (!usage) return "";
  const tokens = (usage.input_tokens || 0) + (usage.output_tokens || 0);
  return `${count(tokens)} tok${usage.cost_usd ? ` · ${money(usage.cost_usd)}` : ""}`;
}

/** @param {any} task */
function render(task) {
  current = task;
  related = new Set([task.task_id, ...task.subtasks.map((/** @type {any} */ s) => s.task_id)]);
  byId("title").textContent = task.task_name;
  byId("crumb-task").textContent = task.task_name;
  document.title = `${task.task_name} · Brahmi`;
  fill(byId("status-badge"), badge(task.status));
  main.dataset.status = task.status;
  fill(
    byId("meta"),
    el("span", { class: "mono" }, task.task_id),
    ` · ${task.skill_id}${task.skill_version ? ` ${task.skill_version}` : ""}`,
    task.unique_id !== null ? ` · batch id ${task.unique_id} (order ${task.task_order})` : "",
    ` · ${task.attempts} attempt(s), ${task.rebuilds} rebuild(s)`,
    ` · ${usageText(task.usage)}`,
    task.parent_id ? [" · sub-task ", String(task.position), " of ", el("a", { href: `/tasks/${encodeURIComponent(task.parent_id)}` }, "its parent")] : "",
  );
  const deps = task.dependencies.length
    ? el("ul", { class: "inline" }, task.dependencies.map((/** @type {string} */ d) => el("li", {}, el("a", { class: "dep", href: `/tasks/${encodeURIComponent(d)}`, dataset: { taskId: d } }, d.slice(0, 8)))))
    : el("span", { class: "muted", text: "none" });
  const history = task.history.filter((/** @type {any} */ h) => h.kind !== "attempt");
  fill(
    byId("task-body"),
    task.error ? el("section", { class: "panel error-panel" }, el("h2", {}, "Error"), el("p", { class: "error", id: "task-error" }, task.error), el("p", { class: "mono" }, `error_code: ${task.error_code}`)) : null,
    task.description ? section("Description", el("p", { class: "prose" }, task.description)) : null,
    section("Correctness loop and history", history.length ? el("ol", { class: "history", id: "history" }, history.map(historyItem)) : el("p", { class: "muted", text: "No verdicts, rebuilds, retries or resumes yet." })),
    el("div", { class: "two" }, section("Inputs", json(task.inputs)), section("Validation criteria", criteriaList(task.validation_criteria))),
    section("Outputs", task.outputs === null ? el("p", { class: "muted", text: "None yet." }) : json(task.outputs)),
    section("Depends on", deps),
    task.subtasks.length
      ? section(
          "Sub-tasks",
          el(
            "table",
            { class: "tasks" },
            el("thead", {}, el("tr", {}, ["#", "Task", "Status", "Runs", "Error"].map((h) => el("th", {}, h)))),
            el(
              "tbody",
              {},
              [...task.subtasks]
                .sort((a, b) => (a.position || 0) - (b.position || 0))
                .map((/** @type {any} */ s) =>
                  el("tr", { dataset: { taskId: s.task_id } }, el("td", { class: "num" }, String(s.position)), el("td", {}, el("a", { href: `/tasks/${encodeURIComponent(s.task_id)}` }, s.task_name)), el("td", {}, badge(s.status)), el("td", { class: "num" }, String(s.attempts)), el("td", { class: "error small" }, s.error || "")),
                ),
            ),
          ),
        )
      : null,
    section(
      "Attempts",
      task.attempt_history.length
        ? el(
            "table",
            { class: "tasks", id: "attempts" },
            el("thead", {}, el("tr", {}, ["#", "Status", "Runtime", "Started", "Finished", "Took", "Usage", "Error"].map((h) => el("th", {}, h)))),
            el(
              "tbody",
              {},
              task.attempt_history.map((/** @type {any} */ a) =>
                el(
                  "tr",
                  {},
                  el("td", { class: "num" }, String(a.number)),
                  el("td", {}, badge(a.status)),
                  el("td", {}, a.executor || ""),
                  el("td", { class: "small" }, time(a.started_at)),
                  el("td", { class: "small" }, time(a.finished_at)),
                  el("td", { class: "num" }, a.finished_at ? duration(a.finished_at - a.started_at) : "running"),
                  el("td", { class: "small" }, usageText(a.usage)),
                  el("td", { class: "error small" }, a.error || ""),
                ),
              ),
            ),
          )
        : el("p", { class: "muted", text: "Not run yet." }),
    ),
  );
  names(byId("task-body"));
  // While the task runs its transcript is what to watch: show it first.
  const panel = byId("transcript-panel");
  if (task.status === "running") byId("task-body").before(panel);
  else byId("task-body").after(panel);
  const busy = task.status === "running" || task.status === "ready" || task.status === "planned";
  /** @type {HTMLButtonElement} */ (byId("retry")).disabled = !["failed", "blocked", "cancelled"].includes(task.status);
  /** @type {HTMLButtonElement} */ (byId("cancel")).disabled = !busy;
  tail();
}

/** @type {Map<string, Promise<any>>} */
const known = new Map();

/**
 * Put the names of linked tasks on their links (read once each).
 * @param {HTMLElement} root
 */
function names(root) {
  for (const link of root.querySelectorAll("a.dep")) {
    const id = /** @type {HTMLElement} */ (link).dataset.taskId || "";
    if (!known.has(id)) known.set(id, api(`/api/v1/tasks/${encodeURIComponent(id)}`).catch(() => null));
    known.get(id)?.then((t) => {
      if (t) link.textContent = t.task_name;
    });
  }
}

async function refresh() {
  try {
    render(await api(path));
  } catch (error) {
    showError(byId("task-body"), error);
  }
}

// -- transcript --------------------------------------------------------------------------

let tailing = false;
/** @type {{attempt: string | null, offset: number}} */
const transcript = { attempt: null, offset: 0 };

async function tail() {
  if (tailing) return;
  tailing = true;
  const box = byId("transcript");
  try {
    for (;;) {
      const query = transcript.attempt ? `?attempt_id=${encodeURIComponent(transcript.attempt)}&offset=${transcript.offset}` : "";
      let chunk = await api(`${path}/transcript${query}`);
      const newest = current && current.attempt_history.length ? current.attempt_history[current.attempt_history.length - 1].attempt_id : null;
      if (newest && chunk.attempt_id !== newest) {
        // A new attempt started: follow it from its start.
        chunk = await api(`${path}/transcript?attempt_id=${encodeURIComponent(newest)}&offset=0`);
      }
      if (chunk.attempt_id !== transcript.attempt) {
        box.textContent = "";
        transcript.attempt = chunk.attempt_id;
        byId("transcript-attempt").textContent = chunk.number ? `(attempt ${chunk.number})` : "";
      }
      if (chunk.text) {
        const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
        box.appendChild(document.createTextNode(chunk.text));
        if (atBottom) box.scrollTop = box.scrollHeight;
      }
      transcript.offset = chunk.next_offset;
      if (!box.textContent) box.dataset.empty = chunk.attempt_id ? "Nothing written yet." : "The task has not run yet.";
      if (!chunk.running && !chunk.text) break;
      if (!chunk.text) await new Promise((resolve) => setTimeout(resolve, TAIL_MS));
    }
  } catch (error) {
    showError(byId("transcript-attempt"), error);
  } finally {
    tailing = false;
  }
}

// -- actions -----------------------------------------------------------------------------

/**
 * @param {string} what
 * @param {() => Promise<any>} call
 */
async function act(what, call) {
  const result = byId("action-result");
  fill(result, `${what}…`);
  try {
    const answer = await call();
    if (answer && answer.answer !== undefined) {
      fill(result, el("div", { class: "answer", id: "qa-answer" }, el("b", {}, "Answer: "), String(answer.answer)));
    } else {
      fill(result, `${what}: done.`);
    }
    await refresh();
  } catch (error) {
    showError(result, error);
  }
}

byId("retry").addEventListener("click", () => act("Retry", () => api(`${path}/retry`, { method: "POST" })));
byId("cancel").addEventListener("click", () => act("Cancel", () => api(`${path}/cancel`, { method: "POST" })));
byId("resume-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const message = /** @type {HTMLTextAreaElement} */ (byId("resume-message"));
  const mode = /** @type {HTMLSelectElement} */ (byId("resume-mode")).value;
  act(mode === "qa" ? "Asking" : "Resume", () => api(`${path}/resume`, { method: "POST", body: { message: message.value, mode } })).then(() => {
    message.value = "";
  });
});

let refreshTimer = 0;
try {
  // The cursor first, then the task: no event falls between the two.
  const { last_event_id: after } = await api("/api/v1/events/cursor");
  const [scope] = await Promise.all([access(), refresh()]);
  byId("actions").hidden = !canWrite(scope, projectId);
  follow(projectId, after, (event) => {
    if (!event.task_id || !related.has(event.task_id)) return;
    if (refreshTimer) return;
    refreshTimer = window.setTimeout(() => {
      refreshTimer = 0;
      refresh();
    }, REFRESH_MS);
  });
} catch (error) {
  showError(byId("task-body"), error);
}
