//! Signing as a client does (the reference for the CLI and the JS SDK).

use http::{HeaderMap, HeaderName, HeaderValue};

use super::query::{canonical_query, QueryError};
use super::{
    format_date, sign, string_to_sign, ALGORITHM, AUTHORIZATION_HEADER, DATE_HEADER,
    SECURITY_TOKEN_HEADER,
};
use crate::credentials::Credentials;
use crate::secret::{SecretString, SecurityToken};
use crate::time_fmt::Timestamp;

/// What a client needs to sign requests: the three values `POST /session` returned.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    /// `accessKeyId`, sent as `Credential`.
    pub access_key_id: String,
    /// `accessKeySecret`, never sent.
    pub access_key_secret: SecretString,
    /// `securityToken`, sent as `x-miniapp-security-token`.
    pub security_token: SecurityToken,
}

impl From<&Credentials> for ClientCredentials {
    fn from(c: &Credentials) -> Self {
        Self {
            access_key_id: c.access_key_id.clone(),
            access_key_secret: c.access_key_secret.clone(),
            security_token: c.security_token.clone(),
        }
    }
}

/// The three header values of a signed request.
#[derive(Clone, Debug)]
pub struct SignedHeaders {
    /// `MINIAPP-HMAC-SHA256 Credential=<akid>, Signature=<hex>`: with the token, a request
    /// that replays within the clock window, so redacted like a secret.
    pub authorization: SecretString,
    /// `x-miniapp-date`, e.g. `20261125T143640Z`.
    pub date: String,
    /// `x-miniapp-security-token`.
    pub security_token: SecurityToken,
}

impl SignedHeaders {
    /// Sets the three headers on `headers`, replacing any earlier values.
    pub fn insert_into(&self, headers: &mut HeaderMap) -> Result<(), http::Error> {
        let pairs = [
            (AUTHORIZATION_HEADER, self.authorization.expose()),
            (DATE_HEADER, &self.date),
            (SECURITY_TOKEN_HEADER, self.security_token.expose()),
        ];
        for (name, value) in pairs {
            let value = HeaderValue::from_str(value)?;
            headers.insert(HeaderName::from_static(name), value);
        }
        Ok(())
    }
}

/// Signs a request as a client does; `method` and `path` exactly as they will be sent.
pub fn sign_request(
    creds: &ClientCredentials,
    method: &str,
    path: &str,
    raw_query: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<SignedHeaders, QueryError> {
    let date = format_date(now);
    let sts = string_to_sign(&date, method, path, &canonical_query(raw_query)?, body);
    let signature = sign(creds.access_key_secret.expose(), &sts);
    Ok(SignedHeaders {
        authorization: SecretString::new(format!(
            "{ALGORITHM} Credential={}, Signature={signature}",
            creds.access_key_id
        )),
        date,
        security_token: creds.security_token.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_headers_do_not_debug_print_secrets() {
        let creds = ClientCredentials {
            access_key_id: "STS.abc".into(),
            access_key_secret: SecretString::new("s3cr3t".into()),
            security_token: "v1.k1.tok.mac".into(),
        };
        let h = sign_request(&creds, "GET", "/db/todos", "", b"", Timestamp::from_unix(0));
        let h = h.unwrap_or_else(|e| panic!("{e}"));
        let printed = format!("{h:?} {creds:?}");
        assert!(!printed.contains("s3cr3t") && !printed.contains("tok.mac"));
        let authorization = h.authorization.expose();
        assert!(!printed.contains(&authorization[authorization.len() - 64..]));
        let mut map = HeaderMap::new();
        assert!(h.insert_into(&mut map).is_ok());
        assert_eq!(map.len(), 3);
    }
}
