//! The arithmetic of one token bucket, kept as a single number: its theoretical arrival time
//! (TAT, the generic cell rate algorithm). A bucket of `burst` tokens that earns one back every
//! `interval` is full when the TAT is at or before now, and holds `(now + burst·interval −
//! TAT) / interval` tokens otherwise. One number makes the shared state one attribute that a
//! conditional write can move atomically, and it only ever grows.

/// Microseconds in a second.
pub const MICROS: u64 = 1_000_000;

/// How long a bucket's stored state outlives the moment it is full again, so that stores
/// that expire lazily never drop a bucket that still limits.
const EXPIRY_SLACK_SECS: u64 = 60;

/// A bucket's shape: its size and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Microseconds to earn one token back (at least 1).
    pub interval_us: u64,
    /// Most tokens held at once (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `requests` per `seconds` on average, up to `burst` at once; `None` when a number is 0.
    pub fn new(requests: u32, seconds: u32, burst: u32) -> Option<Self> {
        if requests == 0 || seconds == 0 || burst == 0 {
            return None;
        }
        let interval_us = (u64::from(seconds) * MICROS / u64::from(requests)).max(1);
        Some(Self { interval_us, burst })
    }

    /// The time a full bucket takes to refill from empty.
    pub fn capacity_us(self) -> u64 {
        self.interval_us.saturating_mul(u64::from(self.burst))
    }

    /// When (Unix seconds) a bucket updated at `now_us` is surely full again, plus a slack:
    /// the stored state may be dropped then.
    pub fn expires_at_secs(self, now_us: u64) -> u64 {
        now_us.saturating_add(self.capacity_us()) / MICROS + 1 + EXPIRY_SLACK_SECS
    }
}

/// What one request does to a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A token was taken; `tat_us` is the bucket's new state.
    Allowed {
        /// The new TAT.
        tat_us: u64,
    },
    /// The bucket is empty: the state stays `tat_us`, and a token is back in `wait_us`.
    Limited {
        /// The TAT seen (unchanged).
        tat_us: u64,
        /// Microseconds until one token is available.
        wait_us: u64,
    },
}

/// Takes one token from a bucket at state `tat_us` (0: never used) at `now_us`.
///
/// A TAT more than a full bucket ahead of `now_us` can only come from a clock that went back
/// (ours, or another instance's that is ahead): it is counted as a just-emptied bucket, so a
/// clock jump makes the limit stricter for at most the jump, never looser, and never makes a
/// client wait more than one token's interval per retry.
pub fn decide(tat_us: u64, now_us: u64, rate: Rate) -> Outcome {
    take(tat_us, now_us, rate, 1)
}

/// Takes `tokens` (at least 1) at once; refused (state unchanged, `wait_us` until one token is
/// back) when the bucket holds fewer.
fn take(tat_us: u64, now_us: u64, rate: Rate, tokens: u32) -> Outcome {
    let ceiling = now_us.saturating_add(rate.capacity_us());
    let base = tat_us.max(now_us).min(ceiling);
    let next = base.saturating_add(rate.interval_us.saturating_mul(u64::from(tokens.max(1))));
    if next <= ceiling {
        Outcome::Allowed { tat_us: next }
    } else {
        Outcome::Limited {
            tat_us,
            wait_us: base
                .saturating_add(rate.interval_us)
                .saturating_sub(ceiling)
                .max(1),
        }
    }
}

/// Tokens a bucket at `tat_us` holds at `now_us`.
pub fn available(tat_us: u64, now_us: u64, rate: Rate) -> u32 {
    let ceiling = now_us.saturating_add(rate.capacity_us());
    let base = tat_us.max(now_us).min(ceiling);
    u32::try_from((ceiling - base) / rate.interval_us).unwrap_or(u32::MAX)
}

/// Tokens a lease may leave in the bucket at least, unless it takes one token only: several
/// tokens are leased only from the upper half of a bucket, so that a bucket near empty is
/// shared one token at a time, exactly, by every instance.
pub fn lease_reserve(rate: Rate) -> u32 {
    rate.burst / 2
}

/// Takes up to `want` tokens for an instance to spend itself ([`crate::ratelimit`]): as many
/// as the bucket holds above [`lease_reserve`], at least one when it holds any.
pub fn lease(tat_us: u64, now_us: u64, rate: Rate, want: u32) -> Lease {
    let room = available(tat_us, now_us, rate).saturating_sub(lease_reserve(rate));
    let tokens = want.min(room).max(1);
    match take(tat_us, now_us, rate, tokens) {
        allowed @ Outcome::Allowed { .. } => Lease {
            outcome: allowed,
            tokens,
        },
        limited => Lease {
            outcome: limited,
            tokens: 0,
        },
    }
}

/// What a lease did: the outcome (new state) and the tokens taken (0 when limited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// As for one token: `Allowed` with the new state, or `Limited`.
    pub outcome: Outcome,
    /// Tokens taken: 1..=want when allowed, 0 when limited.
    pub tokens: u32,
}

/// `Retry-After` for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait_us: u64) -> u64 {
    wait_us.div_ceil(MICROS).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = MICROS;

    /// Takes tokens at `now` until one is refused; returns how many were allowed and the
    /// refusal's wait.
    fn drain(tat: &mut u64, now: u64, rate: Rate) -> (u32, u64) {
        let mut n = 0;
        loop {
            match decide(*tat, now, rate) {
                Outcome::Allowed { tat_us } => {
                    *tat = tat_us;
                    n += 1;
                }
                Outcome::Limited { wait_us, .. } => return (n, wait_us),
            }
        }
    }

    #[test]
    fn a_fresh_bucket_allows_its_burst_then_refuses() {
        let rate = Rate::new(2, 1, 5).unwrap();
        assert_eq!(rate.interval_us, 500_000);
        let now = 1_700_000_000 * S;
        let mut tat = 0;
        let (allowed, wait) = drain(&mut tat, now, rate);
        assert_eq!(allowed, 5, "the burst");
        assert_eq!(wait, 500_000, "one token comes back after one interval");
        assert_eq!(retry_after_secs(wait), 1);
    }

    #[test]
    fn tokens_come_back_at_the_rate_and_never_past_the_burst() {
        let rate = Rate::new(1, 2, 3).unwrap();
        let t0 = 1_000 * S;
        let mut tat = 0;
        assert_eq!(drain(&mut tat, t0, rate).0, 3);
        // 2 s later: one token; 4 s: two; an hour: still only the burst.
        assert_eq!(drain(&mut tat.clone(), t0 + 2 * S, rate).0, 1);
        assert_eq!(drain(&mut tat.clone(), t0 + 4 * S, rate).0, 2);
        assert_eq!(drain(&mut tat.clone(), t0 + 3600 * S, rate).0, 3);
        // Just before the first token is back: still refused, with the rest of the wait.
        let (n, wait) = drain(&mut tat.clone(), t0 + 2 * S - 1, rate);
        assert_eq!((n, wait), (0, 1));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(0), 1);
        assert_eq!(retry_after_secs(1), 1);
        assert_eq!(retry_after_secs(S), 1);
        assert_eq!(retry_after_secs(S + 1), 2);
        assert_eq!(retry_after_secs(59 * S + 999_999), 60);
        let slow = Rate::new(1, 60, 1).unwrap();
        let mut tat = 0;
        let (_, wait) = drain(&mut tat, 5 * S, slow);
        assert_eq!(retry_after_secs(wait), 60);
        let (_, wait) = drain(&mut tat, 5 * S + 500_000, slow);
        assert_eq!(retry_after_secs(wait), 60, "59.5 s rounds up");
    }

    #[test]
    fn a_clock_going_back_never_gives_extra_tokens() {
        let rate = Rate::new(10, 1, 10).unwrap();
        let now = 5_000 * S;
        let mut tat = 0;
        assert_eq!(drain(&mut tat, now, rate).0, 10);
        // The clock jumps back a minute: the bucket is empty from where this clock stands.
        let (n, wait) = drain(&mut tat, now - 60 * S, rate);
        assert_eq!(n, 0);
        assert_eq!(
            wait, rate.interval_us,
            "the wait is one interval, not a minute"
        );
        // A small step back: still nothing beyond what the real time allows.
        assert_eq!(drain(&mut tat, now - S / 2, rate).0, 0);
        // Time catches up: the refill resumes from the stored state.
        assert_eq!(drain(&mut tat, now + S / 2, rate).0, 5);
    }

    #[test]
    fn a_lease_takes_only_from_the_upper_half_of_a_bucket() {
        let rate = Rate::new(10, 1, 100).unwrap();
        let now = 1_000 * S;
        // Full (never used): 100 tokens, the reserve is 50, so a lease of 16 gets all 16.
        let first = lease(0, now, rate, 16);
        assert_eq!(first.tokens, 16);
        assert_eq!(
            first.outcome,
            Outcome::Allowed {
                tat_us: now + 16 * rate.interval_us
            }
        );
        // 60 left: only 10 above the reserve.
        let tat = now + 40 * rate.interval_us;
        assert_eq!(available(tat, now, rate), 60);
        assert_eq!(lease(tat, now, rate, 16).tokens, 10);
        // At or under the reserve: one token at a time, down to the last one.
        let tat = now + 99 * rate.interval_us;
        let last = lease(tat, now, rate, 16);
        assert_eq!(last.tokens, 1);
        assert_eq!(
            last.outcome,
            Outcome::Allowed {
                tat_us: now + 100 * rate.interval_us
            }
        );
        let empty = lease(now + 100 * rate.interval_us, now, rate, 16);
        assert_eq!(empty.tokens, 0);
        assert_eq!(
            empty.outcome,
            decide(now + 100 * rate.interval_us, now, rate),
            "refused exactly as a single take"
        );
    }

    #[test]
    fn a_lease_of_one_is_a_single_take() {
        let rate = Rate::new(1, 2, 3).unwrap();
        for tat in [0, 999 * S, 1_000 * S, 1_003 * S, 1_006 * S, 5_000 * S] {
            let one = lease(tat, 1_000 * S, rate, 1);
            assert_eq!(one.outcome, decide(tat, 1_000 * S, rate), "tat {tat}");
            let taken = u32::from(matches!(one.outcome, Outcome::Allowed { .. }));
            assert_eq!(one.tokens, taken);
        }
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let rate = Rate::new(1, u32::MAX, u32::MAX).unwrap();
        assert!(matches!(
            decide(u64::MAX, u64::MAX, rate),
            Outcome::Limited { .. } | Outcome::Allowed { .. }
        ));
        let fast = Rate::new(u32::MAX, 1, 1).unwrap();
        assert_eq!(fast.interval_us, 1);
        assert_eq!(decide(0, 0, fast), Outcome::Allowed { tat_us: 1 });
        assert_eq!(Rate::new(0, 1, 1), None);
        assert_eq!(Rate::new(1, 1, 0), None);
        assert!(rate.expires_at_secs(u64::MAX) > 0);
        assert_eq!(
            Rate::new(1, 1, 1).unwrap().expires_at_secs(10 * S),
            10 + 1 + 1 + 60
        );
    }
}
