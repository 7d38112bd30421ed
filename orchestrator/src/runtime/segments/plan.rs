//! Which contacts a condition could hold for, read from the index's postings: a superset of
//! the answer, never smaller, so that evaluating only these contacts gives the evaluator's
//! answer. `None` means "anyone" (e.g. under a `not`, or a test the postings say nothing about).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use flows::condition::{Condition, Count, DateTest, MessageEvent, Op, RecordsTest};
use roaring::RoaringBitmap;

use super::index::{Index, MessageTime};

/// The contacts `condition` (resolved: no saved segments left) may hold for at `now`.
pub fn candidates(index: &Index, condition: &Condition, now: DateTime<Utc>) -> Option<RoaringBitmap> {
    let posting = |map: &std::collections::HashMap<u32, RoaringBitmap>, name: &str| {
        Some(
            index
                .names
                .id(name)
                .and_then(|id| map.get(&id))
                .cloned()
                .unwrap_or_default(),
        )
    };
    match condition {
        Condition::All(items) => items
            .iter()
            .filter_map(|c| candidates(index, c, now))
            .reduce(|a, b| a & b),
        Condition::Any(items) => items
            .iter()
            .map(|c| candidates(index, c, now))
            .try_fold(RoaringBitmap::new(), |acc, c| Some(acc | c?)),
        Condition::Not(_) | Condition::Field(_) => None,
        Condition::HasTag(tag) => posting(&index.tag_active, tag),
        Condition::Tag(t) if t.active.unwrap_or(true) => posting(&index.tag_active, &t.name),
        Condition::Tag(t) => posting(&index.tag_any, &t.name),
        Condition::InList(list) => posting(&index.lists, list),
        Condition::List(l) => posting(&index.lists, &l.name),
        Condition::Records(r) => records(index, r, now),
        Condition::Message(m) => {
            if m.count.as_ref().is_some_and(|c| c.holds(0)) {
                return None;
            }
            let time = match m.event {
                MessageEvent::Sent => MessageTime::Sent,
                MessageEvent::Opened => MessageTime::Opened,
                MessageEvent::Clicked => MessageTime::Clicked,
            };
            let (lo, hi) = m.when.as_ref().map_or((i64::MIN + 1, i64::MAX), |d| span(d, now));
            Some(contacts_in(&index.message_times[time as usize], lo, hi))
        }
        // Left unresolved, a saved segment holds for no one.
        Condition::Segment(_) => Some(RoaringBitmap::new()),
    }
}

fn records(index: &Index, r: &RecordsTest, now: DateTime<Utc>) -> Option<RoaringBitmap> {
    let zero_passes = |c: &Option<Count>| c.as_ref().is_some_and(|c| c.holds(0));
    if zero_passes(&r.count) || (r.count.is_none() && r.any.is_none() && r.all.is_none() && r.none.is_some()) {
        return None;
    }
    let kind = index.names.id(&r.kind);
    let with_kind = kind
        .and_then(|k| index.record_kinds.get(&k))
        .cloned()
        .unwrap_or_default();
    let narrowed = match (&r.any, kind) {
        (Some(any), Some(kind)) => record_dates(index, kind, any, now),
        _ => None,
    };
    Some(match narrowed {
        Some(n) => with_kind & n,
        None => with_kind,
    })
}

/// Contacts with a record of `kind` whose date field a record condition bounds.
fn record_dates(index: &Index, kind: u32, c: &Condition, now: DateTime<Utc>) -> Option<RoaringBitmap> {
    match c {
        Condition::All(items) => items
            .iter()
            .filter_map(|c| record_dates(index, kind, c, now))
            .reduce(|a, b| a & b),
        Condition::Any(items) => items
            .iter()
            .map(|c| record_dates(index, kind, c, now))
            .try_fold(RoaringBitmap::new(), |acc, c| Some(acc | c?)),
        Condition::Field(test) if !test.path.contains('.') && test.path != "id" => {
            let text = test.value.as_ref()?.as_str()?;
            let ms = |t: DateTime<Utc>| t.timestamp_millis();
            let (lo, hi) = match test.op {
                Op::WithinNext => (ms(now), ms(now + text.parse::<flows::Duration>().ok()?.to_chrono())),
                Op::WithinLast => (ms(now - text.parse::<flows::Duration>().ok()?.to_chrono()), ms(now)),
                Op::Before => (i64::MIN + 1, ms(moment(text, now)?)),
                Op::After => (ms(moment(text, now)?), i64::MAX),
                _ => return None,
            };
            let field = index.names.id(&test.path);
            let dates = field.and_then(|f| index.record_dates.get(&(kind, f)));
            Some(dates.map(|d| contacts_in(d, lo, hi)).unwrap_or_default())
        }
        _ => None,
    }
}

fn moment(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    text.parse::<flows::condition::Moment>().ok()?.instant(Some(now))
}

/// The instants a date test lets through, in ms, bounds included (a superset of its strict
/// bounds).
fn span(d: &DateTest, now: DateTime<Utc>) -> (i64, i64) {
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    let (mut lo, mut hi) = (i64::MIN + 1, i64::MAX);
    if let Some(w) = d.within {
        lo = lo.max(ms(now - w.to_chrono()));
        hi = hi.min(ms(now));
    }
    if let Some(w) = d.within_next {
        lo = lo.max(ms(now));
        hi = hi.min(ms(now + w.to_chrono()));
    }
    if let Some(at) = d.before.and_then(|m| m.instant(Some(now))) {
        hi = hi.min(ms(at));
    }
    if let Some(at) = d.after.and_then(|m| m.instant(Some(now))) {
        lo = lo.max(ms(at));
    }
    (lo, hi)
}

fn contacts_in(instants: &BTreeSet<(i64, u32)>, lo: i64, hi: i64) -> RoaringBitmap {
    if lo > hi {
        return RoaringBitmap::new();
    }
    instants.range((lo, 0)..=(hi, u32::MAX)).map(|(_, id)| *id).collect()
}
