//! One delivery attempt under the message's guard, the same in the orchestrator's own
//! delivery loop and in queue workers: the open time is checked (a message delayed by a batch,
//! a queue or a retry is never sent outside its window or on a closed day), one slot is taken
//! on all its throttles at once, the open time is checked again, and the provider is called
//! only if its answer can come back within the row's delivery lease — so a lease never runs
//! out under a send and no other process can send the same message meanwhile.

use chrono::{DateTime, TimeDelta, Utc};
use flows::Outbound;
use flows::policy::Openness;

use crate::providers::{Outcome, Providers};
use crate::throttle::{Permit, Throttle};

/// Room left at the end of the lease for recording the outcome.
pub const LEASE_MARGIN: TimeDelta = TimeDelta::seconds(1);

/// The shortest provider call worth starting.
pub const MIN_BUDGET: TimeDelta = TimeDelta::milliseconds(500);

/// What an attempt needs.
pub struct Attempt<'a> {
    pub providers: &'a Providers,
    pub throttle: &'a Throttle,
    /// The clock the guard and the lease are judged by (the service's).
    pub now: &'a (dyn Fn() -> DateTime<Utc> + Send + Sync),
}

impl Attempt<'_> {
    /// Sends `m`, leased until `lease_until`, if its guard allows it now.
    pub async fn run(&self, m: &Outbound, lease_until: DateTime<Utc>) -> Outcome {
        let budget = || lease_until - (self.now)() - LEASE_MARGIN;
        if budget() < MIN_BUDGET {
            return Outcome::LeaseLost;
        }
        if let Some(guard) = &m.guard {
            if let Some(held) = held(guard.check((self.now)())) {
                return held;
            }
            if !guard.throttles.is_empty() {
                match self.throttle.acquire(&guard.throttles).await {
                    Ok(Permit::Go) => {}
                    Ok(Permit::Later(wait)) => {
                        return Outcome::Throttled {
                            until: (self.now)() + TimeDelta::from_std(wait).unwrap_or_default(),
                        };
                    }
                    Err(e) => {
                        return Outcome::Retry {
                            provider: self.providers.name(m.channel),
                            reason: e.to_string(),
                        };
                    }
                }
                if let Some(held) = held(guard.check((self.now)())) {
                    return held;
                }
            }
        }
        match budget().to_std() {
            Ok(left) if budget() >= MIN_BUDGET => self.providers.send_within(m, left).await,
            _ => Outcome::LeaseLost,
        }
    }
}

fn held(openness: Openness) -> Option<Outcome> {
    match openness {
        Openness::Open => None,
        Openness::Closed { until, reason } => Some(Outcome::Deferred {
            until,
            reason: format!("{reason} (at delivery)"),
        }),
        Openness::Never { reason } => Some(Outcome::Failed {
            provider: "policy",
            reason,
        }),
    }
}
