//! Campaigns: segment entries that admit their audience again and again.
//!
//! `flow_runs` records each run of a segment entry's audience: one row per flow, entry node and
//! run key (the date of a scheduled run, `v<N>` for the admission when version N is first
//! activated), unique, so that of several processes exactly one creates it. A run admits in
//! waves (one for a fixed zone; in contacts' own zones, one every 15 minutes as `at` passes
//! around the world): `admitted_until` is the last wave done, `next_at` when the next is due, `lease_until` is how long the
//! process admitting it holds it (another takes over after a crash). Its counts say what each
//! wave found: the audience (contacts matching the lists, segments and condition), those
//! `excluded` by the exclusions, those `skipped` by the flow's re-entry rule or a holiday, and
//! those `admitted` (moved in the transaction of each batch of journeys).
//!
//! `tokens.run_id` names the run a journey entered by (so a resumed run admits nobody twice;
//! found through the flow's journeys, `tokens_flow_node`, not an index of its own: a run
//! writes up to one row per contact, and each index costs its writes), and `tokens.record_id`
//! the related record a journey is for (`per` a record type).
//! `flows.runs_from` is when runs began to count (the last activation or resume): a run due
//! while the flow was paused does not run later.
//!
//! `audience_members` holds, for each `on: match` entry, who matched when last looked at, and
//! `match_marks` how far into the change log each such entry has looked and when its members
//! were last checked against the clock (`swept_at`).

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("flow_runs")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(big_integer("flow_id"))
                .col(big_integer("version"))
                .col(text("node"))
                .col(text("run_key"))
                .col(text("status"))
                .col(big_integer("first_at"))
                .col(big_integer("last_at"))
                .col(big_integer("opens_at"))
                .col(big_integer("next_at"))
                .col(big_integer_null("admitted_until"))
                .col(big_integer_null("lease_until"))
                .col(big_integer("audience"))
                .col(big_integer("admitted"))
                .col(big_integer("skipped"))
                .col(big_integer("excluded"))
                .col(big_integer("created_at"))
                .col(big_integer_null("finished_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "flow_runs_key",
            "flow_runs",
            &["flow_id", "node", "run_key"],
            true,
        ))
        .await?;
        m.create_index(index("flow_runs_due", "flow_runs", &["status", "next_at"], false))
            .await?;
        for column in [big_integer_null("run_id"), text_null("record_id")] {
            m.alter_table(Table::alter().table("tokens").add_column(column).to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table("flows")
                .add_column(big_integer_null("runs_from"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("audience_members")
                .if_not_exists()
                .col(big_integer("flow_id"))
                .col(text("node"))
                .col(big_integer("contact_id"))
                .col(text("record_id"))
                .primary_key(
                    Index::create()
                        .col("flow_id")
                        .col("node")
                        .col("contact_id")
                        .col("record_id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("match_marks")
                .if_not_exists()
                .col(big_integer("flow_id"))
                .col(text("node"))
                .col(big_integer("version"))
                .col(big_integer("mark"))
                .col(big_integer_null("lease_until"))
                .col(big_integer_null("swept_at"))
                .primary_key(Index::create().col("flow_id").col("node"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("match_marks").if_exists().to_owned())
            .await?;
        m.drop_table(Table::drop().table("audience_members").if_exists().to_owned())
            .await?;
        m.alter_table(Table::alter().table("flows").drop_column("runs_from").to_owned())
            .await?;
        for column in ["run_id", "record_id"] {
            m.alter_table(Table::alter().table("tokens").drop_column(column).to_owned())
                .await?;
        }
        m.drop_table(Table::drop().table("flow_runs").if_exists().to_owned())
            .await
    }
}
