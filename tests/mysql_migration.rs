//! The heterogeneous migration of issue 7: a MariaDB schema with every type of the issue is fully
//! loaded and then streamed into PostgreSQL through `sluice source` → broker → `sluice sink`,
//! while a writer inserts, updates and deletes. The sink creates the PostgreSQL tables with the
//! documented type mapping (docs/sinks.md); after the writer stops the target equals the source,
//! compared value by value through a per-type text form both engines can produce.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use rand::Rng;
use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(200);
const ITEMS: i64 = 60_000;

/// A fully populated row; `{id}` and `{n}` vary it.
const ROW: &str = "INSERT INTO all_types VALUES (
    {id},
    -128, 255, -32768, 65535,
    -8388608, 16777215, -2147483648 + {n}, 4294967295,
    -9223372036854775808, 18446744073709551615,
    -123456789.123, 1.5, 1.2345678901234567,
    b'1', b'1000000011', 2024,
    '2024-02-29', '12:34:56.789', '-838:59:59.000001', '2024-01-02 03:04:05.123456', '1999-12-31 23:59:59',
    '2024-01-02 03:04:05.123456',
    'ab', 'héllo ✓ {n}', '😀 emoji',
    'café €',
    x'00FF10', x'DEADBEEF00', x'FF00FE',
    'happy', 'c,a',
    '{\"a\": [1, 2], \"n\": {n}}', ST_GeomFromText('POINT(1 2)'),
    'not null'
)";

/// How a column is compared: one text form per engine.
#[derive(Clone, Copy)]
enum Form {
    Plain,
    Hex,
    Geometry,
    Bits,
    Json,
}

fn form(column: &str) -> Form {
    match column {
        "c_binary" | "c_varbinary" | "c_blob" => Form::Hex,
        "c_geom" => Form::Geometry,
        "c_bit1" | "c_bit10" => Form::Bits,
        "c_json" => Form::Json,
        _ => Form::Plain,
    }
}

fn maria_expr(c: &str) -> String {
    match form(c) {
        Form::Plain | Form::Json => format!("CAST(`{c}` AS CHAR)"),
        Form::Hex => format!("LOWER(HEX(`{c}`))"),
        Form::Geometry => format!("LOWER(HEX(ST_AsWKB(`{c}`)))"),
        Form::Bits => format!("BIN(`{c}`)"),
    }
}

fn pg_expr(c: &str) -> String {
    match form(c) {
        Form::Hex | Form::Geometry => format!("encode(\"{c}\", 'hex')"),
        _ => format!("\"{c}\"::text"),
    }
}

/// One text form for both engines: fraction digits without trailing zeros, no `+00` zone,
/// BIT without leading zeros (PostgreSQL keeps them, as `bit varying` or boolean), JSON parsed.
fn normalize(column: &str, v: Option<String>) -> Option<String> {
    let mut v = v?;
    match form(column) {
        Form::Json => {
            return Some(serde_json::from_str::<serde_json::Value>(&v).map(|j| j.to_string()).unwrap_or(v))
        }
        Form::Bits => {
            let v = match v.as_str() {
                "true" => "1".to_owned(),
                "false" => "0".to_owned(),
                _ => v,
            };
            let t = v.trim_start_matches('0');
            return Some(if t.is_empty() { "0".into() } else { t.into() });
        }
        _ => {}
    }
    if let Some(s) = v.strip_suffix("+00") {
        v = s.to_owned();
    }
    if v.contains('.') && v.bytes().last().is_some_and(|b| b.is_ascii_digit()) {
        let t = v.trim_end_matches('0').trim_end_matches('.').to_owned();
        v = t;
    }
    Some(v)
}

type Rows = BTreeMap<i64, Vec<Option<String>>>;

async fn maria_rows(c: &mut mysql_async::Conn, table: &str, cols: &[String]) -> anyhow::Result<Rows> {
    let list: Vec<String> = cols.iter().map(|c| maria_expr(c)).collect();
    let rows: Vec<mysql_async::Row> =
        c.query(format!("SELECT CAST(id AS SIGNED), {} FROM {table}", list.join(", "))).await?;
    let mut out = BTreeMap::new();
    for r in rows {
        let mut vals = r.unwrap().into_iter();
        let id: i64 = mysql_async::from_value(vals.next().unwrap());
        let row =
            vals.zip(cols).map(|(v, c)| normalize(c, mysql_async::from_value::<Option<String>>(v))).collect();
        out.insert(id, row);
    }
    Ok(out)
}

async fn pg_rows(c: &tokio_postgres::Client, table: &str, cols: &[String]) -> anyhow::Result<Rows> {
    let list: Vec<String> = cols.iter().map(|c| pg_expr(c)).collect();
    let rows = match c.query(&format!("SELECT id::int8, {} FROM {table}", list.join(", ")), &[]).await {
        Ok(r) => r,
        Err(_) => return Ok(BTreeMap::new()), // not created yet
    };
    Ok(rows
        .iter()
        .map(|r| {
            let vals =
                (0..cols.len()).map(|i| normalize(&cols[i], r.get::<_, Option<String>>(i + 1))).collect();
            (r.get::<_, i64>(0), vals)
        })
        .collect())
}

fn spawn_writer(
    mut c: mysql_async::Conn,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<anyhow::Result<u64>> {
    tokio::spawn(async move {
        let (mut next, mut txns) = (ITEMS + 1, 0u64);
        while !stop.load(Ordering::Relaxed) {
            let (upd, del, typed): (Vec<i64>, i64, i64) = {
                let mut r = rand::rng();
                (
                    (0..4).map(|_| r.random_range(1..next)).collect(),
                    r.random_range(1..next),
                    r.random_range(1..4),
                )
            };
            let upd: Vec<String> = upd.iter().map(ToString::to_string).collect();
            let row = ROW.replace("{id}", &(1000 + txns).to_string()).replace("{n}", &txns.to_string());
            c.query_drop(format!(
                "BEGIN;
                 INSERT INTO items VALUES ({next}, 1, 'new', NOW(6), 1.5);
                 UPDATE items SET a = a + 1, b = CONCAT('upd', a), c = NOW(6), d = d + 1 WHERE id IN ({});
                 DELETE FROM items WHERE id = {del};
                 {row};
                 UPDATE all_types SET c_int = c_int + 1, c_datetime = NOW(6), c_varchar = CONCAT('w', {txns}),
                   c_json = JSON_OBJECT('t', {txns}), c_bit10 = b'11' WHERE id = {typed};
                 COMMIT;",
                upd.join(",")
            ))
            .await?;
            next += 1;
            txns += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(txns)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_migrates_to_postgres_under_writes_and_ends_equal_value_by_value() -> anyhow::Result<()> {
    let tb = testbed();
    let db = tb.mariadb.create_database("mig").await?;
    let mut c = tb.mariadb.connect(Some(&db)).await?;
    c.query_drop("SET time_zone = '+00:00'").await?;
    c.query_drop(common::MARIADB_ALL_TYPES).await?;
    c.query_drop("CREATE TABLE items (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(40), c DATETIME(6), d DECIMAL(12,2))")
        .await?;
    c.query_drop(format!(
        "INSERT INTO items SELECT seq, seq % 1000, MD5(seq), '2026-01-01' + INTERVAL seq SECOND, seq / 7 FROM seq_1_to_{ITEMS}"
    ))
    .await?;
    c.query_drop(ROW.replace("{id}", "1").replace("{n}", "0")).await?;
    c.query_drop(ROW.replace("{id}", "2").replace("{n}", "1")).await?;
    c.query_drop("INSERT INTO all_types (id) VALUES (3)").await?;
    c.query_drop("ANALYZE TABLE items").await?;
    let dst_db = tb.postgres.create_database("mig_dst").await?;
    let dst = tb.postgres.connect(&dst_db).await?;
    dst.batch_execute("SET TimeZone = 'UTC'").await?;
    let dir = tb.scratch_dir("my_mig")?;
    let prefix = unique("mymig");
    let port = free_port()?;

    let stop = Arc::new(AtomicBool::new(false));
    let writer_conn = tb.mariadb.connect(Some(&db)).await?;
    let writer = spawn_writer(writer_conn, stop.clone());
    let config = common::mysql_source_config(&db, &prefix, port).replace(
        "[source.connection]",
        "snapshot_workers = 2\nsnapshot_chunk_rows = 10000\n[source.connection]",
    );
    let started = Instant::now();
    let mut source = common::start_source(&dir, "source", &config, port).await?;
    let url = format!("http://127.0.0.1:{port}");
    let regex = format!("^{prefix}\\.{db}\\..*");
    let sink_cfg =
        common::pg_sink_config(&dst_db, "mymig", &unique("mymig"), &regex, &url, "batch_max_events = 5000");
    let sink = common::start_sink(&dir, "sink", &sink_cfg)?;
    common::wait_log(&mut source, "full load complete", T).await?;
    common::wait_log(&mut source, "streaming", T).await?;
    // Writes continue across the hand-off from load to stream.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let txns = writer.await??;

    let logs = || format!("--- source:\n{}\n--- sink:\n{}", source.log_text(), sink.log_text());
    let cols = |table: &str| -> Vec<String> {
        match table {
            "items" => ["a", "b", "c", "d"].map(String::from).to_vec(),
            _ => common::MARIADB_ALL_TYPES
                .lines()
                .flat_map(|l| l.split(','))
                .filter_map(|p| p.split_whitespace().next().filter(|w| w.starts_with("c_")).map(String::from))
                .collect(),
        }
    };
    for table in ["all_types", "items"] {
        let cols = cols(table);
        let want = maria_rows(&mut c, table, &cols).await?;
        loop {
            let got = pg_rows(&dst, &format!("\"{db}\".{table}"), &cols).await?;
            if got == want {
                break;
            }
            if started.elapsed() > T {
                let differ: Vec<String> = want
                    .iter()
                    .filter(|(k, v)| got.get(k) != Some(v))
                    .take(3)
                    .map(|(k, v)| format!("id {k}:\n  source {v:?}\n  target {:?}", got.get(k)))
                    .collect();
                panic!(
                    "{table}: {} rows in the target, {} in the source; first differences:\n{}\n{}",
                    got.len(),
                    want.len(),
                    differ.join("\n"),
                    logs()
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        eprintln!("{table}: {} rows equal value by value", want.len());
    }
    let types: Vec<(String, String)> = dst
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'all_types' ORDER BY ordinal_position",
            &[&db],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let ty = |c: &str| types.iter().find(|(n, _)| n == c).map(|(_, t)| t.as_str()).unwrap_or("?");
    assert_eq!(ty("c_bigint_u"), "numeric", "{types:?}");
    assert_eq!(ty("c_datetime"), "timestamp without time zone");
    assert_eq!(ty("c_timestamp"), "timestamp with time zone");
    assert_eq!(ty("c_json"), "jsonb");
    assert_eq!(ty("c_blob"), "bytea");
    eprintln!(
        "migration equal after {:.1} s; writer ran {txns} transactions",
        started.elapsed().as_secs_f64()
    );
    assert!(txns > 0);
    Ok(())
}
