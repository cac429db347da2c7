//! Avro schemas as the registry sees them: parsing, identity, and compatibility levels.
//!
//! [`ParsedSchema::parse`] turns a submitted schema string into three things: the parsed
//! `apache_avro::Schema` (for compatibility checks), the text that is stored and returned to
//! clients (the submission with insignificant whitespace removed, every attribute kept in its
//! original order), and the *identity form* that decides when two registrations are "the same
//! schema" (same id, no new version). The identity form follows the Avro Parsing Canonical
//! Form's rules for names and layout (full names, `{"type":"int"}` is `"int"`, attributes in a
//! fixed order, `doc` and `aliases` dropped, whitespace ignored) but keeps every attribute a
//! reader may act on: `logicalType`, `precision`, `scale`, `default`, `order`, and custom ones
//! such as Debezium's `connect.name` / `connect.parameters`. Plain Parsing Canonical Form would
//! make a `long` and a `timestamp-micros` long, a JSON string and a plain string, or two enum
//! columns with different allowed values the same schema, and hand clients the old id whose
//! schema means something else. It is computed from the submitted JSON, because apache-avro
//! drops custom attributes of primitive types when it parses. Invariant: the identity form is a
//! pure function of the submitted JSON, so every instance and every replay of the topic
//! derives the same identities.
//!
//! [`Level`] is Confluent's seven compatibility levels and [`Level::check`] applies Avro's
//! schema-resolution rules (`SchemaCompatibility::can_read`). A `Partial` answer from
//! apache-avro (some union branches or enum symbols unreadable) counts as incompatible, as the
//! Java Avro checker that Confluent uses would say. Failures: an unparsable schema is
//! [`RegistryError::InvalidSchema`]; an unknown level name is
//! [`RegistryError::InvalidCompatibility`].

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;
use serde_json::Value;

use crate::error::RegistryError;

/// A submitted schema, parsed, with its stored text and identity form.
#[derive(Debug, Clone)]
pub(crate) struct ParsedSchema {
    pub schema: Schema,
    pub text: String,
    pub identity: String,
}

impl ParsedSchema {
    /// Parses an Avro schema string; anything apache-avro rejects is `InvalidSchema`.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        if text.trim().is_empty() {
            return Err(RegistryError::InvalidSchema("Empty schema".to_owned()));
        }
        let json: Value = serde_json::from_str(text)
            .map_err(|e| RegistryError::InvalidSchema(format!("Invalid Avro schema: not JSON: {e}")))?;
        let schema = Schema::parse(&json)
            .map_err(|e| RegistryError::InvalidSchema(format!("Invalid Avro schema: {e}")))?;
        let mut identity = String::new();
        write_identity(&json, None, &mut HashSet::new(), &mut identity);
        Ok(Self { schema, text: minify_json(text), identity })
    }
}

/// Attributes that come first in the identity form, in this order (Parsing Canonical Form's
/// order, then the data-bearing attributes); any other attribute follows in name order.
const ORDERED: &[&str] = &[
    "name",
    "type",
    "fields",
    "symbols",
    "items",
    "values",
    "size",
    "logicalType",
    "precision",
    "scale",
    "default",
    "order",
];

/// Attributes that only document a schema and are left out of its identity.
const DOCUMENTATION: &[&str] = &["doc", "aliases", "namespace"];

/// Type names that are never namespaced.
const KEYWORDS: &[&str] = &[
    "null", "boolean", "int", "long", "float", "double", "bytes", "string", "array", "map", "record", "enum",
    "fixed",
];

fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() && !name.contains('.') && !KEYWORDS.contains(&name) => {
            format!("{ns}.{name}")
        }
        _ => name.to_owned(),
    }
}

/// Writes the identity form of a schema given as JSON: full names, documentation stripped,
/// `{"type": T}` collapsed to `T`, attributes in a fixed order, every other attribute (including
/// custom ones such as `connect.name`) kept, since readers may act on it.
fn write_identity(value: &Value, namespace: Option<&str>, defined: &mut HashSet<String>, out: &mut String) {
    match value {
        Value::String(name) => out.push_str(&json_string(&full_name(name, namespace))),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_identity(item, namespace, defined, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let named = matches!(map.get("type").and_then(Value::as_str), Some("record" | "enum" | "fixed"));
            let mut inner = namespace.map(str::to_owned);
            let mut own_name = None;
            if named {
                let name = map.get("name").and_then(Value::as_str).unwrap_or_default();
                let ns = map.get("namespace").and_then(Value::as_str).or(namespace);
                let full = full_name(name, ns);
                if !defined.insert(full.clone()) {
                    out.push_str(&json_string(&full));
                    return;
                }
                inner = full.rsplit_once('.').map(|(ns, _)| ns.to_owned());
                own_name = Some(full);
            }
            let mut keys: Vec<&String> =
                map.keys().filter(|k| !DOCUMENTATION.contains(&k.as_str())).collect();
            keys.sort_by_key(|k| (ORDERED.iter().position(|o| o == k).unwrap_or(ORDERED.len()), k.as_str()));
            // [PRIMITIVES]: {"type": "int"} is "int".
            if let ([only], Some(Value::String(_))) = (keys.as_slice(), map.get("type")) {
                if only.as_str() == "type" {
                    write_identity(&map["type"], namespace, defined, out);
                    return;
                }
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_string(key));
                out.push(':');
                let v = &map[key.as_str()];
                match (key.as_str(), &own_name) {
                    ("name", Some(full)) => out.push_str(&json_string(full)),
                    // Schemas (or lists of fields, which hold schemas): recurse.
                    ("type" | "items" | "values", _) if !(named && key.as_str() == "type") => {
                        write_identity(v, inner.as_deref(), defined, out)
                    }
                    ("fields", _) => write_identity(v, inner.as_deref(), defined, out),
                    // Data (defaults, symbols, sizes, custom attributes): verbatim, with object
                    // keys sorted by serde_json, so the same data always prints the same.
                    _ => out.push_str(&v.to_string()),
                }
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// Removes whitespace outside JSON strings, keeping every attribute and its order.
pub(crate) fn minify_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// A Confluent compatibility level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// The new schema reads data written with the latest version (the default).
    #[default]
    Backward,
    /// The new schema reads data written with every live version.
    BackwardTransitive,
    /// The latest version reads data written with the new schema.
    Forward,
    /// Every live version reads data written with the new schema.
    ForwardTransitive,
    /// Backward and forward against the latest version.
    Full,
    /// Backward and forward against every live version.
    FullTransitive,
    /// No check.
    None,
}

impl Level {
    /// The Confluent name, e.g. `BACKWARD_TRANSITIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
            Self::None => "NONE",
        }
    }

    fn transitive(self) -> bool {
        matches!(self, Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive)
    }

    fn backward(self) -> bool {
        matches!(self, Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive)
    }

    fn forward(self) -> bool {
        matches!(self, Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive)
    }

    /// Checks `new` against `previous` (live versions, oldest first, as `(version, schema)`).
    /// Non-transitive levels look at the last entry only. Returns one message per violation;
    /// an empty list means compatible.
    pub(crate) fn check(self, new: &Schema, previous: &[(i32, &Schema)]) -> Vec<String> {
        let targets: &[(i32, &Schema)] = if self.transitive() {
            previous
        } else {
            match previous.split_last() {
                Some((last, _)) => std::slice::from_ref(last),
                None => &[],
            }
        };
        let mut messages = Vec::new();
        for (version, old) in targets {
            if self.backward() {
                if let Some(why) = cannot_read(old, new) {
                    messages.push(format!(
                        "{{compatibility: '{self}', oldSchemaVersion: {version}, \
                         description: 'the new schema cannot read data written with version \
                         {version}: {why}'}}"
                    ));
                }
            }
            if self.forward() {
                if let Some(why) = cannot_read(new, old) {
                    messages.push(format!(
                        "{{compatibility: '{self}', oldSchemaVersion: {version}, \
                         description: 'version {version} cannot read data written with the new \
                         schema: {why}'}}"
                    ));
                }
            }
        }
        messages
    }
}

/// Why `reader` cannot read everything `writer` writes, or `None` if it can.
fn cannot_read(writer: &Schema, reader: &Schema) -> Option<String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => None,
        Ok(Compatibility::Partial) => {
            Some("some union branches or enum symbols of the writer have no match in the reader".to_owned())
        }
        Err(e) => Some(e.to_string()),
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = RegistryError;

    /// Accepts the Confluent names in any letter case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "BACKWARD" => Self::Backward,
            "BACKWARD_TRANSITIVE" => Self::BackwardTransitive,
            "FORWARD" => Self::Forward,
            "FORWARD_TRANSITIVE" => Self::ForwardTransitive,
            "FULL" => Self::Full,
            "FULL_TRANSITIVE" => Self::FullTransitive,
            "NONE" => Self::None,
            _ => return Err(RegistryError::InvalidCompatibility(s.to_owned())),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ParsedSchema {
        ParsedSchema::parse(s).unwrap()
    }

    const V1: &str = r#"{"type":"record","name":"User","namespace":"com.example",
        "fields":[{"name":"id","type":"long"}]}"#;

    #[test]
    fn formatting_and_docs_do_not_change_identity() {
        let a = parse(V1);
        let b = parse(
            r#"{ "namespace" : "com.example", "name":"User", "type":"record", "doc":"people",
                 "fields" : [ {"name":"id", "type":{"type":"long"}, "doc":"key"} ] }"#,
        );
        assert_eq!(a.identity, b.identity);
        assert_eq!(
            a.identity,
            r#"{"name":"com.example.User","type":"record","fields":[{"name":"id","type":"long"}]}"#
        );
    }

    #[test]
    fn custom_attributes_change_identity_but_docs_do_not() {
        let plain = parse(r#"{"type":"string"}"#);
        let json = parse(r#"{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}"#);
        let json_again = parse(
            r#"{"connect.name":"io.debezium.data.Json","type":"string","connect.version":1,"doc":"x"}"#,
        );
        assert_eq!(plain.identity, r#""string""#);
        assert_ne!(plain.identity, json.identity);
        assert_eq!(json.identity, json_again.identity);
        let e1 = parse(r#"{"type":"string","connect.parameters":{"allowed":"a,b"}}"#);
        let e2 = parse(r#"{"type":"string","connect.parameters":{"allowed":"a,b,c"}}"#);
        assert_ne!(e1.identity, e2.identity);
        let arr = parse(
            r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":{"type":"array","items":"int"}}]}"#,
        );
        assert!(arr.identity.contains(r#"{"type":"array","items":"int"}"#), "{}", arr.identity);
    }

    #[test]
    fn logical_types_and_defaults_change_identity() {
        let plain = parse(r#"{"type":"long"}"#);
        let ts = parse(r#"{"type":"long","logicalType":"timestamp-micros"}"#);
        assert_ne!(plain.identity, ts.identity);
        let d1 = parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1}]}"#);
        let d2 = parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":2}]}"#);
        assert_ne!(d1.identity, d2.identity);
    }

    #[test]
    fn nested_names_inherit_the_namespace_and_repeat_as_references() {
        let s = parse(
            r#"{"type":"record","name":"Outer","namespace":"n","fields":[
                {"name":"a","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}},
                {"name":"b","type":"Inner"}]}"#,
        );
        assert!(s.identity.contains(r#""name":"n.Inner""#), "{}", s.identity);
        assert!(s.identity.ends_with(r#"{"name":"b","type":"n.Inner"}]}"#), "{}", s.identity);
    }

    #[test]
    fn minify_keeps_strings_and_order() {
        assert_eq!(
            minify_json("{ \"doc\" : \"a b \\\" c\",\n \"type\": \"string\" }"),
            r#"{"doc":"a b \" c","type":"string"}"#
        );
    }

    #[test]
    fn invalid_and_empty_schemas_are_rejected() {
        assert_eq!(ParsedSchema::parse("   ").unwrap_err().error_code(), 42201);
        assert_eq!(ParsedSchema::parse(r#"{"type":"record","name":"R"}"#).unwrap_err().error_code(), 42201);
        assert_eq!(ParsedSchema::parse(r#"{"type":"nosuch"}"#).unwrap_err().error_code(), 42201);
    }

    #[test]
    fn levels_parse_case_insensitively() {
        assert_eq!("full_transitive".parse::<Level>().unwrap(), Level::FullTransitive);
        assert_eq!("NONE".parse::<Level>().unwrap(), Level::None);
        assert_eq!("sideways".parse::<Level>().unwrap_err().error_code(), 42203);
    }

    #[test]
    fn backward_and_forward_follow_resolution_rules() {
        let v1 = parse(V1).schema;
        // Adding a field with a default: backward and forward compatible.
        let with_default = parse(
            r#"{"type":"record","name":"User","namespace":"com.example","fields":[
                {"name":"id","type":"long"},{"name":"email","type":"string","default":""}]}"#,
        )
        .schema;
        // Adding a field without a default: forward only.
        let without_default = parse(
            r#"{"type":"record","name":"User","namespace":"com.example","fields":[
                {"name":"id","type":"long"},{"name":"email","type":"string"}]}"#,
        )
        .schema;
        let prev = [(1, &v1)];
        assert!(Level::Full.check(&with_default, &prev).is_empty());
        assert_eq!(Level::Backward.check(&without_default, &prev).len(), 1);
        assert!(Level::Forward.check(&without_default, &prev).is_empty());
        assert!(Level::None.check(&without_default, &prev).is_empty());
        assert!(Level::Backward.check(&without_default, &[]).is_empty());
    }

    #[test]
    fn transitive_levels_check_every_version() {
        let a = parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#);
        let b = parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":0}]}"#);
        // Replaces `a` by `b` without a default: cannot read data written by either version.
        let c = parse(r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int"}]}"#);
        let prev = [(1, &a.schema), (2, &b.schema)];
        assert_eq!(Level::Backward.check(&c.schema, &prev).len(), 1);
        assert_eq!(Level::BackwardTransitive.check(&c.schema, &prev).len(), 2);
        // Partial unions count as incompatible.
        let wide = parse(r#"["int","string"]"#);
        let narrow = parse(r#""int""#);
        assert_eq!(Level::Backward.check(&narrow.schema, &[(1, &wide.schema)]).len(), 1);
    }
}
