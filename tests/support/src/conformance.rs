//! The sink conformance suite: what every target must do, checked the same way for each. A
//! target's test implements [`Harness`] (settings for a fresh namespace, an unreachable
//! address, and a read-back with the target system's own client) and calls [`run_all`].
//!
//! Cases (each in its own namespace), driven through the [`Sink`] contract the runtime uses:
//! - `per_key_order`: many operations on few keys, in several commits, end as the model says.
//! - `replay_changes_nothing`: every batch again, from offset 0, under a new sink name.
//! - `crash_mid_batch`: a batch applied and not committed, then the connection dropped (what
//!   `kill -9` looks like to the target): nothing of it is visible, the stored offsets are the
//!   last committed ones, and applying from them ends equal.
//! - `fenced_member`: a stale member of the group (read the offsets before another member
//!   advanced them) cannot commit, so cannot roll newer rows back.
//! - `truncate`: what was planned before it is dropped, what comes after stays.
//! - `unchanged_columns`: a column the source did not send (unchanged TOAST) keeps the target's
//!   value.
//! - `new_column`: an event with one more source column extends the target.
//! - `poison_record`: an event the target must refuse (NULL key) fails fatally, and nothing of
//!   its batch nor its offsets is committed.
//! - `oversized_value`: a row over the target's size limit ([`Harness::too_large`]) fails
//!   fatally, naming the table, and the stored offsets do not move (the runtime's dead-letter
//!   policy takes it from there: tests/doc_target_refusals.rs).
//! - `unreachable_target`: connecting to an address where nothing listens is a retriable error
//!   (the runtime retries it with backoff), and the preflight check reports it.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use sluice_core::{
    BrokerOffset, ChangeEvent, CheckOutcome, Column, Committed, DataType, ErrorKind, Lsn, Op, Position,
    RecordAt, Sink, SnapshotMarker, SourceDetail, SourceInfo, TableId, TableSchema, Target, Value,
};

/// Rows as read back: per key (`id`), the other columns as text, in the order asked.
pub type Rows = BTreeMap<i64, Vec<Option<String>>>;

/// What a target's test provides.
pub trait Harness: Sync {
    type T: Target;

    /// Settings that write source table `app.<table>` to table `<table>` in namespace `ns` (a
    /// schema or database the target may create), with offsets kept where the target keeps them.
    fn config(&self, ns: &str) -> <Self::T as Target>::Config;

    /// Settings pointing at an address where nothing listens.
    fn unreachable(&self) -> <Self::T as Target>::Config;

    /// The rows of `<ns>.<table>`, read with the target system's own client, columns `id` and
    /// then `columns` rendered as text (integers in decimal).
    fn rows(&self, ns: &str, table: &str, columns: &[&str]) -> impl Future<Output = Result<Rows>> + Send;

    /// Bytes of text that make a row too large for the target (`None`: no limit a broker
    /// record could reach).
    fn too_large(&self) -> Option<usize> {
        None
    }
}

/// The source table every case writes: `id` (key), `name`, `big`, `n`, and in its second version
/// `extra`.
pub fn schema(table: &str, extra: bool) -> Arc<TableSchema> {
    let mut columns = vec![
        Column::new("id", DataType::Int32, "integer", false),
        Column::new("name", DataType::Text, "text", true),
        Column::new("big", DataType::Text, "text", true),
        Column::new("n", DataType::Int64, "bigint", true),
    ];
    if extra {
        columns.push(Column::new("extra", DataType::Text, "text", true));
    }
    Arc::new(TableSchema {
        id: TableId::new("app", table),
        columns,
        key: vec![0],
        version: 1 + u32::from(extra),
    })
}

const V1: [&str; 3] = ["name", "big", "n"];

/// A change event of `table` as a PostgreSQL source would send it: each event its own
/// transaction, at an LSN above every event made before it (targets that version documents by
/// source position see the order the suite means); times zero.
pub fn event(
    table: &Arc<TableSchema>,
    op: Op,
    before: Option<Vec<Value>>,
    after: Option<Vec<Value>>,
) -> ChangeEvent {
    static NEXT_LSN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1_000);
    let lsn = NEXT_LSN.fetch_add(100, std::sync::atomic::Ordering::Relaxed);
    ChangeEvent {
        table: table.clone(),
        op,
        before,
        after,
        source: SourceInfo {
            connector: "postgresql",
            name: "conformance".into(),
            ts_ms: 0,
            snapshot: SnapshotMarker::False,
            db: "app".into(),
            schema: Some("app".into()),
            table: table.id.table.clone(),
            detail: SourceDetail::Postgres {
                lsn,
                tx_id: None,
                xmin: None,
                sequence: Some(format!("[\"{lsn}\",\"{lsn}\"]")),
            },
        },
        ts_ms: 0,
        transaction: None,
        position: Position::Postgres(Lsn(lsn)),
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn row(id: i32, name: &str, big: Value, n: i64) -> Vec<Value> {
    vec![Value::Int32(id), text(name), big, Value::Int64(n)]
}

fn upsert(t: &Arc<TableSchema>, op: Op, r: Vec<Value>) -> ChangeEvent {
    event(t, op, None, Some(r))
}

fn delete(t: &Arc<TableSchema>, id: i32) -> ChangeEvent {
    event(t, Op::Delete, Some(vec![Value::Int32(id), Value::Null, Value::Null, Value::Null]), None)
}

/// The model: the same events applied to a map.
fn model(events: &[ChangeEvent]) -> Rows {
    let mut m = Rows::new();
    let render = |v: &Value| match v {
        Value::Null => None,
        Value::Text(s) => Some(s.clone()),
        Value::Int64(n) => Some(n.to_string()),
        Value::Int32(n) => Some(n.to_string()),
        other => Some(format!("{other:?}")),
    };
    for ev in events {
        match ev.op {
            Op::Truncate => m.clear(),
            Op::Delete => {
                if let Some(Value::Int32(id)) = ev.before.as_ref().and_then(|b| b.first()) {
                    m.remove(&i64::from(*id));
                }
            }
            _ => {
                let after = ev.after.as_ref().expect("after image");
                let Value::Int32(id) = after[0] else { continue };
                let prev = m.get(&i64::from(id)).cloned();
                let cells: Vec<Option<String>> = after[1..]
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::Unchanged => prev.as_ref().and_then(|p| p.get(i).cloned().flatten()),
                        v => render(v),
                    })
                    .collect();
                m.insert(i64::from(id), cells);
            }
        }
    }
    m
}

fn offsets(topic: &str, next: i64) -> Vec<BrokerOffset> {
    vec![BrokerOffset { topic: topic.into(), partition: 0, next_offset: next }]
}

/// Connect sink `<ns>-<name>` (offsets rows are keyed by sink name; the namespace keeps runs apart).
async fn connect<H: Harness>(h: &H, ns: &str, name: &str) -> Result<<H::T as Target>::Sink> {
    let name = format!("{ns}-{name}");
    H::T::connect(&h.config(ns), &name).await.with_context(|| format!("connecting sink {name}"))
}

/// Commit `offsets` and wait until the target says they are durable: a deferred target may
/// answer `Through` with less while its writes land, and is committed again without records,
/// as the runtime does after `IDLE_COMMIT`.
async fn commit<S: Sink>(sink: &mut S, offsets: &[BrokerOffset]) -> sluice_core::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut with = offsets;
    loop {
        let durable = match sink.commit(with).await? {
            Committed::All => return Ok(()),
            Committed::Through(durable) => durable,
        };
        let covered = |o: &BrokerOffset| {
            durable
                .iter()
                .any(|d| d.topic == o.topic && d.partition == o.partition && d.next_offset >= o.next_offset)
        };
        if offsets.iter().all(covered) {
            return Ok(());
        }
        assert!(std::time::Instant::now() < deadline, "offsets {offsets:?} not durable after 60 s");
        with = &[];
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Stage `events` as the records at offsets `first..` of partition 0 of `topic`, as the runtime does.
async fn apply_from<S: Sink>(
    sink: &mut S,
    topic: &str,
    events: &[ChangeEvent],
    first: i64,
) -> sluice_core::Result<()> {
    let at: Vec<RecordAt<'_>> =
        (first..).take(events.len()).map(|offset| RecordAt { topic, partition: 0, offset }).collect();
    sink.apply_at(events, &at).await
}

/// Apply `batches` as one commit each; returns the offsets after the last.
async fn apply_batches<S: Sink>(sink: &mut S, topic: &str, batches: &[Vec<ChangeEvent>]) -> Result<i64> {
    let mut next = 0;
    for b in batches {
        apply_from(sink, topic, b, next).await.context("apply")?;
        next += b.len() as i64;
        commit(sink, &offsets(topic, next)).await.context("commit")?;
    }
    Ok(next)
}

async fn expect_rows<H: Harness>(
    h: &H,
    ns: &str,
    table: &str,
    cols: &[&str],
    want: &Rows,
    case: &str,
) -> Result<()> {
    let got = h.rows(ns, table, cols).await.with_context(|| format!("{case}: reading back"))?;
    if &got != want {
        bail!("{case}: target differs from the model\n  target: {got:?}\n  model:  {want:?}");
    }
    Ok(())
}

/// Ten keys, each created, updated several times, some deleted and re-created, in five commits.
fn workload(t: &Arc<TableSchema>) -> Vec<Vec<ChangeEvent>> {
    let mut batches = Vec::new();
    for round in 0..5i64 {
        let mut b = Vec::new();
        for id in 0..10i32 {
            let op = if round == 0 { Op::Create } else { Op::Update };
            b.push(upsert(t, op, row(id, &format!("r{round}k{id}"), text("b"), round)));
            b.push(upsert(t, Op::Update, row(id, &format!("r{round}k{id}x"), Value::Unchanged, round * 10)));
            if (id + round as i32) % 3 == 0 {
                b.push(delete(t, id));
                if id % 2 == 0 {
                    b.push(upsert(t, Op::Create, row(id, &format!("again{round}"), Value::Null, -1)));
                }
            }
        }
        batches.push(b);
    }
    batches
}

pub async fn per_key_order<H: Harness>(h: &H, ns: &str) -> Result<()> {
    let t = schema("ordered", false);
    let batches = workload(&t);
    let mut sink = connect(h, ns, "order").await?;
    apply_batches(&mut sink, &format!("{ns}.ordered"), &batches).await?;
    expect_rows(h, ns, "ordered", &V1, &model(&batches.concat()), "per_key_order").await
}

pub async fn replay_changes_nothing<H: Harness>(h: &H, ns: &str) -> Result<()> {
    let t = schema("replayed", false);
    let batches = workload(&t);
    let topic = format!("{ns}.replayed");
    let mut first = connect(h, ns, "first").await?;
    apply_batches(&mut first, &topic, &batches).await?;
    let want = model(&batches.concat());
    // A new sink name has no stored offsets: it starts from offset 0 and applies everything again.
    let mut again = connect(h, ns, "again").await?;
    ensure!(again.stored_offsets().await?.is_empty(), "replay: a new sink name has stored offsets");
    apply_batches(&mut again, &topic, &batches).await?;
    expect_rows(h, ns, "replayed", &V1, &want, "replay_changes_nothing").await?;
    // And the same sink from 0 again, in one batch.
    apply_from(&mut again, &topic, &batches.concat(), 0).await?;
    commit(&mut again, &offsets(&topic, 1_000)).await?;
    expect_rows(h, ns, "replayed", &V1, &want, "replay_changes_nothing (one batch)").await
}

pub async fn crash_mid_batch<H: Harness>(h: &H, ns: &str) -> Result<()> {
    let t = schema("crashed", false);
    let batches = workload(&t);
    let topic = format!("{ns}.crashed");
    let mut sink = connect(h, ns, "crash").await?;
    sink.stored_offsets().await?;
    let done = apply_batches(&mut sink, &topic, &batches[..2]).await?;
    apply_from(&mut sink, &topic, &batches[2], done).await?;
    drop(sink); // the process dies: the connection closes with the batch uncommitted
    let want = model(&batches[..2].concat());
    expect_rows(h, ns, "crashed", &V1, &want, "crash_mid_batch (after the crash)").await?;
    let mut sink = connect(h, ns, "crash").await?;
    let stored = sink.stored_offsets().await?;
    ensure!(
        stored == offsets(&topic, done),
        "crash_mid_batch: stored offsets {stored:?}, want next offset {done}"
    );
    let mut next = done;
    for b in &batches[2..] {
        apply_from(&mut sink, &topic, b, next).await?;
        next += b.len() as i64;
        commit(&mut sink, &offsets(&topic, next)).await?;
    }
    expect_rows(h, ns, "crashed", &V1, &model(&batches.concat()), "crash_mid_batch (resumed)").await
}

pub async fn fenced_member<H: Harness>(h: &H, ns: &str) -> Result<()> {
    let t = schema("fenced", false);
    let topic = format!("{ns}.fenced");
    let mut stale = connect(h, ns, "group").await?;
    let mut current = connect(h, ns, "group").await?;
    stale.stored_offsets().await?;
    current.stored_offsets().await?;
    // The partition moved to `current`, which applies up to offset 2.
    let newer = vec![
        upsert(&t, Op::Create, row(1, "old", text("b"), 1)),
        upsert(&t, Op::Update, row(1, "new", text("b"), 2)),
    ];
    apply_from(&mut current, &topic, &newer, 0).await?;
    commit(&mut current, &offsets(&topic, 2)).await?;
    // `stale` still believes it owns the partition and applies offset 0 again.
    apply_from(&mut stale, &topic, &newer[..1], 0).await?;
    match commit(&mut stale, &offsets(&topic, 1)).await {
        Ok(_) => bail!("fenced_member: a stale member committed over newer offsets"),
        Err(e) if e.kind() == ErrorKind::Retriable => {}
        Err(e) => bail!("fenced_member: the fenced commit must be retriable, got: {e}"),
    }
    expect_rows(h, ns, "fenced", &V1, &model(&newer), "fenced_member").await
}

pub async fn truncate<H: Harness>(h: &H, ns: &str) -> Result<()> {
    let t = schema("truncated", false);
    let mut events: Vec<ChangeEvent> =
        (0..5).map(|i| upsert(&t, Op::Create, row(i, "before", text("b"), 0))).collect();
    let mut sink = connect(h, ns, "truncate").await?;
    apply_batches(&mut sink, &format!("{ns}.truncated"), std::slice::from_ref(&events)).await?;
    let batch = vec![
        upsert(&t, Op::Create, row(7, "planned", text("b"), 0)),
        event(&t, Op::Truncate, None, None),
        upsert(&t, Op::Create, row(8, "after", text("b"), 0)),
    ];
    apply_from(&mut sink, &format!("{ns}.truncated"), &batch, 5).await?;
    commit(&mut sink, &offsets(&format!("{ns}.truncated"), 8)).await?;
    events.extend(batch);
    expect_rows(h, ns, "truncated", &V1, &model(&events), "truncate").await
}

pub async fn unchanged_columns<H: Harness>(h: &H, ns: &str) -> Result<()> {
    let t = schema("toasted", false);
    let big = "x".repeat(100_000);
    let first = vec![
        upsert(&t, Op::Create, row(1, "a", text(&big), 1)),
        upsert(&t, Op::Create, row(2, "a", text(&big), 1)),
    ];
    let second = vec![
        // Unchanged across commits: the target keeps its value.
        upsert(&t, Op::Update, row(1, "b", Value::Unchanged, 2)),
        // Unchanged within one batch, after an update that set it.
        upsert(&t, Op::Update, row(2, "b", text("y"), 2)),
        upsert(&t, Op::Update, row(2, "c", Value::Unchanged, 3)),
    ];
    let mut sink = connect(h, ns, "toast").await?;
    apply_batches(&mut sink, &format!("{ns}.toasted"), &[first.clone(), second.clone()]).await?;
    expect_rows(h, ns, "toasted", &V1, &model(&[first, second].concat()), "unchanged_columns").await
}

pub async fn new_column<H: Harness>(h: &H, ns: &str) -> Result<()> {
    let (v1, v2) = (schema("widened", false), schema("widened", true));
    let mut sink = connect(h, ns, "widen").await?;
    let topic = format!("{ns}.widened");
    let old = upsert(&v1, Op::Create, row(1, "old", text("b"), 1));
    let mut wide = row(2, "new", text("b"), 2);
    wide.push(text("e"));
    let new = upsert(&v2, Op::Create, wide);
    apply_batches(&mut sink, &topic, &[vec![old], vec![new]]).await?;
    let mut want = Rows::new();
    want.insert(1, vec![Some("old".into()), Some("b".into()), Some("1".into()), None]);
    want.insert(2, vec![Some("new".into()), Some("b".into()), Some("2".into()), Some("e".into())]);
    expect_rows(h, ns, "widened", &["name", "big", "n", "extra"], &want, "new_column").await
}

/// A table `name` with one committed row (offset 0), then `bad` applied from offset 1: the
/// error of the apply or of its commit (`Ok(None)`: the target took it all).
async fn refusal<H: Harness>(
    h: &H,
    ns: &str,
    name: &str,
    bad: impl FnOnce(&Arc<TableSchema>) -> Vec<ChangeEvent>,
) -> Result<(Option<sluice_core::Error>, Rows)> {
    let t = schema(name, false);
    let topic = format!("{ns}.{name}");
    let good = vec![upsert(&t, Op::Create, row(1, "good", text("b"), 1))];
    let mut sink = connect(h, ns, name).await?;
    apply_batches(&mut sink, &topic, std::slice::from_ref(&good)).await?;
    let batch = bad(&t);
    let failed = match apply_from(&mut sink, &topic, &batch, 1).await {
        Err(e) => Some(e),
        Ok(()) => commit(&mut sink, &offsets(&topic, 1 + batch.len() as i64)).await.err(),
    };
    Ok((failed, model(&good)))
}

/// After a [`refusal`]: the table holds only the committed row and the offsets did not move.
async fn nothing_of_it<H: Harness>(h: &H, ns: &str, name: &str, good: &Rows, case: &str) -> Result<()> {
    expect_rows(h, ns, name, &V1, good, case).await?;
    let stored = connect(h, ns, name).await?.stored_offsets().await?;
    ensure!(stored == offsets(&format!("{ns}.{name}"), 1), "{case}: stored offsets {stored:?}");
    Ok(())
}

pub async fn poison_record<H: Harness>(h: &H, ns: &str) -> Result<()> {
    let (failed, good) = refusal(h, ns, "poisoned", |t| {
        let mut bad_row = row(0, "bad", text("b"), 2);
        bad_row[0] = Value::Null;
        vec![upsert(t, Op::Create, row(2, "same batch", text("b"), 2)), upsert(t, Op::Create, bad_row)]
    })
    .await?;
    let Some(failed) = failed else { bail!("poison_record: the target took a row with a NULL key") };
    ensure!(
        failed.kind() == ErrorKind::Fatal,
        "poison_record: refusing a NULL key must be fatal, got: {failed}"
    );
    nothing_of_it(h, ns, "poisoned", &good, "poison_record").await
}

pub async fn oversized_value<H: Harness>(h: &H, ns: &str) -> Result<()> {
    let Some(size) = h.too_large() else { return Ok(()) };
    let (failed, good) = refusal(h, ns, "oversized", |t| {
        vec![upsert(t, Op::Create, row(2, "big", text(&"x".repeat(size)), 2))]
    })
    .await?;
    let Some(failed) = failed else { bail!("oversized_value: the target took a row of {size} bytes") };
    ensure!(
        failed.kind() == ErrorKind::Fatal && failed.to_string().contains("oversized"),
        "oversized_value: refusing a row over the limit must be fatal and name the table, got: {failed}"
    );
    nothing_of_it(h, ns, "oversized", &good, "oversized_value").await
}

pub async fn unreachable_target<H: Harness>(h: &H) -> Result<()> {
    match H::T::connect(&h.unreachable(), "down").await {
        Ok(_) => bail!("unreachable_target: connected to an address where nothing listens"),
        Err(e) => ensure!(
            e.kind() == ErrorKind::Retriable,
            "unreachable_target: an unreachable target must be retriable (retried with backoff), got: {e}"
        ),
    }
    let checks = H::T::checks(&h.unreachable(), "sink").await;
    ensure!(
        checks.iter().any(|c| matches!(c.outcome, CheckOutcome::Error { .. })),
        "unreachable_target: the preflight checks did not report it: {checks:?}"
    );
    Ok(())
}

/// Every case, each in a fresh namespace from `ns`; all failures are reported together.
pub async fn run_all<H: Harness>(h: &H, ns: impl Fn(&str) -> String) -> Result<()> {
    let mut failures = Vec::new();
    macro_rules! case {
        ($name:ident) => {
            if let Err(e) = $name(h, &ns(stringify!($name))).await {
                failures.push(format!("{}: {e:#}", stringify!($name)));
            }
        };
    }
    case!(per_key_order);
    case!(replay_changes_nothing);
    case!(crash_mid_batch);
    case!(fenced_member);
    case!(truncate);
    case!(unchanged_columns);
    case!(new_column);
    case!(poison_record);
    case!(oversized_value);
    if let Err(e) = unreachable_target(h).await {
        failures.push(format!("unreachable_target: {e:#}"));
    }
    ensure!(failures.is_empty(), "{} conformance case(s) failed:\n{}", failures.len(), failures.join("\n"));
    Ok(())
}
