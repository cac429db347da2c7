//! Typed column values as they travel from a source reader to an encoder, and from a decoder
//! to a sink.
//!
//! Invariants: a [`Row`] holds one value per column of its [`crate::TableSchema`], in column
//! order. [`Value::Unchanged`] marks a column the source did not send (PostgreSQL omits
//! unchanged TOASTed columns from UPDATEs); it is never a substitute for NULL, and a sink keeps
//! the target's current value for it. Exact types stay exact: decimals are carried as their
//! decimal text, temporal values as integers in the source's precision (microseconds).

/// One row image: values in the column order of the table schema.
pub type Row = Vec<Value>;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// The source did not send this column because it did not change (unchanged TOAST).
    Unchanged,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    /// MySQL `BIGINT UNSIGNED`, which does not fit `i64`.
    UInt64(u64),
    Float32(f32),
    Float64(f64),
    /// Exact decimal as text (`-12.3400`, or `NaN` / `Infinity` for PostgreSQL numeric).
    Decimal(String),
    Text(String),
    Bytes(Vec<u8>),
    /// JSON document as text, byte for byte as the source produced it.
    Json(String),
    Uuid([u8; 16]),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since midnight; may be negative or exceed a day for MySQL `TIME`.
    Time(i64),
    /// Time of day with a UTC offset (PostgreSQL `timetz`).
    TimeTz {
        micros: i64,
        offset_seconds: i32,
    },
    /// Microseconds since the epoch, no time zone (wall clock).
    Timestamp(i64),
    /// Microseconds since the epoch, UTC.
    TimestampTz(i64),
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    Array(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unchanged(&self) -> bool {
        matches!(self, Value::Unchanged)
    }

    /// A short name of the variant, for error messages (never the value: it may be sensitive).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Unchanged => "unchanged",
            Value::Bool(_) => "bool",
            Value::Int16(_) => "int16",
            Value::Int32(_) => "int32",
            Value::Int64(_) => "int64",
            Value::UInt64(_) => "uint64",
            Value::Float32(_) => "float32",
            Value::Float64(_) => "float64",
            Value::Decimal(_) => "decimal",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Json(_) => "json",
            Value::Uuid(_) => "uuid",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::TimeTz { .. } => "timetz",
            Value::Timestamp(_) => "timestamp",
            Value::TimestampTz(_) => "timestamptz",
            Value::Interval { .. } => "interval",
            Value::Array(_) => "array",
        }
    }
}
