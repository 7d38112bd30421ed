//! A send node's part of a step: whether its policy lets the message go now ([`Gate`]: the
//! address, the frequency cap, the pace, the window and closed days), what delivery must still
//! respect when it sends (the guard), and the message rendered from its templates.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::Value;

use super::{Run, bucket};
use crate::channel::Channel;
use crate::compiled::{ContentTemplates, Ix};
use crate::contact::Facts;
use crate::effect::{Content, Effect, Outbound};
use crate::geo;
use crate::journal::Action;
use crate::policy::{CapAction, Guard, OpenTime, Openness, SendRules};
use crate::template::TemplateId;
use crate::token::{SentMessage, TokenState};

/// A send's verdict from its policy.
pub(super) enum Gate {
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

/// What a message's templates see: `contact` (fields, tags, lists), `data` (the entry data),
/// `records` (related records by type) and `record` (the journey's own, or null). Sends and
/// previews build it here, so a preview shows what a send would.
pub(super) fn context_json(facts: &Facts<'_>, record: Value) -> Value {
    serde_json::json!({
        "contact": facts.contact_object(),
        "data": facts.data(),
        "records": facts.records_object(),
        "record": record,
    })
}

impl Run<'_> {
    /// Whether a send may go now: the address, the frequency cap, the pace (on arrival only),
    /// then the window and closed days in the contact's zone.
    pub(super) fn gate(&self, ix: Ix, channel: Channel, rules: &SendRules) -> Gate {
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
    pub(super) fn guard(&self, channel: Channel, rules: &SendRules) -> Option<Guard> {
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

    /// The record this journey is for (`{{record.<field>}}`), with its `id`; null when the
    /// journey is the contact's, or the record is gone.
    fn record_object(&self) -> serde_json::Value {
        let Some(r) = &self.token.record else {
            return serde_json::Value::Null;
        };
        let Some(record) = self
            .cx
            .contact
            .records
            .get(&r.kind)
            .and_then(|all| all.iter().find(|x| x.id == r.id))
        else {
            return serde_json::Value::Null;
        };
        let mut object = record.fields.clone();
        object.insert("id".into(), serde_json::Value::String(record.id.clone()));
        serde_json::Value::Object(object)
    }

    pub(super) fn send(&mut self, channel: Channel, content: &ContentTemplates, mut to: String, guard: Option<Guard>) {
        let context_json = context_json(&self.facts(), self.record_object());
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
    pub(super) fn render(
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
                        // The contact and the entry data; records only through templates.
                        let body =
                            serde_json::json!({"contact": context_json["contact"], "data": context_json["data"]});
                        let json = body.to_string();
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
