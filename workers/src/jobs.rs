//! What travels through the queues: a message to send, and what became of it.

use flows::Outbound;
use serde::{Deserialize, Serialize};

use crate::providers::Outcome;

/// One delivery attempt of one outbox row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendJob {
    pub outbox_id: i64,
    /// Deferrals before this attempt; an outcome for another attempt is stale and ignored.
    pub attempts: i64,
    pub token_id: i64,
    pub contact_id: i64,
    /// The contact's external id, for the journal.
    pub contact: String,
    pub flow_id: i64,
    /// Rendered, with tracking already added.
    pub message: Outbound,
    /// The outbox row's lease for this attempt (service clock): the send must be over by then,
    /// and outcomes that only move the row apply only while the row still holds this lease.
    pub leased_until: chrono::DateTime<chrono::Utc>,
}

/// A provider's answer, as it travels back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum WireOutcome {
    Accepted {
        provider: String,
        reference: Option<String>,
    },
    Retry {
        provider: String,
        reason: String,
    },
    Failed {
        provider: String,
        reason: String,
    },
    Undeliverable {
        provider: String,
        reason: String,
    },
    Deferred {
        until: chrono::DateTime<chrono::Utc>,
        reason: String,
    },
    Throttled {
        until: chrono::DateTime<chrono::Utc>,
    },
    LeaseLost,
}

impl From<Outcome> for WireOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Accepted { provider, reference } => WireOutcome::Accepted {
                provider: provider.into(),
                reference,
            },
            Outcome::Retry { provider, reason } => WireOutcome::Retry {
                provider: provider.into(),
                reason,
            },
            Outcome::Failed { provider, reason } => WireOutcome::Failed {
                provider: provider.into(),
                reason,
            },
            Outcome::Undeliverable { provider, reason } => WireOutcome::Undeliverable {
                provider: provider.into(),
                reason,
            },
            Outcome::Deferred { until, reason } => WireOutcome::Deferred { until, reason },
            Outcome::Throttled { until } => WireOutcome::Throttled { until },
            Outcome::LeaseLost => WireOutcome::LeaseLost,
        }
    }
}

impl From<WireOutcome> for Outcome {
    fn from(o: WireOutcome) -> Self {
        let name = |p: &str| -> &'static str {
            match p {
                "smtp" => "smtp",
                "http" => "http",
                "webhook" => "webhook",
                "outbox" => "outbox",
                _ => "other",
            }
        };
        match o {
            WireOutcome::Accepted { provider, reference } => Outcome::Accepted {
                provider: name(&provider),
                reference,
            },
            WireOutcome::Retry { provider, reason } => Outcome::Retry {
                provider: name(&provider),
                reason,
            },
            WireOutcome::Failed { provider, reason } => Outcome::Failed {
                provider: name(&provider),
                reason,
            },
            WireOutcome::Undeliverable { provider, reason } => Outcome::Undeliverable {
                provider: name(&provider),
                reason,
            },
            WireOutcome::Deferred { until, reason } => Outcome::Deferred { until, reason },
            WireOutcome::Throttled { until } => Outcome::Throttled { until },
            WireOutcome::LeaseLost => Outcome::LeaseLost,
        }
    }
}

/// The outcome of a [`SendJob`], on its way back to the orchestrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeJob {
    pub job: SendJob,
    pub outcome: WireOutcome,
}
