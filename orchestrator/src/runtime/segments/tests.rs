//! The index answers as the evaluator does: random contacts and conditions, answered by the
//! index (postings, then the evaluator on the candidates) and by evaluating every contact,
//! agree — also after contacts change and are erased.

use chrono::{DateTime, TimeDelta, Utc};
use flows::Contact;
use flows::condition::{Condition, parse_condition};
use flows::contact::{MessageFact, Record, TagFact};
use serde_json::{Value, json};

use super::{Index, answer};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const TAGS: [&str; 4] = ["pricing", "vip", "trial", "churned"];
const LISTS: [&str; 3] = ["customers", "newsletter", "beta"];
const SPANS: [&str; 4] = ["1d", "7d", "30d", "90d"];

fn now() -> DateTime<Utc> {
    "2026-06-15T12:00:00Z".parse().unwrap()
}

fn days(rng: &mut Rng, back: i64, ahead: i64) -> DateTime<Utc> {
    now() + TimeDelta::hours(rng.below(((back + ahead) * 24) as u64) as i64 - back * 24)
}

fn random_contact(rng: &mut Rng, n: usize) -> Contact {
    let mut c = Contact::new(format!("c{n}"));
    if rng.below(2) == 0 {
        c.email = Some(format!("c{n}@example.com"));
    }
    c.fields.insert("orders".into(), json!(rng.below(20)));
    for tag in TAGS {
        if rng.below(2) == 0 {
            let first = days(rng, 200, 0);
            let last = first + TimeDelta::hours(rng.below(24 * 60) as i64);
            let fact = TagFact {
                count: 1 + rng.below(4) as u32,
                first_added_at: Some(first),
                last_added_at: Some(last.min(now())),
                expires_at: (rng.below(2) == 0).then(|| days(rng, 10, 40)),
                active: rng.below(3) > 0,
                source: None,
            };
            c.tags.set(tag.into(), fact);
        }
    }
    for list in LISTS {
        if rng.below(2) == 0 {
            let fact = flows::contact::ListFact {
                added_at: Some(days(rng, 100, 0)),
                source: None,
            };
            c.lists.set(list.into(), fact);
        }
    }
    let contracts: Vec<Record> = (0..rng.below(4))
        .map(|i| {
            let mut r = Record {
                id: format!("k{i}"),
                ..Record::default()
            };
            let status = match rng.below(6) {
                0 => json!(1),
                1 => json!(true),
                _ => json!(rng.pick(&["active", "ended", "1", "yes", ""])),
            };
            r.fields.insert("status".into(), status);
            let end = days(rng, 60, 60);
            let end = match rng.below(4) {
                // On the bounds conditions name.
                3 => json!(rng.pick(&["2026-06-20", "2026-06-15T12:00:00Z", "2026-06-15T12:00:00.5Z"])),
                0 => json!(end.date_naive().to_string()),
                // To the nanosecond: bounds are compared exactly.
                1 => json!((end + TimeDelta::nanoseconds(rng.below(1_000_000_000) as i64)).to_rfc3339()),
                _ => json!(end.to_rfc3339()),
            };
            r.fields.insert("end_date".into(), end);
            r
        })
        .collect();
    if !contracts.is_empty() {
        c.records.insert("contract".into(), contracts);
    }
    for _ in 0..rng.below(3) {
        let sent = days(rng, 30, 0);
        c.messages.push(MessageFact {
            flow: rng.pick(&["welcome", "offer"]).into(),
            node: "mail".into(),
            channel: if rng.below(4) == 0 {
                flows::Channel::Sms
            } else {
                flows::Channel::Email
            },
            sent_at: sent,
            opened_at: (rng.below(2) == 0).then(|| sent + TimeDelta::hours(rng.below(48) as i64)),
            clicked_at: (rng.below(4) == 0).then(|| sent + TimeDelta::hours(rng.below(72) as i64)),
        });
    }
    c
}

fn date_test(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => json!({"within": rng.pick(&SPANS)}),
        1 => json!({"before": rng.pick(&SPANS)}),
        2 => json!({"after": "2026-03-01"}),
        _ => json!({"within_next": rng.pick(&SPANS)}),
    }
}

fn random_condition(rng: &mut Rng, depth: u32) -> Value {
    let leaf = depth == 0 || rng.below(3) == 0;
    if !leaf {
        let items: Vec<Value> = (0..1 + rng.below(3))
            .map(|_| random_condition(rng, depth - 1))
            .collect();
        return match rng.below(3) {
            0 => json!({"all": items}),
            1 => json!({"any": items}),
            _ => json!({"not": items[0]}),
        };
    }
    match rng.below(8) {
        0 => json!({"has_tag": rng.pick(&TAGS)}),
        1 => {
            let mut t = json!({"name": rng.pick(&TAGS)});
            if rng.below(2) == 0 {
                t["count"] = json!({"gte": rng.below(4)});
            }
            if rng.below(2) == 0 {
                t["last_added"] = date_test(rng);
            }
            if rng.below(4) == 0 {
                t["active"] = json!(false);
            }
            json!({"tag": t})
        }
        2 => json!({"in_list": rng.pick(&LISTS)}),
        3 => json!({"list": {"name": rng.pick(&LISTS), "added": date_test(rng)}}),
        4 => {
            let value = rng.pick(&["active", "ended", "1", "yes", "", "true"]);
            let status = json!({"field": {"path": "status", "op": "eq", "value": value}});
            let op = rng.pick(&["within_next", "within_last", "before", "after"]);
            let bound = if op.starts_with("within") {
                rng.pick(&["30d", "7d", "1h"])
            } else {
                rng.pick(&["30d", "2026-06-20", "2026-06-15T12:00:00Z", "2026-06-15T12:00:00.5Z"])
            };
            let ending = json!({"field": {"path": "end_date", "op": op, "value": bound}});
            let inner = match rng.below(4) {
                0 => json!({"all": [status, ending]}),
                1 => json!({"any": [status, ending]}),
                2 => json!({"all": [{"not": status}, ending]}),
                _ => json!({"all": [status, {"field": {"path": "end_date", "op": "exists"}}]}),
            };
            match rng.below(5) {
                0 | 4 => json!({"records": {"type": "contract", "any": inner}}),
                1 => json!({"records": {"type": "contract", "none": inner}}),
                2 => json!({"records": {"type": "contract", "any": ending, "count": {"lt": 2}}}),
                _ => json!({"records": {"type": "contract"}}),
            }
        }
        5 => {
            let mut m = json!({"event": rng.pick(&["sent", "opened", "clicked"])});
            if rng.below(2) == 0 {
                m["when"] = date_test(rng);
            }
            if rng.below(3) == 0 {
                m["channel"] = json!("email");
            }
            if rng.below(4) == 0 {
                m["count"] = json!({"lte": 1});
            }
            json!({"message": m})
        }
        6 => json!({"field": {"path": "orders", "op": "gte", "value": rng.below(20)}}),
        _ => json!({"field": {"path": "email", "op": "exists"}}),
    }
}

fn brute_force(contacts: &[Option<Contact>], c: &Condition) -> (u64, Vec<u32>) {
    let matching: Vec<u32> = contacts
        .iter()
        .enumerate()
        .filter(|(_, contact)| contact.as_ref().is_some_and(|x| c.matches(x, now())))
        .map(|(i, _)| i as u32)
        .collect();
    (matching.len() as u64, matching.into_iter().take(10).collect())
}

fn agree(index: &Index, contacts: &[Option<Contact>], rng: &mut Rng, rounds: usize) {
    for _ in 0..rounds {
        let value = random_condition(rng, 3);
        let condition = parse_condition(value.clone()).unwrap_or_else(|p| panic!("{value}: {p:?}"));
        let found = answer(index, &condition, now(), 10);
        assert_eq!((found.count, found.first), brute_force(contacts, &condition), "{value}");
    }
}

#[test]
fn the_index_answers_as_evaluating_every_contact_does_before_and_after_changes() {
    let mut rng = Rng(7);
    let mut contacts: Vec<Option<Contact>> = vec![None];
    let mut index = Index::default();
    for n in 1..400 {
        let c = random_contact(&mut rng, n);
        index.put(n as u32, &c);
        contacts.push(Some(c));
    }
    agree(&index, &contacts, &mut rng, 400);
    for _ in 0..200 {
        let n = 1 + rng.below(399) as usize;
        if rng.below(4) == 0 {
            index.remove(n as u32);
            contacts[n] = None;
        } else {
            let c = random_contact(&mut rng, n);
            index.put(n as u32, &c);
            contacts[n] = Some(c);
        }
    }
    assert_eq!(index.len(), contacts.iter().flatten().count() as u64);
    agree(&index, &contacts, &mut rng, 400);
}

#[test]
fn postings_narrow_a_selective_question_to_few_contacts() {
    let mut rng = Rng(11);
    let mut index = Index::default();
    for n in 1..1000 {
        index.put(n, &random_contact(&mut rng, n as usize));
    }
    let condition = parse_condition(json!({"all": [
        {"tag": {"name": "pricing", "count": {"gte": 2}}},
        {"message": {"event": "opened", "when": {"within": "1d"}}}
    ]}))
    .unwrap();
    let found = answer(&index, &condition, now(), 10);
    assert!(found.evaluated < 100, "evaluated {} of 999", found.evaluated);
}

#[test]
fn a_date_on_the_bound_of_a_test_is_in_or_out_as_the_evaluator_says() {
    let ends = [
        "2026-06-15T12:00:00Z",
        "2026-06-15T12:00:00.5Z",
        "2026-06-15",
        "2026-07-15T12:00:00Z",
    ];
    let mut contacts: Vec<Option<Contact>> = vec![None];
    let mut index = Index::default();
    for (n, end) in ends.iter().enumerate() {
        let mut c = Contact::new(format!("c{n}"));
        let mut r = Record {
            id: "k".into(),
            ..Record::default()
        };
        r.fields.insert("end_date".into(), json!(end));
        c.records.insert("contract".into(), vec![r]);
        index.put(n as u32 + 1, &c);
        contacts.push(Some(c));
    }
    for op in ["before", "after", "within_next", "within_last"] {
        let bounds: &[&str] = if op.starts_with("within") {
            &["30d", "0s"]
        } else {
            &ends
        };
        for bound in bounds {
            let value = json!({"records": {"type": "contract", "any": {"field": {"path": "end_date", "op": op, "value": bound}}}});
            let condition = parse_condition(value.clone()).unwrap();
            let found = answer(&index, &condition, now(), 10);
            assert_eq!(
                (found.count, found.first),
                brute_force(&contacts, &condition),
                "{value}"
            );
            assert_eq!(found.evaluated, 0, "{value}: the postings say exactly who");
        }
    }
}
