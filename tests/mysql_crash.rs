//! Crash safety of the MariaDB binlog source (issue 7): `kill -9` of `sluice source` at random
//! points during a 200k-row workload, three times, then a clean run to the end. Every committed
//! row must be on the topic with its last value, each key's events in commit order (duplicates
//! after a crash are allowed: at-least-once from the last position stored after broker acks).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use rand::Rng;
use sluice_testkit::{free_port, testbed, unique};

const TXNS: i64 = 200;
const ROWS_PER_TXN: i64 = 1000;
const UPDATES_PER_TXN: i64 = 50;

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_kill_dash_nine_three_times_loses_nothing() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("mycrash")?;
    let db = tb.mariadb.create_database("mycrash").await?;
    let mut c = tb.mariadb.connect(Some(&db)).await?;
    c.query_drop("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT NULL)").await?;
    let prefix = unique("mycrash");
    let port = free_port()?;
    let cfg = common::mysql_source_config(&db, &prefix, port);
    let mut src = common::start_source(&dir, "run0", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", Duration::from_secs(60)).await?;

    // Each transaction inserts 1,000 rows and bumps v of 50 earlier rows.
    let writer = {
        let mut c = tb.mariadb.connect(Some(&db)).await?;
        tokio::spawn(async move {
            for t in 0..TXNS {
                let first = t * ROWS_PER_TXN + 1;
                let bumped: Vec<String> =
                    (1..=UPDATES_PER_TXN).map(|g| (1 + (g * 7919) % first).to_string()).collect();
                c.query_drop(format!(
                    "BEGIN; INSERT INTO t SELECT seq, 0 FROM seq_{first}_to_{}; \
                     UPDATE t SET v = v + 1 WHERE id IN ({}); COMMIT",
                    first + ROWS_PER_TXN - 1,
                    bumped.join(",")
                ))
                .await?;
            }
            anyhow::Ok(())
        })
    };
    for run in 1..=3 {
        let wait = rand::rng().random_range(500..2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        src.child.kill()?; // SIGKILL
        src.child.wait()?;
        src = common::start_source(&dir, &format!("run{run}"), &cfg, port).await?;
    }
    writer.await??;

    let rows: Vec<(i64, i64)> = c.query("SELECT id, v FROM t").await?;
    let want: HashMap<i64, i64> = rows.into_iter().collect();
    assert_eq!(want.len() as i64, TXNS * ROWS_PER_TXN);

    let topic = format!("{prefix}.{db}.t");
    let (records, _) = common::replay_until_last_values(&topic, &want, &|| src.log_text(), true).await?;
    let changes = TXNS * (ROWS_PER_TXN + UPDATES_PER_TXN);
    eprintln!(
        "mariadb crash test: {records} records for {changes} row changes (x{:.2} with replays)",
        records as f64 / changes as f64
    );
    c.disconnect().await?;
    Ok(())
}

/// `kill -9` three times during the full load of 200k rows (each after some chunks finished),
/// with a writer running, then a clean run: the load resumes at the unfinished chunks, streaming
/// replays from the snapshot's position, and every row ends on the topic with its last value.
#[tokio::test(flavor = "multi_thread")]
async fn mariadb_full_load_survives_kill_dash_nine_three_times() -> anyhow::Result<()> {
    const LOADED: i64 = 200_000;
    let tb = testbed();
    let dir = tb.scratch_dir("myloadcrash")?;
    let db = tb.mariadb.create_database("myloadcrash").await?;
    let mut c = tb.mariadb.connect(Some(&db)).await?;
    c.query_drop("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT NULL)").await?;
    c.query_drop(format!("INSERT INTO t SELECT seq, 0 FROM seq_1_to_{LOADED}")).await?;
    c.query_drop("ANALYZE TABLE t").await?;
    let prefix = unique("myloadcrash");
    let port = free_port()?;
    let cfg = common::mysql_source_config(&db, &prefix, port).replace(
        "[source.connection]",
        "snapshot_workers = 2\nsnapshot_chunk_rows = 5000\n[source.connection]",
    );
    let writer = {
        let mut c = tb.mariadb.connect(Some(&db)).await?;
        tokio::spawn(async move {
            for t in 0..100i64 {
                let first = LOADED + t * 100 + 1;
                let bumped: Vec<String> =
                    (1..=UPDATES_PER_TXN).map(|g| (1 + (g * 7919 + t) % first).to_string()).collect();
                c.query_drop(format!(
                    "BEGIN; INSERT INTO t SELECT seq, 0 FROM seq_{first}_to_{}; \
                     UPDATE t SET v = v + 1 WHERE id IN ({}); COMMIT",
                    first + 99,
                    bumped.join(",")
                ))
                .await?;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            anyhow::Ok(())
        })
    };
    let mut src = common::start_source(&dir, "load0", &cfg, port).await?;
    for run in 1..=3 {
        common::wait_log(&mut src, "chunk done", Duration::from_secs(120)).await?;
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(0..400))).await;
        src.child.kill()?; // SIGKILL
        src.child.wait()?;
        src = common::start_source(&dir, &format!("load{run}"), &cfg, port).await?;
    }
    common::wait_log(&mut src, "streaming", Duration::from_secs(300)).await?;
    assert!(
        src.log_text().contains("skipping finished chunk"),
        "the last run resumed nothing:\n{}",
        src.log_text()
    );
    writer.await??;

    let rows: Vec<(i64, i64)> = c.query("SELECT id, v FROM t").await?;
    let want: HashMap<i64, i64> = rows.into_iter().collect();
    assert_eq!(want.len() as i64, LOADED + 100 * 100);
    let topic = format!("{prefix}.{db}.t");
    let (records, _) = common::replay_until_last_values(&topic, &want, &|| src.log_text(), false).await?;
    eprintln!("mariadb full-load crash test: {records} records for {} rows", want.len());
    c.disconnect().await?;
    Ok(())
}
