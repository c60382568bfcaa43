//! The name of every environment variable the functions read (docs/api.md §7), in one place.

/// The Mini Program's APPID.
pub const ALIPAY_APP_ID: &str = "ALIPAY_APP_ID";
/// The app's RSA private key.
pub const ALIPAY_APP_PRIVATE_KEY: &str = "ALIPAY_APP_PRIVATE_KEY";
/// Alipay's RSA public key.
pub const ALIPAY_PUBLIC_KEY: &str = "ALIPAY_PUBLIC_KEY";
/// Certificate mode: the app's certificate (`appCertPublicKey_<APPID>.crt`), PEM.
pub const ALIPAY_APP_CERT: &str = "ALIPAY_APP_CERT";
/// Certificate mode: Alipay's certificate chain (`alipayCertPublicKey_RSA2.crt`), PEM.
pub const ALIPAY_PUBLIC_CERT: &str = "ALIPAY_PUBLIC_CERT";
/// Certificate mode: Alipay's root bundle (`alipayRootCert.crt`), PEM.
pub const ALIPAY_ROOT_CERT: &str = "ALIPAY_ROOT_CERT";
/// The OpenAPI gateway URL.
pub const ALIPAY_GATEWAY_URL: &str = "ALIPAY_GATEWAY_URL";
/// The timeout of one gateway call, in milliseconds.
pub const ALIPAY_TIMEOUT_MS: &str = "ALIPAY_TIMEOUT_MS";
/// The WeChat Mini Program's AppID.
pub const WECHAT_APP_ID: &str = "WECHAT_APP_ID";
/// The WeChat Mini Program's AppSecret.
pub const WECHAT_APP_SECRET: &str = "WECHAT_APP_SECRET";
/// WeChat's API (scheme, host, optional path prefix).
pub const WECHAT_API_URL: &str = "WECHAT_API_URL";
/// The timeout of one `jscode2session` call, in milliseconds.
pub const WECHAT_TIMEOUT_MS: &str = "WECHAT_TIMEOUT_MS";
/// The HMAC keys, `kid:base64key,...`.
pub const MINIAPP_TOKEN_KEYS: &str = "MINIAPP_TOKEN_KEYS";
/// The lifetime of issued credentials, in seconds.
pub const MINIAPP_CREDENTIAL_TTL_SECS: &str = "MINIAPP_CREDENTIAL_TTL_SECS";
/// The lifetime of a session, in seconds.
pub const MINIAPP_SESSION_TTL_SECS: &str = "MINIAPP_SESSION_TTL_SECS";
/// How long after their expiration credentials may still refresh, in seconds.
pub const MINIAPP_REFRESH_GRACE_SECS: &str = "MINIAPP_REFRESH_GRACE_SECS";
/// The sessions table (DynamoDB).
pub const SESSIONS_TABLE: &str = "SESSIONS_TABLE";
/// The data table (DynamoDB).
pub const DATA_TABLE: &str = "DATA_TABLE";
/// The DynamoDB endpoint (AWS SDK).
pub const AWS_ENDPOINT_URL_DYNAMODB: &str = "AWS_ENDPOINT_URL_DYNAMODB";
/// The endpoint of every AWS service (AWS SDK).
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// The S3 endpoint (AWS SDK): any S3-compatible store (MinIO, R2, OSS, moto).
pub const AWS_ENDPOINT_URL_S3: &str = "AWS_ENDPOINT_URL_S3";
/// `true`: address buckets path-style (`<endpoint>/<bucket>/<key>`), as stores without
/// per-bucket host names (MinIO, moto on loopback) need; `false`, the default: virtual-hosted
/// (`<bucket>.<host>`), as AWS, R2 and OSS want.
pub const MINIAPP_S3_FORCE_PATH_STYLE: &str = "MINIAPP_S3_FORCE_PATH_STYLE";
/// `dynamodb` or `embedded:<path>`.
pub const MINIAPP_STORE: &str = "MINIAPP_STORE";
/// `true`: create missing DynamoDB tables at start.
pub const MINIAPP_CREATE_TABLES: &str = "MINIAPP_CREATE_TABLES";
/// `off` turns every rate limit off (`on`, the default, keeps them).
pub const MINIAPP_RATE_LIMITS: &str = "MINIAPP_RATE_LIMITS";
/// The per-user rate limit, `<requests>/<seconds>[:<burst>]`.
pub const MINIAPP_RATE_USER: &str = "MINIAPP_RATE_USER";
/// The per-client-address rate limit, `<requests>/<seconds>[:<burst>]`.
pub const MINIAPP_RATE_ADDRESS: &str = "MINIAPP_RATE_ADDRESS";
/// The per-client-address rate limit of `POST /session`, `<requests>/<seconds>[:<burst>]`.
pub const MINIAPP_RATE_SESSION_CREATE: &str = "MINIAPP_RATE_SESSION_CREATE";
/// Files: where the local backend keeps objects (default: `files/` beside the embedded
/// store's file).
pub const MINIAPP_FILES_DIR: &str = "MINIAPP_FILES_DIR";
/// Files: the public base URL of the local backend's upload and download links (scheme, host,
/// optional path prefix); unset: links are relative to the API's own URL.
pub const MINIAPP_FILES_PUBLIC_URL: &str = "MINIAPP_FILES_PUBLIC_URL";
/// Files: the largest file, in bytes.
pub const MINIAPP_FILES_MAX_BYTES: &str = "MINIAPP_FILES_MAX_BYTES";
/// Files: the allowed content types, comma-separated (`type/*` allows a whole type).
pub const MINIAPP_FILES_TYPES: &str = "MINIAPP_FILES_TYPES";
/// Files: the most bytes (declared sizes) one user may hold.
pub const MINIAPP_FILES_QUOTA_BYTES: &str = "MINIAPP_FILES_QUOTA_BYTES";
/// Files: the most files one user may hold.
pub const MINIAPP_FILES_QUOTA_COUNT: &str = "MINIAPP_FILES_QUOTA_COUNT";
/// Files: the S3 bucket; when set, files go to S3 instead of the local backend.
pub const FILES_BUCKET: &str = "FILES_BUCKET";
/// The AWS region (set by Lambda).
pub const AWS_REGION: &str = "AWS_REGION";
/// The AWS region, as older tools set it.
pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// HTTP-server mode's port, as Function Compute's custom runtime sets it.
pub const FC_CUSTOM_LISTEN_PORT: &str = "FC_CUSTOM_LISTEN_PORT";
/// HTTP-server mode's port, as Function Compute sets it.
pub const FC_SERVER_PORT: &str = "FC_SERVER_PORT";
/// HTTP-server mode's port.
pub const PORT: &str = "PORT";
/// HTTP-server mode: seconds a client has to send a whole request body once its head arrived;
/// past it the connection is closed.
pub const MINIAPP_REQUEST_READ_TIMEOUT_SECS: &str = "MINIAPP_REQUEST_READ_TIMEOUT_SECS";
/// HTTP-server mode: most connections open at once (each carries one request at a time, so this
/// also caps requests in flight); a connection over it is closed at once.
pub const MINIAPP_MAX_CONNECTIONS: &str = "MINIAPP_MAX_CONNECTIONS";
/// Threads that run requests: `1` is a current-thread runtime (Lambda mode's default), more a
/// multi-thread runtime with that many workers (HTTP-server mode's default: one per core).
pub const MINIAPP_WORKER_THREADS: &str = "MINIAPP_WORKER_THREADS";
/// HTTP-server mode: `true` when a Function Compute front end sets `x-fc-request-id`, so that
/// the header may become the request id; otherwise the header is ignored.
pub const MINIAPP_TRUST_FC_REQUEST_ID: &str = "MINIAPP_TRUST_FC_REQUEST_ID";
/// HTTP-server mode: `true` when a Function Compute front end is the socket peer and puts the
/// client's address first in `x-forwarded-for`, which the rate limits then count by.
pub const MINIAPP_TRUST_FC_FORWARDED_FOR: &str = "MINIAPP_TRUST_FC_FORWARDED_FOR";
/// The Runtime API's address; set by Lambda, it selects Lambda mode.
pub const AWS_LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
/// The deployment package's folder, set by Lambda (`/var/task`): relative certificate paths
/// are resolved against it, so that files the build packaged are found whatever the working
/// directory (without it, against the working directory: Function Compute's `/code`).
pub const LAMBDA_TASK_ROOT: &str = "LAMBDA_TASK_ROOT";
/// The X-Ray trace id variable the AWS SDK reads. Lambda mode does not set it (writing the
/// environment while other threads read it is unsound): the trace id travels as a task-local,
/// `crate::trace`, and the DynamoDB client sends it itself.
pub const X_AMZN_TRACE_ID: &str = "_X_AMZN_TRACE_ID";
/// The log filter.
pub const RUST_LOG: &str = "RUST_LOG";

/// The configuration variables of docs/api.md §7 that a deployment sets (the runtime's own
/// variables, ports and `RUST_LOG` aside): what `miniapp dev` passes on to the functions.
pub const CONFIGURATION: [&str; 35] = [
    ALIPAY_APP_ID,
    ALIPAY_APP_PRIVATE_KEY,
    ALIPAY_PUBLIC_KEY,
    ALIPAY_APP_CERT,
    ALIPAY_PUBLIC_CERT,
    ALIPAY_ROOT_CERT,
    ALIPAY_GATEWAY_URL,
    ALIPAY_TIMEOUT_MS,
    WECHAT_APP_ID,
    WECHAT_APP_SECRET,
    WECHAT_API_URL,
    WECHAT_TIMEOUT_MS,
    MINIAPP_TOKEN_KEYS,
    MINIAPP_CREDENTIAL_TTL_SECS,
    MINIAPP_SESSION_TTL_SECS,
    MINIAPP_REFRESH_GRACE_SECS,
    SESSIONS_TABLE,
    DATA_TABLE,
    AWS_ENDPOINT_URL_DYNAMODB,
    AWS_ENDPOINT_URL,
    AWS_ENDPOINT_URL_S3,
    MINIAPP_S3_FORCE_PATH_STYLE,
    MINIAPP_STORE,
    MINIAPP_CREATE_TABLES,
    MINIAPP_RATE_LIMITS,
    MINIAPP_RATE_USER,
    MINIAPP_RATE_ADDRESS,
    MINIAPP_RATE_SESSION_CREATE,
    MINIAPP_FILES_DIR,
    MINIAPP_FILES_PUBLIC_URL,
    MINIAPP_FILES_MAX_BYTES,
    MINIAPP_FILES_TYPES,
    MINIAPP_FILES_QUOTA_BYTES,
    MINIAPP_FILES_QUOTA_COUNT,
    FILES_BUCKET,
];

/// The variables of certificate mode, all three needed together.
pub const ALIPAY_CERTS: [&str; 3] = [ALIPAY_APP_CERT, ALIPAY_PUBLIC_CERT, ALIPAY_ROOT_CERT];

/// HTTP-server mode's port variables; the first one set wins.
pub const PORTS: [&str; 3] = [FC_CUSTOM_LISTEN_PORT, FC_SERVER_PORT, PORT];
