//! Reads `miniapp dev`'s standard output: the API URL from its banner, and every line kept for
//! error messages. Shared by the emulator tests (cli/tests) and the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::process::ChildStdout;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

/// The lines `miniapp dev` printed so far.
pub type Lines = Arc<Mutex<Vec<String>>>;

/// Follows `out` on a thread; the receiver gets the `API` URL once the banner's last line
/// ("Ctrl-C stops ...") has been read.
pub fn follow(out: ChildStdout) -> (mpsc::Receiver<String>, Lines) {
    let stdout: Lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let lines = Arc::clone(&stdout);
    thread::spawn(move || {
        let mut url = String::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(u) = line.trim().strip_prefix("API") {
                url = u.trim().to_owned();
            }
            if line.starts_with("Ctrl-C stops") {
                let _ = tx.send(url.clone());
            }
            if let Ok(mut l) = lines.lock() {
                l.push(line);
            }
        }
    });
    (rx, stdout)
}
