//! The limits on files (docs/api.md §7): size per file, allowed content types, and per-user
//! quotas of files and bytes. Read once at start.

use crate::config::{vars, ConfigError, EnvSource};

/// Default largest file: 20 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// Default allowed types.
pub const DEFAULT_TYPES: &str = "image/*,audio/*,video/*,application/pdf,text/plain";
/// Default per-user bytes: 1 GiB.
pub const DEFAULT_QUOTA_BYTES: u64 = 1 << 30;
/// Default per-user files.
pub const DEFAULT_QUOTA_COUNT: u64 = 1000;
/// Largest value any byte limit may name, and the largest size `POST /files` takes at all:
/// 5 GiB, S3's limit of one PUT or POST.
pub const MAX_CONFIGURABLE_BYTES: u64 = 5 << 30;

/// One allowed type: `image/png` exactly, or every `image/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TypeRule {
    Exact(String),
    Whole(String),
}

/// The limits in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLimits {
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// Most declared bytes per user.
    pub quota_bytes: u64,
    /// Most files per user.
    pub quota_count: u64,
    types: Vec<TypeRule>,
}

impl Default for FileLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            quota_bytes: DEFAULT_QUOTA_BYTES,
            quota_count: DEFAULT_QUOTA_COUNT,
            types: parse_types(DEFAULT_TYPES).unwrap_or_default(),
        }
    }
}

fn invalid(var: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { var, reason }
}

fn number(env: &dyn EnvSource, var: &'static str, default: u64) -> Result<u64, ConfigError> {
    match env.get(var) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_CONFIGURABLE_BYTES).contains(&n) => Ok(n),
            _ => Err(invalid(
                var,
                format!("{v:?} is not a whole number from 1 to {MAX_CONFIGURABLE_BYTES}"),
            )),
        },
    }
}

fn parse_types(list: &str) -> Result<Vec<TypeRule>, String> {
    let mut rules = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let t = raw.to_ascii_lowercase();
        let rule = match t.split_once('/') {
            // `*/*` would allow HTML and scripts: each type is named.
            Some((main, "*")) if is_token(main) && !main.contains('*') => {
                TypeRule::Whole(main.to_owned())
            }
            Some((main, sub)) if is_token(main) && is_token(sub) && !t.contains('*') => {
                TypeRule::Exact(t.clone())
            }
            _ => return Err(format!("{raw:?} is neither type/subtype nor type/*")),
        };
        rules.push(rule);
    }
    if rules.is_empty() {
        return Err("no content type is listed".into());
    }
    Ok(rules)
}

/// RFC 9110 token characters.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl FileLimits {
    /// Reads the `MINIAPP_FILES_*` limits; a malformed one is an error naming it.
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let types = match env.get(vars::MINIAPP_FILES_TYPES) {
            None => DEFAULT_TYPES.to_owned(),
            Some(v) => v,
        };
        Ok(Self {
            max_bytes: number(env, vars::MINIAPP_FILES_MAX_BYTES, DEFAULT_MAX_BYTES)?,
            quota_bytes: number(env, vars::MINIAPP_FILES_QUOTA_BYTES, DEFAULT_QUOTA_BYTES)?,
            quota_count: number(env, vars::MINIAPP_FILES_QUOTA_COUNT, DEFAULT_QUOTA_COUNT)?,
            types: parse_types(&types).map_err(|r| invalid(vars::MINIAPP_FILES_TYPES, r))?,
        })
    }

    /// The declared type, normalised (`Image/PNG` → `image/png`; parameters kept as sent),
    /// when it is well-formed and allowed.
    pub fn allowed_type(&self, declared: &str) -> Option<String> {
        let declared = declared.trim();
        let (essence, params) = match declared.split_once(';') {
            Some((e, p)) => (e.trim(), Some(p.trim())),
            None => (declared, None),
        };
        let essence = essence.to_ascii_lowercase();
        let (main, sub) = essence.split_once('/')?;
        if !is_token(main) || !is_token(sub) || declared.len() > 200 {
            return None;
        }
        // Header-safe: printable ASCII only (a content type goes back out as a header).
        if !declared.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return None;
        }
        let ok = self.types.iter().any(|rule| match rule {
            TypeRule::Exact(t) => *t == essence,
            TypeRule::Whole(m) => m == main,
        });
        ok.then(|| match params {
            Some(p) if !p.is_empty() => format!("{essence}; {p}"),
            _ => essence.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::env_of as env;

    #[test]
    fn defaults_allow_the_usual_media() {
        let l = FileLimits::from_env(&env(&[])).unwrap();
        assert_eq!(l, FileLimits::default());
        assert_eq!(l.max_bytes, 20_971_520);
        assert_eq!(l.allowed_type("Image/PNG").as_deref(), Some("image/png"));
        assert_eq!(
            l.allowed_type("text/plain; charset=utf-8").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            l.allowed_type("application/pdf").as_deref(),
            Some("application/pdf")
        );
        for refused in [
            "text/html",
            "application/x-sh",
            "image",
            "image/",
            "/png",
            "ima ge/png",
            "image/pngé",
        ] {
            assert_eq!(l.allowed_type(refused), None, "{refused}");
        }
    }

    #[test]
    fn variables_override_and_bad_ones_name_themselves() {
        let l = FileLimits::from_env(&env(&[
            ("MINIAPP_FILES_TYPES", "text/csv, image/*"),
            ("MINIAPP_FILES_MAX_BYTES", "100"),
        ]))
        .unwrap();
        assert_eq!(l.max_bytes, 100);
        assert!(l.allowed_type("text/csv").is_some());
        assert!(l.allowed_type("text/plain").is_none());
        for (var, value) in [
            ("MINIAPP_FILES_TYPES", " , "),
            ("MINIAPP_FILES_TYPES", "*/*"),
            ("MINIAPP_FILES_MAX_BYTES", "0"),
            ("MINIAPP_FILES_QUOTA_COUNT", "-1"),
            ("MINIAPP_FILES_QUOTA_BYTES", "99999999999999"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(Box::new([(var, value)]));
            match FileLimits::from_env(&env(pairs)) {
                Err(ConfigError::Invalid { var: v, .. }) => assert_eq!(v, var),
                other => panic!("{var}={value}: {other:?}"),
            }
        }
    }
}
