//! A one-function template for the unit tests of `miniapp dev`'s policy and environments.

use std::collections::BTreeMap;

use crate::template::{EnvValue, Function, Template};

/// `SessionFunction` with a production gateway URL, empty keys and DynamoDB settings.
pub(super) fn template() -> Template {
    let mut env = BTreeMap::new();
    let v = |s: &str| EnvValue {
        value: s.to_owned(),
        from_override: false,
    };
    env.insert(
        "ALIPAY_GATEWAY_URL".to_owned(),
        v("https://openapi.alipay.com/gateway.do"),
    );
    env.insert("ALIPAY_APP_ID".to_owned(), v(""));
    env.insert("MINIAPP_TOKEN_KEYS".to_owned(), v(""));
    env.insert("SESSIONS_TABLE".to_owned(), v("SessionsTable"));
    env.insert("MINIAPP_STORE".to_owned(), v("dynamodb"));
    Template {
        parameters: BTreeMap::new(),
        functions: vec![Function {
            logical_id: "SessionFunction".into(),
            binary: "session".into(),
            timeout: std::time::Duration::from_secs(10),
            memory_mb: 128,
            env,
            routes: vec![],
        }],
        tables: BTreeMap::new(),
    }
}
