// @ts-check
/**
 * The project page: the task graph and a task list of the same data, kept current from
 * the event stream. A status change touches one node and one row; only new tasks cause
 * a new layout (at most one per second).
 */
import { api, follow } from "./api.js";
import { GraphView, layoutInput } from "./graph.js";
import { STATUSES, badge, byId, count, el, fill, showError } from "./dom.js";

/** Table rows added per animation frame. */
const ROW_SLICE = 400;
/** Wait before reading the graph again after new tasks appear, in milliseconds. */
const RELOAD_MS = 1000;

const main = byId("main");
const projectId = /** @type {string} */ (main.dataset.projectId);
/** @type {Map<string, import("./graph.js").GraphTask>} */
const tasks = new Map();
/** @type {Map<string, HTMLTableRowElement>} */
const rows = new Map();
const graph = new GraphView(/** @type {SVGSVGElement} */ (/** @type {unknown} */ (byId("graph"))));
const layoutStatus = byId("layout-status");
/** The page's own timings (milliseconds since navigation), read by benchmarks. */
const timing = /** @type {Record<string, number>} */ ({});
/** @type {any} */ (window).brahmiTiming = timing;

/** @type {Worker | null} */
let worker = null;
let layoutRun = 0;

function summary() {
  /** @type {Record<string, number>} */
  const counts = {};
  for (const t of tasks.values()) counts[t.status] = (counts[t.status] || 0) + 1;
  fill(
    byId("summary"),
    el("span", { class: "chip" }, "tasks ", el("b", {}, count(tasks.size))),
    STATUSES.filter((s) => counts[s]).map((s) => el("span", { class: `chip s-${s}`, dataset: { status: s } }, `${s} `, el("b", {}, count(counts[s])))),
  );
}
let summaryPending = false;
function scheduleSummary() {
  if (summaryPending) return;
  summaryPending = true;
  requestAnimationFrame(() => {
    summaryPending = false;
    summary();
  });
}

/** @param {import("./graph.js").GraphTask} task */
function row(task) {
  const tr = /** @type {HTMLTableRowElement} */ (
    el(
      "tr",
      { dataset: { taskId: task.task_id, status: task.status } },
      el("td", { class: "num" }, task.unique_id ?? (task.position ? `· ${task.position}` : "")),
      el("td", { class: task.parent_id ? "sub" : "" }, el("a", { href: `/tasks/${encodeURIComponent(task.task_id)}` }, task.task_name)),
      el("td", {}, badge(task.status)),
      el("td", { class: "wide mono small" }, task.skill_id),
      el("td", { class: "num" }, `${task.attempts}${task.rebuilds ? ` (${task.rebuilds}↻)` : ""}`),
      el("td", { class: "wide error small" }, task.error ? `${task.error}${task.error_code ? ` [${task.error_code}]` : ""}` : ""),
    )
  );
  rows.set(task.task_id, tr);
  return tr;
}

/** @param {import("./graph.js").GraphTask} task */
function updateRow(task) {
  const tr = rows.get(task.task_id);
  if (!tr) return;
  tr.dataset.status = task.status;
  fill(tr.cells[2], badge(task.status));
  tr.cells[4].textContent = `${task.attempts}${task.rebuilds ? ` (${task.rebuilds}↻)` : ""}`;
  tr.cells[5].textContent = task.error ? `${task.error}${task.error_code ? ` [${task.error_code}]` : ""}` : "";
}

/** @param {import("./graph.js").GraphTask[]} list */
function drawList(list) {
  const body = byId("task-rows");
  body.replaceChildren();
  rows.clear();
  return new Promise((resolve) => {
    let next = 0;
    const slice = () => {
      const fragment = document.createDocumentFragment();
      const end = Math.min(list.length, next + ROW_SLICE);
      for (; next < end; next++) fragment.appendChild(row(list[next]));
      body.appendChild(fragment);
      if (next < list.length) requestAnimationFrame(slice);
      else resolve(undefined);
    };
    slice();
  });
}

/** @param {import("./graph.js").GraphTask[]} list */
function layout(list) {
  const run = ++layoutRun;
  if (worker) worker.terminate();
  worker = new Worker("/static/js/layout-worker.js");
  layoutStatus.textContent = `Laying out ${count(list.length)} tasks…`;
  const started = performance.now();
  worker.onmessage = async (message) => {
    if (run !== layoutRun) return;
    worker?.terminate();
    worker = null;
    timing.layoutMs = message.data.ms;
    await graph.draw(message.data, tasks);
    timing.graphDrawnAt = performance.now();
    timing.graphMs = performance.now() - started;
    layoutStatus.textContent = `${count(list.length)} tasks · laid out in ${(message.data.ms / 1000).toFixed(1)} s`;
    applyFilter();
    main.dataset.rendered = "graph";
  };
  worker.onerror = (error) => {
    layoutStatus.textContent = `Layout failed: ${error.message}`;
  };
  worker.postMessage(layoutInput(list));
}

async function load() {
  const data = await api(`/api/v1/projects/${encodeURIComponent(projectId)}/graph`);
  timing.dataAt = performance.now();
  tasks.clear();
  for (const t of data.tasks) tasks.set(t.task_id, t);
  summary();
  await drawList(data.tasks);
  timing.listDrawnAt = performance.now();
  main.dataset.listed = String(data.tasks.length);
  if (data.tasks.length) layout(data.tasks);
  else {
    layoutStatus.textContent = "";
    fill(byId("summary"), el("span", { class: "muted", text: "No tasks yet." }));
  }
  return /** @type {number} */ (data.last_event_id);
}

let reloadTimer = 0;
function scheduleReload() {
  if (reloadTimer) return;
  reloadTimer = window.setTimeout(async () => {
    reloadTimer = 0;
    try {
      await load();
    } catch (error) {
      showError(layoutStatus, error);
    }
  }, RELOAD_MS);
}

/** @param {import("./api.js").BrahmiEvent} event */
function onEvent(event) {
  const task = event.task_id ? tasks.get(event.task_id) : undefined;
  if (event.kind === "task_created" || event.kind === "batch_created") {
    if (!task) scheduleReload();
    return;
  }
  if (!task) return;
  if (event.kind === "status_changed") {
    task.status = event.data.to;
    if (task.status === "running") task.attempts += 1;
    if (event.data.error !== undefined) task.error = event.data.error;
    if (event.data.error_code !== undefined) task.error_code = event.data.error_code;
    if (task.status === "ready" || task.status === "planned") task.error = task.error_code = null;
  } else if (event.kind === "rebuild" || event.kind === "loop_turn") {
    task.rebuilds = Math.max(task.rebuilds, Number(event.data.turn) || task.rebuilds + 1);
  } else {
    return;
  }
  graph.update(task);
  updateRow(task);
  scheduleSummary();
}

function applyFilter() {
  const words = (/** @type {HTMLInputElement} */ (byId("filter")).value || "").toLowerCase().trim();
  /** @param {string} id */
  const keep = (id) => {
    if (!words) return true;
    const t = tasks.get(id);
    return !!t && `${t.task_name} ${t.status} ${t.skill_id} ${t.unique_id ?? ""}`.toLowerCase().includes(words);
  };
  for (const [id, tr] of rows) tr.hidden = !keep(id);
  graph.dim(keep);
}

/** @param {"graph" | "list"} which */
function show(which) {
  byId("graph-view").hidden = which !== "graph";
  byId("list-view").hidden = which !== "list";
  byId("tab-graph").setAttribute("aria-selected", String(which === "graph"));
  byId("tab-list").setAttribute("aria-selected", String(which === "list"));
  if (which === "graph") graph.fit();
}

byId("tab-graph").addEventListener("click", () => show("graph"));
byId("tab-list").addEventListener("click", () => show("list"));
byId("filter").addEventListener("input", applyFilter);
byId("zoom-in").addEventListener("click", () => graph.zoom(1.25));
byId("zoom-out").addEventListener("click", () => graph.zoom(0.8));
byId("zoom-fit").addEventListener("click", () => graph.fit());

try {
  const project = await api(`/api/v1/projects/${encodeURIComponent(projectId)}`);
  byId("title").textContent = project.name;
  byId("project-name").textContent = project.name;
  document.title = `${project.name} · Brahmi`;
  byId("workspace").textContent = project.workspace;
  // On a phone the list reads better than a graph scaled to fit; the graph is a tap away.
  if (window.matchMedia("(max-width: 700px)").matches) show("list");
  const after = await load();
  follow(projectId, after, onEvent);
} catch (error) {
  showError(layoutStatus, error);
}
