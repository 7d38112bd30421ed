//! Related records (contracts, products, orders, loyalty status…) a contact has:
//!
//! - `contact_records`: one row per contact × record type × record id, the record's `fields`
//!   as a JSON object; `created_at` and `updated_at` in Unix milliseconds. Conditions and
//!   templates read them with the contact (`contact_records` by `contact_id`, the primary
//!   key's first column); `contact_records_type` serves the counts per type;
//! - `record_types`: the declared types of a record type's fields (a JSON object: field name →
//!   `date`, `number`, `text` or `bool`), which writes of that type are checked against.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("contact_records")
                .if_not_exists()
                .col(big_integer("contact_id"))
                .col(text("type"))
                .col(text("record_id"))
                .col(text("fields"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .primary_key(Index::create().col("contact_id").col("type").col("record_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("contact_records_type", "contact_records", &["type"], false))
            .await?;
        m.create_table(
            Table::create()
                .table("record_types")
                .if_not_exists()
                .col(text("type").primary_key())
                .col(text("fields"))
                .col(text_null("description"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("record_types").if_exists().to_owned())
            .await?;
        m.drop_index(drop_index("contact_records_type", "contact_records"))
            .await?;
        m.drop_table(Table::drop().table("contact_records").if_exists().to_owned())
            .await
    }
}
