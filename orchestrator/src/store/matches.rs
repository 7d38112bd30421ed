//! `on: match` entries: who matched each entry when last looked at (`audience_members`, keyed
//! by contact and record, the record empty for a contact's own match), and how far into the
//! change log each entry has looked (`match_marks`, with a lease so one process at a time
//! moves it).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::Result;
use crate::db::{all, col, exec, insert_rows, ms, one};

/// An entry's place in the change log, leased to this process.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    pub mark: i64,
    pub version: i64,
}

/// A claimed mark, and when the entry's members were last swept.
#[derive(Debug, Clone, Copy)]
pub struct Claimed {
    pub mark: Mark,
    pub swept_at: Option<DateTime<Utc>>,
}

/// Creates the entry's mark at `mark` unless it has one; returns whether this call created it.
pub async fn start(
    c: &impl ConnectionTrait,
    (flow, node): (i64, &str),
    mark: Mark,
    until: DateTime<Utc>,
) -> Result<bool> {
    let r = one(
        c,
        "INSERT INTO match_marks (flow_id, node, version, mark, lease_until) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (flow_id, node) DO NOTHING RETURNING flow_id",
        vec![
            flow.into(),
            node.into(),
            mark.version.into(),
            mark.mark.into(),
            ms(until).into(),
        ],
    )
    .await?;
    Ok(r.is_some())
}

/// Takes the lease of the entry's mark unless a live lease holds it; `None` when it has no mark
/// or another process holds it.
pub async fn claim(
    c: &impl ConnectionTrait,
    (flow, node): (i64, &str),
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<Claimed>> {
    let r = one(
        c,
        "UPDATE match_marks SET lease_until = $3 WHERE flow_id = $1 AND node = $2 \
         AND (lease_until IS NULL OR lease_until < $4) RETURNING mark, version, swept_at",
        vec![flow.into(), node.into(), ms(until).into(), ms(now).into()],
    )
    .await?;
    r.map(|r| {
        Ok(Claimed {
            mark: Mark {
                mark: col(&r, 0)?,
                version: col(&r, 1)?,
            },
            swept_at: col::<Option<i64>>(&r, 2)?.map(crate::db::from_ms),
        })
    })
    .transpose()
}

/// Every member (contact, record) of the entry.
pub async fn members(c: &impl ConnectionTrait, (flow, node): (i64, &str)) -> Result<Vec<(i64, String)>> {
    all(
        c,
        "SELECT contact_id, record_id FROM audience_members WHERE flow_id = $1 AND node = $2",
        vec![flow.into(), node.into()],
    )
    .await?
    .iter()
    .map(|r| Ok((col(r, 0)?, col(r, 1)?)))
    .collect()
}

/// Notes that the entry's members were swept at `at`.
pub async fn swept(c: &impl ConnectionTrait, (flow, node): (i64, &str), at: DateTime<Utc>) -> Result<()> {
    exec(
        c,
        "UPDATE match_marks SET swept_at = $3 WHERE flow_id = $1 AND node = $2",
        vec![flow.into(), node.into(), ms(at).into()],
    )
    .await?;
    Ok(())
}

/// Whether the entry has a mark (it has been seeded).
pub async fn exists(c: &impl ConnectionTrait, (flow, node): (i64, &str)) -> Result<bool> {
    Ok(one(
        c,
        "SELECT 1 FROM match_marks WHERE flow_id = $1 AND node = $2",
        vec![flow.into(), node.into()],
    )
    .await?
    .is_some())
}

/// Moves the entry's mark and releases its lease.
pub async fn advance(c: &impl ConnectionTrait, (flow, node): (i64, &str), mark: Mark) -> Result<()> {
    exec(
        c,
        "UPDATE match_marks SET mark = $3, version = $4, lease_until = NULL WHERE flow_id = $1 AND node = $2",
        vec![flow.into(), node.into(), mark.mark.into(), mark.version.into()],
    )
    .await?;
    Ok(())
}

/// Forgets every mark and member of the flow's entries (it was paused: matching starts afresh
/// when it is active again).
pub async fn forget(c: &impl ConnectionTrait, flow: i64) -> Result<()> {
    exec(c, "DELETE FROM match_marks WHERE flow_id = $1", vec![flow.into()]).await?;
    exec(c, "DELETE FROM audience_members WHERE flow_id = $1", vec![flow.into()]).await?;
    Ok(())
}

/// Of `contacts`, the (contact, record) keys that matched the entry when last looked at.
pub async fn members_among(
    c: &impl ConnectionTrait,
    (flow, node): (i64, &str),
    contacts: &[i64],
) -> Result<HashSet<(i64, String)>> {
    let mut out = HashSet::new();
    for chunk in contacts.chunks(500) {
        let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let rows = all(
            c,
            &format!(
                "SELECT contact_id, record_id FROM audience_members WHERE flow_id = $1 AND node = $2 \
                 AND contact_id IN ({list})"
            ),
            vec![flow.into(), node.into()],
        )
        .await?;
        for r in rows {
            out.insert((col(&r, 0)?, col(&r, 1)?));
        }
    }
    Ok(out)
}

/// Adds members (contact, record) of the entry.
pub async fn add(c: &impl ConnectionTrait, (flow, node): (i64, &str), keys: &[(i64, String)]) -> Result<()> {
    let rows = keys
        .iter()
        .map(|(contact, record)| vec![flow.into(), node.into(), (*contact).into(), record.clone().into()])
        .collect();
    insert_rows(
        c,
        "audience_members",
        &["flow_id", "node", "contact_id", "record_id"],
        rows,
    )
    .await?;
    Ok(())
}

/// Removes members (contact, record) of the entry, 400 per statement.
pub async fn remove(c: &impl ConnectionTrait, (flow, node): (i64, &str), keys: &[(i64, String)]) -> Result<()> {
    for chunk in keys.chunks(400) {
        let mut values: Vec<sea_orm::Value> = vec![flow.into(), node.into()];
        let pairs: Vec<String> = chunk
            .iter()
            .map(|(contact, record)| {
                values.push((*contact).into());
                values.push(record.clone().into());
                format!("(${}, ${})", values.len() - 1, values.len())
            })
            .collect();
        exec(
            c,
            &format!(
                "DELETE FROM audience_members WHERE flow_id = $1 AND node = $2 AND (contact_id, record_id) IN ({})",
                pairs.join(", ")
            ),
            values,
        )
        .await?;
    }
    Ok(())
}
