//! The contacts API, tags that remember and expire, and lists, on SQLite and PostgreSQL.

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use orchestrator::runtime::Background;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::service::{TestApp, backends};

/// An instant as the API prints it.
fn at(t: DateTime<Utc>) -> Value {
    json!(t)
}

/// The contact's tag `name`, as `GET /api/contacts/{id}` shows it.
async fn tag(t: &TestApp, contact: &str, name: &str) -> Value {
    let (status, body) = t.get(&format!("/api/contacts/{contact}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["tag"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn put(t: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    t.call("PUT", &format!("/api/contacts/{id}"), Some(&body.to_string()))
        .await
}

async fn define(t: &TestApp, tag: &str, lifetime: Value) {
    let body = json!({"lifetime": lifetime}).to_string();
    let (status, answer) = t.call("PUT", &format!("/api/tags/{tag}"), Some(&body)).await;
    assert!(status.is_success(), "{answer}");
}

async fn add_tag(t: &TestApp, contact: &str, body: Value) -> Value {
    let (status, answer) = t
        .post(&format!("/api/contacts/{contact}/tags"), &body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn a_tag_added_through_the_api_counts_its_additions_with_their_dates_and_source() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let start = t.now();
        put(&t, "ann", json!({"email": "ann@example.com"})).await;
        define(&t, "pricing", json!("30d")).await;
        add_tag(
            &t,
            "ann",
            json!({"tag": "pricing", "source": {"kind": "form", "ref": "signup"}}),
        )
        .await;
        t.advance(TimeDelta::hours(1)).await;
        let added = add_tag(
            &t,
            "ann",
            json!({"tag": "pricing", "source": {"kind": "link", "ref": "promo"}}),
        )
        .await;
        t.settle().await;
        let expected = json!({
            "tag": "pricing", "count": 2, "first_added_at": at(start),
            "last_added_at": at(start + TimeDelta::hours(1)),
            "expires_at": at(start + TimeDelta::hours(1) + TimeDelta::days(30)),
            "active": true, "source": {"kind": "link", "ref": "promo"},
        });
        assert_eq!(added, expected, "{}: the answer is the tag as it now is", backend.name);
        assert_eq!(
            tag(&t, "ann", "pricing").await,
            expected,
            "{}: the engine does not count the API's additions again",
            backend.name
        );
        let journal = t.journal("ann").await;
        assert_eq!(journal, ["contact tag_added", "contact tag_added"], "{}", backend.name);
        let (_, lines) = t.get("/api/contacts/ann/journal").await;
        assert_eq!(
            lines[0]["source"],
            json!({"kind": "form", "ref": "signup"}),
            "{}",
            backend.name
        );
        let (status, body) = t
            .post("/api/contacts/ann/tags", r#"{"tag": "x", "source": {"kind": "robot"}}"#)
            .await;
        assert_eq!(
            (status, body["error"]["details"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("source.kind")),
            "{}",
            backend.name
        );
        assert_eq!(
            t.post("/api/contacts/nobody/tags", r#"{"tag": "x"}"#).await.0,
            StatusCode::NOT_FOUND
        );
        let (_, tags) = t.get("/api/tags").await;
        assert_eq!(
            tags,
            json!([{"name": "pricing", "defined": true, "lifetime": "4w 2d", "lifetime_ms": 2_592_000_000i64,
                    "description": null, "active": 1, "total": 1}]),
            "{}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_flows_add_tag_node_counts_and_expires_by_the_tags_lifetime() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        define(&t, "trial", json!("7d")).await;
        let flow = t
            .activate(
                r#"{"format": "cairn.flow/v1", "name": "Trial", "nodes": [
                {"id": "start", "type": "webhook_entry"}, {"id": "give", "type": "add_tag", "tag": "trial"},
                {"id": "done", "type": "exit"}],
                "edges": [{"from": "start", "to": "give"}, {"from": "give", "to": "done"}]}"#,
            )
            .await;
        let (status, body) = t
            .post(&format!("/api/flows/{flow}/entries"), r#"{"contact": {"id": "bo"}}"#)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        t.settle().await;
        let now = t.now();
        assert_eq!(
            tag(&t, "bo", "trial").await,
            json!({"tag": "trial", "count": 1, "first_added_at": at(now), "last_added_at": at(now),
                   "expires_at": at(now + TimeDelta::days(7)), "active": true,
                   "source": {"kind": "flow", "ref": null}}),
            "{}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_expired_tag_keeps_its_counter_and_its_expiry_starts_a_journey() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        define(&t, "trial", json!("1h")).await;
        t.activate(
            r#"{"format": "cairn.flow/v1", "name": "Lapsed", "nodes": [
            {"id": "start", "type": "event_entry", "event": "tag_expired", "tag": "trial"},
            {"id": "mark", "type": "add_tag", "tag": "lapsed"}, {"id": "done", "type": "exit"}],
            "edges": [{"from": "start", "to": "mark"}, {"from": "mark", "to": "done"}]}"#,
        )
        .await;
        put(&t, "cy", json!({})).await;
        let start = t.now();
        add_tag(&t, "cy", json!({"tag": "trial"})).await;
        t.advance(TimeDelta::minutes(59)).await;
        assert_eq!(tag(&t, "cy", "trial").await["active"], true, "{}", backend.name);
        assert_eq!(t.app.expiry.next_due().await, Some(start + TimeDelta::hours(1)));
        t.advance(TimeDelta::minutes(1)).await;
        let trial = tag(&t, "cy", "trial").await;
        assert_eq!(
            (&trial["active"], &trial["count"]),
            (&json!(false), &json!(1)),
            "{}: expired, counter kept: {trial}",
            backend.name
        );
        assert_eq!(
            tag(&t, "cy", "lapsed").await["active"],
            true,
            "{}: the journey ran",
            backend.name
        );
        let journal = t.journal("cy").await;
        assert_eq!(
            journal[..4],
            [
                "contact tag_added",
                "contact tag_expired",
                "start entered",
                "mark tag_added"
            ],
            "{}: {journal:?}",
            backend.name
        );
        // Added again after it ran out: active, one more, a new last date and expiry.
        t.advance(TimeDelta::hours(5)).await;
        let again = add_tag(&t, "cy", json!({"tag": "trial"})).await;
        let now = t.now();
        assert_eq!(
            (
                &again["active"],
                &again["count"],
                &again["first_added_at"],
                &again["last_added_at"],
                &again["expires_at"]
            ),
            (
                &json!(true),
                &json!(2),
                &at(start),
                &at(now),
                &at(now + TimeDelta::hours(1))
            ),
            "{}: {again}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_lifetime_change_moves_active_tags_expiry_from_their_last_addition() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        put(&t, "di", json!({})).await;
        put(&t, "ed", json!({})).await;
        let start = t.now();
        add_tag(&t, "di", json!({"tag": "warm"})).await;
        add_tag(&t, "ed", json!({"tag": "warm"})).await;
        t.call("DELETE", "/api/contacts/ed/tags/warm", None).await;
        assert_eq!(
            tag(&t, "di", "warm").await["expires_at"],
            Value::Null,
            "no lifetime yet"
        );
        t.advance(TimeDelta::hours(1)).await;
        define(&t, "warm", json!("2h")).await;
        assert_eq!(
            tag(&t, "di", "warm").await["expires_at"],
            at(start + TimeDelta::hours(2)),
            "{}",
            backend.name
        );
        assert_eq!(
            tag(&t, "ed", "warm").await["expires_at"],
            Value::Null,
            "inactive tags are left alone"
        );
        define(&t, "warm", Value::Null).await;
        assert_eq!(
            tag(&t, "di", "warm").await["expires_at"],
            Value::Null,
            "{}: no lifetime, no expiry",
            backend.name
        );
        // A shorter lifetime that has already run out expires the tag at once.
        define(&t, "warm", json!("30m")).await;
        t.settle().await;
        let warm = tag(&t, "di", "warm").await;
        assert_eq!(
            (&warm["active"], &warm["count"]),
            (&json!(false), &json!(1)),
            "{}: {warm}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_list_membership_keeps_its_first_date_and_source_and_lists_count_their_members() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        put(&t, "fay", json!({})).await;
        put(&t, "gus", json!({})).await;
        let start = t.now();
        let body = r#"{"list": "customers", "source": {"kind": "import", "ref": "crm.csv"}}"#;
        let (status, joined) = t.post("/api/contacts/fay/lists", body).await;
        assert_eq!(status, StatusCode::OK, "{joined}");
        t.advance(TimeDelta::hours(3)).await;
        let (_, again) = t.post("/api/contacts/fay/lists", r#"{"list": "customers"}"#).await;
        t.post("/api/contacts/gus/lists", r#"{"list": "customers"}"#).await;
        let expected =
            json!({"list": "customers", "added_at": at(start), "source": {"kind": "import", "ref": "crm.csv"}});
        assert_eq!((&joined, &again), (&expected, &expected), "{}", backend.name);
        let (_, fay) = t.get("/api/contacts/fay").await;
        assert_eq!(fay["lists"], json!([expected]), "{}", backend.name);
        let (_, lists) = t.get("/api/lists").await;
        assert_eq!(lists, json!([{"list": "customers", "members": 2}]), "{}", backend.name);
        let (status, left) = t.call("DELETE", "/api/contacts/gus/lists/customers", None).await;
        assert_eq!((status, left), (StatusCode::OK, json!({"removed": true})));
        let (_, lists) = t.get("/api/lists").await;
        assert_eq!(lists, json!([{"list": "customers", "members": 1}]), "{}", backend.name);
        assert_eq!(
            t.journal("gus").await,
            ["contact list_added", "contact list_removed"],
            "{}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn contacts_are_found_by_id_email_phone_or_name_a_page_at_a_time() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        for i in 0..5 {
            put(
                &t,
                &format!("p{i}"),
                json!({"email": format!("person{i}@Example.com"), "name": format!("Person {i}")}),
            )
            .await;
        }
        put(
            &t,
            "zed",
            json!({"phone": "+37255500000", "first_name": "Zed", "last_name": "O'Hara"}),
        )
        .await;
        let ids = |body: &Value| -> Vec<String> {
            body["contacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect()
        };
        let (_, found) = t.get("/api/contacts?q=example.COM&limit=2").await;
        assert_eq!(ids(&found), ["p0", "p1"], "{}", backend.name);
        let cursor = found["next_cursor"].as_str().unwrap().to_string();
        let (_, next) = t
            .get(&format!("/api/contacts?q=example.COM&limit=2&cursor={cursor}"))
            .await;
        assert_eq!(ids(&next), ["p2", "p3"], "{}", backend.name);
        let cursor = next["next_cursor"].as_str().unwrap().to_string();
        let (_, last) = t
            .get(&format!("/api/contacts?q=example.COM&limit=2&cursor={cursor}"))
            .await;
        assert_eq!(
            (ids(&last), &last["next_cursor"]),
            (vec!["p4".to_string()], &Value::Null)
        );
        for (q, expected) in [
            ("zed", "zed"),
            ("55500", "zed"),
            ("o'hara", "zed"),
            ("zed o'h", "zed"),
            ("person 3", "p3"),
        ] {
            let (_, found) = t.get(&format!("/api/contacts?q={}", urlencode(q))).await;
            assert_eq!(ids(&found), [expected], "{}: q={q}", backend.name);
        }
        let (_, none) = t.get("/api/contacts?q=100%25").await;
        assert_eq!(ids(&none), Vec::<String>::new(), "% is a character, not a wildcard");
        let (_, all) = t.get("/api/contacts").await;
        assert_eq!(ids(&all).len(), 6);
        for bad in [
            "/api/contacts?limit=0",
            "/api/contacts?limit=1001",
            "/api/contacts?cursor=nonsense",
        ] {
            assert_eq!(t.get(bad).await.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        t.stop().await;
    }
}

fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn put_creates_then_replaces_and_patch_changes_only_what_it_names() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let body =
            json!({"email": "hal@example.com", "phone": "+37255511111", "country": "ee", "plan": "pro", "seats": 3});
        assert_eq!(put(&t, "hal", body).await.0, StatusCode::CREATED, "{}", backend.name);
        let (_, hal) = t.get("/api/contacts/hal").await;
        assert_eq!(
            (&hal["email"], &hal["country"], &hal["fields"]),
            (
                &json!("hal@example.com"),
                &json!("EE"),
                &json!({"plan": "pro", "seats": 3})
            )
        );
        let (status, _) = put(
            &t,
            "hal",
            json!({"id": "hal", "email": "hal@example.org", "plan": "team"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", backend.name);
        let (_, hal) = t.get("/api/contacts/hal").await;
        assert_eq!(
            (&hal["email"], &hal["phone"], &hal["fields"]),
            (&json!("hal@example.org"), &Value::Null, &json!({"plan": "team"})),
            "{}: PUT replaces the contact",
            backend.name
        );
        let patch = json!({"phone": "+37255522222", "plan": null, "seats": 5}).to_string();
        let (status, answer) = t.call("PATCH", "/api/contacts/hal", Some(&patch)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let (_, hal) = t.get("/api/contacts/hal").await;
        assert_eq!(
            (&hal["email"], &hal["phone"], &hal["fields"]),
            (&json!("hal@example.org"), &json!("+37255522222"), &json!({"seats": 5})),
            "{}: PATCH changes only what it names",
            backend.name
        );
        let (_, hal) = {
            t.call("PATCH", "/api/contacts/hal", Some(r#"{"email": null}"#)).await;
            t.get("/api/contacts/hal").await
        };
        assert_eq!(hal["email"], Value::Null, "null clears a known key");
        for (body, field) in [
            (json!({"id": "other"}), "id"),
            (json!({"email": "not-an-address"}), "email"),
            (json!({"phone": "5551234"}), "phone"),
            (json!({"country": "Estonia"}), "country"),
            (json!({"timezone": "Mars/Base"}), "timezone"),
        ] {
            let (status, answer) = put(&t, "hal", body.clone()).await;
            assert_eq!(
                (status, answer["error"]["details"][0]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{}: {body}: {answer}",
                backend.name
            );
        }
        assert_eq!(
            t.call("PATCH", "/api/contacts/nobody", Some("{}")).await.0,
            StatusCode::NOT_FOUND
        );
        // Tags and lists in a contact object are added once: the same PUT twice counts nothing more.
        for _ in 0..2 {
            let (status, _) = put(&t, "hal", json!({"tags": ["vip"], "lists": ["news"]})).await;
            assert_eq!(status, StatusCode::OK, "{}", backend.name);
        }
        assert_eq!(tag(&t, "hal", "vip").await["count"], 1, "{}", backend.name);
        t.stop().await;
    }
}

/// Every text value in every table of the database that contains `needle`.
pub(crate) async fn everywhere(t: &TestApp, needle: &str) -> Vec<String> {
    let db = &t.app.state.services.db;
    let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
    let query = |sql: &str| sea_orm::Statement::from_string(db.get_database_backend(), sql.to_string());
    let mut columns: Vec<(String, String)> = Vec::new();
    if postgres {
        let sql = "SELECT table_name::text, column_name::text FROM information_schema.columns \
                   WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'json', 'jsonb')";
        for r in db.query_all_raw(query(sql)).await.unwrap() {
            columns.push((r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap()));
        }
    } else {
        let sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
        for r in db.query_all_raw(query(sql)).await.unwrap() {
            let table: String = r.try_get_by_index(0).unwrap();
            let sql = format!("SELECT name FROM pragma_table_info('{table}')");
            for c in db.query_all_raw(query(&sql)).await.unwrap() {
                columns.push((table.clone(), c.try_get_by_index(0).unwrap()));
            }
        }
    }
    assert!(columns.len() > 20, "every table's columns: {columns:?}");
    let mut found = Vec::new();
    for (table, column) in columns {
        let sql = format!(
            "SELECT CAST(\"{column}\" AS TEXT) FROM \"{table}\" WHERE LOWER(CAST(\"{column}\" AS TEXT)) LIKE '%{}%'",
            needle.to_lowercase()
        );
        for r in db.query_all_raw(query(&sql)).await.unwrap() {
            let value: Option<String> = r.try_get_by_index(0).unwrap();
            found.push(format!("{table}.{column}: {}", value.unwrap_or_default()));
        }
    }
    found
}

#[tokio::test]
async fn erasing_a_contact_leaves_no_personal_data_in_any_table() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        let entry = r#"{"contact": {"id": "ext-9q7w", "email": "ivy.erased@example.com", "phone": "+37255599887",
                        "first_name": "Ivy", "tags": ["vip"], "lists": ["news"]}}"#;
        let (status, body) = t.post(&format!("/api/flows/{flow}/entries"), entry).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        t.post(
            "/api/events",
            r#"{"contact": "ext-9q7w", "type": "browsed", "data": {"page": "ivy.erased@example.com"}}"#,
        )
        .await;
        add_tag(&t, "ext-9q7w", json!({"tag": "pricing"})).await;
        t.settle().await;
        assert_eq!(t.outbox().await, ["email ivy.erased@example.com"], "{}", backend.name);
        for needle in ["ivy.erased@example.com", "55599887", "ext-9q7w"] {
            assert!(
                !everywhere(&t, needle).await.is_empty(),
                "{}: the test sees {needle} before",
                backend.name
            );
        }
        let (status, _) = t.call("DELETE", "/api/contacts/ext-9q7w", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{}", backend.name);
        for needle in ["ivy.erased@example.com", "55599887", "ext-9q7w"] {
            assert_eq!(
                everywhere(&t, needle).await,
                Vec::<String>::new(),
                "{}: {needle}",
                backend.name
            );
        }
        assert_eq!(t.get("/api/contacts/ext-9q7w").await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            t.call("DELETE", "/api/contacts/ext-9q7w", None).await.0,
            StatusCode::NOT_FOUND
        );
        // Anonymous counts stay; the journey that waited has ended.
        let (_, stats) = t.get(&format!("/api/flows/{flow}/stats")).await;
        assert_eq!(
            stats["nodes"]["start"]["actions"]["entered"], 1,
            "{}: {stats}",
            backend.name
        );
        let running: i64 = stats["nodes"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n["here"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(running, 0, "{}: {stats}", backend.name);
        t.advance(TimeDelta::hours(3)).await;
        assert_eq!(
            t.outbox().await,
            Vec::<String>::new(),
            "{}: nothing more is sent",
            backend.name
        );
        t.stop().await;
    }
}

/// A contact's page shows the messages they were sent, as rendered: the outbox by contact.
#[tokio::test]
async fn the_outbox_lists_one_contacts_messages_as_they_were_rendered() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        for (id, name) in [("ann", "Ann"), ("bob", "Bob")] {
            let entry = json!({"contact": {"id": id, "email": format!("{id}@example.com"), "first_name": name}});
            let (status, body) = t.post(&format!("/api/flows/{flow}/entries"), &entry.to_string()).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        }
        t.settle().await;
        let (status, body) = t.get("/api/outbox?contact=bob").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let messages = body.as_array().unwrap();
        assert_eq!(messages.len(), 1, "{}: {body}", backend.name);
        assert_eq!(messages[0]["contact"], "bob");
        assert_eq!(messages[0]["content"]["subject"], "Hi Bob", "{}", backend.name);
        let (_, none) = t.get("/api/outbox?contact=nobody").await;
        assert_eq!(none, json!([]));
    }
}
