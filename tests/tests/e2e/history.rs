//! Message history in journeys: a `branch` reads what a contact did with the messages other
//! journeys sent them (an email opened through its tracking pixel), on SQLite and PostgreSQL.

use chrono::TimeDelta;
use serde_json::{Value, json};
use tests::service::{TestApp, backends};

const WELCOME: &str = r#"{"format": "cairn.flow/v1", "name": "A", "nodes": [
    {"id": "start", "type": "webhook_entry"},
    {"id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>Hello</p>"},
    {"id": "done", "type": "exit"}],
    "edges": [{"from": "start", "to": "mail"}, {"from": "mail", "to": "done"}]}"#;

const OFFER: &str = r#"{"format": "cairn.flow/v1", "name": "B", "nodes": [
    {"id": "start", "type": "webhook_entry"},
    {"id": "read", "type": "branch", "condition": {"message": {"event": "opened", "flow": "A"}}},
    {"id": "warm", "type": "add_tag", "tag": "warm"},
    {"id": "cold", "type": "add_tag", "tag": "cold"},
    {"id": "done", "type": "exit"}],
    "edges": [{"from": "start", "to": "read"},
      {"from": "read", "to": "warm", "when": "yes"}, {"from": "read", "to": "cold", "when": "no"},
      {"from": "warm", "to": "done"}, {"from": "cold", "to": "done"}]}"#;

async fn enter(t: &TestApp, flow: i64, contact: &str) {
    let entry = json!({"contact": {"id": contact, "email": format!("{contact}@example.com")}}).to_string();
    let (status, answer) = t.post(&format!("/api/flows/{flow}/entries"), &entry).await;
    assert!(status.is_success(), "{answer}");
}

/// The open pixel of the email the outbox holds for `contact`.
async fn pixel_of(t: &TestApp, contact: &str) -> String {
    let (_, outbox) = t.get("/api/outbox").await;
    let message = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["contact"] == contact)
        .unwrap_or_else(|| panic!("an email to {contact}: {outbox}"));
    let html = message["content"]["html"].as_str().unwrap();
    let pixel = &html[html.find("/t/o/").expect("an open pixel")..];
    pixel[..pixel.find('"').unwrap()].replace("&amp;", "&")
}

/// The edge the contact's `branched` line names in their journal.
async fn branch_taken(t: &TestApp, contact: &str) -> Value {
    let (_, journal) = t.get(&format!("/api/contacts/{contact}/journal")).await;
    let line = journal
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["action"] == "branched")
        .unwrap_or_else(|| panic!("{contact} branched: {journal}"));
    line["edge"].clone()
}

#[tokio::test]
async fn a_branch_sees_that_the_contact_opened_an_email_another_flow_sent() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let welcome = t.activate(WELCOME).await;
        let offer = t.activate(OFFER).await;
        for id in ["ann", "bob", "cy"] {
            enter(&t, welcome, id).await;
        }
        t.settle().await;
        let pixel = pixel_of(&t, "ann").await;
        t.advance(TimeDelta::hours(2)).await;
        let response = t.get_raw(&pixel).await;
        assert!(response.status().is_success(), "{}", response.status());
        // Cy's open arrives as an event from elsewhere, naming the message; Bob names Cy's.
        let (_, outbox) = t.get("/api/outbox").await;
        let to_cy = outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["contact"] == "cy")
            .unwrap();
        for who in ["cy", "bob"] {
            let opened = json!({"contact": who, "type": "opened", "message": to_cy["id"]}).to_string();
            let (status, answer) = t.post("/api/events", &opened).await;
            assert!(status.is_success(), "{answer}");
        }
        t.settle().await;

        for id in ["ann", "bob", "cy"] {
            enter(&t, offer, id).await;
        }
        t.settle().await;

        assert_eq!(
            branch_taken(&t, "ann").await,
            "yes",
            "{}: ann opened A's email",
            backend.name
        );
        assert_eq!(
            branch_taken(&t, "cy").await,
            "yes",
            "{}: cy's open was posted",
            backend.name
        );
        assert_eq!(
            branch_taken(&t, "bob").await,
            "no",
            "{}: bob opened nothing of his own",
            backend.name
        );
        let (_, ann) = t.get("/api/contacts/ann").await;
        let active: Vec<&str> = ann["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["active"] == true)
            .map(|t| t["tag"].as_str().unwrap())
            .collect();
        assert_eq!(active, ["warm"], "{}", backend.name);
        t.stop().await;
    }
}

#[tokio::test]
async fn a_branch_right_after_a_send_sees_it_once_delivery_has_accepted_it() {
    let flow = r#"{"format": "cairn.flow/v1", "name": "Nudge", "nodes": [
        {"id": "start", "type": "webhook_entry"},
        {"id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>Hello</p>"},
        {"id": "now", "type": "branch", "condition": {"message": {"event": "sent", "node": "mail"}}},
        {"id": "seen", "type": "wait", "duration": "1m"},
        {"id": "pause", "type": "wait", "duration": "1m"},
        {"id": "later", "type": "branch", "condition": {"message": {"event": "sent", "node": "mail"}}},
        {"id": "done", "type": "exit"},
        {"id": "lost", "type": "exit"}],
        "edges": [{"from": "start", "to": "mail"}, {"from": "mail", "to": "now"},
          {"from": "now", "to": "seen", "when": "yes"}, {"from": "now", "to": "pause", "when": "no"},
          {"from": "seen", "to": "later"}, {"from": "pause", "to": "later"},
          {"from": "later", "to": "done", "when": "yes"}, {"from": "later", "to": "lost", "when": "no"}]}"#;
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let id = t.activate(flow).await;
        enter(&t, id, "ann").await;
        t.settle().await;
        t.advance(TimeDelta::minutes(1)).await;
        let (_, journal) = t.get("/api/contacts/ann/journal").await;
        let edges: Vec<(&str, &str)> = journal
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["action"] == "branched")
            .map(|l| (l["node"].as_str().unwrap(), l["edge"].as_str().unwrap()))
            .collect();
        assert_eq!(
            edges,
            [("now", "no"), ("later", "yes")],
            "{}: the send counts once accepted, not in the step that queued it",
            backend.name
        );
        t.stop().await;
    }
}
