// Test before launch: sample contacts and events run through the journey on a virtual clock by
// the service's simulator (the same one `cairn simulate` is), with each contact's path drawn on
// the canvas and its journal line by line.
import { useState } from "react";
import { api, ApiError } from "../api/client";
import type { Definition, JournalLine } from "../api/types";
import { ErrorBanner } from "../components/ui";

export interface SimResult {
  start: string;
  until: string;
  journal: JournalLine[];
  paths: Record<string, string[]>;
}

const SAMPLE_CONTACTS = `[
  {"id": "ann", "email": "ann@example.com", "phone": "+3725550001", "first_name": "Ann", "timezone": "Europe/Tallinn"},
  {"id": "bob", "email": "bob@example.com", "phone": "+4915550002", "first_name": "Bob", "timezone": "America/New_York"}
]`;

const SAMPLE_EVENTS = `{"after": "30m", "contact": "ann", "type": "opened"}`;

/** `1h 30m` in milliseconds, or null when it is not a duration. */
export function durationMs(text: string): number | null {
  const units: Record<string, number> = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 };
  const parts = [...text.matchAll(/(\d+)\s*([smhdw])/g)];
  if (!parts.length || text.replace(/(\d+)\s*([smhdw])/g, "").trim()) return null;
  return parts.reduce((ms, [, n, u]) => ms + Number(n) * units[u], 0);
}

/** Contacts as a JSON array, or one JSON object per line. */
export function readLines(text: string, what: string): Record<string, unknown>[] {
  const t = text.trim();
  if (!t) return [];
  if (t.startsWith("[")) {
    try {
      return JSON.parse(t);
    } catch (e) {
      throw new ApiError(400, "invalid", `${what}: not JSON: ${(e as Error).message}`, [{ field: what, message: (e as Error).message }]);
    }
  }
  return t.split("\n").filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l);
    } catch (e) {
      throw new ApiError(400, "invalid", `${what}, line ${i + 1}: not JSON: ${(e as Error).message}`, [{ field: what, line: i + 1, message: (e as Error).message }]);
    }
  });
}

function localInput(d: Date) {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function Simulator({ doc, result, onResult, contact, onContact }: { doc: Definition; result: SimResult | null; onResult: (r: SimResult | null) => void; contact: string | null; onContact: (c: string | null) => void }) {
  const [contacts, setContacts] = useState(SAMPLE_CONTACTS);
  const [events, setEvents] = useState(SAMPLE_EVENTS);
  const [start, setStart] = useState(() => localInput(new Date()));
  const [span, setSpan] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const begin = new Date(start);
      const evs = readLines(events, "events").map((e) => {
        if (typeof e.after === "string" && !e.at) {
          const ms = durationMs(e.after);
          if (ms === null) throw new ApiError(400, "invalid", `events: “${e.after}” is not a duration such as 30m or 2h`);
          const { after: _after, ...rest } = e;
          void _after;
          return { ...rest, at: new Date(begin.getTime() + ms).toISOString() };
        }
        return e;
      });
      const r = await api.post<SimResult>("/api/simulate", {
        flow: doc,
        contacts: readLines(contacts, "contacts"),
        events: evs,
        start: begin.toISOString(),
        ...(span.trim() ? { for: span.trim() } : {}),
      });
      onResult(r);
      const first = Object.keys(r.paths)[0] ?? null;
      onContact(contact && r.paths[contact] ? contact : first);
    } catch (e) {
      setError(e);
      onResult(null);
    } finally {
      setBusy(false);
    }
  };
  const lines = result ? result.journal.filter((l) => !contact || l.contact === contact) : [];
  const t0 = result ? new Date(result.start).getTime() : 0;
  return (
    <div className="panel simulator">
      <h2>Test this journey</h2>
      <p className="hint">Runs the draft on a virtual clock: nothing is sent and no contact is touched.</p>
      <FromSegment onContacts={(list) => setContacts(JSON.stringify(list, null, 2))} onError={setError} />
      <label htmlFor="sim-contacts">Sample contacts</label>
      <textarea id="sim-contacts" rows={6} value={contacts} onChange={(e) => setContacts(e.target.value)} spellCheck={false} />
      <div className="hint">A JSON array or one object per line: id, email, phone, timezone, country, tags, lists, and any field.</div>
      <label htmlFor="sim-events">Events</label>
      <textarea id="sim-events" rows={3} value={events} onChange={(e) => setEvents(e.target.value)} spellCheck={false} />
      <div className="hint">One per line: contact, type (opened, clicked, tag_added…), and “after” (30m) or “at” (an instant).</div>
      <div className="inline">
        <label htmlFor="sim-start">Start</label>
        <input id="sim-start" type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} />
        <label htmlFor="sim-for">For</label>
        <input id="sim-for" className="short" value={span} placeholder="until done" onChange={(e) => setSpan(e.target.value)} />
      </div>
      <button type="button" className="primary" disabled={busy} onClick={() => void run()}>
        {busy ? "Running…" : "Run test"}
      </button>
      <ErrorBanner error={error} />
      {result && (
        <div className="sim-result">
          <div className="inline">
            <label htmlFor="sim-contact">Path of</label>
            <select id="sim-contact" value={contact ?? ""} onChange={(e) => onContact(e.target.value || null)}>
              <option value="">every contact</option>
              {Object.keys(result.paths).map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
            {contact && <span className="hint">{(result.paths[contact] ?? []).join(" → ")}</span>}
          </div>
          <table className="table compact journal" aria-label="Simulated journal">
            <thead>
              <tr>
                <th>After</th>
                <th>Contact</th>
                <th>Step</th>
                <th>What happened</th>
              </tr>
            </thead>
            <tbody>
              {lines.map((l, i) => (
                <tr key={i}>
                  <td title={l.at}>{offset(new Date(l.at).getTime() - t0)}</td>
                  <td>{l.contact}</td>
                  <td>{l.node}</td>
                  <td>{describe(l)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

interface StoredContact {
  id: string;
  email?: string | null;
  phone?: string | null;
  timezone?: string | null;
  country?: string | null;
  fields?: Record<string, unknown>;
  tags?: { tag: string; active: boolean }[];
  lists?: { list: string }[];
}

/** A stored contact as the simulator reads one: known keys, active tags, lists and fields. */
export function asSample(c: StoredContact): Record<string, unknown> {
  const sample: Record<string, unknown> = { id: c.id };
  for (const k of ["email", "phone", "timezone", "country"] as const) if (c[k]) sample[k] = c[k];
  const tags = (c.tags ?? []).filter((t) => t.active).map((t) => t.tag);
  if (tags.length) sample.tags = tags;
  const lists = (c.lists ?? []).map((l) => l.list);
  if (lists.length) sample.lists = lists;
  return { ...sample, ...(c.fields ?? {}) };
}

/** Picks sample contacts from the database: the first ones of a saved segment (up to 200). */
function FromSegment({ onContacts, onError }: { onContacts: (list: Record<string, unknown>[]) => void; onError: (e: unknown) => void }) {
  const [segments, setSegments] = useState<{ id: number; name: string }[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [count, setCount] = useState(10);
  const load = async () => {
    try {
      setSegments(await api.get<{ id: number; name: string }[]>("/api/segments"));
    } catch (e) {
      onError(e);
    }
  };
  const pick = async (segment: string) => {
    if (!segment) return;
    setBusy(true);
    try {
      const preview = await api.get<{ contacts: { id: string }[] }>(`/api/segments/${segment}/preview?limit=${count}`);
      // Ten requests at a time: each contact is read whole (tags, lists, fields).
      const full: StoredContact[] = [];
      for (let i = 0; i < preview.contacts.length; i += 10) {
        const batch = preview.contacts.slice(i, i + 10);
        full.push(...(await Promise.all(batch.map((c) => api.get<StoredContact>(`/api/contacts/${encodeURIComponent(c.id)}`)))));
      }
      onContacts(full.map(asSample));
    } catch (e) {
      onError(e);
    } finally {
      setBusy(false);
    }
  };
  if (!segments)
    return (
      <button type="button" className="small" onClick={() => void load()}>
        Take contacts from a segment…
      </button>
    );
  return (
    <div className="inline">
      <label htmlFor="sim-count">The first</label>
      <select id="sim-count" value={count} disabled={busy} onChange={(e) => setCount(Number(e.target.value))}>
        {[10, 50, 100, 200].map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
      <label htmlFor="sim-segment">contacts of</label>
      <select id="sim-segment" disabled={busy} defaultValue="" onChange={(e) => void pick(e.target.value)}>
        <option value="">a saved segment</option>
        {segments.map((s) => (
          <option key={s.id} value={s.id}>
            {s.name}
          </option>
        ))}
      </select>
    </div>
  );
}

function offset(ms: number): string {
  if (ms < 0) return "before";
  const m = Math.round(ms / 6e4);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60 ? `${m % 60} min` : ""}`.trim();
  return `${Math.floor(h / 24)} d ${h % 24 ? `${h % 24} h` : ""}`.trim();
}

/** A journal line in words. */
export function describe(l: JournalLine): string {
  const x = l as Record<string, unknown>;
  const s = (k: string) => (x[k] === undefined || x[k] === null ? "" : String(x[k]));
  switch (l.action) {
    case "entered":
      return "entered the journey";
    case "sent":
      return `${s("channel") || "message"} sent${s("to") ? ` to ${s("to")}` : ""}`;
    case "waiting":
      return `waits${s("event") ? ` for ${s("event")}` : ""}${s("until") ? ` until ${new Date(s("until")).toLocaleString()}` : ""}`;
    case "branched":
      return `took “${s("edge")}”`;
    case "exited":
      return "left the journey";
    case "skipped":
      return `skipped${s("reason") ? `: ${s("reason")}` : ""}`;
    case "failed":
      return `failed${s("error") ? `: ${s("error")}` : s("reason") ? `: ${s("reason")}` : ""}`;
    default: {
      const rest = Object.entries(x)
        .filter(([k]) => !["at", "contact", "flow", "node", "action", "version"].includes(k))
        .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
        .join(", ");
      return `${l.action.replace(/_/g, " ")}${rest ? ` (${rest})` : ""}`;
    }
  }
}
