// @ts-check
/**
 * Lays out a task graph with dagre off the page's thread, so a large project stays
 * responsive while it is placed. In: {nodes, edges}; out: positions and edge routes.
 */
/* global dagre, importScripts */
importScripts("/static/vendor/dagre.min.js");

/**
 * Past this many nodes, rank by longest path and keep dagre's first ordering: network
 * simplex and the crossing-reduction sweeps take minutes on thousands of nodes, these
 * seconds (measured: 2,000 tasks in ~6 s instead of ~35 s).
 */
const LARGE = 300;

/**
 * @typedef {{id: string, width: number, height: number, parent?: string}} LayoutNode
 * @typedef {{v: string, w: string, kind: string}} LayoutEdge
 */

self.onmessage = (/** @type {MessageEvent} */ message) => {
  const started = performance.now();
  const { nodes, edges, clusters } = message.data;
  const large = nodes.length > LARGE;
  // @ts-ignore dagre is a global from importScripts
  const graph = new dagre.graphlib.Graph({ compound: true, multigraph: true });
  graph.setGraph({
    rankdir: "TB",
    ranker: large ? "longest-path" : "network-simplex",
    nodesep: 18,
    ranksep: 46,
    edgesep: 8,
    marginx: 16,
    marginy: 16,
  });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const id of clusters) graph.setNode(id, { paddingTop: 8 });
  for (const node of /** @type {LayoutNode[]} */ (nodes)) {
    graph.setNode(node.id, { width: node.width, height: node.height });
    if (node.parent) graph.setParent(node.id, node.parent);
  }
  for (const edge of /** @type {LayoutEdge[]} */ (edges)) {
    graph.setEdge(edge.v, edge.w, { kind: edge.kind, weight: edge.kind === "seq" ? 4 : 1 }, `${edge.kind}:${edge.v}:${edge.w}`);
  }
  // @ts-ignore
  dagre.layout(graph, { disableOptimalOrderHeuristic: large });
  const placed = graph.nodes().map((/** @type {string} */ id) => {
    const n = graph.node(id);
    return { id, x: n.x, y: n.y, width: n.width, height: n.height };
  });
  const routes = graph.edges().map((/** @type {{v: string, w: string, name: string}} */ e) => ({
    v: e.v,
    w: e.w,
    kind: graph.edge(e).kind,
    points: graph.edge(e).points,
  }));
  const size = graph.graph();
  self.postMessage({
    nodes: placed,
    edges: routes,
    width: size.width,
    height: size.height,
    ms: performance.now() - started,
  });
};
