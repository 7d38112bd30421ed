//! What the journey editor asks of the service: a document checked as it is typed, a draft
//! kept until it is published, the versions, a simulation that prints what `cairn simulate`
//! prints, a message previewed for a contact, the templates, who waits at a node, how many
//! journeys took each edge, the settings in force, and journeys deleted or archived; on SQLite
//! and PostgreSQL.

use std::io::Write as _;

use axum::http::StatusCode;
use chrono::TimeDelta;
use serde_json::{Value, json};
use tests::service::{START, TestApp, backends};

fn welcome() -> Value {
    let text = flows::templates::template("welcome").unwrap();
    serde_json::from_str(text).unwrap()
}

/// The welcome journey with its email's subject taken out.
fn welcome_without_subject() -> Value {
    let mut flow = welcome();
    let hello = flow["nodes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|n| n["id"] == "hello")
        .unwrap();
    hello.as_object_mut().unwrap().remove("subject");
    flow
}

async fn create(t: &TestApp, flow: &Value) -> i64 {
    let (status, body) = t.post("/api/flows", &flow.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

async fn enter(t: &TestApp, flow: i64, id: &str, email: &str) {
    let body = json!({"contact": {"id": id, "email": email, "phone": "+37255512345", "first_name": "Ann"}});
    let (status, answer) = t.post(&format!("/api/flows/{flow}/entries"), &body.to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}

#[tokio::test]
async fn validation_pins_a_missing_subject_on_its_node_and_field_and_passes_a_good_flow() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let (status, answer) = t
            .post("/api/flows/validate", &welcome_without_subject().to_string())
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["valid"], false);
        let problems = answer["problems"].as_array().unwrap();
        assert!(
            problems.iter().any(|p| p["node"] == "hello" && p["field"] == "subject"),
            "{}: {answer}",
            backend.name
        );
        let (status, answer) = t.post("/api/flows/validate", &welcome().to_string()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, json!({"valid": true, "problems": []}), "{}", backend.name);
        let (status, answer) = t.post("/api/flows/validate", "[1, 2").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "not JSON at all: {answer}");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_draft_round_trips_survives_a_restart_and_is_gone_once_published() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = create(&t, &welcome()).await;
        let draft_path = format!("/api/flows/{flow}/draft");
        let (status, _) = t.get(&draft_path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "no draft yet");
        let work = welcome_without_subject();
        let (status, saved) = t.call("PUT", &draft_path, Some(&work.to_string())).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}: an invalid flow is a fine draft: {saved}",
            backend.name
        );
        assert_eq!(saved["saved_at"], "2026-12-30T08:00:00Z");
        let (status, _) = t.call("PUT", &draft_path, Some("[1]")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a draft is an object");
        t.stop().await;

        let t = TestApp::spawn(&backend).await;
        let (status, draft) = t.get(&draft_path).await;
        assert_eq!(status, StatusCode::OK, "{}: the draft survives a restart", backend.name);
        assert_eq!(draft["definition"], work);
        assert_eq!(draft["saved_at"], "2026-12-30T08:00:00Z");
        let (status, answer) = t
            .call("PUT", &format!("/api/flows/{flow}"), Some(&welcome().to_string()))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let (status, _) = t.get(&draft_path).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{}: publishing ends the draft",
            backend.name
        );
        t.call("PUT", &draft_path, Some("{}")).await;
        let (status, _) = t.call("DELETE", &draft_path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(t.get(&draft_path).await.0, StatusCode::NOT_FOUND);
        assert_eq!(t.get("/api/flows/999/draft").await.0, StatusCode::NOT_FOUND);
        t.stop().await;
    }
}

#[tokio::test]
async fn a_journey_never_activated_is_deleted_with_its_versions_and_one_that_ran_stays() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let tried = create(&t, &welcome()).await;
        t.call("PUT", &format!("/api/flows/{tried}"), Some(&welcome().to_string()))
            .await;
        t.call("PUT", &format!("/api/flows/{tried}/draft"), Some("{}")).await;
        let (status, answer) = t.call("DELETE", &format!("/api/flows/{tried}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{}: {answer}", backend.name);
        for gone in ["", "/versions", "/draft", "/versions/1"] {
            let (status, _) = t.get(&format!("/api/flows/{tried}{gone}")).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{}: /api/flows/{tried}{gone}",
                backend.name
            );
        }
        let (_, listed) = t.get("/api/flows").await;
        assert_eq!(listed.as_array().unwrap().len(), 0);

        let ran = t.activate(&welcome().to_string()).await;
        enter(&t, ran, "ann", "ann@example.com").await;
        t.settle().await;
        t.post(&format!("/api/flows/{ran}/pause"), "").await;
        let (status, refused) = t.call("DELETE", &format!("/api/flows/{ran}"), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("pause it instead"),
            "{refused}"
        );
        assert_eq!(t.get(&format!("/api/flows/{ran}")).await.0, StatusCode::OK);
        assert!(!t.journal("ann").await.is_empty(), "ann's history stays");
        assert_eq!(t.call("DELETE", "/api/flows/999", None).await.0, StatusCode::NOT_FOUND);
        t.stop().await;
    }
}

#[tokio::test]
async fn an_archived_journey_leaves_the_list_keeps_its_history_and_comes_back_paused() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate(&welcome().to_string()).await;
        enter(&t, flow, "ann", "ann@example.com").await;
        t.settle().await;
        let at = |what: &str| format!("/api/flows/{flow}{what}");
        let (status, refused) = t.post(&at("/archive"), "").await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{}: an active flow is paused first: {refused}",
            backend.name
        );

        t.post(&at("/pause"), "").await;
        let (status, archived) = t.post(&at("/archive"), "").await;
        assert_eq!(
            (status, &archived["status"]),
            (StatusCode::OK, &json!("archived")),
            "{archived}"
        );
        let names = |list: &Value| -> Vec<i64> {
            list.as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_i64().unwrap())
                .collect()
        };
        assert_eq!(names(&t.get("/api/flows").await.1), Vec::<i64>::new());
        assert_eq!(names(&t.get("/api/flows?archived=true").await.1), [flow]);
        assert_eq!(
            t.get("/api/flows?archived=maybe").await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let (status, refused) = t.post(&at("/activate"), "").await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert!(
            refused["error"]["message"].as_str().unwrap().contains("restore it"),
            "{refused}"
        );
        let (status, paused) = t.post(&at("/pause"), "").await;
        assert_eq!(
            (status, &paused["status"]),
            (StatusCode::OK, &json!("archived")),
            "pausing changes nothing"
        );
        let (status, _) = t
            .post(&format!("/api/flows/{flow}/entries"), r#"{"contact": {"id": "bo"}}"#)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "an archived flow takes no entries");
        assert!(!t.journal("ann").await.is_empty(), "ann's history stays");

        let (status, restored) = t.post(&at("/restore"), "").await;
        assert_eq!(
            (status, &restored["status"]),
            (StatusCode::OK, &json!("paused")),
            "{restored}"
        );
        assert_eq!(names(&t.get("/api/flows").await.1), [flow]);
        assert_eq!(t.post(&at("/restore"), "").await.0, StatusCode::CONFLICT);
        let (status, active) = t.post(&at("/activate"), "").await;
        assert_eq!(
            (status, &active["status"]),
            (StatusCode::OK, &json!("active")),
            "{active}"
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn versions_are_listed_newest_first_and_each_can_be_fetched() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = create(&t, &welcome()).await;
        t.post(&format!("/api/flows/{flow}/activate"), "").await;
        let mut renamed = welcome();
        renamed["name"] = json!("Welcome, again");
        t.call("PUT", &format!("/api/flows/{flow}"), Some(&renamed.to_string()))
            .await;
        let (status, versions) = t.get(&format!("/api/flows/{flow}/versions")).await;
        assert_eq!(status, StatusCode::OK, "{versions}");
        let shown: Vec<(i64, bool, &str, i64)> = versions
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["version"].as_i64().unwrap(),
                    v["active"].as_bool().unwrap(),
                    v["name"].as_str().unwrap(),
                    v["nodes"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [(2, true, "Welcome, again", 5), (1, false, "Welcome", 5)],
            "{}: an active flow takes its new version at once",
            backend.name
        );
        assert_eq!(versions[0]["created_at"], "2026-12-30T08:00:00Z");
        let (status, first) = t.get(&format!("/api/flows/{flow}/versions/1")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(first["name"], "Welcome");
        assert_eq!(
            t.get(&format!("/api/flows/{flow}/versions/3")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            t.get(&format!("/api/flows/{flow}/versions/x")).await.0,
            StatusCode::NOT_FOUND
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn simulating_the_welcome_template_gives_the_journal_cairn_simulate_prints() {
    let contacts = "id,email,phone,timezone,country,first_name\n\
                    c1,ann@example.com,+37255512345,Europe/Tallinn,EE,Ann\n\
                    c2,bob@example.com,+14155550123,America/Los_Angeles,US,Bob\n";
    let events = r#"{"at": "2026-12-30T08:45:00Z", "contact": "c1", "type": "opened", "message": "hello"}"#;
    let dir = std::env::temp_dir().join(format!("cairn-editor-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (contacts_file, events_file) = (dir.join("contacts.csv"), dir.join("events.ndjson"));
    std::fs::File::create(&contacts_file)
        .unwrap()
        .write_all(contacts.as_bytes())
        .unwrap();
    std::fs::write(&events_file, events).unwrap();
    let args = orchestrator::cli::SimulateArgs {
        flow: tests::repo_root().join("flows/templates/welcome.json"),
        contacts: contacts_file,
        events: Some(events_file),
        start: Some(START.parse().unwrap()),
        span: None,
        default_timezone: None,
        policy: None,
        segments: None,
    };
    let mut printed = Vec::new();
    orchestrator::cli::simulate_files(&args, &mut printed).unwrap();
    let printed: Vec<Value> = String::from_utf8(printed)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    std::fs::remove_dir_all(&dir).ok();
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let body = json!({
            "flow": welcome(),
            "contacts": [
                {"id": "c1", "email": "ann@example.com", "phone": "+37255512345", "timezone": "Europe/Tallinn", "country": "EE", "first_name": "Ann"},
                {"id": "c2", "email": "bob@example.com", "phone": "+14155550123", "timezone": "America/Los_Angeles", "country": "US", "first_name": "Bob"}
            ],
            "events": [serde_json::from_str::<Value>(events).unwrap()],
            "start": START,
        });
        let (status, answer) = t.post("/api/simulate", &body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["journal"].as_array().unwrap(), &printed, "{}", backend.name);
        assert_eq!(answer["start"], START);
        assert_eq!(answer["until"], "2027-03-30T08:00:00Z", "at most 90 days");
        assert_eq!(answer["paths"]["c1"], json!(["start", "hello", "read", "done"]));
        assert_eq!(
            answer["paths"]["c2"],
            json!(["start", "hello", "read", "nudge", "done"]),
            "bob did not open: the SMS"
        );
        let mut bad = body.clone();
        bad["contacts"][1]["timezone"] = json!("Mars/Base");
        let (status, answer) = t.post("/api/simulate", &bad.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            answer["error"]["details"][0]["field"], "contacts[1].timezone",
            "{answer}"
        );
        let mut bad = body.clone();
        bad["flow"] = welcome_without_subject();
        let (status, answer) = t.post("/api/simulate", &bad.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer["error"]["details"][0]["node"], "hello", "{answer}");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_simulation_takes_the_saved_segments_its_audience_names_unless_it_is_given_them() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = json!({"format": "cairn.flow/v1", "name": "VIP", "nodes": [
            {"id": "in", "type": "segment_entry", "segments": ["vip"]},
            {"id": "bye", "type": "exit"}],
            "edges": [{"from": "in", "to": "bye"}]});
        let body = json!({"flow": flow, "contacts": [{"id": "ann", "tags": ["vip"]}, {"id": "bob"}], "for": "1d"});
        let (status, answer) = t.post("/api/simulate", &body.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        let problem = &answer["error"]["details"][0];
        assert_eq!(
            (&problem["node"], &problem["field"]),
            (&json!("in"), &json!("segments[0]")),
            "{answer}"
        );
        let vip = json!({"name": "vip", "condition": {"tag": {"name": "vip"}}});
        let (status, saved) = t.post("/api/segments", &vip.to_string()).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
        let (status, answer) = t.post("/api/simulate", &body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer["paths"],
            json!({"ann": ["in", "bye"]}),
            "{}: the saved segment",
            backend.name
        );
        assert_eq!(answer["until"], "2026-12-31T08:00:00Z", "for one day");
        let mut given = body.clone();
        given["segments"] = json!({"vip": {"not": {"tag": {"name": "vip"}}}});
        let (_, answer) = t.post("/api/simulate", &given.to_string()).await;
        assert_eq!(
            answer["paths"],
            json!({"bob": ["in", "bye"]}),
            "{}: the given one wins",
            backend.name
        );
        let mut long = body.clone();
        long["for"] = json!("91d");
        let (status, answer) = t.post("/api/simulate", &long.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer["error"]["details"][0]["field"], "for", "{answer}");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_preview_shows_a_contacts_first_name_and_pins_a_template_error_on_its_field() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let ann = json!({"email": "ann@example.com", "first_name": "Ann", "tags": ["vip"]});
        let (status, _) = t.call("PUT", "/api/contacts/ann", Some(&ann.to_string())).await;
        assert!(status.is_success());
        let body = json!({
            "message": {"subject": "Hi {{ contact.first_name }}", "html": "<p>{% if 'vip' in contact.tags %}VIP{% endif %}</p>"},
            "contact": "ann"
        });
        let (status, shown) = t.post("/api/render", &body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{shown}");
        assert_eq!(
            shown,
            json!({"subject": "Hi Ann", "html": "<p>VIP</p>"}),
            "{}",
            backend.name
        );
        let given = json!({"message": {"text": "Hello {{ contact.first_name }}"}, "contact": {"first_name": "Bo"}});
        let (_, shown) = t.post("/api/render", &given.to_string()).await;
        assert_eq!(shown, json!({"text": "Hello Bo"}));
        let broken = json!({"message": {"subject": "Hi {{ contact.first_name"}, "contact": "ann"});
        let (status, answer) = t.post("/api/render", &broken.to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer["error"]["details"][0]["field"], "message.subject", "{answer}");
        let nobody = json!({"message": {"subject": "Hi"}, "contact": "nobody"});
        assert_eq!(
            t.post("/api/render", &nobody.to_string()).await.0,
            StatusCode::NOT_FOUND
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn the_templates_include_welcome_with_its_title() {
    let backend = backends().await.remove(0);
    let t = TestApp::spawn(&backend).await;
    let (status, templates) = t.get("/api/templates").await;
    assert_eq!(status, StatusCode::OK);
    let welcome = templates
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "welcome")
        .unwrap();
    assert_eq!(welcome["title"], "Welcome");
    assert!(welcome["description"].as_str().unwrap().contains("SMS"));
    assert_eq!(welcome["definition"]["format"], "cairn.flow/v1");
    t.stop().await;
}

#[tokio::test]
async fn who_waits_at_a_node_and_how_many_took_each_edge_after_an_open_and_a_timeout() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate_template("welcome").await;
        enter(&t, flow, "ann", "ann@example.com").await;
        enter(&t, flow, "bob", "bob@example.com").await;
        t.settle().await;
        let (status, here) = t.get(&format!("/api/flows/{flow}/nodes/read/contacts")).await;
        assert_eq!(status, StatusCode::OK, "{here}");
        assert_eq!(here["total"], 2, "{}: {here}", backend.name);
        let ids: Vec<&str> = here["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["ann", "bob"]);
        assert_eq!(here["contacts"][0]["email"], "ann@example.com");
        assert_eq!(here["contacts"][0]["version"], 1);
        assert_eq!(here["contacts"][0]["since"], "2026-12-30T08:00:00Z");
        let (_, page) = t
            .get(&format!("/api/flows/{flow}/nodes/read/contacts?limit=1&offset=1"))
            .await;
        assert_eq!(page["contacts"][0]["id"], "bob", "{page}");
        let (status, answer) = t.get(&format!("/api/flows/{flow}/nodes/nowhere/contacts")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(answer["error"]["message"].as_str().unwrap().contains("nowhere"));

        let (_, outbox) = t.get("/api/outbox").await;
        let ann_email = outbox
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["to"] == "ann@example.com")
            .unwrap()["id"]
            .clone();
        let open = json!({"contact": "ann", "type": "opened", "message": ann_email});
        t.post("/api/events", &open.to_string()).await;
        t.settle().await;
        t.advance(TimeDelta::hours(3)).await;
        let (status, stats) = t.get(&format!("/api/flows/{flow}/stats")).await;
        assert_eq!(status, StatusCode::OK);
        let edge = |when: &str| {
            stats["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["from"] == "read" && e["when"] == when)
                .cloned()
                .unwrap()
        };
        assert_eq!(edge("event")["count"], 1, "{}: ann opened: {stats}", backend.name);
        assert_eq!(edge("event")["to"], "done");
        assert_eq!(edge("timeout")["count"], 1, "{}: bob did not", backend.name);
        assert_eq!(edge("timeout")["to"], "nudge");
        assert_eq!(
            stats["nodes"]["read"]["actions"]["timed_out"], 1,
            "the node counts stay"
        );
        assert_eq!(
            t.get(&format!("/api/flows/{flow}/nodes/read/contacts")).await.1["total"],
            0
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_branch_counts_the_journeys_that_went_each_way() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = json!({"format": "cairn.flow/v1", "name": "VIP or not", "nodes": [
            {"id": "in", "type": "webhook_entry"},
            {"id": "vip", "type": "branch", "condition": {"tag": {"name": "vip"}}},
            {"id": "welcome_vip", "type": "exit"},
            {"id": "welcome", "type": "exit"}],
            "edges": [{"from": "in", "to": "vip"},
                      {"from": "vip", "to": "welcome_vip", "when": "yes"},
                      {"from": "vip", "to": "welcome", "when": "no"}]});
        let flow = t.activate(&flow.to_string()).await;
        for (id, tags) in [("ann", json!(["vip"])), ("bob", json!([])), ("cy", json!([]))] {
            let body = json!({"contact": {"id": id, "tags": tags}});
            t.post(&format!("/api/flows/{flow}/entries"), &body.to_string()).await;
        }
        t.settle().await;
        let (_, stats) = t.get(&format!("/api/flows/{flow}/stats")).await;
        assert_eq!(
            stats["edges"],
            json!([{"from": "vip", "to": "welcome_vip", "when": "yes", "count": 1},
                   {"from": "vip", "to": "welcome", "when": "no", "count": 2}]),
            "{}: only labelled edges are listed",
            backend.name
        );
        assert_eq!(
            stats["nodes"]["vip"]["actions"],
            json!({"branched": 3}),
            "edge counts are not actions"
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn the_policy_and_the_providers_in_force_are_read() {
    let backend = backends().await.remove(0);
    let t = TestApp::spawn(&backend).await;
    let (status, policy) = t.get("/api/policy").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(policy["source"], "default");
    assert_eq!(policy["default_timezone"], "UTC");
    let (status, providers) = t.get("/api/providers").await;
    assert_eq!(status, StatusCode::OK);
    let email = providers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["channel"] == "email")
        .unwrap();
    assert_eq!(
        (email["provider"].as_str(), email["configured"].as_bool()),
        (Some("outbox"), Some(false))
    );
    t.stop().await;
}

#[tokio::test]
async fn a_policy_put_through_the_api_is_checked_applied_at_once_and_kept_across_a_restart() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let bad = json!({"channels": {"email": {"window": {"start": "25:00", "end": "20:00"}}}});
        let (status, answer) = t.call("PUT", "/api/policy", Some(&bad.to_string())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(
            answer["error"]["details"][0]["field"], "channels.email.window.start",
            "{}: {answer}",
            backend.name
        );
        let (status, answer) = t.call("PUT", "/api/policy", Some(r#"{"chanels": {}}"#)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer["error"]["details"][0]["field"], "chanels", "{answer}");

        let noon = json!({"channels": {"email": {"window": {"start": "12:00", "end": "20:00"}}},
                          "calendars": {"shutdown": ["2026-12-31"]}, "source": "default"});
        let (status, answer) = t.call("PUT", "/api/policy", Some(&noon.to_string())).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["source"], "database");
        let flow = t.activate_template("welcome").await;
        enter(&t, flow, "ann", "ann@example.com").await;
        t.settle().await;
        assert_eq!(
            t.journal("ann").await[..2],
            ["start entered", "hello deferred"],
            "{}: the new window holds at once, without a restart",
            backend.name
        );
        let paused = json!({"format": "cairn.flow/v1", "name": "Shutdown", "nodes": [
            {"id": "in", "type": "webhook_entry"},
            {"id": "pause", "type": "holiday_pause", "calendar": "shutdown"},
            {"id": "out", "type": "exit"}],
            "edges": [{"from": "in", "to": "pause"}, {"from": "pause", "to": "out"}]});
        t.activate(&paused.to_string()).await;
        let without = json!({"channels": {"email": {"window": {"start": "12:00", "end": "20:00"}}}});
        let (status, answer) = t.call("PUT", "/api/policy", Some(&without.to_string())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(
            answer["error"]["details"][0]["field"], "calendars",
            "{}: an active flow needs it",
            backend.name
        );
        t.stop().await;

        let t = TestApp::spawn(&backend).await;
        let (_, policy) = t.get("/api/policy").await;
        assert_eq!(policy["source"], "database", "{}: {policy}", backend.name);
        assert_eq!(policy["channels"]["email"]["window"]["start"], "12:00");
        assert_eq!(policy["calendars"]["shutdown"], json!(["2026-12-31"]));
        t.stop().await;
    }
}

#[tokio::test]
async fn a_policy_from_a_file_is_not_replaced_through_the_api() {
    let backend = backends().await.remove(0);
    let t = TestApp::spawn_configured(&backend, |c| c.policy_source = Some("policy.json".into())).await;
    let (_, policy) = t.get("/api/policy").await;
    assert_eq!(policy["source"], "policy.json");
    let (status, answer) = t.call("PUT", "/api/policy", Some("{}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    t.stop().await;
}

#[tokio::test]
async fn a_flow_stored_before_the_policy_lost_its_calendar_is_not_activated() {
    let backend = backends().await.remove(0);
    let t = TestApp::spawn(&backend).await;
    let with = json!({"calendars": {"shutdown": ["2026-12-31"]}});
    assert_eq!(
        t.call("PUT", "/api/policy", Some(&with.to_string())).await.0,
        StatusCode::OK
    );
    let paused = json!({"format": "cairn.flow/v1", "name": "Shutdown", "nodes": [
        {"id": "in", "type": "webhook_entry"},
        {"id": "pause", "type": "holiday_pause", "calendar": "shutdown"},
        {"id": "out", "type": "exit"}],
        "edges": [{"from": "in", "to": "pause"}, {"from": "pause", "to": "out"}]});
    let flow = create(&t, &paused).await;
    assert_eq!(
        t.call("PUT", "/api/policy", Some("{}")).await.0,
        StatusCode::OK,
        "a draft needs nothing yet"
    );
    let (status, answer) = t.post(&format!("/api/flows/{flow}/activate"), "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["details"][0]["node"], "pause", "{answer}");
    t.stop().await;
}

/// The inspector previews a schedule as it is typed, before anything is stored.
#[tokio::test]
async fn a_schedule_being_drawn_shows_its_next_runs_and_each_problem_on_its_field() {
    let t = TestApp::spawn(&backends().await[0]).await;
    let body = json!({"schedule": {"rrule": "FREQ=MONTHLY;BYMONTHDAY=5", "at": "10:00", "timezone": "Europe/Tallinn"}, "next": 3});
    let (status, preview) = t.post("/api/schedule/preview", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let dates: Vec<&str> = preview["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates.len(), 3, "{preview}");
    assert!(dates.iter().all(|d| d.ends_with("-05")), "{dates:?}");
    assert!(
        preview["runs"][0]["says"]
            .as_str()
            .unwrap()
            .contains("10:00 Europe/Tallinn"),
        "{preview}"
    );
    assert!(!preview["describe"].as_str().unwrap().is_empty());

    let bad =
        json!({"schedule": {"rrule": "FREQ=HOURLY", "at": "10:00", "timezone": "contact", "skip": ["closed-days"]}});
    let (status, answer) = t.post("/api/schedule/preview", &bad.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let fields: Vec<&str> = answer["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"schedule.rrule") && fields.contains(&"schedule.skip"),
        "{answer}"
    );
}
