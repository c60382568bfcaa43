//! The complete environment of one function's processes: the template's variables, the
//! store's settings, the stand-in's keys, and the contract's variables from `miniapp dev`'s own
//! environment.

use std::collections::BTreeMap;

use miniapp_shared::config::vars;

use super::env_file::EnvVars;
use super::policy::DevStore;
use crate::state_dir::DevKeys;
use crate::template::Function;

/// Variables of the process that the functions also get, because tools need them.
const PASS_THROUGH: [&str; 11] = [
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    vars::RUST_LOG,
    "RUST_BACKTRACE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
];

/// The stand-in's keys replace these; the user's own values would not match the stand-in.
const STANDIN_OWNED: [&str; 4] = [
    vars::ALIPAY_APP_ID,
    vars::ALIPAY_APP_PRIVATE_KEY,
    vars::ALIPAY_PUBLIC_KEY,
    vars::ALIPAY_GATEWAY_URL,
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
    if env
        .get(vars::MINIAPP_TOKEN_KEYS)
        .is_none_or(|v| v.is_empty())
    {
        set(&mut env, vars::MINIAPP_TOKEN_KEYS, inputs.token_keys);
    }
    apply_own_env(&mut env, inputs);
    apply_aws_basics(&mut env, inputs);
    env
}

fn set(env: &mut BTreeMap<String, String>, var: &str, value: &str) {
    env.insert(var.to_owned(), value.to_owned());
}

fn apply_store(env: &mut BTreeMap<String, String>, store: &DevStore) {
    match store {
        DevStore::Embedded(path) => {
            // The tables only matter to DynamoDB; leaving them would suggest otherwise.
            for var in [
                vars::SESSIONS_TABLE,
                vars::DATA_TABLE,
                vars::MINIAPP_CREATE_TABLES,
            ] {
                env.remove(var);
            }
            set(env, vars::MINIAPP_STORE, &format!("embedded:{path}"));
        }
        DevStore::DynamoDb { endpoint } => {
            set(env, vars::MINIAPP_STORE, "dynamodb");
            if endpoint.is_some() {
                set(env, vars::MINIAPP_CREATE_TABLES, "true");
            }
        }
    }
}

fn apply_standin(env: &mut BTreeMap<String, String>, url: &str, keys: &DevKeys) {
    set(env, vars::ALIPAY_APP_ID, &keys.app_id);
    set(env, vars::ALIPAY_APP_PRIVATE_KEY, &keys.app_private_key);
    set(env, vars::ALIPAY_PUBLIC_KEY, &keys.gateway_public_key);
    set(env, vars::ALIPAY_GATEWAY_URL, url);
}

/// The contract's configuration and the pass-through variables that `miniapp dev` itself has,
/// except those the stand-in owns.
fn apply_own_env(env: &mut BTreeMap<String, String>, inputs: &EnvInputs<'_>) {
    for var in vars::CONFIGURATION.iter().chain(PASS_THROUGH.iter()) {
        let owned_by_standin = inputs.standin.is_some() && STANDIN_OWNED.contains(var);
        if let (Some(v), false) = (inputs.own.get(*var), owned_by_standin) {
            set(env, var, v);
        }
    }
}

/// Region, and stand-in credentials for a local DynamoDB, so the SDK never goes looking for
/// real ones (instance metadata is off the machine).
fn apply_aws_basics(env: &mut BTreeMap<String, String>, inputs: &EnvInputs<'_>) {
    set(env, vars::AWS_REGION, inputs.region);
    set(env, vars::AWS_DEFAULT_REGION, inputs.region);
    if let DevStore::DynamoDb { endpoint: Some(_) } = inputs.store {
        for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            env.entry(var.to_owned()).or_insert_with(|| "local".into());
        }
        set(env, "AWS_EC2_METADATA_DISABLED", "true");
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
