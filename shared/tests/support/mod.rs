//! Helpers shared by the store's integration tests.

#![allow(dead_code)] // each test binary uses its own part of the helpers

pub mod moto;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use miniapp_shared::secret::SecretBytes;

/// A fixed cursor key: tests only need it to be the same across calls.
pub fn cursor_key() -> SecretBytes {
    SecretBytes::new(b"store-tests-cursor-key-0123456789".to_vec())
}

/// An SDK configuration for a local server, set explicitly (not through the process
/// environment) so that parallel tests cannot disturb each other and nothing probes instance
/// metadata.
pub async fn local_sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "store-tests"))
        .load()
        .await
}

/// A short random tag, so that tables (and files) of parallel tests never meet.
pub fn unique_tag() -> String {
    let mut bytes = [0u8; 6];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    hex::encode(bytes)
}
