//! CDC start and stop points (issue 6, DMS's "CDC start position" and "CDC stop position"):
//! a `cdc` task given a start LSN and a stop LSN publishes exactly the transactions committed
//! between them, exits 0 on its own at the stop point without acknowledging past it, and a
//! later run without a stop point continues right there.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use apache_avro::types::Value as AV;
use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(120);

fn ids(records: &[common::Record]) -> Vec<i64> {
    records
        .iter()
        .filter_map(|r| match r.column("after", "id") {
            Some(AV::Int(i)) => Some(i64::from(*i)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cdc_between_a_start_and_a_stop_lsn_then_resume() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("cdcpoints")?;
    let db = tb.postgres.create_database("cdcpoints").await?;
    let c = tb.postgres.connect(&db).await?;
    let prefix = unique("pts");
    // (`pg_current_wal_insert_lsn`: with asynchronous commit the write position lags.)
    // The publication and slot exist before the workload, as for a task started earlier.
    c.batch_execute(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, note text); CREATE PUBLICATION {prefix} FOR ALL TABLES"
    ))
    .await?;
    c.execute("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", &[&prefix]).await?;
    let insert =
        |from: i32, to: i32| format!("INSERT INTO t SELECT g, 'batch' FROM generate_series({from}, {to}) g");
    c.batch_execute(&insert(1, 100)).await?;
    let start: String = c.query_one("SELECT pg_current_wal_insert_lsn()::text", &[]).await?.get(0);
    for i in 0..10 {
        c.batch_execute(&insert(101 + i * 10, 110 + i * 10)).await?;
    }
    let stop: String = c.query_one("SELECT pg_current_wal_insert_lsn()::text", &[]).await?.get(0);
    c.batch_execute(&insert(201, 300)).await?;

    let port = free_port()?;
    let extra = format!("migration_type = \"cdc\"\ncdc_start_lsn = \"{start}\"\ncdc_stop_lsn = \"{stop}\"");
    let cfg = common::pg_source_config(&db, &prefix, port, &extra);
    let mut src = common::start_source(&dir, "bounded", &cfg, port).await?;
    let began = Instant::now();
    let status = loop {
        if let Some(s) = src.child.try_wait()? {
            break s;
        }
        assert!(began.elapsed() < T, "did not stop at the stop point:\n{}", src.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit {status}:\n{}", src.log_text());
    assert!(src.log_text().contains("reached the CDC stop point"), "{}", src.log_text());
    let confirmed: String = c
        .query_one(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&prefix],
        )
        .await?
        .get(0);
    let (confirmed, stop_lsn): (sluice_core::Lsn, sluice_core::Lsn) = (confirmed.parse()?, stop.parse()?);
    assert!(confirmed <= stop_lsn, "acknowledged {confirmed} past the stop point {stop_lsn}");

    // The embedded registry left with the process; read through a new one on the same topic.
    let (_registry, url) = common::start_registry(&dir, &format!("{prefix}._schemas")).await?;
    let topic = format!("{prefix}.public.t");
    let first = common::read_topic(&url, &topic, 100, T).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = common::read_topic_until(&url, &topic, |r| r.len() >= 100, T).await?;
    assert_eq!(ids(&first), (101..=200).collect::<Vec<_>>(), "exactly the transactions between the points");
    assert_eq!(again.len(), 100, "nothing after the stop point");

    // Without a stop point the task continues where it stopped.
    let port2 = free_port()?;
    let cfg = common::pg_source_config(&db, &prefix, port2, "migration_type = \"cdc\"");
    drop(_registry);
    let _src2 = common::start_source(&dir, "resumed", &cfg, port2).await?;
    let all =
        common::read_topic_until(&format!("http://127.0.0.1:{port2}"), &topic, |r| ids(r).contains(&300), T)
            .await?;
    let got = ids(&all);
    assert!((201..=300).all(|i| got.contains(&i)), "the rest after the stop point: {} records", got.len());
    assert!(!got.iter().any(|i| *i <= 100), "nothing before the start point");
    Ok(())
}
