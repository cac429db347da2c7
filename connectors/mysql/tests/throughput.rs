//! Decoding rate of the binlog source on a simple workload (ignored by default; run with
//! `cargo test --release -p sluice-mysql --test throughput -- --ignored --nocapture`).
//!
//! Writes `SLUICE_BENCH_ROWS` rows (default 200 000) in transactions of 1 000 rows, then starts
//! the source at the position before them and measures the time until every row was handed out
//! as a change event. Prints rows/s and writes the binlog range to stdout so a peer reader can
//! be timed over the same events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{bench, collect, config, current_position, exec};
use sluice_mysql::MySqlSource;

#[tokio::test]
#[ignore = "benchmark"]
async fn decode_rate() {
    let rows: usize = std::env::var("SLUICE_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let mut b = bench("bench").await.unwrap();
    exec(
        &mut b.conn,
        "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(40), n BIGINT, at DATETIME(6), amount DECIMAL(12,2))",
    )
    .await
    .unwrap();
    let start = current_position(&mut b.conn).await.unwrap();
    let per_txn = 1000;
    for chunk in 0..rows / per_txn {
        let values: Vec<String> = (0..per_txn)
            .map(|i| {
                let id = chunk * per_txn + i;
                format!(
                    "({id}, 'name-{id}', {}, '2024-01-02 03:04:05.{:06}', {}.{:02})",
                    id * 7,
                    id % 1_000_000,
                    id,
                    id % 100
                )
            })
            .collect();
        exec(&mut b.conn, &format!("INSERT INTO t VALUES {}", values.join(","))).await.unwrap();
    }
    let end = current_position(&mut b.conn).await.unwrap();
    let mut cfg = config(&b.db);
    cfg.batch_max_events = 4096;
    let t0 = Instant::now();
    let mut source = MySqlSource::start(cfg, Some(start.clone())).await.unwrap();
    let (events, _) = collect(&mut source, rows, Duration::from_secs(600)).await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(events.len(), rows);
    println!(
        "decoded {rows} rows in {secs:.3} s: {:.0} rows/s (binlog {}:{} .. {}:{}, {} bytes)",
        rows as f64 / secs,
        start.file,
        start.pos,
        end.file,
        end.pos,
        end.pos.saturating_sub(start.pos)
    );
}
