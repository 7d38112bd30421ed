// `/imports`: upload a CSV file, map its columns, watch the import's progress and read the
// lines it refused.
import { useRef, useState } from "react";
import { request, api, type Schemas } from "../api/client";
import { ErrorBanner, Empty, useInterval, useLoad, when } from "../components/ui";

type ImportRow = Schemas["ImportRow"];

const TARGETS = ["id", "email", "phone", "timezone", "country", "tags", "lists"];

/** The header of a CSV file: its first line split on commas outside quotes. */
export function csvHeader(text: string): string[] {
  const line = text.split(/\r?\n/, 1)[0] ?? "";
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '"') {
      if (quoted && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (ch === "," && !quoted) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  out.push(cur.trim());
  return out.filter((c, i) => c || i < out.length - 1);
}

/** What a column is read as by default: a known field by its name, else a custom field. */
export function guess(column: string): string {
  const c = column.toLowerCase().replace(/[^a-z]/g, "");
  if (["id", "externalid", "customerid"].includes(c)) return "id";
  if (["email", "mail", "emailaddress", "epost"].includes(c)) return "email";
  if (["phone", "mobile", "phonenumber", "tel", "telefon"].includes(c)) return "phone";
  if (["timezone", "tz", "zone"].includes(c)) return "timezone";
  if (["country", "countrycode"].includes(c)) return "country";
  if (c === "tags") return "tags";
  if (c === "lists") return "lists";
  return column;
}

export function Imports() {
  const imports = useLoad(() => api.get<ImportRow[]>("/api/imports?limit=20"), []);
  const running = imports.data?.some((i) => i.status === "running");
  useInterval(() => running && void imports.reload(), 1000);
  const [file, setFile] = useState<{ name: string; text: string; columns: string[] } | null>(null);
  const [mapping, setMapping] = useState<Record<string, string>>({});
  const [key, setKey] = useState("id");
  const [events, setEvents] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const input = useRef<HTMLInputElement>(null);

  const pick = async (f: File) => {
    const text = await f.text();
    const columns = csvHeader(text);
    setFile({ name: f.name, text, columns });
    setMapping(Object.fromEntries(columns.map((c) => [c, guess(c)])));
    setError(null);
  };
  const start = async () => {
    if (!file) return;
    setError(null);
    const q = new URLSearchParams({ name: file.name.replace(/\.[^.]+$/, ""), key });
    if (events) q.set("events", "true");
    for (const [column, target] of Object.entries(mapping)) if (target !== column) q.append("map", `${column}=${target === "(skip)" ? "" : target}`);
    try {
      await request("POST", `/api/imports?${q}`, { text: file.text, contentType: "text/csv" });
      setFile(null);
      await imports.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div className="page">
      <div className="page-head">
        <h1>Imports</h1>
        <div className="actions">
          <button type="button" className="primary" onClick={() => input.current?.click()}>
            Upload CSV…
          </button>
          <input ref={input} type="file" accept=".csv,text/csv" hidden aria-label="CSV file" onChange={(e) => { const f = e.target.files?.[0]; if (f) void pick(f); e.target.value = ""; }} />
        </div>
      </div>
      <ErrorBanner error={error} />
      {file && (
        <section className="card" aria-label="Map the columns">
          <h2>{file.name}: what each column is</h2>
          <table className="table compact">
            <thead>
              <tr>
                <th>Column</th>
                <th>Read as</th>
              </tr>
            </thead>
            <tbody>
              {file.columns.map((c) => (
                <tr key={c}>
                  <td>{c}</td>
                  <td>
                    <select aria-label={`Column ${c} read as`} value={TARGETS.includes(mapping[c]) || mapping[c] === "(skip)" ? mapping[c] : "(field)"} onChange={(e) => setMapping({ ...mapping, [c]: e.target.value === "(field)" ? c : e.target.value })}>
                      {TARGETS.map((t) => (
                        <option key={t} value={t}>
                          {t}
                        </option>
                      ))}
                      <option value="(field)">a custom field</option>
                      <option value="(skip)">leave out</option>
                    </select>
                    {!TARGETS.includes(mapping[c]) && mapping[c] !== "(skip)" && (
                      <input aria-label={`Field name for ${c}`} value={mapping[c]} onChange={(e) => setMapping({ ...mapping, [c]: e.target.value })} />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="inline">
            <label htmlFor="import-key">Find existing contacts by</label>
            <select id="import-key" value={key} onChange={(e) => setKey(e.target.value)}>
              <option value="id">id</option>
              <option value="email">email</option>
            </select>
            <label className="inline">
              <input type="checkbox" checked={events} onChange={(e) => setEvents(e.target.checked)} /> Start event journeys for tags and lists added
            </label>
          </div>
          <div className="actions">
            <button type="button" className="primary" onClick={() => void start()}>
              Import
            </button>
            <button type="button" onClick={() => setFile(null)}>
              Cancel
            </button>
          </div>
        </section>
      )}
      <ErrorBanner error={imports.error} />
      {imports.data && imports.data.length === 0 && !file && <Empty title="No imports yet">Upload a CSV file with a header line: id, email, phone, timezone, country, tags and lists (as vip;new), and any other column as a field.</Empty>}
      {imports.data?.map((i) => <ImportCard key={i.id} row={i} />)}
    </div>
  );
}

function ImportCard({ row }: { row: ImportRow }) {
  const done = row.inserted + row.updated + row.unchanged + row.refused;
  const pct = row.status === "running" ? (row.lines_read ? Math.min(99, Math.round((done / row.lines_read) * 100)) : 0) : 100;
  return (
    <section className="card import" aria-label={`Import ${row.name}`}>
      <h3>
        {row.name} <span className={`status status-${row.status}`}>{row.status}</span> <span className="hint">{when(row.created_at)}</span>
      </h3>
      <progress max={100} value={pct} aria-label={`Progress of ${row.name}`} />
      <p>
        {row.lines_read} lines read · {row.inserted} new · {row.updated} updated · {row.unchanged} unchanged · {row.refused} refused
      </p>
      {row.failure && <div className="banner banner-error">{row.failure}</div>}
      {row.errors.length > 0 && (
        <details>
          <summary>Refused lines</summary>
          <ul className="plain">
            {row.errors.map((e, n) => (
              <li key={n}>
                line {e.line}: {e.message}
              </li>
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}

