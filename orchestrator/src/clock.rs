//! Time as a dependency: the service reads the clock only through [`Clock`], so tests and the
//! engine benchmark can move time by hand ([`ManualClock`]) instead of waiting for it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Completes once `now() >= at`.
    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Truncated to milliseconds, the precision instants are stored with.
    fn now(&self) -> DateTime<Utc> {
        crate::db::from_ms(crate::db::ms(Utc::now()))
    }
    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told to; sleepers wake when it passes their instant.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug)]
struct ManualInner {
    now: Mutex<DateTime<Utc>>,
    moved: Notify,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            inner: Arc::new(ManualInner {
                now: Mutex::new(start),
                moved: Notify::new(),
            }),
        }
    }
    pub fn set(&self, to: DateTime<Utc>) {
        *self.inner.now.lock().expect("clock lock") = to;
        self.inner.moved.notify_waiters();
    }
    pub fn advance(&self, by: chrono::TimeDelta) {
        let to = self.now() + by;
        self.set(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.inner.now.lock().expect("clock lock")
    }
    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            loop {
                let moved = inner.moved.notified();
                if *inner.now.lock().expect("clock lock") >= at {
                    return;
                }
                moved.await;
            }
        })
    }
}
