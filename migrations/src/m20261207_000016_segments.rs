//! Saved segments, message history for conditions, and the change log that keeps an in-memory
//! segment index exact:
//!
//! - `segments`: a saved condition with a unique name;
//! - `messages.opened_at` / `clicked_at`: the last open and click of each message (ms);
//! - `contact_changes`: one row per write to a contact's facts (`contacts`, `contact_tags`,
//!   `contact_lists`, `contact_records`, and a message becoming sent, opened or clicked), written by triggers so
//!   that no writer, in this process or another, can forget it. A reader that has seen every
//!   row up to a mark reloads the contacts of the rows after it. On SQLite the mark is the row
//!   id (writers are serialised, so ids commit in order); on PostgreSQL ids do not commit in
//!   order, so each row also keeps its transaction id (`xid`), and a reader's mark is the
//!   oldest transaction still running when it last read (`pg_snapshot_xmin`). Rows are pruned
//!   after a day by a scan every few minutes: no index on `at`, so that logging a change costs
//!   one B-tree insertion on SQLite.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose writes are logged, with the column naming the contact.
const LOGGED: [(&str, &str); 4] = [
    ("contacts", "id"),
    ("contact_tags", "contact_id"),
    ("contact_lists", "contact_id"),
    ("contact_records", "contact_id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("segments")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("name").unique_key())
                .col(text("condition"))
                .col(text_null("description"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .to_owned(),
        )
        .await?;
        for column in [big_integer_null("opened_at"), big_integer_null("clicked_at")] {
            m.alter_table(Table::alter().table("messages").add_column(column).to_owned())
                .await?;
        }
        let db = m.get_connection();
        if m.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(
                "CREATE TABLE IF NOT EXISTS contact_changes (
                    id bigserial PRIMARY KEY,
                    contact_id bigint NOT NULL,
                    at bigint NOT NULL DEFAULT (extract(epoch from clock_timestamp()) * 1000)::bigint,
                    xid xid8 NOT NULL DEFAULT pg_current_xact_id())",
            )
            .await?;
            db.execute_unprepared("CREATE INDEX IF NOT EXISTS contact_changes_xid ON contact_changes (xid)")
                .await?;
            db.execute_unprepared(
                "CREATE OR REPLACE FUNCTION cairn_log_contact_change() RETURNS trigger AS $$
                 BEGIN
                   IF TG_OP = 'DELETE' THEN
                     INSERT INTO contact_changes (contact_id) VALUES (OLD.contact_id);
                     RETURN OLD;
                   END IF;
                   INSERT INTO contact_changes (contact_id) VALUES (NEW.contact_id);
                   RETURN NEW;
                 END $$ LANGUAGE plpgsql",
            )
            .await?;
            db.execute_unprepared(
                "CREATE OR REPLACE FUNCTION cairn_log_contact_row() RETURNS trigger AS $$
                 BEGIN
                   IF TG_OP = 'DELETE' THEN
                     INSERT INTO contact_changes (contact_id) VALUES (OLD.id);
                     RETURN OLD;
                   END IF;
                   INSERT INTO contact_changes (contact_id) VALUES (NEW.id);
                   RETURN NEW;
                 END $$ LANGUAGE plpgsql",
            )
            .await?;
            for (table, column) in LOGGED {
                let function = if column == "id" {
                    "cairn_log_contact_row"
                } else {
                    "cairn_log_contact_change"
                };
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {table}_changes AFTER INSERT OR UPDATE OR DELETE ON {table}
                     FOR EACH ROW EXECUTE FUNCTION {function}()"
                ))
                .await?;
            }
            db.execute_unprepared(
                "CREATE TRIGGER messages_changes AFTER UPDATE OF status, opened_at, clicked_at ON messages
                 FOR EACH ROW WHEN (NEW.status = 'sent')
                 EXECUTE FUNCTION cairn_log_contact_change()",
            )
            .await?;
        } else {
            db.execute_unprepared(
                "CREATE TABLE IF NOT EXISTS contact_changes (
                    id integer PRIMARY KEY AUTOINCREMENT,
                    contact_id bigint NOT NULL,
                    at bigint NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)))",
            )
            .await?;
            for (table, column) in LOGGED {
                for (op, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
                    let name = format!("{table}_{}_changes", op.to_lowercase());
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER IF NOT EXISTS {name} AFTER {op} ON {table}
                         BEGIN INSERT INTO contact_changes (contact_id) VALUES ({row}.{column}); END"
                    ))
                    .await?;
                }
            }
            db.execute_unprepared(
                "CREATE TRIGGER IF NOT EXISTS messages_changes AFTER UPDATE OF status, opened_at, clicked_at ON messages
                 WHEN NEW.status = 'sent'
                 BEGIN INSERT INTO contact_changes (contact_id) VALUES (NEW.contact_id); END",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if m.get_database_backend() == DatabaseBackend::Postgres {
            for (table, _) in LOGGED {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {table}_changes ON {table}"))
                    .await?;
            }
            db.execute_unprepared("DROP TRIGGER IF EXISTS messages_changes ON messages")
                .await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS cairn_log_contact_change()")
                .await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS cairn_log_contact_row()")
                .await?;
        } else {
            for (table, _) in LOGGED {
                for op in ["insert", "update", "delete"] {
                    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {table}_{op}_changes"))
                        .await?;
                }
            }
            db.execute_unprepared("DROP TRIGGER IF EXISTS messages_changes").await?;
        }
        m.drop_table(Table::drop().table("contact_changes").if_exists().to_owned())
            .await?;
        for column in ["clicked_at", "opened_at"] {
            m.alter_table(Table::alter().table("messages").drop_column(column).to_owned())
                .await?;
        }
        m.drop_table(Table::drop().table("segments").if_exists().to_owned())
            .await
    }
}
