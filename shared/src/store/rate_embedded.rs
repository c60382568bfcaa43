//! Rate-limit buckets in the embedded store: one table, each take one `BEGIN IMMEDIATE`
//! transaction (read the state, decide, write), on a connection of its own.
//!
//! The connection is the limiter's own so that a check never waits behind a data write of this
//! process, and it commits with `synchronous=NORMAL`: in WAL mode that survives a killed process
//! and loses only the last moments of buckets on a power failure, which cannot matter for a
//! limit, while sparing every request an fsync.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::StoreError;
use crate::ratelimit::bucket::{self, Lease, Outcome, Rate, MICROS};

/// A limiter check that waits this long for the file's write lock gives up (and fails open).
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// Created by the store's own connection, in its schema transaction (`embedded::ensure_schema`).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rate_limits (
    key     TEXT PRIMARY KEY,
    tat     INTEGER NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rate_limits_by_expiry ON rate_limits (expires);
";

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite (rate limits): {e}"))
}

/// Opens the limiter's connection to the database at `path`, which the store's own connection
/// has opened before: in WAL mode, with the limiter's table.
pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    let config = |e: rusqlite::Error| {
        StoreError::Config(format!(
            "embedded store {} (rate limits): {e}",
            path.display()
        ))
    };
    let conn = Connection::open(path).map_err(config)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(config)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(config)?;
    super::embedded::bound_log_and_cache(&conn).map_err(config)?;
    Ok(conn)
}

/// Up to `want` tokens (at least one) from the bucket `key` at `now_us` ([`bucket::lease`]).
pub(super) fn take(
    conn: &mut Connection,
    key: &str,
    rate: Rate,
    now_us: u64,
    want: u32,
) -> Result<Lease, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let stored: Option<i64> = tx
        .prepare_cached("SELECT tat FROM rate_limits WHERE key = ?1")
        .and_then(|mut st| st.query_row([key], |r| r.get(0)).optional())
        .map_err(unavailable)?;
    if stored.is_none() {
        // A new bucket is where the table grows: drop the ones that are full again, here.
        let now_secs = i64::try_from(now_us / MICROS).unwrap_or(i64::MAX);
        tx.execute("DELETE FROM rate_limits WHERE expires < ?1", [now_secs])
            .map_err(unavailable)?;
    }
    let tat = stored.map_or(0, |t| u64::try_from(t).unwrap_or(0));
    let lease = bucket::lease(tat, now_us, rate, want);
    if let Outcome::Allowed { tat_us } = lease.outcome {
        let as_sql = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        tx.prepare_cached(
            "INSERT INTO rate_limits (key, tat, expires) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, expires = excluded.expires",
        )
        .and_then(|mut st| {
            st.execute(params![
                key,
                as_sql(tat_us),
                as_sql(rate.expires_at_secs(now_us))
            ])
        })
        .map_err(unavailable)?;
    }
    tx.commit().map_err(unavailable)?;
    Ok(lease)
}
