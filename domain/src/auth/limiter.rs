//! Failed-login rate limiting, per account and per source address (governor's GCRA). Only
//! failures are counted, so clients that authenticate on every request (WebDAV, JMAP) are never
//! slowed down by their own successes. Once a key has used up its allowance, every attempt for
//! it is refused without checking the password until the allowance refills.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures each key may have: a burst, refilled at a steady rate per minute.
#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    pub per_account_per_minute: u32,
    pub per_account_burst: u32,
    pub per_address_per_minute: u32,
    pub per_address_burst: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self { per_account_per_minute: 6, per_account_burst: 10, per_address_per_minute: 20, per_address_burst: 30 }
    }
}

/// IPv6 sources count per /64 (one host usually holds a whole /64).
fn group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// The limiter shared by every protocol's login.
pub struct LoginLimiter {
    accounts: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
    blocked: Mutex<HashMap<Key, Instant>>,
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl LoginLimiter {
    pub fn new(s: LimitSettings) -> Self {
        Self {
            accounts: DefaultKeyedRateLimiter::keyed(quota(s.per_account_per_minute, s.per_account_burst)),
            addresses: DefaultKeyedRateLimiter::keyed(quota(s.per_address_per_minute, s.per_address_burst)),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` when this source or account may not try now.
    pub fn check(&self, source: IpAddr, account: Option<&str>) -> Result<(), u64> {
        let source = group(source);
        let now = Instant::now();
        let blocked = self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let keys = [Some(Key::Address(source)), account.map(|a| Key::Account(a.to_ascii_lowercase()))];
        let wait = keys
            .iter()
            .flatten()
            .filter_map(|k| blocked.get(k))
            .filter(|until| **until > now)
            .map(|until| until.duration_since(now))
            .max();
        match wait {
            Some(w) => Err(w.as_secs().max(1)),
            None => Ok(()),
        }
    }

    /// Charges one attempt before an expensive password check, so parallel guesses cannot all
    /// pass [`LoginLimiter::check`] before the first failure is recorded. `Err(seconds)` when the
    /// allowance is used up.
    pub fn attempt(&self, source: IpAddr, account: Option<&str>) -> Result<(), u64> {
        self.check(source, account)?;
        self.failed(source, account);
        self.check(source, account)
    }

    /// Records a failed attempt.
    pub fn failed(&self, source: IpAddr, account: Option<&str>) {
        let source = group(source);
        let mut block = Vec::new();
        if let Err(nu) = self.addresses.check_key(&source) {
            block.push((Key::Address(source), nu.wait_time_from(DefaultClock::default().now())));
        }
        if let Some(a) = account {
            let a = a.to_ascii_lowercase();
            if let Err(nu) = self.accounts.check_key(&a) {
                block.push((Key::Account(a), nu.wait_time_from(DefaultClock::default().now())));
            }
        }
        if !block.is_empty() {
            let now = Instant::now();
            let mut blocked = self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (k, wait) in block {
                blocked.insert(k, now + wait.max(Duration::from_secs(1)));
            }
        }
    }

    /// Forgets keys that are back at full allowance; call now and then.
    pub fn housekeeping(&self) {
        self.accounts.retain_recent();
        self.addresses.retain_recent();
        let now = Instant::now();
        self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_burst_of_failures_per_account_and_per_address() {
        let l = LoginLimiter::new(LimitSettings {
            per_account_per_minute: 1,
            per_account_burst: 3,
            per_address_per_minute: 1,
            per_address_burst: 5,
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other_ip: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(ip, Some("a@x")).is_ok());
            l.failed(ip, Some("a@x"));
        }
        assert!(l.check(ip, Some("a@x")).is_ok(), "three failures fit the burst");
        l.failed(ip, Some("a@x"));
        let wait = l.check(other_ip, Some("A@X")).unwrap_err();
        assert!(wait >= 1, "account blocked from any address");
        assert!(l.check(ip, Some("b@x")).is_ok(), "the address is not yet blocked");
        l.failed(ip, Some("b@x"));
        l.failed(ip, Some("c@x"));
        assert!(l.check(ip, Some("d@x")).is_err(), "six failures from one address block it");
        assert!(l.check(other_ip, Some("d@x")).is_ok());
        l.housekeeping();
        assert!(l.check(ip, None).is_err(), "housekeeping keeps live blocks");
        // IPv6 addresses of one /64 share an allowance.
        let (a, b): (IpAddr, IpAddr) = ("2001:db8::1".parse().unwrap(), "2001:db8::ffff:2".parse().unwrap());
        for _ in 0..6 {
            l.failed(a, None);
        }
        assert!(l.check(b, None).is_err());
        // `attempt` charges before the check it guards: the burst is all there is.
        let l = LoginLimiter::new(LimitSettings {
            per_account_per_minute: 1,
            per_account_burst: 2,
            per_address_per_minute: 1,
            per_address_burst: 100,
        });
        assert!(l.attempt(ip, Some("x@y")).is_ok());
        assert!(l.attempt(ip, Some("x@y")).is_ok());
        assert!(l.attempt(ip, Some("x@y")).is_err(), "third concurrent guess refused before any failure is known");
    }
}
