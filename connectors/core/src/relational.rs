//! The relational target layer: everything a SQL target does that does not depend on its
//! dialect, written once. An engine provides a [`Dialect`] (connection, DDL, type mapping, value
//! conversion, statement text, the offsets table); [`RelationalSink`] turns it into a
//! [`TransactionalTarget`], hence a [`crate::Sink`].
//!
//! Invariants (per batch, in one target transaction):
//! - Events are folded per source table into a [`KeyedPlan`]: one final operation per key (last
//!   write wins, unchanged columns merged from an earlier image of the batch, a key change deletes
//!   the old key), then handed to [`Dialect::flush`] as set-based deletes and upserts.
//! - A truncate drops what was planned for its table and runs at once, in order.
//! - A source table without a primary key is refused (fatal) every time, before any DDL: a keyed
//!   target cannot upsert or delete its rows.
//! - A schema that differs from the cached one (columns or key) flushes the old plan first, then
//!   asks the dialect to make the target fit ([`Dialect::ensure_table`]). DDL that commits
//!   implicitly (MariaDB) restarts the transaction at once; the rows applied before it are
//!   re-applied after a crash, which is harmless (writes are idempotent).
//! - Any failure rolls the transaction back and drops the table cache ([`TransactionalTarget`]).

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::plan::{KeyedPlan, PlanCell};
use crate::sink::{FencedWrite, OffsetFence};
use crate::transactional::TransactionalTarget;
use crate::{BrokerOffset, ChangeEvent, Check, CommitMode, Error, Op, TableId, TableSchema, Target, Value};

pub use crate::sink::METRIC_APPLIED;

/// What a SQL engine provides to be a target. Methods run inside the transaction
/// [`RelationalSink`] opened, unless said otherwise.
pub trait Dialect: Send {
    /// A value as the target's statements take it.
    type Cell: PlanCell + Send + Sync;
    /// A target table as the dialect writes it (names, types, prepared statements).
    type Table: Send + Sync;
    type Error: Into<Error> + Send + std::fmt::Display;

    /// Statement that opens a transaction.
    const BEGIN: &'static str;

    /// Run one statement without parameters; `what` names it in errors.
    fn execute(&mut self, sql: &str, what: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Create or extend the target of `source` (as `ev` names it); the table, and whether DDL
    /// ran that committed the open transaction implicitly.
    fn ensure_table(
        &mut self,
        ev: &ChangeEvent,
    ) -> impl Future<Output = Result<(Self::Table, bool), Self::Error>> + Send;

    /// The quoted, qualified name of `t` (statements, metrics labels).
    fn qualified(t: &Self::Table) -> &str;

    /// Statement that empties `t` inside a transaction.
    fn truncate_sql(t: &Self::Table) -> String;

    /// Every column of a row image, converted for `t`; a value the target cannot take is a
    /// fatal error naming table and column.
    fn row(ev: &ChangeEvent, t: &Self::Table, row: &[Value]) -> Result<Vec<Self::Cell>, Self::Error>;

    /// The key columns of a row image (in key order), converted for `t`.
    fn key(ev: &ChangeEvent, t: &Self::Table, row: &[Value]) -> Result<Vec<Self::Cell>, Self::Error>;

    /// Delete `keys` (cells in key order) from `t`; `key` holds the key's column indexes.
    fn delete(
        &mut self,
        t: &mut Self::Table,
        key: &[usize],
        keys: &[Vec<Self::Cell>],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Insert or update `rows` (whole rows, source column order) of `t` by key, writing only
    /// the columns `mask` sends: the others are neither inserted nor updated.
    fn upsert(
        &mut self,
        t: &mut Self::Table,
        key: &[usize],
        mask: &[bool],
        rows: &[Vec<Self::Cell>],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Store fenced offsets of sink `name`; the number of rows changed.
    fn store_offsets(
        &mut self,
        name: &str,
        writes: &[FencedWrite<'_>],
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send;

    /// The offsets stored for sink `name` (outside any transaction).
    fn read_offsets(
        &mut self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<BrokerOffset>, Self::Error>> + Send;

    /// A fatal error with `reason` (bad events, keyless tables).
    fn fatal(reason: String) -> Self::Error;

    /// The retriable error of a fenced commit.
    fn fenced(reason: String) -> Self::Error;
}

/// A [`Dialect`] that can be a target: how it is named, configured, checked and connected.
/// [`Sql`] turns it into a [`Target`] (transactional).
pub trait SqlTarget: Dialect + Sized + 'static {
    /// The `type` values that select it.
    const TYPES: &'static [&'static str];
    /// Its settings (`#[serde(deny_unknown_fields)]`).
    type Config: DeserializeOwned + Send + Sync + 'static;

    /// Its preflight checks (the `ensure_*` list).
    fn checks(config: &Self::Config, endpoint: &str) -> impl Future<Output = Vec<Check>> + Send;

    /// Connect and prepare the offsets table.
    fn connect(config: &Self::Config) -> impl Future<Output = Result<Self, Self::Error>> + Send;
}

/// The [`Target`] of a SQL dialect.
pub struct Sql<D>(PhantomData<fn() -> D>);

impl<D: SqlTarget> Target for Sql<D> {
    const TYPES: &'static [&'static str] = D::TYPES;
    const COMMIT_MODE: CommitMode = CommitMode::Transactional;
    type Config = D::Config;
    type Sink = RelationalSink<D>;

    async fn checks(config: &D::Config, endpoint: &str) -> Vec<Check> {
        D::checks(config, endpoint).await
    }

    async fn connect(config: &D::Config, name: &str) -> crate::Result<RelationalSink<D>> {
        let dialect = D::connect(config).await.map_err(Into::into)?;
        Ok(RelationalSink::new(dialect, name))
    }
}

struct TableState<D: Dialect> {
    schema: Arc<TableSchema>,
    target: D::Table,
    plan: KeyedPlan<D::Cell>,
}

/// A SQL target: a [`Dialect`] plus the per-table plans, the open transaction and the offset
/// fence.
pub struct RelationalSink<D: Dialect> {
    dialect: D,
    name: String,
    in_tx: bool,
    tables: HashMap<TableId, TableState<D>>,
    fence: OffsetFence,
}

impl<D: Dialect> RelationalSink<D> {
    /// A sink writing through `dialect`; `name` keys its offsets rows.
    pub fn new(dialect: D, name: impl Into<String>) -> Self {
        Self {
            dialect,
            name: name.into(),
            in_tx: false,
            tables: HashMap::new(),
            fence: OffsetFence::default(),
        }
    }

    pub fn dialect(&mut self) -> &mut D {
        &mut self.dialect
    }

    async fn open(&mut self) -> Result<(), D::Error> {
        if !self.in_tx {
            self.dialect.execute(D::BEGIN, D::BEGIN).await?;
            self.in_tx = true;
        }
        Ok(())
    }

    async fn apply_inner(&mut self, events: &[ChangeEvent]) -> Result<(), D::Error> {
        self.open().await?;
        for ev in events {
            let id = &ev.table.id;
            let fresh = match self.tables.get(id) {
                Some(st) => st.schema.columns != ev.table.columns || st.schema.key != ev.table.key,
                None => true,
            };
            if fresh {
                if let Some(mut old) = self.tables.remove(id) {
                    flush(&mut self.dialect, &mut old).await?;
                }
                if ev.table.key.is_empty() {
                    return Err(D::fatal(format!(
                        "source table {} has no primary key; the sink needs one to upsert and \
                         delete by key (give the source table a primary key, or exclude it from \
                         the sink's topics)",
                        ev.table.id
                    )));
                }
                let (target, ran_ddl) = self.dialect.ensure_table(ev).await?;
                if ran_ddl {
                    // The DDL committed implicitly; keep everything after it transactional.
                    self.in_tx = false;
                    self.open().await?;
                }
                let st = TableState { schema: ev.table.clone(), target, plan: KeyedPlan::default() };
                self.tables.insert(id.clone(), st);
            }
            let Some(st) = self.tables.get_mut(id) else { continue };
            match ev.op {
                Op::Truncate => {
                    st.plan.clear();
                    let qualified = D::qualified(&st.target);
                    self.dialect
                        .execute(&D::truncate_sql(&st.target), &format!("truncating {qualified}"))
                        .await?;
                    metrics::counter!(METRIC_APPLIED, "table" => qualified.to_owned(), "op" => "t")
                        .increment(1);
                }
                Op::Delete => {
                    let before = ev.before.as_deref().ok_or_else(|| missing::<D>(ev, "before"))?;
                    st.plan.delete(D::key(ev, &st.target, before)?);
                }
                Op::Create | Op::Update | Op::Read => {
                    let after = ev.after.as_deref().ok_or_else(|| missing::<D>(ev, "after"))?;
                    let old = match ev.before.as_deref() {
                        Some(before) => Some(D::key(ev, &st.target, before)?),
                        None => None,
                    };
                    let key = D::key(ev, &st.target, after)?;
                    st.plan.upsert(key, old, D::row(ev, &st.target, after)?, ev.op == Op::Update);
                }
            }
        }
        for st in self.tables.values_mut() {
            if !st.plan.is_empty() {
                flush(&mut self.dialect, st).await?;
            }
        }
        Ok(())
    }
}

/// Column definitions of a new target table for `source` (`<name> <type>[ NULL| NOT NULL]`,
/// `NULL` spelled out when `explicit_null`) and its quoted key columns.
pub fn create_columns(
    source: &TableSchema,
    types: &[String],
    quote: impl Fn(&str) -> String,
    explicit_null: bool,
) -> (Vec<String>, Vec<String>) {
    let null = if explicit_null { " NULL" } else { "" };
    let columns = source
        .columns
        .iter()
        .zip(types)
        .map(|(c, t)| format!("{} {t}{}", quote(&c.name), if c.nullable { null } else { " NOT NULL" }))
        .collect();
    (columns, source.key_columns().map(|c| quote(&c.name)).collect())
}

fn missing<D: Dialect>(ev: &ChangeEvent, image: &str) -> D::Error {
    D::fatal(ev.missing_image(image))
}

/// Run one table's plan and count what it applied.
async fn flush<D: Dialect>(dialect: &mut D, st: &mut TableState<D>) -> Result<(), D::Error> {
    let (deletes, upserts) = st.plan.take();
    if !deletes.is_empty() {
        dialect.delete(&mut st.target, &st.schema.key, &deletes).await?;
    }
    for (mask, rows) in upserts {
        dialect.upsert(&mut st.target, &st.schema.key, &mask, &rows).await?;
    }
    let counts = std::mem::take(&mut st.plan.counts);
    for (n, op) in counts.into_iter().zip(["c", "u", "d"]) {
        if n > 0 {
            let table = D::qualified(&st.target).to_owned();
            metrics::counter!(METRIC_APPLIED, "table" => table, "op" => op).increment(n);
        }
    }
    Ok(())
}

/// Rows and offsets commit in one transaction of the target; `Sink` (rollback on failure,
/// fenced offsets) comes from [`TransactionalTarget`].
impl<D: Dialect> TransactionalTarget for RelationalSink<D> {
    type Error = D::Error;

    async fn begin(&mut self) -> Result<(), D::Error> {
        self.open().await
    }

    async fn write(&mut self, events: &[ChangeEvent]) -> Result<(), D::Error> {
        let r = self.apply_inner(events).await;
        if let Err(e) = &r {
            tracing::warn!(error = %e, "apply failed; rolling back");
        }
        r
    }

    async fn store_offsets(&mut self, writes: &[FencedWrite<'_>]) -> Result<usize, D::Error> {
        self.dialect.store_offsets(&self.name, writes).await
    }

    async fn commit_transaction(&mut self) -> Result<(), D::Error> {
        self.dialect.execute("COMMIT", "COMMIT").await?;
        self.in_tx = false;
        Ok(())
    }

    async fn abort(&mut self) {
        self.tables.clear();
        if self.in_tx {
            self.in_tx = false;
            if let Err(e) = self.dialect.execute("ROLLBACK", "ROLLBACK").await {
                tracing::debug!(error = %e, "rollback failed");
            }
        }
    }

    async fn read_offsets(&mut self) -> Result<Vec<BrokerOffset>, D::Error> {
        self.dialect.read_offsets(&self.name).await
    }

    fn fence(&mut self) -> &mut OffsetFence {
        &mut self.fence
    }

    fn fenced(&self, message: String) -> D::Error {
        D::fenced(message)
    }
}
