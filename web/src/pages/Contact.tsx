// `/contacts/{id}`: one person — fields, time zone and where it came from, tags with their
// memory, lists with dates, records, suppressions — and their history as a timeline in words.
import { useMemo, useState } from "react";
import { api, ApiError, type Schemas } from "../api/client";
import type { FlowRow, JournalLine } from "../api/types";
import { ErrorBanner, TextField, useLoad, when, ago } from "../components/ui";
import { describe } from "../editor/Simulator";
import { Link } from "../router";
import { name, type ContactSummary } from "./Contacts";

type TagFact = Schemas["TagFact"];

interface ContactView extends ContactSummary {
  timezone_source?: string;
  tags: TagFact[];
  lists: { list: string; added_at: string; source?: { kind: string; ref?: string } }[];
  records: Record<string, { id: string; type: string; fields: Record<string, unknown>; updated_at: string }[]>;
  suppressed: Record<string, unknown>;
}

export function Contact({ id }: { id: string }) {
  const contact = useLoad(() => api.get<ContactView>(`/api/contacts/${encodeURIComponent(id)}`), [id]);
  const journal = useLoad(() => api.get<JournalLine[]>(`/api/contacts/${encodeURIComponent(id)}/journal`), [id]);
  const flows = useLoad(() => api.get<FlowRow[]>("/api/flows"), []);
  const messages = useLoad(() => api.get<Message[]>(`/api/outbox?limit=500&contact=${encodeURIComponent(id)}`), [id]);
  const byMessage = useMemo(() => new Map((messages.data ?? []).map((m) => [m.id, m])), [messages.data]);
  const [tag, setTag] = useState("");
  const [list, setList] = useState("");
  const [editing, setEditing] = useState(false);
  const [record, setRecord] = useState<RecordDraft | null>(null);
  const [error, setError] = useState<unknown>(null);
  const flowName = useMemo(() => new Map((flows.data ?? []).map((f) => [String(f.id), f.name])), [flows.data]);
  if (contact.error) return <div className="page"><ErrorBanner error={contact.error} /><Link to="/contacts">Back to contacts</Link></div>;
  const c = contact.data;
  if (!c) return <div className="page">Loading…</div>;
  const change = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      await contact.reload();
      await journal.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div className="page contact-page">
      <div className="page-head">
        <h1>{name(c)}</h1>
        <Link to="/contacts">All contacts</Link>
      </div>
      <ErrorBanner error={error} />
      <div className="columns">
        <section className="card" aria-labelledby="about">
          <h2 id="about">About</h2>
          {editing ? (
            <EditContact contact={c} onDone={() => setEditing(false)} onSaved={() => void contact.reload()} />
          ) : (
            <button type="button" className="small" onClick={() => setEditing(true)}>
              Edit
            </button>
          )}
          {!editing && <dl className="facts">
            <dt>Email</dt>
            <dd>{c.email ?? "—"}</dd>
            <dt>Phone</dt>
            <dd>{c.phone ?? "—"}</dd>
            <dt>Time zone</dt>
            <dd>
              {c.timezone ?? "—"} {c.timezone_source && <span className="hint">(from {c.timezone_source.replace(/_/g, " ")})</span>}
            </dd>
            <dt>Country</dt>
            <dd>{c.country ?? "—"}</dd>
            {Object.entries(c.fields ?? {}).map(([k, v]) => (
              <FieldRow key={k} k={k} v={v} />
            ))}
          </dl>}
          {Object.keys(c.suppressed ?? {}).length > 0 && (
            <>
              <h3>Suppressed</h3>
              <ul className="plain">
                {Object.entries(c.suppressed).map(([channel, why]) => (
                  <li key={channel}>
                    {channel}: {typeof why === "object" ? JSON.stringify(why) : String(why)}
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
        <section className="card" aria-labelledby="tags">
          <h2 id="tags">Tags</h2>
          {c.tags.length === 0 && <p className="hint">No tags yet.</p>}
          <table className="table compact">
            <tbody>
              {c.tags.map((t) => (
                <tr key={t.tag} className={t.active ? undefined : "inactive"}>
                  <td>
                    <strong>{t.tag}</strong> {!t.active && <span className="hint">(no longer)</span>}
                  </td>
                  <td>
                    {t.count}× · first {when(t.first_added_at)} · last {ago(t.last_added_at)} · by {t.source.kind}
                    {t.source.ref ? ` ${t.source.ref}` : ""}
                    {t.expires_at ? ` · runs out ${when(t.expires_at)}` : ""}
                  </td>
                  <td>
                    {t.active && (
                      <button type="button" className="small" onClick={() => void change(() => api.del(`/api/contacts/${encodeURIComponent(id)}/tags/${encodeURIComponent(t.tag)}`))}>
                        Remove
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <form
            className="inline"
            onSubmit={(e) => {
              e.preventDefault();
              if (tag.trim()) void change(() => api.post(`/api/contacts/${encodeURIComponent(id)}/tags`, { tag: tag.trim() })).then(() => setTag(""));
            }}
          >
            <input aria-label="New tag" placeholder="add a tag" value={tag} onChange={(e) => setTag(e.target.value)} />
            <button type="submit" className="small">Add tag</button>
          </form>
          <h2>Lists</h2>
          {c.lists.length === 0 && <p className="hint">In no list.</p>}
          <ul className="plain">
            {c.lists.map((l) => (
              <li key={l.list}>
                <strong>{l.list}</strong> <span className="hint">since {when(l.added_at)}{l.source ? ` · by ${l.source.kind}` : ""}</span>{" "}
                <button type="button" className="small" aria-label={`Remove from ${l.list}`} onClick={() => void change(() => api.del(`/api/contacts/${encodeURIComponent(id)}/lists/${encodeURIComponent(l.list)}`))}>
                  Remove
                </button>
              </li>
            ))}
          </ul>
          <form
            className="inline"
            onSubmit={(e) => {
              e.preventDefault();
              if (list.trim()) void change(() => api.post(`/api/contacts/${encodeURIComponent(id)}/lists`, { list: list.trim() })).then(() => setList(""));
            }}
          >
            <input aria-label="List to join" placeholder="add to a list" value={list} onChange={(e) => setList(e.target.value)} />
            <button type="submit" className="small">Add to list</button>
          </form>
          <h2>Records</h2>
          {Object.keys(c.records ?? {}).length === 0 && <p className="hint">No related records (contracts, orders…).</p>}
          {Object.entries(c.records ?? {}).map(([type, rows]) => (
            <div key={type}>
              <h3>{type}</h3>
              <table className="table compact">
                <tbody>
                  {rows.map((r) => (
                    <tr key={r.id}>
                      <td>{r.id}</td>
                      <td>{Object.entries(r.fields).map(([k, v]) => `${k}: ${String(v)}`).join(" · ")}</td>
                      <td>
                        <button type="button" className="small" aria-label={`Edit ${type} ${r.id}`} onClick={() => setRecord({ type, id: r.id, fields: JSON.stringify(r.fields, null, 2) })}>
                          Edit
                        </button>{" "}
                        <button type="button" className="small danger" aria-label={`Delete ${type} ${r.id}`} onClick={() => void change(() => api.del(recordPath(id, type, r.id)))}>
                          Delete
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
          {record ? (
            <RecordForm
              value={record}
              onChange={setRecord}
              onCancel={() => setRecord(null)}
              onSave={async (r) => {
                let fields: unknown;
                try {
                  fields = JSON.parse(r.fields);
                } catch (e) {
                  throw new ApiError(400, "invalid_json", `The fields are not JSON: ${(e as Error).message}`, [{ field: "fields", message: (e as Error).message }]);
                }
                await api.put(recordPath(id, r.type.trim(), r.id.trim()), fields);
                setRecord(null);
                await contact.reload();
              }}
            />
          ) : (
            <button type="button" className="small" onClick={() => setRecord({ type: Object.keys(c.records ?? {})[0] ?? "contract", id: "", fields: "{\n  \"status\": \"active\"\n}" })}>
              + record
            </button>
          )}
        </section>
      </div>
      <section className="card" aria-labelledby="timeline">
        <h2 id="timeline">History</h2>
        <ErrorBanner error={journal.error} />
        {journal.data && journal.data.length === 0 && <p className="hint">Nothing has happened to this contact yet.</p>}
        <ol className="timeline">
          {[...(journal.data ?? [])].reverse().map((l, i) => (
            <li key={i}>
              <time dateTime={l.at}>{when(l.at)}</time>
              <span className="what">
                {l.flow && String(l.flow) !== "0" ? (
                  <>
                    <Link to={`/flows/${l.flow}`}>{flowName.get(String(l.flow)) ?? `Journey ${l.flow}`}</Link>
                    {l.node ? <span className="hint"> · {l.node}</span> : null}:{" "}
                  </>
                ) : null}
                {sentence(l)}
                {typeof l.message === "string" && l.action === "sent" && byMessage.has(l.message) && <Rendered m={byMessage.get(l.message)!} />}
              </span>
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}

/** The contact's known keys and fields as a form; saving sends only what changed (PATCH). */
function EditContact({ contact, onDone, onSaved }: { contact: ContactView; onDone: () => void; onSaved: () => void }) {
  const known = ["email", "phone", "timezone", "country"] as const;
  const [values, setValues] = useState<Record<string, string>>(() => ({
    ...Object.fromEntries(known.map((k) => [k, contact[k] ?? ""])),
    ...Object.fromEntries(Object.entries(contact.fields ?? {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])),
  }));
  const [added, setAdded] = useState("");
  const [error, setError] = useState<unknown>(null);
  const before = (k: string): string => {
    const v = (known as readonly string[]).includes(k) ? contact[k as (typeof known)[number]] : contact.fields?.[k];
    return v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);
  };
  const save = async () => {
    const patch: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(values)) if (v !== before(k)) patch[k] = v === "" ? null : (known as readonly string[]).includes(k) ? v : fieldValue(v);
    if (Object.keys(patch).length === 0) return onDone();
    try {
      await api.patch(`/api/contacts/${encodeURIComponent(contact.id)}`, patch);
      setError(null);
      onSaved();
      onDone();
    } catch (e) {
      setError(e);
    }
  };
  const fieldError = (k: string) => (error instanceof ApiError ? error.forField(k) : undefined);
  return (
    <form
      className="edit-contact"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      {error && !Object.keys(values).some((k) => fieldError(k)) ? <ErrorBanner error={error} /> : null}
      {Object.keys(values).map((k) => (
        <TextField key={k} label={k.replace(/_/g, " ")} value={values[k]} onChange={(v) => setValues({ ...values, [k]: v })} error={fieldError(k)} />
      ))}
      <div className="inline">
        <input aria-label="New field name" placeholder="new field, e.g. city" value={added} onChange={(e) => setAdded(e.target.value)} />
        <button type="button" className="small" disabled={!added.trim() || added.trim() in values} onClick={() => { setValues({ ...values, [added.trim()]: "" }); setAdded(""); }}>
          + field
        </button>
      </div>
      <p className="hint">An emptied field is removed.</p>
      <div className="actions">
        <button type="submit" className="primary">Save</button>
        <button type="button" onClick={onDone}>Cancel</button>
      </div>
    </form>
  );
}

interface RecordDraft {
  type: string;
  id: string;
  fields: string;
}

function recordPath(contact: string, type: string, id: string) {
  return `/api/contacts/${encodeURIComponent(contact)}/records/${encodeURIComponent(type)}/${encodeURIComponent(id)}`;
}

/** A related record's type, id and fields (JSON); saving writes the whole record (PUT). */
function RecordForm({ value, onChange, onSave, onCancel }: { value: RecordDraft; onChange: (r: RecordDraft) => void; onSave: (r: RecordDraft) => Promise<void>; onCancel: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const fieldError = (f: string) => (error instanceof ApiError ? error.forField(f) : undefined);
  return (
    <form
      className="card record-form"
      aria-label="Record"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await onSave(value);
          setError(null);
        } catch (err) {
          setError(err);
        }
      }}
    >
      {error && !fieldError("fields") ? <ErrorBanner error={error} /> : null}
      <TextField label="Record type" value={value.type} onChange={(type) => onChange({ ...value, type })} placeholder="contract" />
      <TextField label="Record id" value={value.id} onChange={(id) => onChange({ ...value, id })} placeholder="k-1001" />
      <TextField label="Fields (JSON)" multiline value={value.fields} onChange={(fields) => onChange({ ...value, fields })} error={fieldError("fields")} />
      <div className="actions">
        <button type="submit" className="primary">Save record</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

/** A typed field value: a number or boolean when it reads back the same, else the text. */
export function fieldValue(text: string): unknown {
  if (text === "true" || text === "false") return text === "true";
  const n = Number(text);
  return text.trim() !== "" && String(n) === text ? n : text;
}

interface Message {
  id: string;
  channel: string;
  status: string;
  content: { subject?: string | null; text?: string | null; html?: string | null; title?: string | null; body?: string | null };
}

/** What the message said, as it was rendered for this contact. */
function Rendered({ m }: { m: Message }) {
  const c = m.content ?? {};
  const head = c.subject ?? c.title ?? null;
  const body = c.text ?? c.body ?? (c.html ? c.html.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim() : null);
  return (
    <span className="rendered-line">
      {head && <strong>“{head}”</strong>} {body && <span className="hint">{body.length > 140 ? `${body.slice(0, 140)}…` : body}</span>}
    </span>
  );
}

function FieldRow({ k, v }: { k: string; v: unknown }) {
  return (
    <>
      <dt>{k.replace(/_/g, " ")}</dt>
      <dd>{typeof v === "object" ? JSON.stringify(v) : String(v)}</dd>
    </>
  );
}

function sentence(l: JournalLine): string {
  const x = l as Record<string, unknown>;
  if (l.action === "tag_added") return `was tagged ${String(x.tag ?? "")}`;
  if (l.action === "tag_removed") return `lost the tag ${String(x.tag ?? "")}`;
  if (l.action === "list_added") return `joined the list ${String(x.list ?? "")}`;
  if (l.action === "list_removed") return `left the list ${String(x.list ?? "")}`;
  if (l.action === "opened") return `opened ${String(x.message ?? "a message")}`;
  if (l.action === "clicked") return `clicked ${String(x.url ?? x.message ?? "a link")}`;
  return describe(l);
}
