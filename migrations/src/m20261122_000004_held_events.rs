//! Events that reached a journey while its flow was paused are held for that journey and put
//! back in the inbox, addressed to it alone, when the flow is activated again.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("inbox")
                .add_column(big_integer_null("token_id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("held_events")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("flow_id"))
                .col(big_integer("token_id"))
                .col(big_integer("contact_id"))
                .col(text("event"))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("held_events_flow")
                .table("held_events")
                .col("flow_id")
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("held_events").if_exists().to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table("inbox")
                .drop_column(Alias::new("token_id"))
                .to_owned(),
        )
        .await
    }
}
