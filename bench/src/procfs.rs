//! What the kernel says about a process and the machine: CPU time (`/proc/<pid>/stat`), peak
//! resident memory (`VmHWM`), load average, CPU model.

use std::process::Command;

/// utime + stime of a process, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: fields are counted after its `)`.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Minor page faults of a process so far (`minflt`): each is a page the kernel had to map in
/// (a page of the binary not yet mapped, a fresh page of heap or stack).
pub(crate) fn minor_faults(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // Field 10 (minflt), counted from field 3 at index 0.
    rest.split_whitespace().nth(7)?.parse().ok()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
pub(crate) fn ticks_per_second() -> u64 {
    command_line("getconf", &["CLK_TCK"])
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
}

/// CPU time of a process's live threads so far, in milliseconds, to the microsecond: the
/// scheduler's own runtime of each task (`se.sum_exec_runtime` in `/proc/<pid>/task/*/sched`),
/// where utime + stime come in whole clock ticks (10 ms, longer than a cold start). Threads
/// that already ended are not in it.
pub(crate) fn cpu_ms_exact(pid: u32) -> Option<f64> {
    let total = task_files(pid, "sched")?
        .filter_map(|sched| sched_runtime_ms(&sched))
        .sum();
    Some(total)
}

/// The file `name` of each live thread of a process (`/proc/<pid>/task/*/<name>`). A thread
/// that ends while the list is read leaves no file behind: it is skipped.
fn task_files(pid: u32, name: &'static str) -> Option<impl Iterator<Item = String>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(tasks.filter_map(move |task| std::fs::read_to_string(task.ok()?.path().join(name)).ok()))
}

/// `se.sum_exec_runtime` of a `sched` file, in milliseconds.
fn sched_runtime_ms(sched: &str) -> Option<f64> {
    let line = sched
        .lines()
        .find(|l| l.starts_with("se.sum_exec_runtime"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

/// Context switches of a process's live threads so far, summed over `/proc/<pid>/task/*/status`:
/// (voluntary: the thread slept, e.g. in `epoll_wait`; involuntary: the scheduler took the CPU
/// from it while it could run). Threads that already ended are not in it.
pub(crate) fn context_switches(pid: u32) -> Option<(u64, u64)> {
    let counts = task_files(pid, "status")?.filter_map(|status| switches_of(&status));
    Some(counts.fold((0, 0), |(v, n), (dv, dn)| (v + dv, n + dn)))
}

/// `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` of a `status` file.
fn switches_of(status: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((
        field("voluntary_ctxt_switches")?,
        field("nonvoluntary_ctxt_switches")?,
    ))
}

/// Peak resident set size (`VmHWM`) of a process so far, in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Resident memory now, split as the kernel counts it: (anonymous: heap, stacks; file-backed:
/// the binary's and libraries' pages), in KiB.
pub(crate) fn rss_split_kib(pid: u32) -> Option<(u64, u64)> {
    Some((status_kib(pid, "RssAnon:")?, status_kib(pid, "RssFile:")?))
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The 1-minute load average.
pub(crate) fn load_1min() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The (1, 5, 15 min) load averages as the kernel prints them.
pub(crate) fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first line a command prints, trimmed; `None` when it cannot run or fails.
pub(crate) fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

/// The machine the figures come from.
pub(crate) struct Machine {
    pub(crate) cpu_model: String,
    pub(crate) cores: usize,
    pub(crate) kernel: String,
    pub(crate) memory_gib: f64,
}

impl Machine {
    pub(crate) fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let kernel = command_line("uname", &["-sr"]).unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_default();
        Self {
            cpu_model,
            cores,
            kernel,
            memory_gib: mem_kib / (1024.0 * 1024.0),
        }
    }
}

/// Samples the 1-minute load average every few seconds on a thread, for the report.
pub(crate) struct LoadSampler {
    samples: std::sync::Arc<std::sync::Mutex<Vec<f64>>>,
}

impl LoadSampler {
    pub(crate) fn start() -> Self {
        let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = std::sync::Arc::clone(&samples);
        std::thread::spawn(move || loop {
            if let (Some(load), Ok(mut all)) = (load_1min(), shared.lock()) {
                all.push(load);
            }
            std::thread::sleep(std::time::Duration::from_secs(5));
        });
        Self { samples }
    }

    /// The samples so far.
    pub(crate) fn samples(&self) -> Vec<f64> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_some());
        assert!(peak_rss_kib(pid).is_some_and(|k| k > 0));
        let (anon, file) = rss_split_kib(pid).expect("RssAnon and RssFile");
        assert!(anon > 0 && file > 0);
        let before = minor_faults(pid).expect("minflt");
        // 4 MiB written: a thousand fresh pages.
        let touched = std::hint::black_box(vec![1u8; 1 << 22]);
        assert!(
            minor_faults(pid).expect("minflt") > before,
            "{}",
            touched.len()
        );
        assert!(load_1min().is_some());
    }

    #[test]
    fn the_scheduler_runtime_is_read_in_milliseconds() {
        let sched = "bench (42, #threads: 1)\n---\nse.exec_start : 1.5\n\
                     se.sum_exec_runtime                          :             1.704049\n";
        assert_eq!(sched_runtime_ms(sched), Some(1.704049));
        assert_eq!(sched_runtime_ms("se.exec_start : 1.5\n"), None);
    }

    #[test]
    fn context_switches_are_summed_over_threads() {
        let status = "Name:\tdb\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(switches_of(status), Some((12, 3)));
        assert_eq!(switches_of("Name:\tdb\n"), None);
        let pid = std::process::id();
        let (before, _) = context_switches(pid).expect("this process's switches");
        // A sleep on another thread is at least one voluntary switch of that thread, which is
        // alive while it is counted.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let sleeper = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(5));
            let _ = rx.recv();
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (after, _) = context_switches(pid).expect("this process's switches");
        let _ = tx.send(());
        let _ = sleeper.join();
        assert!(after > before, "{before} -> {after}");
    }

    #[test]
    fn a_busy_process_has_used_cpu_time() {
        // Spin until the reading has grown by 5 ms: a wall-clock spin of 5 ms is not 5 ms of
        // CPU when the scheduler preempts this thread (CI runs tests in parallel on 2 cores).
        let pid = std::process::id();
        let before = cpu_ms_exact(pid).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut now = before;
        while now < before + 5.0 && std::time::Instant::now() < deadline {
            let spin = std::time::Instant::now();
            while spin.elapsed() < std::time::Duration::from_millis(1) {}
            now = cpu_ms_exact(pid).unwrap();
        }
        assert!(
            now >= before + 5.0,
            "{before} ms, then {now} ms after 10 s of spinning"
        );
    }
}
