//! # migrations — the database schema
//!
//! Will own the sea-orm-migration `Migrator` for SQLite (the embedded default) and PostgreSQL:
//! flows and versions, contacts, tokens, the journal, messages and the outbox. Empty until the
//! service issue lands.
