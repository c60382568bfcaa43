//! The variables `miniapp dev` sees: its own environment over the `--env-file`, a dotenv-style
//! file of `KEY=VALUE` lines.

use std::collections::BTreeMap;
use std::path::Path;

use super::DevError;

/// The variables `miniapp dev` itself sees: its environment over the `--env-file`.
pub type EnvVars = BTreeMap<String, String>;

/// Reads a dotenv-style file: `KEY=VALUE` lines, `#` comments, optional `export ` and quotes.
pub(super) fn read_env_file(path: &Path) -> Result<EnvVars, DevError> {
    let text = std::fs::read_to_string(path).map_err(|source| DevError::EnvFile {
        path: path.display().to_string(),
        source,
    })?;
    let mut env = EnvVars::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = key_value(line).ok_or_else(|| DevError::EnvFileLine {
            path: path.display().to_string(),
            line: i + 1,
            text: raw.to_owned(),
        })?;
        env.insert(key, value);
    }
    Ok(env)
}

/// `KEY=VALUE` or `export KEY=VALUE`, the value without one pair of surrounding quotes.
fn key_value(line: &str) -> Option<(String, String)> {
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (key, value) = line.split_once('=')?;
    Some((key.trim().to_owned(), unquote(value.trim()).to_owned()))
}

fn unquote(value: &str) -> &str {
    ['"', '\'']
        .iter()
        .find_map(|q| value.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)))
        .unwrap_or(value)
}

/// The value of `key` when it is set and not blank.
pub(super) fn non_empty<'a>(env: &'a EnvVars, key: &str) -> Option<&'a str> {
    env.get(key)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_parses_comments_exports_and_quotes() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(".env");
        std::fs::write(&path, "# c\nexport A=1\nB=\"two words\"\n\nC='x=y'\n")?;
        let env = read_env_file(&path)?;
        assert_eq!(
            (env["A"].as_str(), env["B"].as_str(), env["C"].as_str()),
            ("1", "two words", "x=y")
        );
        std::fs::write(&path, "oops\n")?;
        assert!(matches!(
            read_env_file(&path),
            Err(DevError::EnvFileLine { line: 1, .. })
        ));
        Ok(())
    }
}
