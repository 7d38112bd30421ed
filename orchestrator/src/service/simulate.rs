//! Simulating a flow on a virtual clock, for `cairn simulate` (files) and `POST /api/simulate`
//! (JSON): both read contacts and events by the same readers (`service::import`'s
//! [`contact_of`] and [`event_of`], which read a file's lines) and segments by [`segments_of`],
//! and run the same checks here ([`event_problems`], [`check_segments`]) before
//! `flows::simulate`, so the API's journal is the one the command prints.
//!
//! The API's simulation runs under the service's send policy, with the saved segments the
//! flow's audiences name taken from the database unless the request gives them, and is bounded
//! ([`MAX_CONTACTS`], [`MAX_EVENTS`], [`DEFAULT_HORIZON_DAYS`]) and run off the async runtime.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use flows::condition::{Condition, parse_condition};
use flows::simulate::Scenario;
use flows::{CompiledFlow, Contact, Event, FieldProblem, JournalEntry, entry};
use serde_json::{Map, Value};

use super::import::{contact_of, event_of};
use super::{Error, Result, Services};

/// The longest a simulation runs without a span of its own.
pub const DEFAULT_HORIZON_DAYS: i64 = 90;
/// The most contacts `POST /api/simulate` takes.
pub const MAX_CONTACTS: usize = 1_000;
/// The most events `POST /api/simulate` takes.
pub const MAX_EVENTS: usize = 10_000;

/// Saved segments given by name, `{"<name>": <condition>}`, each condition read strictly (as a
/// saved segment's is by the API); a problem's field is the segment's name.
pub fn segments_of(object: Map<String, Value>) -> Result<BTreeMap<String, Condition>, Vec<FieldProblem>> {
    let mut segments = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, value) in object {
        match parse_condition(value) {
            Ok(condition) => {
                segments.insert(name, condition);
            }
            Err(found) => problems.extend(
                found
                    .iter()
                    .map(|p| FieldProblem::new(name.clone(), p.to_string()).saying(format!("segment '{name}': {p}"))),
            ),
        }
    }
    if problems.is_empty() {
        Ok(segments)
    } else {
        Err(problems)
    }
}

/// Every segment an audience names (in `segments`, `exclude_segments` or its `condition`) or a
/// branch names must be given, so that a misspelt name is an error rather than an audience that admits no one.
/// `missing` ends the message about one that is not given (`is not in segments.json`).
pub fn check_segments(
    flow: &CompiledFlow,
    segments: &BTreeMap<String, Condition>,
    missing: &str,
) -> Result<(), flows::Problems> {
    let lookup = |name: &str| segments.get(name).cloned();
    let mut problems = Vec::new();
    for audience in entry::audiences(flow) {
        if audience.condition().resolve(&lookup).is_ok() {
            continue;
        }
        let e = audience.entry;
        let lists = [("segments", &e.segments), ("exclude_segments", &e.exclude_segments)];
        for name in audience.condition().segments() {
            let message = match Condition::Segment(name.to_string()).resolve(&lookup) {
                Ok(_) => continue,
                Err(_) if !segments.contains_key(name) => format!("segment '{name}' {missing}"),
                Err(why) => format!("segment '{name}': {why}"),
            };
            let field = lists
                .iter()
                .find_map(|(key, names)| names.iter().position(|n| n == name).map(|i| format!("{key}[{i}]")))
                .unwrap_or_else(|| "condition".to_string());
            problems.push(flows::Problem {
                node: Some(audience.node.id.clone()),
                field: Some(field),
                message,
                line: None,
                column: None,
            });
        }
    }
    for (node, name) in flow.branch_segments() {
        let message = match Condition::Segment(name.to_string()).resolve(&lookup) {
            Ok(_) => continue,
            Err(_) if !segments.contains_key(name) => format!("segment '{name}' {missing}"),
            Err(why) => format!("segment '{name}': {why}"),
        };
        problems.push(flows::Problem {
            node: Some(node.to_string()),
            field: Some("condition".into()),
            message,
            line: None,
            column: None,
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(flows::Problems(problems))
    }
}

/// Events must name one of the contacts and happen no earlier than `start`: each problem with
/// the index of its event.
pub fn event_problems(events: &[Event], contacts: &[Contact], start: DateTime<Utc>) -> Vec<(usize, FieldProblem)> {
    let known: HashSet<&str> = contacts.iter().map(|c| c.id.as_str()).collect();
    let mut problems = Vec::new();
    for (i, event) in events.iter().enumerate() {
        if !known.contains(event.contact.as_str()) {
            let id = &event.contact;
            let p = FieldProblem::new("contact", format!("'{id}' is not one of the contacts"))
                .saying(format!("contact '{id}' is not in the contacts file"));
            problems.push((i, p));
        }
        if event.at < start {
            let at = event.at.to_rfc3339();
            let p = FieldProblem::new("at", format!("{at} is before the simulation starts ({start})"))
                .saying(format!("event at {at} is before the simulation starts ({start})"));
            problems.push((i, p));
        }
    }
    problems
}

/// What `POST /api/simulate` is asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub flow: Value,
    pub contacts: Vec<Value>,
    pub events: Vec<Value>,
    /// Default: the service clock's now.
    pub start: Option<DateTime<Utc>>,
    /// Default: until every journey ends, at most [`DEFAULT_HORIZON_DAYS`].
    pub span: Option<flows::Duration>,
    /// Segments by name; saved segments fill in the names not given.
    pub segments: Option<Map<String, Value>>,
}

/// What a simulation did.
#[derive(Debug, Clone)]
pub struct Simulated {
    pub start: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The journal, line by line, as `cairn simulate` prints it.
    pub journal: Vec<JournalEntry>,
    /// Per contact, the nodes its journal lines name, in order (a node named by several lines
    /// in a row once).
    pub paths: BTreeMap<String, Vec<String>>,
}

/// Simulates `request.flow` for its contacts and events under the service's send policy.
/// A flow that does not compile is its problems; a bad contact, event or segment names its
/// place (`contacts[3].timezone`, `events[0].at`, `segments.vip`).
pub async fn simulate(s: &Services, request: Request) -> Result<Simulated> {
    let policy = s.policy.get();
    let (flow, _) = super::flows::compile(&policy, request.flow)?;
    let mut problems = Vec::new();
    if request.contacts.len() > MAX_CONTACTS {
        problems.push(("contacts".to_string(), format!("at most {MAX_CONTACTS} contacts")));
    }
    if request.events.len() > MAX_EVENTS {
        problems.push(("events".to_string(), format!("at most {MAX_EVENTS} events")));
    }
    if !problems.is_empty() {
        return Err(Error::Fields(problems));
    }
    let mut ids = HashSet::new();
    let contacts = read_all("contacts", request.contacts, &mut problems, |o| contact_of(o, &mut ids));
    let events = read_all("events", request.events, &mut problems, event_of);
    let mut segments = crate::store::segments::conditions(&s.db).await?;
    match request.segments.map(segments_of).transpose() {
        Ok(given) => segments.extend(given.unwrap_or_default()),
        Err(found) => problems.extend(found.into_iter().map(|p| (format!("segments.{}", p.field), p.message))),
    }
    if !problems.is_empty() {
        return Err(Error::Fields(problems));
    }
    let start = request.start.unwrap_or_else(|| s.clock.now());
    let span = request
        .span
        .map(flows::Duration::to_chrono)
        .unwrap_or_else(|| chrono::TimeDelta::days(DEFAULT_HORIZON_DAYS));
    if span > chrono::TimeDelta::days(DEFAULT_HORIZON_DAYS) {
        return Err(Error::field("for", format!("at most {DEFAULT_HORIZON_DAYS}d")));
    }
    let until = start
        .checked_add_signed(span)
        .ok_or_else(|| Error::field("start", "plus the span is beyond the calendar"))?;
    let problems: Vec<(String, String)> = event_problems(&events, &contacts, start)
        .into_iter()
        .map(|(i, p)| (format!("events[{i}].{}", p.field), p.message))
        .collect();
    if !problems.is_empty() {
        return Err(Error::Fields(problems));
    }
    check_segments(&flow, &segments, "is neither given in 'segments' nor saved")?;
    let scenario = Scenario {
        contacts,
        events,
        start,
        end: until,
        segments,
    };
    let journal = tokio::task::spawn_blocking(move || {
        let mut journal = Vec::new();
        flows::simulate::simulate(&flow, &policy, scenario, &mut |line| journal.push(line.clone()));
        journal
    })
    .await
    .map_err(|e| Error::Inconsistent {
        what: "the simulation stopped".into(),
        source: Some(Box::new(e)),
    })?;
    Ok(Simulated {
        start,
        until,
        paths: paths(&journal),
        journal,
    })
}

/// Each value of `items` read as an object by `read`; problems named `<what>[<index>].<field>`.
fn read_all<T>(
    what: &str,
    items: Vec<Value>,
    problems: &mut Vec<(String, String)>,
    mut read: impl FnMut(Map<String, Value>) -> Result<T, Vec<FieldProblem>>,
) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(object) = item else {
            problems.push((format!("{what}[{i}]"), "must be an object".into()));
            continue;
        };
        match read(object) {
            Ok(value) => out.push(value),
            Err(found) => problems.extend(found.into_iter().map(|p| {
                let field = match p.field.as_str() {
                    "" => format!("{what}[{i}]"),
                    f => format!("{what}[{i}].{f}"),
                };
                (field, p.message)
            })),
        }
    }
    out
}

/// Per contact, the nodes its journal names, in order, a node once per run of lines.
fn paths(journal: &[JournalEntry]) -> BTreeMap<String, Vec<String>> {
    let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in journal {
        let path = paths.entry(line.contact.clone()).or_default();
        if path.last() != Some(&line.node) {
            path.push(line.node.clone());
        }
    }
    paths
}
