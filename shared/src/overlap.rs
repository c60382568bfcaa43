//! Work started beside a wait, only when there is a wait: a log-in signs its provider request
//! while the rate limiter's store round trip is out.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

/// Where [`after_or_beside`] runs its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// After the gate, which answered at once: nothing to overlap, so CPU work is best done
    /// inline (handing it to another thread would only add wake-ups).
    After,
    /// Beside the gate, which is waiting (on the store): CPU work on another thread is hidden.
    Beside,
}

/// Runs `work` beside `gate` while `gate` waits, or after it when `gate` answers at once; not
/// at all when `gate` fails at once (a refusal this process decides from memory costs nothing
/// more). When both run, `gate`'s error wins and `work`'s result is dropped.
pub async fn after_or_beside<T, E, W>(
    gate: impl Future<Output = Result<(), E>>,
    work: impl FnOnce(Placement) -> W,
) -> Result<T, E>
where
    W: Future<Output = Result<T, E>>,
{
    let mut gate = pin!(gate);
    // One poll with the task's own waker, so a gate that does wait is woken as usual.
    match poll_fn(|cx| Poll::Ready(gate.as_mut().poll(cx))).await {
        Poll::Ready(passed) => {
            passed?;
            work(Placement::After).await
        }
        Poll::Pending => {
            let (passed, done) = tokio::join!(gate, work(Placement::Beside));
            passed?;
            done
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    async fn counted(
        runs: &AtomicUsize,
        v: u32,
        placed: Placement,
        expected: Placement,
    ) -> Result<u32, &'static str> {
        assert_eq!(placed, expected);
        runs.fetch_add(1, Ordering::SeqCst);
        Ok(v)
    }

    #[tokio::test]
    async fn a_gate_that_fails_at_once_runs_nothing_more() {
        let runs = AtomicUsize::new(0);
        let out = after_or_beside(async { Err("refused") }, |p| {
            counted(&runs, 1, p, Placement::After)
        })
        .await;
        assert_eq!(out, Err("refused"));
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_gate_that_passes_at_once_runs_the_work_after_it() {
        let runs = AtomicUsize::new(0);
        let out =
            after_or_beside(async { Ok(()) }, |p| counted(&runs, 2, p, Placement::After)).await;
        assert_eq!(out, Ok(2));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    /// The gate waits for what only the work does: done only if the work ran beside it.
    async fn beside(
        result: Result<(), &'static str>,
        runs: &AtomicUsize,
    ) -> Result<u32, &'static str> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let gate = async move {
            rx.await.map_err(|_| "the work never ran")?;
            result
        };
        let work = |placed| async move {
            let _ = tx.send(());
            counted(runs, 3, placed, Placement::Beside).await
        };
        tokio::time::timeout(Duration::from_secs(10), after_or_beside(gate, work))
            .await
            .expect("the work did not run beside the waiting gate")
    }

    #[tokio::test]
    async fn a_waiting_gate_has_the_work_run_beside_it_and_its_error_wins() {
        let runs = AtomicUsize::new(0);
        assert_eq!(beside(Ok(()), &runs).await, Ok(3));
        assert_eq!(beside(Err("refused"), &runs).await, Err("refused"));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
