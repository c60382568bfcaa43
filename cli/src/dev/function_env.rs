//! The complete environment of one function's processes: the template's variables, the
//! store's settings, the stand-ins' keys and URLs, and the contract's variables from `miniapp dev`'s own
//! environment.

use std::collections::BTreeMap;

use miniapp_shared::alipay::synthetic;
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
const STANDIN_OWNED: [&str; 7] = [
    vars::ALIPAY_APP_ID,
    vars::ALIPAY_APP_PRIVATE_KEY,
    vars::ALIPAY_PUBLIC_KEY,
    vars::ALIPAY_APP_CERT,
    vars::ALIPAY_PUBLIC_CERT,
    vars::ALIPAY_ROOT_CERT,
    vars::ALIPAY_GATEWAY_URL,
];

/// The WeChat stand-in's app replaces these.
const WECHAT_STANDIN_OWNED: [&str; 3] = [
    vars::WECHAT_APP_ID,
    vars::WECHAT_APP_SECRET,
    vars::WECHAT_API_URL,
];

/// The app the WeChat stand-in serves under `miniapp dev` (not a real one).
pub(super) const DEV_WECHAT_APP_ID: &str = "wxdev000000000000";
/// Its AppSecret: a development value, known to the stand-in only.
pub(super) const DEV_WECHAT_APP_SECRET: &str = "miniapp-dev-wechat-app-secret";

/// `miniapp dev` applies the rate limits too, with these generous defaults when neither the
/// template nor `miniapp dev`'s own environment sets them: on one machine every client shares
/// one address (127.0.0.1), and test suites and demos send bursts (hundreds of writes of one
/// user within a second) that a deployment's defaults would rightly slow down.
/// `MINIAPP_RATE_LIMITS=off` still turns them all off.
const DEV_RATE_DEFAULTS: [(&str, &str); 3] = [
    (vars::MINIAPP_RATE_USER, "100/1:1000"),
    (vars::MINIAPP_RATE_ADDRESS, "1000/1:10000"),
    (vars::MINIAPP_RATE_SESSION_CREATE, "50/1:500"),
];

/// How the Alipay stand-in is configured for the functions.
#[derive(Clone, Copy)]
pub(super) struct AlipayStandin<'a> {
    /// Its URL.
    pub(super) url: &'a str,
    /// The app's keys (and the stand-in's); in certificate mode the synthetic ones.
    pub(super) keys: &'a DevKeys,
    /// Certificate mode: the functions get the synthetic certificates, not the public key.
    pub(super) certificates: bool,
}

/// What the functions' environments are made from.
pub(super) struct EnvInputs<'a> {
    pub(super) own: &'a EnvVars,
    pub(super) store: &'a DevStore,
    /// The Alipay stand-in, in stand-in mode.
    pub(super) standin: Option<AlipayStandin<'a>>,
    /// The WeChat stand-in's URL, in stand-in mode.
    pub(super) wechat: Option<&'a str>,
    pub(super) token_keys: &'a str,
    pub(super) region: &'a str,
    pub(super) files: FilesDefaults<'a>,
}

/// Where the local file backend keeps objects and which URL its links start with, unless the
/// template or `miniapp dev`'s environment says otherwise.
#[derive(Clone, Copy)]
pub(super) struct FilesDefaults<'a> {
    /// `<state folder>/files`.
    pub(super) dir: &'a str,
    /// The front's own URL (it serves the links).
    pub(super) public_url: &'a str,
}

/// Whether a function talks to Alipay (it has `ALIPAY_*` variables).
pub(super) fn uses_alipay(f: &Function) -> bool {
    f.env.keys().any(|k| k.starts_with("ALIPAY_"))
}

/// Whether a function logs in with WeChat (it has `WECHAT_*` variables).
pub(super) fn uses_wechat(f: &Function) -> bool {
    f.env.keys().any(|k| k.starts_with("WECHAT_"))
}

/// The complete environment of one function's processes.
pub(super) fn function_env(f: &Function, inputs: &EnvInputs<'_>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = f
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    apply_store(&mut env, inputs.store);
    // The template's bucket does not exist on this machine: the local backend serves files,
    // unless `miniapp dev`'s own environment names a bucket (applied below).
    env.remove(vars::FILES_BUCKET);
    if let (Some(standin), true) = (inputs.standin, uses_alipay(f)) {
        apply_standin(&mut env, standin);
    }
    if let (Some(url), true) = (inputs.wechat, uses_wechat(f)) {
        set(&mut env, vars::WECHAT_APP_ID, DEV_WECHAT_APP_ID);
        set(&mut env, vars::WECHAT_APP_SECRET, DEV_WECHAT_APP_SECRET);
        set(&mut env, vars::WECHAT_API_URL, url);
    }
    if env
        .get(vars::MINIAPP_TOKEN_KEYS)
        .is_none_or(|v| v.is_empty())
    {
        set(&mut env, vars::MINIAPP_TOKEN_KEYS, inputs.token_keys);
    }
    apply_own_env(&mut env, inputs);
    apply_dev_rate_defaults(&mut env);
    apply_files_defaults(&mut env, inputs.files);
    apply_aws_basics(&mut env, inputs);
    env
}

fn apply_files_defaults(env: &mut BTreeMap<String, String>, files: FilesDefaults<'_>) {
    for (var, value) in [
        (vars::MINIAPP_FILES_DIR, files.dir),
        (vars::MINIAPP_FILES_PUBLIC_URL, files.public_url),
    ] {
        if env.get(var).is_none_or(|v| v.trim().is_empty()) {
            set(env, var, value);
        }
    }
}

fn apply_dev_rate_defaults(env: &mut BTreeMap<String, String>) {
    for (var, value) in DEV_RATE_DEFAULTS {
        if env.get(var).is_none_or(|v| v.trim().is_empty()) {
            set(env, var, value);
        }
    }
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

fn apply_standin(env: &mut BTreeMap<String, String>, standin: AlipayStandin<'_>) {
    let keys = standin.keys;
    set(env, vars::ALIPAY_APP_ID, &keys.app_id);
    set(env, vars::ALIPAY_APP_PRIVATE_KEY, &keys.app_private_key);
    set(env, vars::ALIPAY_GATEWAY_URL, standin.url);
    // One mode only: the function refuses both at once.
    if standin.certificates {
        env.remove(vars::ALIPAY_PUBLIC_KEY);
        set(env, vars::ALIPAY_APP_CERT, synthetic::APP_CERT);
        set(env, vars::ALIPAY_PUBLIC_CERT, synthetic::ALIPAY_CERT);
        set(env, vars::ALIPAY_ROOT_CERT, synthetic::ROOT_CERT);
    } else {
        for var in vars::ALIPAY_CERTS {
            env.remove(var);
        }
        set(env, vars::ALIPAY_PUBLIC_KEY, &keys.gateway_public_key);
    }
}

/// The contract's configuration and the pass-through variables that `miniapp dev` itself has,
/// except those the stand-in owns.
fn apply_own_env(env: &mut BTreeMap<String, String>, inputs: &EnvInputs<'_>) {
    for var in vars::CONFIGURATION.iter().chain(PASS_THROUGH.iter()) {
        let owned_by_standin = (inputs.standin.is_some() && STANDIN_OWNED.contains(var))
            || (inputs.wechat.is_some() && WECHAT_STANDIN_OWNED.contains(var));
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
            ("MINIAPP_RATE_USER", "7/1"),
            ("MINIAPP_RATE_LIMITS", "off"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        let store = DevStore::Embedded("/s/data.db".into());
        let inputs = EnvInputs {
            own: &own,
            store: &store,
            standin: Some(AlipayStandin {
                url: "http://127.0.0.1:9/gateway.do",
                keys: &keys,
                certificates: false,
            }),
            wechat: None,
            token_keys: "dev1:abc",
            region: "us-east-1",
            files: FilesDefaults {
                dir: "/s/files",
                public_url: "http://127.0.0.1:3000",
            },
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
        // Rate limits: the own environment's values pass through, the rest get dev defaults.
        assert_eq!(env["MINIAPP_RATE_USER"], "7/1");
        assert_eq!(env["MINIAPP_RATE_LIMITS"], "off");
        assert_eq!(env["MINIAPP_RATE_ADDRESS"], "1000/1:10000");
        assert_eq!(env["MINIAPP_RATE_SESSION_CREATE"], "50/1:500");
        // Files: the local backend in the state folder, its URLs on the front's address.
        assert_eq!(env["MINIAPP_FILES_DIR"], "/s/files");
        assert_eq!(env["MINIAPP_FILES_PUBLIC_URL"], "http://127.0.0.1:3000");
        assert!(!env.contains_key("FILES_BUCKET"));
    }

    #[test]
    fn certificate_mode_and_the_wechat_standin_own_their_variables() {
        let keys = DevKeys {
            app_id: synthetic::APP_ID.into(),
            app_private_key: "APPPRIV".into(),
            app_public_key: "APPPUB".into(),
            gateway_private_key: "GWPRIV".into(),
            gateway_public_key: String::new(),
        };
        let own: EnvVars = [
            ("ALIPAY_PUBLIC_KEY", "mine"),
            ("WECHAT_APP_SECRET", "mine"),
            ("WECHAT_TIMEOUT_MS", "900"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        let store = DevStore::Embedded("/s/data.db".into());
        let inputs = EnvInputs {
            own: &own,
            store: &store,
            standin: Some(AlipayStandin {
                url: "http://127.0.0.1:9/gateway.do",
                keys: &keys,
                certificates: true,
            }),
            wechat: Some("http://127.0.0.1:8"),
            token_keys: "dev1:abc",
            region: "us-east-1",
            files: FilesDefaults {
                dir: "/s/files",
                public_url: "http://127.0.0.1:3000",
            },
        };
        let mut f = template().functions[0].clone();
        let empty = crate::template::EnvValue {
            value: String::new(),
            from_override: false,
        };
        f.env.insert("WECHAT_APP_ID".into(), empty.clone());
        f.env.insert("ALIPAY_PUBLIC_KEY".into(), empty);
        let env = function_env(&f, &inputs);
        assert!(
            !env.contains_key("ALIPAY_PUBLIC_KEY"),
            "one Alipay mode only"
        );
        assert_eq!(env["ALIPAY_APP_CERT"], synthetic::APP_CERT);
        assert_eq!(env["ALIPAY_ROOT_CERT"], synthetic::ROOT_CERT);
        assert_eq!(env["WECHAT_APP_ID"], DEV_WECHAT_APP_ID);
        assert_eq!(env["WECHAT_APP_SECRET"], DEV_WECHAT_APP_SECRET);
        assert_eq!(env["WECHAT_API_URL"], "http://127.0.0.1:8");
        assert_eq!(env["WECHAT_TIMEOUT_MS"], "900");
    }
}
