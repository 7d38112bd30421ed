//! From text to a runnable [`CompiledFlow`]: parsing, validation, compilation.
//!
//! "Parse, don't validate": [`compile`] is the only way to get a `CompiledFlow`, and it succeeds
//! only when the whole flow is sound — every node parses, every edge joins known nodes with the
//! labels its source expects, the graph is acyclic, every node is reachable from an entry and
//! every template parses. On failure it returns *all* [`Problems`] at once, each naming the node
//! and field it is about, so an editor can mark them all.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono_tz::Tz;
use petgraph::Direction;
use petgraph::algo::{has_path_connecting, tarjan_scc};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::{Dfs, EdgeRef};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::definition::*;
use crate::effect::Channel;
use crate::policy::SendRules;
use crate::template::{Escape, FieldSpec, Limit, TemplateId, Templates, limits};
use crate::values::{Duration, Zone};

/// One thing wrong with a flow, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The node the problem is about, by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The field, as a path inside the node (`timeout`, `condition.all[0].field.op`) or the
    /// document (`format`, `edges[3].to`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    /// Position of a JSON syntax error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Problem {
    pub(crate) fn at(node: Option<&str>, field: Option<&str>, message: impl Into<String>) -> Self {
        Problem {
            node: node.map(str::to_string),
            field: field.map(str::to_string),
            message: message.into(),
            line: None,
            column: None,
        }
    }
    fn node(node: &str, message: impl Into<String>) -> Self {
        Self::at(Some(node), None, message)
    }
    fn field(node: &str, field: &str, message: impl Into<String>) -> Self {
        Self::at(Some(node), Some(field), message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, "line {line}, column {column}: ")?;
        }
        if let Some(node) = &self.node {
            write!(f, "node '{node}': ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field '{field}': ")?;
        }
        f.write_str(&self.message)
    }
}

/// Everything wrong with a flow; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Self {
        Problems(vec![p])
    }
}

/// Reads a `cairn.flow/v1` document from JSON text. Syntax errors carry line and column.
pub fn parse_definition(text: &str) -> Result<Definition, Problems> {
    definition_from_value(parse_json(text)?)
}

fn parse_json(text: &str) -> Result<Value, Problems> {
    serde_json::from_str(text).map_err(|e| {
        Problem {
            node: None,
            field: None,
            message: format!("invalid JSON: {}", json_error_message(&e)),
            line: Some(e.line()),
            column: Some(e.column()),
        }
        .into()
    })
}

/// serde_json's message without its " at line L column C" suffix (callers report the position
/// in their own form).
pub fn json_error_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Reads a `cairn.flow/v1` document from a JSON value, reporting every shape problem.
pub fn definition_from_value(value: Value) -> Result<Definition, Problems> {
    let parsed = read(value)?;
    if parsed.problems.is_empty() {
        Ok(parsed.definition)
    } else {
        Err(Problems(parsed.problems))
    }
}

/// Parses and compiles a JSON value, reporting shape and graph problems together.
pub fn compile_value(value: Value) -> Result<CompiledFlow, Problems> {
    let parsed = read(value)?;
    let nodes = NodesRead {
        positions: &parsed.positions,
        taken_out: &parsed.taken_out,
        broken: &parsed.broken,
    };
    check(parsed.definition, nodes, parsed.problems)
}

/// A document read as far as possible: the nodes that parsed and where each stood in the
/// document, the (position, id, type) of those that did not (so graph checks still see them),
/// and the problems found so far.
struct Parsed {
    definition: Definition,
    positions: Vec<usize>,
    /// For each node of the definition, the bad (optional) fields taken out so it would parse.
    taken_out: Vec<Vec<String>>,
    broken: Vec<(usize, String, String)>,
    problems: Vec<Problem>,
}

fn read(value: Value) -> Result<Parsed, Problems> {
    let Value::Object(mut top) = value else {
        return Err(Problem::at(
            None,
            None,
            "a flow is a JSON object with 'format', 'name', 'nodes' and 'edges'",
        )
        .into());
    };
    let mut problems = Vec::new();
    let format = match top.remove("format") {
        Some(Value::String(s)) if s == FORMAT_V1 => s,
        Some(Value::String(s)) => {
            problems.push(Problem::at(
                None,
                Some("format"),
                format!("unsupported format '{s}'; this Cairn reads '{FORMAT_V1}'"),
            ));
            s
        }
        Some(_) => {
            problems.push(Problem::at(
                None,
                Some("format"),
                format!("must be the string '{FORMAT_V1}'"),
            ));
            String::new()
        }
        None => {
            problems.push(Problem::at(
                None,
                Some("format"),
                format!("is missing; add \"format\": \"{FORMAT_V1}\""),
            ));
            String::new()
        }
    };
    let name = match top.remove("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::String(_)) | None => {
            problems.push(Problem::at(None, Some("name"), "the flow needs a name"));
            String::new()
        }
        Some(_) => {
            problems.push(Problem::at(None, Some("name"), "must be a string"));
            String::new()
        }
    };
    let description = take_field::<Option<String>>(&mut top, "description", &mut problems).flatten();
    let timezone = take_field::<Option<Zone>>(&mut top, "timezone", &mut problems).flatten();
    let reentry = take_field::<Option<Reentry>>(&mut top, "reentry", &mut problems)
        .flatten()
        .unwrap_or_default();
    let policy = take_field::<Option<BTreeMap<Channel, SendRules>>>(&mut top, "policy", &mut problems)
        .flatten()
        .unwrap_or_default();
    for (channel, rules) in &policy {
        for (field, message) in rules.check(&format!("policy.{channel}"), None, false) {
            problems.push(Problem::at(None, Some(&field), message));
        }
    }
    let mut nodes = Vec::new();
    let mut positions = Vec::new();
    let mut taken_out = Vec::new();
    let mut broken = Vec::new();
    match top.remove("nodes") {
        Some(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let id_and_type = item
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.trim().is_empty())
                    .map(|id| {
                        (
                            id.to_string(),
                            item.get("type").and_then(Value::as_str).unwrap_or("").to_string(),
                        )
                    });
                let (node, bad_fields, mut found) = parse_node(i, item);
                problems.append(&mut found);
                match node {
                    Some(node) => {
                        taken_out.push(bad_fields);
                        nodes.push(node);
                        positions.push(i);
                    }
                    None => broken.extend(id_and_type.map(|(id, t)| (i, id, t))),
                }
            }
        }
        Some(_) => problems.push(Problem::at(None, Some("nodes"), "must be an array of nodes")),
        None => problems.push(Problem::at(
            None,
            Some("nodes"),
            "is missing; a flow needs at least an entry and an exit",
        )),
    }
    let mut edges = Vec::new();
    match top.remove("edges") {
        Some(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                match typed::<Edge>(item) {
                    Ok(edge) => edges.push(edge),
                    Err((path, message)) => {
                        let field = if path.is_empty() {
                            format!("edges[{i}]")
                        } else {
                            format!("edges[{i}].{path}")
                        };
                        problems.push(Problem::at(None, Some(&field), message));
                    }
                }
            }
        }
        Some(_) => problems.push(Problem::at(None, Some("edges"), "must be an array of edges")),
        None => {}
    }
    for key in top.keys() {
        problems.push(Problem::at(
            None,
            Some(key),
            "unknown field (a flow has format, name, description, timezone, reentry, policy, nodes, edges)",
        ));
    }
    let definition = Definition {
        format,
        name,
        description,
        timezone,
        reentry,
        policy,
        nodes,
        edges,
    };
    Ok(Parsed {
        definition,
        positions,
        taken_out,
        broken,
        problems,
    })
}

fn take_field<T: DeserializeOwned>(top: &mut Map<String, Value>, key: &str, problems: &mut Vec<Problem>) -> Option<T> {
    let value = top.remove(key)?;
    match typed::<T>(value) {
        Ok(v) => Some(v),
        Err((_, message)) => {
            problems.push(Problem::at(None, Some(key), message));
            None
        }
    }
}

/// Deserializes `value`, returning on failure the path inside it and the message.
fn typed<T: DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
    typed_at(value).map_err(|e| (e.path, e.message))
}

/// Why a value did not deserialize: the path inside it (empty when none is known), the message
/// in JSON terms, and the key at its top level that holds the problem (a key may itself contain
/// dots, so it is not cut from `path`).
#[derive(Debug, Clone)]
pub struct TypeError {
    pub path: String,
    pub message: String,
    pub top: Option<String>,
}

/// Deserializes `value`, locating a mistake: what flows and the API's request bodies share.
pub fn typed_at<T: DeserializeOwned>(value: Value) -> Result<T, TypeError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let message = plain_types(&e.inner().to_string());
        let first = e.path().iter().next().cloned();
        let (path, top) = match first {
            None => {
                let named = field_named_in(&message);
                (named.clone().unwrap_or_default(), named)
            }
            Some(serde_path_to_error::Segment::Map { key }) => (e.path().to_string(), Some(key)),
            Some(_) => (e.path().to_string(), None),
        };
        TypeError { path, message, top }
    })
}

/// serde's message with Rust's type names put plainly: "expected struct Pace" is "expected an
/// object" to someone writing JSON.
fn plain_types(message: &str) -> String {
    let Some(at) = message.find("expected struct ") else {
        return message.to_string();
    };
    let rest = &message[at + "expected struct ".len()..];
    if rest.starts_with("variant ") {
        return message.to_string();
    }
    let name_len = rest
        .find(|c: char| !c.is_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    format!("{}expected an object{}", &message[..at], &rest[name_len..])
}

/// serde names a missing or unknown field inside its message (``missing field `timeout` ``).
fn field_named_in(message: &str) -> Option<String> {
    let start = message.find("field `")? + "field `".len();
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

/// A node read as far as possible: the node when its type and required fields parsed, the bad
/// fields taken out of it, and every problem found in it.
fn parse_node(i: usize, value: Value) -> (Option<Node>, Vec<String>, Vec<Problem>) {
    let Value::Object(mut body) = value else {
        return (
            None,
            Vec::new(),
            vec![Problem::at(
                None,
                Some(&format!("nodes[{i}]")),
                "a node is a JSON object",
            )],
        );
    };
    let id = match body.remove("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        _ => {
            return (
                None,
                Vec::new(),
                vec![Problem::at(
                    None,
                    Some(&format!("nodes[{i}].id")),
                    "every node needs a non-empty string id",
                )],
            );
        }
    };
    let type_name = match body.remove("type") {
        Some(Value::String(s)) => s,
        Some(_) => return (None, Vec::new(), vec![Problem::field(&id, "type", "must be a string")]),
        None => {
            return (
                None,
                Vec::new(),
                vec![Problem::field(
                    &id,
                    "type",
                    format!("is missing; one of {}", NODE_TYPES.join(", ")),
                )],
            );
        }
    };
    let mut problems = Vec::new();
    let position = match body.remove("position") {
        None | Some(Value::Null) => None,
        Some(v) => match typed::<Position>(v) {
            Ok(p) => Some(p),
            Err((path, message)) => {
                let field = if path.is_empty() {
                    "position".to_string()
                } else {
                    format!("position.{path}")
                };
                problems.push(Problem::field(&id, &field, message));
                None
            }
        },
    };
    let fields = parse_fields(&id, &type_name, body, &mut problems);
    let node = fields.kind.map(|kind| Node { id, position, kind });
    (node, fields.taken_out, problems)
}

/// Passes over one node's body at most: each takes out one bad field, so a body of thousands of
/// unknown keys costs a bounded amount of work.
const FIELD_PASSES: usize = 16;

/// A node's body as it parsed: its kind, and the bad fields taken out to get it.
struct Fields {
    kind: Option<NodeKind>,
    taken_out: Vec<String>,
}

/// The node's body parsed as `type_name`, with a problem for each top-level field that does not
/// parse, not only the first: serde stops at the first bad field, so that field is taken out and
/// the rest parsed again. When only optional fields were bad, the node without them is returned
/// (its problems recorded), so the checks of its other fields and of the graph still run. A
/// required field that is missing is not reported when another required field was bad (serde
/// names the first missing one only, and that is the one taken out).
fn parse_fields(id: &str, type_name: &str, mut body: Map<String, Value>, problems: &mut Vec<Problem>) -> Fields {
    let mut taken_out: Vec<String> = Vec::new();
    let failed = || Fields {
        kind: None,
        taken_out: Vec::new(),
    };
    loop {
        match parse_kind(type_name, Value::Object(body.clone())) {
            None => {
                problems.push(Problem::field(
                    id,
                    "type",
                    format!("unknown node type '{type_name}' (known: {})", NODE_TYPES.join(", ")),
                ));
                return failed();
            }
            Some(Ok(kind)) => {
                return Fields {
                    kind: Some(kind),
                    taken_out,
                };
            }
            Some(Err(e)) => {
                // "missing field" for a field taken out above: every field present parsed.
                if e.top.as_ref().is_some_and(|top| taken_out.contains(top)) {
                    return failed();
                }
                problems.push(Problem::at(
                    Some(id),
                    (!e.path.is_empty()).then_some(e.path.as_str()),
                    e.message,
                ));
                // A field that is not there (missing, or the error names none) cannot be taken out.
                let Some(top) = e.top.filter(|top| body.remove(top).is_some()) else {
                    return failed();
                };
                taken_out.push(top);
                if taken_out.len() == FIELD_PASSES {
                    problems.push(Problem::node(
                        id,
                        format!("{FIELD_PASSES} fields did not parse; the others were not checked"),
                    ));
                    return failed();
                }
            }
        }
    }
}

/// The node body for `type_name`, or `None` for an unknown type.
fn parse_kind(type_name: &str, body: Value) -> Option<Result<NodeKind, TypeError>> {
    macro_rules! kind {
        ($variant:ident) => {
            typed_at(body).map(NodeKind::$variant)
        };
    }
    Some(match type_name {
        "webhook_entry" => kind!(WebhookEntry),
        "event_entry" => kind!(EventEntry),
        "segment_entry" => kind!(SegmentEntry),
        "send_email" => kind!(SendEmail),
        "send_sms" => kind!(SendSms),
        "send_push" => kind!(SendPush),
        "webhook" => kind!(Webhook),
        "wait" => kind!(Wait),
        "wait_until" => kind!(WaitUntil),
        "wait_for_event" => kind!(WaitForEvent),
        "branch" => kind!(Branch),
        "split" => kind!(Split),
        "control_group" => kind!(ControlGroup),
        "holiday_pause" => kind!(HolidayPause),
        "add_tag" => kind!(AddTag),
        "remove_tag" => kind!(RemoveTag),
        "add_to_list" => kind!(AddToList),
        "remove_from_list" => kind!(RemoveFromList),
        "exit" => kind!(Exit),
        _ => return None,
    })
}

/// Whether `url` is an absolute http(s) URL, as written (no surrounding whitespace).
pub(crate) fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://")) && !url.contains(char::is_whitespace)
}

/// Index of a node in its flow's definition order.
pub type Ix = usize;

/// A node ready to run: its parameters parsed and its successors resolved.
#[derive(Debug)]
pub(crate) enum Op {
    Enter {
        next: Ix,
    },
    Send {
        channel: Channel,
        content: ContentTemplates,
        /// The node's own send rules (the flow's and the configuration's apply under them).
        rules: SendRules,
        next: Ix,
    },
    HolidayPause {
        calendar: Option<String>,
        next: Ix,
    },
    Wait {
        duration: Duration,
        next: Ix,
    },
    WaitUntil {
        target: Until,
        next: Ix,
    },
    WaitForEvent {
        event: String,
        message: Option<String>,
        timeout: Duration,
        on_event: Ix,
        on_timeout: Ix,
    },
    Branch {
        condition: crate::condition::Condition,
        yes: Ix,
        no: Ix,
    },
    Split {
        arms: Vec<(String, u32, Ix)>,
        total: u64,
    },
    ControlGroup {
        basis_points: u64,
        next: Ix,
    },
    Tag {
        add: bool,
        tag: String,
        next: Ix,
    },
    List {
        add: bool,
        list: String,
        next: Ix,
    },
    Exit,
}

#[derive(Debug)]
pub(crate) enum ContentTemplates {
    Email {
        subject: TemplateId,
        html: TemplateId,
        text: Option<TemplateId>,
        from: Option<String>,
    },
    Sms {
        text: TemplateId,
    },
    Push {
        title: TemplateId,
        body: TemplateId,
        url: Option<TemplateId>,
    },
    Webhook {
        method: HttpMethod,
        url: TemplateId,
        headers: Vec<(String, TemplateId)>,
        body: Option<TemplateId>,
    },
}

#[derive(Debug)]
pub(crate) enum Until {
    At(chrono::DateTime<chrono::Utc>),
    Field {
        path: String,
        anniversary: bool,
        time: Option<chrono::NaiveTime>,
        zone: Option<Tz>,
    },
    TimeOfDay {
        time: chrono::NaiveTime,
        days: Vec<chrono::Weekday>,
        zone: Option<Tz>,
    },
}

/// A flow that passed validation; the only thing [`crate::step`] runs.
#[derive(Debug)]
pub struct CompiledFlow {
    definition: Definition,
    /// Node weights are definition indices; edge weights are the `when` labels.
    graph: StableDiGraph<Ix, Option<String>>,
    ids: HashMap<String, Ix>,
    pub(crate) ops: Vec<Op>,
    pub(crate) templates: Templates,
}

impl CompiledFlow {
    /// Parses and compiles JSON text, reporting every problem at once.
    pub fn from_json(text: &str) -> Result<Self, Problems> {
        compile_value(parse_json(text)?)
    }

    pub fn definition(&self) -> &Definition {
        &self.definition
    }
    pub fn name(&self) -> &str {
        &self.definition.name
    }
    /// The flow's default zone, if it sets one.
    pub fn timezone(&self) -> Option<Tz> {
        self.definition.timezone.map(|z| z.0)
    }
    pub fn node_count(&self) -> usize {
        self.definition.nodes.len()
    }
    pub fn node(&self, ix: Ix) -> &Node {
        &self.definition.nodes[ix]
    }
    pub fn index_of(&self, id: &str) -> Option<Ix> {
        self.ids.get(id).copied()
    }
    /// Entry nodes, in definition order.
    pub fn entries(&self) -> impl Iterator<Item = (Ix, &Node)> {
        self.definition
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind.is_entry())
    }
    /// The graph: node weights are indices into the definition's nodes, edges carry labels.
    pub fn graph(&self) -> &StableDiGraph<Ix, Option<String>> {
        &self.graph
    }
}

/// Validates and compiles a definition, reporting every problem.
pub fn compile(definition: Definition) -> Result<CompiledFlow, Problems> {
    let positions: Vec<usize> = (0..definition.nodes.len()).collect();
    let taken_out = vec![Vec::new(); definition.nodes.len()];
    let nodes = NodesRead {
        positions: &positions,
        taken_out: &taken_out,
        broken: &[],
    };
    check(definition, nodes, Vec::new())
}

/// What the graph checks know of a node: its id, and its kind when it parsed. Slots are the
/// definition's nodes in order, then the nodes that did not parse.
struct Slot<'a> {
    id: &'a str,
    /// Where the node stands in the document (0-based).
    position: usize,
    kind: Option<&'a NodeKind>,
    /// For nodes that did not parse: whether their `type` names an entry.
    entry: bool,
}

const ENTRY_TYPES: [&str; 3] = ["webhook_entry", "event_entry", "segment_entry"];

/// What reading the document learnt about its nodes beyond the definition.
struct NodesRead<'a> {
    /// Where each node of the definition stood in the document.
    positions: &'a [usize],
    /// For each node of the definition, the bad fields taken out of it (already reported).
    taken_out: &'a [Vec<String>],
    /// (position, id, type) of the nodes that did not parse.
    broken: &'a [(usize, String, String)],
}

fn check(definition: Definition, read: NodesRead<'_>, mut problems: Vec<Problem>) -> Result<CompiledFlow, Problems> {
    let NodesRead {
        positions,
        taken_out,
        broken,
    } = read;
    let nodes = &definition.nodes;
    let slots: Vec<Slot<'_>> = nodes
        .iter()
        .zip(positions)
        .map(|(n, position)| Slot {
            id: &n.id,
            position: *position,
            kind: Some(&n.kind),
            entry: n.kind.is_entry(),
        })
        .chain(broken.iter().map(|(position, id, t)| Slot {
            id,
            position: *position,
            kind: None,
            entry: ENTRY_TYPES.contains(&t.as_str()),
        }))
        .collect();
    // Duplicates in document order, whether or not the nodes parsed.
    let mut in_order: Vec<&Slot<'_>> = slots.iter().collect();
    in_order.sort_by_key(|s| s.position);
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    for slot in in_order {
        if let Some(first) = first_at.get(slot.id) {
            problems.push(Problem::node(
                slot.id,
                format!("duplicate node id (also node #{})", first + 1),
            ));
        } else {
            first_at.insert(slot.id, slot.position);
        }
    }
    let mut graph: StableDiGraph<Ix, Option<String>> = StableDiGraph::new();
    let mut ids: HashMap<String, Ix> = HashMap::new();
    let mut at: Vec<Option<NodeIndex>> = Vec::with_capacity(slots.len());
    for (i, slot) in slots.iter().enumerate() {
        if ids.contains_key(slot.id) {
            at.push(None);
        } else {
            ids.insert(slot.id.to_string(), i);
            at.push(Some(graph.add_node(i)));
        }
    }
    let gix = |id: &str| ids.get(id).and_then(|i| at[*i]);
    // Nodes with an edge to a missing node: "no outgoing edge" would only repeat that problem.
    let mut dangling: Vec<&str> = Vec::new();
    for (i, edge) in definition.edges.iter().enumerate() {
        let from = gix(&edge.from);
        let to = gix(&edge.to);
        if from.is_none() {
            problems.push(Problem::at(
                None,
                Some(&format!("edges[{i}].from")),
                format!("edge from unknown node '{}'", edge.from),
            ));
        }
        if to.is_none() {
            let node = from.map(|_| edge.from.as_str());
            dangling.push(&edge.from);
            problems.push(Problem::at(
                node,
                Some(&format!("edges[{i}].to")),
                format!("edge to unknown node '{}'", edge.to),
            ));
        }
        if let (Some(a), Some(b)) = (from, to) {
            graph.add_edge(a, b, edge.when.clone());
        }
    }

    let has_entry = slots.iter().any(|s| s.entry);
    if !has_entry {
        problems.push(Problem::at(
            None,
            Some("nodes"),
            "the flow has no entry node (webhook_entry, event_entry or segment_entry)",
        ));
    }
    check_cycles(&slots, &graph, &mut problems);
    if has_entry {
        check_reachable(&slots, &graph, &at, &mut problems);
    }

    let mut templates = Templates::default();
    let mut ops = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let Some(g) = at[i] else { continue };
        let mut out: BTreeMap<Option<String>, Vec<Ix>> = BTreeMap::new();
        for e in graph.edges_directed(g, Direction::Outgoing) {
            out.entry(e.weight().clone()).or_default().push(graph[e.target()]);
        }
        if node.kind.is_entry() && graph.edges_directed(g, Direction::Incoming).next().is_some() {
            problems.push(Problem::node(&node.id, "an entry node cannot have incoming edges"));
        }
        let dangling = dangling.contains(&node.id.as_str());
        let mut cx = NodeCheck {
            node,
            slots: &slots,
            out,
            dangling,
            taken_out: &taken_out[i],
            problems: &mut problems,
            templates: &mut templates,
        };
        if let Some(op) = cx.compile(&graph, &ids, &at) {
            ops.push(op);
        }
    }

    if problems.is_empty() {
        Ok(CompiledFlow {
            definition,
            graph,
            ids,
            ops,
            templates,
        })
    } else {
        Err(Problems(problems))
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

fn check_cycles(slots: &[Slot<'_>], graph: &StableDiGraph<Ix, Option<String>>, problems: &mut Vec<Problem>) {
    let mut cycles: Vec<Vec<Ix>> = tarjan_scc(graph)
        .into_iter()
        .filter(|scc| scc.len() > 1 || graph.find_edge(scc[0], scc[0]).is_some())
        .map(|scc| {
            let mut members: Vec<Ix> = scc.iter().map(|g| graph[*g]).collect();
            members.sort_unstable();
            members
        })
        .collect();
    cycles.sort();
    for members in cycles {
        let names: Vec<String> = members.iter().map(|i| format!("'{}'", slots[*i].id)).collect();
        problems.push(Problem::node(
            slots[members[0]].id,
            format!("is part of a cycle through {}; a journey cannot loop", names.join(", ")),
        ));
    }
}

fn check_reachable(
    slots: &[Slot<'_>],
    graph: &StableDiGraph<Ix, Option<String>>,
    at: &[Option<NodeIndex>],
    problems: &mut Vec<Problem>,
) {
    let mut seen = vec![false; slots.len()];
    for (i, slot) in slots.iter().enumerate() {
        if let (true, Some(g)) = (slot.entry, at[i]) {
            let mut dfs = Dfs::new(graph, g);
            while let Some(n) = dfs.next(graph) {
                seen[graph[n]] = true;
            }
        }
    }
    for (i, slot) in slots.iter().enumerate() {
        if !seen[i] && at[i].is_some() && slot.kind.is_some() {
            problems.push(Problem::node(
                slot.id,
                "is unreachable: no path leads to it from an entry node",
            ));
        }
    }
}

/// Checks one node and builds its [`Op`]; problems go to the shared list.
struct NodeCheck<'a> {
    node: &'a Node,
    slots: &'a [Slot<'a>],
    /// Outgoing edges grouped by label: target definition indices.
    out: BTreeMap<Option<String>, Vec<Ix>>,
    /// The node has an edge to a missing node (already reported).
    dangling: bool,
    /// Bad fields taken out of the node (and reported): a check that a field is absent would only
    /// echo them, so such checks ask [`NodeCheck::was_taken_out`] first.
    taken_out: &'a [String],
    problems: &'a mut Vec<Problem>,
    templates: &'a mut Templates,
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

    fn compile(
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
            NodeKind::WebhookEntry(_) | NodeKind::SegmentEntry(_) => Op::Enter { next: self.one_next()? },
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
                let subject = self.template("subject", &m.subject, Escape::None, limits::EMAIL_SUBJECT);
                let html = self.template("html", &m.html, Escape::Html, limits::EMAIL_BODY);
                let text = self.optional_template("text", &m.text, Escape::None, limits::EMAIL_BODY);
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
                    "'{message}' is a {type_name} node; 'message' must name a send_email, send_sms or send_push node"
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A flow document around `nodes` and `edges`.
    fn doc(nodes: Value, edges: Value) -> Value {
        json!({"format": FORMAT_V1, "name": "Test", "nodes": nodes, "edges": edges})
    }

    /// Compiles `value` and returns its problems as displayed lines.
    fn problems(value: Value) -> Vec<String> {
        match compile_value(value) {
            Ok(_) => Vec::new(),
            Err(p) => p.0.iter().map(ToString::to_string).collect(),
        }
    }

    fn assert_problem(value: Value, expected: &str) {
        let found = problems(value);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "expected a problem containing {expected:?}, got {found:#?}"
        );
    }

    fn entry_to(node: Value) -> Value {
        let id = node["id"].as_str().unwrap().to_string();
        doc(
            json!([{"id": "start", "type": "webhook_entry"}, node, {"id": "done", "type": "exit"}]),
            json!([{"from": "start", "to": id}, {"from": id, "to": "done"}]),
        )
    }

    #[test]
    fn the_issue_example_compiles() {
        let text = include_str!("../templates/welcome.json");
        let flow = CompiledFlow::from_json(text).unwrap();
        assert_eq!(flow.name(), "Welcome");
        assert_eq!(flow.entries().count(), 1);
        assert_eq!(flow.graph().edge_count(), 5);
    }

    #[test]
    fn a_json_syntax_error_names_line_and_column() {
        let err = parse_definition("{\n  \"format\": \"cairn.flow/v1\",\n  \"name\": ,\n}").unwrap_err();
        assert_eq!(err.0.len(), 1);
        let p = &err.0[0];
        assert_eq!((p.line, p.column), (Some(3), Some(11)));
        assert!(
            p.to_string()
                .starts_with("line 3, column 11: invalid JSON: expected value"),
            "{p}"
        );
    }

    #[test]
    fn the_document_needs_format_name_and_nodes() {
        let found = problems(json!({"nodes": "x", "colour": "red"}));
        assert_eq!(
            found,
            [
                "field 'format': is missing; add \"format\": \"cairn.flow/v1\"",
                "field 'name': the flow needs a name",
                "field 'nodes': must be an array of nodes",
                "field 'colour': unknown field (a flow has format, name, description, timezone, reentry, policy, nodes, edges)",
                "field 'nodes': the flow has no entry node (webhook_entry, event_entry or segment_entry)",
            ]
        );
        assert_problem(
            json!({"format": "cairn.flow/v9", "name": "x", "nodes": []}),
            "unsupported format 'cairn.flow/v9'",
        );
        assert_problem(json!([1]), "a flow is a JSON object");
    }

    #[test]
    fn unknown_and_missing_node_types_are_named() {
        assert_problem(
            doc(json!([{"id": "a", "type": "send_fax"}]), json!([])),
            "node 'a': field 'type': unknown node type 'send_fax' (known: webhook_entry,",
        );
        assert_problem(
            doc(json!([{"id": "a"}]), json!([])),
            "node 'a': field 'type': is missing",
        );
        assert_problem(
            doc(json!([{"type": "exit"}]), json!([])),
            "field 'nodes[0].id': every node needs a non-empty string id",
        );
    }

    #[test]
    fn missing_unknown_and_mistyped_fields_name_the_field() {
        assert_problem(
            entry_to(json!({"id": "w", "type": "wait"})),
            "node 'w': field 'duration': missing field `duration`",
        );
        assert_problem(
            entry_to(json!({"id": "w", "type": "wait", "duration": "1h", "durration": "2h"})),
            "node 'w': field 'durration': unknown field `durration`",
        );
        assert_problem(
            entry_to(json!({"id": "s", "type": "send_sms", "text": 5})),
            "node 's': field 'text': invalid type: integer `5`",
        );
        assert_problem(
            entry_to(
                json!({"id": "b", "type": "branch", "condition": {"field": {"path": "x", "op": "equals", "value": 1}}}),
            ),
            "node 'b': field 'condition.field.op': unknown variant `equals`",
        );
    }

    #[test]
    fn a_bad_duration_names_node_and_field() {
        let found = problems(doc(
            json!([
                {"id": "start", "type": "webhook_entry"},
                {"id": "read", "type": "wait_for_event", "event": "opened", "timeout": "2 hours"},
                {"id": "done", "type": "exit"}
            ]),
            json!([{"from": "start", "to": "read"}, {"from": "read", "to": "done", "when": "event"}, {"from": "read", "to": "done", "when": "timeout"}]),
        ));
        assert_eq!(
            found,
            [
                "node 'read': field 'timeout': invalid duration '2 hours': unknown unit 'hours' (use s, m, h, d or w) (write e.g. '90s', '2h', '3d' or '1h 30m')"
            ]
        );
    }

    #[test]
    fn unknown_time_zones_and_times_of_day_are_refused() {
        assert_problem(
            entry_to(json!({"id": "w", "type": "wait_until", "time": "09:00", "timezone": "Europe/Atlantis"})),
            "node 'w': field 'timezone': unknown time zone 'Europe/Atlantis'",
        );
        assert_problem(
            entry_to(json!({"id": "w", "type": "wait_until", "time": "9am"})),
            "node 'w': field 'time': invalid time of day '9am'",
        );
        let mut flow = entry_to(json!({"id": "w", "type": "wait", "duration": "1h"}));
        flow["timezone"] = json!("Nowhere/Land");
        assert_problem(flow, "field 'timezone': unknown time zone 'Nowhere/Land'");
    }

    #[test]
    fn duplicate_ids_are_reported() {
        assert_problem(
            doc(
                json!([{"id": "start", "type": "webhook_entry"}, {"id": "start", "type": "exit"}]),
                json!([{"from": "start", "to": "start"}]),
            ),
            "node 'start': duplicate node id (also node #1)",
        );
    }

    #[test]
    fn edges_to_and_from_missing_nodes_are_reported() {
        let found = problems(doc(
            json!([{"id": "start", "type": "webhook_entry"}, {"id": "done", "type": "exit"}]),
            json!([{"from": "start", "to": "hello"}, {"from": "ghost", "to": "done"}]),
        ));
        assert!(
            found.contains(&"node 'start': field 'edges[0].to': edge to unknown node 'hello'".to_string()),
            "{found:#?}"
        );
        assert!(
            found.contains(&"field 'edges[1].from': edge from unknown node 'ghost'".to_string()),
            "{found:#?}"
        );
        assert_problem(
            doc(json!([]), json!([{"from": "a"}])),
            "field 'edges[0].to': missing field `to`",
        );
    }

    #[test]
    fn cycles_are_refused_with_their_members() {
        assert_problem(
            doc(
                json!([
                    {"id": "start", "type": "webhook_entry"},
                    {"id": "a", "type": "wait", "duration": "1d"},
                    {"id": "b", "type": "send_sms", "text": "again"}
                ]),
                json!([{"from": "start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "a"}]),
            ),
            "node 'a': is part of a cycle through 'a', 'b'; a journey cannot loop",
        );
    }

    #[test]
    fn unreachable_nodes_and_missing_entries_are_reported() {
        let found = problems(doc(
            json!([{"id": "start", "type": "webhook_entry"}, {"id": "done", "type": "exit"}, {"id": "orphan", "type": "exit"}]),
            json!([{"from": "start", "to": "done"}]),
        ));
        assert_eq!(
            found,
            ["node 'orphan': is unreachable: no path leads to it from an entry node"]
        );
        assert_problem(
            doc(json!([{"id": "done", "type": "exit"}]), json!([])),
            "the flow has no entry node",
        );
    }

    #[test]
    fn missing_and_extra_edge_labels_are_reported() {
        let wait = json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "read", "type": "wait_for_event", "event": "opened", "timeout": "2h"},
            {"id": "done", "type": "exit"}
        ]);
        assert_problem(
            doc(
                wait.clone(),
                json!([{"from": "start", "to": "read"}, {"from": "read", "to": "done", "when": "event"}]),
            ),
            "node 'read': has no 'timeout' edge",
        );
        assert_problem(
            doc(
                wait.clone(),
                json!([{"from": "start", "to": "read"}, {"from": "read", "to": "done", "when": "event"}, {"from": "read", "to": "done"}]),
            ),
            "node 'read': edge to 'done' needs a label ('when'): one of 'event', 'timeout'",
        );
        assert_problem(
            doc(
                wait,
                json!([{"from": "start", "to": "read"}, {"from": "read", "to": "done", "when": "opened"}]),
            ),
            "node 'read': edge to 'done' has unknown label 'opened'; a wait_for_event node's edges are 'event', 'timeout'",
        );
        let branch = json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "vip", "type": "branch", "condition": {"has_tag": "vip"}},
            {"id": "done", "type": "exit"}
        ]);
        assert_problem(
            doc(
                branch.clone(),
                json!([{"from": "start", "to": "vip"}, {"from": "vip", "to": "done", "when": "yes"}]),
            ),
            "node 'vip': has no 'no' edge",
        );
        assert_problem(
            doc(
                branch,
                json!([{"from": "start", "to": "vip"}, {"from": "vip", "to": "done", "when": "yes"}, {"from": "vip", "to": "done", "when": "yes"}, {"from": "vip", "to": "done", "when": "no"}]),
            ),
            "node 'vip': has 2 edges labelled 'yes'; it needs exactly one",
        );
        assert_problem(
            doc(
                json!([{"id": "start", "type": "webhook_entry"}, {"id": "done", "type": "exit"}]),
                json!([{"from": "start", "to": "done", "when": "yes"}]),
            ),
            "node 'start': edge to 'done' has label 'yes', but a webhook_entry node's edge has no label",
        );
    }

    #[test]
    fn nodes_continue_along_exactly_one_edge() {
        let nodes = json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "tag", "type": "add_tag", "tag": "new"},
            {"id": "a", "type": "exit"},
            {"id": "b", "type": "exit"}
        ]);
        assert_problem(
            doc(
                nodes.clone(),
                json!([{"from": "start", "to": "tag"}, {"from": "tag", "to": "a"}, {"from": "tag", "to": "b"}]),
            ),
            "node 'tag': has 2 outgoing edges, but a add_tag node continues along exactly one",
        );
        assert_problem(
            doc(
                nodes,
                json!([{"from": "start", "to": "tag"}, {"from": "start", "to": "a"}, {"from": "start", "to": "b"}]),
            ),
            "node 'tag': has no outgoing edge; connect it to the next step or to an exit",
        );
    }

    #[test]
    fn exits_lead_nowhere_and_entries_come_from_nowhere() {
        assert_problem(
            doc(
                json!([{"id": "start", "type": "webhook_entry"}, {"id": "end", "type": "exit"}, {"id": "more", "type": "exit"}]),
                json!([{"from": "start", "to": "end"}, {"from": "end", "to": "more"}]),
            ),
            "node 'end': edge to 'more': an exit node has no outgoing edges",
        );
        assert_problem(
            doc(
                json!([{"id": "a", "type": "webhook_entry"}, {"id": "b", "type": "segment_entry"}, {"id": "end", "type": "exit"}]),
                json!([{"from": "a", "to": "b"}, {"from": "b", "to": "end"}]),
            ),
            "node 'b': an entry node cannot have incoming edges",
        );
    }

    #[test]
    fn templates_that_do_not_parse_are_refused() {
        assert_problem(
            entry_to(
                json!({"id": "hello", "type": "send_email", "subject": "Hi {{ contact.name", "html": "<p>ok</p>"}),
            ),
            "node 'hello': field 'subject': template does not parse: unexpected end of input",
        );
        assert_problem(
            entry_to(json!({"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>\n{% if x %}</p>"})),
            "node 'hello': field 'html': template does not parse",
        );
        assert_problem(
            entry_to(json!({"id": "sms", "type": "send_sms", "text": "  "})),
            "node 'sms': field 'text': is empty",
        );
        assert_problem(
            entry_to(json!({"id": "hook", "type": "webhook", "url": "ftp://x", "headers": {"X-Id": "{{ contact.id"}})),
            "node 'hook': field 'url': 'ftp://x' is not an http:// or https:// URL",
        );
        assert_problem(
            entry_to(
                json!({"id": "hook", "type": "webhook", "url": "https://x", "headers": {"X-Id": "{{ contact.id"}}),
            ),
            "node 'hook': field 'headers.X-Id': template does not parse",
        );
    }

    #[test]
    fn a_message_reference_must_name_an_earlier_send_node() {
        let flow = |message: &str| {
            doc(
                json!([
                    {"id": "start", "type": "webhook_entry"},
                    {"id": "tag", "type": "add_tag", "tag": "x"},
                    {"id": "read", "type": "wait_for_event", "event": "opened", "message": message, "timeout": "1h"},
                    {"id": "later", "type": "send_sms", "text": "hi"},
                    {"id": "done", "type": "exit"}
                ]),
                json!([
                    {"from": "start", "to": "tag"}, {"from": "tag", "to": "read"},
                    {"from": "read", "to": "later", "when": "timeout"}, {"from": "read", "to": "done", "when": "event"},
                    {"from": "later", "to": "done"}
                ]),
            )
        };
        assert_problem(
            flow("tag"),
            "node 'read': field 'message': 'tag' is a add_tag node; 'message' must name a send_email, send_sms or send_push node",
        );
        assert_problem(flow("nope"), "node 'read': field 'message': no node has id 'nope'");
        assert_problem(
            flow("later"),
            "node 'read': field 'message': 'later' is not sent on any path that leads to this node",
        );
    }

    #[test]
    fn split_arms_must_be_sound_and_match_the_edges() {
        let split = |arms: Value, edges: Value| {
            let mut all = vec![json!({"from": "start", "to": "ab"})];
            all.extend(edges.as_array().unwrap().iter().cloned());
            doc(
                json!([{"id": "start", "type": "webhook_entry"}, {"id": "ab", "type": "split", "arms": arms}, {"id": "a", "type": "exit"}, {"id": "b", "type": "exit"}]),
                Value::Array(all),
            )
        };
        let edges = json!([{"from": "ab", "to": "a", "when": "a"}, {"from": "ab", "to": "b", "when": "b"}]);
        assert!(
            problems(split(
                json!([{"name": "a", "weight": 1}, {"name": "b", "weight": 3}]),
                edges.clone()
            ))
            .is_empty()
        );
        assert_problem(
            split(
                json!([{"name": "a", "weight": 0}, {"name": "b", "weight": 1}]),
                edges.clone(),
            ),
            "node 'ab': field 'arms[0].weight': must be greater than 0",
        );
        assert_problem(
            split(
                json!([{"name": "a", "weight": 1}, {"name": "a", "weight": 1}]),
                edges.clone(),
            ),
            "node 'ab': field 'arms[1].name': duplicate arm name 'a'",
        );
        assert_problem(
            split(json!([{"name": "a", "weight": 1}]), edges.clone()),
            "node 'ab': field 'arms': a split needs at least two arms",
        );
        assert_problem(
            split(json!([{"name": "a", "weight": 1}, {"name": "c", "weight": 1}]), edges),
            "node 'ab': edge to 'b' has unknown label 'b'; a split node's edges are 'a', 'c'",
        );
    }

    #[test]
    fn node_parameters_are_range_checked() {
        assert_problem(
            entry_to(json!({"id": "cg", "type": "control_group", "percent": 120})),
            "node 'cg': field 'percent': 120 is not between 0 and 100",
        );
        assert_problem(
            entry_to(json!({"id": "t", "type": "add_tag", "tag": ""})),
            "node 't': field 'tag': is empty",
        );
        assert_problem(
            entry_to(json!({"id": "l", "type": "remove_from_list", "list": " "})),
            "node 'l': field 'list': is empty",
        );
        assert_problem(
            entry_to(json!({"id": "b", "type": "branch", "condition": {"field": {"path": "x", "op": "gt"}}})),
            "node 'b': field 'condition.field.value': 'gt' needs a value",
        );
        assert_problem(
            entry_to(json!({"id": "w", "type": "wait_until"})),
            "node 'w': needs one of 'at' (an instant), 'field' (a date field) or 'time' (a time of day)",
        );
        assert_problem(
            entry_to(json!({"id": "w", "type": "wait_until", "at": "2027-01-01T00:00:00Z", "days": ["mon"]})),
            "node 'w': field 'at': a fixed instant takes no 'days', 'anniversary' or 'timezone'",
        );
        assert_problem(
            entry_to(json!({"id": "w", "type": "wait_until", "time": "09:00", "days": []})),
            "node 'w': field 'days': lists no days",
        );
        assert_problem(
            entry_to(json!({"id": "w", "type": "wait_until", "time": "09:00", "anniversary": true})),
            "node 'w': field 'anniversary': needs a date 'field'",
        );
        assert_problem(
            entry_to(json!({"id": "w", "type": "wait_until", "time": "09:00", "days": ["someday"]})),
            "node 'w': field 'days[0]': unknown variant `someday`",
        );
        assert_problem(
            entry_to(json!({"id": "e", "type": "wait", "duration": "1h", "position": {"x": "left"}})),
            "node 'e': field 'position.x': invalid type",
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let found = problems(doc(
            json!([
                {"id": "start", "type": "webhook_entry"},
                {"id": "hello", "type": "send_email", "subject": "{{", "html": "<p>hi</p>"},
                {"id": "read", "type": "wait_for_event", "event": "opened", "timeout": "soon"},
                {"id": "fax", "type": "send_fax"},
                {"id": "done", "type": "exit"}
            ]),
            json!([{"from": "start", "to": "hello"}, {"from": "hello", "to": "nowhere"}]),
        ));
        let expected = [
            "node 'read': field 'timeout': invalid duration 'soon'",
            "node 'fax': field 'type': unknown node type 'send_fax'",
            "node 'hello': field 'edges[1].to': edge to unknown node 'nowhere'",
            "node 'done': is unreachable",
            "node 'hello': field 'subject': template does not parse",
        ];
        assert_eq!(found.len(), expected.len(), "{found:#?}");
        for (f, e) in found.iter().zip(expected) {
            assert!(f.starts_with(e), "{f:?} should start with {e:?}");
        }
    }

    #[test]
    fn every_bad_field_of_one_node_is_reported_with_the_checks_of_its_good_fields() {
        let found = problems(entry_to(json!({
            "id": "mail", "type": "send_email", "subject": "{{ x", "html": "{% if %}",
            "window": {"start": "25:00", "end": "09:00"}, "pace": "fast", "colour": "red"
        })));
        for expected in [
            "node 'mail': field 'window.start'",
            "node 'mail': field 'pace'",
            "node 'mail': field 'colour': unknown field",
            "node 'mail': field 'subject': template does not parse",
            "node 'mail': field 'html': template does not parse",
        ] {
            assert!(
                found.iter().any(|f| f.starts_with(expected)),
                "{expected:?} is missing from {found:#?}"
            );
        }
    }

    #[test]
    fn a_bad_required_field_is_reported_with_the_other_bad_fields_of_its_node() {
        let found = problems(entry_to(json!({
            "id": "read", "type": "wait_for_event", "event": "opened", "timeout": "soon", "message": 7
        })));
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("node 'read': field 'timeout': invalid duration")),
            "{found:#?}"
        );
        assert!(
            found.iter().any(|f| f.starts_with("node 'read': field 'message'")),
            "{found:#?}"
        );
    }

    #[test]
    fn an_unknown_key_with_a_dot_is_taken_out_alone() {
        let found = problems(entry_to(json!({
            "id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>{{ x</p>", "html.x": 1
        })));
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("node 'mail': field 'html.x': unknown field")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("node 'mail': field 'html': template does not parse")),
            "html itself is still checked: {found:#?}"
        );
        assert!(!found.iter().any(|f| f.contains("missing field")), "{found:#?}");
    }

    #[test]
    fn a_node_of_thousands_of_unknown_keys_is_read_in_a_bounded_number_of_passes() {
        let mut node = serde_json::Map::new();
        node.insert("id".into(), json!("w"));
        node.insert("type".into(), json!("wait"));
        node.insert("duration".into(), json!("1h"));
        for i in 0..20_000 {
            node.insert(format!("k{i}"), json!(i));
        }
        let started = std::time::Instant::now();
        let found = problems(entry_to(Value::Object(node)));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            found.iter().filter(|f| f.contains("unknown field")).count(),
            FIELD_PASSES
        );
        assert!(
            found.iter().any(|f| f.contains("the others were not checked")),
            "{found:#?}"
        );
    }

    #[test]
    fn type_mistakes_are_told_in_json_terms_and_instants_show_their_form() {
        let found = problems(entry_to(json!({
            "id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>", "pace": "fast"
        })));
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("node 'mail': field 'pace'") && f.contains("expected an object")),
            "{found:#?}"
        );
        let found = problems(entry_to(json!({"id": "w", "type": "wait_until", "at": "tomorrow"})));
        assert!(
            found
                .iter()
                .any(|f| f.contains("invalid instant 'tomorrow'") && f.contains("2026-12-24T09:00:00Z")),
            "{found:#?}"
        );
        for at in [
            "2026-12-24T09:00:00+02:00",
            "2026-12-24T09:00:00+0200",
            "2026-12-24 09:00:00 UTC",
        ] {
            let found = problems(entry_to(json!({"id": "w", "type": "wait_until", "at": at})));
            assert!(found.is_empty(), "{at} is read as before: {found:#?}");
        }
        let found = problems(entry_to(json!({
            "id": "w", "type": "wait_until", "at": "2027-01-01T00:00:00Z", "time": "09:00", "timezone": "Mars/Base"
        })));
        assert!(
            found.iter().any(|f| f.starts_with("node 'w': field 'timezone'")),
            "{found:#?}"
        );
        assert!(
            found.len() > 1,
            "a bad timezone does not hide that at and time conflict: {found:#?}"
        );
    }

    #[test]
    fn a_bad_field_is_not_echoed_as_a_node_that_lacks_it() {
        let found = problems(entry_to(json!({"id": "w", "type": "wait_until", "at": "tomorrow"})));
        assert!(
            found.iter().any(|f| f.starts_with("node 'w': field 'at'")),
            "{found:#?}"
        );
        assert_eq!(found.len(), 1, "{found:#?}");
    }

    #[test]
    fn a_node_with_a_bad_optional_field_still_has_its_edges_checked() {
        let found = problems(doc(
            json!([{"id": "start", "type": "webhook_entry"},
                   {"id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>", "pace": "fast"}]),
            json!([{"from": "start", "to": "mail"}]),
        ));
        assert!(
            found.iter().any(|f| f.starts_with("node 'mail': field 'pace'")),
            "{found:#?}"
        );
        assert!(
            found.iter().any(|f| f.starts_with("node 'mail': has no outgoing edge")),
            "{found:#?}"
        );
    }

    #[test]
    fn nodes_without_an_id_are_not_reported_as_duplicates_of_each_other() {
        let found = problems(doc(
            json!([{"id": "start", "type": "webhook_entry"}, {"id": "", "type": "exit"}, {"id": "", "type": "exit"}]),
            json!([]),
        ));
        assert!(!found.iter().any(|f| f.contains("duplicate")), "{found:#?}");
    }

    #[test]
    fn a_duplicate_id_is_reported_even_when_the_first_of_the_two_does_not_parse() {
        let found = problems(doc(
            json!([{"id": "a", "type": "bogus"}, {"id": "a", "type": "exit"}, {"id": "start", "type": "webhook_entry"}]),
            json!([{"from": "start", "to": "a"}]),
        ));
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("node 'a': field 'type': unknown node type 'bogus'")),
            "{found:#?}"
        );
        assert!(
            found.iter().any(|f| f == "node 'a': duplicate node id (also node #1)"),
            "{found:#?}"
        );
    }

    #[test]
    fn a_definition_round_trips_through_json() {
        let flow = CompiledFlow::from_json(include_str!("../templates/welcome.json")).unwrap();
        let text = serde_json::to_string(flow.definition()).unwrap();
        let again = parse_definition(&text).unwrap();
        assert_eq!(&again, flow.definition());
    }

    #[test]
    fn a_sender_with_a_line_break_or_without_an_address_is_refused() {
        for from in ["news@shop.example\r\nBcc: all@example.com", "Shop", "Shop <news>", ""] {
            let node = json!({"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>", "from": from});
            assert_problem(entry_to(node), "node 'hello': field 'from'");
        }
        for from in [
            "news@shop.example",
            "Shop <news@shop.example>",
            "\"Shop, Inc.\" <news@shop.example>",
        ] {
            let node = json!({"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>", "from": from});
            assert_eq!(problems(entry_to(node)), Vec::<String>::new(), "{from}");
        }
    }

    #[test]
    fn a_webhook_header_name_that_http_cannot_carry_is_refused() {
        let node = json!({"id": "hook", "type": "webhook", "url": "https://hooks.example/x",
                          "headers": {"X-Ok": "1", "Bad Name": "2", "X-Line\n": "3"}});
        let found = problems(entry_to(node));
        assert!(
            found.iter().any(|p| p.contains("field 'headers.Bad Name'")),
            "{found:#?}"
        );
        assert!(
            found.iter().any(|p| p.contains("field 'headers.X-Line\n'")),
            "{found:#?}"
        );
        assert!(!found.iter().any(|p| p.contains("X-Ok")), "{found:#?}");
        let node = json!({"id": "hook", "type": "webhook", "url": "https://hooks.example/x",
                          "headers": {"Host": "admin.internal", "transfer-encoding": "chunked", "Proxy-Authorization": "x"}});
        let found = problems(entry_to(node));
        for name in ["Host", "transfer-encoding", "Proxy-Authorization"] {
            assert!(
                found
                    .iter()
                    .any(|p| p.contains(&format!("field 'headers.{name}': is set by the HTTP connection"))),
                "{name}: {found:#?}"
            );
        }
    }

    #[test]
    fn a_node_id_with_a_control_character_is_refused() {
        let node = json!({"id": "wa\u{0}it", "type": "wait", "duration": "1h"});
        assert_problem(entry_to(node), "field 'id': must not contain control characters");
    }

    #[test]
    fn the_schema_describes_every_node_type() {
        let schema = crate::definition::json_schema().to_string();
        for t in NODE_TYPES {
            assert!(schema.contains(&format!("\"{t}\"")), "schema lacks {t}");
        }
    }
}
