//! Bulk writes for `cairn bench engine` and `campaign`: contacts entered straight at a node (as a segment
//! entry admits an audience), and the plain-rows table the benchmark's ceiling is measured on.

use std::ops::Range;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::Result;
use super::counts::count_arrivals;
use super::tokens::{JOURNEY_COLUMNS, Journey, journey_row};
use crate::db::{col, insert_rows, ms};

/// Contacts `c{i}` for `i` in `range`, each with a token at the flow's `start` node, due at
/// `now`, counted as arrivals there.
pub async fn enter_contacts(
    c: &impl ConnectionTrait,
    flow_id: i64,
    range: Range<u64>,
    now: DateTime<Utc>,
) -> Result<()> {
    let rows = range
        .map(|i| {
            vec![
                format!("c{i}").into(),
                format!("c{i}@example.com").into(),
                format!("{{\"first_name\": \"Name{i}\"}}").into(),
                ms(now).into(),
                ms(now).into(),
            ]
        })
        .collect();
    insert_rows(
        c,
        "contacts",
        &["external_id", "email", "fields", "created_at", "updated_at"],
        rows,
    )
    .await?;
    let ids = crate::db::all(
        c,
        "SELECT id, external_id FROM contacts WHERE id > (SELECT COALESCE(MAX(contact_id), 0) FROM tokens) ORDER BY id",
        vec![],
    )
    .await?;
    let mut tokens = Vec::with_capacity(ids.len());
    for r in ids {
        let contact: (i64, String) = (col(&r, 0)?, col(&r, 1)?);
        tokens.push(journey_row(&Journey {
            flow: (flow_id, 1),
            contact: (contact.0, &contact.1),
            node: "start",
            record: None,
            run: None,
            now,
        })?);
    }
    let n = tokens.len() as i64;
    insert_rows(c, "tokens", &JOURNEY_COLUMNS, tokens).await?;
    count_arrivals(c, flow_id, "start", n).await
}

/// The columns of [`numbered_contact`].
const NUMBERED_CONTACT_COLUMNS: [&str; 6] = ["id", "external_id", "email", "fields", "created_at", "updated_at"];

/// Contact number `i` (internal id `i + 1`, `c{i}`, `c{i}@example.com`, first name `Name{i}`),
/// written at `at`.
fn numbered_contact(i: u64, at: i64) -> Vec<sea_orm::Value> {
    vec![
        (i as i64 + 1).into(),
        format!("c{i}").into(),
        format!("c{i}@example.com").into(),
        format!("{{\"first_name\": \"Name{i}\"}}").into(),
        at.into(),
        at.into(),
    ]
}

/// Contacts `c{i}` for `i` in `range`, each tagged `pricing` a day before `now` (for
/// `cairn bench campaign`).
pub async fn campaign_data(c: &impl ConnectionTrait, range: Range<u64>, now: DateTime<Utc>) -> Result<()> {
    let at = ms(now);
    let day_before = at - 86_400_000;
    let mut contacts = Vec::with_capacity((range.end - range.start) as usize);
    let mut tags = Vec::with_capacity(contacts.capacity());
    for i in range {
        let id = i as i64 + 1;
        contacts.push(numbered_contact(i, at));
        tags.push(vec![
            id.into(),
            "pricing".into(),
            1i64.into(),
            1i64.into(),
            day_before.into(),
            day_before.into(),
            "import".into(),
        ]);
    }
    insert_rows(c, "contacts", &NUMBERED_CONTACT_COLUMNS, contacts).await?;
    let cols = [
        "contact_id",
        "tag",
        "present",
        "times_added",
        "first_added_at",
        "last_added_at",
        "source",
    ];
    insert_rows(c, "contact_tags", &cols, tags).await?;
    Ok(())
}

/// How far `cairn bench campaign` has come.
#[derive(Debug, Clone, Copy)]
pub struct CampaignProgress {
    /// The flow's run is recorded as done.
    pub run_done: bool,
    pub tokens: u64,
    pub finished: u64,
    pub sent: u64,
}

/// Progress from the journal's counters (cheap to ask while the campaign runs); `exact` counts
/// the rows instead.
pub async fn campaign_progress(c: &impl ConnectionTrait, flow: i64, exact: bool) -> Result<CampaignProgress> {
    let count = async |sql: &str| -> Result<u64> {
        let r = crate::db::one(c, sql, vec![flow.into()]).await?;
        Ok(r.as_ref()
            .map(|r| col::<Option<i64>>(r, 0))
            .transpose()?
            .flatten()
            .unwrap_or(0)
            .max(0) as u64)
    };
    let counted = |node: &str, action: &str| {
        format!("SELECT SUM(n) FROM journal_counts WHERE flow_id = $1 AND node = '{node}' AND action = '{action}'")
    };
    let run_done = count("SELECT COUNT(*) FROM flow_runs WHERE flow_id = $1 AND status = 'done'").await? > 0;
    if exact {
        return Ok(CampaignProgress {
            run_done,
            tokens: count("SELECT COUNT(*) FROM tokens WHERE flow_id = $1").await?,
            finished: count("SELECT COUNT(*) FROM tokens WHERE flow_id = $1 AND finished = 1").await?,
            sent: count("SELECT COUNT(*) FROM messages WHERE flow_id = $1 AND status = 'sent'").await?,
        });
    }
    Ok(CampaignProgress {
        run_done,
        tokens: count(&counted("interested", "entered")).await?,
        finished: count(&counted("done", "exited")).await?,
        sent: count(&counted("offer", "sent")).await?,
    })
}

/// Drops the ceiling's table.
pub async fn drop_ceiling(db: &DatabaseConnection) -> Result<()> {
    db.execute_unprepared("DROP TABLE bench_ceiling").await?;
    Ok(())
}

/// The table the ceiling is measured on.
pub async fn create_ceiling(db: &DatabaseConnection) -> Result<()> {
    db.execute_unprepared(
        "CREATE TABLE bench_ceiling (id INTEGER PRIMARY KEY, a BIGINT NOT NULL, b TEXT NOT NULL, c TEXT NOT NULL)",
    )
    .await?;
    Ok(())
}

/// Journal-sized rows numbered `range` into the ceiling's table.
pub async fn insert_ceiling(c: &impl ConnectionTrait, range: Range<u64>) -> Result<()> {
    let payload = r#"{"at":"2026-12-30T08:00:00Z","contact":"c123456","node":"wait","action":"waiting","until":"2026-12-30T09:00:00Z"}"#;
    let chunk = range
        .map(|i| vec![(i as i64).into(), "wait".into(), payload.into()])
        .collect();
    insert_rows(c, "bench_ceiling", &["a", "b", "c"], chunk).await?;
    Ok(())
}

/// The tags, lists and spread of `cairn bench segments` data.
pub const SEGMENT_TAGS: u64 = 200;
pub const SEGMENT_LISTS: [&str; 5] = ["customers", "newsletter", "partners", "events", "beta"];

/// A deterministic pseudo-random number for (contact, salt).
fn mix(i: u64, salt: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

/// Contacts `c{i}` (internal id `i`) for `i` in `range`, each with ~20 of 200 tags (dates over
/// the past year, counts 1–5, four in five active), each of 5 lists with one chance in five,
/// 0–3 contract records (`status`, `end_date` within a year either side of `now`) and 0–3
/// emails sent in the past 30 days (half opened, some clicked), from flow `flow_id`.
pub async fn segment_data(c: &impl ConnectionTrait, flow_id: i64, range: Range<u64>, now: DateTime<Utc>) -> Result<()> {
    const DAY: i64 = 86_400_000;
    let now_ms = ms(now);
    let (mut contacts, mut tags, mut lists, mut records, mut messages) = (vec![], vec![], vec![], vec![], vec![]);
    for i in range {
        let id = i as i64;
        let email = format!("c{i}@example.com");
        contacts.push(vec![
            id.into(),
            format!("c{i}").into(),
            email.clone().into(),
            format!("{{\"first_name\": \"Name{i}\"}}").into(),
            now_ms.into(),
            now_ms.into(),
        ]);
        let mut given = std::collections::BTreeSet::new();
        for j in 0..20 {
            given.insert(mix(i, j) % SEGMENT_TAGS);
        }
        for (k, tag) in given.into_iter().enumerate() {
            let r = mix(i, 100 + k as u64);
            let first = now_ms - (r % 365) as i64 * DAY - (r >> 20) as i64 % DAY;
            let last = first + ((r >> 32) as i64 % (now_ms - first).max(1));
            tags.push(vec![
                id.into(),
                format!("t{tag:03}").into(),
                i64::from(!r.is_multiple_of(5)).into(),
                (1 + (r >> 8) % 5).into(),
                first.into(),
                last.into(),
                "import".into(),
            ]);
        }
        for (k, list) in SEGMENT_LISTS.iter().enumerate() {
            let r = mix(i, 200 + k as u64);
            if r.is_multiple_of(5) {
                lists.push(vec![
                    id.into(),
                    (*list).into(),
                    (now_ms - (r >> 8) as i64 % (365 * DAY)).into(),
                ]);
            }
        }
        for k in 0..mix(i, 300) % 4 {
            let r = mix(i, 301 + k);
            let end = now + chrono::TimeDelta::days((r % 730) as i64 - 365);
            let status = if (r >> 16) % 5 < 3 { "active" } else { "ended" };
            let fields = format!(
                "{{\"status\": \"{status}\", \"end_date\": \"{}\", \"plan\": \"basic\"}}",
                end.date_naive()
            );
            records.push(vec![
                id.into(),
                "contract".into(),
                format!("k{k}").into(),
                fields.into(),
                now_ms.into(),
                now_ms.into(),
            ]);
        }
        for k in 0..mix(i, 400) % 4 {
            let r = mix(i, 401 + k);
            let sent = now_ms - (r % (30 * DAY as u64)) as i64;
            let opened = (r >> 40)
                .is_multiple_of(2)
                .then(|| (sent + (r >> 8) as i64 % (2 * DAY)).min(now_ms));
            let clicked = opened.filter(|_| (r >> 44).is_multiple_of(3));
            messages.push(vec![
                format!("m{i}-{k}").into(),
                0i64.into(),
                id.into(),
                flow_id.into(),
                "mail".into(),
                "email".into(),
                email.clone().into(),
                "{}".into(),
                "sent".into(),
                sent.into(),
                sent.into(),
                opened.into(),
                clicked.into(),
            ]);
        }
    }
    insert_rows(
        c,
        "contacts",
        &["id", "external_id", "email", "fields", "created_at", "updated_at"],
        contacts,
    )
    .await?;
    let tag_cols = [
        "contact_id",
        "tag",
        "present",
        "times_added",
        "first_added_at",
        "last_added_at",
        "source",
    ];
    insert_rows(c, "contact_tags", &tag_cols, tags).await?;
    insert_rows(c, "contact_lists", &["contact_id", "list", "added_at"], lists).await?;
    let record_cols = ["contact_id", "type", "record_id", "fields", "created_at", "updated_at"];
    insert_rows(c, "contact_records", &record_cols, records).await?;
    let message_cols = [
        "id",
        "token_id",
        "contact_id",
        "flow_id",
        "node",
        "channel",
        "recipient",
        "content",
        "status",
        "created_at",
        "updated_at",
        "opened_at",
        "clicked_at",
    ];
    insert_rows(c, "messages", &message_cols, messages).await?;
    Ok(())
}

/// Forgets the change log (the bench's bulk load is read whole by the index it builds next).
pub async fn clear_changes(c: &impl ConnectionTrait) -> Result<()> {
    c.execute_unprepared("DELETE FROM contact_changes").await?;
    Ok(())
}

/// One of the benchmark's questions as plain SQL on the same database (SQLite): its count and
/// its first 50 contacts.
pub async fn baseline(c: &impl ConnectionTrait, question: &str, now: DateTime<Utc>) -> Result<(u64, Vec<i64>)> {
    const DAY: i64 = 86_400_000;
    let now_ms = ms(now);
    let not_customer =
        "NOT EXISTS (SELECT 1 FROM contact_lists l WHERE l.contact_id = x.contact_id AND l.list = 'customers')";
    let matching = match question {
        "Q1" => {
            format!("SELECT x.contact_id FROM contact_tags x WHERE x.tag = 't007' AND x.present = 1 AND {not_customer}")
        }
        "Q2" => format!(
            "SELECT x.contact_id FROM contact_tags x WHERE x.tag = 't013' AND x.present = 1 AND x.times_added >= 2 \
             AND x.last_added_at >= {} AND x.last_added_at <= {now_ms} AND EXISTS (SELECT 1 FROM messages m \
             WHERE m.contact_id = x.contact_id AND m.status = 'sent' AND m.channel = 'email' \
             AND m.opened_at >= {} AND m.opened_at <= {now_ms})",
            now_ms - 30 * DAY,
            now_ms - 7 * DAY
        ),
        _ => format!(
            "SELECT DISTINCT x.contact_id FROM contact_records x WHERE x.type = 'contract' \
             AND json_extract(x.fields, '$.status') = 'active' \
             AND json_extract(x.fields, '$.end_date') >= '{}' AND json_extract(x.fields, '$.end_date') <= '{}' \
             AND {not_customer}",
            // Dates are midnight UTC: the first whole day after now, to the last within 30 days.
            (now + chrono::TimeDelta::days(1)).date_naive(),
            (now + chrono::TimeDelta::days(30)).date_naive()
        ),
    };
    let count = crate::db::one(c, &format!("SELECT COUNT(*) FROM ({matching}) q"), vec![]).await?;
    let count: i64 = count.as_ref().map(|r| col(r, 0)).transpose()?.unwrap_or(0);
    let first = crate::db::all(c, &format!("{matching} ORDER BY x.contact_id LIMIT 50"), vec![]).await?;
    let first = first
        .iter()
        .map(|r| col(r, 0))
        .collect::<std::result::Result<Vec<i64>, _>>()?;
    Ok((count as u64, first))
}

/// `cairn bench import`'s ceiling: contacts numbered `range` with two tags and a list each,
/// written as plain rows (ids given, nothing looked up) — what an import writes, without it.
pub async fn insert_import_ceiling(c: &impl ConnectionTrait, range: Range<u64>, now: DateTime<Utc>) -> Result<()> {
    let at = ms(now);
    let mut contacts = Vec::with_capacity((range.end - range.start) as usize);
    let mut tags = Vec::with_capacity(contacts.capacity() * 2);
    let mut lists = Vec::with_capacity(contacts.capacity());
    for i in range {
        let id = i as i64 + 1;
        contacts.push(numbered_contact(i, at));
        for tag in ["vip".to_string(), format!("t{}", i % 10)] {
            tags.push(vec![
                id.into(),
                tag.into(),
                1i64.into(),
                1i64.into(),
                at.into(),
                at.into(),
                "import".into(),
                "bench".into(),
            ]);
        }
        lists.push(vec![
            id.into(),
            format!("l{}", i % 5).into(),
            at.into(),
            "import".into(),
            "bench".into(),
        ]);
    }
    insert_rows(c, "contacts", &NUMBERED_CONTACT_COLUMNS, contacts).await?;
    insert_rows(
        c,
        "contact_tags",
        &[
            "contact_id",
            "tag",
            "present",
            "times_added",
            "first_added_at",
            "last_added_at",
            "source",
            "source_ref",
        ],
        tags,
    )
    .await?;
    insert_rows(
        c,
        "contact_lists",
        &["contact_id", "list", "added_at", "source", "source_ref"],
        lists,
    )
    .await?;
    Ok(())
}
