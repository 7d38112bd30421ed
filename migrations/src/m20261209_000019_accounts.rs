//! Accounts: who may use the API besides the holder of `CAIRN_API_TOKEN`.
//!
//! - `users`: people who log in to the web app. `email` is unique and stored lowercase and
//!   trimmed (the service normalises it before every write and lookup); `password_hash` is an
//!   argon2id PHC string; `role` is `owner` (may manage users) or `member`.
//! - `sessions`: one row per login, keyed by the SHA-256 (hex) of the random token the browser
//!   holds in its cookie: the token itself is never stored, so a copy of the database logs no
//!   one in. `csrf` is the token a cookie-authenticated write must echo. `expires_at` is the
//!   earlier of 14 days after `last_seen_at` and 30 days after `created_at`.
//! - `api_keys`: tokens for programs, keyed by their SHA-256 (hex) likewise; `prefix` (the
//!   token's first 8 characters) is kept to tell keys apart in a list. A revoked key keeps its
//!   row, with `revoked_at`. `created_by` is the user who made it (null when made with the API
//!   token or while the API was open).
//!
//! Instants are Unix milliseconds, as everywhere.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("users")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("email"))
                .col(text("password_hash"))
                .col(text("role"))
                .col(big_integer("created_at"))
                .col(big_integer_null("last_login_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("users_email", "users", &["email"], true)).await?;
        m.create_table(
            Table::create()
                .table("sessions")
                .if_not_exists()
                .col(text("token_hash").primary_key())
                .col(big_integer("user_id"))
                .col(text("csrf"))
                .col(big_integer("created_at"))
                .col(big_integer("expires_at"))
                .col(big_integer("last_seen_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("sessions_user", "sessions", &["user_id"], false))
            .await?;
        m.create_index(index("sessions_expiry", "sessions", &["expires_at"], false))
            .await?;
        m.create_table(
            Table::create()
                .table("api_keys")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(text("name"))
                .col(text("prefix"))
                .col(text("hash"))
                .col(big_integer_null("created_by"))
                .col(big_integer("created_at"))
                .col(big_integer_null("last_used_at"))
                .col(big_integer_null("revoked_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("api_keys_hash", "api_keys", &["hash"], true))
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["api_keys", "sessions", "users"] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
