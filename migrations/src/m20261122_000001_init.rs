//! The first schema: flows and their versions, contacts with tags and lists, tokens, the
//! journal, messages with the outbox, and the inbox of events waiting to be applied.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

use crate::index;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // A journey definition; `version` is the newest, `active_version` the one entries use.
        m.create_table(
            Table::create()
                .table("flows")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("name"))
                .col(text("status"))
                .col(big_integer("version"))
                .col(big_integer_null("active_version"))
                .col(text_null("secret"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .to_owned(),
        )
        .await?;
        // Every version ever saved; tokens are pinned to one.
        m.create_table(
            Table::create()
                .table("flow_versions")
                .if_not_exists()
                .col(big_integer("flow_id"))
                .col(big_integer("version"))
                .col(text("definition"))
                .col(big_integer("created_at"))
                .primary_key(Index::create().col("flow_id").col("version"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("contacts")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("external_id").unique_key())
                .col(text_null("email"))
                .col(text_null("phone"))
                .col(text_null("timezone"))
                .col(text_null("country"))
                .col(text("fields"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .to_owned(),
        )
        .await?;
        // Tags remember: how often, first and last added, by what; `present` is 0 once removed.
        m.create_table(
            Table::create()
                .table("contact_tags")
                .if_not_exists()
                .col(big_integer("contact_id"))
                .col(text("tag"))
                .col(big_integer("present"))
                .col(big_integer("times_added"))
                .col(big_integer("first_added_at"))
                .col(big_integer("last_added_at"))
                .col(text("source"))
                .primary_key(Index::create().col("contact_id").col("tag"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("contact_lists")
                .if_not_exists()
                .col(big_integer("contact_id"))
                .col(text("list"))
                .col(big_integer("added_at"))
                .primary_key(Index::create().col("contact_id").col("list"))
                .to_owned(),
        )
        .await?;
        // One journey: `state` is the serialized flows::Token; `wake_at` is when the engine must
        // step it next (a wait's end, an event wait's deadline), NULL once finished.
        m.create_table(
            Table::create()
                .table("tokens")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("flow_id"))
                .col(big_integer("version"))
                .col(big_integer("contact_id"))
                .col(text("node"))
                .col(text("state"))
                .col(big_integer_null("wake_at"))
                .col(big_integer("finished"))
                .col(text_null("entry_key"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("tokens_entry_key", "tokens", &["flow_id", "entry_key"], true))
            .await?;
        m.create_index(index("tokens_due", "tokens", &["finished", "wake_at"], false))
            .await?;
        m.create_index(index("tokens_contact", "tokens", &["contact_id", "finished"], false))
            .await?;
        m.create_index(index(
            "tokens_flow_node",
            "tokens",
            &["flow_id", "finished", "node"],
            false,
        ))
        .await?;
        // The append-only journal; `entry` is the flows::JournalEntry as JSON.
        m.create_table(
            Table::create()
                .table("journal")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("contact_id"))
                .col(big_integer("flow_id"))
                .col(big_integer("token_id"))
                .col(big_integer("at"))
                .col(text("node"))
                .col(text("action"))
                .col(text("entry"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("journal_contact", "journal", &["contact_id", "id"], false))
            .await?;
        m.create_index(index("journal_flow", "journal", &["flow_id", "node", "action"], false))
            .await?;
        // Every message with its rendered content; `id` is the stable message id.
        m.create_table(
            Table::create()
                .table("messages")
                .if_not_exists()
                .col(text("id").primary_key())
                .col(big_integer("token_id"))
                .col(big_integer("contact_id"))
                .col(big_integer("flow_id"))
                .col(text("node"))
                .col(text("channel"))
                .col(text("recipient"))
                .col(text("content"))
                .col(text("status"))
                .col(text_null("provider"))
                .col(text_null("error"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("messages_created", "messages", &["created_at"], false))
            .await?;
        // Messages written by a step and not yet handed to delivery (written in the same
        // transaction as the step, so a crash loses none).
        m.create_table(
            Table::create()
                .table("outbox")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("message_id"))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await?;
        // Events accepted by the API and not yet applied to journeys.
        m.create_table(
            Table::create()
                .table("inbox")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("contact_id"))
                .col(text("event"))
                .col(big_integer("created_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "inbox",
            "outbox",
            "messages",
            "journal",
            "tokens",
            "contact_lists",
            "contact_tags",
            "contacts",
            "flow_versions",
            "flows",
        ] {
            m.drop_table(Table::drop().table(Alias::new(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
