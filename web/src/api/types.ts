// Names for the service's shapes the app uses. Most come from the generated OpenAPI types
// (`openapi.ts`, `npm run gen`) and the flow format's JSON Schema (`flow.ts`); the few the
// OpenAPI document leaves open (`stats`, the journal) are written here.
import type { Schemas } from "./client";
import type { CairnFlowV1, Condition, Node, Edge } from "./flow";

export type FlowRow = Schemas["FlowRow"];
export type FlowVersion = Schemas["FlowVersion"];
export type Definition = CairnFlowV1;
export type { Condition, Node as FlowNode, Edge as FlowEdge };

/** `GET /api/flows/{id}/stats`. */
export interface FlowStats {
  flow: number;
  nodes: Record<string, { here: number; actions: Record<string, number> }>;
  edges?: { from: string; to: string; when?: string | null; count: number }[];
}

/** One line of a journal (`GET /api/contacts/{id}/journal`, the simulator). */
export interface JournalLine {
  at: string;
  contact?: string;
  flow?: string | number;
  version?: number;
  node?: string;
  action: string;
  record?: { kind: string; id: string } | null;
  channel?: string;
  detail?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface Problem {
  node?: string;
  field?: string;
  message: string;
}

export function totals(stats: FlowStats | null | undefined) {
  const t = { entered: 0, here: 0, sent: 0, failed: 0 };
  if (!stats) return t;
  for (const n of Object.values(stats.nodes)) {
    t.here += n.here;
    t.entered += n.actions.entered ?? 0;
    t.sent += n.actions.sent ?? 0;
    t.failed += n.actions.failed ?? 0;
  }
  return t;
}
