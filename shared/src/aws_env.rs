//! The AWS SDK configuration of the DynamoDB store and the S3 file backend.
//!
//! With the `aws-config` feature (the default: `miniapp dev`, the tests, hosts of your own) it
//! is aws-config's provider chain: environment, profile files, container and instance
//! credentials. The Lambda build leaves that crate (and the STS client it links) out: Lambda
//! gives a function its region and credentials as environment variables, so [`from_env`] reads
//! exactly those, and the endpoint overrides the SDK reads (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`).

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use aws_types::SdkConfig;

use crate::config::EnvSource;

/// The configuration for this build (see the module's documentation), with every client made
/// from it sending through `http` (`aws_http.rs`): the store's or the file backend's client and,
/// with aws-config, its credential providers (STS, SSO, container and instance metadata). The
/// SDK's own HTTP client is not linked: nothing here builds one.
pub(crate) async fn sdk_config_through(http: SharedHttpConnector) -> SdkConfig {
    let http = crate::aws_http::OneConnector::client(http);
    #[cfg(feature = "aws-config")]
    {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .load()
            .await
    }
    #[cfg(not(feature = "aws-config"))]
    {
        from_env(&crate::config::ProcessEnv)
            .into_builder()
            .http_client(http)
            .build()
    }
}

/// The configuration from environment variables alone: `AWS_REGION` (or `AWS_DEFAULT_REGION`),
/// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), and the endpoint
/// overrides. Without credentials every call fails with the SDK's "no credentials" error.
pub fn from_env(env: &dyn EnvSource) -> SdkConfig {
    let region = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .map(Region::new);
    let credentials = env
        .get("AWS_ACCESS_KEY_ID")
        .zip(env.get("AWS_SECRET_ACCESS_KEY"))
        .map(|(key_id, secret)| {
            let token = env.get("AWS_SESSION_TOKEN");
            SharedCredentialsProvider::new(Credentials::new(key_id, secret, token, None, "env"))
        });
    let overrides = EndpointOverrides::read(env);
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .service_config(overrides.clone());
    builder.set_credentials_provider(credentials);
    builder.set_endpoint_url(overrides.global);
    builder.build()
}

/// `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_<SERVICE>` this crate's clients
/// ask for, read once.
#[derive(Debug, Clone, Default)]
struct EndpointOverrides {
    global: Option<String>,
    dynamodb: Option<String>,
    s3: Option<String>,
}

impl EndpointOverrides {
    fn read(env: &dyn EnvSource) -> Self {
        Self {
            global: env.get("AWS_ENDPOINT_URL"),
            dynamodb: env.get("AWS_ENDPOINT_URL_DYNAMODB"),
            s3: env.get("AWS_ENDPOINT_URL_S3"),
        }
    }
}

impl LoadServiceConfig for EndpointOverrides {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        match key.service_id() {
            "DynamoDB" => self.dynamodb.clone(),
            "S3" => self.s3.clone(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {

    use aws_credential_types::provider::ProvideCredentials;

    use super::*;

    use crate::config::env_of as env;

    #[tokio::test]
    async fn lambdas_variables_make_the_configuration() {
        let sdk = from_env(&env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
        ]));
        assert_eq!(sdk.region().map(Region::as_ref), Some("eu-west-1"));
        let creds = sdk
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(creds.secret_access_key(), "secret");
        assert_eq!(creds.session_token(), Some("token"));
        assert_eq!(sdk.endpoint_url(), None);
        let dynamo = aws_sdk_dynamodb::Config::new(&sdk);
        assert_eq!(dynamo.region().map(Region::as_ref), Some("eu-west-1"));
        let key = |service| {
            ServiceConfigKey::builder()
                .service_id(service)
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .unwrap()
        };
        let services = sdk.service_config().unwrap();
        assert_eq!(
            services.load_config(key("DynamoDB")).as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(services.load_config(key("S3")), None);
    }

    #[test]
    fn the_default_region_and_a_global_endpoint_are_read() {
        let sdk = from_env(&env(&[
            ("AWS_DEFAULT_REGION", "ap-southeast-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ]));
        assert_eq!(sdk.region().map(Region::as_ref), Some("ap-southeast-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:9000"));
        // No key pair, no credentials: calls fail, nothing is invented.
        assert!(sdk.credentials_provider().is_none());
        let half = from_env(&env(&[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")]));
        assert!(half.credentials_provider().is_none());
        assert!(half.region().is_none());
    }
}
