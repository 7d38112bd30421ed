// `/audience`: tags (with their lifetimes, editable) and lists, with how many contacts have
// each now, and the record types with their declared fields.
import { useState } from "react";
import { api, ApiError, type Schemas } from "../api/client";
import { Empty, ErrorBanner, useLoad } from "../components/ui";
import { Link } from "../router";
import { RecordTypes } from "./RecordTypes";

type Tag = Schemas["TagSummary"];
type List = Schemas["ListSummary"];

export function Audience() {
  const tags = useLoad(() => api.get<Tag[]>("/api/tags"), []);
  const lists = useLoad(() => api.get<List[]>("/api/lists"), []);
  return (
    <div className="page">
      <h1>Tags, lists and record types</h1>
      <div className="columns">
        <section className="card" aria-labelledby="tags-title">
          <h2 id="tags-title">Tags</h2>
          <p className="hint">A lifetime makes a tag run out after its last addition, e.g. 30d.</p>
          <ErrorBanner error={tags.error} />
          {tags.data?.length === 0 && <Empty title="No tags yet">Tags come from journeys, imports and the API; define one here to give it a lifetime.</Empty>}
          <table className="table compact">
            <thead>
              <tr>
                <th>Tag</th>
                <th className="num">Active</th>
                <th className="num">Ever</th>
                <th>Lifetime</th>
              </tr>
            </thead>
            <tbody>
              {tags.data?.map((t) => <TagRow key={t.name} tag={t} onSaved={() => void tags.reload()} />)}
            </tbody>
          </table>
          <NewTag onSaved={() => void tags.reload()} />
        </section>
        <section className="card" aria-labelledby="lists-title">
          <h2 id="lists-title">Lists</h2>
          <ErrorBanner error={lists.error} />
          {lists.data?.length === 0 && <Empty title="No lists yet">Lists fill from imports, journeys and the API.</Empty>}
          <table className="table compact">
            <thead>
              <tr>
                <th>List</th>
                <th className="num">Members</th>
              </tr>
            </thead>
            <tbody>
              {lists.data?.map((l) => (
                <tr key={l.list}>
                  <td>
                    <Link to={`/segments/new?list=${encodeURIComponent(l.list)}`}>{l.list}</Link>
                  </td>
                  <td className="num">{l.members}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>
      <RecordTypes />
    </div>
  );
}

function TagRow({ tag, onSaved }: { tag: Tag; onSaved: () => void }) {
  const [lifetime, setLifetime] = useState(tag.lifetime ?? "");
  const [error, setError] = useState<string | null>(null);
  const save = async () => {
    try {
      await api.put(`/api/tags/${encodeURIComponent(tag.name)}`, { lifetime: lifetime.trim() || null, description: tag.description ?? null });
      setError(null);
      onSaved();
    } catch (e) {
      setError(e instanceof ApiError ? e.forField("lifetime") ?? e.message : String(e));
    }
  };
  return (
    <tr>
      <td>{tag.name}</td>
      <td className="num">{tag.active}</td>
      <td className="num">{tag.total}</td>
      <td>
        <input aria-label={`Lifetime of ${tag.name}`} className="short" value={lifetime} placeholder="forever" onChange={(e) => setLifetime(e.target.value)} onBlur={() => lifetime !== (tag.lifetime ?? "") && void save()} />
        {error && <div className="field-error" role="alert">{error}</div>}
      </td>
    </tr>
  );
}

function NewTag({ onSaved }: { onSaved: () => void }) {
  const [name, setName] = useState("");
  const [lifetime, setLifetime] = useState("");
  const [error, setError] = useState<unknown>(null);
  return (
    <form
      className="inline"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await api.put(`/api/tags/${encodeURIComponent(name.trim())}`, { lifetime: lifetime.trim() || null });
          setName("");
          setLifetime("");
          setError(null);
          onSaved();
        } catch (err) {
          setError(err);
        }
      }}
    >
      <input aria-label="New tag name" placeholder="tag" value={name} onChange={(e) => setName(e.target.value)} required />
      <input aria-label="New tag lifetime" className="short" placeholder="30d" value={lifetime} onChange={(e) => setLifetime(e.target.value)} />
      <button type="submit" className="small">Define tag</button>
      <ErrorBanner error={error} />
    </form>
  );
}
