//! Campaigns in the simulator: audiences built from lists, saved segments and a condition minus
//! exclusions; schedules that re-evaluate them in each contact's zone and skip holidays;
//! entering on a match; one journey per related record. Each test reads the journal a user sees.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use flows::compile::compile_value;
use flows::condition::Condition;
use flows::contact::Record;
use flows::simulate::{Scenario, simulate};
use flows::token::RecordRef;
use flows::{CompiledFlow, Contact, Content, Context, Effect, Event, Input, Policy, Token, step};
use serde_json::{Value, json};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A campaign: the segment entry `audience` (with the given settings), then `then` (nodes in a
/// line; nothing for none), then the exit `done`.
fn campaign(reentry: &str, audience: Value, then: Value) -> CompiledFlow {
    let mut entry = json!({"id": "audience", "type": "segment_entry"});
    for (k, v) in audience.as_object().unwrap() {
        entry[k] = v.clone();
    }
    let mut nodes = vec![entry];
    nodes.extend(then.as_array().unwrap().iter().cloned());
    nodes.push(json!({"id": "done", "type": "exit"}));
    let edges: Vec<Value> = nodes
        .windows(2)
        .map(|w| json!({"from": w[0]["id"], "to": w[1]["id"]}))
        .collect();
    compile_value(
        json!({"format": "cairn.flow/v1", "name": "Campaign", "reentry": reentry,
                         "nodes": nodes, "edges": edges}),
    )
    .unwrap_or_else(|p| panic!("{p}"))
}

fn daily_at_ten(zone: &str) -> Value {
    json!({"rrule": "FREQ=DAILY", "at": "10:00", "timezone": zone})
}

fn person(id: &str, zone: &str, country: &str) -> Contact {
    let mut c = Contact::new(id);
    c.timezone = Some(zone.parse::<Tz>().unwrap());
    c.country = Some(country.into());
    c
}

fn tagged(id: &str, tag: &str) -> Contact {
    let mut c = Contact::new(id);
    c.tags.insert(tag.into());
    c
}

/// A `tag_added`/`tag_removed` event: it changes the contact before anything else sees it.
fn tag_event(when: &str, contact: &str, kind: &str, tag: &str) -> Event {
    Event {
        at: at(when),
        contact: contact.into(),
        kind: kind.into(),
        message: None,
        tag: Some(tag.into()),
        list: None,
        data: Default::default(),
    }
}

/// Who is simulated, from when to when, with which events and saved segments.
struct Run {
    contacts: Vec<Contact>,
    events: Vec<Event>,
    from: &'static str,
    to: &'static str,
    segments: BTreeMap<String, Condition>,
    policy: Policy,
}

impl Run {
    fn of(contacts: Vec<Contact>, from: &'static str, to: &'static str) -> Self {
        Run {
            contacts,
            events: Vec::new(),
            from,
            to,
            segments: BTreeMap::new(),
            policy: Policy::default(),
        }
    }

    fn with_events(mut self, events: Vec<Event>) -> Self {
        self.events = events;
        self
    }

    fn with_segment(mut self, name: &str, condition: Value) -> Self {
        self.segments
            .insert(name.into(), serde_json::from_value(condition).unwrap());
        self
    }

    fn with_policy(mut self, policy: Value) -> Self {
        self.policy = serde_json::from_value(policy).unwrap();
        self
    }

    /// The journal, each line as the JSON `cairn simulate` prints.
    fn journal(self, flow: &CompiledFlow) -> Vec<Value> {
        let scenario = Scenario {
            contacts: self.contacts,
            events: self.events,
            start: at(self.from),
            end: at(self.to),
            segments: self.segments,
        };
        let mut lines = Vec::new();
        simulate(flow, &self.policy, scenario, &mut |e| {
            lines.push(serde_json::to_value(e).unwrap())
        });
        lines
    }

    /// Each `entered` line as `"<instant> <contact>"`, with ` <record>` for a record's journey.
    fn entries(self, flow: &CompiledFlow) -> Vec<String> {
        entries(&self.journal(flow))
    }
}

fn entries(journal: &[Value]) -> Vec<String> {
    journal
        .iter()
        .filter(|l| l["action"] == "entered")
        .map(|l| {
            let mut line = format!("{} {}", l["at"].as_str().unwrap(), l["contact"].as_str().unwrap());
            if let Some(record) = l["record"].as_str() {
                line.push(' ');
                line.push_str(record);
            }
            line
        })
        .collect()
}

/// The instants at which `contact` entered.
fn entries_of(all: &[String], contact: &str) -> Vec<String> {
    all.iter()
        .filter_map(|l| {
            let (instant, who) = l.split_once(' ')?;
            (who == contact).then(|| instant.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Schedules in each contact's own zone

#[test]
fn a_daily_run_at_ten_in_each_contacts_zone_admits_tokyo_tallinn_and_new_york_at_their_own_ten() {
    let flow = campaign("after_exit", json!({"schedule": daily_at_ten("contact")}), json!([]));
    let people = vec![
        person("tallinn", "Europe/Tallinn", "EE"),
        person("new_york", "America/New_York", "US"),
        person("tokyo", "Asia/Tokyo", "JP"),
    ];
    let entered = Run::of(people, "2026-12-30T00:00:00Z", "2026-12-31T00:00:00Z").entries(&flow);
    assert_eq!(
        entered,
        [
            "2026-12-30T01:00:00Z tokyo",    // 10:00 JST (UTC+9)
            "2026-12-30T08:00:00Z tallinn",  // 10:00 EET (UTC+2)
            "2026-12-30T15:00:00Z new_york"  // 10:00 EST (UTC−5)
        ]
    );
}

#[test]
fn across_the_spring_forward_in_new_york_the_run_stays_at_ten_local() {
    let flow = campaign("after_exit", json!({"schedule": daily_at_ten("contact")}), json!([]));
    let people = vec![person("new_york", "America/New_York", "US")];
    let entered = Run::of(people, "2027-03-13T00:00:00Z", "2027-03-16T00:00:00Z").entries(&flow);
    // Clocks go from EST (UTC−5) to EDT (UTC−4) at 02:00 on 14 March 2027.
    assert_eq!(
        entered,
        [
            "2027-03-13T15:00:00Z new_york",
            "2027-03-14T14:00:00Z new_york",
            "2027-03-15T14:00:00Z new_york"
        ]
    );
    let new_york: Tz = "America/New_York".parse().unwrap();
    for line in &entered {
        let instant = at(line.split_once(' ').unwrap().0);
        assert_eq!(instant.with_timezone(&new_york).format("%H:%M").to_string(), "10:00");
    }
}

// ---------------------------------------------------------------------------------------------
// Skipped calendars

/// An Estonian and an American contact, run daily at 10:00 Tallinn over Christmas 2026.
fn christmas_run(skip: Value, policy: Value, to: &'static str) -> Vec<String> {
    let flow = campaign(
        "after_exit",
        json!({"schedule": {"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "Europe/Tallinn", "skip": skip}}),
        json!([]),
    );
    let people = vec![
        person("ee", "Europe/Tallinn", "EE"),
        person("us", "America/New_York", "US"),
    ];
    Run::of(people, "2026-12-23T00:00:00Z", to)
        .with_policy(policy)
        .entries(&flow)
}

#[test]
fn skipping_public_leaves_out_on_24_december_the_estonian_contact_but_not_the_american_one() {
    let entered = christmas_run(json!(["public"]), json!({}), "2026-12-28T00:00:00Z");
    // 24–26 December are public holidays in Estonia; in the United States only the 25th is.
    assert_eq!(
        entries_of(&entered, "ee"),
        ["2026-12-23T08:00:00Z", "2026-12-27T08:00:00Z"]
    );
    assert_eq!(
        entries_of(&entered, "us"),
        [
            "2026-12-23T08:00:00Z",
            "2026-12-24T08:00:00Z",
            "2026-12-26T08:00:00Z",
            "2026-12-27T08:00:00Z"
        ]
    );
}

#[test]
fn skipping_the_public_holidays_of_estonia_drops_those_dates_for_everyone() {
    let entered = christmas_run(json!(["public:EE"]), json!({}), "2026-12-28T00:00:00Z");
    let days = ["2026-12-23T08:00:00Z", "2026-12-27T08:00:00Z"];
    assert_eq!(entries_of(&entered, "ee"), days);
    assert_eq!(entries_of(&entered, "us"), days, "the American contact is left out too");
}

#[test]
fn skipping_a_custom_calendar_of_the_policy_drops_its_days() {
    let entered = christmas_run(
        json!(["shutdown"]),
        json!({"calendars": {"shutdown": ["2026-12-24", "2026-12-28"]}}),
        "2026-12-30T00:00:00Z",
    );
    let days = [
        "2026-12-23T08:00:00Z",
        "2026-12-25T08:00:00Z",
        "2026-12-26T08:00:00Z",
        "2026-12-27T08:00:00Z",
        "2026-12-29T08:00:00Z",
    ];
    assert_eq!(entries_of(&entered, "ee"), days);
    assert_eq!(entries_of(&entered, "us"), days);
}

#[test]
fn a_schedule_skipping_a_calendar_the_policy_lacks_is_refused_against_that_policy() {
    let flow = campaign(
        "after_exit",
        json!({"schedule": {"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "UTC", "skip": ["shutdown"]}}),
        json!([]),
    );
    let problems = Policy::default().check_flow(&flow).unwrap_err().to_string();
    assert!(problems.contains("audience"), "{problems}");
    assert!(problems.contains("unknown calendar 'shutdown'"), "{problems}");
    let with_it: Policy = serde_json::from_value(json!({"calendars": {"shutdown": ["2026-12-24"]}})).unwrap();
    assert!(with_it.check_flow(&flow).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Re-entry over many runs: "each new match gets it once"

/// Daily at 10:00 UTC from 30 December to 6 January (eight runs): `steady` has the tag
/// throughout; `fickle` is tagged on the 31st, untagged on 2 January and tagged again on the 4th
/// (each at 09:00, before that day's run).
fn pricing_runs(reentry: &str, journey: Value) -> (Vec<String>, Vec<String>) {
    let flow = campaign(
        reentry,
        json!({"condition": {"has_tag": "pricing"}, "schedule": daily_at_ten("UTC")}),
        journey,
    );
    let events = vec![
        tag_event("2026-12-31T09:00:00Z", "fickle", "tag_added", "pricing"),
        tag_event("2027-01-02T09:00:00Z", "fickle", "tag_removed", "pricing"),
        tag_event("2027-01-04T09:00:00Z", "fickle", "tag_added", "pricing"),
    ];
    let people = vec![tagged("steady", "pricing"), Contact::new("fickle")];
    let entered = Run::of(people, "2026-12-30T00:00:00Z", "2027-01-06T23:00:00Z")
        .with_events(events)
        .entries(&flow);
    (entries_of(&entered, "steady"), entries_of(&entered, "fickle"))
}

#[test]
fn with_reentry_never_each_contact_gets_the_campaign_once_however_often_they_match_again() {
    let (steady, fickle) = pricing_runs("never", json!([]));
    assert_eq!(steady, ["2026-12-30T10:00:00Z"]);
    assert_eq!(
        fickle,
        ["2026-12-31T10:00:00Z"],
        "matching again on the 4th admits no second time"
    );
}

#[test]
fn with_reentry_after_exit_a_contact_enters_again_at_the_first_run_after_their_journey_ended() {
    // Each journey lasts 36 hours, so it is still running at the next day's run.
    let (steady, fickle) = pricing_runs(
        "after_exit",
        json!([{"id": "linger", "type": "wait", "duration": "36h"}]),
    );
    assert_eq!(
        steady,
        [
            "2026-12-30T10:00:00Z",
            "2027-01-01T10:00:00Z",
            "2027-01-03T10:00:00Z",
            "2027-01-05T10:00:00Z"
        ]
    );
    // Untagged on the 2nd and 3rd; tagged again on the 4th, still in the journey on the 5th.
    assert_eq!(
        fickle,
        ["2026-12-31T10:00:00Z", "2027-01-04T10:00:00Z", "2027-01-06T10:00:00Z"]
    );
}

#[test]
fn with_reentry_always_a_contact_enters_at_every_run_they_match() {
    let (steady, fickle) = pricing_runs("always", json!([{"id": "linger", "type": "wait", "duration": "36h"}]));
    assert_eq!(steady.len(), 8, "every day from 30 December to 6 January: {steady:?}");
    assert_eq!(
        fickle,
        [
            "2026-12-31T10:00:00Z",
            "2027-01-01T10:00:00Z",
            "2027-01-04T10:00:00Z",
            "2027-01-05T10:00:00Z",
            "2027-01-06T10:00:00Z"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Entering on a match

#[test]
fn on_match_a_contact_enters_when_a_change_makes_them_match_and_not_while_they_keep_matching() {
    let flow = campaign(
        "always",
        json!({"condition": {"has_tag": "vip"}, "on": "match"}),
        json!([]),
    );
    let events = vec![
        // `late` starts to match: they enter at that instant.
        tag_event("2026-12-30T09:00:00Z", "late", "tag_added", "vip"),
        // Changes that keep them matching admit no one: another tag, the same tag once more.
        tag_event("2026-12-30T10:00:00Z", "late", "tag_added", "newsletter"),
        tag_event("2026-12-30T10:30:00Z", "late", "tag_added", "vip"),
        tag_event("2026-12-30T11:00:00Z", "early", "tag_added", "newsletter"),
        // Leaving and matching again admits again.
        tag_event("2026-12-30T12:00:00Z", "late", "tag_removed", "vip"),
        tag_event("2026-12-30T13:00:00Z", "late", "tag_added", "vip"),
        // `early` matched at the start, which admitted nothing; leaving and coming back does.
        tag_event("2026-12-30T14:00:00Z", "early", "tag_removed", "vip"),
        tag_event("2026-12-30T15:00:00Z", "early", "tag_added", "vip"),
    ];
    let people = vec![tagged("early", "vip"), Contact::new("late")];
    let entered = Run::of(people, "2026-12-30T08:00:00Z", "2026-12-31T08:00:00Z")
        .with_events(events)
        .entries(&flow);
    assert_eq!(
        entered,
        [
            "2026-12-30T09:00:00Z late",
            "2026-12-30T13:00:00Z late",
            "2026-12-30T15:00:00Z early"
        ]
    );
}

#[test]
fn on_match_a_tag_the_flow_itself_adds_admits_the_contact_at_that_instant() {
    let flow = compile_value(json!({
        "format": "cairn.flow/v1", "name": "Signup", "reentry": "always",
        "nodes": [
            {"id": "signed_up", "type": "event_entry", "event": "signup"},
            {"id": "mark", "type": "add_tag", "tag": "vip"},
            {"id": "marked", "type": "exit"},
            {"id": "vips", "type": "segment_entry", "condition": {"has_tag": "vip"}, "on": "match"},
            {"id": "welcomed", "type": "exit"}
        ],
        "edges": [
            {"from": "signed_up", "to": "mark"}, {"from": "mark", "to": "marked"},
            {"from": "vips", "to": "welcomed"}
        ]
    }))
    .unwrap_or_else(|p| panic!("{p}"));
    let signup = Event {
        at: at("2026-12-30T09:00:00Z"),
        contact: "c1".into(),
        kind: "signup".into(),
        message: None,
        tag: None,
        list: None,
        data: Default::default(),
    };
    let journal = Run::of(vec![Contact::new("c1")], "2026-12-30T08:00:00Z", "2026-12-31T08:00:00Z")
        .with_events(vec![signup])
        .journal(&flow);
    let vip_entries: Vec<&Value> = journal
        .iter()
        .filter(|l| l["node"] == "vips" && l["action"] == "entered")
        .collect();
    assert_eq!(vip_entries.len(), 1, "{journal:#?}");
    assert_eq!(vip_entries[0]["at"], "2026-12-30T09:00:00Z");
}

// ---------------------------------------------------------------------------------------------
// One journey per related record

fn contract(id: &str, status: &str, end_date: &str) -> Record {
    let mut r = Record {
        id: id.into(),
        ..Record::default()
    };
    r.fields.insert("status".into(), json!(status));
    r.fields.insert("end_date".into(), json!(end_date));
    r
}

/// Ann has three active contracts: k1 and k2 end within 30 days of 30 December 2026, k3 in June.
fn ann_with_contracts() -> Contact {
    let mut ann = Contact::new("ann");
    ann.email = Some("ann@example.com".into());
    ann.records.insert(
        "contract".into(),
        vec![
            contract("k1", "active", "2027-01-10"),
            contract("k2", "active", "2027-01-20"),
            contract("k3", "active", "2027-06-30"),
        ],
    );
    ann
}

fn renewal_flow() -> CompiledFlow {
    campaign(
        "never",
        json!({
            "per": "contract",
            "schedule": daily_at_ten("UTC"),
            "condition": {"records": {"type": "contract", "any": {"all": [
                {"field": {"path": "status", "op": "eq", "value": "active"}},
                {"field": {"path": "end_date", "op": "within_next", "value": "30d"}}
            ]}}}
        }),
        json!([{"id": "remind", "type": "send_email", "subject": "{{ record.id }} ends {{ record.end_date }}",
                "html": "<p>Your contract {{ record.id }} ends on {{ record.end_date }}.</p>"}]),
    )
}

#[test]
fn per_contract_each_contract_ending_within_30_days_gets_its_own_journey_once() {
    let journal = Run::of(
        vec![ann_with_contracts()],
        "2026-12-30T00:00:00Z",
        "2027-01-02T00:00:00Z",
    )
    .journal(&renewal_flow());
    assert_eq!(
        entries(&journal),
        ["2026-12-30T10:00:00Z ann k1", "2026-12-30T10:00:00Z ann k2"],
        "k3 ends in June; the next days' runs admit neither contract again"
    );
    let sent: Vec<(&str, &str)> = journal
        .iter()
        .filter(|l| l["action"] == "sent")
        .map(|l| (l["record"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(sent, [("k1", "ann.1.remind"), ("k2", "ann.2.remind")]);
    assert!(
        journal.iter().all(|l| l["record"].is_string()),
        "every line of a record's journey names the record: {journal:#?}"
    );
}

#[test]
fn per_contract_the_email_renders_the_contract_it_is_about() {
    let flow = renewal_flow();
    let ann = ann_with_contracts();
    let policy = Policy::default();
    let history = flows::History::default();
    let subject_for = |id: &str| {
        let now = at("2026-12-30T10:00:00Z");
        let mut token = Token::new(format!("ann.{id}"), "ann", "audience", Default::default(), now);
        token.record = Some(RecordRef {
            kind: "contract".into(),
            id: id.into(),
        });
        let cx = Context {
            now,
            contact: &ann,
            policy: &policy,
            history: &history,
        };
        let transition = step(&flow, &token, Input::Wake, &cx);
        transition
            .effects
            .iter()
            .find_map(|e| match e {
                Effect::Send(out) => match &out.content {
                    Content::Email { subject, .. } => Some(subject.clone()),
                    _ => None,
                },
                _ => None,
            })
            .expect("the reminder is sent")
    };
    assert_eq!(subject_for("k1"), "k1 ends 2027-01-10");
    assert_eq!(subject_for("k2"), "k2 ends 2027-01-20");
}

// ---------------------------------------------------------------------------------------------
// Who is in the audience

#[test]
fn an_audience_is_its_lists_segments_and_condition_minus_the_excluded_lists_and_segments() {
    let flow = campaign(
        "after_exit",
        json!({
            "lists": ["customers"],
            "segments": ["VIPs"],
            "condition": {"field": {"path": "contact.country", "op": "eq", "value": "EE"}},
            "exclude_lists": ["unsubscribed"],
            "exclude_segments": ["Bounced"]
        }),
        json!([]),
    );
    let mut listed = Contact::new("listed");
    listed.lists.insert("customers".into());
    let segmented = tagged("segmented", "vip");
    let mut conditioned = Contact::new("conditioned");
    conditioned.country = Some("EE".into());
    let mut unsubscribed = Contact::new("unsubscribed");
    unsubscribed.lists.insert("customers".into());
    unsubscribed.lists.insert("unsubscribed".into());
    let mut bounced = tagged("bounced", "bounced");
    bounced.country = Some("EE".into());
    let people = vec![
        listed,
        segmented,
        conditioned,
        unsubscribed,
        bounced,
        Contact::new("nobody"),
    ];
    let entered = Run::of(people, "2026-12-30T08:00:00Z", "2026-12-31T08:00:00Z")
        .with_segment("VIPs", json!({"has_tag": "vip"}))
        .with_segment("Bounced", json!({"has_tag": "bounced"}))
        .entries(&flow);
    assert_eq!(
        entered,
        [
            "2026-12-30T08:00:00Z listed",
            "2026-12-30T08:00:00Z segmented",
            "2026-12-30T08:00:00Z conditioned"
        ]
    );
}

#[test]
fn a_segment_the_scenario_lacks_admits_no_one_and_the_other_segments_still_admit() {
    let flow = campaign("after_exit", json!({"segments": ["VIPs", "Missing"]}), json!([]));
    let people = vec![tagged("vip", "vip"), Contact::new("other")];
    let entered = Run::of(people, "2026-12-30T08:00:00Z", "2026-12-31T08:00:00Z")
        .with_segment("VIPs", json!({"has_tag": "vip"}))
        .entries(&flow);
    assert_eq!(entered, ["2026-12-30T08:00:00Z vip"]);
}

#[test]
fn an_audience_of_contacts_who_did_not_open_lately_sees_the_opens_of_the_campaigns_own_emails() {
    let flow = campaign(
        "after_exit",
        json!({
            "condition": {"not": {"message": {"event": "opened", "when": {"within": "7d"}}}},
            "schedule": daily_at_ten("UTC")
        }),
        json!([{"id": "nudge", "type": "send_email", "subject": "News", "html": "<p>News</p>"}]),
    );
    let mut reader = Contact::new("reader");
    reader.email = Some("reader@example.com".into());
    let mut skimmer = Contact::new("skimmer");
    skimmer.email = Some("skimmer@example.com".into());
    let opened = Event {
        at: at("2026-12-30T12:00:00Z"),
        contact: "reader".into(),
        kind: "opened".into(),
        message: Some("nudge".into()),
        tag: None,
        list: None,
        data: Default::default(),
    };
    let entered = Run::of(vec![reader, skimmer], "2026-12-30T00:00:00Z", "2027-01-01T00:00:00Z")
        .with_events(vec![opened])
        .entries(&flow);
    assert_eq!(
        entries_of(&entered, "reader"),
        ["2026-12-30T10:00:00Z"],
        "opened the first email, so not in the audience the next day"
    );
    assert_eq!(
        entries_of(&entered, "skimmer"),
        ["2026-12-30T10:00:00Z", "2026-12-31T10:00:00Z"]
    );
}

#[test]
fn on_match_a_contact_who_stopped_matching_as_time_passed_enters_again_when_a_change_makes_them_match() {
    let flow = campaign(
        "always",
        json!({"condition": {"tag": {"name": "pricing", "last_added": {"within": "7d"}}}, "on": "match"}),
        json!([]),
    );
    let events = vec![
        tag_event("2026-12-30T09:00:00Z", "c1", "tag_added", "pricing"),
        // A week later the visit no longer counts, though nothing about them changed; a new
        // visit two weeks after the first makes them match again.
        tag_event("2027-01-13T09:00:00Z", "c1", "tag_added", "pricing"),
    ];
    let entered = Run::of(vec![Contact::new("c1")], "2026-12-30T08:00:00Z", "2027-01-20T08:00:00Z")
        .with_events(events)
        .entries(&flow);
    assert_eq!(entered, ["2026-12-30T09:00:00Z c1", "2027-01-13T09:00:00Z c1"]);
}

#[test]
fn a_branch_on_a_saved_segment_sends_its_members_one_way_and_the_others_the_other() {
    let flow = compile_value(json!({"format": "cairn.flow/v1", "name": "Sorting", "nodes": [
        {"id": "audience", "type": "segment_entry", "lists": ["customers"]},
        {"id": "is_vip", "type": "branch", "condition": {"segment": "VIPs"}},
        {"id": "thank", "type": "add_tag", "tag": "thanked"},
        {"id": "done", "type": "exit"}],
      "edges": [{"from": "audience", "to": "is_vip"}, {"from": "is_vip", "to": "thank", "when": "yes"},
        {"from": "is_vip", "to": "done", "when": "no"}, {"from": "thank", "to": "done"}]}))
    .unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(flow.branch_segments(), [("is_vip", "VIPs")]);
    let customer = |id: &str, tag: &str| {
        let mut c = tagged(id, tag);
        c.lists.insert("customers".into());
        c
    };
    let journal = Run::of(
        vec![customer("ann", "gold"), customer("bob", "new")],
        "2026-12-30T08:00:00Z",
        "2026-12-31T08:00:00Z",
    )
    .with_segment("VIPs", json!({"any": [{"has_tag": "gold"}, {"has_tag": "vip"}]}))
    .journal(&flow);
    let ways: Vec<String> = journal
        .iter()
        .filter(|l| l["action"] == "branched")
        .map(|l| format!("{} {}", l["contact"].as_str().unwrap(), l["edge"].as_str().unwrap()))
        .collect();
    assert_eq!(ways, ["ann yes", "bob no"]);
}
