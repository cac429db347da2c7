//! Task and table statistics, like AWS DMS's table statistics: per table, the full-load state
//! and rows, and the inserts, updates, deletes and DDLs of ongoing replication.
//!
//! One process-wide registry. The source counts what it published (after the broker
//! acknowledged it, for full-load rows), a sink what it committed to its target. Counters only
//! grow within a process; a restarted process starts from what it last persisted (see
//! [`restore`]), so totals survive restarts up to the last persisted report.
//!
//! Reading is lock-free for counters; the table map is behind a mutex taken once per table
//! lookup, so hot paths keep the returned `Arc<TableStats>`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::TableId;

/// Full-load state of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadState {
    /// No full load for this table (CDC only, or a table created later).
    None,
    Pending,
    Loading,
    Loaded,
    Error,
}

impl LoadState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => LoadState::Pending,
            2 => LoadState::Loading,
            3 => LoadState::Loaded,
            4 => LoadState::Error,
            _ => LoadState::None,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            LoadState::None => 0,
            LoadState::Pending => 1,
            LoadState::Loading => 2,
            LoadState::Loaded => 3,
            LoadState::Error => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LoadState::None => "-",
            LoadState::Pending => "pending",
            LoadState::Loading => "loading",
            LoadState::Loaded => "loaded",
            LoadState::Error => "error",
        }
    }
}

/// Live counters of one table.
#[derive(Debug, Default)]
pub struct TableStats {
    state: AtomicU8,
    pub full_load_rows: AtomicU64,
    pub full_load_estimated: AtomicU64,
    pub inserts: AtomicU64,
    pub updates: AtomicU64,
    pub deletes: AtomicU64,
    pub truncates: AtomicU64,
    pub ddls: AtomicU64,
    /// Rows re-read by incremental snapshots.
    pub resnapshot_rows: AtomicU64,
    /// Unix ms of the last change counted.
    pub last_change_ms: AtomicU64,
}

impl TableStats {
    pub fn set_state(&self, s: LoadState) {
        self.state.store(s.to_u8(), Ordering::Relaxed);
    }

    pub fn state(&self) -> LoadState {
        LoadState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Count one change of kind `op` (`c`, `u`, `d`, `t`, `r`).
    pub fn count_op(&self, op: crate::Op, n: u64) {
        let c = match op {
            crate::Op::Create => &self.inserts,
            crate::Op::Update => &self.updates,
            crate::Op::Delete => &self.deletes,
            crate::Op::Truncate => &self.truncates,
            crate::Op::Read => &self.resnapshot_rows,
        };
        c.fetch_add(n, Ordering::Relaxed);
        self.last_change_ms.store(now_ms(), Ordering::Relaxed);
    }

    fn row(&self, table: &str) -> TableRow {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TableRow {
            table: table.to_owned(),
            state: self.state(),
            full_load_rows: get(&self.full_load_rows),
            full_load_estimated: get(&self.full_load_estimated),
            inserts: get(&self.inserts),
            updates: get(&self.updates),
            deletes: get(&self.deletes),
            truncates: get(&self.truncates),
            ddls: get(&self.ddls),
            resnapshot_rows: get(&self.resnapshot_rows),
            last_change_ms: get(&self.last_change_ms),
        }
    }

    fn restore(&self, r: &TableRow) {
        self.set_state(r.state);
        for (c, v) in [
            (&self.full_load_rows, r.full_load_rows),
            (&self.full_load_estimated, r.full_load_estimated),
            (&self.inserts, r.inserts),
            (&self.updates, r.updates),
            (&self.deletes, r.deletes),
            (&self.truncates, r.truncates),
            (&self.ddls, r.ddls),
            (&self.resnapshot_rows, r.resnapshot_rows),
            (&self.last_change_ms, r.last_change_ms),
        ] {
            c.store(v, Ordering::Relaxed);
        }
    }
}

/// One table in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRow {
    pub table: String,
    pub state: LoadState,
    pub full_load_rows: u64,
    pub full_load_estimated: u64,
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
    #[serde(default)]
    pub truncates: u64,
    pub ddls: u64,
    #[serde(default)]
    pub resnapshot_rows: u64,
    #[serde(default)]
    pub last_change_ms: u64,
}

/// A task's statistics at one moment: what `/status` serves and `sluice status` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `source` or `sink`.
    pub role: String,
    /// The task's name (source: topic prefix; sink: its name and instance).
    pub task: String,
    /// What the task is doing: `starting`, `full-load`, `cdc`, `stopped`, `failed: …`.
    pub phase: String,
    pub started_ms: u64,
    pub updated_ms: u64,
    pub tables: Vec<TableRow>,
}

#[derive(Default)]
struct Registry {
    role: String,
    task: String,
    phase: String,
    started_ms: u64,
    tables: BTreeMap<String, Arc<TableStats>>,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(|| {
        Mutex::new(Registry { started_ms: now_ms(), phase: "starting".into(), ..Registry::default() })
    })
}

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    registry().lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Name the task this process runs.
pub fn set_task(role: &str, task: &str) {
    let mut r = lock();
    r.role = role.to_owned();
    r.task = task.to_owned();
}

pub fn set_phase(phase: impl Into<String>) {
    lock().phase = phase.into();
}

/// The counters of `table` (created on first use). Keep the `Arc` on hot paths.
pub fn table(table: &TableId) -> Arc<TableStats> {
    lock().tables.entry(table.to_string()).or_default().clone()
}

/// The statistics now.
pub fn report() -> Report {
    let r = lock();
    Report {
        role: r.role.clone(),
        task: r.task.clone(),
        phase: r.phase.clone(),
        started_ms: r.started_ms,
        updated_ms: now_ms(),
        tables: r.tables.iter().map(|(name, s)| s.row(name)).collect(),
    }
}

/// Continue from a persisted report (counters of a previous run of the same task).
pub fn restore(previous: &Report) {
    let mut r = lock();
    for row in &previous.tables {
        r.tables.entry(row.table.clone()).or_default().restore(row);
    }
}

/// The report as an aligned text table, as `sluice status` prints it.
pub fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let age = now_ms().saturating_sub(report.updated_ms) / 1000;
    let _ = writeln!(out, "{} {} — {} (updated {age} s ago)", report.role, report.task, report.phase);
    let header = ["table", "full load", "loaded rows", "inserts", "updates", "deletes", "ddls", "re-read"];
    let rows: Vec<[String; 8]> = report
        .tables
        .iter()
        .map(|t| {
            let loaded = if t.full_load_estimated > 0 {
                format!("{}/{}", t.full_load_rows, t.full_load_estimated.max(t.full_load_rows))
            } else {
                t.full_load_rows.to_string()
            };
            [
                t.table.clone(),
                t.state.as_str().to_owned(),
                loaded,
                t.inserts.to_string(),
                t.updates.to_string(),
                t.deletes.to_string(),
                t.ddls.to_string(),
                t.resnapshot_rows.to_string(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i == 0 {
                let _ = write!(l, "  {c:<w$}");
            } else {
                let _ = write!(l, "  {c:>w$}");
            }
        }
        l
    };
    let _ = writeln!(out, "{}", line(&header.map(str::to_owned)));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_report_restore_and_render() {
        let t = TableId::new("stats_test", "t");
        let s = table(&t);
        s.set_state(LoadState::Loading);
        TableStats::add(&s.full_load_rows, 10);
        s.count_op(crate::Op::Update, 2);
        s.count_op(crate::Op::Delete, 1);
        let rep = report();
        let row = rep.tables.iter().find(|r| r.table == "stats_test.t").unwrap().clone();
        assert_eq!((row.state, row.full_load_rows, row.updates, row.deletes), (LoadState::Loading, 10, 2, 1));
        let json = serde_json::to_string(&rep).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rep);
        let other = TableId::new("stats_test", "u");
        let mut prev = rep.clone();
        prev.tables = vec![TableRow { table: other.to_string(), inserts: 7, ..row }];
        restore(&prev);
        assert_eq!(table(&other).inserts.load(Ordering::Relaxed), 7);
        let text = render(&report());
        assert!(text.contains("stats_test.u") && text.contains("loading"), "{text}");
    }
}
