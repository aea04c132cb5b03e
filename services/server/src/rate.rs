//! Rate limits: a token bucket per user name, `per_minute` deep, refilled evenly. Used for
//! report intake (per credential) and dashboard logins (per user name tried).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimiter {
    limit: u64,
    per_minute: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u64) -> Self {
        RateLimiter {
            limit: per_minute,
            per_minute: per_minute as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Reports allowed per minute.
    pub fn per_minute(&self) -> u64 {
        self.limit
    }

    /// Takes one report's allowance for `user`, or says how long until one is free.
    pub fn take(&self, user: &str) -> Result<(), Duration> {
        self.take_at(user, Instant::now())
    }

    fn take_at(&self, user: &str, now: Instant) -> Result<(), Duration> {
        let per_second = self.per_minute / 60.0;
        let mut buckets = self.buckets.lock().expect("rate limiter lock poisoned");
        let (tokens, last) = buckets
            .entry(user.to_string())
            .or_insert((self.per_minute, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(self.per_minute);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }
}

/// A wait as the whole seconds a client is told (rounded up, at least 1).
pub fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// The `Retry-After` value for a wait.
pub fn retry_after(wait: Duration) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from(whole_seconds(wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_an_even_refill_per_user() {
        let limiter = RateLimiter::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.take_at("ana", t0).unwrap();
        }
        let wait = limiter.take_at("ana", t0).unwrap_err();
        assert!((19.0..=20.5).contains(&wait.as_secs_f64()), "{wait:?}");
        limiter
            .take_at("bob", t0)
            .expect("another user has a bucket of its own");
        limiter
            .take_at("ana", t0 + Duration::from_secs(21))
            .expect("one more after a third of a minute");
    }
}
