//! Kafka Connect schemas — the model Debezium builds its events in — and their two renderings:
//! Avro as Confluent's `AvroConverter` writes it (`AvroData`, `connect.meta.data=true`) and the
//! JSON schema Connect's `JsonConverter` embeds with `schemas.enable=true`.
//!
//! Invariant: Sluice describes every record it publishes once, as a [`Schema`], and derives both
//! renderings from it, so an Avro topic and a JSON topic of the same table carry the same Connect
//! schema — the one a Debezium connector produces for the same source table (see
//! [`crate::repr`]). Stock converters turning our bytes back into Connect data therefore see
//! exactly the names, versions, parameters and optionality they would see for Debezium's.

use serde_json::{json, Map, Value as Json};

/// A Connect schema type.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array(Box<Schema>),
    Struct(Vec<Field>),
}

/// A Connect schema: a type plus its optional name, version, doc, parameters and default.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub kind: Kind,
    pub optional: bool,
    pub default: Option<Json>,
    pub name: Option<String>,
    pub version: Option<i32>,
    pub doc: Option<String>,
    /// In insertion order, as Connect keeps them.
    pub params: Vec<(String, String)>,
}

/// A named field of a struct.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub schema: Schema,
}

impl Field {
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        Self { name: name.into(), schema }
    }
}

/// Connect's logical decimal.
pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
/// AvroData's precision when a decimal schema carries none (`connect.decimal.precision`).
const AVRO_DEFAULT_DECIMAL_PRECISION: u32 = 64;

impl Schema {
    pub fn of(kind: Kind) -> Self {
        Self {
            kind,
            optional: false,
            default: None,
            name: None,
            version: None,
            doc: None,
            params: Vec::new(),
        }
    }

    pub fn named(kind: Kind, name: &str) -> Self {
        Self { name: Some(name.to_owned()), ..Self::of(kind) }
    }

    /// A semantic type as Debezium declares them: a name and version 1.
    pub fn semantic(kind: Kind, name: &str) -> Self {
        Self { version: Some(1), ..Self::named(kind, name) }
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub fn with_optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }

    pub fn version(mut self, v: i32) -> Self {
        self.version = Some(v);
        self
    }

    pub fn doc(mut self, d: &str) -> Self {
        self.doc = Some(d.to_owned());
        self
    }

    pub fn default(mut self, d: Json) -> Self {
        self.default = Some(d);
        self
    }

    pub fn param(mut self, k: &str, v: impl Into<String>) -> Self {
        self.params.push((k.to_owned(), v.into()));
        self
    }

    /// Connect's `Decimal.builder(scale)`, with `connect.decimal.precision` when known.
    pub fn decimal(precision: Option<u32>, scale: u32) -> Self {
        let s = Self::semantic(Kind::Bytes, DECIMAL).param("scale", scale.to_string());
        match precision {
            Some(p) => s.param("connect.decimal.precision", p.to_string()),
            None => s,
        }
    }

    pub fn param_value(&self, k: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    pub fn fields(&self) -> &[Field] {
        match &self.kind {
            Kind::Struct(f) => f,
            _ => &[],
        }
    }
}

// ------------------------------------------------------------------------------------- Avro

/// The Avro schema `AvroConverter` registers for `schema`.
pub fn to_avro(schema: &Schema) -> Json {
    let mut defined = Vec::new();
    avro_type(schema, &mut defined)
}

/// `schema` as an Avro type, wrapped in `["null", T]` when optional (AvroData puts the default's
/// branch first: `[T, "null"]` when an optional field has a non-null default).
fn avro_type(schema: &Schema, defined: &mut Vec<String>) -> Json {
    let t = avro_non_null(schema, defined);
    if !schema.optional {
        return t;
    }
    match &schema.default {
        Some(d) if !d.is_null() => json!([t, "null"]),
        _ => json!(["null", t]),
    }
}

fn avro_non_null(schema: &Schema, defined: &mut Vec<String>) -> Json {
    let prim = match &schema.kind {
        Kind::Int8 | Kind::Int16 | Kind::Int32 => "int",
        Kind::Int64 => "long",
        Kind::Float32 => "float",
        Kind::Float64 => "double",
        Kind::Boolean => "boolean",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Array(items) => {
            let mut o = Map::new();
            o.insert("type".into(), json!("array"));
            o.insert("items".into(), avro_type(items, defined));
            add_connect_meta(&mut o, schema);
            return Json::Object(o);
        }
        Kind::Struct(fields) => {
            let full =
                schema.name.clone().unwrap_or_else(|| "io.confluent.connect.avro.ConnectDefault".into());
            if defined.contains(&full) {
                return Json::String(full);
            }
            defined.push(full.clone());
            let (ns, name) = match full.rsplit_once('.') {
                Some((ns, n)) => (Some(ns.to_owned()), n.to_owned()),
                None => (None, full.clone()),
            };
            let mut o = Map::new();
            o.insert("type".into(), json!("record"));
            o.insert("name".into(), json!(name));
            if let Some(ns) = ns {
                o.insert("namespace".into(), json!(ns));
            }
            let fields: Vec<Json> = fields
                .iter()
                .map(|f| {
                    let mut fo = Map::new();
                    fo.insert("name".into(), json!(f.name));
                    fo.insert("type".into(), avro_type(&f.schema, defined));
                    match &f.schema.default {
                        Some(d) => {
                            fo.insert("default".into(), d.clone());
                        }
                        None if f.schema.optional => {
                            fo.insert("default".into(), Json::Null);
                        }
                        None => {}
                    }
                    Json::Object(fo)
                })
                .collect();
            o.insert("fields".into(), Json::Array(fields));
            add_connect_meta(&mut o, schema);
            return Json::Object(o);
        }
    };
    let mut o = Map::new();
    o.insert("type".into(), json!(prim));
    match schema.kind {
        Kind::Int8 => {
            o.insert("connect.type".into(), json!("int8"));
        }
        Kind::Int16 => {
            o.insert("connect.type".into(), json!("int16"));
        }
        _ => {}
    }
    if schema.name.as_deref() == Some(DECIMAL) {
        let scale: u32 = schema.param_value("scale").and_then(|s| s.parse().ok()).unwrap_or(0);
        let precision: u32 = schema
            .param_value("connect.decimal.precision")
            .and_then(|s| s.parse().ok())
            .unwrap_or(AVRO_DEFAULT_DECIMAL_PRECISION);
        o.insert("scale".into(), json!(scale));
        o.insert("precision".into(), json!(precision));
    }
    add_connect_meta(&mut o, schema);
    if schema.name.as_deref() == Some(DECIMAL) {
        o.insert("logicalType".into(), json!("decimal"));
    }
    if o.len() == 1 {
        return json!(prim);
    }
    Json::Object(o)
}

/// AvroData's `connect.*` attributes.
fn add_connect_meta(o: &mut Map<String, Json>, schema: &Schema) {
    if let Some(d) = &schema.doc {
        o.insert("connect.doc".into(), json!(d));
    }
    if let Some(v) = schema.version {
        o.insert("connect.version".into(), json!(v));
    }
    if !schema.params.is_empty() {
        let p: Map<String, Json> = schema.params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        o.insert("connect.parameters".into(), Json::Object(p));
    }
    if let Some(d) = &schema.default {
        if !matches!(schema.kind, Kind::Struct(_)) && !d.is_null() {
            o.insert("connect.default".into(), d.clone());
        }
    }
    if let Some(n) = &schema.name {
        o.insert("connect.name".into(), json!(n));
    }
}

// ------------------------------------------------------------------------------------- JSON

/// The schema object `JsonConverter` embeds in each record with `schemas.enable=true`.
pub fn to_json_schema(schema: &Schema) -> Json {
    let mut o = Map::new();
    let t = match &schema.kind {
        Kind::Int8 => "int8",
        Kind::Int16 => "int16",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Float32 => "float",
        Kind::Float64 => "double",
        Kind::Boolean => "boolean",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Array(_) => "array",
        Kind::Struct(_) => "struct",
    };
    o.insert("type".into(), json!(t));
    match &schema.kind {
        Kind::Array(items) => {
            o.insert("items".into(), to_json_schema(items));
        }
        Kind::Struct(fields) => {
            let fs: Vec<Json> = fields
                .iter()
                .map(|f| {
                    let mut j = to_json_schema(&f.schema);
                    if let Json::Object(m) = &mut j {
                        m.insert("field".into(), json!(f.name));
                    }
                    j
                })
                .collect();
            o.insert("fields".into(), Json::Array(fs));
        }
        _ => {}
    }
    o.insert("optional".into(), json!(schema.optional));
    if let Some(d) = &schema.default {
        o.insert("default".into(), d.clone());
    }
    if let Some(n) = &schema.name {
        o.insert("name".into(), json!(n));
    }
    if let Some(v) = schema.version {
        o.insert("version".into(), json!(v));
    }
    if let Some(d) = &schema.doc {
        o.insert("doc".into(), json!(d));
    }
    if !schema.params.is_empty() {
        let p: Map<String, Json> = schema.params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        o.insert("parameters".into(), Json::Object(p));
    }
    Json::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_primitives_render_like_avro_data() {
        let date = Schema::semantic(Kind::Int32, "io.debezium.time.Date");
        assert_eq!(
            to_avro(&date),
            json!({"type": "int", "connect.version": 1, "connect.name": "io.debezium.time.Date"})
        );
        assert_eq!(to_avro(&Schema::of(Kind::Int16)), json!({"type": "int", "connect.type": "int16"}));
        assert_eq!(to_avro(&Schema::of(Kind::String).optional()), json!(["null", "string"]));
        let dec = Schema::decimal(Some(10), 2);
        assert_eq!(
            to_avro(&dec),
            json!({"type": "bytes", "scale": 2, "precision": 10, "connect.version": 1,
                   "connect.parameters": {"scale": "2", "connect.decimal.precision": "10"},
                   "connect.name": DECIMAL, "logicalType": "decimal"})
        );
        assert_eq!(to_avro(&Schema::decimal(None, 2))["precision"], 64);
    }

    #[test]
    fn optional_field_with_a_default_puts_its_branch_first() {
        let s = Schema::named(
            Kind::Struct(vec![Field::new(
                "snapshot",
                Schema::semantic(Kind::String, "io.debezium.data.Enum")
                    .param("allowed", "true,false")
                    .optional()
                    .default(json!("false")),
            )]),
            "a.b.Source",
        );
        let a = to_avro(&s);
        assert_eq!(a["fields"][0]["default"], "false");
        assert_eq!(a["fields"][0]["type"][1], "null");
        assert_eq!(a["fields"][0]["type"][0]["connect.default"], "false");
        assert_eq!(a["name"], "Source");
        assert_eq!(a["namespace"], "a.b");
        let j = to_json_schema(&s);
        assert_eq!(j["fields"][0]["field"], "snapshot");
        assert_eq!(j["fields"][0]["optional"], true);
        assert_eq!(j["fields"][0]["default"], "false");
        assert_eq!(j["fields"][0]["parameters"]["allowed"], "true,false");
    }

    #[test]
    fn a_named_record_is_defined_once() {
        let vsd = Schema::semantic(Kind::Struct(vec![]), "io.debezium.data.VariableScaleDecimal");
        let s = Schema::named(
            Kind::Struct(vec![Field::new("a", vsd.clone().optional()), Field::new("b", vsd.optional())]),
            "x.Value",
        );
        let a = to_avro(&s);
        assert_eq!(a["fields"][1]["type"][1], "io.debezium.data.VariableScaleDecimal");
    }
}
