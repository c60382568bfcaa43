//! Alipay OpenAPI (`gateway.do`) for the session function: RSA2 keys, request signing,
//! response verification over the exact bytes, the `alipay.system.oauth.token` exchange, and a
//! stand-in gateway for tests and `miniapp dev`.
//!
//! # Why aws-lc-rs and not the `rsa` crate
//!
//! The pure-Rust `rsa` crate carries RUSTSEC-2023-0071 (the "Marvin" timing side channel in
//! private-key operations, with no fixed release) and signs about 5x slower than OpenSSL.
//! aws-lc-rs is constant-time, signs at OpenSSL speed, and is already in the dependency tree
//! through rustls, so RSA2 costs no new dependency.
//!
//! # Layout
//!
//! - [`cert`]: certificate mode (公钥证书模式): the certificates' SNs (MD5 over the
//!   reversed issuer DN and the decimal serial, parsed with `x509-cert`) and Alipay's key
//!   read from its certificate. MD5 comes from RustCrypto's `md-5`: aws-lc-rs does not expose it.
//! - [`keys`]: every key form Alipay's tools print (PKCS#1/PKCS#8, PEM or bare base64),
//!   parsed once; errors name the variable and never quote the key.
//! - [`sign`]: the gateway's sign content, RSA2 sign/verify, the wire form, Beijing time.
//! - [`response`]: locating the signed node by brace matching and verifying it raw.
//! - [`client`]: [`AlipayClient`], the exchange and its outcomes ([`AlipayError`]).
//! - [`standin`]: a real HTTP stand-in of the gateway, signed both ways, in either mode.
//! - [`synthetic`]: the synthetic certificate-mode set, for tests and `miniapp dev`.

pub mod cert;
pub mod client;
pub mod keys;
pub mod response;
pub mod sign;
pub mod standin;
pub mod synthetic;

pub use cert::{AlipayCertificates, CertError, CertificateTexts};
pub use client::{
    AlipayClient, AlipayConfig, AlipayError, AlipayIdentity, AlipayVerification, SignedExchange,
    MAX_AUTH_CODE_BYTES, OAUTH_TOKEN_METHOD,
};
pub use keys::{
    generate_rsa2048_keypair, AlipayPublicKey, AppPrivateKey, GatewayPrivateKey, KeyError,
};
pub use response::{
    extract_signed_node, response_node_name, verify_signed_node, NodeKind, ResponseError,
    SignedNode,
};
pub use sign::{
    beijing_timestamp, parse_beijing_timestamp, rsa2_sign, rsa2_verify, sign_content,
    signed_wire_request, Rsa2SignError, WireRequest,
};
pub use standin::{StandinAnswer, StandinCertSns, StandinConfig, StandinHandle};
