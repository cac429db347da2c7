//! The PostgreSQL sink end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! into a second database on the same server. Checks what a user would: the target's rows equal
//! the source's, row by row, after inserts, updates (including unchanged TOAST columns), deletes
//! and truncates; after `kill -9` of the sink and a restart; and after replaying every topic from
//! the beginning under a new consumer group.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(180);

const TABLES: &[&str] = &["public.typed", "inv.items"];

const DDL: &str = "
    CREATE TABLE typed (
        id int PRIMARY KEY, n numeric(14,4), f float8, ts timestamptz, tsl timestamp, d date,
        u uuid, j jsonb, b bytea, arr int[], tarr text[], iv interval, tt timetz, t time,
        flag boolean, big text, vc varchar(20));
    CREATE SCHEMA inv;
    CREATE TABLE inv.items (sku text, wh int, qty bigint NOT NULL, PRIMARY KEY (sku, wh));";

/// Every row of `table` as text, in key order.
async fn rows(c: &tokio_postgres::Client, table: &str) -> anyhow::Result<Vec<String>> {
    let sql = format!("SELECT x::text FROM {table} x ORDER BY 1");
    match c.query(&sql, &[]).await {
        Ok(r) => Ok(r.iter().map(|row| row.get::<_, String>(0)).collect()),
        Err(e) if e.as_db_error().is_some_and(|d| d.code().code() == "42P01") => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Wait until every table of the target equals the source's.
async fn wait_equal(
    src: &tokio_postgres::Client,
    dst: &tokio_postgres::Client,
    sink: &common::SluiceProcess,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let mut equal = true;
        let mut diff = String::new();
        for t in TABLES {
            let (a, b) = (rows(src, t).await?, rows(dst, t).await?);
            if a != b {
                equal = false;
                diff = format!(
                    "{t}: source {} rows, target {} rows\nsource {a:?}\ntarget {b:?}",
                    a.len(),
                    b.len()
                );
            }
        }
        if equal {
            return Ok(());
        }
        if start.elapsed() > T {
            anyhow::bail!("target never equalled source: {diff}\n--- sink log:\n{}", sink.log_text());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn offsets(dst: &tokio_postgres::Client, name: &str) -> anyhow::Result<Vec<(String, i32, i64)>> {
    let r = dst
        .query(
            "SELECT topic, partition, next_offset FROM sluice_offsets WHERE sink_name = $1 ORDER BY 1, 2",
            &[&name],
        )
        .await?;
    Ok(r.iter().map(|x| (x.get(0), x.get(1), x.get(2))).collect())
}

/// High-water mark of each topic's partition 0.
fn high_water(topics: &[String]) -> anyhow::Result<Vec<i64>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &testbed().kafka.bootstrap).create()?;
    topics.iter().map(|t| Ok(c.fetch_watermarks(t, 0, Duration::from_secs(10))?.1)).collect()
}

async fn workload(c: &tokio_postgres::Client, from: i32, to: i32) -> anyhow::Result<()> {
    c.batch_execute(&format!(
        "INSERT INTO typed SELECT g, g * 1.0001, g / 3.0, '2024-02-29 12:34:56.789012+02'::timestamptz + g * interval '1 day',
            '1999-12-31 23:59:59.999999'::timestamp - g * interval '1 hour', '0044-03-15 BC'::date + g,
            md5(g::text)::uuid, jsonb_build_object('g', g, 's', 'x\"y'), decode(md5(g::text), 'hex'),
            ARRAY[g, NULL, -g], ARRAY['a\"b', 'c\\d', NULL, 'e,f'], make_interval(0, -g, 0, g, 1, 2, 3.5),
            '10:11:12.5+05:30'::timetz, '23:59:59.999999'::time, g % 2 = 0,
            CASE WHEN g % 10 = 0 THEN (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 200)) ELSE 'small' END,
            'v' || g
          FROM generate_series({from}, {to}) g;
         INSERT INTO inv.items SELECT 'sku' || g, g % 3, g FROM generate_series({from}, {to}) g;
         UPDATE typed SET n = -n, j = NULL WHERE id % 3 = 0 AND id BETWEEN {from} AND {to};
         UPDATE inv.items SET qty = qty + 1000 WHERE wh = 1 AND qty BETWEEN {from} AND {to};
         DELETE FROM typed WHERE id % 7 = 0 AND id BETWEEN {from} AND {to};
         DELETE FROM inv.items WHERE wh = 2 AND qty BETWEEN {from} AND {to};
         -- TOAST-unchanged updates: big is not sent.
         UPDATE typed SET flag = NOT flag WHERE id % 10 = 0 AND id BETWEEN {from} AND {to};"
    ))
    .await?;
    Ok(())
}

struct Rig {
    _source: common::SluiceProcess,
    prefix: String,
    url: String,
    src: tokio_postgres::Client,
    dst: tokio_postgres::Client,
    dst_db: String,
    dir: std::path::PathBuf,
}

async fn rig(name: &str) -> anyhow::Result<Rig> {
    let tb = testbed();
    let src_db = tb.postgres.create_database(name).await?;
    let dst_db = tb.postgres.create_database(&format!("{name}_dst")).await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute(DDL).await?;
    let dst = tb.postgres.connect(&dst_db).await?;
    let dir = tb.scratch_dir("pgsink")?;
    let prefix = unique("snk");
    let port = free_port()?;
    let mut source =
        common::start_source(&dir, "source", &common::pg_source_config(&src_db, &prefix, port, ""), port)
            .await?;
    common::wait_log(&mut source, "streaming", T).await?;
    Ok(Rig { _source: source, prefix, url: format!("http://127.0.0.1:{port}"), src, dst, dst_db, dir })
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_types_toast_truncate_and_replay() -> anyhow::Result<()> {
    let r = rig("sinkops").await?;
    let regex = format!("^{}\\.(public|inv)\\..*", regex_escape(&r.prefix));
    workload(&r.src, 1, 300).await?;
    let sink = common::start_sink(
        &r.dir,
        "sink",
        &common::pg_sink_config(&r.dst_db, "main", &unique("g"), &regex, &r.url, ""),
    )?;
    wait_equal(&r.src, &r.dst, &sink).await?;
    // Truncate, then more rows.
    r.src.batch_execute("TRUNCATE inv.items").await?;
    workload(&r.src, 301, 400).await?;
    wait_equal(&r.src, &r.dst, &sink).await?;
    // Target column types follow the source's.
    let ty: String = r
        .dst
        .query_one(
            "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute
             WHERE attrelid = 'public.typed'::regclass AND attnum > 0",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(
        ty,
        "integer,numeric(14,4),double precision,timestamp with time zone,timestamp without time zone,date,uuid,jsonb,bytea,integer[],text[],interval,time with time zone,time without time zone,boolean,text,character varying(20)"
    );
    drop(sink);
    let before = offsets(&r.dst, "main").await?;
    let topics: Vec<String> = before.iter().map(|(t, _, _)| t.clone()).collect();
    assert_eq!(topics.len(), 2, "{before:?}");
    assert_eq!(before.iter().map(|o| o.2).collect::<Vec<_>>(), high_water(&topics)?);

    // Replay from the beginning under a new group and sink name, into the same target.
    let snapshot: Vec<Vec<String>> = {
        let mut v = Vec::new();
        for t in TABLES {
            v.push(rows(&r.dst, t).await?);
        }
        v
    };
    let replay = common::start_sink(
        &r.dir,
        "replay",
        &common::pg_sink_config(&r.dst_db, "replay", &unique("g"), &regex, &r.url, ""),
    )?;
    let start = Instant::now();
    loop {
        let o = offsets(&r.dst, "replay").await?;
        if o.iter().map(|x| x.2).collect::<Vec<_>>() == high_water(&topics)? {
            break;
        }
        assert!(start.elapsed() < T, "replay did not finish: {o:?}\n{}", replay.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (t, want) in TABLES.iter().zip(&snapshot) {
        assert_eq!(&rows(&r.dst, t).await?, want, "replay changed {t}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_nine_and_restart_resumes_from_target_offsets() -> anyhow::Result<()> {
    let r = rig("sinkkill").await?;
    let regex = format!("^{}\\.(public|inv)\\..*", regex_escape(&r.prefix));
    let group = unique("g");
    let cfg = common::pg_sink_config(&r.dst_db, "main", &group, &regex, &r.url, "batch_max_events = 200");
    let writer = {
        let tb = testbed();
        let db: String = r.src.query_one("SELECT current_database()", &[]).await?.get(0);
        let c = tb.postgres.connect(&db).await?;
        tokio::spawn(async move {
            // 28 × ~7,500 events (inserts, updates, deletes, unchanged-TOAST updates): > 200k.
            for i in 0..28 {
                workload(&c, i * 2500 + 1, i * 2500 + 2500).await?;
            }
            anyhow::Ok(())
        })
    };
    for round in 0..3 {
        let mut sink = common::start_sink(&r.dir, &format!("sink{round}"), &cfg)?;
        tokio::time::sleep(Duration::from_millis(9000)).await;
        // SIGKILL: no shutdown path runs.
        sink.child.kill()?;
        sink.child.wait()?;
    }
    writer.await??;
    // The source may still be publishing the last transactions (the machine may be loaded).
    let topics = [format!("{}.public.typed", r.prefix), format!("{}.inv.items", r.prefix)];
    let start = Instant::now();
    let mut events: i64 = 0;
    while start.elapsed() < T {
        events = high_water(&topics)?.iter().sum();
        if events > 200_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(events > 200_000, "workload produced only {events} records");
    let sink = common::start_sink(&r.dir, "final", &cfg)?;
    wait_equal(&r.src, &r.dst, &sink).await?;
    let o = offsets(&r.dst, "main").await?;
    let topics: Vec<String> = o.iter().map(|(t, _, _)| t.clone()).collect();
    assert_eq!(o.iter().map(|x| x.2).collect::<Vec<_>>(), high_water(&topics)?);
    Ok(())
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_ascii_alphanumeric() || c == '_' { vec![c] } else { vec!['\\', c] })
        .collect()
}

/// A TCP proxy to the bench PostgreSQL that can be cut: a target outage as the sink sees it
/// (connections reset, then refused).
struct Proxy {
    port: u16,
    tasks: tokio::task::JoinSet<()>,
}

impl Proxy {
    async fn start(port: u16) -> anyhow::Result<Self> {
        let tb = testbed();
        let upstream = format!("{}:{}", tb.postgres.host, tb.postgres.port);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let mut tasks = tokio::task::JoinSet::new();
        let conns = std::sync::Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
        let held = conns.clone();
        tasks.spawn(async move {
            let _held = held;
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                conns.lock().await.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Ok(Self { port, tasks })
    }

    /// Close the listener and every proxied connection.
    async fn cut(mut self) -> u16 {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.port
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn target_outage_is_retried_and_nothing_is_lost() -> anyhow::Result<()> {
    let r = rig("sinkdown").await?;
    let tb = testbed();
    let regex = format!("^{}\\.(public|inv)\\..*", regex_escape(&r.prefix));
    let proxy = Proxy::start(free_port()?).await?;
    let cfg = common::pg_sink_config(&r.dst_db, "main", &unique("g"), &regex, &r.url, "").replace(
        &format!("port = {}\nuser = \"postgres\"\ndatabase", tb.postgres.port),
        &format!("port = {}\nuser = \"postgres\"\ndatabase", proxy.port),
    );
    let sink = common::start_sink(&r.dir, "sink", &cfg)?;
    workload(&r.src, 1, 300).await?;
    wait_equal(&r.src, &r.dst, &sink).await?;
    let before = offsets(&r.dst, "main").await?;

    // The target goes away while the source keeps changing.
    let port = proxy.cut().await;
    workload(&r.src, 301, 600).await?;
    let start = Instant::now();
    while !sink.log_text().contains("task failed; restarting") {
        assert!(start.elapsed() < T, "the sink did not notice the outage:\n{}", sink.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(offsets(&r.dst, "main").await?, before, "offsets moved while the target was down");
    let mut sink = sink;
    assert!(sink.child.try_wait()?.is_none(), "the sink gave up:\n{}", sink.log_text());

    // It comes back: the sink resumes on its own and catches up.
    let _proxy = Proxy::start(port).await?;
    wait_equal(&r.src, &r.dst, &sink).await?;
    Ok(())
}
