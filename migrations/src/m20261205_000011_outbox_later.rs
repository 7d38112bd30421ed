//! Rows that wait (a retry's backoff, a deferral to a window or a throttle slot) leave the
//! outbox for `outbox_later`, indexed by `not_before`, and come back when due. The lease takes
//! due rows in the outbox's id order, a scan that stops at the n-th due row; with waiting rows
//! among them it walked all of them each round (62 ms a round with 1 000 000 deferred rows on
//! SQLite, inside the write transaction), and the next-due probe read the whole table too.
//! A row keeps its id, attempt count and creation time while it waits.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("outbox_later")
                .if_not_exists()
                .col(big_integer("id").primary_key())
                .col(text("message_id"))
                .col(big_integer("created_at"))
                .col(big_integer("attempts"))
                .col(big_integer("not_before"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("outbox_later_due", "outbox_later", &["not_before", "id"], false))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("outbox_later").if_exists().to_owned())
            .await
    }
}
