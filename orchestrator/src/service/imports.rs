//! Contact imports: a CSV or NDJSON file's lines upserted as contacts, with their tags and
//! lists, line by line: a good line goes in, a bad one is reported (`column 'email': …`, with
//! its line) and skipped. `cairn import contacts` runs one in the foreground, `POST
//! /api/imports` in the background; either way the import is an `imports` row whose counts
//! move with each batch ([`BATCH`] lines, one transaction).
//!
//! **Idempotent.** A line merges into its contact as a `PATCH` does (what it gives replaces,
//! what it leaves blank stays, fields are merged); a tag is added only when the contact does not
//! have it active (so a re-run counts no tag again) and a list only when the contact is not in
//! it. Running the same file twice leaves the same contacts, tags and lists, and the second run
//! counts every contact `unchanged`. What an import adds has source `import:<name>`.
//!
//! **Events.** With `events`, each tag added and list joined is journaled for the contact and
//! queued as its event (`tag_added`, `list_added`, `recorded: true`), as the contacts API does,
//! so `event_entry` journeys start; without (the default for bulk), the tag's facts alone say
//! what the import did.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use chrono::{DateTime, TimeDelta, Utc};
use flows::{ContactPatch, Event};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value, json};

use super::import::{ContactRows, Format, Mapping, loosen};
use super::{Error, Result, Services};
use crate::store::contacts::ContactInput;
use crate::store::directory::ContactRow;
use crate::store::imports::{self, Counts, ImportRow, NewImport, Refused};
use crate::store::tags::{RECORDED, Source};
use crate::store::{bulk, inbox, journal};

/// Lines per transaction.
pub const BATCH: usize = 2000;
/// Refused lines kept in the import's row (all are reported to the command line).
pub const MAX_ERRORS: usize = 100;
/// A running import that has made no progress for this long has lost its process.
pub const STALE: TimeDelta = TimeDelta::minutes(2);

/// What finds a line's contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The `id` column: the contact's id.
    Id,
    /// The `email` column: the oldest contact with that address, else a new contact (its id
    /// the `id` column's, or the address).
    Email,
}

impl Key {
    pub fn parse(text: &str) -> Option<Key> {
        match text {
            "id" => Some(Key::Id),
            "email" => Some(Key::Email),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Key::Id => "id",
            Key::Email => "email",
        }
    }
}

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    /// The import's name: its tags and lists have source `import:<name>`.
    pub name: String,
    pub format: Format,
    pub key: Key,
    pub mapping: Mapping,
    /// Journal and queue `tag_added` / `list_added` events.
    pub events: bool,
}

/// What an import reports as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A line was refused (and skipped).
    Refused(&'a Refused),
    /// A batch is written; the counts so far.
    Written(&'a Counts),
}

/// Checks the options and the file's header, and records the import (`running`).
pub async fn begin<R: Read>(s: &Services, options: &Options, rows: &ContactRows<R>) -> Result<i64> {
    if let Some((field, message)) = super::contact::name_problem("name", &options.name) {
        return Err(Error::field(&field, message));
    }
    let needed = options.key.as_str();
    if let Some(mut columns) = rows.columns()
        && !columns.any(|c| c == needed)
    {
        return Err(Error::field(
            "header",
            format!("has no '{needed}' column (the key that finds each line's contact)"),
        ));
    }
    let new = NewImport {
        name: &options.name,
        format: options.format.as_str(),
        key: options.key.as_str(),
        events: options.events,
    };
    let now = s.clock.now();
    Ok(crate::db::in_write(&s.db, async |tx| imports::create(tx, &new, now).await).await?)
}

/// Imports every line of `rows` into import `id` (from [`begin`]) and ends it: `done`, or
/// `failed` with why when the database fails (the batches written stay; a re-run completes it).
pub async fn run<R: Read + Send + 'static>(
    s: &Services,
    id: i64,
    rows: ContactRows<R>,
    options: &Options,
    report: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Counts> {
    let result = import_rows(s, id, rows, options, report).await;
    let now = s.clock.now();
    let failure = result.as_ref().err().map(|e| format!("the import stopped: {e}"));
    crate::db::in_write(&s.db, async |tx| imports::finish(tx, id, failure.as_deref(), now).await).await?;
    if options.events {
        s.engine.notify_one();
    }
    result
}

/// Starts an import of an uploaded file in the background; returns its row (`running`, unless
/// it was quick enough to be `done` already).
pub async fn start<R: Read + Send + 'static>(s: &Services, options: Options, file: R) -> Result<ImportRow> {
    let rows = ContactRows::new(options.format, file, options.mapping.clone())
        .map_err(|(_, problems)| Error::field("header", problems.join("; ")))?;
    let id = begin(s, &options, &rows).await?;
    let services = s.clone();
    tokio::spawn(async move {
        if let Err(e) = run(&services, id, rows, &options, &mut |_| {}).await {
            tracing::warn!(import = id, error = %e, "an import failed");
        }
    });
    get(s, id).await
}

/// An import as it is now; one still `running` that has made no progress for [`STALE`] is
/// shown failed (its process ended; the next start of the service records it so).
pub async fn get(s: &Services, id: i64) -> Result<ImportRow> {
    let row = imports::get(&s.db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no import with id {id}")))?;
    Ok(as_seen(row, s.clock.now()))
}

/// The newest imports, at most `limit`.
pub async fn list(s: &Services, limit: u64) -> Result<Vec<ImportRow>> {
    let now = s.clock.now();
    Ok(imports::recent(&s.db, limit)
        .await?
        .into_iter()
        .map(|r| as_seen(r, now))
        .collect())
}

const LOST: &str = "its process stopped before it finished; run it again (an import is idempotent)";

fn as_seen(mut row: ImportRow, now: DateTime<Utc>) -> ImportRow {
    if row.status == "running" && row.updated_at < now - STALE {
        row.status = "failed".into();
        row.failure = Some(LOST.into());
    }
    row
}

/// At start-up: imports whose process stopped are failed, never left `running`.
pub async fn recover(s: &Services) -> Result<u64> {
    let now = s.clock.now();
    Ok(crate::db::in_write(&s.db, async |tx| {
        imports::fail_running(tx, now - STALE, LOST, now).await
    })
    .await?)
}

/// A good line: its number, the contact it gives, and whether it named its id.
struct Line {
    number: u64,
    input: ContactInput,
    id_given: bool,
}

/// Where the import stands between batches.
struct State<'a> {
    id: i64,
    options: &'a Options,
    source: Source,
    counts: Counts,
    errors: Vec<Refused>,
}

impl State<'_> {
    fn refuse(&mut self, refused: Refused, report: &mut (dyn FnMut(Progress<'_>) + Send)) {
        self.counts.refused += 1;
        report(Progress::Refused(&refused));
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(refused);
        }
    }
}

async fn import_rows<R: Read + Send + 'static>(
    s: &Services,
    id: i64,
    rows: ContactRows<R>,
    options: &Options,
    report: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Counts> {
    let mut state = State {
        id,
        options,
        source: Source {
            kind: "import".into(),
            reference: Some(options.name.clone()),
        },
        counts: Counts::default(),
        errors: Vec::new(),
    };
    // Lines are read and checked on a thread of their own while the batch before is written.
    let mut batches = read_batches(rows, options.key);
    while let Some(checked) = batches.recv().await {
        state.counts.lines_read += checked.read;
        for refused in checked.refused {
            state.refuse(refused, report);
        }
        write(s, &mut state, checked.lines, report).await?;
    }
    Ok(state.counts)
}

/// [`BATCH`] lines as read and checked: the good ones and the refused ones.
#[derive(Default)]
struct Checked {
    read: u64,
    lines: Vec<Line>,
    refused: Vec<Refused>,
}

/// Reads and checks the lines on a blocking thread, a batch at a time, at most two batches
/// ahead of the writes; it stops when the receiver is dropped.
fn read_batches<R: Read + Send + 'static>(rows: ContactRows<R>, key: Key) -> tokio::sync::mpsc::Receiver<Checked> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let places = rows.places();
    tokio::task::spawn_blocking(move || {
        let mut batch = Checked::default();
        for (number, object) in rows {
            batch.read += 1;
            match object.map_err(|m| vec![m]).and_then(|o| check_line(o, key, &places)) {
                Ok((input, id_given)) => batch.lines.push(Line {
                    number,
                    input,
                    id_given,
                }),
                // One refusal per line, its problems together.
                Err(messages) => batch.refused.push(Refused {
                    line: number,
                    message: messages.join("; "),
                }),
            }
            if batch.read as usize >= BATCH && tx.blocking_send(std::mem::take(&mut batch)).is_err() {
                return;
            }
        }
        let _ = tx.blocking_send(batch);
    });
    rx
}

/// A line as a contact: the API's rules ([`ContactPatch::parse`], addresses that can be sent
/// to), problems placed by column or key. With [`Key::Email`] the line must give an e-mail,
/// and its id defaults to it. Returns the contact and whether the line named its id.
fn check_line(
    mut object: Map<String, Value>,
    key: Key,
    places: &super::import::Places,
) -> Result<(ContactInput, bool), Vec<String>> {
    loosen(&mut object);
    let id_given = object.get("id").is_some_and(|v| !v.is_null());
    if key == Key::Email {
        match object.get("email") {
            Some(Value::String(e)) if !id_given && !e.trim().is_empty() => {
                let e = e.trim().to_string();
                object.insert("id".into(), e.into());
            }
            Some(_) => {}
            None => return Err(vec![format!("{}: is required to find the contact", places.of("email"))]),
        }
    }
    let patch = ContactPatch::parse(object).map_err(|found| {
        found
            .into_iter()
            .map(|p| {
                let root = p.field.split(['[', '.']).next().unwrap_or("").to_string();
                if root.is_empty() {
                    p.to_string()
                } else if root == p.field {
                    format!("{}: {}", places.of(&root), p.message)
                } else {
                    format!("{}: {p}", places.of(&root))
                }
            })
            .collect::<Vec<_>>()
    })?;
    let found = super::contacts::address_problems(patch.email.as_deref(), patch.phone.as_deref());
    if !found.is_empty() {
        return Err(found
            .into_iter()
            .map(|(field, message)| format!("{}: {message}", places.of(&field)))
            .collect());
    }
    Ok((patch.into(), id_given))
}

/// Writes a batch of good lines in one transaction, with the import's counts and errors.
async fn write(
    s: &Services,
    state: &mut State<'_>,
    lines: Vec<Line>,
    report: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<()> {
    let now = s.clock.now();
    let (counts, errors, refused) = crate::db::in_write(&s.db, async |tx| {
        let mut counts = state.counts.clone();
        let mut errors = state.errors.clone();
        let refused = write_lines(tx, lines, (state.options, &state.source), &mut counts, now).await?;
        for r in &refused {
            counts.refused += 1;
            if errors.len() < MAX_ERRORS {
                errors.push(r.clone());
            }
        }
        imports::progress(tx, state.id, &counts, &errors, now).await?;
        Ok::<_, Error>((counts, errors, refused))
    })
    .await?;
    for r in &refused {
        report(Progress::Refused(r));
    }
    state.counts = counts;
    state.errors = errors;
    report(Progress::Written(&state.counts));
    Ok(())
}

/// One contact of a batch: the lines that give it, merged in order.
struct Merged {
    first_line: u64,
    input: ContactInput,
}

/// Merges a later line's contact into an earlier one's, as two `PATCH`es would.
fn merge(into: &mut ContactInput, later: ContactInput) {
    into.email = later.email.or(into.email.take());
    into.phone = later.phone.or(into.phone.take());
    into.timezone = later.timezone.or(into.timezone);
    into.country = later.country.or(into.country.take());
    into.fields.extend(later.fields);
    into.tags.extend(later.tags);
    into.lists.extend(later.lists);
}

/// The contact's row with what the import gives merged in; `None` for a contact beyond the
/// custom-field limit.
fn merged_row(existing: Option<&ContactRow>, input: &ContactInput) -> Option<ContactRow> {
    let mut row = existing.cloned().unwrap_or_else(|| ContactRow {
        internal_id: 0,
        id: input.id.clone(),
        email: None,
        phone: None,
        timezone: None,
        country: None,
        fields: Map::new(),
    });
    row.email = input.email.clone().or(row.email);
    row.phone = input.phone.clone().or(row.phone);
    row.timezone = input.timezone.map(|z| z.name().to_string()).or(row.timezone);
    row.country = input.country.clone().or(row.country);
    row.fields.extend(input.fields.clone());
    (row.fields.len() <= flows::contact::MAX_FIELDS).then_some(row)
}

fn same_row(a: &ContactRow, b: &ContactRow) -> bool {
    (&a.email, &a.phone, &a.timezone, &a.country, &a.fields) == (&b.email, &b.phone, &b.timezone, &b.country, &b.fields)
}

/// The batch's contacts found (by id or e-mail), merged per contact, written where they
/// change, and given the tags and lists they lack; returns the lines refused here.
async fn write_lines(
    c: &impl ConnectionTrait,
    mut lines: Vec<Line>,
    (options, source): (&Options, &Source),
    counts: &mut Counts,
    now: DateTime<Utc>,
) -> Result<Vec<Refused>> {
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    if options.key == Key::Email {
        let emails: Vec<String> = lines.iter().filter_map(|l| l.input.email.clone()).collect();
        let found = bulk::ids_by_email(c, &emails).await?;
        for line in &mut lines {
            if let Some(id) = line.input.email.as_ref().and_then(|e| found.get(e)) {
                line.input.id = id.clone();
            } else if !line.id_given {
                line.input.id = line.input.email.clone().unwrap_or_default();
            }
        }
    }
    let mut order: Vec<String> = Vec::new();
    let mut merged: HashMap<String, Merged> = HashMap::with_capacity(lines.len());
    for line in lines {
        match merged.get_mut(&line.input.id) {
            Some(m) => merge(&mut m.input, line.input),
            None => {
                order.push(line.input.id.clone());
                merged.insert(
                    line.input.id.clone(),
                    Merged {
                        first_line: line.number,
                        input: line.input,
                    },
                );
            }
        }
    }
    let too_many = |line: u64| Refused {
        line,
        message: format!(
            "the contact would have more than {} custom fields",
            flows::contact::MAX_FIELDS
        ),
    };
    // New contacts first, in one statement that skips the ids already taken; then the
    // contacts that exist are read and written where the lines change them.
    let mut refused = Vec::new();
    let mut fresh = Vec::with_capacity(order.len());
    for id in &order {
        match merged_row(None, &merged[id].input) {
            Some(row) => fresh.push(row),
            None => refused.push(too_many(merged[id].first_line)),
        }
    }
    let inserted = bulk::insert_new(c, &fresh, now).await?;
    let rest: Vec<String> = fresh
        .into_iter()
        .filter(|r| !inserted.contains_key(&r.id))
        .map(|r| r.id)
        .collect();
    let existing = bulk::by_ids(c, &rest).await?;
    let mut writes = Vec::new();
    let mut kept: Vec<(&str, bool)> = order
        .iter()
        .filter(|id| inserted.contains_key(*id))
        .map(|id| (id.as_str(), true))
        .collect();
    for id in &rest {
        let m = &merged[id];
        let before = existing.get(id);
        match merged_row(before, &m.input) {
            None => refused.push(too_many(m.first_line)),
            Some(row) => {
                let changed = before.is_none_or(|b| !same_row(b, &row));
                if changed {
                    writes.push(row);
                }
                kept.push((id.as_str(), changed));
            }
        }
    }
    let written = bulk::write_contacts(c, &writes, now).await?;
    let internal = |id: &str| {
        inserted
            .get(id)
            .or_else(|| written.get(id))
            .copied()
            .or_else(|| existing.get(id).map(|r| r.internal_id))
    };
    let known: Vec<i64> = existing.values().map(|r| r.internal_id).collect();
    let active = bulk::active_tags(c, &known).await?;
    let member = bulk::memberships(c, &known).await?;
    let mut tags: Vec<(i64, &str)> = Vec::new();
    let mut lists: Vec<(i64, &str)> = Vec::new();
    let mut events: Vec<(i64, Event)> = Vec::new();
    for (id, changed) in kept {
        let Some(contact) = internal(id) else {
            return Err(Error::Inconsistent {
                what: format!("contact '{id}' was imported and has no row"),
                source: None,
            });
        };
        let input = &merged[id].input;
        let (before_tags, before_lists) = (tags.len(), lists.len());
        let mut seen = HashSet::new();
        for tag in &input.tags {
            if seen.insert(tag.as_str()) && !active.contains(&(contact, tag.clone())) {
                tags.push((contact, tag));
            }
        }
        let mut seen = HashSet::new();
        for list in &input.lists {
            if seen.insert(list.as_str()) && !member.contains(&(contact, list.clone())) {
                lists.push((contact, list));
            }
        }
        if options.events {
            for (_, tag) in &tags[before_tags..] {
                events.push((contact, event(id, "tag_added", (Some(tag), None), source, now)));
            }
            for (_, list) in &lists[before_lists..] {
                events.push((contact, event(id, "list_added", (None, Some(list)), source, now)));
            }
        }
        if inserted.contains_key(id) || !existing.contains_key(id) {
            counts.inserted += 1;
        } else if changed || tags.len() > before_tags || lists.len() > before_lists {
            counts.updated += 1;
        } else {
            counts.unchanged += 1;
        }
    }
    let lifetimes = bulk::lifetimes(c).await?;
    bulk::add_tags(c, &tags, source, now, &lifetimes).await?;
    bulk::join_lists(c, &lists, source, now).await?;
    if !events.is_empty() {
        let lines = events
            .iter()
            .map(|(contact, e)| {
                let mut line = json!({"action": e.kind, "source": source});
                if let Some(tag) = &e.tag {
                    line["tag"] = tag.clone().into();
                }
                if let Some(list) = &e.list {
                    line["list"] = list.clone().into();
                }
                (*contact, now, line)
            })
            .collect();
        journal::append_contact_lines(c, lines).await?;
        let queued: Vec<(i64, &Event)> = events.iter().map(|(c, e)| (*c, e)).collect();
        inbox::push_events(c, &queued, now).await?;
    }
    Ok(refused)
}

/// A tag or list change the import made, as the event the contacts API queues for it.
fn event(
    contact: &str,
    kind: &str,
    (tag, list): (Option<&str>, Option<&str>),
    source: &Source,
    now: DateTime<Utc>,
) -> Event {
    let mut data = Map::new();
    data.insert(RECORDED.into(), true.into());
    data.insert("source".into(), json!(source));
    Event {
        at: now,
        contact: contact.to_string(),
        kind: kind.to_string(),
        message: None,
        tag: tag.map(str::to_string),
        list: list.map(str::to_string),
        data,
    }
}
