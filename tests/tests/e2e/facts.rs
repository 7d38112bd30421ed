//! What the service remembers of a contact's tags and lists, as conditions read it: counts and
//! dates written by journeys and API events, loaded back for later branches.

use chrono::TimeDelta;
use serde_json::json;
use tests::service::{TestApp, backends};

const TAGGER: &str = r#"{"format": "cairn.flow/v1", "name": "Tagger", "nodes": [
    {"id": "start", "type": "webhook_entry"}, {"id": "tag", "type": "add_tag", "tag": "pricing"},
    {"id": "join", "type": "add_to_list", "list": "leads"}, {"id": "done", "type": "exit"}],
    "edges": [{"from": "start", "to": "tag"}, {"from": "tag", "to": "join"}, {"from": "join", "to": "done"}]}"#;

/// A flow whose branch tags the contact `y_<name>` or `n_<name>` by `condition`.
fn checker(name: &str, condition: serde_json::Value) -> String {
    json!({"format": "cairn.flow/v1", "name": name, "nodes": [
        {"id": "start", "type": "webhook_entry"}, {"id": "check", "type": "branch", "condition": condition},
        {"id": format!("y_{name}"), "type": "add_tag", "tag": format!("y_{name}")},
        {"id": format!("n_{name}"), "type": "add_tag", "tag": format!("n_{name}")}, {"id": "done", "type": "exit"}],
        "edges": [{"from": "start", "to": "check"}, {"from": "check", "to": format!("y_{name}"), "when": "yes"},
                  {"from": "check", "to": format!("n_{name}"), "when": "no"}, {"from": format!("y_{name}"), "to": "done"},
                  {"from": format!("n_{name}"), "to": "done"}]})
    .to_string()
}

#[tokio::test]
async fn a_branch_reads_the_count_and_dates_of_tags_and_lists_the_service_kept() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let contact = json!({"contact": {"id": "c1"}}).to_string();
        let tagger = t.activate(TAGGER).await;
        t.post(&format!("/api/flows/{tagger}/entries"), &contact).await;
        t.settle().await;
        t.advance(TimeDelta::days(3)).await;
        t.post(
            "/api/events",
            r#"{"contact": "c1", "type": "tag_added", "tag": "pricing"}"#,
        )
        .await;
        t.post(
            "/api/events",
            r#"{"contact": "c1", "type": "tag_added", "tag": "trial"}"#,
        )
        .await;
        t.settle().await;
        t.post(
            "/api/events",
            r#"{"contact": "c1", "type": "tag_removed", "tag": "trial"}"#,
        )
        .await;
        t.settle().await;
        t.advance(TimeDelta::hours(1)).await;
        let checks = [
            ("twice", json!({"tag": {"name": "pricing", "count": {"gte": 2}}}), true),
            (
                "thrice",
                json!({"tag": {"name": "pricing", "count": {"gte": 3}}}),
                false,
            ),
            (
                "recent",
                json!({"tag": {"name": "pricing", "last_added": {"within": "2h"}}}),
                true,
            ),
            (
                "old",
                json!({"tag": {"name": "pricing", "first_added": {"before": "3d"}}}),
                true,
            ),
            (
                "older",
                json!({"tag": {"name": "pricing", "first_added": {"before": "4d"}}}),
                false,
            ),
            (
                "removed",
                json!({"tag": {"name": "trial", "active": false, "count": {"eq": 1}}}),
                true,
            ),
            ("active", json!({"tag": {"name": "trial"}}), false),
            (
                "joined",
                json!({"list": {"name": "leads", "added": {"before": "3d"}}}),
                true,
            ),
            (
                "lately",
                json!({"list": {"name": "leads", "added": {"within": "1d"}}}),
                false,
            ),
        ];
        for (name, condition, _) in &checks {
            let flow = t.activate(&checker(name, condition.clone())).await;
            t.post(&format!("/api/flows/{flow}/entries"), &contact).await;
        }
        t.settle().await;
        let journal = t.journal("c1").await;
        for (name, _, expected) in checks {
            let outcome = if expected { "y" } else { "n" };
            let line = format!("{outcome}_{name} tag_added");
            let seen = journal.iter().any(|l| l == &line);
            assert!(seen, "{}: {name} should be {outcome}: {journal:?}", backend.name);
        }
        let (_, got) = t.get("/api/contacts/c1").await;
        let active = |name: &str| {
            got["tags"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["tag"] == name)
                .map(|t| t["active"] == true)
        };
        assert_eq!(active("pricing"), Some(true), "{}: {got}", backend.name);
        assert_eq!(active("trial"), Some(false), "{}: {got}", backend.name);
        t.stop().await;
    }
}
