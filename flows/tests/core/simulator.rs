//! The virtual-clock simulator: who enters, when, in which order, and for how long.

use chrono::{DateTime, TimeDelta, Utc};
use flows::compile::compile_value;
use flows::simulate::{Scenario, Summary, simulate};
use flows::{CompiledFlow, Contact, Event, Policy};
use serde_json::{Value, json};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const T0: &str = "2026-12-30T08:00:00Z";

fn flow(extra: Value, nodes: Value, edges: Value) -> CompiledFlow {
    let mut doc = json!({"format": "cairn.flow/v1", "name": "Sim", "nodes": nodes, "edges": edges});
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    compile_value(doc).unwrap_or_else(|p| panic!("{p}"))
}

fn event(at_: &str, contact: &str, kind: &str) -> Event {
    Event {
        at: at(at_),
        contact: contact.into(),
        kind: kind.into(),
        message: None,
        tag: None,
        list: None,
        data: Default::default(),
    }
}

/// Runs and returns the journal as `"<time> <contact> <node> <action>"` lines plus the summary.
fn run(flow: &CompiledFlow, contacts: Vec<Contact>, events: Vec<Event>, span: TimeDelta) -> (Vec<String>, Summary) {
    let mut lines = Vec::new();
    let scenario = Scenario {
        contacts,
        events,
        start: at(T0),
        end: at(T0) + span,
        segments: Default::default(),
    };
    let summary = simulate(flow, &Policy::default(), scenario, &mut |e| {
        lines.push(format!(
            "{} {} {} {}",
            e.at.format("%m-%d %H:%M"),
            e.contact,
            e.node,
            e.action.name()
        ));
    });
    (lines, summary)
}

fn contacts(ids: &[&str]) -> Vec<Contact> {
    ids.iter().map(|id| Contact::new(*id)).collect()
}

fn event_entry_flow(reentry: &str) -> CompiledFlow {
    flow(
        json!({"reentry": reentry}),
        json!([
            {"id": "cart", "type": "event_entry", "event": "cart_abandoned"},
            {"id": "wait", "type": "wait", "duration": "1h"},
            {"id": "done", "type": "exit"}
        ]),
        json!([{"from": "cart", "to": "wait"}, {"from": "wait", "to": "done"}]),
    )
}

#[test]
fn event_entries_admit_contacts_when_their_event_arrives_and_carry_its_data() {
    let f = flow(
        json!({}),
        json!([
            {"id": "vip", "type": "event_entry", "event": "tag_added", "tag": "vip"},
            {"id": "note", "type": "webhook", "url": "https://crm.example/{{data.source}}"},
            {"id": "done", "type": "exit"}
        ]),
        json!([{"from": "vip", "to": "note"}, {"from": "note", "to": "done"}]),
    );
    let mut tagged = event("2026-12-30T09:00:00Z", "c1", "tag_added");
    tagged.tag = Some("vip".into());
    tagged.data.insert("source".into(), json!("landing"));
    let mut other_tag = event("2026-12-30T09:00:00Z", "c2", "tag_added");
    other_tag.tag = Some("newsletter".into());
    let mut journal = Vec::new();
    let scenario = Scenario {
        contacts: contacts(&["c1", "c2"]),
        events: vec![tagged, other_tag],
        start: at(T0),
        end: at(T0) + TimeDelta::days(1),
        segments: Default::default(),
    };
    simulate(&f, &Policy::default(), scenario, &mut |e| {
        journal.push(serde_json::to_value(e).unwrap())
    });
    assert_eq!(journal.len(), 3, "only c1 enters: {journal:#?}");
    assert_eq!(journal[1]["to"], "https://crm.example/landing");
    assert!(journal.iter().all(|l| l["contact"] == "c1"));
}

#[test]
fn a_contact_in_the_flow_does_not_enter_again_until_it_has_left() {
    let events = vec![
        event("2026-12-30T09:00:00Z", "c1", "cart_abandoned"),
        event("2026-12-30T09:30:00Z", "c1", "cart_abandoned"),
        event("2026-12-30T11:00:00Z", "c1", "cart_abandoned"),
    ];
    let (lines, summary) = run(
        &event_entry_flow("after_exit"),
        contacts(&["c1"]),
        events.clone(),
        TimeDelta::days(1),
    );
    assert_eq!(
        lines,
        [
            "12-30 09:00 c1 cart entered",
            "12-30 09:00 c1 wait waiting",
            "12-30 10:00 c1 done exited",
            "12-30 11:00 c1 cart entered",
            "12-30 11:00 c1 wait waiting",
            "12-30 12:00 c1 done exited"
        ]
    );
    assert_eq!(summary.tokens, 2);

    let (_, never) = run(
        &event_entry_flow("never"),
        contacts(&["c1"]),
        events.clone(),
        TimeDelta::days(1),
    );
    assert_eq!(never.tokens, 1);
    let (_, always) = run(
        &event_entry_flow("always"),
        contacts(&["c1"]),
        events,
        TimeDelta::days(1),
    );
    assert_eq!(always.tokens, 3);
}

#[test]
fn segment_entries_admit_the_members_of_their_list_at_the_start() {
    let f = flow(
        json!({}),
        json!([{"id": "members", "type": "segment_entry", "list": "newsletter"}, {"id": "done", "type": "exit"}]),
        json!([{"from": "members", "to": "done"}]),
    );
    let mut cs = contacts(&["c1", "c2", "c3"]);
    cs[0].lists.insert("newsletter".into());
    cs[2].lists.insert("newsletter".into());
    let (lines, _) = run(&f, cs, vec![], TimeDelta::days(1));
    assert_eq!(
        lines,
        [
            "12-30 08:00 c1 members entered",
            "12-30 08:00 c1 done exited",
            "12-30 08:00 c3 members entered",
            "12-30 08:00 c3 done exited"
        ]
    );
}

fn waiting_flow() -> CompiledFlow {
    flow(
        json!({}),
        json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "read", "type": "wait_for_event", "event": "opened", "timeout": "2h"},
            {"id": "yes", "type": "exit"},
            {"id": "no", "type": "exit"}
        ]),
        json!([{"from": "start", "to": "read"}, {"from": "read", "to": "yes", "when": "event"}, {"from": "read", "to": "no", "when": "timeout"}]),
    )
}

#[test]
fn an_event_at_the_very_instant_of_the_timeout_still_counts() {
    let events = vec![event("2026-12-30T10:00:00Z", "c1", "opened")];
    let (lines, _) = run(&waiting_flow(), contacts(&["c1", "c2"]), events, TimeDelta::days(1));
    assert_eq!(
        lines,
        [
            "12-30 08:00 c1 start entered",
            "12-30 08:00 c1 read waiting",
            "12-30 08:00 c2 start entered",
            "12-30 08:00 c2 read waiting",
            "12-30 10:00 c1 read event",
            "12-30 10:00 c1 yes exited",
            "12-30 10:00 c2 read timed_out",
            "12-30 10:00 c2 no exited"
        ]
    );
}

#[test]
fn the_simulation_stops_at_its_horizon_and_reports_who_is_still_waiting() {
    let (lines, summary) = run(
        &waiting_flow(),
        contacts(&["c1"]),
        vec![event("2026-12-30T09:30:00Z", "c1", "opened")],
        TimeDelta::hours(1),
    );
    assert_eq!(lines, ["12-30 08:00 c1 start entered", "12-30 08:00 c1 read waiting"]);
    assert_eq!(summary.active, 1);
    let read = summary.nodes.iter().find(|n| n.id == "read").unwrap();
    assert_eq!(read.waiting_at_end, 1);
    assert_eq!(read.actions["waiting"], 1);
}

#[test]
fn events_for_unknown_contacts_are_counted_not_applied() {
    let (_, summary) = run(
        &waiting_flow(),
        contacts(&["c1"]),
        vec![event("2026-12-30T09:00:00Z", "ghost", "opened")],
        TimeDelta::days(1),
    );
    assert_eq!(summary.unknown_contact_events, 1);
}

#[test]
fn tags_added_by_the_flow_are_visible_to_later_branches_of_the_same_contact() {
    let f = flow(
        json!({"reentry": "always"}),
        json!([
            {"id": "go", "type": "event_entry", "event": "visit"},
            {"id": "known", "type": "branch", "condition": {"has_tag": "visited"}},
            {"id": "mark", "type": "add_tag", "tag": "visited"},
            {"id": "done", "type": "exit"}
        ]),
        json!([
            {"from": "go", "to": "known"}, {"from": "known", "to": "done", "when": "yes"},
            {"from": "known", "to": "mark", "when": "no"}, {"from": "mark", "to": "done"}
        ]),
    );
    let events = vec![
        event("2026-12-30T09:00:00Z", "c1", "visit"),
        event("2026-12-30T10:00:00Z", "c1", "visit"),
    ];
    let mut edges = Vec::new();
    let scenario = Scenario {
        contacts: contacts(&["c1"]),
        events,
        start: at(T0),
        end: at(T0) + TimeDelta::days(1),
        segments: Default::default(),
    };
    simulate(&f, &Policy::default(), scenario, &mut |e| {
        if let flows::Action::Branched { edge } = &e.action {
            edges.push(edge.clone());
        }
    });
    assert_eq!(edges, ["no", "yes"]);
}

#[test]
fn a_zero_timeout_after_a_wait_still_fires() {
    let f = flow(
        json!({}),
        json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "pause", "type": "wait", "duration": "1h"},
            {"id": "now", "type": "wait_for_event", "event": "opened", "timeout": "0s"},
            {"id": "yes", "type": "exit"},
            {"id": "no", "type": "exit"}
        ]),
        json!([
            {"from": "start", "to": "pause"}, {"from": "pause", "to": "now"},
            {"from": "now", "to": "yes", "when": "event"}, {"from": "now", "to": "no", "when": "timeout"}
        ]),
    );
    let (lines, summary) = run(&f, contacts(&["c1"]), vec![], TimeDelta::days(1));
    assert_eq!(lines.last().unwrap(), "12-30 09:00 c1 no exited");
    assert_eq!(summary.active, 0);
}

#[test]
fn tag_events_update_the_contact_before_its_journey_branches_on_them() {
    let f = flow(
        json!({}),
        json!([
            {"id": "vip", "type": "event_entry", "event": "tag_added", "tag": "vip"},
            {"id": "check", "type": "branch", "condition": {"has_tag": "vip"}},
            {"id": "yes", "type": "exit"},
            {"id": "no", "type": "exit"}
        ]),
        json!([{"from": "vip", "to": "check"}, {"from": "check", "to": "yes", "when": "yes"}, {"from": "check", "to": "no", "when": "no"}]),
    );
    let mut e = event("2026-12-30T09:00:00Z", "c1", "tag_added");
    e.tag = Some("vip".into());
    let (lines, _) = run(&f, contacts(&["c1"]), vec![e], TimeDelta::days(1));
    assert_eq!(lines.last().unwrap(), "12-30 09:00 c1 yes exited");
}

#[test]
fn events_before_the_start_are_not_applied() {
    let (lines, summary) = run(
        &waiting_flow(),
        contacts(&["c1"]),
        vec![event("2026-12-30T07:00:00Z", "c1", "opened")],
        TimeDelta::days(1),
    );
    assert_eq!(summary.events_before_start, 1);
    assert_eq!(lines.last().unwrap(), "12-30 10:00 c1 no exited");
}

#[test]
fn a_branch_on_message_history_sees_the_opens_of_simulated_sends() {
    let f = flow(
        json!({"name": "Welcome"}),
        json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>"},
            {"id": "later", "type": "wait", "duration": "1d"},
            {"id": "read", "type": "branch", "condition":
                {"message": {"event": "opened", "flow": "Welcome", "when": {"within": "1d"}}}},
            {"id": "nudge", "type": "send_sms", "text": "Did you see our email?"},
            {"id": "done", "type": "exit"}
        ]),
        json!([
            {"from": "start", "to": "hello"}, {"from": "hello", "to": "later"},
            {"from": "later", "to": "read"},
            {"from": "read", "to": "done", "when": "yes"}, {"from": "read", "to": "nudge", "when": "no"},
            {"from": "nudge", "to": "done"}
        ]),
    );
    assert!(f.reads_messages());
    let people: Vec<Contact> = ["ann", "bob", "cy"]
        .iter()
        .map(|id| {
            let mut c = Contact::new(*id);
            c.email = Some(format!("{id}@example.com"));
            c.phone = Some("+37255512345".into());
            c
        })
        .collect();
    // Ann opens the email (named by its node), Cy too (named by its message id), Bob never.
    let mut ann = event("2026-12-30T10:00:00Z", "ann", "opened");
    ann.message = Some("hello".into());
    let mut cy = event("2026-12-30T12:00:00Z", "cy", "opened");
    cy.message = Some("cy.1.hello".into());
    let mut journal = Vec::new();
    let scenario = Scenario {
        contacts: people,
        events: vec![ann, cy],
        start: at(T0),
        end: at(T0) + TimeDelta::days(3),
        segments: Default::default(),
    };
    simulate(&f, &Policy::default(), scenario, &mut |e| {
        journal.push(serde_json::to_value(e).unwrap())
    });
    let branched: Vec<(String, String)> = journal
        .iter()
        .filter(|l| l["action"] == "branched")
        .map(|l| {
            (
                l["contact"].as_str().unwrap().into(),
                l["edge"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [("ann", "yes"), ("bob", "no"), ("cy", "yes")].map(|(c, e)| (c.to_string(), e.to_string()));
    assert_eq!(branched, expected);
    let nudged: Vec<&str> = journal
        .iter()
        .filter(|l| l["node"] == "nudge" && l["action"] == "sent")
        .map(|l| l["contact"].as_str().unwrap())
        .collect();
    assert_eq!(nudged, ["bob"], "only the contact who did not open gets the SMS");
}

#[test]
fn an_open_older_than_the_branch_asks_for_does_not_count() {
    let f = flow(
        json!({"name": "Welcome"}),
        json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>"},
            {"id": "later", "type": "wait", "duration": "3d"},
            {"id": "read", "type": "branch", "condition":
                {"message": {"event": "opened", "flow": "Welcome", "when": {"within": "1d"}}}},
            {"id": "done", "type": "exit"},
            {"id": "unread", "type": "exit"}
        ]),
        json!([
            {"from": "start", "to": "hello"}, {"from": "hello", "to": "later"},
            {"from": "later", "to": "read"},
            {"from": "read", "to": "done", "when": "yes"}, {"from": "read", "to": "unread", "when": "no"}
        ]),
    );
    let mut ann = Contact::new("ann");
    ann.email = Some("ann@example.com".into());
    let mut opened = event("2026-12-30T09:00:00Z", "ann", "opened");
    opened.message = Some("hello".into());
    let mut journal = Vec::new();
    let scenario = Scenario {
        contacts: vec![ann],
        events: vec![opened],
        start: at(T0),
        end: at(T0) + TimeDelta::days(5),
        segments: Default::default(),
    };
    simulate(&f, &Policy::default(), scenario, &mut |e| {
        journal.push(serde_json::to_value(e).unwrap())
    });
    let branch = journal.iter().find(|l| l["action"] == "branched").expect("branched");
    assert_eq!(
        branch["edge"], "no",
        "opened three days before the branch, not within one"
    );
}
