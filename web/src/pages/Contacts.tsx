// `/contacts`: search by id, email, phone or name, page by page.
import { useState } from "react";
import { api, query } from "../api/client";
import { Empty, ErrorBanner, useLoad } from "../components/ui";
import { Link, navigate, useRoute } from "../router";

export interface ContactSummary {
  id: string;
  email?: string | null;
  phone?: string | null;
  timezone?: string | null;
  country?: string | null;
  fields?: Record<string, unknown>;
}

export function Contacts() {
  const { search } = useRoute();
  const q = search.get("q") ?? "";
  const [text, setText] = useState(q);
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(
    () => api.get<{ contacts: ContactSummary[]; next_cursor?: string | null }>(`/api/contacts${query({ q, cursor, limit: 50 })}`),
    [q, cursor],
  );
  return (
    <div className="page">
      <div className="page-head">
        <h1>Contacts</h1>
        <div className="actions">
          <Link to="/imports" className="button">
            Import contacts
          </Link>
          <a className="button" href="/api/contacts/export?format=csv" download="contacts.csv">
            Export CSV
          </a>
          <a className="button" href="/api/journal/export" download="journal.ndjson" title="Every journal line of every contact, one JSON line each">
            Export action log
          </a>
        </div>
      </div>
      <form
        role="search"
        className="search"
        onSubmit={(e) => {
          e.preventDefault();
          setCursors([]);
          navigate(`/contacts${query({ q: text.trim() })}`);
        }}
      >
        <label htmlFor="contact-search">Search</label>
        <input id="contact-search" type="search" value={text} placeholder="email, phone, id or name" onChange={(e) => setText(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      <ErrorBanner error={page.error} />
      {page.data && page.data.contacts.length === 0 && (
        <Empty title={q ? `No contact matches “${q}”` : "No contacts yet"}>
          {q ? "Try part of an email address or a phone number." : "Import a CSV file, or post contacts to the API."}
        </Empty>
      )}
      {page.data && page.data.contacts.length > 0 && (
        <>
          <table className="table">
            <thead>
              <tr>
                <th>Contact</th>
                <th>Email</th>
                <th>Phone</th>
                <th>Time zone</th>
                <th>Country</th>
              </tr>
            </thead>
            <tbody>
              {page.data.contacts.map((c) => (
                <tr key={c.id}>
                  <td>
                    <Link to={`/contacts/${encodeURIComponent(c.id)}`}>{name(c)}</Link>
                  </td>
                  <td>{c.email}</td>
                  <td>{c.phone}</td>
                  <td>{c.timezone}</td>
                  <td>{c.country}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="pager">
            <button type="button" disabled={!cursors.length} onClick={() => setCursors((c) => c.slice(0, -1))}>
              Previous
            </button>
            <button type="button" disabled={!page.data.next_cursor} onClick={() => setCursors((c) => [...c, page.data!.next_cursor!])}>
              Next
            </button>
          </div>
        </>
      )}
    </div>
  );
}

export function name(c: ContactSummary): string {
  const f = c.fields ?? {};
  const full = [f.first_name, f.last_name].filter((x) => typeof x === "string" && x).join(" ");
  return full ? `${full} (${c.id})` : c.id;
}
