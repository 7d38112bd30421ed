//! The service and the simulator behind `cairn simulate` admit the same journeys at the same
//! instants: the same contacts (given to the service through its API at the start, and to the
//! simulator as contacts with the same facts), the same tag changes (posted to the service at
//! their instant, given to the simulator as `tag_added`/`tag_removed` events), the same flow
//! and policy, over the same days; `cairn simulate` itself, given them as files, agrees with
//! both. Each scenario compares every `entered` line, as (contact, record, instant), and checks
//! that the comparison says something: several contacts on several days, someone kept out by
//! an exclusion, someone skipped by a public holiday.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use flows::contact::{Record, Source, SourceKind};
use flows::simulate::{Scenario, simulate};
use flows::{Action, CompiledFlow, Contact, Event, Policy};
use orchestrator::cli::simulate::{SimulateArgs, simulate_files};
use serde_json::{Value, json};
use tests::service::{START, TestApp, backends};

use crate::campaigns::{at, join, put, runs, tag, untag};

/// A journey started: (contact, record, instant).
type Entry = (String, Option<String>, DateTime<Utc>);

/// A contact as both sides are given it at [`START`]: the contact object (`PUT`), tags and
/// lists added through the API, and related records by (type, id, fields).
struct Person {
    id: &'static str,
    object: Value,
    tags: &'static [&'static str],
    lists: &'static [&'static str],
    records: Vec<(&'static str, &'static str, Value)>,
}

impl Person {
    fn new(id: &'static str, object: Value) -> Person {
        Person {
            id,
            object,
            tags: &[],
            lists: &[],
            records: Vec::new(),
        }
    }

    fn tags(self, tags: &'static [&'static str]) -> Person {
        Person { tags, ..self }
    }

    fn lists(self, lists: &'static [&'static str]) -> Person {
        Person { lists, ..self }
    }

    fn record(mut self, kind: &'static str, id: &'static str, fields: Value) -> Person {
        self.records.push((kind, id, fields));
        self
    }

    /// The contact the simulator is given: what the API stored, with tags and lists dated `at`.
    fn contact(&self, at: DateTime<Utc>) -> Contact {
        let mut c = Contact::new(self.id);
        for (key, value) in self.object.as_object().unwrap() {
            let text = value.as_str().map(str::to_string);
            match key.as_str() {
                "email" => c.email = text,
                "phone" => c.phone = text,
                "country" => c.country = text,
                "timezone" => c.timezone = text.map(|z| z.parse().unwrap()),
                _ => {
                    c.fields.insert(key.clone(), value.clone());
                }
            }
        }
        let api = || Some(Source::of(SourceKind::Api));
        for tag in self.tags {
            c.tags.add(tag.to_string(), Some(at), api());
        }
        for list in self.lists {
            c.lists.add(list.to_string(), Some(at), api());
        }
        for (kind, id, fields) in &self.records {
            c.records.entry(kind.to_string()).or_default().push(Record {
                id: id.to_string(),
                fields: fields.as_object().unwrap().clone(),
            });
        }
        c
    }

    /// The contact as a line of a contacts file: its tags with their facts, dated `at`.
    fn line(&self, at: &str) -> Value {
        let mut line = self.object.clone();
        let object = line.as_object_mut().unwrap();
        object.insert("id".into(), json!(self.id));
        let tags: Vec<Value> = self
            .tags
            .iter()
            .map(|t| json!({"tag": t, "count": 1, "first_added_at": at, "last_added_at": at}))
            .collect();
        object.insert("tags".into(), json!(tags));
        object.insert("lists".into(), json!(self.lists));
        let mut records: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for (kind, id, fields) in &self.records {
            let mut record = fields.clone();
            record.as_object_mut().unwrap().insert("id".into(), json!(id));
            records.entry(kind).or_default().push(record);
        }
        object.insert("records".into(), json!(records));
        line
    }

    /// Gives the contact to the service, at the clock's instant.
    async fn store(&self, t: &TestApp) {
        put(t, self.id, self.object.clone()).await;
        for name in self.tags {
            tag(t, self.id, name).await;
        }
        for list in self.lists {
            join(t, self.id, list).await;
        }
        for (kind, id, fields) in &self.records {
            let path = format!("/api/contacts/{}/records/{kind}/{id}", self.id);
            let (status, answer) = t.call("PUT", &path, Some(&fields.to_string())).await;
            assert!(status.is_success(), "{answer}");
        }
    }
}

/// A tag added (or removed) at an instant after the start.
struct Change {
    at: &'static str,
    contact: &'static str,
    tag: &'static str,
    added: bool,
}

fn added(at: &'static str, contact: &'static str, tag: &'static str) -> Change {
    Change {
        at,
        contact,
        tag,
        added: true,
    }
}

fn removed(at: &'static str, contact: &'static str, tag: &'static str) -> Change {
    Change {
        added: false,
        ..added(at, contact, tag)
    }
}

/// What both sides run: a flow, its contacts and their changes, from [`START`] to `until`.
struct Case {
    flow: String,
    people: Vec<Person>,
    changes: Vec<Change>,
    until: DateTime<Utc>,
}

impl Case {
    /// What the simulator admits, in order of instant, contact and record.
    fn simulated(&self) -> Vec<Entry> {
        let flow = CompiledFlow::from_json(&self.flow).unwrap();
        let start: DateTime<Utc> = START.parse().unwrap();
        let events = self
            .changes
            .iter()
            .map(|c| {
                let kind = if c.added { "tag_added" } else { "tag_removed" };
                serde_json::from_value::<Event>(json!({"at": c.at, "contact": c.contact, "type": kind, "tag": c.tag}))
                    .unwrap()
            })
            .collect();
        let scenario = Scenario {
            contacts: self.people.iter().map(|p| p.contact(start)).collect(),
            events,
            start,
            end: self.until,
            segments: BTreeMap::new(),
        };
        let mut entries = Vec::new();
        simulate(&flow, &Policy::default(), scenario, &mut |line| {
            if matches!(line.action, Action::Entered) {
                entries.push((line.contact.clone(), line.record.clone(), line.at));
            }
        });
        in_order(entries)
    }

    /// What `cairn simulate` admits, given the flow, the contacts (tags with their facts) and the
    /// changes (as events) in files, from [`START`] for the span up to `until`.
    fn simulated_by_cli(&self) -> Vec<Entry> {
        static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cairn_parity_{}_{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, lines: Vec<String>| {
            let path = dir.join(name);
            std::fs::write(&path, lines.join("\n")).unwrap();
            path
        };
        let contacts = self.people.iter().map(|p| p.line(START).to_string()).collect();
        let events = self
            .changes
            .iter()
            .map(|c| {
                let kind = if c.added { "tag_added" } else { "tag_removed" };
                json!({"at": c.at, "contact": c.contact, "type": kind, "tag": c.tag}).to_string()
            })
            .collect();
        let start: DateTime<Utc> = START.parse().unwrap();
        let args = SimulateArgs {
            flow: file("flow.json", vec![self.flow.clone()]),
            contacts: file("contacts.ndjson", contacts),
            events: (!self.changes.is_empty()).then(|| file("events.ndjson", events)),
            start: Some(start),
            span: Some(format!("{}s", (self.until - start).num_seconds()).parse().unwrap()),
            default_timezone: None,
            policy: None,
            segments: None,
        };
        let mut journal = Vec::new();
        simulate_files(&args, &mut journal).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let entries = String::from_utf8(journal)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["action"] == "entered")
            .map(|l| {
                (
                    l["contact"].as_str().unwrap().to_string(),
                    l["record"].as_str().map(str::to_string),
                    l["at"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        in_order(entries)
    }

    /// Runs the service: the contacts stored and the flow activated at [`START`], then the clock
    /// moved a quarter of an hour at a time (stopping at each change, made at its instant)
    /// until `until`. Returns the service (to ask it more) and the flow's id.
    async fn serve(&self, backend: &tests::service::Backend) -> (TestApp, i64) {
        let t = TestApp::spawn(backend).await;
        for person in &self.people {
            person.store(&t).await;
        }
        let flow = t.activate(&self.flow).await;
        t.settle().await;
        let mut pending: Vec<(DateTime<Utc>, &Change)> = self.changes.iter().map(|c| (at(c.at), c)).collect();
        pending.sort_by_key(|(when, _)| *when);
        let mut pending = pending.into_iter().peekable();
        loop {
            while let Some((_, change)) = pending.next_if(|(when, _)| *when <= t.now()) {
                if change.added {
                    tag(&t, change.contact, change.tag).await;
                } else {
                    untag(&t, change.contact, change.tag).await;
                }
                t.settle().await;
            }
            if t.now() >= self.until {
                break;
            }
            let quarter = TimeDelta::minutes(15).num_seconds();
            let next_quarter = DateTime::from_timestamp((t.now().timestamp() / quarter + 1) * quarter, 0).unwrap();
            let next = [
                Some(next_quarter),
                pending.peek().map(|(when, _)| *when),
                Some(self.until),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
            t.advance(next - t.now()).await;
        }
        (t, flow)
    }

    /// What the service admitted, as its contacts' journals show it.
    async fn served(&self, t: &TestApp) -> Vec<Entry> {
        let mut entries = Vec::new();
        for person in &self.people {
            let (status, journal) = t.get(&format!("/api/contacts/{}/journal", person.id)).await;
            assert_eq!(status, StatusCode::OK, "{journal}");
            for line in journal.as_array().unwrap().iter().filter(|l| l["action"] == "entered") {
                entries.push((
                    person.id.to_string(),
                    line["record"].as_str().map(str::to_string),
                    line["at"].as_str().unwrap().parse().unwrap(),
                ));
            }
        }
        in_order(entries)
    }
}

fn in_order(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| (a.2, &a.0, &a.1).cmp(&(b.2, &b.0, &b.1)));
    entries
}

/// When `contact` entered, per the entries.
fn when(entries: &[Entry], contact: &str) -> Vec<DateTime<Utc>> {
    entries.iter().filter(|e| e.0 == contact).map(|e| e.2).collect()
}

/// The distinct UTC dates and contacts of the entries.
fn spread(entries: &[Entry]) -> (usize, usize) {
    let days: BTreeSet<_> = entries.iter().map(|e| e.2.date_naive()).collect();
    let contacts: BTreeSet<_> = entries.iter().map(|e| &e.0).collect();
    (days.len(), contacts.len())
}

/// The run of segment entry `node` on `date`, as `GET /api/flows/{id}/runs` shows it.
async fn run_of(t: &TestApp, flow: i64, node: &str, date: &str) -> Option<Value> {
    runs(t, flow)
        .await
        .into_iter()
        .find(|r| r["node"] == node && r["key"] == date)
}

/// A flow whose segment entry `audience` (its fields) leads to an email, then exit.
fn offer(entry: Value, reentry: &str) -> String {
    crate::campaigns::campaign(entry, reentry)
}

#[tokio::test]
async fn a_daily_campaign_in_contacts_own_zones_admits_whom_the_simulator_admits_when_it_does() {
    // Ten o'clock in each contact's own zone, daily, leaving out each contact on a public
    // holiday of their country: 1 January is one in Estonia and the United States.
    let flow = offer(
        json!({
            "lists": ["newsletter"],
            "condition": {"any": [
                {"tag": {"name": "pricing", "last_added": {"within": "7d"}}},
                {"field": {"path": "renews", "op": "within_next", "value": "3d"}}]},
            "exclude_lists": ["unsubscribed"],
            "schedule": {"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "contact", "skip": ["public"]}
        }),
        "never",
    );
    let mail = |id: &str| json!({"email": format!("{id}@example.com")});
    let with = |id: &str, extra: Value| {
        let mut object = mail(id);
        object
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        object
    };
    let case = Case {
        flow,
        people: vec![
            // 10:00 in Tallinn is the start itself.
            Person::new(
                "ann",
                with("ann", json!({"timezone": "Europe/Tallinn", "country": "EE"})),
            )
            .lists(&["newsletter"]),
            // Tokyo's 10:00 had passed at the start: the next day's.
            Person::new("bob", with("bob", json!({"timezone": "Asia/Tokyo"}))).lists(&["newsletter"]),
            // An Estonian phone number (zone and country from it), but unsubscribed.
            Person::new("cy", with("cy", json!({"phone": "+3725551234"}))).lists(&["newsletter", "unsubscribed"]),
            // India from the country alone (UTC+05:30), matching by a recent tag.
            Person::new("dan", with("dan", json!({"country": "IN"}))).tags(&["pricing"]),
            // Renewing on the 4th: they match from 1 January, a holiday in Estonia…
            Person::new(
                "eve",
                with(
                    "eve",
                    json!({"timezone": "Europe/Tallinn", "country": "EE", "renews": "2027-01-04T00:00:00Z"}),
                ),
            ),
            // …but not for a contact whose country is not known.
            Person::new(
                "fay",
                with(
                    "fay",
                    json!({"timezone": "America/Chicago", "renews": "2027-01-04T00:00:00Z"}),
                ),
            ),
            // No zone at all: the workspace default.
            Person::new("gus", mail("gus")).lists(&["newsletter"]),
            // The first zone to reach 10:00 (UTC+14) and one of the last (UTC−11).
            Person::new("hal", with("hal", json!({"timezone": "Pacific/Kiritimati"}))).lists(&["newsletter"]),
            Person::new("ivy", with("ivy", json!({"timezone": "Pacific/Pago_Pago"}))).lists(&["newsletter"]),
            // UTC+05:45.
            Person::new("kai", with("kai", json!({"timezone": "Asia/Kathmandu"}))).lists(&["newsletter"]),
            // In no audience.
            Person::new("lee", with("lee", json!({"timezone": "Europe/Tallinn"}))),
        ],
        changes: Vec::new(),
        until: at("2027-01-03T00:00:00Z"),
    };
    let simulated = case.simulated();
    assert_eq!(case.simulated_by_cli(), simulated, "cairn simulate, from files");
    for backend in backends().await {
        let (t, flow) = case.serve(&backend).await;
        let served = case.served(&t).await;
        assert_eq!(served, simulated, "{}", backend.name);
        assert_eq!(when(&served, "ann"), [at("2026-12-30T08:00:00Z")]);
        assert_eq!(when(&served, "bob"), [at("2026-12-31T01:00:00Z")]);
        assert_eq!(when(&served, "kai"), [at("2026-12-31T04:15:00Z")]);
        assert!(when(&served, "cy").is_empty(), "an unsubscribed contact is excluded");
        assert!(when(&served, "lee").is_empty());
        assert_eq!(
            when(&served, "eve"),
            [at("2027-01-02T08:00:00Z")],
            "New Year's Day in Estonia is skipped"
        );
        assert_eq!(when(&served, "fay"), [at("2027-01-01T16:00:00Z")]);
        assert_eq!(spread(&served), (4, 9), "{served:?}");
        let new_year = run_of(&t, flow, "audience", "2027-01-01").await.unwrap();
        assert!(new_year["skipped"].as_u64().unwrap() >= 1, "{new_year}");
        let first = run_of(&t, flow, "audience", "2026-12-30").await.unwrap();
        assert!(first["excluded"].as_u64().unwrap() >= 1, "{first}");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_campaign_per_contract_in_a_fixed_zone_admits_the_records_the_simulator_admits() {
    // 10:00 in Tallinn (08:00 UTC, the start), daily, no run on Estonia's public holidays.
    let flow = json!({
        "format": "cairn.flow/v1", "name": "Renewal", "reentry": "never",
        "nodes": [
            {"id": "contracts", "type": "segment_entry", "per": "contract",
             "condition": {"records": {"type": "contract", "any": {"all": [
                 {"field": {"path": "status", "op": "eq", "value": "active"}},
                 {"field": {"path": "end_date", "op": "within_next", "value": "3d"}}]}}},
             "exclude_lists": ["unsubscribed"],
             "schedule": {"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "Europe/Tallinn", "skip": ["public:EE"]}},
            {"id": "remind", "type": "send_email", "subject": "Contract {{ record.id }}", "html": "<p>Renew</p>"},
            {"id": "done", "type": "exit"}
        ],
        "edges": [{"from": "contracts", "to": "remind"}, {"from": "remind", "to": "done"}]
    })
    .to_string();
    let contract = |end: &str| json!({"status": "active", "end_date": end});
    let case = Case {
        flow,
        people: vec![
            Person::new("ann", json!({"email": "ann@example.com"}))
                .record("contract", "k1", contract("2027-01-01T00:00:00Z"))
                // Within three days from 31 December 12:00 UTC: 1 January has no run.
                .record("contract", "k2", contract("2027-01-03T12:00:00Z"))
                .record("contract", "k3", contract("2027-03-01T00:00:00Z")),
            Person::new(
                "bob",
                json!({"email": "bob@example.com", "timezone": "America/New_York"}),
            )
            .record("contract", "k4", contract("2026-12-31T00:00:00Z"))
            .record(
                "contract",
                "k5",
                json!({"status": "cancelled", "end_date": "2026-12-31T00:00:00Z"}),
            ),
            Person::new("cy", json!({"email": "cy@example.com"}))
                .lists(&["unsubscribed"])
                .record("contract", "k6", contract("2026-12-31T00:00:00Z")),
            Person::new("dan", json!({"email": "dan@example.com"})).record(
                "contract",
                "k7",
                contract("2027-01-02T00:00:00Z"),
            ),
        ],
        changes: Vec::new(),
        until: at("2027-01-02T12:00:00Z"),
    };
    let simulated = case.simulated();
    assert_eq!(case.simulated_by_cli(), simulated, "cairn simulate, from files");
    for backend in backends().await {
        let (t, flow) = case.serve(&backend).await;
        let served = case.served(&t).await;
        assert_eq!(served, simulated, "{}", backend.name);
        let records: Vec<(&str, &str, DateTime<Utc>)> = served
            .iter()
            .map(|(c, r, at)| (c.as_str(), r.as_deref().unwrap(), *at))
            .collect();
        assert_eq!(
            records,
            [
                ("ann", "k1", at("2026-12-30T08:00:00Z")),
                ("bob", "k4", at("2026-12-30T08:00:00Z")),
                ("dan", "k7", at("2026-12-30T08:00:00Z")),
                ("ann", "k2", at("2027-01-02T08:00:00Z")),
            ],
            "{}",
            backend.name
        );
        assert!(
            run_of(&t, flow, "contracts", "2027-01-01").await.is_none(),
            "no run on New Year's Day"
        );
        let first = run_of(&t, flow, "contracts", "2026-12-30").await.unwrap();
        assert_eq!(first["excluded"], 1, "{first}");
        t.stop().await;
    }
}

#[tokio::test]
async fn on_a_match_and_on_a_fixed_schedule_the_service_admits_whom_the_simulator_admits_when_it_does() {
    // Two ways in: VIPs every day at 12:00 in Tallinn (none on Estonian public holidays), and
    // anyone the moment they are given the `pricing` tag.
    let flow = json!({
        "format": "cairn.flow/v1", "name": "Offer", "reentry": "always",
        "nodes": [
            {"id": "daily", "type": "segment_entry", "condition": {"has_tag": "vip"},
             "exclude_lists": ["unsubscribed"],
             "schedule": {"rrule": "FREQ=DAILY", "at": "12:00", "timezone": "Europe/Tallinn", "skip": ["public:EE"]}},
            {"id": "matched", "type": "segment_entry", "condition": {"has_tag": "pricing"}, "on": "match"},
            {"id": "offer", "type": "send_email", "subject": "For {{ contact.id }}", "html": "<p>Hi</p>"},
            {"id": "done", "type": "exit"}
        ],
        "edges": [{"from": "daily", "to": "offer"}, {"from": "matched", "to": "offer"}, {"from": "offer", "to": "done"}]
    })
    .to_string();
    let mail = |id: &str| json!({"email": format!("{id}@example.com")});
    let case = Case {
        flow,
        people: vec![
            Person::new("ann", mail("ann")).tags(&["vip"]),
            // Matching already when the flow was activated: not a new match.
            Person::new("bob", mail("bob")).tags(&["pricing"]),
            Person::new("cy", mail("cy")),
            Person::new("dan", mail("dan")),
            Person::new("eve", mail("eve")),
            Person::new("fay", mail("fay")).tags(&["vip"]).lists(&["unsubscribed"]),
        ],
        changes: vec![
            added("2026-12-30T09:37:00Z", "cy", "pricing"),
            added("2026-12-30T11:00:00Z", "dan", "vip"),
            added("2026-12-31T14:20:00Z", "eve", "pricing"),
            removed("2026-12-31T18:00:00Z", "eve", "pricing"),
            added("2027-01-01T03:05:00Z", "eve", "pricing"),
            // Bob leaves and comes back: now it is a new match.
            removed("2027-01-01T06:00:00Z", "bob", "pricing"),
            added("2027-01-01T06:30:00Z", "bob", "pricing"),
        ],
        until: at("2027-01-02T12:00:00Z"),
    };
    let simulated = case.simulated();
    assert_eq!(case.simulated_by_cli(), simulated, "cairn simulate, from files");
    for backend in backends().await {
        let (t, flow) = case.serve(&backend).await;
        let served = case.served(&t).await;
        assert_eq!(served, simulated, "{}", backend.name);
        let (tenth, eleventh, second) = (
            at("2026-12-30T10:00:00Z"),
            at("2026-12-31T10:00:00Z"),
            at("2027-01-02T10:00:00Z"),
        );
        assert_eq!(when(&served, "ann"), [tenth, eleventh, second], "{}", backend.name);
        assert_eq!(when(&served, "bob"), [at("2027-01-01T06:30:00Z")]);
        assert_eq!(when(&served, "cy"), [at("2026-12-30T09:37:00Z")]);
        assert_eq!(when(&served, "dan"), [eleventh, second]);
        assert_eq!(
            when(&served, "eve"),
            [at("2026-12-31T14:20:00Z"), at("2027-01-01T03:05:00Z")]
        );
        assert!(when(&served, "fay").is_empty(), "an unsubscribed VIP is excluded");
        assert!(run_of(&t, flow, "daily", "2027-01-01").await.is_none());
        t.stop().await;
    }
}

/// The simulator reads whether a contact matched just before a change at its instant, so a
/// contact whose recent tag grew old stopped matching and enters again when tagged anew. The
/// service remembers who matched at its last look at their changes: a contact who stopped
/// matching only as time passed is still a member, and the new tag does not admit them.
#[tokio::test]
async fn a_contact_whose_recent_tag_grew_old_enters_again_when_tagged_anew() {
    let flow = offer(
        json!({"condition": {"tag": {"name": "pricing", "last_added": {"within": "1d"}}}, "on": "match"}),
        "always",
    );
    let case = Case {
        flow,
        people: vec![Person::new("ann", json!({"email": "ann@example.com"}))],
        changes: vec![
            added("2026-12-30T09:00:00Z", "ann", "pricing"),
            added("2027-01-01T09:00:00Z", "ann", "pricing"),
        ],
        until: at("2027-01-01T12:00:00Z"),
    };
    let simulated = case.simulated();
    assert_eq!(case.simulated_by_cli(), simulated, "cairn simulate, from files");
    for backend in backends().await {
        let (t, _) = case.serve(&backend).await;
        let served = case.served(&t).await;
        assert_eq!(served, simulated, "{}", backend.name);
        t.stop().await;
    }
}
