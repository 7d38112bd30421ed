// The inspector: a form per node type with human inputs (durations like `2h`, windows with
// days, calendars, audiences with the condition builder, schedules), each field showing the
// validation problem the service pinned on it. It edits the node's JSON and nothing else.
import { useEffect, useState, type ReactNode } from "react";
import { api, ApiError, type Schemas } from "../api/client";
import type { Condition, Problem } from "../api/types";
import { ConditionBuilder } from "../components/ConditionBuilder";
import { KIND, type AnyNode } from "./model";

type Obj = Record<string, unknown>;

export interface InspectorProps {
  node: AnyNode;
  problems: Problem[];
  onChange: (node: AnyNode) => void;
  onRename: (from: string, to: string) => string | null;
  suggestions?: { tags?: string[]; lists?: string[]; segments?: string[] };
  /** Extra panels under the form: the message preview, the schedule preview, who is here. */
  children?: ReactNode;
}

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

export function Inspector({ node, problems, onChange, onRename, suggestions, children }: InspectorProps) {
  const kind = KIND[node.type];
  const setMany = (patch: Obj) => {
    const next = { ...node } as Obj;
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined || value === "" || value === null || (Array.isArray(value) && value.length === 0 && key !== "arms")) delete next[key];
      else next[key] = value;
    }
    onChange(next as AnyNode);
  };
  const set = (key: string, value: unknown) => setMany({ [key]: value });
  const problemFor = (field: string) =>
    problems
      .filter((p) => p.field === field || p.field?.startsWith(`${field}.`) || p.field?.startsWith(`${field}[`))
      .map((p) => p.message)
      .join("; ") || undefined;
  const general = problems.filter((p) => !p.field || !FIELDS[node.type]?.some((f) => p.field === f || p.field!.startsWith(`${f}.`) || p.field!.startsWith(`${f}[`)));
  const text = (field: string, label: string, opts: { multiline?: boolean; placeholder?: string; hint?: string } = {}) => (
    <Row label={label} error={problemFor(field)} hint={opts.hint}>
      {(id, d) =>
        opts.multiline ? (
          <textarea id={id} aria-describedby={d} rows={6} value={String(node[field] ?? "")} placeholder={opts.placeholder} onChange={(e) => set(field, e.target.value)} />
        ) : (
          <input id={id} aria-describedby={d} value={String(node[field] ?? "")} placeholder={opts.placeholder} onChange={(e) => set(field, e.target.value)} />
        )
      }
    </Row>
  );
  return (
    <div className="inspector" aria-label={`${kind?.label ?? node.type} settings`}>
      <h2>
        <span className="kind-icon" aria-hidden>
          {kind?.icon}
        </span>{" "}
        {kind?.label ?? node.type}
      </h2>
      <p className="hint">{kind?.help}</p>
      <IdField id={node.id} onRename={onRename} error={problems.find((p) => p.field === "id")?.message} />
      {general.length > 0 && (
        <ul className="problems" aria-label="Problems on this node">
          {general.map((p, i) => (
            <li key={i}>{p.field ? `${p.field}: ${p.message}` : p.message}</li>
          ))}
        </ul>
      )}
      {node.type === "event_entry" && (
        <>
          {text("event", "Event", { placeholder: "tag_added, list_added, clicked, order_placed…" })}
          {text("tag", "Only for tag", { placeholder: "any tag" })}
          {text("list", "Only for list", { placeholder: "any list" })}
        </>
      )}
      {node.type === "segment_entry" && <AudienceForm node={node} set={set} setMany={setMany} problemFor={problemFor} suggestions={suggestions} />}
      {node.type === "send_email" && (
        <>
          {text("subject", "Subject", { placeholder: "Hi {{contact.first_name}}" })}
          {text("html", "Body (HTML)", { multiline: true, placeholder: "<p>Welcome aboard!</p>" })}
          {text("text", "Plain text (optional)", { multiline: true })}
          {text("from", "From (optional)", { placeholder: "the configured sender" })}
          <SendRules node={node} set={set} problemFor={problemFor} />
        </>
      )}
      {node.type === "send_sms" && (
        <>
          {text("text", "Text", { multiline: true, placeholder: "Did you see our email, {{contact.first_name}}?" })}
          <SendRules node={node} set={set} problemFor={problemFor} />
        </>
      )}
      {node.type === "send_push" && (
        <>
          {text("title", "Title")}
          {text("body", "Body", { multiline: true })}
          {text("url", "Opens (URL, optional)")}
          <SendRules node={node} set={set} problemFor={problemFor} />
        </>
      )}
      {node.type === "webhook" && (
        <>
          <Row label="Method" error={problemFor("method")}>
            {(id) => (
              <select id={id} value={String(node.method ?? "POST")} onChange={(e) => set("method", e.target.value)}>
                {["POST", "PUT", "PATCH", "GET", "DELETE"].map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            )}
          </Row>
          {text("url", "URL", { placeholder: "https://example.com/hook" })}
          <HeadersField headers={(node.headers as Record<string, string> | undefined) ?? {}} onChange={(h) => set("headers", Object.keys(h).length ? h : undefined)} error={problemFor("headers")} />
          {text("body", "Body template (optional)", { multiline: true, hint: "By default the contact and entry data as JSON." })}
          <SendRules node={node} set={set} problemFor={problemFor} />
        </>
      )}
      {node.type === "wait" && text("duration", "Wait for", { placeholder: "2h, 3d, 1h 30m", hint: "Units: s, m, h, d, w." })}
      {node.type === "wait_until" && (
        <>
          {text("time", "Time of day", { placeholder: "10:00" })}
          <DaysField label="On days" value={(node.days as string[] | undefined) ?? []} onChange={(d) => set("days", d)} error={problemFor("days")} />
          {text("field", "Date from a field (optional)", { placeholder: "contact.birthday" })}
          <Row label="Every year on that date" error={problemFor("anniversary")}>
            {(id) => <input id={id} type="checkbox" checked={node.anniversary === true} onChange={(e) => set("anniversary", e.target.checked || undefined)} />}
          </Row>
          {text("at", "Or a fixed instant (optional)", { placeholder: "2026-12-24T10:00:00Z" })}
          {text("timezone", "Time zone (optional)", { placeholder: "the contact's own" })}
        </>
      )}
      {node.type === "wait_for_event" && (
        <>
          {text("event", "Event", { placeholder: "opened, clicked, order_placed…" })}
          {text("message", "About the message of node (optional)", { placeholder: "id of a send node" })}
          {text("timeout", "Give up after", { placeholder: "2h", hint: "Then the contact takes the “timeout” way." })}
        </>
      )}
      {node.type === "branch" && (
        <Row label="Condition (yes when it holds)" error={problemFor("condition")}>
          {() => <ConditionBuilder value={(node.condition as Condition) ?? { has_tag: "" }} onChange={(c) => set("condition", c)} suggestions={suggestions} />}
        </Row>
      )}
      {node.type === "split" && <ArmsField arms={(node.arms as { name: string; weight: number }[]) ?? []} onChange={(a) => set("arms", a)} error={problemFor("arms")} />}
      {node.type === "control_group" && (
        <Row label="Held out (%)" error={problemFor("percent")}>
          {(id, d) => (
            <input id={id} aria-describedby={d} type="number" min={0} max={100} step={0.01} value={Number(node.percent ?? 0)} onChange={(e) => set("percent", Number(e.target.value))} />
          )}
        </Row>
      )}
      {node.type === "holiday_pause" && text("calendar", "Calendar (optional)", { placeholder: "the contact's public holidays" })}
      {(node.type === "add_tag" || node.type === "remove_tag") && text("tag", "Tag")}
      {(node.type === "add_to_list" || node.type === "remove_from_list") && text("list", "List")}
      {children}
    </div>
  );
}

/** Node fields each form shows; problems on other fields are listed at the top. */
const FIELDS: Record<string, string[]> = {
  event_entry: ["event", "tag", "list"],
  segment_entry: ["lists", "segments", "condition", "exclude_lists", "exclude_segments", "schedule", "on", "per", "list"],
  send_email: ["subject", "html", "text", "from", "window", "holidays", "pace"],
  send_sms: ["text", "window", "holidays", "pace"],
  send_push: ["title", "body", "url", "window", "holidays", "pace"],
  webhook: ["method", "url", "headers", "body", "window", "holidays", "pace"],
  wait: ["duration"],
  wait_until: ["time", "days", "field", "anniversary", "at", "timezone"],
  wait_for_event: ["event", "message", "timeout"],
  branch: ["condition"],
  split: ["arms"],
  control_group: ["percent"],
  holiday_pause: ["calendar"],
  add_tag: ["tag"],
  remove_tag: ["tag"],
  add_to_list: ["list"],
  remove_from_list: ["list"],
};

export function Row({ label, error, hint, children }: { label: string; error?: string; hint?: string; children: (id: string, describedBy?: string) => ReactNode }) {
  const id = `f-${label.replace(/\W+/g, "-").toLowerCase()}`;
  return (
    <div className={error ? "field field-invalid" : "field"}>
      <label htmlFor={id}>{label}</label>
      {children(id, error ? `${id}-error` : undefined)}
      {hint && !error && <div className="hint">{hint}</div>}
      {error && (
        <div className="field-error" id={`${id}-error`} role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

function IdField({ id, onRename, error }: { id: string; onRename: (from: string, to: string) => string | null; error?: string }) {
  const [value, setValue] = useState(id);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => setValue(id), [id]);
  const commit = () => {
    if (value === id) return;
    const p = onRename(id, value.trim());
    setProblem(p);
    if (p) setValue(id);
  };
  return (
    <Row label="Node id" error={problem ?? error} hint="Journals and events name the node by it.">
      {(fid, d) => (
        <input id={fid} aria-describedby={d} value={value} onChange={(e) => setValue(e.target.value)} onBlur={commit} onKeyDown={(e) => e.key === "Enter" && commit()} />
      )}
    </Row>
  );
}

function list(v: unknown): string {
  return Array.isArray(v) ? v.join(", ") : typeof v === "string" ? v : "";
}
function splitList(t: string): string[] {
  return t.split(",").map((s) => s.trim()).filter(Boolean);
}

function ListInput({ label, value, onChange, error, placeholder, listId }: { label: string; value: unknown; onChange: (v: string[]) => void; error?: string; placeholder?: string; listId?: string }) {
  const [text, setText] = useState(list(value));
  useEffect(() => {
    if (splitList(text).join(",") !== splitList(list(value)).join(",")) setText(list(value));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  return (
    <Row label={label} error={error} hint="Comma-separated.">
      {(id, d) => (
        <input
          id={id}
          aria-describedby={d}
          list={listId}
          value={text}
          placeholder={placeholder}
          onChange={(e) => {
            setText(e.target.value);
            onChange(splitList(e.target.value));
          }}
        />
      )}
    </Row>
  );
}

function DaysField({ label, value, onChange, error }: { label: string; value: string[]; onChange: (d: string[]) => void; error?: string }) {
  return (
    <fieldset className={error ? "days field-invalid" : "days"}>
      <legend>{label}</legend>
      {DAYS.map((d) => (
        <label key={d} className="day">
          <input type="checkbox" checked={value.includes(d)} onChange={(e) => onChange(e.target.checked ? DAYS.filter((x) => x === d || value.includes(x)) : value.filter((x) => x !== d))} />
          {d}
        </label>
      ))}
      {error && <div className="field-error">{error}</div>}
    </fieldset>
  );
}

function SendRules({ node, set, problemFor }: { node: AnyNode; set: (k: string, v: unknown) => void; problemFor: (f: string) => string | undefined }) {
  const w = node.window as { start?: string; end?: string; days?: string[] } | undefined;
  const pace = node.pace as { over?: string; days?: number } | undefined;
  return (
    <details className="send-rules" open={Boolean(w || node.holidays || pace)}>
      <summary>When to send</summary>
      <Row label="Own send window" error={problemFor("window")} hint="In the contact's local time; leave off to use the flow's or the workspace's.">
        {(id) => (
          <span className="inline">
            <input id={id} type="checkbox" checked={Boolean(w)} onChange={(e) => set("window", e.target.checked ? { start: "09:00", end: "20:00" } : undefined)} />
            {w && (
              <>
                <input aria-label="Window opens" className="short" value={w.start ?? ""} placeholder="09:00" onChange={(e) => set("window", { ...w, start: e.target.value })} />
                –
                <input aria-label="Window closes" className="short" value={w.end ?? ""} placeholder="20:00" onChange={(e) => set("window", { ...w, end: e.target.value })} />
              </>
            )}
          </span>
        )}
      </Row>
      {w && <DaysField label="Window days" value={w.days ?? []} onChange={(days) => set("window", { ...w, days: days.length ? days : undefined })} />}
      <ListInput label="No sends on (calendars)" value={node.holidays} onChange={(v) => set("holidays", v)} error={problemFor("holidays")} placeholder="public, company-closed" />
      <Row label="Spread sends over" error={problemFor("pace")} hint="e.g. 3d; empty sends at once.">
        {(id, d) => <input id={id} aria-describedby={d} value={pace?.over ?? ""} placeholder="3d" onChange={(e) => set("pace", e.target.value ? { over: e.target.value } : undefined)} />}
      </Row>
    </details>
  );
}

/** A webhook's request headers as name and value rows (values may use templates). */
function HeadersField({ headers, onChange, error }: { headers: Record<string, string>; onChange: (h: Record<string, string>) => void; error?: string }) {
  const rows = Object.entries(headers);
  const rename = (from: string, to: string) => onChange(Object.fromEntries(rows.map(([k, v]) => (k === from ? [to, v] : [k, v]))));
  return (
    <fieldset className={error ? "headers field-invalid" : "headers"}>
      <legend>Headers</legend>
      {rows.map(([name, value], i) => (
        <div className="inline" key={i}>
          <input aria-label={`Header ${i + 1} name`} value={name} onChange={(e) => rename(name, e.target.value)} />
          <input aria-label={`Header ${i + 1} value`} value={value} onChange={(e) => onChange({ ...headers, [name]: e.target.value })} />
          <button type="button" className="icon" aria-label={`Remove header ${name}`} onClick={() => onChange(Object.fromEntries(rows.filter(([k]) => k !== name)))}>
            ×
          </button>
        </div>
      ))}
      <button type="button" className="small" disabled={"" in headers} onClick={() => onChange({ ...headers, "": "" })}>
        + header
      </button>
      {error && <div className="field-error">{error}</div>}
    </fieldset>
  );
}

function ArmsField({ arms, onChange, error }: { arms: { name: string; weight: number }[]; onChange: (a: { name: string; weight: number }[]) => void; error?: string }) {
  const total = arms.reduce((s, a) => s + (a.weight || 0), 0);
  return (
    <fieldset className={error ? "arms field-invalid" : "arms"}>
      <legend>Arms</legend>
      {arms.map((a, i) => (
        <div className="inline" key={i}>
          <input aria-label={`Arm ${i + 1} name`} value={a.name} onChange={(e) => onChange(arms.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)))} />
          <input aria-label={`Arm ${i + 1} weight`} className="short" type="number" min={1} value={a.weight} onChange={(e) => onChange(arms.map((x, j) => (j === i ? { ...x, weight: Number(e.target.value) } : x)))} />
          <span className="hint">{total ? Math.round((a.weight / total) * 100) : 0}%</span>
          <button type="button" className="icon" aria-label={`Remove arm ${a.name}`} onClick={() => onChange(arms.filter((_, j) => j !== i))}>
            ×
          </button>
        </div>
      ))}
      <button type="button" className="small" onClick={() => onChange([...arms, { name: String.fromCharCode(97 + arms.length), weight: 50 }])}>
        + arm
      </button>
      {error && <div className="field-error">{error}</div>}
    </fieldset>
  );
}

const RRULES = [
  ["FREQ=DAILY", "Every day"],
  ["FREQ=WEEKLY;BYDAY=MO", "Every Monday"],
  ["FREQ=WEEKLY;INTERVAL=2;BYDAY=TH", "Every second Thursday"],
  ["FREQ=MONTHLY;BYMONTHDAY=5", "The 5th of every month"],
  ["FREQ=MONTHLY;BYDAY=1MO", "The first Monday of every month"],
] as const;

function AudienceForm({ node, set, setMany, problemFor, suggestions }: { node: AnyNode; set: (k: string, v: unknown) => void; setMany: (patch: Obj) => void; problemFor: (f: string) => string | undefined; suggestions?: InspectorProps["suggestions"] }) {
  const schedule = node.schedule as { rrule?: string; at?: string; timezone?: string; start?: string; until?: string; skip?: string[] } | undefined;
  const setSchedule = (patch: Obj | undefined) => {
    if (!patch) return set("schedule", undefined);
    const next = { ...(schedule ?? {}), ...patch } as Obj;
    for (const k of Object.keys(next)) if (next[k] === "" || next[k] === undefined) delete next[k];
    set("schedule", next);
  };
  return (
    <>
      <ListInput label="Lists" value={node.lists ?? (node.list ? [node.list] : [])} onChange={(v) => setMany({ list: undefined, lists: v })} error={problemFor("lists") ?? problemFor("list")} listId="cond-lists" placeholder="all contacts when empty" />
      <ListInput label="Saved segments" value={node.segments} onChange={(v) => set("segments", v)} error={problemFor("segments")} listId="cond-segments" />
      <Row label="And matching" error={problemFor("condition")}>
        {(id) =>
          node.condition ? (
            <div id={id}>
              <ConditionBuilder value={node.condition as Condition} onChange={(c) => set("condition", c)} onRemove={() => set("condition", undefined)} suggestions={suggestions} />
            </div>
          ) : (
            <button id={id} type="button" className="small" onClick={() => set("condition", { has_tag: "" })}>
              + condition
            </button>
          )
        }
      </Row>
      <ListInput label="Except lists" value={node.exclude_lists} onChange={(v) => set("exclude_lists", v)} error={problemFor("exclude_lists")} listId="cond-lists" />
      <ListInput label="Except segments" value={node.exclude_segments} onChange={(v) => set("exclude_segments", v)} error={problemFor("exclude_segments")} listId="cond-segments" />
      <Row label="One journey per" error={problemFor("per")} hint="A record type such as contract; empty: one per contact.">
        {(id, d) => <input id={id} aria-describedby={d} value={String(node.per ?? "")} placeholder="contact" onChange={(e) => set("per", e.target.value)} />}
      </Row>
      <Row label="Enter the moment a contact starts to match" error={problemFor("on")}>
        {(id) => <input id={id} type="checkbox" checked={node.on === "match"} onChange={(e) => set("on", e.target.checked ? "match" : undefined)} />}
      </Row>
      <fieldset className={problemFor("schedule") ? "schedule field-invalid" : "schedule"}>
        <legend>Schedule</legend>
        <label className="inline">
          <input type="checkbox" checked={Boolean(schedule)} onChange={(e) => setSchedule(e.target.checked ? { rrule: "FREQ=DAILY", at: "10:00", timezone: "contact" } : undefined)} />
          Repeat on a schedule (otherwise once, at activation)
        </label>
        {schedule && (
          <>
            <Row label="Repeats" error={problemFor("schedule.rrule")} hint="An RFC 5545 rule; pick one or write your own.">
              {(id, d) => (
                <span className="inline">
                  <select aria-label="Common schedules" value={RRULES.some(([r]) => r === schedule.rrule) ? schedule.rrule : ""} onChange={(e) => e.target.value && setSchedule({ rrule: e.target.value })}>
                    <option value="">Custom rule</option>
                    {RRULES.map(([r, l]) => (
                      <option key={r} value={r}>
                        {l}
                      </option>
                    ))}
                  </select>
                  <input id={id} aria-describedby={d} value={schedule.rrule ?? ""} onChange={(e) => setSchedule({ rrule: e.target.value })} />
                </span>
              )}
            </Row>
            <Row label="At" error={problemFor("schedule.at")}>
              {(id, d) => <input id={id} aria-describedby={d} className="short" value={schedule.at ?? ""} placeholder="10:00" onChange={(e) => setSchedule({ at: e.target.value })} />}
            </Row>
            <Row label="Time zone" error={problemFor("schedule.timezone")} hint="“contact” runs at that time in each contact's own zone.">
              {(id, d) => <input id={id} aria-describedby={d} value={schedule.timezone ?? ""} placeholder="contact or Europe/Tallinn" onChange={(e) => setSchedule({ timezone: e.target.value })} />}
            </Row>
            <Row label="From (optional)" error={problemFor("schedule.start")}>
              {(id, d) => <input id={id} aria-describedby={d} type="date" value={schedule.start ?? ""} onChange={(e) => setSchedule({ start: e.target.value })} />}
            </Row>
            <Row label="Until (optional)" error={problemFor("schedule.until")}>
              {(id, d) => <input id={id} aria-describedby={d} type="date" value={schedule.until ?? ""} onChange={(e) => setSchedule({ until: e.target.value })} />}
            </Row>
            <ListInput label="Skip days of (calendars)" value={schedule.skip} onChange={(v) => setSchedule({ skip: v.length ? v : undefined })} error={problemFor("schedule.skip")} placeholder="public, public:EE" />
            <NextRuns schedule={schedule} />
          </>
        )}
      </fieldset>
    </>
  );
}

/** The next runs of the schedule as it is typed (`POST /api/schedule/preview`). */
function NextRuns({ schedule }: { schedule: Obj }) {
  const [preview, setPreview] = useState<Schemas["SchedulePreview"] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const key = JSON.stringify(schedule);
  useEffect(() => {
    const t = setTimeout(async () => {
      try {
        setPreview(await api.post<Schemas["SchedulePreview"]>("/api/schedule/preview", { schedule: JSON.parse(key), next: 5 }));
        setProblem(null);
      } catch (e) {
        setPreview(null);
        // A schedule's own problems are pinned on its fields by the validation.
        setProblem(e instanceof ApiError && e.status === 422 ? null : e instanceof Error ? e.message : String(e));
      }
    }, 400);
    return () => clearTimeout(t);
  }, [key]);
  if (problem) return <div className="field-error">{problem}</div>;
  if (!preview) return null;
  return (
    <div className="next-runs" aria-label="Next runs">
      <div className="hint">{preview.describe}. Next runs:</div>
      <ol>
        {preview.runs.map((r) => (
          <li key={r.date}>{r.says}</li>
        ))}
      </ol>
    </div>
  );
}
