//! Per-node counts kept as the journal and the journeys change, so a flow's stats are a read
//! of a few rows instead of a scan of its journal; and the indexes that scan needed go.
//!
//! `journal_counts`: journal lines per flow, node and action. `tokens_here`: running journeys
//! per flow and node. Each key is spread over a few `shard`s (writers pick one, readers sum
//! them) so engines sharing PostgreSQL do not queue for one hot row. Both are filled from the
//! existing journal and tokens here. Dropped: `journal_flow` and `tokens_flow_node` (only stats
//! read them) and `tokens_contact` on `(contact_id, finished)`, replaced by `(contact_id)`, which
//! a journey's end no longer has to move.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::{drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// All or nothing on SQLite too (sea-orm-migration wraps only PostgreSQL by default): a
    /// crash half-way must not leave counts filled and the migration unrecorded.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("journal_counts")
                .if_not_exists()
                .col(big_integer("flow_id"))
                .col(text("node"))
                .col(text("action"))
                .col(big_integer("shard"))
                .col(big_integer("n"))
                .primary_key(Index::create().col("flow_id").col("node").col("action").col("shard"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("tokens_here")
                .if_not_exists()
                .col(big_integer("flow_id"))
                .col(text("node"))
                .col(big_integer("shard"))
                .col(big_integer("n"))
                .primary_key(Index::create().col("flow_id").col("node").col("shard"))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        db.execute_unprepared("DELETE FROM journal_counts").await?;
        db.execute_unprepared("DELETE FROM tokens_here").await?;
        db.execute_unprepared(
            "INSERT INTO journal_counts (flow_id, node, action, shard, n) \
             SELECT flow_id, node, action, 0, COUNT(*) FROM journal GROUP BY flow_id, node, action",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO tokens_here (flow_id, node, shard, n) \
             SELECT flow_id, node, 0, COUNT(*) FROM tokens WHERE finished = 0 GROUP BY flow_id, node",
        )
        .await?;
        m.drop_index(drop_index("journal_flow", "journal")).await?;
        m.drop_index(drop_index("tokens_flow_node", "tokens")).await?;
        m.drop_index(drop_index("tokens_contact", "tokens")).await?;
        m.create_index(index("tokens_contact_id", "tokens", &["contact_id"], false))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(drop_index("tokens_contact_id", "tokens")).await?;
        m.create_index(index("tokens_contact", "tokens", &["contact_id", "finished"], false))
            .await?;
        m.create_index(index(
            "tokens_flow_node",
            "tokens",
            &["flow_id", "finished", "node"],
            false,
        ))
        .await?;
        m.create_index(index("journal_flow", "journal", &["flow_id", "node", "action"], false))
            .await?;
        m.drop_table(Table::drop().table("tokens_here").to_owned()).await?;
        m.drop_table(Table::drop().table("journal_counts").to_owned()).await
    }
}
