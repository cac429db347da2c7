//! The DynamoDB sink. A batch is folded in memory (one final write per item, unchanged columns
//! merged); at commit the table truncates run, then the item writes, then the fenced offsets.
//! Every write goes only where the item's `__sluice_offset` (the broker offset of the change it
//! holds) is older than the write's: in batch mode ([`crate::batch`]) checked by a consistent read
//! before `BatchWriteItem`s, in conditional mode (and for updates that must keep unchanged
//! columns) by each `UpdateItem`/`DeleteItem`'s condition. A write older than the item (a replay
//! after a crash, a stale group member) is skipped — counted in `sluice_sink_stale_writes_total`,
//! not an error.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};
use sluice_core::sink::fenced_message;
use sluice_core::sink::METRIC_APPLIED;
use sluice_core::{
    BrokerOffset, ChangeEvent, Committed, OffsetFence, Op, RecordAt, Result, Sink, TableSchema, Value,
};

use sluice_core::changelog::Shape;
use sluice_core::plan::FoldedPlan;

use crate::client::{ensure_table, KeySchema};
use crate::config::{ensure_table_name, DynamoSinkConfig};
use crate::error::DynamoError;
use crate::value::{attribute, composite_part, key_attribute};

/// The attribute every item carries: the broker offset of the change it holds.
pub const OFFSET_ATTR: &str = "__sluice_offset";
/// Writes skipped because the item already holds a newer change.
pub const METRIC_STALE: &str = "sluice_sink_stale_writes_total";
const CONDITION: &str = "attribute_not_exists(#o) OR #o < :o";

use crate::batch::{Item, ItemWrite};
use crate::config::WriteMode;

/// A target table as this sink writes it.
#[derive(Debug)]
struct Table {
    name: String,
    key: KeySchema,
}

enum Write {
    Upsert { set: Vec<(String, AttributeValue)>, remove: Vec<String> },
    Delete,
}

struct Planned {
    table: Arc<Table>,
    key: Item,
    write: Write,
    offset: i64,
    op: &'static str,
    /// The write names every attribute of the item (no unchanged column left unresolved), so a
    /// whole-item put or delete may replace it.
    whole: bool,
}

pub struct DynamoSink {
    config: DynamoSinkConfig,
    client: Client,
    name: String,
    tables: HashMap<String, Arc<Table>>,
    /// Each item's final write, by (table, key).
    plan: FoldedPlan<Planned>,
    /// Tables truncated in this batch, with the truncate's offset (the last one wins).
    truncates: Vec<(Arc<Table>, i64)>,
    /// Change-log shape: the entries of this batch.
    entries: Vec<(Arc<Table>, Item)>,
    fence: OffsetFence,
}

impl DynamoSink {
    /// Connect and make sure the offsets table exists; `name` keys this sink's offsets.
    pub async fn connect(config: DynamoSinkConfig, name: &str) -> std::result::Result<Self, DynamoError> {
        let client = crate::client::client(&config.connection).await?;
        ensure_table_name(&config.offsets_table).map_err(DynamoError::fatal)?;
        ensure_table(&client, &config.offsets_table, &offsets_key(), config.create_tables).await?;
        Ok(Self {
            config,
            client,
            name: name.to_owned(),
            tables: HashMap::new(),
            plan: FoldedPlan::default(),
            truncates: Vec::new(),
            entries: Vec::new(),
            fence: OffsetFence::default(),
        })
    }

    async fn table(&mut self, t: &TableSchema) -> std::result::Result<Arc<Table>, DynamoError> {
        let name = self.config.table(&t.id.schema, &t.id.table);
        if let Some(table) = self.tables.get(&name) {
            return Ok(table.clone());
        }
        ensure_table_name(&name).map_err(DynamoError::fatal)?;
        let key = if self.config.shape == Shape::Changelog { changelog_key() } else { self.row_key(t)? };
        ensure_table(&self.client, &name, &key, self.config.create_tables).await?;
        let table = Arc::new(Table { name: name.clone(), key });
        self.tables.insert(name, table.clone());
        Ok(table)
    }

    fn row_key(&self, t: &TableSchema) -> std::result::Result<KeySchema, DynamoError> {
        KeySchema::of(t).ok_or_else(|| {
            DynamoError::fatal(format!(
                "source table {} has no primary key; the DynamoDB target keys each item by it \
                 (give the source table a primary key, or exclude it from the sink's topics)",
                t.id
            ))
        })
    }

    /// Change-log shape: stage the event's item.
    async fn append(&mut self, ev: &ChangeEvent, at: &RecordAt<'_>) -> std::result::Result<(), DynamoError> {
        use sluice_core::changelog::{row_fields, source_fields, transaction_fields};
        let table = self.table(&ev.table).await?;
        let map = |pairs: &mut dyn Iterator<Item = (&str, &Value)>| -> std::result::Result<AttributeValue, DynamoError> {
            let mut m = Item::new();
            for (n, v) in pairs {
                m.insert(n.to_owned(), attribute(v).map_err(|r| bad_value(ev, n, &r))?);
            }
            Ok(AttributeValue::M(m))
        };
        let mut item: Item = [
            ("topic_partition".to_owned(), AttributeValue::S(format!("{}:{}", at.topic, at.partition))),
            ("offset".to_owned(), AttributeValue::N(at.offset.to_string())),
            ("topic".to_owned(), AttributeValue::S(at.topic.to_owned())),
            ("partition".to_owned(), AttributeValue::N(at.partition.to_string())),
            ("op".to_owned(), AttributeValue::S(ev.op.code().to_owned())),
            ("ts_ms".to_owned(), AttributeValue::N(ev.ts_ms.to_string())),
        ]
        .into();
        for (name, image) in [("before", &ev.before), ("after", &ev.after)] {
            if let Some(row) = image {
                item.insert(name.to_owned(), map(&mut row_fields(&ev.table, row).into_iter())?);
            }
        }
        let source = source_fields(&ev.source);
        item.insert("source".to_owned(), map(&mut source.iter().map(|(n, v)| (*n, v)))?);
        if let Some(t) = transaction_fields(ev) {
            item.insert("transaction".to_owned(), map(&mut t.iter().map(|(n, v)| (*n, v)))?);
        }
        self.entries.push((table, item));
        Ok(())
    }

    fn set(&mut self, p: Planned) {
        let id = item_id(&p.key);
        self.plan.set(p.table.name.clone(), id, p);
    }

    async fn stage(&mut self, ev: &ChangeEvent, offset: i64) -> std::result::Result<(), DynamoError> {
        let table = self.table(&ev.table).await?;
        match ev.op {
            Op::Truncate => {
                self.plan.drop_table(&table.name);
                self.truncates.retain(|(t, _)| t.name != table.name);
                self.truncates.push((table, offset));
            }
            Op::Delete => {
                let before = ev.before.as_deref().ok_or_else(|| missing(ev, "before"))?;
                let key = item_key(ev, &table, before)?;
                self.set(Planned { table, key, write: Write::Delete, offset, op: "d", whole: true });
            }
            Op::Create | Op::Update | Op::Read => {
                let after = ev.after.as_deref().ok_or_else(|| missing(ev, "after"))?;
                let key = item_key(ev, &table, after)?;
                if let Some(old) = ev.before.as_deref().and_then(|b| item_key(ev, &table, b).ok()) {
                    if old != key {
                        self.set(Planned {
                            table: table.clone(),
                            key: old,
                            write: Write::Delete,
                            offset,
                            op: "d",
                            whole: true,
                        });
                    }
                }
                let (mut set, mut remove, unchanged) = attributes(ev, &table, after)?;
                let id = item_id(&key);
                let mut whole = unchanged.is_empty();
                // Unchanged columns take the value an earlier write of this batch gave them.
                if let Some(Planned { write: Write::Upsert { set: s0, remove: r0 }, whole: w0, .. }) =
                    self.plan.get(&table.name, &id)
                {
                    let mut resolved = 0;
                    for name in &unchanged {
                        if let Some((n, v)) = s0.iter().find(|(n, _)| n == name) {
                            set.push((n.clone(), v.clone()));
                            resolved += 1;
                        } else if r0.contains(name) {
                            remove.push(name.clone());
                            resolved += 1;
                        }
                    }
                    whole = *w0 && resolved == unchanged.len();
                }
                let op = if ev.op == Op::Update { "u" } else { "c" };
                let name = table.name.clone();
                let p = Planned { table, key, write: Write::Upsert { set, remove }, offset, op, whole };
                self.plan.set(name, id, p);
            }
        }
        Ok(())
    }

    fn forget(&mut self) {
        self.plan.clear();
        self.truncates.clear();
        self.entries.clear();
    }

    /// Run what was staged: truncates, then the item writes.
    async fn flush(&mut self) -> std::result::Result<(), DynamoError> {
        let entries = std::mem::take(&mut self.entries);
        let mut chunks: Vec<(Arc<Table>, Vec<Item>)> = Vec::new();
        for (table, item) in entries {
            match chunks.last_mut() {
                Some((t, items)) if t.name == table.name && items.len() < 25 => items.push(item),
                _ => chunks.push((table, vec![item])),
            }
        }
        let client = &self.client;
        futures::stream::iter(chunks.into_iter().map(|(t, items)| put_entries(client, t, items)))
            .buffer_unordered(self.config.concurrency.max(1))
            .try_collect::<()>()
            .await?;
        for (table, offset) in std::mem::take(&mut self.truncates) {
            truncate(&self.client, &table, offset, self.config.concurrency).await?;
            metrics::counter!(METRIC_APPLIED, "table" => table.name.clone(), "op" => "t").increment(1);
        }
        let plan = self.plan.take();
        let batch = self.config.write_mode == WriteMode::Batch;
        let (whole, single): (Vec<Planned>, Vec<Planned>) = plan.into_iter().partition(|p| batch && p.whole);
        let client = &self.client;
        let concurrency = self.config.concurrency.max(1);
        let singles = futures::stream::iter(single.into_iter().map(|p| write(client, p)))
            .buffer_unordered(concurrency)
            .try_collect::<()>();
        let secs = self.config.write_deadline_secs;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        // Up to 4 `BatchWriteItem`s per chunk of 100: `concurrency` requests in flight in all.
        let chunks = guarded_chunks(whole).into_iter().map(|(table, writes)| async move {
            crate::batch::write_guarded(client, &table.name, &table.key, writes, deadline, secs).await
        });
        let batches =
            futures::stream::iter(chunks).buffer_unordered((concurrency / 4).max(1)).try_collect::<()>();
        futures::try_join!(singles, batches).map(|_| ())
    }

    async fn store_offsets(&mut self, offsets: &[BrokerOffset]) -> std::result::Result<usize, DynamoError> {
        let table = &self.config.offsets_table;
        let mut written = 0;
        for w in self.fence.writes(offsets) {
            let o = w.offset;
            let key: Item = [
                ("sink".to_owned(), AttributeValue::S(self.name.clone())),
                ("topic_partition".to_owned(), AttributeValue::S(format!("{}:{}", o.topic, o.partition))),
            ]
            .into();
            let next = AttributeValue::N(o.next_offset.to_string());
            let result = match w.expected {
                Some(e) => self
                    .client
                    .update_item()
                    .table_name(table)
                    .set_key(Some(key))
                    .update_expression("SET next_offset = :n")
                    .condition_expression("next_offset = :e")
                    .expression_attribute_values(":n", next)
                    .expression_attribute_values(":e", AttributeValue::N(e.to_string()))
                    .send()
                    .await
                    .map(|_| true)
                    .or_else(|e| skip_condition(e, "storing offsets")),
                None => {
                    let mut item = key;
                    item.insert("topic".into(), AttributeValue::S(o.topic.clone()));
                    item.insert("partition".into(), AttributeValue::N(o.partition.to_string()));
                    item.insert("next_offset".into(), next);
                    self.client
                        .put_item()
                        .table_name(table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(sink)")
                        .send()
                        .await
                        .map(|_| true)
                        .or_else(|e| skip_condition(e, "storing offsets"))
                }
            };
            if result? {
                written += 1;
            }
        }
        Ok(written)
    }

    async fn read_offsets(&self) -> std::result::Result<Vec<BrokerOffset>, DynamoError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.config.offsets_table)
                .key_condition_expression("sink = :s")
                .expression_attribute_values(":s", AttributeValue::S(self.name.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| DynamoError::request("reading offsets", &e))?;
            for item in page.items() {
                let parse = || -> Option<BrokerOffset> {
                    let n = |k: &str| item.get(k)?.as_n().ok()?.parse::<i64>().ok();
                    Some(BrokerOffset {
                        topic: item.get("topic")?.as_s().ok()?.clone(),
                        partition: i32::try_from(n("partition")?).ok()?,
                        next_offset: n("next_offset")?,
                    })
                };
                out.push(parse().ok_or_else(|| {
                    DynamoError::fatal(format!(
                        "{}: malformed offsets item {item:?}",
                        self.config.offsets_table
                    ))
                })?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }
}

impl Sink for DynamoSink {
    async fn apply(&mut self, events: &[ChangeEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.forget();
        Err(DynamoError::fatal(
            "the DynamoDB target versions each item by its record's broker offset, which \
             transaction-consistent mode does not provide; set transaction_consistent = false",
        )
        .into())
    }

    async fn apply_at(&mut self, events: &[ChangeEvent], at: &[RecordAt<'_>]) -> Result<()> {
        for (ev, at) in events.iter().zip(at) {
            let staged = match self.config.shape {
                Shape::Row => self.stage(ev, at.offset).await,
                Shape::Changelog => self.append(ev, at).await,
            };
            if let Err(e) = staged {
                self.forget();
                return Err(e.into());
            }
        }
        Ok(())
    }

    async fn commit(&mut self, offsets: &[BrokerOffset]) -> Result<Committed> {
        let result = async {
            self.flush().await?;
            let wanted = self.fence.writes(offsets).len();
            let written = self.store_offsets(offsets).await?;
            if written != wanted {
                return Err(DynamoError::retriable(fenced_message(written, wanted)));
            }
            self.fence.advance(offsets);
            Ok(())
        }
        .await;
        if result.is_err() {
            self.forget();
        }
        result.map_err(Into::into).map(|()| Committed::All)
    }

    async fn stored_offsets(&mut self) -> Result<Vec<BrokerOffset>> {
        let stored = self.read_offsets().await?;
        self.fence.reset(&stored);
        Ok(stored)
    }
}

/// A change-log table: partition key `topic_partition` (`<topic>:<partition>`), sort key `offset`.
pub fn changelog_key() -> KeySchema {
    use aws_sdk_dynamodb::types::ScalarAttributeType::{N, S};
    KeySchema { hash: ("topic_partition".into(), S), range: Some(("offset".into(), N)) }
}

/// Put up to 25 change-log items with `BatchWriteItem`. Unguarded: an entry's key is its record,
/// so writing it again writes the same item.
async fn put_entries(
    client: &Client,
    table: Arc<Table>,
    items: Vec<Item>,
) -> std::result::Result<(), DynamoError> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let n = items.len() as u64;
    let mut requests = Vec::with_capacity(items.len());
    for item in items {
        let put = PutRequest::builder()
            .set_item(Some(item))
            .build()
            .map_err(|e| DynamoError::fatal(format!("table {}: {e}", table.name)))?;
        requests.push(WriteRequest::builder().put_request(put).build());
    }
    crate::batch::batch_write(client, &table.name, requests, None).await?;
    metrics::counter!(METRIC_APPLIED, "table" => table.name.clone(), "op" => "c").increment(n);
    Ok(())
}

/// Whole-item writes as `BatchWriteItem` input, in chunks of one table's items (≤ 100, one
/// `BatchGetItem` each).
fn guarded_chunks(plan: Vec<Planned>) -> Vec<(Arc<Table>, Vec<ItemWrite>)> {
    let mut by_table: HashMap<String, (Arc<Table>, Vec<ItemWrite>)> = HashMap::new();
    for p in plan {
        let item = match p.write {
            Write::Delete => None,
            Write::Upsert { set, .. } => {
                let mut item = p.key.clone();
                item.insert(OFFSET_ATTR.to_owned(), AttributeValue::N(p.offset.to_string()));
                item.extend(set);
                Some(item)
            }
        };
        let w = ItemWrite { key: p.key, item, offset: p.offset, op: p.op };
        by_table.entry(p.table.name.clone()).or_insert_with(|| (p.table.clone(), Vec::new())).1.push(w);
    }
    let mut chunks = Vec::new();
    for (table, writes) in by_table.into_values() {
        chunks.extend(crate::batch::chunked(writes, crate::batch::GET_CHUNK).map(|c| (table.clone(), c)));
    }
    chunks
}

/// The offsets table: partition key `sink`, sort key `topic_partition` (`<topic>:<partition>`).
pub fn offsets_key() -> KeySchema {
    use aws_sdk_dynamodb::types::ScalarAttributeType::S;
    KeySchema { hash: ("sink".into(), S), range: Some(("topic_partition".into(), S)) }
}

/// An item's identity in its table's batch plan: its key attributes in name order.
fn item_id(key: &Item) -> String {
    format!("{:?}", sorted(key))
}

fn sorted(item: &Item) -> Vec<(&String, &AttributeValue)> {
    let mut v: Vec<_> = item.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn missing(ev: &ChangeEvent, image: &str) -> DynamoError {
    DynamoError::fatal(ev.missing_image(image))
}

fn bad_value(ev: &ChangeEvent, column: &str, reason: &str) -> DynamoError {
    DynamoError::fatal(ev.bad_value(column, reason))
}

/// The item key of a row image.
fn item_key(ev: &ChangeEvent, table: &Table, row: &[Value]) -> std::result::Result<Item, DynamoError> {
    let t = &ev.table;
    let cell = |n: usize| -> std::result::Result<(&str, &Value), DynamoError> {
        let i = t.key[n];
        let name = t.columns.get(i).map_or("?", |c| c.name.as_str());
        match row.get(i) {
            Some(v) if !v.is_null() && !v.is_unchanged() => Ok((name, v)),
            _ => Err(DynamoError::fatal(format!(
                "{} event for {}: key column {name} is NULL or missing; an item needs its key",
                ev.op.code(),
                t.id
            ))),
        }
    };
    let mut key = Item::new();
    let (name, v) = cell(0)?;
    key.insert(
        table.key.hash.0.clone(),
        key_attribute(v, &table.key.hash.1).map_err(|r| bad_value(ev, name, &r))?,
    );
    if let Some((range, ty)) = &table.key.range {
        let v = if t.key.len() == 2 {
            let (name, v) = cell(1)?;
            key_attribute(v, ty).map_err(|r| bad_value(ev, name, &r))?
        } else {
            let parts = (1..t.key.len())
                .map(|n| cell(n).map(|(_, v)| composite_part(v)))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            AttributeValue::S(parts.join("#"))
        };
        key.insert(range.clone(), v);
    }
    Ok(key)
}

/// The non-key attributes of a row image: set (values), remove (NULLs), unchanged (not sent).
type Attributes = (Vec<(String, AttributeValue)>, Vec<String>, Vec<String>);

fn attributes(
    ev: &ChangeEvent,
    table: &Table,
    row: &[Value],
) -> std::result::Result<Attributes, DynamoError> {
    let mut set = Vec::new();
    let mut remove = Vec::new();
    let mut unchanged = Vec::new();
    for (c, v) in ev.table.columns.iter().zip(row) {
        let is_key = c.name == table.key.hash.0 || table.key.range.as_ref().is_some_and(|r| r.0 == c.name);
        if is_key || c.name == OFFSET_ATTR {
            continue;
        }
        if v.is_unchanged() {
            unchanged.push(c.name.clone());
        } else if v.is_null() {
            remove.push(c.name.clone());
        } else {
            set.push((c.name.clone(), attribute(v).map_err(|r| bad_value(ev, &c.name, &r))?));
        }
    }
    Ok((set, remove, unchanged))
}

/// `Ok(true)`: done; `Ok(false)`: the condition failed (a newer value is there).
fn skip_condition<E, R>(
    e: aws_sdk_dynamodb::error::SdkError<E, R>,
    context: &str,
) -> std::result::Result<bool, DynamoError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    if e.code() == Some("ConditionalCheckFailedException") {
        Ok(false)
    } else {
        Err(DynamoError::request(context, &e))
    }
}

async fn write(client: &Client, p: Planned) -> std::result::Result<(), DynamoError> {
    let context = || format!("writing item {:?} of table {}", sorted(&p.key), p.table.name);
    let offset = AttributeValue::N(p.offset.to_string());
    let done = match p.write {
        Write::Delete => delete_older(client, &p.table.name, p.key.clone(), p.offset, &context()).await?,
        Write::Upsert { set, remove } => {
            let mut expr = String::from("SET #o = :o");
            let mut names: HashMap<String, String> = [("#o".to_owned(), OFFSET_ATTR.to_owned())].into();
            let mut values: Item = [(":o".to_owned(), offset)].into();
            for (i, (name, v)) in set.into_iter().enumerate() {
                expr.push_str(&format!(", #s{i} = :s{i}"));
                names.insert(format!("#s{i}"), name);
                values.insert(format!(":s{i}"), v);
            }
            for (i, name) in remove.into_iter().enumerate() {
                expr.push_str(if i == 0 { " REMOVE " } else { ", " });
                expr.push_str(&format!("#r{i}"));
                names.insert(format!("#r{i}"), name);
            }
            client
                .update_item()
                .table_name(&p.table.name)
                .set_key(Some(p.key.clone()))
                .update_expression(expr)
                .condition_expression(CONDITION)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map(|_| true)
                .or_else(|e| skip_condition(e, &context()))?
        }
    };
    let table = p.table.name.clone();
    if done {
        metrics::counter!(METRIC_APPLIED, "table" => table, "op" => p.op).increment(1);
    } else {
        metrics::counter!(METRIC_STALE, "table" => table).increment(1);
    }
    Ok(())
}

/// Delete the item at `key` unless it holds a change at or after `offset`; `Ok(false)`: it did.
async fn delete_older(
    client: &Client,
    table: &str,
    key: Item,
    offset: i64,
    context: &str,
) -> std::result::Result<bool, DynamoError> {
    client
        .delete_item()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression(CONDITION)
        .expression_attribute_names("#o", OFFSET_ATTR)
        .expression_attribute_values(":o", AttributeValue::N(offset.to_string()))
        .send()
        .await
        .map(|_| true)
        .or_else(|e| skip_condition(e, context))
}

/// Delete every item of `table` that holds a change older than the truncate at `offset` (items
/// written after it, by a replay that got further before a crash, stay).
async fn truncate(
    client: &Client,
    table: &Table,
    offset: i64,
    concurrency: usize,
) -> std::result::Result<(), DynamoError> {
    let (projection, names) = crate::batch::key_projection(&table.key);
    let mut start: Option<Item> = None;
    let mut deleted = 0u64;
    loop {
        let page = client
            .scan()
            .table_name(&table.name)
            .projection_expression(&projection)
            .set_expression_attribute_names(Some(names.clone()))
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| DynamoError::request(format!("scanning table {} to truncate it", table.name), &e))?;
        let keys: Vec<Item> = page
            .items()
            .iter()
            .map(|item| {
                item.iter()
                    .filter(|(k, _)| k.as_str() != OFFSET_ATTR)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .collect();
        deleted += keys.len() as u64;
        let context = format!("truncating table {}", table.name);
        futures::stream::iter(
            keys.into_iter().map(|key| delete_older(client, &table.name, key, offset, &context)),
        )
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<bool>>()
        .await?;
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    tracing::debug!(table = %table.name, items = deleted, "truncated");
    Ok(())
}
