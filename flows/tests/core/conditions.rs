//! Conditions on a contact's facts: tags that remember, lists with their dates, related records
//! and dates in fields; their strict reading; and a property test against a reference evaluator.

use chrono::{DateTime, TimeDelta, Utc};
use flows::condition::{Condition, parse_condition};
use flows::contact::{Record, TagFact};
use flows::{Contact, ContactPatch};
use serde_json::{Map, Value, json};

/// The instant every condition here is evaluated at.
const NOW: &str = "2026-06-15T12:00:00Z";

fn now() -> DateTime<Utc> {
    NOW.parse().unwrap()
}

fn days_ago(d: i64) -> String {
    (now() - TimeDelta::days(d)).to_rfc3339()
}

fn days_ahead(d: i64) -> String {
    (now() + TimeDelta::days(d)).to_rfc3339()
}

/// A contact read from a contacts-file object, as `cairn simulate` reads it.
fn contact(object: Value) -> Contact {
    let Value::Object(map) = object else {
        panic!("an object")
    };
    ContactPatch::parse_with_facts(map)
        .unwrap_or_else(|p| panic!("{p:?}"))
        .into()
}

fn condition(value: Value) -> Condition {
    parse_condition(value).unwrap_or_else(|p| panic!("{p:?}"))
}

fn holds(c: &Contact, cond: Value) -> bool {
    condition(cond).matches(c, now())
}

/// Ann: tagged `pricing` twice (40 and 3 days ago), `vip` by name only, `trial` once and
/// removed; in `newsletter` since 10 days ago; two contracts.
fn ann() -> Contact {
    contact(json!({
        "id": "ann",
        "tags": [
            "vip",
            {"tag": "pricing", "count": 2, "first_added_at": days_ago(40), "last_added_at": days_ago(3),
             "source": {"kind": "flow", "ref": "welcome"}},
            {"tag": "trial", "first_added_at": days_ago(100), "active": false},
            {"tag": "beta", "last_added_at": days_ago(1), "expires_at": days_ahead(2)}
        ],
        "lists": ["newsletter"],
        "records": {"contract": [
            {"id": "k1", "status": "active", "end_date": days_ahead(20)[..10].to_string(), "value": 1200},
            {"id": "k2", "status": "ended", "end_date": "2025-01-31", "value": "300"}
        ]}
    }))
}

fn tag(body: Value) -> Value {
    json!({"tag": body})
}

#[test]
fn a_tag_given_by_name_is_active_counted_once_and_undated() {
    let c = ann();
    assert!(holds(&c, tag(json!({"name": "vip"}))));
    assert!(holds(&c, tag(json!({"name": "vip", "count": {"eq": 1}}))));
    assert!(!holds(
        &c,
        tag(json!({"name": "vip", "last_added": {"within": "3650d"}}))
    ));
    assert!(!holds(&c, tag(json!({"name": "vip", "last_added": {"before": "1d"}}))));
    assert!(holds(&c, json!({"has_tag": "vip"})));
}

#[test]
fn a_tag_never_given_passes_no_tag_test_active_or_not() {
    let c = ann();
    assert!(!holds(&c, tag(json!({"name": "nope"}))));
    assert!(!holds(&c, tag(json!({"name": "nope", "active": false}))));
    assert!(holds(&c, json!({"not": {"tag": {"name": "nope"}}})));
}

#[test]
fn a_removed_tag_is_inactive_but_remembers_its_count() {
    let c = ann();
    assert!(!holds(&c, tag(json!({"name": "trial"}))));
    assert!(!holds(&c, json!({"has_tag": "trial"})));
    assert!(holds(
        &c,
        tag(json!({"name": "trial", "active": false, "count": {"eq": 1}}))
    ));
    assert!(!holds(&c, tag(json!({"name": "pricing", "active": false}))));
}

#[test]
fn every_count_operator_compares_the_times_a_tag_was_added() {
    let c = ann();
    let cases = [
        ("gte", 2, true),
        ("gte", 3, false),
        ("gt", 1, true),
        ("gt", 2, false),
        ("lte", 2, true),
        ("lte", 1, false),
        ("lt", 3, true),
        ("lt", 2, false),
        ("eq", 2, true),
        ("eq", 1, false),
    ];
    for (op, n, expected) in cases {
        let cond = tag(json!({"name": "pricing", "count": {op: n}}));
        assert_eq!(holds(&c, cond), expected, "count {op} {n}");
    }
    assert!(holds(&c, tag(json!({"name": "pricing", "count": {"gt": 1, "lt": 3}}))));
}

#[test]
fn within_a_span_includes_its_bounds_and_nothing_older() {
    let c = contact(json!({"id": "c", "tags": [{"tag": "t", "last_added_at": days_ago(7)}]}));
    assert!(holds(&c, tag(json!({"name": "t", "last_added": {"within": "7d"}}))));
    assert!(!holds(&c, tag(json!({"name": "t", "last_added": {"within": "6d"}}))));
    let just_older = (now() - TimeDelta::days(7) - TimeDelta::seconds(1)).to_rfc3339();
    let c = contact(json!({"id": "c", "tags": [{"tag": "t", "last_added_at": just_older}]}));
    assert!(!holds(&c, tag(json!({"name": "t", "last_added": {"within": "7d"}}))));
}

#[test]
fn before_a_span_means_longer_ago_than_it_strictly() {
    let c = ann();
    // pricing was first added 40 days ago, last 3 days ago.
    assert!(holds(
        &c,
        tag(json!({"name": "pricing", "first_added": {"before": "30d"}}))
    ));
    assert!(!holds(
        &c,
        tag(json!({"name": "pricing", "first_added": {"before": "40d"}}))
    ));
    assert!(holds(
        &c,
        tag(json!({"name": "pricing", "first_added": {"before": "39d"}}))
    ));
    assert!(!holds(
        &c,
        tag(json!({"name": "pricing", "last_added": {"before": "30d"}}))
    ));
}

#[test]
fn after_a_span_means_more_recently_than_it_strictly() {
    let c = ann();
    assert!(holds(
        &c,
        tag(json!({"name": "pricing", "last_added": {"after": "4d"}}))
    ));
    assert!(!holds(
        &c,
        tag(json!({"name": "pricing", "last_added": {"after": "3d"}}))
    ));
}

#[test]
fn absolute_dates_bound_a_tag_on_either_side() {
    let c = contact(
        json!({"id": "c", "tags": [{"tag": "t", "first_added_at": "2026-01-01T00:00:00Z",
                                                  "last_added_at": "2026-03-10T08:00:00Z"}]}),
    );
    assert!(holds(
        &c,
        tag(json!({"name": "t", "last_added": {"after": "2026-03-10"}}))
    ));
    assert!(!holds(
        &c,
        tag(json!({"name": "t", "last_added": {"after": "2026-03-11"}}))
    ));
    assert!(holds(
        &c,
        tag(json!({"name": "t", "last_added": {"before": "2026-03-11"}}))
    ));
    assert!(!holds(
        &c,
        tag(json!({"name": "t", "last_added": {"before": "2026-03-10"}}))
    ));
    // first added exactly at midnight: neither strictly after nor strictly before that date.
    assert!(!holds(
        &c,
        tag(json!({"name": "t", "first_added": {"after": "2026-01-01"}}))
    ));
    assert!(!holds(
        &c,
        tag(json!({"name": "t", "first_added": {"before": "2026-01-01"}}))
    ));
    assert!(holds(
        &c,
        tag(json!({"name": "t", "first_added": {"after": "2025-12-31T23:59:59Z"}}))
    ));
    assert!(holds(
        &c,
        tag(json!({"name": "t", "last_added": {"after": "2026-03-01", "before": "2026-04-01"}}))
    ));
}

#[test]
fn a_tag_expiring_within_the_next_span_matches_until_the_bound() {
    let c = ann();
    // beta expires in 2 days.
    assert!(holds(
        &c,
        tag(json!({"name": "beta", "expires": {"within_next": "3d"}}))
    ));
    assert!(holds(
        &c,
        tag(json!({"name": "beta", "expires": {"within_next": "2d"}}))
    ));
    assert!(!holds(
        &c,
        tag(json!({"name": "beta", "expires": {"within_next": "1d"}}))
    ));
    assert!(!holds(
        &c,
        tag(json!({"name": "pricing", "expires": {"within_next": "3650d"}}))
    ));
}

#[test]
fn a_list_matches_by_name_and_by_when_it_was_joined() {
    let mut c = ann();
    assert!(holds(&c, json!({"list": {"name": "newsletter"}})));
    assert!(holds(&c, json!({"in_list": "newsletter"})));
    assert!(!holds(&c, json!({"list": {"name": "customers"}})));
    // Joined by name only: no date is known.
    assert!(!holds(
        &c,
        json!({"list": {"name": "newsletter", "added": {"within": "30d"}}})
    ));
    let joined = flows::contact::ListFact {
        added_at: Some(now() - TimeDelta::days(10)),
        source: None,
    };
    c.lists.set("newsletter".into(), joined);
    assert!(holds(
        &c,
        json!({"list": {"name": "newsletter", "added": {"within": "10d"}}})
    ));
    assert!(!holds(
        &c,
        json!({"list": {"name": "newsletter", "added": {"within": "9d"}}})
    ));
    assert!(holds(
        &c,
        json!({"list": {"name": "newsletter", "added": {"before": "9d"}}})
    ));
}

#[test]
fn records_match_when_any_all_or_none_of_them_pass() {
    let c = ann();
    let active = json!({"field": {"path": "status", "op": "eq", "value": "active"}});
    let records = |body: Value| json!({"records": body});
    assert!(holds(&c, records(json!({"type": "contract"}))));
    assert!(!holds(&c, records(json!({"type": "order"}))));
    assert!(holds(&c, records(json!({"type": "contract", "any": active}))));
    assert!(!holds(&c, records(json!({"type": "contract", "all": active}))));
    assert!(!holds(&c, records(json!({"type": "contract", "none": active}))));
    let valued = json!({"field": {"path": "value", "op": "gte", "value": 300}});
    assert!(holds(&c, records(json!({"type": "contract", "all": valued}))));
    assert!(holds(&c, records(json!({"type": "order", "none": active}))));
    assert!(!holds(&c, records(json!({"type": "order", "all": active}))));
    assert!(holds(
        &c,
        records(json!({"type": "contract", "any": {"field": {"path": "id", "op": "eq", "value": "k2"}}}))
    ));
}

#[test]
fn records_count_the_ones_that_pass() {
    let c = ann();
    let active = json!({"field": {"path": "status", "op": "eq", "value": "active"}});
    let count = |any: Option<&Value>, n: Value| {
        let mut body = json!({"type": "contract", "count": n});
        if let Some(a) = any {
            body["any"] = a.clone();
        }
        holds(&c, json!({"records": body}))
    };
    assert!(count(None, json!({"gte": 2})));
    assert!(!count(None, json!({"gte": 3})));
    assert!(count(Some(&active), json!({"eq": 1})));
    assert!(!count(Some(&active), json!({"gte": 2})));
    assert!(count(Some(&active), json!({"lt": 2})));
}

/// Bea: the welcome e-mail 10 days ago, opened 5 days ago and never clicked; a reminder SMS
/// yesterday.
fn bea() -> Contact {
    contact(json!({
        "id": "bea",
        "messages": [
            {"flow": "welcome", "node": "mail", "channel": "email", "sent_at": days_ago(10),
             "opened_at": days_ago(5)},
            {"flow": "reminder", "node": "sms", "channel": "sms", "sent_at": days_ago(1)}
        ]
    }))
}

#[test]
fn message_history_matches_by_event_flow_node_channel_and_when() {
    let c = bea();
    let message = |body: Value| holds(&c, json!({"message": body}));
    assert!(message(json!({"event": "sent"})));
    assert!(message(
        json!({"event": "opened", "channel": "email", "when": {"within": "7d"}})
    ));
    assert!(!message(json!({"event": "opened", "when": {"within": "3d"}})));
    assert!(!message(json!({"event": "clicked"})));
    assert!(message(
        json!({"event": "sent", "flow": "reminder", "node": "sms", "when": {"within": "2d"}})
    ));
    assert!(!message(json!({"event": "sent", "flow": "welcome", "channel": "sms"})));
    assert!(message(json!({"event": "sent", "count": {"eq": 2}})));
    assert!(message(
        json!({"event": "sent", "when": {"before": "7d"}, "count": {"eq": 1}})
    ));
    assert!(!holds(&ann(), json!({"message": {"event": "sent"}})));
}

#[test]
fn a_saved_segment_is_replaced_by_its_condition_and_loops_are_refused() {
    let saved = |name: &str| match name {
        "vip" => Some(condition(json!({"has_tag": "vip"}))),
        "loyal" => Some(condition(
            json!({"all": [{"segment": "vip"}, {"in_list": "newsletter"}]}),
        )),
        "a" => Some(condition(json!({"segment": "b"}))),
        "b" => Some(condition(json!({"not": {"segment": "a"}}))),
        _ => None,
    };
    let loyal = condition(json!({"segment": "loyal"})).resolve(&saved).unwrap();
    assert!(loyal.matches(&ann(), now()));
    assert!(!loyal.matches(&bea(), now()));
    assert_eq!(condition(json!({"segment": "loyal"})).segments(), ["loyal"]);
    let unknown = condition(json!({"any": [{"segment": "nobody"}]})).resolve(&saved);
    assert_eq!(unknown.unwrap_err(), "no segment is named or numbered 'nobody'");
    let looped = condition(json!({"segment": "a"})).resolve(&saved).unwrap_err();
    assert_eq!(looped, "segments include each other: a → b → a");
    assert!(
        !condition(json!({"segment": "vip"})).matches(&ann(), now()),
        "unresolved, it holds for no one"
    );
}

#[test]
fn a_message_history_in_a_contacts_file_is_read_strictly() {
    let Value::Object(map) =
        json!({"id": "x", "messages": [{"flow": "f", "node": "n", "channel": "fax", "sent_at": NOW}]})
    else {
        unreachable!()
    };
    let problems = ContactPatch::parse_with_facts(map).unwrap_err();
    assert_eq!(problems[0].field, "messages[0].channel", "{problems:?}");
}

#[test]
fn dates_in_fields_are_tested_within_the_next_or_last_span_and_before_or_after() {
    let c = contact(
        json!({"id": "c", "renewal": days_ahead(30), "signed": days_ago(30), "plan": "gold",
                            "birthday": "1990-04-01"}),
    );
    let field = |path: &str, op: &str, value: &str| json!({"field": {"path": path, "op": op, "value": value}});
    assert!(holds(&c, field("renewal", "within_next", "30d")));
    assert!(!holds(&c, field("renewal", "within_next", "29d")));
    assert!(!holds(&c, field("renewal", "within_last", "30d")));
    assert!(holds(&c, field("signed", "within_last", "30d")));
    assert!(!holds(&c, field("signed", "within_last", "29d")));
    assert!(!holds(&c, field("signed", "within_next", "30d")));
    assert!(holds(&c, field("signed", "before", "29d")));
    assert!(!holds(&c, field("signed", "before", "30d")));
    assert!(holds(&c, field("signed", "after", "31d")));
    assert!(!holds(&c, field("signed", "after", "30d")));
    assert!(holds(&c, field("birthday", "before", "1990-04-02")));
    assert!(!holds(&c, field("birthday", "before", "1990-04-01")));
    assert!(holds(&c, field("birthday", "after", "1990-03-31T23:59:59Z")));
    assert!(!holds(&c, field("birthday", "after", "1990-04-01")));
}

#[test]
fn a_field_that_is_not_a_date_passes_no_date_test() {
    let c = contact(json!({"id": "c", "plan": "gold", "score": 20260101}));
    for op in ["within_next", "within_last", "before", "after"] {
        for path in ["plan", "score", "absent"] {
            let cond = json!({"field": {"path": path, "op": op, "value": "3650d"}});
            assert!(!holds(&c, cond), "{path} {op}");
        }
    }
}

#[test]
fn the_issues_example_reads_as_it_says() {
    // Tagged `pricing` in the last 7 days, at least twice, with an active contract ending
    // within 30 days, not in the list `customers`.
    let example = json!({"all": [
        {"tag": {"name": "pricing", "last_added": {"within": "7d"}, "count": {"gte": 2}}},
        {"records": {"type": "contract", "any": {"all": [
            {"field": {"path": "status", "op": "eq", "value": "active"}},
            {"field": {"path": "end_date", "op": "within_next", "value": "30d"}}
        ]}}},
        {"not": {"list": {"name": "customers"}}}
    ]});
    let mut c = ann();
    assert!(holds(&c, example.clone()));
    c.lists.insert("customers".into());
    assert!(!holds(&c, example.clone()));
    c.lists.remove("customers");
    c.records.get_mut("contract").unwrap()[0]
        .fields
        .insert("status".into(), json!("ended"));
    assert!(!holds(&c, example));
}

#[test]
fn a_tag_added_earlier_in_the_same_step_counts_once_more_at_that_instant() {
    let flow = flows::compile::compile_value(json!({
        "format": "cairn.flow/v1", "name": "Same step",
        "nodes": [
            {"id": "start", "type": "webhook_entry"},
            {"id": "add", "type": "add_tag", "tag": "pricing"},
            {"id": "check", "type": "branch", "condition": {"tag": {"name": "pricing", "count": {"gte": 3},
                "last_added": {"within": "1s"}, "first_added": {"before": "30d"}}}},
            {"id": "hot", "type": "exit"}, {"id": "cold", "type": "exit"}
        ],
        "edges": [{"from": "start", "to": "add"}, {"from": "add", "to": "check"},
                  {"from": "check", "to": "hot", "when": "yes"}, {"from": "check", "to": "cold", "when": "no"}]
    }))
    .unwrap_or_else(|p| panic!("{p}"));
    let c = ann();
    let token = flows::Token::new("t1", "ann", "start", Map::new(), now());
    let cx = flows::Context {
        now: now(),
        contact: &c,
        policy: &flows::Policy::default(),
        history: &flows::History::default(),
    };
    let t = flows::step(&flow, &token, flows::Input::Wake, &cx);
    assert_eq!(t.token.node, "hot");
}

#[test]
fn a_contact_whose_tags_change_keeps_counts_and_dates() {
    let mut c = ann();
    let later = now() + TimeDelta::days(1);
    c.apply_at(&flows::Effect::RemoveTag { tag: "pricing".into() }, now(), None);
    c.apply_at(&flows::Effect::AddTag { tag: "pricing".into() }, later, None);
    let fact = c.tags.get("pricing").unwrap();
    assert_eq!((fact.count, fact.active), (3, true));
    assert_eq!(fact.last_added_at, Some(later));
    assert_eq!(fact.first_added_at, Some(now() - TimeDelta::days(40)));
    assert_eq!(c.tags.iter().collect::<Vec<_>>(), ["beta", "pricing", "vip"]);
}

#[test]
fn misspelled_keys_and_bad_values_are_refused_where_they_are() {
    let problem = |value: Value| {
        let found = parse_condition(value).unwrap_err();
        (found[0].field.clone(), found[0].message.clone())
    };
    let (field, message) = problem(json!({"all": [{"has_tag": "x"}, {"tag": {"name": "p", "count": {"gte": -1}}}]}));
    assert_eq!(field, "condition.all[1].tag.count.gte", "{message}");
    let (field, message) = problem(json!({"tag": {"name": "p", "cuont": {"gte": 1}}}));
    assert_eq!(field, "condition.tag.cuont", "{message}");
    assert!(message.contains("unknown field"), "{message}");
    let (field, _) = problem(json!({"tag": {"name": "p", "last_added": {"withn": "7d"}}}));
    assert_eq!(field, "condition.tag.last_added.withn");
    let (field, message) = problem(json!({"tag": {"name": "p", "last_added": {"within": "7 days"}}}));
    assert_eq!(field, "condition.tag.last_added.within", "{message}");
    let (field, _) = problem(json!({"list": {"name": "c", "added": {"before": "soon"}}}));
    assert_eq!(field, "condition.list.added.before");
    let (field, _) = problem(json!({"tags": {"name": "p"}}));
    assert_eq!(field, "condition");
    let (field, _) = problem(json!({"field": {"path": "end", "op": "within_next", "value": "2026-01-01"}}));
    assert_eq!(field, "condition.field.value");
    let (field, _) = problem(json!({"records": {"type": "contract", "any": {"has_tag": "vip"}}}));
    assert_eq!(field, "condition.records.any.has_tag");
    let (field, _) =
        problem(json!({"records": {"type": "contract", "any": {"field": {"path": "contact.x", "op": "exists"}}}}));
    assert_eq!(field, "condition.records.any.field.path");
    let (field, _) = problem(json!({"tag": {"name": "p", "count": {}}}));
    assert_eq!(field, "condition.tag.count");
    let (field, _) = problem(json!({"tag": {"name": "p", "first_added": {}}}));
    assert_eq!(field, "condition.tag.first_added");
    let (field, _) = problem(json!({"records": {"type": "c", "any": {"has_tag": "x"}, "none": {"has_tag": "y"}}}));
    assert_eq!(field, "condition.records");
    // Tag, list and record type names need not exist anywhere.
    assert!(parse_condition(json!({"tag": {"name": "never-seen"}})).is_ok());
}

#[test]
fn a_condition_reads_back_as_it_was_written() {
    // Spans read back in their plain form ("7d" as "1w"), so these are written plainly.
    let written = json!({"all": [
        {"tag": {"name": "pricing", "count": {"gte": 2}, "last_added": {"within": "3d", "after": "2026-01-01"}}},
        {"records": {"type": "contract", "none": {"field": {"path": "end_date", "op": "before", "value": "30d"}}}},
        {"list": {"name": "customers", "added": {"before": "2026-01-01T10:30:00Z"}}}
    ]});
    let c = condition(written.clone());
    assert_eq!(serde_json::to_value(&c).unwrap(), written);
}

// --- property test: random contacts × random conditions against a reference evaluation ---

/// A small, seeded generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const TAGS: [&str; 3] = ["a", "b", "c"];
const LISTS: [&str; 2] = ["l1", "l2"];
const STATUSES: [&str; 2] = ["active", "ended"];

fn random_contact(rng: &mut Rng) -> Contact {
    let mut c = Contact::new("r");
    for name in TAGS {
        if rng.below(3) == 0 {
            continue;
        }
        let last = now() - TimeDelta::days(rng.below(60) as i64);
        let fact = TagFact {
            count: 1 + rng.below(4) as u32,
            first_added_at: Some(last - TimeDelta::days(rng.below(30) as i64)),
            last_added_at: Some(last),
            expires_at: (rng.below(2) == 0).then(|| now() + TimeDelta::days(rng.below(10) as i64)),
            active: rng.below(4) != 0,
            source: None,
        };
        c.tags.set(name.into(), fact);
    }
    for name in LISTS {
        if rng.below(2) == 0 {
            c.lists.insert(name.into());
        }
    }
    let n = rng.below(4);
    let contracts = (0..n)
        .map(|i| {
            let mut fields = Map::new();
            fields.insert("status".into(), json!(rng.pick(&STATUSES)));
            let end = now() + TimeDelta::days(rng.below(80) as i64 - 20);
            fields.insert("end_date".into(), json!(end.date_naive().to_string()));
            Record {
                id: format!("k{i}"),
                fields,
            }
        })
        .collect();
    c.records.insert("contract".into(), contracts);
    c
}

/// A random condition as JSON, depth-bounded.
fn random_condition(rng: &mut Rng, depth: u32) -> Value {
    let leaf = depth == 0 || rng.below(3) == 0;
    if !leaf {
        return match rng.below(3) {
            0 => json!({"all": [random_condition(rng, depth - 1), random_condition(rng, depth - 1)]}),
            1 => json!({"any": [random_condition(rng, depth - 1), random_condition(rng, depth - 1)]}),
            _ => json!({"not": random_condition(rng, depth - 1)}),
        };
    }
    let ops = ["gte", "gt", "lte", "lt", "eq"];
    match rng.below(6) {
        0 => json!({"has_tag": rng.pick(&TAGS)}),
        1 => json!({"tag": {"name": rng.pick(&TAGS), "count": {rng.pick(&ops): rng.below(5)}}}),
        2 => json!({"tag": {"name": rng.pick(&TAGS), "active": rng.below(2) == 0,
                            "last_added": {"within": format!("{}d", rng.below(60))}}}),
        3 => json!({"in_list": rng.pick(&LISTS)}),
        4 => {
            json!({"records": {"type": "contract", "any": {"field": {"path": "status", "op": "eq", "value": rng.pick(&STATUSES)}}}})
        }
        _ => json!({"records": {"type": "contract", "any": {"field": {"path": "end_date", "op": "within_next",
                                                                       "value": format!("{}d", rng.below(40))}}}}),
    }
}

/// The reference: the meaning of each generated form, spelled out plainly.
fn reference(c: &Contact, cond: &Value) -> bool {
    let (key, body) = cond.as_object().unwrap().iter().next().unwrap();
    let fact = |name: &Value| c.tags.get(name.as_str().unwrap());
    match key.as_str() {
        "all" => body.as_array().unwrap().iter().all(|x| reference(c, x)),
        "any" => body.as_array().unwrap().iter().any(|x| reference(c, x)),
        "not" => !reference(c, body),
        "has_tag" => fact(body).is_some_and(|f| f.active),
        "in_list" => c.lists.contains(body.as_str().unwrap()),
        "tag" => {
            let Some(f) = fact(&body["name"]) else { return false };
            let want_active = body.get("active").and_then(Value::as_bool).unwrap_or(true);
            let mut ok = f.count > 0 && f.active == want_active;
            if let Some(count) = body.get("count").and_then(Value::as_object) {
                let (op, n) = count.iter().next().unwrap();
                let (have, n) = (u64::from(f.count), n.as_u64().unwrap());
                ok &= match op.as_str() {
                    "gte" => have >= n,
                    "gt" => have > n,
                    "lte" => have <= n,
                    "lt" => have < n,
                    _ => have == n,
                };
            }
            if let Some(span) = body.pointer("/last_added/within").and_then(Value::as_str) {
                let days: i64 = span.trim_end_matches('d').parse().unwrap();
                let last = f.last_added_at.unwrap();
                ok &= last >= now() - TimeDelta::days(days) && last <= now();
            }
            ok
        }
        "records" => {
            let test = &body["any"]["field"];
            c.records["contract"].iter().any(|r| {
                let value = r.fields[test["path"].as_str().unwrap()].as_str().unwrap();
                match test["op"].as_str().unwrap() {
                    "eq" => value == test["value"].as_str().unwrap(),
                    _ => {
                        let days: i64 = test["value"].as_str().unwrap().trim_end_matches('d').parse().unwrap();
                        let end = flows::time::parse_instant(value).unwrap();
                        now() <= end && end <= now() + TimeDelta::days(days)
                    }
                }
            })
        }
        other => panic!("no reference for {other}"),
    }
}

#[test]
fn random_contacts_and_conditions_agree_with_the_reference_and_not_inverts() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..3_000 {
        let c = random_contact(&mut rng);
        let value = random_condition(&mut rng, 3);
        let cond = condition(value.clone());
        let got = cond.matches(&c, now());
        assert_eq!(got, reference(&c, &value), "round {round}: {value} on {c:?}");
        let negated = condition(json!({"not": value.clone()}));
        assert_eq!(negated.matches(&c, now()), !got, "round {round}: not {value}");
        let other = random_condition(&mut rng, 2);
        let both = condition(json!({"all": [value.clone(), other.clone()]})).matches(&c, now());
        let either = condition(json!({"any": [value.clone(), other.clone()]})).matches(&c, now());
        let second = condition(other).matches(&c, now());
        assert_eq!(both, got && second, "round {round}");
        assert_eq!(either, got || second, "round {round}");
    }
}
