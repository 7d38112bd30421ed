//! The core's tests, in one binary: each node type's behaviour, conditions on contacts' facts,
//! the send policy, and the simulator.

mod conditions;
mod nodes;
mod policy;
mod simulator;
