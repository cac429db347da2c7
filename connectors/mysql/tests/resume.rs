//! Resuming after the source is dropped: from a position with a GTID set (MariaDB
//! `@slave_connect_state`) and from file + offset only. Nothing at or before the position comes
//! again, nothing after it is skipped. An unknown or purged position is a fatal error that says
//! a new snapshot is needed. A killed replication connection is retriable and the source carries
//! on from where it was.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bench, collect, config, drain, exec};
use mysql_async::prelude::Queryable;
use sluice_core::{BinlogPosition, ErrorKind, GtidSet, Position, Source, Value};
use sluice_mysql::MySqlSource;

const T: Duration = Duration::from_secs(20);

fn ids(events: &[sluice_core::ChangeEvent]) -> Vec<i32> {
    events
        .iter()
        .map(|e| match &e.after.as_ref().unwrap()[0] {
            Value::Int32(i) => *i,
            other => panic!("{other:?}"),
        })
        .collect()
}

async fn resume_case(prefix: &str, keep_gtid: bool) {
    let mut b = bench(prefix).await.unwrap();
    exec(&mut b.conn, "CREATE TABLE t (id INT PRIMARY KEY)").await.unwrap();
    let mut s1 = MySqlSource::start(config(&b.db), None).await.unwrap();
    for id in 1..=3 {
        exec(&mut b.conn, &format!("INSERT INTO t VALUES ({id})")).await.unwrap();
    }
    let (events, _) = collect(&mut s1, 3, T).await.unwrap();
    assert_eq!(ids(&events), [1, 2, 3]);
    // Acknowledge through the second transaction only, then drop the source.
    let ack = events[1].position.clone();
    s1.acknowledge(ack.clone()).await.unwrap();
    assert_eq!(s1.acknowledged_position().map(|p| Position::Binlog(p.clone())), Some(ack.clone()));
    s1.close().await;

    for id in 4..=5 {
        exec(&mut b.conn, &format!("INSERT INTO t VALUES ({id})")).await.unwrap();
    }
    let Position::Binlog(mut resume) = ack else { panic!() };
    assert!(resume.gtid_set.is_some(), "MariaDB positions carry the GTID state");
    if !keep_gtid {
        resume.gtid_set = None;
    }
    let mut s2 = MySqlSource::start(config(&b.db), Some(resume.clone())).await.unwrap();
    let (events, _) = collect(&mut s2, 3, T).await.unwrap();
    assert_eq!(ids(&events), [3, 4, 5], "everything after the position, nothing before");
    assert!(drain(&mut s2, Duration::from_millis(700)).await.unwrap().is_empty());
    // Positions handed out after a file+pos resume still carry the GTID state.
    let Position::Binlog(last) = &events[2].position else { panic!() };
    assert!(last.gtid_set.is_some());
    assert!(*last > resume);
}

#[tokio::test]
async fn resume_by_gtid() {
    resume_case("rgtid", true).await;
}

#[tokio::test]
async fn resume_by_file_and_offset() {
    resume_case("rfile", false).await;
}

#[tokio::test]
async fn unknown_binlog_file_is_fatal_and_names_a_snapshot() {
    let b = bench("purged").await.unwrap();
    let gone = BinlogPosition { file: "mysql-bin.999999".into(), pos: 4, gtid_set: None };
    let err = MySqlSource::start(config(&b.db), Some(gone)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
    let text = err.to_string();
    assert!(text.contains("new snapshot"), "{text}");
    assert!(text.contains("mysql-bin.999999"), "{text}");
}

#[tokio::test]
async fn unknown_gtid_position_is_fatal_and_names_a_snapshot() {
    let b = bench("gtidgone").await.unwrap();
    let mut conn = b.conn;
    let row: mysql_async::Row = conn.query_first("SHOW MASTER STATUS").await.unwrap().unwrap();
    let file: String = row.get(0).unwrap();
    // A sequence number the server never wrote in domain 0.
    let gone =
        BinlogPosition { file, pos: 4, gtid_set: Some(GtidSet::parse_mariadb("0-1-999999999").unwrap()) };
    let err = MySqlSource::start(config(&b.db), Some(gone)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
    assert!(err.to_string().contains("new snapshot"), "{err}");
}

#[tokio::test]
async fn killed_connection_is_retriable_and_resumes_without_loss() {
    let mut b = bench("kill").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE t (id INT PRIMARY KEY)").await.unwrap();
    let mut source = MySqlSource::start(config(&b.db), None).await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (1)").await.unwrap();
    let (first, _) = collect(&mut source, 1, T).await.unwrap();
    assert_eq!(ids(&first), [1]);

    let id = source.replication_connection_id().unwrap();
    exec(&mut b.conn, &format!("KILL CONNECTION {id}")).await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (2)").await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (3)").await.unwrap();

    // Retriable errors are allowed (and expected); the next call reconnects.
    let mut got = Vec::new();
    let mut retriable = 0;
    let deadline = std::time::Instant::now() + T;
    while got.len() < 2 && std::time::Instant::now() < deadline {
        match source.next_batch().await {
            Ok(batch) => got.extend(batch.events),
            Err(e) => {
                assert!(e.is_retriable(), "{e}");
                retriable += 1;
            }
        }
    }
    assert_eq!(ids(&got), [2, 3], "no loss, no duplicate after the reconnect");
    assert!(retriable >= 1, "the killed stream surfaced as a retriable error");
    assert!(source.stats().reconnects >= 1);
    assert_ne!(source.replication_connection_id(), Some(id));
}
