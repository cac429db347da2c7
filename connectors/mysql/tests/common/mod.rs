//! Shared helpers for the binlog source's integration tests: a source configured for one test
//! database on the bench's MariaDB, and collecting its events.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use sluice_core::{BinlogPosition, ChangeEvent, Position, Secret, Source, SourceBatch};
use sluice_mysql::{MySqlEndpoint, MySqlSource, MySqlSourceConfig};

pub struct Bench {
    pub db: String,
    pub conn: Conn,
}

/// A fresh database and an admin connection to it.
pub async fn bench(prefix: &str) -> Result<Bench> {
    let maria = &sluice_testkit::testbed().mariadb;
    let db = maria.create_database(prefix).await?;
    let conn = maria.connect(Some(&db)).await?;
    Ok(Bench { db, conn })
}

pub fn endpoint() -> MySqlEndpoint {
    let maria = &sluice_testkit::testbed().mariadb;
    MySqlEndpoint {
        host: maria.host.clone(),
        port: maria.port,
        user: maria.user.clone(),
        password: Secret::new(maria.password.clone()),
        database: None,
        connect_timeout_secs: 10,
    }
}

/// Capture only `db`, with a replica id no other test uses.
pub fn config(db: &str) -> MySqlSourceConfig {
    let mut c = MySqlSourceConfig::new(endpoint(), format!("t_{db}"));
    c.include_tables = vec![format!("{db}.*")];
    c.server_id = Some(100_000 + rand::random::<u32>() % 1_000_000_000);
    c.heartbeat_interval_ms = 300;
    c
}

pub async fn exec(conn: &mut Conn, sql: &str) -> Result<()> {
    conn.query_drop(sql).await?;
    Ok(())
}

/// Batches until `n` events arrived (fails after `timeout`). Returns the events and the last
/// checkpoint seen.
pub async fn collect(
    source: &mut MySqlSource,
    n: usize,
    timeout: Duration,
) -> Result<(Vec<ChangeEvent>, Option<BinlogPosition>)> {
    let deadline = Instant::now() + timeout;
    let mut events: Vec<ChangeEvent> = Vec::new();
    let mut checkpoint = None;
    while events.len() < n {
        if Instant::now() > deadline {
            bail!(
                "only {} of {n} events after {timeout:?}: {:#?}",
                events.len(),
                events.iter().map(|e| (e.op, e.table.id.to_string())).collect::<Vec<_>>()
            );
        }
        let SourceBatch { events: e, checkpoint: c, .. } = source.next_batch().await?;
        events.extend(e);
        if let Some(Position::Binlog(p)) = c {
            checkpoint = Some(p);
        }
    }
    Ok((events, checkpoint))
}

/// Read for `dur` and return whatever arrived (for "nothing is emitted" checks).
pub async fn drain(source: &mut MySqlSource, dur: Duration) -> Result<Vec<ChangeEvent>> {
    let deadline = Instant::now() + dur;
    let mut events = Vec::new();
    while Instant::now() < deadline {
        events.extend(source.next_batch().await?.events);
    }
    Ok(events)
}

/// The server's current binlog position (what `resume = None` starts at).
pub async fn current_position(conn: &mut Conn) -> Result<BinlogPosition> {
    let row: mysql_async::Row = conn.query_first("SHOW MASTER STATUS").await?.unwrap();
    let (file, pos): (String, u64) = (row.get(0).unwrap(), row.get(1).unwrap());
    let gtid: String = conn.exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file.as_str(), pos)).await?.unwrap();
    Ok(BinlogPosition { file, pos, gtid_set: Some(sluice_core::GtidSet::parse_mariadb(&gtid)?) })
}
