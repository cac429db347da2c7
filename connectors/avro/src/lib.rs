//! Avro for Sluice: Debezium-compatible key and value schemas generated from table schemas, a
//! direct Avro binary encoder for change events, the Confluent wire format, a schema registry
//! client that caches ids by subject and exact schema, and the sink-side decoder that turns
//! Sluice's and Debezium's Avro change events back into `ChangeEvent`s.
//!
//! Invariants: the encoder writes exactly the layout of the schema generated for the same
//! `TableSchema` (both are derived from one column list, in source column order); a schema id
//! is only ever used with the schema it was registered for (the cache key includes the schema's
//! full text, so an evolved table registers a new version and old events stay decodable).

pub mod base64;
pub mod connect;
pub mod decimal;
pub mod decode;
pub mod encode;
pub mod error;
pub mod naming;
pub mod registry_client;
pub mod repr;
pub mod schema_gen;
pub mod wire;

pub use decode::{
    Decoded, DecodedSchema, EventDecoder, Flavor, KeyRow, KeySchema, SchemaSource, StaticSchemas,
};
pub use encode::{encode_heartbeat, encode_transaction, EventEncoder, TableCodec};
pub use error::AvroError;
pub use naming::SubjectNameStrategy;
pub use registry_client::RegistryClient;
pub use schema_gen::{EnvelopeOptions, SourceKind};
