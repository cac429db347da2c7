//! The Iceberg target end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! with `type = "iceberg"` (SQLite catalog, SeaweedFS warehouse), one snapshot per second.
//! Inserts, updates (an unchanged TOAST value among them), deletes, upserts of a composite key
//! and a truncate run while the sink is killed with `kill -9` three times. Then pyiceberg scans
//! each table: every record is in it exactly once; its change rows replayed per key equal the
//! source table value by value; and the current-state query docs/sinks.md gives ("Iceberg
//! target", run with pyarrow on the scan) equals the source too.

mod common;

use std::time::Duration;

use common::doc_targets::Doc;
use serde_json::Value as Json;
use sluice_testkit::{testbed, unique};

const BUCKET: &str = "sluice-iceberg";

const ITEMS_SQL: &str = "SELECT id::text, name, price::text,
    to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || 'Z', d::text, flag::text,
    doc::text, u::text, to_json(tags)::text, big FROM items";
const STOCK_SQL: &str = "SELECT sku || ',' || wh, qty::text FROM stock";
/// `items` without `big`, whose last update left it unchanged (TOAST): the query reads each key's
/// newest row as it is, so it is compared on the columns that row holds.
const ITEMS_NO_BIG_SQL: &str = "SELECT id::text, name, price::text, d::text, flag::text FROM items";

fn script(
    cmd: &str,
    catalog: &str,
    table: &str,
    key: &str,
    columns: &str,
) -> anyhow::Result<common::KeyedRows> {
    common::python_rows("iceberg_rows.py", &[cmd, catalog, &testbed().s3.url(), table, key, columns])
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_iceberg_survives_kill_nine_exactly_once() -> anyhow::Result<()> {
    let t = Duration::from_secs(180);
    let tb = testbed();
    tb.s3.ensure_bucket(BUCKET)?;
    let src_db = tb.postgres.create_database("icesrc").await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute(common::DOC_DDL).await?;
    let dir = tb.scratch_dir("icesink")?;
    let catalog = dir.join("catalog.db").display().to_string();
    let prefix = unique("icek");
    let port = sluice_testkit::free_port()?;
    let mut source =
        common::start_source(&dir, "source", &common::pg_source_config(&src_db, &prefix, port, ""), port)
            .await?;
    common::wait_log(&mut source, "streaming", t).await?;
    let ns = unique("icens");
    let settings = format!(
        "type = \"iceberg\"\nwarehouse = \"s3://{BUCKET}/{ns}\"\nnamespace = \"{ns}\"\ntable_pattern = \"{{table}}\"\n\
         commit_secs = 1\n[sink.catalog]\nuri = \"sqlite://{catalog}?mode=rwc\"\n[sink.connection]\n{}",
        tb.s3.connection()
    );
    let config = Doc::Search.sink_config_for(&ns, &format!("^{prefix}\\.public\\..*"), &settings, port);
    let writer = common::spawn_doc_writer(&src_db).await?;
    common::kill_sink_three_times(&dir, &config).await?;
    writer.await??;
    let want =
        vec![common::keyed_pg_rows(&src, ITEMS_SQL).await?, common::keyed_pg_rows(&src, STOCK_SQL).await?];
    anyhow::ensure!(want[0].len() > 8000 && !want[1].is_empty(), "the workload wrote too little");
    let (items, stock) = (format!("{ns}.items"), format!("{ns}.stock"));
    let mut sink = common::start_sink(&dir, "final", &config)?;
    let read = || -> anyhow::Result<Vec<common::KeyedRows>> {
        Ok(vec![
            script("rows", &catalog, &items, "id", common::doc_targets::ITEM_COLUMNS)?,
            script("rows", &catalog, &stock, "sku,wh", "qty")?,
        ])
    };
    common::wait_keyed_rows_equal(&mut sink, read, &want, t).await?;
    sink.child.kill()?;
    // Exactly once: as many rows as distinct (topic, partition, offset).
    for table in [&items, &stock] {
        let out = tb.python(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/iceberg_rows.py"),
            &["count", &catalog, &tb.s3.url(), table],
        )?;
        let counts: Json = serde_json::from_str(&out)?;
        anyhow::ensure!(
            counts["rows"] == counts["distinct"],
            "{table}: a record is in the table twice: {counts}"
        );
        anyhow::ensure!(counts["snapshots"].as_u64() > Some(3), "{table}: {counts}");
    }
    // The documented current-state query.
    anyhow::ensure!(
        script("state", &catalog, &stock, "sku,wh", "qty")? == want[1],
        "stock: the current-state query differs from the source"
    );
    let items_now = common::keyed_pg_rows(&src, ITEMS_NO_BIG_SQL).await?;
    anyhow::ensure!(
        script("state", &catalog, &items, "id", "name,price,d,flag")? == items_now,
        "items: the current-state query differs from the source"
    );
    Ok(())
}
