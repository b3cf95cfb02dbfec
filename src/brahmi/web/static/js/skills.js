// @ts-check
/**
 * The skills page: search as `search_skills` ranks it (category and tag exact, text
 * ranked), a skill's body and resources with its source and version, the index's sources
 * and the problems found while indexing.
 */
import { api } from "./api.js";
import { byId, el, fill, showError } from "./dom.js";

const form = /** @type {HTMLFormElement} */ (byId("search"));
/** @type {Map<string, any>} */
const hits = new Map();

/** @param {string} id */
function value(id) {
  return /** @type {HTMLInputElement} */ (byId(id)).value.trim();
}

async function search() {
  const params = new URLSearchParams({ limit: "100" });
  for (const key of ["q", "category", "tag"]) if (value(key)) params.set(key, value(key));
  history.replaceState(null, "", `?${params}`);
  const results = byId("results");
  try {
    const { skills } = await api(`/api/v1/skills/search?${params}`);
    hits.clear();
    fill(
      results,
      skills.length
        ? skills.map((/** @type {any} */ s, /** @type {number} */ i) => {
            hits.set(s.full_id, s);
            return el(
              "li",
              { dataset: { fullId: s.full_id } },
              el("button", { type: "button", class: "result", dataset: { fullId: s.full_id } },
                el("span", { class: "rank" }, `${i + 1}`),
                el("span", {}, el("b", {}, s.name), " ", el("span", { class: "muted mono small" }, s.full_id), el("br"), el("span", { class: "small clamp" }, s.description),
                  el("span", { class: "chips" }, s.category ? el("span", { class: "chip" }, s.category) : null, s.tags.map((/** @type {string} */ t) => el("span", { class: "chip tag" }, t)))),
              ),
            );
          })
        : el("li", { class: "muted", text: "No skill matches." }),
    );
  } catch (error) {
    showError(results, error);
  }
}

/** @param {string} fullId */
async function open(fullId) {
  const panel = byId("skill");
  panel.hidden = false;
  fill(panel, el("p", { class: "muted", text: "Loading…" }));
  try {
    const skill = await api(`/api/v1/skills/${fullId.split("/").map(encodeURIComponent).join("/")}`);
    const hit = hits.get(fullId) || {};
    fill(
      panel,
      el("h2", {}, skill.name),
      el("p", { class: "mono small" }, skill.full_id),
      el("dl", { class: "facts" },
        el("dt", {}, "Source"), el("dd", { class: "mono small" }, hit.source || "—"),
        el("dt", {}, "Version"), el("dd", { class: "mono small" }, skill.version),
        el("dt", {}, "Runtime"), el("dd", {}, skill.runtime || "default"),
        el("dt", {}, "Category"), el("dd", {}, skill.category || "—"),
        el("dt", {}, "Tags"), el("dd", {}, skill.tags.join(", ") || "—"),
      ),
      el("p", {}, skill.description),
      el("h3", {}, "Resources"),
      skill.resources.length ? el("ul", { class: "mono small" }, skill.resources.map((/** @type {string} */ r) => el("li", {}, r))) : el("p", { class: "muted", text: "None." }),
      el("h3", {}, "SKILL.md body"),
      el("pre", { class: "body" }, skill.body),
    );
    // One column (a phone): bring the skill into view below the results.
    if (window.matchMedia("(max-width: 760px)").matches) panel.scrollIntoView({ block: "start" });
  } catch (error) {
    showError(panel, error);
  }
}

async function index() {
  try {
    const { sources, problems } = await api("/api/v1/skill-index");
    fill(
      byId("sources"),
      el("table", { class: "tasks" },
        el("thead", {}, el("tr", {}, ["Source", "Kind", "Location", "Commit"].map((h) => el("th", {}, h)))),
        el("tbody", {}, sources.map((/** @type {any} */ s) => el("tr", {}, el("td", { class: "mono small" }, s.owner_repo), el("td", {}, s.kind), el("td", { class: "mono small" }, s.location), el("td", { class: "mono small" }, (s.commit || "").slice(0, 12))))),
      ),
    );
    fill(
      byId("problems"),
      problems.length
        ? el("ul", { class: "problems" }, problems.map((/** @type {any} */ p) => el("li", {}, el("span", { class: "mono small" }, p.file), ": ", p.message)))
        : el("p", { class: "muted", text: "No problems found while indexing." }),
    );
  } catch (error) {
    showError(byId("sources"), error);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  search();
});
byId("results").addEventListener("click", (event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest("button.result");
  if (button instanceof HTMLElement && button.dataset.fullId) open(button.dataset.fullId);
});
const query = new URLSearchParams(location.search);
for (const key of ["q", "category", "tag"]) /** @type {HTMLInputElement} */ (byId(key)).value = query.get(key) || "";
await Promise.all([search(), index()]);
