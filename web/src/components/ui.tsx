// Small building blocks every screen uses: labelled fields that show the service's error for
// their field in place, an error banner, empty states that say what to do, and `useLoad`.
import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from "react";
import { ApiError } from "../api/client";

export function Field({
  label,
  error,
  hint,
  children,
}: {
  label: string;
  error?: string | null;
  hint?: ReactNode;
  children: (id: string, describedBy: string | undefined) => ReactNode;
}) {
  const id = useId();
  const errorId = `${id}-error`;
  return (
    <div className={error ? "field field-invalid" : "field"}>
      <label htmlFor={id}>{label}</label>
      {children(id, error ? errorId : undefined)}
      {hint && !error && <div className="hint">{hint}</div>}
      {error && (
        <div className="field-error" id={errorId} role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

export function TextField(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  error?: string | null;
  hint?: ReactNode;
  placeholder?: string;
  type?: string;
  autoComplete?: string;
  multiline?: boolean;
  required?: boolean;
}) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(id, describedBy) =>
        props.multiline ? (
          <textarea
            id={id}
            aria-describedby={describedBy}
            aria-invalid={props.error ? true : undefined}
            value={props.value}
            placeholder={props.placeholder}
            onChange={(e) => props.onChange(e.target.value)}
            rows={5}
          />
        ) : (
          <input
            id={id}
            aria-describedby={describedBy}
            aria-invalid={props.error ? true : undefined}
            type={props.type ?? "text"}
            value={props.value}
            placeholder={props.placeholder}
            autoComplete={props.autoComplete}
            required={props.required}
            onChange={(e) => props.onChange(e.target.value)}
          />
        )
      }
    </Field>
  );
}

export function SelectField<T extends string>(props: {
  label: string;
  value: T;
  options: { value: T; label: string }[];
  onChange: (v: T) => void;
  error?: string | null;
}) {
  return (
    <Field label={props.label} error={props.error}>
      {(id, describedBy) => (
        <select id={id} aria-describedby={describedBy} value={props.value} onChange={(e) => props.onChange(e.target.value as T)}>
          {props.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** An error from the service, with each detail that names where it is. */
export function ErrorBanner({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  return (
    <div className="banner banner-error" role="alert">
      <strong>{e ? e.message : String(error instanceof Error ? error.message : error)}</strong>
      {e && e.details.length > 1 && (
        <ul>
          {e.details.map((d, i) => (
            <li key={i}>
              {[d.line !== undefined ? `line ${d.line}` : null, d.node ? `node ${d.node}` : null, d.field]
                .filter(Boolean)
                .join(", ")}
              {d.node || d.field || d.line !== undefined ? ": " : ""}
              {d.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children && <p>{children}</p>}
    </div>
  );
}

/** Loads `load()` on mount and whenever `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const latest = useRef(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);
  const reload = useCallback(async () => {
    const n = ++latest.current;
    setLoading(true);
    try {
      const value = await run();
      if (n === latest.current) {
        setData(value);
        setError(null);
      }
    } catch (e) {
      if (n === latest.current) setError(e);
    } finally {
      if (n === latest.current) setLoading(false);
    }
  }, [run]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, loading, reload, setData };
}

/** Calls `tick` every `ms` while the page is visible. */
export function useInterval(tick: () => void, ms: number) {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    const id = setInterval(() => {
      if (document.visibilityState === "visible") saved.current();
    }, ms);
    return () => clearInterval(id);
  }, [ms]);
}

export function when(ts: string | null | undefined): string {
  if (!ts) return "—";
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function ago(ts: string | null | undefined, now = Date.now()): string {
  if (!ts) return "never";
  const s = Math.round((now - new Date(ts).getTime()) / 1000);
  const future = s < 0;
  const a = Math.abs(s);
  const text =
    a < 60 ? `${a} s` : a < 3600 ? `${Math.round(a / 60)} min` : a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}
