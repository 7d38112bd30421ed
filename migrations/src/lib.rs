//! # migrations — Cairn's database schema
//!
//! One schema for SQLite (the embedded default) and PostgreSQL, built with sea-query so each
//! backend gets its own DDL. Conventions that keep the engine's queries portable and fast:
//! instants are `BIGINT` Unix milliseconds (UTC), JSON documents are `TEXT`, booleans are
//! `INTEGER` 0/1, and every id the API shows is a `BIGINT`.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_init;
mod m20261122_000002_outbox_retries;
mod m20261122_000003_settings;
mod m20261122_000004_held_events;
mod m20261122_000005_inbox_order;
mod m20261122_000006_send_policy;
mod m20261123_000007_node_counts;
mod m20261123_000008_compact_journal;
mod m20261123_000009_sqlite_fewer_btrees;
mod m20261204_000010_sqlite_outbox_by_rowid;
mod m20261205_000011_outbox_later;
mod m20261206_000012_set_aside;
mod m20261206_000013_used_signatures;
mod m20261207_000014_tag_definitions;
mod m20261207_000015_records;
mod m20261207_000016_segments;
mod m20261207_000017_imports;
mod m20261208_000018_campaigns;
mod m20261209_000019_accounts;
mod m20261209_000020_flow_drafts;

/// A unique or plain index on `table(cols…)`, created only if missing.
pub(crate) fn index(name: &str, table: &str, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(Alias::new(table)).if_not_exists();
    for c in cols {
        i.col(Alias::new(*c));
    }
    if unique {
        i.unique();
    }
    i.to_owned()
}

/// Drops the index `name` on `table` if it exists.
pub(crate) fn drop_index(name: &str, table: &str) -> IndexDropStatement {
    Index::drop().name(name).table(Alias::new(table)).if_exists().to_owned()
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_init::Migration),
            Box::new(m20261122_000002_outbox_retries::Migration),
            Box::new(m20261122_000003_settings::Migration),
            Box::new(m20261122_000004_held_events::Migration),
            Box::new(m20261122_000005_inbox_order::Migration),
            Box::new(m20261122_000006_send_policy::Migration),
            Box::new(m20261123_000007_node_counts::Migration),
            Box::new(m20261123_000008_compact_journal::Migration),
            Box::new(m20261123_000009_sqlite_fewer_btrees::Migration),
            Box::new(m20261204_000010_sqlite_outbox_by_rowid::Migration),
            Box::new(m20261205_000011_outbox_later::Migration),
            Box::new(m20261206_000012_set_aside::Migration),
            Box::new(m20261206_000013_used_signatures::Migration),
            Box::new(m20261207_000014_tag_definitions::Migration),
            Box::new(m20261207_000015_records::Migration),
            Box::new(m20261207_000016_segments::Migration),
            Box::new(m20261207_000017_imports::Migration),
            Box::new(m20261208_000018_campaigns::Migration),
            Box::new(m20261209_000019_accounts::Migration),
            Box::new(m20261209_000020_flow_drafts::Migration),
        ]
    }
}
