//! How many threads run requests: `MINIAPP_WORKER_THREADS`, read once at start. Lambda mode
//! defaults to one (a current-thread runtime: one invocation at a time, nothing to hand to
//! another thread); HTTP-server mode to one worker per core, except for a function that mostly
//! waits on DynamoDB ([`Workers::http_default`]). docs/benchmarks.md weighs both.

use std::time::Duration;

use super::limits::LimitError;
use crate::config::{store_choice, vars, EnvSource, StoreChoice};

/// Threads for blocking calls (tokio's default is 512). The embedded store runs each SQLite
/// call on one, and its one connection is behind a mutex: at 64 requests at once the pool grew
/// to 140 threads (each with a stack and a malloc arena) that mostly waited on that mutex. A few
/// are enough for it, for local files and for name lookups; no blocking task waits for another,
/// so a small cap queues work and cannot deadlock. 4 rather than 16: about 1 MiB less peak RSS
/// per function at 64 requests at once, and no less throughput (docs/benchmarks.md, "Memory:
/// tokio's blocking pool capped").
pub const MAX_BLOCKING_THREADS: usize = 4;

/// How far ahead the runtime always has a timer due (see [`keep_a_timer_near`]).
const TIMER_ANCHOR: Duration = Duration::from_secs(1);

/// What a function's requests mostly spend their time on; HTTP-server mode's default threads
/// follow from it ([`Workers::http_default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Waiting for the store's answers (the db function).
    Waits,
    /// Computing too (the session function signs every log-in with RSA).
    Computes,
}

/// The runtime's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// One thread runs everything (tokio's current-thread runtime).
    One,
    /// A multi-thread runtime with this many workers; `None`: one per core.
    Many(Option<usize>),
}

impl Workers {
    /// HTTP-server mode's default: one thread for a function that mostly waits, on DynamoDB;
    /// else one worker per core. On DynamoDB answers arrive one by one, and with a pool each
    /// one woke a second worker that found little to do: the db function at 64 connections
    /// took 2.4 context switches per GET against 1.6 on one thread, and ~15–20% more CPU per
    /// GET and PUT, at the same throughput (docs/benchmarks.md, "Warm requests: context
    /// switches per request, and one thread on DynamoDB"). A log-in's RSA signature keeps a
    /// second worker busy, and the embedded store's SQLite calls keep the cores busy: one
    /// thread there costs throughput. A store choice that does not parse gets the pool; the
    /// store reports the error itself.
    pub fn http_default(load: Load, env: &dyn EnvSource) -> Self {
        match (load, store_choice(env)) {
            (Load::Waits, Ok(StoreChoice::DynamoDb)) => Self::One,
            _ => Self::Many(None),
        }
    }

    /// `MINIAPP_WORKER_THREADS` from `lookup` (unset or empty: `default`): `1` is one thread,
    /// more is a multi-thread runtime with that many workers.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        default: Workers,
    ) -> Result<Self, LimitError> {
        let var = vars::MINIAPP_WORKER_THREADS;
        let Some(v) = lookup(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
        else {
            return Ok(default);
        };
        match v.parse::<usize>() {
            Ok(1) => Ok(Self::One),
            Ok(n @ 2..=1024) => Ok(Self::Many(Some(n))),
            _ => Err(LimitError {
                var,
                value: v,
                why: "must be a whole number from 1 to 1024",
            }),
        }
    }

    /// Builds the runtime (I/O and timers enabled), with [`keep_a_timer_near`] spawned on it.
    pub fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = match self {
            Self::One => tokio::runtime::Builder::new_current_thread(),
            Self::Many(n) => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                if let Some(n) = n {
                    b.worker_threads(n);
                }
                b
            }
        };
        let runtime = builder
            .max_blocking_threads(MAX_BLOCKING_THREADS)
            .enable_all()
            .build()?;
        runtime.spawn(keep_a_timer_near());
        Ok(runtime)
    }
}

/// Keeps a timer due within [`TIMER_ANCHOR`]. tokio wakes its I/O driver (a write to an eventfd,
/// one more `epoll_wait`, on a multi-thread runtime often another thread) whenever a timer is
/// armed that is due before every timer the driver last parked with. A request arms such
/// timers (the store's 3 s attempt timeout, hyper's header-read timeout) after a wait with none
/// armed, so each request paid that wake-up; with this timer there, theirs are due later. It
/// costs one wake-up a second while the process runs (none while Lambda has it frozen).
async fn keep_a_timer_near() {
    loop {
        tokio::time::sleep(TIMER_ANCHOR).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workers(value: Option<&str>, default: Workers) -> Result<Workers, LimitError> {
        Workers::from_lookup(|_| value.map(str::to_owned), default)
    }

    #[test]
    fn one_many_and_defaults() {
        assert_eq!(workers(None, Workers::One), Ok(Workers::One));
        assert_eq!(
            workers(Some(" "), Workers::Many(None)),
            Ok(Workers::Many(None))
        );
        assert_eq!(workers(Some("1"), Workers::Many(None)), Ok(Workers::One));
        assert_eq!(
            workers(Some(" 4 "), Workers::One),
            Ok(Workers::Many(Some(4)))
        );
        for bad in ["0", "-1", "two", "1025", "1.5"] {
            let e = workers(Some(bad), Workers::One).unwrap_err();
            assert_eq!(
                (e.var, e.value.as_str()),
                (vars::MINIAPP_WORKER_THREADS, bad)
            );
        }
    }

    #[test]
    fn http_mode_runs_one_thread_for_a_function_that_waits_on_dynamodb() {
        use crate::config::env_of as env;
        let pool = Workers::Many(None);
        for dynamo in [
            env(&[("MINIAPP_STORE", "dynamodb")]),
            env(&[("SESSIONS_TABLE", "sessions")]),
        ] {
            assert_eq!(Workers::http_default(Load::Waits, &dynamo), Workers::One);
            assert_eq!(Workers::http_default(Load::Computes, &dynamo), pool);
        }
        for other in [
            env(&[("MINIAPP_STORE", "embedded:/tmp/x.db")]),
            env(&[]),
            env(&[("MINIAPP_STORE", "postgres")]),
        ] {
            assert_eq!(Workers::http_default(Load::Waits, &other), pool);
        }
    }

    /// Write calls this thread has made (`/proc/thread-self/io`), eventfd writes included.
    fn writes_by_this_thread() -> u64 {
        let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
        let line = io.lines().find(|l| l.starts_with("syscw:")).unwrap();
        line["syscw:".len()..].trim().parse().unwrap()
    }

    #[test]
    fn a_timer_armed_after_an_idle_wait_does_not_wake_the_driver() {
        const REQUESTS: u64 = 40;
        let rt = Workers::One.build().unwrap();
        let writes = rt.block_on(async {
            // The anchor's first timer is armed, and the driver has parked with it.
            tokio::task::spawn_blocking(|| ()).await.unwrap();
            let before = writes_by_this_thread();
            for _ in 0..REQUESTS {
                // A wait with no request's timer armed (another thread wakes this one) ...
                tokio::task::spawn_blocking(|| ()).await.unwrap();
                // ... then a request that arms a timeout, as the store's calls do.
                let call = tokio::task::spawn_blocking(|| ());
                let answer = tokio::time::timeout(Duration::from_secs(3), call).await;
                assert!(matches!(answer, Ok(Ok(()))));
            }
            writes_by_this_thread() - before
        });
        // Without the anchor: one eventfd write per request.
        assert!(
            writes < REQUESTS / 4,
            "{writes} writes for {REQUESTS} requests"
        );
    }

    #[test]
    fn builds_both_kinds() {
        for w in [Workers::One, Workers::Many(Some(2))] {
            let rt = w.build().unwrap();
            assert_eq!(rt.block_on(async { 1 + 1 }), 2);
        }
    }
}
