//! The one evaluator: a [`Condition`] against a contact's facts, or, inside `records`, against
//! one related record. Facts come through [`Known`], so a step's [`Facts`] and a precomputed
//! index answer every condition by the same rules.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Condition, FieldTest, ListTest, MessageEvent, MessageTest, Moment, Op, RecordsTest, TagTest};
use crate::contact::{Facts, ListFact, MessageSeen, Record, TagFact, dig};
use crate::time::parse_instant;
use crate::values::Duration;

/// What a condition can read about one contact, at one instant.
pub trait Known {
    /// The instant relative dates count from (none: they pass nothing).
    fn now(&self) -> Option<DateTime<Utc>>;
    /// The tag's fact, active or not (conditions do not read its source).
    fn tag(&self, name: &str) -> Option<Cow<'_, TagFact>>;
    /// The contact's membership of the list.
    fn list(&self, name: &str) -> Option<Cow<'_, ListFact>>;
    /// The contact's records of a type.
    fn records(&self, kind: &str) -> &[Record];
    /// Calls `each` on every message sent to the contact.
    fn messages(&self, each: &mut dyn FnMut(MessageSeen<'_>));
    /// The value at a field path (see [`Facts::lookup`]).
    fn lookup(&self, path: &str) -> Option<Cow<'_, Value>>;
}

impl Known for Facts<'_> {
    fn now(&self) -> Option<DateTime<Utc>> {
        Facts::now(self)
    }
    fn tag(&self, name: &str) -> Option<Cow<'_, TagFact>> {
        Facts::tag(self, name)
    }
    fn list(&self, name: &str) -> Option<Cow<'_, ListFact>> {
        Facts::list(self, name)
    }
    fn records(&self, kind: &str) -> &[Record] {
        Facts::records(self, kind)
    }
    fn messages(&self, each: &mut dyn FnMut(MessageSeen<'_>)) {
        self.contact().messages.iter().for_each(|m| each(m.seen()));
    }
    fn lookup(&self, path: &str) -> Option<Cow<'_, Value>> {
        Facts::lookup(self, path).map(Cow::Owned)
    }
}

/// What a condition is evaluated against.
pub(super) enum Subject<'f, K: ?Sized> {
    /// A contact's facts.
    Contact(&'f K),
    /// One of a contact's records, at the contact's instant.
    Record(&'f Record, Option<DateTime<Utc>>),
}

impl<K: Known + ?Sized> Subject<'_, K> {
    fn now(&self) -> Option<DateTime<Utc>> {
        match self {
            Subject::Contact(f) => f.now(),
            Subject::Record(_, now) => *now,
        }
    }

    fn lookup(&self, path: &str) -> Option<Cow<'_, Value>> {
        match self {
            Subject::Contact(f) => f.lookup(path),
            Subject::Record(r, _) if path == "id" => Some(Cow::Owned(Value::String(r.id.clone()))),
            Subject::Record(r, _) => dig(&r.fields, path).map(Cow::Borrowed),
        }
    }
}

pub(super) fn holds<K: Known + ?Sized>(c: &Condition, s: &Subject<'_, K>) -> bool {
    match c {
        Condition::All(items) => items.iter().all(|c| holds(c, s)),
        Condition::Any(items) => items.iter().any(|c| holds(c, s)),
        Condition::Not(inner) => !holds(inner, s),
        Condition::Field(test) => field(test, s),
        Condition::HasTag(name) => matches!(s, Subject::Contact(f) if f.tag(name).is_some_and(|t| t.active)),
        Condition::InList(name) => matches!(s, Subject::Contact(f) if f.list(name).is_some()),
        Condition::Tag(t) => matches!(s, Subject::Contact(f) if tag(t, *f)),
        Condition::List(l) => matches!(s, Subject::Contact(f) if list(l, *f)),
        Condition::Records(r) => matches!(s, Subject::Contact(f) if records(r, *f)),
        Condition::Message(m) => matches!(s, Subject::Contact(f) if message(m, *f)),
        Condition::Segment(_) => false,
    }
}

fn tag<K: Known + ?Sized>(t: &TagTest, f: &K) -> bool {
    let Some(fact) = f.tag(&t.name) else { return false };
    let now = f.now();
    fact.count > 0
        && fact.active == t.active.unwrap_or(true)
        && t.count.as_ref().is_none_or(|c| c.holds(u64::from(fact.count)))
        && t.first_added.as_ref().is_none_or(|d| d.holds(fact.first_added_at, now))
        && t.last_added.as_ref().is_none_or(|d| d.holds(fact.last_added_at, now))
        && t.expires.as_ref().is_none_or(|d| d.holds(fact.expires_at, now))
}

fn list<K: Known + ?Sized>(l: &ListTest, f: &K) -> bool {
    let Some(fact) = f.list(&l.name) else { return false };
    l.added.as_ref().is_none_or(|d| d.holds(fact.added_at, f.now()))
}

fn records<K: Known + ?Sized>(r: &RecordsTest, f: &K) -> bool {
    let all = f.records(&r.kind);
    let passes = |c: &Condition, rec: &Record| holds(c, &Subject::<K>::Record(rec, f.now()));
    if let Some(c) = &r.all
        && (all.is_empty() || !all.iter().all(|rec| passes(c, rec)))
    {
        return false;
    }
    if let Some(c) = &r.none
        && all.iter().any(|rec| passes(c, rec))
    {
        return false;
    }
    let n = match &r.any {
        Some(c) => all.iter().filter(|rec| passes(c, rec)).count(),
        None => all.len(),
    };
    match &r.count {
        Some(count) => count.holds(n as u64),
        None if r.all.is_some() || r.none.is_some() => r.any.is_none() || n > 0,
        None => n > 0,
    }
}

fn message<K: Known + ?Sized>(m: &MessageTest, f: &K) -> bool {
    let now = f.now();
    let mut n = 0u64;
    f.messages(&mut |seen| {
        let at = match m.event {
            MessageEvent::Sent => Some(seen.sent_at),
            MessageEvent::Opened => seen.opened_at,
            MessageEvent::Clicked => seen.clicked_at,
        };
        let passes = at.is_some()
            && m.flow.as_deref().is_none_or(|x| x == seen.flow)
            && m.node.as_deref().is_none_or(|x| x == seen.node)
            && m.channel.is_none_or(|x| x == seen.channel)
            && m.when.as_ref().is_none_or(|d| d.holds(at, now));
        n += u64::from(passes);
    });
    match &m.count {
        Some(count) => count.holds(n),
        None => n > 0,
    }
}

fn field<K: Known + ?Sized>(test: &FieldTest, s: &Subject<'_, K>) -> bool {
    let actual = s.lookup(&test.path);
    let actual = actual.as_deref().filter(|v| !is_empty(v));
    let expected = test.value.as_ref().unwrap_or(&Value::Null);
    match test.op {
        Op::Exists => actual.is_some(),
        Op::Missing => actual.is_none(),
        Op::Eq => actual.is_some_and(|a| loosely_equal(a, expected)),
        Op::Ne => !actual.is_some_and(|a| loosely_equal(a, expected)),
        Op::Gt => order(actual, expected).is_some_and(|o| o.is_gt()),
        Op::Gte => order(actual, expected).is_some_and(|o| o.is_ge()),
        Op::Lt => order(actual, expected).is_some_and(|o| o.is_lt()),
        Op::Lte => order(actual, expected).is_some_and(|o| o.is_le()),
        Op::Contains => match actual {
            Some(Value::String(s)) => expected.as_str().is_some_and(|e| s.contains(e)),
            Some(Value::Array(items)) => items.iter().any(|i| loosely_equal(i, expected)),
            _ => false,
        },
        Op::In => match (actual, expected) {
            (Some(a), Value::Array(options)) => options.iter().any(|o| loosely_equal(a, o)),
            _ => false,
        },
        Op::WithinNext | Op::WithinLast | Op::Before | Op::After => {
            let at = actual.and_then(Value::as_str).and_then(parse_instant);
            let (Some(at), Some(text)) = (at, expected.as_str()) else {
                return false;
            };
            let now = s.now();
            let span = || text.parse::<Duration>().ok().map(Duration::to_chrono);
            let moment = || text.parse::<Moment>().ok().and_then(|m| m.instant(now));
            match test.op {
                Op::WithinNext => matches!((now, span()), (Some(now), Some(d)) if now <= at && at <= now + d),
                Op::WithinLast => matches!((now, span()), (Some(now), Some(d)) if now - d <= at && at <= now),
                Op::Before => moment().is_some_and(|x| at < x),
                _ => moment().is_some_and(|x| at > x),
            }
        }
    }
}

/// Whether `eq` with this text as its value matches a field only when the field is this very
/// string: it is not empty and reads neither as a number nor as a boolean (which loose
/// equality would let a number, a boolean or another spelling meet).
pub fn equals_only_itself(text: &str) -> bool {
    let v = Value::String(text.to_string());
    !text.is_empty() && as_number(&v).is_none() && as_bool(&v).is_none()
}

fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Null) || v.as_str().is_some_and(|s| s.is_empty())
}

/// A JSON number, or a string holding a plain decimal (`12`, `-3.5`; not `1e3`, `inf`, `nan`).
fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            let digits = t.strip_prefix('-').unwrap_or(t);
            let mut parts = digits.splitn(2, '.');
            let whole = parts.next().unwrap_or("");
            let plain = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            let ok = plain(whole) && parts.next().is_none_or(plain);
            if ok { t.parse().ok() } else { None }
        }
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Equality that lets CSV strings meet JSON numbers and booleans.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
        return x == y;
    }
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) => false,
        (Value::Bool(_), _) | (_, Value::Bool(_)) => {
            matches!((as_bool(a), as_bool(b)), (Some(x), Some(y)) if x == y)
        }
        _ => false,
    }
}

/// Numeric order when both sides read as numbers, else string order (ISO dates sort right).
fn order(actual: Option<&Value>, expected: &Value) -> Option<std::cmp::Ordering> {
    let actual = actual?;
    if let (Some(x), Some(y)) = (as_number(actual), as_number(expected)) {
        return x.partial_cmp(&y);
    }
    match (actual, expected) {
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
    }
}
