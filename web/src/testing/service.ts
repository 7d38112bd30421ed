// For unit tests: the service as `fetch` sees it, answering every request with one status and
// body, and the requests it was sent (method, URL, parsed JSON body).
import { vi } from "vitest";

export interface SeenRequest {
  method?: string;
  url?: string;
  body?: unknown;
}

export function fakeService(status: number, body: unknown): SeenRequest[] {
  const seen: SeenRequest[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init: RequestInit) => {
      seen.push({ method: init.method, url, body: init.body ? JSON.parse(String(init.body)) : undefined });
      return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
    }),
  );
  return seen;
}
