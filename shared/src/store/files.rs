//! File records (docs/api.md §9): what the db function knows of each uploaded file. They live
//! with the user's data but in a key space no collection can reach: the embedded store's own
//! `files` table, and in DynamoDB the data table's partition `<len>:<user>#files` (`#` never
//! occurs in a collection name, so no `<len>:<user>/<collection>` partition can equal it).
//!
//! Listings reuse the items' signed cursors ([`super::cursor`]), bound to the pseudo-collection
//! `#files`, so a cursor of a collection listing never opens a file listing nor the reverse.

use std::fmt;

use super::cursor::{self, CursorKeys};
use super::{Order, Store, StoreError, MAX_LIST_LIMIT};
use crate::ids::{ItemId, UserId};
use crate::time_fmt::Timestamp;

/// The cursor scope of file listings: not a valid collection name, so never one's scope.
pub(crate) const FILES_SCOPE: &str = "#files";

/// A file id: a server-generated UUID v7, lower-case and hyphenated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(String);

impl FileId {
    /// A new time-ordered id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().hyphenated().to_string())
    }

    /// Accepts exactly the form [`Self::generate`] makes (any UUID version).
    pub fn parse(s: &str) -> Option<Self> {
        let uuid = uuid::Uuid::try_parse(s).ok()?;
        let canonical = uuid.hyphenated().to_string();
        (canonical == s).then_some(Self(canonical))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the object has been seen in storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Announced; the upload has not been confirmed yet.
    Pending,
    /// A HEAD found the object, of an allowed size.
    Ready,
}

impl FileStatus {
    /// As the API and the stores spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "ready" => Some(Self::Ready),
            _ => None,
        }
    }
}

/// One file record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// Its id.
    pub id: FileId,
    /// The sanitised name the client declared.
    pub name: String,
    /// The content type the upload was pinned to.
    pub content_type: String,
    /// The declared size, in bytes (the upload may be at most this).
    pub size: u64,
    /// Pending or ready.
    pub status: FileStatus,
    /// When `POST /files` made it.
    pub created_at: Timestamp,
}

/// One page of a user's files, by id (so by creation time: ids are UUID v7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePage {
    /// The records.
    pub files: Vec<FileRecord>,
    /// Where the next page starts; `None` exactly when nothing follows.
    pub next_cursor: Option<String>,
}

/// How much a user holds: records and declared bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileUsage {
    /// Records, pending ones included.
    pub files: u64,
    /// The sum of their declared sizes.
    pub bytes: u64,
}

/// Where a file listing resumes, from its cursor (checked against user and scope).
pub(crate) fn list_after(
    keys: &CursorKeys,
    user: &UserId,
    cursor: Option<&str>,
) -> Result<Option<String>, StoreError> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => {
            let binding = cursor::binding_of(user.as_str(), FILES_SCOPE, "", Order::Asc);
            let id = cursor::open(keys, &binding, c)?;
            Ok(Some(id.as_str().to_owned()))
        }
    }
}

/// Cuts `fetched` (up to `limit + 1` records) into a page with its cursor.
pub(crate) fn finish_page(
    keys: &CursorKeys,
    user: &UserId,
    limit: usize,
    mut fetched: Vec<FileRecord>,
) -> FilePage {
    if fetched.len() <= limit {
        return FilePage {
            files: fetched,
            next_cursor: None,
        };
    }
    fetched.truncate(limit);
    let binding = cursor::binding_of(user.as_str(), FILES_SCOPE, "", Order::Asc);
    let next_cursor = fetched.last().and_then(|last| {
        // A file id is always a valid item id (hex and hyphens).
        let id = ItemId::parse(last.id.as_str()).ok()?;
        Some(cursor::seal_with(keys, &binding, &id))
    });
    FilePage {
        files: fetched,
        next_cursor,
    }
}

/// The page size actually used.
pub(crate) fn clamp_limit(limit: u32) -> usize {
    limit.clamp(1, MAX_LIST_LIMIT) as usize
}

impl Store {
    /// Records a new file; an existing id → `PreconditionFailed`.
    pub async fn create_file(&self, user: &UserId, rec: &FileRecord) -> Result<(), StoreError> {
        dispatch!(self.create_file(user, rec))
    }

    /// The user's file record.
    pub async fn get_file(
        &self,
        user: &UserId,
        id: &FileId,
    ) -> Result<Option<FileRecord>, StoreError> {
        dispatch!(self.get_file(user, id))
    }

    /// Marks a pending record ready (a no-op when it already is); absent → `NotFound`.
    pub async fn mark_file_ready(&self, user: &UserId, id: &FileId) -> Result<(), StoreError> {
        dispatch!(self.mark_file_ready(user, id))
    }

    /// Deletes the record; absent → `NotFound`.
    pub async fn delete_file(&self, user: &UserId, id: &FileId) -> Result<(), StoreError> {
        dispatch!(self.delete_file(user, id))
    }

    /// One page of the user's files, oldest first.
    pub async fn list_files(
        &self,
        user: &UserId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<FilePage, StoreError> {
        dispatch!(self.list_files(user, limit, cursor))
    }

    /// How many records the user has and their declared bytes (for the quotas).
    pub async fn file_usage(&self, user: &UserId) -> Result<FileUsage, StoreError> {
        dispatch!(self.file_usage(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_are_canonical_uuids() {
        let id = FileId::generate();
        assert_eq!(FileId::parse(id.as_str()), Some(id.clone()));
        assert!(ItemId::parse(id.as_str()).is_ok());
        for bad in [
            "_upload",
            "",
            "0191D4A2-0000-7000-8000-000000000000",
            "{0191d4a2-0000-7000-8000-000000000000}",
            "0191d4a200007000800000000000000",
        ] {
            assert_eq!(FileId::parse(bad), None, "{bad}");
        }
    }
}
