//! On SQLite only, the outbox loses `outbox_due` (`not_before`): SQLite's planner never reads
//! it. The lease query takes due rows in rowid order (`ORDER BY o.id LIMIT n`, a scan of the
//! table that stops at the n-th due row) and the next-due probe computes an expression of two
//! columns, so the index was two B-tree writes per message (its entry in, its entry out) and
//! one per retry or deferral, read by nothing.
//!
//! PostgreSQL keeps the index: its planner uses it for `not_before <= $1` when most of the
//! outbox is not yet due.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::{drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        m.drop_index(drop_index("outbox_due", "outbox")).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        m.create_index(index("outbox_due", "outbox", &["not_before"], false))
            .await
    }
}
