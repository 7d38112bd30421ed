//! The service through its HTTP API, on SQLite and (when configured) PostgreSQL.

use axum::http::StatusCode;
use chrono::TimeDelta;
use serde_json::json;
use tests::service::{TestApp, backends};

const ANN: &str =
    r#"{"contact": {"id": "c1", "email": "ann@example.com", "phone": "+37255512345", "first_name": "Ann"}}"#;

#[tokio::test]
async fn webhook_entry_sends_sms_when_email_unopened_for_two_hours() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        let (status, body) = t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{}: {body}", backend.name);
        t.settle().await;
        assert_eq!(t.outbox().await, ["email ann@example.com"], "{}", backend.name);
        t.advance(TimeDelta::minutes(119)).await;
        assert_eq!(t.outbox().await.len(), 1, "{}: no SMS before two hours", backend.name);
        t.advance(TimeDelta::minutes(1)).await;
        assert_eq!(
            t.outbox().await,
            ["email ann@example.com", "sms +37255512345"],
            "{}",
            backend.name
        );
        assert_eq!(
            t.journal("c1").await,
            [
                "start entered",
                "read waiting",
                "hello sent",
                "read timed_out",
                "done exited",
                "nudge sent"
            ],
            "{}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_email_opened_in_time_sends_no_sms() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        t.advance(TimeDelta::minutes(30)).await;
        let (_, outbox) = t.get("/api/outbox").await;
        let message = outbox[0]["id"].as_str().unwrap().to_string();
        let event = json!({"contact": "c1", "type": "opened", "message": message}).to_string();
        let (status, body) = t.post("/api/events", &event).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{}: {body}", backend.name);
        t.settle().await;
        t.advance(TimeDelta::hours(3)).await;
        assert_eq!(t.outbox().await, ["email ann@example.com"], "{}", backend.name);
        assert_eq!(t.journal("c1").await.last().unwrap(), "done exited", "{}", backend.name);
        t.stop().await;
    }
}

#[tokio::test]
async fn the_same_entry_key_twice_starts_one_journey() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        let body =
            r#"{"contact": {"id": "c1", "email": "ann@example.com"}, "key": "order-123", "data": {"order": 123}}"#;
        let (s1, first) = t.post(&format!("/api/flows/{flow}/entries"), body).await;
        let (s2, second) = t.post(&format!("/api/flows/{flow}/entries"), body).await;
        assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
        assert_eq!(first["duplicate"], false);
        assert_eq!(second["duplicate"], true);
        assert_eq!(first["token"], second["token"]);
        t.settle().await;
        assert_eq!(t.outbox().await.len(), 1, "{}", backend.name);
        t.stop().await;
    }
}

#[tokio::test]
async fn a_contact_already_in_the_flow_is_refused_until_it_leaves() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        let (status, body) = t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already in this flow")
        );
        t.settle().await;
        t.advance(TimeDelta::hours(2)).await;
        let (status, _) = t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "{}: after exit the contact may enter again",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_invalid_flow_gets_422_with_every_problem_located() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = r#"{"format": "cairn.flow/v1", "name": "Bad", "nodes": [
            {"id": "start", "type": "webhook_entry"},
            {"id": "read", "type": "wait_for_event", "event": "opened", "timeout": "2x"},
            {"id": "fax", "type": "send_fax"}],
            "edges": [{"from": "start", "to": "read"}]}"#;
        let (status, body) = t.post("/api/flows", flow).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "invalid_flow");
        let details = body["error"]["details"].as_array().unwrap();
        assert_eq!(
            details[0],
            json!({"node": "read", "field": "timeout", "message": details[0]["message"]})
        );
        assert!(
            details[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid duration '2x'")
        );
        assert_eq!(details[1]["node"], "fax");
        assert_eq!(details[1]["field"], "type");
        let (_, flows) = t.get("/api/flows").await;
        assert_eq!(flows, json!([]), "nothing half-written");
        t.stop().await;
    }
}

#[tokio::test]
async fn client_mistakes_get_4xx_never_500() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let (status, body) = t.post("/api/flows", "{\n  \"format\": ,\n}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "malformed_json");
        assert_eq!(
            (
                body["error"]["details"][0]["line"].as_u64(),
                body["error"]["details"][0]["column"].as_u64()
            ),
            (Some(2), Some(13))
        );
        let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 << 20));
        assert_eq!(t.post("/api/flows", &huge).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(t.get("/api/flows/999").await.0, StatusCode::NOT_FOUND);
        assert_eq!(t.get("/api/flows/abc").await.0, StatusCode::NOT_FOUND);
        assert_eq!(t.get("/api/contacts/nobody/journal").await.0, StatusCode::NOT_FOUND);
        assert_eq!(t.get("/api/nothing-here").await.0, StatusCode::NOT_FOUND);
        for path in ["/t/o/%FF%FE", "/api/contacts/%FF", "/api/flows/%FF"] {
            let (status, body) = t.get(path).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (StatusCode::NOT_FOUND, Some("not_found")),
                "{path}: a segment that is not UTF-8 names nothing: {body}"
            );
        }
        let (status, body) = t.get("/api/outbox?limit=abc").await;
        assert_eq!(
            (status, body["error"]["details"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("limit"))
        );
        let (status, body) = t.call("DELETE", "/api/flows", None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
        );
        assert_eq!(t.post("/api/flows/999/entries", ANN).await.0, StatusCode::NOT_FOUND);
        let flow = t.activate_template("welcome").await;
        let (status, body) = t
            .post(
                &format!("/api/flows/{flow}/entries"),
                r#"{"contact": {"email": "x@example.com"}}"#,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["details"][0]["field"], "contact.id");
        let (status, body) = t
            .post(
                &format!("/api/flows/{flow}/entries"),
                r#"{"contact": {"id": "c1", "timezone": "Mars/Base", "country": "ZZZ", "tags": "vip"}}"#,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("unknown time zone 'Mars/Base'")
        );
        let fields: Vec<&str> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["contact.country", "contact.timezone", "contact.tags"],
            "every problem at once"
        );
        assert_eq!(
            t.get("/api/contacts/c1").await.0,
            StatusCode::NOT_FOUND,
            "nothing written"
        );
        let (status, _) = t
            .post(
                &format!("/api/flows/{flow}/entries"),
                r#"{"contact": {"id": "c1"}, "colour": "red"}"#,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = t.post("/api/events", r#"{"contact": "ghost", "type": "opened"}"#).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = t.post("/api/events", r#"{"contact": "c1", "type": "tag_added"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = t.post("/api/events", r#"{"type": "opened"}"#).await;
        assert_eq!(
            (status, body["error"]["details"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("contact")),
            "{body}"
        );
        let (status, body) = t
            .post("/api/events", r#"{"contact": "c1", "type": "x", "data": 7}"#)
            .await;
        assert_eq!(
            (status, body["error"]["details"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("data")),
            "{body}"
        );
        let (status, body) = t.get("/api/outbox?limit=0").await;
        assert_eq!(
            (status, body["error"]["details"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("limit"))
        );
        let (status, body) = t.call("PUT", &format!("/api/flows/{flow}/secret"), Some("{}")).await;
        assert_eq!(
            (status, body["error"]["details"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("secret")),
            "an empty body does not turn signing off: {body}"
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_draft_or_paused_flow_refuses_entries_and_a_paused_one_holds_its_journeys() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let text = std::fs::read_to_string(tests::repo_root().join("flows/templates/welcome.json")).unwrap();
        let (_, created) = t.post("/api/flows", &text).await;
        let flow = created["id"].as_i64().unwrap();
        assert_eq!(
            t.post(&format!("/api/flows/{flow}/entries"), ANN).await.0,
            StatusCode::CONFLICT
        );
        t.post(&format!("/api/flows/{flow}/activate"), "").await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        let (status, paused) = t.post(&format!("/api/flows/{flow}/pause"), "").await;
        assert_eq!((status, paused["status"].as_str()), (StatusCode::OK, Some("paused")));
        assert_eq!(
            t.post(&format!("/api/flows/{flow}/entries"), r#"{"contact": {"id": "c2"}}"#)
                .await
                .0,
            StatusCode::CONFLICT
        );
        t.advance(TimeDelta::hours(3)).await;
        assert_eq!(
            t.outbox().await.len(),
            1,
            "{}: a paused flow sends nothing",
            backend.name
        );
        t.post(&format!("/api/flows/{flow}/activate"), "").await;
        t.settle().await;
        assert_eq!(
            t.outbox().await.len(),
            2,
            "{}: resumed, the overdue SMS goes out",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn editing_an_active_flow_makes_a_new_version_and_running_journeys_keep_theirs() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        let (_, mut definition) = t.get(&format!("/api/flows/{flow}")).await;
        definition["nodes"][3]["text"] = json!("Version two SMS");
        let (status, body) = t
            .call("PUT", &format!("/api/flows/{flow}"), Some(&definition.to_string()))
            .await;
        assert_eq!((status, body["version"].as_i64()), (StatusCode::OK, Some(2)), "{body}");
        let bob = r#"{"contact": {"id": "c2", "phone": "+3725550002"}}"#;
        t.post(&format!("/api/flows/{flow}/entries"), bob).await;
        t.settle().await;
        t.advance(TimeDelta::hours(2)).await;
        let (_, outbox) = t.get("/api/outbox").await;
        let sms: Vec<(&str, &str)> = outbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["channel"] == "sms")
            .map(|m| (m["contact"].as_str().unwrap(), m["content"]["text"].as_str().unwrap()))
            .collect();
        assert!(
            sms.contains(&("c1", "Did you see our email, Ann?")),
            "{}: {sms:?}",
            backend.name
        );
        assert!(sms.contains(&("c2", "Version two SMS")), "{}: {sms:?}", backend.name);
        t.stop().await;
    }
}

#[tokio::test]
async fn a_flow_reads_back_as_importable_json() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("abandoned-cart").await;
        let (_, definition) = t.get(&format!("/api/flows/{flow}")).await;
        assert_eq!(definition["format"], "cairn.flow/v1");
        let (status, again) = t.post("/api/flows", &definition.to_string()).await;
        assert_eq!(status, StatusCode::CREATED, "{again}");
        let (_, copy) = t.get(&format!("/api/flows/{}", again["id"])).await;
        assert_eq!(copy, definition);
        t.stop().await;
    }
}

#[tokio::test]
async fn a_tag_event_starts_the_journeys_that_wait_for_it_and_tags_remember() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = r#"{"format": "cairn.flow/v1", "name": "VIP", "reentry": "always", "nodes": [
            {"id": "vip", "type": "event_entry", "event": "tag_added", "tag": "vip"},
            {"id": "check", "type": "branch", "condition": {"has_tag": "vip"}},
            {"id": "hello", "type": "send_sms", "text": "Welcome to VIP, {{contact.first_name}}"},
            {"id": "done", "type": "exit"}],
            "edges": [{"from": "vip", "to": "check"}, {"from": "check", "to": "hello", "when": "yes"},
                      {"from": "check", "to": "done", "when": "no"}, {"from": "hello", "to": "done"}]}"#;
        t.activate(flow).await;
        let welcome = t.activate_template("welcome").await;
        t.post(&format!("/api/flows/{welcome}/entries"), ANN).await;
        t.settle().await;
        let (status, _) = t
            .post("/api/events", r#"{"contact": "c1", "type": "tag_added", "tag": "vip"}"#)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        t.settle().await;
        let journal = t.journal("c1").await;
        assert!(
            journal.contains(&"check branched".to_string()),
            "{}: {journal:?}",
            backend.name
        );
        assert!(
            t.outbox().await.contains(&"sms +37255512345".to_string()),
            "{}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_entry_gives_the_contact_its_tags_and_lists_before_the_journey_branches_on_them() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t
            .activate(
                r#"{"format": "cairn.flow/v1", "name": "Sorter", "nodes": [
                {"id": "start", "type": "webhook_entry"},
                {"id": "check", "type": "branch", "condition": {"all": [{"has_tag": "vip"}, {"in_list": "newsletter"}]}},
                {"id": "vip", "type": "add_tag", "tag": "sorted_vip"}, {"id": "other", "type": "add_tag", "tag": "sorted_other"},
                {"id": "done", "type": "exit"}],
                "edges": [{"from": "start", "to": "check"}, {"from": "check", "to": "vip", "when": "yes"},
                          {"from": "check", "to": "other", "when": "no"}, {"from": "vip", "to": "done"},
                          {"from": "other", "to": "done"}]}"#,
            )
            .await;
        let ann = r#"{"contact": {"id": "ann", "tags": ["vip"], "lists": ["newsletter"], "plan": "pro"}, "key": "a1"}"#;
        assert_eq!(
            t.post(&format!("/api/flows/{flow}/entries"), ann).await.0,
            StatusCode::ACCEPTED
        );
        let bob = r#"{"contact": {"id": "bob", "tags": ["vip"]}}"#;
        assert_eq!(
            t.post(&format!("/api/flows/{flow}/entries"), bob).await.0,
            StatusCode::ACCEPTED
        );
        t.settle().await;
        assert!(
            t.journal("ann").await.contains(&"vip tag_added".to_string()),
            "{}",
            backend.name
        );
        assert!(
            t.journal("bob").await.contains(&"other tag_added".to_string()),
            "{}",
            backend.name
        );
        let (_, contact) = t.get("/api/contacts/ann").await;
        assert_eq!(
            contact["fields"],
            json!({"plan": "pro"}),
            "tags and lists are not fields"
        );
        let (_, stats) = t.get(&format!("/api/flows/{flow}/stats")).await;
        assert_eq!(stats["nodes"]["start"]["actions"]["entered"], 2, "{stats}");
        t.stop().await;
    }
}

#[tokio::test]
async fn an_email_in_the_outbox_shows_the_tracking_links_it_was_sent_with_and_they_work() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t
            .activate(
                r#"{"format": "cairn.flow/v1", "name": "Click", "nodes": [
                {"id": "start", "type": "webhook_entry"},
                {"id": "offer", "type": "send_email", "subject": "Offer", "html": "<p><a href=\"https://shop.example/offer\">Go</a></p>"},
                {"id": "click", "type": "wait_for_event", "event": "clicked", "message": "offer", "timeout": "1d"},
                {"id": "done", "type": "exit"}],
                "edges": [{"from": "start", "to": "offer"}, {"from": "offer", "to": "click"},
                          {"from": "click", "to": "done", "when": "event"}, {"from": "click", "to": "done", "when": "timeout"}]}"#,
            )
            .await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        let (_, outbox) = t.get("/api/outbox").await;
        let html = outbox[0]["content"]["html"].as_str().unwrap().to_string();
        assert!(
            html.contains("/t/o/"),
            "{}: the open pixel is shown: {html}",
            backend.name
        );
        let link = html
            .split("href=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .replace("&amp;", "&");
        let path = &link[link.find("/t/c/").expect("a click link")..];
        let response = t.get_raw(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", backend.name);
        assert_eq!(response.headers()["location"], "https://shop.example/offer");
        t.settle().await;
        assert!(
            t.journal("c1").await.contains(&"click event".to_string()),
            "{}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_journey_sees_the_tag_that_the_contacts_journey_stepped_just_before_it_added() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let tagger = t
            .activate(
                r#"{"format": "cairn.flow/v1", "name": "Tagger", "nodes": [
                {"id": "start", "type": "webhook_entry"}, {"id": "tag", "type": "add_tag", "tag": "seen"},
                {"id": "done", "type": "exit"}],
                "edges": [{"from": "start", "to": "tag"}, {"from": "tag", "to": "done"}]}"#,
            )
            .await;
        let checker = t
            .activate(
                r#"{"format": "cairn.flow/v1", "name": "Checker", "nodes": [
                {"id": "start", "type": "webhook_entry"}, {"id": "check", "type": "branch", "condition": {"has_tag": "seen"}},
                {"id": "saw", "type": "add_tag", "tag": "saw"}, {"id": "missed", "type": "add_tag", "tag": "missed"},
                {"id": "done", "type": "exit"}],
                "edges": [{"from": "start", "to": "check"}, {"from": "check", "to": "saw", "when": "yes"},
                          {"from": "check", "to": "missed", "when": "no"}, {"from": "saw", "to": "done"},
                          {"from": "missed", "to": "done"}]}"#,
            )
            .await;
        for i in 0..20 {
            let body = json!({"contact": {"id": format!("c{i}")}}).to_string();
            t.post(&format!("/api/flows/{tagger}/entries"), &body).await;
            t.post(&format!("/api/flows/{checker}/entries"), &body).await;
        }
        // One journey per batch: on SQLite each contact's second journey is read while the
        // batch with its first is being written.
        let mut engine = t.app.engine.clone();
        engine.batch = 1;
        engine.drain().await.unwrap();
        for i in 0..20 {
            let journal = t.journal(&format!("c{i}")).await;
            assert!(
                journal.contains(&"saw tag_added".to_string()),
                "{}: c{i} {journal:?}",
                backend.name
            );
        }
        t.stop().await;
    }
}

#[tokio::test]
async fn stats_count_journeys_that_events_started_until_they_leave() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = r#"{"format": "cairn.flow/v1", "name": "VIP wait", "nodes": [
            {"id": "vip", "type": "event_entry", "event": "tag_added", "tag": "vip"},
            {"id": "later", "type": "wait", "duration": "1h"},
            {"id": "done", "type": "exit"}],
            "edges": [{"from": "vip", "to": "later"}, {"from": "later", "to": "done"}]}"#;
        let id = t.activate(flow).await;
        let welcome = t.activate_template("welcome").await;
        t.post(&format!("/api/flows/{welcome}/entries"), ANN).await;
        t.settle().await;
        t.post("/api/events", r#"{"contact": "c1", "type": "tag_added", "tag": "vip"}"#)
            .await;
        t.settle().await;
        let (_, stats) = t.get(&format!("/api/flows/{id}/stats")).await;
        assert_eq!(
            stats["nodes"]["vip"]["actions"]["entered"], 1,
            "{}: {stats}",
            backend.name
        );
        assert_eq!(stats["nodes"]["later"]["here"], 1, "{}: {stats}", backend.name);
        assert!(
            stats["nodes"]["vip"]["here"].as_i64().unwrap_or(0) == 0,
            "{}: {stats}",
            backend.name
        );
        t.advance(TimeDelta::hours(2)).await;
        let (_, stats) = t.get(&format!("/api/flows/{id}/stats")).await;
        assert_eq!(
            stats["nodes"]["done"]["actions"]["exited"], 1,
            "{}: {stats}",
            backend.name
        );
        assert_eq!(stats["nodes"]["later"]["here"], 0, "{}: {stats}", backend.name);
        t.stop().await;
    }
}

#[tokio::test]
async fn stats_count_entries_waits_and_exits_per_node() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        for i in 0..5 {
            let body = json!({"contact": {"id": format!("c{i}"), "email": format!("c{i}@example.com")}}).to_string();
            t.post(&format!("/api/flows/{flow}/entries"), &body).await;
        }
        t.settle().await;
        let (_, stats) = t.get(&format!("/api/flows/{flow}/stats")).await;
        assert_eq!(stats["nodes"]["start"]["actions"]["entered"], 5);
        assert_eq!(stats["nodes"]["read"]["here"], 5);
        t.advance(TimeDelta::hours(2)).await;
        let (_, stats) = t.get(&format!("/api/flows/{flow}/stats")).await;
        assert_eq!(stats["nodes"]["done"]["actions"]["exited"], 5);
        assert_eq!(stats["nodes"]["read"]["here"], 0);
        assert_eq!(stats["nodes"]["nudge"]["actions"]["failed"], 5, "no phone numbers");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_restarted_service_finishes_every_journey_exactly_once() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        for i in 0..200 {
            let body = json!({"contact": {"id": format!("c{i}"), "email": format!("c{i}@example.com"), "phone": "+3725550000"}}).to_string();
            t.post(&format!("/api/flows/{flow}/entries"), &body).await;
        }
        // One engine pass of a small batch, then the process goes away with work left.
        t.app.engine.run_once().await.unwrap();
        let clock = t.clock.clone();
        t.stop().await;
        let t = TestApp::spawn(&backend).await;
        t.clock.set(orchestrator::clock::Clock::now(&clock));
        t.settle().await;
        t.advance(TimeDelta::hours(2)).await;
        let outbox = t.outbox().await;
        assert_eq!(
            outbox.iter().filter(|m| m.starts_with("email")).count(),
            200,
            "{}",
            backend.name
        );
        assert_eq!(
            outbox.iter().filter(|m| m.starts_with("sms")).count(),
            200,
            "{}",
            backend.name
        );
        for i in [0, 99, 199] {
            let journal = t.journal(&format!("c{i}")).await;
            assert_eq!(
                journal.iter().filter(|l| *l == "done exited").count(),
                1,
                "{}: {journal:?}",
                backend.name
            );
            assert_eq!(journal.iter().filter(|l| *l == "start entered").count(), 1);
        }
        t.stop().await;
    }
}

#[tokio::test]
async fn the_service_journal_matches_the_simulation() {
    use orchestrator::cli::{SimulateArgs, simulate_files};
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        let dir = tests::repo_root().join("flows/templates");
        let contacts = orchestrator::service::import::read_contacts(&dir.join("welcome.contacts.csv")).unwrap();
        for c in &contacts {
            let mut contact = serde_json::Map::new();
            contact.insert("id".into(), json!(c.id));
            for (k, v) in [("email", &c.email), ("phone", &c.phone), ("country", &c.country)] {
                if let Some(v) = v {
                    contact.insert(k.into(), json!(v));
                }
            }
            if let Some(z) = c.timezone {
                contact.insert("timezone".into(), json!(z.name()));
            }
            contact.extend(c.fields.clone());
            t.post(
                &format!("/api/flows/{flow}/entries"),
                &json!({"contact": contact}).to_string(),
            )
            .await;
        }
        t.settle().await;
        let events = orchestrator::service::import::read_events(&dir.join("welcome.events.ndjson")).unwrap();
        let mut events = events;
        events.sort_by_key(|e| e.at);
        for e in &events {
            // Timers due before the event fire first; at the event's instant, the event wins.
            t.clock.set(e.at - TimeDelta::milliseconds(1));
            t.settle().await;
            t.clock.set(e.at);
            let body = json!({"contact": e.contact, "type": e.kind, "message": e.message}).to_string();
            t.post("/api/events", &body).await;
            t.settle().await;
        }
        t.advance(TimeDelta::hours(3)).await;

        let args = SimulateArgs {
            flow: dir.join("welcome.json"),
            contacts: dir.join("welcome.contacts.csv"),
            events: Some(dir.join("welcome.events.ndjson")),
            start: Some(tests::service::START.parse().unwrap()),
            span: None,
            default_timezone: None,
            policy: None,
            segments: None,
        };
        let mut out = Vec::new();
        simulate_files(&args, &mut out).unwrap();
        let normalise = |mut v: serde_json::Value| {
            let o = v.as_object_mut().unwrap();
            o.remove("flow");
            o.remove("message");
            v.to_string()
        };
        for c in &contacts {
            let mut simulated: Vec<String> = String::from_utf8_lossy(&out)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter(|l| l["contact"] == c.id.as_str())
                .map(normalise)
                .collect();
            let (_, served) = t.get(&format!("/api/contacts/{}/journal", c.id)).await;
            let mut served: Vec<String> = served.as_array().unwrap().iter().cloned().map(normalise).collect();
            // Delivery journals `sent` after the step that queued it; compare as sets per instant.
            simulated.sort();
            served.sort();
            assert_eq!(served, simulated, "{}: contact {}", backend.name, c.id);
        }
        t.stop().await;
    }
}

/// The `X-Cairn-Signature` of `body` into `flow`, signed `at` (Unix seconds) with `secret`.
fn signed(secret: &str, at: i64, flow: i64, body: &str) -> String {
    orchestrator::signing::sign_entry(secret, at, flow, body.as_bytes())
}

#[tokio::test]
async fn a_flow_with_a_secret_accepts_each_signed_entry_once_within_five_minutes_and_for_its_own_flow() {
    const SECRET: &str = "a-long-shared-secret";
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        let other = t.activate_template("welcome").await;
        let (status, _) = t
            .call(
                "PUT",
                &format!("/api/flows/{flow}/secret"),
                Some(r#"{"secret": "short"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        for id in [flow, other] {
            let secret = json!({"secret": SECRET}).to_string();
            let (status, _) = t.call("PUT", &format!("/api/flows/{id}/secret"), Some(&secret)).await;
            assert_eq!(status, StatusCode::OK);
        }
        let path = format!("/api/flows/{flow}/entries");
        let now = t.now().timestamp();
        let refused = async |signature: &str| {
            let (status, body) = t
                .call_with("POST", &path, ANN, &[("x-cairn-signature", signature)])
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{}: {signature}: {body}",
                backend.name
            );
            body["error"]["message"].as_str().unwrap().to_string()
        };
        assert!(refused("").await.contains("is missing"), "no signature is missing");
        let mismatch = "does not match";
        assert!(
            refused(&signed("another-secret-entirely", now, flow, ANN))
                .await
                .contains(mismatch)
        );
        assert!(
            refused(&signed(SECRET, now, flow, &ANN.replace("c1", "c2")))
                .await
                .contains(mismatch)
        );
        assert!(
            refused(&signed(SECRET, now, other, ANN)).await.contains(mismatch),
            "a body signed for another flow with the same secret"
        );
        assert!(
            refused(&signed(SECRET, now - 301, flow, ANN))
                .await
                .contains("5 minutes"),
            "stale"
        );
        assert!(
            refused(&signed(SECRET, now + 301, flow, ANN))
                .await
                .contains("5 minutes"),
            "future"
        );
        assert!(refused("sha256=00").await.contains("malformed"), "the old scheme");
        assert_eq!(
            t.get("/api/contacts/c1/journal").await.0,
            StatusCode::NOT_FOUND,
            "{}: nothing written",
            backend.name
        );
        let good = signed(SECRET, now - 299, flow, ANN);
        let (status, body) = t.call_with("POST", &path, ANN, &[("x-cairn-signature", &good)]).await;
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "{}: a fresh signature: {body}",
            backend.name
        );
        let (status, body) = t.call_with("POST", &path, ANN, &[("x-cairn-signature", &good)]).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("conflict")),
            "{}: the same signed request again is a replay: {body}",
            backend.name
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains("used before"),
            "{body}"
        );
        t.settle().await;
        assert_eq!(
            t.journal("c1").await.iter().filter(|l| *l == "start entered").count(),
            1,
            "{}: one journey",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_entry_key_used_for_another_contact_is_a_conflict_that_says_so() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        let path = format!("/api/flows/{flow}/entries");
        let ann = r#"{"contact": {"id": "c1", "email": "ann@example.com"}, "key": "order-1"}"#;
        let bob = r#"{"contact": {"id": "c2", "email": "bob@example.com"}, "key": "order-1"}"#;
        let (status, first) = t.post(&path, ann).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{first}");
        let (status, body) = t.post(&path, bob).await;
        assert_eq!(status, StatusCode::CONFLICT, "{}: {body}", backend.name);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already used for another contact"),
            "{body}"
        );
        assert_eq!(
            t.get("/api/contacts/c2").await.0,
            StatusCode::NOT_FOUND,
            "nothing written for Bob"
        );
        let (status, again) = t.post(&path, ann).await;
        assert_eq!(
            (status, &again["token"], &again["duplicate"]),
            (StatusCode::ACCEPTED, &first["token"], &json!(true))
        );
        t.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_on_one_database_step_each_journey_exactly_once() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        for i in 0..300 {
            let body = json!({"contact": {"id": format!("c{i}"), "email": format!("c{i}@example.com")}}).to_string();
            t.post(&format!("/api/flows/{flow}/entries"), &body).await;
        }
        let mut a = t.app.engine.clone();
        let mut b = t.app.engine.clone();
        a.batch = 25;
        b.batch = 25;
        let (pa, pb) = tokio::join!(
            tokio::spawn(async move { a.drain().await.unwrap() }),
            tokio::spawn(async move { b.drain().await.unwrap() })
        );
        let (pa, pb) = (pa.unwrap(), pb.unwrap());
        assert_eq!(
            pa.steps + pb.steps,
            300,
            "{}: every journey stepped once in total ({} + {})",
            backend.name,
            pa.steps,
            pb.steps
        );
        t.settle().await;
        for i in [0, 150, 299] {
            let journal = t.journal(&format!("c{i}")).await;
            assert_eq!(
                journal,
                ["start entered", "read waiting", "hello sent"],
                "{}",
                backend.name
            );
        }
        let (_, stats) = t.get(&format!("/api/flows/{flow}/stats")).await;
        assert_eq!(stats["nodes"]["start"]["actions"]["entered"], 300, "{}", backend.name);
        assert_eq!(stats["nodes"]["read"]["here"], 300, "{}: {stats}", backend.name);
        assert_eq!(
            stats["nodes"]["hello"]["actions"]["sent"], 300,
            "{}: {stats}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn activating_a_segment_flow_enters_its_audience_once() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let welcome = t.activate_template("welcome").await;
        for i in 1..=3 {
            t.post(
                &format!("/api/flows/{welcome}/entries"),
                &json!({"contact": {"id": format!("c{i}")}}).to_string(),
            )
            .await;
        }
        for c in ["c1", "c3"] {
            let (status, _) = t
                .post(
                    "/api/events",
                    &json!({"contact": c, "type": "list_added", "list": "newsletter"}).to_string(),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED);
        }
        t.settle().await;
        let flow = r#"{"format": "cairn.flow/v1", "name": "Digest", "nodes": [
            {"id": "members", "type": "segment_entry", "list": "newsletter"},
            {"id": "week", "type": "wait", "duration": "7d"},
            {"id": "done", "type": "exit"}],
            "edges": [{"from": "members", "to": "week"}, {"from": "week", "to": "done"}]}"#;
        let (_, created) = t.post("/api/flows", flow).await;
        let id = created["id"].as_i64().unwrap();
        let (status, activated) = t.post(&format!("/api/flows/{id}/activate"), "").await;
        assert_eq!(
            (status, activated["entered"].as_u64()),
            (StatusCode::OK, Some(2)),
            "{}: {activated}",
            backend.name
        );
        t.settle().await;
        assert!(t.journal("c1").await.contains(&"members entered".to_string()));
        assert!(
            !t.journal("c2").await.contains(&"members entered".to_string()),
            "c2 is not in the list"
        );
        t.post(&format!("/api/flows/{id}/pause"), "").await;
        let (_, again) = t.post(&format!("/api/flows/{id}/activate"), "").await;
        assert_eq!(
            again["entered"].as_u64(),
            Some(0),
            "{}: running journeys are not entered twice",
            backend.name
        );
        t.advance(TimeDelta::days(8)).await;
        assert!(t.journal("c1").await.contains(&"done exited".to_string()));
        t.post(&format!("/api/flows/{id}/pause"), "").await;
        let (_, resumed) = t.post(&format!("/api/flows/{id}/activate"), "").await;
        assert_eq!(
            resumed["entered"].as_u64(),
            Some(0),
            "{}: resuming does not admit finished contacts again",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn the_demo_loads_templates_and_contacts_into_an_empty_database_only() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let started = std::time::Instant::now();
        let loaded = orchestrator::cli::demo::load(&t.app.state.services)
            .await
            .unwrap()
            .expect("an empty database gets the demo");
        eprintln!("{}: the demo loaded in {:?}", backend.name, started.elapsed());
        assert_eq!(loaded.contacts, 300);
        assert_eq!(loaded.flows.len(), 4);
        assert!(
            loaded.entries > 300,
            "{}: segment audiences and welcome entries ({})",
            backend.name,
            loaded.entries
        );
        t.settle().await;
        let (_, flows) = t.get("/api/flows").await;
        assert!(flows.as_array().unwrap().iter().all(|f| f["status"] == "active"));
        assert!(
            t.outbox().await.len() > 40,
            "{}: the welcome emails went out",
            backend.name
        );
        demo_segments_find_contacts(&t, backend.name).await;
        assert!(
            orchestrator::cli::demo::load(&t.app.state.services)
                .await
                .unwrap()
                .is_none(),
            "not loaded twice"
        );
        t.stop().await;
    }
}

/// The demo's saved segments each find someone: by tag histories, lists, contracts and expired
/// tags at once, and by message history once a welcome email is opened.
async fn demo_segments_find_contacts(t: &TestApp, backend: &str) {
    let (_, saved) = t.get("/api/segments").await;
    let saved: Vec<(i64, String)> = saved
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_i64().unwrap(), s["name"].as_str().unwrap().to_string()))
        .collect();
    let names: Vec<&str> = saved.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Contracts ending soon", "Engaged", "Recent interest", "Trial ran out"],
        "{backend}"
    );
    let found = async |name: &str| {
        let (id, _) = saved.iter().find(|(_, n)| n == name).unwrap();
        let (status, preview) = t.get(&format!("/api/segments/{id}/preview")).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        preview["count"].as_u64().unwrap()
    };
    for name in ["Recent interest", "Contracts ending soon", "Trial ran out"] {
        assert!(found(name).await > 0, "{backend}: '{name}' finds contacts");
    }
    assert_eq!(found("Engaged").await, 0, "{backend}: nobody opened an email yet");
    let (_, outbox) = t.get("/api/outbox").await;
    let html = outbox
        .as_array()
        .unwrap()
        .iter()
        .find_map(|m| m["content"]["html"].as_str())
        .expect("a welcome email");
    let pixel = &html[html.find("/t/o/").expect("an open pixel")..];
    let pixel = pixel[..pixel.find('"').unwrap()].replace("&amp;", "&");
    assert!(t.get_raw(&pixel).await.status().is_success());
    assert_eq!(found("Engaged").await, 1, "{backend}: the contact who opened it");
}

#[tokio::test]
async fn the_api_describes_itself_in_openapi_and_swagger_ui() {
    let backend = &backends().await[0];
    let t = TestApp::spawn(backend).await;
    let (status, doc) = t.get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/flows",
        "/api/flows/{id}",
        "/api/flows/{id}/activate",
        "/api/flows/{id}/pause",
        "/api/flows/{id}/entries",
        "/api/flows/{id}/secret",
        "/api/flows/{id}/stats",
        "/api/events",
        "/api/contacts/{id}/journal",
        "/api/contacts",
        "/api/contacts/{id}/tags",
        "/api/contacts/{id}/lists/{list}",
        "/api/tags/{name}",
        "/api/lists",
        "/api/outbox",
        "/api/schema/flow.json",
        "/healthz",
        "/t/o/{token}",
        "/t/c/{token}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
    let docs = t.get_raw("/docs/").await;
    assert_eq!(docs.status(), StatusCode::OK);
    let (_, schema) = t.get("/api/schema/flow.json").await;
    let published: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tests::repo_root().join("docs/cairn.flow.v1.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(schema, published);
    t.stop().await;
}

#[tokio::test]
async fn a_journey_whose_flow_version_is_broken_fails_and_the_others_go_on() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let good = t.activate_template("welcome").await;
        let bad = t.activate_template("welcome").await;
        t.post(
            &format!("/api/flows/{good}/entries"),
            r#"{"contact": {"id": "c1", "email": "a@example.com"}}"#,
        )
        .await;
        t.post(
            &format!("/api/flows/{bad}/entries"),
            r#"{"contact": {"id": "c2", "email": "b@example.com"}}"#,
        )
        .await;
        let db = t.app.state.services.db.clone();
        t.stop().await;
        // Damage the stored definition behind the service's back, then start a fresh process.
        orchestrator::db::exec(
            &db,
            "UPDATE flow_versions SET definition = $1 WHERE flow_id = $2",
            vec!["{}".into(), bad.into()],
        )
        .await
        .unwrap();
        let t = TestApp::spawn(&backend).await;
        t.settle().await;
        assert_eq!(
            t.journal("c1").await,
            ["start entered", "read waiting", "hello sent"],
            "{}",
            backend.name
        );
        let (_, journal) = t.get("/api/contacts/c2/journal").await;
        assert_eq!(journal[0]["action"], "failed", "{}: {journal}", backend.name);
        assert!(
            journal[0]["reason"].as_str().unwrap().contains("no longer compiles"),
            "{journal}"
        );
        t.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_entries_for_one_contact_start_one_journey_and_never_fail() {
    for backend in backends().await {
        let t = std::sync::Arc::new(TestApp::spawn(&backend).await);
        let flow = t.activate_template("welcome").await;
        let path = format!("/api/flows/{flow}/entries");
        let same_key = r#"{"contact": {"id": "new-1", "email": "n@example.com"}, "key": "k-1"}"#;
        let mut calls = Vec::new();
        for _ in 0..10 {
            let (t, path) = (t.clone(), path.clone());
            calls.push(tokio::spawn(async move { t.post(&path, same_key).await }));
        }
        let mut tokens = std::collections::BTreeSet::new();
        for call in calls {
            let (status, body) = call.await.unwrap();
            assert_eq!(status, StatusCode::ACCEPTED, "{}: {body}", backend.name);
            tokens.insert(body["token"].as_i64().unwrap());
        }
        assert_eq!(tokens.len(), 1, "{}: one journey for one key", backend.name);
        let mut calls = Vec::new();
        for key in ["k-a", "k-b"] {
            let (t, path) = (t.clone(), path.clone());
            let body = json!({"contact": {"id": "new-2"}, "key": key}).to_string();
            calls.push(tokio::spawn(async move { t.post(&path, &body).await.0 }));
        }
        let mut statuses = Vec::new();
        for call in calls {
            statuses.push(call.await.unwrap());
        }
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::ACCEPTED, StatusCode::CONFLICT],
            "{}: the second key meets the re-entry rule",
            backend.name
        );
        let t = std::sync::Arc::try_unwrap(t).ok().expect("no other owners");
        t.stop().await;
    }
}

#[tokio::test]
async fn with_an_api_token_the_api_refuses_strangers_and_signed_entries_still_work() {
    let backend = &backends().await[0];
    let t = TestApp::spawn_secured(backend, "admin-token-123").await;
    let auth = [("authorization", "Bearer admin-token-123")];
    let text = std::fs::read_to_string(tests::repo_root().join("flows/templates/welcome.json")).unwrap();
    assert_eq!(t.post("/api/flows", &text).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.call_with("POST", "/api/flows", &text, &[("authorization", "Bearer wrong")])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, created) = t.call_with("POST", "/api/flows", &text, &auth).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_i64().unwrap();
    t.call_with("POST", &format!("/api/flows/{id}/activate"), "", &auth)
        .await;
    let entries = format!("/api/flows/{id}/entries");
    assert_eq!(
        t.post(&entries, ANN).await.0,
        StatusCode::UNAUTHORIZED,
        "no secret on the flow: the token is needed"
    );
    assert_eq!(t.call_with("POST", &entries, ANN, &auth).await.0, StatusCode::ACCEPTED);
    for scheme in ["bearer", "BEARER"] {
        let given = format!("{scheme} admin-token-123");
        assert_eq!(
            t.call_with("GET", "/api/flows", "", &[("authorization", &given)])
                .await
                .0,
            StatusCode::OK,
            "the scheme is case-insensitive: {scheme}"
        );
    }
    t.call_with(
        "PUT",
        &format!("/api/flows/{id}/secret"),
        r#"{"secret": "a-long-shared-secret"}"#,
        &auth,
    )
    .await;
    let body = r#"{"contact": {"id": "c2"}}"#;
    let signature = signed("a-long-shared-secret", t.now().timestamp(), id, body);
    assert_eq!(
        t.call_with("POST", &entries, body, &[("x-cairn-signature", &signature)])
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(t.get("/api/outbox").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(t.get("/healthz").await.0, StatusCode::OK, "health checks stay open");
    assert_eq!(
        t.get("/api/openapi.json").await.0,
        StatusCode::OK,
        "the API description stays open"
    );
    t.stop().await;
}

#[tokio::test]
async fn an_open_while_the_flow_is_paused_counts_when_it_resumes() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        t.post(&format!("/api/flows/{flow}/pause"), "").await;
        t.advance(TimeDelta::minutes(30)).await;
        let (status, _) = t
            .post(
                "/api/events",
                r#"{"contact": "c1", "type": "opened", "message": "1.hello"}"#,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        t.advance(TimeDelta::hours(3)).await;
        assert_eq!(t.outbox().await.len(), 1, "{}: paused: nothing happens", backend.name);
        t.post(&format!("/api/flows/{flow}/activate"), "").await;
        t.settle().await;
        let journal = t.journal("c1").await;
        assert!(
            journal.contains(&"read event".to_string()),
            "{}: {journal:?}",
            backend.name
        );
        assert_eq!(
            t.outbox().await,
            ["email ann@example.com"],
            "{}: opened before the deadline: no SMS",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_apply_one_contacts_events_in_order() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        for i in 0..20 {
            let kind = if i % 2 == 0 { "tag_added" } else { "tag_removed" };
            let body = json!({"contact": "c1", "type": kind, "tag": "flip"}).to_string();
            t.post("/api/events", &body).await;
        }
        t.post(
            "/api/events",
            r#"{"contact": "c1", "type": "tag_added", "tag": "last"}"#,
        )
        .await;
        let mut a = t.app.engine.clone();
        let mut b = t.app.engine.clone();
        a.batch = 3;
        b.batch = 3;
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { a.drain().await.unwrap() }),
            tokio::spawn(async move { b.drain().await.unwrap() })
        );
        assert_eq!(ra.unwrap().events + rb.unwrap().events, 21, "{}", backend.name);
        let row = orchestrator::db::one(
            &t.app.state.services.db,
            "SELECT present, times_added FROM contact_tags WHERE tag = 'flip'",
            vec![],
        )
        .await
        .unwrap()
        .unwrap();
        let (present, times): (i64, i64) = (
            orchestrator::db::col(&row, 0).unwrap(),
            orchestrator::db::col(&row, 1).unwrap(),
        );
        assert_eq!(
            (present, times),
            (0, 10),
            "{}: the last event (a removal) decides",
            backend.name
        );
        t.stop().await;
    }
}

/// A flow that emails `html` and waits a day for a click on it.
fn click_flow(html: &str) -> String {
    json!({"format": "cairn.flow/v1", "name": "Click", "nodes": [
        {"id": "start", "type": "webhook_entry"},
        {"id": "offer", "type": "send_email", "subject": "Offer", "html": html},
        {"id": "click", "type": "wait_for_event", "event": "clicked", "message": "offer", "timeout": "1d"},
        {"id": "done", "type": "exit"}],
        "edges": [{"from": "start", "to": "offer"}, {"from": "offer", "to": "click"},
                  {"from": "click", "to": "done", "when": "event"}, {"from": "click", "to": "done", "when": "timeout"}]})
    .to_string()
}

/// The `href` values of the first email in the outbox, in order, `&amp;` decoded.
async fn outbox_links(t: &TestApp) -> Vec<String> {
    let (_, outbox) = t.get("/api/outbox").await;
    let html = outbox[0]["content"]["html"].as_str().unwrap().to_string();
    html.split("href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

#[tokio::test]
async fn a_head_request_to_a_tracking_link_records_no_open_and_no_click() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t
            .activate(&click_flow(r#"<p><a href="https://shop.example/offer">Go</a></p>"#))
            .await;
        t.post(&format!("/api/flows/{flow}/entries"), ANN).await;
        t.settle().await;
        let (_, outbox) = t.get("/api/outbox").await;
        let html = outbox[0]["content"]["html"].as_str().unwrap();
        let pixel = html.split("src=\"").nth(1).unwrap().split('"').next().unwrap();
        let pixel = &pixel[pixel.find("/t/o/").unwrap()..];
        let link = &outbox_links(&t).await[0];
        let click = &link[link.find("/t/c/").unwrap()..];
        assert_eq!(t.call("HEAD", pixel, None).await.0, StatusCode::OK);
        assert_eq!(t.call("HEAD", click, None).await.0, StatusCode::SEE_OTHER);
        t.settle().await;
        let journal = t.journal("c1").await;
        assert!(
            !journal.contains(&"click event".to_string()),
            "{}: a robot's HEAD is no click: {journal:?}",
            backend.name
        );
        assert_eq!(t.get_raw(click).await.status(), StatusCode::SEE_OTHER);
        t.settle().await;
        assert!(
            t.journal("c1").await.contains(&"click event".to_string()),
            "{}: a GET is",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn only_absolute_http_links_from_entry_data_are_tracked_and_redirected_to() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let html = ["a", "b", "c", "d", "e", "f"]
            .map(|k| format!("<a href=\"{{{{ data.{k} }}}}\">{k}</a>"))
            .concat();
        let flow = t.activate(&click_flow(&html)).await;
        let entry = json!({"contact": {"id": "c1", "email": "ann@example.com"}, "data": {
            "a": "javascript:alert(1)",
            "b": "//evil.example/x",
            "c": "data:text/html,<script>alert(1)</script>",
            "d": "https://shop.example/päev ö?x=1",
            "e": "https://shop.example/x\r\nSet-Cookie: a=b",
            "f": "mailto:help@shop.example",
        }});
        let (status, body) = t.post(&format!("/api/flows/{flow}/entries"), &entry.to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        t.settle().await;
        let links = outbox_links(&t).await;
        assert_eq!(links.len(), 6, "{links:?}");
        assert_eq!(
            [&links[0], &links[1], &links[2], &links[4]],
            ["#", "#", "#", "#"],
            "{}: other schemes, protocol-relative links and header-splitting targets are not linked: {links:?}",
            backend.name
        );
        assert_eq!(links[5], "mailto:help@shop.example");
        let click = &links[3][links[3].find("/t/c/").expect("the https link is tracked")..];
        let response = t.get_raw(click).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", backend.name);
        assert_eq!(
            response.headers()["location"],
            "https://shop.example/p%C3%A4ev%20%C3%B6?x=1",
            "non-ASCII is percent-encoded"
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn json_endpoints_refuse_other_content_types_and_nothing_is_changed_from_another_site() {
    let backend = &backends().await[0];
    let t = TestApp::spawn(backend).await;
    let text = std::fs::read_to_string(tests::repo_root().join("flows/templates/welcome.json")).unwrap();
    for kind in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, body) = t
            .call_with("POST", "/api/flows", &text, &[("content-type", kind)])
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type")),
            "{kind}: {body}"
        );
    }
    let (_, flows) = t.get("/api/flows").await;
    assert_eq!(flows, json!([]), "nothing created");
    let json_utf8 = [("content-type", "application/json; charset=utf-8")];
    let (status, created) = t.call_with("POST", "/api/flows", &text, &json_utf8).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let activate = format!("/api/flows/{}/activate", created["id"]);
    for headers in [
        [("content-type", "text/plain"), ("origin", "")],
        [("content-type", ""), ("origin", "https://evil.example")],
        [("content-type", ""), ("sec-fetch-site", "cross-site")],
    ] {
        let (status, body) = t.call_with("POST", &activate, "", &headers).await;
        assert!(
            [StatusCode::UNSUPPORTED_MEDIA_TYPE, StatusCode::FORBIDDEN].contains(&status),
            "{headers:?}: {status} {body}"
        );
    }
    let (_, flows) = t.get("/api/flows").await;
    assert_eq!(flows[0]["status"], "draft", "a page on another site activated nothing");
    let same_site = [("content-type", ""), ("origin", "https://cairn.example")];
    assert_eq!(t.call_with("POST", &activate, "", &same_site).await.0, StatusCode::OK);
    let response = t.get_raw("/api/flows").await;
    assert!(
        !response.headers().contains_key("access-control-allow-origin"),
        "no CORS"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_page_on_a_rebound_name_is_misdirected_and_changes_nothing_while_the_services_own_names_work() {
    let backend = &backends().await[0];
    let t = TestApp::spawn_configured(backend, |config| {
        config.allowed_hosts = vec!["cairn.internal".into()];
    })
    .await;
    let port = t.app.addr.port();
    let text = std::fs::read_to_string(tests::repo_root().join("flows/templates/welcome.json")).unwrap();
    let (status, created) = t.post("/api/flows", &text).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (activate, pause) = (
        format!("/api/flows/{}/activate", created["id"]),
        format!("/api/flows/{}/pause", created["id"]),
    );
    // evil.example now resolves to 127.0.0.1: its page calls Cairn as its own origin.
    let rebound = [
        ("content-type", ""),
        ("host", "evil.example:8080"),
        ("origin", "http://evil.example:8080"),
    ];
    let (status, body) = t.call_with("POST", &activate, "", &rebound).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::MISDIRECTED_REQUEST, Some("misdirected_request")),
        "{body}"
    );
    let (status, body) = t.call_with("GET", "/api/flows", "", &rebound[1..]).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "reads too: {body}");
    let (_, flows) = t.get("/api/flows").await;
    assert_eq!(flows[0]["status"], "draft", "the rebound page activated nothing");
    let own = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "cairn.example".to_string(),
        "cairn.internal:8080".to_string(),
    ];
    for (i, host) in own.iter().enumerate() {
        let origin = format!("http://{host}");
        let headers = [
            ("content-type", ""),
            ("host", host.as_str()),
            ("origin", origin.as_str()),
        ];
        let path = if i % 2 == 0 { &activate } else { &pause };
        let (status, body) = t.call_with("POST", path, "", &headers).await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
        let (status, body) = t.call_with("GET", "/api/flows", "", &headers[1..2]).await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
    }
    let (_, flows) = t.get("/api/flows").await;
    assert_eq!(flows[0]["status"], "active", "the service's own names changed it");
    let answer = t
        .tcp(b"GET /healthz HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n\r\n")
        .await;
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
    assert!(answer.contains(r#""code":"misdirected_request""#), "{answer}");
    let request = format!("GET /healthz HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
    let answer = t.tcp(request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    t.stop().await;
}

#[tokio::test]
async fn every_response_carries_security_headers_and_protocol_errors_have_a_json_body() {
    let backend = &backends().await[0];
    let t = TestApp::spawn(backend).await;
    for path in ["/", "/docs/", "/healthz", "/api/nothing-here"] {
        let response = t.get_raw(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        // The app's page at `/` has a fuller policy of its own; every one forbids framing.
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.ends_with("frame-ancestors 'none'"), "{path}: {policy}");
    }
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "a".repeat(70_000)
    );
    let answer = t.tcp(long_uri.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 414"), "{answer}");
    assert!(
        answer.contains(r#""code":"uri_too_long""#) && answer.contains("nosniff"),
        "{answer}"
    );
    let many_headers: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{many_headers}Connection: close\r\n\r\n");
    let answer = t.tcp(request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(
        answer.contains(r#""code":"request_header_fields_too_large""#),
        "{answer}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_flow_with_thousands_of_problems_lists_the_first_hundred_and_counts_them_all() {
    let backend = &backends().await[0];
    let t = TestApp::spawn(backend).await;
    let nodes: Vec<_> = (0..3000)
        .map(|i| json!({"id": format!("n{i}"), "type": "send_fax"}))
        .collect();
    let flow = json!({"format": "cairn.flow/v1", "name": "Bad", "nodes": nodes, "edges": []}).to_string();
    let (status, body) = t.post("/api/flows", &flow).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 100, "capped");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("the first 100 listed"), "{message}");
    assert!(body.to_string().len() < 64 << 10, "a small answer");
    t.stop().await;
}

#[tokio::test]
async fn an_unreachable_database_server_fails_start_up_at_once_naming_what_was_tried() {
    let started = std::time::Instant::now();
    let Err(e) = orchestrator::db::connect("postgres://cairn:hunter2@127.0.0.1:1/cairn").await else {
        panic!("nothing listens on port 1");
    };
    let message = e.to_string();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("hunter2"), "no password in the message: {message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "fails fast");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_slow_clients_neither_keep_healthz_out_nor_stay_connected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = &backends().await[0];
    let limits = tests::service::HttpLimits {
        header_timeout: std::time::Duration::from_secs(1),
        request_timeout: std::time::Duration::from_millis(500),
        max_connections: 64,
        ..Default::default()
    };
    let t = TestApp::spawn_http(backend, limits).await;
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = tokio::net::TcpStream::connect(t.app.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1")
            .await
            .unwrap();
        slow.push(stream);
    }
    let started = std::time::Instant::now();
    let answer = t
        .tcp(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let slow_body = b"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{";
    let answer = t.tcp(slow_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "a body too slow: {answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for (i, stream) in slow.iter_mut().enumerate() {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(std::time::Duration::from_secs(1), stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "slow client {i} is still connected after the header timeout: {read:?}"
        );
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_their_responses_neither_keep_healthz_out_nor_stay_connected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = &backends().await[0];
    let limits = tests::service::HttpLimits {
        header_timeout: std::time::Duration::from_secs(1),
        request_timeout: std::time::Duration::from_secs(1),
        write_timeout: std::time::Duration::from_secs(1),
        max_connections: 4,
        ..Default::default()
    };
    let t = TestApp::spawn_http(backend, limits).await;
    // Each asks for the OpenAPI document 300 times in one write, with a tiny receive window,
    // and reads nothing: far more than the socket buffers hold.
    let pipelined = "GET /api/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(300);
    let mut stuck = Vec::new();
    for _ in 0..limits.max_connections {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(t.app.addr).await.unwrap();
        stream.write_all(pipelined.as_bytes()).await.unwrap();
        stuck.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let answer = t
        .tcp(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for (i, stream) in stuck.iter_mut().enumerate() {
        let mut received = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut received)).await;
        assert!(read.is_ok(), "client {i} that read nothing is still connected");
        let answers = String::from_utf8_lossy(&received).matches("HTTP/1.1 200").count();
        assert!(
            answers < 300,
            "client {i} got all its {answers} answers: it was not cut off"
        );
    }
    t.stop().await;
}

/// A flow that emails and ends.
const PLAIN: &str = r#"{"format": "cairn.flow/v1", "name": "Plain", "nodes": [
  {"id": "start", "type": "webhook_entry"},
  {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>"},
  {"id": "done", "type": "exit"}],
 "edges": [{"from": "start", "to": "hello"}, {"from": "hello", "to": "done"}]}"#;

/// JSON nested `depth` objects deep: more than the engine's JSON reader takes.
fn nested(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

#[tokio::test]
async fn rows_that_cannot_be_read_are_set_aside_and_every_other_journey_finishes() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let poisoned = t.activate(PLAIN).await;
        let other = t.activate(&PLAIN.replace("Plain", "Other")).await;
        for (flow, contact) in [(poisoned, "c1"), (poisoned, "c2"), (other, "c3"), (other, "c4")] {
            let body = json!({"contact": {"id": contact, "email": format!("{contact}@example.com")}}).to_string();
            let (status, answer) = t.post(&format!("/api/flows/{flow}/entries"), &body).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{}: {answer}", backend.name);
        }
        // Poison written straight into the database, due before everything else: a journey
        // whose state nests too deep, one whose state is not JSON, a contact whose fields nest
        // too deep (with a journey), an event that is not JSON and a message whose content is
        // not JSON.
        let db = &t.app.state.services.db;
        let deep = nested(200);
        let sql = [
            format!(
                "INSERT INTO tokens (flow_id, version, contact_id, node, state, wake_at, finished, created_at, updated_at) \
                 SELECT flow_id, version, contact_id, node, '{deep}', 0, 0, 0, 0 FROM tokens WHERE flow_id = {poisoned} ORDER BY id LIMIT 1"
            ),
            format!(
                "INSERT INTO tokens (flow_id, version, contact_id, node, state, wake_at, finished, created_at, updated_at) \
                 SELECT flow_id, version, contact_id, node, 'not json', 0, 0, 0, 0 FROM tokens WHERE flow_id = {poisoned} ORDER BY id LIMIT 1"
            ),
            format!(
                "INSERT INTO contacts (external_id, fields, created_at, updated_at) VALUES ('p1', '{{\"deep\": {deep}}}', 0, 0)"
            ),
            format!(
                "INSERT INTO tokens (flow_id, version, contact_id, node, state, wake_at, finished, created_at, updated_at) \
                 SELECT t.flow_id, t.version, c.id, t.node, t.state, 0, 0, 0, 0 FROM tokens t, contacts c \
                 WHERE t.flow_id = {poisoned} AND c.external_id = 'p1' ORDER BY t.id LIMIT 1"
            ),
            "INSERT INTO inbox (contact_id, event, created_at) SELECT id, 'not json', 0 FROM contacts WHERE external_id = 'c1'"
                .to_string(),
            format!(
                "INSERT INTO messages (id, token_id, contact_id, flow_id, node, channel, recipient, content, status, created_at, updated_at) \
                 SELECT 'poison.hello', id, contact_id, flow_id, 'hello', 'email', 'p@example.com', 'not json', 'queued', 0, 0 \
                 FROM tokens WHERE flow_id = {poisoned} ORDER BY id LIMIT 1"
            ),
            "INSERT INTO outbox (message_id, created_at) VALUES ('poison.hello', 0)".to_string(),
        ];
        for statement in sql {
            sea_orm::ConnectionTrait::execute_unprepared(db, &statement)
                .await
                .expect(&statement);
        }
        t.settle().await;
        let mut sent = t.outbox().await;
        sent.sort();
        assert!(
            ["c1", "c2", "c3", "c4"]
                .iter()
                .all(|c| sent.contains(&format!("email {c}@example.com"))),
            "{}: every plain journey emails: {sent:?}",
            backend.name
        );
        for contact in ["c1", "c2", "c3", "c4"] {
            let journal = t.journal(contact).await;
            assert!(
                journal.contains(&"hello sent".to_string()) && journal.contains(&"done exited".to_string()),
                "{}: {contact}: {journal:?}",
                backend.name
            );
        }
        let (status, aside) = t.get("/api/set-aside").await;
        assert_eq!(status, StatusCode::OK, "{}: {aside}", backend.name);
        let mut kinds: Vec<&str> = aside
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap())
            .collect();
        kinds.sort_unstable();
        assert_eq!(
            kinds,
            ["event", "journey", "journey", "journey", "message"],
            "{}: {aside}",
            backend.name
        );
        assert!(
            aside
                .as_array()
                .unwrap()
                .iter()
                .all(|a| !a["reason"].as_str().unwrap().is_empty()),
            "{}: every item says why: {aside}",
            backend.name
        );
        let p1 = t.journal("p1").await;
        assert_eq!(
            p1,
            ["start failed"],
            "{}: the set-aside journey is journaled",
            backend.name
        );

        // Retried, the journey of p1 fails again and is set aside again; cancelled, it ends.
        let p1_item = aside.as_array().unwrap().iter().find(|a| a["contact"] == "p1").unwrap()["id"]
            .as_i64()
            .unwrap();
        let (status, _) = t.post(&format!("/api/set-aside/{p1_item}/retry"), "").await;
        assert_eq!(status, StatusCode::OK, "{}", backend.name);
        t.settle().await;
        let (_, again) = t.get("/api/set-aside").await;
        assert_eq!(again.as_array().unwrap().len(), 5, "{}: {again}", backend.name);
        assert_eq!(
            t.journal("p1").await,
            ["start failed", "start failed"],
            "{}",
            backend.name
        );
        for item in again.as_array().unwrap() {
            let (status, body) = t.post(&format!("/api/set-aside/{}/cancel", item["id"]), "").await;
            assert_eq!(status, StatusCode::OK, "{}: {body}", backend.name);
        }
        t.settle().await;
        let (_, none) = t.get("/api/set-aside").await;
        assert_eq!(none, json!([]), "{}", backend.name);
        let (status, _) = t.post("/api/set-aside/999999/retry", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", backend.name);
        t.stop().await;
    }
}

#[tokio::test]
async fn entries_and_events_over_a_limit_or_lax_are_refused_naming_the_field_and_write_nothing() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate(PLAIN).await;
        let entries = format!("/api/flows/{flow}/entries");
        let deep = format!("{{\"contact\": {{\"id\": \"p1\"}}, \"data\": {}}}", nested(124));
        let many = format!(
            "{{\"contact\": {{\"id\": \"p1\"}}, \"data\": {{{}}}}}",
            (0..50_000)
                .map(|i| format!("\"f{i}\": 1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let long_id = format!("{{\"contact\": {{\"id\": \"{}\"}}}}", "x".repeat(900_000));
        let cases: Vec<(String, &str)> = vec![
            (deep, "data.a.a"),
            (many, "data.f"),
            (long_id, "contact.id"),
            (r#"{"contact": {"id": 42}}"#.into(), "contact.id"),
            (r#"{"contact": {"id": "p1", "id": "p2"}}"#.into(), "contact.id"),
            (
                r#"{"contact": {"id": "p1", "timezone": ""}}"#.into(),
                "contact.timezone",
            ),
            (
                r#"{"contact": {"id": "p1", "country": "ZZ"}}"#.into(),
                "contact.country",
            ),
            (r#"{"contact": {"id": "p1"}, "key": "a\u0000b"}"#.into(), "key"),
            (
                format!(
                    "{{\"contact\": {{\"id\": \"p1\", {}}}}}",
                    (0..201).map(|i| format!("\"f{i}\": 1")).collect::<Vec<_>>().join(",")
                ),
                "contact",
            ),
        ];
        for (body, field) in &cases {
            let (status, answer) = t.post(&entries, body).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}: {field}: {answer}",
                backend.name
            );
            let named = answer["error"]["details"][0]["field"].as_str().unwrap_or_default();
            assert!(
                named.starts_with(field),
                "{}: expected {field}, got {answer}",
                backend.name
            );
        }
        let (status, _) = t.get("/api/contacts/p1").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}: nothing was written", backend.name);

        let (status, _) = t.post(&entries, r#"{"contact": {"id": "c1"}}"#).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{}", backend.name);
        let long_type = format!("{{\"contact\": \"c1\", \"type\": \"{}\"}}", "t".repeat(900));
        for (body, field) in [
            (long_type.as_str(), "type"),
            (r#"{"contact": "c1", "type": "opened", "type": "clicked"}"#, "type"),
            (r#"{"contact": "c1", "type": "tag_added", "tag": " "}"#, "tag"),
        ] {
            let (status, answer) = t.post("/api/events", body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {answer}", backend.name);
            assert_eq!(
                answer["error"]["details"][0]["field"], field,
                "{}: {answer}",
                backend.name
            );
        }
        t.stop().await;
    }
}

#[tokio::test]
async fn an_event_still_reaches_the_journeys_it_can_when_another_journey_or_an_active_flow_cannot_be_read() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let waiting = t
            .activate(
                r#"{"format": "cairn.flow/v1", "name": "Waits", "nodes": [
                  {"id": "start", "type": "webhook_entry"},
                  {"id": "later", "type": "wait", "duration": "1d"},
                  {"id": "done", "type": "exit"}],
                 "edges": [{"from": "start", "to": "later"}, {"from": "later", "to": "done"}]}"#,
            )
            .await;
        t.activate(
            r#"{"format": "cairn.flow/v1", "name": "Buyers", "nodes": [
              {"id": "start", "type": "event_entry", "event": "order_placed"},
              {"id": "tag", "type": "add_tag", "tag": "buyer"},
              {"id": "done", "type": "exit"}],
             "edges": [{"from": "start", "to": "tag"}, {"from": "tag", "to": "done"}]}"#,
        )
        .await;
        let (status, _) = t
            .post(&format!("/api/flows/{waiting}/entries"), r#"{"contact": {"id": "c1"}}"#)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{}", backend.name);
        t.settle().await;
        // The waiting journey's state is damaged, and an active flow stored by an older
        // version no longer reads: neither may keep the event from the flow that awaits it.
        let db = &t.app.state.services.db;
        for statement in [
            format!("UPDATE tokens SET state = 'not json' WHERE flow_id = {waiting}"),
            "INSERT INTO flows (name, status, version, active_version, created_at, updated_at) \
             VALUES ('Old', 'active', 1, 1, 0, 0)"
                .to_string(),
            "INSERT INTO flow_versions (flow_id, version, definition, created_at) \
             SELECT id, 1, '{\"format\": \"cairn.flow/v0\"}', 0 FROM flows WHERE name = 'Old'"
                .to_string(),
        ] {
            sea_orm::ConnectionTrait::execute_unprepared(db, &statement)
                .await
                .expect(&statement);
        }
        let (status, body) = t
            .post("/api/events", r#"{"contact": "c1", "type": "order_placed"}"#)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{}: {body}", backend.name);
        t.settle().await;
        let (_, contact) = t.get("/api/contacts/c1").await;
        // Tags are facts with counts and dates (`tag`, `count`, …, `active`).
        let active: Vec<&str> = contact["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["active"] == true)
            .map(|t| t["tag"].as_str().unwrap())
            .collect();
        assert_eq!(active, ["buyer"], "{}: {contact}", backend.name);
        let (_, aside) = t.get("/api/set-aside").await;
        let kinds: Vec<&str> = aside
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["journey"],
            "{}: only the damaged journey: {aside}",
            backend.name
        );
        t.stop().await;
    }
}
