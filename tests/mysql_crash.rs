//! Crash safety of the MariaDB binlog source (issue 7): `kill -9` of `sluice source` at random
//! points during a 200k-row workload, three times, then a clean run to the end. Every committed
//! row must be on the topic with its last value, each key's events in commit order (duplicates
//! after a crash are allowed: at-least-once from the last position stored after broker acks).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use rand::Rng;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use sluice_testkit::{free_port, testbed, unique};

const TXNS: i64 = 200;
const ROWS_PER_TXN: i64 = 1000;
const UPDATES_PER_TXN: i64 = 50;

fn config(db: &str, prefix: &str, port: u16) -> String {
    let tb = testbed();
    format!(
        "[source]\ntype = \"mysql\"\ntopic_prefix = \"{prefix}\"\ninclude_tables = [\"{db}.*\"]\n\
         [source.connection]\nhost = \"{}\"\nport = {}\nuser = \"root\"\n\
         [kafka]\nbootstrap_servers = \"{}\"\nstate_topic = \"{prefix}.state\"\n\
         [registry]\nlisten = \"127.0.0.1:{port}\"\ntopic = \"{prefix}._schemas\"\n",
        tb.mariadb.host, tb.mariadb.port, tb.kafka.bootstrap
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_kill_dash_nine_three_times_loses_nothing() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("mycrash")?;
    let db = tb.mariadb.create_database("mycrash").await?;
    let mut c = tb.mariadb.connect(Some(&db)).await?;
    c.query_drop("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT NULL)").await?;
    let prefix = unique("mycrash");
    let port = free_port()?;
    let cfg = config(&db, &prefix, port);
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

    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &tb.kafka.bootstrap)
        .set("group.id", unique("mycrashcheck"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let topic = format!("{prefix}.{db}.t");
    common::wait_for_topic(&consumer, &topic, Duration::from_secs(600)).await?;
    consumer.subscribe(&[&topic])?;
    let mut last: HashMap<i64, i64> = HashMap::new();
    let mut records = 0u64;
    let start = Instant::now();
    while last != want {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "after {records} records: {} of {} keys, {} differ\n{}",
            last.len(),
            want.len(),
            want.iter().filter(|(k, v)| last.get(k) != Some(v)).count(),
            src.log_text()
        );
        let Some(m) = tokio::task::block_in_place(|| consumer.poll(Duration::from_millis(500))) else {
            continue;
        };
        let m = m?;
        records += 1;
        let Some((id, v)) = m.payload().and_then(common::after_id_v) else { continue };
        if let Some(p) = last.insert(id, v) {
            assert!(v <= p + 1, "key {id}: v went from {p} to {v} at offset {}", m.offset());
        }
    }
    let changes = TXNS * (ROWS_PER_TXN + UPDATES_PER_TXN);
    eprintln!(
        "mariadb crash test: {records} records for {changes} row changes (x{:.2} with replays)",
        records as f64 / changes as f64
    );
    c.disconnect().await?;
    Ok(())
}
