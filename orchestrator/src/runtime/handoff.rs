//! The in-memory handoff of queued messages from this process's engine to its delivery.

use chrono::TimeDelta;

use workers::jobs::SendJob;

/// Messages a [`Handoff`] holds at most. Waiting there eats into their lease: at
/// [`CONCURRENCY`](crate::runtime::delivery::CONCURRENCY) sends in flight, this many take 256 rounds, so with a provider slower than
/// about 0.3 s a send the last of them find their lease too short and go back to the outbox
/// (`Outcome::LeaseLost`), to be leased again as usual.
pub const HANDOFF_CAPACITY: usize = 4096;

/// Messages the engine of this process queued and leased for this process's delivery, handed
/// over in memory so delivery does not read them back through a lease: the lease query and
/// its update were about 30% of delivery's time (`cairn bench engine`). Bounded: when it is
/// full, the engine queues rows unleased and delivery leases them as before. What it holds is
/// lost with the process, which is what the lease is for.
#[derive(Debug)]
pub struct Handoff {
    queue: std::sync::Mutex<std::collections::VecDeque<SendJob>>,
    capacity: usize,
    /// How long the engine leases the rows it hands over.
    pub lease: TimeDelta,
    handed: std::sync::atomic::AtomicU64,
}

impl Handoff {
    pub fn new(capacity: usize, lease: TimeDelta) -> Self {
        Handoff {
            queue: Default::default(),
            capacity,
            lease,
            handed: Default::default(),
        }
    }

    /// Whether `n` more messages fit. Only the engine adds, one batch at a time, so what
    /// fits when its transaction starts still fits when it commits.
    pub fn has_room(&self, n: usize) -> bool {
        self.queue.lock().expect("handoff lock").len() + n <= self.capacity
    }

    /// Adds messages whose rows were leased for this process and committed.
    pub fn push(&self, pending: Vec<SendJob>) {
        self.handed
            .fetch_add(pending.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.queue.lock().expect("handoff lock").extend(pending);
    }

    /// Takes up to `n` messages, oldest first.
    pub fn take(&self, n: usize) -> Vec<SendJob> {
        let mut queue = self.queue.lock().expect("handoff lock");
        let n = n.min(queue.len());
        queue.drain(..n).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.lock().expect("handoff lock").is_empty()
    }

    /// Messages handed over since this handoff was made.
    pub fn handed_over(&self) -> u64 {
        self.handed.load(std::sync::atomic::Ordering::Relaxed)
    }
}
