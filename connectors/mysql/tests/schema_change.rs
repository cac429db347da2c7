//! ALTER TABLE mid-stream: each definition gets its own version, recorded in the schema history
//! before use, and rows decode with the columns that were valid when they were written — also
//! when the source reads them after every ALTER already ran (it lags behind the DDL).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bench, collect, config, current_position, exec};
use sluice_core::{TableId, TableSchema, Value};
use sluice_mysql::schema::history::same_definition;
use sluice_mysql::{MySqlError, MySqlSource, SchemaChange, SchemaHistory};

const T: Duration = Duration::from_secs(20);

/// A history the test can look into.
#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Vec<SchemaChange>>>);

impl SchemaHistory for Recording {
    fn record(&mut self, change: &SchemaChange) -> Result<(), MySqlError> {
        self.0.lock().unwrap().push(change.clone());
        Ok(())
    }

    fn latest(&self, table: &TableId) -> Option<Arc<TableSchema>> {
        self.0.lock().unwrap().iter().rev().find(|c| &c.schema.id == table).map(|c| c.schema.clone())
    }

    fn matching(&self, schema: &TableSchema) -> Option<Arc<TableSchema>> {
        let changes = self.0.lock().unwrap();
        changes.iter().rev().map(|c| &c.schema).find(|s| same_definition(s, schema)).cloned()
    }
}

fn names(s: &TableSchema) -> Vec<&str> {
    s.columns.iter().map(|c| c.name.as_str()).collect()
}

#[tokio::test]
async fn alter_table_mid_stream_bumps_the_version() {
    let mut b = bench("ddl").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10))").await.unwrap();
    let start = current_position(&mut b.conn).await.unwrap();

    exec(&mut b.conn, "INSERT INTO t VALUES (1, 'x')").await.unwrap();
    exec(&mut b.conn, "ALTER TABLE t ADD COLUMN b INT NOT NULL DEFAULT 7 AFTER id").await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (2, 8, 'y')").await.unwrap();
    exec(&mut b.conn, "UPDATE t SET a = 'z' WHERE id = 1").await.unwrap();
    exec(&mut b.conn, "ALTER TABLE t DROP COLUMN a, MODIFY b BIGINT UNSIGNED").await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (3, 18446744073709551615)").await.unwrap();

    // Start behind all of it: information_schema already shows the final definition.
    let history = Recording::default();
    let mut source =
        MySqlSource::start_with_history(config(&b.db), Some(start), Box::new(history.clone())).await.unwrap();
    let (events, _) = collect(&mut source, 4, T).await.unwrap();

    assert_eq!(events[0].table.version, 1);
    assert_eq!(names(&events[0].table), ["id", "a"]);
    assert_eq!(events[0].after, Some(vec![Value::Int32(1), Value::Text("x".into())]));

    assert_eq!(events[1].table.version, 2);
    assert_eq!(names(&events[1].table), ["id", "b", "a"]);
    assert_eq!(events[1].after, Some(vec![Value::Int32(2), Value::Int32(8), Value::Text("y".into())]));

    assert_eq!(events[2].table.version, 2);
    assert!(std::sync::Arc::ptr_eq(&events[1].table, &events[2].table), "unchanged definition is shared");
    assert_eq!(events[2].before, Some(vec![Value::Int32(1), Value::Int32(7), Value::Text("x".into())]));
    assert_eq!(events[2].after, Some(vec![Value::Int32(1), Value::Int32(7), Value::Text("z".into())]));

    assert_eq!(events[3].table.version, 3);
    assert_eq!(names(&events[3].table), ["id", "b"]);
    assert_eq!(events[3].table.columns[1].source_type, "bigint unsigned");
    assert_eq!(events[3].after, Some(vec![Value::Int32(3), Value::UInt64(u64::MAX)]));

    let recorded = history.0.lock().unwrap().clone();
    let versions: Vec<u32> = recorded.iter().map(|c| c.schema.version).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert!(recorded.windows(2).all(|w| w[0].position < w[1].position), "recorded in binlog order");
}

#[tokio::test]
async fn history_continues_the_version_sequence() {
    let mut b = bench("ddlh").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE t (id INT PRIMARY KEY)").await.unwrap();
    let history = Recording::default();
    let mut s1 =
        MySqlSource::start_with_history(config(&b.db), None, Box::new(history.clone())).await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (1)").await.unwrap();
    let (e1, _) = collect(&mut s1, 1, T).await.unwrap();
    assert_eq!(e1[0].table.version, 1);
    s1.close().await;

    // A restarted source with the same history: same definition keeps version 1, a new one is 2.
    let mut s2 =
        MySqlSource::start_with_history(config(&b.db), None, Box::new(history.clone())).await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (2)").await.unwrap();
    exec(&mut b.conn, "ALTER TABLE t ADD COLUMN c TEXT").await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (3, 'c')").await.unwrap();
    let (e2, _) = collect(&mut s2, 2, T).await.unwrap();
    assert_eq!((e2[0].table.version, e2[1].table.version), (1, 2));
    assert_eq!(history.0.lock().unwrap().len(), 2);
}
