//! The MongoDB target end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! with `type = "mongodb"` (SecantusDB), read back with pymongo and compared value by value with
//! the source table: Decimal128 decimals, UUIDs as binary subtype 4, jsonb as nested documents,
//! arrays, dates as BSON dates, timestamps as ISO-8601 text with microseconds, a composite key as
//! an `_id` sub-document. Inserts, updates (unchanged TOAST values included), deletes and a
//! truncate run while the sink is killed with `kill -9` three times.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(180);

/// Each column as pymongo reads it back (tests/python/mongo_rows.py renders BSON as text).
const ITEMS: &str = "SELECT id::text, name, price::text,
        to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || 'Z', d::text || 'T00:00:00', flag::text,
        replace(doc::text, ' ', ''), replace(u::text, '-', ''), to_json(tags)::text, big FROM items";
const ITEM_COLUMNS: &str = "name,price,ts,d,flag,doc,u,tags,big";
const STOCK: &str =
    "SELECT replace(json_build_object('sku', sku, 'wh', wh)::text, ' ', ''), qty::text FROM stock";

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_mongodb_survives_kill_nine_and_ends_equal_value_by_value() -> anyhow::Result<()> {
    let tb = testbed();
    let src_db = tb.postgres.create_database("mongosrc").await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute(common::DOC_DDL).await?;
    let dir = tb.scratch_dir("mongosink")?;
    let prefix = unique("mgo");
    let port = free_port()?;
    let mut source =
        common::start_source(&dir, "source", &common::pg_source_config(&src_db, &prefix, port, ""), port)
            .await?;
    common::wait_log(&mut source, "streaming", T).await?;
    let db = unique("mdb");
    let url = tb.mongodb.url();
    let config = format!(
        "[log]\nlevel = \"info\"\n\
         [sink]\ntype = \"mongodb\"\nname = \"{db}\"\ngroup_id = \"{db}\"\ntopic_regex = '^{prefix}\\.public\\..*'\n\
         batch_max_events = 500\nbatch_max_ms = 50\ndatabase = \"{db}\"\ncollection_pattern = \"{{table}}\"\n\
         [sink.connection]\nurl = \"{url}\"\n\
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
            common::python_rows("mongo_rows.py", &[&url, &db, "items", ITEM_COLUMNS])?,
            common::python_rows("mongo_rows.py", &[&url, &db, "stock", "qty"])?,
        ])
    };
    common::wait_keyed_rows_equal(&mut sink, read, &want, T).await?;
    sink.child.kill()?;
    Ok(())
}
