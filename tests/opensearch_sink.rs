//! The OpenSearch target end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! with `type = "opensearch"` (osmem-server), read back with opensearch-py and compared value by
//! value with the source table: decimals as exact strings, jsonb as objects, arrays, timestamps
//! as ISO-8601 text with microseconds, a composite key as an escaped `_id`. Inserts, updates
//! (unchanged TOAST values included: completed from the stored document), deletes and a
//! truncate run while the sink is killed with `kill -9` three times. Then a second sink group
//! replays the topics from offset 0 into the same indices — every write is older than or equal
//! to what the index holds, so nothing changes — and a full-text prefix query on `name` returns
//! exactly the source's rows.
//!
//! The same from MariaDB (binlog versions: file index and position): inserts, updates, deletes,
//! a composite key and a truncate while the sink is killed three times, then every document
//! compared with the source row.

mod common;

use std::time::Duration;

use common::doc_targets::{survives_kill_nine, Doc};
use mysql_async::prelude::Queryable;
use sluice_testkit::{free_port, testbed, unique};

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_opensearch_survives_kill_nine_replays_from_zero_and_answers_queries(
) -> anyhow::Result<()> {
    let run = survives_kill_nine(Doc::Search, "osk").await?;
    // A replay from offset 0 by another group (its own offsets) into the same indices.
    let replay = run.config.replacen(&format!("name = \"{}\"", run.ns), "name = \"replay\"", 1).replacen(
        &format!("group_id = \"{}\"", run.ns),
        &format!("group_id = \"{}-replay\"", run.ns),
        1,
    );
    anyhow::ensure!(replay != run.config, "the replay config must differ");
    let mut sink = common::start_sink(&run.dir, "replay", &replay)?;
    // Done when the replay group has stored, for `items`, the offset the first group stored
    // (not the high watermark: a broker may give offsets to transaction markers).
    let items_topic = format!("{}.public.items", run.prefix);
    let started = std::time::Instant::now();
    loop {
        let stored = common::python_rows(
            "opensearch_rows.py",
            &[&testbed().opensearch.url(), "sluice_offsets", "next_offset"],
        )?;
        let next = |sink: &str| {
            stored.get(&format!("{sink}:{items_topic}:0")).and_then(|v| v[0].as_deref()?.parse::<i64>().ok())
        };
        if let (Some(first), Some(replayed)) = (next(&run.ns), next("replay")) {
            if replayed >= first {
                break;
            }
        }
        anyhow::ensure!(started.elapsed().as_secs() < 180, "the replay did not finish:\n{}", sink.log_text());
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let after = Doc::Search.read(&run.ns)?;
    anyhow::ensure!(after == run.want, "the replay from offset 0 changed the index");
    sink.child.kill()?;
    // A full-text query answers what the source has.
    let want: Vec<String> = run
        .src
        .query("SELECT id::text FROM items WHERE name LIKE 'upd%' ORDER BY 1", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let out = testbed().python(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/opensearch_search.py"),
        &[&testbed().opensearch.url(), &format!("{}.items", run.ns), "name", "upd"],
    )?;
    let mut got: Vec<String> = serde_json::from_str(&out)?;
    got.sort();
    let mut want = want;
    want.sort();
    anyhow::ensure!(!want.is_empty() && got == want, "query: {} hits, source {} rows", got.len(), want.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_to_opensearch_survives_kill_nine() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("myosk")?;
    let db = tb.mariadb.create_database("myosk").await?;
    let mut c = tb.mariadb.connect(Some(&db)).await?;
    c.query_drop(
        "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, \
         price DECIMAL(12,2), ts DATETIME(6), qty INT, note TEXT); \
         CREATE TABLE pairs (a VARCHAR(20) NOT NULL, b INT NOT NULL, qty INT, PRIMARY KEY (a, b))",
    )
    .await?;
    let prefix = unique("myosk");
    let port = free_port()?;
    let mut source =
        common::start_source(&dir, "source", &common::mysql_source_config(&db, &prefix, port), port).await?;
    common::wait_log(&mut source, "streaming", Duration::from_secs(60)).await?;
    let ns = unique("myoskns");
    let topics = format!("^{prefix}\\.{db}\\.(items|pairs)$");
    let config = Doc::Search.sink_config_for(&ns, &topics, &Doc::Search.settings(&ns), port);
    let writer = {
        let mut c = tb.mariadb.connect(Some(&db)).await?;
        tokio::spawn(async move {
            for r in 0..20i64 {
                let (first, last) = (r * 400 + 1, r * 400 + 400);
                c.query_drop(format!(
                    "BEGIN; \
                     INSERT INTO items SELECT seq, CONCAT('new', seq), seq / 4, \
                       TIMESTAMP'2024-01-02 03:04:05.123456' + INTERVAL seq SECOND, seq % 7, REPEAT('x', seq % 50) \
                       FROM seq_{first}_to_{last}; \
                     UPDATE items SET name = CONCAT('upd', id), price = price + 1.25, ts = NULL \
                       WHERE id % 20 = {m} AND id <= {last}; \
                     DELETE FROM items WHERE id % 50 = {d} AND id < {first}; \
                     INSERT INTO pairs SELECT CONCAT('sku-', seq % 30), seq % 4, 1 FROM seq_{first}_to_{last} \
                       ON DUPLICATE KEY UPDATE qty = qty + 1; \
                     DELETE FROM pairs WHERE b = {b} AND a LIKE 'sku-1%'; \
                     COMMIT",
                    m = r % 20,
                    d = (r * 7) % 50,
                    b = r % 4,
                ))
                .await?;
                if r == 10 {
                    c.query_drop("TRUNCATE pairs").await?;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            c.disconnect().await?;
            anyhow::Ok(())
        })
    };
    common::kill_sink_three_times(&dir, &config).await?;
    writer.await??;
    let mut want = Vec::new();
    for sql in [
        "SELECT CAST(id AS CHAR), name, CAST(price AS CHAR), DATE_FORMAT(ts, '%Y-%m-%dT%H:%i:%s.%f'), \
         CAST(qty AS CHAR), note FROM items",
        "SELECT CONCAT(a, ':', b), CAST(qty AS CHAR) FROM pairs",
    ] {
        let rows: Vec<mysql_async::Row> = c.query(sql).await?;
        let mut keyed = common::KeyedRows::new();
        for row in rows {
            let mut cells: Vec<Option<String>> =
                (0..row.len()).map(|i| row.get::<Option<String>, _>(i).flatten()).collect();
            keyed.insert(cells.remove(0).unwrap_or_default(), cells);
        }
        want.push(keyed);
    }
    anyhow::ensure!(
        want[0].len() > 5000 && !want[1].is_empty(),
        "the workload wrote too little: {} items, {} pairs",
        want[0].len(),
        want[1].len()
    );
    let url = tb.opensearch.url();
    let read = || -> anyhow::Result<Vec<common::KeyedRows>> {
        Ok(vec![
            common::python_rows(
                "opensearch_rows.py",
                &[&url, &format!("{ns}.items"), "name,price,ts,qty,note"],
            )?,
            common::python_rows("opensearch_rows.py", &[&url, &format!("{ns}.pairs"), "qty"])?,
        ])
    };
    let mut sink = common::start_sink(&dir, "final", &config)?;
    common::wait_keyed_rows_equal(&mut sink, read, &want, Duration::from_secs(180)).await?;
    sink.child.kill()?;
    c.disconnect().await?;
    Ok(())
}
