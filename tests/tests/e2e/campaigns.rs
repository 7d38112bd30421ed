//! Campaigns: segment entries that evaluate their audience again on a schedule, in a fixed zone
//! or each contact's own, with "each new match once", exclusions, pauses, real-time `on: match`
//! entries, journeys per related record, runs that survive a crash, and two services sharing
//! PostgreSQL admitting a run once.

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::service::{TestApp, backends};

pub(crate) async fn put(t: &TestApp, id: &str, body: Value) {
    let (status, answer) = t
        .call("PUT", &format!("/api/contacts/{id}"), Some(&body.to_string()))
        .await;
    assert!(status.is_success(), "{answer}");
}

pub(crate) async fn tag(t: &TestApp, contact: &str, tag: &str) {
    let body = json!({"tag": tag}).to_string();
    let (status, answer) = t.post(&format!("/api/contacts/{contact}/tags"), &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

pub(crate) async fn untag(t: &TestApp, contact: &str, tag: &str) {
    let (status, answer) = t
        .call("DELETE", &format!("/api/contacts/{contact}/tags/{tag}"), None)
        .await;
    assert!(status.is_success(), "{answer}");
}

pub(crate) async fn join(t: &TestApp, contact: &str, list: &str) {
    let body = json!({"list": list}).to_string();
    let (status, answer) = t.post(&format!("/api/contacts/{contact}/lists"), &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A flow: the segment entry `entry` (its fields), then an email, then exit.
pub(crate) fn campaign(entry: Value, reentry: &str) -> String {
    let mut node = json!({"id": "audience", "type": "segment_entry"});
    node.as_object_mut().unwrap().extend(entry.as_object().unwrap().clone());
    json!({
        "format": "cairn.flow/v1", "name": "Offer", "reentry": reentry,
        "nodes": [
            node,
            {"id": "offer", "type": "send_email", "subject": "For {{ contact.id }}", "html": "<p>Hi</p>"},
            {"id": "done", "type": "exit"}
        ],
        "edges": [{"from": "audience", "to": "offer"}, {"from": "offer", "to": "done"}]
    })
    .to_string()
}

/// When each of `contacts` entered the flow, in order (empty when they did not).
pub(crate) async fn entered(t: &TestApp, contact: &str) -> Vec<DateTime<Utc>> {
    let (status, body) = t.get(&format!("/api/contacts/{contact}/journal")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .filter(|l| l["action"] == "entered")
        .map(|l| l["at"].as_str().unwrap().parse().unwrap())
        .collect()
}

pub(crate) async fn runs(t: &TestApp, flow: i64) -> Vec<Value> {
    let (status, body) = t.get(&format!("/api/flows/{flow}/runs")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Moves the clock in steps of `step` until `until`, settling after each.
pub(crate) async fn run_until(t: &TestApp, until: DateTime<Utc>, step: TimeDelta) {
    while t.now() + step <= until {
        t.advance(step).await;
    }
    if t.now() < until {
        t.advance(until - t.now()).await;
    }
}

#[tokio::test]
async fn a_daily_campaign_reaches_each_new_match_once_and_records_each_run() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        // 2026-12-30 08:00 UTC. Ann and Bob are interested; Cy is interested but a customer.
        for id in ["ann", "bob", "cy", "dan"] {
            put(&t, id, json!({"email": format!("{id}@example.com")})).await;
        }
        for id in ["ann", "bob", "cy"] {
            tag(&t, id, "pricing").await;
        }
        join(&t, "cy", "customers").await;
        let flow = t
            .activate(&campaign(
                json!({
                    "condition": {"tag": {"name": "pricing", "last_added": {"within": "7d"}}},
                    "exclude_lists": ["customers"],
                    "schedule": {"rrule": "FREQ=DAILY", "at": "12:00", "timezone": "Europe/Tallinn"}
                }),
                "never",
            ))
            .await;
        t.settle().await;
        assert!(
            entered(&t, "ann").await.is_empty(),
            "nobody enters before the first run"
        );
        // 12:00 in Tallinn is 10:00 UTC.
        run_until(&t, at("2026-12-30T10:00:00Z"), TimeDelta::minutes(30)).await;
        assert_eq!(
            entered(&t, "ann").await,
            [at("2026-12-30T10:00:00Z")],
            "{}",
            backend.name
        );
        assert_eq!(entered(&t, "bob").await.len(), 1);
        assert!(entered(&t, "cy").await.is_empty(), "a customer is excluded");
        let first = &runs(&t, flow).await[0];
        assert_eq!(first["key"], "2026-12-30");
        assert_eq!(first["status"], "done");
        assert_eq!(
            (
                &first["audience"],
                &first["admitted"],
                &first["excluded"],
                &first["skipped"]
            ),
            (&json!(3), &json!(2), &json!(1), &json!(0)),
            "{first}"
        );
        // The next day Dan starts to match; Ann and Bob still match but had theirs.
        tag(&t, "dan", "pricing").await;
        run_until(&t, at("2026-12-31T10:00:00Z"), TimeDelta::hours(6)).await;
        assert_eq!(entered(&t, "dan").await, [at("2026-12-31T10:00:00Z")]);
        assert_eq!(entered(&t, "ann").await.len(), 1, "each contact once ever");
        let second = &runs(&t, flow).await[0];
        assert_eq!(second["key"], "2026-12-31");
        assert_eq!(
            (
                &second["audience"],
                &second["admitted"],
                &second["excluded"],
                &second["skipped"]
            ),
            (&json!(4), &json!(1), &json!(1), &json!(2)),
            "{second}"
        );
        // A week later nobody's tag is recent: the runs go on and admit no one.
        run_until(&t, at("2027-01-08T10:00:00Z"), TimeDelta::hours(12)).await;
        let last = &runs(&t, flow).await[0];
        assert_eq!(last["key"], "2027-01-08");
        assert_eq!(last["audience"], 0);
        t.stop().await;
    }
}

#[tokio::test]
async fn in_contacts_own_zones_each_enters_at_their_own_ten_o_clock() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        for (id, zone) in [
            ("tokyo", "Asia/Tokyo"),
            ("tallinn", "Europe/Tallinn"),
            ("newyork", "America/New_York"),
        ] {
            put(&t, id, json!({"email": format!("{id}@example.com"), "timezone": zone})).await;
            join(&t, id, "newsletter").await;
        }
        let flow = t
            .activate(&campaign(
                json!({
                    "lists": ["newsletter"],
                    "schedule": {"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "contact"}
                }),
                "always",
            ))
            .await;
        // Activated at 08:00 UTC on the 30th: Tokyo's 10:00 (01:00 UTC) has passed, Tallinn's
        // is now, New York's is at 15:00 UTC.
        t.settle().await;
        run_until(&t, at("2026-12-31T02:00:00Z"), TimeDelta::minutes(15)).await;
        assert_eq!(
            entered(&t, "tallinn").await,
            [at("2026-12-30T08:00:00Z")],
            "{}",
            backend.name
        );
        assert_eq!(entered(&t, "newyork").await, [at("2026-12-30T15:00:00Z")]);
        assert_eq!(entered(&t, "tokyo").await, [at("2026-12-31T01:00:00Z")]);
        let (status, preview) = t.get(&format!("/api/flows/{flow}/schedule?next=2")).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        let entry = &preview[0];
        assert_eq!(entry["node"], "audience");
        assert_eq!(entry["timezone"], "contact");
        assert_eq!(entry["runs"][0]["date"], "2026-12-31");
        assert!(
            entry["runs"][0]["says"]
                .as_str()
                .unwrap()
                .contains("each contact's own time zone"),
            "{entry}"
        );
        let (status, problem) = t.get(&format!("/api/flows/{flow}/schedule?next=0")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_run_due_while_the_flow_is_paused_does_not_run_later() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        put(&t, "ann", json!({"email": "ann@example.com"})).await;
        join(&t, "ann", "newsletter").await;
        let flow = t
            .activate(&campaign(
                json!({"lists": ["newsletter"], "schedule": {"rrule": "FREQ=DAILY", "at": "09:00", "timezone": "UTC"}}),
                "always",
            ))
            .await;
        let (status, _) = t.post(&format!("/api/flows/{flow}/pause"), "").await;
        assert_eq!(status, StatusCode::OK);
        run_until(&t, at("2026-12-30T12:00:00Z"), TimeDelta::hours(1)).await;
        let (status, _) = t.post(&format!("/api/flows/{flow}/activate"), "").await;
        assert_eq!(status, StatusCode::OK);
        t.settle().await;
        assert!(entered(&t, "ann").await.is_empty(), "the 09:00 run fell in the pause");
        run_until(&t, at("2026-12-31T09:00:00Z"), TimeDelta::hours(3)).await;
        assert_eq!(entered(&t, "ann").await, [at("2026-12-31T09:00:00Z")]);
        assert_eq!(runs(&t, flow).await.len(), 1);
        t.stop().await;
    }
}

#[tokio::test]
async fn an_on_match_entry_admits_a_contact_when_a_change_makes_them_match() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        for id in ["ann", "bob"] {
            put(&t, id, json!({"email": format!("{id}@example.com")})).await;
        }
        tag(&t, "ann", "vip").await;
        t.activate(&campaign(
            json!({"condition": {"all": [{"has_tag": "vip"}, {"field": {"path": "plan", "op": "eq", "value": "gold"}}]},
                   "on": "match"}),
            "always",
        ))
        .await;
        t.settle().await;
        // A field change makes Ann match; Bob needs a tag and a field.
        put(&t, "ann", json!({"email": "ann@example.com", "plan": "gold"})).await;
        t.advance(TimeDelta::seconds(1)).await;
        assert_eq!(entered(&t, "ann").await.len(), 1, "{}", backend.name);
        put(&t, "bob", json!({"email": "bob@example.com", "plan": "gold"})).await;
        t.advance(TimeDelta::seconds(1)).await;
        assert!(entered(&t, "bob").await.is_empty());
        tag(&t, "bob", "vip").await;
        t.advance(TimeDelta::seconds(1)).await;
        assert_eq!(entered(&t, "bob").await.len(), 1, "a tag added makes Bob match");
        // A change that keeps Ann matching does not admit her again; leaving and coming back does.
        put(
            &t,
            "ann",
            json!({"email": "ann@example.com", "plan": "gold", "city": "Tartu"}),
        )
        .await;
        t.advance(TimeDelta::seconds(1)).await;
        assert_eq!(entered(&t, "ann").await.len(), 1);
        untag(&t, "ann", "vip").await;
        t.advance(TimeDelta::seconds(1)).await;
        tag(&t, "ann", "vip").await;
        t.advance(TimeDelta::seconds(1)).await;
        assert_eq!(entered(&t, "ann").await.len(), 2);
        t.stop().await;
    }
}

#[tokio::test]
async fn a_campaign_per_contract_starts_one_journey_per_matching_record() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        put(&t, "ann", json!({"email": "ann@example.com"})).await;
        // Two of Ann's three contracts end within 30 days of 2026-12-30.
        for (id, end) in [("k1", "2027-01-10"), ("k2", "2027-01-20"), ("k3", "2027-06-01")] {
            let body = json!({"status": "active", "end_date": end}).to_string();
            let (status, answer) = t
                .call("PUT", &format!("/api/contacts/ann/records/contract/{id}"), Some(&body))
                .await;
            assert!(status.is_success(), "{answer}");
        }
        let flow = json!({
            "format": "cairn.flow/v1", "name": "Renewal", "reentry": "never",
            "nodes": [
                {"id": "contracts", "type": "segment_entry", "per": "contract",
                 "condition": {"records": {"type": "contract", "any": {"all": [
                     {"field": {"path": "status", "op": "eq", "value": "active"}},
                     {"field": {"path": "end_date", "op": "within_next", "value": "30d"}}]}}},
                 "schedule": {"rrule": "FREQ=DAILY", "at": "09:00", "timezone": "UTC"}},
                {"id": "remind", "type": "send_email", "subject": "Contract {{ record.id }} ends {{ record.end_date }}", "html": "<p>Renew</p>"},
                {"id": "done", "type": "exit"}
            ],
            "edges": [{"from": "contracts", "to": "remind"}, {"from": "remind", "to": "done"}]
        });
        t.activate(&flow.to_string()).await;
        run_until(&t, at("2027-01-01T09:00:00Z"), TimeDelta::hours(6)).await;
        let (_, journal) = t.get("/api/contacts/ann/journal").await;
        let records: Vec<&str> = journal
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["action"] == "entered")
            .map(|l| l["record"].as_str().unwrap())
            .collect();
        assert_eq!(records, ["k1", "k2"], "each contract once, over three runs: {journal}");
        let (_, messages) = t.get("/api/outbox?limit=10").await;
        let mut subjects: Vec<String> = messages
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"]["subject"].as_str().unwrap_or_default().to_string())
            .collect();
        subjects.sort();
        assert_eq!(
            subjects,
            ["Contract k1 ends 2027-01-10", "Contract k2 ends 2027-01-20"],
            "{}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_run_cut_short_by_a_crash_resumes_and_admits_nobody_twice() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        for i in 0..30 {
            put(
                &t,
                &format!("c{i:02}"),
                json!({"email": format!("c{i:02}@example.com")}),
            )
            .await;
            tag(&t, &format!("c{i:02}"), "pricing").await;
        }
        let flow = t
            .activate(&campaign(
                json!({"condition": {"has_tag": "pricing"},
                       "schedule": {"rrule": "FREQ=DAILY", "at": "09:00", "timezone": "UTC"}}),
                "always",
            ))
            .await;
        // Another process created the 09:00 run, admitted the first ten contacts (their journeys
        // and the run's count in one transaction) and stopped before finishing the wave, still
        // holding the run's lease.
        t.clock.advance(TimeDelta::hours(1));
        let scheduler = &t.app.scheduler;
        orchestrator::service::campaigns::plan(&scheduler.services)
            .await
            .unwrap();
        let db = &t.app.state.services.db;
        let lease = (t.now() + TimeDelta::minutes(2)).timestamp_millis();
        db.execute_unprepared(&format!("UPDATE flow_runs SET lease_until = {lease}, admitted = 10"))
            .await
            .unwrap();
        let run_id: i64 = runs(&t, flow).await[0]["id"].as_i64().unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO tokens (flow_id, version, contact_id, node, state, wake_at, finished, created_at, updated_at, run_id) \
             SELECT {flow}, 1, c.id, 'audience', \
             '{{\"id\":\"\",\"contact\":\"' || c.external_id || '\",\"node\":\"audience\",\"state\":\"ready\",\"entered_at\":\"2026-12-30T09:00:00Z\"}}', \
             {now}, 0, {now}, {now}, {run_id} FROM contacts c WHERE c.external_id < 'c10'",
            now = t.now().timestamp_millis()
        ))
        .await
        .unwrap();
        t.settle().await;
        assert_eq!(runs(&t, flow).await[0]["status"], "running", "the lease still holds");
        // The lease runs out: this process takes the run over and admits the other twenty.
        t.advance(TimeDelta::minutes(3)).await;
        let run = &runs(&t, flow).await[0];
        assert_eq!(run["status"], "done", "{run}");
        let per_contact = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT contact_id, COUNT(*) FROM tokens WHERE flow_id = {flow} GROUP BY contact_id"),
            ))
            .await
            .unwrap();
        assert_eq!(per_contact.len(), 30, "nobody missed ({})", backend.name);
        for row in &per_contact {
            let n: i64 = row.try_get_by_index(1).unwrap();
            assert_eq!(n, 1, "nobody twice");
        }
        assert_eq!(
            run["admitted"], 30,
            "the dead process's ten and this one's twenty: {run}"
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn two_services_sharing_a_database_admit_a_run_once() {
    for backend in backends().await {
        if backend.name != "postgres" {
            continue;
        }
        let one = TestApp::spawn(&backend).await;
        let two = TestApp::spawn(&backend).await;
        for i in 0..200 {
            put(
                &one,
                &format!("p{i:03}"),
                json!({"email": format!("p{i:03}@example.com")}),
            )
            .await;
            tag(&one, &format!("p{i:03}"), "pricing").await;
        }
        let flow = one
            .activate(&campaign(
                json!({"condition": {"has_tag": "pricing"},
                       "schedule": {"rrule": "FREQ=DAILY", "at": "09:00", "timezone": "UTC"}}),
                "always",
            ))
            .await;
        one.clock.advance(TimeDelta::hours(1));
        two.clock.advance(TimeDelta::hours(1));
        let (a, b) = tokio::join!(one.app.scheduler.drain(), two.app.scheduler.drain());
        a.unwrap();
        b.unwrap();
        let db = &one.app.state.services.db;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*), COUNT(DISTINCT contact_id) FROM tokens WHERE flow_id = {flow}"),
            ))
            .await
            .unwrap()
            .unwrap();
        let (all, distinct): (i64, i64) = (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap());
        assert_eq!((all, distinct), (200, 200));
        let runs = runs(&one, flow).await;
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0]["admitted"], 200);
        one.stop().await;
        two.stop().await;
    }
}

/// The first problem of a refused flow: (status, node, field, message).
async fn refusal(t: &TestApp, flow: &str) -> (StatusCode, String, String, String) {
    let (status, body) = t.post("/api/flows", flow).await;
    let detail = &body["error"]["details"][0];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        status,
        text(&detail["node"]),
        text(&detail["field"]),
        text(&detail["message"]),
    )
}

#[tokio::test]
async fn a_bad_schedule_is_refused_naming_the_node_and_the_field() {
    let backend = &backends().await[0];
    let mut policy = flows::Policy::default();
    policy
        .calendars
        .insert("shutdown".into(), ["2026-12-24".parse().unwrap()].into_iter().collect());
    let t = TestApp::spawn_policy(backend, tests::service::ProviderConfig::default(), policy).await;
    let daily = json!({"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "UTC"});
    let cases = [
        (json!({"rrule": "FREQ=HOURLY"}), "schedule.rrule", "at most daily"),
        (json!({"timezone": "Mars/Olympus"}), "schedule.timezone", "Mars/Olympus"),
        (json!({"skip": ["public:XX"]}), "schedule.skip", "'XX' is not a country"),
        (json!({"at": "25:00"}), "schedule.at", "25:00"),
        (
            json!({"skip": ["closed"]}),
            "schedule.skip",
            "unknown calendar 'closed'",
        ),
    ];
    for (change, field, says) in cases {
        let mut schedule = daily.clone();
        schedule
            .as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let flow = campaign(json!({"lists": ["news"], "schedule": schedule}), "always");
        let (status, node, named, message) = refusal(&t, &flow).await;
        assert_eq!(
            (status, node.as_str(), named.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "audience", field),
            "{change}: {message}"
        );
        assert!(message.contains(says), "{change}: {message}");
    }
    // The policy's own calendar is a calendar the schedule may skip.
    let known = campaign(
        json!({"lists": ["news"], "schedule": {"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "UTC", "skip": ["shutdown", "public:EE"]}}),
        "always",
    );
    assert_eq!(t.post("/api/flows", &known).await.0, StatusCode::CREATED);
    let (_, flows) = t.get("/api/flows").await;
    assert_eq!(flows.as_array().unwrap().len(), 1, "nothing refused was stored");
    t.stop().await;
}

#[tokio::test]
async fn the_runs_and_schedule_of_a_flow_answer_bad_limits_and_unknown_flows_clearly() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let flow = t.activate(&campaign(json!({"lists": ["news"]}), "always")).await;
        let (status, body) = t.get(&format!("/api/flows/{flow}/runs?limit=0")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["details"][0]["field"], "limit", "{body}");
        let (status, body) = t.get(&format!("/api/flows/{flow}/runs?limit=many")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        for path in ["/api/flows/9999/runs", "/api/flows/9999/schedule"] {
            let (status, body) = t.get(path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_eq!(body["error"]["code"], "not_found", "{body}");
        }
        let (status, preview) = t.get(&format!("/api/flows/{flow}/schedule")).await;
        assert_eq!(
            (status, preview),
            (StatusCode::OK, json!([])),
            "{}: an audience admitted once has no schedule",
            backend.name
        );
        let (status, listed) = t.get(&format!("/api/flows/{flow}/runs?limit=1")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed[0]["key"], "v1", "the activation's admission is the one run");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_saved_segment_an_active_campaign_names_cannot_be_deleted_and_a_flow_naming_a_missing_one_is_not_activated() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        put(&t, "ann", json!({"email": "ann@example.com"})).await;
        tag(&t, "ann", "pricing").await;
        let body = json!({"name": "interested", "condition": {"has_tag": "pricing"}}).to_string();
        let (status, saved) = t.post("/api/segments", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
        let flow = t
            .activate(&campaign(
                json!({"segments": ["interested"],
                       "schedule": {"rrule": "FREQ=DAILY", "at": "09:00", "timezone": "UTC"}}),
                "always",
            ))
            .await;
        let (status, refused) = t.call("DELETE", "/api/segments/interested", None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{}: {refused}", backend.name);
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains("flow 'Offer'"), "{message}");
        // By id too; and the campaign goes on admitting the segment.
        let by_id = format!("/api/segments/{}", saved["id"]);
        assert_eq!(t.call("DELETE", &by_id, None).await.0, StatusCode::CONFLICT);
        run_until(&t, at("2026-12-30T09:00:00Z"), TimeDelta::minutes(30)).await;
        assert_eq!(entered(&t, "ann").await, [at("2026-12-30T09:00:00Z")]);
        // A flow that only excludes it holds it too.
        let (status, _) = t.post(&format!("/api/flows/{flow}/pause"), "").await;
        assert_eq!(status, StatusCode::OK);
        let excluding = t
            .activate(&campaign(
                json!({"lists": ["news"], "exclude_segments": ["interested"]}),
                "always",
            ))
            .await;
        assert_eq!(
            t.call("DELETE", "/api/segments/interested", None).await.0,
            StatusCode::CONFLICT
        );
        let (status, _) = t.post(&format!("/api/flows/{excluding}/pause"), "").await;
        assert_eq!(status, StatusCode::OK);
        let (status, answer) = t.call("DELETE", "/api/segments/interested", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "paused flows do not hold it: {answer}");
        // Resuming a flow whose audience is gone is refused, naming the entry and the field.
        let (status, refused) = t.post(&format!("/api/flows/{excluding}/activate"), "").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        let detail = &refused["error"]["details"][0];
        assert_eq!(
            (&detail["node"], &detail["field"]),
            (&json!("audience"), &json!("exclude_segments[0]")),
            "{refused}"
        );
        assert!(detail["message"].as_str().unwrap().contains("interested"), "{refused}");
        let (_, listed) = t.get("/api/flows").await;
        let shown = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == excluding)
            .unwrap();
        assert_eq!(shown["status"], "paused", "{shown}");
        t.stop().await;
    }
}

#[tokio::test]
async fn an_on_match_entry_hears_every_kind_of_change() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        for id in ["list", "record", "expired", "imported"] {
            put(&t, id, json!({"email": format!("{id}@example.com")})).await;
        }
        // A trial tag lasts a day; whoever had it and lost it matches.
        let (status, answer) = t.call("PUT", "/api/tags/trial", Some(r#"{"lifetime": "1d"}"#)).await;
        assert!(status.is_success(), "{answer}");
        tag(&t, "expired", "trial").await;
        t.activate(&campaign(
            json!({"condition": {"any": [
                {"in_list": "vip"},
                {"records": {"type": "contract", "any": {"field": {"path": "status", "op": "eq", "value": "active"}}}},
                {"tag": {"name": "trial", "active": false}},
                {"has_tag": "imported"}
            ]}, "on": "match"}),
            "never",
        ))
        .await;
        t.settle().await;
        join(&t, "list", "vip").await;
        t.advance(TimeDelta::seconds(1)).await;
        assert_eq!(entered(&t, "list").await.len(), 1, "a list joined ({})", backend.name);
        let body = json!({"status": "active"}).to_string();
        let (status, answer) = t
            .call("PUT", "/api/contacts/record/records/contract/k1", Some(&body))
            .await;
        assert!(status.is_success(), "{answer}");
        t.advance(TimeDelta::seconds(1)).await;
        assert_eq!(entered(&t, "record").await.len(), 1, "a record written");
        assert!(entered(&t, "expired").await.is_empty());
        t.advance(TimeDelta::days(1)).await;
        assert_eq!(entered(&t, "expired").await.len(), 1, "a tag expired");
        let csv = "id,tags\nimported,imported\n";
        let (status, started) = t
            .call_with("POST", "/api/imports", csv, &[("content-type", "text/csv")])
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{started}");
        tests::service::eventually("the import to end and its contact to enter", async || {
            t.advance(TimeDelta::seconds(1)).await;
            entered(&t, "imported").await.len() == 1
        })
        .await;
        assert!(entered(&t, "list").await.len() == 1, "nobody enters twice");
        t.stop().await;
    }
}
