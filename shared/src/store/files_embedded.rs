//! File records in the embedded store: a `files` table of their own (see `store/files.rs`).

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::embedded::EmbeddedStore;
use super::files::{self, FileId, FilePage, FileRecord, FileStatus, FileUsage};
use super::StoreError;
use crate::ids::UserId;
use crate::time_fmt::Timestamp;

/// Created with the store's other tables when the file is opened.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS files (
    user_id      TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    status       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
";

const COLUMNS: &str = "id, name, content_type, size, status, created_at";

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("sqlite: stored file {what} is unreadable"))
}

type RawFile = (String, String, String, i64, String, i64);

fn read(row: &Row<'_>) -> rusqlite::Result<RawFile> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn decode(
    (id, name, content_type, size, status, created): RawFile,
) -> Result<FileRecord, StoreError> {
    Ok(FileRecord {
        id: FileId::parse(&id).ok_or_else(|| corrupt("id"))?,
        name,
        content_type,
        size: u64::try_from(size).map_err(|_| corrupt("size"))?,
        status: FileStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        created_at: Timestamp::from_unix(created),
    })
}

fn size_to_sql(size: u64) -> Result<i64, StoreError> {
    i64::try_from(size).map_err(|_| StoreError::Rejected("file size out of range".into()))
}

impl EmbeddedStore {
    pub(crate) async fn create_file(
        &self,
        user: &UserId,
        rec: &FileRecord,
    ) -> Result<(), StoreError> {
        let (user, rec) = (user.clone(), rec.clone());
        self.with_conn(move |c| {
            let inserted = c
                .execute(
                    "INSERT INTO files (user_id, id, name, content_type, size, status, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (user_id, id) DO NOTHING",
                    params![
                        user.as_str(),
                        rec.id.as_str(),
                        rec.name,
                        rec.content_type,
                        size_to_sql(rec.size)?,
                        rec.status.as_str(),
                        rec.created_at.unix()
                    ],
                )
                .map_err(unavailable)?;
            match inserted {
                0 => Err(StoreError::PreconditionFailed),
                _ => Ok(()),
            }
        })
        .await
    }

    pub(crate) async fn get_file(
        &self,
        user: &UserId,
        id: &FileId,
    ) -> Result<Option<FileRecord>, StoreError> {
        let (user, id) = (user.clone(), id.clone());
        self.with_conn(move |c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM files WHERE user_id = ?1 AND id = ?2"
            ))
            .and_then(|mut st| st.query_row([user.as_str(), id.as_str()], read).optional())
            .map_err(unavailable)?
            .map(decode)
            .transpose()
        })
        .await
    }

    pub(crate) async fn mark_file_ready(
        &self,
        user: &UserId,
        id: &FileId,
    ) -> Result<(), StoreError> {
        self.change_one_file(
            "UPDATE files SET status = 'ready' WHERE user_id = ?1 AND id = ?2",
            user,
            id,
        )
        .await
    }

    pub(crate) async fn delete_file(&self, user: &UserId, id: &FileId) -> Result<(), StoreError> {
        self.change_one_file("DELETE FROM files WHERE user_id = ?1 AND id = ?2", user, id)
            .await
    }

    /// Runs `sql` (a constant of this file, bound to the user and the id) on one record;
    /// `NotFound` when it touched none.
    async fn change_one_file(
        &self,
        sql: &'static str,
        user: &UserId,
        id: &FileId,
    ) -> Result<(), StoreError> {
        let (user, id) = (user.clone(), id.clone());
        self.with_conn(move |c| {
            let changed = c
                .execute(sql, [user.as_str(), id.as_str()])
                .map_err(unavailable)?;
            match changed {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    pub(crate) async fn list_files(
        &self,
        user: &UserId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<FilePage, StoreError> {
        let keys = self.cursor_keys().clone();
        let after = files::list_after(&keys, user, cursor)?.unwrap_or_default();
        let limit = files::clamp_limit(limit);
        let user2 = user.clone();
        let fetched = self
            .with_conn(move |c| list_rows(c, &user2, &after, limit + 1))
            .await?;
        Ok(files::finish_page(&keys, user, limit, fetched))
    }

    pub(crate) async fn file_usage(&self, user: &UserId) -> Result<FileUsage, StoreError> {
        let user = user.clone();
        self.with_conn(move |c| {
            let (count, bytes): (i64, i64) = c
                .query_row(
                    "SELECT count(*), coalesce(sum(size), 0) FROM files WHERE user_id = ?1",
                    [user.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(unavailable)?;
            Ok(FileUsage {
                files: u64::try_from(count).unwrap_or(0),
                bytes: u64::try_from(bytes).unwrap_or(0),
            })
        })
        .await
    }
}

fn list_rows(
    c: &Connection,
    user: &UserId,
    after: &str,
    fetch: usize,
) -> Result<Vec<FileRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM files WHERE user_id = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3"
    );
    let mut st = c.prepare_cached(&sql).map_err(unavailable)?;
    let fetch = i64::try_from(fetch).unwrap_or(i64::MAX);
    let rows = st
        .query_map(params![user.as_str(), after, fetch], read)
        .map_err(unavailable)?;
    rows.map(|r| r.map_err(unavailable).and_then(decode))
        .collect()
}
