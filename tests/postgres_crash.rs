//! Crash safety: `kill -9` of `sluice source` at random points during a 200k-row workload, three
//! times, then a clean run to the end. Every committed row must be on the topic, each key's
//! events in commit order (duplicates after a crash are allowed: at-least-once).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;
use sluice_testkit::{free_port, testbed, unique};

const TXNS: i32 = 200;
const ROWS_PER_TXN: i32 = 1000;
const UPDATES_PER_TXN: i32 = 50;

#[tokio::test(flavor = "multi_thread")]
async fn kill_dash_nine_three_times_loses_nothing() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("crash")?;
    let db = tb.postgres.create_database("crash").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v int)").await?;
    let prefix = unique("crash");
    let port = free_port()?;
    let cfg = common::pg_source_config(&db, &prefix, port, "");
    let mut src = common::start_source(&dir, "run0", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", Duration::from_secs(60)).await?;

    // The workload: each transaction inserts 1,000 rows and bumps v of 50 earlier rows.
    let writer = {
        let c = tb.postgres.connect(&db).await?;
        tokio::spawn(async move {
            for t in 0..TXNS {
                let first = t * ROWS_PER_TXN + 1;
                let sql = format!(
                    "BEGIN; INSERT INTO t SELECT g, 0 FROM generate_series({first}, {}) g; \
                     UPDATE t SET v = v + 1 WHERE id IN (SELECT 1 + (g * 7919) % {first} FROM generate_series(1, {UPDATES_PER_TXN}) g); COMMIT;",
                    first + ROWS_PER_TXN - 1
                );
                c.batch_execute(&sql).await?;
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

    // Expected final state.
    let rows = c.query("SELECT id, v FROM t", &[]).await?;
    let want: HashMap<i64, i64> =
        rows.iter().map(|r| (i64::from(r.get::<_, i32>(0)), i64::from(r.get::<_, i32>(1)))).collect();
    assert_eq!(want.len(), (TXNS * ROWS_PER_TXN) as usize);

    let topic = format!("{prefix}.public.t");
    let (records, last) = common::replay_until_last_values(&topic, &want, &|| src.log_text(), true).await?;
    let dup = records as f64 / (TXNS * (ROWS_PER_TXN + UPDATES_PER_TXN)) as f64;
    eprintln!(
        "crash test: {records} records for {} row changes (x{dup:.2} with replays)",
        TXNS * (ROWS_PER_TXN + UPDATES_PER_TXN)
    );
    assert_eq!(want.keys().sum::<i64>(), last.keys().sum::<i64>(), "key checksum");
    Ok(())
}
