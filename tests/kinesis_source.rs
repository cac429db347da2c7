//! PostgreSQL and MariaDB → `sluice source` with `[broker] type = "kinesis"` → a Kinesis API
//! server (kinesalite). Every record is read back with boto3 and decoded with confluent-kafka's
//! AvroDeserializer against the registry (clients Sluice did not write): the folded result equals
//! the source table, each key's events arrive in commit order, and a `kill -9` of the source
//! mid-stream loses nothing (positions are acknowledged only after Kinesis accepted every earlier
//! record; a record written twice is allowed).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use sluice_testkit::{free_port, testbed, unique};

const TXNS: i32 = 20;
const ROWS_PER_TXN: i32 = 100;

fn kinesis_sections(shards: u32) -> String {
    format!(
        "[broker]\ntype = \"kinesis\"\n[kinesis]\nshard_count = {shards}\n[kinesis.connection]\n{}",
        testbed().kinesis.connection()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_kinesis_survives_kill_nine_and_folds_to_the_source() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("kinesis-src")?;
    let db = tb.postgres.create_database("kinsrc").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, s text)").await?;
    let prefix = unique("kin");
    let port = free_port()?;
    let cfg = format!("{}{}", common::pg_source_config(&db, &prefix, port, ""), kinesis_sections(2));
    let mut src = common::start_source(&dir, "run0", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", Duration::from_secs(60)).await?;

    for t in 0..TXNS {
        let first = t * ROWS_PER_TXN + 1;
        let last = first + ROWS_PER_TXN - 1;
        c.batch_execute(&format!(
            "BEGIN; INSERT INTO t SELECT g, 0, 'row ' || g FROM generate_series({first}, {last}) g; \
             UPDATE t SET v = v + 1, s = NULL WHERE id % 7 = 0; \
             DELETE FROM t WHERE id % 13 = 0 AND id < {first}; COMMIT;"
        ))
        .await?;
        if t == TXNS / 2 {
            src.child.kill()?; // SIGKILL mid-stream
            src.child.wait()?;
            src = common::start_source(&dir, "run1", &cfg, port).await?;
        }
    }
    let rows = c.query("SELECT id, v, s FROM t", &[]).await?;
    let want: Rows = rows
        .iter()
        .map(|r| {
            let id: i32 = r.get(0);
            let v: i32 = r.get(1);
            (id.to_string(), vec![Some(v.to_string()), r.get::<_, Option<String>>(2)])
        })
        .collect();
    let stream = format!("{prefix}.public.t");
    wait_stream_folds_to(&stream, port, &want, &mut src).await
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_to_kinesis_folds_to_the_source() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("kinesis-my")?;
    let db = tb.mariadb.create_database("kinmy").await?;
    let mut c = tb.mariadb.connect(Some(&db)).await?;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40))").await?;
    let prefix = unique("kinmy");
    let port = free_port()?;
    let cfg = format!("{}{}", common::mysql_source_config(&db, &prefix, port), kinesis_sections(1));
    let mut src = common::start_source(&dir, "run0", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", Duration::from_secs(60)).await?;
    for t in 0..10 {
        let first = t * 50 + 1;
        c.query_drop(format!(
            "INSERT INTO t SELECT seq, 0, CONCAT('row ', seq) FROM seq_{first}_to_{}",
            first + 49
        ))
        .await?;
        c.query_drop("UPDATE t SET v = v + 1, s = NULL WHERE id % 7 = 0").await?;
        c.query_drop(format!("DELETE FROM t WHERE id % 13 = 0 AND id < {first}")).await?;
    }
    let rows: Vec<(i32, i32, Option<String>)> = c.query("SELECT id, v, s FROM t").await?;
    let want: Rows =
        rows.into_iter().map(|(id, v, s)| (id.to_string(), vec![Some(v.to_string()), s])).collect();
    let stream = format!("{prefix}.{db}.t");
    wait_stream_folds_to(&stream, port, &want, &mut src).await
}

type Rows = BTreeMap<String, Vec<Option<String>>>;

/// Wait (up to 120 s) until `stream`, read with boto3 and decoded against the registry on
/// `registry_port` (tests/python/kinesis_rows.py: per-key order checked), folds to `want`
/// (`id` → [v, s]); fails early when the source exits.
async fn wait_stream_folds_to(
    stream: &str,
    registry_port: u16,
    want: &Rows,
    src: &mut common::SluiceProcess,
) -> anyhow::Result<()> {
    let tb = testbed();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kinesis_rows.py");
    let registry = format!("http://127.0.0.1:{registry_port}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = tb.python(&script, &["rows", &tb.kinesis.url(), stream, &registry, "id", "v,s"])?;
        let got: serde_json::Value = serde_json::from_str(&out)?;
        let rows: Rows = serde_json::from_value(got["rows"].clone())?;
        if rows == *want {
            eprintln!("kinesis: {} records fold to the {} source rows", got["records"], want.len());
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the stream folds to {} rows, the source has {}; source log:\n{}",
            rows.len(),
            want.len(),
            src.log_text()
        );
        anyhow::ensure!(src.child.try_wait()?.is_none(), "the source exited:\n{}", src.log_text());
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
