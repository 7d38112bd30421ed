// `/flows/{id}`: the journey editor. The flow document is the one source of truth; the canvas
// (React Flow's own node and edge elements), the inspector and the panels are drawn from it.
// Every change is validated by the service as you type (problems pinned on their nodes),
// autosaved as a draft, and undoable; publishing makes a new version and is refused while any
// problem remains.
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import {
  Background,
  Controls,
  MarkerType,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { api, ApiError } from "../api/client";
import type { Definition, FlowEdge, FlowRow, FlowStats, Problem } from "../api/types";
import { ErrorBanner, useInterval } from "../components/ui";
import { Link, navigate } from "../router";
import { FlowNodeView, type CanvasNode, type NodeCounts } from "./FlowNodeView";
import * as H from "./history";
import { Inspector } from "./Inspector";
import { addNode, autoLayout, copyNodes, edgeKey, KINDS, NODE_HEIGHT, NODE_WIDTH, outputLabels, pasteNodes, removeNodes, type AnyNode, type NodeType } from "./model";
import { ContactsHere, FlowSettings, MessagePreview, SchedulePanel, VersionsPanel } from "./panels";
import { Simulator, type SimResult } from "./Simulator";
import { useSuggestions } from "../pages/Segment";

const nodeTypes = { cairn: FlowNodeView };

type Tab = "inspect" | "test" | "versions" | "schedule";

export default function EditorPage({ id }: { id: string }) {
  return (
    <ReactFlowProvider>
      <Editor id={id} />
    </ReactFlowProvider>
  );
}

type Save = { state: "clean" } | { state: "saving" } | { state: "saved"; at: string } | { state: "error"; message: string };

function Editor({ id }: { id: string }) {
  const [row, setRow] = useState<FlowRow | null>(null);
  const [history, setHistory] = useState<H.History<Definition> | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [checked, setChecked] = useState(false);
  const [save, setSave] = useState<Save>({ state: "clean" });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [selectedEdges, setSelectedEdges] = useState<Set<string>>(new Set());
  const [measured, setMeasured] = useState<Record<string, { width: number; height: number }>>({});
  const [stats, setStats] = useState<FlowStats | null>(null);
  const [tab, setTab] = useState<Tab>("inspect");
  const [sim, setSim] = useState<SimResult | null>(null);
  const [simContact, setSimContact] = useState<string | null>(null);
  const [publishedAt, setPublishedAt] = useState<Definition | null>(null);
  const clipboard = useRef<ReturnType<typeof copyNodes> | null>(null);
  const dragging = useRef(false);
  const flow = useReactFlow();
  const suggestions = useSuggestions();
  const doc = history?.present ?? null;

  const loadRow = useCallback(async () => {
    const rows = await api.get<FlowRow[]>("/api/flows");
    const r = rows.find((x) => String(x.id) === id);
    if (!r) throw new ApiError(404, "not_found", `There is no journey ${id}.`);
    setRow(r);
    return r;
  }, [id]);

  useEffect(() => {
    (async () => {
      try {
        await loadRow();
        const stored = await api.get<Definition>(`/api/flows/${id}`);
        // A flow made through the API may have no positions: it is laid out for drawing, which
        // changes nothing the engine reads.
        const published = stored.nodes.every((n) => !n.position) ? autoLayout(stored) : stored;
        setPublishedAt(published);
        const draft = await api.get<{ definition: Definition; saved_at: string }>(`/api/flows/${id}/draft`).catch(() => null);
        setHistory(H.start(draft?.definition ?? published));
        if (draft) setSave({ state: "saved", at: draft.saved_at });
      } catch (e) {
        setLoadError(e);
      }
    })();
  }, [id, loadRow]);

  const change = useCallback((fn: (d: Definition) => Definition, record = true) => {
    setHistory((h) => (h ? H.push(h, fn(h.present), record) : h));
  }, []);

  // Validation as you type: every problem, pinned on its node and field.
  useEffect(() => {
    if (!doc) return;
    const t = setTimeout(async () => {
      try {
        const r = await api.post<{ valid: boolean; problems: Problem[] }>("/api/flows/validate", doc);
        setProblems(r.problems);
        setChecked(true);
      } catch (e) {
        if (e instanceof ApiError && e.status === 422) {
          setProblems(e.details);
          setChecked(true);
        }
      }
    }, 250);
    return () => clearTimeout(t);
  }, [doc]);

  // The draft saves itself a moment after the last change.
  const first = useRef(true);
  useEffect(() => {
    if (!doc) return;
    if (first.current) {
      first.current = false;
      return;
    }
    const t = setTimeout(async () => {
      setSave({ state: "saving" });
      try {
        const r = await api.put<{ saved_at: string }>(`/api/flows/${id}/draft`, doc);
        setSave({ state: "saved", at: r.saved_at });
      } catch (e) {
        setSave({ state: "error", message: e instanceof Error ? e.message : String(e) });
      }
    }, 700);
    return () => clearTimeout(t);
  }, [doc, id]);

  const refreshStats = useCallback(() => {
    api.get<FlowStats>(`/api/flows/${id}/stats`).then(setStats, () => undefined);
  }, [id]);
  useEffect(refreshStats, [refreshStats]);
  useInterval(refreshStats, 3000);

  const byNode = useMemo(() => {
    const m = new Map<string, Problem[]>();
    for (const p of problems) if (p.node) m.set(p.node, [...(m.get(p.node) ?? []), p]);
    return m;
  }, [problems]);
  const flowProblems = problems.filter((p) => !p.node);
  const path = useMemo(() => (sim && simContact ? sim.paths[simContact] ?? [] : []), [sim, simContact]);

  const nodes: CanvasNode[] = useMemo(() => {
    if (!doc) return [];
    const onPath = new Set(path);
    return doc.nodes.map((n) => {
      const s = stats?.nodes[n.id];
      const counts: NodeCounts | undefined = s
        ? { here: s.here, entered: s.actions.entered ?? 0, sent: s.actions.sent ?? 0, failed: s.actions.failed ?? 0 }
        : undefined;
      return {
        id: n.id,
        type: "cairn",
        position: n.position ?? { x: 0, y: 0 },
        data: {
          node: n as AnyNode,
          problems: byNode.get(n.id) ?? [],
          counts,
          onPath: onPath.has(n.id),
          connected: (doc.edges ?? []).filter((e) => e.from === n.id && e.when).map((e) => e.when!),
        },
        selected: selected.has(n.id),
        measured: measured[n.id],
        width: NODE_WIDTH,
      };
    });
  }, [doc, stats, byNode, selected, measured, path]);

  const edges: Edge[] = useMemo(() => {
    if (!doc) return [];
    const taken = new Map<string, number>();
    for (const e of stats?.edges ?? []) taken.set(`${e.from}->${e.to}${e.when ? `:${e.when}` : ""}`, e.count);
    const outOf = new Map<string, number>();
    for (const e of stats?.edges ?? []) outOf.set(e.from, (outOf.get(e.from) ?? 0) + e.count);
    const steps = new Set(path.slice(1).map((to, i) => `${path[i]}->${to}`));
    return (doc.edges ?? []).map((e) => {
      const key = edgeKey(e);
      const from = doc.nodes.find((n) => n.id === e.from) as AnyNode | undefined;
      const branching = from ? outputLabels(from).length > 1 : false;
      const count = taken.get(key);
      const total = outOf.get(e.from) ?? 0;
      const share = branching && count !== undefined && total > 0 ? ` · ${Math.round((count / total) * 100)}%` : "";
      const label = e.when ? `${e.when}${share}` : share ? share.slice(3) : undefined;
      return {
        id: key,
        source: e.from,
        target: e.to,
        sourceHandle: e.when ?? null,
        label,
        selected: selectedEdges.has(key),
        className: steps.has(`${e.from}->${e.to}`) ? "on-path" : undefined,
        markerEnd: { type: MarkerType.ArrowClosed },
        data: { when: e.when },
      };
    });
  }, [doc, stats, selectedEdges, path]);

  const onNodesChange = useCallback(
    (changes: NodeChange<CanvasNode>[]) => {
      const moves = new Map<string, { x: number; y: number }>();
      let drag: boolean | undefined;
      const removed = new Set<string>();
      const dims: Record<string, { width: number; height: number }> = {};
      let selection: Set<string> | null = null;
      for (const c of changes) {
        if (c.type === "position" && c.position) {
          moves.set(c.id, c.position);
          drag = c.dragging;
        } else if (c.type === "position" && c.dragging === false) {
          drag = false;
        } else if (c.type === "remove") removed.add(c.id);
        else if (c.type === "dimensions" && c.dimensions) dims[c.id] = c.dimensions;
        else if (c.type === "select") {
          selection ??= new Set(selected);
          if (c.selected) selection.add(c.id);
          else selection.delete(c.id);
        }
      }
      if (Object.keys(dims).length) setMeasured((m) => ({ ...m, ...dims }));
      if (selection) setSelected(selection);
      if (moves.size) {
        if (drag && !dragging.current) {
          dragging.current = true;
          setHistory((h) => (h ? H.checkpoint(h) : h));
        }
        change((d) => ({ ...d, nodes: d.nodes.map((n) => (moves.has(n.id) ? { ...n, position: roundPos(moves.get(n.id)!) } : n)) }), false);
      }
      if (drag === false) dragging.current = false;
      if (removed.size) {
        change((d) => removeNodes(d, removed));
        setSelected((s) => new Set([...s].filter((x) => !removed.has(x))));
      }
    },
    [change, selected],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      const removed = new Set<string>();
      let selection: Set<string> | null = null;
      for (const c of changes) {
        if (c.type === "remove") removed.add(c.id);
        else if (c.type === "select") {
          selection ??= new Set(selectedEdges);
          if (c.selected) selection.add(c.id);
          else selection.delete(c.id);
        }
      }
      if (selection) setSelectedEdges(selection);
      if (removed.size) change((d) => ({ ...d, edges: (d.edges ?? []).filter((e) => !removed.has(edgeKey(e))) }));
    },
    [change, selectedEdges],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (!c.source || !c.target || c.source === c.target) return;
      const when = c.sourceHandle ?? undefined;
      change((d) => ({
        ...d,
        // One edge per output: connecting an output again moves its edge.
        edges: [...(d.edges ?? []).filter((e) => !(e.from === c.source && (e.when ?? undefined) === when)), { from: c.source, to: c.target, ...(when ? { when } : {}) }],
      }));
    },
    [change],
  );

  const place = useCallback(
    (type: NodeType, at?: { x: number; y: number }) => {
      if (!doc) return;
      let position = at;
      let link: { after?: string; onEdge?: FlowEdge } | undefined;
      if (at) {
        const near = nearestEdge(doc, at);
        if (near) link = { onEdge: near };
      } else {
        const after = [...selected][0] ?? lowest(doc);
        const from = doc.nodes.find((n) => n.id === after) as AnyNode | undefined;
        position = from?.position ? { x: from.position.x, y: from.position.y + NODE_HEIGHT + 70 } : { x: 0, y: 0 };
        if (from) {
          // A free output takes the new step; a single output already taken gets it inserted.
          const out = (doc.edges ?? []).filter((e) => e.from === from.id);
          const labels = outputLabels(from);
          const free = labels.some((l) => !out.some((e) => (e.when ?? undefined) === l));
          link = free || labels.length !== 1 || out.length !== 1 ? { after: from.id } : { onEdge: out[0] };
        }
      }
      const made = addNode(doc, type, position!, link);
      const fromY = at ? null : (position!.y - NODE_HEIGHT - 70);
      change(() => (fromY === null ? made.doc : makeRoom(made.doc, fromY, made.id)));
      setSelected(new Set([made.id]));
      setTab("inspect");
    },
    [doc, selected, change],
  );

  const onDrop = useCallback(
    (e: DragEvent) => {
      e.preventDefault();
      const type = e.dataTransfer.getData("application/x-cairn-node") as NodeType;
      if (!type) return;
      const p = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      place(type, { x: Math.round(p.x - NODE_WIDTH / 2), y: Math.round(p.y - NODE_HEIGHT / 2) });
    },
    [flow, place],
  );

  // Undo, redo, copy and paste from the keyboard (delete is React Flow's own).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      if (target.closest("input, textarea, select, [contenteditable]")) return;
      const mod = e.ctrlKey || e.metaKey;
      if (!mod) return;
      const key = e.key.toLowerCase();
      if (key === "z" && !e.shiftKey) setHistory((h) => (h ? H.undo(h) : h));
      else if ((key === "z" && e.shiftKey) || key === "y") setHistory((h) => (h ? H.redo(h) : h));
      else if (key === "c" && doc && selected.size) clipboard.current = copyNodes(doc, selected);
      else if (key === "v" && clipboard.current) {
        const clip = clipboard.current;
        setHistory((h) => {
          if (!h) return h;
          const pasted = pasteNodes(h.present, clip);
          setSelected(new Set(pasted.ids));
          return H.push(h, pasted.doc);
        });
      } else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [doc, selected]);

  const act = async (what: () => Promise<string | void>) => {
    setActionError(null);
    setNotice(null);
    try {
      const message = await what();
      if (message) setNotice(message);
      await loadRow();
    } catch (e) {
      setActionError(e);
    }
  };
  const publish = () =>
    act(async () => {
      const v = await api.put<{ id: number; version: number }>(`/api/flows/${id}`, doc);
      setPublishedAt(doc);
      setSave({ state: "clean" });
      return `Published version ${v.version}.${row?.status === "active" ? " New entries use it once you activate it." : ""}`;
    });
  const activate = () =>
    act(async () => {
      const r = await api.post<{ entered?: number }>(`/api/flows/${id}/activate`);
      return `Active.${r.entered ? ` ${r.entered} contacts entered.` : ""}`;
    });
  const pause = () => act(async () => void (await api.post(`/api/flows/${id}/pause`)));
  const remove = async () => {
    if (!window.confirm(`Delete “${doc?.name}” with its versions and draft? It has never been activated.`)) return;
    setActionError(null);
    try {
      await api.del(`/api/flows/${id}`);
      navigate("/flows");
    } catch (e) {
      setActionError(e);
    }
  };

  if (loadError) return <div className="page"><ErrorBanner error={loadError} /><Link to="/flows">Back to the journeys</Link></div>;
  if (!doc || !row) return <div className="page">Loading the journey…</div>;

  const node = selected.size === 1 ? (doc.nodes.find((n) => selected.has(n.id)) as AnyNode | undefined) : undefined;
  const dirty = publishedAt !== doc && JSON.stringify(publishedAt) !== JSON.stringify(doc);
  const blocked = problems.length > 0;

  return (
    <div className="editor">
      <div className="editor-bar">
        <Link to="/flows">Journeys</Link>
        <span aria-hidden>›</span>
        <h1>{doc.name}</h1>
        <span className={`status status-${row.status}`}>{row.status}</span>
        <span className="version">v{row.version}{row.active_version ? ` · v${row.active_version} active` : ""}</span>
        <span className="save-state" aria-live="polite">
          {save.state === "saving" ? "Saving draft…" : save.state === "saved" ? (dirty ? "Draft saved" : "Published") : save.state === "error" ? `Draft not saved: ${save.message}` : dirty ? "Unsaved" : ""}
        </span>
        <span className="spacer" />
        <button type="button" title="Undo (Ctrl+Z)" aria-label="Undo" disabled={!history?.past.length} onClick={() => setHistory((h) => (h ? H.undo(h) : h))}>↶</button>
        <button type="button" title="Redo (Ctrl+Shift+Z)" aria-label="Redo" disabled={!history?.future.length} onClick={() => setHistory((h) => (h ? H.redo(h) : h))}>↷</button>
        <button type="button" onClick={() => { change((d) => autoLayout(d)); setTimeout(() => flow.fitView({ duration: 200 }), 50); }}>Tidy up</button>
        <button type="button" onClick={() => download(doc)} title="The journey as a cairn.flow/v1 file">Export</button>
        <a className="button" href={`/api/journal/export?flow=${id}`} download={`journal-${id}.ndjson`} title="Every step this journey took for every contact, one JSON line each">
          Action log
        </a>
        <ImportButton onLoad={(d) => change(() => d)} onError={setActionError} />
        <button type="button" className="primary" disabled={blocked || !checked || !dirty} title={blocked ? `Fix the ${problems.length} problem(s) first` : !dirty ? "Nothing new to publish" : "Make a new version"} onClick={() => void publish()}>
          Publish
        </button>
        {row.active_version == null && row.status !== "archived" && (
          <button type="button" className="danger" title="Only a journey that never ran can be deleted" onClick={() => void remove()}>
            Delete
          </button>
        )}
        {row.status === "paused" && (
          <button type="button" title="Out of the journeys list; its history stays" onClick={() => void act(async () => void (await api.post(`/api/flows/${id}/archive`)))}>
            Archive
          </button>
        )}
        {row.status === "active" ? (
          <button type="button" onClick={() => void pause()}>Pause</button>
        ) : row.status === "archived" ? (
          <button type="button" onClick={() => void act(async () => void (await api.post(`/api/flows/${id}/restore`)))}>Restore</button>
        ) : (
          <button type="button" className="go" onClick={() => void activate()}>Activate</button>
        )}
      </div>
      {(actionError || notice || flowProblems.length > 0) && (
        <div className="editor-messages">
          <ErrorBanner error={actionError} />
          {notice && <div className="banner banner-ok" role="status">{notice}</div>}
          {flowProblems.length > 0 && (
            <div className="banner banner-warn" role="alert">
              {flowProblems.map((p, i) => (
                <div key={i}>{p.field ? `${p.field}: ` : ""}{p.message}</div>
              ))}
            </div>
          )}
        </div>
      )}
      <div className="editor-body">
        <Palette onAdd={(t) => place(t)} />
        <div className="canvas" onDrop={onDrop} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }}>
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onPaneClick={() => setSelected(new Set())}
            deleteKeyCode={["Delete", "Backspace"]}
            fitView
            fitViewOptions={{ maxZoom: 1 }}
            minZoom={0.1}
            proOptions={{ hideAttribution: true }}
          >
            <Background />
            <Controls />
            <MiniMap pannable zoomable />
          </ReactFlow>
          <div className="problem-count" aria-live="polite">
            {!checked ? "Checking…" : problems.length ? `${problems.length} problem${problems.length > 1 ? "s" : ""} to fix before publishing` : "No problems"}
          </div>
        </div>
        <aside className="side">
          <div role="tablist" aria-label="Editor panels" className="tabs">
            {(["inspect", "test", "versions", "schedule"] as Tab[]).map((t) => (
              <button key={t} role="tab" type="button" aria-selected={tab === t} className={tab === t ? "active" : undefined} onClick={() => setTab(t)}>
                {{ inspect: node ? "Step" : "Journey", test: "Test", versions: "Versions", schedule: "Runs" }[t]}
              </button>
            ))}
          </div>
          <div className="side-body">
            {tab === "inspect" &&
              (node ? (
                <Inspector
                  key={node.id}
                  node={node}
                  problems={byNode.get(node.id) ?? []}
                  suggestions={suggestions}
                  onChange={(n) => change((d) => ({ ...d, nodes: d.nodes.map((x) => (x.id === node.id ? n : x)) }))}
                  onRename={(from, to) => {
                    const problem = renameProblem(doc, from, to);
                    if (problem) return problem;
                    change((d) => rename(d, from, to));
                    setSelected(new Set([to]));
                    return null;
                  }}
                >
                  {(node.type === "send_email" || node.type === "send_sms" || node.type === "send_push") && <MessagePreview node={node} />}
                  <ContactsHere flow={id} node={node.id} />
                </Inspector>
              ) : (
                <FlowSettings doc={doc} problems={flowProblems} onChange={(d) => change(() => d)} />
              ))}
            {tab === "test" && <Simulator doc={doc} result={sim} onResult={setSim} contact={simContact} onContact={setSimContact} />}
            {tab === "versions" && <VersionsPanel flow={id} current={row} onRestore={(d) => { change(() => d); setNotice("The version is loaded as your draft: publish it to make it the newest version."); setTab("inspect"); }} />}
            {tab === "schedule" && <SchedulePanel flow={id} doc={doc} />}
          </div>
        </aside>
      </div>
    </div>
  );
}

function Palette({ onAdd }: { onAdd: (t: NodeType) => void }) {
  const groups = [...new Set(KINDS.map((k) => k.group))];
  return (
    <nav className="palette" aria-label="Steps">
      <p className="hint">Click to add after the selected step, or drag onto the canvas or onto an arrow.</p>
      {groups.map((g) => (
        <div key={g}>
          <h3>{g}</h3>
          {KINDS.filter((k) => k.group === g).map((k) => (
            <button
              key={k.type}
              type="button"
              className="palette-item"
              draggable
              title={k.help}
              onDragStart={(e) => {
                e.dataTransfer.setData("application/x-cairn-node", k.type);
                e.dataTransfer.effectAllowed = "move";
              }}
              onClick={() => onAdd(k.type)}
            >
              <span className="kind-icon" aria-hidden>{k.icon}</span> {k.label}
            </button>
          ))}
        </div>
      ))}
    </nav>
  );
}

function ImportButton({ onLoad, onError }: { onLoad: (d: Definition) => void; onError: (e: unknown) => void }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <button type="button" onClick={() => input.current?.click()}>Import</button>
      <input
        ref={input}
        type="file"
        accept="application/json,.json"
        hidden
        aria-label="Flow file"
        onChange={async (e) => {
          const f = e.target.files?.[0];
          e.target.value = "";
          if (!f) return;
          try {
            onLoad(JSON.parse(await f.text()));
          } catch (err) {
            onError(new ApiError(400, "invalid_json", `${f.name} is not JSON: ${(err as Error).message}`));
          }
        }}
      />
    </>
  );
}

function download(doc: Definition) {
  const blob = new Blob([JSON.stringify(doc, null, 2) + "\n"], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${doc.name.replace(/[^\w-]+/g, "-").toLowerCase() || "flow"}.json`;
  a.click();
  URL.revokeObjectURL(a.href);
}

/** Moves every step below `y` (but `except`) one row down, to make room for an inserted one. */
function makeRoom(doc: Definition, y: number, except: string): Definition {
  return {
    ...doc,
    nodes: doc.nodes.map((n) => (n.id !== except && (n.position?.y ?? 0) > y + 10 ? { ...n, position: { x: n.position?.x ?? 0, y: (n.position?.y ?? 0) + NODE_HEIGHT + 70 } } : n)),
  };
}

function roundPos(p: { x: number; y: number }) {
  return { x: Math.round(p.x), y: Math.round(p.y) };
}

function lowest(doc: Definition): string | undefined {
  let best: { id: string; y: number } | undefined;
  for (const n of doc.nodes) if (n.type !== "exit" && (!best || (n.position?.y ?? 0) > best.y)) best = { id: n.id, y: n.position?.y ?? 0 };
  return best?.id;
}

/** The edge whose middle is within reach of `p` (a drop there inserts the new step into it). */
function nearestEdge(doc: Definition, p: { x: number; y: number }): FlowEdge | undefined {
  const at = new Map(doc.nodes.map((n) => [n.id, n.position ?? { x: 0, y: 0 }]));
  let best: { e: FlowEdge; d: number } | undefined;
  for (const e of doc.edges ?? []) {
    const a = at.get(e.from);
    const b = at.get(e.to);
    if (!a || !b) continue;
    const mx = (a.x + b.x) / 2;
    const my = (a.y + NODE_HEIGHT + b.y) / 2 - NODE_HEIGHT / 2;
    const d = Math.hypot(mx - p.x, my - p.y);
    if (d < 80 && (!best || d < best.d)) best = { e, d };
  }
  return best?.e;
}

function renameProblem(doc: Definition, from: string, to: string): string | null {
  if (!to) return "A node needs an id.";
  if (!/^[A-Za-z0-9_-]+$/.test(to)) return "Use letters, digits, - and _ only.";
  if (to !== from && doc.nodes.some((n) => n.id === to)) return `Another node is already called ${to}.`;
  return null;
}

function rename(doc: Definition, from: string, to: string): Definition {
  return {
    ...doc,
    nodes: doc.nodes.map((n) => {
      const x = { ...n, id: n.id === from ? to : n.id } as AnyNode;
      if (x.type === "wait_for_event" && x.message === from) x.message = to;
      return x;
    }),
    edges: (doc.edges ?? []).map((e) => ({ ...e, from: e.from === from ? to : e.from, to: e.to === from ? to : e.to })),
  };
}
