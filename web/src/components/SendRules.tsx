// A channel's send rules as a form — the window and the days it opens, calendars of closed
// days, a frequency cap, a throttle and pacing — for the workspace's send policy (Settings) and
// a journey's own rules (the editor). It edits the rules' JSON in the policy file's format and
// nothing else; each input shows the problem the service pinned on its field.
import type { ReactNode } from "react";
import { Field } from "./ui";

export type Rules = Record<string, unknown>;

export const CHANNELS = [
  { id: "email", label: "E-mail" },
  { id: "sms", label: "SMS" },
  { id: "push", label: "Push" },
  { id: "webhook", label: "Webhook" },
] as const;

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

interface Window {
  start?: string;
  end?: string;
  days?: string[];
}
interface Limit {
  max?: number | string;
  per?: string;
  then?: string;
}
interface Pace {
  over?: string;
  days?: number | string;
}

/** The problems among `problems` about `field` or anything inside it, joined. */
export function problemsUnder(problems: { field?: string | null; message: string }[], field: string): string | undefined {
  return (
    problems
      .filter((p) => p.field === field || p.field?.startsWith(`${field}.`) || p.field?.startsWith(`${field}[`))
      .map((p) => p.message)
      .join("; ") || undefined
  );
}

/** A whole number typed into a box: a number when it reads as one, else the text (the service names the field). */
function count(text: string): number | string | undefined {
  if (text.trim() === "") return undefined;
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : text;
}

export function SendRulesForm({
  label,
  value,
  onChange,
  problem,
  throttle = true,
}: {
  /** The channel's name, used in every input's label so several channels can share a page. */
  label: string;
  value: Rules | undefined;
  /** `undefined` when no rule is left, so the channel falls back to the level above. */
  onChange: (rules: Rules | undefined) => void;
  /** The problem on a field of these rules (`window.start`, `cap.max`), if any. */
  problem: (field: string) => string | undefined;
  /** Throttles exist for channels of the workspace and of a journey, not for one step. */
  throttle?: boolean;
}) {
  const rules = value ?? {};
  const set = (key: string, v: unknown) => {
    const next = { ...rules };
    if (v === undefined || (Array.isArray(v) && v.length === 0)) delete next[key];
    else next[key] = v;
    onChange(Object.keys(next).length ? next : undefined);
  };
  const win = rules.window as Window | undefined;
  const cap = rules.cap as Limit | undefined;
  const rate = rules.throttle as Limit | undefined;
  const pace = rules.pace as Pace | undefined;
  const holidays = Array.isArray(rules.holidays) ? (rules.holidays as string[]) : [];
  return (
    <div className="send-rules-form">
      <Toggle label={`${label}: only send between`} on={Boolean(win)} error={problem("window")} onToggle={(on) => set("window", on ? { start: "09:00", end: "20:00" } : undefined)}>
        {win && (
          <>
            <input aria-label={`${label} window opens`} className="short" value={win.start ?? ""} placeholder="09:00" onChange={(e) => set("window", { ...win, start: e.target.value })} />
            and
            <input aria-label={`${label} window closes`} className="short" value={win.end ?? ""} placeholder="20:00" onChange={(e) => set("window", { ...win, end: e.target.value })} />
            <span className="hint">in the contact's own time</span>
            <span className="days" role="group" aria-label={`${label} window days`}>
              {DAYS.map((d) => (
                <label key={d} className="day">
                  <input
                    type="checkbox"
                    checked={!win.days || win.days.includes(d)}
                    onChange={(e) => {
                      const was = win.days ?? [...DAYS];
                      const days = e.target.checked ? DAYS.filter((x) => x === d || was.includes(x)) : was.filter((x) => x !== d);
                      set("window", { ...win, days: days.length === DAYS.length ? undefined : days });
                    }}
                  />
                  {d}
                </label>
              ))}
            </span>
          </>
        )}
      </Toggle>
      <Field label={`${label}: no sends on (calendars)`} error={problem("holidays")} hint="Comma-separated: public (each contact's country), public:EE, or a calendar below.">
        {(id, d) => (
          <input
            id={id}
            aria-describedby={d}
            defaultValue={holidays.join(", ")}
            key={holidays.join(",")}
            placeholder="public, shutdown"
            onBlur={(e) => set("holidays", e.target.value.split(",").map((s) => s.trim()).filter(Boolean))}
          />
        )}
      </Field>
      <Toggle label={`${label}: at most`} on={Boolean(cap)} error={problem("cap")} onToggle={(on) => set("cap", on ? { max: 3, per: "7d" } : undefined)}>
        {cap && (
          <>
            <input aria-label={`${label} cap: messages`} className="short" inputMode="numeric" value={cap.max ?? ""} onChange={(e) => set("cap", { ...cap, max: count(e.target.value) })} />
            messages per contact in
            <input aria-label={`${label} cap: span`} className="short" value={cap.per ?? ""} placeholder="7d" onChange={(e) => set("cap", { ...cap, per: e.target.value })} />
            then
            <select aria-label={`${label} cap: when reached`} value={cap.then ?? "skip"} onChange={(e) => set("cap", { ...cap, then: e.target.value === "skip" ? undefined : e.target.value })}>
              <option value="skip">skip the message</option>
              <option value="defer">wait until allowed</option>
            </select>
          </>
        )}
      </Toggle>
      {throttle && (
        <Toggle label={`${label}: throttle to`} on={Boolean(rate)} error={problem("throttle")} onToggle={(on) => set("throttle", on ? { max: 100, per: "1s" } : undefined)}>
          {rate && (
            <>
              <input aria-label={`${label} throttle: messages`} className="short" inputMode="numeric" value={rate.max ?? ""} onChange={(e) => set("throttle", { ...rate, max: count(e.target.value) })} />
              messages per
              <input aria-label={`${label} throttle: span`} className="short" value={rate.per ?? ""} placeholder="1s" onChange={(e) => set("throttle", { ...rate, per: e.target.value })} />
              <span className="hint">for everyone together</span>
            </>
          )}
        </Toggle>
      )}
      <Toggle label={`${label}: spread sends over`} on={Boolean(pace)} error={problem("pace")} onToggle={(on) => set("pace", on ? { days: 1 } : undefined)}>
        {pace && (
          <>
            <select
              aria-label={`${label} spread: how`}
              value={pace.over !== undefined ? "over" : "days"}
              onChange={(e) => set("pace", e.target.value === "over" ? { over: "1d" } : { days: 1 })}
            >
              <option value="days">the open hours of the next</option>
              <option value="over">a span of</option>
            </select>
            {pace.over !== undefined ? (
              <input aria-label={`${label} spread: span`} className="short" value={pace.over} placeholder="3d" onChange={(e) => set("pace", { over: e.target.value })} />
            ) : (
              <>
                <input aria-label={`${label} spread: days`} className="short" inputMode="numeric" value={pace.days ?? ""} onChange={(e) => set("pace", { days: count(e.target.value) })} />
                days with open hours
              </>
            )}
          </>
        )}
      </Toggle>
    </div>
  );
}

/** A rule that is on or off, with its inputs beside the checkbox while it is on. */
function Toggle({ label, on, onToggle, error, children }: { label: string; on: boolean; onToggle: (on: boolean) => void; error?: string; children: ReactNode }) {
  return (
    <Field label={label} error={error}>
      {(id, d) => (
        <span className="inline">
          <input id={id} aria-describedby={d} type="checkbox" checked={on} onChange={(e) => onToggle(e.target.checked)} />
          {children}
        </span>
      )}
    </Field>
  );
}
