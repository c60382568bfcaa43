//! File records in DynamoDB: the data table's partition `<len>:<user>#files`, sort key the
//! file id (see `store/files.rs`). Attributes: `name`, `contentType` (S), `size`, `createdAt`
//! (N), `status` (S).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{condition_failed, unavailable, DynamoStore};
use super::files::{self, FileId, FilePage, FileRecord, FileStatus, FileUsage};
use super::StoreError;
use crate::ids::UserId;
use crate::time_fmt::Timestamp;

type Attrs = HashMap<String, AttributeValue>;

/// The user's file partition: length-prefixed like the items' and ending in `#files`.
fn partition_key(user: &UserId) -> String {
    format!("{}:{}#files", user.as_str().len(), user.as_str())
}

fn key(user: &UserId, id: &str) -> Attrs {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(partition_key(user))),
        ("sk".to_owned(), AttributeValue::S(id.to_owned())),
    ])
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("dynamodb: stored file {what} is unreadable"))
}

fn text<'a>(attrs: &'a Attrs, name: &str) -> Result<&'a str, StoreError> {
    match attrs.get(name) {
        Some(AttributeValue::S(t)) => Ok(t),
        _ => Err(corrupt(name)),
    }
}

fn number<T: std::str::FromStr>(attrs: &Attrs, name: &str) -> Result<T, StoreError> {
    match attrs.get(name) {
        Some(AttributeValue::N(t)) => t.parse().map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    }
}

fn decode(attrs: &Attrs) -> Result<FileRecord, StoreError> {
    Ok(FileRecord {
        id: FileId::parse(text(attrs, "sk")?).ok_or_else(|| corrupt("id"))?,
        name: text(attrs, "name")?.to_owned(),
        content_type: text(attrs, "contentType")?.to_owned(),
        size: number(attrs, "size")?,
        status: FileStatus::parse(text(attrs, "status")?).ok_or_else(|| corrupt("status"))?,
        created_at: Timestamp::from_unix(number(attrs, "createdAt")?),
    })
}

impl DynamoStore {
    pub(crate) async fn create_file(
        &self,
        user: &UserId,
        rec: &FileRecord,
    ) -> Result<(), StoreError> {
        let mut item = key(user, rec.id.as_str());
        item.extend([
            ("name".to_owned(), AttributeValue::S(rec.name.clone())),
            (
                "contentType".to_owned(),
                AttributeValue::S(rec.content_type.clone()),
            ),
            ("size".to_owned(), AttributeValue::N(rec.size.to_string())),
            (
                "status".to_owned(),
                AttributeValue::S(rec.status.as_str().to_owned()),
            ),
            (
                "createdAt".to_owned(),
                AttributeValue::N(rec.created_at.unix().to_string()),
            ),
        ]);
        let out = self
            .client()
            .put_item()
            .table_name(self.data_table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await;
        match out {
            // The id is fresh (UUID v7): a failed condition is this write's own retry.
            Err(e) if condition_failed(&e) => Ok(()),
            other => other.map(|_| ()).map_err(unavailable),
        }
    }

    pub(crate) async fn get_file(
        &self,
        user: &UserId,
        id: &FileId,
    ) -> Result<Option<FileRecord>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.data_table())
            .set_key(Some(key(user, id.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.as_ref().map(decode).transpose()
    }

    pub(crate) async fn mark_file_ready(
        &self,
        user: &UserId,
        id: &FileId,
    ) -> Result<(), StoreError> {
        let out = self
            .client()
            .update_item()
            .table_name(self.data_table())
            .set_key(Some(key(user, id.as_str())))
            .update_expression("SET #s = :ready")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":ready", AttributeValue::S("ready".into()))
            .send()
            .await;
        match out {
            Err(e) if condition_failed(&e) => Err(StoreError::NotFound),
            other => other.map(|_| ()).map_err(unavailable),
        }
    }

    pub(crate) async fn delete_file(&self, user: &UserId, id: &FileId) -> Result<(), StoreError> {
        let out = self
            .client()
            .delete_item()
            .table_name(self.data_table())
            .set_key(Some(key(user, id.as_str())))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await;
        match out {
            Err(e) if condition_failed(&e) => Err(StoreError::NotFound),
            other => other.map(|_| ()).map_err(unavailable),
        }
    }

    pub(crate) async fn list_files(
        &self,
        user: &UserId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<FilePage, StoreError> {
        let keys = self.cursor_keys();
        let after = files::list_after(keys, user, cursor)?;
        let limit = files::clamp_limit(limit);
        let mut start = after.map(|id| key(user, &id));
        let mut fetched = Vec::with_capacity(limit + 1);
        loop {
            let want = limit + 1 - fetched.len();
            let out = self
                .client()
                .query()
                .table_name(self.data_table())
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", AttributeValue::S(partition_key(user)))
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for attrs in out.items.unwrap_or_default() {
                fetched.push(decode(&attrs)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && fetched.len() <= limit => start = Some(k),
                _ => break,
            }
        }
        fetched.truncate(limit + 1);
        Ok(files::finish_page(keys, user, limit, fetched))
    }

    /// Reads the partition's sizes page by page: the file-count quota bounds the work.
    pub(crate) async fn file_usage(&self, user: &UserId) -> Result<FileUsage, StoreError> {
        let mut usage = FileUsage::default();
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(self.data_table())
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .projection_expression("#size")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#size", "size")
                .expression_attribute_values(":pk", AttributeValue::S(partition_key(user)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for attrs in out.items.unwrap_or_default() {
                usage.files += 1;
                usage.bytes = usage.bytes.saturating_add(number(&attrs, "size")?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_partition_is_no_collection_partition() {
        let user = UserId::parse("u1").unwrap();
        assert_eq!(partition_key(&user), "2:u1#files");
        // An item partition is `<len>:<user>/<collection>`, and `#` is in no collection name.
        assert!(crate::ids::Collection::parse("x#files").is_err());
    }
}
