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

/// Opens the database at `url` and brings its schema up to date.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if sqlite { 4 } else { 16 })
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(false)
                .create_if_missing(true)
        });
    let db = Database::connect(options).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
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

fn stmt(c: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(c.get_database_backend(), sql, values)
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
    let per_chunk = (30_000 / cols.len()).max(1);
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
                sql.push_str(&format!("${}", values.len() + i + 1));
            }
            sql.push(')');
            values.extend(row);
        }
        exec(c, &sql, values).await?;
    }
    Ok(())
}

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
