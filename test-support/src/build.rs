//! The binaries and examples under test, built and found in one way: one
//! `cargo build --message-format=json-render-diagnostics` per set of targets and profile per
//! process, the paths taken from the `executable` cargo reports (so `CARGO_TARGET_DIR` and
//! the profile's folder need no guessing).
//!
//! An integration test of another package gets no `CARGO_BIN_EXE_*`, and none for an example.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde_json::Value;

use crate::workspace_root;

/// A binary or an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A `[[bin]]` target (`--bin`).
    Bin,
    /// An example (`--example`).
    Example,
}

/// One executable target of a workspace package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The package (`-p`).
    pub package: &'static str,
    /// Binary or example.
    pub kind: Kind,
    /// The target's name.
    pub name: &'static str,
}

impl Target {
    /// Binary `name` of `package`.
    pub const fn bin(package: &'static str, name: &'static str) -> Self {
        Self {
            package,
            kind: Kind::Bin,
            name,
        }
    }

    /// Example `name` of `package`.
    pub const fn example(package: &'static str, name: &'static str) -> Self {
        Self {
            package,
            kind: Kind::Example,
            name,
        }
    }

    /// The name cargo gives this kind in `target.kind`, and its flag without the dashes.
    fn kind_name(self) -> &'static str {
        match self.kind {
            Kind::Bin => "bin",
            Kind::Example => "example",
        }
    }
}

/// The cargo profile to build with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `dev`, in `<target dir>/debug`.
    Debug,
    /// `release` (`--release`).
    Release,
    /// `profiling` (`--profile profiling`): release code with symbols, for `perf`.
    Profiling,
}

impl Profile {
    /// The profile the running test or bench was built with, read from where cargo put it
    /// (`<target dir>/<profile>/deps/<name>`): `cargo test --release` tests release binaries.
    pub fn of_this_test() -> Self {
        let exe = std::env::current_exe().expect("the test's own path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name);
        if dir.is_some_and(|d| d == "release") {
            Self::Release
        } else {
            Self::Debug
        }
    }
}

/// Where the targets of one build are.
#[derive(Clone, Debug)]
pub struct Executables(Arc<HashMap<Target, PathBuf>>);

impl Executables {
    /// The path of the target called `name`; panics when the build did not include it.
    pub fn get(&self, name: &str) -> PathBuf {
        self.0
            .iter()
            .find(|(t, _)| t.name == name)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("{name} is not among the built targets {:?}", self.0.keys()))
    }
}

type Outcome = Result<Executables, String>;
/// One build per set of targets, profile and features, each run by the first caller.
type Builds = Vec<((Vec<Target>, Profile, Features), Arc<OnceLock<Outcome>>)>;

/// Which cargo features a build turns on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Features {
    /// The packages' defaults.
    Default,
    /// `--no-default-features`, each target built on its own (features of one must not reach
    /// another through a shared dependency) into `<target dir>/lean`, beside the default
    /// build rather than over it: what a Lambda deployment runs (the Makefile's build).
    Lean,
}

/// Builds `set` with `profile`, once per process for that set and profile (later calls wait
/// for the first and share its outcome, a failure included), and returns where each target is.
pub fn build(set: &[Target], profile: Profile) -> Executables {
    build_with(set, profile, Features::Default)
}

/// As [`build`], with `--no-default-features`: the lean builds a Lambda deployment runs.
pub fn build_lean(set: &[Target], profile: Profile) -> Executables {
    build_with(set, profile, Features::Lean)
}

fn build_with(set: &[Target], profile: Profile, features: Features) -> Executables {
    static BUILDS: Mutex<Builds> = Mutex::new(Vec::new());
    let key = (set.to_vec(), profile, features);
    let cell = {
        let mut builds = BUILDS.lock().unwrap_or_else(PoisonError::into_inner);
        match builds.iter().find(|(k, _)| *k == key) {
            Some((_, cell)) => Arc::clone(cell),
            None => {
                let cell = Arc::new(OnceLock::new());
                builds.push((key, Arc::clone(&cell)));
                cell
            }
        }
    };
    let outcome = cell.get_or_init(|| match features {
        Features::Default => run_cargo(set, profile, &[]),
        Features::Lean => run_lean(set, profile),
    });
    match outcome {
        Ok(built) => built.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// Builds `set` with `profile` and returns the path of its target `name`.
pub fn executable(set: &[Target], profile: Profile, name: &str) -> PathBuf {
    build(set, profile).get(name)
}

/// One lean cargo build per target, into `<target dir>/lean`.
fn run_lean(set: &[Target], profile: Profile) -> Outcome {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("lean");
    let dir = target_dir.display().to_string();
    let mut found = HashMap::new();
    for t in set {
        let built = run_cargo(
            std::slice::from_ref(t),
            profile,
            &["--no-default-features", "--target-dir", &dir],
        )?;
        found.extend(built.0.iter().map(|(k, v)| (*k, v.clone())));
    }
    Ok(Executables(Arc::new(found)))
}

fn run_cargo(set: &[Target], profile: Profile, extra: &[&str]) -> Outcome {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args([
        "build",
        "--quiet",
        "--message-format=json-render-diagnostics",
    ]);
    cmd.args(extra);
    match profile {
        Profile::Debug => {}
        Profile::Release => {
            cmd.arg("--release");
        }
        Profile::Profiling => {
            cmd.args(["--profile", "profiling"]);
        }
    }
    for t in set {
        cmd.args(["-p", t.package, &format!("--{}", t.kind_name()), t.name]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build of {set:?} failed: {}", out.status));
    }
    let messages: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut found = HashMap::new();
    for t in set {
        let exe = messages
            .iter()
            .find(|m| {
                m["reason"] == "compiler-artifact"
                    && m["target"]["name"] == t.name
                    && m["target"]["kind"][0] == t.kind_name()
            })
            .and_then(|m| m["executable"].as_str())
            .ok_or_else(|| format!("cargo reported no executable for {t:?}"))?;
        found.insert(*t, PathBuf::from(exe));
    }
    Ok(Executables(Arc::new(found)))
}
