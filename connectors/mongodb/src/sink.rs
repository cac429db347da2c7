//! The MongoDB sink: a [`TransactionalTarget`] on one client session. A batch is staged in
//! memory, in event order, as `update` (upsert by `_id`) and `delete` commands (consecutive
//! statements of one kind and collection in one command); the transaction is opened only at
//! commit, the commands and the fenced offsets sent in it, and committed. Keeping it that short
//! matters: a process killed with a transaction open leaves it on the server, holding its
//! documents (later writes to them fail with a retriable `WriteConflict`) until the server
//! expires it (`transactionLifetimeLimitSeconds`, 60 s by default).

use std::time::Duration;

use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ClientOptions;
use mongodb::{Client, ClientSession, Database};
use sluice_core::changelog::Shape;
use sluice_core::sink::FencedWrite;
use sluice_core::sink::METRIC_APPLIED;
use sluice_core::transactional::TransactionalTarget;
use sluice_core::{BrokerOffset, ChangeEvent, Check, ErrorKind, OffsetFence, Op, RecordAt, Value};

use crate::bson_value::to_bson;
use crate::config::MongoSinkConfig;
use crate::error::MongoError;

/// Statements per command (MongoDB accepts up to `maxWriteBatchSize`, 100,000).
const MAX_STATEMENTS: usize = 10_000;

/// The collection holding every sink's offsets, in the target database.
const OFFSETS: &str = "sluice_offsets";
/// The sessions of this sink's processes (`_id`: the session id, `sink`: the sink's name).
const SESSIONS: &str = "sluice_sessions";

async fn client(config: &MongoSinkConfig) -> Result<Client, MongoError> {
    let mut opts = ClientOptions::parse(&config.connection.url)
        .await
        .map_err(|e| MongoError::fatal(format!("[sink.connection] url: {e}")))?;
    let timeout = Duration::from_secs(config.connection.connect_timeout_secs.max(1));
    opts.connect_timeout = Some(timeout);
    opts.server_selection_timeout = Some(timeout);
    opts.app_name = Some("sluice".into());
    Client::with_options(opts).map_err(|e| MongoError::command("creating the client", &e))
}

/// `ensure_connect` (`ping`) and `ensure_transactions` (the deployment is a replica set or
/// sharded cluster: multi-document transactions need one).
pub async fn check_sink(endpoint: &str, config: &MongoSinkConfig) -> Vec<Check> {
    let c = match client(config).await {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::error(endpoint, "connect", e.to_string(), "check [sink.connection] url")]
        }
    };
    let db = c.database(&config.database);
    let hello = match db.run_command(doc! {"hello": 1}).await {
        Ok(h) => h,
        Err(e) => {
            return vec![Check::error(
                endpoint,
                "connect",
                e.to_string(),
                "check [sink.connection] url and credentials",
            )]
        }
    };
    let mut checks =
        vec![Check::pass(endpoint, "connect", config.connection.url.split('@').next_back().unwrap_or(""))];
    let replicated = hello.get_str("setName").is_ok() || hello.get_str("msg").is_ok_and(|m| m == "isdbgrid");
    checks.push(if replicated {
        Check::pass(endpoint, "transactions", "replica set or sharded cluster")
    } else {
        Check::fail(
            endpoint,
            "transactions",
            "a replica set or sharded cluster (multi-document transactions)",
            "a standalone server",
            "run mongod with --replSet (a one-node replica set is enough)",
        )
    });
    checks
}

/// One command being filled: consecutive statements of one kind for one collection.
/// The kind of a staged command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A new row (c/r with every column): `insert` of the whole document, the cheapest write.
    /// On a replay the document exists; the duplicate key aborts the transaction and the batch
    /// is sent again with these as upserts.
    Insert,
    /// `update` with `upsert: true` and `$set` of the sent fields.
    Upsert,
    Delete,
}

struct Pending {
    collection: String,
    kind: Kind,
    statements: Vec<Document>,
}

/// Batches sent with upserts only after a batch met existing documents (a replay, a
/// re-snapshot), before inserts are tried again.
const UPSERT_ONLY_BATCHES: u32 = 10;

/// The error of an insert that met an existing document.
const DUPLICATE_KEY: i32 = 11000;

pub struct MongoSink {
    config: MongoSinkConfig,
    db: Database,
    session: ClientSession,
    name: String,
    in_tx: bool,
    /// Commands staged since the last commit, in event order (the last one still filling).
    staged: Vec<Pending>,
    /// Batches left that stage new rows as upserts (see [`Kind::Insert`]).
    upsert_only: u32,
    fence: OffsetFence,
}

impl MongoSink {
    /// Connect (the first command checks the server); `name` keys this sink's offsets.
    pub async fn connect(config: MongoSinkConfig, name: &str) -> Result<Self, MongoError> {
        let c = client(&config).await?;
        let db = c.database(&config.database);
        db.run_command(doc! {"ping": 1}).await.map_err(|e| MongoError::command("ping", &e))?;
        let session = c.start_session().await.map_err(|e| MongoError::command("starting a session", &e))?;
        end_orphaned_transactions(&c, &db, name, session.id()).await?;
        Ok(Self {
            config,
            db,
            session,
            name: name.to_owned(),
            in_tx: false,
            staged: Vec::new(),
            upsert_only: 0,
            fence: OffsetFence::default(),
        })
    }

    async fn open(&mut self) -> Result<(), MongoError> {
        if !self.in_tx {
            self.session
                .start_transaction()
                .await
                .map_err(|e| MongoError::command("starting a transaction", &e))?;
            self.in_tx = true;
        }
        Ok(())
    }

    /// Stage `statement`, in a new command when the last one is of another kind or
    /// collection, or full.
    fn push(&mut self, collection: &str, kind: Kind, statement: Document) {
        let same = self.staged.last().is_some_and(|p| {
            p.collection == collection && p.kind == kind && p.statements.len() < MAX_STATEMENTS
        });
        if !same {
            self.staged.push(Pending { collection: collection.to_owned(), kind, statements: Vec::new() });
        }
        if let Some(p) = self.staged.last_mut() {
            p.statements.push(statement);
        }
    }

    /// Send every staged command, in order, inside the open transaction; `Ok(false)`: an
    /// insert met an existing document (the transaction is aborted by the server).
    async fn send(&mut self) -> Result<bool, MongoError> {
        let inserts = self.staged.iter().any(|p| p.kind == Kind::Insert);
        // Kept to send again as upserts after a duplicate key.
        let mut sent = Vec::new();
        let mut pending = std::mem::take(&mut self.staged).into_iter();
        while let Some(p) = pending.next() {
            let n = p.statements.len() as u64;
            let statements = if inserts { p.statements.clone() } else { Vec::new() };
            let command = match p.kind {
                Kind::Delete => doc! {"delete": &p.collection, "deletes": p.statements, "ordered": true},
                Kind::Upsert => doc! {"update": &p.collection, "updates": p.statements, "ordered": true},
                Kind::Insert => doc! {"insert": &p.collection, "documents": p.statements, "ordered": true},
            };
            let reply =
                self.db.run_command(command).session(&mut self.session).await.map_err(|e| {
                    MongoError::command(format!("writing to collection {}", p.collection), &e)
                })?;
            tracing::debug!(collection = %p.collection, n, kind = ?p.kind, reply = %reply, "sent");
            if p.kind == Kind::Insert && has_code(&reply, DUPLICATE_KEY) {
                sent.push(Pending { statements, ..p });
                sent.extend(pending);
                self.staged = sent;
                return Ok(false);
            }
            write_errors(&reply, &p.collection)?;
            let op = match p.kind {
                Kind::Delete => "d",
                Kind::Upsert => "u",
                Kind::Insert => "c",
            };
            metrics::counter!(METRIC_APPLIED, "table" => p.collection.clone(), "op" => op).increment(n);
            if inserts {
                sent.push(Pending { statements, ..p });
            }
        }
        Ok(true)
    }

    /// Turn every staged insert into an upsert (`$set` of the document's fields).
    fn as_upserts(&mut self) {
        for p in &mut self.staged {
            if p.kind == Kind::Insert {
                p.kind = Kind::Upsert;
                for d in &mut p.statements {
                    let mut set = std::mem::take(d);
                    let id = set.remove("_id").unwrap_or(Bson::Null);
                    *d = doc! {"q": {"_id": id}, "u": {"$set": set}, "upsert": true};
                }
            }
        }
    }

    fn stage(&mut self, ev: &ChangeEvent) -> Result<(), MongoError> {
        let collection = self.config.collection(&ev.table.id.schema, &ev.table.id.table);
        if ev.table.key.is_empty() && ev.op != Op::Truncate {
            return Err(MongoError::fatal(format!(
                "source table {} has no primary key; the MongoDB target keys each document by it \
                 (give the source table a primary key, or exclude it from the sink's topics)",
                ev.table.id
            )));
        }
        match ev.op {
            Op::Truncate => self.push(&collection, Kind::Delete, doc! {"q": {}, "limit": 0}),
            Op::Delete => {
                let before = ev.before.as_deref().ok_or_else(|| missing(ev, "before"))?;
                self.push(&collection, Kind::Delete, doc! {"q": {"_id": id_of(ev, before)?}, "limit": 1});
            }
            Op::Create | Op::Update | Op::Read => {
                let after = ev.after.as_deref().ok_or_else(|| missing(ev, "after"))?;
                let id = id_of(ev, after)?;
                if let Some(old) = ev.before.as_deref().and_then(|b| id_of(ev, b).ok()) {
                    if old != id {
                        self.push(&collection, Kind::Delete, doc! {"q": {"_id": old}, "limit": 1});
                    }
                }
                let new_row = matches!(ev.op, Op::Create | Op::Read)
                    && ev.before.is_none()
                    && self.upsert_only == 0
                    && !after.iter().any(Value::is_unchanged);
                let mut set = Document::new();
                if new_row {
                    set.insert("_id", id.clone());
                }
                for (c, v) in ev.table.columns.iter().zip(after) {
                    if !v.is_unchanged() {
                        set.insert(c.name.clone(), to_bson(v).map_err(|r| bad_value(ev, &c.name, &r))?);
                    }
                }
                if new_row {
                    self.push(&collection, Kind::Insert, set);
                } else {
                    self.push(
                        &collection,
                        Kind::Upsert,
                        doc! {"q": {"_id": id}, "u": {"$set": set}, "upsert": true},
                    );
                }
            }
        }
        Ok(())
    }

    /// Change-log shape: stage the event's document (a replacement upsert by `_id`, so a replay
    /// writes the same document again).
    fn append(&mut self, ev: &ChangeEvent, at: &RecordAt<'_>) -> Result<(), MongoError> {
        use sluice_core::changelog::{row_fields, source_fields, transaction_fields};
        let collection = self.config.collection(&ev.table.id.schema, &ev.table.id.table);
        let fields = |pairs: &[(&str, Value)]| -> Result<Document, MongoError> {
            let mut d = Document::new();
            for (n, v) in pairs {
                d.insert(*n, to_bson(v).map_err(|r| bad_value(ev, n, &r))?);
            }
            Ok(d)
        };
        let image = |row: &Option<sluice_core::Row>| -> Result<Bson, MongoError> {
            let Some(row) = row else { return Ok(Bson::Null) };
            let mut d = Document::new();
            for (n, v) in row_fields(&ev.table, row) {
                d.insert(n, to_bson(v).map_err(|r| bad_value(ev, n, &r))?);
            }
            Ok(Bson::Document(d))
        };
        let id = doc! {"topic": at.topic, "partition": at.partition, "offset": at.offset};
        let entry = doc! {
            "_id": id.clone(),
            "op": ev.op.code(),
            "ts_ms": ev.ts_ms,
            "before": image(&ev.before)?,
            "after": image(&ev.after)?,
            "source": fields(&source_fields(&ev.source))?,
            "transaction": match transaction_fields(ev) {
                Some(t) => Bson::Document(fields(&t)?),
                None => Bson::Null,
            },
        };
        self.push(&collection, Kind::Upsert, doc! {"q": {"_id": id}, "u": entry, "upsert": true});
        Ok(())
    }

    fn offsets_id(&self, topic: &str, partition: i32) -> Document {
        doc! {"sink": &self.name, "topic": topic, "partition": partition}
    }
}

/// End the transactions an earlier process of this sink left open when it died (the server
/// keeps them, and the documents they wrote stay locked, until they expire): kill the sessions
/// recorded under this sink's name, then record this one. A live process of the same sink name
/// whose session is killed sees a retriable error and starts over.
async fn end_orphaned_transactions(
    c: &Client,
    db: &Database,
    name: &str,
    ours: &Document,
) -> Result<(), MongoError> {
    let reply = db
        .run_command(doc! {"find": SESSIONS, "filter": {"sink": name}})
        .await
        .map_err(|e| MongoError::command("reading earlier sessions", &e))?;
    let earlier: Vec<Bson> = reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .map(|docs| docs.iter().filter_map(|d| d.as_document()?.get("_id").cloned()).collect())
        .unwrap_or_default();
    if !earlier.is_empty() {
        c.database("admin")
            .run_command(doc! {"killSessions": earlier.clone()})
            .await
            .map_err(|e| MongoError::command("ending earlier sessions' transactions", &e))?;
        db.run_command(
            doc! {"delete": SESSIONS, "deletes": [{"q": {"_id": {"$in": earlier.clone()}}, "limit": 0}]},
        )
        .await
        .map_err(|e| MongoError::command("forgetting earlier sessions", &e))?;
        tracing::info!(sessions = earlier.len(), "ended the sessions of earlier processes of this sink");
    }
    db.run_command(doc! {"insert": SESSIONS, "documents": [{"_id": ours.clone(), "sink": name}]})
        .await
        .map_err(|e| MongoError::command("recording this session", &e))?;
    Ok(())
}

fn missing(ev: &ChangeEvent, image: &str) -> MongoError {
    MongoError::fatal(ev.missing_image(image))
}

fn bad_value(ev: &ChangeEvent, column: &str, reason: &str) -> MongoError {
    MongoError::fatal(ev.bad_value(column, reason))
}

/// `_id` of a row image: the key value, or a sub-document of the key columns in key order.
fn id_of(ev: &ChangeEvent, row: &[Value]) -> Result<Bson, MongoError> {
    let mut parts = Document::new();
    for &i in &ev.table.key {
        let name = ev.table.columns.get(i).map_or("?", |c| c.name.as_str());
        let v = row.get(i).unwrap_or(&Value::Null);
        if v.is_null() || v.is_unchanged() {
            return Err(MongoError::fatal(format!(
                "{} event for {}: key column {name} is NULL or missing; a document needs its _id",
                ev.op.code(),
                ev.table.id
            )));
        }
        parts.insert(name, to_bson(v).map_err(|r| bad_value(ev, name, &r))?);
    }
    Ok(match (parts.len(), parts.iter().next()) {
        (1, Some((_, v))) => v.clone(),
        _ => Bson::Document(parts),
    })
}

/// Does a write command's reply hold a write error with `code`?
fn has_code(reply: &Document, code: i32) -> bool {
    reply
        .get_array("writeErrors")
        .is_ok_and(|errs| errs.iter().any(|e| e.as_document().is_some_and(|d| d.get_i32("code") == Ok(code))))
}

/// A write command's `writeErrors` as a fatal error (a document over 16 MB, a duplicate key).
fn write_errors(reply: &Document, collection: &str) -> Result<(), MongoError> {
    match reply.get_array("writeErrors") {
        Ok(errors) if !errors.is_empty() => {
            Err(MongoError::fatal(format!("writing to collection {collection}: {errors:?}")))
        }
        _ => Ok(()),
    }
}

/// Rows and offsets commit in one multi-document transaction; `Sink` (abort on failure,
/// fenced offsets) comes from [`TransactionalTarget`].
impl TransactionalTarget for MongoSink {
    type Error = MongoError;

    /// Open the transaction and send what was staged (called at commit). A batch whose inserts
    /// meet existing documents is sent again, in a new transaction, with upserts.
    async fn begin(&mut self) -> Result<(), MongoError> {
        self.upsert_only = self.upsert_only.saturating_sub(1);
        self.open().await?;
        if self.send().await? {
            return Ok(());
        }
        self.in_tx = false;
        if let Err(e) = self.session.abort_transaction().await {
            tracing::debug!(error = %e, "abort after a duplicate key");
        }
        tracing::info!(
            "a batch met existing documents (a replay or a re-snapshot): sending it again as upserts"
        );
        self.as_upserts();
        self.upsert_only = UPSERT_ONLY_BATCHES;
        self.open().await?;
        if self.send().await? {
            Ok(())
        } else {
            Err(MongoError::fatal("an upsert reported a duplicate key"))
        }
    }

    async fn write(&mut self, events: &[ChangeEvent]) -> Result<(), MongoError> {
        if self.config.shape == Shape::Changelog {
            return Err(MongoError::fatal(sluice_core::changelog::NEEDS_RECORD_POSITIONS));
        }
        for ev in events {
            self.stage(ev)?;
        }
        Ok(())
    }

    async fn write_at(&mut self, events: &[ChangeEvent], at: &[RecordAt<'_>]) -> Result<(), MongoError> {
        if self.config.shape == Shape::Row {
            return self.write(events).await;
        }
        for (ev, at) in events.iter().zip(at) {
            self.append(ev, at)?;
        }
        Ok(())
    }

    async fn store_offsets(&mut self, writes: &[FencedWrite<'_>]) -> Result<usize, MongoError> {
        let mut written = 0;
        for w in writes {
            let id = self.offsets_id(&w.offset.topic, w.offset.partition);
            let next = w.offset.next_offset;
            let (command, expected) = match w.expected {
                Some(e) => (
                    doc! {"update": OFFSETS, "updates": [{"q": {"_id": id, "next_offset": e}, "u": {"$set": {"next_offset": next}}}]},
                    true,
                ),
                // A plain insert: another member that stored this partition first makes it fail
                // with a duplicate key, which counts as fenced.
                None => (doc! {"insert": OFFSETS, "documents": [{"_id": id, "next_offset": next}]}, false),
            };
            let reply = self
                .db
                .run_command(command)
                .session(&mut self.session)
                .await
                .map_err(|e| MongoError::command("storing offsets", &e))?;
            let duplicate = has_code(&reply, DUPLICATE_KEY);
            if !duplicate {
                write_errors(&reply, OFFSETS)?;
            }
            let n = reply.get_i32("n").unwrap_or(0);
            written += usize::from(n > 0 && (expected || !duplicate));
        }
        Ok(written)
    }

    async fn commit_transaction(&mut self) -> Result<(), MongoError> {
        tracing::debug!("committing");
        self.session.commit_transaction().await.map_err(|e| MongoError::command("committing", &e))?;
        self.in_tx = false;
        tracing::debug!("committed");
        Ok(())
    }

    async fn abort(&mut self) {
        self.staged.clear();
        if self.in_tx {
            self.in_tx = false;
            if let Err(e) = self.session.abort_transaction().await {
                tracing::debug!(error = %e, "abort failed");
            }
        }
    }

    async fn read_offsets(&mut self) -> Result<Vec<BrokerOffset>, MongoError> {
        let reply = self
            .db
            .run_command(doc! {"find": OFFSETS, "filter": {"_id.sink": &self.name}, "batchSize": 100_000})
            .await
            .map_err(|e| MongoError::command("reading offsets", &e))?;
        let docs = reply
            .get_document("cursor")
            .and_then(|c| c.get_array("firstBatch"))
            .map_err(|e| MongoError::fatal(format!("reading offsets: unexpected find reply: {e}")))?;
        let mut out = Vec::with_capacity(docs.len());
        for d in docs {
            let parse = || -> Option<BrokerOffset> {
                let d = d.as_document()?;
                let id = d.get_document("_id").ok()?;
                let next_offset = match d.get("next_offset")? {
                    Bson::Int64(n) => *n,
                    Bson::Int32(n) => i64::from(*n),
                    _ => return None,
                };
                Some(BrokerOffset {
                    topic: id.get_str("topic").ok()?.to_owned(),
                    partition: id.get_i32("partition").ok()?,
                    next_offset,
                })
            };
            out.push(parse().ok_or_else(|| MongoError::fatal(format!("{OFFSETS}: malformed document {d}")))?);
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    fn fence(&mut self) -> &mut OffsetFence {
        &mut self.fence
    }

    fn fenced(&self, message: String) -> MongoError {
        MongoError::Target { reason: message, kind: ErrorKind::Retriable }
    }
}
