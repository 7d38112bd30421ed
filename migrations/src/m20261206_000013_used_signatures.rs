//! Signed entries carry a timestamp and may be used once: `used_signatures` remembers each
//! accepted signature (its hex HMAC) with the time it was signed for, in the transaction that
//! stores the entry, so a replay is refused by every process sharing the database. Rows older
//! than the accepted clock skew are pruned; they could not be used again anyway.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("used_signatures")
                .if_not_exists()
                .col(text("signature").primary_key())
                .col(big_integer("flow_id"))
                .col(big_integer("signed_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "used_signatures_by_time",
            "used_signatures",
            &["signed_at"],
            false,
        ))
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("used_signatures").if_exists().to_owned())
            .await
    }
}
