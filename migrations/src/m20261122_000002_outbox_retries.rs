//! Retries for delivery: an outbox row counts its attempts, is not tried again before
//! `not_before`, and is leased while a delivery process sends it (so nothing is sent from inside
//! a transaction and two processes never send the same row at once).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            big_integer("attempts").default(0).to_owned(),
            big_integer("not_before").default(0).to_owned(),
        ] {
            m.alter_table(Table::alter().table("outbox").add_column(column).to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table("outbox")
                .add_column(big_integer_null("leased_until"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("outbox_due")
                .table("outbox")
                .col("not_before")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("outbox_due").table("outbox").to_owned())
            .await?;
        for column in ["leased_until", "not_before", "attempts"] {
            m.alter_table(
                Table::alter()
                    .table("outbox")
                    .drop_column(Alias::new(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
