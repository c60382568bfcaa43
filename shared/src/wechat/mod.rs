//! WeChat Mini Program login for the session function: `wx.login()` codes exchanged at
//! `GET /sns/jscode2session`, and a stand-in of that endpoint for tests and `miniapp dev`.
//!
//! # Layout
//!
//! - [`client`]: [`WechatClient`], the exchange and its outcomes ([`WechatError`]); the
//!   session key is a secret that cannot be printed.
//! - [`standin`]: a real HTTP stand-in that speaks WeChat's protocol.

pub mod client;
pub mod standin;

pub use client::{
    WechatClient, WechatConfig, WechatError, WechatIdentity, DEFAULT_API_URL, JSCODE2SESSION_PATH,
};
