//! The OpenSearch target end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! with `type = "opensearch"` (osmem-server), read back with opensearch-py and compared value by
//! value with the source table: decimals as exact strings, jsonb as objects, arrays, timestamps
//! as ISO-8601 text with microseconds, a composite key as an escaped `_id`. Inserts, updates
//! (unchanged TOAST values included: completed from the stored document), deletes and a
//! truncate run while the sink is killed with `kill -9` three times. Then a second sink group
//! replays the topics from offset 0 into the same indices — every write is older than or equal
//! to what the index holds, so nothing changes — and a full-text prefix query on `name` returns
//! exactly the source's rows.

mod common;

use common::doc_targets::{survives_kill_nine, Doc};
use sluice_testkit::testbed;

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
