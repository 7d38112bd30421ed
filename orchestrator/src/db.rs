//! The database connection and the small SQL toolkit the stores use.
//!
//! SQLite (a file, WAL, `synchronous=NORMAL`) by default, PostgreSQL when the URL says so; the
//! same SQL runs on both because it uses `$1`-style placeholders (sqlx supports them on SQLite
//! too), `ON CONFLICT` upserts and `RETURNING`, and stores instants as Unix milliseconds.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult, Statement, Value,
};

/// How long start-up waits for a database server to answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the database at `url` and brings its schema up to date. A database server that does
/// not answer within [`CONNECT_TIMEOUT`] fails start-up at once, naming the `host:port` tried
/// (not the pool's "timed out" after 30 s).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let sqlite = url.starts_with("sqlite:");
    if let Some(address) = server_address(url) {
        let reached = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address.as_str())).await;
        let problem = match reached {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        };
        if let Some(problem) = problem {
            return Err(DbErr::Custom(format!(
                "cannot reach the database server at {address}: {problem}"
            )));
        }
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if sqlite { 4 } else { 16 })
        .acquire_timeout(Duration::from_secs(30))
        // A pooled SQLite connection cannot have gone away; the ping before each use was a
        // round trip to its thread for every transaction.
        .test_before_acquire(!sqlite)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(false)
                .create_if_missing(true)
                // Rows cross from sqlx's SQLite thread over a bounded channel; the default (50)
                // made a 1000-token batch switch threads every 50 rows.
                .row_buffer_size(16_384)
        });
    if !sqlite {
        options.connect_timeout(CONNECT_TIMEOUT);
    }
    let db = Database::connect(options)
        .await
        .map_err(|e| match server_address(url) {
            Some(address) => DbErr::Custom(format!("cannot connect to the database at {address}: {e}")),
            None => e,
        })?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// `host:port` of a database server URL (`postgres://user:password@host:5432/db`), without
/// its credentials; `None` for SQLite and for URLs without a host (a Unix socket).
pub fn server_address(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let port = match scheme {
        "postgres" | "postgresql" => 5432,
        _ => return None,
    };
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return None;
    }
    let has_port = match host_port.rfind(']') {
        Some(bracket) => host_port[bracket..].contains(':'),
        None => host_port.contains(':'),
    };
    Some(if has_port {
        host_port.to_string()
    } else {
        format!("{host_port}:{port}")
    })
}

/// Begins a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: a deferred
/// transaction that reads and then writes fails at once with SQLITE_BUSY when another writer got
/// there first (the busy timeout does not apply to that upgrade), which lost 55% of concurrent
/// entries in the crash test; an immediate one queues for the write lock instead.
pub async fn begin_write(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Runs `work` in a write transaction ([`begin_write`]): commits when it succeeds, and rolls
/// back at once when it fails. Left to its drop, a transaction is rolled back lazily (on
/// PostgreSQL when its connection is next used), holding its row locks meanwhile, so the rows a
/// failed pass locked would be skipped by the very `SKIP LOCKED` query that looks for them.
pub async fn in_write<T, E: From<DbErr>>(
    db: &DatabaseConnection,
    work: impl AsyncFnOnce(&sea_orm::DatabaseTransaction) -> Result<T, E>,
) -> Result<T, E> {
    let tx = begin_write(db).await?;
    match work(&tx).await {
        Ok(done) => {
            tx.commit().await?;
            Ok(done)
        }
        Err(e) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "rolling back a failed transaction failed");
            }
            Err(e)
        }
    }
}

/// A SQLite URL for a file path.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Milliseconds since the Unix epoch, the storage form of every instant.
pub fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// PostgreSQL's text cannot hold a NUL character (it refuses the whole statement), and text
/// from outside (a provider's answer, a name in data) may carry one: it is stored as U+FFFD.
fn without_nul(value: Value) -> Value {
    match value {
        Value::String(Some(s)) if s.contains('\0') => Value::String(Some(s.replace('\0', "\u{FFFD}"))),
        other => other,
    }
}

/// Builds a statement. On SQLite, every `$N` becomes an anonymous `?` and the values are laid
/// out in the order the placeholders occur (repeated where one is used twice): sqlx asks SQLite
/// for each parameter's name, which SQLite finds by linear search, so named or numbered
/// parameters made a 30 000-parameter batch quadratic (89% of the engine benchmark's time).
fn stmt(c: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    // Debug aid: print the start of every statement (to find per-row statements).
    if cfg!(debug_assertions) && std::env::var_os("CAIRN_TRACE_SQL").is_some() {
        eprintln!("SQL {}", &sql[..sql.len().min(90)]);
    }
    let backend = c.get_database_backend();
    if backend == DbBackend::Postgres {
        return Statement::from_sql_and_values(backend, sql, values.into_iter().map(without_nul));
    }
    if !sql.contains('$') {
        return Statement::from_sql_and_values(backend, sql, values);
    }
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::with_capacity(values.len());
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let start = i + 1;
            let mut end = start;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            order.push(sql[start..end].parse::<usize>().unwrap_or(0).wrapping_sub(1));
            out.push('?');
            i = end;
        } else {
            let ch = sql[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    // Each value is moved to its last use and copied only for earlier ones.
    let mut last = vec![usize::MAX; values.len()];
    for (at, &n) in order.iter().enumerate() {
        if let Some(l) = last.get_mut(n) {
            *l = at;
        }
    }
    let mut values: Vec<Option<Value>> = values.into_iter().map(Some).collect();
    let ordered = order
        .iter()
        .enumerate()
        .map(|(at, &n)| {
            let value = if last.get(n) == Some(&at) {
                values.get_mut(n).and_then(Option::take)
            } else {
                values.get(n).cloned().flatten()
            };
            value.unwrap_or(Value::String(None))
        })
        .collect::<Vec<_>>();
    Statement::from_sql_and_values(backend, out, ordered)
}

pub async fn exec(c: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<u64, DbErr> {
    Ok(c.execute_raw(stmt(c, sql, values)).await?.rows_affected())
}

pub async fn all(c: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<Vec<QueryResult>, DbErr> {
    c.query_all_raw(stmt(c, sql, values)).await
}

pub async fn one(c: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<Option<QueryResult>, DbErr> {
    c.query_one_raw(stmt(c, sql, values)).await
}

/// How [`all_packed`] packs one column of its SELECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packed {
    /// An INTEGER (or NULL): on SQLite spliced in as its decimal text, no quoting needed.
    Int,
    /// Any value, quoted as a JSON string, number or null.
    Text,
    /// TEXT holding a JSON document (or NULL), packed as JSON rather than as a string, so it
    /// is parsed once, straight into its type.
    Json,
}

/// Runs `inner`, a SELECT whose columns are aliased `c0`, `c1`, … and packed as `columns`
/// says, and returns its rows fetched as a single JSON array, each row decoded as `T` (a tuple
/// of the columns). sqlx hands SQLite rows one at a time from its connection thread to the
/// async task; for thousands of rows those thread switches cost more than the query.
pub async fn all_packed<T: serde::de::DeserializeOwned>(
    c: &impl ConnectionTrait,
    inner: &str,
    columns: &[Packed],
    values: Vec<Value>,
) -> Result<Vec<T>, DbErr> {
    let sql = if is_postgres(c) {
        let cols = columns
            .iter()
            .enumerate()
            .map(|(i, kind)| match kind {
                Packed::Int | Packed::Text => format!("q.c{i}"),
                Packed::Json => format!("q.c{i}::json"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("SELECT COALESCE(json_agg(json_build_array({cols}))::text, '[]') FROM ({inner}) q")
    } else {
        // Built as text: `json()` and `json_array()` would parse every stored document and
        // print it again on the connection's thread, the one every write waits for (about a
        // tenth of that thread's time in the engine bench). The stored JSON was written by
        // serde, and a malformed document (or a non-number in an `Int` column) still fails
        // below, as a decoding error. A row is built by one `concat_ws`, not a chain of `||`
        // (a new string per column): every column is non-NULL by then, which `concat_ws`
        // needs (it skips NULLs); this took a tenth off delivery's time. `concat` reads NULL
        // (no rows) as empty.
        let cols = columns
            .iter()
            .enumerate()
            .map(|(i, kind)| match kind {
                Packed::Int | Packed::Json => format!("COALESCE(q.c{i}, 'null')"),
                Packed::Text => format!("json_quote(q.c{i})"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT concat('[', group_concat(r, ','), ']') FROM (SELECT concat('[', concat_ws(',', {cols}), ']') AS r FROM ({inner}) q)"
        )
    };
    let Some(row) = one(c, &sql, values).await? else {
        return Ok(Vec::new());
    };
    let text: String = col(&row, 0)?;
    serde_json::from_str(&text).map_err(|e| DbErr::Custom(format!("packed rows: {e}")))
}

/// Whether a database error says nothing about the rows a statement touched: the database is
/// busy, locked, out of reach, full, or asked the transaction to start over. Only errors that
/// can be one row's doing are not: a row that does not decode (`Custom`, `Json`, `Type`, a
/// column that does not decode), a value the database refuses (SQLite's constraint, mismatch,
/// too-big and range codes; PostgreSQL's data exceptions, class 22, and integrity violations,
/// class 23). An error of any other kind is retried rather than blamed on a row.
pub fn is_transient(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match e {
        DbErr::Custom(_) | DbErr::Json(_) | DbErr::Type(_) | DbErr::TryIntoErr { .. } => false,
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => sqlx_transient(e),
        _ => true,
    }
}

fn sqlx_transient(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match e {
        Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            // PostgreSQL's SQLSTATE has five characters (often all digits, as 23514); SQLite's
            // extended result codes have at most four digits.
            if code.len() == 5 {
                !(code.starts_with("22") || code.starts_with("23"))
            } else {
                // TOOBIG, CONSTRAINT, MISMATCH, RANGE are the row's.
                !code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 18 | 19 | 20 | 25))
            }
        }
        Error::ColumnDecode { .. } | Error::Decode(_) | Error::Encode(_) => false,
        _ => true,
    }
}

/// Column `i` of a row.
pub fn col<T: sea_orm::TryGetable>(row: &QueryResult, i: usize) -> Result<T, DbErr> {
    row.try_get_by::<T, usize>(i)
}

pub fn is_postgres(c: &impl ConnectionTrait) -> bool {
    c.get_database_backend() == DbBackend::Postgres
}

/// `INSERT INTO table (cols) VALUES (…), (…)` for many rows, in chunks that stay below every
/// backend's limit on bound parameters.
pub async fn insert_rows(
    c: &impl ConnectionTrait,
    table: &str,
    cols: &[&str],
    rows: Vec<Vec<Value>>,
) -> Result<(), DbErr> {
    upsert_rows(c, table, cols, rows, "").await
}

/// [`insert_rows`] with a conflict clause appended to each chunk's statement.
pub async fn upsert_rows(
    c: &impl ConnectionTrait,
    table: &str,
    cols: &[&str],
    rows: Vec<Vec<Value>>,
    on_conflict: &str,
) -> Result<(), DbErr> {
    // The values are bound by position; a numbered placeholder here would be misbound.
    debug_assert!(!on_conflict.contains('$'), "no placeholders in a conflict clause");
    for (sql, values) in insert_statements(c, table, cols, rows, on_conflict) {
        exec(c, &sql, values).await?;
    }
    Ok(())
}

/// [`insert_rows`] that returns the `returning` columns of every row inserted (in no
/// particular order).
pub async fn insert_returning(
    c: &impl ConnectionTrait,
    table: &str,
    cols: &[&str],
    rows: Vec<Vec<Value>>,
    returning: &str,
) -> Result<Vec<QueryResult>, DbErr> {
    let mut out = Vec::with_capacity(rows.len());
    for (sql, values) in insert_statements(c, table, cols, rows, &format!("RETURNING {returning}")) {
        out.extend(all(c, &sql, values).await?);
    }
    Ok(out)
}

/// [`insert_rows`] with `suffix` (a conflict clause and a `RETURNING` list) appended to each
/// chunk's statement; returns the rows every chunk returned.
pub async fn upsert_returning(
    c: &impl ConnectionTrait,
    table: &str,
    cols: &[&str],
    rows: Vec<Vec<Value>>,
    suffix: &str,
) -> Result<Vec<QueryResult>, DbErr> {
    debug_assert!(!suffix.contains('$'), "no placeholders in a suffix");
    let mut out = Vec::with_capacity(rows.len());
    for (sql, values) in insert_statements(c, table, cols, rows, suffix) {
        out.extend(all(c, &sql, values).await?);
    }
    Ok(out)
}

/// Multi-row `INSERT` statements for `rows`, chunked under the bound-parameter limit, each
/// followed by `suffix`.
fn insert_statements(
    c: &impl ConnectionTrait,
    table: &str,
    cols: &[&str],
    rows: Vec<Vec<Value>>,
    suffix: &str,
) -> Vec<(String, Vec<Value>)> {
    let per_chunk = (30_000 / cols.len()).max(1);
    // SQLite gets anonymous `?` directly, so `stmt` has nothing to rewrite or copy.
    let sqlite = c.get_database_backend() == DbBackend::Sqlite;
    let mut statements = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_chunk).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", cols.join(", "));
        let mut values = Vec::with_capacity(chunk.len() * cols.len());
        for (r, row) in chunk.into_iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for i in 0..cols.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                if sqlite {
                    sql.push('?');
                } else {
                    sql.push_str(&format!("${}", values.len() + i + 1));
                }
            }
            sql.push(')');
            values.extend(row);
        }
        if !suffix.is_empty() {
            sql.push(' ');
            sql.push_str(suffix);
        }
        statements.push((sql, values));
    }
    statements
}

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQLite's `PRAGMA data_version` on `conn`: it changes whenever another connection commits to
/// the file.
pub async fn data_version(conn: &mut sea_orm::sqlx::SqliteConnection) -> Result<i64, sea_orm::sqlx::Error> {
    sea_orm::sqlx::query_scalar::<_, i64>("PRAGMA data_version")
        .fetch_one(conn)
        .await
}

/// Whether the database answers (`/healthz`).
pub async fn ping(c: &impl ConnectionTrait) -> Result<(), DbErr> {
    one(c, "SELECT 1", vec![]).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_errors_that_can_be_a_rows_doing_are_not_transient() {
        let db = Database::connect("sqlite::memory:").await.expect("memory database");
        exec(&db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)", vec![])
            .await
            .unwrap();
        exec(&db, "INSERT INTO t VALUES (1, 'a')", vec![]).await.unwrap();
        let duplicate = exec(&db, "INSERT INTO t VALUES (1, 'b')", vec![]).await.unwrap_err();
        assert!(!is_transient(&duplicate), "{duplicate}");
        let undecodable = all_packed::<(i64,)>(&db, "SELECT 'x' AS c0", &[Packed::Int], vec![])
            .await
            .unwrap_err();
        assert!(!is_transient(&undecodable), "{undecodable}");
        // Whatever it quotes, an error that is not a row's is retried.
        let busy = DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout);
        assert!(is_transient(&busy));
        assert!(is_transient(&DbErr::RecordNotFound("invalid type: string".into())));
    }

    #[tokio::test]
    async fn packed_rows_keep_their_order_text_escapes_nulls_and_json_documents() {
        let db = Database::connect("sqlite::memory:").await.expect("memory database");
        let odd = "quote \" backslash \\ newline \n tab \t bell \u{7} é 🙂";
        let inner = "SELECT column1 AS c0, column2 AS c1, column3 AS c2, column4 AS c3 FROM \
                     (VALUES (3, $1, '{\"a\": [1, \"x\"]}', -9007199254740993), (2, NULL, NULL, NULL), \
                     (1, 'plain', '\"s\"', 0)) ORDER BY column1 DESC";
        type Row = (i64, Option<String>, Option<serde_json::Value>, Option<i64>);
        let kinds = [Packed::Int, Packed::Text, Packed::Json, Packed::Int];
        let rows: Vec<Row> = all_packed(&db, inner, &kinds, vec![odd.into()]).await.expect("packed");
        assert_eq!(
            rows,
            vec![
                (
                    3,
                    Some(odd.to_string()),
                    Some(serde_json::json!({"a": [1, "x"]})),
                    Some(-9007199254740993)
                ),
                (2, None, None, None),
                (1, Some("plain".to_string()), Some(serde_json::json!("s")), Some(0)),
            ]
        );
        let not_a_number = all_packed::<(i64,)>(&db, "SELECT 'x' AS c0", &[Packed::Int], vec![]).await;
        assert!(
            not_a_number.is_err(),
            "text in an Int column is an error, not a wrong value"
        );
        let none: Vec<(i64,)> = all_packed(&db, "SELECT 1 AS c0 WHERE 0", &[Packed::Int], vec![])
            .await
            .expect("packed");
        assert!(none.is_empty());
    }
}
