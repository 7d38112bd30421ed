//! The in-memory segment index: every contact's facts in a compact form, plus postings that
//! narrow a condition down to the contacts worth evaluating (bitmaps of who has each tag, list
//! and record type; sorted instants of record dates and message events).
//!
//! Answers come from the one evaluator in `flows` ([`Condition::holds_for`]), run over the
//! candidates that [`super::plan`] draws from the postings; the postings only ever widen the
//! set the evaluator sees, so the answer is the evaluator's. Contacts are keyed by their
//! internal id; [`Index::put`] replaces a contact's facts whole and [`Index::remove`] forgets
//! them, keeping every posting in step.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use flows::Channel;
use flows::condition::{Condition, Known};
use flows::contact::{ListFact, MessageSeen, Record, Records, TagFact, dig};
use roaring::RoaringBitmap;
use serde_json::{Map, Value};

/// An instant in milliseconds; [`NONE`] when unknown.
type Ms = i64;
const NONE: Ms = i64::MIN;

fn to_ms(at: Option<DateTime<Utc>>) -> Ms {
    at.map_or(NONE, |t| t.timestamp_millis())
}

fn from_ms(ms: Ms) -> Option<DateTime<Utc>> {
    (ms != NONE).then(|| DateTime::from_timestamp_millis(ms)).flatten()
}

/// Names (tags, lists, record types and fields, flows, nodes) as small numbers.
#[derive(Default)]
pub struct Names {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    pub fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

#[derive(Debug, Clone, Copy)]
struct Tagged {
    tag: u32,
    count: u32,
    active: bool,
    first: Ms,
    last: Ms,
    expires: Ms,
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    flow: u32,
    node: u32,
    channel: Channel,
    at: [Ms; 3],
}

/// Which instant of a message: when it was sent, last opened, last clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageTime {
    Sent = 0,
    Opened = 1,
    Clicked = 2,
}

/// An instant as (seconds, nanoseconds), ordered as instants are.
pub type Instant = (i64, u32);

pub fn instant(at: DateTime<Utc>) -> Instant {
    (at.timestamp(), at.timestamp_subsec_nanos())
}

/// One contact's facts, compactly.
pub struct Entry {
    id: Box<str>,
    email: Option<Box<str>>,
    phone: Option<Box<str>>,
    country: Option<Box<str>>,
    timezone: Option<Tz>,
    fields: Map<String, Value>,
    /// Sorted by tag.
    tags: Box<[Tagged]>,
    /// (list, joined at), sorted by list.
    lists: Box<[(u32, Ms)]>,
    records: Records,
    /// The numbers of the records, in the order `records` holds them.
    record_numbers: Box<[u32]>,
    messages: Box<[Sent]>,
}

impl Entry {
    /// The contact's external id.
    pub fn external_id(&self) -> &str {
        &self.id
    }

    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    pub fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }

    /// What the contact's zone and country come from.
    pub fn place(&self) -> flows::geo::Place<'_> {
        flows::geo::Place {
            timezone: self.timezone,
            phone: self.phone.as_deref(),
            country: self.country.as_deref(),
        }
    }
}

/// A contact's facts read through the index at an instant: what the evaluator sees.
pub struct View<'a> {
    pub entry: &'a Entry,
    names: &'a Names,
    now: Option<DateTime<Utc>>,
}

impl Known for View<'_> {
    fn now(&self) -> Option<DateTime<Utc>> {
        self.now
    }

    fn tag(&self, name: &str) -> Option<Cow<'_, TagFact>> {
        let id = self.names.id(name)?;
        let i = self.entry.tags.binary_search_by_key(&id, |t| t.tag).ok()?;
        let t = self.entry.tags[i];
        Some(Cow::Owned(TagFact {
            count: t.count,
            first_added_at: from_ms(t.first),
            last_added_at: from_ms(t.last),
            expires_at: from_ms(t.expires),
            active: t.active,
            source: None,
        }))
    }

    fn list(&self, name: &str) -> Option<Cow<'_, ListFact>> {
        let id = self.names.id(name)?;
        let i = self.entry.lists.binary_search_by_key(&id, |l| l.0).ok()?;
        Some(Cow::Owned(ListFact {
            added_at: from_ms(self.entry.lists[i].1),
            source: None,
        }))
    }

    fn records(&self, kind: &str) -> &[Record] {
        self.entry.records.get(kind).map_or(&[], Vec::as_slice)
    }

    fn messages(&self, each: &mut dyn FnMut(MessageSeen<'_>)) {
        for m in &self.entry.messages {
            let Some(sent_at) = from_ms(m.at[0]) else { continue };
            each(MessageSeen {
                flow: self.names.name(m.flow),
                node: self.names.name(m.node),
                channel: m.channel,
                sent_at,
                opened_at: from_ms(m.at[1]),
                clicked_at: from_ms(m.at[2]),
            });
        }
    }

    fn lookup(&self, path: &str) -> Option<Cow<'_, Value>> {
        if path.starts_with("data.") {
            return None;
        }
        let e = self.entry;
        let text = |s: &Option<Box<str>>| s.as_deref().map(|v| Cow::Owned(Value::String(v.into())));
        match path.strip_prefix("contact.").unwrap_or(path) {
            "id" => Some(Cow::Owned(Value::String(e.id.to_string()))),
            "email" => text(&e.email),
            "phone" => text(&e.phone),
            "country" => text(&e.country),
            "timezone" => e.timezone.map(|z| Cow::Owned(Value::String(z.name().into()))),
            "tags" => {
                let active = e.tags.iter().filter(|t| t.active).map(|t| self.names.name(t.tag));
                Some(Cow::Owned(sorted_names(active)))
            }
            "lists" => Some(Cow::Owned(sorted_names(e.lists.iter().map(|l| self.names.name(l.0))))),
            name => dig(&e.fields, name).map(Cow::Borrowed),
        }
    }
}

fn sorted_names<'a>(names: impl Iterator<Item = &'a str>) -> Value {
    let set: BTreeSet<&str> = names.collect();
    Value::Array(set.into_iter().map(|n| Value::String(n.into())).collect())
}

/// Every contact's facts, and the postings [`super::plan`] reads.
#[derive(Default)]
pub struct Index {
    pub(super) names: Names,
    entries: Vec<Option<Entry>>,
    /// Every contact's id.
    all: RoaringBitmap,
    /// By tag: who has it now, and who was ever given it.
    pub(super) tag_active: HashMap<u32, RoaringBitmap>,
    pub(super) tag_any: HashMap<u32, RoaringBitmap>,
    pub(super) lists: HashMap<u32, RoaringBitmap>,
    /// By record type: who has at least one.
    pub(super) record_kinds: HashMap<u32, RoaringBitmap>,
    /// Records are numbered as they are put; by number, whose record it is.
    pub(super) record_owner: Vec<u32>,
    /// Numbers of removed records, given again before new ones.
    free_records: Vec<u32>,
    /// By record type: its records' numbers.
    pub(super) records_of_kind: HashMap<u32, RoaringBitmap>,
    /// By (record type, field): the records whose field is each string.
    pub(super) record_texts: HashMap<(u32, u32), HashMap<Box<str>, RoaringBitmap>>,
    /// By (record type, field): the instants the field's strings read as, exactly (seconds,
    /// nanoseconds), with the record's number.
    pub(super) record_instants: HashMap<(u32, u32), BTreeSet<(Instant, u32)>>,
    /// By [`MessageTime`]: the instants messages were sent, opened and clicked, with whose.
    pub(super) message_times: [BTreeSet<(Ms, u32)>; 3],
}

impl Index {
    /// How many contacts the index holds.
    pub fn len(&self) -> u64 {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Every contact's internal id, as a set.
    pub fn everyone(&self) -> RoaringBitmap {
        self.all.clone()
    }

    pub fn entry(&self, id: u32) -> Option<&Entry> {
        self.entries.get(id as usize)?.as_ref()
    }

    /// The contact's facts as the evaluator reads them at `now`.
    pub fn view(&self, id: u32, now: DateTime<Utc>) -> Option<View<'_>> {
        Some(View {
            entry: self.entry(id)?,
            names: &self.names,
            now: Some(now),
        })
    }

    /// Whether the contact satisfies an already resolved condition at `now`.
    pub fn holds(&self, id: u32, condition: &Condition, now: DateTime<Utc>) -> bool {
        self.view(id, now).is_some_and(|v| condition.holds_for(&v))
    }

    /// Replaces what the index knows of contact `id` with `contact`.
    pub fn put(&mut self, id: u32, contact: &flows::Contact) {
        self.remove(id);
        let mut entry = self.entry_of(contact);
        for t in entry.tags.iter() {
            self.tag_any.entry(t.tag).or_default().insert(id);
            if t.active {
                self.tag_active.entry(t.tag).or_default().insert(id);
            }
        }
        for (list, _) in entry.lists.iter() {
            self.lists.entry(*list).or_default().insert(id);
        }
        let mut numbers = Vec::new();
        for (kind, records) in &entry.records {
            let kind = self.names.intern(kind);
            if !records.is_empty() {
                self.record_kinds.entry(kind).or_default().insert(id);
            }
            for record in records {
                let number = match self.free_records.pop() {
                    Some(n) => n,
                    None => {
                        self.record_owner.push(0);
                        (self.record_owner.len() - 1) as u32
                    }
                };
                self.record_owner[number as usize] = id;
                numbers.push(number);
                self.records_of_kind.entry(kind).or_default().insert(number);
                for (field, text, at) in text_fields(record) {
                    let key = (kind, self.names.intern(field));
                    let texts = self.record_texts.entry(key).or_default();
                    texts.entry(text.into()).or_default().insert(number);
                    if let Some(at) = at {
                        self.record_instants.entry(key).or_default().insert((at, number));
                    }
                }
            }
        }
        entry.record_numbers = numbers.into();
        for m in entry.messages.iter() {
            for (time, at) in m.at.iter().enumerate() {
                if *at != NONE {
                    self.message_times[time].insert((*at, id));
                }
            }
        }
        let slot = id as usize;
        if self.entries.len() <= slot {
            self.entries.resize_with(slot + 1, || None);
        }
        self.entries[slot] = Some(entry);
        self.all.insert(id);
    }

    /// Forgets contact `id` (erased, or about to be replaced).
    pub fn remove(&mut self, id: u32) {
        let Some(entry) = self.entries.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        self.all.remove(id);
        for t in entry.tags.iter() {
            for map in [&mut self.tag_any, &mut self.tag_active] {
                if let Some(b) = map.get_mut(&t.tag) {
                    b.remove(id);
                }
            }
        }
        for (list, _) in entry.lists.iter() {
            if let Some(b) = self.lists.get_mut(list) {
                b.remove(id);
            }
        }
        let mut numbers = entry.record_numbers.iter();
        for (kind, records) in &entry.records {
            let Some(kind) = self.names.id(kind) else { continue };
            if let Some(b) = self.record_kinds.get_mut(&kind) {
                b.remove(id);
            }
            for record in records {
                let Some(&number) = numbers.next() else { break };
                self.free_records.push(number);
                if let Some(b) = self.records_of_kind.get_mut(&kind) {
                    b.remove(number);
                }
                for (field, text, at) in text_fields(record) {
                    let Some(field) = self.names.id(field) else { continue };
                    let key = (kind, field);
                    if let Some(b) = self.record_texts.get_mut(&key).and_then(|t| t.get_mut(text)) {
                        b.remove(number);
                    }
                    if let (Some(at), Some(set)) = (at, self.record_instants.get_mut(&key)) {
                        set.remove(&(at, number));
                    }
                }
            }
        }
        for m in entry.messages.iter() {
            for (time, at) in m.at.iter().enumerate() {
                self.message_times[time].remove(&(*at, id));
            }
        }
    }

    fn entry_of(&mut self, c: &flows::Contact) -> Entry {
        let mut tags: Vec<Tagged> = c
            .tags
            .facts()
            .map(|(name, f)| Tagged {
                tag: self.names.intern(name),
                count: f.count,
                active: f.active,
                first: to_ms(f.first_added_at),
                last: to_ms(f.last_added_at),
                expires: to_ms(f.expires_at),
            })
            .collect();
        tags.sort_unstable_by_key(|t| t.tag);
        let mut lists: Vec<(u32, Ms)> = c
            .lists
            .facts()
            .map(|(name, f)| (self.names.intern(name), to_ms(f.added_at)))
            .collect();
        lists.sort_unstable_by_key(|l| l.0);
        let messages = c
            .messages
            .iter()
            .map(|m| Sent {
                flow: self.names.intern(&m.flow),
                node: self.names.intern(&m.node),
                channel: m.channel,
                at: [m.sent_at.timestamp_millis(), to_ms(m.opened_at), to_ms(m.clicked_at)],
            })
            .collect();
        let boxed = |s: &Option<String>| s.as_deref().map(Box::from);
        Entry {
            id: c.id.as_str().into(),
            email: boxed(&c.email),
            phone: boxed(&c.phone),
            country: boxed(&c.country),
            timezone: c.timezone,
            fields: c.fields.clone(),
            tags: tags.into(),
            lists: lists.into(),
            records: c.records.clone(),
            record_numbers: Box::default(),
            messages,
        }
    }
}

/// A record's fields whose values are strings, with the instant each reads as (as the
/// evaluator reads dates in fields), if any.
fn text_fields(record: &Record) -> impl Iterator<Item = (&str, &str, Option<Instant>)> {
    record.fields.iter().filter_map(|(field, value)| {
        let text = value.as_str()?;
        Some((field.as_str(), text, flows::time::parse_instant(text).map(instant)))
    })
}
