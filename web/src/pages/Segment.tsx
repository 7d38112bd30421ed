// `/segments/{id}` (and `/segments/new`): the condition builder with “Load contacts” on every
// change — how many match now, the first of them with what the condition read, and the time
// it took.
import { useEffect, useState } from "react";
import { api, ApiError, type Schemas } from "../api/client";
import type { Condition } from "../api/types";
import { ConditionBuilder } from "../components/ConditionBuilder";
import { ErrorBanner, TextField, useLoad } from "../components/ui";
import { Link, navigate, useRoute } from "../router";
import type { SegmentRow } from "./Segments";

type Preview = Schemas["Preview"];

export function useSuggestions() {
  const s = useLoad(async () => {
    const [tags, lists, segments] = await Promise.all([
      api.get<Schemas["TagSummary"][]>("/api/tags").catch(() => []),
      api.get<Schemas["ListSummary"][]>("/api/lists").catch(() => []),
      api.get<SegmentRow[]>("/api/segments").catch(() => []),
    ]);
    return { tags: tags.map((t) => t.name), lists: lists.map((l) => l.list), segments: segments.map((x) => x.name) };
  }, []);
  return s.data ?? undefined;
}

export function SegmentPage({ id }: { id: string }) {
  const isNew = id === "new";
  const list = useRoute().search.get("list");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [condition, setCondition] = useState<Condition>(
    (list ? { in_list: list } : { all: [{ tag: { name: "", last_added: { within: "7d" } } }, { not: { in_list: "" } }] }) as Condition,
  );
  const [loaded, setLoaded] = useState(isNew);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [previewError, setPreviewError] = useState<unknown>(null);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const suggestions = useSuggestions();

  useEffect(() => {
    if (isNew) return;
    api.get<SegmentRow>(`/api/segments/${id}`).then(
      (s) => {
        setName(s.name);
        setDescription(s.description ?? "");
        setCondition(s.condition as Condition);
        setLoaded(true);
      },
      setError,
    );
  }, [id, isNew]);

  // “Load contacts” on every change.
  useEffect(() => {
    if (!loaded) return;
    const t = setTimeout(async () => {
      try {
        setPreview(await api.post<Preview>("/api/segments/preview", { condition, limit: 20 }));
        setPreviewError(null);
      } catch (e) {
        setPreviewError(e);
      }
    }, 300);
    return () => clearTimeout(t);
  }, [condition, loaded]);

  const save = async () => {
    setError(null);
    setSaved(null);
    try {
      const body = { name: name.trim(), description: description.trim() || null, condition };
      if (isNew) {
        const made = await api.post<SegmentRow>("/api/segments", body);
        navigate(`/segments/${made.id}`, true);
      } else {
        await api.put(`/api/segments/${id}`, body);
        setSaved("Saved.");
      }
    } catch (e) {
      setError(e);
    }
  };
  const remove = async () => {
    if (!confirm(`Delete the segment “${name}”?`)) return;
    try {
      await api.del(`/api/segments/${id}`);
      navigate("/segments");
    } catch (e) {
      setError(e);
    }
  };
  const fieldError = (f: string) => (error instanceof ApiError ? error.forField(f) : undefined);
  return (
    <div className="page segment-page">
      <div className="page-head">
        <h1>{isNew ? "New segment" : name || "Segment"}</h1>
        <Link to="/segments">All segments</Link>
      </div>
      <ErrorBanner error={error} />
      {saved && <div className="banner banner-ok" role="status">{saved}</div>}
      <div className="columns">
        <section className="card">
          <TextField label="Name" value={name} onChange={setName} error={fieldError("name")} placeholder="e.g. Recent interest" />
          <TextField label="Description" value={description} onChange={setDescription} error={fieldError("description")} />
          <h2>Who is in it</h2>
          {fieldError("condition") && <div className="field-error" role="alert">{fieldError("condition")}</div>}
          <ConditionBuilder value={condition} onChange={setCondition} suggestions={suggestions} />
          <div className="actions">
            <button type="button" className="primary" onClick={() => void save()}>
              {isNew ? "Create segment" : "Save"}
            </button>
            {!isNew && (
              <button type="button" className="danger" onClick={() => void remove()}>
                Delete
              </button>
            )}
          </div>
        </section>
        <section className="card" aria-labelledby="preview-title" aria-live="polite">
          <h2 id="preview-title">Contacts</h2>
          <ErrorBanner error={previewError} />
          {preview && (
            <>
              <p className="preview-count">
                <strong data-testid="preview-count">{preview.count}</strong> contact{preview.count === 1 ? "" : "s"} match now{" "}
                <span className="hint">
                  (of {preview.contacts_indexed}, in {preview.took_ms < 1 ? "<1" : Math.round(preview.took_ms)} ms)
                </span>
              </p>
              <ul className="plain">
                {(preview.contacts as unknown as { id: string; email?: string }[]).map((c) => (
                  <li key={c.id}>
                    <Link to={`/contacts/${encodeURIComponent(c.id)}`}>{c.email ?? c.id}</Link>
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
      </div>
    </div>
  );
}
