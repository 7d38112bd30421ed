//! Send policy through `step`: windows, holidays, caps, pacing, address checks and the zone
//! each decision was made in, as the journal shows them.

use chrono::{DateTime, Utc};
use flows::compile::compile_value;
use flows::{Action, CompiledFlow, Contact, Context, Effect, History, Input, Policy, Token, TokenState, step};
use serde_json::{Value, json};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// start → the given nodes in a line → done, with an optional flow-level `policy`.
fn line(nodes: Value, policy: Value) -> CompiledFlow {
    let mut all = vec![json!({"id": "start", "type": "webhook_entry"})];
    all.extend(nodes.as_array().unwrap().iter().cloned());
    all.push(json!({"id": "done", "type": "exit"}));
    let edges: Vec<Value> = all
        .windows(2)
        .map(|w| json!({"from": w[0]["id"], "to": w[1]["id"]}))
        .collect();
    let mut doc = json!({"format": "cairn.flow/v1", "name": "Policy", "nodes": all, "edges": edges});
    if !policy.is_null() {
        doc["policy"] = policy;
    }
    compile_value(doc).unwrap_or_else(|p| panic!("{p}"))
}

fn contact(phone: &str) -> Contact {
    let mut c = Contact::new("c1");
    c.email = Some("ann@example.com".into());
    c.phone = Some(phone.into());
    c
}

/// Steps a token from entry at `start`, then at each wake-up until it ends or `until`.
struct Run {
    journal: Vec<(DateTime<Utc>, String, Action)>,
    sends: Vec<(DateTime<Utc>, flows::Outbound)>,
}

fn run(flow: &CompiledFlow, contact: &Contact, policy: &Policy, history: &History, start: &str) -> Run {
    let mut token = Token::new("t1", contact.id.clone(), "start", Default::default(), at(start));
    let mut now = at(start);
    let mut out = Run {
        journal: Vec::new(),
        sends: Vec::new(),
    };
    for _ in 0..20 {
        let cx = Context {
            now,
            contact,
            policy,
            history,
        };
        let t = step(flow, &token, Input::Wake, &cx);
        for e in t.effects {
            match e {
                Effect::Journal { node, action } => out.journal.push((now, node, action)),
                Effect::Send(o) => out.sends.push((now, *o)),
                _ => {}
            }
        }
        token = t.token;
        match token.state {
            TokenState::Waiting { until } => now = until,
            _ => break,
        }
    }
    out
}

fn actions(r: &Run) -> Vec<String> {
    r.journal
        .iter()
        .map(|(at, node, a)| format!("{} {node} {}", at.format("%Y-%m-%dT%H:%MZ"), a.name()))
        .collect()
}

#[test]
fn an_sms_outside_its_window_waits_for_the_window_in_the_contacts_zone() {
    let flow = line(
        json!([{"id": "text", "type": "send_sms", "text": "hi", "window": {"start": "10:00", "end": "20:00", "days": ["mon","tue","wed","thu","fri","sat"]}}]),
        Value::Null,
    );
    // Saturday 2026-12-05 19:30Z is 21:30 in Tallinn (zone from the +372 phone number).
    let r = run(
        &flow,
        &contact("+372 5555 1234"),
        &Policy::default(),
        &History::default(),
        "2026-12-05T19:30:00Z",
    );
    assert_eq!(
        actions(&r),
        [
            "2026-12-05T19:30Z start entered",
            "2026-12-05T19:30Z text deferred",
            "2026-12-07T08:00Z done exited"
        ]
    );
    let Action::Deferred {
        until,
        reason,
        zone,
        zone_source,
    } = &r.journal[1].2
    else {
        panic!()
    };
    assert_eq!(*until, at("2026-12-07T08:00:00Z"), "Monday 10:00 in Tallinn");
    assert!(reason.contains("10:00–20:00"), "{reason}");
    assert_eq!(zone.as_deref(), Some("Europe/Tallinn"));
    assert_eq!(*zone_source, Some(flows::geo::ZoneSource::Phone));
    assert_eq!(r.sends.len(), 1);
    assert_eq!(r.sends[0].0, at("2026-12-07T08:00:00Z"));
    let guard = r.sends[0].1.guard.as_ref().expect("delivery re-checks the window");
    assert_eq!(guard.zone, "Europe/Tallinn");
}

#[test]
fn a_node_window_overrides_the_flow_and_the_configuration() {
    let mut policy = Policy::default();
    policy.channels.insert(
        flows::Channel::Email,
        serde_json::from_value(json!({"window": {"start": "08:00", "end": "21:00"}})).unwrap(),
    );
    let plain = line(
        json!([{"id": "mail", "type": "send_email", "subject": "s", "html": "h"}]),
        Value::Null,
    );
    let offer = line(
        json!([{"id": "mail", "type": "send_email", "subject": "s", "html": "h", "window": {"start": "10:00", "end": "12:00"}}]),
        json!({"email": {"window": {"start": "09:00", "end": "17:00"}}}),
    );
    let flow_only = line(
        json!([{"id": "mail", "type": "send_email", "subject": "s", "html": "h"}]),
        json!({"email": {"window": {"start": "09:00", "end": "17:00"}}}),
    );
    let mut c = contact("+372 5555 1234");
    c.timezone = Some(chrono_tz::UTC);
    let start = "2026-12-01T07:00:00Z";
    let sent_at = |flow: &CompiledFlow| run(flow, &c, &policy, &History::default(), start).sends[0].0;
    assert_eq!(sent_at(&plain), at("2026-12-01T08:00:00Z"), "configuration");
    assert_eq!(sent_at(&flow_only), at("2026-12-01T09:00:00Z"), "flow");
    assert_eq!(sent_at(&offer), at("2026-12-01T10:00:00Z"), "node");
}

#[test]
fn no_sends_on_public_holidays_of_the_contacts_country() {
    let flow = line(
        json!([{"id": "text", "type": "send_sms", "text": "hi", "holidays": ["public"], "window": {"start": "10:00", "end": "20:00"}}]),
        Value::Null,
    );
    // Estonia: 24 February is Independence Day.
    let r = run(
        &flow,
        &contact("+372 5555 1234"),
        &Policy::default(),
        &History::default(),
        "2026-02-24T09:00:00Z",
    );
    let Action::Deferred { until, reason, .. } = &r.journal[1].2 else {
        panic!("{:?}", r.journal)
    };
    assert!(reason.contains("public holiday in EE"), "{reason}");
    assert_eq!(*until, at("2026-02-25T08:00:00Z"));
    // United States (country field; +1 800 gives no zone): Thanksgiving 2026-11-26.
    let mut us = contact("+1 800 555 1234");
    us.country = Some("US".into());
    us.timezone = Some(chrono_tz::America::Chicago);
    let r = run(
        &flow,
        &us,
        &Policy::default(),
        &History::default(),
        "2026-11-26T18:00:00Z",
    );
    assert_eq!(
        r.sends[0].0,
        at("2026-11-27T16:00:00Z"),
        "the next day at 10:00 in Chicago"
    );
    // India: Republic Day, 26 January; Kolkata is UTC+5:30.
    let r = run(
        &flow,
        &contact("+91 98123 45678"),
        &Policy::default(),
        &History::default(),
        "2026-01-26T06:00:00Z",
    );
    assert_eq!(r.sends[0].0, at("2026-01-27T04:30:00Z"));
}

#[test]
fn holiday_pause_holds_the_journey_until_the_next_working_day() {
    let flow = line(json!([{"id": "pause", "type": "holiday_pause"}]), Value::Null);
    let r = run(
        &flow,
        &contact("+372 5555 1234"),
        &Policy::default(),
        &History::default(),
        "2026-12-24T10:00:00Z",
    );
    // 24, 25 and 26 December are public holidays in Estonia; the journey resumes on the 27th
    // at midnight in Tallinn.
    assert_eq!(
        actions(&r),
        [
            "2026-12-24T10:00Z start entered",
            "2026-12-24T10:00Z pause deferred",
            "2026-12-26T22:00Z done exited"
        ]
    );
    let mut policy = Policy::default();
    policy.calendars.insert(
        "shutdown".into(),
        ["2026-07-01", "2026-07-02"]
            .iter()
            .map(|d| d.parse().unwrap())
            .collect(),
    );
    let flow = line(
        json!([{"id": "pause", "type": "holiday_pause", "calendar": "shutdown"}]),
        Value::Null,
    );
    let mut c = contact("+372 5555 1234");
    c.timezone = Some(chrono_tz::UTC);
    let r = run(&flow, &c, &policy, &History::default(), "2026-07-01T12:00:00Z");
    assert_eq!(r.journal.last().unwrap().0, at("2026-07-03T00:00:00Z"));
}

#[test]
fn a_frequency_cap_skips_or_defers_across_flows() {
    let send = json!([{"id": "mail", "type": "send_email", "subject": "s", "html": "h"}]);
    let mut policy = Policy::default();
    policy.channels.insert(
        flows::Channel::Email,
        serde_json::from_value(json!({"cap": {"max": 3, "per": "7d"}})).unwrap(),
    );
    let history = History {
        sends: vec![
            (flows::Channel::Email, at("2026-12-01T10:00:00Z")),
            (flows::Channel::Email, at("2026-12-03T10:00:00Z")),
            (flows::Channel::Sms, at("2026-12-03T10:00:00Z")),
            (flows::Channel::Email, at("2026-12-05T10:00:00Z")),
        ],
        ..History::default()
    };
    let c = contact("+372 5555 1234");
    let r = run(
        &line(send.clone(), Value::Null),
        &c,
        &policy,
        &history,
        "2026-12-06T10:00:00Z",
    );
    assert!(r.sends.is_empty());
    let Action::Skipped { reason } = &r.journal[1].2 else {
        panic!("{:?}", r.journal)
    };
    assert!(reason.contains("frequency cap: 3 email per 1w"), "{reason}");
    assert_eq!(r.journal.last().unwrap().2, Action::Exited, "the journey goes on");
    // Two weeks later the cap has room again.
    let r = run(
        &line(send.clone(), Value::Null),
        &c,
        &policy,
        &history,
        "2026-12-20T10:00:00Z",
    );
    assert_eq!(r.sends.len(), 1);
    // A flow can defer instead: until the oldest counted send is a week old.
    let deferring = line(
        send,
        json!({"email": {"cap": {"max": 3, "per": "7d", "then": "defer"}}}),
    );
    let r = run(&deferring, &c, &policy, &history, "2026-12-06T10:00:00Z");
    assert_eq!(r.sends[0].0, at("2026-12-08T10:00:00Z"));
}

#[test]
fn pacing_spreads_a_batch_evenly_over_three_days() {
    let flow = line(
        json!([{"id": "mail", "type": "send_email", "subject": "s", "html": "h", "pace": {"over": "3d"}}]),
        Value::Null,
    );
    let start = at("2026-12-01T00:00:00Z");
    let mut per_day = [0u32; 3];
    for i in 0..3000 {
        let mut c = contact("+372 5555 1234");
        c.id = format!("c{i}");
        let r = run(
            &flow,
            &c,
            &Policy::default(),
            &History::default(),
            "2026-12-01T00:00:00Z",
        );
        let sent = r.sends[0].0;
        let day = (sent - start).num_days();
        assert!((0..3).contains(&day), "sent at {sent}");
        per_day[day as usize] += 1;
    }
    for n in per_day {
        assert!((900..=1100).contains(&n), "about a third per day: {per_day:?}");
    }
}

#[test]
fn invalid_or_suppressed_addresses_are_skipped_with_the_reason() {
    let flow = line(
        json!([{"id": "mail", "type": "send_email", "subject": "s", "html": "h"}, {"id": "text", "type": "send_sms", "text": "t"}]),
        Value::Null,
    );
    let mut c = contact("5555 1234");
    c.email = Some("ann@example".into());
    let r = run(
        &flow,
        &c,
        &Policy::default(),
        &History::default(),
        "2026-12-01T10:00:00Z",
    );
    assert!(r.sends.is_empty());
    let reasons: Vec<String> = r
        .journal
        .iter()
        .filter_map(|(_, _, a)| match a {
            Action::Skipped { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("'ann@example'") && reasons[0].contains("domain"));
    assert!(reasons[1].contains("international format"));

    let history = History {
        suppressed: [("ann@example.com".to_string(), "SMTP 550 no such user".to_string())].into(),
        ..History::default()
    };
    let r = run(
        &flow,
        &contact("+372 5555 1234"),
        &Policy::default(),
        &history,
        "2026-12-01T10:00:00Z",
    );
    assert_eq!(r.sends.len(), 1, "the SMS still goes");
    assert!(matches!(&r.journal[1].2, Action::Skipped { reason } if reason.contains("suppressed")));
}

#[test]
fn bad_policy_settings_are_refused_with_their_field() {
    let problems = compile_value(json!({"format": "cairn.flow/v1", "name": "x",
        "policy": {"sms": {"cap": {"max": 0, "per": "7d"}}},
        "nodes": [{"id": "start", "type": "webhook_entry"},
                  {"id": "t", "type": "send_sms", "text": "x", "pace": {}, "window": {"start": "10:00", "end": "20:00", "days": []}},
                  {"id": "done", "type": "exit"}],
        "edges": [{"from": "start", "to": "t"}, {"from": "t", "to": "done"}]}))
    .unwrap_err()
    .to_string();
    assert!(problems.contains("policy.sms.cap.max"), "{problems}");
    assert!(problems.contains("pace"), "{problems}");
    assert!(problems.contains("window.days"), "{problems}");
    assert!(Policy::from_json(r#"{"channels": {"sms": {"window": {"start": "25:00", "end": "20:00"}}}}"#).is_err());
    assert!(
        Policy::from_json(r#"{"channels": {"sms": {"holidays": ["nope"]}}}"#)
            .unwrap_err()
            .contains("nope")
    );
}

#[test]
fn two_sends_in_one_step_count_against_the_cap() {
    let mut policy = Policy::default();
    policy.channels.insert(
        flows::Channel::Email,
        serde_json::from_value(json!({"cap": {"max": 1, "per": "1d"}})).unwrap(),
    );
    let flow = line(
        json!([{"id": "a", "type": "send_email", "subject": "s", "html": "h"},
               {"id": "b", "type": "send_email", "subject": "s", "html": "h"}]),
        Value::Null,
    );
    let r = run(
        &flow,
        &contact("+372 5555 1234"),
        &policy,
        &History::default(),
        "2026-12-01T10:00:00Z",
    );
    assert_eq!(r.sends.len(), 1);
    assert!(
        matches!(&r.journal[1].2, Action::Skipped { reason } if reason.contains("cap")),
        "{:?}",
        r.journal
    );
}

#[test]
fn the_delivery_guard_knows_a_long_closed_period() {
    let mut policy = Policy::default();
    let first: chrono::NaiveDate = "2026-12-20".parse().unwrap();
    policy.calendars.insert(
        "shutdown".into(),
        (0..43).map(|i| first + chrono::TimeDelta::days(i)).collect(),
    );
    let flow = line(
        json!([{"id": "mail", "type": "send_email", "subject": "s", "html": "h", "holidays": ["shutdown"]}]),
        Value::Null,
    );
    let mut c = contact("+372 5555 1234");
    c.timezone = Some(chrono_tz::UTC);
    // Decided the evening before the shutdown; delivered a minute later, on its first day.
    let r = run(&flow, &c, &policy, &History::default(), "2026-12-19T23:59:00Z");
    let guard = r.sends[0].1.guard.clone().unwrap();
    match guard.check(at("2026-12-20T00:01:00Z")) {
        flows::policy::Openness::Closed { until, .. } => assert_eq!(until, at("2027-02-01T00:00:00Z")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn public_holidays_without_a_known_country_are_journaled_as_not_applied() {
    let flow = line(
        json!([{"id": "text", "type": "send_sms", "text": "hi", "holidays": ["public"], "window": {"start": "10:00", "end": "20:00"}}]),
        Value::Null,
    );
    // Monday 2026-12-28 is Boxing Day (observed) in the United Kingdom. +44 7700 900… is the
    // range kept for drama: its zone is London, but no country can be told from it (+44 is
    // shared by GB, Guernsey, Jersey and the Isle of Man, whose holidays differ).
    let drama = contact("+44 7700 900123");
    let noon = "2026-12-28T12:00:00Z";
    let r = run(&flow, &drama, &Policy::default(), &History::default(), noon);
    assert_eq!(
        actions(&r),
        [
            "2026-12-28T12:00Z start entered",
            "2026-12-28T12:00Z text notice",
            "2026-12-28T12:00Z done exited"
        ]
    );
    assert_eq!(
        r.journal[1].2,
        Action::Notice {
            reason: "no country known: public holidays not applied".into()
        }
    );
    assert_eq!(r.sends[0].0, at(noon), "sent at once");

    // The policy's default country fills the gap.
    let policy = Policy::from_json(r#"{"default_country": "gb"}"#).unwrap();
    let r = run(&flow, &drama, &policy, &History::default(), noon);
    assert_eq!(
        actions(&r),
        [
            "2026-12-28T12:00Z start entered",
            "2026-12-28T12:00Z text deferred",
            "2026-12-29T10:00Z done exited"
        ]
    );
    let Action::Deferred { reason, .. } = &r.journal[1].2 else {
        panic!()
    };
    assert!(reason.contains("public holiday in GB"), "{reason}");

    // A real British mobile number says GB by itself.
    let r = run(
        &flow,
        &contact("+44 7400 123456"),
        &Policy::default(),
        &History::default(),
        noon,
    );
    assert_eq!(r.sends[0].0, at("2026-12-29T10:00:00Z"));
    assert!(!actions(&r).iter().any(|a| a.ends_with("notice")));

    // A holiday_pause says so too, and lets the contact through.
    let pause = line(json!([{"id": "pause", "type": "holiday_pause"}]), Value::Null);
    let r = run(&pause, &drama, &Policy::default(), &History::default(), noon);
    assert_eq!(
        actions(&r),
        [
            "2026-12-28T12:00Z start entered",
            "2026-12-28T12:00Z pause notice",
            "2026-12-28T12:00Z done exited"
        ]
    );
}

#[test]
fn a_default_country_that_is_not_one_is_refused() {
    let err = Policy::from_json(r#"{"default_country": "Estonia"}"#).unwrap_err();
    assert!(err.contains("default_country"), "{err}");
    assert!(Policy::from_json(r#"{"default_country": "EE"}"#).is_ok());
}

#[test]
fn nationwide_mobile_ranges_of_countries_with_several_zones_fall_through_to_the_default() {
    let flow = line(
        json!([{"id": "text", "type": "send_sms", "text": "hi", "window": {"start": "10:00", "end": "20:00"}}]),
        Value::Null,
    );
    let policy = Policy::from_json(r#"{"default_timezone": "Europe/Tallinn"}"#).unwrap();
    // 07:00Z is 09:00 in Tallinn: deferred to 10:00 Tallinn, in the default zone, for an
    // Australian and a New Zealand mobile alike (their ranges are nationwide).
    for phone in ["+61 412 345 678", "+64 21 123 4567"] {
        let r = run(
            &flow,
            &contact(phone),
            &policy,
            &History::default(),
            "2026-12-01T07:00:00Z",
        );
        let Action::Deferred {
            until,
            zone,
            zone_source,
            ..
        } = &r.journal[1].2
        else {
            panic!("{phone}: {:?}", r.journal)
        };
        assert_eq!(*until, at("2026-12-01T08:00:00Z"), "{phone}");
        assert_eq!(zone.as_deref(), Some("Europe/Tallinn"), "{phone}");
        assert_eq!(*zone_source, Some(flows::geo::ZoneSource::Default), "{phone}");
    }
}

#[test]
fn an_overnight_window_belongs_to_the_day_it_opens_on_and_runs_into_the_next_morning() {
    let flow = line(
        json!([{"id": "text", "type": "send_sms", "text": "hi",
                "window": {"start": "22:00", "end": "06:00", "days": ["mon","tue","wed","thu","fri","sat"]}}]),
        Value::Null,
    );
    let mut c = contact("+372 5555 1234");
    c.timezone = Some(chrono_tz::Europe::Tallinn); // UTC+2 in December
    let sent_at = |policy: &Policy, start: &str| run(&flow, &c, policy, &History::default(), start).sends[0].0;
    let open = Policy::default();
    // Sunday 2026-12-06 03:00 in Tallinn: Saturday's window is still open, though the window
    // does not open on Sundays.
    assert_eq!(sent_at(&open, "2026-12-06T01:00:00Z"), at("2026-12-06T01:00:00Z"));
    // Sunday 22:30: no window opens on Sunday, so the next is Monday's, at 22:00.
    assert_eq!(sent_at(&open, "2026-12-06T20:30:00Z"), at("2026-12-07T20:00:00Z"));
    // When Sunday is a closed day (here a custom calendar), Saturday's window stops at midnight.
    let rest =
        Policy::from_json(r#"{"calendars": {"rest": ["2026-12-06"]}, "channels": {"sms": {"holidays": ["rest"]}}}"#)
            .unwrap();
    assert_eq!(
        sent_at(&rest, "2026-12-05T21:30:00Z"),
        at("2026-12-05T21:30:00Z"),
        "Saturday 23:30"
    );
    assert_eq!(
        sent_at(&rest, "2026-12-06T01:00:00Z"),
        at("2026-12-07T20:00:00Z"),
        "Sunday 03:00"
    );
}
