// Record types on `/audience`: the kinds of related records contacts have (contracts, orders),
// how many there are, and the declared type of each field (`date`, `number`, `text`, `bool`),
// which records written from then on are checked against. Saving puts the declaration
// (`PUT /api/record-types/{type}`); each refusal is shown under the field it names.
import { useState } from "react";
import { api, ApiError, type Schemas } from "../api/client";
import { Empty, ErrorBanner, useLoad } from "../components/ui";

type RecordType = Schemas["RecordTypeSummary"];

const KINDS = ["text", "date", "number", "bool"] as const;

interface FieldRow {
  name: string;
  kind: string;
}

export function RecordTypes() {
  const types = useLoad(() => api.get<RecordType[]>("/api/record-types"), []);
  const [editing, setEditing] = useState<RecordType | null>(null);
  return (
    <section className="card" aria-labelledby="record-types-title">
      <h2 id="record-types-title">Record types</h2>
      <p className="hint">Related records such as contracts or orders. Declared fields are checked when a record is written; others are free.</p>
      <ErrorBanner error={types.error} />
      {types.data?.length === 0 && <Empty title="No record types yet">Records come from the API, imports and a contact's page; declare a type here to check its fields.</Empty>}
      <table className="table compact">
        <thead>
          <tr>
            <th>Type</th>
            <th>Fields</th>
            <th className="num">Records</th>
            <th className="num">Contacts</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {types.data?.map((t) => (
            <tr key={t.type}>
              <td>{t.type}</td>
              <td>{t.declared ? Object.entries(t.fields).map(([name, kind]) => `${name}: ${kind}`).join(", ") || "none declared" : <span className="hint">not declared</span>}</td>
              <td className="num">{t.records}</td>
              <td className="num">{t.contacts}</td>
              <td>
                <button type="button" className="small" aria-label={`Edit record type ${t.type}`} onClick={() => setEditing(t)}>
                  Edit
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {editing ? (
        <RecordTypeForm
          key={editing.type}
          initial={editing}
          onDone={async (saved) => {
            setEditing(null);
            if (saved) await types.reload();
          }}
        />
      ) : (
        <button type="button" onClick={() => setEditing({ type: "", declared: false, fields: {}, records: 0, contacts: 0 })}>
          + record type
        </button>
      )}
    </section>
  );
}

/** The declaration as `PUT /api/record-types/{type}` takes it. */
export function declaration(rows: FieldRow[], description: string): Schemas["RecordTypeBody"] {
  const fields = Object.fromEntries(rows.filter((r) => r.name.trim()).map((r) => [r.name.trim(), r.kind]));
  return description.trim() ? { fields, description: description.trim() } : { fields };
}

export function RecordTypeForm({ initial, onDone }: { initial: RecordType; onDone: (saved: boolean) => void | Promise<void> }) {
  const isNew = !initial.type;
  const [type, setType] = useState(initial.type);
  const [rows, setRows] = useState<FieldRow[]>(() => Object.entries(initial.fields).map(([name, kind]) => ({ name, kind })));
  const [description, setDescription] = useState(initial.description ?? "");
  const [error, setError] = useState<unknown>(null);
  const problem = (field: string) => (error instanceof ApiError ? error.forField(field) : undefined);
  const setRow = (i: number, row: FieldRow | null) => setRows(row ? rows.map((r, j) => (j === i ? row : r)) : rows.filter((_, j) => j !== i));
  const save = async () => {
    setError(null);
    if (!type.trim()) {
      setError(new ApiError(422, "invalid", "Name the record type, e.g. contract."));
      return;
    }
    try {
      await api.put(`/api/record-types/${encodeURIComponent(type.trim())}`, declaration(rows, description));
      await onDone(true);
    } catch (e) {
      setError(e);
    }
  };
  const named = rows.map((r) => problem(`fields.${r.name.trim()}`));
  const elsewhere = error instanceof ApiError && error.details.some((d) => !rows.some((r) => d.field === `fields.${r.name.trim()}`));
  return (
    <form
      className="record-type-form"
      aria-label={isNew ? "New record type" : `Record type ${initial.type}`}
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <h3>{isNew ? "New record type" : `Fields of ${initial.type}`}</h3>
      {(!(error instanceof ApiError) || !error.details.length || elsewhere) && <ErrorBanner error={error} />}
      {isNew && (
        <label className="inline">
          Type <input aria-label="Record type name" className="short" value={type} placeholder="contract" onChange={(e) => setType(e.target.value)} />
        </label>
      )}
      {rows.map((r, i) => (
        <div key={i} className={named[i] ? "field field-invalid" : "field"}>
          <span className="inline">
            <input aria-label={`Field ${i + 1} name`} value={r.name} placeholder="end_date" onChange={(e) => setRow(i, { ...r, name: e.target.value })} />
            <select aria-label={`Field ${i + 1} type`} value={r.kind} onChange={(e) => setRow(i, { ...r, kind: e.target.value })}>
              {KINDS.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
            <button type="button" className="small" onClick={() => setRow(i, null)} aria-label={`Remove field ${r.name || i + 1}`}>
              Remove
            </button>
          </span>
          {named[i] && (
            <div className="field-error" role="alert">
              {named[i]}
            </div>
          )}
        </div>
      ))}
      <button type="button" className="small" onClick={() => setRows([...rows, { name: "", kind: "text" }])}>
        + field
      </button>
      <label className="inline">
        Description <input aria-label="Record type description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <div className="actions">
        <button type="submit" className="primary">
          Save record type
        </button>
        <button type="button" onClick={() => void onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
