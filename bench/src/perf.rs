//! `--perf`: `perf record -g` on a function process during a point's measured runs, for
//! `perf report -i <file>` on the profiling build (`--profiling`: symbols, not stripped).

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `perf record`; dropping it stops it (SIGINT, so it writes its file) and waits.
pub(crate) struct PerfRecord {
    child: Option<Child>,
}

impl PerfRecord {
    /// Starts sampling `pid` (CPU clock: hardware counters are often absent in VMs).
    pub(crate) fn start(pid: u32, out: &Path) -> Self {
        if let Some(dir) = out.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let child = Command::new("perf")
            .args([
                "record",
                "-e",
                "cpu-clock",
                "-F",
                "499",
                "--call-graph",
                "dwarf,16384",
                "-p",
            ])
            .arg(pid.to_string())
            .arg("-o")
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(c) => {
                // perf needs a moment to attach before the load starts.
                std::thread::sleep(std::time::Duration::from_millis(300));
                eprintln!("bench:   perf record → {}", out.display());
                Self { child: Some(c) }
            }
            Err(e) => {
                eprintln!("bench: cannot run perf ({e}): install linux-perf; not recording");
                Self { child: None }
            }
        }
    }
}

impl Drop for PerfRecord {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}
