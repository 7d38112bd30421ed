//! Send policy: each message's guard (what delivery re-checks: window, closed days, throttles),
//! an index for counting a contact's recent messages (frequency caps), and suppressed
//! addresses (hard bounces, unreachable numbers).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("messages")
                .add_column(text_null("guard"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("messages_contact_created")
                .table("messages")
                .col("contact_id")
                .col("created_at")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("suppressions")
                .if_not_exists()
                .col(text("address").primary_key())
                .col(text("reason"))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("suppressions").to_owned()).await?;
        m.drop_index(
            Index::drop()
                .name("messages_contact_created")
                .table("messages")
                .to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table("messages").drop_column("guard").to_owned())
            .await
    }
}
