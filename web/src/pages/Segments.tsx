// `/segments`: saved audiences, each with its live count.
import { api, type Schemas } from "../api/client";
import { conditionSummary } from "../editor/model";
import { Empty, ErrorBanner, useLoad } from "../components/ui";
import { Link } from "../router";

export interface SegmentRow {
  id: number;
  name: string;
  description?: string | null;
  condition: unknown;
  created_at: string;
  updated_at: string;
}

export function Segments() {
  const segments = useLoad(async () => {
    const rows = await api.get<SegmentRow[]>("/api/segments");
    const counts = await Promise.all(rows.map((r) => api.get<Schemas["Preview"]>(`/api/segments/${r.id}/preview?limit=1`).catch(() => null)));
    return rows.map((row, i) => ({ row, count: counts[i]?.count }));
  }, []);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Segments</h1>
        <div className="actions">
          <Link to="/segments/new" className="button primary">
            New segment
          </Link>
        </div>
      </div>
      <ErrorBanner error={segments.error} />
      {segments.data && segments.data.length === 0 && (
        <Empty title="No segments yet">A segment is a saved audience such as “tagged pricing in the last 7 days, not in customers”. Create one with New segment.</Empty>
      )}
      {segments.data && segments.data.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Who</th>
              <th className="num">Contacts now</th>
            </tr>
          </thead>
          <tbody>
            {segments.data.map(({ row, count }) => (
              <tr key={row.id}>
                <td>
                  <Link to={`/segments/${row.id}`}>{row.name}</Link>
                  {row.description && <div className="hint">{row.description}</div>}
                </td>
                <td>{conditionSummary(row.condition)}</td>
                <td className="num">{count ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
