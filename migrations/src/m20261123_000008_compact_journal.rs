//! A journal row holds the lines one step of one journey wrote (a JSON array when there are
//! several), so a step that runs three nodes inserts one row, not three; its `node` and `action`
//! columns go (stats read the per-node counts of migration 7, and the lines carry both).
//! The index of due journeys covers running ones only (`WHERE finished = 0`), so a journey's
//! end deletes its entry instead of moving it, and finished journeys do not fill it.
//!
//! `down` brings the columns back empty and leaves rows written since as they are (an array of
//! lines where a step wrote several).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::{drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in ["node", "action"] {
            m.alter_table(Table::alter().table("journal").drop_column(column).to_owned())
                .await?;
        }
        m.drop_index(drop_index("tokens_due", "tokens")).await?;
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS tokens_due_running ON tokens (wake_at, id) WHERE finished = 0",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(drop_index("tokens_due_running", "tokens")).await?;
        m.create_index(index("tokens_due", "tokens", &["finished", "wake_at"], false))
            .await?;
        for column in ["node", "action"] {
            m.alter_table(
                Table::alter()
                    .table("journal")
                    .add_column(text(column).default(""))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
