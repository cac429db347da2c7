//! PostgreSQL types → Sluice's logical types, resolved from the catalog by type OID.
//!
//! Relation messages carry each column's type OID and typmod as of the WAL position; this module
//! turns them into a [`PgKind`] (how to parse the text value) and a [`DataType`] (how to encode
//! it). Domains resolve to their base type, enums carry their labels, arrays their element
//! kind. Types without an exact mapping (money, inet/cidr/macaddr, xml, bit strings, ranges,
//! geometric types, composite types) are carried as their text output, which is exact.
//! Resolutions are cached per (OID, typmod); the cache is per reader and never outlives a
//! connection to another server.

use std::collections::HashMap;

use sluice_core::DataType;
use tokio_postgres::Client;

/// How to parse a column's text value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgKind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric { precision: Option<u32>, scale: Option<u32> },
    Text,
    Bytea,
    Uuid,
    Json,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Enum(Vec<String>),
    Array { elem: Box<PgKind>, delim: u8 },
}

impl PgKind {
    pub fn data_type(&self) -> DataType {
        match self {
            PgKind::Bool => DataType::Boolean,
            PgKind::Int2 => DataType::Int16,
            PgKind::Int4 => DataType::Int32,
            PgKind::Int8 => DataType::Int64,
            PgKind::Float4 => DataType::Float32,
            PgKind::Float8 => DataType::Float64,
            PgKind::Numeric { precision, scale } => {
                DataType::Decimal { precision: *precision, scale: *scale }
            }
            PgKind::Text => DataType::Text,
            PgKind::Bytea => DataType::Bytes,
            PgKind::Uuid => DataType::Uuid,
            PgKind::Json => DataType::Json,
            PgKind::Date => DataType::Date,
            PgKind::Time => DataType::Time,
            PgKind::TimeTz => DataType::TimeTz,
            PgKind::Timestamp => DataType::Timestamp,
            PgKind::TimestampTz => DataType::TimestampTz,
            PgKind::Interval => DataType::Interval,
            PgKind::Enum(labels) => DataType::Enum(labels.clone()),
            PgKind::Array { elem, .. } => DataType::Array(Box::new(elem.data_type())),
        }
    }
}

/// The kind of a built-in base type by its `typname`.
fn builtin(typname: &str, typmod: i32) -> PgKind {
    match typname {
        "bool" => PgKind::Bool,
        "int2" => PgKind::Int2,
        "int4" => PgKind::Int4,
        "int8" => PgKind::Int8,
        // oid/xid are unsigned 32-bit: int8 holds every value.
        "oid" | "xid" | "cid" | "regclass" | "regtype" | "regproc" => PgKind::Int8,
        "float4" => PgKind::Float4,
        "float8" => PgKind::Float8,
        "numeric" => {
            if typmod >= 4 {
                let t = (typmod - 4) as u32;
                PgKind::Numeric { precision: Some((t >> 16) & 0xFFFF), scale: Some(t & 0xFFFF) }
            } else {
                PgKind::Numeric { precision: None, scale: None }
            }
        }
        "bytea" => PgKind::Bytea,
        "uuid" => PgKind::Uuid,
        "json" | "jsonb" => PgKind::Json,
        "date" => PgKind::Date,
        "time" => PgKind::Time,
        "timetz" => PgKind::TimeTz,
        "timestamp" => PgKind::Timestamp,
        "timestamptz" => PgKind::TimestampTz,
        "interval" => PgKind::Interval,
        _ => PgKind::Text,
    }
}

/// Resolves and caches type OIDs against one server's catalog.
#[derive(Default)]
pub struct TypeResolver {
    cache: HashMap<(u32, i32), PgKind>,
}

impl TypeResolver {
    /// The kind of type `oid` with modifier `typmod`.
    pub async fn resolve(
        &mut self,
        client: &Client,
        oid: u32,
        typmod: i32,
    ) -> Result<PgKind, tokio_postgres::Error> {
        if let Some(k) = self.cache.get(&(oid, typmod)) {
            return Ok(k.clone());
        }
        let kind = self.resolve_uncached(client, oid, typmod, 0).await?;
        self.cache.insert((oid, typmod), kind.clone());
        Ok(kind)
    }

    async fn resolve_uncached(
        &mut self,
        client: &Client,
        oid: u32,
        typmod: i32,
        depth: u32,
    ) -> Result<PgKind, tokio_postgres::Error> {
        let row = client
            .query_opt(
                "SELECT typname::text, typtype::text, typbasetype, typtypmod, typelem, typcategory::text, \
                 typdelim::text FROM pg_type WHERE oid = $1",
                &[&oid],
            )
            .await?;
        let Some(row) = row else { return Ok(PgKind::Text) };
        let typname: String = row.get(0);
        let typtype: String = row.get(1);
        let basetype: u32 = row.get(2);
        let domain_typmod: i32 = row.get(3);
        let elem: u32 = row.get(4);
        let category: String = row.get(5);
        let delim: String = row.get(6);
        if depth > 8 {
            return Ok(PgKind::Text);
        }
        Ok(match typtype.as_str() {
            "d" => {
                let tm = if typmod >= 0 { typmod } else { domain_typmod };
                Box::pin(self.resolve_uncached(client, basetype, tm, depth + 1)).await?
            }
            "e" => {
                let labels = client
                    .query(
                        "SELECT enumlabel::text FROM pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder",
                        &[&oid],
                    )
                    .await?
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect();
                PgKind::Enum(labels)
            }
            "b" if category == "A" && elem != 0 => {
                // An array's typmod applies to its elements (numeric(10,2)[]).
                let elem_kind = Box::pin(self.resolve_uncached(client, elem, typmod, depth + 1)).await?;
                PgKind::Array { elem: Box::new(elem_kind), delim: delim.bytes().next().unwrap_or(b',') }
            }
            "b" => builtin(&typname, typmod),
            _ => PgKind::Text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_typmod() {
        // numeric(10,2): typmod = ((10 << 16) | 2) + 4
        assert_eq!(
            builtin("numeric", (10 << 16 | 2) + 4),
            PgKind::Numeric { precision: Some(10), scale: Some(2) }
        );
        assert_eq!(builtin("numeric", -1), PgKind::Numeric { precision: None, scale: None });
        assert_eq!(builtin("inet", -1), PgKind::Text);
        assert_eq!(builtin("oid", -1).data_type(), DataType::Int64);
    }
}
