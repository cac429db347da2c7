//! The DynamoDB target end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! with `type = "dynamodb"` (dynalite), read back with boto3 and compared value by value with the
//! source table: numbers as N (exact; DynamoDB normalizes `12.50` to `12.5`), jsonb as nested
//! maps, arrays as lists, timestamps as ISO-8601 text with microseconds, a composite key as
//! partition + sort key. Inserts, updates (unchanged TOAST values included), deletes and a
//! truncate run while the sink is killed with `kill -9` three times.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(180);

/// Each column as boto3 reads it back (tests/python/dynamodb_rows.py renders items as text).
const ITEMS: &str = "SELECT id::text, name, trim_scale(price)::text,
        to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || 'Z', d::text, flag::text,
        replace(doc::text, ' ', ''), u::text, to_json(tags)::text, big FROM items";
const ITEM_COLUMNS: &str = "name,price,ts,d,flag,doc,u,tags,big";
const STOCK: &str =
    "SELECT replace(json_build_object('sku', sku, 'wh', wh)::text, ' ', ''), qty::text FROM stock";

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_dynamodb_survives_kill_nine_and_ends_equal_value_by_value() -> anyhow::Result<()> {
    let tb = testbed();
    let src_db = tb.postgres.create_database("dynsrc").await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute(common::DOC_DDL).await?;
    let dir = tb.scratch_dir("dynsink")?;
    let prefix = unique("dyn");
    let port = free_port()?;
    let mut source =
        common::start_source(&dir, "source", &common::pg_source_config(&src_db, &prefix, port, ""), port)
            .await?;
    common::wait_log(&mut source, "streaming", T).await?;
    let ns = unique("ddb");
    let url = tb.dynamodb.url();
    let config = format!(
        "[log]\nlevel = \"info\"\n\
         [sink]\ntype = \"dynamodb\"\nname = \"{ns}\"\ngroup_id = \"{ns}\"\ntopic_regex = '^{prefix}\\.public\\..*'\n\
         batch_max_events = 500\nbatch_max_ms = 50\ntable_pattern = \"{ns}.{{table}}\"\n\
         [sink.connection]\nendpoint_url = \"{url}\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\n\
         [kafka]\nbootstrap_servers = \"{}\"\n\
         [kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n\
         [registry]\nurl = \"http://127.0.0.1:{port}\"\n",
        tb.kafka.bootstrap
    );
    let writer = common::spawn_doc_writer(&src_db).await?;
    common::kill_sink_three_times(&dir, &config).await?;
    writer.await??;
    let mut sink = common::start_sink(&dir, "final", &config)?;
    let want = [common::keyed_pg_rows(&src, ITEMS).await?, common::keyed_pg_rows(&src, STOCK).await?];
    assert!(want[0].len() > 8000 && !want[1].is_empty());
    let read = || {
        Ok(vec![
            common::python_rows("dynamodb_rows.py", &[&url, &format!("{ns}.items"), "id", ITEM_COLUMNS])?,
            common::python_rows("dynamodb_rows.py", &[&url, &format!("{ns}.stock"), "sku,wh", "qty"])?,
        ])
    };
    common::wait_keyed_rows_equal(&mut sink, read, &want, T).await?;
    sink.child.kill()?;
    Ok(())
}
