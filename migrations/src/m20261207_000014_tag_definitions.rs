//! Tags that remember and expire, and lists that remember who added a contact:
//!
//! - `tag_definitions`: a tag's `lifetime` (milliseconds, NULL for none) and description;
//! - `contact_tags.expires_at`: when an active tag runs out (its last addition plus the
//!   lifetime), NULL when it does not; `contact_tags.source` is the kind of the last source
//!   (`api`, `flow`, `link`, `form`, `import`, `user`) and `source_ref` what it names;
//! - `contact_lists.source` and `source_ref`: what added the contact to the list.
//!
//! The expiry loop finds due tags through `contact_tags_expiry` (`expires_at`).

use sea_orm_migration::{prelude::*, schema::*};

use crate::{drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("tag_definitions")
                .if_not_exists()
                .col(text("name").primary_key())
                .col(big_integer_null("lifetime"))
                .col(text_null("description"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .to_owned(),
        )
        .await?;
        // SQLite adds one column per statement.
        for column in [big_integer_null("expires_at"), text_null("source_ref")] {
            m.alter_table(Table::alter().table("contact_tags").add_column(column).to_owned())
                .await?;
        }
        for column in [text_null("source"), text_null("source_ref")] {
            m.alter_table(Table::alter().table("contact_lists").add_column(column).to_owned())
                .await?;
        }
        m.create_index(index("contact_tags_expiry", "contact_tags", &["expires_at"], false))
            .await?;
        m.create_index(index("contact_lists_list", "contact_lists", &["list"], false))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(drop_index("contact_lists_list", "contact_lists")).await?;
        m.drop_index(drop_index("contact_tags_expiry", "contact_tags")).await?;
        for column in ["source_ref", "source"] {
            m.alter_table(Table::alter().table("contact_lists").drop_column(column).to_owned())
                .await?;
        }
        for column in ["source_ref", "expires_at"] {
            m.alter_table(Table::alter().table("contact_tags").drop_column(column).to_owned())
                .await?;
        }
        m.drop_table(Table::drop().table("tag_definitions").if_exists().to_owned())
            .await
    }
}
