//! # workers — delivery through providers
//!
//! [`providers::Providers`] sends one rendered [`flows::Outbound`] message through its channel's
//! provider and classifies the answer as an [`providers::Outcome`]: accepted, worth retrying, or
//! failed for good. Email goes over SMTP (lettre), SMS and push to a configured HTTP endpoint,
//! `webhook` nodes to their own URL; a channel without configuration uses the built-in `outbox`
//! provider, which accepts at once (the message is already stored). Every attempt carries the
//! message's stable id — as the email `Message-ID` and as the `Idempotency-Key` header — so a
//! retry after a crash is recognised by the receiver instead of delivered twice.
//!
//! The orchestrator's delivery loop calls this today; apalis jobs per channel (`cairn worker`)
//! will call the same function.
//!
//! Webhook destinations are flow data: [`address`] decides which addresses a `webhook` node
//! may reach, and the webhook client resolves host names through it and follows no redirects.

pub mod address;
pub mod attempt;
pub mod jobs;
pub mod providers;
pub mod queues;
pub mod throttle;
