//! Why `miniapp dev` stopped, and the exit code each reason gets.

use miniapp_shared::config::ConfigError;
use thiserror::Error;

use crate::state_dir::StateDirError;
use crate::template::TemplateError;

/// Why `miniapp dev` stopped.
#[derive(Debug, Error)]
pub enum DevError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    State(#[from] StateDirError),
    #[error(
        "refusing to use {what} at {url:?}: it is not on this machine (loopback). A dev tool must \
         never touch production by accident; pass --allow-remote if you really mean it"
    )]
    Remote { what: &'static str, url: String },
    #[error(
        "the store is DynamoDB (MINIAPP_STORE=dynamodb or SESSIONS_TABLE) without \
         AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL: that would use real AWS DynamoDB; set a \
         local endpoint, or pass --allow-remote if you really mean it"
    )]
    RemoteDynamoDb,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read --env-file {path:?}: {source}")]
    EnvFile {
        path: String,
        source: std::io::Error,
    },
    #[error("--env-file {path:?} line {line}: {text:?} is not KEY=VALUE")]
    EnvFileLine {
        path: String,
        line: usize,
        text: String,
    },
    #[error("port {port} on 127.0.0.1 is already in use (another miniapp dev?); choose another with --port")]
    PortInUse { port: u16 },
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Listen { port: u16, source: std::io::Error },
    #[error("cannot run cargo to build the functions: {0}")]
    CargoSpawn(std::io::Error),
    #[error("building the functions failed ({command}); see cargo's messages above")]
    BuildFailed { command: String },
    #[error("cargo built no binary named {0:?}; is it a [[bin]] of this workspace?")]
    BinaryNotBuilt(String),
    #[error("function {function} needs binary {path:?}, which does not exist (build it, or drop --no-build)")]
    BinaryMissing { function: String, path: String },
    #[error(
        "the template has no AWS::Serverless::Function with an HttpApi event: nothing to serve"
    )]
    NothingToServe,
    #[error("development key {var} is unusable: {message}; delete .miniapp/dev-keys.json to make new ones")]
    DevKey { var: &'static str, message: String },
    #[error("cannot start the Alipay stand-in: {0}")]
    Standin(std::io::Error),
    #[error("cannot start the WeChat stand-in: {0}")]
    WechatStandin(std::io::Error),
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
    #[error("miniapp dev needs a Unix-like OS (it relies on Unix signals and private file modes)")]
    UnsupportedOs,
}

impl DevError {
    /// 2 for refusals and bad input, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Remote { .. }
            | Self::RemoteDynamoDb
            | Self::Config(_)
            | Self::Template(_)
            | Self::EnvFileLine { .. }
            | Self::EnvFile { .. } => 2,
            _ => 1,
        }
    }
}
