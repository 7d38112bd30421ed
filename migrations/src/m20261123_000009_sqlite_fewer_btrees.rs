//! On SQLite only, two B-trees fewer per contact on the engine's write path:
//!
//! - `contact_tags` and `contact_lists` become `WITHOUT ROWID` tables: their rows live in the
//!   primary key's B-tree, so adding a tag writes one B-tree instead of a table and its key.
//! - `messages_created` goes: on SQLite the outbox listing reads messages newest first by
//!   rowid (the order they were written in). Frequency caps keep `messages_contact_created`.
//!
//! PostgreSQL keeps its tables and indexes as they are (it has no rowid, and its heap tables
//! do not pay the same second B-tree).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::{drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rebuilds `table` with the DDL it has, plus or minus `WITHOUT ROWID`.
async fn rebuild(m: &SchemaManager<'_>, table: &str, without_rowid: bool) -> Result<(), DbErr> {
    let db = m.get_connection();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            [table.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("table {table} is missing")))?;
    let sql: String = row.try_get_by_index(0)?;
    let body = sql.trim().trim_end_matches(" WITHOUT ROWID").trim_end();
    let Some(open) = body.find('(') else {
        return Err(DbErr::Migration(format!("unexpected DDL for {table}: {sql}")));
    };
    let suffix = if without_rowid { " WITHOUT ROWID" } else { "" };
    let new = format!("CREATE TABLE \"{table}_rebuilt\" {}{suffix}", &body[open..]);
    db.execute_unprepared(&new).await?;
    db.execute_unprepared(&format!("INSERT INTO \"{table}_rebuilt\" SELECT * FROM \"{table}\""))
        .await?;
    db.execute_unprepared(&format!("DROP TABLE \"{table}\"")).await?;
    db.execute_unprepared(&format!("ALTER TABLE \"{table}_rebuilt\" RENAME TO \"{table}\""))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// All or nothing: a crash half-way through a rebuild must not leave two tables.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        rebuild(m, "contact_tags", true).await?;
        rebuild(m, "contact_lists", true).await?;
        m.drop_index(drop_index("messages_created", "messages")).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        m.create_index(index("messages_created", "messages", &["created_at"], false))
            .await?;
        rebuild(m, "contact_lists", false).await?;
        rebuild(m, "contact_tags", false).await
    }
}
