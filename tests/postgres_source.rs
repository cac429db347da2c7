//! The PostgreSQL source end to end against real PostgreSQL 15 and the broker: operations and
//! their envelopes, unchanged TOAST columns, replica identity FULL, aborted and streamed
//! transactions with savepoints, schema changes, heartbeats, and the fatal start-up errors.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use apache_avro::types::Value as AV;
use common::{read_topic, Record};
use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(60);

fn int_col(r: &Record, image: &str, name: &str) -> Option<i64> {
    match r.column(image, name)? {
        AV::Int(i) => Some(i64::from(*i)),
        AV::Long(i) => Some(*i),
        _ => None,
    }
}

async fn source_for(db: &str, extra: &str) -> anyhow::Result<(common::SluiceProcess, String, String)> {
    let tb = testbed();
    let dir = tb.scratch_dir("pgsrc")?;
    let prefix = unique("src");
    let port = free_port()?;
    let mut p =
        common::start_source(&dir, "source", &common::pg_source_config(db, &prefix, port, extra), port)
            .await?;
    common::wait_log(&mut p, "streaming", T).await?;
    Ok((p, prefix, format!("http://127.0.0.1:{port}")))
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_toast_and_replica_identity_full() -> anyhow::Result<()> {
    let tb = testbed();
    let db = tb.postgres.create_database("ops").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int, big text);
         CREATE TABLE f (id int PRIMARY KEY, v int, note text);
         ALTER TABLE f REPLICA IDENTITY FULL;",
    )
    .await?;
    let (src, prefix, url) = source_for(&db, "").await?;
    // 6,400 random hex characters: incompressible, so stored out of line (TOAST).
    c.batch_execute(
        "INSERT INTO t VALUES (1, 1, (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 200)));
         UPDATE t SET v = 2 WHERE id = 1;
         DELETE FROM t WHERE id = 1;
         INSERT INTO t VALUES (2, 1, 'small');
         TRUNCATE t;
         INSERT INTO f VALUES (1, 1, 'one');
         UPDATE f SET v = 2 WHERE id = 1;
         DELETE FROM f WHERE id = 1;",
    )
    .await?;
    let t = read_topic(&url, &format!("{prefix}.public.t"), 6, T)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", src.log_text()))?;
    let ops: Vec<Option<String>> = t.iter().map(Record::op).collect();
    assert_eq!(
        ops,
        vec![Some("c".into()), Some("u".into()), Some("d".into()), None, Some("c".into()), Some("t".into())],
        "c, u, d, tombstone, c, t"
    );
    // The update left the TOASTed column unchanged: listed, with Debezium's placeholder.
    let upd = &t[1];
    assert_eq!(int_col(upd, "after", "v"), Some(2));
    assert_eq!(upd.column("after", "big"), Some(&AV::String("__debezium_unavailable_value".into())));
    let unchanged = common::unwrap_union(upd.field("unchanged").unwrap());
    assert_eq!(unchanged, &AV::Array(vec![AV::String("big".into())]));
    // The insert carried the full value.
    assert!(matches!(t[0].column("after", "big"), Some(AV::String(s)) if s.len() == 6400));
    // Delete: key-only old image by default; the tombstone has the key and no value.
    assert_eq!(int_col(&t[2], "before", "id"), Some(1));
    assert!(t[3].value.is_none() && t[3].key.is_some());
    // Transaction metadata on every event.
    let tx = common::unwrap_union(t[0].field("transaction").unwrap());
    assert!(matches!(common::field(tx, "total_order"), Some(AV::Long(1))));

    let f = read_topic(&url, &format!("{prefix}.public.f"), 4, T).await?;
    assert_eq!(f[1].op().as_deref(), Some("u"));
    assert_eq!(int_col(&f[1], "before", "v"), Some(1), "REPLICA IDENTITY FULL sends the old row");
    assert_eq!(f[1].column("before", "note"), Some(&AV::String("one".into())));
    assert_eq!(f[2].column("before", "note"), Some(&AV::String("one".into())));
    drop(src);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn aborted_and_streamed_transactions_with_savepoints() -> anyhow::Result<()> {
    let tb = testbed();
    let db = tb.postgres.create_database("abort").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, pad text)").await?;
    // A tiny decoding budget makes the server stream these transactions in chunks, and a tiny
    // buffer makes Sluice spill them to disk.
    let (src, prefix, url) =
        source_for(&db, "logical_decoding_work_mem = \"64kB\"\nmax_buffered_bytes = 100000").await?;
    c.batch_execute(
        "BEGIN; INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g; ROLLBACK;
         BEGIN;
           INSERT INTO t SELECT g, md5(g::text) FROM generate_series(10001, 13000) g;
           SAVEPOINT s1;
           INSERT INTO t SELECT g, md5(g::text) FROM generate_series(100001, 103000) g;
           ROLLBACK TO SAVEPOINT s1;
           INSERT INTO t SELECT g, md5(g::text) FROM generate_series(20001, 20010) g;
         COMMIT;
         INSERT INTO t VALUES (-1, 'marker');",
    )
    .await?;
    let recs = read_topic(&url, &format!("{prefix}.public.t"), 3011, T)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", src.log_text()))?;
    let ids: Vec<i64> = recs.iter().filter_map(|r| int_col(r, "after", "id")).collect();
    let mut want: Vec<i64> = (10001..=13000).chain(20001..=20010).collect();
    want.push(-1);
    assert_eq!(
        ids, want,
        "only committed rows, in commit order, none from the aborted transaction or savepoint"
    );
    // The streamed transaction's events share one transaction id with 1..=3010 total order.
    let order: Vec<i64> = recs[..3010]
        .iter()
        .filter_map(|r| match common::field(common::unwrap_union(r.field("transaction")?), "total_order") {
            Some(AV::Long(n)) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(order, (1..=3010).collect::<Vec<i64>>());
    assert!(src.log_text().contains("streaming"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_change_mid_stream_registers_a_new_version() -> anyhow::Result<()> {
    let tb = testbed();
    let db = tb.postgres.create_database("ddl").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, a text)").await?;
    let (_src, prefix, url) = source_for(&db, "").await?;
    c.batch_execute(
        "INSERT INTO t VALUES (1, 'before');
         ALTER TABLE t ADD COLUMN b int;
         INSERT INTO t VALUES (2, 'after', 42);
         ALTER TABLE t DROP COLUMN a;
         INSERT INTO t VALUES (3, 7);",
    )
    .await?;
    let topic = format!("{prefix}.public.t");
    let recs = read_topic(&url, &topic, 3, T).await?;
    assert_eq!(recs[0].column("after", "a"), Some(&AV::String("before".into())));
    assert_eq!(recs[0].column("after", "b"), None);
    assert_eq!(int_col(&recs[1], "after", "b"), Some(42));
    assert_eq!(recs[2].column("after", "a"), None);
    assert_eq!(int_col(&recs[2], "after", "b"), Some(7));
    let versions: Vec<i64> =
        reqwest::get(format!("{url}/subjects/{topic}-value/versions")).await?.json().await?;
    assert_eq!(versions, vec![1, 2, 3]);
    Ok(())
}

async fn confirmed_flush(c: &tokio_postgres::Client, slot: &str) -> anyhow::Result<u64> {
    let row = c
        .query_one(
            "SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_advance_the_slot_while_captured_tables_are_idle() -> anyhow::Result<()> {
    let tb = testbed();
    let db = tb.postgres.create_database("hb").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute(
        "CREATE TABLE captured (id int PRIMARY KEY); CREATE TABLE busy (id serial PRIMARY KEY, v text)",
    )
    .await?;
    let (src, prefix, _url) = source_for(&db, "include_tables = [\"public.captured\"]").await?;
    c.batch_execute("INSERT INTO busy (v) SELECT md5(g::text) FROM generate_series(1, 20000) g").await?;
    let target: i64 = c.query_one("SELECT (pg_current_wal_lsn() - '0/0')::bigint", &[]).await?.get(0);
    let start = Instant::now();
    loop {
        let confirmed = confirmed_flush(&c, &prefix).await?;
        if confirmed >= target as u64 {
            break;
        }
        assert!(start.elapsed() < T, "slot stuck at {confirmed}, want {target}:\n{}", src.log_text());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

async fn expect_fatal(dir: &std::path::Path, config: &str, needle: &str) -> anyhow::Result<()> {
    let path = dir.join(format!("{}.toml", unique("cfg")));
    std::fs::write(&path, config)?;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["source", "--config"])
            .arg(&path)
            .output()
    })
    .await??;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "expected a fatal error, got success:\n{text}");
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn fatal_errors_name_the_fix() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("pgfatal")?;
    let db = tb.postgres.create_database("fatal").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute("CREATE TABLE ok (id int PRIMARY KEY)").await?;

    // wal_level = replica.
    let cfg = common::pg_source_config(&db, &unique("w"), free_port()?, "")
        .replace(&format!("port = {}", tb.postgres.port), &format!("port = {}", tb.postgres_replica.port))
        .replace(&format!("database = \"{db}\""), "database = \"postgres\"");
    expect_fatal(&dir, &cfg, "wal_level is \"replica\"").await?;

    // A user without REPLICATION.
    let user = unique("norepl");
    c.batch_execute(&format!("CREATE ROLE {user} LOGIN PASSWORD 'pw'")).await?;
    let cfg = common::pg_source_config(&db, &unique("u"), free_port()?, "")
        .replace("user = \"postgres\"", &format!("user = \"{user}\"\npassword = \"pw\""));
    expect_fatal(&dir, &cfg, "lacks the REPLICATION attribute").await?;

    // A table without a key.
    c.batch_execute("CREATE TABLE nokey (v int)").await?;
    let cfg = common::pg_source_config(&db, &unique("k"), free_port()?, "");
    expect_fatal(&dir, &cfg, "public.nokey have no primary key or replica identity").await?;
    c.batch_execute("DROP TABLE nokey").await?;

    // The slot disappears after the source streamed from it.
    let prefix = unique("slot");
    let port = free_port()?;
    let cfg = common::pg_source_config(&db, &prefix, port, "");
    let mut p = common::start_source(&dir, "first", &cfg, port).await?;
    common::wait_log(&mut p, "streaming", T).await?;
    drop(p);
    let start = Instant::now();
    while c
        .query_opt("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND NOT active", &[&prefix])
        .await?
        .is_none()
    {
        assert!(start.elapsed() < T, "slot never became inactive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.query_one("SELECT pg_drop_replication_slot($1)", &[&prefix]).await?;
    expect_fatal(&dir, &cfg, &format!("replication slot \"{prefix}\" is missing")).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn transaction_topic_has_begin_and_end_with_counts() -> anyhow::Result<()> {
    let tb = testbed();
    let db = tb.postgres.create_database("txmeta").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)").await?;
    let (src, prefix, url) = source_for(&db, "transaction_topic = true").await?;
    c.batch_execute("BEGIN; INSERT INTO a VALUES (1), (2); INSERT INTO b VALUES (1); COMMIT;").await?;
    let tx = read_topic(&url, &format!("{prefix}.transaction"), 2, T)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", src.log_text()))?;
    let status = |r: &Record| r.field("status").cloned();
    assert_eq!(status(&tx[0]), Some(AV::String("BEGIN".into())));
    assert_eq!(status(&tx[1]), Some(AV::String("END".into())));
    assert_eq!(tx[1].field("event_count").map(common::unwrap_union), Some(&AV::Long(3)));
    let AV::Array(dc) = common::unwrap_union(tx[1].field("data_collections").unwrap()) else { panic!() };
    let counts: Vec<(String, i64)> = dc
        .iter()
        .map(|d| match (common::field(d, "data_collection"), common::field(d, "event_count")) {
            (Some(AV::String(n)), Some(AV::Long(k))) => (n.clone(), *k),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(counts, vec![("public.a".to_owned(), 2), ("public.b".to_owned(), 1)]);
    // Events carry the same transaction id.
    let events = read_topic(&url, &format!("{prefix}.public.a"), 2, T).await?;
    let id_of = |v: Option<&AV>| v.and_then(|t| common::field(common::unwrap_union(t), "id")).cloned();
    assert_eq!(id_of(events[0].field("transaction")), tx[0].field("id").cloned());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn table_and_column_filters() -> anyhow::Result<()> {
    let tb = testbed();
    let db = tb.postgres.create_database("filters").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute(
        "CREATE SCHEMA app; CREATE TABLE app.users (id int PRIMARY KEY, email text, password_hash text);
         CREATE TABLE app.audit (id int PRIMARY KEY); CREATE TABLE public.other (id int PRIMARY KEY);",
    )
    .await?;
    let (src, prefix, url) = source_for(
        &db,
        "include_tables = [\"app.*\"]\nexclude_tables = [\"app.audit\"]\nexclude_columns = [\"app.users.password_*\"]",
    )
    .await?;
    c.batch_execute(
        "INSERT INTO public.other VALUES (1); INSERT INTO app.audit VALUES (1);
         INSERT INTO app.users VALUES (1, 'a@example.com', 'secret-hash');",
    )
    .await?;
    let users = read_topic(&url, &format!("{prefix}.app.users"), 1, T)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", src.log_text()))?;
    assert_eq!(users[0].column("after", "email"), Some(&AV::String("a@example.com".into())));
    assert_eq!(users[0].column("after", "password_hash"), None, "excluded column must not be published");
    // Excluded and not-included tables get no topic.
    use rdkafka::consumer::Consumer;
    let admin: rdkafka::consumer::BaseConsumer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &tb.kafka.bootstrap).create()?;
    let md = tokio::task::block_in_place(|| admin.fetch_metadata(None, Duration::from_secs(10)))?;
    let names: Vec<&str> = md.topics().iter().map(|t| t.name()).collect();
    assert!(!names.contains(&format!("{prefix}.app.audit").as_str()), "{names:?}");
    assert!(!names.contains(&format!("{prefix}.public.other").as_str()), "{names:?}");
    Ok(())
}
