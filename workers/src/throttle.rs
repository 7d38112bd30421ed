//! Throttles: at most N sends per period for a key (`channel:sms`, `flow:Welcome:sms`),
//! cluster-wide on Redis, in-process on the embedded default.
//!
//! Each send reserves a slot on a schedule (generic cell rate algorithm without bursts): slots
//! are `(per + PAD) / max` apart, and the schedule lives in one Redis key updated by a Lua
//! script (Redis's own clock), so any number of processes share it. A sender sleeps until its
//! slot and goes only if it woke within [`LATE`] of it; a later waker (an overloaded machine)
//! gives its slot up and reserves again. Sends therefore fall in `[slot, slot + LATE + δ]`
//! (δ: the Redis reply's way back, under [`PAD`] − [`LATE`]), and any window of length `per`
//! holds at most `max` of them: the limit is exact, not approximate, at a cost of `PAD / per`
//! of the rate (0.5 % for a per-second limit).
//!
//! A slot further away than [`MAX_WAIT`] is not taken: the caller defers the message instead of
//! holding its delivery lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apalis_redis::ConnectionManager;
use flows::policy::Rate;

/// Added to the period when spacing slots.
pub const PAD: Duration = Duration::from_millis(10);

/// How late after its slot a send may still go.
pub const LATE: Duration = Duration::from_millis(8);

/// The furthest slot a sender waits for.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(tat, now)
local wait = slot - now
if wait > tonumber(ARGV[2]) then
  return {0, string.format('%d', wait)}
end
local next_tat = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.floor((next_tat - now) / 1000) + 1000)
return {1, string.format('%d', slot)}
"#;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("throttle: {0}")]
    Redis(String),
}

/// Where the schedules live; cheap to clone.
#[derive(Clone)]
pub enum Throttle {
    /// Next free slot per key, in this process.
    Local(Arc<Mutex<HashMap<String, Instant>>>),
    Redis(ConnectionManager),
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Throttle::Local(_) => "Throttle::Local",
            Throttle::Redis(_) => "Throttle::Redis",
        })
    }
}

/// A reserved slot: on this process's monotonic clock, or on the shared wall clock (Redis).
enum Slot {
    Local(Instant),
    Wall(SystemTime),
}

/// The verdict for one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Send now (the slot has come).
    Go,
    /// No slot within [`MAX_WAIT`]; the next is about this far away.
    Later(Duration),
}

fn spacing(rate: Rate) -> Duration {
    let per = Duration::from_secs(rate.per.seconds().max(0) as u64) + PAD;
    per / rate.max.max(1)
}

impl Throttle {
    pub fn local() -> Self {
        Throttle::Local(Arc::default())
    }

    /// Reserves a slot (or says how long until one), without waiting.
    async fn reserve(&self, key: &str, rate: Rate) -> Result<Result<Slot, Duration>, Error> {
        let spacing = spacing(rate);
        match self {
            Throttle::Local(slots) => {
                let now = Instant::now();
                let mut slots = slots.lock().expect("throttle lock");
                let next = slots.entry(key.to_string()).or_insert(now);
                let slot = (*next).max(now);
                let wait = slot - now;
                if wait > MAX_WAIT {
                    return Ok(Err(wait));
                }
                *next = slot + spacing;
                Ok(Ok(Slot::Local(slot)))
            }
            Throttle::Redis(conn) => {
                let mut conn = conn.clone();
                let (taken, value): (i64, String) = redis::Script::new(SCRIPT)
                    .key(format!("cairn:throttle:{key}"))
                    .arg(spacing.as_micros() as u64)
                    .arg(MAX_WAIT.as_micros() as u64)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| Error::Redis(e.to_string()))?;
                let micros: u64 = value
                    .parse()
                    .map_err(|_| Error::Redis(format!("unexpected reply '{value}'")))?;
                Ok(if taken == 1 {
                    // An instant on Redis's clock; hosts share it through NTP, so the reply's
                    // own latency does not move the slot.
                    Ok(Slot::Wall(UNIX_EPOCH + Duration::from_micros(micros)))
                } else {
                    Err(Duration::from_micros(micros))
                })
            }
        }
    }

    /// Waits for a slot under `rate` for `key` and takes it; `Later` when none is near.
    pub async fn acquire(&self, key: &str, rate: Rate) -> Result<Permit, Error> {
        loop {
            match self.reserve(key, rate).await? {
                Err(far) => return Ok(Permit::Later(far)),
                // Woke too late: this slot may crowd the next window; give it up.
                Ok(Slot::Local(slot)) => {
                    tokio::time::sleep_until(slot.into()).await;
                    if Instant::now() <= slot + LATE {
                        return Ok(Permit::Go);
                    }
                }
                Ok(Slot::Wall(slot)) => {
                    if let Ok(ahead) = slot.duration_since(SystemTime::now()) {
                        tokio::time::sleep(ahead).await;
                    }
                    if SystemTime::now() <= slot + LATE {
                        return Ok(Permit::Go);
                    }
                }
            }
        }
    }
}
