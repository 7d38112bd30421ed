//! Throttles: at most N sends per period for a key (`channel:sms`, `flow:Welcome:sms`),
//! cluster-wide on Redis, in-process on the embedded default.
//!
//! Each send reserves one slot on the schedules of all its keys at once (a generic cell rate
//! algorithm without bursts): the slot is the latest of the keys' next free instants, and each
//! key's next free instant moves to `slot + spacing`, with `spacing = ⌈(per + PAD) / max⌉`. On
//! Redis the schedules live in Redis and one Lua script (on Redis's clock) reserves across all
//! keys atomically, so any number of processes share them.
//!
//! A sender sleeps until its slot and goes only if it is no more than [`LATE`] past it; a later
//! waker (an overloaded machine) gives the slot up and reserves again. On Redis the script says
//! how long until the slot *from when it ran*; the sender sleeps that long from when the reply
//! arrives (so it is never early) and measures lateness from when it sent the request (so it is
//! never more than [`LATE`] late), on its own monotonic clock — no host clocks are compared.
//! Sends thus fall in `[slot, slot + LATE]`, and any window of length `per` holds at most `max`
//! of them: the limit is exact, at a cost of `PAD / per` of the rate (1 % for a per-second limit).
//!
//! A slot further away than [`MAX_WAIT`] is not taken: the caller defers the message instead of
//! holding its delivery lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apalis_redis::ConnectionManager;
use flows::policy::Rate;

/// Added to the period when spacing slots; more than [`LATE`].
pub const PAD: Duration = Duration::from_millis(10);

/// How late after its slot a send may still go.
pub const LATE: Duration = Duration::from_millis(8);

/// The furthest slot a sender waits for.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// KEYS: the schedules; ARGV: each key's spacing (µs), then the longest wait (µs).
/// Returns {1, wait} with the slot reserved on every key, or {0, wait} with nothing reserved.
const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = now
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat > slot then slot = tat end
end
local wait = slot - now
if wait > tonumber(ARGV[#KEYS + 1]) then
  return {0, string.format('%d', wait)}
end
for i, key in ipairs(KEYS) do
  local next_tat = slot + tonumber(ARGV[i])
  redis.call('SET', key, string.format('%d', next_tat), 'PX', math.floor((next_tat - now) / 1000) + 1000)
end
return {1, string.format('%d', wait)}
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

/// The verdict for one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Send now (the slot has come).
    Go,
    /// No slot within [`MAX_WAIT`]; the next is about this far away.
    Later(Duration),
}

/// `⌈(per + PAD) / max⌉`, in whole microseconds (rounded up, so never faster than the rate).
fn spacing(rate: Rate) -> Duration {
    let per = Duration::from_secs(rate.per.seconds().max(0) as u64) + PAD;
    let micros = per.as_micros().div_ceil(u128::from(rate.max.max(1)));
    Duration::from_micros(micros.max(1) as u64)
}

/// A reservation: sleep until `earliest`, and go only if not past `latest`.
struct Slot {
    earliest: Instant,
    latest: Instant,
}

impl Throttle {
    pub fn local() -> Self {
        Throttle::Local(Arc::default())
    }

    /// Reserves one slot on every key (or says how long until one), without waiting.
    async fn reserve(&self, keys: &[(String, Rate)]) -> Result<Result<Slot, Duration>, Error> {
        match self {
            Throttle::Local(schedules) => {
                let now = Instant::now();
                let mut schedules = schedules.lock().expect("throttle lock");
                let slot = keys
                    .iter()
                    .filter_map(|(key, _)| schedules.get(key).copied())
                    .fold(now, Instant::max);
                if slot - now > MAX_WAIT {
                    return Ok(Err(slot - now));
                }
                for (key, rate) in keys {
                    schedules.insert(key.clone(), slot + spacing(*rate));
                }
                Ok(Ok(Slot {
                    earliest: slot,
                    latest: slot + LATE,
                }))
            }
            Throttle::Redis(conn) => {
                let mut conn = conn.clone();
                let source = redis::Script::new(SCRIPT);
                let mut script = source.prepare_invoke();
                for (key, _) in keys {
                    script.key(format!("cairn:throttle:{key}"));
                }
                for (_, rate) in keys {
                    script.arg(spacing(*rate).as_micros() as u64);
                }
                script.arg(MAX_WAIT.as_micros() as u64);
                let asked = Instant::now();
                let (taken, wait): (i64, String) = script
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| Error::Redis(e.to_string()))?;
                let answered = Instant::now();
                let wait: u64 = wait
                    .parse()
                    .map_err(|_| Error::Redis(format!("unexpected reply '{wait}'")))?;
                let wait = Duration::from_micros(wait);
                Ok(if taken == 1 {
                    // The slot is `wait` after the script ran, which was between `asked` and
                    // `answered`: going after `answered + wait` is never early, and before
                    // `asked + wait + LATE` never more than LATE late.
                    Ok(Slot {
                        earliest: answered + wait,
                        latest: asked + wait + LATE,
                    })
                } else {
                    Err(wait)
                })
            }
        }
    }

    /// Waits for a slot under every `(key, rate)` and takes it; `Later` when none is near.
    pub async fn acquire(&self, keys: &[(String, Rate)]) -> Result<Permit, Error> {
        if keys.is_empty() {
            return Ok(Permit::Go);
        }
        loop {
            match self.reserve(keys).await? {
                Err(far) => return Ok(Permit::Later(far)),
                Ok(slot) => {
                    tokio::time::sleep_until(slot.earliest.into()).await;
                    // Too late (an overloaded machine, a slow reply): this slot could crowd
                    // the next window; give it up and reserve again.
                    if Instant::now() <= slot.latest {
                        return Ok(Permit::Go);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(max: u32, per: i64) -> Rate {
        Rate {
            max,
            per: flows::Duration::from_seconds(per),
        }
    }

    #[test]
    fn spacing_rounds_up_so_the_rate_is_never_exceeded() {
        assert_eq!(spacing(rate(1000, 1)), Duration::from_micros(1010));
        assert_eq!(spacing(rate(3, 1)), Duration::from_micros(336_667));
        assert_eq!(spacing(rate(u32::MAX, 1)), Duration::from_micros(1));
    }

    #[tokio::test]
    async fn one_reservation_holds_every_key() {
        let t = Throttle::local();
        let channel = ("channel:sms".to_string(), rate(10, 1));
        let flow = ("flow:Promo:sms".to_string(), rate(1, 1));
        assert_eq!(t.acquire(&[channel.clone(), flow.clone()]).await.unwrap(), Permit::Go);
        // The flow key is now booked for a second; the channel key only for 101 ms.
        let started = Instant::now();
        assert_eq!(t.acquire(std::slice::from_ref(&channel)).await.unwrap(), Permit::Go);
        assert!(started.elapsed() < Duration::from_millis(200));
        let Throttle::Local(s) = &t else { unreachable!() };
        let next_flow = s.lock().unwrap()[&flow.0];
        assert!(next_flow > Instant::now() + Duration::from_millis(700));
    }
}
