//! The end-to-end tests, in one binary (each test binary links the whole stack): the service
//! on SQLite and PostgreSQL, accounts (logins, sessions, API keys), the contacts API, what contacts' tags and lists remember, their
//! related records, message history in branches, delivery through real providers, contact
//! imports and exports, the send policy, the limits at the door, the template journeys,
//! provider timeouts, the Redis queues, campaigns, campaigns admitting in the service whom
//! `cairn simulate` admits, what the journey editor asks of the service, and the web app served
//! by the binary.

mod accounts;
mod campaigns;
mod contacts;
mod delivery;
mod editor;
mod facts;
mod history;
mod imports;
mod limits;
mod parity;
mod policy;
mod queues;
mod records;
mod segments;
mod service;
mod templates;
mod timeouts;
mod web;
