//! Debezium topics applied by `sluice sink`. `tests/python/debezium_produce.py` writes records
//! the way Debezium's PostgreSQL connector (2.x/3.x) does through Confluent's AvroConverter —
//! produced by confluent-kafka's `AvroSerializer` against a `sluice registry` — covering snapshot
//! reads, inserts, updates (one with unchanged-TOAST placeholders), deletes with tombstones, a
//! primary-key change, a truncate, and one topic with `column.propagate.source.type`. The sink
//! applies them into PostgreSQL and every target value must equal, as PostgreSQL's text output,
//! the final state the script computed per key.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sluice_testkit::{testbed, unique};

const T: Duration = Duration::from_secs(120);

/// One target table's rows by key (the key columns' text joined by `|`), each column as text.
type Rows = BTreeMap<String, Vec<Option<String>>>;

/// What the producer expects for one table, and how to read it back.
struct Expected {
    name: String,
    columns: Vec<String>,
    json_columns: Vec<String>,
    key: Vec<usize>,
    rows: Rows,
}

fn expected(t: &Json) -> Expected {
    let strings = |v: &Json| -> Vec<String> {
        v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
    };
    let columns = strings(&t["columns"]);
    let json_columns = strings(&t["json_columns"]);
    let key: Vec<usize> =
        strings(&t["key"]).iter().map(|k| columns.iter().position(|c| c == k).unwrap()).collect();
    let mut rows = Rows::new();
    for r in t["rows"].as_array().unwrap() {
        let cells: Vec<Option<String>> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|v| match v {
                Json::Null => None,
                Json::String(s) => Some(s.clone()),
                // A json column's document: compared parsed.
                other => Some(other.to_string()),
            })
            .collect();
        rows.insert(row_key(&key, &cells), cells);
    }
    Expected { name: t["name"].as_str().unwrap().to_owned(), columns, json_columns, key, rows }
}

fn row_key(key: &[usize], cells: &[Option<String>]) -> String {
    key.iter().map(|&i| cells[i].clone().unwrap_or_default()).collect::<Vec<_>>().join("|")
}

async fn target_rows(c: &tokio_postgres::Client, e: &Expected) -> anyhow::Result<Rows> {
    let cols: Vec<String> = e.columns.iter().map(|c| format!("\"{c}\"::text")).collect();
    let sql = format!("SELECT {} FROM {}", cols.join(", "), e.name);
    let mut out = Rows::new();
    for r in c.query(&sql, &[]).await? {
        let cells: Vec<Option<String>> = (0..e.columns.len()).map(|i| r.get(i)).collect();
        out.insert(row_key(&e.key, &cells), cells);
    }
    Ok(out)
}

/// Compare value by value; json columns as parsed documents. Returns every difference.
fn differences(e: &Expected, got: &Rows) -> Vec<String> {
    let mut diffs = Vec::new();
    for k in e.rows.keys().chain(got.keys().filter(|k| !e.rows.contains_key(*k))) {
        let (want, have) = match (e.rows.get(k), got.get(k)) {
            (Some(w), Some(h)) => (w, h),
            (w, h) => {
                diffs.push(format!("{} key {k}: expected {w:?}, target has {h:?}", e.name));
                continue;
            }
        };
        for (i, col) in e.columns.iter().enumerate() {
            let same = if e.json_columns.contains(col) {
                let parse =
                    |s: &Option<String>| s.as_deref().map(|s| serde_json::from_str::<Json>(s).unwrap());
                parse(&want[i]) == parse(&have[i])
            } else {
                want[i] == have[i]
            };
            if !same {
                diffs.push(format!(
                    "{} key {k} column {col}: expected {:?}, target has {:?}",
                    e.name, want[i], have[i]
                ));
            }
        }
    }
    diffs
}

#[tokio::test(flavor = "multi_thread")]
async fn debezium_postgres_topics_are_applied_value_by_value() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("dbzsink")?;
    let prefix = unique("dbz");
    let (_registry, url) = common::start_registry(&dir, &format!("{prefix}._schemas")).await?;
    let out = tb.python(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/debezium_produce.py"),
        &[&tb.kafka.bootstrap, &url, &prefix],
    )?;
    let produced: Json = serde_json::from_str(out.trim())?;
    let topics: Vec<(String, i64)> = produced["topics"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, n)| (t.clone(), n.as_i64().unwrap()))
        .collect();
    for (topic, n) in &topics {
        assert_eq!(common::high_water(topic)?, *n, "records in {topic}");
    }
    let tables: Vec<Expected> = produced["tables"].as_array().unwrap().iter().map(expected).collect();

    let dst_db = tb.postgres.create_database("dbzsink_dst").await?;
    let dst = tb.postgres.connect(&dst_db).await?;
    dst.batch_execute("SET TimeZone = 'UTC'").await?;
    let regex = format!("^{}\\.(public|inv)\\..*", prefix.replace('.', "\\."));
    let sink = common::start_sink(
        &dir,
        "sink",
        &common::pg_sink_config(&dst_db, "dbz", &unique("g"), &regex, &url, "batch_max_events = 7"),
    )?;

    // Every record applied: the sink's stored offsets reach each topic's end.
    let start = Instant::now();
    loop {
        let mut stored: Vec<(String, i64)> = match dst
            .query("SELECT topic, next_offset FROM sluice_offsets WHERE sink_name = 'dbz' ORDER BY 1", &[])
            .await
        {
            Ok(r) => r.iter().map(|x| (x.get(0), x.get(1))).collect(),
            Err(e) if e.as_db_error().is_some_and(|d| d.code().code() == "42P01") => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        stored.sort();
        let mut want = topics.clone();
        want.sort();
        if stored == want {
            break;
        }
        assert!(
            start.elapsed() < T,
            "sink stored {stored:?}, topics end at {want:?}\n--- sink log:\n{}",
            sink.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut diffs = Vec::new();
    for e in &tables {
        assert!(!e.rows.is_empty(), "{}: nothing expected", e.name);
        diffs.extend(differences(e, &target_rows(&dst, e).await?));
    }
    assert!(diffs.is_empty(), "target differs from what Debezium sent:\n{}", diffs.join("\n"));

    // Types of the created tables (no source types in public.customers; Debezium's own type
    // names in inv.orders).
    let types = |table: &'static str| {
        let dst = &dst;
        async move {
            let r = dst
                .query_one(
                    "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
                     FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0",
                    &[&table],
                )
                .await?;
            anyhow::Ok(r.get::<_, String>(0))
        }
    };
    // `column.propagate.source.type`: Debezium's pg_type names (VARCHAR(20), INT4, …) become the
    // same PostgreSQL types.
    assert_eq!(
        types("inv.orders").await?,
        "sku character varying(20), wh integer, qty bigint, price numeric(10,3), placed timestamp with time zone, note text"
    );
    let customers = types("public.customers").await?;
    for want in [
        "balance numeric(12,2)",
        "ratio numeric",
        "signed_up timestamp without time zone",
        "last_seen timestamp with time zone",
        "ext_id uuid",
        "lucky integer[]",
        "visits smallint",
    ] {
        assert!(customers.contains(want), "{want} not in {customers}");
    }
    Ok(())
}
