// The editor's model: the catalogue of node types (what each is called, what it needs, which
// labelled outputs it has) and the conversions between a flow document (`cairn.flow/v1`) and
// React Flow's nodes and edges. The document stays the source of truth; the canvas is drawn
// from it.
import type { Definition, FlowEdge, FlowNode } from "../api/types";

export type NodeType = FlowNode["type"];
export type AnyNode = FlowNode & Record<string, unknown>;

export type Outputs = { kind: "none" } | { kind: "one" } | { kind: "labels"; labels: string[] } | { kind: "arms" };

export interface NodeKind {
  type: NodeType;
  label: string;
  group: "Entry" | "Message" | "Timing" | "Logic" | "Contact" | "End";
  icon: string;
  help: string;
  outputs: Outputs;
  /** A new node of this type, complete enough to compile once connected. */
  make: () => Record<string, unknown>;
}

const one: Outputs = { kind: "one" };

export const KINDS: NodeKind[] = [
  { type: "webhook_entry", label: "Entry by API", group: "Entry", icon: "⇥", help: "Contacts enter when your system posts to the flow's entries URL.", outputs: one, make: () => ({}) },
  { type: "event_entry", label: "Entry on event", group: "Entry", icon: "⚡", help: "Contacts enter when an event happens: a tag added, a list joined, a custom event.", outputs: one, make: () => ({ event: "tag_added", tag: "" }) },
  { type: "segment_entry", label: "Audience entry", group: "Entry", icon: "◎", help: "Contacts of lists, segments or a condition enter at activation, on a schedule or when they start to match.", outputs: one, make: () => ({ lists: [] }) },
  { type: "send_email", label: "Email", group: "Message", icon: "✉", help: "Send an email, within the send window.", outputs: one, make: () => ({ subject: "", html: "" }) },
  { type: "send_sms", label: "SMS", group: "Message", icon: "✆", help: "Send a text message.", outputs: one, make: () => ({ text: "" }) },
  { type: "send_push", label: "Push", group: "Message", icon: "◉", help: "Send a push notification.", outputs: one, make: () => ({ title: "", body: "" }) },
  { type: "webhook", label: "Webhook", group: "Message", icon: "↗", help: "Call a URL with the contact's data.", outputs: one, make: () => ({ url: "https://", method: "POST" }) },
  { type: "wait", label: "Wait", group: "Timing", icon: "◷", help: "Wait for a time, e.g. 2h or 3d.", outputs: one, make: () => ({ duration: "1d" }) },
  { type: "wait_until", label: "Wait until", group: "Timing", icon: "◶", help: "Wait until a time of day, a weekday or a date in a field.", outputs: one, make: () => ({ time: "10:00" }) },
  { type: "wait_for_event", label: "Wait for event", group: "Timing", icon: "◵", help: "Wait for an event (e.g. opened) up to a timeout; two ways out.", outputs: { kind: "labels", labels: ["event", "timeout"] }, make: () => ({ event: "opened", timeout: "2h" }) },
  { type: "holiday_pause", label: "Holiday pause", group: "Timing", icon: "☂", help: "Hold contacts over their public holidays or a calendar's days.", outputs: one, make: () => ({}) },
  { type: "branch", label: "Branch", group: "Logic", icon: "◇", help: "Yes or no by a condition.", outputs: { kind: "labels", labels: ["yes", "no"] }, make: () => ({ condition: { has_tag: "" } }) },
  { type: "split", label: "Random split", group: "Logic", icon: "⚖", help: "Share contacts between arms by weight (A/B tests).", outputs: { kind: "arms" }, make: () => ({ arms: [{ name: "a", weight: 50 }, { name: "b", weight: 50 }] }) },
  { type: "control_group", label: "Control group", group: "Logic", icon: "◌", help: "Hold out a share of contacts; they leave the journey here.", outputs: one, make: () => ({ percent: 10 }) },
  { type: "add_tag", label: "Add tag", group: "Contact", icon: "#", help: "Give the contact a tag.", outputs: one, make: () => ({ tag: "" }) },
  { type: "remove_tag", label: "Remove tag", group: "Contact", icon: "⌫", help: "Take a tag away.", outputs: one, make: () => ({ tag: "" }) },
  { type: "add_to_list", label: "Add to list", group: "Contact", icon: "☰", help: "Add the contact to a list.", outputs: one, make: () => ({ list: "" }) },
  { type: "remove_from_list", label: "Remove from list", group: "Contact", icon: "☷", help: "Take the contact off a list.", outputs: one, make: () => ({ list: "" }) },
  { type: "exit", label: "Exit", group: "End", icon: "■", help: "The journey ends.", outputs: { kind: "none" }, make: () => ({}) },
];

export const KIND: Record<string, NodeKind> = Object.fromEntries(KINDS.map((k) => [k.type, k]));

export function isEntry(type: string) {
  return type === "webhook_entry" || type === "event_entry" || type === "segment_entry";
}

/** The labels a node's outgoing edges carry (`undefined`: one unlabelled output). */
export function outputLabels(node: AnyNode): (string | undefined)[] {
  const kind = KIND[node.type];
  if (!kind) return [undefined];
  switch (kind.outputs.kind) {
    case "none":
      return [];
    case "one":
      return [undefined];
    case "labels":
      return kind.outputs.labels;
    case "arms":
      return ((node.arms as { name: string }[] | undefined) ?? []).map((a) => a.name);
  }
}

/** One line that says what a node does, for the canvas. */
export function summary(node: AnyNode): string {
  const s = (v: unknown) => (typeof v === "string" ? v : "");
  switch (node.type) {
    case "event_entry":
      return [s(node.event), s(node.tag), s(node.list)].filter(Boolean).join(" · ");
    case "segment_entry": {
      const parts = [
        ...((node.lists as string[] | undefined) ?? []).map((l) => `list ${l}`),
        ...(node.list ? [`list ${s(node.list)}`] : []),
        ...((node.segments as string[] | undefined) ?? []).map((x) => `segment ${x}`),
        ...(node.condition ? ["condition"] : []),
      ];
      const sched = node.schedule as { rrule?: string; at?: string } | undefined;
      return [parts.join(", ") || "all contacts", sched ? `${sched.rrule ?? ""} at ${sched.at ?? ""}` : "", node.on === "match" ? "on match" : ""]
        .filter(Boolean)
        .join(" · ");
    }
    case "send_email":
      return s(node.subject);
    case "send_sms":
      return s(node.text);
    case "send_push":
      return s(node.title);
    case "webhook":
      return `${s(node.method) || "POST"} ${s(node.url)}`;
    case "wait":
      return s(node.duration);
    case "wait_until":
      return [s(node.time), ((node.days as string[] | undefined) ?? []).join(","), s(node.field), s(node.at)].filter(Boolean).join(" ");
    case "wait_for_event":
      return `${s(node.event)} within ${s(node.timeout)}`;
    case "branch":
      return conditionSummary(node.condition);
    case "split":
      return ((node.arms as { name: string; weight: number }[] | undefined) ?? []).map((a) => `${a.name} ${a.weight}`).join(" / ");
    case "control_group":
      return `${node.percent ?? 0}% held out`;
    case "holiday_pause":
      return s(node.calendar) || "public holidays";
    case "add_tag":
    case "remove_tag":
      return s(node.tag);
    case "add_to_list":
    case "remove_from_list":
      return s(node.list);
    default:
      return "";
  }
}

export function conditionSummary(c: unknown): string {
  if (!c || typeof c !== "object") return "";
  const [key, value] = Object.entries(c as Record<string, unknown>)[0] ?? [];
  const v = value as Record<string, unknown>;
  switch (key) {
    case "all":
    case "any":
      return (value as unknown[]).map(conditionSummary).join(key === "all" ? " and " : " or ");
    case "not":
      return `not (${conditionSummary(value)})`;
    case "has_tag":
      return `tagged ${String(value)}`;
    case "in_list":
      return `in ${String(value)}`;
    case "tag":
      return `tag ${String(v?.name ?? "")}`;
    case "list":
      return `list ${String(v?.name ?? "")}`;
    case "segment":
      return `segment ${String(value)}`;
    case "field":
      return `${String(v?.path ?? "")} ${String(v?.op ?? "")} ${v?.value === undefined ? "" : JSON.stringify(v.value)}`.trim();
    case "message":
      return `message ${String(v?.event ?? "")}`;
    case "records":
      return `${String(v?.type ?? "")} records`;
    default:
      return key ?? "";
  }
}

/** An id not used in the document, from the node type: `send_email_2`. */
export function freshId(doc: Definition, base: string): string {
  const used = new Set(doc.nodes.map((n) => n.id));
  const stem = base.replace(/[^a-z0-9_]/gi, "_").toLowerCase();
  if (!used.has(stem)) return stem;
  for (let i = 2; ; i++) if (!used.has(`${stem}_${i}`)) return `${stem}_${i}`;
}

export function edgeKey(e: FlowEdge): string {
  return `${e.from}->${e.to}${e.when ? `:${e.when}` : ""}`;
}

export const NODE_WIDTH = 220;
export const NODE_HEIGHT = 84;

/**
 * Places nodes in layers, top to bottom: each node one layer below the deepest of its
 * predecessors (edges that go back up, loops, are left out), and in each layer ordered by the
 * mean position of its predecessors so that edges cross little.
 */
export function autoLayout(doc: Definition): Definition {
  const ids = doc.nodes.map((n) => n.id);
  const preds = new Map<string, string[]>(ids.map((id) => [id, []]));
  const succs = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of doc.edges ?? []) {
    if (!preds.has(e.to) || !succs.has(e.from)) continue;
    succs.get(e.from)!.push(e.to);
    preds.get(e.to)!.push(e.from);
  }
  // Depth-first from the entries (then from anything unreached) marks back edges.
  const state = new Map<string, 1 | 2>();
  const back = new Set<string>();
  const order: string[] = [];
  const visit = (id: string) => {
    state.set(id, 1);
    for (const t of succs.get(id)!) {
      if (state.get(t) === 1) back.add(`${id}->${t}`);
      else if (!state.has(t)) visit(t);
    }
    state.set(id, 2);
    order.push(id);
  };
  const byType = new Map(doc.nodes.map((n) => [n.id, n.type]));
  for (const id of ids) if (isEntry(byType.get(id)!) && !state.has(id)) visit(id);
  for (const id of ids) if (!state.has(id)) visit(id);
  order.reverse();
  const layer = new Map<string, number>();
  for (const id of order) {
    let l = 0;
    for (const p of preds.get(id)!) if (!back.has(`${p}->${id}`) && layer.has(p)) l = Math.max(l, layer.get(p)! + 1);
    layer.set(id, l);
  }
  const layers: string[][] = [];
  for (const id of order) (layers[layer.get(id)!] ??= []).push(id);
  const x = new Map<string, number>();
  layers.forEach((row, depth) => {
    if (depth > 0) {
      const mean = (id: string) => {
        const ps = preds.get(id)!.filter((p) => x.has(p));
        return ps.length ? ps.reduce((a, p) => a + x.get(p)!, 0) / ps.length : 0;
      };
      row.sort((a, b) => mean(a) - mean(b));
    }
    row.forEach((id, i) => x.set(id, (i - (row.length - 1) / 2) * (NODE_WIDTH + 60)));
  });
  return {
    ...doc,
    nodes: doc.nodes.map((n) => ({ ...n, position: { x: Math.round(x.get(n.id) ?? 0), y: (layer.get(n.id) ?? 0) * (NODE_HEIGHT + 70) } })),
  };
}

/** The node ids a copy takes, with the edges among them. */
export function copyNodes(doc: Definition, ids: Set<string>): { nodes: FlowNode[]; edges: FlowEdge[] } {
  return {
    nodes: doc.nodes.filter((n) => ids.has(n.id)),
    edges: (doc.edges ?? []).filter((e) => ids.has(e.from) && ids.has(e.to)),
  };
}

/** Adds copied nodes under fresh ids, shifted so they do not cover the originals. */
export function pasteNodes(doc: Definition, clip: { nodes: FlowNode[]; edges: FlowEdge[] }): { doc: Definition; ids: string[] } {
  const rename = new Map<string, string>();
  let next = doc;
  const nodes: FlowNode[] = [];
  for (const n of clip.nodes) {
    const id = freshId({ ...next, nodes: [...next.nodes, ...nodes] }, n.id);
    rename.set(n.id, id);
    const p = n.position ?? { x: 0, y: 0 };
    nodes.push({ ...n, id, position: { x: p.x + 40, y: p.y + 40 } });
  }
  const edges = clip.edges.map((e) => ({ ...e, from: rename.get(e.from)!, to: rename.get(e.to)! }));
  next = { ...doc, nodes: [...doc.nodes, ...nodes], edges: [...(doc.edges ?? []), ...edges] };
  return { doc: next, ids: nodes.map((n) => n.id) };
}

/** Removes nodes and every edge that touches them. */
export function removeNodes(doc: Definition, ids: Set<string>): Definition {
  return {
    ...doc,
    nodes: doc.nodes.filter((n) => !ids.has(n.id)),
    edges: (doc.edges ?? []).filter((e) => !ids.has(e.from) && !ids.has(e.to)),
  };
}

/** A new node of `type` at `position`; when `onEdge` is given it is inserted into that edge. */
export function addNode(
  doc: Definition,
  type: NodeType,
  position: { x: number; y: number },
  link?: { after?: string; onEdge?: FlowEdge },
): { doc: Definition; id: string } {
  const kind = KIND[type];
  const id = freshId(doc, type === "exit" ? "exit" : type.replace(/^send_/, ""));
  const node = { id, type, position, ...kind.make() } as FlowNode;
  let edges = [...(doc.edges ?? [])];
  if (link?.onEdge) {
    const e = link.onEdge;
    edges = edges.filter((x) => edgeKey(x) !== edgeKey(e));
    edges.push({ from: e.from, to: id, ...(e.when ? { when: e.when } : {}) });
    const first = outputLabels(node as AnyNode)[0];
    if (outputLabels(node as AnyNode).length > 0) edges.push({ from: id, to: e.to, ...(first ? { when: first } : {}) });
  } else if (link?.after) {
    const from = doc.nodes.find((n) => n.id === link.after) as AnyNode | undefined;
    if (from && !isEntry(type)) {
      const taken = new Set(edges.filter((e) => e.from === from.id).map((e) => e.when ?? ""));
      const free = outputLabels(from).find((l) => !taken.has(l ?? ""));
      if (free !== undefined || (outputLabels(from).length === 1 && !taken.has(""))) {
        edges.push({ from: from.id, to: id, ...(free ? { when: free } : {}) });
      }
    }
  }
  return { doc: { ...doc, nodes: [...doc.nodes, node], edges }, id };
}
