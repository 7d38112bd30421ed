//! Flows and their versions. Editing a flow adds a version; tokens keep the version they entered.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, QueryResult};
use serde::Serialize;

use super::{Error, Result};
use crate::db::{all, col, exec, from_ms, ms, one};

/// A flow as listed by the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlowRow {
    pub id: i64,
    pub name: String,
    /// `draft`, `active` or `paused`.
    pub status: String,
    /// The newest version.
    pub version: i64,
    /// The version new entries use, once activated.
    pub active_version: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, status, version, active_version, created_at, updated_at";

fn row(r: &QueryResult) -> Result<FlowRow> {
    Ok(FlowRow {
        id: col(r, 0)?,
        name: col(r, 1)?,
        status: col(r, 2)?,
        version: col(r, 3)?,
        active_version: col(r, 4)?,
        created_at: from_ms(col(r, 5)?),
        updated_at: from_ms(col(r, 6)?),
    })
}

/// Stores a new flow as version 1, in draft.
pub async fn create(c: &impl ConnectionTrait, name: &str, definition: &str, now: DateTime<Utc>) -> Result<i64> {
    let r = one(
        c,
        "INSERT INTO flows (name, status, version, active_version, secret, created_at, updated_at) \
         VALUES ($1, 'draft', 1, NULL, NULL, $2, $2) RETURNING id",
        vec![name.into(), ms(now).into()],
    )
    .await?
    .ok_or_else(|| Error::custom("INSERT … RETURNING gave no row"))?;
    let id: i64 = col(&r, 0)?;
    exec(
        c,
        "INSERT INTO flow_versions (flow_id, version, definition, created_at) VALUES ($1, 1, $2, $3)",
        vec![id.into(), definition.into(), ms(now).into()],
    )
    .await?;
    Ok(id)
}

/// The flows not archived, or with `archived` only the archived ones; oldest first.
pub async fn list(c: &impl ConnectionTrait, archived: bool) -> Result<Vec<FlowRow>> {
    let op = if archived { "=" } else { "<>" };
    all(
        c,
        &format!("SELECT {COLUMNS} FROM flows WHERE status {op} 'archived' ORDER BY id"),
        vec![],
    )
    .await?
    .iter()
    .map(row)
    .collect()
}

/// Whether any flow exists, archived or not.
pub async fn any(c: &impl ConnectionTrait) -> Result<bool> {
    Ok(one(c, "SELECT 1 FROM flows LIMIT 1", vec![]).await?.is_some())
}

pub async fn get(c: &impl ConnectionTrait, id: i64) -> Result<Option<FlowRow>> {
    one(
        c,
        &format!("SELECT {COLUMNS} FROM flows WHERE id = $1"),
        vec![id.into()],
    )
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// The definition JSON of one version.
pub async fn definition(c: &impl ConnectionTrait, id: i64, version: i64) -> Result<Option<String>> {
    let r = one(
        c,
        "SELECT definition FROM flow_versions WHERE flow_id = $1 AND version = $2",
        vec![id.into(), version.into()],
    )
    .await?;
    Ok(r.as_ref().map(|r| col(r, 0)).transpose()?)
}

/// Adds a version; an active flow starts using it for new entries at once.
pub async fn add_version(
    c: &impl ConnectionTrait,
    id: i64,
    name: &str,
    definition: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let Some(flow) = get(c, id).await? else { return Ok(None) };
    let version = flow.version + 1;
    exec(
        c,
        "INSERT INTO flow_versions (flow_id, version, definition, created_at) VALUES ($1, $2, $3, $4)",
        vec![id.into(), version.into(), definition.into(), ms(now).into()],
    )
    .await?;
    exec(
        c,
        "UPDATE flows SET name = $2, version = $3, updated_at = $4, \
         active_version = CASE WHEN status = 'active' THEN $3 ELSE active_version END WHERE id = $1",
        vec![id.into(), name.into(), version.into(), ms(now).into()],
    )
    .await?;
    Ok(Some(version))
}

/// Activates the newest version (entries accepted, journeys run) or pauses the flow
/// (entries refused, journeys held where they are). An archived flow is left as it is (`None`).
pub async fn set_status(
    c: &impl ConnectionTrait,
    id: i64,
    active: bool,
    now: DateTime<Utc>,
) -> Result<Option<FlowRow>> {
    let sql = if active {
        "UPDATE flows SET status = 'active', active_version = version, runs_from = $2, updated_at = $2 \
         WHERE id = $1 AND status <> 'archived'"
    } else {
        "UPDATE flows SET status = 'paused', updated_at = $2 WHERE id = $1 AND status <> 'archived'"
    };
    if exec(c, sql, vec![id.into(), ms(now).into()]).await? == 0 {
        return Ok(None);
    }
    get(c, id).await
}

/// Archives a flow that is not active (it leaves the list; its journeys wait as when paused),
/// or restores an archived one (paused, or a draft when it was never activated). `None` when
/// there is no such flow or it is active (archiving) or not archived (restoring).
pub async fn set_archived(
    c: &impl ConnectionTrait,
    id: i64,
    archived: bool,
    now: DateTime<Utc>,
) -> Result<Option<FlowRow>> {
    let sql = if archived {
        "UPDATE flows SET status = 'archived', updated_at = $2 WHERE id = $1 AND status <> 'active'"
    } else {
        "UPDATE flows SET status = CASE WHEN active_version IS NULL THEN 'draft' ELSE 'paused' END, \
         updated_at = $2 WHERE id = $1 AND status = 'archived'"
    };
    if exec(c, sql, vec![id.into(), ms(now).into()]).await? == 0 {
        return Ok(None);
    }
    get(c, id).await
}

/// The flow's entry-signing secret, if it has one.
pub async fn secret(c: &impl ConnectionTrait, id: i64) -> Result<Option<String>> {
    let r = one(c, "SELECT secret FROM flows WHERE id = $1", vec![id.into()]).await?;
    Ok(r.as_ref().map(|r| col::<Option<String>>(r, 0)).transpose()?.flatten())
}

/// Sets or clears the flow's entry-signing secret.
pub async fn set_secret(c: &impl ConnectionTrait, id: i64, secret: Option<&str>, now: DateTime<Utc>) -> Result<bool> {
    let n = exec(
        c,
        "UPDATE flows SET secret = $2, updated_at = $3 WHERE id = $1",
        vec![id.into(), secret.map(str::to_string).into(), ms(now).into()],
    )
    .await?;
    Ok(n > 0)
}

/// A deployment setting, created with `make()` the first time it is asked for.
pub async fn setting(c: &impl ConnectionTrait, key: &str, make: impl FnOnce() -> String) -> Result<String> {
    exec(
        c,
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        vec![key.into(), make().into()],
    )
    .await?;
    let r = one(c, "SELECT value FROM settings WHERE key = $1", vec![key.into()])
        .await?
        .ok_or_else(|| Error::custom(format!("setting {key} vanished")))?;
    Ok(col(&r, 0)?)
}

/// True the first time it is called for (flow, version): segment audiences are admitted once
/// per version, not again when a paused flow is resumed.
pub async fn first_admission(c: &impl ConnectionTrait, flow: i64, version: i64) -> Result<bool> {
    let r = one(
        c,
        "INSERT INTO settings (key, value) VALUES ($1, 'admitted') ON CONFLICT (key) DO NOTHING RETURNING key",
        vec![format!("segment_admitted:{flow}:{version}").into()],
    )
    .await?;
    Ok(r.is_some())
}

/// Remembers an entry's signature (its hex HMAC) as used; `false` when it was used before. Runs
/// in the entry's transaction, so a refused or failed entry does not use its signature up, and
/// (at most once a minute) prunes signatures signed before `forget_before`, Unix seconds (they
/// are refused as stale anyway).
pub async fn use_signature(
    c: &impl ConnectionTrait,
    flow: i64,
    (signature, signed_at): (&str, i64),
    forget_before: i64,
) -> Result<bool> {
    // At most once a minute per process: concurrent entries pruning the same rows would queue
    // for each other's row locks on PostgreSQL.
    static PRUNED_BEFORE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);
    let last = PRUNED_BEFORE.load(std::sync::atomic::Ordering::Relaxed);
    if forget_before.saturating_sub(last) >= 60
        && PRUNED_BEFORE
            .compare_exchange(
                last,
                forget_before,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            )
            .is_ok()
    {
        exec(
            c,
            "DELETE FROM used_signatures WHERE signed_at < $1",
            vec![forget_before.into()],
        )
        .await?;
    }
    let n = exec(
        c,
        "INSERT INTO used_signatures (signature, flow_id, signed_at) VALUES ($1, $2, $3) ON CONFLICT (signature) DO NOTHING",
        vec![signature.into(), flow.into(), signed_at.into()],
    )
    .await?;
    Ok(n == 1)
}

/// `(flow id, active version)` of every active flow.
pub async fn active(c: &impl ConnectionTrait) -> Result<Vec<(i64, i64)>> {
    let rows = all(
        c,
        "SELECT id, active_version FROM flows WHERE status = 'active' AND active_version IS NOT NULL",
        vec![],
    )
    .await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

/// One stored version as the version list shows it.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub version: i64,
    pub definition: String,
    pub created_at: DateTime<Utc>,
}

/// Every version of a flow, newest first.
pub async fn versions(c: &impl ConnectionTrait, id: i64) -> Result<Vec<VersionRow>> {
    all(
        c,
        "SELECT version, definition, created_at FROM flow_versions WHERE flow_id = $1 ORDER BY version DESC",
        vec![id.into()],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(VersionRow {
            version: col(r, 0)?,
            definition: col(r, 1)?,
            created_at: from_ms(col(r, 2)?),
        })
    })
    .collect()
}

/// A flow's draft: the document as saved, and when.
pub async fn draft(c: &impl ConnectionTrait, id: i64) -> Result<Option<(String, DateTime<Utc>)>> {
    let r = one(
        c,
        "SELECT document, saved_at FROM flow_drafts WHERE flow_id = $1",
        vec![id.into()],
    )
    .await?;
    r.as_ref().map(|r| Ok((col(r, 0)?, from_ms(col(r, 1)?)))).transpose()
}

/// Saves the flow's draft, replacing the one before.
pub async fn save_draft(c: &impl ConnectionTrait, id: i64, document: &str, now: DateTime<Utc>) -> Result<()> {
    exec(
        c,
        "INSERT INTO flow_drafts (flow_id, document, saved_at) VALUES ($1, $2, $3) \
         ON CONFLICT (flow_id) DO UPDATE SET document = excluded.document, saved_at = excluded.saved_at",
        vec![id.into(), document.into(), ms(now).into()],
    )
    .await?;
    Ok(())
}

/// Deletes a flow that was never activated, with its versions and draft: false when there is
/// no such flow, or it was activated (journeys and their history name it; it stays).
pub async fn delete_never_activated(c: &impl ConnectionTrait, id: i64) -> Result<bool> {
    let sql = "DELETE FROM flows WHERE id = $1 AND active_version IS NULL";
    if exec(c, sql, vec![id.into()]).await? == 0 {
        return Ok(false);
    }
    exec(c, "DELETE FROM flow_versions WHERE flow_id = $1", vec![id.into()]).await?;
    exec(c, "DELETE FROM flow_drafts WHERE flow_id = $1", vec![id.into()]).await?;
    Ok(true)
}

/// Deletes the flow's draft, if it has one.
pub async fn delete_draft(c: &impl ConnectionTrait, id: i64) -> Result<()> {
    exec(c, "DELETE FROM flow_drafts WHERE flow_id = $1", vec![id.into()]).await?;
    Ok(())
}

/// A deployment setting, if it was ever set.
pub async fn setting_value(c: &impl ConnectionTrait, key: &str) -> Result<Option<String>> {
    let r = one(c, "SELECT value FROM settings WHERE key = $1", vec![key.into()]).await?;
    Ok(r.as_ref().map(|r| col(r, 0)).transpose()?)
}

/// Sets a deployment setting, replacing its value.
pub async fn set_setting(c: &impl ConnectionTrait, key: &str, value: &str) -> Result<()> {
    exec(
        c,
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        vec![key.into(), value.into()],
    )
    .await?;
    Ok(())
}
