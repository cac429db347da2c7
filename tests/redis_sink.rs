//! The Redis target end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! with `type = "redis"`, read back with redis-py and compared value by value with the source
//! table (each column rendered by PostgreSQL in the portable text the target documents). The
//! workload mixes inserts, updates (unchanged TOAST values included), deletes and a truncate
//! while the sink is killed with `kill -9` three times; a composite key with a `:` checks key
//! escaping.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(180);

const DDL: &str = "
    CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), ts timestamptz,
        d date, flag boolean, doc jsonb, u uuid, tags text[], big text);
    ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
    CREATE TABLE stock (sku text, wh int, qty bigint NOT NULL, PRIMARY KEY (sku, wh));";

/// Each column as the Redis target writes it (docs/sinks.md, Redis target).
const ITEMS: &str = "SELECT id::text, name, price::text,
        to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00', d::text, flag::text,
        doc::text, u::text, to_json(tags)::text, big FROM items";
const ITEM_COLUMNS: &str = "name,price,ts,d,flag,doc,u,tags,big";

async fn workload(c: &tokio_postgres::Client, from: i32, to: i32) -> anyhow::Result<()> {
    c.batch_execute(&format!(
        "INSERT INTO items SELECT g, 'n' || g, g * 1.25, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1.5 second',
             DATE '2020-02-29' + g, g % 2 = 0, jsonb_build_object('g', g, 'a', jsonb_build_array(1, 'x')),
             md5(g::text)::uuid, ARRAY['a', 'b' || g], repeat('big', 3000)
         FROM generate_series({from}, {to}) g;
         UPDATE items SET name = 'upd' || id, price = NULL WHERE id BETWEEN {from} AND {to} AND id % 3 = 0;
         DELETE FROM items WHERE id BETWEEN {from} AND {to} AND id % 7 = 0;
         INSERT INTO stock SELECT 'sku:' || (g % 50), g / 50, g FROM generate_series({from}, {to}) g
             ON CONFLICT (sku, wh) DO UPDATE SET qty = stock.qty + EXCLUDED.qty;"
    ))
    .await?;
    Ok(())
}

/// `{key parts: values}` of a PostgreSQL query whose first `key_columns` columns are the key.
async fn expected(
    c: &tokio_postgres::Client,
    sql: &str,
    key_columns: usize,
) -> anyhow::Result<BTreeMap<String, Vec<Option<String>>>> {
    let mut out = BTreeMap::new();
    for r in c.query(sql, &[]).await? {
        let cells: Vec<Option<String>> = (0..r.len()).map(|i| r.get(i)).collect();
        let key: Vec<String> = cells[..key_columns]
            .iter()
            .map(|k| k.clone().unwrap_or_default().replace('\\', "\\\\").replace(':', "\\:"))
            .collect();
        out.insert(key.join(":"), cells[key_columns..].to_vec());
    }
    Ok(out)
}

/// `{key parts: values}` of the Redis hashes under `prefix`, read with redis-py.
fn redis_rows(prefix: &str, columns: &str) -> anyhow::Result<BTreeMap<String, Vec<Option<String>>>> {
    let tb = testbed();
    let out = std::process::Command::new(&tb.python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/redis_rows.py"))
        .arg(tb.redis.url())
        .arg(prefix)
        .arg(columns)
        .output()?;
    anyhow::ensure!(out.status.success(), "redis_rows.py: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_redis_survives_kill_nine_and_ends_equal_value_by_value() -> anyhow::Result<()> {
    let tb = testbed();
    let src_db = tb.postgres.create_database("redissrc").await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute(DDL).await?;
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
    let writer = {
        let c = tb.postgres.connect(&src_db).await?;
        tokio::spawn(async move {
            for i in 0..20 {
                workload(&c, i * 500 + 1, i * 500 + 500).await?;
                if i == 10 {
                    c.batch_execute("TRUNCATE stock").await?;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            // Unchanged TOAST: `big` is not sent by the source for these updates.
            c.batch_execute("UPDATE items SET flag = NOT flag WHERE id % 5 = 0").await?;
            anyhow::Ok(())
        })
    };
    for round in 0..3 {
        let mut sink = common::start_sink(&dir, &format!("sink{round}"), &config)?;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        if let Some(status) = sink.child.try_wait()? {
            anyhow::bail!("sink exited with {status}:\n{}", sink.log_text());
        }
        sink.child.kill()?; // SIGKILL
        sink.child.wait()?;
    }
    writer.await??;
    let mut sink = common::start_sink(&dir, "final", &config)?;
    let want_items = expected(&src, ITEMS, 1).await?;
    let want_stock = expected(&src, "SELECT sku, wh::text, qty::text FROM stock", 2).await?;
    assert!(want_items.len() > 8000 && !want_stock.is_empty());
    let start = Instant::now();
    loop {
        let items = redis_rows(&format!("{keys}.items"), ITEM_COLUMNS)?;
        let stock = redis_rows(&format!("{keys}.stock"), "qty")?;
        if items == want_items && stock == want_stock {
            break;
        }
        if let Some(status) = sink.child.try_wait()? {
            anyhow::bail!("sink exited with {status}:\n{}", sink.log_text());
        }
        if start.elapsed() > T {
            let diff: Vec<_> = want_items
                .iter()
                .filter(|(k, v)| items.get(*k) != Some(v))
                .take(3)
                .map(|(k, v)| format!("{k}: want {v:?}, got {:?}", items.get(k)))
                .collect();
            anyhow::bail!(
                "redis differs: items {} of {} rows, stock {} of {}; first differences: {diff:#?}\n{}",
                items.len(),
                want_items.len(),
                stock.len(),
                want_stock.len(),
                sink.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sink.child.kill()?;
    Ok(())
}
