//! Tokens, the journal, messages with their outbox, and the inbox of events.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use flows::definition::Reentry;
use flows::{Event, JournalEntry, Outbound, Token};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use serde::Serialize;

use crate::db::Packed::{Int, Json, Text};
use crate::db::{Packed, all, all_packed, col, exec, from_ms, insert_rows, is_postgres, ms, one, placeholders};

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

fn token_row(r: &QueryResult) -> Result<StoredToken, DbErr> {
    let id: i64 = col(r, 0)?;
    let mut token: Token = serde_json::from_str(&col::<String>(r, 4)?)
        .map_err(|e| DbErr::Custom(format!("token {id} has unreadable state: {e}")))?;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Entered {
    /// A new journey, due at once.
    Started { token: i64 },
    /// The key was seen before; this is that journey.
    Duplicate { token: i64 },
    /// The flow's re-entry rule keeps the contact out.
    Refused { reason: String },
}

/// Starts a journey unless the key or the re-entry rule says otherwise, and counts it at its
/// entry node. The count takes a shared counter row, so it comes last in the transaction.
pub async fn enter(c: &impl ConnectionTrait, e: NewEntry<'_>) -> Result<Entered, DbErr> {
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
) -> Result<Entered, DbErr> {
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
pub async fn enter_uncounted(c: &impl ConnectionTrait, e: NewEntry<'_>) -> Result<Entered, DbErr> {
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
        Reentry::AfterExit => Some((
            "AND finished <> 1",
            "the contact is already in this flow (reentry: after_exit)",
        )),
        Reentry::Never => Some(("", "the contact has been in this flow before (reentry: never)")),
    };
    if let Some((only_running, reason)) = blocking {
        let sql = format!("SELECT 1 FROM tokens WHERE flow_id = $1 AND contact_id = $2 {only_running} LIMIT 1");
        if one(c, &sql, vec![e.flow_id.into(), e.contact_id.into()])
            .await?
            .is_some()
        {
            return Ok(Entered::Refused { reason: reason.into() });
        }
    }
    let token = Token::new("", e.contact, e.entry_node, e.data, e.now);
    let state = serde_json::to_string(&token).map_err(|err| DbErr::Custom(err.to_string()))?;
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
            .ok_or_else(|| DbErr::Custom("entry key conflict without a row".into())),
        (None, None) => Err(DbErr::Custom("INSERT … RETURNING gave no row".into())),
    }
}

/// The journey an entry key already started in the flow: a duplicate for the same contact,
/// refused for another (the key names one contact's entry; another contact must not silently
/// get the first one's journey instead of their own).
async fn keyed(c: &impl ConnectionTrait, flow: i64, key: &str, contact: i64) -> Result<Option<Entered>, DbErr> {
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
    Ok(Some(Entered::Refused {
        reason: format!("the entry key '{key}' was already used for another contact in this flow"),
    }))
}

/// Enters every contact of an audience (all contacts, or the members of `list`) at a segment
/// entry node, skipping those the flow's re-entry rule keeps out. Returns how many entered; the
/// caller counts them with [`count_here`] at the end of its transaction.
pub async fn enter_audience(c: &impl ConnectionTrait, e: AudienceEntry<'_>) -> Result<u64, DbErr> {
    let keep_out = match e.reentry {
        Reentry::Always => "",
        Reentry::AfterExit => {
            "AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.flow_id = $1 AND t.contact_id = c.id AND t.finished <> 1)"
        }
        Reentry::Never => "AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.flow_id = $1 AND t.contact_id = c.id)",
    };
    let (member, values): (&str, Vec<sea_orm::Value>) = match e.list {
        Some(list) => (
            "AND EXISTS (SELECT 1 FROM contact_lists l WHERE l.contact_id = c.id AND l.list = $2)",
            vec![e.flow_id.into(), list.into()],
        ),
        None => ("", vec![e.flow_id.into()]),
    };
    let inner =
        format!("SELECT c.id AS c0, c.external_id AS c1 FROM contacts c WHERE 1 = 1 {member} {keep_out} ORDER BY c.id");
    let audience: Vec<(i64, String)> = all_packed(c, &inner, &[Int, Text], values).await?;
    let mut rows = Vec::with_capacity(audience.len());
    for contact in &audience {
        rows.push(new_token_row(
            (e.flow_id, e.version),
            (contact.0, &contact.1),
            e.entry_node,
            e.now,
        )?);
    }
    let n = rows.len() as u64;
    insert_rows(c, "tokens", &NEW_TOKEN_COLUMNS, rows).await?;
    Ok(n)
}

/// Counter rows are spread over this many shards per key, so engines sharing PostgreSQL do not
/// all queue for one hot row; readers sum the shards.
///
/// Deadlock rule: a transaction takes counter rows only at its end, `tokens_here` (one sorted
/// statement) before `journal_counts` (one sorted statement), and locks nothing after them. A
/// transaction holding a counter row then waits for nobody, so no cycle can form.
const COUNT_SHARDS: i64 = 8;

fn count_shard() -> i64 {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .rem_euclid(COUNT_SHARDS)
}

/// Adds `n` new journeys at `node` of `flow` to the `tokens_here` counts (bulk entry).
pub async fn count_arrivals(c: &impl ConnectionTrait, flow: i64, node: &str, n: i64) -> Result<(), DbErr> {
    count_here(c, BTreeMap::from([((flow, node.to_string()), n)])).await
}

/// Applies `(flow, node) → change` to the running journeys per node. Keys are written in
/// order, so two transactions never wait for each other's counter rows crosswise.
pub async fn count_here(c: &impl ConnectionTrait, deltas: BTreeMap<(i64, String), i64>) -> Result<(), DbErr> {
    let shard = count_shard();
    let rows = deltas
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|((flow, node), n)| vec![flow.into(), node.into(), shard.into(), n.into()])
        .collect();
    crate::db::upsert_rows(
        c,
        "tokens_here",
        &["flow_id", "node", "shard", "n"],
        rows,
        "ON CONFLICT (flow_id, node, shard) DO UPDATE SET n = tokens_here.n + excluded.n",
    )
    .await
}

/// Adds `(flow, node, action) → lines` to the journal counts, keys in order as above.
async fn count_journal(
    c: &impl ConnectionTrait,
    deltas: BTreeMap<(i64, String, &'static str), i64>,
) -> Result<(), DbErr> {
    let shard = count_shard();
    let rows = deltas
        .into_iter()
        .map(|((flow, node, action), n)| vec![flow.into(), node.into(), action.into(), shard.into(), n.into()])
        .collect();
    crate::db::upsert_rows(
        c,
        "journal_counts",
        &["flow_id", "node", "action", "shard", "n"],
        rows,
        "ON CONFLICT (flow_id, node, action, shard) DO UPDATE SET n = journal_counts.n + excluded.n",
    )
    .await
}

/// The columns of [`new_token_row`].
pub const NEW_TOKEN_COLUMNS: [&str; 9] = [
    "flow_id",
    "version",
    "contact_id",
    "node",
    "state",
    "wake_at",
    "finished",
    "created_at",
    "updated_at",
];

/// The row of a new journey of `contact` (internal id, external id) in `flow` (id, version) at
/// its entry node, due at `now`; for bulk entry.
pub fn new_token_row(
    flow: (i64, i64),
    contact: (i64, &str),
    entry_node: &str,
    now: DateTime<Utc>,
) -> Result<Vec<sea_orm::Value>, DbErr> {
    let token = Token::new("", contact.1, entry_node, Default::default(), now);
    let state = serde_json::to_string(&token).map_err(|err| DbErr::Custom(err.to_string()))?;
    Ok(vec![
        flow.0.into(),
        flow.1.into(),
        contact.0.into(),
        entry_node.into(),
        state.into(),
        ms(now).into(),
        0i64.into(),
        ms(now).into(),
        ms(now).into(),
    ])
}

/// An audience entering at a segment entry node.
#[derive(Debug, Clone)]
pub struct AudienceEntry<'a> {
    pub flow_id: i64,
    pub version: i64,
    pub entry_node: &'a str,
    /// Members of this list; every contact when `None`.
    pub list: Option<&'a str>,
    pub reentry: Reentry,
    pub now: DateTime<Utc>,
}

/// Where a running token stands in due order: its `wake_at` (Unix ms) and id.
pub type DueKey = (i64, i64);

/// Claims up to `limit` tokens of active flows due at `now`, oldest first (locked, skipping
/// locked ones, on PostgreSQL).
pub async fn claim_due(c: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<StoredToken>, DbErr> {
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
) -> Result<Vec<(DueKey, StoredToken)>, DbErr> {
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
) -> Result<(Vec<StoredToken>, Vec<(i64, String)>), DbErr> {
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

/// The instant a `SELECT MIN(<millis>) …` query returns, if any.
async fn min_instant(c: &impl ConnectionTrait, sql: &str) -> Result<Option<DateTime<Utc>>, DbErr> {
    let r = one(c, sql, vec![]).await?;
    Ok(r.as_ref()
        .map(|r| col::<Option<i64>>(r, 0))
        .transpose()?
        .flatten()
        .map(from_ms))
}

/// The earliest instant a token of an active flow is due.
pub async fn next_due(c: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, DbErr> {
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
    pub fn of(
        tokens: &[StoredToken],
        arrivals: BTreeMap<(i64, String), i64>,
        now: DateTime<Utc>,
    ) -> Result<Self, DbErr> {
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
                    state: serde_json::to_string(&t.token).map_err(|e| DbErr::Custom(e.to_string()))?,
                    wake: (!finished).then(|| t.token.wake_at().map_or(ms(now), ms)),
                    finished,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()?;
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
pub async fn save_tokens(c: &impl ConnectionTrait, tokens: SavedTokens, now: DateTime<Utc>) -> Result<(), DbErr> {
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
) -> Result<bool, DbErr> {
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
/// transaction, as [`SavedTokens`] are).
pub struct JournalLines {
    counts: BTreeMap<(i64, String, &'static str), i64>,
    rows: Vec<Vec<sea_orm::Value>>,
}

impl JournalLines {
    pub fn of(rows: Vec<JournalRow>) -> Self {
        let mut counts: BTreeMap<(i64, String, &'static str), i64> = BTreeMap::new();
        for r in &rows {
            for e in &r.entries {
                *counts.entry((r.flow_id, e.node.clone(), e.action.name())).or_default() += 1;
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
    #[serde(flatten)]
    action: &'a flows::Action,
}

impl<'a> StoredLine<'a> {
    fn of(line: &'a JournalEntry, row_at: DateTime<Utc>) -> Self {
        let implied = line.at == row_at && from_ms(ms(row_at)) == row_at;
        StoredLine {
            at: (!implied).then(|| rfc3339(line.at)),
            node: &line.node,
            action: &line.action,
        }
    }
}

/// An instant as journal lines print it (`flows::JournalEntry`'s form).
fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

pub async fn append_journal(c: &impl ConnectionTrait, lines: JournalLines) -> Result<(), DbErr> {
    count_journal(c, lines.counts).await?;
    insert_rows(
        c,
        "journal",
        &["contact_id", "flow_id", "token_id", "at", "entry"],
        lines.rows,
    )
    .await
}

/// Messages whose provider accepted them.
pub async fn count_sent(c: &impl ConnectionTrait) -> Result<u64, DbErr> {
    match one(c, "SELECT COUNT(*) FROM messages WHERE status = 'sent'", vec![]).await? {
        Some(r) => Ok(col::<i64>(&r, 0)? as u64),
        None => Ok(0),
    }
}

/// How many journal lines there are in all (a row holds one line as an object, or the lines of
/// one step as an array).
pub async fn journal_lines(c: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let sql = if is_postgres(c) {
        "SELECT CAST(COALESCE(SUM(CASE WHEN json_typeof(entry::json) = 'array' \
         THEN json_array_length(entry::json) ELSE 1 END), 0) AS BIGINT) FROM journal"
    } else {
        "SELECT CAST(COALESCE(SUM(CASE WHEN json_type(entry) = 'array' \
         THEN json_array_length(entry) ELSE 1 END), 0) AS BIGINT) FROM journal"
    };
    match one(c, sql, vec![]).await? {
        Some(r) => col(&r, 0),
        None => Ok(0),
    }
}

/// A contact's journal, oldest first: the objects `cairn simulate` prints, plus `flow`.
pub async fn journal_of(c: &impl ConnectionTrait, contact_id: i64) -> Result<Vec<serde_json::Value>, DbErr> {
    let rows = all(
        c,
        "SELECT j.entry, j.flow_id, j.at, c.external_id FROM journal j LEFT JOIN contacts c ON c.id = j.contact_id \
         WHERE j.contact_id = $1 ORDER BY j.id",
        vec![contact_id.into()],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
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

/// A message written by a step.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub token_id: i64,
    pub contact_id: i64,
    /// The contact's external id (for the journal of its delivery).
    pub contact: String,
    pub flow_id: i64,
    pub message: Outbound,
}

/// Messages serialised for writing as `queued`, with their outbox rows (built before the
/// transaction, as [`SavedTokens`] are), and the messages themselves for a hand-over.
pub struct QueuedMessages {
    messages: Vec<Vec<sea_orm::Value>>,
    rows: Vec<MessageRow>,
    now: DateTime<Utc>,
}

impl QueuedMessages {
    pub fn of(rows: Vec<MessageRow>, now: DateTime<Utc>) -> Result<Self, DbErr> {
        let mut messages = Vec::with_capacity(rows.len());
        for r in &rows {
            let content = serde_json::to_string(&r.message.content).map_err(|e| DbErr::Custom(e.to_string()))?;
            let guard = r
                .message
                .guard
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| DbErr::Custom(e.to_string()))?;
            messages.push(vec![
                r.message.id.clone().into(),
                r.token_id.into(),
                r.contact_id.into(),
                r.flow_id.into(),
                r.message.node.clone().into(),
                r.message.channel.as_str().into(),
                r.message.to.clone().into(),
                content.into(),
                guard.into(),
                "queued".into(),
                ms(now).into(),
                ms(now).into(),
            ]);
        }
        Ok(QueuedMessages { messages, rows, now })
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// Stores messages as `queued` and puts them in the outbox for delivery. With `leased_until`,
/// their outbox rows are leased until then, and the messages come back ready to send (for
/// [`crate::runtime::handoff::Handoff`]); without it, delivery leases them when it finds them.
pub async fn queue_messages(
    c: &impl ConnectionTrait,
    queued: QueuedMessages,
    leased_until: Option<DateTime<Utc>>,
) -> Result<Vec<Pending>, DbErr> {
    let QueuedMessages { messages, rows, now } = queued;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    insert_rows(
        c,
        "messages",
        &[
            "id",
            "token_id",
            "contact_id",
            "flow_id",
            "node",
            "channel",
            "recipient",
            "content",
            "guard",
            "status",
            "created_at",
            "updated_at",
        ],
        messages,
    )
    .await?;
    let Some(until) = leased_until else {
        let outbox = rows
            .iter()
            .map(|r| vec![r.message.id.clone().into(), ms(now).into()])
            .collect();
        insert_rows(c, "outbox", &["message_id", "created_at"], outbox).await?;
        return Ok(Vec::new());
    };
    let outbox = rows
        .iter()
        .map(|r| vec![r.message.id.clone().into(), ms(now).into(), ms(until).into()])
        .collect();
    let inserted = crate::db::insert_returning(
        c,
        "outbox",
        &["message_id", "created_at", "leased_until"],
        outbox,
        "id, message_id",
    )
    .await?;
    let mut ids = HashMap::with_capacity(inserted.len());
    for r in &inserted {
        ids.insert(col::<String>(r, 1)?, col::<i64>(r, 0)?);
    }
    rows.into_iter()
        .map(|r| {
            let outbox_id = *ids
                .get(&r.message.id)
                .ok_or_else(|| DbErr::Custom(format!("outbox row of message {} not returned", r.message.id)))?;
            Ok(Pending {
                outbox_id,
                attempts: 0,
                token_id: r.token_id,
                contact_id: r.contact_id,
                contact: r.contact,
                flow_id: r.flow_id,
                message: r.message,
                leased_until: from_ms(ms(until)),
            })
        })
        .collect()
}

/// A message leased from the outbox for one delivery attempt (the queue's job type).
pub type Pending = workers::jobs::SendJob;

/// What an outcome is checked against: an outbox row's attempt count, message id and lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowState {
    pub attempts: i64,
    pub message: String,
    /// Unix ms, when leased.
    pub leased_until: Option<i64>,
}

/// The state of each outbox row that still exists, by row id.
pub async fn outbox_rows(c: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, RowState>, DbErr> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let inner = format!(
            "SELECT id AS c0, attempts AS c1, message_id AS c2, leased_until AS c3 FROM outbox WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let rows: Vec<(i64, i64, String, Option<i64>)> = all_packed(
            c,
            &inner,
            &[Int, Int, Text, Int],
            chunk.iter().map(|i| (*i).into()).collect(),
        )
        .await?;
        for (id, attempts, message, leased_until) in rows {
            let state = RowState {
                attempts,
                message,
                leased_until,
            };
            out.insert(id, state);
        }
    }
    Ok(out)
}

/// Gives a row back (due as it was) if it still holds the lease `lease_until`.
pub async fn release_outbox(c: &impl ConnectionTrait, id: i64, lease_until: DateTime<Utc>) -> Result<(), DbErr> {
    exec(
        c,
        "UPDATE outbox SET leased_until = NULL WHERE id = $1 AND leased_until = $2",
        vec![id.into(), ms(lease_until).into()],
    )
    .await?;
    Ok(())
}

/// A row of the lease query, its columns in order (a packed row is a JSON array).
#[derive(serde::Deserialize)]
struct LeasedRow {
    outbox_id: i64,
    attempts: i64,
    message_id: String,
    token_id: i64,
    contact_id: i64,
    contact: String,
    flow_id: i64,
    node: String,
    channel: String,
    to: String,
    /// Packed as JSON (see `db::all_packed`).
    content: flows::Content,
    guard: Option<flows::policy::Guard>,
}

/// How the lease query's columns are packed, in [`LeasedRow`]'s order.
const LEASED_COLUMNS: [Packed; 12] = [Int, Int, Text, Int, Int, Text, Int, Text, Text, Text, Json, Json];

/// Leases up to `limit` outbox rows that are due and not leased by anyone else, until `until`.
pub async fn lease_outbox(
    c: &impl ConnectionTrait,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Pending>, DbErr> {
    bring_back_due(c, now, limit).await?;
    let out = leasable(c, now, until, limit, None).await?;
    let ids: Vec<i64> = out.iter().map(|p| p.outbox_id).collect();
    for chunk in ids.chunks(1000) {
        let sql = format!(
            "UPDATE outbox SET leased_until = $1 WHERE id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut values: Vec<sea_orm::Value> = vec![ms(until).into()];
        values.extend(chunk.iter().map(|i| (*i).into()));
        exec(c, &sql, values).await?;
    }
    Ok(out)
}

/// Reads the due outbox row `id` as [`lease_outbox`] would, leasing nothing: an error means
/// that row cannot be sent as it is.
pub async fn probe_outbox(c: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> Result<(), DbErr> {
    leasable(c, now, now, 1, Some(id)).await.map(|_| ())
}

/// The ids of the due, unleased outbox rows, oldest first, reading nothing else.
pub async fn due_outbox_ids(c: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<i64>, DbErr> {
    let rows = all(
        c,
        "SELECT id FROM outbox WHERE not_before <= $1 AND (leased_until IS NULL OR leased_until <= $1) \
         ORDER BY id LIMIT $2",
        vec![ms(now).into(), (limit as i64).into()],
    )
    .await?;
    rows.iter().map(|r| col(r, 0)).collect()
}

/// Up to `limit` due, unleased outbox rows (or only row `only`) with their messages, oldest
/// first, as leased until `until` (locked on PostgreSQL, skipping locked ones; not yet marked).
async fn leasable(
    c: &impl ConnectionTrait,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
    only: Option<i64>,
) -> Result<Vec<Pending>, DbErr> {
    let lock = if is_postgres(c) {
        " FOR UPDATE OF o SKIP LOCKED"
    } else {
        ""
    };
    let one_row = if only.is_some() { " AND o.id = $3" } else { "" };
    let inner = format!(
        "SELECT o.id AS c0, o.attempts AS c1, m.id AS c2, m.token_id AS c3, m.contact_id AS c4, c.external_id AS c5, \
         m.flow_id AS c6, m.node AS c7, m.channel AS c8, m.recipient AS c9, m.content AS c10, m.guard AS c11 \
         FROM outbox o JOIN messages m ON m.id = o.message_id JOIN contacts c ON c.id = m.contact_id \
         WHERE o.not_before <= $1 AND (o.leased_until IS NULL OR o.leased_until <= $1){one_row} \
         ORDER BY o.id LIMIT $2{lock}"
    );
    let mut values: Vec<sea_orm::Value> = vec![ms(now).into(), (limit as i64).into()];
    values.extend(only.map(Into::into));
    let rows: Vec<LeasedRow> = all_packed(c, &inner, &LEASED_COLUMNS, values).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(Pending {
            outbox_id: r.outbox_id,
            attempts: r.attempts,
            token_id: r.token_id,
            contact_id: r.contact_id,
            contact: r.contact,
            flow_id: r.flow_id,
            message: Outbound {
                id: r.message_id,
                node: r.node,
                channel: flows::Channel::parse(&r.channel)
                    .ok_or_else(|| DbErr::Custom(format!("unknown channel '{}'", r.channel)))?,
                to: r.to,
                content: r.content,
                guard: r.guard,
            },
            leased_until: from_ms(ms(until)),
        });
    }
    Ok(out)
}

/// Puts a row back for a later attempt, its `attempts`th, at `not_before` (in `outbox_later`).
pub async fn retry_outbox(
    c: &impl ConnectionTrait,
    id: i64,
    attempts: i64,
    not_before: DateTime<Utc>,
) -> Result<(), DbErr> {
    put_off(c, id, Some(attempts), not_before).await
}

/// Holds a row until `until` without counting an attempt (a window or closed day at delivery,
/// a throttle's slot), in `outbox_later`.
pub async fn defer_outbox(c: &impl ConnectionTrait, id: i64, until: DateTime<Utc>) -> Result<(), DbErr> {
    put_off(c, id, None, until).await
}

/// Moves a row to `outbox_later` until `until` (keeping its id, so outcomes of the attempt
/// that moved it are stale from then on), with `attempts` when given.
async fn put_off(c: &impl ConnectionTrait, id: i64, attempts: Option<i64>, until: DateTime<Utc>) -> Result<(), DbErr> {
    let attempts_sql = if attempts.is_some() { "$3" } else { "attempts" };
    let mut values = vec![id.into(), ms(until).into()];
    values.extend(attempts.map(sea_orm::Value::from));
    exec(
        c,
        &format!(
            "INSERT INTO outbox_later (id, message_id, created_at, attempts, not_before) \
             SELECT id, message_id, created_at, {attempts_sql}, $2 FROM outbox WHERE id = $1"
        ),
        values,
    )
    .await?;
    exec(c, "DELETE FROM outbox WHERE id = $1", vec![id.into()]).await?;
    Ok(())
}

/// Moves up to `limit` rows of `outbox_later` that are due at `now` back into the outbox, where
/// the lease finds them first (they keep their ids, lower than the rows queued since).
async fn bring_back_due(c: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<(), DbErr> {
    let values = vec![ms(now).into(), (limit as i64).into()];
    if is_postgres(c) {
        // Several processes may lease at once: each takes rows no other holds.
        exec(
            c,
            "WITH due AS (DELETE FROM outbox_later WHERE id IN (SELECT id FROM outbox_later \
             WHERE not_before <= $1 ORDER BY not_before, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING id, message_id, created_at, attempts, not_before) \
             INSERT INTO outbox (id, message_id, created_at, attempts, not_before) \
             SELECT id, message_id, created_at, attempts, not_before FROM due",
            values,
        )
        .await?;
        return Ok(());
    }
    let moved = exec(
        c,
        "INSERT INTO outbox (id, message_id, created_at, attempts, not_before) \
         SELECT id, message_id, created_at, attempts, not_before FROM outbox_later \
         WHERE not_before <= $1 ORDER BY not_before, id LIMIT $2",
        values,
    )
    .await?;
    if moved > 0 {
        exec(
            c,
            "DELETE FROM outbox_later WHERE not_before <= $1 AND id IN (SELECT id FROM outbox)",
            vec![ms(now).into()],
        )
        .await?;
    }
    Ok(())
}

/// Messages queued for each of `contacts` since `since` (not failed), oldest first: what
/// frequency caps count.
pub async fn recent_sends(
    c: &impl ConnectionTrait,
    contacts: &[i64],
    since: DateTime<Utc>,
) -> Result<std::collections::HashMap<i64, Vec<(flows::Channel, DateTime<Utc>)>>, DbErr> {
    let mut out: std::collections::HashMap<i64, Vec<(flows::Channel, DateTime<Utc>)>> = Default::default();
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
pub async fn suppressed(c: &impl ConnectionTrait, addresses: &[String]) -> Result<BTreeMap<String, String>, DbErr> {
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

/// Locks contact rows (PostgreSQL), in the given order, until the transaction ends.
pub async fn lock_contacts(c: &impl ConnectionTrait, sorted_ids: &[i64]) -> Result<(), DbErr> {
    for chunk in sorted_ids.chunks(1000) {
        let sql = format!(
            "SELECT id FROM contacts WHERE id IN ({}) ORDER BY id FOR UPDATE",
            placeholders(1, chunk.len())
        );
        all(c, &sql, chunk.iter().map(|i| (*i).into()).collect()).await?;
    }
    Ok(())
}

/// Stops later sends to `address` (its [`flows::geo::suppression_key`]: a hard bounce or an
/// unreachable number).
pub async fn suppress(c: &impl ConnectionTrait, address: &str, reason: &str, now: DateTime<Utc>) -> Result<(), DbErr> {
    let sql = if is_postgres(c) {
        "INSERT INTO suppressions (address, reason, created_at) VALUES ($1, $2, $3) ON CONFLICT (address) DO NOTHING"
    } else {
        "INSERT OR IGNORE INTO suppressions (address, reason, created_at) VALUES ($1, $2, $3)"
    };
    exec(c, sql, vec![address.into(), reason.into(), ms(now).into()]).await?;
    Ok(())
}

/// The earliest instant an outbox row becomes due (after its lease, if it has one), waiting
/// rows included (`outbox_later`, by its index).
pub async fn next_outbox_due(c: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, DbErr> {
    min_instant(
        c,
        "SELECT MIN(due) FROM (\
         SELECT MIN(CASE WHEN leased_until IS NOT NULL AND leased_until > not_before THEN leased_until ELSE not_before END) AS due FROM outbox \
         UNION ALL SELECT MIN(not_before) AS due FROM outbox_later) AS d",
    )
    .await
}

pub async fn delete_outbox(c: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    for chunk in ids.chunks(1000) {
        let sql = format!("DELETE FROM outbox WHERE id IN ({})", placeholders(1, chunk.len()));
        exec(c, &sql, chunk.iter().map(|i| (*i).into()).collect()).await?;
    }
    Ok(())
}

/// Records a permanent failure.
pub async fn fail_message(
    c: &impl ConnectionTrait,
    id: &str,
    provider: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    exec(
        c,
        "UPDATE messages SET status = 'failed', provider = $2, error = $3, updated_at = $4 WHERE id = $1",
        vec![id.into(), provider.into(), error.into(), ms(now).into()],
    )
    .await?;
    Ok(())
}

/// Records the provider's answer for many messages at once.
pub async fn set_messages_status(
    c: &impl ConnectionTrait,
    ids: &[String],
    status: &str,
    provider: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for chunk in ids.chunks(1000) {
        let sql = format!(
            "UPDATE messages SET status = $1, provider = $2, updated_at = $3 WHERE id IN ({})",
            placeholders(4, chunk.len())
        );
        let mut values: Vec<sea_orm::Value> = vec![status.into(), provider.into(), ms(now).into()];
        values.extend(chunk.iter().map(|id| id.clone().into()));
        exec(c, &sql, values).await?;
    }
    Ok(())
}

/// Messages, newest first: by `created_at` on PostgreSQL, by rowid (the order they were
/// written in, one writer at a time) on SQLite, which has no index on `created_at` (migration 9).
pub async fn messages(c: &impl ConnectionTrait, limit: u64) -> Result<Vec<serde_json::Value>, DbErr> {
    let order = if is_postgres(c) {
        "m.created_at DESC, m.id DESC"
    } else {
        "m.rowid DESC"
    };
    let sql = format!(
        "SELECT m.id, c.external_id, m.flow_id, m.node, m.channel, m.recipient, m.content, m.status, m.provider, m.created_at \
         FROM messages m JOIN contacts c ON c.id = m.contact_id ORDER BY {order} LIMIT $1"
    );
    let rows = all(c, &sql, vec![(limit as i64).into()]).await?;
    rows.iter()
        .map(|r| {
            let content: serde_json::Value = serde_json::from_str(&col::<String>(r, 6)?).unwrap_or_default();
            Ok(serde_json::json!({
                "id": col::<String>(r, 0)?,
                "contact": col::<String>(r, 1)?,
                "flow": col::<i64>(r, 2)?,
                "node": col::<String>(r, 3)?,
                "channel": col::<String>(r, 4)?,
                "to": col::<String>(r, 5)?,
                "content": content,
                "status": col::<String>(r, 7)?,
                "provider": col::<Option<String>>(r, 8)?,
                "created_at": from_ms(col(r, 9)?).to_rfc3339(),
            }))
        })
        .collect()
}

/// Queues an event for the engine.
pub async fn push_event(
    c: &impl ConnectionTrait,
    contact_id: i64,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let json = serde_json::to_string(event).map_err(|e| DbErr::Custom(e.to_string()))?;
    exec(
        c,
        "INSERT INTO inbox (contact_id, event, created_at) VALUES ($1, $2, $3)",
        vec![contact_id.into(), json.into(), ms(now).into()],
    )
    .await?;
    Ok(())
}

/// A queued event: for every journey of the contact, or (`token`) for one journey only.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub contact_id: i64,
    pub token: Option<i64>,
    pub event: Event,
}

/// The oldest queued events.
pub async fn take_events(c: &impl ConnectionTrait, limit: u64) -> Result<Vec<Queued>, DbErr> {
    // Several engines (PostgreSQL) take only a contact's oldest queued event: a later one waits
    // until the earlier is applied, so one contact's events are never applied out of order.
    let sql = if is_postgres(c) {
        "SELECT i.id, i.contact_id, i.event, i.token_id FROM inbox i \
         WHERE NOT EXISTS (SELECT 1 FROM inbox e WHERE e.contact_id = i.contact_id AND e.id < i.id) \
         ORDER BY i.id LIMIT $1 FOR UPDATE SKIP LOCKED"
    } else {
        "SELECT id, contact_id, event, token_id FROM inbox ORDER BY id LIMIT $1"
    };
    let rows = all(c, sql, vec![(limit as i64).into()]).await?;
    rows.iter()
        .map(|r| {
            let event: Event = serde_json::from_str(&col::<String>(r, 2)?).map_err(|e| DbErr::Custom(e.to_string()))?;
            Ok(Queued {
                id: col(r, 0)?,
                contact_id: col(r, 1)?,
                token: col(r, 3)?,
                event,
            })
        })
        .collect()
}

/// One queued event by its inbox id (locked on PostgreSQL), if it is still queued.
pub async fn take_event(c: &impl ConnectionTrait, id: i64) -> Result<Option<Queued>, DbErr> {
    let lock = if is_postgres(c) { " FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!("SELECT id, contact_id, event, token_id FROM inbox WHERE id = $1{lock}");
    let Some(r) = one(c, &sql, vec![id.into()]).await? else {
        return Ok(None);
    };
    let event: Event = serde_json::from_str(&col::<String>(&r, 2)?)
        .map_err(|e| DbErr::Custom(format!("event {id} is unreadable: {e}")))?;
    Ok(Some(Queued {
        id,
        contact_id: col(&r, 1)?,
        token: col(&r, 3)?,
        event,
    }))
}

/// The ids of the oldest queued events, reading nothing else.
pub async fn oldest_event_ids(c: &impl ConnectionTrait, limit: u64) -> Result<Vec<i64>, DbErr> {
    let rows = all(
        c,
        "SELECT id FROM inbox ORDER BY id LIMIT $1",
        vec![(limit as i64).into()],
    )
    .await?;
    rows.iter().map(|r| col(r, 0)).collect()
}

/// The ids of the journeys of active flows due at `now`, in due order, each with the instant
/// (Unix ms) it is due at, reading nothing else.
pub async fn due_ids(c: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> Result<Vec<(i64, i64)>, DbErr> {
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
pub async fn claim_one(c: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> Result<Option<StoredToken>, DbErr> {
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
pub async fn paused_for_contact(c: &impl ConnectionTrait, contact_id: i64) -> Result<Vec<(i64, i64)>, DbErr> {
    let rows = all(
        c,
        "SELECT t.id, t.flow_id FROM tokens t JOIN flows f ON f.id = t.flow_id \
         WHERE t.contact_id = $1 AND t.finished = 0 AND f.status <> 'active' ORDER BY t.id",
        vec![contact_id.into()],
    )
    .await?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

/// Keeps an event for a journey of a paused flow.
pub async fn hold_event(
    c: &impl ConnectionTrait,
    token: i64,
    flow: i64,
    contact: i64,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let json = serde_json::to_string(event).map_err(|e| DbErr::Custom(e.to_string()))?;
    exec(
        c,
        "INSERT INTO held_events (flow_id, token_id, contact_id, event, created_at) VALUES ($1, $2, $3, $4, $5)",
        vec![flow.into(), token.into(), contact.into(), json.into(), ms(now).into()],
    )
    .await?;
    Ok(())
}

/// Puts a flow's held events back in the inbox, each addressed to its journey.
pub async fn release_held_events(c: &impl ConnectionTrait, flow: i64) -> Result<u64, DbErr> {
    let n = exec(
        c,
        "INSERT INTO inbox (contact_id, event, created_at, token_id) \
         SELECT contact_id, event, created_at, token_id FROM held_events WHERE flow_id = $1 ORDER BY id",
        vec![flow.into()],
    )
    .await?;
    exec(c, "DELETE FROM held_events WHERE flow_id = $1", vec![flow.into()]).await?;
    Ok(n)
}

/// Whether any event waits in the inbox.
pub async fn has_events(c: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(one(c, "SELECT 1 FROM inbox LIMIT 1", vec![]).await?.is_some())
}

pub async fn delete_events(c: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    for chunk in ids.chunks(1000) {
        let sql = format!("DELETE FROM inbox WHERE id IN ({})", placeholders(1, chunk.len()));
        exec(c, &sql, chunk.iter().map(|i| (*i).into()).collect()).await?;
    }
    Ok(())
}

/// Per-node counts of a flow: journal actions, and journeys currently at the node.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeStats {
    /// Journal lines at this node by action (`entered`, `sent`, `exited`, …).
    pub actions: BTreeMap<String, i64>,
    /// Journeys at this node now (waiting, or about to run).
    pub here: i64,
}

pub async fn stats(c: &impl ConnectionTrait, flow_id: i64) -> Result<BTreeMap<String, NodeStats>, DbErr> {
    let mut out: BTreeMap<String, NodeStats> = BTreeMap::new();
    let rows = all(
        c,
        "SELECT node, action, CAST(SUM(n) AS BIGINT) FROM journal_counts WHERE flow_id = $1 GROUP BY node, action HAVING SUM(n) <> 0",
        vec![flow_id.into()],
    )
    .await?;
    for r in rows {
        out.entry(col(&r, 0)?)
            .or_default()
            .actions
            .insert(col(&r, 1)?, col(&r, 2)?);
    }
    let rows = all(
        c,
        "SELECT node, CAST(SUM(n) AS BIGINT) FROM tokens_here WHERE flow_id = $1 GROUP BY node HAVING SUM(n) <> 0",
        vec![flow_id.into()],
    )
    .await?;
    for r in rows {
        out.entry(col(&r, 0)?).or_default().here = col(&r, 1)?;
    }
    Ok(out)
}
