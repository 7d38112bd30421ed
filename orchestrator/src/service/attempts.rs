//! Failed logins, remembered to slow down password guessing: after [`PER_EMAIL`] failures for
//! one e-mail address, or [`PER_CLIENT`] from one client address, within [`WINDOW`], further
//! attempts are refused until the oldest of those failures is older than the window.
//!
//! Kept in memory, per process: a restart forgets them, and several processes behind a load
//! balancer each allow the full number. The client is the connection's peer address: behind a
//! proxy every client is the proxy's address (no forwarded header is trusted), so the
//! per-e-mail limit is then what holds. Time is the service's clock, so tests can move it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

/// How long a failure counts.
pub const WINDOW: TimeDelta = TimeDelta::minutes(15);
/// Failures for one e-mail address within the window before its logins are refused.
pub const PER_EMAIL: usize = 5;
/// Failures from one client address within the window before its logins are refused.
pub const PER_CLIENT: usize = 20;
/// Keys kept before the ones with no failure left in the window are swept out.
const SWEEP_AT: usize = 10_000;

/// The failures of the window, per e-mail address and per client address.
#[derive(Debug, Default)]
pub struct Attempts {
    inner: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    by_email: HashMap<String, VecDeque<DateTime<Utc>>>,
    by_client: HashMap<Option<IpAddr>, VecDeque<DateTime<Utc>>>,
}

/// Who tries: the (normalised) e-mail address and the client's address, when known.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub email: &'a str,
    pub client: Option<IpAddr>,
}

impl Attempts {
    /// How long until an attempt may be made, when it may not be made now.
    pub fn refused(&self, attempt: Attempt<'_>, now: DateTime<Utc>) -> Option<TimeDelta> {
        let mut f = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let email = f.by_email.get_mut(attempt.email).and_then(|q| wait(q, PER_EMAIL, now));
        let client = f
            .by_client
            .get_mut(&attempt.client)
            .and_then(|q| wait(q, PER_CLIENT, now));
        email.max(client)
    }

    /// Counts a failed attempt.
    pub fn failed(&self, attempt: Attempt<'_>, now: DateTime<Utc>) {
        let mut f = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if f.by_email.len() + f.by_client.len() > SWEEP_AT {
            let live = |q: &mut VecDeque<DateTime<Utc>>| {
                let _ = wait(q, usize::MAX, now);
                !q.is_empty()
            };
            f.by_email.retain(|_, q| live(q));
            f.by_client.retain(|_, q| live(q));
        }
        push(f.by_email.entry(attempt.email.to_string()).or_default(), PER_EMAIL, now);
        push(f.by_client.entry(attempt.client).or_default(), PER_CLIENT, now);
    }

    /// Forgets the failures for an e-mail address whose password was just given right.
    pub fn succeeded(&self, email: &str) {
        let mut f = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f.by_email.remove(email);
    }
}

/// Drops the failures that left the window; how long until fewer than `limit` remain, when
/// `limit` remain now.
fn wait(failures: &mut VecDeque<DateTime<Utc>>, limit: usize, now: DateTime<Utc>) -> Option<TimeDelta> {
    while failures.front().is_some_and(|t| *t + WINDOW <= now) {
        failures.pop_front();
    }
    // Only the last `limit` failures are kept, so the oldest is the one to wait out.
    (failures.len() >= limit).then(|| failures.front().map_or(TimeDelta::zero(), |t| *t + WINDOW - now))
}

/// Adds a failure, keeping only the last `limit`: no more are needed to know the wait.
fn push(failures: &mut VecDeque<DateTime<Utc>>, limit: usize, now: DateTime<Utc>) {
    failures.push_back(now);
    while failures.len() > limit {
        failures.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(minutes)
    }

    #[test]
    fn five_failures_for_an_address_refuse_it_until_the_first_is_fifteen_minutes_old() {
        let attempts = Attempts::default();
        let ann = Attempt {
            email: "ann@example.com",
            client: None,
        };
        for minute in 0..5 {
            assert_eq!(attempts.refused(ann, at(minute)), None);
            attempts.failed(ann, at(minute));
        }
        assert_eq!(attempts.refused(ann, at(5)), Some(TimeDelta::minutes(10)));
        let bob = Attempt {
            email: "bob@example.com",
            client: None,
        };
        assert_eq!(attempts.refused(bob, at(5)), None, "another address is not refused");
        assert_eq!(attempts.refused(ann, at(15)), None, "the first failure left the window");
        attempts.succeeded("ann@example.com");
        assert_eq!(
            attempts.refused(ann, at(6)),
            None,
            "a right password forgets the failures"
        );
    }

    #[test]
    fn twenty_failures_from_one_client_refuse_it_whatever_the_address() {
        let attempts = Attempts::default();
        let client = Some("192.0.2.1".parse().unwrap());
        for n in 0..20 {
            let email = format!("user{n}@example.com");
            attempts.failed(Attempt { email: &email, client }, at(0));
        }
        let fresh = Attempt {
            email: "new@example.com",
            client,
        };
        assert_eq!(attempts.refused(fresh, at(1)), Some(TimeDelta::minutes(14)));
        let elsewhere = Attempt {
            email: "new@example.com",
            client: Some("192.0.2.2".parse().unwrap()),
        };
        assert_eq!(attempts.refused(elsewhere, at(1)), None);
    }
}
