//! Storage, by area. Functions take any `ConnectionTrait` so callers choose the transaction.

pub mod bench;
pub mod contacts;
pub mod flows;
pub mod journeys;
pub mod set_aside;
