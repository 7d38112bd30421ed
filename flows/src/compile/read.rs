//! The lenient reader: JSON text or a value → [`Definition`], as far as it goes. It does not stop
//! at the first mistake: a bad optional field is taken out and the node read again, and nodes
//! that do not parse are remembered (position, id, type) so the graph checks still see them.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::channel::Channel;
use crate::definition::*;
use crate::json::{json_error_message, typed_at};
use crate::policy::SendRules;
use crate::problem::{Problem, Problems};
use crate::values::Zone;

/// Parses JSON text; a syntax error carries its line and column.
pub(super) fn parse_json(text: &str) -> Result<Value, Problems> {
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

/// A document read as far as possible: the nodes that parsed and where each stood in the
/// document, the (position, id, type) of those that did not (so graph checks still see them),
/// and the problems found so far.
pub(super) struct Parsed {
    pub definition: Definition,
    pub positions: Vec<usize>,
    /// For each node of the definition, the bad (optional) fields taken out so it would parse.
    pub taken_out: Vec<Vec<String>>,
    pub broken: Vec<(usize, String, String)>,
    pub problems: Vec<Problem>,
}

/// Reads the document's top level and every node and edge, collecting problems as it goes.
pub(super) fn read(value: Value) -> Result<Parsed, Problems> {
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
pub(super) const FIELD_PASSES: usize = 16;

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
    let node_type = match type_name.parse::<NodeType>() {
        Ok(t) => t,
        Err(unknown) => {
            problems.push(Problem::field(id, "type", unknown.to_string()));
            return failed();
        }
    };
    loop {
        match NodeKind::read(node_type, Value::Object(body.clone())) {
            Ok(kind) => {
                return Fields {
                    kind: Some(kind),
                    taken_out,
                };
            }
            Err(e) => {
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
