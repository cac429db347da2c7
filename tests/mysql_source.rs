//! `sluice source` with a MariaDB binlog source end to end: changes land on the topic as Avro
//! events in the same envelope as PostgreSQL's, and after `kill -9` the source resumes from the
//! position stored in the state topic — changes made while it was down arrive, none are lost.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use apache_avro::types::Value as AV;
use mysql_async::prelude::Queryable;
use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(60);

fn id_of(r: &common::Record, image: &str) -> Option<i64> {
    match r.column(image, "id")? {
        AV::Int(i) => Some(i64::from(*i)),
        AV::Long(i) => Some(*i),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_changes_reach_the_topic_and_survive_kill_dash_nine() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("mysql_src")?;
    let db = tb.mariadb.create_database("mysrc").await?;
    let mut c = tb.mariadb.connect(Some(&db)).await?;
    c.query_drop(
        "CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(10,2), big BIGINT UNSIGNED, at DATETIME(6), name VARCHAR(20), doc JSON)",
    )
    .await?;
    let prefix = unique("my");
    let port = free_port()?;
    let cfg = common::mysql_source_config(&db, &prefix, port);
    let mut src = common::start_source(&dir, "run1", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    c.query_drop(
        "INSERT INTO t VALUES (1, 12.34, 18446744073709551615, '2024-01-02 03:04:05.123456', 'héllo', '{\"a\": 1}'), \
         (2, -0.50, 0, '1999-12-31 23:59:59', 'two', NULL)",
    )
    .await?;
    c.query_drop("UPDATE t SET amount = 99.99 WHERE id = 1").await?;
    c.query_drop("DELETE FROM t WHERE id = 2").await?;

    let url = format!("http://127.0.0.1:{port}");
    let topic = format!("{prefix}.{db}.t");
    let recs = common::read_topic(&url, &topic, 5, T)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", src.log_text()))?;
    let ops: Vec<Option<String>> = recs.iter().map(common::Record::op).collect();
    assert_eq!(ops, vec![Some("c".into()), Some("c".into()), Some("u".into()), Some("d".into()), None]);
    assert_eq!(id_of(&recs[0], "after"), Some(1));
    assert_eq!(recs[0].column("after", "name"), Some(&AV::String("héllo".into())));
    assert_eq!(recs[0].column("after", "at"), Some(&AV::Long(1_704_164_645_123_456)));
    assert_eq!(
        common::field(recs[0].field("source").unwrap(), "connector"),
        Some(&AV::String("mysql".into()))
    );
    assert_eq!(id_of(&recs[3], "before"), Some(2));

    // Down: changes made meanwhile must arrive after the restart.
    src.child.kill()?;
    src.child.wait()?;
    c.query_drop("INSERT INTO t (id, name) VALUES (3, 'while down'), (4, 'also')").await?;
    let mut src = common::start_source(&dir, "run2", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    c.query_drop("INSERT INTO t (id, name) VALUES (5, 'after')").await?;
    let inserted = |recs: &[common::Record]| -> Vec<i64> {
        recs.iter().filter(|r| r.op().as_deref() == Some("c")).filter_map(|r| id_of(r, "after")).collect()
    };
    let recs =
        common::read_topic_until(&url, &topic, |r| [3, 4, 5].iter().all(|id| inserted(r).contains(id)), T)
            .await
            .map_err(|e| anyhow::anyhow!("{e}\n{}", src.log_text()))?;
    // Rows 1 and 2 appear at most twice (a replay after the crash), never lost.
    assert!(inserted(&recs).iter().filter(|&&i| i == 1).count() >= 1);
    c.disconnect().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_versions_continue_across_restarts_through_the_history_topic() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("mysql_hist")?;
    let db = tb.mariadb.create_database("myhist").await?;
    let mut c = tb.mariadb.connect(Some(&db)).await?;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))").await?;
    let prefix = unique("myh");
    let port = free_port()?;
    let cfg = common::mysql_source_config(&db, &prefix, port);
    let mut src = common::start_source(&dir, "run1", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    c.query_drop("INSERT INTO t VALUES (1, 'v1')").await?;
    c.query_drop("ALTER TABLE t ADD COLUMN note TEXT").await?;
    c.query_drop("INSERT INTO t VALUES (2, 'v2', 'with note')").await?;
    common::wait_log(&mut src, "version=2", T).await?;
    let url = format!("http://127.0.0.1:{port}");
    let topic = format!("{prefix}.{db}.t");
    common::read_topic(&url, &topic, 2, T).await?;
    src.child.kill()?;
    src.child.wait()?;

    // The restarted source knows both versions from the history topic: a replayed row written
    // before the ALTER keeps version 1, the definition after it stays version 2.
    let mut src = common::start_source(&dir, "run2", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    c.query_drop("INSERT INTO t VALUES (3, 'v2 again', 'after restart')").await?;
    let recs =
        common::read_topic_until(&url, &topic, |r| r.iter().any(|r| id_of(r, "after") == Some(3)), T).await?;
    let log = src.log_text();
    assert!(log.contains("schema history loaded") && log.contains("tables=1"), "{log}");
    // Events replayed from before the ALTER keep version 1; nothing becomes version 3.
    assert!(log.contains("version=2") && !log.contains("version=3"), "versions continue:\n{log}");
    let last = recs.iter().rev().find(|r| id_of(r, "after") == Some(3)).unwrap();
    assert_eq!(last.column("after", "note"), Some(&AV::String("after restart".into())));
    c.disconnect().await?;
    Ok(())
}
