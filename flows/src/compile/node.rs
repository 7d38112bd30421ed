//! Per-node lowering: each node's parameters and edges checked, and the node turned into its
//! [`Op`] with templates compiled and successors resolved.

use std::collections::{BTreeMap, HashMap};

use petgraph::algo::has_path_connecting;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};

use super::graph::Slot;
use crate::channel::Channel;
use crate::compiled::{ContentTemplates, Ix, Op, Until};
use crate::definition::*;
use crate::policy::SendRules;
use crate::problem::Problem;
use crate::template::{EMAIL_PARTS, Escape, FieldSpec, Limit, TemplateId, Templates, limits};
use crate::values::is_http_url;

/// Checks one node and builds its [`Op`]; problems go to the shared list.
pub(super) struct NodeCheck<'a> {
    pub node: &'a Node,
    pub slots: &'a [Slot<'a>],
    /// Outgoing edges grouped by label: target definition indices.
    pub out: BTreeMap<Option<String>, Vec<Ix>>,
    /// The node has an edge to a missing node (already reported).
    pub dangling: bool,
    /// Bad fields taken out of the node (and reported): a check that a field is absent would only
    /// echo them, so such checks ask [`NodeCheck::was_taken_out`] first.
    pub taken_out: &'a [String],
    pub problems: &'a mut Vec<Problem>,
    pub templates: &'a mut Templates,
}

impl NodeCheck<'_> {
    fn was_taken_out(&self, field: &str) -> bool {
        self.taken_out.iter().any(|f| f == field)
    }

    fn problem(&mut self, field: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem::at(Some(&self.node.id), field, message));
    }

    fn target_name(&self, ix: Ix) -> &str {
        self.slots[ix].id
    }

    /// The single unlabelled successor of a node that continues along one edge.
    fn one_next(&mut self) -> Option<Ix> {
        let type_name = self.node.kind.type_name();
        let mut result = None;
        let out = std::mem::take(&mut self.out);
        let total: usize = out.values().map(Vec::len).sum();
        for (label, targets) in &out {
            if let Some(label) = label {
                for t in targets {
                    let msg = format!(
                        "edge to '{}' has label '{label}', but a {type_name} node's edge has no label",
                        self.target_name(*t)
                    );
                    self.problem(None, msg);
                }
            }
        }
        match total {
            0 if self.dangling => {}
            0 => self.problem(None, "has no outgoing edge; connect it to the next step or to an exit"),
            1 => result = out.get(&None).and_then(|t| t.first().copied()),
            n => self.problem(
                None,
                format!("has {n} outgoing edges, but a {type_name} node continues along exactly one"),
            ),
        }
        result
    }

    /// One successor per expected label; every other edge is a problem.
    fn labelled(&mut self, expected: &[&str]) -> Option<Vec<Ix>> {
        let type_name = self.node.kind.type_name();
        let out = std::mem::take(&mut self.out);
        let wanted = expected.iter().map(|l| format!("'{l}'")).collect::<Vec<_>>().join(", ");
        for (label, targets) in &out {
            match label {
                None => {
                    for t in targets {
                        let msg = format!(
                            "edge to '{}' needs a label ('when'): one of {wanted}",
                            self.target_name(*t)
                        );
                        self.problem(None, msg);
                    }
                }
                Some(l) if !expected.contains(&l.as_str()) => {
                    for t in targets {
                        let msg = format!(
                            "edge to '{}' has unknown label '{l}'; a {type_name} node's edges are {wanted}",
                            self.target_name(*t)
                        );
                        self.problem(None, msg);
                    }
                }
                Some(l) if targets.len() > 1 => {
                    self.problem(
                        None,
                        format!("has {} edges labelled '{l}'; it needs exactly one", targets.len()),
                    );
                }
                Some(_) => {}
            }
        }
        let mut result = Vec::with_capacity(expected.len());
        for l in expected {
            match out.get(&Some((*l).to_string())) {
                Some(t) if t.len() == 1 => result.push(t[0]),
                Some(_) => {}
                None if self.dangling => {}
                None => self.problem(None, format!("has no '{l}' edge")),
            }
        }
        (result.len() == expected.len()).then_some(result)
    }

    fn template(&mut self, field: &str, source: &str, escape: Escape, limit: Limit) -> Option<TemplateId> {
        if source.trim().is_empty() {
            self.problem(Some(field), "is empty");
            return None;
        }
        let spec = FieldSpec { field, escape, limit };
        match self.templates.add(&self.node.id, spec, source) {
            Ok(id) => Some(id),
            Err(message) => {
                self.problem(Some(field), message);
                None
            }
        }
    }

    fn optional_template(
        &mut self,
        field: &str,
        source: &Option<String>,
        escape: Escape,
        limit: Limit,
    ) -> Result<Option<TemplateId>, ()> {
        match source {
            None => Ok(None),
            Some(s) => self.template(field, s, escape, limit).map(Some).ok_or(()),
        }
    }

    /// The node's send rules, reporting any problem with them.
    fn send_rules(&mut self) -> SendRules {
        let rules = self.node.kind.send_rules();
        for (field, message) in rules.check("", None, true) {
            self.problem(Some(&field), message);
        }
        rules
    }

    fn non_empty(&mut self, field: &str, value: &str) -> bool {
        if value.trim().is_empty() {
            self.problem(Some(field), "is empty");
            return false;
        }
        true
    }

    /// The node's [`Op`], when the node is sound.
    pub(super) fn compile(
        &mut self,
        graph: &StableDiGraph<Ix, Option<String>>,
        ids: &HashMap<String, Ix>,
        at: &[Option<NodeIndex>],
    ) -> Option<Op> {
        let node = self.node;
        if node.id.chars().any(char::is_control) {
            self.problem(Some("id"), "must not contain control characters");
        }
        Some(match &node.kind {
            NodeKind::WebhookEntry(_) => Op::Enter { next: self.one_next()? },
            NodeKind::SegmentEntry(e) => {
                let mut found = Vec::new();
                if let Some(condition) = &e.condition {
                    condition.check("condition", &mut found);
                }
                for (field, names) in [
                    ("lists", &e.lists),
                    ("segments", &e.segments),
                    ("exclude_lists", &e.exclude_lists),
                    ("exclude_segments", &e.exclude_segments),
                ] {
                    for (i, name) in names.iter().enumerate() {
                        if name.trim().is_empty() {
                            found.push((format!("{field}[{i}]"), "is empty".to_string()));
                        }
                    }
                }
                if let Some(schedule) = &e.schedule {
                    for (field, message) in schedule.problems() {
                        found.push((format!("schedule.{field}"), message));
                    }
                }
                if let Some(p) = e.per.as_deref().and_then(|per| crate::names::name_problem("per", per)) {
                    found.push((p.field, p.message));
                }
                let ok = found.is_empty();
                for (field, message) in found {
                    self.problem(Some(&field), message);
                }
                let next = self.one_next()?;
                ok.then_some(Op::Enter { next })?
            }
            NodeKind::EventEntry(e) => {
                let ok = self.non_empty("event", &e.event);
                let next = self.one_next()?;
                ok.then_some(Op::Enter { next })?
            }
            NodeKind::SendEmail(m) => {
                if let Some(from) = &m.from
                    && let Err(why) = check_sender(from)
                {
                    self.problem(Some("from"), why);
                }
                let [(_, e_subject, l_subject), (_, e_html, l_html), (_, e_text, l_text)] = EMAIL_PARTS;
                let subject = self.template("subject", &m.subject, e_subject, l_subject);
                let html = self.template("html", &m.html, e_html, l_html);
                let text = self.optional_template("text", &m.text, e_text, l_text);
                let next = self.one_next()?;
                let content = ContentTemplates::Email {
                    subject: subject?,
                    html: html?,
                    text: text.ok()?,
                    from: m.from.clone(),
                };
                Op::Send {
                    channel: Channel::Email,
                    rules: self.send_rules(),
                    content,
                    next,
                }
            }
            NodeKind::SendSms(m) => {
                let text = self.template("text", &m.text, Escape::None, limits::SMS_TEXT);
                let next = self.one_next()?;
                Op::Send {
                    channel: Channel::Sms,
                    rules: self.send_rules(),
                    content: ContentTemplates::Sms { text: text? },
                    next,
                }
            }
            NodeKind::SendPush(m) => {
                let title = self.template("title", &m.title, Escape::None, limits::PUSH_TITLE);
                let body = self.template("body", &m.body, Escape::None, limits::PUSH_BODY);
                let url = self.optional_template("url", &m.url, Escape::None, limits::URL);
                let next = self.one_next()?;
                let content = ContentTemplates::Push {
                    title: title?,
                    body: body?,
                    url: url.ok()?,
                };
                Op::Send {
                    channel: Channel::Push,
                    rules: self.send_rules(),
                    content,
                    next,
                }
            }
            NodeKind::Webhook(w) => {
                if !(is_http_url(&w.url) || w.url.starts_with("{{")) {
                    self.problem(Some("url"), format!("'{}' is not an http:// or https:// URL", w.url));
                }
                let url = self.template("url", &w.url, Escape::Url, limits::URL);
                let mut headers = Some(Vec::new());
                for (name, value) in &w.headers {
                    if !is_header_name(name) {
                        self.problem(
                            Some(&format!("headers.{name}")),
                            "is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                        );
                    } else if is_connection_header(name) {
                        self.problem(
                            Some(&format!("headers.{name}")),
                            "is set by the HTTP connection itself (Host, Content-Length, Transfer-Encoding, \
                             Connection, proxy headers…); a flow cannot set it",
                        );
                    }
                    let t = self.template(&format!("headers.{name}"), value, Escape::None, limits::WEBHOOK_HEADER);
                    match (&mut headers, t) {
                        (Some(h), Some(t)) => h.push((name.clone(), t)),
                        _ => headers = None,
                    }
                }
                let body = self.optional_template("body", &w.body, Escape::Json, limits::WEBHOOK_BODY);
                let next = self.one_next()?;
                let content = ContentTemplates::Webhook {
                    method: w.method,
                    url: url?,
                    headers: headers?,
                    body: body.ok()?,
                };
                Op::Send {
                    channel: Channel::Webhook,
                    rules: self.send_rules(),
                    content,
                    next,
                }
            }
            NodeKind::Wait(w) => Op::Wait {
                duration: w.duration,
                next: self.one_next()?,
            },
            NodeKind::WaitUntil(w) => {
                let target = self.until(w);
                let next = self.one_next()?;
                Op::WaitUntil { target: target?, next }
            }
            NodeKind::WaitForEvent(w) => {
                let mut ok = self.non_empty("event", &w.event);
                if let Some(m) = &w.message {
                    ok &= self.message_ref(m, graph, ids, at);
                }
                let targets = self.labelled(&["event", "timeout"])?;
                ok.then_some(Op::WaitForEvent {
                    event: w.event.clone(),
                    message: w.message.clone(),
                    timeout: w.timeout,
                    on_event: targets[0],
                    on_timeout: targets[1],
                })?
            }
            NodeKind::Branch(b) => {
                let mut found = Vec::new();
                // Saved segments are put in place when the flow runs (`CompiledFlow::with_segments`).
                b.condition.check("condition", &mut found);
                let ok = found.is_empty();
                for (field, message) in found {
                    self.problem(Some(&field), message);
                }
                let targets = self.labelled(&["yes", "no"])?;
                ok.then_some(Op::Branch {
                    condition: b.condition.clone(),
                    yes: targets[0],
                    no: targets[1],
                })?
            }
            NodeKind::Split(s) => {
                let mut ok = true;
                if s.arms.len() < 2 {
                    self.problem(Some("arms"), "a split needs at least two arms");
                    ok = false;
                }
                let mut names: Vec<&str> = Vec::new();
                for (i, arm) in s.arms.iter().enumerate() {
                    if arm.name.trim().is_empty() {
                        self.problem(Some(&format!("arms[{i}].name")), "is empty");
                        ok = false;
                    } else if names.contains(&arm.name.as_str()) {
                        self.problem(
                            Some(&format!("arms[{i}].name")),
                            format!("duplicate arm name '{}'", arm.name),
                        );
                        ok = false;
                    }
                    if arm.weight == 0 {
                        self.problem(Some(&format!("arms[{i}].weight")), "must be greater than 0");
                        ok = false;
                    }
                    names.push(&arm.name);
                }
                let targets = self.labelled(&names)?;
                let arms: Vec<(String, u32, Ix)> = s
                    .arms
                    .iter()
                    .zip(targets)
                    .map(|(a, t)| (a.name.clone(), a.weight, t))
                    .collect();
                let total = arms.iter().map(|a| u64::from(a.1)).sum();
                ok.then_some(Op::Split { arms, total })?
            }
            NodeKind::HolidayPause(h) => {
                if let Some(c) = &h.calendar {
                    self.non_empty("calendar", c);
                }
                Op::HolidayPause {
                    calendar: h.calendar.clone().filter(|c| !c.trim().is_empty()),
                    next: self.one_next()?,
                }
            }
            NodeKind::ControlGroup(c) => {
                let ok = (0.0..=100.0).contains(&c.percent);
                if !ok {
                    self.problem(Some("percent"), format!("{} is not between 0 and 100", c.percent));
                }
                let next = self.one_next()?;
                ok.then_some(Op::ControlGroup {
                    basis_points: (c.percent * 100.0).round() as u64,
                    next,
                })?
            }
            NodeKind::AddTag(t) | NodeKind::RemoveTag(t) => {
                let ok = self.non_empty("tag", &t.tag);
                let next = self.one_next()?;
                let add = matches!(node.kind, NodeKind::AddTag(_));
                ok.then_some(Op::Tag {
                    add,
                    tag: t.tag.clone(),
                    next,
                })?
            }
            NodeKind::AddToList(l) | NodeKind::RemoveFromList(l) => {
                let ok = self.non_empty("list", &l.list);
                let next = self.one_next()?;
                let add = matches!(node.kind, NodeKind::AddToList(_));
                ok.then_some(Op::List {
                    add,
                    list: l.list.clone(),
                    next,
                })?
            }
            NodeKind::Exit(_) => {
                let out = std::mem::take(&mut self.out);
                for targets in out.values() {
                    for t in targets {
                        let msg = format!("edge to '{}': an exit node has no outgoing edges", self.target_name(*t));
                        self.problem(None, msg);
                    }
                }
                Op::Exit
            }
        })
    }

    fn until(&mut self, w: &WaitUntil) -> Option<Until> {
        let zone = w.timezone.map(|z| z.0);
        let days: Vec<chrono::Weekday> = w.days.iter().flatten().map(|d| d.to_chrono()).collect();
        if w.days.as_ref().is_some_and(Vec::is_empty) {
            self.problem(Some("days"), "lists no days; leave it out to allow every day");
            return None;
        }
        // Which of at, field and time is set decides the rest: not known if one was taken out.
        if ["at", "field", "time"].iter().any(|f| self.was_taken_out(f)) {
            return None;
        }
        match (w.at, &w.field, w.time) {
            (Some(at), None, None) => {
                if w.days.is_some() || w.anniversary || w.timezone.is_some() {
                    self.problem(
                        Some("at"),
                        "a fixed instant takes no 'days', 'anniversary' or 'timezone'",
                    );
                    return None;
                }
                Some(Until::At(at))
            }
            (None, Some(path), time) => {
                if w.days.is_some() {
                    self.problem(Some("days"), "'days' applies to a time of day, not to a date field");
                    return None;
                }
                if let Some(message) = crate::condition::path_problem(path) {
                    self.problem(Some("field"), message);
                    return None;
                }
                let time = time.map(|t| t.0);
                Some(Until::Field {
                    path: path.clone(),
                    anniversary: w.anniversary,
                    time,
                    zone,
                })
            }
            (None, None, Some(time)) => {
                if w.anniversary {
                    self.problem(Some("anniversary"), "needs a date 'field' to return to");
                    return None;
                }
                Some(Until::TimeOfDay {
                    time: time.0,
                    days,
                    zone,
                })
            }
            (None, None, None) => {
                self.problem(
                    None,
                    "needs one of 'at' (an instant), 'field' (a date field) or 'time' (a time of day)",
                );
                None
            }
            (Some(_), _, _) => {
                self.problem(Some("at"), "give either 'at' or 'field'/'time', not both");
                None
            }
        }
    }

    fn message_ref(
        &mut self,
        message: &str,
        graph: &StableDiGraph<Ix, Option<String>>,
        ids: &HashMap<String, Ix>,
        at: &[Option<NodeIndex>],
    ) -> bool {
        let Some(&m) = ids.get(message) else {
            self.problem(Some("message"), format!("no node has id '{message}'"));
            return false;
        };
        let Some(kind) = self.slots[m].kind else { return false };
        if !kind.is_message() {
            let type_name = kind.type_name();
            self.problem(
                Some("message"),
                format!(
                    "'{message}' is a {type_name} node; 'message' must name a {} node",
                    NodeType::names_where(NodeType::is_message)
                ),
            );
            return false;
        }
        let me = ids[&self.node.id];
        if let (Some(a), Some(b)) = (at[m], at[me])
            && !has_path_connecting(graph, a, b, None)
        {
            self.problem(
                Some("message"),
                format!("'{message}' is not sent on any path that leads to this node"),
            );
            return false;
        }
        true
    }
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Headers that say where and how a request travels rather than what it says: set by a flow,
/// `Host` would reach another site behind a shared proxy than the address checked, and the
/// framing headers would let it smuggle a second request.
fn is_connection_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "host" | "content-length" | "transfer-encoding" | "connection" | "te" | "upgrade" | "keep-alive" | "trailer"
    ) || name.starts_with("proxy-")
}

/// A `from` of an email: an address (`news@shop.example`) or a name and an address in angle
/// brackets (`Shop <news@shop.example>`), on one line.
fn check_sender(from: &str) -> Result<(), String> {
    if from.chars().any(char::is_control) {
        return Err("must be on one line, without control characters".into());
    }
    let address = match (from.rfind('<'), from.ends_with('>')) {
        (Some(open), true) => &from[open + 1..from.len() - 1],
        _ => from.trim(),
    };
    match address.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !address.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "'{from}' is not an e-mail address such as 'news@shop.example' or 'Shop <news@shop.example>'"
        )),
    }
}
