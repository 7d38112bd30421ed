//! Contact imports through `POST /api/imports` and the contact export, on SQLite and
//! PostgreSQL: good lines go in, bad ones are reported by line and column, a re-run changes
//! nothing, imported tags can start journeys, and an export imports back as it was.

use axum::http::StatusCode;
use chrono::TimeDelta;
use serde_json::{Value, json};
use tests::service::{TestApp, backends, eventually};

const CSV: &str = "id,Mail,first_name,tags,lists\n\
                   c1,ann@example.com,Ann,vip;new,news\n\
                   c2,bob@,Bob,vip,\n\
                   c3,cid@example.com,Cid,vip,news;shop\n";

/// Posts a file to `/api/imports?{query}`; returns the answer.
async fn upload(t: &TestApp, query: &str, content_type: &str, file: &str) -> (StatusCode, Value) {
    t.call_with(
        "POST",
        &format!("/api/imports?{query}"),
        file,
        &[("content-type", content_type)],
    )
    .await
}

/// Uploads a file and waits for its import to end; returns the import as it ended.
async fn import(t: &TestApp, query: &str, content_type: &str, file: &str) -> Value {
    let (status, started) = upload(t, query, content_type, file).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let path = format!("/api/imports/{}", started["id"]);
    let mut ended = Value::Null;
    eventually("the import to end", async || {
        let (status, body) = t.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ended = body;
        ended["status"] != "running"
    })
    .await;
    ended
}

async fn contact(t: &TestApp, id: &str) -> Value {
    let (status, body) = t.get(&format!("/api/contacts/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn tag<'a>(contact: &'a Value, name: &str) -> &'a Value {
    contact["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == name)
        .unwrap_or(&Value::Null)
}

async fn export(t: &TestApp, format: &str) -> (StatusCode, String, String) {
    let response = t.get_raw(&format!("/api/contacts/export?format={format}")).await;
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, kind, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn an_uploaded_csv_goes_in_line_by_line_and_its_bad_line_is_reported_by_line_and_column() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let ended = import(&t, "name=crm&map=Mail=email", "text/csv", CSV).await;
        let name = backend.name;
        assert_eq!(ended["status"], "done", "{name}: {ended}");
        assert_eq!(
            (&ended["lines_read"], &ended["inserted"], &ended["refused"]),
            (&json!(3), &json!(2), &json!(1)),
            "{name}: {ended}"
        );
        assert_eq!(
            ended["errors"],
            json!([{"line": 3, "message": "column 'Mail': e-mail address 'bob@' has an invalid domain"}]),
            "{name}: the bad line is named by its line and the file's own column"
        );
        let ann = contact(&t, "c1").await;
        assert_eq!(ann["email"], "ann@example.com", "{name}: the mapped column");
        assert_eq!(ann["fields"]["first_name"], "Ann", "{name}");
        let vip = tag(&ann, "vip");
        assert_eq!(
            (&vip["count"], &vip["active"], &vip["source"]),
            (&json!(1), &json!(true), &json!({"kind": "import", "ref": "crm"})),
            "{name}: imported tags have source import:<name>: {vip}"
        );
        assert_eq!(
            ann["lists"][0]["source"],
            json!({"kind": "import", "ref": "crm"}),
            "{name}"
        );
        let (status, _) = t.get("/api/contacts/c2").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: the bad line was skipped");
        let (_, listed) = t.get("/api/imports").await;
        assert_eq!(listed[0]["id"], ended["id"], "{name}: {listed}");
        assert_eq!(
            t.journal("c1").await,
            Vec::<String>::new(),
            "{name}: without events an import journals nothing"
        );
    }
}

#[tokio::test]
async fn importing_the_same_file_again_changes_nothing_and_counts_no_tag_twice() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        import(&t, "name=crm&map=Mail=email", "text/csv", CSV).await;
        t.advance(TimeDelta::hours(1)).await;
        let again = import(&t, "name=crm&map=Mail=email", "text/csv", CSV).await;
        assert_eq!(
            (
                &again["inserted"],
                &again["updated"],
                &again["unchanged"],
                &again["refused"]
            ),
            (&json!(0), &json!(0), &json!(2), &json!(1)),
            "{name}: {again}"
        );
        let ann = contact(&t, "c1").await;
        assert_eq!(
            tag(&ann, "vip")["count"],
            1,
            "{name}: an active tag is not counted again"
        );
        assert_eq!(ann["lists"].as_array().unwrap().len(), 1, "{name}");
        // A tag removed since is added again: active, counted once more.
        let (status, _) = t.call("DELETE", "/api/contacts/c1/tags/vip", None).await;
        assert_eq!(status, StatusCode::OK);
        let third = import(&t, "name=crm&map=Mail=email", "text/csv", CSV).await;
        assert_eq!(
            (&third["updated"], &third["unchanged"]),
            (&json!(1), &json!(1)),
            "{name}: {third}"
        );
        let vip = tag(&contact(&t, "c1").await, "vip").clone();
        assert_eq!(
            (&vip["count"], &vip["active"]),
            (&json!(2), &json!(true)),
            "{name}: {vip}"
        );
    }
}

#[tokio::test]
async fn an_ndjson_import_with_events_starts_the_journeys_waiting_for_its_tags() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        t.activate(
            r#"{"format": "cairn.flow/v1", "name": "VIP", "nodes": [
            {"id": "vip", "type": "event_entry", "event": "tag_added", "tag": "vip"},
            {"id": "mark", "type": "add_tag", "tag": "welcomed"}, {"id": "done", "type": "exit"}],
            "edges": [{"from": "vip", "to": "mark"}, {"from": "mark", "to": "done"}]}"#,
        )
        .await;
        let file = "{\"id\": \"d1\", \"email\": \"dan@example.com\", \"tags\": [\"vip\"], \"plan\": {\"tier\": 2}}\n\
                    {\"id\": \"d2\", \"timezone\": \"Mars/Base\"}\n\
                    {\"id\": \"d3\", \"tags\": [\"other\"]}\n";
        let ended = import(&t, "name=shop&events=true", "application/x-ndjson", file).await;
        assert_eq!(
            ended["errors"],
            json!([{"line": 2, "message": "key 'timezone': unknown time zone 'Mars/Base' (use an IANA name such as 'Europe/Tallinn')"}]),
            "{name}: {ended}"
        );
        t.settle().await;
        let dan = contact(&t, "d1").await;
        assert_eq!(dan["fields"]["plan"]["tier"], 2, "{name}: NDJSON keeps a field's type");
        assert_eq!(tag(&dan, "welcomed")["active"], true, "{name}: the journey ran: {dan}");
        assert_eq!(
            t.journal("d1").await[..2],
            ["contact tag_added", "vip entered"],
            "{name}"
        );
        assert_eq!(
            tag(&contact(&t, "d3").await, "welcomed"),
            &Value::Null,
            "{name}: another tag starts nothing"
        );
    }
}

#[tokio::test]
async fn an_export_in_csv_or_ndjson_imports_back_as_it_was() {
    for backend in backends().await {
        let name = backend.name;
        let t = TestApp::spawn(&backend).await;
        import(&t, "name=crm&map=Mail=email", "text/csv", CSV).await;
        import(
            &t,
            "name=more",
            "application/x-ndjson",
            "{\"id\": \"e1\", \"phone\": \"+37255512345\", \"country\": \"ee\", \"timezone\": \"Europe/Tallinn\", \"note\": \"a, \\\"quoted\\\" note\"}\n",
        )
        .await;
        let (status, kind, csv) = export(&t, "csv").await;
        assert_eq!(
            (status, kind.as_str()),
            (StatusCode::OK, "text/csv; charset=utf-8"),
            "{name}"
        );
        assert_eq!(
            csv,
            "id,email,phone,timezone,country,tags,lists,first_name,note\n\
             c1,ann@example.com,,,,new;vip,news,Ann,\n\
             c3,cid@example.com,,,,vip,news;shop,Cid,\n\
             e1,,+37255512345,Europe/Tallinn,EE,,,,\"a, \"\"quoted\"\" note\"\n",
            "{name}"
        );
        let (_, kind, ndjson) = export(&t, "ndjson").await;
        assert_eq!(kind, "application/x-ndjson", "{name}");
        assert_eq!(ndjson.lines().count(), 3, "{name}: {ndjson}");
        for (format, content_type, file) in [("csv", "text/csv", &csv), ("ndjson", "application/x-ndjson", &ndjson)] {
            let fresh = backends().await.into_iter().find(|b| b.name == name).unwrap();
            let copy = TestApp::spawn(&fresh).await;
            let ended = import(&copy, "name=copy", content_type, file).await;
            assert_eq!(
                (&ended["inserted"], &ended["refused"]),
                (&json!(3), &json!(0)),
                "{name} {format}: {ended}"
            );
            assert_eq!(
                export(&copy, "csv").await.2,
                csv,
                "{name}: the {format} export imported back as it was"
            );
        }
        let (status, body) = t.get("/api/contacts/export?format=xml").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}

#[tokio::test]
async fn an_upload_the_service_cannot_read_is_refused_before_anything_is_imported() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        let (status, body) = upload(&t, "name=x", "application/json", "{\"id\": \"c1\"}").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}: {body}");
        let (status, body) = upload(&t, "name=x", "text/plain", "id\nc1\n").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}: {body}");
        let (status, body) = upload(&t, "name=x", "text/csv", "email\na@example.com\n").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("has no 'id' column"),
            "{body}"
        );
        let (status, body) = upload(&t, "name=x&key=phone", "text/csv", "id\nc1\n").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        let (status, body) = upload(&t, "segment=vip", "text/csv", "id\nc1\n").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        let (_, listed) = t.get("/api/imports").await;
        assert_eq!(listed, json!([]), "{name}: nothing was recorded");
        let (status, _) = t.get("/api/imports/999").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
    }
}

#[tokio::test]
async fn an_email_keyed_import_finds_contacts_by_their_address() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        let (status, _) = t
            .call("PUT", "/api/contacts/ann", Some(r#"{"email": "ann@example.com"}"#))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let file = "email,tags\nann@example.com,vip\nnew@example.com,vip\n";
        let ended = import(&t, "name=mail&key=email", "text/csv", file).await;
        assert_eq!(
            (&ended["inserted"], &ended["updated"]),
            (&json!(1), &json!(1)),
            "{name}: {ended}"
        );
        assert_eq!(tag(&contact(&t, "ann").await, "vip")["active"], true, "{name}");
        assert_eq!(
            contact(&t, "new@example.com").await["email"],
            "new@example.com",
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_import_whose_process_stopped_is_shown_failed_and_recorded_so_at_the_next_start() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let name = backend.name;
        let new = orchestrator::store::imports::NewImport {
            name: "lost",
            format: "csv",
            key: "id",
            events: false,
        };
        let id = orchestrator::store::imports::create(&t.app.state.services.db, &new, t.now())
            .await
            .unwrap();
        let (_, running) = t.get(&format!("/api/imports/{id}")).await;
        assert_eq!(running["status"], "running", "{name}");
        t.advance(TimeDelta::minutes(3)).await;
        let (_, shown) = t.get(&format!("/api/imports/{id}")).await;
        assert_eq!(shown["status"], "failed", "{name}: {shown}");
        assert!(shown["failure"].as_str().unwrap().contains("run it again"), "{shown}");
        let failed = orchestrator::service::imports::recover(&t.app.state.services)
            .await
            .unwrap();
        assert_eq!(failed, 1, "{name}");
        let row = orchestrator::store::imports::get(&t.app.state.services.db, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, "failed", "{name}");
    }
}

/// The action log as a file: every journal line (or one flow's), oldest first, each as the
/// contact's journal shows it.
#[tokio::test]
async fn the_action_log_exports_every_line_or_one_flows_in_order() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let welcome = t.activate_template("welcome").await;
        let other = t.activate_template("sms-window").await;
        for (flow, id) in [(welcome, "ann"), (other, "bob"), (welcome, "cy")] {
            let entry = json!({"contact": {"id": id, "email": format!("{id}@example.com"), "phone": "+37255512345", "first_name": id}});
            let (status, body) = t.post(&format!("/api/flows/{flow}/entries"), &entry.to_string()).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        }
        t.settle().await;
        let lines = |text: String| -> Vec<Value> { text.lines().map(|l| serde_json::from_str(l).unwrap()).collect() };
        let response = t.get_raw("/api/journal/export").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let all = lines(String::from_utf8(bytes.to_vec()).unwrap());
        let (_, ann) = t.get("/api/contacts/ann/journal").await;
        let ann_lines: Vec<&Value> = all.iter().filter(|l| l["contact"] == "ann").collect();
        assert_eq!(
            ann_lines,
            ann.as_array().unwrap().iter().collect::<Vec<_>>(),
            "{}",
            backend.name
        );
        let ats: Vec<&str> = all.iter().map(|l| l["at"].as_str().unwrap()).collect();
        assert!(ats.windows(2).all(|w| w[0] <= w[1]), "oldest first: {ats:?}");

        let response = t.get_raw(&format!("/api/journal/export?flow={other}")).await;
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let only = lines(String::from_utf8(bytes.to_vec()).unwrap());
        assert!(
            !only.is_empty() && only.iter().all(|l| l["flow"] == other && l["contact"] == "bob"),
            "{only:?}"
        );
        let (status, _) = t.get("/api/journal/export?flow=999").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
