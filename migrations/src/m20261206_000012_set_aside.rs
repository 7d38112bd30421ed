//! Work the engine or delivery could not load, step or record, set aside so that everything
//! else goes on: a journey (its token stays, `finished = 2`), a queued event (moved here from
//! the inbox, its row kept in `payload`) or a queued message (its outbox row moved here). An
//! operator lists them and retries or cancels each through the API.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("set_aside")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("kind"))
                .col(big_integer("ref_id"))
                .col(big_integer_null("contact_id"))
                .col(big_integer_null("flow_id"))
                .col(text_null("node"))
                .col(text("reason"))
                .col(text_null("payload"))
                .col(big_integer("at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("set_aside_ref", "set_aside", &["kind", "ref_id"], true))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("set_aside").if_exists().to_owned())
            .await
    }
}
