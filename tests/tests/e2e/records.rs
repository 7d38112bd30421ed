//! Related records of contacts (contracts, orders…) through the API, on SQLite and PostgreSQL:
//! written, replaced, listed and deleted; checked against their type's declared fields; read by
//! branches and templates of running journeys; erased with their contact.

use axum::http::StatusCode;
use chrono::TimeDelta;
use serde_json::{Value, json};
use tests::service::{TestApp, backends};

async fn put_contact(t: &TestApp, id: &str, body: Value) {
    let (status, answer) = t
        .call("PUT", &format!("/api/contacts/{id}"), Some(&body.to_string()))
        .await;
    assert!(status.is_success(), "{answer}");
}

async fn put_record(t: &TestApp, path: &str, fields: Value) -> (StatusCode, Value) {
    t.call("PUT", &format!("/api/contacts/{path}"), Some(&fields.to_string()))
        .await
}

/// The field of the first problem of an error body, and its message.
fn first_problem(body: &Value) -> (&str, &str) {
    let detail = &body["error"]["details"][0];
    (
        detail["field"].as_str().unwrap_or_default(),
        detail["message"].as_str().unwrap_or_default(),
    )
}

/// A date `days` from the test clock's now, as `YYYY-MM-DD`.
fn in_days(t: &TestApp, days: i64) -> String {
    (t.now() + TimeDelta::days(days)).format("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn a_record_is_created_then_replaced_listed_by_type_and_deleted() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        put_contact(&t, "ann", json!({"email": "ann@example.com"})).await;
        let created_at = t.now();
        let (status, record) = put_record(&t, "ann/records/contract/k1", json!({"plan": "gold"})).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {record}");
        assert_eq!(
            record,
            json!({"type": "contract", "id": "k1", "fields": {"plan": "gold"},
                   "created_at": created_at, "updated_at": created_at}),
            "{name}"
        );
        t.advance(TimeDelta::minutes(5)).await;
        let (status, record) = put_record(
            &t,
            "ann/records/contract/k1",
            json!({"id": "k1", "plan": "platinum", "seats": 3}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: replacing answers 200: {record}");
        assert_eq!(
            record["fields"],
            json!({"plan": "platinum", "seats": 3}),
            "{name}: the body's fields replace the stored ones, the id is not a field"
        );
        assert_eq!(
            (&record["created_at"], &record["updated_at"]),
            (&json!(created_at), &json!(t.now())),
            "{name}"
        );
        put_record(&t, "ann/records/order/o-2", json!({"total": 40})).await;
        put_record(&t, "ann/records/order/o-1", json!({"total": 15})).await;
        let (status, listed) = t.get("/api/contacts/ann/records").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        let ids = |kind: &str| -> Vec<String> {
            listed["records"][kind]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            (ids("contract"), ids("order")),
            (vec!["k1".to_string()], vec!["o-1".to_string(), "o-2".to_string()]),
            "{name}: by type, each type's in id order"
        );
        let (_, contact) = t.get("/api/contacts/ann").await;
        assert_eq!(
            contact["records"], listed["records"],
            "{name}: the contact shows them too"
        );

        let (status, _) = t.call("DELETE", "/api/contacts/ann/records/order/o-1", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{name}");
        let (status, body) = t.call("DELETE", "/api/contacts/ann/records/order/o-1", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: gone already: {body}");
        let (_, listed) = t.get("/api/contacts/ann/records").await;
        assert_eq!(listed["records"]["order"][0]["id"], "o-2", "{name}: {listed}");
        assert_eq!(listed["records"]["order"].as_array().unwrap().len(), 1, "{name}");
        t.stop().await;
    }
}

#[tokio::test]
async fn records_of_unknown_contacts_and_malformed_records_are_refused_with_the_field_named() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        put_contact(&t, "ann", json!({})).await;
        let (status, _) = put_record(&t, "nobody/records/contract/k1", json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: records belong to a contact");
        assert_eq!(
            t.get("/api/contacts/nobody/records").await.0,
            StatusCode::NOT_FOUND,
            "{name}"
        );
        let refused = [
            ("ann/records/contract/k1", json!(["gold"]), "fields"),
            ("ann/records/contract/k1", json!({"id": "k2"}), "id"),
            ("ann/records/%20/k1", json!({}), "type"),
            ("ann/records/contract/%09", json!({}), "record_id"),
            ("ann/records/contract/k1", json!({"": 1}), "fields."),
            (
                "ann/records/contract/k1",
                json!({"terms": "x".repeat(40_000), "notes": "y".repeat(40_000)}),
                "fields",
            ),
        ];
        for (path, body, field) in refused {
            let (status, answer) = put_record(&t, path, body).await;
            assert_eq!(
                (status, first_problem(&answer).0),
                (StatusCode::UNPROCESSABLE_ENTITY, field),
                "{name}: {path}: {answer}"
            );
        }
        let many: serde_json::Map<String, Value> = (0..201).map(|i| (format!("f{i}"), json!(i))).collect();
        let (status, answer) = put_record(&t, "ann/records/contract/k1", Value::Object(many)).await;
        assert_eq!(
            (status, first_problem(&answer)),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                ("fields", "has 201 fields; at most 200")
            ),
            "{name}"
        );
        let (_, listed) = t.get("/api/contacts/ann/records").await;
        assert_eq!(listed, json!({"records": {}}), "{name}: nothing was written");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_contact_holds_at_most_1000_records_and_may_still_replace_them() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        put_contact(&t, "ann", json!({})).await;
        for i in 0..1000 {
            let (status, body) = put_record(&t, &format!("ann/records/order/o{i}"), json!({"n": i})).await;
            assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        }
        let (status, body) = put_record(&t, "ann/records/loyalty/gold", json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{name}: {body}");
        assert_eq!(
            body["error"]["message"], "contact 'ann' has 1000 records already, the most one contact may have",
            "{name}"
        );
        let (status, _) = put_record(&t, "ann/records/order/o7", json!({"n": "seven"})).await;
        assert_eq!(status, StatusCode::OK, "{name}: an existing record is replaced");
        let (_, listed) = t.get("/api/contacts/ann/records").await;
        assert_eq!(
            listed["records"]["loyalty"],
            Value::Null,
            "{name}: the 1001st was not written"
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_declared_type_refuses_a_field_that_does_not_fit_naming_it_and_writes_nothing() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        let declaration =
            json!({"fields": {"end_date": "date", "amount": "number"}, "description": "Signed contracts"});
        let (status, body) = t
            .call("PUT", "/api/record-types/contract", Some(&declaration.to_string()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        let (status, _) = t
            .call("PUT", "/api/record-types/contract", Some(&declaration.to_string()))
            .await;
        assert_eq!(status, StatusCode::OK, "{name}: declared again, changed");
        let (status, body) = t
            .call(
                "PUT",
                "/api/record-types/order",
                Some(r#"{"fields": {"total": "integer"}}"#),
            )
            .await;
        assert_eq!(
            (status, first_problem(&body)),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                (
                    "fields.total",
                    "\"integer\" is not a field type: one of date, number, text, bool"
                )
            ),
            "{name}"
        );

        put_contact(&t, "ann", json!({})).await;
        let (status, body) = put_record(
            &t,
            "ann/records/contract/k1",
            json!({"end_date": "next spring", "amount": 1200}),
        )
        .await;
        assert_eq!(
            (status, first_problem(&body)),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                ("fields.end_date", "expected a date YYYY-MM-DD or an RFC 3339 instant")
            ),
            "{name}"
        );
        assert_eq!(
            body["error"]["message"], "field 'fields.end_date': expected a date YYYY-MM-DD or an RFC 3339 instant",
            "{name}"
        );
        let (_, listed) = t.get("/api/contacts/ann/records").await;
        assert_eq!(listed, json!({"records": {}}), "{name}: nothing was written");

        let (status, record) = put_record(
            &t,
            "ann/records/contract/k1",
            json!({"end_date": "2027-01-15", "amount": "1200.50", "plan": "gold"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {record}");
        assert_eq!(
            record["fields"],
            json!({"end_date": "2027-01-15", "amount": 1200.5, "plan": "gold"}),
            "{name}: a numeric string is stored as a number, undeclared fields are free"
        );
        put_contact(&t, "bob", json!({})).await;
        put_record(&t, "bob/records/contract/k9", json!({"amount": 10})).await;
        put_record(&t, "bob/records/loyalty/gold", json!({})).await;
        let (_, types) = t.get("/api/record-types").await;
        assert_eq!(
            types,
            json!([
                {"type": "contract", "declared": true, "fields": {"amount": "number", "end_date": "date"},
                 "description": "Signed contracts", "records": 2, "contacts": 2},
                {"type": "loyalty", "declared": false, "fields": {}, "description": null,
                 "records": 1, "contacts": 1}
            ]),
            "{name}"
        );
        t.stop().await;
    }
}

/// `webhook_entry → branch` on an active contract ending within 30 days: yes → an email that
/// lists the contact's contracts → exit; no → tag `no_renewal` → exit.
fn renewal_flow() -> String {
    let condition = json!({"records": {"type": "contract", "any": {"all": [
        {"field": {"path": "status", "op": "eq", "value": "active"}},
        {"field": {"path": "end_date", "op": "within_next", "value": "30d"}}
    ]}}});
    json!({"format": "cairn.flow/v1", "name": "Renewal", "nodes": [
        {"id": "start", "type": "webhook_entry"},
        {"id": "check", "type": "branch", "condition": condition},
        {"id": "remind", "type": "send_email", "subject": "Your contract ends soon",
         "html": "<ul>{% for c in records.contract %}<li>{{ c.id }}: {{ c.plan }} until {{ c.end_date }}</li>{% endfor %}</ul>"},
        {"id": "no_renewal", "type": "add_tag", "tag": "no_renewal"},
        {"id": "done", "type": "exit"}],
     "edges": [{"from": "start", "to": "check"}, {"from": "check", "to": "remind", "when": "yes"},
               {"from": "check", "to": "no_renewal", "when": "no"}, {"from": "remind", "to": "done"},
               {"from": "no_renewal", "to": "done"}]})
    .to_string()
}

#[tokio::test]
async fn a_branch_takes_the_yes_edge_for_a_contact_whose_contract_ends_within_30_days() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        let flow = t.activate(&renewal_flow()).await;
        put_contact(&t, "ann", json!({"email": "ann@example.com"})).await;
        put_contact(&t, "bob", json!({"email": "bob@example.com"})).await;
        let soon = json!({"status": "active", "plan": "gold", "end_date": in_days(&t, 20)});
        let later = json!({"status": "active", "plan": "basic", "end_date": in_days(&t, 90)});
        put_record(&t, "ann/records/contract/k1", soon.clone()).await;
        put_record(&t, "bob/records/contract/k2", later).await;
        for id in ["ann", "bob"] {
            let entry = json!({"contact": {"id": id}}).to_string();
            let (status, body) = t.post(&format!("/api/flows/{flow}/entries"), &entry).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{name}: {body}");
        }
        t.settle().await;
        assert_eq!(t.outbox().await, ["email ann@example.com"], "{name}");
        assert!(
            t.journal("bob").await.contains(&"no_renewal tag_added".to_string()),
            "{name}: bob's contract ends in 90 days: {:?}",
            t.journal("bob").await
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_email_lists_the_contacts_records_with_their_fields() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        let flow = t.activate(&renewal_flow()).await;
        put_contact(&t, "ann", json!({"email": "ann@example.com"})).await;
        let ending = in_days(&t, 20);
        put_record(
            &t,
            "ann/records/contract/k1",
            json!({"status": "active", "plan": "gold", "end_date": ending}),
        )
        .await;
        put_record(
            &t,
            "ann/records/contract/k2",
            json!({"status": "ended", "plan": "<basic>", "end_date": "2025-01-31"}),
        )
        .await;
        t.post(&format!("/api/flows/{flow}/entries"), r#"{"contact": {"id": "ann"}}"#)
            .await;
        t.settle().await;
        let (_, outbox) = t.get("/api/outbox").await;
        let html = outbox[0]["content"]["html"].as_str().unwrap_or_default();
        let expected = format!("<ul><li>k1: gold until {ending}</li><li>k2: &lt;basic&gt; until 2025-01-31</li></ul>");
        assert!(html.starts_with(&expected), "{name}: {html}");
        t.stop().await;
    }
}

#[tokio::test]
async fn erasing_a_contact_erases_their_records() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        put_contact(&t, "ext-r7", json!({})).await;
        put_record(
            &t,
            "ext-r7/records/contract/k1",
            json!({"iban": "EE38-2200-zq-r7-1150"}),
        )
        .await;
        assert!(!super::contacts::everywhere(&t, "zq-r7").await.is_empty(), "{name}");
        let (status, _) = t.call("DELETE", "/api/contacts/ext-r7", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{name}");
        assert_eq!(
            super::contacts::everywhere(&t, "zq-r7").await,
            Vec::<String>::new(),
            "{name}"
        );
        put_contact(&t, "ext-r7", json!({})).await;
        let (_, listed) = t.get("/api/contacts/ext-r7/records").await;
        assert_eq!(
            listed,
            json!({"records": {}}),
            "{name}: a contact made again with the same id has none"
        );
        t.stop().await;
    }
}
