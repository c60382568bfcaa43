//! What `miniapp dev` prints: a banner, one colour-free line per request, and the functions'
//! own log lines prefixed with the function's name (also kept in `.miniapp/logs/<fn>.log`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

/// One finished request, for its log line.
#[derive(Debug, Clone)]
pub struct RequestLine<'a> {
    pub method: &'a str,
    /// Path and query as sent.
    pub target: &'a str,
    pub status: u16,
    /// The function's logical id, or `-` when no function ran.
    pub function: &'a str,
    pub elapsed: Duration,
    /// `Some(true)` when a new process had to start.
    pub cold: Option<bool>,
    /// A short note for emulator-made answers (`crashed`, `timeout`, ...).
    pub note: Option<&'a str>,
}

/// The terminal and log-file writer, shared by every task.
#[derive(Debug)]
pub struct Output {
    /// Keep function logs out of the terminal (they still go to the files).
    quiet_functions: bool,
    log_dir: Option<PathBuf>,
    files: Mutex<HashMap<String, File>>,
}

impl Output {
    /// `log_dir`: where `<fn>.log` files go (`None`: nowhere).
    pub fn new(quiet_functions: bool, log_dir: Option<PathBuf>) -> Self {
        Self {
            quiet_functions,
            log_dir,
            files: Mutex::new(HashMap::new()),
        }
    }

    /// Prints one line to stdout; a closed stdout is not worth failing a request for.
    pub fn line(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    /// Prints an error line to stderr.
    pub fn error(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }

    /// The line of one request.
    pub fn request(&self, r: &RequestLine<'_>) {
        self.line(&format_request(r, OffsetDateTime::now_utc()));
    }

    /// One line a function wrote to stdout or stderr.
    pub fn function_log(&self, function: &str, text: &str) {
        self.append_to_file(function, text);
        if !self.quiet_functions {
            self.line(&format!("  {function} | {text}"));
        }
    }

    fn append_to_file(&self, function: &str, text: &str) {
        let Some(dir) = &self.log_dir else { return };
        let Ok(mut files) = self.files.lock() else {
            return;
        };
        if !files.contains_key(function) {
            let path = dir.join(format!("{function}.log"));
            let opened = std::fs::create_dir_all(dir)
                .and_then(|()| OpenOptions::new().create(true).append(true).open(&path));
            match opened {
                Ok(f) => {
                    files.insert(function.to_owned(), f);
                }
                // Logging must never take the emulator down; the terminal still has the line.
                Err(_) => return,
            }
        }
        if let Some(f) = files.get_mut(function) {
            let _ = writeln!(f, "{text}");
        }
    }
}

/// `14:36:40 POST   /session              201 SessionFunction     48 ms cold`.
pub fn format_request(r: &RequestLine<'_>, now: OffsetDateTime) -> String {
    let temperature = match r.cold {
        Some(true) => " cold",
        Some(false) => " warm",
        None => "",
    };
    let note = r.note.map(|n| format!(" ({n})")).unwrap_or_default();
    format!(
        "{:02}:{:02}:{:02} {:<7} {:<30} {} {:<18} {:>5} ms{temperature}{note}",
        now.hour(),
        now.minute(),
        now.second(),
        r.method,
        r.target,
        r.status,
        r.function,
        r.elapsed.as_millis(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_has_every_field_and_no_colour() {
        let line = format_request(
            &RequestLine {
                method: "POST",
                target: "/session",
                status: 201,
                function: "SessionFunction",
                elapsed: Duration::from_millis(48),
                cold: Some(true),
                note: None,
            },
            OffsetDateTime::UNIX_EPOCH,
        );
        assert!(line.starts_with("00:00:00 POST    /session "), "{line}");
        for part in [" 201 ", "SessionFunction", " 48 ms", " cold"] {
            assert!(line.contains(part), "{part:?} missing from {line:?}");
        }
        assert!(!line.contains('\x1b'));
        // The longest method still leaves a space before the path.
        let options = RequestLine {
            method: "OPTIONS",
            target: "/db/0",
            status: 204,
            function: "DbFunction",
            elapsed: Duration::from_millis(1),
            cold: None,
            note: None,
        };
        let line = format_request(&options, OffsetDateTime::UNIX_EPOCH);
        assert!(line.starts_with("00:00:00 OPTIONS /db/0 "), "{line}");
    }
}
