//! Tag definitions and the facts each contact × tag and contact × list keeps.
//!
//! A tag's definition gives it a `lifetime`: each addition sets the tag's `expires_at` to the
//! addition plus the lifetime, and the expiry loop ([`expire_due`]) makes due tags inactive. A
//! tag that is removed or expires keeps its counter and dates; adding it again makes it active
//! with the counter one higher. Changing a lifetime moves every active tag's `expires_at` to
//! its last addition plus the new lifetime (no lifetime: no expiry); inactive tags keep theirs.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::Result;
use crate::db::{all, col, exec, from_ms, is_postgres, ms, one, placeholders};

/// The key of an event's `data` that says the contacts API has written the tag or list change
/// the event reports, so the engine does not apply it again: `"recorded": true`.
pub const RECORDED: &str = "recorded";

/// Whether the change an event reports is written already ([`RECORDED`]).
pub fn is_recorded(event: &flows::Event) -> bool {
    event.data.get(RECORDED) == Some(&serde_json::Value::Bool(true))
}

/// What added a tag or a list membership: its kind (`api`, `flow`, `link`, `form`, `import`,
/// `user`) and what it names, if anything (a flow id, a form's name…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Source {
    pub kind: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

impl Source {
    pub fn api() -> Self {
        Source {
            kind: "api".into(),
            reference: None,
        }
    }
}

/// A tag's definition.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Definition {
    pub name: String,
    /// Milliseconds, or none: the tag does not expire.
    pub lifetime_ms: Option<i64>,
    pub description: Option<String>,
}

/// One contact × tag.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TagFact {
    pub tag: String,
    /// Times added, kept when the tag is removed or expires.
    pub count: i64,
    pub first_added_at: DateTime<Utc>,
    pub last_added_at: DateTime<Utc>,
    /// When the tag runs out (or, once inactive, ran out or was due to).
    pub expires_at: Option<DateTime<Utc>>,
    pub active: bool,
    /// What added it last.
    pub source: Source,
}

/// One contact × list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ListFact {
    pub list: String,
    pub added_at: DateTime<Utc>,
    pub source: Option<Source>,
}

/// Creates or changes a tag's definition; returns whether it was new. Active tags of that name
/// get `expires_at` = their last addition + the new lifetime, or none without a lifetime.
pub async fn define(
    c: &impl ConnectionTrait,
    name: &str,
    lifetime_ms: Option<i64>,
    description: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let existed = one(c, "SELECT 1 FROM tag_definitions WHERE name = $1", vec![name.into()])
        .await?
        .is_some();
    exec(
        c,
        "INSERT INTO tag_definitions (name, lifetime, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (name) DO UPDATE SET lifetime = excluded.lifetime, description = excluded.description, \
         updated_at = excluded.updated_at",
        vec![
            name.into(),
            lifetime_ms.into(),
            description.map(str::to_string).into(),
            ms(now).into(),
        ],
    )
    .await?;
    match lifetime_ms {
        Some(lifetime) => {
            exec(
                c,
                "UPDATE contact_tags SET expires_at = last_added_at + $2 WHERE tag = $1 AND present = 1",
                vec![name.into(), lifetime.into()],
            )
            .await?
        }
        None => {
            exec(
                c,
                "UPDATE contact_tags SET expires_at = NULL WHERE tag = $1 AND present = 1",
                vec![name.into()],
            )
            .await?
        }
    };
    Ok(!existed)
}

/// A tag's definition and use: `(definition if any, active contacts, contacts ever tagged)`.
pub type TagUse = (String, Option<Definition>, i64, i64);

/// Every defined tag and every tag in use, by name.
pub async fn summary(c: &impl ConnectionTrait) -> Result<Vec<TagUse>> {
    let mut out: std::collections::BTreeMap<String, (Option<Definition>, i64, i64)> = Default::default();
    for r in all(c, "SELECT name, lifetime, description FROM tag_definitions", vec![]).await? {
        let name: String = col(&r, 0)?;
        let def = Definition {
            name: name.clone(),
            lifetime_ms: col(&r, 1)?,
            description: col(&r, 2)?,
        };
        out.insert(name, (Some(def), 0, 0));
    }
    let used = all(
        c,
        "SELECT tag, CAST(SUM(present) AS BIGINT), CAST(COUNT(*) AS BIGINT) FROM contact_tags GROUP BY tag",
        vec![],
    )
    .await?;
    for r in used {
        let e = out.entry(col(&r, 0)?).or_insert((None, 0, 0));
        e.1 = col(&r, 1)?;
        e.2 = col(&r, 2)?;
    }
    Ok(out
        .into_iter()
        .map(|(name, (d, active, total))| (name, d, active, total))
        .collect())
}

/// Adds a tag (again): count + 1, the last date now, active, `expires_at` by the lifetime.
pub async fn add(c: &impl ConnectionTrait, contact: i64, tag: &str, source: &Source, now: DateTime<Utc>) -> Result<()> {
    exec(
        c,
        "INSERT INTO contact_tags (contact_id, tag, present, times_added, first_added_at, last_added_at, source, source_ref, expires_at) \
         VALUES ($1, $2, 1, 1, $3, $3, $4, $5, (SELECT $3 + d.lifetime FROM tag_definitions d WHERE d.name = $2)) \
         ON CONFLICT (contact_id, tag) DO UPDATE SET present = 1, times_added = contact_tags.times_added + 1, \
         last_added_at = excluded.last_added_at, source = excluded.source, source_ref = excluded.source_ref, \
         expires_at = excluded.expires_at",
        vec![
            contact.into(),
            tag.into(),
            ms(now).into(),
            source.kind.clone().into(),
            source.reference.clone().into(),
        ],
    )
    .await?;
    Ok(())
}

/// Sets `expires_at` by their definitions on tags just added (at `now`) to these contacts.
pub async fn expire_by_definitions(c: &impl ConnectionTrait, added: &[(i64, &str)], now: DateTime<Utc>) -> Result<()> {
    let mut tags: Vec<&str> = added.iter().map(|(_, t)| *t).collect();
    tags.sort_unstable();
    tags.dedup();
    if tags.is_empty() {
        return Ok(());
    }
    let defined = all(
        c,
        &format!(
            "SELECT name FROM tag_definitions WHERE lifetime IS NOT NULL AND name IN ({})",
            placeholders(1, tags.len())
        ),
        tags.iter().map(|t| (*t).into()).collect(),
    )
    .await?;
    if defined.is_empty() {
        return Ok(());
    }
    let defined: std::collections::HashSet<String> = defined.iter().filter_map(|r| col(r, 0).ok()).collect();
    for (contact, tag) in added.iter().filter(|(_, t)| defined.contains(*t)) {
        exec(
            c,
            "UPDATE contact_tags SET expires_at = last_added_at + \
             (SELECT d.lifetime FROM tag_definitions d WHERE d.name = contact_tags.tag) \
             WHERE contact_id = $1 AND tag = $2 AND present = 1 AND last_added_at = $3",
            vec![(*contact).into(), (*tag).into(), ms(now).into()],
        )
        .await?;
    }
    Ok(())
}

/// Makes a tag inactive, keeping its counter; `false` when it was not active.
pub async fn remove(c: &impl ConnectionTrait, contact: i64, tag: &str) -> Result<bool> {
    let n = exec(
        c,
        "UPDATE contact_tags SET present = 0, expires_at = NULL WHERE contact_id = $1 AND tag = $2 AND present = 1",
        vec![contact.into(), tag.into()],
    )
    .await?;
    Ok(n > 0)
}

/// A contact's tags, active and not, by name.
pub async fn facts(c: &impl ConnectionTrait, contact: i64) -> Result<Vec<TagFact>> {
    let rows = all(
        c,
        "SELECT tag, times_added, first_added_at, last_added_at, expires_at, present, source, source_ref \
         FROM contact_tags WHERE contact_id = $1 ORDER BY tag",
        vec![contact.into()],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TagFact {
                tag: col(r, 0)?,
                count: col(r, 1)?,
                first_added_at: from_ms(col(r, 2)?),
                last_added_at: from_ms(col(r, 3)?),
                expires_at: col::<Option<i64>>(r, 4)?.map(from_ms),
                active: col::<i64>(r, 5)? == 1,
                source: Source {
                    kind: col(r, 6)?,
                    reference: col(r, 7)?,
                },
            })
        })
        .collect()
}

/// A contact's lists, by name.
pub async fn list_facts(c: &impl ConnectionTrait, contact: i64) -> Result<Vec<ListFact>> {
    let rows = all(
        c,
        "SELECT list, added_at, source, source_ref FROM contact_lists WHERE contact_id = $1 ORDER BY list",
        vec![contact.into()],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let kind: Option<String> = col(r, 2)?;
            Ok(ListFact {
                list: col(r, 0)?,
                added_at: from_ms(col(r, 1)?),
                source: kind.map(|kind| Source {
                    kind,
                    reference: col(r, 3).ok().flatten(),
                }),
            })
        })
        .collect()
}

/// Adds a contact to a list; `false` when they were in it already (its date stays).
pub async fn join(
    c: &impl ConnectionTrait,
    contact: i64,
    list: &str,
    source: &Source,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = exec(
        c,
        "INSERT INTO contact_lists (contact_id, list, added_at, source, source_ref) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (contact_id, list) DO NOTHING",
        vec![
            contact.into(),
            list.into(),
            ms(now).into(),
            source.kind.clone().into(),
            source.reference.clone().into(),
        ],
    )
    .await?;
    Ok(n > 0)
}

/// Takes a contact off a list; `false` when they were not in it.
pub async fn leave(c: &impl ConnectionTrait, contact: i64, list: &str) -> Result<bool> {
    let n = exec(
        c,
        "DELETE FROM contact_lists WHERE contact_id = $1 AND list = $2",
        vec![contact.into(), list.into()],
    )
    .await?;
    Ok(n > 0)
}

/// Every list with its member count, by name.
pub async fn lists(c: &impl ConnectionTrait) -> Result<Vec<(String, i64)>> {
    let rows = all(
        c,
        "SELECT list, CAST(COUNT(*) AS BIGINT) FROM contact_lists GROUP BY list ORDER BY list",
        vec![],
    )
    .await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

/// A tag that ran out: `(contact, external id, tag, when it was due)`.
pub type Expired = (i64, String, String, DateTime<Utc>);

/// Makes at most `limit` tags due at `now` inactive and returns them. The UPDATE repeats its
/// guard, so of several processes (PostgreSQL) exactly one expires each tag.
pub async fn expire_due(c: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<Expired>> {
    let pick = if is_postgres(c) {
        "SELECT contact_id, tag FROM contact_tags WHERE present = 1 AND expires_at <= $1 \
         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    } else {
        "SELECT contact_id, tag FROM contact_tags WHERE present = 1 AND expires_at <= $1 ORDER BY expires_at LIMIT $2"
    };
    let rows = all(
        c,
        &format!(
            "UPDATE contact_tags SET present = 0 WHERE (contact_id, tag) IN ({pick}) \
             AND present = 1 AND expires_at <= $1 RETURNING contact_id, tag, expires_at"
        ),
        vec![ms(now).into(), (limit as i64).into()],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let contact: i64 = col(r, 0)?;
        let external = one(
            c,
            "SELECT external_id FROM contacts WHERE id = $1",
            vec![contact.into()],
        )
        .await?
        .map(|r| col::<String>(&r, 0))
        .transpose()?;
        if let Some(external) = external {
            out.push((contact, external, col(r, 1)?, from_ms(col(r, 2)?)));
        }
    }
    out.sort_by(|a, b| (a.3, a.0, &a.2).cmp(&(b.3, b.0, &b.2)));
    Ok(out)
}

/// When the next active tag runs out.
pub async fn next_expiry(c: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>> {
    super::min_instant(c, "SELECT MIN(expires_at) FROM contact_tags WHERE present = 1").await
}
