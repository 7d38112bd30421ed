//! The journal: what each journey did, line by line, as `cairn simulate` prints it.
//!
//! A row holds the lines of one step of one journey (or of one delivery outcome): one line as
//! its object, several as an array. The contact and the flow are the row's columns, and a
//! line's `at` is left out when it is the row's to the millisecond; [`journal_of`] puts them
//! back, so the API returns the [`JournalEntry`] `step` wrote. Rows are only ever added, and
//! each adds to the `journal_counts` of its nodes in the same transaction
//! ([`crate::store::counts`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use flows::JournalEntry;
use sea_orm::ConnectionTrait;
use serde::Serialize;

use super::Result;
use super::counts::count_journal;
use crate::db::{all, col, from_ms, insert_rows, is_postgres, ms, one};

/// The journal lines one step of one journey wrote (or one delivery outcome), with the ids
/// they belong to: stored as one row.
#[derive(Debug, Clone)]
pub struct JournalRow {
    pub contact_id: i64,
    pub flow_id: i64,
    pub token_id: i64,
    pub entries: Vec<JournalEntry>,
}

/// Journal rows serialised for writing, with the per-node counts they add (built before the
/// transaction, as [`SavedTokens`](super::tokens::SavedTokens) are).
pub struct JournalLines {
    counts: BTreeMap<(i64, String, Cow<'static, str>), i64>,
    rows: Vec<Vec<sea_orm::Value>>,
}

impl JournalLines {
    pub fn of(rows: Vec<JournalRow>) -> Self {
        let mut counts: BTreeMap<(i64, String, Cow<'static, str>), i64> = BTreeMap::new();
        for r in &rows {
            for e in &r.entries {
                *counts
                    .entry((r.flow_id, e.node.clone(), Cow::Borrowed(e.action.name())))
                    .or_default() += 1;
                if let Some(label) = e.action.edge() {
                    let key = Cow::Owned(super::counts::edge_key(label));
                    *counts.entry((r.flow_id, e.node.clone(), key)).or_default() += 1;
                }
            }
        }
        let rows = rows
            .into_iter()
            .filter_map(|r| {
                let at = r.entries.first()?.at;
                // One line is stored as its object, several as an array (`journal_of` reads
                // both), each as a `StoredLine`: what the row's columns hold is left out.
                let json = match r.entries.as_slice() {
                    [line] => serde_json::to_string(&StoredLine::of(line, at)),
                    lines => serde_json::to_string(&lines.iter().map(|l| StoredLine::of(l, at)).collect::<Vec<_>>()),
                }
                .unwrap_or_default();
                Some(vec![
                    r.contact_id.into(),
                    r.flow_id.into(),
                    r.token_id.into(),
                    ms(at).into(),
                    json.into(),
                ])
            })
            .collect();
        JournalLines { counts, rows }
    }
}

/// A journal line as stored. The contact and the flow are the row's (`contact_id`, `flow_id`),
/// and `at` is left out when it is the row's `at` to the millisecond; `journal_of` puts all
/// three back, so the API returns the [`JournalEntry`] `step` wrote. Lines stored whole (before
/// this form) read back unchanged.
#[derive(Serialize)]
struct StoredLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    node: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a str>,
    #[serde(flatten)]
    action: &'a flows::Action,
}

impl<'a> StoredLine<'a> {
    fn of(line: &'a JournalEntry, row_at: DateTime<Utc>) -> Self {
        let implied = line.at == row_at && from_ms(ms(row_at)) == row_at;
        StoredLine {
            at: (!implied).then(|| rfc3339(line.at)),
            node: &line.node,
            record: line.record.as_deref(),
            action: &line.action,
        }
    }
}

/// An instant as journal lines print it (`flows::JournalEntry`'s form).
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Writes journal rows and adds them to their nodes' counts.
pub async fn append_journal(c: &impl ConnectionTrait, lines: JournalLines) -> Result<()> {
    count_journal(c, lines.counts).await?;
    insert_rows(
        c,
        "journal",
        &["contact_id", "flow_id", "token_id", "at", "entry"],
        lines.rows,
    )
    .await?;
    Ok(())
}

/// How many journal lines there are in all (a row holds one line as an object, or the lines of
/// one step as an array).
pub async fn journal_lines(c: &impl ConnectionTrait) -> Result<i64> {
    let sql = if is_postgres(c) {
        "SELECT CAST(COALESCE(SUM(CASE WHEN json_typeof(entry::json) = 'array' \
         THEN json_array_length(entry::json) ELSE 1 END), 0) AS BIGINT) FROM journal"
    } else {
        "SELECT CAST(COALESCE(SUM(CASE WHEN json_type(entry) = 'array' \
         THEN json_array_length(entry) ELSE 1 END), 0) AS BIGINT) FROM journal"
    };
    match one(c, sql, vec![]).await? {
        Some(r) => Ok(col(&r, 0)?),
        None => Ok(0),
    }
}

/// A contact's journal, oldest first: the objects `cairn simulate` prints, plus `flow`.
pub async fn journal_of(c: &impl ConnectionTrait, contact_id: i64) -> Result<Vec<serde_json::Value>> {
    let rows = all(
        c,
        "SELECT j.entry, j.flow_id, j.at, c.external_id FROM journal j LEFT JOIN contacts c ON c.id = j.contact_id \
         WHERE j.contact_id = $1 ORDER BY j.id",
        vec![contact_id.into()],
    )
    .await?;
    lines_of(&rows)
}

/// One page of the whole journal (or one flow's), oldest first: the rows after row `after`,
/// at most `limit` of them, as lines; and the last row's id, to ask for the next page from.
pub async fn journal_page(
    c: &impl ConnectionTrait,
    after: i64,
    flow: Option<i64>,
    limit: u64,
) -> Result<(Vec<serde_json::Value>, Option<i64>)> {
    let (only, mut values) = match flow {
        Some(flow) => ("AND j.flow_id = $3", vec![flow.into()]),
        None => ("", vec![]),
    };
    values.insert(0, (limit as i64).into());
    values.insert(0, after.into());
    let sql = format!(
        "SELECT j.entry, j.flow_id, j.at, c.external_id, j.id FROM journal j LEFT JOIN contacts c ON c.id = j.contact_id \
         WHERE j.id > $1 {only} ORDER BY j.id LIMIT $2"
    );
    let rows = all(c, &sql, values).await?;
    let last = match rows.last() {
        Some(r) => Some(col::<i64>(r, 4)?),
        None => None,
    };
    Ok((lines_of(&rows)?, last))
}

/// Journal rows (`entry`, `flow_id`, `at`, the contact's external id) as the lines they hold,
/// with what the row's columns say put back into each.
fn lines_of(rows: &[sea_orm::QueryResult]) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let flow: i64 = col(r, 1)?;
        let at = rfc3339(from_ms(col(r, 2)?));
        let contact: Option<String> = col(r, 3)?;
        let lines = match serde_json::from_str(&col::<String>(r, 0)?).unwrap_or_default() {
            serde_json::Value::Array(lines) => lines,
            line => vec![line],
        };
        for mut line in lines {
            if let Some(fields) = line.as_object_mut() {
                fields.entry("at").or_insert_with(|| at.clone().into());
                if let Some(contact) = &contact {
                    fields.entry("contact").or_insert_with(|| contact.clone().into());
                }
                fields.insert("flow".into(), flow.into());
            }
            out.push(line);
        }
    }
    Ok(out)
}

/// The node of journal lines about a contact rather than a journey (tags and lists changed by
/// the API or by expiry); such rows have flow 0 and token 0, and count towards no node.
pub const CONTACT_NODE: &str = "contact";

/// Writes journal lines about a contact outside any journey: each an object with `action` and
/// what it names (`tag`, `list`, `source`), stored with node [`CONTACT_NODE`], flow 0, token 0.
pub async fn append_contact_lines(
    c: &impl ConnectionTrait,
    lines: Vec<(i64, DateTime<Utc>, serde_json::Value)>,
) -> Result<()> {
    let rows = lines
        .into_iter()
        .map(|(contact, at, mut line)| {
            if let Some(fields) = line.as_object_mut() {
                fields.insert("node".into(), CONTACT_NODE.into());
            }
            vec![
                contact.into(),
                0i64.into(),
                0i64.into(),
                ms(at).into(),
                line.to_string().into(),
            ]
        })
        .collect();
    insert_rows(
        c,
        "journal",
        &["contact_id", "flow_id", "token_id", "at", "entry"],
        rows,
    )
    .await?;
    Ok(())
}
