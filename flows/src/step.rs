//! The token state machine: `step(flow, token, input, context) -> Transition`.
//!
//! Pure and deterministic: the same flow, token, input, contact and `now` give the same
//! transition. A step runs the token through as many nodes as it can at `now` and stops where
//! it must wait (a wait, a `wait_for_event`) or where the journey ends. Everything it wants done
//! comes back as ordered [`Effect`]s; nothing is performed here.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::channel::Channel;
use crate::compiled::{CompiledFlow, ContentTemplates, Ix, Op, Until};
use crate::contact::{Changes, Contact, Facts};
use crate::effect::{Content, Effect, Outbound};
use crate::event::Event;
use crate::geo::{self, ZoneSource};
use crate::journal::Action;
use crate::policy::{CapAction, Guard, OpenTime, Openness, PUBLIC, Policy, SendRules};
use crate::template::TemplateId;
use crate::time::{next_anniversary, next_local_time, parse_date, resolve_local};
use crate::token::{SentMessage, Token, TokenState};

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

/// A send's verdict from its policy.
enum Gate {
    /// Send now, to this address.
    Go(String),
    Skip(String),
    Fail(String),
    /// Wait until `until`; `zoned` when the reason is about local time.
    Defer {
        until: DateTime<Utc>,
        reason: String,
        zoned: bool,
    },
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
        Facts::new(self.cx.contact, &self.token.data, &self.changes)
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

    /// Holds the token at the current node until `until` for a policy; journals `deferred`
    /// once per distinct `until`.
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

    /// Whether a send may go now: the address, the frequency cap, the pace (on arrival only),
    /// then the window and closed days in the contact's zone.
    fn gate(&self, ix: Ix, channel: Channel, rules: &SendRules) -> Gate {
        let contact = self.cx.contact;
        let address = match channel {
            Channel::Email => contact.email.clone().filter(|e| !e.trim().is_empty()),
            Channel::Sms => contact.phone.clone().filter(|p| !p.trim().is_empty()),
            Channel::Push => Some(contact.id.clone()),
            Channel::Webhook => Some(String::new()),
        };
        let Some(to) = address else {
            let what = if channel == Channel::Email {
                "email address"
            } else {
                "phone number"
            };
            return Gate::Fail(format!("contact has no {what}"));
        };
        let checked = match channel {
            Channel::Email => geo::check_email(&to),
            Channel::Sms => geo::phone_digits(&to).map(|_| ()),
            Channel::Push | Channel::Webhook => Ok(()),
        };
        if let Err(reason) = checked {
            return Gate::Skip(reason);
        }
        if let Some(why) = geo::suppression_key(channel, &to).and_then(|k| self.cx.history.suppressed.get(&k)) {
            return Gate::Skip(format!("address {} is suppressed: {why}", to.trim()));
        }
        let now = self.now();
        if let Some(cap) = &rules.cap {
            let since = now - cap.per.to_chrono();
            // Sends made earlier in this same step count too.
            let this_step = self.effects.iter().filter_map(|e| match e {
                Effect::Send(o) if o.channel == channel => Some(now),
                _ => None,
            });
            let recent: Vec<DateTime<Utc>> = self
                .cx
                .history
                .sends
                .iter()
                .filter(|(c, at)| *c == channel && *at > since && *at <= now)
                .map(|(_, at)| *at)
                .chain(this_step)
                .collect();
            if recent.len() >= cap.max as usize {
                let reason = format!("frequency cap: {} {channel} per {} reached", cap.max, cap.per);
                return match cap.then {
                    CapAction::Skip => Gate::Skip(reason),
                    CapAction::Defer => {
                        let oldest = recent.iter().min().copied().unwrap_or(now);
                        Gate::Defer {
                            until: (oldest + cap.per.to_chrono()).max(now + TimeDelta::seconds(1)),
                            reason,
                            zoned: false,
                        }
                    }
                };
            }
        }
        let names = rules.holidays.clone().unwrap_or_default();
        let country = self.cx.policy.country(contact);
        let closed = |day: NaiveDate| self.cx.policy.closed(&names, country.as_deref(), day);
        let open = OpenTime {
            zone: self.zone(),
            window: rules.window.as_ref(),
            closed: &closed,
        };
        if let Some(pace) = &rules.pace
            && self.token.state == TokenState::Ready
        {
            let fraction = bucket(self.flow.name(), &self.flow.node(ix).id, &self.token.contact, 1 << 20) as f64
                / f64::from(1u32 << 20);
            match open.paced(now, pace, fraction) {
                Some(at) if at > now => {
                    let over = match (&pace.over, pace.days) {
                        (Some(d), _) => format!("over {d}"),
                        (None, Some(n)) => format!("over the open time of the next {n} days"),
                        (None, None) => String::new(),
                    };
                    return Gate::Defer {
                        until: at,
                        reason: format!("paced {over}"),
                        zoned: true,
                    };
                }
                Some(_) => {}
                None => return Gate::Skip("no open time to pace this send into".into()),
            }
        }
        match open.check(now) {
            Openness::Open => Gate::Go(to),
            Openness::Closed { until, reason } => Gate::Defer {
                until,
                reason,
                zoned: true,
            },
            Openness::Never { reason } => Gate::Skip(reason),
        }
    }

    /// What delivery re-checks before it sends: the open time (closed days within the horizon)
    /// and the throttles of the channel and of the flow.
    fn guard(&self, channel: Channel, rules: &SendRules) -> Option<Guard> {
        let names = rules.holidays.clone().unwrap_or_default();
        let country = self.cx.policy.country(self.cx.contact);
        let zone = self.zone();
        let today = self.now().with_timezone(&zone).date_naive();
        let closed: BTreeMap<NaiveDate, String> = if names.is_empty() {
            BTreeMap::new()
        } else {
            let to = today + TimeDelta::days(crate::policy::HORIZON_DAYS);
            self.cx.policy.closed_between(&names, country.as_deref(), today, to)
        };
        let mut throttles = Vec::new();
        if let Some(rate) = self.cx.policy.channels.get(&channel).and_then(|r| r.throttle) {
            throttles.push((format!("channel:{channel}"), rate));
        }
        if let Some(rate) = self.flow.definition().policy.get(&channel).and_then(|r| r.throttle) {
            throttles.push((format!("flow:{}:{channel}", self.flow.name()), rate));
        }
        let guard = Guard {
            zone: zone.name().to_string(),
            window: rules.window.clone(),
            closed,
            throttles,
        };
        (guard.restricts_time() || !guard.throttles.is_empty()).then_some(guard)
    }

    fn send(&mut self, channel: Channel, content: &ContentTemplates, mut to: String, guard: Option<Guard>) {
        let facts = self.facts();
        let context_json = serde_json::json!({"contact": facts.contact_object(), "data": facts.data()});
        let context = minijinja::Value::from_serialize(&context_json);
        let rendered = match self.render(content, &context, &context_json) {
            Ok((content, url)) => {
                if let Some(url) = url {
                    to = url;
                }
                content
            }
            Err(reason) => {
                self.journal(Action::Failed { reason });
                return;
            }
        };
        let node = self.token.node.clone();
        let id = format!("{}.{}", self.token.id, node);
        self.token.messages.retain(|m| m.node != node);
        self.token.messages.push(SentMessage {
            node: node.clone(),
            id: id.clone(),
            events: Vec::new(),
        });
        self.effects.push(Effect::Send(Box::new(Outbound {
            id,
            node,
            channel,
            to,
            content: rendered,
            guard,
        })));
    }

    /// Renders a message; for webhooks also returns the rendered URL (the address).
    fn render(
        &self,
        content: &ContentTemplates,
        context: &minijinja::Value,
        context_json: &Value,
    ) -> Result<(Content, Option<String>), String> {
        let t = &self.flow.templates;
        let r = |id: &TemplateId| t.render(id, context);
        let opt = |id: &Option<TemplateId>| id.as_ref().map(|id| t.render(id, context)).transpose();
        Ok(match content {
            ContentTemplates::Email {
                subject,
                html,
                text,
                from,
            } => (
                Content::Email {
                    subject: r(subject)?,
                    html: r(html)?,
                    text: opt(text)?,
                    from: from.clone(),
                },
                None,
            ),
            ContentTemplates::Sms { text } => (Content::Sms { text: r(text)? }, None),
            ContentTemplates::Push { title, body, url } => (
                Content::Push {
                    title: r(title)?,
                    body: r(body)?,
                    url: opt(url)?,
                },
                None,
            ),
            ContentTemplates::Webhook {
                method,
                url,
                headers,
                body,
            } => {
                let url = r(url)?;
                if !crate::values::is_http_url(&url) {
                    return Err(format!("webhook URL '{url}' is not an http:// or https:// URL"));
                }
                let headers = headers
                    .iter()
                    .map(|(k, v)| {
                        let value = r(v)?;
                        if value.contains(['\r', '\n']) {
                            return Err(format!("header '{k}' would contain a line break"));
                        }
                        Ok((k.clone(), value))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                let body = match body {
                    Some(b) => r(b)?,
                    None => {
                        let json = context_json.to_string();
                        let limit = crate::template::limits::WEBHOOK_BODY;
                        if json.len() > limit.bytes {
                            return Err(crate::template::over_limit("body", limit));
                        }
                        json
                    }
                };
                (
                    Content::Webhook {
                        method: *method,
                        headers,
                        body,
                    },
                    Some(url),
                )
            }
        })
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
