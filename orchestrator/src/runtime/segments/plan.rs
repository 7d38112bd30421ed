//! Which contacts a condition could hold for, read from the index's postings: a superset of
//! the answer, never smaller, so that evaluating only these contacts gives the evaluator's
//! answer. `None` means "anyone" (e.g. a test the postings say nothing about). Where postings
//! say exactly who (a tag, a list, a record type, and `all`, `any` and `not` of those), the
//! set is marked exact and nobody needs evaluating.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use flows::condition::{Condition, Count, DateTest, MessageEvent, Op, RecordsTest, equals_only_itself};
use roaring::RoaringBitmap;

use super::index::{Index, Instant, MessageTime, instant};

/// Contacts drawn from the postings: a superset of those a condition holds for, or, when
/// `exact`, exactly them (then no contact needs evaluating).
#[derive(Debug, Clone)]
pub struct Drawn {
    pub set: RoaringBitmap,
    pub exact: bool,
}

impl Drawn {
    fn exact(set: RoaringBitmap) -> Self {
        Drawn { set, exact: true }
    }
    fn superset(set: RoaringBitmap) -> Self {
        Drawn { set, exact: false }
    }
}

/// The contacts `condition` (resolved: no saved segments left) may hold for at `now`; `None`
/// means anyone may.
pub fn candidates(index: &Index, condition: &Condition, now: DateTime<Utc>) -> Option<Drawn> {
    let posting = |map: &std::collections::HashMap<u32, RoaringBitmap>, name: &str| {
        index
            .names
            .id(name)
            .and_then(|id| map.get(&id))
            .cloned()
            .unwrap_or_default()
    };
    match condition {
        Condition::All(items) => all(index, items, now).0,
        Condition::Any(items) => {
            items
                .iter()
                .map(|c| candidates(index, c, now))
                .try_fold(Drawn::exact(RoaringBitmap::new()), |acc, c| {
                    let c = c?;
                    Some(Drawn {
                        set: acc.set | c.set,
                        exact: acc.exact && c.exact,
                    })
                })
        }
        Condition::Not(inner) => match candidates(index, inner, now) {
            Some(d) if d.exact => Some(Drawn::exact(index.everyone() - d.set)),
            _ => None,
        },
        Condition::Field(_) => None,
        Condition::HasTag(tag) => Some(Drawn::exact(posting(&index.tag_active, tag))),
        Condition::Tag(t) if t.active.unwrap_or(true) => {
            let only_name =
                t.count.is_none() && t.first_added.is_none() && t.last_added.is_none() && t.expires.is_none();
            let set = posting(&index.tag_active, &t.name);
            Some(if only_name {
                Drawn::exact(set)
            } else {
                Drawn::superset(set)
            })
        }
        Condition::Tag(t) => Some(Drawn::superset(posting(&index.tag_any, &t.name))),
        Condition::InList(list) => Some(Drawn::exact(posting(&index.lists, list))),
        Condition::List(l) => {
            let set = posting(&index.lists, &l.name);
            Some(if l.added.is_none() {
                Drawn::exact(set)
            } else {
                Drawn::superset(set)
            })
        }
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
            Some(Drawn::superset(contacts_in(
                &index.message_times[time as usize],
                lo,
                hi,
            )))
        }
        // Left unresolved, a saved segment holds for no one.
        Condition::Segment(_) => Some(Drawn::exact(RoaringBitmap::new())),
    }
}

/// What `condition` draws, and what is left to evaluate on the contacts drawn: the parts of a
/// top-level `all` drawn exactly hold for every drawn contact, so only the others are
/// evaluated.
pub fn draw(index: &Index, condition: &Condition, now: DateTime<Utc>) -> (Option<Drawn>, Condition) {
    match condition {
        Condition::All(items) => {
            let (drawn, left) = all(index, items, now);
            (drawn, Condition::All(left.into_iter().cloned().collect()))
        }
        other => (candidates(index, other, now), other.clone()),
    }
}

/// `all`: the intersection of what each part draws, less what the exactly drawn parts under a
/// `not` hold for; exact when every part is. Also the parts not drawn exactly.
fn all<'c>(index: &Index, items: &'c [Condition], now: DateTime<Utc>) -> (Option<Drawn>, Vec<&'c Condition>) {
    let mut within: Option<Drawn> = None;
    let mut less = RoaringBitmap::new();
    let mut left = Vec::new();
    let mut excluded_any = false;
    for item in items {
        let drawn = match item {
            Condition::Not(inner) => match candidates(index, inner, now) {
                Some(d) if d.exact => {
                    less |= d.set;
                    excluded_any = true;
                    continue;
                }
                _ => None,
            },
            other => candidates(index, other, now),
        };
        if !drawn.as_ref().is_some_and(|d| d.exact) {
            left.push(item);
        }
        if let Some(d) = drawn {
            within = Some(match within {
                None => d,
                Some(w) => Drawn {
                    set: w.set & d.set,
                    exact: w.exact && d.exact,
                },
            });
        }
    }
    let within = match within {
        Some(w) => w,
        None if excluded_any => Drawn::exact(index.everyone()),
        None => return (None, left),
    };
    let exact = left.is_empty();
    (
        Some(Drawn {
            set: within.set - less,
            exact,
        }),
        left,
    )
}

fn records(index: &Index, r: &RecordsTest, now: DateTime<Utc>) -> Option<Drawn> {
    let zero_passes = |c: &Option<Count>| c.as_ref().is_some_and(|c| c.holds(0));
    if zero_passes(&r.count) || (r.count.is_none() && r.any.is_none() && r.all.is_none() && r.none.is_some()) {
        return None;
    }
    let kind = index.names.id(&r.kind);
    let with_kind = kind
        .and_then(|k| index.record_kinds.get(&k))
        .cloned()
        .unwrap_or_default();
    let drawn = match (&r.any, kind) {
        (Some(any), Some(kind)) => record_set(index, kind, any, now),
        _ => None,
    };
    let only_any = r.all.is_none() && r.none.is_none() && r.count.is_none();
    let only_kind = r.any.is_none() && only_any;
    Some(match drawn {
        // Some record passes `any` exactly when its owner is drawn.
        Some(d) => Drawn {
            set: owners(index, &d.set),
            exact: d.exact && only_any,
        },
        None if only_kind => Drawn::exact(with_kind),
        None => Drawn::superset(with_kind),
    })
}

fn owners(index: &Index, records: &RoaringBitmap) -> RoaringBitmap {
    records.iter().map(|n| index.record_owner[n as usize]).collect()
}

/// The records of `kind` a condition on a record's fields may hold for (exactly, for `eq` on
/// a plain string and date tests on fields, and `all`, `any` and `not` of those).
fn record_set(index: &Index, kind: u32, c: &Condition, now: DateTime<Utc>) -> Option<Drawn> {
    match c {
        Condition::All(items) => {
            let mut exact = true;
            let mut within: Option<Drawn> = None;
            for item in items {
                match record_set(index, kind, item, now) {
                    None => exact = false,
                    Some(d) => {
                        within = Some(match within {
                            None => d,
                            Some(w) => Drawn {
                                set: w.set & d.set,
                                exact: w.exact && d.exact,
                            },
                        })
                    }
                }
            }
            within.map(|w| Drawn {
                set: w.set,
                exact: w.exact && exact,
            })
        }
        Condition::Any(items) => items.iter().map(|c| record_set(index, kind, c, now)).try_fold(
            Drawn::exact(RoaringBitmap::new()),
            |acc, c| {
                let c = c?;
                Some(Drawn {
                    set: acc.set | c.set,
                    exact: acc.exact && c.exact,
                })
            },
        ),
        Condition::Not(inner) => match record_set(index, kind, inner, now) {
            Some(d) if d.exact => {
                let all = index.records_of_kind.get(&kind).cloned().unwrap_or_default();
                Some(Drawn::exact(all - d.set))
            }
            _ => None,
        },
        Condition::Field(test) if !test.path.contains('.') && test.path != "id" => {
            let key = (kind, index.names.id(&test.path)?);
            match (test.op, test.value.as_ref()?.as_str()?) {
                (Op::Eq, text) if equals_only_itself(text) => {
                    let set = index.record_texts.get(&key).and_then(|t| t.get(text)).cloned();
                    Some(Drawn::exact(set.unwrap_or_default()))
                }
                (op @ (Op::WithinNext | Op::WithinLast | Op::Before | Op::After), text) => {
                    let Some((lo, hi)) = instants(op, text, now) else {
                        // A value that is not a span or a moment passes nothing.
                        return Some(Drawn::exact(RoaringBitmap::new()));
                    };
                    let set = index.record_instants.get(&key).map(|i| records_in(i, lo, hi));
                    Some(Drawn::exact(set.unwrap_or_default()))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The instants a date test on a field lets through, bounds included, as the evaluator
/// reads them: `within_next` now…now+span, `within_last` now−span…now, `before` and `after`
/// strictly. `None` when the value is not a span (or, for `before`/`after`, a moment).
fn instants(op: Op, text: &str, now: DateTime<Utc>) -> Option<(Instant, Instant)> {
    const FIRST: Instant = (i64::MIN, 0);
    const LAST: Instant = (i64::MAX, u32::MAX);
    let span = || text.parse::<flows::Duration>().ok().map(flows::Duration::to_chrono);
    Some(match op {
        Op::WithinNext => (instant(now), instant(now + span()?)),
        Op::WithinLast => (instant(now - span()?), instant(now)),
        Op::Before => (FIRST, before(instant(moment(text, now)?))),
        _ => (after(instant(moment(text, now)?)), LAST),
    })
}

/// The greatest instant strictly before `at`, and the least strictly after.
fn before((secs, nanos): Instant) -> Instant {
    if nanos == 0 {
        (secs - 1, 999_999_999)
    } else {
        (secs, nanos - 1)
    }
}

fn after((secs, nanos): Instant) -> Instant {
    if nanos >= 999_999_999 {
        (secs + 1, 0)
    } else {
        (secs, nanos + 1)
    }
}

fn records_in(instants: &BTreeSet<(Instant, u32)>, lo: Instant, hi: Instant) -> RoaringBitmap {
    if lo > hi {
        return RoaringBitmap::new();
    }
    instants.range((lo, 0)..=(hi, u32::MAX)).map(|(_, n)| *n).collect()
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
