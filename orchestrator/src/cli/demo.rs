//! `cairn serve --demo`: loads the template journeys and a few hundred sample contacts into an
//! empty database, so a newcomer sees journeys moving at once. Does nothing if flows exist.
//!
//! The contacts come with a past ([`history`]): tags added one to five times over the past
//! months (some run out by their definitions' lifetimes), dated list memberships, contract
//! records, and saved segments that read them. All of it is seeded, so every demo is the same.

mod history;

use chrono::{Datelike, TimeDelta};
use flows::Event;
use serde_json::{Map, json};

use crate::service::Services;
use crate::store::contacts::{self, ContactInput};
use crate::store::flows as flow_store;
use crate::store::tokens::{self, NewEntry};
use crate::store::{inbox, tags};

/// The template journeys the demo loads (by name, from `flows::templates`): the journeys, not
/// the campaigns, whose audiences would enter at once.
pub const DEMO_TEMPLATES: [&str; 4] = ["welcome", "abandoned-cart", "re-engagement", "birthday"];

const SAMPLE_CONTACTS: usize = 300;
const FIRST_NAMES: [&str; 12] = [
    "Ann", "Bruno", "Chen", "Dana", "Eero", "Fatima", "Gus", "Hanna", "Ivo", "Jaan", "Kirsi", "Lauri",
];
const ZONES: [(&str, &str, &str); 6] = [
    ("Europe/Tallinn", "EE", "+3725"),
    ("Europe/Berlin", "DE", "+49151"),
    ("America/New_York", "US", "+1212555"),
    ("Asia/Kolkata", "IN", "+9198"),
    ("Australia/Sydney", "AU", "+614"),
    ("Asia/Tokyo", "JP", "+8190"),
];

/// What the demo loaded.
#[derive(Debug, Default)]
pub struct Loaded {
    pub contacts: usize,
    pub flows: Vec<(String, i64)>,
    pub entries: usize,
    pub events: usize,
    /// Tag additions dated over the past months.
    pub tags_added: usize,
    pub records: usize,
    /// The saved segments, by name.
    pub segments: Vec<String>,
}

/// Loads the demo into an empty database (`None` when it has flows), dated from the services'
/// clock.
pub async fn load(s: &Services) -> anyhow::Result<Option<Loaded>> {
    let (db, now) = (&s.db, s.clock.now());
    if flow_store::any(db).await? {
        return Ok(None);
    }
    let mut loaded = Loaded::default();
    let tx = crate::db::begin_write(db).await?;
    let mut ids = Vec::with_capacity(SAMPLE_CONTACTS);
    for i in 0..SAMPLE_CONTACTS {
        let (zone, country, prefix) = ZONES[i % ZONES.len()];
        let name = FIRST_NAMES[i % FIRST_NAMES.len()];
        let birthday = (now + TimeDelta::days((i % 90) as i64)).date_naive();
        let mut fields = Map::new();
        fields.insert("first_name".into(), json!(name));
        fields.insert(
            "birthday".into(),
            json!(format!(
                "{}-{:02}-{:02}",
                1970 + i % 35,
                birthday.month(),
                birthday.day()
            )),
        );
        fields.insert(
            "last_order_at".into(),
            json!(
                (now - TimeDelta::days(((i * 7) % 500) as i64))
                    .format("%Y-%m-%d")
                    .to_string()
            ),
        );
        let input = ContactInput {
            id: format!("demo-{i:03}"),
            email: (i % 10 != 9).then(|| format!("{}.{i}@example.com", name.to_lowercase())),
            phone: (i % 4 != 3).then(|| format!("{prefix}{:06}", 100_000 + i)),
            timezone: zone.parse().ok(),
            country: Some(country.into()),
            fields,
            ..ContactInput::default()
        };
        let id = contacts::upsert(&tx, &input, now).await?;
        // Members since some day in the past two years (customers) or months (the others).
        let source = tags::Source {
            kind: "import".into(),
            reference: Some("demo".into()),
        };
        for (list, every, days) in [("customers", 3, 700), ("newsletter", 2, 240), ("sms_optin", 3, 120)] {
            if i % every != 1 {
                let since = now - TimeDelta::days(((i * 37 + list.len() * 11) % days) as i64) - TimeDelta::hours(1);
                tags::join(&tx, id, list, &source, since).await?;
            }
        }
        ids.push((id, input.id));
    }
    loaded.contacts = ids.len();
    let mut runs = Vec::new();
    for name in DEMO_TEMPLATES {
        let text = flows::templates::template(name).ok_or_else(|| anyhow::anyhow!("no template {name}"))?;
        let flow = flows::CompiledFlow::from_json(text).map_err(|p| anyhow::anyhow!("template {name}: {p}"))?;
        let id = flow_store::create(&tx, flow.name(), &serde_json::to_string(flow.definition())?, now).await?;
        flow_store::set_status(&tx, id, true, now).await?;
        flow_store::first_admission(&tx, id, 1).await?;
        runs.extend(crate::service::campaigns::open_activation_runs(&tx, (id, 1), &flow, now).await?);
        if name == "welcome" {
            for (contact_id, external) in ids.iter().take(40) {
                let entry = NewEntry {
                    flow_id: id,
                    version: 1,
                    contact_id: *contact_id,
                    contact: external,
                    entry_node: "start",
                    data: Map::new(),
                    key: Some(&format!("demo-signup-{external}")),
                    reentry: flow.definition().reentry,
                    now,
                };
                tokens::enter(&tx, entry).await?;
                loaded.entries += 1;
            }
        }
        loaded.flows.push((flow.name().to_string(), id));
    }
    for (k, (contact_id, external)) in ids.iter().skip(40).step_by(7).take(15).enumerate() {
        let total = 20 + (k * 37) % 400;
        let mut data = Map::new();
        data.insert("items".into(), json!(format!("{} items", 1 + k % 4)));
        data.insert("total".into(), json!(total));
        data.insert(
            "cart_url".into(),
            json!(format!("https://shop.example/cart/{external}")),
        );
        let event = Event {
            at: now,
            contact: external.clone(),
            kind: "cart_abandoned".into(),
            message: None,
            tag: None,
            list: None,
            data,
        };
        inbox::push_event(&tx, *contact_id, &event, now).await?;
        loaded.events += 1;
    }
    tx.commit().await?;
    loaded.entries += crate::service::campaigns::admit_now(s, &runs).await? as usize;
    history::load(s, &ids, &mut loaded).await?;
    Ok(Some(loaded))
}
