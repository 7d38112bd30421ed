//! The core's tests, in one binary: each node type's behaviour, the send policy, and the
//! simulator.

mod nodes;
mod policy;
mod simulator;
