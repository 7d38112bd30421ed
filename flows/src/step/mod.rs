//! The token state machine: `step(flow, token, input, context) -> Transition`.
//!
//! Pure and deterministic: the same flow, token, input, contact and `now` give the same
//! transition. A step runs the token through as many nodes as it can at `now` and stops where
//! it must wait (a wait, a `wait_for_event`) or where the journey ends. Everything it wants done
//! comes back as ordered [`Effect`]s; nothing is performed here. A send node's own part (its
//! policy gate, the guard delivery re-checks, rendering) is in `send`; [`preview`] renders a
//! message outside any journey, with the same context.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::channel::Channel;
use crate::compiled::{CompiledFlow, Ix, Op, Until};
use crate::contact::{Changes, Contact, Facts};
use crate::effect::Effect;
use crate::event::Event;
use crate::geo::{self, ZoneSource};
use crate::journal::Action;
use crate::policy::{OpenTime, Openness, PUBLIC, Policy};
use crate::time::{next_anniversary, next_local_time, parse_date, resolve_local};
use crate::token::{Token, TokenState};
use send::Gate;

pub mod preview;
mod send;

/// Why the step is being taken.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A new token, or a timer came due (or anything else asks the token to look at the clock).
    Wake,
    /// An event happened to the token's contact.
    Event(&'a Event),
}

/// What the shell knows of a contact beyond their record: what was sent to them lately (for
/// frequency caps) and which of their addresses must not be used.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Messages queued for the contact by any flow: channel and when, oldest first. The shell
    /// includes at least the longest cap period.
    pub sends: Vec<(Channel, DateTime<Utc>)>,
    /// Suppressed addresses (hard bounces, unreachable numbers) with why.
    pub suppressed: BTreeMap<String, String>,
}

/// What a step reads besides the flow and the token.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub now: DateTime<Utc>,
    /// The token's contact as stored, before this step's changes.
    pub contact: &'a Contact,
    pub policy: &'a Policy,
    pub history: &'a History,
}

/// The result of a step: the token's new state and the effects, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub token: Token,
    pub effects: Vec<Effect>,
}

/// Advances `token` as far as it can go at `cx.now`.
pub fn step(flow: &CompiledFlow, token: &Token, input: Input<'_>, cx: &Context<'_>) -> Transition {
    let mut run = Run {
        flow,
        cx,
        token: token.clone(),
        effects: Vec::new(),
        changes: Changes::default(),
    };
    if let Input::Event(event) = input {
        run.note_message_event(event);
    }
    if run.token.is_finished() {
        return run.finish();
    }
    let Some(mut ix) = flow.index_of(&run.token.node) else {
        let reason = format!("node '{}' does not exist in this flow version", run.token.node);
        run.journal(Action::Failed { reason: reason.clone() });
        run.token.state = TokenState::Failed { reason };
        return run.finish();
    };
    let mut input = input;
    // A compiled flow is acyclic, so a token visits each node at most once per step.
    for _ in 0..=flow.node_count() {
        match run.visit(ix, input) {
            Visit::Next(next) => {
                ix = next;
                run.token.node = flow.node(next).id.clone();
                run.token.state = TokenState::Ready;
                input = Input::Wake;
            }
            Visit::Stop => break,
        }
    }
    run.finish()
}

enum Visit {
    /// Move along an edge and keep going.
    Next(Ix),
    /// The token waits or has finished; its state is set.
    Stop,
}

struct Run<'a> {
    flow: &'a CompiledFlow,
    cx: &'a Context<'a>,
    token: Token,
    effects: Vec<Effect>,
    /// Tag and list changes made in this step, visible to later nodes of the same step.
    changes: Changes,
}

impl Run<'_> {
    fn finish(self) -> Transition {
        Transition {
            token: self.token,
            effects: self.effects,
        }
    }

    fn journal(&mut self, action: Action) {
        self.effects.push(Effect::Journal {
            node: self.token.node.clone(),
            action,
        });
    }

    fn now(&self) -> DateTime<Utc> {
        self.cx.now
    }

    fn zone(&self) -> Tz {
        self.zone_and_source().0
    }

    fn zone_and_source(&self) -> (Tz, ZoneSource) {
        geo::contact_zone(self.cx.contact, self.flow.timezone(), self.cx.policy.default_timezone)
    }

    fn facts(&self) -> Facts<'_> {
        Facts::new(self.cx.contact, &self.token.data, &self.changes).at(self.cx.now)
    }

    /// Remembers an event about a message this journey sent.
    fn note_message_event(&mut self, event: &Event) {
        let Some(about) = &event.message else { return };
        if let Some(m) = self
            .token
            .messages
            .iter_mut()
            .find(|m| &m.id == about || &m.node == about)
            && !m.events.contains(&event.kind)
        {
            m.events.push(event.kind.clone());
        }
    }

    fn visit(&mut self, ix: Ix, input: Input<'_>) -> Visit {
        let flow = self.flow;
        match &flow.ops[ix] {
            Op::Enter { next } => {
                self.journal(Action::Entered);
                Visit::Next(*next)
            }
            Op::Send {
                channel,
                content,
                rules,
                next,
            } => {
                if let TokenState::Waiting { until } = self.token.state
                    && self.now() < until
                {
                    return Visit::Stop;
                }
                let flow_rules = flow.definition().policy.get(channel);
                let rules = self.cx.policy.rules(*channel, flow_rules, rules);
                let gate = self.gate(ix, *channel, &rules);
                if matches!(gate, Gate::Go(_) | Gate::Defer { .. }) && self.token.state == TokenState::Ready {
                    self.note_unknown_country(rules.holidays.as_deref().unwrap_or_default());
                }
                match gate {
                    Gate::Go(to) => {
                        let guard = self.guard(*channel, &rules);
                        self.send(*channel, content, to, guard);
                        Visit::Next(*next)
                    }
                    Gate::Skip(reason) => {
                        self.journal(Action::Skipped { reason });
                        Visit::Next(*next)
                    }
                    Gate::Fail(reason) => {
                        self.journal(Action::Failed { reason });
                        Visit::Next(*next)
                    }
                    Gate::Defer { until, reason, zoned } => self.defer(until, reason, zoned),
                }
            }
            Op::HolidayPause { calendar, next } => {
                let names = vec![calendar.clone().unwrap_or_else(|| PUBLIC.to_string())];
                if self.token.state == TokenState::Ready {
                    self.note_unknown_country(&names);
                }
                let country = self.cx.policy.country(self.cx.contact);
                let closed = |day: NaiveDate| self.cx.policy.closed(&names, country.as_deref(), day);
                let open = OpenTime {
                    zone: self.zone(),
                    window: None,
                    closed: &closed,
                };
                match open.check(self.now()) {
                    Openness::Open => Visit::Next(*next),
                    Openness::Closed { until, reason } => self.defer(until, reason, true),
                    Openness::Never { reason } => self.fail(reason),
                }
            }
            Op::Wait { duration, next } => {
                let until = match self.token.state {
                    TokenState::Waiting { until } => until,
                    _ => self.now() + duration.to_chrono(),
                };
                self.sleep(until, *next)
            }
            Op::WaitUntil { target, next } => {
                if let TokenState::Waiting { until } = self.token.state {
                    return self.sleep(until, *next);
                }
                match self.until(target) {
                    Ok(until) => self.sleep(until, *next),
                    Err(reason) => self.fail(reason),
                }
            }
            Op::WaitForEvent {
                event,
                message,
                timeout,
                on_event,
                on_timeout,
            } => match self.token.state.clone() {
                TokenState::AwaitingEvent { deadline, .. } => {
                    // An awaited event counts if it happened up to and including the deadline
                    // instant; the timeout fires after it, or when the deadline has passed.
                    let arrived = match input {
                        Input::Event(e) => self.awaited(e, event, message.as_deref()).then_some(e),
                        Input::Wake => None,
                    };
                    match arrived {
                        // Judged by when it happened, not when it is applied (a backlog).
                        Some(e) if e.at <= deadline => {
                            self.journal(Action::Event {
                                kind: e.kind.clone(),
                                message: e.message.clone(),
                            });
                            Visit::Next(*on_event)
                        }
                        _ if self.now() > deadline || (matches!(input, Input::Wake) && self.now() >= deadline) => {
                            self.journal(Action::TimedOut { kind: event.clone() });
                            Visit::Next(*on_timeout)
                        }
                        _ => Visit::Stop,
                    }
                }
                _ => {
                    let already = message.as_deref().and_then(|m| {
                        self.token
                            .messages
                            .iter()
                            .find(|s| s.node == m && s.events.contains(event))
                            .map(|s| s.id.clone())
                    });
                    if let Some(id) = already {
                        self.journal(Action::Event {
                            kind: event.clone(),
                            message: Some(id),
                        });
                        return Visit::Next(*on_event);
                    }
                    let deadline = self.now() + timeout.to_chrono();
                    self.token.state = TokenState::AwaitingEvent {
                        since: self.now(),
                        deadline,
                    };
                    self.journal(Action::Waiting {
                        until: deadline,
                        event: Some(event.clone()),
                    });
                    Visit::Stop
                }
            },
            Op::Branch { condition, yes, no } => {
                let taken = condition.holds(&self.facts());
                self.journal(Action::Branched {
                    edge: if taken { "yes" } else { "no" }.into(),
                });
                Visit::Next(if taken { *yes } else { *no })
            }
            Op::Split { arms, total } => {
                let mut point = bucket(flow.name(), &flow.node(ix).id, &self.token.contact, *total);
                for (name, weight, target) in arms {
                    if point < u64::from(*weight) {
                        self.journal(Action::Split { arm: name.clone() });
                        return Visit::Next(*target);
                    }
                    point -= u64::from(*weight);
                }
                unreachable!("a split's point is below the sum of its weights")
            }
            Op::ControlGroup { basis_points, next } => {
                let held_out = bucket(flow.name(), &flow.node(ix).id, &self.token.contact, 10_000) < *basis_points;
                self.journal(Action::ControlGroup { held_out });
                if held_out {
                    self.journal(Action::Exited);
                    self.token.state = TokenState::Exited;
                    return Visit::Stop;
                }
                Visit::Next(*next)
            }
            Op::Tag { add, tag, next } => {
                self.changes.tags.insert(tag.clone(), *add);
                if *add {
                    self.effects.push(Effect::AddTag { tag: tag.clone() });
                    self.journal(Action::TagAdded { tag: tag.clone() });
                } else {
                    self.effects.push(Effect::RemoveTag { tag: tag.clone() });
                    self.journal(Action::TagRemoved { tag: tag.clone() });
                }
                Visit::Next(*next)
            }
            Op::List { add, list, next } => {
                self.changes.lists.insert(list.clone(), *add);
                if *add {
                    self.effects.push(Effect::AddToList { list: list.clone() });
                    self.journal(Action::ListAdded { list: list.clone() });
                } else {
                    self.effects.push(Effect::RemoveFromList { list: list.clone() });
                    self.journal(Action::ListRemoved { list: list.clone() });
                }
                Visit::Next(*next)
            }
            Op::Exit => {
                self.journal(Action::Exited);
                self.token.state = TokenState::Exited;
                Visit::Stop
            }
        }
    }

    /// Waits at the current node until `until` (continues at once if it has passed).
    fn sleep(&mut self, until: DateTime<Utc>, next: Ix) -> Visit {
        if self.now() >= until {
            return Visit::Next(next);
        }
        if self.token.state != (TokenState::Waiting { until }) {
            self.token.state = TokenState::Waiting { until };
            self.journal(Action::Waiting { until, event: None });
        }
        Visit::Stop
    }

    /// Journals that public holidays are not applied when `calendars` name them and the
    /// contact's country is unknown (no `country` field, no phone that says it, no policy
    /// `default_country`).
    fn note_unknown_country(&mut self, calendars: &[String]) {
        if calendars.iter().any(|c| c == PUBLIC) && self.cx.policy.country(self.cx.contact).is_none() {
            self.journal(Action::Notice {
                reason: "no country known: public holidays not applied".into(),
            });
        }
    }

    /// Holds the token at the current node until `until` for a policy; journals `deferred`
    /// once per distinct `until`.
    fn defer(&mut self, until: DateTime<Utc>, reason: String, zoned: bool) -> Visit {
        if self.token.state != (TokenState::Waiting { until }) {
            self.token.state = TokenState::Waiting { until };
            let (zone, source) = self.zone_and_source();
            self.journal(Action::Deferred {
                until,
                reason,
                zone: zoned.then(|| zone.name().to_string()),
                zone_source: zoned.then_some(source),
            });
        }
        Visit::Stop
    }

    fn fail(&mut self, reason: String) -> Visit {
        self.journal(Action::Failed { reason: reason.clone() });
        self.token.state = TokenState::Failed { reason };
        Visit::Stop
    }

    fn awaited(&self, e: &Event, event: &str, message: Option<&str>) -> bool {
        if e.kind != event {
            return false;
        }
        let Some(node) = message else { return true };
        let Some(about) = e.message.as_deref() else {
            return false;
        };
        about == node || self.token.messages.iter().any(|s| s.node == node && s.id == about)
    }

    fn until(&self, target: &Until) -> Result<DateTime<Utc>, String> {
        let now = self.now();
        match target {
            Until::At(at) => Ok(*at),
            Until::TimeOfDay { time, days, zone } => Ok(next_local_time(now, zone.unwrap_or(self.zone()), *time, days)),
            Until::Field {
                path,
                anniversary,
                time,
                zone,
            } => {
                let tz = zone.unwrap_or(self.zone());
                let value = self.facts().lookup(path);
                let text = match &value {
                    Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
                    None | Some(Value::Null) | Some(Value::String(_)) => {
                        return Err(format!("field '{path}' is empty, so there is no date to wait for"));
                    }
                    Some(other) => return Err(format!("field '{path}' holds {other}, not a date (YYYY-MM-DD)")),
                };
                if !anniversary
                    && time.is_none()
                    && let Ok(instant) = DateTime::parse_from_rfc3339(text)
                {
                    return Ok(instant.with_timezone(&Utc));
                }
                let date = parse_date(text)
                    .ok_or_else(|| format!("field '{path}' holds '{text}', not a date (YYYY-MM-DD)"))?;
                let time = time.unwrap_or(chrono::NaiveTime::MIN);
                Ok(if *anniversary {
                    next_anniversary(now, tz, date, time)
                } else {
                    resolve_local(tz, date.and_time(time))
                })
            }
        }
    }
}

/// A point in `0..modulus`, fixed for (flow, node, contact): the same contact always lands in
/// the same split arm or control-group side. FNV-1a, then the splitmix64 finaliser to spread bits.
fn bucket(flow: &str, node: &str, contact: &str, modulus: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = flow
        .bytes()
        .chain([0xff])
        .chain(node.bytes())
        .chain([0xff])
        .chain(contact.bytes());
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    h % modulus.max(1)
}
