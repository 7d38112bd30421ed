//! Segments: "Load contacts" for a filter over tags, lists and message history, exact right
//! after every write (also one made by another process), and saved segments that include each
//! other; on SQLite and PostgreSQL.

use axum::http::StatusCode;
use chrono::TimeDelta;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::service::{TestApp, backends};

async fn put(t: &TestApp, id: &str, body: Value) {
    let (status, answer) = t
        .call("PUT", &format!("/api/contacts/{id}"), Some(&body.to_string()))
        .await;
    assert!(status.is_success(), "{answer}");
}

async fn tag(t: &TestApp, contact: &str, tag: &str) {
    let body = json!({"tag": tag}).to_string();
    let (status, answer) = t.post(&format!("/api/contacts/{contact}/tags"), &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn join(t: &TestApp, contact: &str, list: &str) {
    let body = json!({"list": list}).to_string();
    let (status, answer) = t.post(&format!("/api/contacts/{contact}/lists"), &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// `POST /api/segments/preview`: the count and the ids shown.
async fn preview(t: &TestApp, condition: Value) -> (u64, Vec<String>, Value) {
    let body = json!({"condition": condition}).to_string();
    let (status, answer) = t.post("/api/segments/preview", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    (answer["count"].as_u64().unwrap(), ids(&answer), answer)
}

fn ids(answer: &Value) -> Vec<String> {
    answer["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// Ann was tagged `pricing` twice this week, Bob once, Cy twice but is a customer.
async fn three_contacts(t: &TestApp) {
    for (id, email) in [
        ("ann", "ann@example.com"),
        ("bob", "bob@example.com"),
        ("cy", "cy@example.com"),
    ] {
        put(t, id, json!({"email": email})).await;
    }
    for id in ["ann", "bob", "cy"] {
        tag(t, id, "pricing").await;
    }
    t.advance(TimeDelta::days(2)).await;
    tag(t, "ann", "pricing").await;
    tag(t, "cy", "pricing").await;
    join(t, "cy", "customers").await;
}

fn interested() -> Value {
    json!({"all": [
        {"tag": {"name": "pricing", "count": {"gte": 2}, "last_added": {"within": "7d"}}},
        {"not": {"in_list": "customers"}}
    ]})
}

#[tokio::test]
async fn load_contacts_counts_and_shows_who_matches_with_the_facts_the_filter_read() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        three_contacts(&t).await;
        let (count, shown, answer) = preview(&t, interested()).await;
        assert_eq!((count, shown), (1, vec!["ann".to_string()]), "{}", backend.name);
        let ann = &answer["contacts"][0];
        assert_eq!(ann["email"], "ann@example.com");
        assert_eq!(ann["matched"]["tags"][0]["tag"], "pricing");
        assert_eq!(ann["matched"]["tags"][0]["count"], 2);
        assert_eq!(ann["matched"]["lists"], json!([]), "ann is in no list");
        assert!(answer["took_ms"].as_f64().unwrap() >= 0.0);
        assert_eq!(answer["contacts_indexed"], 3);
        t.advance(TimeDelta::days(8)).await;
        assert_eq!(
            preview(&t, interested()).await.0,
            0,
            "{}: eight days after ann's last tag, 'within 7d' no longer holds",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_answer_follows_every_write_made_before_it_by_this_process_or_another() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        three_contacts(&t).await;
        assert_eq!(preview(&t, interested()).await.0, 1);
        tag(&t, "bob", "pricing").await;
        assert_eq!(
            preview(&t, interested()).await.1,
            ["ann", "bob"],
            "{}: bob's second tag counts at once",
            backend.name
        );
        let (status, _) = t.call("DELETE", "/api/contacts/ann", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            preview(&t, interested()).await.1,
            ["bob"],
            "{}: ann is erased",
            backend.name
        );
        // Another process writes to the same database: the change log brings it here too.
        let other = sea_orm::Database::connect(&backend.url).await.unwrap();
        other
            .execute_unprepared(
                "DELETE FROM contact_lists WHERE list = 'customers' AND contact_id = \
                 (SELECT id FROM contacts WHERE external_id = 'cy')",
            )
            .await
            .unwrap();
        assert_eq!(
            preview(&t, interested()).await.1,
            ["bob", "cy"],
            "{}: cy left the customers through another connection",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn saved_segments_are_named_included_in_others_and_previewed_by_id_or_name() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        three_contacts(&t).await;
        let body = json!({"name": "interested", "condition": interested()}).to_string();
        let (status, saved) = t.post("/api/segments", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
        let (status, _) = t.post("/api/segments", &body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{}: names are unique", backend.name);
        let with_email = json!({"name": "reachable interested", "condition": {"all": [
            {"segment": "interested"}, {"field": {"path": "email", "op": "exists"}}]}});
        let (status, outer) = t.post("/api/segments", &with_email.to_string()).await;
        assert_eq!(status, StatusCode::CREATED, "{outer}");
        let (status, answer) = t.get(&format!("/api/segments/{}/preview", outer["id"])).await;
        assert_eq!(
            (status, ids(&answer)),
            (StatusCode::OK, vec!["ann".to_string()]),
            "{answer}"
        );
        let (_, by_name) = t.get("/api/segments/reachable%20interested/preview?limit=5").await;
        assert_eq!(by_name["count"], 1);

        let (status, refused) = t.call("DELETE", "/api/segments/interested", None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        let looped = json!({"name": "interested", "condition": {"segment": "reachable interested"}});
        let (status, refused) = t
            .call("PUT", "/api/segments/interested", Some(&looped.to_string()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("include each other"),
            "{refused}"
        );
        let wider = json!({"name": "interested", "condition": {"has_tag": "pricing"}});
        let (status, _) = t
            .call("PUT", "/api/segments/interested", Some(&wider.to_string()))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, answer) = t.get("/api/segments/reachable%20interested/preview").await;
        assert_eq!(
            answer["count"], 3,
            "{}: the including segment changed with it",
            backend.name
        );

        let (_, listed) = t.get("/api/segments").await;
        assert_eq!(listed.as_array().unwrap().len(), 2);
        let (status, _) = t.call("DELETE", "/api/segments/reachable%20interested", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = t.get("/api/segments/reachable%20interested").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        t.stop().await;
    }
}

#[tokio::test]
async fn a_bad_filter_is_refused_naming_the_field_that_is_wrong() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let cases = [
            (
                json!({"condition": {"all": [{"tag": {"name": "x", "cuont": 2}}]}}),
                "condition.all[0].tag.cuont",
            ),
            (json!({"condition": {"segment": "nobody"}}), "condition"),
            (
                json!({"condition": {"message": {"event": "read"}}}),
                "condition.message.event",
            ),
            (json!({"condition": {"has_tag": "x"}, "limit": 0}), "limit"),
        ];
        for (body, field) in cases {
            let (status, answer) = t.post("/api/segments/preview", &body.to_string()).await;
            assert_eq!(
                (status, answer["error"]["details"][0]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{}: {body} → {answer}",
                backend.name
            );
        }
        t.stop().await;
    }
}

#[tokio::test]
async fn an_opened_email_is_history_a_filter_can_read() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t
            .activate(
                r#"{"format": "cairn.flow/v1", "name": "Welcome", "nodes": [
                {"id": "start", "type": "webhook_entry"},
                {"id": "mail", "type": "send_email", "subject": "Hi", "html": "<p>Hello</p>"},
                {"id": "done", "type": "exit"}],
                "edges": [{"from": "start", "to": "mail"}, {"from": "mail", "to": "done"}]}"#,
            )
            .await;
        for id in ["ann", "bob"] {
            let entry = json!({"contact": {"id": id, "email": format!("{id}@example.com")}}).to_string();
            let (status, answer) = t.post(&format!("/api/flows/{flow}/entries"), &entry).await;
            assert!(status.is_success(), "{answer}");
        }
        t.settle().await;
        let sent = json!({"message": {"event": "sent", "flow": "Welcome", "node": "mail", "channel": "email"}});
        assert_eq!(preview(&t, sent).await.1, ["ann", "bob"], "{}", backend.name);
        let (_, outbox) = t.get("/api/outbox").await;
        let to_ann = outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["contact"] == "ann")
            .unwrap();
        let html = to_ann["content"]["html"].as_str().unwrap();
        let pixel = &html[html.find("/t/o/").expect("an open pixel")..];
        let pixel = &pixel[..pixel.find('"').unwrap()].replace("&amp;", "&");
        t.advance(TimeDelta::days(3)).await;
        let response = t.get_raw(pixel).await;
        assert!(response.status().is_success(), "{}", response.status());
        let opened = json!({"message": {"event": "opened", "when": {"within": "1d"}}});
        let (count, shown, answer) = preview(&t, opened).await;
        assert_eq!(
            (count, shown),
            (1, vec!["ann".to_string()]),
            "{}: {answer}",
            backend.name
        );
        assert!(answer["contacts"][0]["matched"]["messages"][0]["opened_at"].is_string());
        let not_recent = json!({"message": {"event": "sent", "when": {"within": "1d"}}});
        assert_eq!(preview(&t, not_recent).await.0, 0, "{}", backend.name);
        t.stop().await;
    }
}

#[tokio::test]
async fn contracts_ending_soon_are_found_and_a_renewed_contract_drops_out_at_once() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let soon = (t.now() + TimeDelta::days(20)).date_naive().to_string();
        let later = (t.now() + TimeDelta::days(400)).date_naive().to_string();
        for (id, end) in [("ann", &soon), ("bob", &later)] {
            put(&t, id, json!({"email": format!("{id}@example.com")})).await;
            let record = json!({"status": "active", "end_date": end}).to_string();
            let (status, answer) = t
                .call(
                    "PUT",
                    &format!("/api/contacts/{id}/records/contract/k-{id}"),
                    Some(&record),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
        }
        let ending = json!({"records": {"type": "contract", "any": {"all": [
            {"field": {"path": "status", "op": "eq", "value": "active"}},
            {"field": {"path": "end_date", "op": "within_next", "value": "30d"}}]}}});
        let (count, shown, answer) = preview(&t, ending.clone()).await;
        assert_eq!((count, shown), (1, vec!["ann".to_string()]), "{}", backend.name);
        assert_eq!(
            answer["contacts"][0]["matched"]["records"]["contract"][0]["id"],
            "k-ann"
        );
        let renewed = json!({"status": "active", "end_date": later}).to_string();
        let (status, _) = t
            .call("PUT", "/api/contacts/ann/records/contract/k-ann", Some(&renewed))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(preview(&t, ending).await.0, 0, "{}: ann renewed", backend.name);
        t.stop().await;
    }
}

#[tokio::test]
async fn a_segment_exports_only_its_contacts() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        three_contacts(&t).await;
        let body = json!({"name": "interested", "condition": interested()}).to_string();
        let (status, _) = t.post("/api/segments", &body).await;
        assert_eq!(status, StatusCode::CREATED);
        let response = t.get_raw("/api/contacts/export?format=ndjson&segment=interested").await;
        assert_eq!(response.status(), StatusCode::OK, "{}", backend.name);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let lines: Vec<Value> = String::from_utf8(bytes.to_vec())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["ann"], "{}", backend.name);
        let (status, _) = t.get("/api/contacts/export?segment=nobody").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", backend.name);
        t.stop().await;
    }
}

/// A journey that thanks the contacts the saved segment "VIPs" holds and lets the others go.
const SORTING: &str = r#"{"format": "cairn.flow/v1", "name": "Sorting", "nodes": [
    {"id": "start", "type": "webhook_entry"},
    {"id": "is_vip", "type": "branch", "condition": {"segment": "VIPs"}},
    {"id": "thank", "type": "add_tag", "tag": "thanked"},
    {"id": "done", "type": "exit"}],
  "edges": [{"from": "start", "to": "is_vip"}, {"from": "is_vip", "to": "thank", "when": "yes"},
    {"from": "is_vip", "to": "done", "when": "no"}, {"from": "thank", "to": "done"}]}"#;

/// Tags each contact, starts their journey and returns who was thanked.
async fn sort(t: &TestApp, flow: i64, people: &[(&str, &str)]) -> Vec<String> {
    for (id, with) in people {
        put(t, id, json!({"email": format!("{id}@example.com")})).await;
        tag(t, id, with).await;
        let entry = json!({"contact": {"id": id}}).to_string();
        let (status, answer) = t.post(&format!("/api/flows/{flow}/entries"), &entry).await;
        assert!(status.is_success(), "{answer}");
    }
    t.settle().await;
    let mut thanked = Vec::new();
    for (id, _) in people {
        if t.journal(id).await.iter().any(|l| l.starts_with("thank ")) {
            thanked.push(id.to_string());
        }
    }
    thanked
}

#[tokio::test]
async fn a_branch_on_a_saved_segment_follows_the_segment_as_it_is_edited() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let (status, created) = t.post("/api/flows", SORTING).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let flow = created["id"].as_i64().unwrap();
        let (status, refused) = t.post(&format!("/api/flows/{flow}/activate"), "").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        let problem = &refused["error"]["details"][0];
        assert_eq!(
            (&problem["node"], &problem["field"]),
            (&json!("is_vip"), &json!("condition"))
        );
        assert!(problem["message"].as_str().unwrap().contains("VIPs"), "{refused}");

        let vips = json!({"name": "VIPs", "condition": {"has_tag": "vip"}}).to_string();
        let (status, saved) = t.post("/api/segments", &vips).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
        let (status, body) = t.post(&format!("/api/flows/{flow}/activate"), "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            sort(&t, flow, &[("ann", "vip"), ("bob", "new")]).await,
            ["ann"],
            "{}",
            backend.name
        );

        // The simulator reads the saved segment the same way.
        let flow_doc: Value = serde_json::from_str(SORTING).unwrap();
        let request = json!({"flow": flow_doc, "contacts": [{"id": "x", "tags": ["vip"]}, {"id": "y"}]});
        let (status, simulated) = t.post("/api/simulate", &request.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{simulated}");
        let ways: Vec<String> = simulated["journal"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["action"] == "branched")
            .map(|l| format!("{} {}", l["contact"].as_str().unwrap(), l["edge"].as_str().unwrap()))
            .collect();
        assert_eq!(ways, ["x yes", "y no"], "{}", backend.name);

        // The segment is edited: journeys reaching the branch from now on follow it.
        let gold = json!({"name": "VIPs", "condition": {"has_tag": "gold"}}).to_string();
        let (status, body) = t.call("PUT", "/api/segments/VIPs", Some(&gold)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            sort(&t, flow, &[("cy", "gold"), ("dan", "vip")]).await,
            ["cy"],
            "{}: the branch reads the segment as it is now",
            backend.name
        );

        let (status, refused) = t.call("DELETE", "/api/segments/VIPs", None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert!(
            refused["error"]["message"].as_str().unwrap().contains("Sorting"),
            "{refused}"
        );
        t.stop().await;
    }
}
