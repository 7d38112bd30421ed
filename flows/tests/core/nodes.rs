//! Every node type, driven through the public `step` API as the engine drives it.

use chrono::{DateTime, Utc};
use flows::compile::compile_value;
use flows::{Action, CompiledFlow, Contact, Content, Context, Effect, Event, Input, Policy, Token, TokenState, step};
use serde_json::{Value, json};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const T0: &str = "2026-12-30T08:00:00Z";

/// start → the given nodes in a line → done.
fn line(nodes: Value) -> CompiledFlow {
    let mut all = vec![json!({"id": "start", "type": "webhook_entry"})];
    all.extend(nodes.as_array().unwrap().iter().cloned());
    all.push(json!({"id": "done", "type": "exit"}));
    let edges: Vec<Value> = all
        .windows(2)
        .map(|w| json!({"from": w[0]["id"], "to": w[1]["id"]}))
        .collect();
    build(json!(all), json!(edges))
}

fn build(nodes: Value, edges: Value) -> CompiledFlow {
    compile_value(json!({"format": "cairn.flow/v1", "name": "Test", "nodes": nodes, "edges": edges}))
        .unwrap_or_else(|p| panic!("{p}"))
}

fn ann() -> Contact {
    let mut c = Contact::new("c1");
    c.email = Some("ann@example.com".into());
    c.phone = Some("+37255512345".into());
    c.timezone = Some(chrono_tz::Europe::Tallinn);
    c.fields.insert("first_name".into(), json!("Ann"));
    c
}

/// Drives one token and keeps the journal as compact strings.
struct Journey {
    flow: CompiledFlow,
    contact: Contact,
    token: Token,
    policy: Policy,
    history: flows::History,
    effects: Vec<Effect>,
}

impl Journey {
    fn start(flow: CompiledFlow, contact: Contact, now: &str) -> Self {
        Self::start_with(flow, contact, now, serde_json::Map::new())
    }

    fn start_with(flow: CompiledFlow, contact: Contact, now: &str, data: serde_json::Map<String, Value>) -> Self {
        let token = Token::new("t1", contact.id.clone(), "start", data, at(now));
        let mut j = Journey {
            flow,
            contact,
            token,
            policy: Policy::default(),
            history: flows::History::default(),
            effects: Vec::new(),
        };
        j.input(Input::Wake, now);
        j
    }

    fn input(&mut self, input: Input<'_>, now: &str) -> Vec<String> {
        let cx = Context {
            now: at(now),
            contact: &self.contact,
            policy: &self.policy,
            history: &self.history,
        };
        let t = step(&self.flow, &self.token, input, &cx);
        for e in &t.effects {
            self.contact.apply(e);
        }
        self.token = t.token;
        self.effects.extend(t.effects.iter().cloned());
        t.effects.iter().map(describe).collect()
    }

    fn wake(&mut self, now: &str) -> Vec<String> {
        self.input(Input::Wake, now)
    }

    fn event(&mut self, kind: &str, message: Option<&str>, now: &str) -> Vec<String> {
        let e = Event {
            at: at(now),
            contact: self.contact.id.clone(),
            kind: kind.into(),
            message: message.map(str::to_string),
            tag: None,
            list: None,
            data: Default::default(),
        };
        self.input(Input::Event(&e), now)
    }

    fn journal(&self) -> Vec<String> {
        self.effects.iter().map(describe).collect()
    }

    fn sends(&self) -> Vec<&flows::Outbound> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(o) => Some(&**o),
                _ => None,
            })
            .collect()
    }
}

fn describe(e: &Effect) -> String {
    match e {
        Effect::Journal { node, action } => {
            let mut v = serde_json::to_value(action).unwrap();
            let name = v["action"].as_str().unwrap().to_string();
            v.as_object_mut().unwrap().remove("action");
            let extra = v.as_object().unwrap();
            if extra.is_empty() {
                format!("{node} {name}")
            } else {
                let parts: Vec<String> = extra
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_string)))
                    .collect();
                format!("{node} {name} {}", parts.join(" "))
            }
        }
        Effect::Send(o) => format!("{} send {} to {}", o.node, o.channel, o.to),
        Effect::AddTag { tag } => format!("+tag {tag}"),
        Effect::RemoveTag { tag } => format!("-tag {tag}"),
        Effect::AddToList { list } => format!("+list {list}"),
        Effect::RemoveFromList { list } => format!("-list {list}"),
    }
}

#[test]
fn webhook_entry_journals_entered_and_moves_on_to_the_exit() {
    let j = Journey::start(line(json!([])), ann(), T0);
    assert_eq!(j.journal(), ["start entered", "done exited"]);
    assert_eq!(j.token.state, TokenState::Exited);
    assert!(j.token.is_finished());
}

#[test]
fn send_email_renders_templates_with_html_escaping_and_a_stable_message_id() {
    let flow = line(
        json!([{"id": "hello", "type": "send_email", "subject": "Hi {{contact.first_name}} & co",
        "html": "<p>{{contact.first_name}} ordered {{data.item}}</p>", "text": "Order {{data.item}}"}]),
    );
    let mut data = serde_json::Map::new();
    data.insert("item".into(), json!("<socks>"));
    let j = Journey::start_with(flow, ann(), T0, data);
    assert_eq!(
        j.journal(),
        ["start entered", "hello send email to ann@example.com", "done exited"]
    );
    let sent = j.sends()[0];
    assert_eq!(sent.id, "t1.hello");
    match &sent.content {
        Content::Email {
            subject, html, text, ..
        } => {
            assert_eq!(subject, "Hi Ann & co");
            assert_eq!(html, "<p>Ann ordered &lt;socks&gt;</p>");
            assert_eq!(text.as_deref(), Some("Order <socks>"));
        }
        other => panic!("not an email: {other:?}"),
    }
}

#[test]
fn a_send_without_an_address_fails_and_the_journey_goes_on() {
    let mut c = ann();
    c.email = None;
    let flow = line(json!([
        {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>"},
        {"id": "sms", "type": "send_sms", "text": "Hi {{contact.first_name}}"}
    ]));
    let j = Journey::start(flow, c, T0);
    assert_eq!(
        j.journal(),
        [
            "start entered",
            "hello failed reason=contact has no email address",
            "sms send sms to +37255512345",
            "done exited"
        ]
    );
}

#[test]
fn send_push_goes_to_the_contact_id() {
    let flow = line(
        json!([{"id": "push", "type": "send_push", "title": "Sale", "body": "Hi {{contact.first_name}}", "url": "https://shop.example/{{contact.id}}"}]),
    );
    let j = Journey::start(flow, ann(), T0);
    let sent = j.sends()[0];
    assert_eq!((sent.to.as_str(), sent.channel.as_str()), ("c1", "push"));
    assert_eq!(
        sent.content,
        Content::Push {
            title: "Sale".into(),
            body: "Hi Ann".into(),
            url: Some("https://shop.example/c1".into())
        }
    );
}

#[test]
fn a_message_lists_the_contacts_records_each_with_its_fields_and_id() {
    let mut c = ann();
    let record = |id: &str, fields: Value| flows::contact::Record {
        id: id.into(),
        fields: fields.as_object().cloned().unwrap(),
    };
    c.records.insert(
        "contract".into(),
        vec![
            record("k1", json!({"plan": "gold", "end_date": "2027-01-15"})),
            record("k2", json!({"plan": "basic", "end_date": "2027-03-01"})),
        ],
    );
    let flow = line(json!([{"id": "sms", "type": "send_sms",
        "text": "{% for k in records.contract %}{{ k.id }} {{ k.plan }} ends {{ k.end_date }}; {% endfor %}\
                 {{ records.contract | length }} contracts, {% for o in records.order %}{{ o.id }}{% else %}no orders{% endfor %}"}]));
    let j = Journey::start(flow, c, T0);
    assert_eq!(j.journal()[1], "sms send sms to +37255512345");
    assert_eq!(
        j.sends()[0].content,
        Content::Sms {
            text: "k1 gold ends 2027-01-15; k2 basic ends 2027-03-01; 2 contracts, no orders".into()
        }
    );
}

#[test]
fn webhook_renders_url_headers_and_a_default_json_body() {
    let flow = line(
        json!([{"id": "crm", "type": "webhook", "url": "https://crm.example/contacts/{{contact.id}}",
        "headers": {"X-Source": "cairn-{{contact.first_name}}"}}]),
    );
    let j = Journey::start(flow, ann(), T0);
    let sent = j.sends()[0];
    assert_eq!(sent.to, "https://crm.example/contacts/c1");
    let Content::Webhook { method, headers, body } = &sent.content else {
        panic!()
    };
    assert_eq!(*method, flows::definition::HttpMethod::Post);
    assert_eq!(headers, &[("X-Source".to_string(), "cairn-Ann".to_string())]);
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["contact"]["first_name"], "Ann");
    assert_eq!(body["contact"]["email"], "ann@example.com");
}

#[test]
fn wait_sleeps_for_its_duration_and_ignores_early_wakes() {
    let mut j = Journey::start(
        line(json!([{"id": "pause", "type": "wait", "duration": "1h 30m"}])),
        ann(),
        T0,
    );
    assert_eq!(
        j.journal(),
        ["start entered", "pause waiting until=2026-12-30T09:30:00Z"]
    );
    assert_eq!(j.token.wake_at(), Some(at("2026-12-30T09:30:00Z")));
    assert!(
        j.wake("2026-12-30T09:00:00Z").is_empty(),
        "an early wake changes nothing"
    );
    assert!(
        j.event("opened", None, "2026-12-30T09:10:00Z").is_empty(),
        "an event does not cut a wait short"
    );
    assert_eq!(j.wake("2026-12-30T09:30:00Z"), ["done exited"]);
}

#[test]
fn wait_until_a_local_time_on_given_days_uses_the_contacts_zone() {
    // 2026-12-30 is a Wednesday. Tallinn is UTC+2 in winter.
    let flow = line(json!([{"id": "monday", "type": "wait_until", "time": "09:00", "days": ["mon"]}]));
    let mut j = Journey::start(flow, ann(), T0);
    assert_eq!(j.journal()[1], "monday waiting until=2027-01-04T07:00:00Z");
    assert_eq!(j.wake("2027-01-04T07:00:00Z"), ["done exited"]);

    let mut tokyo = ann();
    tokyo.timezone = Some(chrono_tz::Asia::Tokyo);
    let j = Journey::start(
        line(json!([{"id": "nine", "type": "wait_until", "time": "09:00"}])),
        tokyo,
        T0,
    );
    assert_eq!(j.journal()[1], "nine waiting until=2026-12-31T00:00:00Z");
}

#[test]
fn wait_until_falls_back_to_the_flow_zone_then_the_policy_default() {
    let mut nobody = ann();
    nobody.timezone = None;
    nobody.phone = None;
    let flow = line(json!([{"id": "nine", "type": "wait_until", "time": "09:00"}]));
    let j = Journey::start(flow, nobody.clone(), T0);
    assert_eq!(
        j.journal()[1],
        "nine waiting until=2026-12-30T09:00:00Z",
        "UTC by default"
    );

    let def = json!({"format": "cairn.flow/v1", "name": "Z", "timezone": "America/New_York", "nodes": [
        {"id": "start", "type": "webhook_entry"}, {"id": "nine", "type": "wait_until", "time": "09:00"}, {"id": "done", "type": "exit"}],
        "edges": [{"from": "start", "to": "nine"}, {"from": "nine", "to": "done"}]});
    let j = Journey::start(compile_value(def).unwrap(), nobody, T0);
    assert_eq!(j.journal()[1], "nine waiting until=2026-12-30T14:00:00Z");
}

#[test]
fn wait_until_a_past_instant_continues_at_once() {
    let j = Journey::start(
        line(json!([{"id": "w", "type": "wait_until", "at": "2026-01-01T00:00:00Z"}])),
        ann(),
        T0,
    );
    assert_eq!(j.journal(), ["start entered", "done exited"]);
    let j = Journey::start(
        line(json!([{"id": "w", "type": "wait_until", "at": "2027-01-01T00:00:00Z"}])),
        ann(),
        T0,
    );
    assert_eq!(j.journal()[1], "w waiting until=2027-01-01T00:00:00Z");
}

#[test]
fn wait_until_a_birthday_waits_for_its_next_anniversary_and_fails_without_one() {
    let flow = || {
        line(
            json!([{"id": "bday", "type": "wait_until", "field": "contact.birthday", "anniversary": true, "time": "09:00"}]),
        )
    };
    let mut c = ann();
    c.fields.insert("birthday".into(), json!("1990-01-05"));
    let j = Journey::start(flow(), c, T0);
    assert_eq!(j.journal()[1], "bday waiting until=2027-01-05T07:00:00Z");

    let j = Journey::start(flow(), ann(), T0);
    assert_eq!(
        j.journal()[1],
        "bday failed reason=field 'contact.birthday' is empty, so there is no date to wait for"
    );
    assert!(matches!(j.token.state, TokenState::Failed { .. }));

    let mut c = ann();
    c.fields.insert("birthday".into(), json!("5th of May"));
    let j = Journey::start(flow(), c, T0);
    assert!(
        j.journal()[1].contains("holds '5th of May', not a date"),
        "{:?}",
        j.journal()
    );
}

fn email_then_wait() -> CompiledFlow {
    build(
        json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>"},
            {"id": "read", "type": "wait_for_event", "event": "opened", "message": "hello", "timeout": "2h"},
            {"id": "nudge", "type": "send_sms", "text": "Did you see our email?"},
            {"id": "done", "type": "exit"}
        ]),
        json!([
            {"from": "start", "to": "hello"}, {"from": "hello", "to": "read"},
            {"from": "read", "to": "done", "when": "event"}, {"from": "read", "to": "nudge", "when": "timeout"},
            {"from": "nudge", "to": "done"}
        ]),
    )
}

#[test]
fn wait_for_event_takes_the_event_edge_when_the_message_is_opened_in_time() {
    let mut j = Journey::start(email_then_wait(), ann(), T0);
    assert_eq!(j.journal()[2], "read waiting event=opened until=2026-12-30T10:00:00Z");
    assert!(
        j.event("clicked", Some("t1.hello"), "2026-12-30T08:30:00Z").is_empty(),
        "another event type"
    );
    assert!(
        j.event("opened", Some("other.message"), "2026-12-30T08:40:00Z")
            .is_empty(),
        "another message"
    );
    assert_eq!(
        j.event("opened", Some("t1.hello"), "2026-12-30T09:00:00Z"),
        ["read event message=t1.hello type=opened", "done exited"]
    );
    assert_eq!(j.sends().len(), 1, "no SMS");
}

#[test]
fn wait_for_event_takes_the_timeout_edge_when_nothing_arrives() {
    let mut j = Journey::start(email_then_wait(), ann(), T0);
    assert!(j.wake("2026-12-30T09:59:59Z").is_empty());
    assert_eq!(
        j.wake("2026-12-30T10:00:00Z"),
        [
            "read timed_out type=opened",
            "nudge send sms to +37255512345",
            "done exited"
        ]
    );
}

#[test]
fn wait_for_event_counts_an_open_that_came_before_the_wait_began() {
    let flow = build(
        json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>"},
            {"id": "day", "type": "wait", "duration": "1d"},
            {"id": "read", "type": "wait_for_event", "event": "opened", "message": "hello", "timeout": "2h"},
            {"id": "nudge", "type": "send_sms", "text": "Did you see our email?"},
            {"id": "done", "type": "exit"}
        ]),
        json!([
            {"from": "start", "to": "hello"}, {"from": "hello", "to": "day"}, {"from": "day", "to": "read"},
            {"from": "read", "to": "done", "when": "event"}, {"from": "read", "to": "nudge", "when": "timeout"},
            {"from": "nudge", "to": "done"}
        ]),
    );
    let mut j = Journey::start(flow, ann(), T0);
    assert!(j.event("opened", Some("hello"), "2026-12-30T12:00:00Z").is_empty());
    assert_eq!(
        j.wake("2026-12-31T08:00:00Z"),
        ["read event message=t1.hello type=opened", "done exited"]
    );
}

#[test]
fn wait_for_event_without_a_message_accepts_any_event_of_its_type() {
    let flow = build(
        json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "buy", "type": "wait_for_event", "event": "order_placed", "timeout": "3d"},
            {"id": "thanks", "type": "add_tag", "tag": "buyer"},
            {"id": "done", "type": "exit"}
        ]),
        json!([
            {"from": "start", "to": "buy"}, {"from": "buy", "to": "thanks", "when": "event"},
            {"from": "buy", "to": "done", "when": "timeout"}, {"from": "thanks", "to": "done"}
        ]),
    );
    let mut j = Journey::start(flow, ann(), T0);
    assert_eq!(
        j.event("order_placed", None, "2027-01-01T00:00:00Z"),
        [
            "buy event type=order_placed",
            "+tag buyer",
            "thanks tag_added tag=buyer",
            "done exited"
        ]
    );
}

fn branch_on(condition: Value) -> CompiledFlow {
    build(
        json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "mark", "type": "add_tag", "tag": "seen"},
            {"id": "check", "type": "branch", "condition": condition},
            {"id": "yes", "type": "exit"},
            {"id": "no", "type": "exit"}
        ]),
        json!([
            {"from": "start", "to": "mark"}, {"from": "mark", "to": "check"},
            {"from": "check", "to": "yes", "when": "yes"}, {"from": "check", "to": "no", "when": "no"}
        ]),
    )
}

#[test]
fn branch_takes_yes_or_no_by_its_condition() {
    let gold = json!({"field": {"path": "contact.plan", "op": "eq", "value": "gold"}});
    let mut c = ann();
    c.fields.insert("plan".into(), json!("gold"));
    let j = Journey::start(branch_on(gold.clone()), c, T0);
    assert!(j.journal().contains(&"check branched edge=yes".to_string()));
    assert_eq!(j.journal().last().unwrap(), "yes exited");
    let j = Journey::start(branch_on(gold), ann(), T0);
    assert_eq!(j.journal().last().unwrap(), "no exited");
}

#[test]
fn branch_sees_a_tag_added_earlier_in_the_same_step() {
    let j = Journey::start(branch_on(json!({"has_tag": "seen"})), ann(), T0);
    assert!(
        j.journal().contains(&"check branched edge=yes".to_string()),
        "{:?}",
        j.journal()
    );
}

fn split_flow() -> CompiledFlow {
    build(
        json!([
            {"id": "start", "type": "webhook_entry"},
            {"id": "ab", "type": "split", "arms": [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}]},
            {"id": "a", "type": "exit"},
            {"id": "b", "type": "exit"}
        ]),
        json!([{"from": "start", "to": "ab"}, {"from": "ab", "to": "a", "when": "a"}, {"from": "ab", "to": "b", "when": "b"}]),
    )
}

#[test]
fn split_is_deterministic_per_contact_and_follows_the_weights() {
    let flow = split_flow();
    let policy = Policy::default();
    let mut b = 0;
    for i in 0..10_000 {
        let contact = Contact::new(format!("c{i}"));
        let token = Token::new("t", contact.id.clone(), "start", Default::default(), at(T0));
        let cx = Context {
            now: at(T0),
            contact: &contact,
            policy: &policy,
            history: &flows::History::default(),
        };
        let first = step(&flow, &token, Input::Wake, &cx);
        let again = step(&flow, &token, Input::Wake, &cx);
        assert_eq!(first, again, "same inputs, same transition");
        let arm = first
            .effects
            .iter()
            .find_map(|e| match e {
                Effect::Journal {
                    action: Action::Split { arm },
                    ..
                } => Some(arm.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(first.token.node, arm, "the token follows the arm's edge");
        if arm == "b" {
            b += 1;
        }
    }
    assert!(
        (7_300..=7_700).contains(&b),
        "weight 3 of 4 should get ~75%, got {b} of 10000"
    );
}

#[test]
fn control_group_holds_out_its_share_and_they_leave() {
    let flow = line(
        json!([{"id": "holdout", "type": "control_group", "percent": 10}, {"id": "hi", "type": "send_sms", "text": "hi"}]),
    );
    let policy = Policy::default();
    let mut held = 0;
    for i in 0..10_000 {
        let mut contact = Contact::new(format!("c{i}"));
        contact.phone = Some("+3725555 1234".into());
        let token = Token::new("t", contact.id.clone(), "start", Default::default(), at(T0));
        let t = step(
            &flow,
            &token,
            Input::Wake,
            &Context {
                now: at(T0),
                contact: &contact,
                policy: &policy,
                history: &flows::History::default(),
            },
        );
        let lines: Vec<String> = t.effects.iter().map(describe).collect();
        if lines.contains(&"holdout control_group held_out=true".to_string()) {
            held += 1;
            assert_eq!(lines.last().unwrap(), "holdout exited");
            assert!(
                !lines.iter().any(|l| l.contains("send")),
                "held out contacts get nothing"
            );
        } else {
            assert!(lines.contains(&"holdout control_group held_out=false".to_string()));
            assert!(lines.contains(&"hi send sms to +3725555 1234".to_string()));
        }
    }
    assert!(
        (900..=1_100).contains(&held),
        "10% of 10000 should be held out, got {held}"
    );
}

#[test]
fn tag_and_list_nodes_emit_changes_and_journal_them() {
    let flow = line(json!([
        {"id": "t1", "type": "add_tag", "tag": "vip"},
        {"id": "t2", "type": "remove_tag", "tag": "new"},
        {"id": "l1", "type": "add_to_list", "list": "newsletter"},
        {"id": "l2", "type": "remove_from_list", "list": "leads"}
    ]));
    let mut c = ann();
    c.tags.insert("new".into());
    c.lists.insert("leads".into());
    let j = Journey::start(flow, c, T0);
    assert_eq!(
        j.journal(),
        [
            "start entered",
            "+tag vip",
            "t1 tag_added tag=vip",
            "-tag new",
            "t2 tag_removed tag=new",
            "+list newsletter",
            "l1 list_added list=newsletter",
            "-list leads",
            "l2 list_removed list=leads",
            "done exited"
        ]
    );
    assert!(j.contact.tags.contains("vip") && !j.contact.tags.contains("new"));
    assert!(j.contact.lists.contains("newsletter") && !j.contact.lists.contains("leads"));
}

#[test]
fn a_finished_token_stays_finished() {
    let mut j = Journey::start(line(json!([])), ann(), T0);
    assert!(j.wake("2027-01-01T00:00:00Z").is_empty());
    assert!(j.event("opened", None, "2027-01-01T00:00:00Z").is_empty());
    assert_eq!(j.token.state, TokenState::Exited);
}

#[test]
fn a_token_at_a_node_missing_from_its_flow_fails_with_the_reason() {
    let flow = line(json!([]));
    let contact = ann();
    let token = Token::new("t", "c1", "vanished", Default::default(), at(T0));
    let policy = Policy::default();
    let t = step(
        &flow,
        &token,
        Input::Wake,
        &Context {
            now: at(T0),
            contact: &contact,
            policy: &policy,
            history: &flows::History::default(),
        },
    );
    assert_eq!(
        t.effects.iter().map(describe).collect::<Vec<_>>(),
        ["vanished failed reason=node 'vanished' does not exist in this flow version"]
    );
}

#[test]
fn an_unrelated_event_at_the_deadline_does_not_time_the_wait_out() {
    let mut j = Journey::start(email_then_wait(), ann(), T0);
    assert!(
        j.event("delivered", Some("t1.hello"), "2026-12-30T10:00:00Z")
            .is_empty()
    );
    assert_eq!(
        j.event("opened", Some("t1.hello"), "2026-12-30T10:00:00Z"),
        ["read event message=t1.hello type=opened", "done exited"]
    );
}

#[test]
fn an_awaited_event_after_the_deadline_takes_the_timeout_edge() {
    // A timer that fires late (a busy service) must not let a late open count.
    let mut j = Journey::start(email_then_wait(), ann(), T0);
    let lines = j.event("opened", Some("t1.hello"), "2026-12-30T10:00:01Z");
    assert_eq!(lines[0], "read timed_out type=opened");
}

#[test]
fn webhook_headers_may_not_smuggle_line_breaks() {
    let mut c = ann();
    c.fields.insert("first_name".into(), json!("Ann\r\nX-Evil: 1"));
    let flow = line(
        json!([{"id": "crm", "type": "webhook", "url": "https://crm.example/x", "headers": {"X-Name": "{{contact.first_name}}"}}]),
    );
    let j = Journey::start(flow, c, T0);
    assert_eq!(
        j.journal()[1],
        "crm failed reason=header 'X-Name' would contain a line break"
    );
}

#[test]
fn webhook_bodies_insert_values_as_json() {
    let mut c = ann();
    c.fields.insert("first_name".into(), json!("Ann \"B\""));
    let flow = line(
        json!([{"id": "crm", "type": "webhook", "url": "https://crm.example/{{contact.first_name}}",
        "body": "{\"name\": {{contact.first_name}}, \"missing\": \"{{ data.nothing.here }}\"}"}]),
    );
    let j = Journey::start(flow, c, T0);
    let sent = j.sends()[0];
    assert_eq!(sent.to, "https://crm.example/Ann%20%22B%22");
    let Content::Webhook { body, .. } = &sent.content else {
        panic!()
    };
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["name"], "Ann \"B\"");
}

#[test]
fn an_open_that_happened_before_the_deadline_counts_even_when_applied_after_it() {
    // A backlog: the engine applies an 09:59 open at 10:05, after the 10:00 deadline.
    let mut j = Journey::start(email_then_wait(), ann(), T0);
    let open = Event {
        at: at("2026-12-30T09:59:00Z"),
        contact: "c1".into(),
        kind: "opened".into(),
        message: Some("t1.hello".into()),
        tag: None,
        list: None,
        data: Default::default(),
    };
    assert_eq!(
        j.input(Input::Event(&open), "2026-12-30T10:05:00Z"),
        ["read event message=t1.hello type=opened", "done exited"]
    );
}
