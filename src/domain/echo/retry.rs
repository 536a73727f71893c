//! How many times each `x-echo-retry-key` has been tried, for the flaky calls of the
//! echo service ([`super::Flaky`]), in bounded memory.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::Flaky;

/// What a flaky call should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Fail: this is attempt `attempt` (from 1) of the `of` that fail.
    Fail {
        /// This attempt's number, from 1.
        attempt: u32,
        /// How many attempts fail in all.
        of: u32,
    },
    /// Succeed: attempt `attempt`, after the failures.
    Succeed {
        /// This attempt's number, from 1.
        attempt: u32,
    },
}

/// How many calls each retry key has seen, for [`Flaky`] calls: a bounded number of
/// keys, each forgotten some time after its last call, the least recently used first
/// when full (see [`RetryKeys::new`]).
#[derive(Debug)]
pub struct RetryKeys {
    /// Attempts so far and the time of the last one, by key.
    keys: Mutex<HashMap<String, (u32, Instant)>>,
    capacity: usize,
    ttl: Duration,
}

impl Default for RetryKeys {
    /// 10,000 keys, forgotten after 10 minutes.
    fn default() -> Self {
        Self::new(10_000, Duration::from_secs(600))
    }
}

impl RetryKeys {
    /// At most `capacity` keys, each forgotten `ttl` after its last call.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            keys: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// How many keys are remembered now.
    pub fn len(&self) -> usize {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts one call of `flaky`'s key at `now` and says whether it fails.
    pub fn attempt(&self, flaky: &Flaky, now: Instant) -> Attempt {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let expired = |last: Instant| now.saturating_duration_since(last) >= self.ttl;
        if !keys.contains_key(&flaky.key) && keys.len() >= self.capacity {
            keys.retain(|_, (_, last)| !expired(*last));
            if keys.len() >= self.capacity
                && let Some(oldest) = keys
                    .iter()
                    .min_by_key(|(_, (_, last))| *last)
                    .map(|(key, _)| key.clone())
            {
                keys.remove(&oldest);
            }
        }
        let entry = keys.entry(flaky.key.clone()).or_insert((0, now));
        if expired(entry.1) {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let attempt = entry.0;
        if attempt <= flaky.fail_first {
            Attempt::Fail {
                attempt,
                of: flaky.fail_first,
            }
        } else {
            Attempt::Succeed { attempt }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::echo::DEFAULT_RETRY_DELAY;

    fn flaky(key: &str, fail_first: u32) -> Flaky {
        Flaky {
            fail_first,
            key: key.into(),
            retry_delay: DEFAULT_RETRY_DELAY,
        }
    }

    #[test]
    fn a_key_fails_its_first_calls_then_succeeds() {
        let keys = RetryKeys::default();
        let now = Instant::now();
        let call = flaky("a", 2);
        assert_eq!(
            keys.attempt(&call, now),
            Attempt::Fail { attempt: 1, of: 2 }
        );
        assert_eq!(
            keys.attempt(&call, now),
            Attempt::Fail { attempt: 2, of: 2 }
        );
        assert_eq!(keys.attempt(&call, now), Attempt::Succeed { attempt: 3 });
        // Another key has its own count.
        assert_eq!(
            keys.attempt(&flaky("b", 1), now),
            Attempt::Fail { attempt: 1, of: 1 }
        );
    }

    #[test]
    fn keys_expire_and_memory_is_bounded() {
        let keys = RetryKeys::new(3, Duration::from_secs(60));
        let start = Instant::now();
        assert!(matches!(
            keys.attempt(&flaky("a", 1), start),
            Attempt::Fail { .. }
        ));
        // A minute later the key is forgotten: it fails again from the start.
        let later = start + Duration::from_secs(60);
        assert_eq!(
            keys.attempt(&flaky("a", 1), later),
            Attempt::Fail { attempt: 1, of: 1 }
        );
        // Many keys: never more than three remembered, the least recently used goes.
        for i in 0..100 {
            keys.attempt(
                &flaky(&format!("k{i}"), 1),
                later + Duration::from_millis(i),
            );
            assert!(keys.len() <= 3);
        }
        assert_eq!(
            keys.attempt(&flaky("k99", 1), later + Duration::from_millis(200)),
            Attempt::Succeed { attempt: 2 }
        );
        assert_eq!(
            keys.attempt(&flaky("k0", 1), later + Duration::from_millis(300)),
            Attempt::Fail { attempt: 1, of: 1 }
        );
    }
}
