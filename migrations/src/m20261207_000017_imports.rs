//! Contact imports (`cairn import contacts`, `POST /api/imports`): one `imports` row each,
//! with its status (`running`, `done`, `failed`), what it was told (`format`, `key`, `events`),
//! its counts (lines read, contacts inserted, updated, unchanged, lines refused), the first
//! refused lines (`errors`, a JSON array) and, when it failed as a whole, why (`failure`).
//! Counts move in the transaction of each batch of lines, so they say what is written.
//!
//! `contacts_email` lets an import keyed by e-mail (`--key email`) find its contacts.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("imports")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("name"))
                .col(text("status"))
                .col(text("format"))
                .col(text("key"))
                .col(big_integer("events"))
                .col(big_integer("lines_read"))
                .col(big_integer("inserted"))
                .col(big_integer("updated"))
                .col(big_integer("unchanged"))
                .col(big_integer("refused"))
                .col(text("errors"))
                .col(text_null("failure"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .col(big_integer_null("finished_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("imports_status", "imports", &["status"], false))
            .await?;
        m.create_index(index("contacts_email", "contacts", &["email"], false))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(drop_index("contacts_email", "contacts")).await?;
        m.drop_table(Table::drop().table("imports").if_exists().to_owned())
            .await
    }
}
