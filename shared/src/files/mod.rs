//! Files (placeholder on the `s3` branch; the lead reconciles it with the files branch).

pub mod post_policy;
#[cfg(feature = "files-s3")]
pub mod s3;
pub mod types;
