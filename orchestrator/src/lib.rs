//! # orchestrator — the Cairn service and its command line (`cairn`)
//!
//! - [`cli`]: the commands (`serve`, `flows validate`, `flows schema`, `simulate`).
//! - [`app`]: the running service; [`api`]: the HTTP API; [`engine`]: advances journeys
//!   durably; [`delivery`]: outbox → provider → journaled outcome.
//! - [`store`]: SQL by area; [`db`]: connection and SQL helpers; [`clock`]: injected time.
//! - [`import`]: contacts and events from files, with line-numbered errors.
//!
//! The journey logic lives in the pure `flows` crate; this crate is the shell around it.

pub mod api;
pub mod app;
pub mod bench;
pub mod bench_throttle;
pub mod cli;
pub mod clock;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod engine;
pub mod import;
pub mod server;
pub mod store;
pub mod tracking;
