// Lays out a graph with dagre off the main thread, so the page stays responsive while a
// large pipeline (thousands of tasks) is laid out.
import dagre from "@dagrejs/dagre";

self.onmessage = (event) => {
  const { nodes, edges, options } = event.data;
  const started = performance.now();
  self.postMessage({ layout: layoutGraph(nodes, edges, options), ms: performance.now() - started });
};

export function layoutGraph(nodes, edges, options) {
  const g = new dagre.graphlib.Graph();
  g.setGraph(options.graph);
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: n.width, height: n.height });
  for (const [from, to] of edges) g.setEdge(from, to);
  dagre.layout(g, options.layout);
  const graph = g.graph();
  return {
    width: graph.width,
    height: graph.height,
    nodes: nodes.map((n) => { const p = g.node(n.id); return [Math.round(p.x), Math.round(p.y)]; }),
    edges: edges.map(([from, to]) => g.edge(from, to).points.flatMap((p) => [Math.round(p.x), Math.round(p.y)])),
  };
}
