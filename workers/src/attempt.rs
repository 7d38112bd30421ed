//! One delivery attempt under the message's guard, the same in the orchestrator's own
//! delivery loop and in queue workers: the open time is checked (a message delayed by a queue
//! is never sent outside its window or on a closed day), every throttle gives a slot, the open
//! time is checked again at the slot, then the provider is called.

use chrono::{DateTime, TimeDelta, Utc};
use flows::Outbound;
use flows::policy::Openness;

use crate::providers::{Outcome, Providers};
use crate::throttle::{Permit, Throttle};

/// Sends `m` if its guard allows it at `now` (the caller's clock; throttle waits add real time).
pub async fn attempt(providers: &Providers, throttle: &Throttle, m: &Outbound, now: DateTime<Utc>) -> Outcome {
    let Some(guard) = &m.guard else {
        return providers.send(m).await;
    };
    let started = std::time::Instant::now();
    let at = |now: DateTime<Utc>| now + TimeDelta::from_std(started.elapsed()).unwrap_or_default();
    if let Some(held) = held(guard.check(now)) {
        return held;
    }
    for (key, rate) in &guard.throttles {
        match throttle.acquire(key, *rate).await {
            Ok(Permit::Go) => {}
            Ok(Permit::Later(wait)) => {
                return Outcome::Throttled {
                    until: at(now) + TimeDelta::from_std(wait).unwrap_or_default(),
                };
            }
            Err(e) => {
                return Outcome::Retry {
                    provider: providers.name(m.channel),
                    reason: e.to_string(),
                };
            }
        }
    }
    if let Some(held) = held(guard.check(at(now))) {
        return held;
    }
    providers.send(m).await
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
