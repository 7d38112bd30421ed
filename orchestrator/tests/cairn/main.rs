//! Tests that run the `cairn` binary, in one binary: the command line, crash recovery,
//! the Redis throttle across processes, contact import and export, and upgrading an old
//! database.

mod cli;
mod crash;
mod throttle;
mod transfer;
mod upgrade;
