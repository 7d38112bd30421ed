//! The demo contacts' past, written through the same use cases as the API: tag definitions
//! with lifetimes, tags added one to five times over the past months (each addition through
//! [`contacts::add_tag`] on a clock set to its day, so counts, dates, expiry and the contact's
//! journal are what the service itself would have written), the `contract` record type and
//! contracts, and saved segments over all of it. Seeded: every demo is the same.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use super::Loaded;
use crate::clock::ManualClock;
use crate::service::records::{self, Named};
use crate::service::segments::{self, Draft};
use crate::service::{Services, contacts};
use crate::store::tags::Source;

/// Tags the demo gives: name, lifetime, the share of contacts (in 1/100) given it, the most
/// times it is added, and the most days ago it was last added.
const TAGS: [(&str, Option<&str>, u64, u64, u64); 4] = [
    ("pricing", None, 45, 5, 14),
    ("webinar", Some("90d"), 30, 3, 150),
    ("trial", Some("30d"), 20, 2, 90),
    ("vip", None, 8, 1, 300),
];

const PLANS: [&str; 3] = ["basic", "pro", "team"];

/// A small seeded generator (splitmix64): the same demo every time.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The services with their clock at `at`: a use case called through them dates what it writes
/// then.
fn on(s: &Services, at: DateTime<Utc>) -> Services {
    let mut dated = s.clone();
    dated.clock = Arc::new(ManualClock::new(at));
    dated
}

/// Writes the contacts' past: `contacts` are their (internal, external) ids, index = sample
/// number (customers are those whose number is not 1 modulo 3).
pub(super) async fn load(s: &Services, contacts: &[(i64, String)], loaded: &mut Loaded) -> anyhow::Result<()> {
    let now = s.clock.now();
    for (tag, lifetime, _, _, _) in TAGS {
        let about = format!("demo tag: {tag}");
        contacts::define_tag(s, tag, lifetime, Some(&about)).await?;
    }
    let mut rng = Seeded(0xCA1_2026);
    let source = Source {
        kind: "form".into(),
        reference: Some("demo".into()),
    };
    for (_, external) in contacts {
        for (tag, _, share, most, recent) in TAGS {
            if rng.below(100) >= share {
                continue;
            }
            let times = 1 + rng.below(most);
            let last = now - TimeDelta::days(rng.below(recent) as i64) - TimeDelta::minutes(1 + rng.below(600) as i64);
            let spread = 1 + rng.below(60);
            // Oldest first, `spread` days apart, so the last addition is the latest date.
            for k in (0..times).rev() {
                let at = last - TimeDelta::days((k * spread) as i64);
                contacts::add_tag(&on(s, at), external, tag, source.clone()).await?;
                loaded.tags_added += 1;
            }
        }
    }
    loaded.records = contracts(s, contacts, &mut rng).await?;
    loaded.segments = saved_segments(s).await?;
    Ok(())
}

/// The `contract` record type, and a contract for about half the customers: most active,
/// ending between a month ago and half a year from now.
async fn contracts(s: &Services, contacts: &[(i64, String)], rng: &mut Seeded) -> anyhow::Result<usize> {
    let fields: Map<String, Value> = [("status", "text"), ("end_date", "date"), ("plan", "text")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let about = Some("A customer's contract (demo)".to_string());
    records::define_type(s, "contract", fields, about).await?;
    let now = s.clock.now();
    let mut written = 0;
    for (i, (_, external)) in contacts.iter().enumerate() {
        if i % 3 == 1 || rng.below(2) == 0 {
            continue;
        }
        let ends = now + TimeDelta::days(rng.below(210) as i64 - 30);
        let status = if ends < now || rng.below(10) == 0 {
            "ended"
        } else {
            "active"
        };
        let body = json!({
            "status": status,
            "end_date": ends.date_naive().to_string(),
            "plan": PLANS[rng.below(PLANS.len() as u64) as usize],
        });
        let id = format!("k-{external}");
        records::put(
            s,
            external,
            Named {
                kind: "contract",
                id: &id,
            },
            body,
        )
        .await?;
        written += 1;
    }
    Ok(written)
}

/// Saved segments over the demo's tags, lists, records and message history.
async fn saved_segments(s: &Services) -> anyhow::Result<Vec<String>> {
    let drafts = [
        (
            "Recent interest",
            "Looked at pricing at least twice, the last time this week, and is not a customer yet",
            json!({"all": [
                {"tag": {"name": "pricing", "last_added": {"within": "7d"}, "count": {"gte": 2}}},
                {"not": {"list": {"name": "customers"}}}]}),
        ),
        (
            "Contracts ending soon",
            "An active contract ends within 30 days",
            json!({"records": {"type": "contract", "any": {"all": [
                {"field": {"path": "status", "op": "eq", "value": "active"}},
                {"field": {"path": "end_date", "op": "within_next", "value": "30d"}}]}}}),
        ),
        (
            "Engaged",
            "Opened an email in the last 30 days",
            json!({"message": {"event": "opened", "channel": "email", "when": {"within": "30d"}}}),
        ),
        (
            "Trial ran out",
            "Had the 30-day trial tag; it has expired",
            json!({"tag": {"name": "trial", "active": false}}),
        ),
    ];
    let mut names = Vec::with_capacity(drafts.len());
    for (name, description, condition) in drafts {
        let draft = Draft {
            name: name.to_string(),
            condition,
            description: Some(description.to_string()),
        };
        names.push(segments::create(s, draft).await?.name);
    }
    Ok(names)
}
