//! The X-Ray trace id of the invocation being served, carried as a task-local rather than in
//! the process environment: `std::env::set_var` while other threads may read the environment
//! (DNS resolution and SQLite run on the blocking pool and call `getenv`) is undefined
//! behaviour in C and deprecated as unsafe in Rust 2024.

use std::future::Future;

tokio::task_local! {
    static TRACE_ID: Option<String>;
}

/// Runs `f` with `trace_id` as the current trace id.
pub async fn scope<F: Future>(trace_id: Option<String>, f: F) -> F::Output {
    TRACE_ID.scope(trace_id, f).await
}

/// The trace id of the invocation this task serves (Lambda mode), if any.
pub fn current() -> Option<String> {
    TRACE_ID.try_with(Clone::clone).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scoped_per_task() {
        assert_eq!(current(), None);
        let seen = scope(Some("Root=1-a".into()), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("Root=1-a"));
        assert_eq!(current(), None, "nothing leaks out of the scope");
    }
}
