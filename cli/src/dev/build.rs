//! The functions' binaries: built by `cargo build --bin ...` (artifact paths from cargo's JSON
//! messages), or taken as they are from `--bin-dir` / `target/<profile>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use super::{DevError, DevOptions};
use crate::template::Template;

/// The binary of each function: built by cargo, or found in --bin-dir.
pub(super) async fn binaries(
    opts: &DevOptions,
    template: &Template,
) -> Result<HashMap<String, PathBuf>, DevError> {
    let names: Vec<String> = template
        .functions
        .iter()
        .map(|f| f.binary.clone())
        .collect();
    let found = if opts.no_build {
        let dir = opts.bin_dir.clone().unwrap_or_else(|| {
            let profile = if opts.release { "release" } else { "debug" };
            template_dir(&opts.template).join("target").join(profile)
        });
        names.iter().map(|n| (n.clone(), dir.join(n))).collect()
    } else {
        build(&names, opts.release, &template_dir(&opts.template)).await?
    };
    check_found(template, &found)?;
    Ok(found)
}

/// Every function's binary was found and is a file.
fn check_found(template: &Template, found: &HashMap<String, PathBuf>) -> Result<(), DevError> {
    for f in &template.functions {
        match found.get(&f.binary) {
            Some(p) if p.is_file() => {}
            Some(p) => {
                return Err(DevError::BinaryMissing {
                    function: f.logical_id.clone(),
                    path: p.display().to_string(),
                })
            }
            None => return Err(DevError::BinaryNotBuilt(f.binary.clone())),
        }
    }
    Ok(())
}

/// The folder of the template file (relative paths in it, and the example app, are beside it).
pub(super) fn template_dir(template: &Path) -> PathBuf {
    match template.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `cargo build --bin a --bin b`; cargo's own messages go to the terminal, the artifact paths
/// come from its JSON messages (so CARGO_TARGET_DIR and profiles need no guessing).
async fn build(
    names: &[String],
    release: bool,
    dir: &Path,
) -> Result<HashMap<String, PathBuf>, DevError> {
    let args = cargo_args(names, release);
    let command = format!("cargo {}", args.join(" "));
    eprintln!("Building the functions: {command}");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut child = tokio::process::Command::new(cargo)
        .args(&args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(DevError::CargoSpawn)?;
    let found = read_artifacts(&mut child).await;
    let status = child.wait().await.map_err(DevError::CargoSpawn)?;
    if !status.success() {
        return Err(DevError::BuildFailed { command });
    }
    Ok(found)
}

/// `build [--release] --bin a --bin b`, each binary once.
fn cargo_args(names: &[String], release: bool) -> Vec<String> {
    let mut args = vec!["build".to_owned()];
    if release {
        args.push("--release".to_owned());
    }
    let mut unique: Vec<&String> = names.iter().collect();
    unique.sort();
    unique.dedup();
    for n in unique {
        args.push("--bin".to_owned());
        args.push(n.clone());
    }
    args
}

/// The executables cargo reports on its standard output, by binary name.
async fn read_artifacts(child: &mut Child) -> HashMap<String, PathBuf> {
    let mut found = HashMap::new();
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some((name, path)) = artifact(&line) {
                found.insert(name, path);
            }
        }
    }
    found
}

/// The part of a cargo JSON message that names a built executable.
#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    #[serde(default)]
    executable: Option<PathBuf>,
    #[serde(default)]
    target: Option<CargoTarget>,
}

#[derive(Deserialize)]
struct CargoTarget {
    name: String,
}

/// `(binary name, executable path)` from one cargo JSON message.
fn artifact(line: &str) -> Option<(String, PathBuf)> {
    let msg: CargoMessage = serde_json::from_str(line).ok()?;
    if msg.reason != "compiler-artifact" {
        return None;
    }
    Some((msg.target?.name, msg.executable?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_come_from_compiler_artifact_messages_with_an_executable() {
        let exe = r#"{"reason":"compiler-artifact","target":{"name":"session","kind":["bin"]},
            "executable":"/t/debug/session","fresh":true}"#;
        assert_eq!(
            artifact(&exe.replace('\n', "")),
            Some(("session".to_owned(), PathBuf::from("/t/debug/session")))
        );
        let lib = r#"{"reason":"compiler-artifact","target":{"name":"shared"},"executable":null}"#;
        assert_eq!(artifact(lib), None);
        assert_eq!(
            artifact(r#"{"reason":"build-finished","success":true}"#),
            None
        );
        assert_eq!(artifact("not json"), None);
    }

    #[test]
    fn cargo_args_name_each_binary_once() {
        let names = ["db".to_owned(), "session".to_owned(), "db".to_owned()];
        assert_eq!(
            cargo_args(&names, true).join(" "),
            "build --release --bin db --bin session"
        );
    }
}
