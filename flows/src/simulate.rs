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
use crate::contact::{Contact, MessageFact, Source, SourceKind};
use crate::definition::Reentry;
use crate::effect::Effect;
use crate::entry::{self, Audience};
use crate::event::Event;
use crate::journal::{Action, JournalEntry};
use crate::policy::Policy;
use crate::step::{Context, History, Input, step};
use crate::token::Token;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub contacts: Vec<Contact>,
    /// Events in any order; they are applied by time (ties in the given order).
    pub events: Vec<Event>,
    pub start: DateTime<Utc>,
    /// Nothing after this instant is simulated.
    pub end: DateTime<Utc>,
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
    let mut sim = Sim::new(flow, policy, scenario.contacts, sink);
    let start = scenario.start;
    let end = scenario.end;
    sim.enter_audience(start);
    let mut events = scenario.events;
    events.sort_by_key(|e| e.at);
    sim.summary.events_before_start = events.iter().filter(|e| e.at < start).count();
    let mut events = events.into_iter().filter(|e| e.at >= start && e.at <= end).peekable();
    loop {
        let next_timer = sim.timers.peek().map(|Reverse((at, _, _))| *at);
        let next_event = events.peek().map(|e| e.at);
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
    /// Per contact: its tokens, how many entries it has made and how many are running.
    journeys: Vec<Journeys>,
    timers: BinaryHeap<Reverse<(DateTime<Utc>, u64, usize)>>,
    seq: u64,
    sink: &'a mut dyn FnMut(&JournalEntry),
    node_actions: Vec<BTreeMap<&'static str, u64>>,
    summary: Summary,
}

#[derive(Default, Clone)]
struct Journeys {
    tokens: Vec<usize>,
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
        let by_id = contacts.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect();
        let journeys = vec![Journeys::default(); contacts.len()];
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
            timers: BinaryHeap::new(),
            seq: 0,
            sink,
            node_actions: vec![BTreeMap::new(); flow.node_count()],
            summary,
        }
    }

    /// At `start`, contacts enter through the segment entries they match; when the flow has no
    /// segment entry, every contact enters through its first webhook entry (as if each had been
    /// posted to the flow's webhook).
    fn enter_audience(&mut self, start: DateTime<Utc>) {
        let flow = self.flow;
        let audiences: Vec<Audience<'_>> = entry::audiences(flow).collect();
        let webhook = entry::webhook_entries(flow).next().map(|(ix, _)| ix);
        for c in 0..self.contacts.len() {
            if let (true, Some(ix)) = (audiences.is_empty(), webhook) {
                self.enter(c, ix, serde_json::Map::new(), start);
            }
            for audience in &audiences {
                if audience.admits(&self.contacts[c]) {
                    self.enter(c, audience.ix, serde_json::Map::new(), start);
                }
            }
        }
    }

    fn enter(&mut self, c: usize, entry: Ix, data: serde_json::Map<String, serde_json::Value>, now: DateTime<Utc>) {
        let j = &self.journeys[c];
        let allowed = match self.flow.definition().reentry {
            Reentry::AfterExit => j.running == 0,
            Reentry::Never => j.entries == 0,
            Reentry::Always => true,
        };
        if !allowed {
            return;
        }
        let j = &mut self.journeys[c];
        j.entries += 1;
        j.running += 1;
        let contact = &self.contacts[c];
        let id = format!("{}.{}", contact.id, j.entries);
        let token = Token::new(id, contact.id.clone(), &self.flow.node(entry).id, data, now);
        let ix = self.tokens.len();
        self.tokens.push(token);
        self.owner.push(c);
        self.scheduled.push(None);
        self.journeys[c].tokens.push(ix);
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
            let source = Source::of(SourceKind::Api);
            self.contacts[c].apply_at(&change, event.at, Some(source));
        }
        if self.track_messages {
            self.note_seen(c, event);
        }
        let running: Vec<usize> = self.journeys[c]
            .tokens
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
        for effect in &transition.effects {
            match effect {
                Effect::Journal { node, action } => self.emit(now, c, node, action.clone()),
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
                    self.emit(now, c, &out.node, action);
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
            self.journeys[c].running -= 1;
            self.scheduled[ix] = None;
        } else if wake != self.scheduled[ix] {
            self.scheduled[ix] = wake;
            if let Some(at) = wake {
                self.seq += 1;
                self.timers.push(Reverse((at, self.seq, ix)));
            }
        }
    }

    fn emit(&mut self, at: DateTime<Utc>, c: usize, node: &str, action: Action) {
        if let Some(ix) = self.flow.index_of(node) {
            *self.node_actions[ix].entry(action.name()).or_default() += 1;
        }
        self.summary.journal_lines += 1;
        let entry = JournalEntry {
            at,
            contact: self.contacts[c].id.clone(),
            node: node.to_string(),
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
