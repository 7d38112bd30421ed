// The one way the app talks to the service: same-origin fetch with the session cookie, the
// CSRF token on every change, and the API's error shape turned into an `ApiError` whose
// details name the node, field or line at fault.
import type { components } from "./openapi";

export type Schemas = components["schemas"];

export interface Detail {
  node?: string;
  field?: string;
  message: string;
  line?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Detail[] = [],
  ) {
    super(message);
  }

  /** The message of the detail about `field`, if the service named it. */
  forField(field: string): string | undefined {
    return this.details.find((d) => d.field === field)?.message;
  }
}

let csrf: string | null = null;
let onUnauthorized: (() => void) | null = null;

/** Set after login (and from `GET /api/session`): sent as `X-CSRF-Token` on every change. */
export function setCsrf(token: string | null) {
  csrf = token;
}

/** Called when a request comes back 401: the session ended, so the app shows the login. */
export function whenUnauthorized(handler: () => void) {
  onUnauthorized = handler;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Body {
  json?: unknown;
  text?: string;
  contentType?: string;
}

export async function request<T>(method: Method, path: string, body?: Body): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  let payload: string | undefined;
  if (body?.json !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body.json);
  } else if (body?.text !== undefined) {
    headers["content-type"] = body.contentType ?? "text/plain";
    payload = body.text;
  }
  if (method !== "GET" && csrf) headers["x-csrf-token"] = csrf;
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, "network", `Cairn cannot be reached (${(e as Error).message})`);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string; details?: Detail[] } })?.error;
    if (response.status === 401 && onUnauthorized && !path.startsWith("/api/session")) onUnauthorized();
    throw new ApiError(
      response.status,
      error?.code ?? String(response.status),
      error?.message ?? (typeof parsed === "string" && parsed ? parsed : response.statusText),
      error?.details ?? [],
    );
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string) => request<T>("GET", path),
  post: <T>(path: string, json?: unknown) => request<T>("POST", path, json === undefined ? undefined : { json }),
  put: <T>(path: string, json: unknown) => request<T>("PUT", path, { json }),
  patch: <T>(path: string, json: unknown) => request<T>("PATCH", path, { json }),
  del: <T>(path: string) => request<T>("DELETE", path),
};

/** A query string from the defined values of `params`. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
