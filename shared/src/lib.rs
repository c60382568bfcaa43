//! What both miniapp functions stand on: Alipay RSA2 and the token exchange, STS-style
//! credentials and request signing, table storage, the runtime loop and HTTP plumbing.
//!
//! One module per concern; the functions' binaries are thin `main`s over [`runtime`] and [`api`].

#![warn(missing_docs)]

#[cfg(feature = "login")]
pub mod alipay;
pub mod api;
pub mod aws_env;
mod aws_http;
pub mod config;
pub mod credentials;
pub mod files;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ids;
pub mod init;
mod json_members;
#[cfg(feature = "login")]
pub mod login;
pub mod overlap;
pub mod percent;
pub mod ratelimit;
pub mod runtime;
pub mod secret;
pub mod signing;
#[cfg(feature = "login")]
mod standin_server;
pub mod store;
pub mod time_fmt;
mod token_memo;
pub mod trace;
pub mod trust_roots;
#[cfg(feature = "login")]
pub mod wechat;
