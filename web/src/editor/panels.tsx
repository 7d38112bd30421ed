// The editor's side panels besides the inspector: the journey's own settings, its versions,
// its schedule and runs, a message rendered for a sample contact, and who waits at a step.
import { useEffect, useState } from "react";
import { api, ApiError, query, type Schemas } from "../api/client";
import type { Definition, FlowRow, Problem } from "../api/types";
import { CHANNELS, SendRulesForm, problemsUnder, type Rules } from "../components/SendRules";
import { Empty, ErrorBanner, useInterval, useLoad, when, ago } from "../components/ui";
import { Link } from "../router";
import { Row } from "./Inspector";
import type { AnyNode } from "./model";

export function FlowSettings({ doc, problems, onChange }: { doc: Definition; problems: Problem[]; onChange: (d: Definition) => void }) {
  const problem = (f: string) => problems.filter((p) => p.field === f).map((p) => p.message).join("; ") || undefined;
  const set = (k: keyof Definition, v: unknown) => {
    const next = { ...doc } as Record<string, unknown>;
    if (v === "" || v === undefined) delete next[k];
    else next[k] = v;
    onChange(next as unknown as Definition);
  };
  return (
    <div className="inspector" aria-label="Journey settings">
      <h2>Journey</h2>
      <p className="hint">Select a step on the canvas to edit it.</p>
      <Row label="Name" error={problem("name")} hint="Renaming reshuffles who lands in which split arm.">
        {(id, d) => <input id={id} aria-describedby={d} value={doc.name} onChange={(e) => set("name", e.target.value)} />}
      </Row>
      <Row label="Description" error={problem("description")}>
        {(id, d) => <textarea id={id} aria-describedby={d} rows={3} value={doc.description ?? ""} onChange={(e) => set("description", e.target.value)} />}
      </Row>
      <Row label="A contact may enter again" error={problem("reentry")}>
        {(id) => (
          <select id={id} value={doc.reentry ?? "after_exit"} onChange={(e) => set("reentry", e.target.value === "after_exit" ? undefined : e.target.value)}>
            <option value="after_exit">once their previous journey has ended</option>
            <option value="never">never: each contact once</option>
            <option value="always">always, even while in the journey</option>
          </select>
        )}
      </Row>
      <Row label="Time zone for contacts without one" error={problem("timezone")}>
        {(id, d) => <input id={id} aria-describedby={d} value={doc.timezone ?? ""} placeholder="the workspace default" onChange={(e) => set("timezone", e.target.value)} />}
      </Row>
      <JourneyRules doc={doc} problems={problems} onChange={(policy) => set("policy", policy)} />
    </div>
  );
}

/** The journey's own send rules per channel (the flow's `policy`): over the workspace's, under a step's. */
function JourneyRules({ doc, problems, onChange }: { doc: Definition; problems: Problem[]; onChange: (policy: Definition["policy"] | undefined) => void }) {
  const policy = (doc.policy ?? {}) as Record<string, Rules>;
  const setChannel = (channel: string, rules: Rules | undefined) => {
    const next = { ...policy };
    if (rules) next[channel] = rules;
    else delete next[channel];
    onChange(Object.keys(next).length ? (next as Definition["policy"]) : undefined);
  };
  return (
    <details className="send-rules" open={Boolean(doc.policy) || Boolean(problemsUnder(problems, "policy"))}>
      <summary>Send rules for this journey</summary>
      <p className="hint">They replace the workspace's send policy (Settings) rule by rule for this journey's messages; a step's own window or calendars replace them.</p>
      {CHANNELS.map((c) => (
        <details key={c.id} className="channel-rules" open={Boolean(policy[c.id]) || Boolean(problemsUnder(problems, `policy.${c.id}`))}>
          <summary>
            {c.label} {policy[c.id] ? "" : <span className="hint">— the workspace's rules</span>}
          </summary>
          <SendRulesForm label={`Journey ${c.label}`} value={policy[c.id]} onChange={(r) => setChannel(c.id, r)} problem={(f) => problemsUnder(problems, `policy.${c.id}.${f}`)} />
        </details>
      ))}
    </details>
  );
}

interface VersionRow {
  version: number;
  created_at: string;
  active: boolean;
  name: string;
  nodes: number;
}

export function VersionsPanel({ flow, current, onRestore }: { flow: string; current: FlowRow; onRestore: (d: Definition) => void }) {
  const versions = useLoad(() => api.get<VersionRow[]>(`/api/flows/${flow}/versions`), [flow, current.version]);
  const [error, setError] = useState<unknown>(null);
  return (
    <div className="panel">
      <h2>Versions</h2>
      <p className="hint">Each publish makes a version. Contacts stay on the version they entered.</p>
      <ErrorBanner error={error ?? versions.error} />
      <ul className="versions">
        {versions.data?.map((v) => (
          <li key={v.version}>
            <strong>v{v.version}</strong> {v.active && <span className="status status-active">active</span>} <span className="hint">{when(v.created_at)} · {v.nodes} steps</span>
            <button
              type="button"
              className="small"
              onClick={async () => {
                try {
                  onRestore(await api.get<Definition>(`/api/flows/${flow}/versions/${v.version}`));
                } catch (e) {
                  setError(e);
                }
              }}
            >
              Restore
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

type SchedulePreview = Schemas["SchedulePreview"];
type RunRow = Schemas["RunRow"];

export function SchedulePanel({ flow, doc }: { flow: string; doc: Definition }) {
  const audience = doc.nodes.some((n) => n.type === "segment_entry");
  const schedule = useLoad(() => api.get<SchedulePreview[]>(`/api/flows/${flow}/schedule${query({ next: 10 })}`), [flow]);
  const runs = useLoad(() => api.get<RunRow[]>(`/api/flows/${flow}/runs`), [flow]);
  useInterval(() => void runs.reload(), 5000);
  if (!audience) return <Empty title="No audience entry">Add an “Audience entry” step to run this journey for a list, a segment or a condition, once or on a schedule.</Empty>;
  return (
    <div className="panel">
      <h2>Next runs</h2>
      <p className="hint">Of the published version: publish to see a changed schedule here.</p>
      <ErrorBanner error={schedule.error} />
      {schedule.data && schedule.data.length === 0 && <p className="hint">No schedule: the audience enters once, when a version is first activated.</p>}
      {schedule.data?.map((s) => (
        <div className="schedule-item" key={s.node}>
          <strong>{s.node}</strong>: {s.describe} <span className="hint">({s.timezone === "contact" ? "each contact's own time" : s.timezone})</span>
          <ol>
            {s.runs.map((r) => (
              <li key={r.date} title={r.says}>
                {r.date}: {when(r.first)}
                {r.last !== r.first ? ` to ${when(r.last)}` : ""}
              </li>
            ))}
          </ol>
        </div>
      ))}
      <h2>Past runs</h2>
      <ErrorBanner error={runs.error} />
      {runs.data && runs.data.length === 0 && <p className="hint">No run yet: activate the journey.</p>}
      {runs.data && runs.data.length > 0 && (
        <table className="table compact">
          <thead>
            <tr>
              <th>Run</th>
              <th>Status</th>
              <th className="num">Audience</th>
              <th className="num">Entered</th>
              <th className="num">Skipped</th>
              <th className="num">Excluded</th>
            </tr>
          </thead>
          <tbody>
            {runs.data.map((r) => (
              <tr key={r.id}>
                <td title={when(r.first_at)}>{r.key}</td>
                <td>{r.status}</td>
                <td className="num">{r.audience}</td>
                <td className="num">{r.admitted}</td>
                <td className="num">{r.skipped}</td>
                <td className="num">{r.excluded}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function ContactsHere({ flow, node }: { flow: string; node: string }) {
  const here = useLoad(
    () => api.get<{ total: number; contacts: { id: string; email?: string; since: string }[] }>(`/api/flows/${flow}/nodes/${encodeURIComponent(node)}/contacts${query({ limit: 20 })}`),
    [flow, node],
  );
  useInterval(() => void here.reload(), 5000);
  if (here.error instanceof ApiError && here.error.status === 404) return null;
  return (
    <section className="panel" aria-label="Contacts at this step">
      <h3>Here now{here.data ? `: ${here.data.total}` : ""}</h3>
      {here.data && here.data.total === 0 && <p className="hint">No contact waits at this step.</p>}
      <ul className="plain">
        {here.data?.contacts.map((c) => (
          <li key={c.id}>
            <Link to={`/contacts/${encodeURIComponent(c.id)}`}>{c.email ?? c.id}</Link> <span className="hint">since {ago(c.since)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The message rendered for a sample contact, by the renderer the sends use. */
export function MessagePreview({ node }: { node: AnyNode }) {
  const [contact, setContact] = useState("");
  const [result, setResult] = useState<Record<string, string> | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.get<{ contacts: { id: string }[] }>(`/api/contacts${query({ limit: 1 })}`).then(
      (r) => {
        if (r.contacts[0]) setContact((c) => c || r.contacts[0].id);
      },
      () => undefined,
    );
  }, []);
  const message = node.type === "send_email" ? { subject: node.subject, html: node.html, text: node.text } : node.type === "send_sms" ? { text: node.text } : { subject: node.title, text: node.body };
  const body = JSON.stringify(message);
  useEffect(() => {
    if (!contact) return;
    const t = setTimeout(async () => {
      try {
        setResult(await api.post<Record<string, string>>("/api/render", { message: JSON.parse(body), contact }));
        setError(null);
      } catch (e) {
        setError(e);
      }
    }, 400);
    return () => clearTimeout(t);
  }, [body, contact]);
  return (
    <section className="panel preview" aria-label="Message preview">
      <h3>Preview</h3>
      <label className="inline">
        For contact <input aria-label="Preview for contact" value={contact} onChange={(e) => setContact(e.target.value)} placeholder="contact id" />
      </label>
      <ErrorBanner error={error} />
      {result && (
        <div className="rendered">
          {result.subject && <div className="subject">{result.subject}</div>}
          {result.html ? <iframe title="Rendered email" sandbox="" srcDoc={result.html} /> : result.text && <pre>{result.text}</pre>}
        </div>
      )}
    </section>
  );
}
