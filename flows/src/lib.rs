//! # flows — Cairn's pure core
//!
//! Everything here is deterministic and free of IO, async and clock reads: time is always a
//! parameter. The service (`orchestrator`) and the workers build on it; it depends on neither.
//!
//! - [`definition`]: the `cairn.flow/v1` format as types, and its JSON Schema.
//! - [`compile`]: text → [`Definition`] → [`CompiledFlow`], reporting every problem at once.
//! - [`step`]: the token state machine, `step(flow, token, input, context) -> Transition`.
//! - [`token`], [`contact`], [`effect`], [`journal`]: what a step reads and what it returns.
//! - [`condition`], [`template`], [`time`], [`values`]: branch conditions, message templates,
//!   local-time arithmetic, and the small parsed value types (durations, zones, times of day).
//! - [`policy`], [`geo`]: send windows, holidays, caps, throttles and pacing; contacts' zones,
//!   countries and public holidays from generated tables.
//! - [`simulate`]: the virtual-clock simulator behind `cairn simulate`.

pub mod compile;
pub mod condition;
pub mod contact;
pub mod countries;
pub mod definition;
pub mod effect;
pub mod geo;
pub mod journal;
pub mod policy;
pub mod simulate;
pub mod step;
pub mod template;
pub mod time;
pub mod token;
pub mod values;

pub use compile::{CompiledFlow, Problem, Problems, compile, parse_definition};
pub use contact::{Contact, Event};
pub use definition::{Definition, FORMAT_V1, NodeKind};
pub use effect::{Channel, Content, Effect, Outbound};
pub use journal::{Action, JournalEntry};
pub use policy::Policy;
pub use step::{Context, History, Input, Transition, step};
pub use token::{Token, TokenState};
pub use values::Duration;
