//! Decoding Confluent-framed Avro change events back into [`ChangeEvent`]s, for the sinks that
//! apply topics to databases. Accepts Sluice's own events and Debezium's (PostgreSQL and
//! MySQL/MariaDB connectors, 2.x/3.x, with Confluent's `AvroConverter`).
//!
//! Each value schema id is fetched once (through a [`SchemaSource`]: the registry, or a map in
//! tests), compiled into a [`DecodedSchema`] — the reconstructed [`TableSchema`] and a reader
//! plan — and cached for the life of the decoder (registry ids are immutable, so an evolved
//! table simply arrives under a new id with its own `TableSchema`). Per record the plan reads
//! the Avro body in writer order without walking JSON or building an intermediate value tree.
//!
//! What the decoded event carries:
//! - `table`: columns in the order of the `Value` record; `key` from the key schema's field
//!   names (the key's own schema id, from the key bytes' header; a record without a key —
//!   truncate, keyless table — keeps the key last seen with its value schema); `id` from the
//!   `source` block (`schema`/`db` and `table`), falling back to the record namespace
//!   `<prefix>.<schema>.<table>`; `version` = the value schema id (ids only grow).
//! - Unchanged columns: names in Sluice's `unchanged` list decode as [`Value::Unchanged`]. For
//!   Debezium topics (no `unchanged` field) a string, JSON or bytes value equal to Debezium's
//!   placeholder `__debezium_unavailable_value` (or a text array holding only it) decodes as
//!   `Unchanged`; this is a heuristic — a real value equal to the placeholder would be taken
//!   for an unchanged one, and a connector configured with another placeholder is not
//!   recognized.
//! - `position`: the source coordinate from the `source` block — `Postgres(Lsn(lsn))` or
//!   `Binlog { file, pos, gtid_set: None }`. It is informational on the sink side (a sink's
//!   progress is its broker offsets); it is not an acknowledgeable source position.
//!
//! Failures: bytes that are not Confluent-framed ([`AvroError::Framing`]), an unknown schema id
//! (registry 404, [`AvroError::RegistryRefused`]), a schema that is not a change-event envelope
//! ([`AvroError::UnsupportedSchema`]) and a record that does not match its schema
//! ([`AvroError::Decode`], [`AvroError::Value`]) are fatal — poison records for the sink's
//! dead-letter policy; errors name topic, table and column, never values. A registry that
//! cannot be reached is retriable ([`AvroError::RegistryUnavailable`]).

mod compile;
mod envelope;
mod json;

/// The decoder's `ZonedTimestamp` parser, for the encoder's round-trip test.
#[cfg(test)]
pub(crate) fn parse_zoned_timestamp_for_tests(t: &str) -> Result<i64, String> {
    text::parse_zoned_timestamp(t)
}
mod read;
mod text;
mod transaction;

#[cfg(test)]
mod debezium_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde_json::Value as Json;
use sluice_core::{
    BinlogPosition, ChangeEvent, Column, Lsn, Op, Position, SnapshotMarker, SourceDetail, SourceInfo,
    TableId, TableSchema, TransactionEvent, TransactionInfo, Value,
};

pub use envelope::Flavor;

use crate::error::AvroError;
use crate::registry_client::RegistryClient;
use crate::schema_gen::SourceKind;
use crate::wire;

/// Where the decoder gets a schema's JSON by its registry id.
pub trait SchemaSource {
    /// The schema registered under `id`, as JSON with all attributes. An unknown id is
    /// `RegistryRefused` with status 404 (fatal); an unreachable store is retriable.
    fn schema_json(&self, id: u32) -> impl Future<Output = Result<Json, AvroError>> + Send;
}

impl SchemaSource for RegistryClient {
    fn schema_json(&self, id: u32) -> impl Future<Output = Result<Json, AvroError>> + Send {
        self.schema_json_by_id(id)
    }
}

/// Schemas held in memory by id (tests, or a sink fed from a schema snapshot).
#[derive(Debug, Clone, Default)]
pub struct StaticSchemas {
    schemas: HashMap<u32, Json>,
}

impl StaticSchemas {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, id: u32, schema: Json) -> &mut Self {
        self.schemas.insert(id, schema);
        self
    }
}

impl SchemaSource for StaticSchemas {
    fn schema_json(&self, id: u32) -> impl Future<Output = Result<Json, AvroError>> + Send {
        let found = self.schemas.get(&id).cloned().ok_or_else(|| AvroError::RegistryRefused {
            subject: format!("id {id}"),
            status: 404,
            error_code: 40403,
            message: "Schema not found".into(),
        });
        std::future::ready(found)
    }
}

/// A compiled value schema: the table it describes and how to read its records.
#[derive(Debug)]
pub struct DecodedSchema {
    pub schema_id: u32,
    /// Columns of the `Value` record; `key` empty (keys come from key schemas), `id` from the
    /// record namespace, `version` = `schema_id`.
    pub table: Arc<TableSchema>,
    /// Avro field names of the columns (sanitized; `table` has the original names).
    pub field_names: Vec<String>,
    pub connector: SourceKind,
    pub flavor: Flavor,
    plan: envelope::EnvelopePlan,
}

/// A compiled key schema.
#[derive(Debug)]
pub struct KeySchema {
    pub schema_id: u32,
    /// From the key record's namespace `<prefix>.<schema>.<table>`, when it has one.
    pub table: Option<TableId>,
    /// Avro field names, in key order.
    pub field_names: Vec<String>,
    pub columns: Vec<Column>,
    plans: Vec<read::ColumnPlan>,
}

/// The decoded key of a record: values in the key schema's field order.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRow {
    pub schema: Arc<KeySchema>,
    pub values: Vec<Value>,
}

impl PartialEq for KeySchema {
    fn eq(&self, other: &Self) -> bool {
        self.schema_id == other.schema_id
    }
}

/// One consumed record.
// Events are the common case and are moved straight into a batch; boxing them to shrink the
// rare tombstone would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Event(ChangeEvent),
    /// A null (or empty) value: the tombstone written after a delete so compaction can drop
    /// the key. `key` is `None` when the record had no key.
    Tombstone {
        key: Option<KeyRow>,
    },
}

/// Identity-ish hashing for schema ids (small integers; no attacker controls the key set
/// beyond what the registry holds).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// A value schema with the table last built for it (key columns and id included).
#[derive(Debug)]
struct Slot {
    schema: Arc<DecodedSchema>,
    key_id: Option<u32>,
    table: Arc<TableSchema>,
}

/// Decodes records of any number of topics; caches compiled schemas by id.
#[derive(Debug)]
pub struct EventDecoder<S = RegistryClient> {
    schemas: S,
    slots: IdMap<Slot>,
    keys: IdMap<Arc<KeySchema>>,
    /// (schema id, is key) that failed to compile — deterministic, so not fetched again.
    unsupported: HashMap<(u32, bool), String>,
    /// Writer schemas of transaction metadata records, by id.
    transaction_schemas: HashMap<u32, apache_avro::Schema>,
    /// Schemas of Connect JSON records, by local id (see `decode/json.rs`).
    local: json::JsonSchemas,
}

fn namespace_table(ns: &str) -> Option<TableId> {
    let mut parts = ns.rsplitn(3, '.');
    let table = parts.next()?;
    let schema = parts.next()?;
    Some(TableId::new(schema, table))
}

fn framing(topic: &str, what: &str, e: AvroError) -> AvroError {
    match e {
        AvroError::Framing(m) => AvroError::Framing(format!("{what} of a record on topic {topic}: {m}")),
        other => other,
    }
}

fn snapshot_marker(s: Option<&str>) -> SnapshotMarker {
    match s {
        None | Some("false") => SnapshotMarker::False,
        Some("first") => SnapshotMarker::First,
        Some("last") => SnapshotMarker::Last,
        Some("last_in_data_collection") => SnapshotMarker::LastInDataCollection,
        Some("incremental") => SnapshotMarker::Incremental,
        // `true`, `first_in_data_collection`, and markers of later Debezium versions.
        Some(_) => SnapshotMarker::True,
    }
}

impl<S: SchemaSource> EventDecoder<S> {
    pub fn new(schemas: S) -> Self {
        Self {
            schemas,
            slots: IdMap::default(),
            keys: IdMap::default(),
            unsupported: HashMap::new(),
            transaction_schemas: HashMap::new(),
            local: json::JsonSchemas::new(),
        }
    }

    /// A schema by id: a JSON record's local schema, else the schema source's.
    async fn schema_json(&self, id: u32) -> Result<Json, AvroError> {
        match self.local.get(&id) {
            Some((_, avro)) => Ok(avro.clone()),
            None => self.schemas.schema_json(id).await,
        }
    }

    /// A Connect JSON record (`{"schema", "payload"}`) as Confluent-framed Avro; other bytes as
    /// they are.
    fn transcode<'a>(
        &mut self,
        topic: &str,
        what: &str,
        bytes: &'a [u8],
    ) -> Result<std::borrow::Cow<'a, [u8]>, AvroError> {
        if bytes.first() != Some(&b'{') {
            return Ok(std::borrow::Cow::Borrowed(bytes));
        }
        let (_, framed) = json::transcode(bytes, &mut self.local)
            .map_err(|e| AvroError::Framing(format!("{what} of a JSON record on topic {topic}: {e}")))?;
        Ok(std::borrow::Cow::Owned(framed))
    }

    /// Decode one transaction metadata record (`<prefix>.transaction`). Writer schemas are
    /// fetched once per id.
    pub async fn decode_transaction(
        &mut self,
        topic: &str,
        value: &[u8],
    ) -> Result<TransactionEvent, AvroError> {
        let value = self.transcode(topic, "value", value)?;
        let (id, body) = wire::split(&value).map_err(|e| framing(topic, "value", e))?;
        if !self.transaction_schemas.contains_key(&id) {
            let json = self.schema_json(id).await?;
            let schema = apache_avro::Schema::parse(&json)
                .map_err(|e| AvroError::UnsupportedSchema { schema_id: id, reason: e.to_string() })?;
            self.transaction_schemas.insert(id, schema);
        }
        let schema = self.transaction_schemas.get(&id).ok_or_else(|| AvroError::UnsupportedSchema {
            schema_id: id,
            reason: "vanished from the cache".into(),
        })?;
        transaction::read_transaction(schema, topic, id, body)
    }

    /// Decode one record. `value` `None` (or empty) is a tombstone.
    pub async fn decode(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<Decoded, AvroError> {
        let key = match key.filter(|k| !k.is_empty()) {
            Some(k) => Some(self.transcode(topic, "key", k)?),
            None => None,
        };
        let key = key.as_deref();
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return self.tombstone(topic, key).await;
        };
        let value = self.transcode(topic, "value", value)?;
        let (value_id, body) = wire::split(&value).map_err(|e| framing(topic, "value", e))?;
        let key_id = match key.filter(|k| !k.is_empty()) {
            Some(k) => Some(wire::split(k).map_err(|e| framing(topic, "key", e))?.0),
            None => None,
        };
        if !self.slots.contains_key(&value_id) {
            self.value_schema(value_id).await?;
        }
        if let Some(kid) = key_id {
            if self.slots.get(&value_id).is_some_and(|s| s.key_id != Some(kid)) {
                let ks = self.key_schema(kid).await?;
                if let Some(slot) = self.slots.get_mut(&value_id) {
                    let mut t = (*slot.table).clone();
                    t.key = ks
                        .field_names
                        .iter()
                        .filter_map(|f| slot.schema.field_names.iter().position(|n| n == f))
                        .collect();
                    slot.table = Arc::new(t);
                    slot.key_id = Some(kid);
                }
            }
        }
        let slot = self.slots.get_mut(&value_id).ok_or_else(|| AvroError::UnsupportedSchema {
            schema_id: value_id,
            reason: "vanished from the cache".into(),
        })?;
        assemble(topic, slot, body).map(Decoded::Event)
    }

    /// The compiled value schema `id` (fetched, compiled and cached on first use).
    pub async fn value_schema(&mut self, id: u32) -> Result<Arc<DecodedSchema>, AvroError> {
        if let Some(slot) = self.slots.get(&id) {
            return Ok(slot.schema.clone());
        }
        let unsupported = |reason: String| AvroError::UnsupportedSchema { schema_id: id, reason };
        if let Some(reason) = self.unsupported.get(&(id, false)) {
            return Err(unsupported(reason.clone()));
        }
        let json = self.schema_json(id).await?;
        let c = match envelope::compile(&json) {
            Ok(c) => c,
            Err(reason) => {
                self.unsupported.insert((id, false), reason.clone());
                return Err(unsupported(reason));
            }
        };
        let id_from_ns =
            namespace_table(&c.namespace).unwrap_or_else(|| TableId::new("", c.namespace.as_str()));
        let table =
            Arc::new(TableSchema { id: id_from_ns, columns: c.columns, key: Vec::new(), version: id });
        let schema = Arc::new(DecodedSchema {
            schema_id: id,
            table: table.clone(),
            field_names: c.field_names,
            connector: c.connector,
            flavor: c.flavor,
            plan: c.plan,
        });
        self.slots.insert(id, Slot { schema: schema.clone(), key_id: None, table });
        Ok(schema)
    }

    /// The compiled key schema `id` (fetched, compiled and cached on first use).
    pub async fn key_schema(&mut self, id: u32) -> Result<Arc<KeySchema>, AvroError> {
        if let Some(k) = self.keys.get(&id) {
            return Ok(k.clone());
        }
        let unsupported = |reason: String| AvroError::UnsupportedSchema { schema_id: id, reason };
        if let Some(reason) = self.unsupported.get(&(id, true)) {
            return Err(unsupported(reason.clone()));
        }
        let json = self.schema_json(id).await?;
        let (ns, fields) = match compile::key_record(&json) {
            Ok(k) => k,
            Err(reason) => {
                self.unsupported.insert((id, true), reason.clone());
                return Err(unsupported(reason));
            }
        };
        let mut ks = KeySchema {
            schema_id: id,
            table: namespace_table(&ns),
            field_names: Vec::new(),
            columns: Vec::new(),
            plans: Vec::new(),
        };
        for (f, c, p) in fields {
            ks.field_names.push(f);
            ks.columns.push(c);
            ks.plans.push(p);
        }
        let ks = Arc::new(ks);
        self.keys.insert(id, ks.clone());
        Ok(ks)
    }

    async fn tombstone(&mut self, topic: &str, key: Option<&[u8]>) -> Result<Decoded, AvroError> {
        let Some(k) = key.filter(|k| !k.is_empty()) else {
            return Ok(Decoded::Tombstone { key: None });
        };
        let (id, body) = wire::split(k).map_err(|e| framing(topic, "key", e))?;
        let schema = self.key_schema(id).await?;
        let mut cur = read::Cursor::new(body);
        let mut values = Vec::with_capacity(schema.plans.len());
        for (p, c) in schema.plans.iter().zip(&schema.columns) {
            let v = read::read_column(&mut cur, p).map_err(|reason| AvroError::Value {
                table: format!("key of topic {topic} (schema id {id})"),
                column: c.name.clone(),
                reason,
            })?;
            values.push(v);
        }
        if cur.remaining() != 0 {
            return Err(AvroError::Decode {
                topic: topic.to_owned(),
                schema_id: id,
                reason: format!("{} bytes left after the key", cur.remaining()),
            });
        }
        Ok(Decoded::Tombstone { key: Some(KeyRow { schema, values }) })
    }
}

/// Build the event from one envelope body; refreshes the slot's table when the `source`
/// block names another table than the one cached.
fn assemble(topic: &str, slot: &mut Slot, body: &[u8]) -> Result<ChangeEvent, AvroError> {
    let ds = &slot.schema;
    let raw = envelope::read(body, &ds.plan, &ds.table.columns).map_err(|f| match f {
        envelope::Fault::Column { image, index, reason } => AvroError::Value {
            table: format!("{} (topic {topic}, schema id {})", ds.table.id, ds.schema_id),
            column: format!("{image}.{}", ds.table.columns.get(index).map_or("?", |c| c.name.as_str())),
            reason,
        },
        envelope::Fault::Field { field, reason } => AvroError::Decode {
            topic: topic.to_owned(),
            schema_id: ds.schema_id,
            reason: format!("{field}: {reason}"),
        },
    })?;
    let decode_err =
        |reason: String| AvroError::Decode { topic: topic.to_owned(), schema_id: ds.schema_id, reason };
    let op = match raw.op {
        Some(code) => Op::from_code(code).ok_or_else(|| decode_err(format!("unknown op {code:?}")))?,
        None => return Err(decode_err("op is null".into())),
    };
    let s = &raw.source;
    let fallback = &ds.table.id;
    let (schema_name, table_name) = match ds.connector {
        SourceKind::Postgres => (s.schema.unwrap_or(&fallback.schema), s.table.unwrap_or(&fallback.table)),
        SourceKind::MySql => (s.db.unwrap_or(&fallback.schema), s.table.unwrap_or(&fallback.table)),
    };
    let (detail, position) = match ds.connector {
        SourceKind::Postgres => {
            let lsn = s.lsn.and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
            let detail = SourceDetail::Postgres {
                lsn,
                tx_id: s.tx_id,
                xmin: s.xmin,
                sequence: s.sequence.map(str::to_owned),
            };
            (detail, Position::Postgres(Lsn(lsn)))
        }
        SourceKind::MySql => {
            let file = s.file.unwrap_or("").to_owned();
            let pos = s.pos.and_then(|p| u64::try_from(p).ok()).unwrap_or(0);
            let position = Position::Binlog(BinlogPosition { file: file.clone(), pos, gtid_set: None });
            let detail = SourceDetail::MySql {
                server_id: s.server_id.and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
                gtid: s.gtid.map(str::to_owned),
                file,
                pos,
                row: s.row.and_then(|v| u32::try_from(v).ok()).unwrap_or(0),
                thread: s.thread,
                query: s.query.map(str::to_owned),
            };
            (detail, position)
        }
    };
    let source = SourceInfo {
        connector: ds.connector.connector(),
        name: s.name.unwrap_or("").to_owned(),
        ts_ms: s.ts_ms.unwrap_or(0),
        snapshot: snapshot_marker(s.snapshot),
        db: s.db.unwrap_or("").to_owned(),
        schema: (ds.connector == SourceKind::Postgres).then(|| schema_name.to_owned()),
        table: table_name.to_owned(),
        detail,
    };
    let transaction = raw.tx.map(|t| TransactionInfo {
        id: t.id.unwrap_or("").to_owned(),
        total_order: t.total_order.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
        data_collection_order: t.data_collection_order.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
    });
    let ts_ms = raw.ts_ms.unwrap_or(source.ts_ms);
    let mut after = raw.after;
    if let Some(row) = after.as_mut() {
        for &i in &raw.unchanged {
            if let Some(v) = row.get_mut(i) {
                *v = Value::Unchanged;
            }
        }
    }
    if slot.table.id.schema != schema_name || slot.table.id.table != table_name {
        let mut t = (*slot.table).clone();
        t.id = TableId::new(schema_name, table_name);
        slot.table = Arc::new(t);
    }
    Ok(ChangeEvent {
        table: slot.table.clone(),
        op,
        before: raw.before,
        after,
        source,
        ts_ms,
        transaction,
        position,
    })
}
