//! The harness end to end in smoke mode (debug binaries, one cold start per case, 1 s of wrk
//! per point when wrk is installed, no Node.js), writing into a copy of a report: the generated
//! part goes between the markers before the hand-written sections, which stay as they were,
//! and every plot is an SVG with a title and axis labels.

use std::path::Path;
use std::process::Command;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn harness_runs_end_to_end_in_smoke_mode() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("benchmarks.md");
    let by_hand = "# Benchmarks: the security core (criterion)\n\nkept as it is\n";
    std::fs::write(&doc, format!("# Benchmarks\n\nintro\n\n{by_hand}")).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("--smoke")
        .arg("--instructions")
        .arg("--doc")
        .arg(&doc)
        .status()
        .unwrap();
    assert!(status.success(), "bench --smoke: {status}");

    let text = read(&doc);
    assert!(
        text.starts_with("# Benchmarks\n\nintro\n\n<!-- bench:begin"),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("<!-- bench:end -->\n\n{by_hand}")),
        "{text}"
    );
    for row in [
        "| Rust | floor | HTTP | none |",
        "| Rust | floor | Lambda | none |",
        "| Rust | session | HTTP | embedded |",
        "| Rust | db | Lambda | embedded |",
        "| Rust | session | Lambda | DynamoDB API (moto) |",
        "| Rust | db | HTTP | DynamoDB API (moto) |",
    ] {
        assert!(text.contains(row), "no cold start row {row}:\n{text}");
    }
    // The relays clock the wait on moto (and nothing for the floor, which calls no server):
    // the function's own part is the first answer less that wait.
    let ms = |cell: &str| -> f64 { cell.trim_end_matches(" ms").parse().unwrap() };
    let cold = |row: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.starts_with(row)).unwrap();
        line.split('|').map(|c| c.trim().to_owned()).collect()
    };
    let db = cold("| Rust | db | HTTP | DynamoDB API (moto) |");
    let (first, waiting, own) = (ms(&db[6]), ms(&db[9]), ms(&db[10]));
    assert!(waiting > 0.0, "no wait on moto clocked: {db:?}");
    assert!(own < first, "{db:?}");
    assert_eq!(cold("| Rust | floor | HTTP | none |")[9], "0.00 ms");
    let wrk = Command::new("wrk").arg("-v").output().is_ok();
    if wrk {
        for row in [
            "| db GET | Rust · embedded (SQLite) | 8 |",
            "| db PATCH | Rust · DynamoDB API (moto) | 8 |",
            "| POST /session | Rust · DynamoDB API (moto) | 8 |",
            "| floor GET | floor (Rust, no store) | 8 |",
        ] {
            let line = text
                .lines()
                .find(|l| l.starts_with(row))
                .unwrap_or_else(|| panic!("no warm row {row}:\n{text}"));
            // Some answers, and every one the expected one: the last column counts the others.
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let requests: u64 = cells[cells.len() - 3].parse().unwrap();
            // moto (Python, one request at a time) may answer none within a second on a busy
            // machine; the in-process stores and the floor always do.
            if !row.contains("moto") {
                assert!(requests > 0, "no answers under load: {line}");
            }
            assert_eq!(cells[cells.len() - 2], "0", "errors under load: {line}");
        }
        instructions_were_counted(&text);
    } else {
        eprintln!("wrk is not installed: the warm runs were left out");
    }
    for svg in [
        "cold_start",
        "throughput",
        "latency",
        "cpu_per_request",
        "rss",
    ] {
        let path = dir.path().join(format!("benchmarks/{svg}.svg"));
        let plot = read(&path);
        assert!(plot.starts_with("<svg"), "{svg}");
        assert!(
            text.contains(&format!("(benchmarks/{svg}.svg)")),
            "{svg} not linked"
        );
        if svg == "cold_start" || wrk {
            assert!(plot.contains("<rect"), "{svg} has no bars");
        }
    }
    assert!(read(&dir.path().join("benchmarks/cold_start.svg")).contains("milliseconds"));
}

/// The callgrind table (counted after the warm load, so only with wrk): counts in both modes,
/// and the db function's start up to its first answer (keys, store, a signed GET) costs more
/// instructions than the floor's. (Per warm request, 5 requests of a debug build are too few to
/// rank: one-off work on later requests can outweigh a request's own.)
fn instructions_were_counted(text: &str) {
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("valgrind is not installed: no instruction counts");
        return;
    }
    let counts = |what: &str, mode: &str| -> (f64, f64) {
        let row = format!("| {what} | {mode} |");
        let line = text
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("no instructions row {row}:\n{text}"));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let number = |cell: &str, unit: &str| -> f64 {
            cell.trim_end_matches(unit)
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{line}: {e}"))
        };
        (number(cells[3], "M"), number(cells[4], "k"))
    };
    for mode in ["HTTP", "Lambda"] {
        let (floor_first, floor_warm) = counts("floor", mode);
        let (db_first, db_warm) = counts("db-embedded", mode);
        assert!(floor_first > 0.0 && floor_warm > 0.0, "{mode}");
        assert!(db_warm > 0.0, "{mode}");
        assert!(
            db_first > floor_first,
            "{mode}: db vs floor to the first answer"
        );
    }
}
