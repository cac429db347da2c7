//! Sink policies end to end (PostgreSQL source → broker → `sluice sink` into PostgreSQL):
//! dead-letter versus fail for poison records, and transaction-consistent apply watched by a
//! concurrent checker that must never see half a source transaction.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(90);

fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_ascii_alphanumeric() || c == '_' { vec![c] } else { vec!['\\', c] })
        .collect()
}

struct Source {
    proc_: common::SluiceProcess,
    prefix: String,
    url: String,
    src: tokio_postgres::Client,
    dir: std::path::PathBuf,
}

async fn source(name: &str, ddl: &str, extra: &str) -> anyhow::Result<Source> {
    let tb = testbed();
    let db = tb.postgres.create_database(name).await?;
    let src = tb.postgres.connect(&db).await?;
    src.batch_execute(ddl).await?;
    let dir = tb.scratch_dir(name)?;
    let prefix = unique("pol");
    let port = free_port()?;
    let mut p =
        common::start_source(&dir, "source", &common::pg_source_config(&db, &prefix, port, extra), port)
            .await?;
    common::wait_log(&mut p, "streaming", T).await?;
    Ok(Source { proc_: p, prefix, url: format!("http://127.0.0.1:{port}"), src, dir })
}

async fn count(c: &tokio_postgres::Client, sql: &str) -> anyhow::Result<i64> {
    match c.query_one(sql, &[]).await {
        Ok(r) => Ok(r.get(0)),
        Err(e) if e.as_db_error().is_some_and(|d| d.code().code() == "42P01") => Ok(-1),
        Err(e) => Err(e.into()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_records_are_dead_lettered_or_stop_the_sink() -> anyhow::Result<()> {
    let s = source("sinkpoison", "CREATE TABLE acct (id int PRIMARY KEY, qty int)", "").await?;
    let tb = testbed();
    // The targets refuse negative quantities; the source does not.
    let dlq_db = tb.postgres.create_database("sinkpoison_dlq").await?;
    let fail_db = tb.postgres.create_database("sinkpoison_fail").await?;
    let mut dsts = Vec::new();
    for db in [&dlq_db, &fail_db] {
        let c = tb.postgres.connect(db).await?;
        c.batch_execute(
            "CREATE TABLE acct (id int PRIMARY KEY, qty int CONSTRAINT qty_not_negative CHECK (qty >= 0))",
        )
        .await?;
        dsts.push(c);
    }
    s.src
        .batch_execute(
            "INSERT INTO acct SELECT g, CASE WHEN g = 50 THEN -5 ELSE g END FROM generate_series(1, 100) g",
        )
        .await?;
    let topic = format!("{}.public.acct", s.prefix);
    // An undecodable record in the same topic, after the rows.
    let c: BaseConsumer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &tb.kafka.bootstrap).create()?;
    common::wait_for_topic(&c, &topic, T).await?;
    let start = Instant::now();
    while tokio::task::block_in_place(|| c.fetch_watermarks(&topic, 0, Duration::from_secs(5)))?.1 < 100 {
        assert!(start.elapsed() < T, "the source did not publish the rows");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let producer: rdkafka::producer::BaseProducer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &tb.kafka.bootstrap).create()?;
    producer
        .send(rdkafka::producer::BaseRecord::to(&topic).key(&b"k"[..]).payload(&b"not avro"[..]))
        .map_err(|(e, _)| e)?;
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(10))?;
    s.src.batch_execute("INSERT INTO acct VALUES (101, 101)").await?;

    let dlq = unique("dlq");
    let regex = format!("^{}\\.public\\.acct$", escape(&s.prefix));
    let sink = common::start_sink(
        &s.dir,
        "dlq",
        &common::pg_sink_config(
            &dlq_db,
            "dlq",
            &unique("g"),
            &regex,
            &s.url,
            &format!("on_error = \"dead-letter\"\ndead_letter_topic = \"{dlq}\""),
        ),
    )?;
    let start = Instant::now();
    while count(&dsts[0], "SELECT count(*) FROM acct").await? != 100 {
        assert!(start.elapsed() < T, "dead-letter sink did not apply the good rows:\n{}", sink.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(count(&dsts[0], "SELECT count(*) FROM acct WHERE id = 50").await?, 0);
    let letters = common::read_with_headers(&dlq, 2)?;
    assert_eq!(letters.len(), 2, "{letters:?}");
    let by_class =
        |class: &str| letters.iter().find(|(_, h)| common::header(h, "sluice.error.class") == class).unwrap();
    let (_, applied) = by_class("apply");
    assert!(common::header(applied, "sluice.error.message").contains("qty_not_negative"), "{letters:?}");
    let poison_offset: i64 = common::header(applied, "sluice.error.offset").parse()?;
    let (payload, decoded) = by_class("decode");
    assert_eq!(common::header(decoded, "sluice.error.topic"), topic);
    assert_eq!(common::header(decoded, "sluice.error.sink"), "dlq");
    assert_eq!(payload.as_deref(), Some(&b"not avro"[..]));
    drop(sink);

    // Fail mode: the sink stops at the refused row with a clear error and stores nothing past it.
    let mut strict = common::start_sink(
        &s.dir,
        "fail",
        &common::pg_sink_config(&fail_db, "fail", &unique("g"), &regex, &s.url, "batch_max_events = 10"),
    )?;
    let start = Instant::now();
    let status = loop {
        if let Some(st) = strict.child.try_wait()? {
            break st;
        }
        assert!(start.elapsed() < T, "fail-mode sink did not stop:\n{}", strict.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!status.success());
    assert!(strict.log_text().contains("qty_not_negative"), "{}", strict.log_text());
    let rows = count(&dsts[1], "SELECT count(*) FROM acct").await?;
    assert!(rows < 50, "rows at or after the poison record were committed: {rows}");
    let stored = count(&dsts[1], "SELECT coalesce(max(next_offset), 0) FROM sluice_offsets").await?;
    assert!(stored <= poison_offset, "offset stored past the poison record: {stored} > {poison_offset}");
    Ok(())
}

const ORDERS_DDL: &str = "
    CREATE TABLE orders (id int PRIMARY KEY, total int NOT NULL);
    CREATE TABLE lines (order_id int, n int, amount int NOT NULL, PRIMARY KEY (order_id, n));";

/// Rows of lines whose order is missing or whose amounts do not add up to the order's total,
/// read in one snapshot. `-1` before the target tables exist.
const BROKEN: &str = "
    SELECT (SELECT count(*) FROM orders o
             WHERE o.total <> coalesce((SELECT sum(amount) FROM lines l WHERE l.order_id = o.id), 0))
         + (SELECT count(*) FROM lines l WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = l.order_id))";

#[tokio::test(flavor = "multi_thread")]
async fn transaction_consistent_mode_never_shows_half_a_transaction() -> anyhow::Result<()> {
    let s = source("sinktxn", ORDERS_DDL, "transaction_topic = true").await?;
    let tb = testbed();
    let dst_db = tb.postgres.create_database("sinktxn_dst").await?;
    let dst = tb.postgres.connect(&dst_db).await?;
    let regex = format!("^{}\\.public\\..*", escape(&s.prefix));
    let sink = common::start_sink(
        &s.dir,
        "sink",
        &common::pg_sink_config(
            &dst_db,
            "txn",
            &unique("g"),
            &regex,
            &s.url,
            &format!(
                "batch_max_events = 7\ntransaction_consistent = true\ntransaction_topic = \"{}.transaction\"",
                s.prefix
            ),
        ),
    )?;
    // Each source transaction keeps every order's total equal to the sum of its lines.
    let writer = {
        let db: String = s.src.query_one("SELECT current_database()", &[]).await?.get(0);
        let c = tb.postgres.connect(&db).await?;
        tokio::spawn(async move {
            for i in 1..=300 {
                c.batch_execute(&format!(
                    "BEGIN;
                     INSERT INTO lines VALUES ({i}, 1, {i}), ({i}, 2, 1), ({i}, 3, 2);
                     INSERT INTO orders VALUES ({i}, {i} + 3);
                     COMMIT;"
                ))
                .await?;
                if i % 3 == 0 {
                    let j = i - 1;
                    c.batch_execute(&format!(
                        "BEGIN;
                         UPDATE lines SET amount = amount + 5 WHERE order_id = {j} AND n = 1;
                         UPDATE orders SET total = total + 5 WHERE id = {j};
                         COMMIT;"
                    ))
                    .await?;
                }
                if i % 10 == 0 {
                    let j = i - 5;
                    c.batch_execute(&format!(
                        "BEGIN; DELETE FROM orders WHERE id = {j}; DELETE FROM lines WHERE order_id = {j}; COMMIT;"
                    ))
                    .await?;
                }
            }
            anyhow::Ok(())
        })
    };
    let mut checks = 0u64;
    let start = Instant::now();
    loop {
        let broken = count(&dst, BROKEN).await?;
        assert!(
            broken <= 0,
            "a reader saw a half-applied source transaction ({broken} rows):\n{}",
            sink.log_text()
        );
        checks += 1;
        if writer.is_finished() {
            let want = count(&s.src, "SELECT count(*) FROM lines").await?;
            if count(&dst, "SELECT count(*) FROM lines").await? == want
                && count(&dst, "SELECT coalesce(sum(total), 0) FROM orders").await?
                    == count(&s.src, "SELECT coalesce(sum(total), 0) FROM orders").await?
            {
                break;
            }
        }
        assert!(
            start.elapsed() < T * 2,
            "target never caught up:\n{}\n--- source:\n{}",
            sink.log_text(),
            s.proc_.log_text()
        );
    }
    writer.await??;
    assert!(checks > 20, "the checker ran only {checks} times");
    Ok(())
}
