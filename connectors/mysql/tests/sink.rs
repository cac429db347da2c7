//! The MariaDB sink against the bench's MariaDB: tables created from PostgreSQL-typed schemas,
//! every op, unchanged columns, per-key order within a batch, replay, offsets committed with the
//! rows (and rolled back with them), unsafe schema changes and unstorable values.
//!
//! Each test writes into its own database (the connection's `database`, table pattern
//! `{table}`), so tests run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use sluice_core::{
    BrokerOffset, ChangeEvent, Column, DataType, ErrorKind, Op, SchemaChanges, Sink, TableId, TableSchema,
    Value,
};
use sluice_mysql::{MySqlSink, MySqlSinkConfig, MySqlTarget};

struct Target {
    db: String,
    conn: Conn,
    sink: MySqlSink,
}

async fn target(prefix: &str, policy: SchemaChanges) -> Target {
    let b = common::bench(prefix).await.unwrap();
    let mut endpoint = common::endpoint();
    endpoint.database = Some(b.db.clone());
    let mut config = MySqlSinkConfig::new(endpoint);
    config.table_pattern = "{table}".into();
    config.schema_changes = policy;
    let sink = <MySqlTarget as sluice_core::Target>::connect(&config, "test-sink").await.unwrap();
    Target { db: b.db, conn: b.conn, sink }
}

fn col(name: &str, dt: DataType, pg_type: &str, nullable: bool) -> Column {
    Column::new(name, dt, pg_type, nullable)
}

fn schema(table: &str, columns: Vec<Column>, key: Vec<usize>, version: u32) -> Arc<TableSchema> {
    Arc::new(TableSchema { id: TableId::new("public", table), columns, key, version })
}

fn ev(
    table: &Arc<TableSchema>,
    op: Op,
    before: Option<Vec<Value>>,
    after: Option<Vec<Value>>,
) -> ChangeEvent {
    sluice_testkit::conformance::event(table, op, before, after)
}

fn ins(t: &Arc<TableSchema>, row: Vec<Value>) -> ChangeEvent {
    ev(t, Op::Create, None, Some(row))
}

fn upd(t: &Arc<TableSchema>, row: Vec<Value>) -> ChangeEvent {
    ev(t, Op::Update, None, Some(row))
}

fn del(t: &Arc<TableSchema>, row: Vec<Value>) -> ChangeEvent {
    ev(t, Op::Delete, Some(row), None)
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// Rows of `sql` as text (the text protocol), NULL as `None`.
async fn rows(conn: &mut Conn, sql: &str) -> Vec<Vec<Option<String>>> {
    let rows: Vec<mysql_async::Row> = conn.query(sql).await.unwrap();
    rows.into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql_async::Value::NULL => None,
                    mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                    other => Some(format!("{other:?}")),
                })
                .collect()
        })
        .collect()
}

fn s(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|x| (*x != "NULL").then(|| x.to_string())).collect()
}

fn offset(topic: &str, partition: i32, next: i64) -> BrokerOffset {
    BrokerOffset { topic: topic.into(), partition, next_offset: next }
}

#[tokio::test]
async fn creates_table_from_postgres_types_and_writes_values() {
    let mut t = target("sink_types", SchemaChanges::Fail).await;
    let cols = vec![
        col("id", DataType::Int32, "integer", false),
        col("n", DataType::Decimal { precision: Some(14), scale: Some(4) }, "numeric(14,4)", true),
        col("u", DataType::Decimal { precision: None, scale: None }, "numeric", true),
        col("r", DataType::Float32, "real", true),
        col("d", DataType::Float64, "double precision", true),
        col("b", DataType::Boolean, "boolean", true),
        col("t", DataType::Text, "text", true),
        col("v", DataType::Text, "character varying(20)", true),
        col("by", DataType::Bytes, "bytea", true),
        col("uid", DataType::Uuid, "uuid", true),
        col("j", DataType::Json, "jsonb", true),
        col("dt", DataType::Date, "date", true),
        col("ts", DataType::Timestamp, "timestamp without time zone", true),
        col("tz", DataType::TimestampTz, "timestamp with time zone", true),
        col("tm", DataType::Time, "time without time zone", true),
        col("ttz", DataType::TimeTz, "time with time zone", true),
        col("iv", DataType::Interval, "interval", true),
        col("arr", DataType::Array(Box::new(DataType::Int32)), "integer[]", true),
        col("ip", DataType::Text, "inet", true),
    ];
    let table = schema("all_types", cols, vec![0], 1);
    let uuid = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8];
    let micros = 1_700_000_000_123_456;
    let row = vec![
        Value::Int32(1),
        Value::Decimal("-1234.5678".into()),
        Value::Decimal("3.141592653589793238462643383279".into()),
        Value::Float32(1.5),
        Value::Float64(0.1),
        Value::Bool(true),
        text("héllo 🎉"),
        text("x"),
        Value::Bytes(vec![0, 255, 10]),
        Value::Uuid(uuid),
        Value::Json(r#"{"a": [1, 2]}"#.into()),
        Value::Date(19_000),
        Value::Timestamp(micros),
        Value::TimestampTz(micros),
        Value::Time(3_723_000_001),
        Value::TimeTz { micros: 3_600_000_000, offset_seconds: -19_800 },
        Value::Interval { months: 14, days: 3, micros: 4_500_000 },
        Value::Array(vec![Value::Int32(1), Value::Null, Value::Int32(3)]),
        text("10.0.0.1/8"),
    ];
    let nulls: Vec<Value> =
        std::iter::once(Value::Int32(2)).chain(std::iter::repeat_n(Value::Null, 18)).collect();
    t.sink.apply(&[ins(&table, row), ev(&table, Op::Read, None, Some(nulls))]).await.unwrap();
    t.sink.commit(&[offset("pg.public.all_types", 0, 2)]).await.unwrap();

    let types = rows(
        &mut t.conn,
        &format!(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 'all_types' ORDER BY ORDINAL_POSITION",
            t.db
        ),
    )
    .await;
    let types: Vec<(String, String)> =
        types.into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect();
    let expected = [
        ("id", "int(11)"),
        ("n", "decimal(14,4)"),
        ("u", "decimal(65,30)"),
        ("r", "float"),
        ("d", "double"),
        ("b", "tinyint(1)"),
        ("t", "longtext"),
        ("v", "varchar(20)"),
        ("by", "longblob"),
        ("uid", "char(36)"),
        ("j", "longtext"),
        ("dt", "date"),
        ("ts", "datetime(6)"),
        ("tz", "datetime(6)"),
        ("tm", "time(6)"),
        ("ttz", "varchar(32)"),
        ("iv", "varchar(64)"),
        ("arr", "longtext"),
        ("ip", "varchar(64)"),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(types, expected);
    let ddl = rows(&mut t.conn, "SHOW CREATE TABLE all_types").await.remove(0)[1].clone().unwrap();
    assert!(ddl.contains("PRIMARY KEY (`id`)"), "{ddl}");
    assert!(ddl.contains("ENGINE=InnoDB"), "{ddl}");
    assert!(ddl.contains("`id` int(11) NOT NULL"), "{ddl}");
    assert!(ddl.contains("json_valid(`j`)"), "{ddl}");

    let got = rows(
        &mut t.conn,
        "SELECT id, n, u, r, d, b, t, v, HEX(`by`), uid, j, dt, ts, tz, tm, ttz, iv, arr, ip \
         FROM all_types ORDER BY id",
    )
    .await;
    assert_eq!(
        got[0],
        s(&[
            "1",
            "-1234.5678",
            "3.141592653589793238462643383279",
            "1.5",
            "0.1",
            "1",
            "héllo 🎉",
            "x",
            "00FF0A",
            "12345678-9abc-def0-0102-030405060708",
            r#"{"a": [1, 2]}"#,
            "2022-01-08",
            "2023-11-14 22:13:20.123456",
            "2023-11-14 22:13:20.123456",
            "01:02:03.000001",
            "01:00:00.000000-05:30",
            "P1Y2M3DT4.5S",
            "[1,null,3]",
            "10.0.0.1/8",
        ])
    );
    let mut all_null = vec![Some("2".to_string())];
    all_null.extend(std::iter::repeat_n(None, 18));
    assert_eq!(got[1], all_null);
}

#[tokio::test]
async fn text_and_bytea_keys_become_indexable_and_compare_exactly() {
    let mut t = target("sink_textkey", SchemaChanges::Fail).await;
    let table = schema(
        "tk",
        vec![
            col("k", DataType::Text, "text", false),
            col("bk", DataType::Bytes, "bytea", false),
            col("v", DataType::Int32, "integer", true),
        ],
        vec![0, 1],
        1,
    );
    let r = |k: &str, v: i32| vec![text(k), Value::Bytes(vec![1]), Value::Int32(v)];
    t.sink.apply(&[ins(&table, r("a", 1)), ins(&table, r("A", 2)), ins(&table, r("a ", 3))]).await.unwrap();
    t.sink.commit(&[]).await.unwrap();
    let types = rows(
        &mut t.conn,
        &format!(
            "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' \
             AND TABLE_NAME = 'tk' ORDER BY ORDINAL_POSITION",
            t.db
        ),
    )
    .await;
    assert_eq!(types, [s(&["varchar(384)"]), s(&["varbinary(1536)"]), s(&["int(11)"])]);
    assert_eq!(rows(&mut t.conn, "SELECT COUNT(*) FROM tk").await, [s(&["3"])]);
}

#[tokio::test]
async fn insert_update_delete_unchanged_truncate() {
    let mut t = target("sink_ops", SchemaChanges::Fail).await;
    let table = schema(
        "items",
        vec![
            col("id", DataType::Int32, "integer", false),
            col("name", DataType::Text, "text", true),
            col("big", DataType::Text, "text", true),
        ],
        vec![0],
        1,
    );
    let r = |id: i32, name: Value, big: Value| vec![Value::Int32(id), name, big];
    t.sink
        .apply(&[
            ins(&table, r(1, text("one"), text("toast-1"))),
            ins(&table, r(2, text("two"), text("toast-2"))),
            ins(&table, r(3, text("three"), Value::Null)),
        ])
        .await
        .unwrap();
    t.sink.commit(&[offset("t", 0, 3)]).await.unwrap();
    // Separate batch: the unchanged column must keep the target's value.
    t.sink
        .apply(&[
            upd(&table, r(1, text("uno"), Value::Unchanged)),
            upd(&table, r(2, text("dos"), text("new-2"))),
        ])
        .await
        .unwrap();
    t.sink.apply(&[del(&table, r(3, Value::Null, Value::Null))]).await.unwrap();
    t.sink.commit(&[offset("t", 0, 6)]).await.unwrap();
    assert_eq!(
        rows(&mut t.conn, "SELECT id, name, big FROM items ORDER BY id").await,
        [s(&["1", "uno", "toast-1"]), s(&["2", "dos", "new-2"])]
    );
    // Key change: the old key is deleted.
    t.sink
        .apply(&[ev(
            &table,
            Op::Update,
            Some(r(2, Value::Null, Value::Null)),
            Some(r(20, text("x"), text("y"))),
        )])
        .await
        .unwrap();
    t.sink.commit(&[offset("t", 0, 7)]).await.unwrap();
    assert_eq!(rows(&mut t.conn, "SELECT id FROM items ORDER BY id").await, [s(&["1"]), s(&["20"])]);
    // Truncate runs in order within the batch and inside the transaction.
    t.sink
        .apply(&[
            ins(&table, r(5, text("five"), Value::Null)),
            ev(&table, Op::Truncate, None, None),
            ins(&table, r(6, text("six"), Value::Null)),
        ])
        .await
        .unwrap();
    t.sink.commit(&[offset("t", 0, 10)]).await.unwrap();
    assert_eq!(rows(&mut t.conn, "SELECT id, name FROM items").await, [s(&["6", "six"])]);
}

#[tokio::test]
async fn per_key_order_within_one_batch() {
    let mut t = target("sink_order", SchemaChanges::Fail).await;
    let table = schema(
        "o",
        vec![
            col("id", DataType::Int64, "bigint", false),
            col("v", DataType::Text, "text", true),
            col("w", DataType::Text, "text", true),
        ],
        vec![0],
        1,
    );
    let r = |id: i64, v: &str, w: Value| vec![Value::Int64(id), text(v), w];
    t.sink
        .apply(&[
            // key 1: insert, update, delete, insert → the last insert
            ins(&table, r(1, "a", text("w1"))),
            upd(&table, r(1, "b", Value::Unchanged)),
            del(&table, r(1, "b", Value::Null)),
            ins(&table, r(1, "c", text("w2"))),
            // key 2: insert, update with unchanged column → merged from the insert
            ins(&table, r(2, "a", text("kept"))),
            upd(&table, r(2, "b", Value::Unchanged)),
            // key 3: insert then delete → absent
            ins(&table, r(3, "a", Value::Null)),
            del(&table, r(3, "a", Value::Null)),
        ])
        .await
        .unwrap();
    t.sink.commit(&[offset("t", 0, 8)]).await.unwrap();
    assert_eq!(
        rows(&mut t.conn, "SELECT id, v, w FROM o ORDER BY id").await,
        [s(&["1", "c", "w2"]), s(&["2", "b", "kept"])]
    );
}

#[tokio::test]
async fn replay_is_idempotent() {
    let mut t = target("sink_replay", SchemaChanges::Fail).await;
    let table = schema(
        "r",
        vec![col("id", DataType::Int32, "integer", false), col("v", DataType::Int32, "integer", true)],
        vec![0],
        1,
    );
    let r = |id: i32, v: i32| vec![Value::Int32(id), Value::Int32(v)];
    let events = vec![
        ins(&table, r(1, 1)),
        ins(&table, r(2, 2)),
        upd(&table, r(1, 10)),
        del(&table, r(2, 0)),
        ins(&table, r(3, 3)),
        ev(&table, Op::Truncate, None, None),
        ins(&table, r(4, 4)),
        upd(&table, r(4, 40)),
    ];
    for chunk in events.chunks(3) {
        t.sink.apply(chunk).await.unwrap();
        t.sink.commit(&[]).await.unwrap();
    }
    let first = rows(&mut t.conn, "SELECT id, v FROM r ORDER BY id").await;
    assert_eq!(first, [s(&["4", "40"])]);
    // Replay everything, as one batch and event by event (a new consumer group).
    t.sink.apply(&events).await.unwrap();
    t.sink.commit(&[]).await.unwrap();
    for e in &events {
        t.sink.apply(std::slice::from_ref(e)).await.unwrap();
        t.sink.commit(&[]).await.unwrap();
    }
    assert_eq!(rows(&mut t.conn, "SELECT id, v FROM r ORDER BY id").await, first);
}

#[tokio::test]
async fn offsets_commit_with_rows_and_roll_back_with_them() {
    let mut t = target("sink_offsets", SchemaChanges::Fail).await;
    let table = schema(
        "k",
        vec![
            col("id", DataType::Int32, "integer", false),
            col("code", DataType::Text, "character varying(3)", true),
        ],
        vec![0],
        1,
    );
    let r = |id: i32, code: &str| vec![Value::Int32(id), text(code)];
    assert!(t.sink.stored_offsets().await.unwrap().is_empty());
    t.sink.apply(&[ins(&table, r(1, "abc"))]).await.unwrap();
    t.sink.commit(&[offset("a", 0, 1), offset("a", 1, 7), offset("b", 0, 3)]).await.unwrap();
    assert_eq!(
        t.sink.stored_offsets().await.unwrap(),
        [offset("a", 0, 1), offset("a", 1, 7), offset("b", 0, 3)]
    );

    // A batch applied but never committed is invisible to others and dies with the connection.
    t.sink.apply(&[ins(&table, r(2, "def"))]).await.unwrap();
    assert_eq!(rows(&mut t.conn, "SELECT id FROM k ORDER BY id").await, [s(&["1"])]);

    // A server-side error later in the same transaction rolls back the earlier batch too.
    let err = t.sink.apply(&[ins(&table, r(3, "too long"))]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
    assert!(err.to_string().contains("code"), "{err}");
    assert_eq!(rows(&mut t.conn, "SELECT id FROM k ORDER BY id").await, [s(&["1"])]);
    let offsets_table = format!("`{}`.sluice_offsets", t.db);
    assert_eq!(
        rows(&mut t.conn, &format!("SELECT COUNT(*), MAX(next_offset) FROM {offsets_table}")).await,
        [s(&["3", "7"])]
    );

    // A BC date is refused before anything runs, naming table, column and value.
    let dated = schema(
        "dated",
        vec![col("id", DataType::Int32, "integer", false), col("born", DataType::Date, "date", true)],
        vec![0],
        1,
    );
    let err = t
        .sink
        .apply(&[ins(&table, r(4, "ok")), ins(&dated, vec![Value::Int32(1), Value::Date(-800_000)])])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal);
    let msg = err.to_string();
    assert!(msg.contains("dated") && msg.contains("column born") && msg.contains("BC"), "{msg}");

    // The sink recovers: the next batch and its offsets commit together.
    t.sink.apply(&[ins(&table, r(2, "def"))]).await.unwrap();
    t.sink.commit(&[offset("a", 0, 2)]).await.unwrap();
    assert_eq!(rows(&mut t.conn, "SELECT id FROM k ORDER BY id").await, [s(&["1"]), s(&["2"])]);
    assert_eq!(
        t.sink.stored_offsets().await.unwrap(),
        [offset("a", 0, 2), offset("a", 1, 7), offset("b", 0, 3)]
    );
    // Another sink name has its own offsets.
    let mut endpoint = common::endpoint();
    endpoint.database = Some(t.db.clone());
    let mut other = <MySqlTarget as sluice_core::Target>::connect(&MySqlSinkConfig::new(endpoint), "other")
        .await
        .unwrap();
    assert!(other.stored_offsets().await.unwrap().is_empty());
}

#[tokio::test]
async fn schema_changes_add_columns_and_refuse_narrowing() {
    let mut t = target("sink_schema", SchemaChanges::Fail).await;
    let v1 = schema(
        "s",
        vec![
            col("id", DataType::Int32, "integer", false),
            col("name", DataType::Text, "character varying(10)", false),
        ],
        vec![0],
        1,
    );
    t.sink.apply(&[ins(&v1, vec![Value::Int32(1), text("a")])]).await.unwrap();
    t.sink.commit(&[offset("t", 0, 1)]).await.unwrap();

    // A new column is added as nullable; the rows before it keep NULL.
    let v2 = schema(
        "s",
        vec![
            col("id", DataType::Int32, "integer", false),
            col("name", DataType::Text, "character varying(10)", false),
            col("qty", DataType::Int64, "bigint", false),
        ],
        vec![0],
        2,
    );
    t.sink.apply(&[ins(&v2, vec![Value::Int32(2), text("b"), Value::Int64(5)])]).await.unwrap();
    t.sink.commit(&[offset("t", 0, 2)]).await.unwrap();
    assert_eq!(
        rows(&mut t.conn, "SELECT id, name, qty FROM s ORDER BY id").await,
        [s(&["1", "a", "NULL"]), s(&["2", "b", "5"])]
    );
    let nullable = rows(
        &mut t.conn,
        &format!(
            "SELECT IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' \
             AND TABLE_NAME = 's' AND COLUMN_NAME = 'qty'",
            t.db
        ),
    )
    .await;
    assert_eq!(nullable, [s(&["YES"])]);

    // Widening the source's varchar is unsafe for the existing target column: fatal.
    let v3 = schema(
        "s",
        vec![
            col("id", DataType::Int32, "integer", false),
            col("name", DataType::Text, "character varying(40)", false),
            col("qty", DataType::Int64, "bigint", false),
        ],
        vec![0],
        3,
    );
    let err = t.sink.apply(&[ins(&v3, vec![Value::Int32(3), text("c"), Value::Int64(1)])]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal);
    let msg = err.to_string();
    assert!(msg.contains("column name") && msg.contains("schema_changes"), "{msg}");

    // Dropping a NOT NULL column without default from the source: fatal too.
    let v4 = schema(
        "s",
        vec![col("id", DataType::Int32, "integer", false), col("qty", DataType::Int64, "bigint", false)],
        vec![0],
        4,
    );
    let err = t.sink.apply(&[ins(&v4, vec![Value::Int32(4), Value::Int64(1)])]).await.unwrap_err();
    assert!(err.to_string().contains("NOT NULL"), "{err}");
    assert_eq!(rows(&mut t.conn, "SELECT COUNT(*) FROM s").await, [s(&["2"])]);

    // With schema_changes = ignore the narrowing is logged and writes go on.
    let mut endpoint = common::endpoint();
    endpoint.database = Some(t.db.clone());
    let mut config = MySqlSinkConfig::new(endpoint);
    config.table_pattern = "{table}".into();
    config.schema_changes = SchemaChanges::Ignore;
    let mut lenient = <MySqlTarget as sluice_core::Target>::connect(&config, "lenient").await.unwrap();
    lenient.apply(&[ins(&v3, vec![Value::Int32(3), text("c"), Value::Int64(1)])]).await.unwrap();
    lenient.commit(&[]).await.unwrap();
    assert_eq!(rows(&mut t.conn, "SELECT COUNT(*) FROM s").await, [s(&["3"])]);

    // Tables without a key are refused.
    let keyless = schema("nokey", vec![col("v", DataType::Int32, "integer", true)], vec![], 1);
    let err = t.sink.apply(&[ins(&keyless, vec![Value::Int32(1)])]).await.unwrap_err();
    assert!(err.to_string().contains("no primary key"), "{err}");
}

#[tokio::test]
async fn creates_missing_target_database() {
    let b = common::bench("sink_db").await.unwrap();
    let mut endpoint = common::endpoint();
    endpoint.database = Some(b.db.clone());
    let mut config = MySqlSinkConfig::new(endpoint);
    let fresh = format!("{}_new", b.db);
    config.table_pattern = format!("{fresh}.{{schema}}_{{table}}");
    let mut sink = <MySqlTarget as sluice_core::Target>::connect(&config, "s").await.unwrap();
    let table = schema("t", vec![col("id", DataType::Int32, "integer", false)], vec![0], 1);
    sink.apply(&[ins(&table, vec![Value::Int32(1)]), ins(&table, vec![Value::Int32(1)])]).await.unwrap();
    sink.commit(&[]).await.unwrap();
    let mut conn = b.conn;
    assert_eq!(rows(&mut conn, &format!("SELECT id FROM `{fresh}`.public_t")).await, [s(&["1"])]);
    let coll = rows(
        &mut conn,
        &format!(
            "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{fresh}'"
        ),
    )
    .await;
    assert_eq!(coll, [s(&["utf8mb4_nopad_bin"])]);
    conn.query_drop(format!("DROP DATABASE `{fresh}`")).await.unwrap();
}

#[tokio::test]
async fn mariadb_source_types_are_kept() {
    let mut t = target("sink_maria", SchemaChanges::Fail).await;
    let cols = vec![
        col("id", DataType::Int64, "int(10) unsigned", false),
        col("e", DataType::Enum(vec!["a".into(), "it's".into()]), "enum('a','it''s')", true),
        col("bits", DataType::Bits(4), "bit(4)", true),
        col("dt", DataType::Timestamp, "datetime(3)", true),
        col("ts", DataType::TimestampTz, "timestamp(6)", true),
        col("tm", DataType::Time, "time", true),
        col("y", DataType::Int16, "year(4)", true),
        col("big", DataType::UInt64, "bigint(20) unsigned", true),
    ];
    let table = schema("m", cols, vec![0], 1);
    let mut e = ins(
        &table,
        vec![
            Value::Int64(4_000_000_000),
            text("it's"),
            Value::Bytes(vec![0x05]),
            Value::Timestamp(1_500_000_000_123_000),
            Value::TimestampTz(1_500_000_000_654_321),
            Value::Time(-(30 * 3600 * 1_000_000)),
            Value::Int16(2024),
            Value::UInt64(u64::MAX),
        ],
    );
    e.source.connector = "mysql";
    t.sink.apply(&[e]).await.unwrap();
    t.sink.commit(&[]).await.unwrap();
    let types = rows(
        &mut t.conn,
        &format!(
            "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' \
             AND TABLE_NAME = 'm' ORDER BY ORDINAL_POSITION",
            t.db
        ),
    )
    .await;
    let types: Vec<String> = types.into_iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(
        types,
        [
            "int(10) unsigned",
            "enum('a','it''s')",
            "bit(4)",
            "datetime(3)",
            "timestamp(6)",
            "time",
            "year(4)",
            "bigint(20) unsigned"
        ]
    );
    // The session is UTC, so TIMESTAMP reads back as the UTC instant.
    t.conn.query_drop("SET time_zone = '+00:00'").await.unwrap();
    assert_eq!(
        rows(&mut t.conn, "SELECT id, e, bits + 0, dt, ts, tm, y, big FROM m").await,
        [s(&[
            "4000000000",
            "it's",
            "5",
            "2017-07-14 02:40:00.123",
            "2017-07-14 02:40:00.654321",
            "-30:00:00",
            "2024",
            "18446744073709551615"
        ])]
    );
}
