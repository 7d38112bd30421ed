//! Send history, as frequency caps and suppressions read it: messages recently queued per
//! contact (from `messages`), and suppressed addresses (`suppressions`).
//!
//! A suppression is keyed by [`flows::geo::suppression_key`] and is never lifted here: once an
//! address hard-bounced or a number was unreachable, later sends to it fail at once.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::Result;
use crate::db::{all, col, exec, from_ms, is_postgres, ms, one, placeholders};

/// Messages queued for each of `contacts` since `since` (not failed), oldest first: what
/// frequency caps count.
pub async fn recent_sends(
    c: &impl ConnectionTrait,
    contacts: &[i64],
    since: DateTime<Utc>,
) -> Result<HashMap<i64, Vec<(flows::Channel, DateTime<Utc>)>>> {
    let mut out: HashMap<i64, Vec<(flows::Channel, DateTime<Utc>)>> = Default::default();
    for chunk in contacts.chunks(1000) {
        let sql = format!(
            "SELECT contact_id, channel, created_at FROM messages WHERE created_at > $1 AND status <> 'failed' \
             AND contact_id IN ({}) ORDER BY created_at",
            placeholders(2, chunk.len())
        );
        let mut values: Vec<sea_orm::Value> = vec![ms(since).into()];
        values.extend(chunk.iter().map(|i| (*i).into()));
        for r in all(c, &sql, values).await? {
            let channel: String = col(&r, 1)?;
            if let Some(channel) = flows::Channel::parse(&channel) {
                out.entry(col(&r, 0)?)
                    .or_default()
                    .push((channel, from_ms(col(&r, 2)?)));
            }
        }
    }
    Ok(out)
}

/// Which of `addresses` are suppressed, with why.
pub async fn suppressed(c: &impl ConnectionTrait, addresses: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    // Most workspaces have few or no suppressions: one probe spares the lookups.
    if one(c, "SELECT 1 FROM suppressions LIMIT 1", vec![]).await?.is_none() {
        return Ok(out);
    }
    for chunk in addresses.chunks(1000) {
        let sql = format!(
            "SELECT address, reason FROM suppressions WHERE address IN ({})",
            placeholders(1, chunk.len())
        );
        for r in all(c, &sql, chunk.iter().map(|a| a.clone().into()).collect()).await? {
            out.insert(col(&r, 0)?, col(&r, 1)?);
        }
    }
    Ok(out)
}

/// Stops later sends to `address` (its [`flows::geo::suppression_key`]: a hard bounce or an
/// unreachable number).
pub async fn suppress(c: &impl ConnectionTrait, address: &str, reason: &str, now: DateTime<Utc>) -> Result<()> {
    let sql = if is_postgres(c) {
        "INSERT INTO suppressions (address, reason, created_at) VALUES ($1, $2, $3) ON CONFLICT (address) DO NOTHING"
    } else {
        "INSERT OR IGNORE INTO suppressions (address, reason, created_at) VALUES ($1, $2, $3)"
    };
    exec(c, sql, vec![address.into(), reason.into(), ms(now).into()]).await?;
    Ok(())
}
