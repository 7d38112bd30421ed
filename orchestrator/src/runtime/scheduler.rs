//! The scheduler: a loop that creates the runs of segment entries that fall due and admits
//! them wave by wave (see [`crate::service::campaigns`]), and admits contacts who start to match
//! an `on: match` entry.
//!
//! Every decision is a use case's; the loop only asks, once a second or at once after work,
//! what is due. Runs are durable and leased, so of several processes one admits each wave, and
//! a wave cut short by a crash is done again by the next to take it.

use super::{Background, Turn};
use crate::service::{Services, campaigns};

#[derive(Clone)]
pub struct Scheduler {
    pub services: Services,
}

impl Scheduler {
    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let clock = self.services.clock.clone();
        let wake = self.services.scheduler.clone();
        super::run_loop(&*clock, &wake, shutdown, self).await;
    }

    /// Passes until nothing is due at the clock's instant; returns how many passes did work.
    pub async fn drain(&self) -> Result<usize, crate::service::Error> {
        let mut busy = 0;
        while self.run_once().await? {
            busy += 1;
        }
        Ok(busy)
    }

    /// Plans the due runs and admits one wave, and the contacts who started to match; returns
    /// whether it did any work.
    pub async fn run_once(&self) -> Result<bool, crate::service::Error> {
        let s = &self.services;
        let planned = campaigns::plan(s).await?;
        let admitted = campaigns::admit_next(s).await?.is_some();
        let matched = campaigns::admit_matches(s).await?;
        Ok(planned > 0 || admitted || matched > 0)
    }
}

impl Background for Scheduler {
    async fn pass(&mut self) -> Turn {
        match self.run_once().await {
            Ok(true) => Turn::Busy,
            Ok(false) => Turn::Idle,
            Err(e) => {
                tracing::warn!(error = %e, "the scheduler could not admit a run; it will try again");
                Turn::Failed
            }
        }
    }

    async fn next_due(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
}
