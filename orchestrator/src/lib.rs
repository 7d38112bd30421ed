//! # orchestrator — the Cairn service and its command line (`cairn`)
//!
//! - [`cli`]: the commands and their arguments (`flows validate`, `flows schema`, `simulate`).
//! - [`import`]: contacts (CSV/NDJSON) and events (NDJSON) from files, with line-numbered errors.
//!
//! The journey logic lives in the pure `flows` crate; this crate is the shell around it.

pub mod cli;
pub mod import;
