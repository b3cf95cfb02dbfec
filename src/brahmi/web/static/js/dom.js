// @ts-check
/**
 * Building the page from data without ever parsing it as HTML: every string becomes a
 * text node, so task names, outputs and transcripts show as the text they are.
 */

/**
 * Something to put in an element: a node, text, nothing, or a (nested) list of those.
 * @typedef {Node | string | number | null | undefined | false | Children} Child
 * @typedef {Array<Child>} Children
 */

/**
 * Create an element. `attrs`: "class", "text", "dataset" and "style" (objects), or any attribute;
 * children: nodes, or strings that become text.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = String(value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") Object.assign(node.style, value); // CSSOM: allowed by the CSP
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/**
 * @param {Node} node
 * @param {Child[]} children
 */
function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replace the children of `node`.
 * @param {Node} node
 * @param {...Child} children
 */
export function fill(node, ...children) {
  while (node.firstChild) node.removeChild(node.firstChild);
  append(node, children);
}

/**
 * The element with this id (it must exist).
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`no element #${id}`);
  return node;
}

/**
 * A status badge: colour and the status as text.
 * @param {string} status
 */
export function badge(status) {
  return el("span", { class: `badge s-${status}`, text: status });
}

/** @param {number | null | undefined} unix seconds */
export function time(unix) {
  if (!unix) return "";
  const date = new Date(unix * 1000);
  return el("time", { datetime: date.toISOString(), title: date.toISOString() }, date.toLocaleString());
}

/** @param {number | null | undefined} seconds */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** @param {any} value */
export function json(value) {
  return el("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

/** @param {number} usd */
export function money(usd) {
  return `$${(usd || 0).toFixed(usd >= 1 ? 2 : 4)}`;
}

/** @param {number} n */
export function count(n) {
  return (n || 0).toLocaleString("en");
}

/**
 * Show an error in a status line.
 * @param {HTMLElement} node
 * @param {unknown} error
 */
export function showError(node, error) {
  const message = error instanceof Error ? error.message : String(error);
  const code = /** @type {any} */ (error).code;
  fill(node, el("span", { class: "error", text: code ? `${message} [${code}]` : message }));
}

/** The statuses in lifecycle order. */
export const STATUSES = ["planned", "ready", "running", "completed", "failed", "cancelled", "blocked"];
