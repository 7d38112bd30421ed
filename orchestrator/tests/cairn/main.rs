//! Tests that run the `cairn` binary, in one binary: the command line, crash recovery,
//! the Redis throttle across processes, and upgrading an old database.

mod cli;
mod crash;
mod throttle;
mod upgrade;
