//! Full load (issue 6) end to end against real PostgreSQL and the broker: the snapshot and its
//! hand-off to streaming while a writer keeps inserting, updating and deleting; `kill -9` in the
//! middle of a full load and the resume at the finished chunks; and migration type `full-load`.
//!
//! Each test checks what a consumer would see: the topic replayed into a map (the last event per
//! key wins, a delete or tombstone removes the key) equals the source table row by row.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apache_avro::types::Value as AV;
use rand::Rng;
use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(300);

type Rows = HashMap<i64, (i64, String)>;

async fn source_rows(c: &tokio_postgres::Client) -> anyhow::Result<Rows> {
    let rows = c.query("SELECT id, v, pad FROM t", &[]).await?;
    Ok(rows
        .iter()
        .map(|r| (i64::from(r.get::<_, i32>(0)), (i64::from(r.get::<_, i32>(1)), r.get(2))))
        .collect())
}

async fn fill(c: &tokio_postgres::Client, rows: i32) -> anyhow::Result<()> {
    c.batch_execute(&format!(
        "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, pad text);
         INSERT INTO t SELECT g, 0, repeat(md5(g::text), 3) FROM generate_series(1, {rows}) g;"
    ))
    .await?;
    Ok(())
}

/// Inserts, updates and deletes in small transactions until `stop` is set.
fn spawn_writer(
    c: tokio_postgres::Client,
    first_new: i32,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<anyhow::Result<u64>> {
    tokio::spawn(async move {
        let mut next = first_new;
        let mut txns = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let (upd, del): (Vec<i32>, i32) = {
                let mut r = rand::rng();
                ((0..5).map(|_| r.random_range(1..next)).collect(), r.random_range(1..next))
            };
            let list: Vec<String> = upd.iter().map(ToString::to_string).collect();
            c.batch_execute(&format!(
                "BEGIN; INSERT INTO t VALUES ({next}, 1, 'new');
                 UPDATE t SET v = v + 1, pad = 'upd' || v WHERE id IN ({});
                 DELETE FROM t WHERE id = {del}; COMMIT;",
                list.join(",")
            ))
            .await?;
            next += 1;
            txns += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(txns)
    })
}

fn int(v: &AV) -> Option<i64> {
    match common::unwrap_union(v) {
        AV::Int(i) => Some(i64::from(*i)),
        AV::Long(i) => Some(*i),
        _ => None,
    }
}

/// Replays a topic into a map until it equals `want` (checked whenever the topic is idle).
struct Replay {
    consumer: rdkafka::consumer::BaseConsumer,
    registry: sluice_avro::RegistryClient,
    state: Rows,
    ops: HashMap<String, u64>,
    markers: Vec<String>,
    topic: String,
    /// Events that set a key's `v` lower than the replayed state had it (`v` only grows).
    rollbacks: Vec<String>,
}

impl Replay {
    async fn new(url: &str, topic: &str) -> anyhow::Result<Self> {
        use rdkafka::consumer::Consumer;
        let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &testbed().kafka.bootstrap)
            .set("group.id", unique("replay"))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()?;
        common::wait_for_topic(&consumer, topic, T).await?;
        consumer.subscribe(&[topic])?;
        Ok(Self {
            consumer,
            registry: sluice_avro::RegistryClient::new(url)?,
            state: HashMap::new(),
            ops: HashMap::new(),
            markers: Vec::new(),
            topic: topic.to_owned(),
            rollbacks: Vec::new(),
        })
    }

    async fn decode(&self, bytes: &[u8]) -> anyhow::Result<AV> {
        let (id, mut body) = sluice_avro::wire::split(bytes)?;
        let schema = self.registry.schema_by_id(id).await?;
        let reader = apache_avro::reader::datum::GenericDatumReader::builder(&schema).build()?;
        Ok(reader.read_value(&mut body)?)
    }

    /// Replay until the state equals `want`, having read at least everything the topic held
    /// when called (the state may equal `want` long before the end of the topic).
    async fn until_equal(&mut self, want: &Rows, log: &dyn Fn() -> String) -> anyhow::Result<()> {
        use rdkafka::consumer::Consumer;
        use rdkafka::Message;
        let start = Instant::now();
        let topic = self.topic.clone();
        let md = tokio::task::block_in_place(|| {
            self.consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))
        })?;
        let mut ends = HashMap::new();
        for p in md.topics().iter().flat_map(|t| t.partitions()) {
            let (_, high) = tokio::task::block_in_place(|| {
                self.consumer.fetch_watermarks(&topic, p.id(), Duration::from_secs(10))
            })?;
            ends.insert(p.id(), high);
        }
        let mut read: HashMap<i32, i64> = HashMap::new();
        loop {
            let polled = tokio::task::block_in_place(|| self.consumer.poll(Duration::from_millis(300)));
            let Some(m) = polled else {
                let at_end =
                    ends.iter().all(|(p, high)| *high == 0 || read.get(p).is_some_and(|o| o + 1 >= *high));
                if at_end && &self.state == want {
                    return Ok(());
                }
                if at_end && !self.rollbacks.is_empty() {
                    anyhow::bail!(
                        "{} rows rolled back to older values, e.g. {:?}\n{}",
                        self.rollbacks.len(),
                        &self.rollbacks[..self.rollbacks.len().min(5)],
                        log()
                    );
                }
                if start.elapsed() > T {
                    let differ = want.iter().filter(|(k, v)| self.state.get(k) != Some(v)).count();
                    let extra = self.state.keys().filter(|k| !want.contains_key(k)).count();
                    anyhow::bail!(
                        "replayed topic never equalled the table: {} keys vs {}, {differ} differ or missing, {extra} extra\n{}",
                        self.state.len(),
                        want.len(),
                        log()
                    );
                }
                continue;
            };
            let m = m?;
            read.insert(m.partition(), m.offset());
            let key = self.decode(m.key().expect("keyed")).await?;
            let id = int(common::field(&key, "id").expect("id")).expect("int id");
            let Some(payload) = m.payload() else {
                self.state.remove(&id);
                continue;
            };
            let v = self.decode(payload).await?;
            let op = match common::field(&v, "op") {
                Some(AV::String(s)) => s.clone(),
                other => anyhow::bail!("op {other:?}"),
            };
            *self.ops.entry(op.clone()).or_default() += 1;
            let mut snapshot = String::new();
            if op == "r" {
                let src = common::field(&v, "source").expect("source");
                if let Some(AV::String(s)) = common::field(src, "snapshot").map(common::unwrap_union) {
                    if s == "incremental" {
                        *self.ops.entry("r/incremental".into()).or_default() += 1;
                    } else if s != "true" {
                        self.markers.push(s.clone());
                    }
                    snapshot = s.clone();
                }
            }
            if op == "d" {
                self.state.remove(&id);
                continue;
            }
            let after = common::unwrap_union(common::field(&v, "after").expect("after"));
            let val = int(common::field(after, "v").expect("v")).expect("int v");
            let pad = match common::field(after, "pad").map(common::unwrap_union) {
                Some(AV::String(s)) => s.clone(),
                _ => String::new(),
            };
            if let Some((old, _)) = self.state.get(&id) {
                if val < *old {
                    self.rollbacks
                        .push(format!("id {id}: v {old} → {val} by op {op} (snapshot {snapshot:?})"));
                }
            }
            self.state.insert(id, (val, pad));
        }
    }
}

fn chunk_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_load_and_cdc_with_a_concurrent_writer_ends_equal() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("fullload")?;
    let db = tb.postgres.create_database("fullload").await?;
    let c = tb.postgres.connect(&db).await?;
    const ROWS: i32 = 200_000;
    fill(&c, ROWS).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(tb.postgres.connect(&db).await?, ROWS + 1, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let prefix = unique("fl");
    let port = free_port()?;
    let cfg =
        common::pg_source_config(&db, &prefix, port, "snapshot_workers = 2\nsnapshot_chunk_rows = 20000");
    let mut src = common::start_source(&dir, "source", &cfg, port).await?;
    common::wait_log(&mut src, "full load complete", T).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    // Keep writing across the hand-off, then let the stream catch up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let txns = writer.await??;
    let want = source_rows(&c).await?;

    let mut replay = Replay::new(&format!("http://127.0.0.1:{port}"), &format!("{prefix}.public.t")).await?;
    replay.until_equal(&want, &|| src.log_text()).await?;
    let log = src.log_text();
    eprintln!("writer: {txns} transactions; topic ops {:?}; markers {:?}", replay.ops, replay.markers);
    assert!(chunk_lines(&log, "chunk done") >= 10, "one line per chunk:\n{log}");
    assert!(
        replay.ops.get("r").copied().unwrap_or(0) >= u64::from((ROWS - 20_000) as u32),
        "{:?}",
        replay.ops
    );
    assert!(
        replay.ops.get("u").copied().unwrap_or(0) > 0,
        "streamed changes after the snapshot: {:?}",
        replay.ops
    );
    assert_eq!(replay.markers, vec!["first".to_owned(), "last".to_owned()], "Debezium snapshot markers");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_dash_nine_mid_full_load_resumes_at_finished_chunks() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("flkill")?;
    let db = tb.postgres.create_database("flkill").await?;
    let c = tb.postgres.connect(&db).await?;
    const ROWS: i32 = 200_000;
    fill(&c, ROWS).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(tb.postgres.connect(&db).await?, ROWS + 1, stop.clone());

    let prefix = unique("flk");
    let port = free_port()?;
    let cfg =
        common::pg_source_config(&db, &prefix, port, "snapshot_workers = 2\nsnapshot_chunk_rows = 5000");
    let mut src = common::start_source(&dir, "run1", &cfg, port).await?;
    let start = Instant::now();
    while chunk_lines(&src.log_text(), "chunk done") < 3 {
        assert!(start.elapsed() < T, "no chunks finished:\n{}", src.log_text());
        assert!(src.child.try_wait()?.is_none(), "source exited:\n{}", src.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    src.child.kill()?; // SIGKILL
    src.child.wait()?;
    let first = src.log_text();
    assert!(!first.contains("full load complete"), "killed too late:\n{first}");
    let finished = chunk_lines(&first, "chunk done");

    let mut src = common::start_source(&dir, "run2", &cfg, port).await?;
    common::wait_log(&mut src, "full load complete", T).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await??;
    let second = src.log_text();
    let skipped = chunk_lines(&second, "skipping finished chunk");
    assert!(
        skipped >= finished,
        "run 1 logged {finished} finished chunks, run 2 skipped {skipped}:\n{second}"
    );
    let total_chunks = chunk_lines(&second, "chunk done") + skipped;
    eprintln!("run 1 finished {finished} chunks; run 2 skipped {skipped}, read {}", total_chunks - skipped);

    let want = source_rows(&c).await?;
    let mut replay = Replay::new(&format!("http://127.0.0.1:{port}"), &format!("{prefix}.public.t")).await?;
    replay.until_equal(&want, &|| src.log_text()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn full_load_mode_exits_zero_with_every_row_and_no_slot() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("flonly")?;
    let db = tb.postgres.create_database("flonly").await?;
    let c = tb.postgres.connect(&db).await?;
    const ROWS: i32 = 50_000;
    fill(&c, ROWS).await?;
    let prefix = unique("flo");
    let port = free_port()?;
    let cfg = common::pg_source_config(
        &db,
        &prefix,
        port,
        "migration_type = \"full-load\"\nsnapshot_workers = 3\nsnapshot_chunk_rows = 7000",
    );
    let path = dir.join("full-load.toml");
    std::fs::write(&path, &cfg)?;
    let mut p =
        common::spawn_sluice(&dir, "full-load", &["source", "--config", &path.display().to_string()])?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = p.child.try_wait()? {
            break s;
        }
        assert!(start.elapsed() < T, "full load did not exit:\n{}", p.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit {status}:\n{}", p.log_text());
    assert!(p.log_text().contains("full load complete"), "{}", p.log_text());
    let slots: i64 = c
        .query_one("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", &[&prefix])
        .await?
        .get(0);
    assert_eq!(slots, 0, "full-load uses no replication slot");

    // The embedded registry is gone with the process; a new one reads the same schemas topic.
    let (_registry, url) = common::start_registry(&dir, &format!("{prefix}._schemas")).await?;
    let want = source_rows(&c).await?;
    let mut replay = Replay::new(&url, &format!("{prefix}.public.t")).await?;
    replay.until_equal(&want, &|| p.log_text()).await?;
    assert_eq!(replay.ops.get("r").copied(), Some(ROWS as u64), "{:?}", replay.ops);
    assert_eq!(replay.ops.len(), 1, "only r events: {:?}", replay.ops);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_resnapshot_under_concurrent_updates_never_rolls_a_row_back() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("incsnap")?;
    let db = tb.postgres.create_database("incsnap").await?;
    let c = tb.postgres.connect(&db).await?;
    const ROWS: i32 = 30_000;
    fill(&c, ROWS).await?;
    let prefix = unique("inc");
    let (port, http) = (free_port()?, free_port()?);
    let cfg = format!(
        "{}\n[http]\nlisten = \"127.0.0.1:{http}\"\n",
        common::pg_source_config(
            &db,
            &prefix,
            port,
            "signal_table = \"public.sluice_signal\"\nincremental_chunk_rows = 500",
        )
    );
    let mut src = common::start_source(&dir, "source", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", T).await?;

    // Updates hit the rows being re-read while the re-snapshot runs, chunk by chunk.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(tb.postgres.connect(&db).await?, ROWS + 1, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let path = dir.join("source.toml").display().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["snapshot", "--config", &path, "public.t"])
        .output()?;
    assert!(out.status.success(), "sluice snapshot: {}", String::from_utf8_lossy(&out.stderr));
    let start = Instant::now();
    loop {
        let done: i64 = c
            .query_one(
                "SELECT count(*) FROM sluice_signal WHERE type = 'execute-snapshot' AND data::jsonb ->> 'sluice-done' = 'true'",
                &[],
            )
            .await?
            .get(0);
        if done == 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "re-snapshot did not finish:\n{}",
            src.log_text()
        );
        assert!(src.child.try_wait()?.is_none(), "source exited:\n{}", src.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let txns = writer.await??;
    let want = source_rows(&c).await?;
    let mut replay = Replay::new(&format!("http://127.0.0.1:{port}"), &format!("{prefix}.public.t")).await?;
    replay.until_equal(&want, &|| src.log_text()).await?;
    eprintln!("writer: {txns} transactions; topic ops {:?}", replay.ops);
    assert!(
        replay.rollbacks.is_empty(),
        "rows rolled back to older values: {:?}",
        &replay.rollbacks[..replay.rollbacks.len().min(10)]
    );
    let reread = replay.ops.get("r/incremental").copied().unwrap_or(0);
    assert!(reread >= u64::from((ROWS / 2) as u32), "most rows re-read: {:?}", replay.ops);
    let signal_events: i64 =
        c.query_one("SELECT count(*) FROM sluice_signal WHERE type <> 'execute-snapshot'", &[]).await?.get(0);
    assert!(signal_events <= 2, "watermarks are cleaned up: {signal_events} left");

    // Table statistics: live over HTTP, and persisted for `sluice status`.
    let body = reqwest::get(format!("http://127.0.0.1:{http}/status")).await?.text().await?;
    let live: serde_json::Value = serde_json::from_str(&body)?;
    let t = live["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["table"] == "public.t")
        .expect("public.t");
    assert_eq!(t["state"], "loaded", "{body}");
    assert_eq!(t["full_load_rows"], ROWS, "{body}");
    assert!(t["updates"].as_u64().unwrap() > 0 && t["deletes"].as_u64().unwrap() > 0, "{body}");
    assert!(t["resnapshot_rows"].as_u64().unwrap() >= reread, "{body}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["status", "--config", &path])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("public.t") && text.contains("loaded"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("sluice_signal"), "the signal table is not a captured table:\n{text}");
    eprintln!("{text}");
    Ok(())
}
