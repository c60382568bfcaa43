//! Log-in across providers: which provider a code belongs to, the exchange with that provider,
//! and the user id the session is recorded under.
//!
//! User ids of different providers can never be equal: Alipay's ids are kept exactly as Alipay
//! sends them (so existing users keep their data) and are refused if they contain `:`, which
//! Alipay's `open_id` and `user_id` never do; WeChat's are `wechat:` + `openid`, so they always
//! contain `:`.

use std::fmt;

use thiserror::Error;

use crate::alipay::{AlipayClient, AlipayError, SignedExchange};
use crate::ids::UserId;
use crate::secret::SecretString;
use crate::wechat::{WechatClient, WechatError};

/// The prefix of WeChat users' ids.
pub const WECHAT_USER_PREFIX: &str = "wechat:";

/// Who issued a login code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Alipay: `my.getAuthCode`, exchanged with `alipay.system.oauth.token`.
    Alipay,
    /// WeChat: `wx.login()`, exchanged at `jscode2session`.
    Wechat,
}

impl Provider {
    /// The name used in `POST /session` bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alipay => "alipay",
            Self::Wechat => "wechat",
        }
    }

    /// The provider of a `provider` member, if it names one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "alipay" => Some(Self::Alipay),
            "wechat" => Some(Self::Wechat),
            _ => None,
        }
    }

    /// Whether preparing an exchange costs CPU worth running off the request's thread: Alipay's
    /// requests are RSA-signed (~0.3 ms), WeChat's are not signed.
    pub fn prepares_with_cpu(self) -> bool {
        matches!(self, Self::Alipay)
    }

    /// The variables that enable this provider, for messages.
    fn variables(self) -> &'static str {
        match self {
            Self::Alipay => "ALIPAY_APP_ID and its keys or certificates",
            Self::Wechat => "WECHAT_APP_ID and WECHAT_APP_SECRET",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Alipay => "Alipay",
            Self::Wechat => "WeChat",
        })
    }
}

/// Why a log-in failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LoginError {
    /// The deployment has no client for this provider.
    #[error("{0} log-in is not configured on this server (it needs {vars})", vars = .0.variables())]
    NotConfigured(Provider),
    /// Alipay's exchange failed.
    #[error(transparent)]
    Alipay(#[from] AlipayError),
    /// WeChat's exchange failed.
    #[error(transparent)]
    Wechat(#[from] WechatError),
}

/// The configured providers' clients, built once at start.
#[derive(Debug, Default)]
pub struct Providers {
    alipay: Option<AlipayClient>,
    wechat: Option<WechatClient>,
}

impl Providers {
    /// The clients of the configured providers (at least one, as configuration ensures).
    pub fn new(alipay: Option<AlipayClient>, wechat: Option<WechatClient>) -> Self {
        Self { alipay, wechat }
    }

    /// Whether log-ins of `provider` can be served.
    pub fn serves(&self, provider: Provider) -> bool {
        match provider {
            Provider::Alipay => self.alipay.is_some(),
            Provider::Wechat => self.wechat.is_some(),
        }
    }

    /// Exchanges `code` with `provider` and answers who logged in.
    pub async fn log_in(&self, provider: Provider, code: &str) -> Result<LoggedIn, LoginError> {
        let prepared = self.prepare(provider, code)?;
        self.complete(prepared).await
    }

    /// Builds the request that exchanges `code`, without sending it: for Alipay that is the
    /// RSA signature, the log-in's CPU work ([`Provider::prepares_with_cpu`]).
    pub fn prepare(&self, provider: Provider, code: &str) -> Result<PreparedLogin, LoginError> {
        let not_configured = LoginError::NotConfigured(provider);
        match provider {
            Provider::Alipay => {
                let client = self.alipay.as_ref().ok_or(not_configured)?;
                Ok(PreparedLogin::Alipay(client.sign_auth_code_exchange(code)?))
            }
            Provider::Wechat => {
                self.wechat.as_ref().ok_or(not_configured)?;
                Ok(PreparedLogin::Wechat(SecretString::new(code.to_owned())))
            }
        }
    }

    /// Sends a prepared exchange and answers who logged in.
    pub async fn complete(&self, prepared: PreparedLogin) -> Result<LoggedIn, LoginError> {
        match prepared {
            PreparedLogin::Alipay(request) => {
                let client = self
                    .alipay
                    .as_ref()
                    .ok_or(LoginError::NotConfigured(Provider::Alipay))?;
                let identity = client.send(request).await?;
                Ok(LoggedIn {
                    user_id: alipay_user(identity.user_id)?,
                    union_id: None,
                })
            }
            PreparedLogin::Wechat(code) => {
                let client = self
                    .wechat
                    .as_ref()
                    .ok_or(LoginError::NotConfigured(Provider::Wechat))?;
                let identity = client.exchange_code(code.expose()).await?;
                Ok(LoggedIn {
                    user_id: wechat_user(&identity.openid)?,
                    union_id: identity.unionid,
                })
            }
        }
    }
}

/// A log-in's exchange, ready to send ([`Providers::prepare`]).
#[derive(Debug)]
pub enum PreparedLogin {
    /// Alipay's signed `alipay.system.oauth.token` request.
    Alipay(SignedExchange),
    /// WeChat's code, sent as it is.
    Wechat(SecretString),
}

/// Who a log-in proved: the user, and WeChat's `unionid` when it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// The user's id here (provider-prefixed for WeChat).
    pub user_id: UserId,
    /// WeChat's id of the person across the developer's apps, when sent.
    pub union_id: Option<String>,
}

/// Alipay's id unchanged; one with `:` could pass for another provider's, so it is refused.
fn alipay_user(id: UserId) -> Result<UserId, LoginError> {
    if id.as_str().contains(':') {
        return Err(LoginError::Alipay(AlipayError::Upstream {
            code: None,
            sub_code: None,
            message: "the answer's user id contains ':'".into(),
        }));
    }
    Ok(id)
}

fn wechat_user(openid: &str) -> Result<UserId, LoginError> {
    UserId::parse(&format!("{WECHAT_USER_PREFIX}{openid}")).map_err(|_| {
        LoginError::Wechat(WechatError::Upstream {
            errcode: None,
            message: "WeChat's openid is malformed".into(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in [Provider::Alipay, Provider::Wechat] {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
        }
        assert_eq!(Provider::parse("Alipay"), None);
        assert_eq!(Provider::parse(""), None);
    }

    #[test]
    fn ids_of_the_two_providers_cannot_collide() {
        let alipay = alipay_user(UserId::parse("2088000000000001").unwrap()).unwrap();
        assert_eq!(alipay.as_str(), "2088000000000001");
        let wechat = wechat_user("oAbC-123_x").unwrap();
        assert_eq!(wechat.as_str(), "wechat:oAbC-123_x");
        // An Alipay id shaped like a WeChat one is refused rather than taken over.
        let forged = UserId::parse("wechat:oAbC-123_x").unwrap();
        assert!(matches!(
            alipay_user(forged),
            Err(LoginError::Alipay(AlipayError::Upstream { .. }))
        ));
    }

    #[tokio::test]
    async fn an_unconfigured_provider_is_named() {
        let none = Providers::default();
        let err = none.log_in(Provider::Wechat, "code").await.unwrap_err();
        assert_eq!(err, LoginError::NotConfigured(Provider::Wechat));
        assert!(err.to_string().contains("WECHAT_APP_ID"), "{err}");
        assert!(!none.serves(Provider::Alipay));
    }
}
