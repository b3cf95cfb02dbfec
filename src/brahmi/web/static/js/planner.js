// @ts-check
/**
 * The planner page: the project's conversation with its planner (the person's messages,
 * the planner's `user_response`s, Brahmi's notices), live, and a box to send a message.
 */
import { access, api, canWrite, follow } from "./api.js";
import { byId, el, fill, money, showError, time } from "./dom.js";

const main = byId("main");
const projectId = /** @type {string} */ (main.dataset.projectId);
const base = `/api/v1/projects/${encodeURIComponent(projectId)}`;
const ROLES = { user: "You", planner: "Planner", brahmi: "Brahmi" };
const MESSAGE_EVENTS = new Set(["user_message", "user_response", "planner_notice"]);
const SESSION_EVENTS = new Set(["planner_session_created", "trigger_queued", "trigger_delivered", "trigger_handled"]);
let lastId = 0;
let reading = false;
let again = false;

/** @param {any} m */
function bubble(m) {
  return el(
    "article",
    { class: `message role-${m.role}`, dataset: { messageId: String(m.message_id), role: m.role } },
    el("header", {}, el("b", {}, ROLES[/** @type {"user"} */ (m.role)] || m.role), " ", time(m.created_at)),
    el("p", { class: "text" }, m.text),
  );
}

async function readMessages() {
  if (reading) {
    again = true;
    return;
  }
  reading = true;
  try {
    do {
      again = false;
      const { messages } = await api(`${base}/messages?after=${lastId}`);
      const box = byId("conversation");
      if (lastId === 0 && messages.length === 0) fill(box, el("p", { class: "muted empty", text: "No messages yet. Ask the planner below." }));
      if (messages.length) box.querySelector(".empty")?.remove();
      for (const m of messages) {
        box.appendChild(bubble(m));
        lastId = Math.max(lastId, m.message_id);
      }
      if (messages.length) box.lastElementChild?.scrollIntoView({ block: "nearest" });
    } while (again);
  } catch (error) {
    showError(byId("message-result"), error);
  } finally {
    reading = false;
  }
}

async function readSessions() {
  const { sessions } = await api(`${base}/planner/sessions`);
  fill(
    byId("sessions"),
    sessions.length
      ? sessions.map((/** @type {any} */ s) =>
          el(
            "span",
            { class: `chip ${s.busy ? "s-running" : ""}` },
            el("span", { class: "mono" }, s.planner),
            s.busy ? " · working" : " · idle",
            ` · ${money(s.usage.cost_usd)}`,
            s.last_error ? el("span", { class: "error" }, ` · ${s.last_error}`) : null,
          ),
        )
      : el("span", { class: "muted", text: "No planner session yet: the first message starts one." }),
  );
}

byId("message-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = /** @type {HTMLTextAreaElement} */ (byId("message-text"));
  const planner = /** @type {HTMLInputElement} */ (byId("message-planner")).value.trim();
  const result = byId("message-result");
  fill(result, "Sending…");
  try {
    await api(`${base}/messages`, { method: "POST", body: planner ? { text: text.value, planner } : { text: text.value } });
    text.value = "";
    fill(result, "Sent; the planner answers here.");
    await readMessages();
  } catch (error) {
    showError(result, error);
  }
});

try {
  const project = await api(base);
  byId("title").textContent = `Planner · ${project.name}`;
  document.title = `Planner · ${project.name} · Brahmi`;
  const { last_event_id: after } = await api("/api/v1/events/cursor");
  const [scope] = await Promise.all([access(), readMessages(), readSessions()]);
  byId("message-form").hidden = !canWrite(scope, projectId);
  follow(projectId, after, (event) => {
    if (MESSAGE_EVENTS.has(event.kind)) readMessages();
    if (SESSION_EVENTS.has(event.kind) || event.kind === "user_response") readSessions().catch(() => {});
  });
} catch (error) {
  showError(byId("message-result"), error);
}
