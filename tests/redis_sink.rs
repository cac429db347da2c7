//! The Redis target end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! with `type = "redis"`, read back with redis-py and compared value by value with the source
//! table (each column rendered by PostgreSQL in the portable text the target documents). The
//! workload mixes inserts, updates (unchanged TOAST values included), deletes and a truncate
//! while the sink is killed with `kill -9` three times; a composite key with a `:` checks key
//! escaping.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(180);

/// Each column as the Redis target writes it (docs/sinks.md, Redis target); the key escaped.
const ITEMS: &str = "SELECT id::text, name, price::text,
        to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00', d::text, flag::text,
        doc::text, u::text, to_json(tags)::text, big FROM items";
const ITEM_COLUMNS: &str = "name,price,ts,d,flag,doc,u,tags,big";
const STOCK: &str =
    "SELECT replace(replace(sku, '\\', '\\\\'), ':', '\\:') || ':' || wh, qty::text FROM stock";

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_redis_survives_kill_nine_and_ends_equal_value_by_value() -> anyhow::Result<()> {
    let tb = testbed();
    let src_db = tb.postgres.create_database("redissrc").await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute(common::DOC_DDL).await?;
    let dir = tb.scratch_dir("redissink")?;
    let prefix = unique("rds");
    let port = free_port()?;
    let mut source =
        common::start_source(&dir, "source", &common::pg_source_config(&src_db, &prefix, port, ""), port)
            .await?;
    common::wait_log(&mut source, "streaming", T).await?;
    let keys = unique("k");
    let config = format!(
        "[log]\nlevel = \"info\"\n\
         [sink]\ntype = \"redis\"\nname = \"{keys}\"\ngroup_id = \"{keys}\"\ntopic_regex = '^{prefix}\\.public\\..*'\n\
         batch_max_events = 500\nbatch_max_ms = 50\nkey_pattern = \"{keys}.{{table}}\"\n\
         [sink.connection]\nurl = \"{}\"\n\
         [kafka]\nbootstrap_servers = \"{}\"\n\
         [kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n\
         [registry]\nurl = \"http://127.0.0.1:{port}\"\n",
        tb.redis.url(),
        tb.kafka.bootstrap
    );
    let writer = common::spawn_doc_writer(&src_db).await?;
    common::kill_sink_three_times(&dir, &config).await?;
    writer.await??;
    let mut sink = common::start_sink(&dir, "final", &config)?;
    let want = [common::keyed_pg_rows(&src, ITEMS).await?, common::keyed_pg_rows(&src, STOCK).await?];
    assert!(want[0].len() > 8000 && !want[1].is_empty());
    let url = tb.redis.url();
    let read = || {
        Ok(vec![
            common::python_rows("redis_rows.py", &[&url, &format!("{keys}.items"), ITEM_COLUMNS])?,
            common::python_rows("redis_rows.py", &[&url, &format!("{keys}.stock"), "qty"])?,
        ])
    };
    common::wait_keyed_rows_equal(&mut sink, read, &want, T).await?;
    sink.child.kill()?;
    Ok(())
}
