// The visual condition builder: every form of the condition language (`all`, `any`, `not`,
// `has_tag`, `in_list`, `tag`, `list`, `field`, `message`, `records`, `segment`) as nested rows
// of labelled controls. It edits the same JSON the API takes, so a condition made here is the
// one the service evaluates.
import type { Condition } from "../api/types";

type Obj = Record<string, unknown>;

export const KINDS = [
  { key: "all", label: "All of" },
  { key: "any", label: "Any of" },
  { key: "not", label: "Not" },
  { key: "has_tag", label: "Has tag" },
  { key: "in_list", label: "In list" },
  { key: "tag", label: "Tag history" },
  { key: "list", label: "List membership" },
  { key: "field", label: "Field" },
  { key: "message", label: "Message" },
  { key: "records", label: "Related records" },
  { key: "segment", label: "Saved segment" },
] as const;

export type Kind = (typeof KINDS)[number]["key"];

export function kindOf(c: Condition | null | undefined): Kind {
  const key = c && typeof c === "object" ? Object.keys(c)[0] : undefined;
  return (KINDS.find((k) => k.key === key)?.key ?? "has_tag") as Kind;
}

export function defaultCondition(kind: Kind): Condition {
  switch (kind) {
    case "all":
    case "any":
      return { [kind]: [{ has_tag: "" }] } as Condition;
    case "not":
      return { not: { has_tag: "" } } as Condition;
    case "has_tag":
      return { has_tag: "" } as Condition;
    case "in_list":
      return { in_list: "" } as Condition;
    case "tag":
      return { tag: { name: "", last_added: { within: "7d" } } } as Condition;
    case "list":
      return { list: { name: "" } } as Condition;
    case "field":
      return { field: { path: "contact.country", op: "eq", value: "" } } as Condition;
    case "message":
      return { message: { event: "opened", when: { within: "30d" } } } as Condition;
    case "records":
      return { records: { type: "contract" } } as Condition;
    case "segment":
      return { segment: "" } as Condition;
  }
}

const OPS = [
  ["eq", "is"],
  ["ne", "is not"],
  ["contains", "contains"],
  ["in", "is one of"],
  ["gt", ">"],
  ["gte", "≥"],
  ["lt", "<"],
  ["lte", "≤"],
  ["exists", "is set"],
  ["missing", "is not set"],
  ["within_last", "within the last"],
  ["within_next", "within the next"],
  ["before", "before"],
  ["after", "after"],
] as const;

const DATE_TESTS = [
  ["within", "within the last"],
  ["within_next", "within the next"],
  ["before", "before"],
  ["after", "after"],
] as const;

const COUNT_OPS = [
  ["gte", "at least"],
  ["gt", "more than"],
  ["eq", "exactly"],
  ["lte", "at most"],
  ["lt", "fewer than"],
] as const;

export interface ConditionBuilderProps {
  value: Condition;
  onChange: (c: Condition) => void;
  /** Names offered in the tag, list and segment inputs. */
  suggestions?: { tags?: string[]; lists?: string[]; segments?: string[] };
  /** Inside `records`: fields are the record's own. */
  inRecords?: boolean;
  onRemove?: () => void;
  depth?: number;
}

export function ConditionBuilder(props: ConditionBuilderProps) {
  const { value, onChange, depth = 0 } = props;
  const kind = kindOf(value);
  const body = (value as Obj)[kind];
  const set = (v: unknown) => onChange({ [kind]: v } as Condition);
  return (
    <div className={`cond cond-${kind}`} data-depth={depth}>
      <div className="cond-row">
        <select aria-label="Condition type" value={kind} onChange={(e) => onChange(defaultCondition(e.target.value as Kind))}>
          {KINDS.map((k) => (
            <option key={k.key} value={k.key}>
              {k.label}
            </option>
          ))}
        </select>
        <Body kind={kind} body={body} set={set} props={props} />
        {props.onRemove && (
          <button type="button" className="icon" aria-label="Remove condition" title="Remove condition" onClick={props.onRemove}>
            ×
          </button>
        )}
      </div>
      <Children kind={kind} body={body} set={set} props={props} />
      <Lists props={props} />
    </div>
  );
}

/** Datalists for the suggestion inputs (once, at the top). */
function Lists({ props }: { props: ConditionBuilderProps }) {
  if ((props.depth ?? 0) > 0 || !props.suggestions) return null;
  const s = props.suggestions;
  return (
    <>
      <datalist id="cond-tags">{s.tags?.map((t) => <option key={t} value={t} />)}</datalist>
      <datalist id="cond-lists">{s.lists?.map((t) => <option key={t} value={t} />)}</datalist>
      <datalist id="cond-segments">{s.segments?.map((t) => <option key={t} value={t} />)}</datalist>
    </>
  );
}

function Body({ kind, body, set, props }: { kind: Kind; body: unknown; set: (v: unknown) => void; props: ConditionBuilderProps }) {
  const o = (body ?? {}) as Obj;
  const patch = (k: string, v: unknown) => {
    const next = { ...o };
    if (v === undefined || v === "" || v === null) delete next[k];
    else next[k] = v;
    set(next);
  };
  switch (kind) {
    case "all":
    case "any":
    case "not":
      return null;
    case "has_tag":
      return <input aria-label="Tag" list="cond-tags" placeholder="tag" value={String(body ?? "")} onChange={(e) => set(e.target.value)} />;
    case "in_list":
      return <input aria-label="List" list="cond-lists" placeholder="list" value={String(body ?? "")} onChange={(e) => set(e.target.value)} />;
    case "segment":
      return <input aria-label="Segment" list="cond-segments" placeholder="segment name or id" value={String(body ?? "")} onChange={(e) => set(e.target.value)} />;
    case "tag":
      return (
        <>
          <input aria-label="Tag" list="cond-tags" placeholder="tag" value={String(o.name ?? "")} onChange={(e) => set({ ...o, name: e.target.value })} />
          <select
            aria-label="Tag now"
            value={o.active === false ? "false" : o.active === null || o.active === undefined ? "" : "true"}
            onChange={(e) => patch("active", e.target.value === "" ? undefined : e.target.value === "true")}
          >
            <option value="">has it now</option>
            <option value="false">had it, no longer</option>
          </select>
          <CountInput label="Times added" value={o.count as Obj | undefined} onChange={(v) => patch("count", v)} />
          <DateInput label="Last added" value={o.last_added as Obj | undefined} onChange={(v) => patch("last_added", v)} />
          <DateInput label="First added" value={o.first_added as Obj | undefined} onChange={(v) => patch("first_added", v)} />
          <DateInput label="Expires" value={o.expires as Obj | undefined} onChange={(v) => patch("expires", v)} />
        </>
      );
    case "list":
      return (
        <>
          <input aria-label="List" list="cond-lists" placeholder="list" value={String(o.name ?? "")} onChange={(e) => set({ ...o, name: e.target.value })} />
          <DateInput label="Joined" value={o.added as Obj | undefined} onChange={(v) => patch("added", v)} />
        </>
      );
    case "field": {
      const op = String(o.op ?? "eq");
      const noValue = op === "exists" || op === "missing";
      return (
        <>
          <input
            aria-label="Field"
            placeholder={props.inRecords ? "field, e.g. status" : "contact.country"}
            value={String(o.path ?? "")}
            onChange={(e) => set({ ...o, path: e.target.value })}
          />
          <select
            aria-label="Comparison"
            value={op}
            onChange={(e) => {
              const next: Obj = { ...o, op: e.target.value };
              if (e.target.value === "exists" || e.target.value === "missing") delete next.value;
              else if (next.value === undefined) next.value = "";
              set(next);
            }}
          >
            {OPS.map(([v, l]) => (
              <option key={v} value={v}>
                {l}
              </option>
            ))}
          </select>
          {!noValue && <ValueInput op={op} value={o.value} onChange={(v) => set({ ...o, value: v })} />}
        </>
      );
    }
    case "message":
      return (
        <>
          <select aria-label="Message event" value={String(o.event ?? "opened")} onChange={(e) => set({ ...o, event: e.target.value })}>
            <option value="sent">was sent</option>
            <option value="opened">was opened</option>
            <option value="clicked">was clicked</option>
          </select>
          <select aria-label="Channel" value={String(o.channel ?? "")} onChange={(e) => patch("channel", e.target.value || undefined)}>
            <option value="">any channel</option>
            <option value="email">email</option>
            <option value="sms">SMS</option>
            <option value="push">push</option>
            <option value="webhook">webhook</option>
          </select>
          <input aria-label="Flow name" placeholder="any journey" value={String(o.flow ?? "")} onChange={(e) => patch("flow", e.target.value)} />
          <input aria-label="Node id" placeholder="any node" value={String(o.node ?? "")} onChange={(e) => patch("node", e.target.value)} />
          <CountInput label="How many" value={o.count as Obj | undefined} onChange={(v) => patch("count", v)} />
          <DateInput label="When" value={o.when as Obj | undefined} onChange={(v) => patch("when", v)} />
        </>
      );
    case "records":
      return (
        <>
          <input aria-label="Record type" placeholder="record type" value={String(o.type ?? "")} onChange={(e) => set({ ...o, type: e.target.value })} />
          <select
            aria-label="Records that"
            value={o.all ? "all" : o.none ? "none" : o.any ? "any" : ""}
            onChange={(e) => {
              const inner = (o.any ?? o.all ?? o.none ?? { field: { path: "status", op: "eq", value: "active" } }) as Condition;
              const next: Obj = { type: o.type };
              if (o.count) next.count = o.count;
              if (e.target.value) next[e.target.value] = inner;
              set(next);
            }}
          >
            <option value="">has at least one</option>
            <option value="any">any record where</option>
            <option value="all">every record where</option>
            <option value="none">no record where</option>
          </select>
          <CountInput label="Number of records" value={o.count as Obj | undefined} onChange={(v) => patch("count", v)} />
        </>
      );
  }
}

function Children({ kind, body, set, props }: { kind: Kind; body: unknown; set: (v: unknown) => void; props: ConditionBuilderProps }) {
  const depth = (props.depth ?? 0) + 1;
  const child = (c: Condition, onChange: (c: Condition) => void, onRemove?: () => void, inRecords = props.inRecords) => (
    <ConditionBuilder value={c} onChange={onChange} onRemove={onRemove} suggestions={props.suggestions} inRecords={inRecords} depth={depth} />
  );
  if (kind === "all" || kind === "any") {
    const items = (body as Condition[]) ?? [];
    return (
      <div className="cond-children">
        {items.map((c, i) => (
          <div key={i}>
            {child(
              c,
              (n) => set(items.map((x, j) => (j === i ? n : x))),
              () => set(items.filter((_, j) => j !== i)),
            )}
          </div>
        ))}
        <button type="button" className="small" onClick={() => set([...items, { has_tag: "" }])}>
          + condition
        </button>
      </div>
    );
  }
  if (kind === "not") return <div className="cond-children">{child(body as Condition, set)}</div>;
  if (kind === "records") {
    const o = (body ?? {}) as Obj;
    const which = o.all ? "all" : o.none ? "none" : o.any ? "any" : null;
    if (!which) return null;
    return <div className="cond-children">{child(o[which] as Condition, (n) => set({ ...o, [which]: n }), undefined, true)}</div>;
  }
  return null;
}

function ValueInput({ op, value, onChange }: { op: string; value: unknown; onChange: (v: unknown) => void }) {
  const text = op === "in" ? (Array.isArray(value) ? value.join(", ") : String(value ?? "")) : typeof value === "string" ? value : JSON.stringify(value ?? "");
  return (
    <input
      aria-label="Value"
      placeholder={op === "in" ? "a, b, c" : op.startsWith("within") || op === "before" || op === "after" ? "30d or 2026-01-01" : "value"}
      value={text}
      onChange={(e) => {
        const t = e.target.value;
        if (op === "in") onChange(t.split(",").map((s) => s.trim()).filter(Boolean).map(parseScalar));
        else onChange(parseScalar(t));
      }}
    />
  );
}

/** `42` is a number, `true` a boolean, anything else the text itself. */
export function parseScalar(t: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(t.trim())) return Number(t);
  if (t === "true" || t === "false") return t === "true";
  return t;
}

function DateInput({ label, value, onChange }: { label: string; value: Obj | undefined; onChange: (v: Obj | undefined) => void }) {
  const key = (Object.keys(value ?? {})[0] ?? "") as string;
  const v = key ? String((value as Obj)[key] ?? "") : "";
  return (
    <span className="cond-date">
      <select aria-label={`${label}: when`} value={key} onChange={(e) => onChange(e.target.value ? { [e.target.value]: v || "7d" } : undefined)}>
        <option value="">{label}: any time</option>
        {DATE_TESTS.map(([k, l]) => (
          <option key={k} value={k}>
            {label} {l}
          </option>
        ))}
      </select>
      {key && <input aria-label={`${label}: span or date`} className="short" value={v} placeholder="7d" onChange={(e) => onChange({ [key]: e.target.value })} />}
    </span>
  );
}

function CountInput({ label, value, onChange }: { label: string; value: Obj | undefined; onChange: (v: Obj | undefined) => void }) {
  const key = Object.keys(value ?? {})[0] ?? "";
  const n = key ? Number((value as Obj)[key]) : 1;
  return (
    <span className="cond-count">
      <select aria-label={`${label}: test`} value={key} onChange={(e) => onChange(e.target.value ? { [e.target.value]: n } : undefined)}>
        <option value="">{label}: any</option>
        {COUNT_OPS.map(([k, l]) => (
          <option key={k} value={k}>
            {label}: {l}
          </option>
        ))}
      </select>
      {key && (
        <input
          aria-label={`${label}: number`}
          className="short"
          type="number"
          min={0}
          value={n}
          onChange={(e) => onChange({ [key]: Math.max(0, Number(e.target.value) || 0) })}
        />
      )}
    </span>
  );
}
