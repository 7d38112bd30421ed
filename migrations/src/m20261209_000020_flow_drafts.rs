//! What the journey editor needs from the schema:
//!
//! - `flow_drafts`: one work-in-progress document per flow (any JSON object, a flow that does
//!   not compile included), replaced on every save and deleted when a version is published;
//! - `tokens_at_node`: running journeys by flow and node, so "who is at this node" reads a page
//!   of them instead of scanning every journey (partial: finished journeys are not in it);
//! - edge counts: `journal_counts` rows whose action is `edge:<label>` count the journeys that
//!   took a node's labelled edge (`wait_for_event`: `event`/`timeout`; `branch`: `yes`/`no`;
//!   `split`: the arm). The `event` and `timeout` counts of journeys before this migration are
//!   taken from their lines' counts; `branch` and `split` lines never kept their edge in a
//!   count, so those edges count from this migration on.

use sea_orm_migration::{prelude::*, schema::*};

use crate::drop_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("flow_drafts")
                .if_not_exists()
                .col(big_integer("flow_id").primary_key())
                .col(text("document"))
                .col(big_integer("saved_at"))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS tokens_at_node ON tokens (flow_id, node, id) WHERE finished = 0",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO journal_counts (flow_id, node, action, shard, n) \
             SELECT flow_id, node, CASE action WHEN 'event' THEN 'edge:event' ELSE 'edge:timeout' END, shard, n \
             FROM journal_counts WHERE action IN ('event', 'timed_out')",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DELETE FROM journal_counts WHERE action LIKE 'edge:%'")
            .await?;
        m.drop_index(drop_index("tokens_at_node", "tokens")).await?;
        m.drop_table(Table::drop().table("flow_drafts").if_exists().to_owned())
            .await
    }
}
