//! The complete environment of one function's processes: the template's variables, the
//! store's settings, the stand-in's keys, and the contract's variables from `miniapp dev`'s own
//! environment.

use std::collections::BTreeMap;

use super::env_file::EnvVars;
use super::policy::DevStore;
use crate::state_dir::DevKeys;
use crate::template::Function;

/// The configuration variables of CONTRACT.md §1 that `miniapp dev` passes from its own
/// environment to the functions (HTTP-mode ports excepted: the functions run in Lambda mode).
const CONTRACT_VARIABLES: [&str; 14] = [
    "ALIPAY_APP_ID",
    "ALIPAY_APP_PRIVATE_KEY",
    "ALIPAY_PUBLIC_KEY",
    "ALIPAY_GATEWAY_URL",
    "ALIPAY_TIMEOUT_MS",
    "MINIAPP_TOKEN_KEYS",
    "MINIAPP_CREDENTIAL_TTL_SECS",
    "MINIAPP_SESSION_TTL_SECS",
    "SESSIONS_TABLE",
    "DATA_TABLE",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL",
    "MINIAPP_STORE",
    "MINIAPP_CREATE_TABLES",
];

/// Variables of the process that the functions also get, because tools need them.
const PASS_THROUGH: [&str; 11] = [
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
];

/// The stand-in's keys replace these; the user's own values would not match the stand-in.
const STANDIN_OWNED: [&str; 4] = [
    "ALIPAY_APP_ID",
    "ALIPAY_APP_PRIVATE_KEY",
    "ALIPAY_PUBLIC_KEY",
    "ALIPAY_GATEWAY_URL",
];

/// What the functions' environments are made from.
pub(super) struct EnvInputs<'a> {
    pub(super) own: &'a EnvVars,
    pub(super) store: &'a DevStore,
    /// The stand-in's URL and keys, in stand-in mode.
    pub(super) standin: Option<(&'a str, &'a DevKeys)>,
    pub(super) token_keys: &'a str,
    pub(super) region: &'a str,
}

/// Whether a function talks to Alipay (it has `ALIPAY_*` variables).
pub(super) fn uses_alipay(f: &Function) -> bool {
    f.env.keys().any(|k| k.starts_with("ALIPAY_"))
}

/// The complete environment of one function's processes.
pub(super) fn function_env(f: &Function, inputs: &EnvInputs<'_>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = f
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    apply_store(&mut env, inputs.store);
    if let (Some((url, keys)), true) = (inputs.standin, uses_alipay(f)) {
        apply_standin(&mut env, url, keys);
    }
    if env.get("MINIAPP_TOKEN_KEYS").is_none_or(|v| v.is_empty()) {
        env.insert("MINIAPP_TOKEN_KEYS".into(), inputs.token_keys.to_owned());
    }
    apply_own_env(&mut env, inputs);
    apply_aws_basics(&mut env, inputs);
    env
}

fn apply_store(env: &mut BTreeMap<String, String>, store: &DevStore) {
    match store {
        DevStore::Embedded(path) => {
            // The tables only matter to DynamoDB; leaving them would suggest otherwise.
            for var in ["SESSIONS_TABLE", "DATA_TABLE", "MINIAPP_CREATE_TABLES"] {
                env.remove(var);
            }
            env.insert("MINIAPP_STORE".into(), format!("embedded:{path}"));
        }
        DevStore::DynamoDb { endpoint } => {
            env.insert("MINIAPP_STORE".into(), "dynamodb".into());
            if endpoint.is_some() {
                env.insert("MINIAPP_CREATE_TABLES".into(), "true".into());
            }
        }
    }
}

fn apply_standin(env: &mut BTreeMap<String, String>, url: &str, keys: &DevKeys) {
    env.insert("ALIPAY_APP_ID".into(), keys.app_id.clone());
    env.insert(
        "ALIPAY_APP_PRIVATE_KEY".into(),
        keys.app_private_key.clone(),
    );
    env.insert("ALIPAY_PUBLIC_KEY".into(), keys.gateway_public_key.clone());
    env.insert("ALIPAY_GATEWAY_URL".into(), url.to_owned());
}

/// The contract's and pass-through variables that `miniapp dev` itself has, except those the
/// stand-in owns.
fn apply_own_env(env: &mut BTreeMap<String, String>, inputs: &EnvInputs<'_>) {
    for var in CONTRACT_VARIABLES.iter().chain(PASS_THROUGH.iter()) {
        let owned_by_standin = inputs.standin.is_some() && STANDIN_OWNED.contains(var);
        if let (Some(v), false) = (inputs.own.get(*var), owned_by_standin) {
            env.insert((*var).to_owned(), v.clone());
        }
    }
}

/// Region, and stand-in credentials for a local DynamoDB, so the SDK never goes looking for
/// real ones (instance metadata is off the machine).
fn apply_aws_basics(env: &mut BTreeMap<String, String>, inputs: &EnvInputs<'_>) {
    env.insert("AWS_REGION".into(), inputs.region.to_owned());
    env.insert("AWS_DEFAULT_REGION".into(), inputs.region.to_owned());
    if let DevStore::DynamoDb { endpoint: Some(_) } = inputs.store {
        env.entry("AWS_ACCESS_KEY_ID".into())
            .or_insert_with(|| "local".into());
        env.entry("AWS_SECRET_ACCESS_KEY".into())
            .or_insert_with(|| "local".into());
        env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::fixtures::template;

    #[test]
    fn function_env_fills_dev_values_and_honours_own_environment() {
        let keys = DevKeys {
            app_id: "2021".into(),
            app_private_key: "APPPRIV".into(),
            app_public_key: "APPPUB".into(),
            gateway_private_key: "GWPRIV".into(),
            gateway_public_key: "GWPUB".into(),
        };
        let own: EnvVars = [
            ("ALIPAY_TIMEOUT_MS", "1234"),
            ("ALIPAY_APP_ID", "mine"),
            ("UNRELATED", "x"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        let store = DevStore::Embedded("/s/data.db".into());
        let inputs = EnvInputs {
            own: &own,
            store: &store,
            standin: Some(("http://127.0.0.1:9/gateway.do", &keys)),
            token_keys: "dev1:abc",
            region: "us-east-1",
        };
        let env = function_env(&template().functions[0], &inputs);
        assert_eq!(env["ALIPAY_APP_ID"], "2021");
        assert_eq!(env["ALIPAY_PUBLIC_KEY"], "GWPUB");
        assert_eq!(env["ALIPAY_APP_PRIVATE_KEY"], "APPPRIV");
        assert_eq!(env["ALIPAY_GATEWAY_URL"], "http://127.0.0.1:9/gateway.do");
        assert_eq!(env["ALIPAY_TIMEOUT_MS"], "1234");
        assert_eq!(env["MINIAPP_TOKEN_KEYS"], "dev1:abc");
        assert_eq!(env["MINIAPP_STORE"], "embedded:/s/data.db");
        assert!(!env.contains_key("SESSIONS_TABLE"));
        assert!(!env.contains_key("UNRELATED"));
    }
}
