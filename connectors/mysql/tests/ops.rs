//! Insert, update, delete and truncate through the binlog source against the bench's MariaDB:
//! ops, row images, transaction blocks, source fields, positions, and that a rolled-back
//! transaction produces nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bench, collect, config, drain, exec};
use sluice_core::{Op, Position, SourceDetail, Value};
use sluice_mysql::MySqlSource;

const T: Duration = Duration::from_secs(20);

#[tokio::test]
async fn insert_update_delete_truncate() {
    let mut b = bench("ops").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20), n BIGINT)").await.unwrap();
    let mut source = MySqlSource::start(config(&b.db), None).await.unwrap();

    exec(&mut b.conn, "INSERT INTO t VALUES (1, 'one', 10), (2, 'two', NULL)").await.unwrap();
    exec(&mut b.conn, "UPDATE t SET name = 'uno', n = 11 WHERE id = 1").await.unwrap();
    exec(&mut b.conn, "DELETE FROM t WHERE id = 2").await.unwrap();
    exec(&mut b.conn, "TRUNCATE TABLE t").await.unwrap();

    let (events, checkpoint) = collect(&mut source, 5, T).await.unwrap();
    let ops: Vec<Op> = events.iter().map(|e| e.op).collect();
    assert_eq!(ops, [Op::Create, Op::Create, Op::Update, Op::Delete, Op::Truncate]);

    let row = |id: i32, name: &str, n: Option<i64>| {
        vec![Value::Int32(id), Value::Text(name.into()), n.map_or(Value::Null, Value::Int64)]
    };
    assert_eq!(events[0].after, Some(row(1, "one", Some(10))));
    assert_eq!(events[0].before, None);
    assert_eq!(events[1].after, Some(row(2, "two", None)));
    assert_eq!(events[2].before, Some(row(1, "one", Some(10))));
    assert_eq!(events[2].after, Some(row(1, "uno", Some(11))));
    assert_eq!(events[3].before, Some(row(2, "two", None)));
    assert_eq!(events[3].after, None);
    assert_eq!((events[4].before.as_ref(), events[4].after.as_ref()), (None, None));

    // Schema: names, types, key.
    let schema = &events[0].table;
    assert_eq!(schema.id.to_string(), format!("{}.t", b.db));
    let cols: Vec<(&str, &str, bool)> =
        schema.columns.iter().map(|c| (c.name.as_str(), c.source_type.as_str(), c.nullable)).collect();
    assert_eq!(cols, [("id", "int", false), ("name", "varchar(20)", true), ("n", "bigint", true)]);
    assert_eq!(schema.key, vec![0]);
    assert_eq!(schema.version, 1);

    // Source block and transaction block.
    let e = &events[0];
    assert_eq!(e.source.connector, "mysql");
    assert_eq!(e.source.name, format!("t_{}", b.db));
    assert_eq!(e.source.db, b.db);
    assert_eq!(e.source.table, "t");
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((now_ms - e.source.ts_ms).abs() < 60_000, "ts_ms {} now {now_ms}", e.source.ts_ms);
    assert_eq!(e.source.ts_ms % 1000, 0);
    let SourceDetail::MySql { server_id, gtid, file, pos, row, .. } = &e.source.detail else { panic!() };
    assert_eq!(*server_id, 1);
    let gtid = gtid.clone().expect("MariaDB events carry their GTID");
    assert!(gtid.starts_with("0-1-"), "{gtid}");
    let seq = file.strip_prefix("mysql-bin.").expect("binlog file name");
    assert!(seq.len() == 6 && seq.parse::<u32>().is_ok(), "clean file name: {file:?}");
    assert!(*pos > 4);
    assert_eq!(*row, 0);
    let SourceDetail::MySql { row: row1, .. } = &events[1].source.detail else { panic!() };
    assert_eq!(*row1, 1, "second row of the same rows event");

    // The two inserted rows are one transaction; positions are the commit's, equal within it.
    let tx0 = events[0].transaction.clone().unwrap();
    let tx1 = events[1].transaction.clone().unwrap();
    assert_eq!(tx0.id, gtid);
    assert_eq!(tx0.id, tx1.id);
    assert_eq!((tx0.total_order, tx1.total_order), (1, 2));
    assert_eq!((tx0.data_collection_order, tx1.data_collection_order), (1, 2));
    assert_eq!(events[0].position, events[1].position);
    assert!(events[1].position < events[2].position, "later transactions have later positions");
    assert_ne!(events[2].transaction.as_ref().unwrap().id, tx0.id);

    // The last checkpoint is at or after the truncate's commit.
    let Position::Binlog(last) = &events[4].position else { panic!() };
    let checkpoint = checkpoint.expect("a checkpoint was handed out");
    assert_eq!(last.file, *file);
    assert!(last.file_sequence() > 0);
    assert!(checkpoint >= *last);
    let gtid_set = last.gtid_set.as_ref().unwrap().to_string();
    assert!(gtid_set.contains("0-1-"), "{gtid_set}");

    // Every event read carried a CRC32 that was checked (binlog_checksum=CRC32 on the bench).
    let stats = source.stats();
    assert!(stats.checksums_verified > 10, "{stats:?}");
    assert!(stats.checksums_verified + 2 >= stats.events_read, "{stats:?}");
    assert_eq!(stats.events_emitted, 5);
}

#[tokio::test]
async fn rolled_back_transaction_produces_nothing() {
    let mut b = bench("rollback").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)").await.unwrap();
    let mut source = MySqlSource::start(config(&b.db), None).await.unwrap();

    exec(&mut b.conn, "BEGIN").await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (1, 'never')").await.unwrap();
    exec(&mut b.conn, "UPDATE t SET v = 'still never' WHERE id = 1").await.unwrap();
    exec(&mut b.conn, "ROLLBACK").await.unwrap();
    // A committed multi-statement transaction after it.
    exec(&mut b.conn, "BEGIN").await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (2, 'kept')").await.unwrap();
    exec(&mut b.conn, "INSERT INTO t VALUES (3, 'kept too')").await.unwrap();
    exec(&mut b.conn, "COMMIT").await.unwrap();

    let (events, _) = collect(&mut source, 2, T).await.unwrap();
    let ids: Vec<Value> = events.iter().map(|e| e.after.as_ref().unwrap()[0].clone()).collect();
    assert_eq!(ids, [Value::Int32(2), Value::Int32(3)]);
    assert_eq!(events[0].transaction.as_ref().unwrap().id, events[1].transaction.as_ref().unwrap().id);
    assert_eq!(events[1].transaction.as_ref().unwrap().total_order, 2);
    assert!(drain(&mut source, Duration::from_millis(800)).await.unwrap().is_empty());
}

#[tokio::test]
async fn other_tables_are_not_captured_but_move_the_checkpoint() {
    let mut b = bench("filter").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE keep_me (id INT PRIMARY KEY)").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE skip_me (id INT PRIMARY KEY)").await.unwrap();
    let mut cfg = config(&b.db);
    cfg.exclude_tables = vec![format!("{}.skip_*", b.db)];
    let mut source = MySqlSource::start(cfg, None).await.unwrap();

    exec(&mut b.conn, "INSERT INTO skip_me VALUES (1)").await.unwrap();
    exec(&mut b.conn, "INSERT INTO keep_me VALUES (2)").await.unwrap();
    exec(&mut b.conn, "INSERT INTO skip_me VALUES (3)").await.unwrap();
    let (events, checkpoint) = collect(&mut source, 1, T).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].table.id.table, "keep_me");
    let Position::Binlog(after_keep) = events[0].position.clone() else { panic!() };

    // The skipped insert after it moves the checkpoint past it: in the same batch when it was
    // already read, else in a later (empty) one.
    let deadline = std::time::Instant::now() + T;
    if checkpoint.is_some_and(|c| c > after_keep) {
        return;
    }
    loop {
        let batch = sluice_core::Source::next_batch(&mut source).await.unwrap();
        assert!(batch.events.is_empty());
        if let Some(Position::Binlog(p)) = batch.checkpoint {
            if p > after_keep {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "checkpoint never moved past the skipped insert");
    }
}

#[tokio::test]
async fn large_transaction_spans_batches_and_only_its_end_is_a_checkpoint() {
    let mut b = bench("bigtx").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE t (id INT PRIMARY KEY, pad VARCHAR(100))").await.unwrap();
    let mut cfg = config(&b.db);
    cfg.batch_max_events = 100;
    let mut source = MySqlSource::start(cfg, None).await.unwrap();
    let values: Vec<String> = (1..=2000).map(|i| format!("({i}, REPEAT('x', 90))")).collect();
    exec(&mut b.conn, &format!("INSERT INTO t VALUES {}", values.join(","))).await.unwrap();

    let mut events = Vec::new();
    let mut batches = Vec::new();
    let deadline = std::time::Instant::now() + T;
    while events.len() < 2000 {
        assert!(std::time::Instant::now() < deadline);
        let batch = sluice_core::Source::next_batch(&mut source).await.unwrap();
        if batch.events.is_empty() {
            continue;
        }
        batches.push((batch.events.len(), batch.checkpoint.clone()));
        events.extend(batch.events);
    }
    assert!(batches.len() > 3, "split over several batches: {batches:?}");
    let (last, firsts) = batches.split_last().unwrap();
    assert!(firsts.iter().all(|(_, c)| c.is_none()), "no checkpoint inside the transaction: {batches:?}");
    assert_eq!(last.1.as_ref(), Some(&events[0].position), "the commit position ends it");
    assert!(events.iter().all(|e| e.position == events[0].position));
    let orders: Vec<u64> = events.iter().map(|e| e.transaction.as_ref().unwrap().total_order).collect();
    assert_eq!(orders, (1..=2000).collect::<Vec<u64>>());
}

#[tokio::test]
async fn oversized_transaction_is_fatal() {
    let mut b = bench("hugetx").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE t (id INT PRIMARY KEY, pad VARCHAR(200))").await.unwrap();
    let mut cfg = config(&b.db);
    cfg.max_transaction_bytes = 64 * 1024;
    let mut source = MySqlSource::start(cfg, None).await.unwrap();
    let values: Vec<String> = (1..=2000).map(|i| format!("({i}, REPEAT('y', 150))")).collect();
    exec(&mut b.conn, &format!("INSERT INTO t VALUES {}", values.join(","))).await.unwrap();
    let err = collect(&mut source, 1, T).await.unwrap_err();
    let e = err.downcast_ref::<sluice_core::Error>().expect("a source error");
    assert!(!e.is_retriable());
    assert!(e.to_string().contains("max_transaction_bytes"), "{e}");
}

#[tokio::test]
async fn transaction_metadata_records_when_enabled() {
    use sluice_core::TransactionStatus;
    let mut b = bench("txmeta").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE a (id INT PRIMARY KEY)").await.unwrap();
    exec(&mut b.conn, "CREATE TABLE c (id INT PRIMARY KEY)").await.unwrap();
    let mut cfg = config(&b.db);
    cfg.provide_transaction_metadata = true;
    let mut source = MySqlSource::start(cfg, None).await.unwrap();
    exec(&mut b.conn, "BEGIN").await.unwrap();
    exec(&mut b.conn, "INSERT INTO a VALUES (1), (2)").await.unwrap();
    exec(&mut b.conn, "INSERT INTO c VALUES (3)").await.unwrap();
    exec(&mut b.conn, "COMMIT").await.unwrap();
    exec(&mut b.conn, "INSERT INTO c VALUES (4)").await.unwrap();

    // Gather events and transaction records with offsets into the whole stream.
    let mut events = Vec::new();
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + T;
    while events.len() < 4 || records.len() < 4 {
        assert!(std::time::Instant::now() < deadline, "{records:?}");
        let batch = sluice_core::Source::next_batch(&mut source).await.unwrap();
        records.extend(batch.transactions.into_iter().map(|(i, t)| (events.len() + i, t)));
        events.extend(batch.events);
    }
    let shape: Vec<(usize, TransactionStatus, Option<u64>)> =
        records.iter().map(|(i, t)| (*i, t.status, t.event_count)).collect();
    assert_eq!(
        shape,
        [
            (0, TransactionStatus::Begin, None),
            (3, TransactionStatus::End, Some(3)),
            (3, TransactionStatus::Begin, None),
            (4, TransactionStatus::End, Some(1)),
        ]
    );
    let tx1 = events[0].transaction.as_ref().unwrap().id.clone();
    assert_eq!(records[0].1.id, tx1);
    assert_eq!(records[1].1.id, tx1);
    assert_eq!(records[1].1.data_collections, vec![(format!("{}.a", b.db), 2), (format!("{}.c", b.db), 1)]);
    assert_eq!(records[3].1.id, events[3].transaction.as_ref().unwrap().id);
    assert!(records[1].1.ts_ms > 0 && records[1].1.ts_ms % 1000 == 0);
}
