//! The core's tests, in one binary: each node type's behaviour, conditions on contacts' facts,
//! the send policy, the simulator, and campaigns (audiences, schedules, entering on a match, one
//! journey per record) in the simulator.

mod campaigns;
mod conditions;
mod nodes;
mod policy;
mod simulator;
