//! The Iceberg sink: change rows staged per table, appended as one snapshot per commit, the
//! snapshot recording the broker offsets it covers.
//!
//! Invariants (exactly once, on the catalog's compare-and-swap of a table's metadata):
//! - A commit of table T writes data files, then one fast-append snapshot whose summary holds
//!   `sluice.offsets.<sink>` — for each partition the commit advanced, the offset after its last
//!   record — and `sluice.high-water`, the same values under a key every sink shares. The
//!   snapshot is the commit point; only then are those offsets reported durable
//!   (`Committed::Through`). A partition's durable offset is the value of the newest snapshot
//!   that names it (each snapshot names only what its commit advanced, so group members writing
//!   other partitions of T never overwrite each other's offsets).
//! - Offsets come only from the tables (`stored_offsets`: every table of the namespace, its
//!   snapshot history walked once; later commits walk only the snapshots added since). Records
//!   below a partition's durable offset are skipped; a redelivered record drops the partition's
//!   staged rows from its offset on. Rows below the table-wide high-water mark are in the table
//!   already and are dropped from a commit (another sink name replaying a topic adds nothing).
//! - Before appending, the sink re-reads the table: rows another writer committed meanwhile (a
//!   group member that had the partition) are below the high-water mark and dropped; a commit
//!   that would move a partition's offset back commits nothing and is retriable. iceberg-rust re-bases an append onto a
//!   snapshot committed meanwhile, so this check cannot be atomic with the append: a snapshot
//!   that landed in between for the same partition is reported (warning, metric
//!   `sluice_sink_iceberg_concurrent_writers_total`) — its rows may then be in T twice.
//! - After a failed commit the sink refuses work (retriable) until `stored_offsets` rebuilt its
//!   state from the tables: nothing staged before the failure is reported durable by a later
//!   commit.
//! - One topic partition feeds one table; a partition whose events map to a second table while
//!   the first has uncommitted rows is a fatal, named error.
//! - A crash after files are written but before the snapshot leaves unreferenced files: never
//!   read, removed by Iceberg's orphan-file maintenance.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, NamespaceIdent, TableIdent};
use iceberg_catalog_sql::SqlCatalog;
use sluice_core::sink::METRIC_APPLIED;
use sluice_core::{BrokerOffset, ChangeEvent, Committed, RecordAt, Result, Sink, TableSchema};
use sluice_s3::rows::FileRow;

use crate::config::IcebergSinkConfig;
use crate::error::IcebergError;
use crate::write::{data_files, Slice};

/// `{topic: {partition: next offset}}` as a snapshot records it.
type OffsetMap = BTreeMap<String, BTreeMap<i32, i64>>;

/// Rows of one table waiting for its next commit.
#[derive(Default)]
struct Staged {
    /// One entry per source schema version, in arrival order.
    slices: Vec<(Arc<TableSchema>, bool, Vec<FileRow>)>,
    rows: usize,
    opened: Option<Instant>,
    committed: Option<Instant>,
}

#[derive(Default)]
struct Partition {
    /// The table its rows go to (one topic is one source table).
    table: Option<String>,
    /// The topic's name, shared by its staged rows.
    topic: Option<Arc<str>>,
    /// The source table its last event came from (`table` is its name).
    source: Option<sluice_core::TableId>,
    /// The offset after everything staged or committed past.
    next: Option<i64>,
    /// What the table's snapshots record for this partition.
    durable: Option<i64>,
}

/// What a table's snapshots record, as far as the sink has walked them.
#[derive(Default)]
struct TableLog {
    /// The newest snapshot walked.
    seen: Option<i64>,
    /// This sink's offsets: per partition, the newest snapshot's value.
    own: OffsetMap,
    /// Every sink's: per partition, the highest value.
    high_water: OffsetMap,
}

pub struct IcebergSink {
    config: IcebergSinkConfig,
    catalog: SqlCatalog,
    namespace: NamespaceIdent,
    name: String,
    tables: HashMap<String, Staged>,
    partitions: HashMap<(Arc<str>, i32), Partition>,
    logs: HashMap<String, TableLog>,
    /// Set by a failed commit: work is refused until `stored_offsets` runs.
    broken: bool,
}

impl IcebergSink {
    pub async fn connect(config: IcebergSinkConfig, name: &str) -> std::result::Result<Self, IcebergError> {
        config.ensure_valid().map_err(IcebergError::fatal)?;
        // The warehouse reachable with these credentials (a missing bucket is fatal).
        if let Some(ep) = &config.connection {
            let (bucket, prefix) = config.warehouse_bucket();
            sluice_s3::store::Bucket::new(ep, bucket)?.list(prefix).await?;
        }
        let catalog = crate::catalog::open(&config).await?;
        let namespace = NamespaceIdent::from_strs(config.namespace.split('.'))
            .map_err(|e| IcebergError::from_iceberg("namespace", &e))?;
        crate::catalog::ensure_namespace(&catalog, &namespace).await?;
        Ok(Self {
            config,
            catalog,
            namespace,
            name: name.to_owned(),
            tables: HashMap::new(),
            partitions: HashMap::new(),
            logs: HashMap::new(),
            broken: false,
        })
    }

    /// The summary key of this sink's offsets.
    fn offsets_key(&self) -> String {
        format!("sluice.offsets.{}", self.name)
    }

    fn ident(&self, table: &str) -> TableIdent {
        TableIdent::new(self.namespace.clone(), table.to_owned())
    }

    fn stage(&mut self, ev: &ChangeEvent, at: &RecordAt<'_>) -> std::result::Result<(), IcebergError> {
        let key = (Arc::<str>::from(at.topic), at.partition);
        let p = self.partitions.entry(key).or_default();
        if p.durable.is_some_and(|d| at.offset < d) {
            return Ok(()); // already in the table
        }
        let topic = p.topic.get_or_insert_with(|| at.topic.into()).clone();
        // Refusals first: a refused record changes nothing (the dead-letter policy takes it).
        let refuse = |e: String| {
            IcebergError::fatal(format!(
                "{} event for {} at {}[{}]@{}: {e}",
                ev.op.code(),
                ev.table.id,
                at.topic,
                at.partition,
                at.offset
            ))
        };
        let row = FileRow::of(ev, at, &topic).map_err(IcebergError::fatal)?;
        sluice_s3::parquet::check(&ev.table, &row.image).map_err(refuse)?;
        let table = match &p.table {
            Some(t) if p.source.as_ref() == Some(&ev.table.id) => t.clone(),
            _ => self.config.table_name(&ev.table.id.schema, &ev.table.id.table),
        };
        let active = p.durable.is_some_and(|d| p.next.is_some_and(|n| n > d));
        if let Some(old) = p.table.as_ref().filter(|old| **old != table && active) {
            return Err(refuse(format!(
                "this partition also feeds table {old}, which has uncommitted rows; the iceberg target \
                 needs one table per topic"
            )));
        }
        let redelivered = p.next.is_some_and(|n| at.offset < n);
        if p.source.as_ref() != Some(&ev.table.id) {
            p.source = Some(ev.table.id.clone());
        }
        p.table = Some(table.clone());
        p.next = Some(at.offset + 1);
        p.durable.get_or_insert(at.offset);
        if redelivered {
            // Redelivered: what is staged of this partition from this offset on comes again.
            let (partition, offset) = (at.partition, at.offset);
            for s in self.tables.values_mut() {
                for (_, _, rows) in &mut s.slices {
                    rows.retain(|r| {
                        !(r.meta.partition == partition && *r.meta.topic == *topic && r.meta.offset >= offset)
                    });
                }
                s.slices.retain(|(_, _, rows)| !rows.is_empty());
                s.rows = s.slices.iter().map(|(_, _, r)| r.len()).sum();
            }
        }
        let s = self.tables.entry(table).or_default();
        let t = &ev.table;
        let same =
            |x: &Arc<TableSchema>| Arc::ptr_eq(x, t) || (x.version == t.version && x.columns == t.columns);
        match s.slices.last_mut() {
            Some((x, _, rows)) if same(x) => rows.push(row),
            _ => s.slices.push((t.clone(), ev.source.connector == "mysql", vec![row])),
        }
        s.rows += 1;
        s.opened.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Tables whose staged rows (or offsets past tombstones) should be committed now.
    fn due(&self, now: Instant, all: bool) -> Vec<String> {
        let age = Duration::from_secs(self.config.commit_secs);
        let mut due: Vec<String> = Vec::new();
        for (name, s) in &self.tables {
            let aged = s.opened.is_some_and(|o| now.duration_since(o) >= age);
            if s.rows > 0 && (all || aged || s.rows >= self.config.commit_records) {
                due.push(name.clone());
            }
        }
        // Offsets that moved past records without rows, on a table already known.
        for p in self.partitions.values() {
            let Some(table) = &p.table else { continue };
            let moved = p.durable.is_some_and(|d| p.next.is_some_and(|n| n > d));
            let waited = self
                .tables
                .get(table)
                .is_none_or(|s| s.committed.is_none_or(|c| now.duration_since(c) >= age));
            if moved && (all || waited) && !due.contains(table) {
                due.push(table.clone());
            }
        }
        due.sort();
        due
    }

    /// Walk the snapshots of `table` added since the last walk into its [`TableLog`].
    fn refresh(&mut self, name: &str, table: &Table) -> std::result::Result<(), IcebergError> {
        let own_key = self.offsets_key();
        let log = self.logs.entry(name.to_owned()).or_default();
        let md = table.metadata();
        let mut fresh_own = OffsetMap::new();
        let mut cur = md.current_snapshot();
        let newest_id = cur.map(|s| s.snapshot_id());
        while let Some(s) = cur {
            if Some(s.snapshot_id()) == log.seen {
                break;
            }
            let props = &s.summary().additional_properties;
            if let Some(v) = props.get(&own_key) {
                // Newest first: a partition keeps the first value met.
                for (topic, parts) in offset_map(table, &own_key, v)? {
                    let known = fresh_own.entry(topic).or_default();
                    for (p, n) in parts {
                        known.entry(p).or_insert(n);
                    }
                }
            }
            if let Some(v) = props.get(HIGH_WATER_KEY) {
                for (topic, parts) in offset_map(table, HIGH_WATER_KEY, v)? {
                    let known = log.high_water.entry(topic).or_default();
                    for (p, n) in parts {
                        let h = known.entry(p).or_insert(n);
                        *h = (*h).max(n);
                    }
                }
            }
            cur = s.parent_snapshot_id().and_then(|id| md.snapshot_by_id(id));
        }
        for (topic, parts) in fresh_own {
            log.own.entry(topic).or_default().extend(parts);
        }
        log.seen = newest_id;
        Ok(())
    }

    /// The partitions of table `name` this sink advanced past what the table holds.
    fn active(&self, name: &str) -> Vec<(Arc<str>, i32)> {
        let mut out: Vec<(Arc<str>, i32)> = self
            .partitions
            .iter()
            .filter(|(_, p)| {
                p.table.as_deref() == Some(name) && p.durable.is_some_and(|d| p.next.is_some_and(|n| n > d))
            })
            .map(|(k, _)| k.clone())
            .collect();
        out.sort();
        out
    }

    /// Commit table `name`: its staged rows and its partitions' offsets, in one snapshot.
    async fn commit_table(&mut self, name: &str) -> std::result::Result<Vec<BrokerOffset>, IcebergError> {
        let ident = self.ident(name);
        let mut staged = self.tables.remove(name).unwrap_or_default();
        let mut table = match staged.slices.first() {
            Some((t, mysql, _)) => {
                crate::catalog::ensure_table(&self.catalog, &self.config, &ident, t, *mysql).await?
            }
            None => self
                .catalog
                .load_table(&ident)
                .await
                .map_err(|e| IcebergError::from_iceberg(&format!("table {ident}"), &e))?,
        };
        for (t, mysql, _) in staged.slices.iter().skip(1) {
            table = crate::catalog::evolve(&self.catalog, table, t, *mysql).await?;
        }
        self.refresh(name, &table)?;
        let active = self.active(name);
        let empty = TableLog::default();
        let log = self.logs.get(name).unwrap_or(&empty);
        let checked = log.seen;
        // Another writer (a member that took the partition over, or this sink before a
        // rebalance brought it back) may have moved a partition on: the rows it wrote are below
        // the high-water mark and dropped below, but an offset must never move back.
        for k in &active {
            let recorded = log.own.get(&*k.0).and_then(|m| m.get(&k.1)).copied();
            if recorded.is_some_and(|r| self.partitions[k].next.is_none_or(|n| n < r)) {
                return Err(IcebergError::retriable(format!(
                    "partition {}[{}] of {ident} was committed up to {} by another writer (a group \
                     member that took the partition over); restarting from the tables' snapshots",
                    k.0,
                    k.1,
                    recorded.unwrap_or_default()
                )));
            }
        }
        // Records any writer of the table (another sink name replaying the topic) committed are
        // in it already: a record is in the table once.
        for (_, _, rows) in &mut staged.slices {
            rows.retain(|r| {
                let hw = log.high_water.get(&*r.meta.topic).and_then(|m| m.get(&r.meta.partition));
                hw.is_none_or(|&h| r.meta.offset >= h)
            });
        }
        staged.slices.retain(|(_, _, rows)| !rows.is_empty());
        let mut advanced = OffsetMap::new();
        let mut moved = Vec::new();
        for k in &active {
            if let Some(n) = self.partitions[k].next {
                advanced.entry(k.0.to_string()).or_default().insert(k.1, n);
                moved.push(BrokerOffset { topic: k.0.to_string(), partition: k.1, next_offset: n });
            }
        }
        let slices: Vec<Slice<'_>> =
            staged.slices.iter().map(|(t, _, rows)| Slice { table: t, rows }).collect();
        let files = if slices.is_empty() {
            Vec::new()
        } else {
            data_files(&table, &slices, self.config.zstd_level).await?
        };
        let started = Instant::now();
        let json = serde_json::to_string(&advanced).map_err(|e| IcebergError::fatal(e.to_string()))?;
        let properties =
            HashMap::from([(self.offsets_key(), json.clone()), (HIGH_WATER_KEY.to_owned(), json)]);
        let ctx = format!("committing to {ident}");
        let tx = Transaction::new(&table);
        let tx = tx
            .fast_append()
            .with_check_duplicate(false)
            .add_data_files(files)
            .set_snapshot_properties(properties)
            .apply(tx)
            .map_err(|e| IcebergError::from_iceberg(&ctx, &e))?;
        let table = tx.commit(&self.catalog).await.map_err(|e| IcebergError::from_iceberg(&ctx, &e))?;
        metrics::histogram!("sluice_sink_iceberg_commit_seconds").record(started.elapsed().as_secs_f64());
        self.report_concurrent_writers(&table, checked, &advanced);
        if let Some((t, _, _)) = staged.slices.first() {
            let mut applied: HashMap<&'static str, u64> = HashMap::new();
            for r in staged.slices.iter().flat_map(|(_, _, rows)| rows) {
                *applied.entry(r.meta.op).or_default() += 1;
            }
            let id = t.id.to_string();
            for (op, n) in applied {
                metrics::counter!(METRIC_APPLIED, "table" => id.clone(), "op" => op).increment(n);
            }
        }
        tracing::debug!(table = %ident, partitions = moved.len(), "committed");
        for k in &active {
            if let Some(p) = self.partitions.get_mut(k) {
                p.durable = p.next;
            }
        }
        self.tables.insert(name.to_owned(), Staged { committed: Some(Instant::now()), ..Staged::default() });
        Ok(moved)
    }

    /// Snapshots between the one this commit checked and its own that name a partition it
    /// advanced were committed by another writer meanwhile: their rows may repeat this commit's.
    fn report_concurrent_writers(&self, table: &Table, checked: Option<i64>, advanced: &OffsetMap) {
        let md = table.metadata();
        let Some(own) = md.current_snapshot() else { return };
        let mut cur = own.parent_snapshot_id().and_then(|id| md.snapshot_by_id(id));
        while let Some(s) = cur {
            if Some(s.snapshot_id()) == checked {
                return;
            }
            let props = &s.summary().additional_properties;
            let theirs: OffsetMap =
                props.get(HIGH_WATER_KEY).and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default();
            for (topic, parts) in &theirs {
                for p in parts.keys() {
                    if advanced.get(topic).is_some_and(|m| m.contains_key(p)) {
                        metrics::counter!("sluice_sink_iceberg_concurrent_writers_total").increment(1);
                        tracing::warn!(
                            table = %table.identifier(), topic, partition = p, snapshot = s.snapshot_id(),
                            "another writer committed this partition while this commit ran (a stale group \
                             member): its rows may be in the table twice"
                        );
                    }
                }
            }
            cur = s.parent_snapshot_id().and_then(|id| md.snapshot_by_id(id));
        }
    }

    /// Every partition's durable offset, from the namespace's tables.
    async fn recover(&mut self) -> std::result::Result<Vec<BrokerOffset>, IcebergError> {
        self.partitions.clear();
        self.tables.clear();
        self.logs.clear();
        self.broken = false;
        let ctx = format!("listing namespace {}", self.config.namespace);
        let idents = self
            .catalog
            .list_tables(&self.namespace)
            .await
            .map_err(|e| IcebergError::from_iceberg(&ctx, &e))?;
        for ident in idents {
            let table = self
                .catalog
                .load_table(&ident)
                .await
                .map_err(|e| IcebergError::from_iceberg(&format!("loading {ident}"), &e))?;
            let name = ident.name().to_owned();
            self.refresh(&name, &table)?;
            let own = self.logs.get(&name).map(|l| l.own.clone()).unwrap_or_default();
            for (topic, parts) in own {
                for (partition, next) in parts {
                    let p = self.partitions.entry((topic.as_str().into(), partition)).or_default();
                    // A partition recorded in two tables (table_pattern changed): the further.
                    if p.durable.is_none_or(|d| next > d) {
                        p.table = Some(name.clone());
                        p.durable = Some(next);
                        p.next = Some(next);
                    }
                }
            }
        }
        let mut out: Vec<BrokerOffset> = self
            .partitions
            .iter()
            .filter_map(|((topic, partition), p)| {
                p.durable.map(|n| BrokerOffset {
                    topic: topic.to_string(),
                    partition: *partition,
                    next_offset: n,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    async fn commit_due(
        &mut self,
        offsets: &[BrokerOffset],
        all: bool,
    ) -> std::result::Result<Committed, IcebergError> {
        for o in offsets {
            let p = self.partitions.entry((o.topic.as_str().into(), o.partition)).or_default();
            p.next = Some(p.next.map_or(o.next_offset, |n| n.max(o.next_offset)));
        }
        let mut durable = Vec::new();
        for name in self.due(Instant::now(), all) {
            durable.extend(self.commit_table(&name).await?);
        }
        Ok(Committed::Through(durable))
    }
}

impl IcebergSink {
    /// After a failed commit, nothing more until the state is rebuilt from the tables.
    fn ensure_intact(&self) -> std::result::Result<(), IcebergError> {
        if self.broken {
            return Err(IcebergError::retriable(
                "a commit to Iceberg failed; restarting from the offsets the tables record",
            ));
        }
        Ok(())
    }
}

/// The summary key of the offsets past every record in the table, whichever sink wrote it.
const HIGH_WATER_KEY: &str = "sluice.high-water";

/// A snapshot property holding an offset map.
fn offset_map(table: &Table, key: &str, v: &str) -> std::result::Result<OffsetMap, IcebergError> {
    serde_json::from_str(v).map_err(|e| {
        IcebergError::fatal(format!(
            "{}: snapshot property {key} is not an offset map: {e}",
            table.identifier()
        ))
    })
}

impl Sink for IcebergSink {
    async fn apply(&mut self, events: &[ChangeEvent]) -> Result<()> {
        let _ = events;
        Err(IcebergError::fatal(
            "the iceberg target writes each record's topic, partition and offset, which \
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
        let result = self.commit_due(offsets, false).await;
        if result.is_err() {
            // What is staged is replayed from the tables' offsets, after `stored_offsets`.
            self.partitions.clear();
            self.tables.clear();
            self.broken = true;
        }
        Ok(result?)
    }

    async fn stored_offsets(&mut self) -> Result<Vec<BrokerOffset>> {
        Ok(self.recover().await?)
    }

    /// Commit everything staged (a clean stop leaves nothing waiting).
    async fn close(&mut self) {
        if self.broken {
            return;
        }
        if let Err(e) = self.commit_due(&[], true).await {
            tracing::warn!(error = %e, "committing at close; the records are replayed on restart");
        }
    }
}
