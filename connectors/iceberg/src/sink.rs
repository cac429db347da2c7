//! The Iceberg sink: change rows staged per table, appended as one snapshot per commit, the
//! snapshot recording the broker offsets it covers.
//!
//! Invariants (exactly once, on the catalog's compare-and-swap of a table's metadata):
//! - A commit of table T writes data files, then one fast-append snapshot whose summary holds
//!   `sluice.offsets.<sink>`: every partition this sink has written to T, with the offset after
//!   the last record the table now holds — and `sluice.high-water`, the same past every record
//!   any sink wrote. The snapshot is the commit point; only then are the offsets reported durable
//!   (`Committed::Through`). Rows below the high-water mark are already in the table and are
//!   dropped from a commit (another sink name replaying the topic adds nothing).
//! - Offsets come only from the tables (`stored_offsets`: every table of the namespace, its
//!   newest snapshot carrying this sink's key). Records below a partition's durable offset are
//!   skipped; a record below what is staged (a redelivery) drops the partition's staged rows.
//! - Before appending, the sink re-reads T and checks that its snapshots still record the offsets
//!   this commit starts from; if another writer (a stale group member) moved them, the staged
//!   rows are dropped and the error is retriable (the run restarts from the tables).
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
    /// The offset after everything staged or committed past.
    next: Option<i64>,
    /// What the table's snapshots record for this partition.
    durable: Option<i64>,
}

pub struct IcebergSink {
    config: IcebergSinkConfig,
    catalog: SqlCatalog,
    namespace: NamespaceIdent,
    name: String,
    tables: HashMap<String, Staged>,
    partitions: HashMap<(Arc<str>, i32), Partition>,
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
        let topic: Arc<str> = at.topic.into();
        let key = (topic.clone(), at.partition);
        let p = self.partitions.entry(key.clone()).or_default();
        if p.durable.is_some_and(|d| at.offset < d) {
            return Ok(()); // already in the table
        }
        let redelivered = p.next.is_some_and(|n| at.offset < n);
        let table = self.config.table_name(&ev.table.id.schema, &ev.table.id.table);
        p.table = Some(table.clone());
        p.next = Some(at.offset + 1);
        p.durable.get_or_insert(at.offset);
        if redelivered {
            // Redelivered from the durable offset: what is staged of this partition comes again.
            for s in self.tables.values_mut() {
                for (_, _, rows) in &mut s.slices {
                    rows.retain(|r| !(r.meta.partition == at.partition && *r.meta.topic == *topic));
                }
                s.slices.retain(|(_, _, rows)| !rows.is_empty());
                s.rows = s.slices.iter().map(|(_, _, r)| r.len()).sum();
            }
        }
        let row = FileRow::of(ev, at, &topic).map_err(IcebergError::fatal)?;
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

    /// This sink's offsets as `table`'s newest snapshot that has them records them.
    fn recorded(&self, table: &Table) -> std::result::Result<OffsetMap, IcebergError> {
        newest(table, &self.offsets_key())
    }

    /// Commit table `name`: its staged rows and its partitions' offsets, in one snapshot.
    async fn commit_table(&mut self, name: &str) -> std::result::Result<Vec<BrokerOffset>, IcebergError> {
        let ident = self.ident(name);
        let staged = self.tables.remove(name).unwrap_or_default();
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
        // Where this commit starts must still be what the table records (one writer per partition).
        let mut offsets = self.recorded(&table)?;
        let mine: Vec<(Arc<str>, i32)> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.table.as_deref() == Some(name))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &mine {
            let p = &self.partitions[k];
            let recorded = offsets.get(&*k.0).and_then(|m| m.get(&k.1)).copied();
            if recorded.is_some_and(|r| p.durable.is_none_or(|d| r > d)) {
                self.partitions.clear();
                self.tables.clear();
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
        let mut high_water = newest(&table, HIGH_WATER_KEY)?;
        let mut staged = staged;
        for (_, _, rows) in &mut staged.slices {
            rows.retain(|r| {
                let hw = high_water.get(&*r.meta.topic).and_then(|m| m.get(&r.meta.partition));
                hw.is_none_or(|&h| r.meta.offset >= h)
            });
        }
        staged.slices.retain(|(_, _, rows)| !rows.is_empty());
        let mut moved = Vec::new();
        for k in &mine {
            if let Some(n) = self.partitions[k].next {
                offsets.entry(k.0.to_string()).or_default().insert(k.1, n);
                let hw = high_water.entry(k.0.to_string()).or_default().entry(k.1).or_insert(n);
                *hw = (*hw).max(n);
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
        let json = |m: &OffsetMap| serde_json::to_string(m).map_err(|e| IcebergError::fatal(e.to_string()));
        let properties = HashMap::from([
            (self.offsets_key(), json(&offsets)?),
            (HIGH_WATER_KEY.to_owned(), json(&high_water)?),
        ]);
        let ctx = format!("committing to {ident}");
        let tx = Transaction::new(&table);
        let tx = tx
            .fast_append()
            .with_check_duplicate(false)
            .add_data_files(files)
            .set_snapshot_properties(properties)
            .apply(tx)
            .map_err(|e| IcebergError::from_iceberg(&ctx, &e))?;
        tx.commit(&self.catalog).await.map_err(|e| IcebergError::from_iceberg(&ctx, &e))?;
        metrics::histogram!("sluice_sink_iceberg_commit_seconds").record(started.elapsed().as_secs_f64());
        for (t, _, rows) in &staged.slices {
            for r in rows {
                metrics::counter!(METRIC_APPLIED, "table" => t.id.to_string(), "op" => r.meta.op)
                    .increment(1);
            }
        }
        tracing::debug!(table = %ident, rows = staged.slices.iter().map(|s| s.2.len()).sum::<usize>(), "committed");
        for k in &mine {
            if let Some(p) = self.partitions.get_mut(k) {
                p.durable = p.next;
            }
        }
        self.tables.insert(name.to_owned(), Staged { committed: Some(Instant::now()), ..Staged::default() });
        Ok(moved)
    }

    /// Every partition's durable offset, from the namespace's tables.
    async fn recover(&mut self) -> std::result::Result<Vec<BrokerOffset>, IcebergError> {
        self.partitions.clear();
        self.tables.clear();
        let ctx = format!("listing namespace {}", self.config.namespace);
        let idents = self
            .catalog
            .list_tables(&self.namespace)
            .await
            .map_err(|e| IcebergError::from_iceberg(&ctx, &e))?;
        let mut out = Vec::new();
        for ident in idents {
            let table = self
                .catalog
                .load_table(&ident)
                .await
                .map_err(|e| IcebergError::from_iceberg(&format!("loading {ident}"), &e))?;
            for (topic, parts) in self.recorded(&table)? {
                for (partition, next) in parts {
                    let p = self.partitions.entry((topic.as_str().into(), partition)).or_default();
                    p.table = Some(ident.name().to_owned());
                    p.durable = Some(next);
                    p.next = Some(next);
                    out.push(BrokerOffset { topic: topic.clone(), partition, next_offset: next });
                }
            }
        }
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

/// The summary key of the offsets past every record in the table, whichever sink wrote it.
const HIGH_WATER_KEY: &str = "sluice.high-water";

/// The offset map under `key` in `table`'s newest snapshot that has one (empty if none has).
fn newest(table: &Table, key: &str) -> std::result::Result<OffsetMap, IcebergError> {
    let md = table.metadata();
    let mut cur = md.current_snapshot();
    while let Some(s) = cur {
        if let Some(v) = s.summary().additional_properties.get(key) {
            return serde_json::from_str(v).map_err(|e| {
                IcebergError::fatal(format!(
                    "{}: snapshot property {key} is not an offset map: {e}",
                    table.identifier()
                ))
            });
        }
        cur = s.parent_snapshot_id().and_then(|id| md.snapshot_by_id(id));
    }
    Ok(OffsetMap::new())
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
        for (ev, at) in events.iter().zip(at) {
            self.stage(ev, at)?;
        }
        Ok(())
    }

    async fn commit(&mut self, offsets: &[BrokerOffset]) -> Result<Committed> {
        let result = self.commit_due(offsets, false).await;
        if result.is_err() {
            // What is staged is replayed from the tables' offsets.
            self.partitions.clear();
            self.tables.clear();
        }
        Ok(result?)
    }

    async fn stored_offsets(&mut self) -> Result<Vec<BrokerOffset>> {
        Ok(self.recover().await?)
    }

    /// Commit everything staged (a clean stop leaves nothing waiting).
    async fn close(&mut self) {
        if let Err(e) = self.commit_due(&[], true).await {
            tracing::warn!(error = %e, "committing at close; the records are replayed on restart");
        }
    }
}
