//! The simulator behind `cairn simulate`: every contact through a flow on a virtual clock.
//!
//! Time jumps from one due instant to the next (a timer or an event), so weeks of journey take
//! milliseconds. Providers are captured: a send is accepted at once and journaled `sent`. The
//! same [`crate::step()`] the service uses decides everything, so the journal is what the
//! service would write.
//!
//! Ordering is total and deterministic: by time; at one instant, contacts entering at `start`
//! first (in contact order), then events (in input order), then due timers (in scheduling order).
//! An event at the very instant of a `wait_for_event` timeout therefore still counts.
//! `tag_added`/`tag_removed`/`list_added`/`list_removed` events (with `tag`/`list`) update the
//! contact before anything else sees them. Events dated before the start are not applied.
//!
//! When a `branch` reads message history ([`CompiledFlow::reads_messages`]), each accepted send
//! becomes one of the contact's [`MessageFact`]s (dated by the virtual clock), and an `opened`
//! or `clicked` event naming a message (by its id, or its send node's id: the contact's latest
//! message from that node) dates that message's last open or click before any journey hears
//! it, as the service's tracking does.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use chrono::{DateTime, Utc};

use crate::compiled::{CompiledFlow, Ix};
use crate::condition::Condition;
use crate::contact::{Changes, Contact, Facts, MessageFact, Source, SourceKind};
use crate::definition::Reentry;
use crate::effect::Effect;
use crate::entry::{self, Admitted, Audience};
use crate::event::Event;
use crate::journal::{Action, JournalEntry};
use crate::policy::Policy;
use crate::step::{Context, History, Input, step};
use crate::token::{RecordRef, Token};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub contacts: Vec<Contact>,
    /// Events in any order; they are applied by time (ties in the given order).
    pub events: Vec<Event>,
    pub start: DateTime<Utc>,
    /// Nothing after this instant is simulated.
    pub end: DateTime<Utc>,
    /// Saved segments that audiences name, by id or name; a segment not given here admits
    /// no one.
    pub segments: BTreeMap<String, Condition>,
}

/// Per-node counts and totals of a simulation.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub nodes: Vec<NodeSummary>,
    pub contacts: usize,
    pub tokens: usize,
    pub journal_lines: u64,
    /// Tokens that had not finished at the end of the simulated span.
    pub active: usize,
    /// Events that named a contact not in the scenario.
    pub unknown_contact_events: usize,
    /// Events dated before the start, which are not applied.
    pub events_before_start: usize,
    /// The last instant at which anything happened.
    pub last_activity: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NodeSummary {
    pub id: String,
    pub type_name: &'static str,
    /// Journal lines at this node by action name (`sent`, `exited`, …).
    pub actions: BTreeMap<&'static str, u64>,
    /// Tokens at this node when the simulation stopped.
    pub waiting_at_end: u64,
}

/// Runs the scenario, handing each journal line to `sink` in order.
pub fn simulate(
    flow: &CompiledFlow,
    policy: &Policy,
    scenario: Scenario,
    sink: &mut dyn FnMut(&JournalEntry),
) -> Summary {
    // A segment the scenario lacks holds for no one (`any` of nothing), without keeping the
    // other segments from resolving. Segments do not change during a simulation, so the
    // branches that name them are resolved once.
    let segments = &scenario.segments;
    let lookup = |name: &str| Some(segments.get(name).cloned().unwrap_or(Condition::Any(Vec::new())));
    let resolved;
    let flow = match flow.reads_segments() {
        false => flow,
        true => match flow.with_segments(&lookup) {
            Ok(f) => {
                resolved = f;
                &resolved
            }
            // Segments that include each other: callers refuse them before (see `check_segments`).
            Err(_) => flow,
        },
    };
    let mut sim = Sim::new(flow, policy, scenario.contacts, sink);
    let start = scenario.start;
    let end = scenario.end;
    sim.audiences = entry::audiences(flow)
        .map(|a| {
            let condition = a.condition();
            let condition = condition.resolve(&lookup).unwrap_or(condition);
            (a, condition)
        })
        .collect();
    // An audience that reads message history sees the simulated sends and their opens, as a
    // branch that reads it does.
    if !sim.track_messages && sim.audiences.iter().any(|(_, c)| c.reads_messages()) {
        sim.track_messages = true;
        sim.sent = vec![Vec::new(); sim.contacts.len()];
    }
    sim.enter_audience(start);
    sim.plan_runs(start, end);
    let mut events = scenario.events;
    events.sort_by_key(|e| e.at);
    sim.summary.events_before_start = events.iter().filter(|e| e.at < start).count();
    let mut events = events.into_iter().filter(|e| e.at >= start && e.at <= end).peekable();
    loop {
        let next_timer = sim.timers.peek().map(|Reverse((at, _, _))| *at);
        let next_event = events.peek().map(|e| e.at);
        let next_run = sim.runs.peek().map(|Reverse((at, _, _, _))| *at);
        if let Some(r) = next_run
            && next_event.is_none_or(|e| r <= e)
            && next_timer.is_none_or(|t| r <= t)
        {
            let Reverse((at, _, a, c)) = sim.runs.pop().expect("peeked");
            sim.run_admits(a, c, at);
            continue;
        }
        match (next_event, next_timer) {
            (Some(e), t) if t.is_none_or(|t| e <= t) => {
                let event = events.next().expect("peeked");
                sim.on_event(&event);
            }
            (_, Some(t)) if t <= end => {
                let Reverse((at, _, ix)) = sim.timers.pop().expect("peeked");
                if sim.scheduled[ix] == Some(at) {
                    sim.scheduled[ix] = None;
                    sim.advance(ix, Input::Wake, at);
                }
            }
            _ => break,
        }
    }
    sim.summary()
}

struct Sim<'a> {
    flow: &'a CompiledFlow,
    /// The flow's segment entries, each with its audience's condition (segments resolved).
    audiences: Vec<(Audience<'a>, Condition)>,
    /// Scheduled admissions: (instant, order, audience, contact), the earliest first.
    runs: BinaryHeap<Reverse<Admission>>,
    policy: &'a Policy,
    contacts: Vec<Contact>,
    /// Per contact, what was sent to them (kept only when a frequency cap needs it).
    histories: Vec<History>,
    track_sends: bool,
    /// Per contact, the messages this simulation sent them: (message id, node id, index in
    /// the contact's `messages`); kept only when a branch reads message history.
    sent: Vec<Vec<(String, String, usize)>>,
    track_messages: bool,
    by_id: HashMap<String, usize>,
    tokens: Vec<Token>,
    /// Contact index of each token.
    owner: Vec<usize>,
    /// The instant each token's live timer fires; heap entries that disagree are stale.
    scheduled: Vec<Option<DateTime<Utc>>>,
    /// Per contact, and per record for journeys started per record: how many entries it has
    /// made and how many are running.
    journeys: Vec<HashMap<Option<String>, Journeys>>,
    /// Per contact: how many journeys it has started, and their tokens.
    entries: Vec<u32>,
    tokens_of: Vec<Vec<usize>>,
    /// Per token: the record it is for (its key in `journeys`).
    keys: Vec<Option<String>>,
    timers: BinaryHeap<Reverse<(DateTime<Utc>, u64, usize)>>,
    seq: u64,
    sink: &'a mut dyn FnMut(&JournalEntry),
    node_actions: Vec<BTreeMap<&'static str, u64>>,
    summary: Summary,
}

/// A scheduled admission: (instant, order, audience, contact).
type Admission = (DateTime<Utc>, u64, usize, usize);

#[derive(Default, Clone)]
struct Journeys {
    entries: u32,
    running: u32,
}

impl<'a> Sim<'a> {
    fn new(
        flow: &'a CompiledFlow,
        policy: &'a Policy,
        contacts: Vec<Contact>,
        sink: &'a mut dyn FnMut(&JournalEntry),
    ) -> Self {
        let contacts_len = contacts.len();
        let by_id = contacts.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect();
        let journeys = vec![HashMap::new(); contacts.len()];
        let histories = vec![History::default(); contacts.len()];
        let track_messages = flow.reads_messages();
        let sent = vec![Vec::new(); if track_messages { contacts.len() } else { 0 }];
        let track_sends = policy
            .channels
            .values()
            .chain(flow.definition().policy.values())
            .any(|r| r.cap.is_some());
        let summary = Summary {
            contacts: contacts.len(),
            ..Summary::default()
        };
        Sim {
            flow,
            audiences: Vec::new(),
            runs: BinaryHeap::new(),
            policy,
            contacts,
            histories,
            track_sends,
            sent,
            track_messages,
            by_id,
            tokens: Vec::new(),
            owner: Vec::new(),
            scheduled: Vec::new(),
            journeys,
            entries: vec![0; contacts_len],
            tokens_of: vec![Vec::new(); contacts_len],
            keys: Vec::new(),
            timers: BinaryHeap::new(),
            seq: 0,
            sink,
            node_actions: vec![BTreeMap::new(); flow.node_count()],
            summary,
        }
    }

    /// At `start`, contacts enter through the segment entries that admit once (no schedule,
    /// no `on`) and that they match; when the flow has no segment entry, every contact enters
    /// through its first webhook entry (as if each had been posted to the flow's webhook).
    fn enter_audience(&mut self, start: DateTime<Utc>) {
        let flow = self.flow;
        let webhook = entry::webhook_entries(flow).next().map(|(ix, _)| ix);
        for c in 0..self.contacts.len() {
            if let (true, Some(ix)) = (self.audiences.is_empty(), webhook) {
                self.enter(c, ix, serde_json::Map::new(), start);
            }
            for a in 0..self.audiences.len() {
                if self.audiences[a].0.once() {
                    self.admit(a, c, start);
                }
            }
        }
    }

    /// Every scheduled admission from `start` to `end`: each run of each scheduled audience, at
    /// each contact's instant of it (their own zone's with `"timezone": "contact"`), except on
    /// their country's public holidays when the schedule skips `public`. A run in progress at
    /// `start` admits the contacts whose instant is still to come.
    fn plan_runs(&mut self, start: DateTime<Utc>, end: DateTime<Utc>) {
        let flow = self.flow;
        for a in 0..self.audiences.len() {
            let Some(schedule) = self.audiences[a].0.schedule() else {
                continue;
            };
            for run in schedule
                .next(self.policy, start, usize::MAX)
                .into_iter()
                .take_while(|r| r.first <= end)
            {
                for c in 0..self.contacts.len() {
                    let contact = &self.contacts[c];
                    let country = self.policy.country(contact);
                    if schedule.skips_contact(country.as_deref(), run.date).is_some() {
                        continue;
                    }
                    let (zone, _) = crate::geo::contact_zone(contact, flow.timezone(), self.policy.default_timezone);
                    let at = schedule.instant(run.date, zone);
                    if at >= start && at <= end {
                        self.seq += 1;
                        self.runs.push(Reverse((at, self.seq, a, c)));
                    }
                }
            }
        }
    }

    /// Whether audience `a` admits contact `c` at `now`.
    fn admits(&self, a: usize, c: usize, now: DateTime<Utc>) -> bool {
        let (data, changes) = (serde_json::Map::new(), Changes::default());
        let facts = Facts::new(&self.contacts[c], &data, &changes).at(now);
        let (audience, condition) = &self.audiences[a];
        entry::admitted(condition, &facts, audience.per()).is_some()
    }

    /// A scheduled run reaches contact `c`: they enter when they match now.
    fn run_admits(&mut self, a: usize, c: usize, now: DateTime<Utc>) {
        self.admit(a, c, now);
    }

    /// Contact `c` enters through audience `a` when they match at `now`: once, or once per
    /// matching record.
    fn admit(&mut self, a: usize, c: usize, now: DateTime<Utc>) {
        let (audience, condition) = &self.audiences[a];
        let ix = audience.ix;
        let (data, changes) = (serde_json::Map::new(), Changes::default());
        let facts = Facts::new(&self.contacts[c], &data, &changes).at(now);
        let refs: Vec<RecordRef> = match entry::admitted(condition, &facts, audience.per()) {
            None => return,
            Some(Admitted::Contact) => {
                self.enter(c, ix, serde_json::Map::new(), now);
                return;
            }
            Some(Admitted::Records(records)) => {
                let kind = audience.per().unwrap_or_default();
                records
                    .iter()
                    .map(|r| RecordRef {
                        kind: kind.to_string(),
                        id: r.id.clone(),
                    })
                    .collect()
            }
        };
        for record in refs {
            self.enter_for(c, ix, Some(record), now);
        }
    }

    /// Per audience, whether contact `c` is in it at `now` (`false` for audiences that do not
    /// admit on a match). Taken just before a change: a contact who stopped matching as time
    /// passed (a tag added more than 7 days ago no longer counts) counts as not matching, so
    /// the change that makes them match again admits them.
    fn matching(&self, c: usize, now: DateTime<Utc>) -> Vec<bool> {
        (0..self.audiences.len())
            .map(|a| self.audiences[a].0.on_match() && self.admits(a, c, now))
            .collect()
    }

    /// After contact `c` changed at `now`, the `on: match` audiences they did not match just
    /// before (`before`, from [`Sim::matching`]) and match now admit them.
    fn on_change(&mut self, c: usize, before: &[bool], now: DateTime<Utc>) {
        for (a, was) in before.iter().enumerate() {
            if self.audiences[a].0.on_match() && !was && self.admits(a, c, now) {
                self.admit(a, c, now);
            }
        }
    }

    fn enter(&mut self, c: usize, entry: Ix, data: serde_json::Map<String, serde_json::Value>, now: DateTime<Utc>) {
        self.start_journey(c, entry, data, None, now);
    }

    fn enter_for(&mut self, c: usize, entry: Ix, record: Option<RecordRef>, now: DateTime<Utc>) {
        self.start_journey(c, entry, serde_json::Map::new(), record, now);
    }

    fn start_journey(
        &mut self,
        c: usize,
        entry: Ix,
        data: serde_json::Map<String, serde_json::Value>,
        record: Option<RecordRef>,
        now: DateTime<Utc>,
    ) {
        // Re-entry counts per contact, or per contact and record.
        let key = record.as_ref().map(|r| r.id.clone());
        let j = self.journeys[c].entry(key.clone()).or_default();
        let allowed = match self.flow.definition().reentry {
            Reentry::AfterExit => j.running == 0,
            Reentry::Never => j.entries == 0,
            Reentry::Always => true,
        };
        if !allowed {
            return;
        }
        j.entries += 1;
        j.running += 1;
        self.entries[c] += 1;
        let contact = &self.contacts[c];
        let id = format!("{}.{}", contact.id, self.entries[c]);
        let mut token = Token::new(id, contact.id.clone(), &self.flow.node(entry).id, data, now);
        token.record = record;
        let ix = self.tokens.len();
        self.tokens.push(token);
        self.owner.push(c);
        self.keys.push(key);
        self.scheduled.push(None);
        self.tokens_of[c].push(ix);
        self.summary.tokens += 1;
        self.advance(ix, Input::Wake, now);
    }

    fn on_event(&mut self, event: &Event) {
        let Some(&c) = self.by_id.get(&event.contact) else {
            self.summary.unknown_contact_events += 1;
            return;
        };
        // Events that report a tag or list change are facts about the contact.
        if let Some(change) = event.contact_change() {
            let before = self.matching(c, event.at);
            let source = Source::of(SourceKind::Api);
            self.contacts[c].apply_at(&change, event.at, Some(source));
            self.on_change(c, &before, event.at);
        }
        if self.track_messages {
            self.note_seen(c, event);
        }
        let running: Vec<usize> = self.tokens_of[c]
            .iter()
            .copied()
            .filter(|t| !self.tokens[*t].is_finished())
            .collect();
        for ix in running {
            self.advance(ix, Input::Event(event), event.at);
        }
        let entries: Vec<Ix> = entry::entries_for_event(self.flow, event).map(|(ix, _)| ix).collect();
        for ix in entries {
            self.enter(c, ix, event.data.clone(), event.at);
        }
    }

    /// An `opened` or `clicked` event about a message this simulation sent dates its last open
    /// or click: the message with that id, else the contact's latest from the node so named.
    fn note_seen(&mut self, c: usize, event: &Event) {
        let Some(about) = event.message.as_deref() else { return };
        let sent = &self.sent[c];
        let found = sent
            .iter()
            .rev()
            .find(|(id, _, _)| id == about)
            .or_else(|| sent.iter().rev().find(|(_, node, _)| node == about));
        let Some(&(_, _, i)) = found else { return };
        let message = &mut self.contacts[c].messages[i];
        match event.kind.as_str() {
            "opened" => message.opened_at = Some(event.at),
            "clicked" => message.clicked_at = Some(event.at),
            _ => {}
        }
    }

    fn advance(&mut self, ix: usize, input: Input<'_>, now: DateTime<Utc>) {
        let c = self.owner[ix];
        if self.tokens[ix].is_finished() {
            return;
        }
        let transition = {
            let cx = Context {
                now,
                contact: &self.contacts[c],
                policy: self.policy,
                history: &self.histories[c],
            };
            step(self.flow, &self.tokens[ix], input, &cx)
        };
        if !transition.effects.is_empty() {
            self.summary.last_activity = Some(now);
        }
        let changes = transition.effects.iter().any(|e| {
            matches!(
                e,
                Effect::AddTag { .. }
                    | Effect::RemoveTag { .. }
                    | Effect::AddToList { .. }
                    | Effect::RemoveFromList { .. }
            )
        });
        let before = changes.then(|| self.matching(c, now));
        for effect in &transition.effects {
            match effect {
                Effect::Journal { node, action } => self.emit(now, ix, node, action.clone()),
                Effect::Send(out) => {
                    if self.track_sends {
                        self.histories[c].sends.push((out.channel, now));
                    }
                    if self.track_messages {
                        let messages = &mut self.contacts[c].messages;
                        self.sent[c].push((out.id.clone(), out.node.clone(), messages.len()));
                        messages.push(MessageFact {
                            flow: self.flow.name().to_string(),
                            node: out.node.clone(),
                            channel: out.channel,
                            sent_at: now,
                            opened_at: None,
                            clicked_at: None,
                        });
                    }
                    let action = Action::Sent {
                        channel: out.channel,
                        message: out.id.clone(),
                        to: out.to.clone(),
                    };
                    self.emit(now, ix, &out.node, action);
                }
                change @ (Effect::AddTag { .. }
                | Effect::RemoveTag { .. }
                | Effect::AddToList { .. }
                | Effect::RemoveFromList { .. }) => {
                    let source = Source::of(SourceKind::Flow);
                    self.contacts[c].apply_at(change, now, Some(source));
                }
            }
        }
        let token = transition.token;
        let finished = token.is_finished();
        let wake = token.wake_at();
        self.tokens[ix] = token;
        if finished {
            if let Some(j) = self.journeys[c].get_mut(&self.keys[ix]) {
                j.running -= 1;
            }
            self.scheduled[ix] = None;
        } else if wake != self.scheduled[ix] {
            self.scheduled[ix] = wake;
            if let Some(at) = wake {
                self.seq += 1;
                self.timers.push(Reverse((at, self.seq, ix)));
            }
        }
        if let Some(before) = before {
            self.on_change(c, &before, now);
        }
    }

    fn emit(&mut self, at: DateTime<Utc>, token: usize, node: &str, action: Action) {
        let c = self.owner[token];
        if let Some(ix) = self.flow.index_of(node) {
            *self.node_actions[ix].entry(action.name()).or_default() += 1;
        }
        self.summary.journal_lines += 1;
        let entry = JournalEntry {
            at,
            contact: self.contacts[c].id.clone(),
            node: node.to_string(),
            record: self.tokens[token].record.as_ref().map(|r| r.id.clone()),
            action,
        };
        (self.sink)(&entry);
    }

    fn summary(mut self) -> Summary {
        let flow = self.flow;
        let mut waiting = vec![0u64; flow.node_count()];
        for t in self.tokens.iter().filter(|t| !t.is_finished()) {
            if let Some(ix) = flow.index_of(&t.node) {
                waiting[ix] += 1;
            }
            self.summary.active += 1;
        }
        self.summary.nodes = (0..flow.node_count())
            .map(|ix| NodeSummary {
                id: flow.node(ix).id.clone(),
                type_name: flow.node(ix).kind.type_name(),
                actions: std::mem::take(&mut self.node_actions[ix]),
                waiting_at_end: waiting[ix],
            })
            .collect();
        self.summary
    }
}
