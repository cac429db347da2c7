//! Fan-out: one `sluice source` and six sinks consuming the same topics at once, each its own
//! consumer group — PostgreSQL, Redis, MongoDB, DynamoDB, OpenSearch and the Redis change log —
//! while the document workload runs; every target ends equal to the source (each read back with
//! its own client), and the change log holds one entry per change record (tombstones excepted).

mod common;

use std::time::Duration;

use common::doc_targets::Doc;
use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread")]
async fn one_source_feeds_relational_document_and_key_value_targets_at_once() -> anyhow::Result<()> {
    let tb = testbed();
    let src_db = tb.postgres.create_database("fansrc").await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute(common::DOC_DDL).await?;
    let dst_db = tb.postgres.create_database("fandst").await?;
    let dst = tb.postgres.connect(&dst_db).await?;
    let dir = tb.scratch_dir("fanout")?;
    let prefix = unique("fan");
    let port = free_port()?;
    let mut source =
        common::start_source(&dir, "source", &common::pg_source_config(&src_db, &prefix, port, ""), port)
            .await?;
    common::wait_log(&mut source, "streaming", T).await?;
    let registry = format!("http://127.0.0.1:{port}");
    let topics = format!("^{prefix}\\.public\\..*");
    let pg_name = unique("fanpg");
    let mut sinks = vec![common::start_sink(
        &dir,
        "postgres",
        &common::pg_sink_config(&dst_db, &pg_name, &pg_name, &topics, &registry, ""),
    )?];
    let mut spaces = Vec::new();
    for target in Doc::ALL {
        let ns = unique("fanns");
        sinks.push(common::start_sink(
            &dir,
            &format!("{target:?}"),
            &target.sink_config(&ns, &prefix, port),
        )?);
        spaces.push((target, ns));
    }
    let log_ns = unique("fanlog");
    let log_config = Doc::Redis
        .sink_config(&log_ns, &prefix, port)
        .replace("type = \"redis\"", "type = \"redis\"\nshape = \"changelog\"");
    sinks.push(common::start_sink(&dir, "changelog", &log_config)?);
    common::spawn_doc_writer_rounds(&src_db, 4).await?.await??;

    for (sink, (target, ns)) in sinks[1..].iter_mut().zip(&spaces) {
        let want = target.want(&src).await?;
        common::wait_keyed_rows_equal(sink, || target.read(ns), &want, T).await?;
    }
    // The PostgreSQL target holds the same types: the Redis rendering reads both the same way.
    let columns: Vec<String> =
        ["key", "name", "price", "ts", "d", "flag", "doc", "u", "tags", "big"].map(String::from).into();
    let mut pg_sink = sinks.remove(0);
    for sql in [Doc::Redis.items_sql(), Doc::Redis.stock_sql()] {
        let sorted = format!("{sql} ORDER BY 1");
        common::wait_pg_rows_equal(&src, &dst, &sorted, &columns, &mut pg_sink, T).await?;
    }
    // The change log: one stream entry per record of each topic, tombstones (the record after
    // each delete) excepted.
    for table in ["items", "stock"] {
        let records = common::high_water(&format!("{prefix}.public.{table}"))?;
        let deadline = std::time::Instant::now() + T;
        loop {
            let entries = changelog_entries(&format!("{log_ns}.{table}"))?;
            let deletes = entries.iter().filter(|(_, op)| op == "d").count() as i64;
            if entries.len() as i64 + deletes == records {
                let mut expected = 0;
                for (offset, op) in &entries {
                    anyhow::ensure!(
                        *offset == expected,
                        "change log of {table}: entry at offset {offset}, want {expected}"
                    );
                    expected = offset + if op == "d" { 2 } else { 1 };
                }
                break;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "change log of {table}: {} entries ({deletes} deletes), {records} records",
                entries.len()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    Ok(())
}

/// (offset, op) of each entry of Redis stream `stream`, read by redis-py.
fn changelog_entries(stream: &str) -> anyhow::Result<Vec<(i64, String)>> {
    let out = std::process::Command::new(&testbed().python)
        .arg(format!("{}/tests/python/changelog_rows.py", env!("CARGO_MANIFEST_DIR")))
        .args(["redis", &testbed().redis.url(), stream])
        .output()?;
    anyhow::ensure!(out.status.success(), "changelog_rows.py: {}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)?;
    Ok(rows.iter().map(|r| (r[2].as_i64().unwrap_or(-1), r[3].as_str().unwrap_or("").to_owned())).collect())
}
