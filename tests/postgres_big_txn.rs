//! A 1,000,000-row single transaction streams with bounded memory: the server streams it in
//! chunks (`logical_decoding_work_mem`), Sluice spills it to disk past `max_buffered_bytes`, and
//! the source's peak RSS stays under 300 MB. The peak is printed in the test output.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice_testkit::{free_port, testbed, unique};

const ROWS: u64 = 1_000_000;

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn million_row_transaction_streams_with_bounded_memory() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("bigtxn")?;
    let db = tb.postgres.create_database("bigtxn").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, pad text)").await?;
    let prefix = unique("big");
    let port = free_port()?;
    let spill = dir.join("spill");
    std::fs::create_dir_all(&spill)?;
    let extra = format!(
        "logical_decoding_work_mem = \"4MB\"\nmax_buffered_bytes = 16000000\nspill_dir = \"{}\"",
        spill.display()
    );
    let mut src =
        common::start_source(&dir, "source", &common::pg_source_config(&db, &prefix, port, &extra), port)
            .await?;
    common::wait_log(&mut src, "streaming", Duration::from_secs(60)).await?;
    let started = Instant::now();
    c.batch_execute(&format!("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g"))
        .await?;

    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &tb.kafka.bootstrap)
        .set("group.id", unique("bigcount"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let topic = format!("{prefix}.public.t");
    // Wait for the topic, then count records.
    common::wait_for_topic(&consumer, &topic, Duration::from_secs(600)).await?;
    consumer.subscribe(&[&topic])?;
    let mut n = 0u64;
    while n < ROWS {
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "{n} of {ROWS} after 15 min:\n{}",
            src.log_text()
        );
        if let Some(m) = tokio::task::block_in_place(|| consumer.poll(Duration::from_millis(500))) {
            m?;
            n += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let peak_mb = peak_rss_kb(src.child.id()).unwrap_or(0) / 1024;
    eprintln!(
        "1M-row transaction: {ROWS} events in {secs:.1}s ({:.0} rows/s), source peak RSS {peak_mb} MB",
        ROWS as f64 / secs
    );
    assert!(peak_mb > 0 && peak_mb < 300, "peak RSS {peak_mb} MB");
    assert!(src.log_text().contains("streaming"));
    Ok(())
}
