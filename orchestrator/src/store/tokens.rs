//! Journeys (`tokens`): entering them, claiming the due ones, saving them after a step.
//!
//! A token is one journey of one contact in one flow version; its `state` column is the core's
//! [`Token`] as JSON, and the plain columns (`node`, `wake_at`, `finished`) repeat what the
//! engine queries by. Invariants:
//! - `finished` is 0 while the journey runs, 1 once it has ended, 2 while it is set aside
//!   ([`crate::store::set_aside`]); only running tokens of active flows are due, and a running
//!   token with nothing to wait for is due at once;
//! - an entry key names one journey per flow (`UNIQUE (flow_id, entry_key)`): the same key again
//!   is that journey for the same contact, a refusal for another;
//! - entries of one contact are serialised (a row lock on PostgreSQL, the single writer on
//!   SQLite), so two entries cannot both pass the re-entry rule;
//! - every running token is counted at its node in `tokens_here` ([`crate::store::counts`]):
//!   whatever starts, moves or ends a journey moves its count in the same transaction, last.
//!
//! The store speaks storage only: an entry that is refused says why as data ([`Refusal`]);
//! the words for it belong to the service.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use flows::Token;
use flows::definition::Reentry;
use sea_orm::{ConnectionTrait, QueryResult};

use super::counts::{count_arrivals, count_here};
use super::{Error, Result, min_instant};
use crate::db::Packed::{Int, Json, Text};
use crate::db::{all, all_packed, col, exec, insert_rows, is_postgres, ms, one};

/// A token as stored: the engine's row ids around the core's [`Token`].
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: i64,
    pub flow_id: i64,
    pub version: i64,
    pub contact_id: i64,
    pub token: Token,
    /// The node the journey was at when loaded (running then): [`save_tokens`] moves its place
    /// in the `tokens_here` counts from there.
    pub was_at: String,
}

const TOKEN_COLUMNS: &str = "t.id, t.flow_id, t.version, t.contact_id, t.state";

fn token_row(r: &QueryResult) -> Result<StoredToken> {
    let id: i64 = col(r, 0)?;
    let mut token: Token =
        serde_json::from_str(&col::<String>(r, 4)?).map_err(Error::unreadable("the state of token", id))?;
    token.id = id.to_string();
    Ok(StoredToken {
        id,
        flow_id: col(r, 1)?,
        version: col(r, 2)?,
        contact_id: col(r, 3)?,
        was_at: token.node.clone(),
        token,
    })
}

/// A request to start a journey.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub flow_id: i64,
    pub version: i64,
    pub contact_id: i64,
    pub contact: &'a str,
    pub entry_node: &'a str,
    pub data: serde_json::Map<String, serde_json::Value>,
    /// The caller's idempotency key: the same key twice starts one journey.
    pub key: Option<&'a str>,
    pub reentry: Reentry,
    pub now: DateTime<Utc>,
}

/// What became of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entered {
    /// A new journey, due at once.
    Started { token: i64 },
    /// The key was seen before; this is that journey.
    Duplicate { token: i64 },
    /// The contact is kept out, for the reason given.
    Refused(Refusal),
}

/// Why an entry started no journey. The facts only: the API's words for each are the
/// service's (its `Display`, in `crate::service::refusal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The flow's re-entry rule is `after_exit`, and a journey of the contact in this flow has
    /// not ended (it runs, or is set aside).
    AlreadyIn,
    /// The flow's re-entry rule is `never`, and the contact has been in this flow before.
    BeenInBefore,
    /// The entry key already started the journey of another contact in this flow.
    KeyUsedForAnotherContact { key: String },
}

/// Starts a journey unless the key or the re-entry rule says otherwise, and counts it at its
/// entry node. The count takes a shared counter row, so it comes last in the transaction.
pub async fn enter(c: &impl ConnectionTrait, e: NewEntry<'_>) -> Result<Entered> {
    enter_with_memberships(c, e, (&[], &[])).await
}

/// [`enter`] for a contact who also gets `tags` and `lists` when the journey starts (not when
/// its key was seen before, so a retried request adds nothing twice), before the engine's first
/// step reads them. Tags and lists given this way are not events: they start no `event_entry`
/// journey and wake no one. The count at the entry node takes a shared counter row, so it comes
/// last in the transaction, after the contact's rows, as in the engine.
pub async fn enter_with_memberships(
    c: &impl ConnectionTrait,
    e: NewEntry<'_>,
    (tags, lists): (&[String], &[String]),
) -> Result<Entered> {
    let (flow, node, contact, now) = (e.flow_id, e.entry_node, e.contact_id, e.now);
    let entered = enter_uncounted(c, e).await?;
    if matches!(entered, Entered::Started { .. }) {
        for tag in tags {
            crate::store::contacts::add_tag(c, contact, tag, "api", now).await?;
        }
        for list in lists {
            crate::store::contacts::add_to_list(c, contact, list, now).await?;
        }
        count_arrivals(c, flow, node, 1).await?;
    }
    Ok(entered)
}

/// [`enter`] without the count at the entry node, for a transaction that goes on to lock other
/// rows: it counts its arrivals at its end (see [`save_tokens`]).
pub async fn enter_uncounted(c: &impl ConnectionTrait, e: NewEntry<'_>) -> Result<Entered> {
    // Entries of one contact are serialised (on SQLite the write transaction already is), so
    // two entries with different keys cannot both pass the re-entry check.
    if is_postgres(c) {
        exec(
            c,
            "SELECT id FROM contacts WHERE id = $1 FOR UPDATE",
            vec![e.contact_id.into()],
        )
        .await?;
    }
    if let Some(key) = e.key
        && let Some(seen) = keyed(c, e.flow_id, key, e.contact_id).await?
    {
        return Ok(seen);
    }
    let blocking = match e.reentry {
        Reentry::Always => None,
        Reentry::AfterExit => Some(("AND finished <> 1", Refusal::AlreadyIn)),
        Reentry::Never => Some(("", Refusal::BeenInBefore)),
    };
    if let Some((only_running, refusal)) = blocking {
        let sql = format!("SELECT 1 FROM tokens WHERE flow_id = $1 AND contact_id = $2 {only_running} LIMIT 1");
        if one(c, &sql, vec![e.flow_id.into(), e.contact_id.into()])
            .await?
            .is_some()
        {
            return Ok(Entered::Refused(refusal));
        }
    }
    let token = Token::new("", e.contact, e.entry_node, e.data, e.now);
    let state = serde_json::to_string(&token).map_err(Error::unwritable("a token's state"))?;
    let r = one(
        c,
        "INSERT INTO tokens (flow_id, version, contact_id, node, state, wake_at, finished, entry_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $6, $6) ON CONFLICT (flow_id, entry_key) DO NOTHING RETURNING id",
        vec![
            e.flow_id.into(),
            e.version.into(),
            e.contact_id.into(),
            e.entry_node.into(),
            state.into(),
            ms(e.now).into(),
            e.key.map(str::to_string).into(),
        ],
    )
    .await?;
    match (r, e.key) {
        (Some(r), _) => Ok(Entered::Started { token: col(&r, 0)? }),
        // The same key was entered concurrently (another contact's request with this key).
        (None, Some(key)) => keyed(c, e.flow_id, key, e.contact_id)
            .await?
            .ok_or_else(|| Error::custom("entry key conflict without a row")),
        (None, None) => Err(Error::custom("INSERT … RETURNING gave no row")),
    }
}

/// The journey an entry key already started in the flow: a duplicate for the same contact,
/// refused for another (the key names one contact's entry; another contact must not silently
/// get the first one's journey instead of their own).
async fn keyed(c: &impl ConnectionTrait, flow: i64, key: &str, contact: i64) -> Result<Option<Entered>> {
    let Some(r) = one(
        c,
        "SELECT id, contact_id FROM tokens WHERE flow_id = $1 AND entry_key = $2",
        vec![flow.into(), key.into()],
    )
    .await?
    else {
        return Ok(None);
    };
    if col::<i64>(&r, 1)? == contact {
        return Ok(Some(Entered::Duplicate { token: col(&r, 0)? }));
    }
    Ok(Some(Entered::Refused(Refusal::KeyUsedForAnotherContact {
        key: key.into(),
    })))
}

/// Enters every contact of an audience of lists (the members of any of `lists`, or every
/// contact; minus the members of `exclude_lists`) at a segment entry node as run `run`,
/// skipping those the flow's re-entry rule keeps out and those the run already admitted.
/// Returns what it found; the caller counts the entered with [`count_here`] at the end of its
/// transaction.
pub async fn enter_audience(c: &impl ConnectionTrait, e: AudienceEntry<'_>) -> Result<ListAdmission> {
    let keep_out = match e.reentry {
        Reentry::Always => "",
        Reentry::AfterExit => {
            "AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.flow_id = $1 AND t.contact_id = c.id AND t.finished <> 1)"
        }
        Reentry::Never => "AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.flow_id = $1 AND t.contact_id = c.id)",
    };
    // The same filters twice: for counting (placeholders from $1) and for entering (after the
    // flow's and the run's, $1 and $2).
    let filters = |first: usize| -> (String, String, Vec<sea_orm::Value>) {
        let mut values: Vec<sea_orm::Value> = Vec::new();
        let mut placeholders = |names: &[&str]| -> String {
            names
                .iter()
                .map(|n| {
                    values.push((*n).into());
                    format!("${}", first + values.len() - 1)
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let member = if e.lists.is_empty() {
            String::new()
        } else {
            let lists = placeholders(&e.lists);
            format!("AND EXISTS (SELECT 1 FROM contact_lists l WHERE l.contact_id = c.id AND l.list IN ({lists}))")
        };
        let excluded = if e.exclude_lists.is_empty() {
            "0 = 1".to_string()
        } else {
            let lists = placeholders(&e.exclude_lists);
            format!("EXISTS (SELECT 1 FROM contact_lists x WHERE x.contact_id = c.id AND x.list IN ({lists}))")
        };
        (member, excluded, values)
    };
    let (member, excluded, values) = filters(1);
    let count_sql = format!(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN {excluded} THEN 1 ELSE 0 END), 0) FROM contacts c WHERE 1 = 1 {member}"
    );
    let (audience, excluded_n) = match one(c, &count_sql, values).await? {
        Some(r) => (col::<i64>(&r, 0)?, col::<i64>(&r, 1)?),
        None => (0, 0),
    };
    let (member, excluded, lists) = filters(3);
    let mut values: Vec<sea_orm::Value> = vec![e.flow_id.into(), e.run_id.into()];
    values.extend(lists);
    let inner = format!(
        "SELECT c.id AS c0, c.external_id AS c1 FROM contacts c WHERE 1 = 1 {member} AND NOT ({excluded}) {keep_out} \
         AND NOT EXISTS (SELECT 1 FROM tokens r WHERE r.run_id = $2 AND r.contact_id = c.id) ORDER BY c.id"
    );
    let audience_rows: Vec<(i64, String)> = all_packed(c, &inner, &[Int, Text], values).await?;
    let mut rows = Vec::with_capacity(audience_rows.len());
    for contact in &audience_rows {
        rows.push(journey_row(&Journey {
            flow: (e.flow_id, e.version),
            contact: (contact.0, &contact.1),
            node: e.entry_node,
            record: None,
            run: Some(e.run_id),
            now: e.now,
        })?);
    }
    let n = rows.len() as u64;
    insert_rows(c, "tokens", &JOURNEY_COLUMNS, rows).await?;
    let audience = audience.max(0) as u64;
    let excluded_n = excluded_n.max(0) as u64;
    Ok(ListAdmission {
        audience,
        excluded: excluded_n,
        admitted: n,
        skipped: audience.saturating_sub(excluded_n).saturating_sub(n),
    })
}

/// What [`enter_audience`] found.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListAdmission {
    pub audience: u64,
    pub excluded: u64,
    pub admitted: u64,
    pub skipped: u64,
}

/// One journey a run starts.
#[derive(Debug, Clone)]
pub struct Journey<'a> {
    /// (flow id, version).
    pub flow: (i64, i64),
    /// (internal id, external id).
    pub contact: (i64, &'a str),
    /// The entry node.
    pub node: &'a str,
    /// The record the journey is for, when it is started per record.
    pub record: Option<&'a flows::token::RecordRef>,
    pub run: Option<i64>,
    pub now: DateTime<Utc>,
}

/// The columns of [`journey_row`].
pub const JOURNEY_COLUMNS: [&str; 11] = [
    "flow_id",
    "version",
    "contact_id",
    "node",
    "state",
    "wake_at",
    "finished",
    "created_at",
    "updated_at",
    "run_id",
    "record_id",
];

/// The row of a new journey at its entry node, due at once: for bulk entry (a run's
/// audience, a benchmark's contacts).
pub fn journey_row(j: &Journey<'_>) -> Result<Vec<sea_orm::Value>> {
    let mut token = Token::new("", j.contact.1, j.node, Default::default(), j.now);
    token.record = j.record.cloned();
    let state = serde_json::to_string(&token).map_err(Error::unwritable("a token's state"))?;
    Ok(vec![
        j.flow.0.into(),
        j.flow.1.into(),
        j.contact.0.into(),
        j.node.into(),
        state.into(),
        ms(j.now).into(),
        0i64.into(),
        ms(j.now).into(),
        ms(j.now).into(),
        j.run.into(),
        j.record.map(|r| r.id.clone()).into(),
    ])
}

/// An audience of lists entering at a segment entry node, as one run.
#[derive(Debug, Clone)]
pub struct AudienceEntry<'a> {
    pub flow_id: i64,
    pub version: i64,
    pub entry_node: &'a str,
    /// Members of any of these lists; every contact when empty.
    pub lists: Vec<&'a str>,
    /// Members of these lists are kept out.
    pub exclude_lists: Vec<&'a str>,
    pub reentry: Reentry,
    pub run_id: i64,
    pub now: DateTime<Utc>,
}

/// Where a running token stands in due order: its `wake_at` (Unix ms) and id.
pub type DueKey = (i64, i64);

/// Claims up to `limit` tokens of active flows due at `now`, oldest first (locked, skipping
/// locked ones, on PostgreSQL).
pub async fn claim_due(c: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<StoredToken>> {
    Ok(due_after(c, now, limit, None)
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}

/// Up to `limit` tokens of active flows due at `now` that come after `after` in due order, each
/// with its key (locked, skipping locked ones, on PostgreSQL).
pub async fn due_after(
    c: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
    after: Option<DueKey>,
) -> Result<Vec<(DueKey, StoredToken)>> {
    let postgres = is_postgres(c);
    let lock = if postgres { " FOR UPDATE OF t SKIP LOCKED" } else { "" };
    let cols = "t.id AS c0, t.flow_id AS c1, t.version AS c2, t.contact_id AS c3, t.state AS c4, t.wake_at AS c5";
    let from = "FROM tokens t JOIN flows f ON f.id = t.flow_id WHERE t.finished = 0 AND f.status = 'active'";
    let mut values: Vec<sea_orm::Value> = vec![ms(now).into(), (limit as i64).into()];
    if let Some((wake, id)) = after {
        values.extend([wake.into(), id.into()]);
    }
    let inner = match after {
        None => format!("SELECT {cols} {from} AND t.wake_at <= $1 ORDER BY t.wake_at, t.id LIMIT $2{lock}"),
        Some(_) if postgres => format!(
            "SELECT {cols} {from} AND t.wake_at <= $1 AND (t.wake_at, t.id) > ($3, $4) \
             ORDER BY t.wake_at, t.id LIMIT $2{lock}"
        ),
        // SQLite (3.51) seeks a row-value bound by its first column only, then steps through
        // every token due at that instant up to the id: 74 ms past 900 000 tokens due at one
        // instant, against 0.8 ms near the start. Stepped tokens leave their instant, so this is
        // rare, but split anyway: the rest of that instant, then the later instants.
        Some(_) => format!(
            "SELECT * FROM (SELECT {cols} {from} AND t.wake_at = $3 AND t.id > $4 ORDER BY t.id LIMIT $2) \
             UNION ALL \
             SELECT * FROM (SELECT {cols} {from} AND t.wake_at > $3 AND t.wake_at <= $1 ORDER BY t.wake_at, t.id LIMIT $2) \
             ORDER BY c5, c0 LIMIT $2"
        ),
    };
    let rows: Vec<(i64, i64, i64, i64, Token, i64)> =
        all_packed(c, &inner, &[Int, Int, Int, Int, Json, Int], values).await?;
    Ok(rows
        .into_iter()
        .map(|(id, flow_id, version, contact_id, mut token, wake)| {
            token.id = id.to_string();
            let stored = StoredToken {
                id,
                flow_id,
                version,
                contact_id,
                was_at: token.node.clone(),
                token,
            };
            ((wake, id), stored)
        })
        .collect())
}

/// The running journeys of a contact in active flows (locked on PostgreSQL), and apart the ids
/// of those whose state does not decode, with the reason (for [`crate::store::set_aside`]).
pub async fn running_for_contact(
    c: &impl ConnectionTrait,
    contact_id: i64,
) -> Result<(Vec<StoredToken>, Vec<(i64, String)>)> {
    let lock = if is_postgres(c) { " FOR UPDATE OF t" } else { "" };
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens t JOIN flows f ON f.id = t.flow_id \
         WHERE t.contact_id = $1 AND t.finished = 0 AND f.status = 'active' ORDER BY t.id{lock}"
    );
    let mut running = Vec::new();
    let mut unreadable = Vec::new();
    for row in all(c, &sql, vec![contact_id.into()]).await? {
        match token_row(&row) {
            Ok(token) => running.push(token),
            Err(e) => unreadable.push((col(&row, 0)?, e.to_string())),
        }
    }
    Ok((running, unreadable))
}

/// The earliest instant a token of an active flow is due.
pub async fn next_due(c: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>> {
    min_instant(
        c,
        "SELECT MIN(t.wake_at) FROM tokens t JOIN flows f ON f.id = t.flow_id WHERE t.finished = 0 AND f.status = 'active'",
    )
    .await
}

/// Tokens after a step, serialised for writing, with the `tokens_here` changes they make.
/// Built before the transaction that writes them, so the SQLite pipeline's writer only
/// executes (serialising a batch was about a seventh of its write transaction).
pub struct SavedTokens {
    rows: Vec<SavedToken>,
    moves: BTreeMap<(i64, String), i64>,
}

/// One token's columns after a step.
struct SavedToken {
    id: i64,
    flow_id: i64,
    version: i64,
    contact_id: i64,
    node: String,
    state: String,
    /// `None` once finished; a running token with nothing to wait for is due at once.
    wake: Option<i64>,
    finished: bool,
}

impl SavedTokens {
    /// `tokens` as they are now, with `arrivals` (journeys started by [`enter_uncounted`] in
    /// the same transaction) added to the counts.
    pub fn of(tokens: &[StoredToken], arrivals: BTreeMap<(i64, String), i64>, now: DateTime<Utc>) -> Result<Self> {
        let rows = tokens
            .iter()
            .map(|t| {
                let finished = t.token.is_finished();
                Ok(SavedToken {
                    id: t.id,
                    flow_id: t.flow_id,
                    version: t.version,
                    contact_id: t.contact_id,
                    node: t.token.node.clone(),
                    state: serde_json::to_string(&t.token).map_err(Error::unwritable("a token's state"))?,
                    wake: (!finished).then(|| t.token.wake_at().map_or(ms(now), ms)),
                    finished,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SavedTokens {
            rows,
            moves: moves(tokens, arrivals),
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Writes the new state of many tokens with one multi-row upsert per chunk (the rows exist;
/// `ON CONFLICT (id) DO UPDATE` is the portable batched UPDATE), then moves their counts.
pub async fn save_tokens(c: &impl ConnectionTrait, tokens: SavedTokens, now: DateTime<Utc>) -> Result<()> {
    let rows = tokens
        .rows
        .into_iter()
        .map(|t| {
            vec![
                t.id.into(),
                t.flow_id.into(),
                t.version.into(),
                t.contact_id.into(),
                t.node.into(),
                t.state.into(),
                t.wake.into(),
                i64::from(t.finished).into(),
                ms(now).into(),
                ms(now).into(),
            ]
        })
        .collect();
    crate::db::upsert_rows(
        c,
        "tokens",
        &[
            "id",
            "flow_id",
            "version",
            "contact_id",
            "node",
            "state",
            "wake_at",
            "finished",
            "created_at",
            "updated_at",
        ],
        rows,
        "ON CONFLICT (id) DO UPDATE SET node = excluded.node, state = excluded.state, wake_at = excluded.wake_at, \
         finished = excluded.finished, updated_at = excluded.updated_at",
    )
    .await?;
    count_here(c, tokens.moves).await
}

/// [`save_tokens`] for tokens read outside the transaction (the SQLite pipeline), guarded: each
/// token is written only while it is still running at the key it was read with (`read_at`,
/// by token id), and `false` means one was not, so the caller must roll back. A guard, not a
/// lock: a step usually moves `wake_at` or ends the journey, but one can leave it as it was (a
/// `wait_for_event` with a zero timeout, an event that is not awaited), and contact data is
/// not checked; the SQLite engine turn is what keeps other engines away. SQLite only (the
/// `VALUES` columns are untyped there).
pub async fn save_tokens_if_due(
    c: &impl ConnectionTrait,
    tokens: SavedTokens,
    read_at: &HashMap<i64, i64>,
    now: DateTime<Utc>,
) -> Result<bool> {
    debug_assert!(!is_postgres(c), "the guarded token update is SQLite's");
    const COLS: usize = 7;
    let expected = tokens.rows.len() as u64;
    let mut updated = 0;
    let mut rows = tokens.rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<SavedToken> = rows.by_ref().take(30_000 / COLS).collect();
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * COLS);
        let n = chunk.len();
        for t in chunk {
            let Some(&read_wake) = read_at.get(&t.id) else {
                return Ok(false);
            };
            values.extend([
                t.id.into(),
                t.node.into(),
                t.state.into(),
                t.wake.into(),
                i64::from(t.finished).into(),
                ms(now).into(),
                read_wake.into(),
            ]);
        }
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?)"; n].join(", ");
        let sql = format!(
            "UPDATE tokens SET node = v.column2, state = v.column3, wake_at = v.column4, finished = v.column5, \
             updated_at = v.column6 FROM (VALUES {rows}) AS v \
             WHERE tokens.id = v.column1 AND tokens.wake_at = v.column7 AND tokens.finished = 0"
        );
        updated += exec(c, &sql, values).await?;
    }
    if updated != expected {
        return Ok(false);
    }
    count_here(c, tokens.moves).await?;
    Ok(true)
}

/// The changes to the `tokens_here` counts: each token that moved or finished leaves the node it
/// was at, and arrives at its new one while running; `arrivals` added.
fn moves(tokens: &[StoredToken], arrivals: BTreeMap<(i64, String), i64>) -> BTreeMap<(i64, String), i64> {
    let mut here = arrivals;
    for t in tokens {
        let finished = t.token.is_finished();
        if finished || t.token.node != t.was_at {
            *here.entry((t.flow_id, t.was_at.clone())).or_default() -= 1;
            if !finished {
                *here.entry((t.flow_id, t.token.node.clone())).or_default() += 1;
            }
        }
    }
    here
}

/// The ids of the journeys of active flows due at `now`, in due order, each with the instant
/// (Unix ms) it is due at, reading nothing else.
pub async fn due_ids(c: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<(i64, i64)>> {
    let rows = all(
        c,
        "SELECT t.id, t.wake_at FROM tokens t JOIN flows f ON f.id = t.flow_id \
         WHERE t.finished = 0 AND f.status = 'active' AND t.wake_at <= $1 ORDER BY t.wake_at, t.id LIMIT $2",
        vec![ms(now).into(), (limit as i64).into()],
    )
    .await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

/// One journey by its token id, if it is running in an active flow and due at `now` (locked on
/// PostgreSQL, skipped when another engine holds it).
pub async fn claim_one(c: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> Result<Option<StoredToken>> {
    let lock = if is_postgres(c) {
        " FOR UPDATE OF t SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens t JOIN flows f ON f.id = t.flow_id \
         WHERE t.id = $1 AND t.finished = 0 AND f.status = 'active' AND t.wake_at <= $2{lock}"
    );
    match one(c, &sql, vec![id.into(), ms(now).into()]).await? {
        Some(r) => Ok(Some(token_row(&r)?)),
        None => Ok(None),
    }
}

/// The running journeys of a contact in paused flows: (token id, flow id).
pub async fn paused_for_contact(c: &impl ConnectionTrait, contact_id: i64) -> Result<Vec<(i64, i64)>> {
    let rows = all(
        c,
        "SELECT t.id, t.flow_id FROM tokens t JOIN flows f ON f.id = t.flow_id \
         WHERE t.contact_id = $1 AND t.finished = 0 AND f.status <> 'active' ORDER BY t.id",
        vec![contact_id.into()],
    )
    .await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

/// A journey waiting at a node, as "who is here" lists it.
#[derive(Debug, Clone)]
pub struct AtNode {
    pub contact: String,
    pub email: Option<String>,
    /// Its last step, which brought it here (or deferred it here again).
    pub since: DateTime<Utc>,
    pub version: i64,
}

/// A page of the running journeys of `flow` at `node`, oldest journey first (through the
/// partial index `tokens_at_node`, so a page costs its rows, not the flow's journeys).
pub async fn at_node(
    c: &impl ConnectionTrait,
    (flow, node): (i64, &str),
    limit: u64,
    offset: u64,
) -> Result<Vec<AtNode>> {
    let rows = all(
        c,
        "SELECT c.external_id, c.email, t.updated_at, t.version FROM tokens t JOIN contacts c ON c.id = t.contact_id \
         WHERE t.flow_id = $1 AND t.node = $2 AND t.finished = 0 ORDER BY t.id LIMIT $3 OFFSET $4",
        vec![flow.into(), node.into(), (limit as i64).into(), (offset as i64).into()],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AtNode {
                contact: col(r, 0)?,
                email: col(r, 1)?,
                since: crate::db::from_ms(col(r, 2)?),
                version: col(r, 3)?,
            })
        })
        .collect()
}
