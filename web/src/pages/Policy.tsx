// The workspace's send policy on `/settings`: its default zone and country, each channel's rules
// and the custom calendars, as a form (or as the `--policy` file's JSON for those who prefer
// it). Saving puts the whole document (`PUT /api/policy`); the service checks it and each problem
// comes back on its field, shown under the input that has it. Nothing is kept half-saved.
import { useState } from "react";
import { api, ApiError } from "../api/client";
import { CHANNELS, SendRulesForm, problemsUnder, type Rules } from "../components/SendRules";
import { ErrorBanner, Field, useLoad } from "../components/ui";

type Doc = Record<string, unknown>;

interface CalendarRow {
  name: string;
  dates: string;
}

/** The policy as the service returned it, without the `source` it adds. */
function documentOf(data: Doc): Doc {
  return Object.fromEntries(Object.entries(data).filter(([k]) => k !== "source"));
}

function calendarRows(doc: Doc): CalendarRow[] {
  const calendars = (doc.calendars ?? {}) as Record<string, string[]>;
  return Object.entries(calendars).map(([name, dates]) => ({ name, dates: dates.join(", ") }));
}

/** The document the form describes: the calendars' rows read back into the policy's shape. */
export function policyFrom(doc: Doc, calendars: CalendarRow[]): Doc {
  const next: Doc = { ...doc };
  const named = calendars.filter((c) => c.name.trim() || c.dates.trim());
  if (named.length) next.calendars = Object.fromEntries(named.map((c) => [c.name.trim(), c.dates.split(/[\s,;]+/).filter(Boolean)]));
  else delete next.calendars;
  return next;
}

export function Policy() {
  const policy = useLoad(() => api.get<Doc & { source?: string }>("/api/policy"), []);
  const [saved, setSaved] = useState(false);
  const [asJson, setAsJson] = useState(false);
  const source = policy.data?.source;
  const fromFile = Boolean(source && source !== "database" && source !== "default");
  return (
    <section className="card" aria-labelledby="policy-title">
      <h2 id="policy-title">Send policy</h2>
      <p className="hint">
        When messages may go out, how often and how fast, for every journey
        {source ? ` (now from ${source === "default" ? "the defaults" : source === "database" ? "this page" : source})` : ""}. A journey's own rules and a
        step's override it.
      </p>
      {fromFile && (
        <div className="banner" role="status">
          The policy comes from the file {source}: change the file and restart to change it.
        </div>
      )}
      <ErrorBanner error={policy.error} />
      {saved && (
        <div className="banner banner-ok" role="status">
          Saved: new sends follow it.
        </div>
      )}
      <label className="inline">
        <input type="checkbox" checked={asJson} onChange={(e) => setAsJson(e.target.checked)} /> Edit as JSON (the <code>--policy</code> file's format)
      </label>
      {policy.data &&
        (asJson ? (
          <PolicyJson initial={documentOf(policy.data)} readOnly={fromFile} onSaved={async () => { setSaved(true); await policy.reload(); }} />
        ) : (
          <PolicyForm key={JSON.stringify(policy.data)} initial={documentOf(policy.data)} readOnly={fromFile} onSaved={async () => { setSaved(true); await policy.reload(); }} onEdit={() => setSaved(false)} />
        ))}
    </section>
  );
}

async function put(doc: Doc): Promise<void> {
  await api.put("/api/policy", doc);
}

export function PolicyForm({ initial, readOnly, onSaved, onEdit }: { initial: Doc; readOnly: boolean; onSaved: () => Promise<void> | void; onEdit?: () => void }) {
  const [doc, setDoc] = useState<Doc>(initial);
  const [calendars, setCalendars] = useState<CalendarRow[]>(() => calendarRows(initial));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const problems = error instanceof ApiError ? error.details : [];
  const problem = (field: string) => problemsUnder(problems, field);
  const next = policyFrom(doc, calendars);
  const changed = JSON.stringify(next) !== JSON.stringify(policyFrom(initial, calendarRows(initial)));
  const edit = (d: Doc) => {
    setDoc(d);
    onEdit?.();
  };
  const set = (key: string, value: unknown) => {
    const d = { ...doc };
    if (value === undefined || value === "") delete d[key];
    else d[key] = value;
    edit(d);
  };
  const channels = (doc.channels ?? {}) as Record<string, Rules>;
  const setChannel = (id: string, rules: Rules | undefined) => {
    const c = { ...channels };
    if (rules) c[id] = rules;
    else delete c[id];
    set("channels", c);
  };
  const setCalendar = (i: number, row: CalendarRow | null) => {
    setCalendars(row ? calendars.map((c, j) => (j === i ? row : c)) : calendars.filter((_, j) => j !== i));
    onEdit?.();
  };
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      await put(next);
      await onSaved();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  // Problems the form has no input for (a key it does not show) go in the banner.
  const shownFields = ["default_timezone", "default_country", "channels", "calendars"];
  const elsewhere = problems.filter((p) => !p.field || !shownFields.some((f) => p.field === f || p.field!.startsWith(`${f}.`)));
  return (
    <form
      className="policy-form"
      aria-label="Send policy"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <fieldset disabled={readOnly}>
        <ErrorBanner error={error && (!(error instanceof ApiError) || !problems.length || elsewhere.length) ? error : null} />
        <div className="columns">
          <Field label="Default time zone" error={problem("default_timezone")} hint="For contacts whose zone comes from nowhere else (IANA, e.g. Europe/Tallinn).">
            {(id, d) => <input id={id} aria-describedby={d} value={String(doc.default_timezone ?? "")} placeholder="UTC" onChange={(e) => set("default_timezone", e.target.value.trim())} />}
          </Field>
          <Field label="Default country" error={problem("default_country")} hint="Whose public holidays apply when a contact's country is unknown (e.g. EE).">
            {(id, d) => <input id={id} aria-describedby={d} className="short" value={String(doc.default_country ?? "")} placeholder="none" onChange={(e) => set("default_country", e.target.value.trim().toUpperCase())} />}
          </Field>
        </div>
        {CHANNELS.map((c) => (
          <details key={c.id} className="channel-rules" open={Boolean(channels[c.id]) || Boolean(problem(`channels.${c.id}`))}>
            <summary>
              {c.label} {channels[c.id] ? "" : <span className="hint">— no rules: sends at any time</span>}
            </summary>
            <SendRulesForm label={c.label} value={channels[c.id]} onChange={(r) => setChannel(c.id, r)} problem={(f) => problem(`channels.${c.id}.${f}`)} />
          </details>
        ))}
        <fieldset className="calendars">
          <legend>Calendars of closed days</legend>
          <p className="hint">Name them in “no sends on” and in a schedule's skipped days. Dates as 2026-12-24, separated by commas.</p>
          {problem("calendars") && (
            <div className="field-error" role="alert">
              {problem("calendars")}
            </div>
          )}
          {calendars.map((c, i) => (
            <div className="inline" key={i}>
              <input aria-label={`Calendar ${i + 1} name`} className="short" value={c.name} placeholder="shutdown" onChange={(e) => setCalendar(i, { ...c, name: e.target.value })} />
              <input aria-label={`Calendar ${i + 1} dates`} value={c.dates} placeholder="2026-12-24, 2026-12-31" onChange={(e) => setCalendar(i, { ...c, dates: e.target.value })} />
              <button type="button" onClick={() => setCalendar(i, null)} aria-label={`Remove calendar ${c.name || i + 1}`}>
                Remove
              </button>
            </div>
          ))}
          <button
            type="button"
            onClick={() => {
              setCalendars([...calendars, { name: "", dates: "" }]);
              onEdit?.();
            }}
          >
            + calendar
          </button>
        </fieldset>
        <div className="actions">
          <button type="submit" className="primary" disabled={!changed || busy}>
            Save policy
          </button>
          {changed && (
            <button
              type="button"
              onClick={() => {
                setDoc(initial);
                setCalendars(calendarRows(initial));
                setError(null);
              }}
            >
              Discard changes
            </button>
          )}
        </div>
      </fieldset>
    </form>
  );
}

function PolicyJson({ initial, readOnly, onSaved }: { initial: Doc; readOnly: boolean; onSaved: () => Promise<void> | void }) {
  const shown = JSON.stringify(initial, null, 2);
  const [text, setText] = useState(shown);
  const [error, setError] = useState<unknown>(null);
  const save = async () => {
    setError(null);
    let parsed: Doc;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      setError(new ApiError(400, "invalid_json", `The policy is not JSON: ${(e as Error).message}`));
      return;
    }
    try {
      await put(parsed);
      await onSaved();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <>
      <ErrorBanner error={error} />
      <label htmlFor="policy-json" className="sr-only">
        Send policy (JSON)
      </label>
      <textarea id="policy-json" rows={16} spellCheck={false} readOnly={readOnly} value={text} onChange={(e) => setText(e.target.value)} />
      <div className="actions">
        <button type="button" className="primary" disabled={readOnly || text === shown} onClick={() => void save()}>
          Save policy
        </button>
        {text !== shown && (
          <button type="button" onClick={() => setText(shown)}>
            Discard changes
          </button>
        )}
      </div>
    </>
  );
}
