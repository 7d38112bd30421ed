//! # workers — delivery of messages through providers
//!
//! Will own the apalis jobs that send messages (one queue per channel), the providers (SMTP,
//! HTTP SMS/push/webhook, the built-in outbox) and the send policy checks done at delivery time
//! (windows, throttles, caps). Workers talk to the orchestrator only through queues; the job and
//! outcome types come from `flows`. Empty until the service issue lands.
