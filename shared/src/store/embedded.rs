//! The embedded backend: one SQLite file.
//!
//! Why SQLite rather than a pure-Rust store such as redb: several processes may open the same
//! file at once (`miniapp dev` runs each function as its own process), a conditional write or a
//! prefix range scan is one SQL statement, and the file format has been stable since 2004 and is
//! readable with any `sqlite3` shell. redb is single-process and has changed its file format
//! incompatibly between releases.
//!
//! Durability: WAL with `synchronous=FULL`, so a write that returned is on disk even if the
//! process is killed (`shared/tests/store_crash.rs`). Writes that read first run in `BEGIN
//! IMMEDIATE` transactions: they take the write lock up front, so two processes never deadlock
//! upgrading a read lock, and a busy database is waited on for [`BUSY_TIMEOUT`] before the
//! caller gets `Unavailable`. SQLite calls block, so they run on tokio's blocking pool with the
//! one connection behind a mutex (writes serialize on the file's lock anyway); only opening the
//! file, once in a function's init, runs on the caller's thread ([`EmbeddedStore::open`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::batch::{self, BatchError, BatchOp, BatchOutcome, Write, WriteKind};
use super::cursor::{CursorKeys, ListPlan};
use super::embedded_account::refuse_if_deleting;
use super::filter::Filter;
use super::filter_sql::SqlFilter;
use super::{
    check_data, merge_patch, Condition, Item, ItemData, ListQuery, NewData, Order, Page, PairTaken,
    RateTake, SessionRecord, StoreError, MAX_FILTER_SCAN,
};
use crate::ids::{Collection, ItemId, SessionId, UserId, Version};
use crate::time_fmt::Timestamp;

/// How long a write waits for another writer (this process or another) before giving up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Pages the write-ahead log may hold before a commit checkpoints it (SQLite's default: 1,000).
/// A process that ends without closing the file (killed, as Lambda and FC stop functions)
/// leaves the log behind, and the next process to open the file reads all of it to rebuild
/// its index: ~0.6 ms per MB here, so at the default up to ~2.5 ms of every cold start. At 64
/// pages (256 KiB) that is ~0.15 ms; the price is a checkpoint every ~32 small writes.
const WAL_CHECKPOINT_PAGES: u32 = 64;

/// SQLite's own page cache, per connection, in KiB (SQLite's default: 2,000). The file's pages
/// are also in the kernel's page cache, which a function's RSS does not count, so a page missed
/// here costs a `pread`, not a disk read; at SQLite's default, a store that has grown past 2 MB
/// kept ~2 MiB of copies resident in each busy connection, a tenth of a function's memory.
const PAGE_CACHE_KIB: i64 = 512;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0,
    ttl        INTEGER NOT NULL,
    refresh_gen INTEGER NOT NULL DEFAULT 0,
    union_id   TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_ttl ON sessions (ttl);
CREATE TABLE IF NOT EXISTS items (
    user_id    TEXT NOT NULL,
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (user_id, collection, id)
) WITHOUT ROWID;
";

const ITEM_COLUMNS: &str = "id, version, created_at, updated_at, data";

/// The SQLite backend; cheap to clone (one shared connection).
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: Mutex<Connection>,
    /// The rate limiter's own connection ([`super::rate_embedded`]), once a take has opened it.
    rate_conn: Mutex<Option<Connection>>,
    path: PathBuf,
    cursor_key: CursorKeys,
}

impl Inner {
    /// `f` with the rate limiter's connection, for the blocking pool; the first call opens it.
    /// Opened there rather than at start: a log-in's first take runs beside its signature,
    /// which takes longer, so the connection's set-up (~0.13 ms) is off the cold start's path.
    /// A failure to open (its message) fails the take (the limiter then fails open), and the
    /// next take tries again.
    fn with_rate_conn<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> Result<T, String> {
        let mut guard = self
            .rate_conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let conn = match &mut *guard {
            Some(conn) => conn,
            empty => {
                empty.insert(super::rate_embedded::open(&self.path).map_err(|e| e.to_string())?)
            }
        };
        Ok(f(conn))
    }
}

/// A limiter take whose blocking-pool task was lost (a panic, or the runtime shutting down).
fn rate_worker_lost(e: &tokio::task::JoinError) -> StoreError {
    StoreError::Unavailable(format!("sqlite worker: {e}"))
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// SQLite integers are signed; a generation past `i64::MAX` (never reached) is refused.
fn gen_to_sql(generation: u64) -> Result<i64, StoreError> {
    i64::try_from(generation).map_err(|_| StoreError::PreconditionFailed)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("sqlite: stored {what} is unreadable"))
}

/// A version as SQLite's integer (versions count up from 1, so they fit).
fn sql_version(v: Version) -> i64 {
    i64::try_from(v.get()).unwrap_or(-1)
}

fn version_from_sql(v: i64) -> Result<Version, StoreError> {
    u64::try_from(v)
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| corrupt("version"))
}

/// An item row as read, before its fields are checked.
struct RawItem {
    id: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
    data: String,
}

impl RawItem {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            version: row.get(1)?,
            created_at: row.get(2)?,
            updated_at: row.get(3)?,
            data: row.get(4)?,
        })
    }

    fn into_item(self) -> Result<Item, StoreError> {
        Ok(Item {
            id: ItemId::parse(&self.id).map_err(|_| corrupt("id"))?,
            version: version_from_sql(self.version)?,
            created_at: Timestamp::from_unix(self.created_at),
            updated_at: Timestamp::from_unix(self.updated_at),
            data: ItemData::from_text(self.data).map_err(|_| corrupt("data"))?,
        })
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let config = |e: &dyn std::fmt::Display| {
        StoreError::Config(format!("embedded store {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| config(&e))?;
    }
    let mut conn = Connection::open(path).map_err(|e| config(&e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| config(&e))?;
    // journal_mode answers with the mode now in force: a file system without shared memory
    // support cannot do WAL, and two processes on it would not be safe.
    // Switching to WAL and the schema transaction can meet SQLITE_BUSY without SQLite calling
    // the busy handler (another process opening or recovering the file at the same moment):
    // they are retried until the busy timeout instead.
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mode: String = retry_busy(deadline, || {
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
    })
    .map_err(|e| config(&e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(config(&format!("cannot use WAL (journal_mode is {mode})")));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| config(&e))?;
    bound_log_and_cache(&conn).map_err(|e| config(&e))?;
    ensure_schema(&mut conn, deadline).map_err(|e| config(&e))?;
    Ok(conn)
}

/// Columns added to `sessions` after files were first made: name and definition.
const ADDED_SESSION_COLUMNS: [(&str, &str); 2] = [
    // 0: never refreshed.
    ("refresh_gen", "INTEGER NOT NULL DEFAULT 0"),
    // NULL: none.
    ("union_id", "TEXT"),
];

/// The file's tables and indexes: the store's, accounts', files' and the limiter's.
const SCHEMAS: [&str; 4] = [
    SCHEMA,
    super::embedded_account::SCHEMA,
    super::files_embedded::SCHEMA,
    super::rate_embedded::SCHEMA,
];

/// Names the schema this build needs, kept in the file's `user_version` once it is there. Made
/// from the schema's text, so a change to any table, index or column is a new name, and the
/// first start on an older file runs the schema transaction again.
const SCHEMA_STAMP: i32 = schema_stamp(&SCHEMAS, &ADDED_SESSION_COLUMNS);

/// FNV-1a of the texts, kept positive and never 0 (the `user_version` of a file no build has
/// stamped).
const fn schema_stamp(schemas: &[&str], columns: &[(&str, &str)]) -> i32 {
    const fn fnv1a(mut hash: u32, text: &str) -> u32 {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            hash = (hash ^ bytes[i] as u32).wrapping_mul(0x0100_0193);
            i += 1;
        }
        hash
    }
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < schemas.len() {
        hash = fnv1a(hash, schemas[i]);
        i += 1;
    }
    let mut i = 0;
    while i < columns.len() {
        hash = fnv1a(fnv1a(hash, columns[i].0), columns[i].1);
        i += 1;
    }
    ((hash >> 1) | 1) as i32
}

/// Creates what the schema lacks, in one `BEGIN IMMEDIATE` transaction that also stamps the
/// file with [`SCHEMA_STAMP`]. A file already stamped skips it: that transaction compiled
/// every statement of the schema at every start, and its write lock made a start wait for any
/// other process's write. Either way the connection has read the schema before it returns, so
/// the first request's statements do not pay for that.
fn ensure_schema(conn: &mut Connection, deadline: std::time::Instant) -> rusqlite::Result<()> {
    let stamp: i32 = retry_busy(deadline, || {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
    })?;
    if stamp == SCHEMA_STAMP {
        return retry_busy(deadline, || {
            conn.query_row("SELECT count(*) FROM sessions WHERE 0", [], |_| Ok(()))
        });
    }
    retry_busy(deadline, || {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for schema in SCHEMAS {
            tx.execute_batch(schema)?;
        }
        for (name, definition) in ADDED_SESSION_COLUMNS {
            add_column(&tx, name, definition)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_STAMP)?;
        tx.commit()
    })
}

/// What every connection to the file keeps small: the write-ahead log it lets grow before a
/// checkpoint ([`WAL_CHECKPOINT_PAGES`]) and SQLite's own page cache ([`PAGE_CACHE_KIB`]).
pub(super) fn bound_log_and_cache(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
    conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)
}

/// `f` again after a short pause while it fails with SQLITE_BUSY, until `deadline`.
fn retry_busy<T>(
    deadline: std::time::Instant,
    mut f: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    loop {
        match f() {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// Files made before a session column existed get it ([`ADDED_SESSION_COLUMNS`]). The names
/// and types are constants of this file, never input.
fn add_column(c: &Connection, name: &str, definition: &str) -> rusqlite::Result<()> {
    let present: bool = c.query_row(
        "SELECT count(*) FROM pragma_table_info('sessions') WHERE name = ?1",
        [name],
        |r| r.get(0),
    )?;
    if !present {
        c.execute_batch(&format!(
            "ALTER TABLE sessions ADD COLUMN {name} {definition}"
        ))?;
    }
    Ok(())
}

impl EmbeddedStore {
    /// Opens (creating if needed) the database at `path`, with its parent folders.
    ///
    /// On the calling thread, not the blocking pool: this runs once, in a function's init,
    /// where that thread has nothing else to do. A hand-off to the pool there started a thread
    /// (~0.13–0.25 ms here before it ran) and woke the runtime's thread again at the end
    /// (docs/benchmarks.md, "Cold starts: no thread hand-offs on the embedded session's first
    /// log-in"). The limiter's connection is opened by the limiter's first take
    /// ([`Inner::with_rate_conn`]).
    pub(crate) fn open(path: &Path, cursor_key: CursorKeys) -> Result<Self, StoreError> {
        let conn = open_connection(path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                rate_conn: Mutex::new(None),
                path: path.to_path_buf(),
                cursor_key,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The cursor keys (file listings sign their cursors with them too).
    pub(super) fn cursor_keys(&self) -> &CursorKeys {
        &self.inner.cursor_key
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(super) async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves no open transaction behind (rusqlite rolls
            // back on drop), so the connection is still good.
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("sqlite worker: {e}")))?
    }

    /// Nothing left to do: opening read the schema on the connection ([`ensure_schema`]),
    /// and another trip to the blocking pool would only delay the start.
    pub(crate) async fn warm_up(&self) -> Result<(), StoreError> {
        Ok(())
    }

    pub(crate) async fn create_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let s = s.clone();
        self.with_conn(move |c| {
            // Records past their TTL are never read again: sweep them here, where a write
            // happens anyway, so the file does not grow forever.
            c.execute("DELETE FROM sessions WHERE ttl < ?1", [s.created_at.unix()])
                .map_err(unavailable)?;
            let inserted = c
                .execute(
                    "INSERT INTO sessions
                     (session_id, user_id, created_at, expires_at, revoked, ttl, refresh_gen,
                      union_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (session_id) DO NOTHING",
                    params![
                        s.session_id.as_str(),
                        s.user_id.as_str(),
                        s.created_at.unix(),
                        s.expires_at.unix(),
                        s.revoked,
                        s.ttl().unix(),
                        gen_to_sql(s.refresh_generation)?,
                        s.union_id
                    ],
                )
                .map_err(unavailable)?;
            if inserted == 0 {
                return Err(StoreError::PreconditionFailed);
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn get_session(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let id = id.clone();
        self.with_conn(move |c| {
            let row = c
                .query_row(
                    "SELECT user_id, created_at, expires_at, revoked, refresh_gen, union_id FROM sessions
                     WHERE session_id = ?1 AND ttl >= ?2",
                    params![id.as_str(), now.unix()],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, bool>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, Option<String>>(5)?,
                        ))
                    },
                )
                .optional()
                .map_err(unavailable)?;
            row.map(|(user, created, expires, revoked, generation, union_id)| {
                Ok(SessionRecord {
                    user_id: UserId::parse(&user).map_err(|_| corrupt("user id"))?,
                    session_id: id,
                    created_at: Timestamp::from_unix(created),
                    expires_at: Timestamp::from_unix(expires),
                    revoked,
                    refresh_generation: u64::try_from(generation)
                        .map_err(|_| corrupt("refresh generation"))?,
                    union_id,
                })
            })
            .transpose()
        })
        .await
    }

    pub(crate) async fn advance_refresh(
        &self,
        id: &SessionId,
        from: u64,
    ) -> Result<(), StoreError> {
        let id = id.clone();
        self.with_conn(move |c| {
            let from = gen_to_sql(from)?;
            let changed = c
                .execute(
                    "UPDATE sessions SET refresh_gen = ?2 + 1
                     WHERE session_id = ?1 AND refresh_gen = ?2",
                    params![id.as_str(), from],
                )
                .map_err(unavailable)?;
            match changed {
                0 => Err(StoreError::PreconditionFailed),
                _ => Ok(()),
            }
        })
        .await
    }

    pub(crate) async fn take_rate_tokens(
        &self,
        key: &str,
        rate: crate::ratelimit::Rate,
        now_us: u64,
        _seen: Option<u64>,
        want: u32,
    ) -> Result<crate::ratelimit::bucket::Lease, StoreError> {
        let (inner, key) = (Arc::clone(&self.inner), key.to_owned());
        tokio::task::spawn_blocking(move || {
            inner
                .with_rate_conn(|conn| super::rate_embedded::take(conn, &key, rate, now_us, want))
                .map_err(StoreError::Unavailable)?
        })
        .await
        .map_err(|e| rate_worker_lost(&e))?
    }

    /// Both takes in one call of the blocking pool, one after the other on the limiter's
    /// connection: two calls would hold two of the pool's threads, one of them waiting for
    /// the connection the other has.
    pub(crate) async fn take_rate_tokens_pair(
        &self,
        first: RateTake<'_>,
        second: RateTake<'_>,
    ) -> PairTaken {
        let inner = Arc::clone(&self.inner);
        let owned = |t: RateTake<'_>| (t.key.to_owned(), t.rate, t.now_us, t.want);
        let (first, second) = (owned(first), owned(second));
        let both = tokio::task::spawn_blocking(move || {
            inner.with_rate_conn(|conn| {
                let mut take = |(key, rate, now_us, want): (String, _, _, _)| {
                    super::rate_embedded::take(conn, &key, rate, now_us, want)
                };
                (take(first), take(second))
            })
        })
        .await;
        match both {
            Ok(Ok(taken)) => taken,
            Ok(Err(opening)) => (
                Err(StoreError::Unavailable(opening.clone())),
                Err(StoreError::Unavailable(opening)),
            ),
            Err(e) => (Err(rate_worker_lost(&e)), Err(rate_worker_lost(&e))),
        }
    }

    pub(crate) async fn revoke_session(&self, id: &SessionId) -> Result<(), StoreError> {
        let id = id.clone();
        self.with_conn(move |c| {
            c.execute(
                "UPDATE sessions SET revoked = 1 WHERE session_id = ?1",
                [id.as_str()],
            )
            .map(|_| ())
            .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn create_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        data: NewData,
        now: Timestamp,
    ) -> Result<Item, StoreError> {
        // The tree is not needed here: free it before the write.
        let NewData { object, text } = data;
        drop(object);
        let (user, coll, id) = (user.clone(), coll.clone(), id.clone());
        self.with_conn(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            refuse_if_deleting(&tx, &user)?;
            let inserted = tx
                .execute(
                    "INSERT INTO items (user_id, collection, id, version, created_at, updated_at, data)
                     VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5)
                     ON CONFLICT (user_id, collection, id) DO NOTHING",
                    params![user.as_str(), coll.as_str(), id.as_str(), now.unix(), text.as_str()],
                )
                .map_err(unavailable)?;
            if inserted == 0 {
                return Err(StoreError::PreconditionFailed);
            }
            tx.commit().map_err(unavailable)?;
            Ok(new_item(id, text, now))
        })
        .await
    }

    pub(crate) async fn put_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        data: NewData,
        cond: Condition,
        now: Timestamp,
    ) -> Result<(Item, bool), StoreError> {
        // The tree is not needed here: free it before the write.
        let NewData { object, text } = data;
        drop(object);
        let (user, coll, id) = (user.clone(), coll.clone(), id.clone());
        self.with_conn(move |c| {
            // The write lock is held from the read to the write: the condition is checked
            // against the state the write replaces.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            refuse_if_deleting(&tx, &user)?;
            let current = current_item(&tx, &user, &coll, &id)?;
            cond.check(current.as_ref().map(|cur| cur.version))?;
            let result = match current {
                None => {
                    insert_item(&tx, &user, &coll, &id, &text, now)?;
                    (new_item(id, text, now), true)
                }
                Some(cur) => {
                    let item = Item {
                        id,
                        version: cur.version.next(),
                        created_at: cur.created_at,
                        updated_at: now,
                        data: text,
                    };
                    update_item(&tx, &user, &coll, &item)?;
                    (item, false)
                }
            };
            tx.commit().map_err(unavailable)?;
            Ok(result)
        })
        .await
    }

    pub(crate) async fn get_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
    ) -> Result<Option<Item>, StoreError> {
        let (user, coll, id) = (user.clone(), coll.clone(), id.clone());
        self.with_conn(move |c| current_item(c, &user, &coll, &id))
            .await
    }

    pub(crate) async fn patch_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        patch: serde_json::Value,
        cond: Condition,
        now: Timestamp,
    ) -> Result<Item, StoreError> {
        // The patch moves into the blocking call: a copy would double a big patch's tree.
        let (user, coll, id) = (user.clone(), coll.clone(), id.clone());
        self.with_conn(move |c| {
            // The write lock is held from the read to the write: no other writer can slip in,
            // so there is never a conflict to retry here.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            refuse_if_deleting(&tx, &user)?;
            let Some(cur) = current_item(&tx, &user, &coll, &id)? else {
                return Err(cond.absent_error());
            };
            cond.check(Some(cur.version))?;
            let current = cur.data.to_object().map_err(|_| corrupt("data"))?;
            let data = check_data(&merge_patch::apply_to_object(current, &patch))?;
            let item = Item {
                id,
                version: cur.version.next(),
                created_at: cur.created_at,
                updated_at: now,
                data,
            };
            update_item(&tx, &user, &coll, &item)?;
            tx.commit().map_err(unavailable)?;
            Ok(item)
        })
        .await
    }

    pub(crate) async fn delete_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        cond: Condition,
    ) -> Result<(), StoreError> {
        let (user, coll, id) = (user.clone(), coll.clone(), id.clone());
        self.with_conn(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let Some(version) = current_version(&tx, &user, &coll, &id)? else {
                return Err(cond.absent_error());
            };
            cond.check(Some(version))?;
            tx.execute(
                "DELETE FROM items WHERE user_id = ?1 AND collection = ?2 AND id = ?3",
                params![user.as_str(), coll.as_str(), id.as_str()],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn list_items(
        &self,
        user: &UserId,
        coll: &Collection,
        q: &ListQuery,
    ) -> Result<Page, StoreError> {
        let plan = ListPlan::new(&self.inner.cursor_key, user, coll, q)?;
        if plan.matches_nothing {
            return Ok(plan.finish(&self.inner.cursor_key, Vec::new()));
        }
        let (user, coll) = (user.clone(), coll.clone());
        let (plan, items) = self
            .with_conn(move |c| {
                let items = list_rows(c, &user, &coll, &plan)?;
                Ok((plan, items))
            })
            .await?;
        Ok(plan.finish(&self.inner.cursor_key, items))
    }
}

/// Filtered listings and batches (docs/api.md §4.5, §4.6).
impl EmbeddedStore {
    pub(crate) async fn list_items_where(
        &self,
        user: &UserId,
        coll: &Collection,
        q: &ListQuery,
        filter: &Filter,
    ) -> Result<Page, StoreError> {
        let plan = ListPlan::filtered(&self.inner.cursor_key, user, coll, q, filter)?;
        if plan.matches_nothing {
            return Ok(plan.finish_filtered(&self.inner.cursor_key, Vec::new(), None));
        }
        let (user, coll, filter) = (user.clone(), coll.clone(), filter.clone());
        let (plan, items, scan_end) = self
            .with_conn(move |c| {
                let (items, scan_end) = filtered_rows(c, &user, &coll, &plan, &filter)?;
                Ok((plan, items, scan_end))
            })
            .await?;
        Ok(plan.finish_filtered(&self.inner.cursor_key, items, scan_end))
    }

    pub(crate) async fn write_batch(
        &self,
        user: &UserId,
        ops: &[BatchOp],
        now: Timestamp,
    ) -> Result<Vec<BatchOutcome>, BatchError> {
        let (user, ops) = (user.clone(), ops.to_vec());
        let result = self
            .with_conn(move |c| Ok(write_batch_in(c, &user, &ops, now)))
            .await?;
        result
    }
}

/// The whole batch in one transaction that holds the write lock from the first read to the
/// commit: nothing else can write in between, and an error drops (rolls back) everything.
fn write_batch_in(
    c: &mut Connection,
    user: &UserId,
    ops: &[BatchOp],
    now: Timestamp,
) -> Result<Vec<BatchOutcome>, BatchError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    refuse_if_deleting(&tx, user)?;
    let mut current = Vec::with_capacity(ops.len());
    for op in ops {
        let (coll, id) = op.target();
        current.push(current_item(&tx, user, coll, id)?);
    }
    let (writes, outcomes) = batch::plan(ops, current, now)?;
    for write in &writes {
        apply_write(&tx, user, write)?;
    }
    tx.commit().map_err(unavailable)?;
    Ok(outcomes)
}

/// One planned write of a batch: the one place a batch turns into SQL.
fn apply_write(c: &Connection, user: &UserId, write: &Write) -> Result<(), StoreError> {
    let coll = &write.coll;
    match &write.kind {
        WriteKind::Insert { item, .. } => {
            insert_item(c, user, coll, &item.id, &item.data, item.created_at)
        }
        WriteKind::Replace { item, .. } => update_item(c, user, coll, item),
        WriteKind::Delete { id, .. } => c
            .execute(
                "DELETE FROM items WHERE user_id = ?1 AND collection = ?2 AND id = ?3",
                params![user.as_str(), coll.as_str(), id.as_str()],
            )
            .map(|_| ())
            .map_err(unavailable),
    }
}

/// Reads at most [`MAX_FILTER_SCAN`] rows of the listing's range, in order, and keeps those the
/// filter matches (the data of the others is not even read) until the plan is full; the last
/// row read when the scan used its whole budget.
fn filtered_rows(
    c: &Connection,
    user: &UserId,
    coll: &Collection,
    plan: &ListPlan,
    filter: &Filter,
) -> Result<(Vec<Item>, Option<ItemId>), StoreError> {
    let (lo, hi) = plan.prefix_range();
    let (resume, sql_order) = match plan.order {
        Order::Asc => ("id > ?5", "ASC"),
        Order::Desc => ("id < ?5", "DESC"),
    };
    let after = match (&plan.after, plan.order) {
        (Some(id), _) => id.as_str().to_owned(),
        (None, Order::Asc) => String::new(),
        (None, Order::Desc) => super::cursor::ABOVE_ALL_IDS.to_owned(),
    };
    let cond = SqlFilter::render(filter, 7);
    let sql = format!(
        "SELECT id, version, created_at, updated_at, CASE WHEN {} THEN data END FROM items
         WHERE user_id = ?1 AND collection = ?2 AND id >= ?3 AND id < ?4 AND {resume}
         ORDER BY id {sql_order} LIMIT ?6",
        cond.text
    );
    let budget = i64::try_from(MAX_FILTER_SCAN).unwrap_or(i64::MAX);
    let mut values: Vec<rusqlite::types::Value> = vec![
        user.as_str().to_owned().into(),
        coll.as_str().to_owned().into(),
        lo.into(),
        hi.into(),
        after.into(),
        budget.into(),
    ];
    values.extend(cond.params);
    let mut st = c.prepare(&sql).map_err(unavailable)?;
    let mut rows = st
        .query(rusqlite::params_from_iter(values))
        .map_err(unavailable)?;
    let (mut items, mut bytes, mut scanned) = (Vec::new(), 0usize, 0usize);
    let mut last = None;
    while let Some(row) = rows.next().map_err(unavailable)? {
        scanned += 1;
        let id: String = row.get(0).map_err(unavailable)?;
        let data: Option<String> = row.get(4).map_err(unavailable)?;
        if let Some(data) = data {
            let raw = RawItem {
                id: id.clone(),
                version: row.get(1).map_err(unavailable)?,
                created_at: row.get(2).map_err(unavailable)?,
                updated_at: row.get(3).map_err(unavailable)?,
                data,
            };
            let item = raw.into_item()?;
            bytes = bytes.saturating_add(item.data.as_str().len());
            items.push(item);
            if plan.full(items.len(), bytes) {
                return Ok((items, None));
            }
        }
        last = Some(id);
    }
    let scan_end = match last {
        Some(id) if scanned >= MAX_FILTER_SCAN => {
            Some(ItemId::parse(&id).map_err(|_| corrupt("id"))?)
        }
        _ => None,
    };
    Ok((items, scan_end))
}

fn new_item(id: ItemId, data: ItemData, now: Timestamp) -> Item {
    Item {
        id,
        version: Version::FIRST,
        created_at: now,
        updated_at: now,
        data,
    }
}

fn current_item(
    c: &Connection,
    user: &UserId,
    coll: &Collection,
    id: &ItemId,
) -> Result<Option<Item>, StoreError> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM items WHERE user_id = ?1 AND collection = ?2 AND id = ?3"
    );
    c.prepare_cached(&sql)
        .and_then(|mut st| {
            st.query_row([user.as_str(), coll.as_str(), id.as_str()], RawItem::read)
                .optional()
        })
        .map_err(unavailable)?
        .map(RawItem::into_item)
        .transpose()
}

/// The item's version only (a DELETE need not read its data).
fn current_version(
    c: &Connection,
    user: &UserId,
    coll: &Collection,
    id: &ItemId,
) -> Result<Option<Version>, StoreError> {
    c.prepare_cached("SELECT version FROM items WHERE user_id = ?1 AND collection = ?2 AND id = ?3")
        .and_then(|mut st| {
            st.query_row([user.as_str(), coll.as_str(), id.as_str()], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
        })
        .map_err(unavailable)?
        .map(version_from_sql)
        .transpose()
}

fn insert_item(
    c: &Connection,
    user: &UserId,
    coll: &Collection,
    id: &ItemId,
    data: &ItemData,
    now: Timestamp,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO items (user_id, collection, id, version, created_at, updated_at, data)
         VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5)",
        params![
            user.as_str(),
            coll.as_str(),
            id.as_str(),
            now.unix(),
            data.as_str()
        ],
    )
    .map(|_| ())
    .map_err(unavailable)
}

fn update_item(
    c: &Connection,
    user: &UserId,
    coll: &Collection,
    item: &Item,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE items SET version = ?4, updated_at = ?5, data = ?6
         WHERE user_id = ?1 AND collection = ?2 AND id = ?3",
        params![
            user.as_str(),
            coll.as_str(),
            item.id.as_str(),
            sql_version(item.version),
            item.updated_at.unix(),
            item.data.as_str()
        ],
    )
    .map(|_| ())
    .map_err(unavailable)
}

fn list_rows(
    c: &Connection,
    user: &UserId,
    coll: &Collection,
    plan: &ListPlan,
) -> Result<Vec<Item>, StoreError> {
    let (lo, hi) = plan.prefix_range();
    // TEXT compares with the BINARY collation (memcmp): byte order, as the contract asks.
    let (resume, sql_order) = match plan.order {
        Order::Asc => ("id > ?5", "ASC"),
        Order::Desc => ("id < ?5", "DESC"),
    };
    let after = match (&plan.after, plan.order) {
        (Some(id), _) => id.as_str().to_owned(),
        (None, Order::Asc) => String::new(),
        (None, Order::Desc) => super::cursor::ABOVE_ALL_IDS.to_owned(),
    };
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM items
         WHERE user_id = ?1 AND collection = ?2 AND id >= ?3 AND id < ?4 AND {resume}
         ORDER BY id {sql_order} LIMIT ?6"
    );
    let limit = i64::try_from(plan.fetch()).unwrap_or(i64::MAX);
    let mut st = c.prepare_cached(&sql).map_err(unavailable)?;
    let rows = st
        .query_map(
            params![user.as_str(), coll.as_str(), lo, hi, after, limit],
            RawItem::read,
        )
        .map_err(unavailable)?;
    // Rows are read one at a time, and no further once the page's data budget is spent.
    let (mut items, mut bytes) = (Vec::new(), 0usize);
    for row in rows {
        let item = row.map_err(unavailable).and_then(RawItem::into_item)?;
        bytes = bytes.saturating_add(item.data.as_str().len());
        items.push(item);
        if plan.full(items.len(), bytes) {
            break;
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file made before sessions had a refresh generation gets the column on open.
    #[tokio::test]
    async fn old_files_gain_the_refresh_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE sessions (session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
             created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
             revoked INTEGER NOT NULL DEFAULT 0, ttl INTEGER NOT NULL) WITHOUT ROWID;
             INSERT INTO sessions VALUES ('s0000000000000000000000000000000', 'u1', 10, 20, 0, 90);",
        )
        .unwrap();
        drop(old);
        let key = crate::secret::SecretBytes::new(vec![7; 32]);
        let store = EmbeddedStore::open(&path, key.into()).unwrap();
        let id = SessionId::parse("s0000000000000000000000000000000").unwrap();
        let got = store.get_session(&id, Timestamp::from_unix(15)).await;
        assert_eq!(got.unwrap().unwrap().refresh_generation, 0);
        store.advance_refresh(&id, 0).await.unwrap();
        let got = store.get_session(&id, Timestamp::from_unix(15)).await;
        assert_eq!(got.unwrap().unwrap().refresh_generation, 1);
    }

    fn user_version(path: &Path) -> i32 {
        let c = Connection::open(path).unwrap();
        c.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    async fn open_at(path: &Path) -> Result<EmbeddedStore, StoreError> {
        let key = crate::secret::SecretBytes::new(vec![7; 32]);
        EmbeddedStore::open(path, key.into())
    }

    /// A new file is stamped with the schema it has; a file with another stamp (an older
    /// build's) gets what it lacks, here the limiter's table, and the new stamp.
    #[tokio::test]
    async fn the_schema_stamp_is_written_and_a_stale_one_is_brought_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stamp.db");
        drop(open_at(&path).await.unwrap());
        assert_eq!(user_version(&path), SCHEMA_STAMP);
        assert_ne!(SCHEMA_STAMP, 0);
        let c = Connection::open(&path).unwrap();
        c.execute_batch("DROP TABLE rate_limits; PRAGMA user_version = 12345;")
            .unwrap();
        drop(c);
        let store = open_at(&path).await.unwrap();
        assert_eq!(user_version(&path), SCHEMA_STAMP);
        let rate = crate::ratelimit::Rate::new(1000, 1, 1000).unwrap();
        store.take_rate_tokens("k", rate, 0, None, 1).await.unwrap();
    }

    /// The stamp names the schema's text: any change to it is another stamp.
    #[test]
    fn the_stamp_follows_the_schema_text() {
        let stamp = |schemas: &[&str]| schema_stamp(schemas, &ADDED_SESSION_COLUMNS);
        assert_eq!(stamp(&SCHEMAS), SCHEMA_STAMP);
        let changed = SCHEMA.replace("TEXT", "BLOB");
        assert_ne!(
            stamp(&[&changed, SCHEMAS[1], SCHEMAS[2], SCHEMAS[3]]),
            SCHEMA_STAMP
        );
        assert_ne!(stamp(&SCHEMAS[..3]), SCHEMA_STAMP);
        let column = [("refresh_gen", "INTEGER"), ADDED_SESSION_COLUMNS[1]];
        assert_ne!(schema_stamp(&SCHEMAS, &column), SCHEMA_STAMP);
        for schemas in [&[][..], &["x"], &SCHEMAS] {
            assert!(stamp(schemas) > 0);
        }
    }

    /// Opening a stamped file takes no write lock: a start does not wait for another process
    /// that is writing (it did, up to [`BUSY_TIMEOUT`], for the schema transaction).
    #[tokio::test]
    async fn opening_a_stamped_file_does_not_wait_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        drop(open_at(&path).await.unwrap());
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = std::time::Instant::now();
        let store = open_at(&path).await.unwrap();
        assert!(
            started.elapsed() < BUSY_TIMEOUT / 5,
            "opened in {:?}",
            started.elapsed()
        );
        writer.execute_batch("COMMIT").unwrap();
        let id = SessionId::generate();
        assert!(store
            .get_session(&id, Timestamp::from_unix(15))
            .await
            .unwrap()
            .is_none());
    }

    /// Both connections keep SQLite's own page cache at [`PAGE_CACHE_KIB`] (a negative
    /// `cache_size` is KiB; SQLite's default is -2000), so a grown store does not hold ~2 MiB of
    /// copies of its file per connection in the function's memory.
    #[tokio::test]
    async fn both_connections_keep_a_small_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::secret::SecretBytes::new(vec![7; 32]);
        let store = EmbeddedStore::open(&dir.path().join("cache.db"), key.into()).unwrap();
        let cache_size =
            |c: &Connection| -> i64 { c.query_row("PRAGMA cache_size", [], |r| r.get(0)).unwrap() };
        let main = store.with_conn(move |c| Ok(cache_size(c))).await.unwrap();
        let rate = store.inner.with_rate_conn(|c| cache_size(c)).unwrap();
        assert_eq!((main, rate), (-PAGE_CACHE_KIB, -PAGE_CACHE_KIB));
    }

    /// The limiter's connection is opened by its first take, not with the store (where a
    /// log-in's first take runs beside its signature, off the cold start's path), and a take
    /// that cannot open it fails as unavailable (the limiter then fails open) without leaving
    /// a connection behind.
    #[tokio::test]
    async fn the_limiters_connection_opens_at_its_first_take() {
        let rate = crate::ratelimit::Rate::new(1000, 1, 1000).unwrap();
        let key = || crate::secret::SecretBytes::new(vec![7; 32]).into();
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("lazy.db"), key()).unwrap();
        assert!(store.inner.rate_conn.lock().unwrap().is_none());
        store
            .take_rate_tokens("k", rate, 1_000, None, 1)
            .await
            .unwrap();
        assert!(store.inner.rate_conn.lock().unwrap().is_some());

        let gone = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&gone.path().join("sub/lazy.db"), key()).unwrap();
        std::fs::remove_dir_all(gone.path().join("sub")).unwrap();
        let err = store.take_rate_tokens("k", rate, 1_000, None, 1).await;
        assert!(
            matches!(&err, Err(StoreError::Unavailable(m)) if m.contains("rate limits")),
            "{err:?}"
        );
        let first = RateTake {
            key: "a",
            rate,
            now_us: 1_000,
            seen: None,
            want: 1,
        };
        let second = RateTake {
            key: "b",
            rate,
            now_us: 1_000,
            seen: None,
            want: 1,
        };
        let (a, b) = store.take_rate_tokens_pair(first, second).await;
        assert!(matches!(a, Err(StoreError::Unavailable(_))), "{a:?}");
        assert!(matches!(b, Err(StoreError::Unavailable(_))), "{b:?}");
        assert!(store.inner.rate_conn.lock().unwrap().is_none());
    }

    /// Both connections checkpoint the write-ahead log at [`WAL_CHECKPOINT_PAGES`], so a
    /// process that is killed leaves the next one a short log to read.
    #[tokio::test]
    async fn the_write_ahead_log_stays_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let key = crate::secret::SecretBytes::new(vec![7; 32]);
        let store = EmbeddedStore::open(&path, key.into()).unwrap();
        let rate = crate::ratelimit::Rate::new(1000, 1, 1000).unwrap();
        for i in 0..200u64 {
            let session = SessionRecord {
                session_id: SessionId::generate(),
                user_id: UserId::parse("u1").unwrap(),
                created_at: Timestamp::from_unix(10),
                expires_at: Timestamp::from_unix(20),
                revoked: false,
                refresh_generation: 0,
                union_id: None,
            };
            store.create_session(&session).await.unwrap();
            let key = format!("k{}", i % 50);
            store
                .take_rate_tokens(&key, rate, i * 1_000, None, 1)
                .await
                .unwrap();
        }
        // 400 commits of two pages or more each; at SQLite's default the log held them all.
        let frame = 4096 + 24;
        let wal = std::fs::metadata(dir.path().join("wal.db-wal"))
            .unwrap()
            .len();
        let most = u64::from(2 * WAL_CHECKPOINT_PAGES) * frame + 32;
        assert!(
            wal <= most,
            "write-ahead log of {wal} bytes (at most {most})"
        );
    }
}
