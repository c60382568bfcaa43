//! The soak's code, run for a few seconds at a few connections so that it cannot rot; the
//! measured run is `scripts/soak.sh` (60 s, 64 connections, release build).

use std::time::Duration;

use integration_tests::soak::{self, SoakConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_has_no_errors() {
    let report = soak::run(SoakConfig {
        duration: Duration::from_secs(4),
        connections: 8,
        users: 3,
        refresh_every: 5,
    })
    .await;
    println!("{}", report.markdown());
    assert_eq!(report.errors, 0, "{:?}", report.error_samples);
    assert!(report.requests > 0);
    let refreshes = report
        .counts
        .iter()
        .find(|(op, _)| *op == soak::Op::Refresh)
        .map_or(0, |(_, n)| *n);
    assert!(
        refreshes > 0,
        "the mix includes refreshes: {:?}",
        report.counts
    );
    assert!(report.db_rss.samples.len() >= 3 && report.db_rss.peak() > 0);
    assert!(report.session_rss.peak() > 0);
}
