//! # orchestrator — the Cairn service and its command line (`cairn`)
//!
//! The journey logic lives in the pure `flows` crate; this crate is the shell around it, in
//! layers that depend downwards only:
//!
//! - [`cli`]: the commands (`serve`, `worker`, `flows validate`, `flows schema`, `simulate`,
//!   `bench`) and the demo data; an edge, like `http`.
//! - [`http`]: the HTTP API and the server it runs on; thin handlers over `service`.
//! - [`app`]: wiring: starts the server and the background loops, and stops them.
//! - [`service`]: use cases, each owning its transaction.
//! - [`runtime`]: the background loops (engine, delivery).
//! - [`store`]: all SQL, by table family; [`db`]: connections and SQL helpers.
//! - [`clock`]: injected time; [`signing`]: signed tokens (tracked links and pixels, entry
//!   signatures), shared by `service` (verifying) and `runtime` (instrumenting messages);
//!   [`send_policy`]: the send policy in force, shared by `service` and `runtime`.

pub mod app;
pub mod cli;
pub mod clock;
pub mod db;
pub mod http;
pub mod runtime;
pub mod send_policy;
pub mod service;
pub mod signing;
pub mod store;
