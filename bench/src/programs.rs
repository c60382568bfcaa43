//! What is measured: the two functions, the floor, and the Node.js implementation, each a
//! command that starts one function process with a given environment.

use std::path::{Path, PathBuf};

use test_support::process::Launch;

/// One function process kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Function {
    Session,
    Db,
    /// The minimal function (`bench/src/bin/floor.rs`).
    Floor,
}

impl Function {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Db => "db",
            Self::Floor => "floor",
        }
    }
}

/// Who implemented it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub(crate) enum Runtime {
    Rust,
    Node,
}

impl Runtime {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Rust => "Rust",
            Self::Node => "Node.js",
        }
    }
}

/// The executables of one build.
#[derive(Clone, Debug)]
pub(crate) struct Binaries {
    pub(crate) session: PathBuf,
    pub(crate) db: PathBuf,
    pub(crate) floor: PathBuf,
}

impl Binaries {
    pub(crate) fn of(&self, function: Function) -> &Path {
        match function {
            Function::Session => &self.session,
            Function::Db => &self.db,
            Function::Floor => &self.floor,
        }
    }
}

/// A command that starts one function process.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    pub(crate) runtime: Runtime,
    pub(crate) function: Function,
    pub(crate) command: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) env: Vec<(String, String)>,
}

impl Program {
    /// `BENCH_RUST_ENV` (`KEY=VALUE` pairs separated by spaces) is added to every Rust
    /// function's environment, to weigh a setting without editing the harness
    /// (`BENCH_RUST_ENV="MALLOC_ARENA_MAX=2"`).
    pub(crate) fn rust(bins: &Binaries, function: Function, env: &[(String, String)]) -> Self {
        let mut env = env.to_vec();
        env.extend(extra_env(
            std::env::var("BENCH_RUST_ENV")
                .ok()
                .as_deref()
                .unwrap_or(""),
        ));
        Self {
            runtime: Runtime::Rust,
            function,
            command: bins.of(function).to_owned(),
            args: Vec::new(),
            cwd: None,
            env,
        }
    }

    /// The peer serves one function per process, as our binaries do, on loopback only.
    pub(crate) fn node(function: Function, env: &[(String, String)], peer: &Path) -> Self {
        let mut env = env.to_vec();
        env.extend([
            ("MINIAPP_FUNCTIONS".to_owned(), function.name().to_owned()),
            ("HOST".to_owned(), "127.0.0.1".to_owned()),
            // alipay-sdk stamps local time and the gateway reads it as Beijing time.
            ("TZ".to_owned(), "Asia/Shanghai".to_owned()),
        ]);
        Self {
            runtime: Runtime::Node,
            function,
            command: node_command(),
            args: vec!["src/server.js".into()],
            cwd: Some(peer.to_owned()),
            env,
        }
    }

    /// The same program with `name` set to `value`.
    pub(crate) fn with(&self, name: &str, value: &str) -> Self {
        Self {
            env: with_var(&self.env, name, value),
            ..self.clone()
        }
    }

    /// The launch, with nothing of our own environment but `PATH`.
    pub(crate) fn launch(&self, extra: &[(&str, String)]) -> Launch {
        let mut launch = Launch::new(&self.command)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(extra.iter().map(|(k, v)| (k, v)));
        for arg in &self.args {
            launch = launch.arg(arg);
        }
        match &self.cwd {
            Some(dir) => launch.current_dir(dir),
            None => launch,
        }
    }
}

/// `node`, or `$NODE`.
pub(crate) fn node_command() -> PathBuf {
    std::env::var_os("NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from)
}

/// `env` with `name` set to `value` (replacing any earlier value).
/// `KEY=VALUE` pairs separated by whitespace; a word without `=` is ignored.
fn extra_env(text: &str) -> Vec<(String, String)> {
    text.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub(crate) fn with_var(env: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut env: Vec<_> = env.iter().filter(|(k, _)| k != name).cloned().collect();
    env.push((name.to_owned(), value.to_owned()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_env_reads_pairs() {
        assert_eq!(
            extra_env(" MALLOC_ARENA_MAX=2  RUST_LOG=warn junk"),
            vec![
                ("MALLOC_ARENA_MAX".to_owned(), "2".to_owned()),
                ("RUST_LOG".to_owned(), "warn".to_owned())
            ]
        );
        assert!(extra_env("").is_empty());
    }
}
