//! Types shared by every Sluice crate: the change event and its values, table schemas,
//! source positions, the `Source` and `Sink` traits, preflight check results and the error
//! classification that decides retry versus stop.
//!
//! Data flows one way — source → change event → encoder → broker → consumer → sink — and this
//! crate is the only thing every stage imports. It has no I/O of its own.

pub mod ack;
pub mod aws;
pub mod changelog;
pub mod check;
pub mod civil;
pub mod error;
pub mod event;
pub mod glob;
pub mod load;
pub mod plan;
pub mod portable;
pub mod position;
pub mod relational;
pub mod schema;
pub mod secret;
pub mod sink;
pub mod stats;
pub mod target;
pub mod text;
pub mod traits;
pub mod transactional;
pub mod value;

pub use ack::AckLedger;
pub use check::{Check, CheckOutcome};
pub use error::{Error, ErrorKind, Result};
pub use event::{
    ChangeEvent, Op, SnapshotMarker, SourceDetail, SourceInfo, TransactionEvent, TransactionInfo,
    TransactionStatus,
};
pub use load::{ChunkQueue, ChunkedTable, LoadMsg, MigrationType};
pub use position::{BinlogPosition, GtidSet, Lsn, Position};
pub use schema::{Column, DataType, DecimalHandling, TableId, TableSchema};
pub use secret::Secret;
pub use sink::{OffsetFence, SchemaChanges, Unrepresentable};
pub use target::Target;
pub use traits::{BrokerOffset, CommitMode, Committed, RecordAt, Sink, Source, SourceBatch};
pub use value::{Row, Value};
