//! An idle stream: `next_batch` returns empty batches at least once per heartbeat interval, the
//! server's heartbeats keep the connection alive past the idle timeout, and changes to tables
//! that are not captured move the checkpoint of empty batches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{bench, config, exec};
use sluice_core::{Position, Source};
use sluice_mysql::MySqlSource;

#[tokio::test]
async fn heartbeats_and_empty_batches_while_idle() {
    let mut b = bench("idle").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE t (id INT PRIMARY KEY)").await.unwrap();
    let mut cfg = config(&b.db);
    cfg.heartbeat_interval_ms = 500;
    let mut source = MySqlSource::start(cfg, None).await.unwrap();

    // Idle for longer than the idle timeout (10 s): no error, a batch at least every ~0.5 s.
    let started = Instant::now();
    let read_before = source.stats().events_read;
    let mut batches = 0;
    while started.elapsed() < Duration::from_secs(11) {
        let t0 = Instant::now();
        let batch = source.next_batch().await.unwrap();
        assert!(batch.events.is_empty());
        assert!(t0.elapsed() < Duration::from_millis(1500), "next_batch took {:?}", t0.elapsed());
        batches += 1;
    }
    assert!(batches >= 15, "{batches} batches in 11 s");
    let heartbeats = source.stats().events_read - read_before;
    assert!(heartbeats >= 10, "server heartbeats arrived while idle: {heartbeats}");

    // A change elsewhere on the server moves the checkpoint of an empty batch.
    let before = source.committed_position().clone();
    let other = sluice_testkit::testbed().mariadb.create_database("idle_other").await.unwrap();
    exec(&mut b.conn, &format!("CREATE TABLE `{other}`.x (id INT PRIMARY KEY)")).await.unwrap();
    exec(&mut b.conn, &format!("INSERT INTO `{other}`.x VALUES (1)")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let batch = source.next_batch().await.unwrap();
        assert!(batch.events.is_empty());
        if let Some(Position::Binlog(p)) = batch.checkpoint {
            if p > before {
                assert!(p.gtid_set.is_some());
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "checkpoint did not move: before {before}, now {}",
            source.committed_position()
        );
    }
}

#[tokio::test]
async fn busy_uncaptured_stream_still_returns_promptly() {
    let mut b = bench("busy").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE t (id INT PRIMARY KEY)").await.unwrap();
    let other = sluice_testkit::testbed().mariadb.create_database("busy_other").await.unwrap();
    exec(&mut b.conn, &format!("CREATE TABLE `{other}`.x (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT)"))
        .await
        .unwrap();
    let mut cfg = config(&b.db);
    cfg.heartbeat_interval_ms = 300;
    let mut source = MySqlSource::start(cfg, None).await.unwrap();

    // A writer on a table the source does not capture, for three seconds.
    let writer = tokio::spawn(async move {
        let mut c = sluice_testkit::testbed().mariadb.connect(Some(&other)).await.unwrap();
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            exec(&mut c, "INSERT INTO x (v) VALUES (REPEAT('z', 200)), (REPEAT('z', 200))").await.unwrap();
        }
    });
    let until = Instant::now() + Duration::from_secs(3);
    let mut slowest = Duration::ZERO;
    let mut moved = 0;
    let mut last = source.committed_position().clone();
    while Instant::now() < until {
        let t0 = Instant::now();
        let batch = source.next_batch().await.unwrap();
        slowest = slowest.max(t0.elapsed());
        assert!(batch.events.is_empty());
        if let Some(Position::Binlog(p)) = batch.checkpoint {
            assert!(p >= last);
            if p > last {
                moved += 1;
            }
            last = p;
        }
    }
    writer.await.unwrap();
    assert!(slowest < Duration::from_millis(1000), "slowest next_batch {slowest:?}");
    assert!(moved >= 3, "the checkpoint followed the uncaptured writes ({moved} moves)");
}
