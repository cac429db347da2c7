//! The Redis sink: a [`TransactionalTarget`] whose "transaction" is the batch folded in memory
//! and sent as one `MULTI`/`EXEC` with the offsets (see the crate invariants).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use sluice_core::changelog::Shape;
use sluice_core::plan::{KeyedPlan, UpsertGroup};
use sluice_core::sink::FencedWrite;
use sluice_core::sink::METRIC_APPLIED;
use sluice_core::transactional::TransactionalTarget;
use sluice_core::{BrokerOffset, ChangeEvent, ErrorKind, OffsetFence, Op, RecordAt, TableId, TableSchema};

use crate::config::{RedisEndpoint, RedisSinkConfig};
use crate::error::RedisError;
use crate::keys::{field, match_pattern, row_key, Field};

/// Connect to `ep`: open, authenticate, `PING`.
pub(crate) async fn open(ep: &RedisEndpoint) -> Result<MultiplexedConnection, RedisError> {
    let client = redis::Client::open(ep.url.as_str())
        .map_err(|e| RedisError::fatal(format!("[sink.connection] url {:?}: {e}", ep.url)))?;
    let timeout = Duration::from_secs(ep.connect_timeout_secs.max(1));
    let mut conn = tokio::time::timeout(timeout, client.get_multiplexed_async_connection())
        .await
        .map_err(|_| RedisError::retriable(format!("connecting to {} timed out after {timeout:?}", ep.url)))?
        .map_err(|e| RedisError::command(format!("connecting to {}", ep.url), &e))?;
    if !ep.password.is_empty() {
        let mut auth = redis::cmd("AUTH");
        if let Some(user) = &ep.username {
            auth.arg(user);
        }
        auth.arg(ep.password.expose());
        auth.query_async::<()>(&mut conn).await.map_err(|e| RedisError::command("authenticating", &e))?;
    }
    redis::cmd("PING").query_async::<String>(&mut conn).await.map_err(|e| RedisError::command("PING", &e))?;
    Ok(conn)
}

/// One table's planned writes for one source schema version.
struct TableState {
    schema: Arc<TableSchema>,
    prefix: String,
    plan: KeyedPlan<Field>,
}

/// Planned writes of a table under an earlier schema version (field names of that version).
struct Finished {
    prefix: String,
    names: Vec<String>,
    /// Column indexes of the key, in key order.
    key: Vec<usize>,
    deletes: Vec<Vec<Field>>,
    upserts: Vec<UpsertGroup<Field>>,
    counts: [u64; 3],
}

pub struct RedisSink {
    config: RedisSinkConfig,
    conn: MultiplexedConnection,
    offsets_key: String,
    tables: HashMap<TableId, TableState>,
    finished: Vec<Finished>,
    /// Table prefixes truncated in this batch (run first at commit).
    truncated: Vec<String>,
    /// Offsets fields queued by `store_offsets`.
    offsets: Vec<(String, i64)>,
    /// Change-log shape: stream entries (stream key, fields) in event order.
    entries: Vec<(String, Vec<(&'static str, String)>)>,
    fence: OffsetFence,
}

impl RedisSink {
    /// Connect; `name` keys this sink's offsets hash (`sluice:offsets:<name>`).
    pub async fn connect(config: RedisSinkConfig, name: &str) -> Result<Self, RedisError> {
        let conn = open(&config.connection).await?;
        Ok(Self {
            config,
            conn,
            offsets_key: format!("sluice:offsets:{name}"),
            tables: HashMap::new(),
            finished: Vec::new(),
            truncated: Vec::new(),
            offsets: Vec::new(),
            entries: Vec::new(),
            fence: OffsetFence::default(),
        })
    }

    fn retire(&mut self, id: &TableId) {
        if let Some(mut st) = self.tables.remove(id) {
            let (deletes, upserts) = st.plan.take();
            let names = st.schema.columns.iter().map(|c| c.name.clone()).collect();
            let counts = std::mem::take(&mut st.plan.counts);
            let key = st.schema.key.clone();
            self.finished.push(Finished { prefix: st.prefix, names, key, deletes, upserts, counts });
        }
    }

    fn stage(&mut self, ev: &ChangeEvent) -> Result<(), RedisError> {
        let id = &ev.table.id;
        let fresh = match self.tables.get(id) {
            Some(st) => st.schema.columns != ev.table.columns || st.schema.key != ev.table.key,
            None => true,
        };
        if fresh {
            self.retire(id);
            if ev.table.key.is_empty() {
                return Err(RedisError::fatal(format!(
                    "source table {} has no primary key; the Redis target keys each row by it \
                     (give the source table a primary key, or exclude it from the sink's topics)",
                    ev.table.id
                )));
            }
            let prefix = self.config.prefix(&id.schema, &id.table);
            self.tables.insert(
                id.clone(),
                TableState { schema: ev.table.clone(), prefix, plan: KeyedPlan::default() },
            );
        }
        let Some(st) = self.tables.get_mut(id) else { return Ok(()) };
        match ev.op {
            Op::Truncate => {
                st.plan.clear();
                let prefix = st.prefix.clone();
                self.finished.retain(|f| f.prefix != prefix);
                if !self.truncated.contains(&prefix) {
                    self.truncated.push(prefix);
                }
            }
            Op::Delete => {
                let before = ev.before.as_deref().ok_or_else(|| missing(ev, "before"))?;
                st.plan.delete(key_of(ev, before)?);
            }
            Op::Create | Op::Update | Op::Read => {
                let after = ev.after.as_deref().ok_or_else(|| missing(ev, "after"))?;
                let old = match ev.before.as_deref() {
                    Some(before) => key_of(ev, before).ok(),
                    None => None,
                };
                let row = after.iter().map(field).collect();
                st.plan.upsert(key_of(ev, after)?, old, row, ev.op == Op::Update);
            }
        }
        Ok(())
    }

    /// Everything staged, as one atomic pipeline (without the offsets).
    async fn pipeline(&mut self) -> Result<(redis::Pipeline, Vec<(String, [u64; 3])>), RedisError> {
        let ids: Vec<TableId> = self.tables.keys().cloned().collect();
        for id in ids {
            self.retire(&id);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for prefix in &self.truncated {
            for key in scan(&mut self.conn, prefix).await? {
                pipe.cmd("DEL").arg(key).ignore();
            }
        }
        for (stream, fields) in &self.entries {
            let mut xadd = redis::cmd("XADD");
            xadd.arg(stream).arg("*");
            for (name, value) in fields {
                xadd.arg(*name).arg(value);
            }
            pipe.add_command(xadd).ignore();
        }
        let mut counts = Vec::new();
        if !self.entries.is_empty() {
            counts.push(("changelog".to_owned(), [self.entries.len() as u64, 0, 0]));
        }
        for f in &self.finished {
            for k in &f.deletes {
                pipe.cmd("DEL").arg(row_key(&f.prefix, k)).ignore();
            }
            for (mask, rows) in &f.upserts {
                for row in rows {
                    upsert(&mut pipe, f, mask, row);
                }
            }
            counts.push((f.prefix.clone(), f.counts));
        }
        Ok((pipe, counts))
    }

    fn forget(&mut self) {
        self.tables.clear();
        self.finished.clear();
        self.truncated.clear();
        self.offsets.clear();
        self.entries.clear();
    }

    /// Change-log shape: queue the event's stream entry.
    fn append(&mut self, ev: &ChangeEvent, at: &RecordAt<'_>) {
        use sluice_core::changelog::{row_fields, source_fields, transaction_fields};
        use sluice_core::text::json_object;
        let json = |fields: &[(&str, sluice_core::Value)]| {
            let mut s = String::new();
            json_object(fields.iter().map(|(n, v)| (*n, v)), &mut s);
            s
        };
        let mut fields: Vec<(&'static str, String)> = vec![
            ("topic", at.topic.to_owned()),
            ("partition", at.partition.to_string()),
            ("offset", at.offset.to_string()),
            ("op", ev.op.code().to_owned()),
        ];
        fields.push(("ts_ms", ev.ts_ms.to_string()));
        for (name, image) in [("before", &ev.before), ("after", &ev.after)] {
            if let Some(row) = image {
                let mut s = String::new();
                json_object(row_fields(&ev.table, row), &mut s);
                fields.push((name, s));
            }
        }
        fields.push(("source", json(&source_fields(&ev.source))));
        if let Some(t) = transaction_fields(ev) {
            fields.push(("transaction", json(&t)));
        }
        let stream = self.config.prefix(&ev.table.id.schema, &ev.table.id.table);
        self.entries.push((stream, fields));
    }
}

fn missing(ev: &ChangeEvent, image: &str) -> RedisError {
    RedisError::fatal(ev.missing_image(image))
}

/// The key fields of a row image; a NULL key column is refused.
fn key_of(ev: &ChangeEvent, row: &[sluice_core::Value]) -> Result<Vec<Field>, RedisError> {
    ev.table
        .key
        .iter()
        .map(|&i| match row.get(i).map(field) {
            Some(f @ Field::Bytes(_)) => Ok(f),
            _ => Err(RedisError::fatal(format!(
                "{} event for {}: key column {} is NULL or missing; a Redis key needs every key column",
                ev.op.code(),
                ev.table.id,
                ev.table.columns.get(i).map_or("?", |c| c.name.as_str())
            ))),
        })
        .collect()
}

/// `HSET` the row's sent, non-NULL fields and `HDEL` its NULL ones.
fn upsert(pipe: &mut redis::Pipeline, f: &Finished, mask: &[bool], row: &[Field]) {
    let parts: Vec<Field> = f.key.iter().map(|&i| row.get(i).cloned().unwrap_or(Field::Null)).collect();
    let key = row_key(&f.prefix, &parts);
    let mut set = redis::cmd("HSET");
    set.arg(&key);
    let mut del = redis::cmd("HDEL");
    del.arg(&key);
    let (mut sets, mut dels) = (0, 0);
    for ((name, sent), v) in f.names.iter().zip(mask).zip(row) {
        match v {
            Field::Bytes(b) if *sent => {
                set.arg(name).arg(b.as_slice());
                sets += 1;
            }
            Field::Null if *sent => {
                del.arg(name);
                dels += 1;
            }
            _ => {}
        }
    }
    if sets > 0 {
        pipe.add_command(set).ignore();
    }
    if dels > 0 {
        pipe.add_command(del).ignore();
    }
}

/// Every key under `prefix` (`SCAN`, before `MULTI`: a truncate's cost is one pass).
async fn scan(conn: &mut MultiplexedConnection, prefix: &str) -> Result<Vec<Vec<u8>>, RedisError> {
    let pattern = match_pattern(prefix);
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .map_err(|e| RedisError::command(format!("scanning the keys of {prefix} to truncate"), &e))?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

fn offsets_field(o: &BrokerOffset) -> String {
    format!("{}:{}", o.topic, o.partition)
}

/// Rows and offsets are sent in one `MULTI`/`EXEC`; `Sink` (discard on failure, fenced offsets)
/// comes from [`TransactionalTarget`].
impl TransactionalTarget for RedisSink {
    type Error = RedisError;

    async fn begin(&mut self) -> Result<(), RedisError> {
        Ok(())
    }

    async fn write(&mut self, events: &[ChangeEvent]) -> Result<(), RedisError> {
        if self.config.shape == Shape::Changelog {
            return Err(RedisError::fatal(sluice_core::changelog::NEEDS_RECORD_POSITIONS));
        }
        for ev in events {
            self.stage(ev)?;
        }
        Ok(())
    }

    async fn write_at(&mut self, events: &[ChangeEvent], at: &[RecordAt<'_>]) -> Result<(), RedisError> {
        if self.config.shape == Shape::Row {
            return self.write(events).await;
        }
        for (ev, at) in events.iter().zip(at) {
            self.append(ev, at);
        }
        Ok(())
    }

    async fn store_offsets(&mut self, writes: &[FencedWrite<'_>]) -> Result<usize, RedisError> {
        if writes.is_empty() {
            return Ok(0);
        }
        redis::cmd("WATCH")
            .arg(&self.offsets_key)
            .query_async::<()>(&mut self.conn)
            .await
            .map_err(|e| RedisError::command("WATCH of the offsets hash", &e))?;
        let fields: Vec<String> = writes.iter().map(|w| offsets_field(w.offset)).collect();
        let stored: Vec<Option<i64>> = redis::cmd("HMGET")
            .arg(&self.offsets_key)
            .arg(&fields)
            .query_async(&mut self.conn)
            .await
            .map_err(|e| RedisError::command("reading the offsets hash", &e))?;
        let mut matched = 0;
        for (w, (f, have)) in writes.iter().zip(fields.into_iter().zip(stored)) {
            if have == w.expected {
                matched += 1;
                self.offsets.push((f, w.offset.next_offset));
            }
        }
        Ok(matched)
    }

    async fn commit_transaction(&mut self) -> Result<(), RedisError> {
        let (mut pipe, counts) = self.pipeline().await?;
        if !self.offsets.is_empty() {
            let mut set = redis::cmd("HSET");
            set.arg(&self.offsets_key);
            for (f, next) in &self.offsets {
                set.arg(f).arg(*next);
            }
            pipe.add_command(set).ignore();
        }
        let reply: redis::Value =
            pipe.query_async(&mut self.conn).await.map_err(|e| RedisError::command("EXEC of a batch", &e))?;
        if matches!(reply, redis::Value::Nil) {
            return Err(RedisError::retriable(sluice_core::sink::fenced_message(0, self.offsets.len())));
        }
        for (prefix, c) in counts {
            for (n, op) in c.into_iter().zip(["c", "u", "d"]) {
                if n > 0 {
                    metrics::counter!(METRIC_APPLIED, "table" => prefix.clone(), "op" => op).increment(n);
                }
            }
        }
        self.forget();
        Ok(())
    }

    async fn abort(&mut self) {
        self.forget();
        if let Err(e) = redis::cmd("UNWATCH").query_async::<()>(&mut self.conn).await {
            tracing::debug!(error = %e, "UNWATCH failed");
        }
    }

    async fn read_offsets(&mut self) -> Result<Vec<BrokerOffset>, RedisError> {
        let all: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(&self.offsets_key)
            .query_async(&mut self.conn)
            .await
            .map_err(|e| RedisError::command("reading the offsets hash", &e))?;
        let mut out = Vec::with_capacity(all.len());
        for (f, next_offset) in all {
            let (topic, partition) = f
                .rsplit_once(':')
                .and_then(|(t, p)| Some((t.to_owned(), p.parse().ok()?)))
                .ok_or_else(|| RedisError::fatal(format!("{}: malformed field {f:?}", self.offsets_key)))?;
            out.push(BrokerOffset { topic, partition, next_offset });
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    fn fence(&mut self) -> &mut OffsetFence {
        &mut self.fence
    }

    fn fenced(&self, message: String) -> RedisError {
        RedisError::Target { reason: message, kind: ErrorKind::Retriable }
    }
}
