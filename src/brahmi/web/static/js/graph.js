// @ts-check
/**
 * The task graph as SVG: dependencies as solid edges, `critiques_tasks` as dashed ones,
 * sub-tasks inside a box with their parent, status by colour and as text. Nodes are drawn
 * in slices (one per animation frame) and each event changes one node in place.
 */

const SVG = "http://www.w3.org/2000/svg";
export const NODE_WIDTH = 196;
export const NODE_HEIGHT = 44;
/** Nodes drawn per animation frame. */
const SLICE = 200;
const NAME_CHARS = 22;

/**
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @returns {SVGElement}
 */
function svg(tag, attrs = {}) {
  const node = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/**
 * @typedef {{task_id: string, task_name: string, status: string, unique_id: any,
 *   parent_id: string | null, position: number | null, dependencies: string[],
 *   critiques: string[], attempts: number, rebuilds: number, error: string | null,
 *   error_code: string | null, skill_id: string}} GraphTask
 */

/**
 * What dagre lays out: a node per task; a box (cluster) per task with sub-tasks holding
 * the task itself and its sub-tasks; edges for dependencies, critiques and sibling order.
 * @param {GraphTask[]} tasks
 */
export function layoutInput(tasks) {
  const ids = new Set(tasks.map((t) => t.task_id));
  const parents = new Set(tasks.filter((t) => t.parent_id && ids.has(t.parent_id)).map((t) => /** @type {string} */ (t.parent_id)));
  const clusters = [...parents].map((id) => `box:${id}`);
  const nodes = tasks.map((t) => ({
    id: t.task_id,
    width: NODE_WIDTH,
    height: NODE_HEIGHT,
    parent: parents.has(t.task_id) ? `box:${t.task_id}` : t.parent_id && parents.has(t.parent_id) ? `box:${t.parent_id}` : undefined,
  }));
  /** @type {{v: string, w: string, kind: string}[]} */
  const edges = [];
  /** @type {Map<string, GraphTask[]>} */
  const children = new Map();
  for (const t of tasks) {
    // A QA task usually depends on what it critiques too: one dashed edge says both.
    const critiqued = new Set(t.critiques.filter((target) => ids.has(target)));
    for (const dep of t.dependencies) if (ids.has(dep) && !critiqued.has(dep)) edges.push({ v: dep, w: t.task_id, kind: "dep" });
    for (const target of critiqued) edges.push({ v: target, w: t.task_id, kind: "critique" });
    if (t.parent_id && parents.has(t.parent_id)) {
      const list = children.get(t.parent_id) || [];
      list.push(t);
      children.set(t.parent_id, list);
    }
  }
  for (const [parent, list] of children) {
    list.sort((a, b) => (a.position || 0) - (b.position || 0));
    let previous = parent;
    for (const child of list) {
      edges.push({ v: previous, w: child.task_id, kind: "seq" });
      previous = child.task_id;
    }
  }
  return { nodes, edges, clusters };
}

/** A drawn graph: one SVG, updated node by node. */
export class GraphView {
  /** @param {SVGSVGElement} root */
  constructor(root) {
    this.root = root;
    /** @type {Map<string, {group: SVGElement, state: SVGElement}>} */
    this.nodes = new Map();
    this.view = { x: 0, y: 0, k: 1 };
    this.size = { width: 0, height: 0 };
    this.viewport = svg("g", { class: "viewport" });
    root.appendChild(this.defs());
    root.appendChild(this.viewport);
    this.panAndZoom();
  }

  defs() {
    const defs = svg("defs");
    for (const kind of ["dep", "critique", "seq"]) {
      const marker = svg("marker", { id: `arrow-${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
      marker.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z", class: `arrow-${kind}` }));
      defs.appendChild(marker);
    }
    return defs;
  }

  /**
   * Draw a laid-out graph (replacing what was drawn); resolves when every node is drawn.
   * @param {any} layout the layout worker's answer
   * @param {Map<string, GraphTask>} tasks
   * @returns {Promise<void>}
   */
  draw(layout, tasks) {
    this.viewport.replaceChildren();
    this.nodes.clear();
    this.size = { width: layout.width, height: layout.height };
    const boxes = svg("g", { class: "boxes" });
    const edges = svg("g", { class: "edges" });
    const nodes = svg("g", { class: "nodes" });
    this.viewport.append(boxes, edges, nodes);
    for (const n of layout.nodes) {
      if (!n.id.startsWith("box:")) continue;
      boxes.appendChild(svg("rect", { class: "box", x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 10 }));
    }
    for (const e of layout.edges) {
      const points = e.kind === "critique" ? [...e.points].reverse() : e.points;
      const d = points.map((/** @type {{x: number, y: number}} */ p, /** @type {number} */ i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
      edges.appendChild(svg("path", { d, class: `edge edge-${e.kind}`, "marker-end": `url(#arrow-${e.kind})` }));
    }
    const placed = layout.nodes.filter((/** @type {any} */ n) => tasks.has(n.id));
    this.fit();
    return new Promise((resolve) => {
      let next = 0;
      const slice = () => {
        const end = Math.min(placed.length, next + SLICE);
        const fragment = document.createDocumentFragment();
        for (; next < end; next++) {
          const n = placed[next];
          fragment.appendChild(this.node(/** @type {GraphTask} */ (tasks.get(n.id)), n.x, n.y));
        }
        nodes.appendChild(fragment);
        if (next < placed.length) requestAnimationFrame(slice);
        else resolve();
      };
      slice();
    });
  }

  /**
   * @param {GraphTask} task
   * @param {number} x centre
   * @param {number} y centre
   */
  node(task, x, y) {
    const link = svg("a", { href: `/tasks/${encodeURIComponent(task.task_id)}`, class: "node-link" });
    const group = svg("g", { class: `node s-${task.status}`, transform: `translate(${x - NODE_WIDTH / 2},${y - NODE_HEIGHT / 2})`, "data-task-id": task.task_id });
    const title = svg("title");
    title.textContent = `${task.task_name} (${task.status})`;
    const name = svg("text", { x: 10, y: 18, class: "name" });
    name.textContent = task.task_name.length > NAME_CHARS ? `${task.task_name.slice(0, NAME_CHARS - 1)}…` : task.task_name;
    const state = svg("text", { x: 10, y: 35, class: "state" });
    state.textContent = stateText(task);
    group.append(title, svg("rect", { width: NODE_WIDTH, height: NODE_HEIGHT, rx: 7 }), svg("rect", { class: "stripe", width: 5, height: NODE_HEIGHT, rx: 2 }), name, state);
    link.appendChild(group);
    this.nodes.set(task.task_id, { group, state });
    return link;
  }

  /**
   * Show a task's new status on its node (no relayout).
   * @param {GraphTask} task
   */
  update(task) {
    const drawn = this.nodes.get(task.task_id);
    if (!drawn) return;
    drawn.group.setAttribute("class", `node s-${task.status}`);
    drawn.state.textContent = stateText(task);
    const title = drawn.group.querySelector("title");
    if (title) title.textContent = `${task.task_name} (${task.status})`;
  }

  /** @param {(id: string) => boolean} keep */
  dim(keep) {
    for (const [id, drawn] of this.nodes) drawn.group.classList.toggle("dim", !keep(id));
  }

  apply() {
    const { x, y, k } = this.view;
    this.viewport.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
  }

  fit() {
    const box = this.root.getBoundingClientRect();
    if (!this.size.width || !box.width) return;
    const most = window.innerHeight * 0.72;
    const k = Math.min(1, box.width / this.size.width, most / this.size.height);
    const scale = Math.max(k, 0.05);
    // A frame the height of the fitted graph, within most of the window.
    this.root.style.height = `${Math.round(Math.max(220, Math.min(this.size.height * scale + 16, most)))}px`;
    this.view = { k: scale, x: (box.width - this.size.width * scale) / 2, y: 8 };
    this.apply();
  }

  /** @param {number} factor @param {number} [cx] @param {number} [cy] */
  zoom(factor, cx, cy) {
    const box = this.root.getBoundingClientRect();
    const px = cx ?? box.width / 2;
    const py = cy ?? box.height / 2;
    const k = Math.min(4, Math.max(0.03, this.view.k * factor));
    const ratio = k / this.view.k;
    this.view = { k, x: px - (px - this.view.x) * ratio, y: py - (py - this.view.y) * ratio };
    this.apply();
  }

  panAndZoom() {
    this.root.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const box = this.root.getBoundingClientRect();
        this.zoom(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
      },
      { passive: false },
    );
    /** @type {{x: number, y: number, moved: boolean} | null} */
    let drag = null;
    this.root.addEventListener("pointerdown", (event) => {
      drag = { x: event.clientX, y: event.clientY, moved: false };
    });
    this.root.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      drag.moved = true;
      this.root.setPointerCapture(event.pointerId);
      this.view.x += dx;
      this.view.y += dy;
      drag.x = event.clientX;
      drag.y = event.clientY;
      this.apply();
    });
    const end = () => {
      if (drag && drag.moved) {
        // A drag is not a click on the node under the pointer.
        this.root.addEventListener("click", (e) => e.preventDefault(), { once: true, capture: true });
      }
      drag = null;
    };
    this.root.addEventListener("pointerup", end);
    this.root.addEventListener("pointercancel", end);
  }
}

/** @param {GraphTask} task */
function stateText(task) {
  const uid = task.unique_id !== null && task.unique_id !== undefined ? `#${task.unique_id} · ` : task.position ? `${task.position}. ` : "";
  const runs = task.rebuilds ? ` · ${task.rebuilds} rebuild${task.rebuilds > 1 ? "s" : ""}` : "";
  return `${uid}${task.status}${runs}`;
}
