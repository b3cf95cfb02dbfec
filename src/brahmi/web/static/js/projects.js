// @ts-check
/** The projects page: counts by status, usage against budget, planner sessions, workers. */
import { api } from "./api.js";
import { STATUSES, byId, count, el, fill, money, showError } from "./dom.js";

/** How often the page reads again, in milliseconds. */
const REFRESH_MS = 5000;

/** @param {any} project */
async function card(project) {
  const [detail, planner] = await Promise.all([
    api(`/api/v1/projects/${encodeURIComponent(project.project_id)}`),
    api(`/api/v1/projects/${encodeURIComponent(project.project_id)}/planner/sessions`),
  ]);
  const total = STATUSES.reduce((sum, s) => sum + (detail.tasks[s] || 0), 0);
  const bar = el("div", { class: "bar", title: "tasks by status" });
  for (const status of STATUSES) {
    const n = detail.tasks[status] || 0;
    if (n) bar.appendChild(el("span", { class: `s-${status}`, style: { flexGrow: String(n) } }));
  }
  const chips = STATUSES.filter((s) => detail.tasks[s]).map((s) =>
    el("span", { class: `chip s-${s}` }, `${s} `, el("b", {}, count(detail.tasks[s]))),
  );
  const usage = detail.usage;
  const budget = detail.budget;
  const spent = [
    `${money(usage.cost_usd)}${budget && budget.usd !== null ? ` of ${money(budget.usd)}` : ""}`,
    ` · ${count(usage.tokens)}${budget && budget.tokens !== null ? ` of ${count(budget.tokens)}` : ""} tokens`,
    budget && budget.exceeded ? " · budget exceeded" : "",
  ].join("");
  const sessions = planner.sessions.map((/** @type {any} */ s) =>
    el(
      "li",
      {},
      el("span", { class: "mono", title: s.planner }, s.planner.split("/").pop()),
      s.busy ? el("span", { class: "chip s-running", text: "busy" }) : null,
      el("span", { class: "muted" }, ` ${money(s.usage.cost_usd)}`),
      s.last_error ? el("span", { class: "error" }, ` ${s.last_error}`) : null,
    ),
  );
  return el(
    "article",
    { class: "card", dataset: { projectId: project.project_id } },
    el("h2", {}, el("a", { href: `/projects/${encodeURIComponent(project.project_id)}` }, project.name)),
    el("p", { class: "muted mono small" }, project.workspace),
    el("p", {}, el("b", {}, count(total)), " tasks"),
    bar,
    el("div", { class: "chips" }, chips),
    el("p", { class: budget && budget.exceeded ? "error" : "" }, spent),
    el(
      "div",
      { class: "row" },
      el("span", {}, "Planner: "),
      sessions.length ? el("ul", { class: "inline" }, sessions) : el("span", { class: "muted", text: "no session yet" }),
      el("a", { class: "button small", href: `/projects/${encodeURIComponent(project.project_id)}/planner` }, "Open planner"),
    ),
  );
}

async function load() {
  const status = byId("status");
  try {
    const { projects } = await api("/api/v1/projects");
    const cards = await Promise.all(projects.map(card));
    fill(byId("projects"), cards);
    fill(status, projects.length ? "" : "No projects yet: run `brahmi run PLAN` or post a batch.");
  } catch (error) {
    showError(status, error);
  }
  try {
    const { workers } = await api("/api/v1/workers");
    const now = Date.now() / 1000;
    fill(
      byId("workers"),
      workers.length
        ? el(
            "table",
            { class: "tasks" },
            el("thead", {}, el("tr", {}, ["Worker", "Host", "PID", "Runtimes", "Runs", "Heartbeat"].map((h) => el("th", {}, h)))),
            el(
              "tbody",
              {},
              workers.map((/** @type {any} */ w) =>
                el(
                  "tr",
                  {},
                  el("td", { class: "mono" }, w.id),
                  el("td", {}, w.host),
                  el("td", {}, String(w.pid)),
                  el("td", {}, w.runtimes ? w.runtimes.join(", ") : "any"),
                  el("td", {}, `${w.running}/${w.concurrency}`),
                  el("td", {}, `${Math.max(0, now - w.heartbeat_at).toFixed(1)} s ago`),
                ),
              ),
            ),
          )
        : el("p", { class: "muted", text: "No live workers." }),
    );
  } catch (error) {
    showError(byId("workers"), error);
  }
}

await load();
setInterval(load, REFRESH_MS);
