//! The object-store sink: rows staged in memory per (topic, partition), written as files when a
//! partition rolls, made durable by a manifest.
//!
//! Layout (keys under `prefix`):
//! - data: `<schema>/<table>/[date=YYYY-MM-DD/[hour=HH/]]<topic>+<partition>+<first>-<last>.<ext>`,
//!   offsets zero-padded to 20 digits; a new table schema version starts a new file;
//! - `_sluice/<sink>/<topic>+<partition>/manifest-<start>.json`: one per roll, `start` = the
//!   previous roll's `next_offset`; holds `next_offset` and the roll's files;
//! - `_sluice/<sink>/<topic>+<partition>/pending.json`: the files of the roll being written.
//!
//! Invariants (exactly once, without transactions):
//! - A roll writes `pending.json`, then its files, then its manifest with `If-None-Match: *`;
//!   the manifest is the commit point, and only then are the roll's offsets reported durable
//!   (`Committed::Through`). A crash before the manifest leaves files that no manifest lists:
//!   the next start deletes the files `pending.json` names, then resumes at the last manifest's
//!   `next_offset` — so the files are those of an uninterrupted run, split at other offsets.
//! - Offsets come only from the manifests (`stored_offsets`). Records below a partition's
//!   durable offset are skipped; a record below what is staged (a redelivery after a
//!   reassignment) drops what is staged for that partition first.
//! - Of two writers of one partition (a stale group member), the second manifest for the same
//!   `start` is refused: that writer deletes its files not in the winner's manifest and fails
//!   retriably (the runtime restarts from the manifests).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sluice_core::sink::METRIC_APPLIED;
use sluice_core::{BrokerOffset, ChangeEvent, Committed, RecordAt, Result, Sink, TableSchema};

use crate::config::{Format, Partitioning, S3SinkConfig};
use crate::error::S3Error;
use crate::rows::FileRow;
use crate::store::Bucket;

/// Files uploaded at once.
const UPLOADS: usize = 4;
/// Manifests kept per partition (older ones are deleted after a roll).
const KEEP_MANIFESTS: usize = 2;

struct OpenFile {
    table: Arc<TableSchema>,
    mysql: bool,
    dir: String,
    rows: Vec<FileRow>,
    bytes: usize,
    first: i64,
    last: i64,
}

#[derive(Default)]
struct Partition {
    /// Open files, by (table, schema version, directory).
    files: Vec<OpenFile>,
    /// When the oldest staged record came.
    opened: Option<Instant>,
    /// The offset after everything staged or committed past.
    next: Option<i64>,
    /// The last manifest's `next_offset`: where the next roll starts.
    durable: Option<i64>,
    /// When the last roll of this partition was written.
    rolled: Option<Instant>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    sink: String,
    topic: String,
    partition: i32,
    start: i64,
    next_offset: i64,
    files: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    start: i64,
    files: Vec<String>,
}

pub struct S3Sink {
    config: S3SinkConfig,
    bucket: Bucket,
    name: String,
    partitions: HashMap<(Arc<str>, i32), Partition>,
    /// Set by a failed roll: work is refused until `stored_offsets` rebuilt the state from the
    /// manifests (a partition staged afresh would start a roll past the records that failed).
    broken: bool,
}

impl S3Sink {
    pub async fn connect(config: S3SinkConfig, name: &str) -> std::result::Result<Self, S3Error> {
        config.ensure_valid().map_err(S3Error::fatal)?;
        let bucket = Bucket::new(&config.connection, &config.bucket)?;
        // Reaches the bucket with these credentials (a missing bucket is fatal).
        bucket.list(&config.key(&format!("_sluice/{name}/"))).await?;
        Ok(Self { config, bucket, name: name.to_owned(), partitions: HashMap::new(), broken: false })
    }

    fn state_dir(&self, topic: &str, partition: i32) -> String {
        self.config.key(&format!("_sluice/{}/{topic}+{partition}", self.name))
    }

    /// The directory of an event's file.
    fn dir(&self, ev: &ChangeEvent) -> String {
        let t = &ev.table.id;
        let mut d = format!("{}/{}", t.schema, t.table);
        if self.config.partitioning != Partitioning::None {
            let secs = ev.source.ts_ms.div_euclid(1000);
            let date = sluice_core::civil::date_text(secs.div_euclid(86_400));
            d.push_str(&format!("/date={date}"));
            if self.config.partitioning == Partitioning::Hour {
                d.push_str(&format!("/hour={:02}", secs.rem_euclid(86_400) / 3600));
            }
        }
        self.config.key(&d)
    }

    fn stage(&mut self, ev: &ChangeEvent, at: &RecordAt<'_>) -> std::result::Result<(), S3Error> {
        let topic: Arc<str> = at.topic.into();
        if self
            .partitions
            .get(&(topic.clone(), at.partition))
            .is_some_and(|p| p.durable.is_some_and(|d| at.offset < d))
        {
            return Ok(()); // already in a committed file
        }
        // Refusals first: a refused record changes nothing (the dead-letter policy takes it).
        let row = FileRow::of(ev, at, &topic).map_err(S3Error::fatal)?;
        let checked = match self.config.format {
            Format::Parquet => crate::parquet::check(&ev.table, &row.image),
            Format::Avro => crate::avro::check(&ev.table, &row.image),
            Format::Jsonl => Ok(()),
        };
        checked.map_err(|e| {
            S3Error::fatal(format!(
                "{} event for {} at {}[{}]@{}: {e}",
                ev.op.code(),
                ev.table.id,
                at.topic,
                at.partition,
                at.offset
            ))
        })?;
        let dir = self.dir(ev);
        let p = self.partitions.entry((topic.clone(), at.partition)).or_default();
        if p.next.is_some_and(|n| at.offset < n) && !p.files.is_empty() {
            // Redelivered: what is staged from this offset on comes again.
            for f in &mut p.files {
                f.rows.retain(|r| r.meta.offset < at.offset);
                f.bytes = f.rows.iter().map(FileRow::weight).sum();
                if let (Some(first), Some(last)) = (f.rows.first(), f.rows.last()) {
                    (f.first, f.last) = (first.meta.offset, last.meta.offset);
                }
            }
            p.files.retain(|f| !f.rows.is_empty());
            if p.files.is_empty() {
                p.opened = None;
            }
        }
        let t = &ev.table;
        let same_table = |f: &OpenFile| {
            Arc::ptr_eq(&f.table, t)
                || (f.table.id == t.id && f.table.version == t.version && f.table.columns == t.columns)
        };
        let i = match p.files.iter().position(|f| f.dir == dir && same_table(f)) {
            Some(i) => i,
            None => {
                p.files.push(OpenFile {
                    table: t.clone(),
                    mysql: ev.source.connector == "mysql",
                    dir,
                    rows: Vec::new(),
                    bytes: 0,
                    first: at.offset,
                    last: at.offset,
                });
                p.files.len() - 1
            }
        };
        let f = &mut p.files[i];
        f.bytes += row.weight();
        f.last = at.offset;
        f.rows.push(row);
        p.opened.get_or_insert_with(Instant::now);
        p.next = Some(at.offset + 1);
        // The partition's first record: its first roll starts here.
        p.durable.get_or_insert(at.offset);
        Ok(())
    }

    fn due(&self, p: &Partition, now: Instant) -> bool {
        let age = Duration::from_secs(self.config.roll_secs);
        if p.files
            .iter()
            .any(|f| f.rows.len() >= self.config.roll_records || f.bytes >= self.config.roll_bytes)
        {
            return true;
        }
        if p.opened.is_some_and(|o| now.duration_since(o) >= age) {
            return true;
        }
        // Offsets moved past records that hold no rows (tombstones): record them now and then
        // (from a known start only: an empty first roll could not be told from a later one).
        p.files.is_empty()
            && p.durable.is_some_and(|d| p.next.is_some_and(|n| n > d))
            && p.rolled.is_none_or(|r| now.duration_since(r) >= age)
    }

    /// Write the files of partition `key` and its manifest; returns the new durable offset.
    async fn roll(&mut self, key: &(Arc<str>, i32)) -> std::result::Result<Option<BrokerOffset>, S3Error> {
        let Some(p) = self.partitions.get_mut(key) else { return Ok(None) };
        // Staging a record sets both; a partition without them has nothing to roll.
        let (Some(next), Some(start)) = (p.next, p.durable) else { return Ok(None) };
        let files = std::mem::take(&mut p.files);
        p.opened = None;
        let (topic, partition) = (key.0.to_string(), key.1);
        let ext = self.config.format.extension();
        let names: Vec<String> = files
            .iter()
            .map(|f| format!("{}/{topic}+{partition}+{:020}-{:020}.{ext}", f.dir, f.first, f.last))
            .collect();
        let state = self.state_dir(&topic, partition);
        if !names.is_empty() {
            let pending = serde_json::to_vec(&Pending { start, files: names.clone() })
                .map_err(|e| S3Error::fatal(e.to_string()))?;
            self.bucket.put(&format!("{state}/pending.json"), pending).await?;
        }
        let uploads: Vec<_> =
            files.iter().zip(&names).map(|(f, name)| upload(&self.bucket, &self.config, f, name)).collect();
        futures::stream::iter(uploads).buffer_unordered(UPLOADS).try_collect::<()>().await?;
        let manifest = Manifest {
            sink: self.name.clone(),
            topic: topic.clone(),
            partition,
            start,
            next_offset: next,
            files: names.clone(),
        };
        let body = serde_json::to_vec(&manifest).map_err(|e| S3Error::fatal(e.to_string()))?;
        let mkey = format!("{state}/manifest-{start:020}.json");
        if !self.bucket.put_if_absent(&mkey, body).await? {
            let winner: Option<Manifest> =
                self.bucket.get(&mkey).await?.and_then(|b| serde_json::from_slice(&b).ok());
            // The same manifest is this roll's own: the client retried a create whose answer was
            // lost, and the retry found it (412). Any other is another writer's.
            let ours = winner.as_ref().is_some_and(|w| w.next_offset == next && w.files == names);
            if !ours {
                let keep = winner.map(|w| w.files).unwrap_or_default();
                for n in names.iter().filter(|n| !keep.contains(n)) {
                    self.bucket.delete(n).await?;
                }
                return Err(S3Error::retriable(format!(
                    "partition {topic}[{partition}] from offset {start} was committed by another writer \
                     (a group member that took the partition over); restarting from the manifests"
                )));
            }
        }
        tracing::debug!(topic, partition, start, next, files = names.len(), "rolled");
        if !names.is_empty() {
            self.bucket.delete(&format!("{state}/pending.json")).await?;
        }
        self.prune(&state).await?;
        if let Some(p) = self.partitions.get_mut(key) {
            p.durable = Some(next);
            p.rolled = Some(Instant::now());
        }
        Ok(Some(BrokerOffset { topic, partition, next_offset: next }))
    }

    /// Delete all but the newest [`KEEP_MANIFESTS`] manifests of a partition.
    async fn prune(&self, state: &str) -> std::result::Result<(), S3Error> {
        let manifests: Vec<String> =
            self.bucket.list(state).await?.into_iter().filter(|k| is_manifest(k)).collect();
        for old in manifests.iter().rev().skip(KEEP_MANIFESTS) {
            self.bucket.delete(old).await?;
        }
        Ok(())
    }

    /// The partitions' durable offsets from their newest manifests; files of a roll that did
    /// not reach its manifest are deleted first.
    async fn recover(&mut self) -> std::result::Result<Vec<BrokerOffset>, S3Error> {
        let root = self.config.key(&format!("_sluice/{}", self.name));
        let keys = self.bucket.list(&root).await?;
        let mut newest: HashMap<String, String> = HashMap::new();
        let mut pendings = Vec::new();
        for k in &keys {
            let Some((dir, file)) = k.rsplit_once('/') else { continue };
            if is_manifest(file) {
                let e = newest.entry(dir.to_owned()).or_default();
                if k.as_str() > e.as_str() {
                    *e = k.clone();
                }
            } else if file == "pending.json" {
                pendings.push((dir.to_owned(), k.clone()));
            }
        }
        self.partitions.clear();
        self.broken = false;
        let mut out = Vec::new();
        for key in newest.values() {
            let body = self.bucket.get(key).await?.unwrap_or_default();
            let m: Manifest = serde_json::from_slice(&body).map_err(|e| {
                S3Error::fatal(format!("s3://{}/{key}: not a manifest: {e}", self.bucket.name))
            })?;
            let p = self.partitions.entry((m.topic.as_str().into(), m.partition)).or_default();
            p.durable = Some(m.next_offset);
            p.next = Some(m.next_offset);
            out.push(BrokerOffset { topic: m.topic, partition: m.partition, next_offset: m.next_offset });
        }
        for (dir, key) in pendings {
            let body = self.bucket.get(&key).await?.unwrap_or_default();
            if let Ok(pending) = serde_json::from_slice::<Pending>(&body) {
                let committed = newest.get(&dir).is_some_and(|m| manifest_start(m) >= Some(pending.start));
                if !committed {
                    for f in &pending.files {
                        tracing::info!(file = %f, "deleting a file of a roll that did not commit");
                        self.bucket.delete(f).await?;
                    }
                }
            }
            self.bucket.delete(&key).await?;
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    async fn commit_rolls(
        &mut self,
        offsets: &[BrokerOffset],
        all: bool,
    ) -> std::result::Result<Committed, S3Error> {
        for o in offsets {
            let p = self.partitions.entry((o.topic.as_str().into(), o.partition)).or_default();
            p.next = Some(p.next.map_or(o.next_offset, |n| n.max(o.next_offset)));
        }
        let now = Instant::now();
        let due: Vec<(Arc<str>, i32)> = self
            .partitions
            .iter()
            .filter(|(_, p)| {
                if all {
                    !p.files.is_empty() || p.durable.is_some_and(|d| p.next.is_some_and(|n| n > d))
                } else {
                    self.due(p, now)
                }
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut durable = Vec::new();
        for key in due {
            if let Some(o) = self.roll(&key).await? {
                durable.push(o);
            }
        }
        Ok(Committed::Through(durable))
    }
}

impl S3Sink {
    /// After a failed roll, nothing more until the state is rebuilt from the manifests.
    fn ensure_intact(&self) -> std::result::Result<(), S3Error> {
        if self.broken {
            return Err(S3Error::retriable("a roll failed; restarting from the manifests"));
        }
        Ok(())
    }
}

fn is_manifest(key: &str) -> bool {
    key.rsplit('/').next().is_some_and(|f| f.starts_with("manifest-") && f.ends_with(".json"))
}

fn manifest_start(key: &str) -> Option<i64> {
    key.rsplit('/').next()?.strip_prefix("manifest-")?.strip_suffix(".json")?.parse().ok()
}

/// Encode and write one file.
async fn upload(
    bucket: &Bucket,
    config: &S3SinkConfig,
    f: &OpenFile,
    name: &str,
) -> std::result::Result<(), S3Error> {
    let body = encode(config, f, name)?;
    bucket.put(name, body).await?;
    for r in &f.rows {
        metrics::counter!(METRIC_APPLIED, "table" => f.table.id.to_string(), "op" => r.meta.op).increment(1);
    }
    Ok(())
}

fn encode(config: &S3SinkConfig, f: &OpenFile, name: &str) -> std::result::Result<Vec<u8>, S3Error> {
    let (rows, level) = (config.row_group_rows, config.zstd_level);
    match config.format {
        Format::Jsonl => Ok(crate::jsonl::encode(&f.table, &f.rows)),
        Format::Parquet => crate::parquet::encode(&f.table, f.mysql, &f.rows, rows, level),
        Format::Avro => crate::avro::encode(&f.table, f.mysql, &f.rows, rows, config.deflate_level, name),
    }
    .map_err(|e| S3Error::fatal(format!("{} (offsets {}..={}): {e}", f.table.id, f.first, f.last)))
}

impl Sink for S3Sink {
    async fn apply(&mut self, events: &[ChangeEvent]) -> Result<()> {
        let _ = events;
        Err(S3Error::fatal(
            "the s3 target writes each record's topic, partition and offset, which \
             transaction-consistent mode does not provide; set transaction_consistent = false",
        )
        .into())
    }

    async fn apply_at(&mut self, events: &[ChangeEvent], at: &[RecordAt<'_>]) -> Result<()> {
        self.ensure_intact()?;
        for (ev, at) in events.iter().zip(at) {
            self.stage(ev, at)?;
        }
        Ok(())
    }

    async fn commit(&mut self, offsets: &[BrokerOffset]) -> Result<Committed> {
        self.ensure_intact()?;
        let result = self.commit_rolls(offsets, false).await;
        if result.is_err() {
            // What is staged is replayed from the manifests' offsets, after `stored_offsets`.
            self.partitions.clear();
            self.broken = true;
        }
        Ok(result?)
    }

    async fn stored_offsets(&mut self) -> Result<Vec<BrokerOffset>> {
        Ok(self.recover().await?)
    }

    /// Roll everything staged, with its offsets (a clean stop leaves nothing waiting).
    async fn close(&mut self) {
        if self.broken {
            return;
        }
        if let Err(e) = self.commit_rolls(&[], true).await {
            tracing::warn!(error = %e, "rolling at close; the records are replayed on restart");
        }
    }
}
