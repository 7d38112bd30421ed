//! The compiler's problems, each as the user reads it.

use serde_json::json;

use super::read::FIELD_PASSES;
use super::*;
use crate::definition::{FORMAT_V1, NODE_TYPES};

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
    let text = include_str!("../../templates/welcome.json");
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
        entry_to(json!({"id": "hello", "type": "send_email", "subject": "Hi {{ contact.name", "html": "<p>ok</p>"})),
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
        entry_to(json!({"id": "hook", "type": "webhook", "url": "https://x", "headers": {"X-Id": "{{ contact.id"}})),
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
    let flow = CompiledFlow::from_json(include_str!("../../templates/welcome.json")).unwrap();
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
