//! Compiling a registered Avro schema (its JSON text, which keeps the `connect.*` attributes
//! apache-avro's parsed `Schema` drops) into column definitions and reader plans.
//!
//! Type mapping, in order of precedence: Kafka Connect / Debezium semantic names
//! (`connect.name`), then Avro logical types, then the primitive type. See `docs/avro.md`,
//! "Decoding", for the table. Source type names come from
//! `connect.parameters.__debezium.source.column.type` (+ length/scale) when present, else from
//! the logical type; the original column name from `__sluice.source.column.name`.
//!
//! Invariants: a plan reads exactly the bytes its schema describes — named types are resolved
//! with Avro's namespace rules, fields keep writer order, and nesting deeper than
//! [`MAX_DEPTH`] (only possible with recursive types, which change events never use) is
//! refused. Every failure is an `Err` naming the field and what is unsupported.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use sluice_core::{Column, DataType};

use super::read::{ColumnPlan, Node, Nullity, Reader, TimeUnit};

pub(super) const MAX_DEPTH: usize = 32;

type Obj = Map<String, Json>;

/// Named types of one schema document by full name, with the namespace their fields inherit.
pub(super) struct Names<'j> {
    defs: HashMap<String, (&'j Obj, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prim {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
}

fn prim(name: &str) -> Option<Prim> {
    Some(match name {
        "null" => Prim::Null,
        "boolean" => Prim::Boolean,
        "int" => Prim::Int,
        "long" => Prim::Long,
        "float" => Prim::Float,
        "double" => Prim::Double,
        "bytes" => Prim::Bytes,
        "string" => Prim::String,
        _ => return None,
    })
}

/// A resolved type: what it is, the JSON object carrying its attributes (if any), and the
/// namespace names inside it resolve against.
pub(super) enum Ty<'j> {
    Prim(Prim, Option<&'j Obj>),
    Record { full: String, obj: &'j Obj, ns: String },
    Enum(&'j Obj),
    Fixed(&'j Obj, usize),
    Array(&'j Obj, String),
    Map(&'j Obj, String),
    Union(&'j [Json], String),
}

impl<'j> Ty<'j> {
    pub(super) fn attrs(&self) -> Option<&'j Obj> {
        match self {
            Ty::Prim(_, a) => *a,
            Ty::Record { obj, .. }
            | Ty::Enum(obj)
            | Ty::Fixed(obj, _)
            | Ty::Array(obj, _)
            | Ty::Map(obj, _) => Some(obj),
            Ty::Union(..) => None,
        }
    }

    pub(super) fn is_null(&self) -> bool {
        matches!(self, Ty::Prim(Prim::Null, _))
    }
}

pub(super) fn str_attr<'j>(obj: Option<&'j Obj>, key: &str) -> Option<&'j str> {
    obj.and_then(|o| o.get(key)).and_then(Json::as_str)
}

fn params(obj: Option<&Obj>) -> Option<&Obj> {
    obj.and_then(|o| o.get("connect.parameters")).and_then(Json::as_object)
}

/// `(full name, namespace)` of a named type per the Avro specification.
fn full_name(name: &str, explicit_ns: Option<&str>, enclosing: &str) -> (String, String) {
    if let Some((ns, _)) = name.rsplit_once('.') {
        return (name.to_owned(), ns.to_owned());
    }
    let ns = explicit_ns.unwrap_or(enclosing);
    if ns.is_empty() {
        (name.to_owned(), String::new())
    } else {
        (format!("{ns}.{name}"), ns.to_owned())
    }
}

impl<'j> Names<'j> {
    /// Every named type defined anywhere in `schema`.
    pub(super) fn collect(schema: &'j Json) -> Result<Self, String> {
        let mut names = Names { defs: HashMap::new() };
        names.walk(schema, "", 0)?;
        Ok(names)
    }

    fn walk(&mut self, t: &'j Json, enclosing: &str, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("schema nests too deeply".into());
        }
        match t {
            Json::Array(branches) => {
                for b in branches {
                    self.walk(b, enclosing, depth + 1)?;
                }
            }
            Json::Object(o) => match o.get("type") {
                Some(Json::String(k)) if matches!(k.as_str(), "record" | "error" | "enum" | "fixed") => {
                    let name = str_attr(Some(o), "name").ok_or("a named type without a name")?;
                    let (full, ns) = full_name(name, str_attr(Some(o), "namespace"), enclosing);
                    if let Some(Json::Array(fields)) = o.get("fields") {
                        for f in fields {
                            self.walk(f.get("type").unwrap_or(&Json::Null), &ns, depth + 1)?;
                        }
                    }
                    self.defs.insert(full, (o, ns));
                }
                Some(Json::String(k)) if k == "array" => {
                    self.walk(o.get("items").unwrap_or(&Json::Null), enclosing, depth + 1)?
                }
                Some(Json::String(k)) if k == "map" => {
                    self.walk(o.get("values").unwrap_or(&Json::Null), enclosing, depth + 1)?
                }
                Some(nested @ (Json::Object(_) | Json::Array(_))) => {
                    self.walk(nested, enclosing, depth + 1)?
                }
                _ => {}
            },
            _ => {}
        }
        Ok(())
    }

    pub(super) fn resolve(&self, t: &'j Json, ns: &str) -> Result<Ty<'j>, String> {
        self.resolve_at(t, ns, 0)
    }

    fn resolve_at(&self, t: &'j Json, ns: &str, depth: usize) -> Result<Ty<'j>, String> {
        if depth > MAX_DEPTH {
            return Err("schema nests too deeply".into());
        }
        match t {
            Json::String(s) => match prim(s) {
                Some(p) => Ok(Ty::Prim(p, None)),
                None => self.named(s, ns),
            },
            Json::Array(branches) => Ok(Ty::Union(branches, ns.to_owned())),
            Json::Object(o) => match o.get("type") {
                Some(Json::String(k)) => match (prim(k), k.as_str()) {
                    (Some(p), _) => Ok(Ty::Prim(p, Some(o))),
                    (None, "record" | "error" | "enum" | "fixed") => {
                        let name = str_attr(Some(o), "name").ok_or("a named type without a name")?;
                        let (full, _) = full_name(name, str_attr(Some(o), "namespace"), ns);
                        self.named(&full, "")
                    }
                    (None, "array") => Ok(Ty::Array(o, ns.to_owned())),
                    (None, "map") => Ok(Ty::Map(o, ns.to_owned())),
                    (None, other) => self.named(other, ns),
                },
                Some(nested @ (Json::Object(_) | Json::Array(_))) => self.resolve_at(nested, ns, depth + 1),
                _ => Err("a type object without \"type\"".into()),
            },
            _ => Err("not an Avro type".into()),
        }
    }

    fn named(&self, name: &str, ns: &str) -> Result<Ty<'j>, String> {
        let found = if name.contains('.') || ns.is_empty() {
            self.defs.get_key_value(name)
        } else {
            self.defs.get_key_value(&format!("{ns}.{name}")).or_else(|| self.defs.get_key_value(name))
        };
        let (full, (obj, def_ns)) = found.ok_or_else(|| format!("unknown type name {name:?}"))?;
        let obj: &'j Obj = obj;
        match str_attr(Some(obj), "type") {
            Some("enum") => Ok(Ty::Enum(obj)),
            Some("fixed") => {
                let size = obj.get("size").and_then(Json::as_u64).ok_or("fixed without a size")?;
                Ok(Ty::Fixed(obj, usize::try_from(size).map_err(|_| "fixed size too large")?))
            }
            _ => Ok(Ty::Record { full: full.clone(), obj, ns: def_ns.clone() }),
        }
    }

    /// A record's fields as (name, type JSON).
    pub(super) fn fields(obj: &'j Obj) -> Result<Vec<(&'j str, &'j Json)>, String> {
        let fields = obj.get("fields").and_then(Json::as_array).ok_or("a record without fields")?;
        fields
            .iter()
            .map(|f| {
                let name = f.get("name").and_then(Json::as_str).ok_or("a field without a name")?;
                Ok((name, f.get("type").ok_or_else(|| format!("field {name} has no type"))?))
            })
            .collect()
    }

    /// `[null, T]` / `[T, null]` / `[T]` / `T` → optionality and T.
    pub(super) fn split_nullable(&self, ty: Ty<'j>) -> Result<(Nullity, Ty<'j>), String> {
        let Ty::Union(branches, ns) = ty else {
            return Ok((Nullity::Required, ty));
        };
        match branches {
            [only] => Ok((Nullity::Required, self.resolve(only, &ns)?)),
            [a, b] => {
                let (a, b) = (self.resolve(a, &ns)?, self.resolve(b, &ns)?);
                match (a.is_null(), b.is_null()) {
                    (true, false) => Ok((Nullity::Optional { null_index: 0 }, b)),
                    (false, true) => Ok((Nullity::Optional { null_index: 1 }, a)),
                    _ => Err("a union other than [null, T]".into()),
                }
            }
            _ => Err(format!("a union of {} types (only [null, T] is supported)", branches.len())),
        }
    }

    /// Any type as a generic node (for skipping, or rendering as JSON).
    pub(super) fn node(&self, ty: Ty<'j>, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err("schema nests too deeply (recursive types are not supported)".into());
        }
        Ok(match ty {
            Ty::Prim(p, _) => match p {
                Prim::Null => Node::Null,
                Prim::Boolean => Node::Bool,
                Prim::Int | Prim::Long => Node::Varint,
                Prim::Float => Node::Float,
                Prim::Double => Node::Double,
                Prim::Bytes => Node::Bytes,
                Prim::String => Node::String,
            },
            Ty::Enum(obj) => Node::Enum(symbols(obj)?),
            Ty::Fixed(_, n) => Node::Fixed(n),
            Ty::Array(obj, ns) => {
                let items = obj.get("items").ok_or("an array without items")?;
                Node::Array(Box::new(self.node(self.resolve(items, &ns)?, depth + 1)?))
            }
            Ty::Map(obj, ns) => {
                let values = obj.get("values").ok_or("a map without values")?;
                Node::Map(Box::new(self.node(self.resolve(values, &ns)?, depth + 1)?))
            }
            Ty::Record { obj, ns, .. } => {
                let mut out = Vec::new();
                for (name, t) in Self::fields(obj)? {
                    out.push((name.to_owned(), self.node(self.resolve(t, &ns)?, depth + 1)?));
                }
                Node::Record(out)
            }
            Ty::Union(branches, ns) => Node::Union(
                branches
                    .iter()
                    .map(|b| self.node(self.resolve(b, &ns)?, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

fn symbols(obj: &Obj) -> Result<Arc<[String]>, String> {
    let s = obj.get("symbols").and_then(Json::as_array).ok_or("an enum without symbols")?;
    s.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(|| "a non-string enum symbol".into())).collect()
}

/// What kind of topic the columns come from, which decides two heuristics.
#[derive(Debug, Clone, Copy)]
pub(super) struct ColumnRules {
    /// Debezium's `__debezium_unavailable_value` in a string/bytes column means unchanged.
    pub placeholders: bool,
    /// Append length/scale to every source type (Sluice writes them only where the source
    /// type has them); otherwise only to types where they are part of the type (Debezium
    /// reports a length for every column).
    pub all_modifiers: bool,
}

/// One record field as a column: (Avro field name, column, plan).
pub(super) fn column(
    names: &Names<'_>,
    field: &str,
    t: &Json,
    ns: &str,
    rules: ColumnRules,
) -> Result<(Column, ColumnPlan), String> {
    let (nullity, ty) = names.split_nullable(names.resolve(t, ns)?)?;
    let attrs = ty.attrs();
    let (data_type, reader) = column_type(names, ty, 0)?;
    let p = params(attrs);
    let name = str_attr(p, "__debezium.source.column.name")
        .or_else(|| str_attr(p, "__sluice.source.column.name"))
        .unwrap_or(field)
        .to_owned();
    let source_type = source_type(p, &data_type, rules);
    let placeholder = rules.placeholders
        && matches!(reader, Reader::Text | Reader::Json | Reader::Bytes | Reader::Array(_));
    let column = Column::new(name, data_type, source_type, nullity != Nullity::Required);
    Ok((column, ColumnPlan { nullity, reader, placeholder }))
}

/// A key schema: the namespace of its record and each field as (Avro name, column, plan).
#[allow(clippy::type_complexity)]
pub(super) fn key_record(schema: &Json) -> Result<(String, Vec<(String, Column, ColumnPlan)>), String> {
    let names = Names::collect(schema)?;
    let Ty::Record { obj, ns, .. } = names.resolve(schema, "")? else {
        return Err("the key schema is not a record".into());
    };
    let rules = ColumnRules { placeholders: false, all_modifiers: false };
    let mut out = Vec::new();
    for (field, t) in Names::fields(obj)? {
        let (c, p) = column(&names, field, t, &ns, rules).map_err(|e| format!("key field {field}: {e}"))?;
        out.push((field.to_owned(), c, p));
    }
    Ok((ns, out))
}

fn number_attr(obj: Option<&Obj>, attr: &str, param: &str) -> Option<u32> {
    obj.and_then(|o| o.get(attr))
        .and_then(Json::as_u64)
        .or_else(|| str_attr(params(obj), param).and_then(|s| s.parse().ok()))
        .and_then(|v| u32::try_from(v).ok())
}

fn allowed(obj: Option<&Obj>) -> Vec<String> {
    match str_attr(params(obj), "allowed") {
        None | Some("") => Vec::new(),
        Some(s) => s.split(',').map(str::to_owned).collect(),
    }
}

fn column_type(names: &Names<'_>, ty: Ty<'_>, depth: usize) -> Result<(DataType, Reader), String> {
    if depth > MAX_DEPTH {
        return Err("array nests too deeply".into());
    }
    let attrs = ty.attrs();
    let cname = str_attr(attrs, "connect.name").unwrap_or("");
    let logical = str_attr(attrs, "logicalType").unwrap_or("");
    let src = str_attr(params(attrs), "__debezium.source.column.type").unwrap_or("").to_ascii_uppercase();
    use TimeUnit::{Micros, Millis, Nanos};
    Ok(match ty {
        Ty::Prim(Prim::Null, _) => return Err("a column of type null".into()),
        Ty::Prim(Prim::Boolean, _) if src.starts_with("BIT") => (DataType::Bits(1), Reader::Bool),
        Ty::Prim(Prim::Boolean, _) => (DataType::Boolean, Reader::Bool),
        Ty::Prim(Prim::Int, _) => match (cname, logical) {
            ("io.debezium.time.Date" | "org.apache.kafka.connect.data.Date", _) | (_, "date") => {
                (DataType::Date, Reader::Date)
            }
            ("io.debezium.time.Time" | "org.apache.kafka.connect.data.Time", _) | (_, "time-millis") => {
                (DataType::Time, Reader::Time(Millis))
            }
            _ if matches!(str_attr(attrs, "connect.type"), Some("int16" | "int8")) => {
                (DataType::Int16, Reader::Int16)
            }
            _ => (DataType::Int32, Reader::Int32),
        },
        Ty::Prim(Prim::Long, _) => match cname {
            "io.debezium.time.MicroTime" => (DataType::Time, Reader::Time(Micros)),
            "io.debezium.time.NanoTime" => (DataType::Time, Reader::Time(Nanos)),
            "io.debezium.time.Timestamp" | "org.apache.kafka.connect.data.Timestamp" => {
                (DataType::Timestamp, Reader::Timestamp { unit: Millis, tz: false })
            }
            "io.debezium.time.MicroTimestamp" => {
                (DataType::Timestamp, Reader::Timestamp { unit: Micros, tz: false })
            }
            "io.debezium.time.NanoTimestamp" => {
                (DataType::Timestamp, Reader::Timestamp { unit: Nanos, tz: false })
            }
            // Sluice's name for instants (`timestamptz`).
            "io.debezium.time.MicroTimestampUtc" => {
                (DataType::TimestampTz, Reader::Timestamp { unit: Micros, tz: true })
            }
            "io.debezium.time.MicroDuration" => (DataType::Interval, Reader::Duration(Micros)),
            "io.debezium.time.NanoDuration" => (DataType::Interval, Reader::Duration(Nanos)),
            _ => match logical {
                "time-micros" => (DataType::Time, Reader::Time(Micros)),
                "local-timestamp-millis" => {
                    (DataType::Timestamp, Reader::Timestamp { unit: Millis, tz: false })
                }
                "local-timestamp-micros" => {
                    (DataType::Timestamp, Reader::Timestamp { unit: Micros, tz: false })
                }
                "local-timestamp-nanos" => {
                    (DataType::Timestamp, Reader::Timestamp { unit: Nanos, tz: false })
                }
                "timestamp-millis" => (DataType::TimestampTz, Reader::Timestamp { unit: Millis, tz: true }),
                "timestamp-micros" => (DataType::TimestampTz, Reader::Timestamp { unit: Micros, tz: true }),
                "timestamp-nanos" => (DataType::TimestampTz, Reader::Timestamp { unit: Nanos, tz: true }),
                _ => (DataType::Int64, Reader::Int64),
            },
        },
        Ty::Prim(Prim::Float, _) => (DataType::Float32, Reader::Float32),
        Ty::Prim(Prim::Double, _) => (DataType::Float64, Reader::Float64),
        Ty::Prim(Prim::Bytes, _)
            if cname == "org.apache.kafka.connect.data.Decimal" || logical == "decimal" =>
        {
            let scale = number_attr(attrs, "scale", "scale").unwrap_or(0);
            let precision = number_attr(attrs, "precision", "connect.decimal.precision");
            if scale == 0 && src.starts_with("BIGINT") && src.contains("UNSIGNED") {
                (DataType::UInt64, Reader::UInt64Decimal)
            } else {
                let scale_i = i32::try_from(scale)
                    .ok()
                    .filter(|s| *s <= super::text::MAX_DECIMAL_SCALE)
                    .ok_or("decimal scale too large")?;
                (DataType::Decimal { precision, scale: Some(scale) }, Reader::Decimal { scale: scale_i })
            }
        }
        Ty::Prim(Prim::Bytes, _) if cname == "io.debezium.data.Bits" => {
            let len = str_attr(params(attrs), "length").and_then(|s| s.parse().ok()).unwrap_or(0);
            (DataType::Bits(len), Reader::Bytes)
        }
        Ty::Prim(Prim::Bytes, _) => (DataType::Bytes, Reader::Bytes),
        Ty::Prim(Prim::String, _) => match cname {
            "io.debezium.data.Json" => (DataType::Json, Reader::Json),
            "io.debezium.data.Uuid" => (DataType::Uuid, Reader::UuidText),
            "io.debezium.time.ZonedTimestamp" => (DataType::TimestampTz, Reader::ZonedTimestamp),
            "io.debezium.time.ZonedTime" => (DataType::TimeTz, Reader::ZonedTime),
            "io.debezium.time.Interval" => (DataType::Interval, Reader::IntervalText),
            "io.debezium.data.Enum" => (DataType::Enum(allowed(attrs)), Reader::Text),
            "io.debezium.data.EnumSet" => (DataType::Set(allowed(attrs)), Reader::Text),
            _ if logical == "uuid" => (DataType::Uuid, Reader::UuidText),
            // `decimal.handling.mode=string`: exact text, typed by the source column.
            _ if matches!(src.as_str(), "NUMERIC" | "DECIMAL" | "DEC" | "FIXED") => {
                let precision =
                    str_attr(params(attrs), "__debezium.source.column.length").and_then(|s| s.parse().ok());
                let scale =
                    str_attr(params(attrs), "__debezium.source.column.scale").and_then(|s| s.parse().ok());
                (DataType::Decimal { precision, scale }, Reader::DecimalText)
            }
            _ => (DataType::Text, Reader::Text),
        },
        Ty::Fixed(obj, size) => {
            let attrs = Some(obj);
            match logical {
                "decimal" => {
                    let scale = number_attr(attrs, "scale", "scale").unwrap_or(0);
                    let precision = number_attr(attrs, "precision", "connect.decimal.precision");
                    let scale_i = i32::try_from(scale)
                        .ok()
                        .filter(|s| *s <= super::text::MAX_DECIMAL_SCALE)
                        .ok_or("decimal scale too large")?;
                    (
                        DataType::Decimal { precision, scale: Some(scale) },
                        Reader::FixedDecimal { size, scale: scale_i },
                    )
                }
                "duration" if size == 12 => (DataType::Interval, Reader::AvroDuration),
                "uuid" if size == 16 => (DataType::Uuid, Reader::UuidFixed),
                _ => (DataType::Bytes, Reader::FixedBytes(size)),
            }
        }
        Ty::Enum(obj) => {
            let s = symbols(obj)?;
            (DataType::Enum(s.to_vec()), Reader::Symbol(s))
        }
        Ty::Array(obj, ns) => {
            let items = obj.get("items").ok_or("an array without items")?;
            let (nullity, item) = names.split_nullable(names.resolve(items, &ns)?)?;
            let (dt, reader) = column_type(names, item, depth + 1)?;
            let plan = ColumnPlan { nullity, reader, placeholder: false };
            (DataType::Array(Box::new(dt)), Reader::Array(Box::new(plan)))
        }
        Ty::Record { ref full, obj, .. }
            if cname == "io.debezium.data.VariableScaleDecimal"
                || full == "io.debezium.data.VariableScaleDecimal" =>
        {
            let fields = Names::fields(obj)?;
            let shape: Vec<(&str, Option<Prim>)> =
                fields.iter().map(|(n, t)| (*n, t.as_str().and_then(prim))).collect();
            if shape != [("scale", Some(Prim::Int)), ("value", Some(Prim::Bytes))] {
                return Err("VariableScaleDecimal is not {scale: int, value: bytes}".into());
            }
            (DataType::Decimal { precision: None, scale: None }, Reader::VarDecimal)
        }
        // PostgreSQL's geometric point: back to its text form.
        ty @ Ty::Record { .. } if cname == "io.debezium.data.geometry.Point" => {
            (DataType::Text, Reader::PointText(names.node(ty, depth + 1)?))
        }
        // Geometry records, hstore maps, …: kept whole as JSON text.
        ty @ (Ty::Record { .. } | Ty::Map(..)) => {
            (DataType::Json, Reader::AsJson(names.node(ty, depth + 1)?))
        }
        Ty::Union(..) => return Err("a union inside a union or array".into()),
    })
}

/// Source types whose length (and, for numerics, scale) is part of the type.
fn takes_modifiers(t: &str) -> Option<bool> {
    let numeric =
        matches!(t, "NUMERIC" | "DECIMAL" | "DEC" | "FIXED" | "NUMERIC UNSIGNED" | "DECIMAL UNSIGNED");
    let sized = t.contains("CHAR") || t.contains("BINARY") || matches!(t, "BIT" | "VARBIT" | "BIT VARYING");
    (numeric || sized).then_some(numeric)
}

fn source_type(p: Option<&Obj>, dt: &DataType, rules: ColumnRules) -> String {
    // Sluice's exact source type (`format_type`, MySQL's column type), when it sent one.
    if let Some(exact) = str_attr(p, "__sluice.source.column.type") {
        return exact.to_owned();
    }
    let Some(t) = str_attr(p, "__debezium.source.column.type") else {
        return default_source_type(dt);
    };
    // MySQL `ENUM`/`SET` carry their values in the type: rebuild `ENUM('a','b')`.
    if let (DataType::Enum(values) | DataType::Set(values), "ENUM" | "SET") =
        (dt, t.to_ascii_uppercase().as_str())
    {
        if !values.is_empty() {
            let quoted: Vec<String> = values.iter().map(|v| format!("'{}'", v.replace('\'', "''"))).collect();
            return format!("{t}({})", quoted.join(","));
        }
    }
    let len = str_attr(p, "__debezium.source.column.length");
    let scale = str_attr(p, "__debezium.source.column.scale");
    let with_scale = if rules.all_modifiers {
        true
    } else {
        match takes_modifiers(t) {
            None => return t.to_owned(),
            Some(numeric) => numeric && !matches!(dt, DataType::Decimal { precision: None, .. }),
        }
    };
    match (len, scale) {
        // Debezium's length of an unbounded varchar.
        (Some("2147483647"), _) if !rules.all_modifiers => t.to_owned(),
        (Some(l), Some(s)) if with_scale => with_modifiers(t, &format!("{l},{s}")),
        (Some(l), _) if rules.all_modifiers || !matches!(dt, DataType::Decimal { precision: None, .. }) => {
            with_modifiers(t, l)
        }
        _ => t.to_owned(),
    }
}

/// `TIMESTAMP WITHOUT TIME ZONE` + `6` → `TIMESTAMP(6) WITHOUT TIME ZONE` (PostgreSQL's spelling:
/// the precision goes before the time zone clause); other types get the modifiers at the end.
fn with_modifiers(t: &str, mods: &str) -> String {
    match t.to_ascii_uppercase().find(" WITH") {
        Some(i) => format!("{}({mods}){}", &t[..i], &t[i..]),
        None => format!("{t}({mods})"),
    }
}

/// A source-neutral type name for a column whose schema does not carry the source type.
pub(super) fn default_source_type(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE PRECISION".into(),
        DataType::Decimal { precision: Some(p), scale } => format!("NUMERIC({p},{})", scale.unwrap_or(0)),
        DataType::Decimal { precision: None, .. } => "NUMERIC".into(),
        DataType::Text => "TEXT".into(),
        DataType::Bytes => "BYTES".into(),
        DataType::Json => "JSON".into(),
        DataType::Uuid => "UUID".into(),
        DataType::Date => "DATE".into(),
        DataType::Time => "TIME".into(),
        DataType::TimeTz => "TIME WITH TIME ZONE".into(),
        DataType::Timestamp => "TIMESTAMP".into(),
        DataType::TimestampTz => "TIMESTAMP WITH TIME ZONE".into(),
        DataType::Interval => "INTERVAL".into(),
        DataType::Enum(_) => "ENUM".into(),
        DataType::Set(_) => "SET".into(),
        DataType::Bits(n) => format!("BIT({n})"),
        DataType::Array(inner) => format!("{}[]", default_source_type(inner)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SLUICE: ColumnRules = ColumnRules { placeholders: false, all_modifiers: true };
    const DEBEZIUM: ColumnRules = ColumnRules { placeholders: true, all_modifiers: false };

    fn col(t: Json, rules: ColumnRules) -> Result<(Column, ColumnPlan), String> {
        let doc =
            json!({"type": "record", "name": "R", "namespace": "a.b", "fields": [{"name": "f", "type": t}]});
        let names = Names::collect(&doc)?;
        column(&names, "f", &doc["fields"][0]["type"], "a.b", rules)
    }

    #[test]
    fn source_types_get_modifiers_only_where_they_belong() {
        let p = |t: &str, l: Option<&str>, s: Option<&str>| {
            let mut m = json!({"__debezium.source.column.type": t});
            if let Some(l) = l {
                m["__debezium.source.column.length"] = json!(l);
            }
            if let Some(s) = s {
                m["__debezium.source.column.scale"] = json!(s);
            }
            m
        };
        let dbz = |t, l, s, typ: &str| {
            col(json!({"type": typ, "connect.parameters": p(t, l, s)}), DEBEZIUM).unwrap().0.source_type
        };
        assert_eq!(dbz("VARCHAR", Some("255"), Some("0"), "string"), "VARCHAR(255)");
        assert_eq!(dbz("VARCHAR", Some("2147483647"), None, "string"), "VARCHAR");
        assert_eq!(dbz("INT4", Some("10"), Some("0"), "int"), "INT4");
        assert_eq!(dbz("TIMESTAMPTZ", Some("35"), Some("6"), "string"), "TIMESTAMPTZ");
        let sluice = |t, l, typ: &str| {
            col(json!({"type": typ, "connect.parameters": p(t, l, None)}), SLUICE).unwrap().0.source_type
        };
        assert_eq!(
            sluice("TIMESTAMP WITHOUT TIME ZONE", Some("3"), "long"),
            "TIMESTAMP(3) WITHOUT TIME ZONE"
        );
        assert_eq!(sluice("TIME WITH TIME ZONE", Some("0"), "string"), "TIME(0) WITH TIME ZONE");
        assert_eq!(sluice("CHARACTER VARYING", Some("20"), "string"), "CHARACTER VARYING(20)");
        let dec = json!({"type": "bytes", "scale": 2, "precision": 10, "logicalType": "decimal",
            "connect.name": "org.apache.kafka.connect.data.Decimal", "connect.parameters": p("NUMERIC", Some("10"), Some("2"))});
        let (c, _) = col(dec, DEBEZIUM).unwrap();
        assert_eq!(c.source_type, "NUMERIC(10,2)");
        assert_eq!(c.data_type, DataType::Decimal { precision: Some(10), scale: Some(2) });
        let sluice =
            col(json!({"type": "long", "connect.parameters": p("TIMESTAMP", Some("3"), None)}), SLUICE);
        assert_eq!(sluice.unwrap().0.source_type, "TIMESTAMP(3)");
        assert_eq!(
            col(json!(["null", {"type": "array", "items": "string"}]), DEBEZIUM).unwrap().0.source_type,
            "TEXT[]"
        );
    }

    #[test]
    fn unions_and_names() {
        let (c, plan) = col(json!(["int", "null"]), SLUICE).unwrap();
        assert!(c.nullable);
        assert_eq!(plan.nullity, Nullity::Optional { null_index: 1 });
        assert!(col(json!(["null", "int", "string"]), SLUICE).is_err());
        assert!(col(json!("a.b.Missing"), SLUICE).is_err());
        // A named type defined in a field is found by its short name in the same namespace.
        let doc = json!({"type": "record", "name": "R", "namespace": "n", "fields": [
            {"name": "a", "type": {"type": "fixed", "name": "F", "size": 3}},
            {"name": "b", "type": "F"}]});
        let names = Names::collect(&doc).unwrap();
        let (c, plan) = column(&names, "b", &doc["fields"][1]["type"], "n", SLUICE).unwrap();
        assert_eq!(c.data_type, DataType::Bytes);
        assert!(matches!(plan.reader, Reader::FixedBytes(3)));
    }

    #[test]
    fn unknown_structures_become_json_and_recursion_is_refused() {
        let point = json!({"type": "record", "name": "Point", "namespace": "io.debezium.data.geometry",
            "fields": [{"name": "x", "type": "double"}, {"name": "y", "type": "double"},
                       {"name": "wkb", "type": ["null", "bytes"]}, {"name": "srid", "type": ["null", "int"]}],
            "connect.name": "io.debezium.data.geometry.Point"});
        let (c, plan) = col(point, DEBEZIUM).unwrap();
        assert_eq!(c.data_type, DataType::Text);
        assert!(matches!(plan.reader, Reader::PointText(_)));
        let geometry = json!({"type": "record", "name": "Geometry", "namespace": "io.debezium.data.geometry",
            "fields": [{"name": "wkb", "type": "bytes"}, {"name": "srid", "type": ["null", "int"]}],
            "connect.name": "io.debezium.data.geometry.Geometry"});
        let (c, plan) = col(geometry, DEBEZIUM).unwrap();
        assert_eq!(c.data_type, DataType::Json);
        assert!(matches!(plan.reader, Reader::AsJson(_)));
        let list =
            json!({"type": "record", "name": "L", "fields": [{"name": "next", "type": ["null", "L"]}]});
        assert!(col(list, SLUICE).is_err());
    }
}
