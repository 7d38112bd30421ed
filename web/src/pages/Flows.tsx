// `/flows`: every journey with its status, version and counts; new journeys from a template,
// from nothing, or from a JSON file.
import { useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import { totals, type Definition, type FlowRow, type FlowStats, type FlowVersion } from "../api/types";
import { Empty, ErrorBanner, useInterval, useLoad, when } from "../components/ui";
import { Link, navigate } from "../router";

interface Template {
  name: string;
  title: string;
  description?: string | null;
  definition: Definition;
}

/** A journey that compiles from the start: an entry by API call, then the exit. */
export function blankFlow(name: string): Definition {
  return {
    format: "cairn.flow/v1",
    name,
    nodes: [
      { id: "start", type: "webhook_entry", position: { x: 0, y: 0 } },
      { id: "done", type: "exit", position: { x: 0, y: 160 } },
    ],
    edges: [{ from: "start", to: "done" }],
  };
}

export function Flows() {
  const [archived, setArchived] = useState(false);
  const flows = useLoad(async () => {
    const rows = await api.get<FlowRow[]>(`/api/flows${archived ? "?archived=true" : ""}`);
    const stats = await Promise.all(rows.map((r) => api.get<FlowStats>(`/api/flows/${r.id}/stats`).catch(() => null)));
    return rows.map((row, i) => ({ row, stats: stats[i] }));
  }, [archived]);
  useInterval(() => void flows.reload(), 5000);
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const file = useRef<HTMLInputElement>(null);

  const create = async (definition: Definition) => {
    setError(null);
    try {
      const made = await api.post<FlowVersion>("/api/flows", definition);
      navigate(`/flows/${made.id}`);
    } catch (e) {
      setError(e);
    }
  };
  const act = async (change: () => Promise<unknown>) => {
    setError(null);
    try {
      await change();
      await flows.reload();
    } catch (e) {
      setError(e);
    }
  };
  const remove = (row: FlowRow) => {
    if (!window.confirm(`Delete “${row.name}” with its versions and draft? It has never been activated.`)) return;
    void act(() => api.del(`/api/flows/${row.id}`));
  };
  const importFile = async (f: File) => {
    let parsed: Definition;
    try {
      parsed = JSON.parse(await f.text());
    } catch (e) {
      setError(new ApiError(400, "invalid_json", `${f.name} is not JSON: ${(e as Error).message}`));
      return;
    }
    await create(parsed);
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Journeys</h1>
        <div className="actions">
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New journey
          </button>
          <button type="button" onClick={() => file.current?.click()}>
            Import JSON…
          </button>
          <label className="inline">
            <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.target.checked)} /> Archived journeys
          </label>
          <input
            ref={file}
            type="file"
            accept="application/json,.json"
            hidden
            aria-label="Flow file to import"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void importFile(f);
              e.target.value = "";
            }}
          />
        </div>
      </div>
      <ErrorBanner error={error ?? flows.error} />
      {creating && <NewFlow onCreate={create} onCancel={() => setCreating(false)} />}
      {archived && flows.data && flows.data.length === 0 && <Empty title="No archived journeys">A paused journey that has run can be archived from this list.</Empty>}
      {!archived && flows.data && flows.data.length === 0 && (
        <Empty title="No journeys yet">
          Start one with <strong>New journey</strong>: from a template such as “Welcome” or from an empty canvas.
        </Empty>
      )}
      {flows.data && flows.data.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Version</th>
              <th className="num">Entered</th>
              <th className="num">In the journey now</th>
              <th className="num">Sent</th>
              <th>Changed</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {flows.data.map(({ row, stats }) => {
              const t = totals(stats);
              return (
                <tr key={row.id}>
                  <td>
                    <Link to={`/flows/${row.id}`}>{row.name}</Link>
                  </td>
                  <td>
                    <span className={`status status-${row.status}`}>{row.status}</span>
                  </td>
                  <td>
                    v{row.version}
                    {row.active_version && row.active_version !== row.version ? ` (v${row.active_version} active)` : ""}
                  </td>
                  <td className="num">{t.entered}</td>
                  <td className="num">{t.here}</td>
                  <td className="num">{t.sent}</td>
                  <td>{when(row.updated_at)}</td>
                  <td>
                    {/* Only a journey that never ran can go: the history of one that ran names it. */}
                    {row.active_version == null && row.status !== "archived" && (
                      <button type="button" className="small danger" aria-label={`Delete ${row.name}`} onClick={() => remove(row)}>
                        Delete
                      </button>
                    )}
                    {row.active_version != null && row.status === "paused" && (
                      <button type="button" className="small" aria-label={`Archive ${row.name}`} title="Out of this list; its history stays" onClick={() => void act(() => api.post(`/api/flows/${row.id}/archive`))}>
                        Archive
                      </button>
                    )}
                    {row.status === "archived" && (
                      <button type="button" className="small" aria-label={`Restore ${row.name}`} onClick={() => void act(() => api.post(`/api/flows/${row.id}/restore`))}>
                        Restore
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

function NewFlow({ onCreate, onCancel }: { onCreate: (d: Definition) => Promise<void>; onCancel: () => void }) {
  const templates = useLoad(() => api.get<Template[]>("/api/templates").catch(() => [] as Template[]), []);
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const start = async (d: Definition) => {
    setBusy(true);
    try {
      await onCreate({ ...d, name: name.trim() || d.name });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card new-flow" aria-label="New journey">
      <div className="row">
        <label htmlFor="new-flow-name">Name</label>
        <input id="new-flow-name" value={name} placeholder="e.g. Welcome series" onChange={(e) => setName(e.target.value)} />
        <button type="button" className="primary" disabled={busy} onClick={() => void start(blankFlow(name.trim() || "New journey"))}>
          Start from an empty canvas
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {templates.data && templates.data.length > 0 && (
        <>
          <h3>Or start from a template</h3>
          <ul className="templates">
            {templates.data.map((t) => (
              <li key={t.name}>
                <button type="button" disabled={busy} onClick={() => void start(t.definition)}>
                  <strong>{t.title}</strong>
                  <span>{t.description}</span>
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
