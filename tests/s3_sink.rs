//! The object-store target end to end: PostgreSQL source (`sluice source`) → broker →
//! `sluice sink` with `type = "s3"` (SeaweedFS), Parquet files rolled every 500 records or
//! second. Inserts, updates (an unchanged TOAST value among them), deletes, upserts of a
//! composite key and a truncate run while the sink is killed with `kill -9` three times. Then
//! every file is read with boto3 + pyarrow, no record is in two files, and the change rows
//! replayed in offset order per key equal the source tables value by value.

mod common;

use std::time::Duration;

use common::doc_targets::Doc;
use sluice_testkit::{testbed, unique};

const BUCKET: &str = "sluice-e2e";

const ITEMS_SQL: &str = "SELECT id::text, name, price::text,
    to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || 'Z', d::text, flag::text,
    doc::text, u::text, to_json(tags)::text, big FROM items";
const STOCK_SQL: &str = "SELECT sku || ',' || wh, qty::text FROM stock";

fn read(ns: &str) -> anyhow::Result<Vec<common::KeyedRows>> {
    let url = testbed().s3.url();
    Ok(vec![
        common::python_rows(
            "s3_rows.py",
            &["rows", &url, BUCKET, &format!("{ns}/public/items"), "id", common::doc_targets::ITEM_COLUMNS],
        )?,
        common::python_rows(
            "s3_rows.py",
            &["rows", &url, BUCKET, &format!("{ns}/public/stock"), "sku,wh", "qty"],
        )?,
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_s3_parquet_survives_kill_nine_exactly_once() -> anyhow::Result<()> {
    let t = Duration::from_secs(180);
    let tb = testbed();
    tb.s3.ensure_bucket(BUCKET)?;
    let src_db = tb.postgres.create_database("s3src").await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute(common::DOC_DDL).await?;
    let dir = tb.scratch_dir("s3sink")?;
    let prefix = unique("s3k");
    let port = sluice_testkit::free_port()?;
    let mut source =
        common::start_source(&dir, "source", &common::pg_source_config(&src_db, &prefix, port, ""), port)
            .await?;
    common::wait_log(&mut source, "streaming", t).await?;
    let ns = unique("s3ns");
    let settings = format!(
        "type = \"s3\"\nbucket = \"{BUCKET}\"\nprefix = \"{ns}\"\nroll_records = 500\nroll_secs = 1\n\
         [sink.connection]\n{}",
        tb.s3.connection()
    );
    let config = Doc::Search.sink_config_for(&ns, &format!("^{prefix}\\.public\\..*"), &settings, port);
    let writer = common::spawn_doc_writer(&src_db).await?;
    common::kill_sink_three_times(&dir, &config).await?;
    writer.await??;
    let want =
        vec![common::keyed_pg_rows(&src, ITEMS_SQL).await?, common::keyed_pg_rows(&src, STOCK_SQL).await?];
    anyhow::ensure!(want[0].len() > 8000 && !want[1].is_empty(), "the workload wrote too little");
    let mut sink = common::start_sink(&dir, "final", &config)?;
    common::wait_keyed_rows_equal(&mut sink, || read(&ns), &want, t).await?;
    sink.child.kill()?;
    // Every file name is `<topic>+<partition>+<first>-<last>.parquet`, and no two overlap.
    let files = tb.python(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/s3_rows.py"),
        &["files", &tb.s3.url(), BUCKET, &ns],
    )?;
    let mut ranges: Vec<(String, i64, i64)> = Vec::new();
    for key in files.lines() {
        let name = key.rsplit('/').next().unwrap_or_default().trim_end_matches(".parquet");
        let mut parts = name.split('+');
        let (topic, partition, span) = (parts.next(), parts.next(), parts.next());
        let (Some(topic), Some(_), Some((first, last))) =
            (topic, partition, span.and_then(|s| s.split_once('-')))
        else {
            anyhow::bail!("unexpected file name {key}");
        };
        ranges.push((topic.to_owned(), first.parse()?, last.parse()?));
    }
    ranges.sort();
    for w in ranges.windows(2) {
        anyhow::ensure!(w[0].0 != w[1].0 || w[0].2 < w[1].1, "files overlap: {:?} and {:?}", w[0], w[1]);
    }
    anyhow::ensure!(ranges.len() > 10, "only {} files", ranges.len());
    Ok(())
}
